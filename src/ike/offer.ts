/**
 * What a peer offered, decoded to registry names for diagnostics (`failed` events, the server's
 * failure records): every transform of a phase-1 (RFC 2409 Appendix A attributes) or phase-2
 * (RFC 2407 §4.5 attributes on ESP/AH transform IDs) SA payload, including the ones Oakley does
 * not support — an unsupported offer is exactly what an administrator needs to see.
 *
 * Bounded: at most MAX_OFFERED transforms are decoded (an SA payload may hold hundreds), and
 * unknown numbers become "unknown-…-N" names from the registry, never raw bytes.
 */
import {
  ENCAPSULATION_MODES,
  GroupDescription,
  IKE_AUTH_METHODS,
  IKE_ENCRYPTION_ALGORITHMS,
  IKE_HASH_ALGORITHMS,
  IkeAttr,
  IPSEC_AUTH_ALGORITHMS,
  IpsecAttr,
  ikeGroupName,
  name,
  PROTOCOL_IDS,
  transformIdTable,
} from "../registry/ike.js";
import { type DataAttribute, ProtocolId, type SaPayload } from "../wire/isakmp/index.js";
import { ENCAP_MODE } from "./suites.js";

export const MAX_OFFERED = 16;

/** One phase-1 transform as offered. */
export interface OfferedPhase1 {
  readonly encryption: string;
  /** Key Length attribute, when present. */
  readonly keyBits?: number;
  readonly hash: string;
  /** Group Description number (0: absent). */
  readonly group: number;
  /** Authentication method name ("pre-shared key", "XAUTHInitPreShared", ...). */
  readonly auth: string;
  /** e.g. "AES-CBC-256/SHA/MODP-1024 (group 2)/pre-shared key". */
  readonly text: string;
}

/** One phase-2 transform as offered. */
export interface OfferedPhase2 {
  /** "PROTO_IPSEC_ESP", "PROTO_IPSEC_AH", ... */
  readonly protocol: string;
  readonly encryption: string;
  readonly keyBits?: number;
  /** "HMAC-SHA", ... or "none". */
  readonly integrity: string;
  /** Encapsulation Mode name ("Transport", "UDP-Encapsulated-Tunnel", ...). */
  readonly mode: string;
  readonly tunnel: boolean;
  readonly udpEncapsulated: boolean;
  /** PFS group number (0: none). */
  readonly pfsGroup: number;
  readonly text: string;
}

function value(attrs: readonly DataAttribute[], type: number): number | undefined {
  const a = attrs.find((x) => x.type === type);
  if (a === undefined) return undefined;
  if (a.format === "TV") return a.value;
  let n = 0;
  for (const b of a.value.subarray(0, 6)) n = n * 256 + b;
  return n;
}

/** Every ISAKMP transform of a phase-1 SA payload (at most MAX_OFFERED). */
export function describePhase1Offer(sa: SaPayload): OfferedPhase1[] {
  const out: OfferedPhase1[] = [];
  for (const p of sa.proposals) {
    if (p.protocolId !== ProtocolId.PROTO_ISAKMP) continue;
    for (const t of p.transforms) {
      if (out.length >= MAX_OFFERED) return out;
      const a = t.attributes;
      const enc = value(a, IkeAttr.ENCRYPTION_ALGORITHM);
      const hash = value(a, IkeAttr.HASH_ALGORITHM);
      const auth = value(a, IkeAttr.AUTHENTICATION_METHOD);
      const group = value(a, IkeAttr.GROUP_DESCRIPTION) ?? 0;
      const keyBits = value(a, IkeAttr.KEY_LENGTH);
      const encryption =
        enc === undefined ? "no encryption attribute" : name(IKE_ENCRYPTION_ALGORITHMS, enc);
      const hashName = hash === undefined ? "no hash attribute" : name(IKE_HASH_ALGORITHMS, hash);
      const authName = auth === undefined ? "no auth attribute" : name(IKE_AUTH_METHODS, auth);
      const groupName = group === 0 ? "no group" : ikeGroupName(group);
      out.push({
        encryption,
        ...(keyBits !== undefined ? { keyBits } : {}),
        hash: hashName,
        group,
        auth: authName,
        text: `${encryption}${keyBits !== undefined ? `-${keyBits}` : ""}/${hashName}/${groupName}/${authName}`,
      });
    }
  }
  return out;
}

const UDP_MODES = new Set<number>([
  ENCAP_MODE.rfc3947.tunnel,
  ENCAP_MODE.rfc3947.transport,
  ENCAP_MODE.draft.tunnel,
  ENCAP_MODE.draft.transport,
]);
const TUNNEL_MODES = new Set<number>([
  ENCAP_MODE.none.tunnel,
  ENCAP_MODE.rfc3947.tunnel,
  ENCAP_MODE.draft.tunnel,
]);

/** Every transform of a Quick Mode SA payload (at most MAX_OFFERED). */
export function describePhase2Offer(sa: SaPayload): OfferedPhase2[] {
  const out: OfferedPhase2[] = [];
  for (const p of sa.proposals) {
    const protocol = name(PROTOCOL_IDS, p.protocolId);
    for (const t of p.transforms) {
      if (out.length >= MAX_OFFERED) return out;
      const a = t.attributes;
      // RFC 2407 §4.5: no Encapsulation Mode attribute means tunnel mode.
      const modeId = value(a, IpsecAttr.ENCAPSULATION_MODE) ?? ENCAP_MODE.none.tunnel;
      const authId = value(a, IpsecAttr.AUTHENTICATION_ALGORITHM);
      const keyBits = value(a, IpsecAttr.KEY_LENGTH);
      const pfsGroup = value(a, IpsecAttr.GROUP_DESCRIPTION) ?? 0;
      const encryption = name(transformIdTable(p.protocolId), t.transformId);
      const integrity = authId === undefined ? "none" : name(IPSEC_AUTH_ALGORITHMS, authId);
      const mode = name(ENCAPSULATION_MODES, modeId);
      out.push({
        protocol,
        encryption,
        ...(keyBits !== undefined ? { keyBits } : {}),
        integrity,
        mode,
        tunnel: TUNNEL_MODES.has(modeId),
        udpEncapsulated: UDP_MODES.has(modeId),
        pfsGroup,
        text: `${encryption}${keyBits !== undefined ? `-${keyBits}` : ""}/${integrity}/${mode}${
          pfsGroup ? `/PFS ${ikeGroupName(pfsGroup)}` : ""
        }`,
      });
    }
  }
  return out;
}

/** Groups kept only for old clients (the policy's legacy list). */
export const LEGACY_GROUPS: ReadonlySet<number> = new Set([
  GroupDescription.MODP_768,
  GroupDescription.MODP_1024,
  GroupDescription.MODP_1536,
]);
