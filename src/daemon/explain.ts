/**
 * Why a client failed to connect, for a person: turns what the server saw at the moment of a
 * failure (the step, the engine's error code and message, what the client offered, its vendor
 * IDs, whether NAT was detected, the Quick Mode identities it asked for, the PPP result) into one
 * specific sentence with what to do. Pure: no I/O, no clock; the failure ring (failure-ring.ts)
 * stores the result, the server's warn log line carries it, `oakley diagnose` and the monitor
 * show it.
 *
 * The client-type hints come from vendor IDs (RFC 2408 §3.16 payloads decoded by
 * src/registry/vendor-ids.ts). They are hints: a VID says which IKE implementation speaks, not
 * which device — the racoon family (ipsec-tools) is what Android up to 11 and Apple's built-in
 * clients run.
 *
 * Left out: failures no event reports (ESP dropped on the way after Quick Mode, a client that
 * never sends L2TP after IPsec is up); `oakley diagnose SERVER` on the client checks the path.
 */
import {
  IkeErrorCode,
  LEGACY_GROUPS,
  type OfferedPhase1,
  type OfferedPhase2,
} from "../ike/index.js";
import { ikeGroupName } from "../registry/ike.js";
import type { FailureStep } from "../control/index.js";

/** What the server saw when a connection attempt failed. */
export interface FailureFacts {
  readonly step: FailureStep;
  /** OAK_E_… code (IKE) or a short code for L2TP/PPP failures. */
  readonly code: string;
  readonly reason: string;
  readonly phase1?: readonly OfferedPhase1[];
  readonly phase2?: readonly OfferedPhase2[];
  readonly vendorIds: readonly string[];
  /** Phase 2: NAT-D found a NAT between client and server. */
  readonly nat?: boolean;
  readonly selectors?: { readonly remote: string; readonly local: string };
  /** PPP: the user name the client gave. */
  readonly user?: string;
}

/** The server settings an explanation depends on. */
export interface ExplainContext {
  /** settings.allowLegacyCrypto (`oakley serve --allow-legacy`). */
  readonly allowLegacy: boolean;
  /** Phase-1 DH groups this server accepts (numbers). */
  readonly groups: readonly number[];
}

/** PPP code for the auth-failed explanation (Windows shows it as error 691). */
export const PPP_AUTH_FAILED = "OAK_E_PPP_AUTH_FAILED";
export const L2TP_TUNNEL_DOWN = "OAK_E_L2TP_TUNNEL_DOWN";

/** Which client this probably is, from its vendor IDs; undefined when they say nothing. */
export function clientHint(vendorIds: readonly string[]): string | undefined {
  const has = (p: string) => vendorIds.some((v) => v.startsWith(p));
  const win = vendorIds.find((v) => v.startsWith("MS NT5 ISAKMPOAKLEY"));
  if (win !== undefined) {
    const v = Number(/ v(\d+)$/.exec(win)?.[1] ?? Number.NaN);
    const which =
      v >= 9
        ? "Windows 8/10/11"
        : v === 8
          ? "Windows 7 / Server 2008 R2"
          : v === 7
            ? "Windows Vista / Server 2008"
            : "Windows";
    return `${which} built-in client (MS NT5 ISAKMPOAKLEY VID)`;
  }
  if (has("strongSwan")) return "strongSwan (strongSwan VID)";
  if (has("Cisco Unity"))
    return "a Cisco-IPsec-style client (Cisco Unity VID: an 'IPsec Xauth' / 'Cisco IPSec' profile)";
  // FRAGMENTATION with capability bytes: ipsec-tools racoon and strongSwan append them, Windows not.
  const fragCaps = vendorIds.some((v) => v.startsWith("FRAGMENTATION +"));
  if (fragCaps && has("XAUTH"))
    return "strongSwan or racoon (XAUTH + FRAGMENTATION VIDs: NetworkManager-l2tp, Android ≤ 11, macOS/iOS)";
  if (fragCaps) return "the racoon family (ipsec-tools: Android ≤ 11, macOS, iOS)";
  return undefined;
}

const list = (xs: readonly string[], max = 4): string =>
  xs.length <= max ? xs.join(", ") : `${xs.slice(0, max).join(", ")} and ${xs.length - max} more`;

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** One sentence: what went wrong and what to do. */
export function explain(f: FailureFacts, ctx: ExplainContext): string {
  switch (f.step) {
    case "phase1":
      return explainPhase1(f, ctx);
    case "phase2":
      return explainPhase2(f, ctx);
    case "l2tp":
      return `L2TP failed after IPsec came up: ${f.reason} — the client's L2TP side gave up or was refused; check the client's L2TP settings (no L2TP secret, default ports)`;
    case "ppp":
      return explainPpp(f);
  }
}

function explainPhase1(f: FailureFacts, ctx: ExplainContext): string {
  switch (f.code) {
    case IkeErrorCode.NoProposalChosen:
      return noProposal1(f, ctx);
    case IkeErrorCode.AuthenticationFailed:
      if (/identity .* does not match/.test(f.reason))
        return "the pre-shared key matched none bound to the identity the client sent — check the client's IPsec identifier (leave it empty on Android) or the key's peer identity";
      if (/does not decrypt/.test(f.reason))
        return "MM5 did not decrypt with any configured pre-shared key — the client's pre-shared key differs from the server's (re-enter it on the client)";
      return "HASH_I did not verify with any configured PSK — the client's pre-shared key differs (re-enter it on the client)";
    case IkeErrorCode.NoPsk:
      return "no pre-shared key is configured for this client's address or identity — add one, or check the key's peer identity";
    case IkeErrorCode.Timeout:
      if (/R_MM4|R_MM2/.test(f.reason))
        return "the client stopped answering in the middle of Main Mode — when NAT is detected it moves to UDP 4500: check that UDP 4500 reaches this server (firewall, port forward); otherwise the client rejected our answer (see its log)";
      return `the client stopped answering: ${f.reason}`;
    case IkeErrorCode.BadKeyExchange:
      return "the client's Diffie-Hellman public value was invalid (a broken or hostile client)";
    case IkeErrorCode.NatPolicy:
    case IkeErrorCode.NatD:
      return `NAT traversal failed: ${f.reason}`;
    case IkeErrorCode.CertificateInvalid:
    case IkeErrorCode.CertificateIdMismatch:
      return `the client's certificate was refused: ${f.reason} — issue it from a CA this server trusts, with the identity it sends`;
    case IkeErrorCode.UnsupportedExchange:
      return "the client uses an exchange this server does not serve (Aggressive Mode is off by default) — use 'L2TP/IPsec with pre-shared key', which uses Main Mode";
    case IkeErrorCode.Payloads:
    case IkeErrorCode.Malformed:
      return `the client's message did not fit IKEv1: ${f.reason}`;
    default:
      return `phase 1 failed: ${f.reason}`;
  }
}

function noProposal1(f: FailureFacts, ctx: ExplainContext): string {
  const offers = f.phase1 ?? [];
  if (offers.length === 0)
    return "NO-PROPOSAL in Main Mode: the client offered no IKE transform this server knows";
  const psk = offers.filter((o) => o.auth === "pre-shared key");
  if (psk.length === 0) {
    const auths = unique(offers.map((o) => o.auth));
    if (auths.some((a) => a.startsWith("XAUTH") || a.startsWith("Hybrid")))
      return `the client asked for ${list(auths)} — it is set up as 'IPsec Xauth' / Cisco IPsec, not L2TP/IPsec: choose the 'L2TP/IPsec PSK' type on the client`;
    return `the client offered only ${list(auths)} authentication — this server expects a pre-shared key: set the client to 'L2TP/IPsec with pre-shared key' (or configure certificates)`;
  }
  const groups = unique(psk.map((o) => o.group));
  if (groups.every((g) => LEGACY_GROUPS.has(g)) && !groups.some((g) => ctx.groups.includes(g))) {
    const names = groups.map((g) => ikeGroupName(g));
    const only = groups.length === 1 && groups[0] === 2 ? "MODP-1024 (group 2)" : list(names);
    return ctx.allowLegacy
      ? `offered only ${only} — this server's policy has no Main Mode offer with it although legacy crypto is allowed; add one to the policy or ask for a newer client`
      : `offered only ${only} — typical of Android ≤ 11 and old macOS/iOS; enable \`--allow-legacy\` or ask for a newer client`;
  }
  const weak = (o: OfferedPhase1) =>
    o.encryption === "DES-CBC" || o.encryption === "3DES-CBC" || o.hash === "MD5";
  if (psk.every(weak)) {
    const what = list(unique(psk.map((o) => `${o.encryption}/${o.hash}`)));
    return psk.some((o) => o.encryption === "DES-CBC")
      ? `offered only ${what} — single DES is never accepted; configure AES on the client`
      : ctx.allowLegacy
        ? `offered only ${what} — legacy algorithms are allowed but this server's policy has no matching offer; add one or configure AES/SHA on the client`
        : `offered only ${what} (legacy 3DES/MD5) — enable \`--allow-legacy\` or configure AES/SHA on the client`;
  }
  const ours = ctx.groups.map((g) => ikeGroupName(g));
  return `NO-PROPOSAL in Main Mode: none of the client's proposals (${list(
    offers.map((o) => o.text),
    3,
  )}) matches this server's (DH groups ${list(ours, 6)}) — align the client's IKE proposals`;
}

function noProposal2(f: FailureFacts, ctx: ExplainContext): string {
  const offers = (f.phase2 ?? []).filter((o) => o.protocol === "PROTO_IPSEC_ESP");
  if (offers.length === 0)
    return "NO-PROPOSAL in Quick Mode: the client asked for no ESP transform (AH or IPComp only?) — L2TP/IPsec needs ESP";
  if (offers.every((o) => o.tunnel))
    return `NO-PROPOSAL in Quick Mode: client asked for tunnel mode (${list(unique(offers.map((o) => o.mode)))}) — L2TP/IPsec uses transport mode; the client is set up for a plain IPsec tunnel, not L2TP/IPsec`;
  if (f.nat === true && offers.every((o) => !o.udpEncapsulated))
    return "NO-PROPOSAL in Quick Mode: the client is behind NAT but asked for plain ESP (not UDP-encapsulated) — its NAT traversal is off or broken; plain ESP cannot cross the NAT";
  if (f.nat === false && offers.every((o) => o.udpEncapsulated))
    return "NO-PROPOSAL in Quick Mode: the client asked for UDP-encapsulated ESP though no NAT was detected between us";
  const weak = offers.every(
    (o) => o.encryption === "ESP_3DES" || o.integrity === "HMAC-MD5" || o.encryption === "ESP_DES",
  );
  if (weak && !ctx.allowLegacy)
    return `NO-PROPOSAL in Quick Mode: offered only ${list(unique(offers.map((o) => `${o.encryption}/${o.integrity}`)))} (legacy) — enable \`--allow-legacy\` or configure AES on the client`;
  if (offers.every((o) => o.pfsGroup !== 0))
    return `NO-PROPOSAL in Quick Mode: the client requires PFS (${list(unique(offers.map((o) => ikeGroupName(o.pfsGroup))))}) and this server's policy offers no matching PFS — turn PFS off on the client or add it to the policy`;
  return `NO-PROPOSAL in Quick Mode: none of the client's ESP proposals (${list(
    offers.map((o) => o.text),
    3,
  )}) matches this server's policy`;
}

function explainPhase2(f: FailureFacts, ctx: ExplainContext): string {
  switch (f.code) {
    case IkeErrorCode.NoProposalChosen:
      return noProposal2(f, ctx);
    case IkeErrorCode.IdRefused: {
      const sel = f.selectors ? ` (client ${f.selectors.remote}, server ${f.selectors.local})` : "";
      if ((f.phase2 ?? []).some((o) => o.tunnel) || /tunnel mode/.test(f.reason))
        return `Quick Mode refused: client asked for tunnel mode${sel} — L2TP/IPsec uses transport mode; the client is set up for a plain IPsec tunnel VPN, not L2TP/IPsec`;
      return `Quick Mode refused: client asked for a selector we do not serve${sel} — L2TP/IPsec protects only UDP 1701 between the client's and the server's own addresses`;
    }
    case IkeErrorCode.Timeout:
      return `Quick Mode did not finish: ${f.reason} — the client stopped answering (a firewall dropping UDP 4500, or it rejected our answer)`;
    case IkeErrorCode.BadKeyExchange:
      return "the client's PFS Diffie-Hellman value was invalid";
    default:
      return `phase 2 failed: ${f.reason}`;
  }
}

function explainPpp(f: FailureFacts): string {
  const who = f.user ? `user '${f.user}'` : "the user";
  const r = f.reason;
  if (/unknown user/.test(r))
    return `PPP authentication failed (691: wrong user name or password): there is no ${who} — IPsec and L2TP worked; check the user name on the client or add it with \`oakley users add\``;
  if (/wrong password/.test(r))
    return `PPP authentication failed (691: wrong user name or password): wrong password for ${who} — IPsec and L2TP worked; re-enter it on the client or set it with \`oakley users passwd\``;
  if (/not allowed|disabled/.test(r))
    return `PPP authentication of ${who} failed: ${r} — enable the account or the method the client uses for it (\`oakley users\`; MS-CHAPv2 is the default)`;
  if (/in time|did not answer/.test(r))
    return `PPP authentication did not finish: ${r} — the client may not support the methods this server asks for (allow MS-CHAP v2 on the client)`;
  return `PPP authentication of ${who} failed (691: wrong user name or password): ${r}`;
}
