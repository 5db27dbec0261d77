/**
 * FIPS mode's algorithm rules as a threat model: a peer (or a misconfigured policy) must not be
 * able to bring a non-approved algorithm into a FIPS-mode SA — not by offering it, not by
 * listing it before an approved one, not by choosing it as responder, not through a PFS group —
 * and a pre-shared key below 112 bits is refused. Engines run on the simulator
 * (test/fakes/sim.ts), two real IkeEngines talking ISAKMP to each other.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  addressSelector,
  fipsPhase1,
  fipsPhase2,
  fipsPskProblem,
  IkeErrorCode,
  type IkeConfigInput,
  type Phase1Offer,
  type Phase2Offer,
} from "../../src/ike/index.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { PSK, SimIkePeer } from "../scenarios/ike-sim.js";

const SERVER = "198.51.100.2";
const CLIENT = "203.0.113.7";
const L2TP = (address: string) => addressSelector(address, 17, 1701);

const LEGACY_P1: Phase1Offer[] = [
  { encryption: "3des-cbc", keyBits: 192, hash: "md5", group: 2 },
  { encryption: "3des-cbc", keyBits: 192, hash: "sha1", group: 2 },
  { encryption: "aes-cbc", keyBits: 128, hash: "md5", group: 14 },
  { encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 5 },
];
const GOOD_P1: Phase1Offer = { encryption: "aes-cbc", keyBits: 256, hash: "sha2-256", group: 14 };
const GOOD_P2: Phase2Offer = { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-sha2-256-128" };
const LEGACY_P2: Phase2Offer[] = [
  { cipher: "3des-cbc", keyBits: 192, integrity: "hmac-sha1-96" },
  { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-md5-96" },
];

function pair(seed: number, clientCfg: IkeConfigInput, serverCfg: IkeConfigInput) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim);
  const server = new SimIkePeer(
    sim,
    net.host(SERVER),
    { psks: [{ secret: PSK }], ...serverCfg },
    seed * 10 + 1,
  );
  const client = new SimIkePeer(
    sim,
    net.host(CLIENT),
    { psks: [{ secret: PSK }], ...clientCfg },
    seed * 10 + 2,
  );
  client.initiate({
    peer: { address: SERVER, port: 500 },
    phase2: { mode: "transport", local: L2TP(CLIENT), remote: L2TP(SERVER) },
  });
  sim.runFor(60_000);
  return { client, server };
}

/** A server that would accept everything both lists hold, were it not in FIPS mode. */
const permissiveServer = (fips: boolean): IkeConfigInput => ({
  fips,
  phase1: { offers: [...LEGACY_P1, GOOD_P1] },
  phase2: { offers: [...LEGACY_P2, GOOD_P2] },
});

describe("FIPS mode: non-approved algorithms never reach an SA", () => {
  it("a FIPS responder refuses a peer that offers only 3DES/MD5/MODP-1024/1536, even when its own offers list them", () => {
    const r = pair(1, { phase1: { offers: LEGACY_P1 } }, permissiveServer(true));
    assert.equal(r.server.installed.size, 0);
    assert.equal(r.server.engine.ikeSas().length, 0);
    const f = r.server.eventsOf("failed");
    assert.equal(f[0]?.code, IkeErrorCode.NoProposalChosen);
    // The same peer against the same offers without FIPS mode does connect: the filter, not
    // the offer list, refused it.
    const open = pair(1, { phase1: { offers: LEGACY_P1 } }, permissiveServer(false));
    assert.equal(open.server.installed.size, 1);
  });

  it("a FIPS responder skips a peer's unapproved transforms listed first and takes its approved one", () => {
    const r = pair(2, { phase1: { offers: [...LEGACY_P1, GOOD_P1] } }, permissiveServer(true));
    const up = r.server.eventsOf("phase1-up");
    assert.equal(up.length, 1);
    assert.match(up[0]!.suite, /AES-CBC-256/);
    assert.match(up[0]!.suite, /2048/);
  });

  it("a FIPS responder refuses a Quick Mode offering only 3DES or HMAC-MD5", () => {
    const r = pair(
      3,
      { phase1: { offers: [GOOD_P1] }, phase2: { offers: LEGACY_P2 } },
      permissiveServer(true),
    );
    assert.equal(r.server.engine.ikeSas().length, 1, "phase 1 was approved");
    assert.equal(r.server.installed.size, 0, "no child SA with 3DES or HMAC-MD5");
    assert.equal(r.client.installed.size, 0);
  });

  it("a FIPS responder refuses a Quick Mode whose PFS group is MODP-1024", () => {
    const r = pair(
      4,
      { phase1: { offers: [GOOD_P1] }, phase2: { offers: [GOOD_P2], pfsGroup: 2 } },
      permissiveServer(true),
    );
    assert.equal(r.server.installed.size, 0);
    const ok = pair(
      4,
      { phase1: { offers: [GOOD_P1] }, phase2: { offers: [GOOD_P2], pfsGroup: 14 } },
      permissiveServer(true),
    );
    assert.equal(ok.server.installed.size, 1, "PFS with MODP-2048 is approved");
  });

  it("a FIPS initiator puts no unapproved transform on the wire, so a legacy-only server cannot pick one", () => {
    const r = pair(
      5,
      {
        fips: true,
        phase1: { offers: [...LEGACY_P1, GOOD_P1] },
        phase2: { offers: [...LEGACY_P2, GOOD_P2] },
      },
      { phase1: { offers: LEGACY_P1 }, phase2: { offers: LEGACY_P2 } },
    );
    assert.equal(r.client.installed.size, 0);
    assert.equal(r.server.engine.ikeSas().length, 0);
    const f = r.client.eventsOf("failed");
    assert.equal(f.length, 1);
    assert.match(f[0]!.message, /NO-PROPOSAL-CHOSEN/);
  });

  it("a FIPS initiator and a FIPS responder agree on an approved suite end to end", () => {
    const r = pair(
      6,
      {
        fips: true,
        phase1: { offers: [...LEGACY_P1, GOOD_P1] },
        phase2: { offers: [...LEGACY_P2, GOOD_P2] },
      },
      permissiveServer(true),
    );
    assert.equal(r.client.installed.size, 1);
    assert.equal(r.server.installed.size, 1);
    const [c] = [...r.client.installed.values()];
    assert.equal(c!.suite.cipher, "aes-cbc");
    assert.equal(c!.suite.integrity, "hmac-sha2-256-128");
  });

  it("a FIPS responder does not authenticate with RSA signatures (PSK only)", () => {
    assert.equal(fipsPhase1({ ...GOOD_P1, auth: "rsa-sig" }), false);
    assert.equal(fipsPhase1({ ...GOOD_P1, auth: "psk" }), true);
  });
});

describe("FIPS mode: the algorithm table", () => {
  it("phase 1: AES-CBC with HMAC-SHA-1/SHA-2 and groups 14-16, 19-21 only", () => {
    for (const group of [14, 15, 16, 19, 20, 21])
      for (const hash of ["sha1", "sha2-256", "sha2-384", "sha2-512"] as const)
        assert.ok(fipsPhase1({ ...GOOD_P1, hash, group }), `${hash} group ${group}`);
    for (const group of [1, 2, 5]) assert.equal(fipsPhase1({ ...GOOD_P1, group }), false);
    assert.equal(fipsPhase1({ ...GOOD_P1, hash: "md5" }), false);
    assert.equal(fipsPhase1({ ...GOOD_P1, encryption: "3des-cbc", keyBits: 192 }), false);
    assert.equal(fipsPhase1({ ...GOOD_P1, encryption: "des-cbc", keyBits: 64 }), false);
  });

  it("phase 2: AES-GCM without, AES-CBC with HMAC-SHA-1/SHA-2; no 3DES, MD5 or NULL", () => {
    for (const cipher of ["aes-gcm-8", "aes-gcm-12", "aes-gcm-16"] as const)
      assert.ok(fipsPhase2({ cipher, keyBits: 256, integrity: "none" }));
    for (const integrity of [
      "hmac-sha1-96",
      "hmac-sha2-256-128",
      "hmac-sha2-384-192",
      "hmac-sha2-512-256",
    ] as const)
      assert.ok(fipsPhase2({ cipher: "aes-cbc", keyBits: 128, integrity }));
    assert.equal(fipsPhase2({ ...GOOD_P2, integrity: "hmac-md5-96" }), false);
    assert.equal(fipsPhase2({ ...GOOD_P2, integrity: "none" }), false);
    assert.equal(
      fipsPhase2({ cipher: "3des-cbc", keyBits: 192, integrity: "hmac-sha1-96" }),
      false,
    );
    assert.equal(fipsPhase2({ cipher: "null", keyBits: 0, integrity: "hmac-sha1-96" }), false);
    assert.equal(fipsPhase2({ ...GOOD_P2, pfsGroup: 2 }), false);
    assert.equal(fipsPhase2({ ...GOOD_P2, pfsGroup: 19 }), true);
  });

  it("a pre-shared key below 112 bits (14 bytes) is refused; length counts UTF-8 bytes", () => {
    assert.match(fipsPskProblem("a".repeat(13)) ?? "", /13 bytes; FIPS mode needs at least 14/);
    assert.equal(fipsPskProblem("a".repeat(14)), undefined);
    assert.equal(fipsPskProblem(Buffer.alloc(14)), undefined);
    assert.match(fipsPskProblem(Buffer.alloc(13)) ?? "", /13 bytes/);
    // 7 two-byte characters are 14 bytes.
    assert.equal(fipsPskProblem("é".repeat(7)), undefined);
    assert.match(fipsPskProblem("é".repeat(6)) ?? "", /12 bytes/);
  });
});
