/**
 * Builds the algorithm-name fields of SA records from negotiated numbers, through src/registry
 * (DESIGN rule 8: the Windows IP Security Monitor showed DH2048 as "268435457"; ours shows
 * "MODP-2048 (group 14; Windows policy constant ...)" for that constant and "MODP-2048 (group 14)"
 * for the IANA number). The daemon calls these when it fills IkeSaRecord / ChildSaRecord.
 */
import {
  ENCAPSULATION_MODES,
  ESP_TRANSFORM_IDS,
  IKE_AUTH_METHODS,
  IKE_ENCRYPTION_ALGORITHMS,
  IKE_HASH_ALGORITHMS,
  IPSEC_AUTH_ALGORITHMS,
  ikeGroupName,
  name,
} from "../registry/ike.js";
import type { ChildSaRecord, IkeSaRecord } from "./types.js";

/** Negotiated Main Mode attribute values (RFC 2409 Appendix A numbers). */
export interface IkeAlgorithmNumbers {
  readonly encryption: number;
  readonly keyLength?: number;
  readonly hash: number;
  readonly group: number;
  readonly authMethod: number;
}

export function ikeAlgorithmNames(n: IkeAlgorithmNumbers): IkeSaRecord["algorithms"] {
  return {
    encryption: name(IKE_ENCRYPTION_ALGORITHMS, n.encryption),
    ...(n.keyLength !== undefined ? { keyLength: n.keyLength } : {}),
    hash: name(IKE_HASH_ALGORITHMS, n.hash),
    dhGroup: ikeGroupName(n.group),
    authentication: name(IKE_AUTH_METHODS, n.authMethod),
  };
}

/** Negotiated Quick Mode values: ESP transform ID, Authentication Algorithm, PFS group or none. */
export interface EspAlgorithmNumbers {
  readonly transformId: number;
  readonly keyLength?: number;
  /** Absent for combined-mode ciphers (AES-GCM). */
  readonly authAlgorithm?: number;
  /** Absent: no PFS. */
  readonly pfsGroup?: number;
}

export function espAlgorithmNames(n: EspAlgorithmNumbers): ChildSaRecord["algorithms"] {
  return {
    encryption: name(ESP_TRANSFORM_IDS, n.transformId),
    ...(n.keyLength !== undefined ? { keyLength: n.keyLength } : {}),
    integrity:
      n.authAlgorithm === undefined
        ? "none (combined mode)"
        : name(IPSEC_AUTH_ALGORITHMS, n.authAlgorithm),
    pfsGroup: n.pfsGroup === undefined ? "none" : ikeGroupName(n.pfsGroup),
  };
}

/** Encapsulation Mode attribute value (RFC 2407 4.5, RFC 3947 5.1, draft 61443/61444). */
export function encapsulationName(mode: number): string {
  return name(ENCAPSULATION_MODES, mode);
}

/** SA ids used by `sa list` / `sa delete`. */
export function ikeSaId(ckyI: Uint8Array | string, ckyR: Uint8Array | string): string {
  const hex = (x: Uint8Array | string) =>
    typeof x === "string" ? x : Buffer.from(x).toString("hex");
  return `mm-${hex(ckyI)}-${hex(ckyR)}`;
}

export function childSaId(spiIn: number): string {
  return `qm-${(spiIn >>> 0).toString(16).padStart(8, "0")}`;
}

export function spiText(spi: number): string {
  return `0x${(spi >>> 0).toString(16).padStart(8, "0")}`;
}
