/**
 * Explanations of failures: each names the cause and the fix specifically, from what the client
 * offered and sent; client hints come from vendor IDs.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IkeErrorCode, type OfferedPhase1, type OfferedPhase2 } from "../ike/index.js";
import { clientHint, type ExplainContext, explain, PPP_AUTH_FAILED } from "./explain.js";

const CTX: ExplainContext = { allowLegacy: false, groups: [20, 19, 14] };

const p1 = (
  group: number,
  encryption = "AES-CBC",
  hash = "SHA",
  auth = "pre-shared key",
): OfferedPhase1 => ({
  encryption,
  hash,
  group,
  auth,
  text: `${encryption}/${hash}/group ${group}/${auth}`,
});
const p2 = (o: Partial<OfferedPhase2>): OfferedPhase2 => ({
  protocol: "PROTO_IPSEC_ESP",
  encryption: "ESP_AES-CBC",
  keyBits: 128,
  integrity: "HMAC-SHA",
  mode: "Transport",
  tunnel: false,
  udpEncapsulated: false,
  pfsGroup: 0,
  text: "ESP_AES-CBC-128/HMAC-SHA/Transport",
  ...o,
});
const noProposal = (phase1: OfferedPhase1[], ctx = CTX) =>
  explain(
    {
      step: "phase1",
      code: IkeErrorCode.NoProposalChosen,
      reason: "no acceptable",
      phase1,
      vendorIds: [],
    },
    ctx,
  );

test("MODP-1024 only: names the group, the typical clients and --allow-legacy", () => {
  const e = noProposal([p1(2), p1(2, "3DES-CBC")]);
  assert.match(e, /^offered only MODP-1024 \(group 2\) — typical of Android ≤ 11 and old macOS/);
  assert.match(e, /enable `--allow-legacy` or ask for a newer client/);
});

test("MODP-1024 only with legacy allowed: the policy lacks the offer (no advice to enable it again)", () => {
  const e = noProposal([p1(2)], { allowLegacy: true, groups: [14] });
  assert.doesNotMatch(e, /enable `--allow-legacy`/);
  assert.match(e, /policy has no Main Mode offer/);
});

test("a group the server accepts is not blamed on MODP-1024", () => {
  const e = noProposal([p1(2, "DES-CBC", "MD5"), p1(14, "DES-CBC", "MD5")]);
  assert.doesNotMatch(e, /MODP-1024/);
  assert.match(e, /single DES is never accepted/);
});

test("3DES/MD5 only: legacy algorithms named", () => {
  assert.match(
    noProposal([p1(14, "3DES-CBC", "MD5")]),
    /offered only 3DES-CBC\/MD5 \(legacy 3DES\/MD5\) — enable `--allow-legacy`/,
  );
});

test("XAUTH offers: the client is set up as IPsec Xauth, not L2TP/IPsec", () => {
  assert.match(
    noProposal([p1(14, "AES-CBC", "SHA", "XAUTHInitPreShared")]),
    /IPsec Xauth.*not L2TP\/IPsec/,
  );
});

test("no overlap: the offers and our groups are listed", () => {
  const e = noProposal([p1(15, "AES-CBC", "SHA2-512")]);
  assert.match(
    e,
    /^NO-PROPOSAL in Main Mode: none of the client's proposals \(AES-CBC\/SHA2-512\/group 15/,
  );
  assert.match(e, /ECP-384/);
});

test("wrong PSK: HASH_I, or MM5 not decrypting, both say the key differs", () => {
  const f = (reason: string) =>
    explain(
      { step: "phase1", code: IkeErrorCode.AuthenticationFailed, reason, vendorIds: [] },
      CTX,
    );
  assert.equal(
    f("authentication of 192.0.2.1:500 failed: HASH_I does not verify (wrong pre-shared key?)"),
    "HASH_I did not verify with any configured PSK — the client's pre-shared key differs (re-enter it on the client)",
  );
  assert.match(
    f("authentication failed: MM5 does not decrypt to a payload chain"),
    /pre-shared key differs/,
  );
});

test("Quick Mode: tunnel mode request, plain ESP behind NAT, selectors refused", () => {
  const qm = (
    phase2: OfferedPhase2[],
    nat: boolean,
    code: string = IkeErrorCode.NoProposalChosen,
  ) =>
    explain(
      {
        step: "phase2",
        code,
        reason: "x",
        phase2,
        nat,
        vendorIds: [],
        selectors: { remote: "10.0.0.0/24", local: "0.0.0.0/0" },
      },
      CTX,
    );
  assert.match(
    qm([p2({ mode: "UDP-Encapsulated-Tunnel", tunnel: true, udpEncapsulated: true })], true),
    /^NO-PROPOSAL in Quick Mode: client asked for tunnel mode \(UDP-Encapsulated-Tunnel\)/,
  );
  assert.match(qm([p2({})], true), /behind NAT but asked for plain ESP/);
  assert.match(
    qm([p2({ udpEncapsulated: true, mode: "UDP-Encapsulated-Transport" })], false),
    /no NAT was detected/,
  );
  assert.match(qm([p2({ pfsGroup: 14 })], false), /requires PFS \(MODP-2048/);
  assert.match(
    qm([p2({})], false, IkeErrorCode.IdRefused),
    /a selector we do not serve \(client 10\.0\.0\.0\/24, server 0\.0\.0\.0\/0\)/,
  );
});

test("PPP: 691 for wrong password and unknown user, with the user named", () => {
  const ppp = (reason: string) =>
    explain({ step: "ppp", code: PPP_AUTH_FAILED, reason, vendorIds: [], user: "alice" }, CTX);
  assert.match(
    ppp("MS-CHAPv2: wrong password for alice"),
    /691: wrong user name or password\): wrong password for user 'alice'/,
  );
  assert.match(ppp("MS-CHAPv2: unknown user alice"), /there is no user 'alice'/);
  assert.match(
    ppp("PAP: PAP not allowed (or account disabled) for alice"),
    /enable the account or the method/,
  );
});

test("client hints from vendor IDs", () => {
  assert.equal(
    clientHint(["MS NT5 ISAKMPOAKLEY v9", "RFC 3947", "FRAGMENTATION"]),
    "Windows 8/10/11 built-in client (MS NT5 ISAKMPOAKLEY VID)",
  );
  assert.match(
    String(clientHint(["XAUTH", "RFC 3706 DPD", "FRAGMENTATION +80000000", "RFC 3947"])),
    /^strongSwan or racoon/,
  );
  assert.match(
    String(clientHint(["RFC 3947", "FRAGMENTATION +80000000"])),
    /racoon family .*Android ≤ 11/,
  );
  assert.match(String(clientHint(["strongSwan"])), /^strongSwan/);
  assert.match(String(clientHint(["Cisco Unity 1.0", "XAUTH"])), /Cisco/);
  assert.equal(clientHint(["RFC 3947", "RFC 3706 DPD"]), undefined);
});
