/**
 * A typed phase-1 (ISAKMP SA) crypto suite built from the negotiated Oakley attribute values
 * (RFC 2409 Appendix A): Encryption Algorithm (+ Key Length), Hash Algorithm, Group
 * Description. The attribute class numbers are defined here locally as named constants;
 * src/registry/ike.ts is meant to become their single home (switch when it exists).
 *
 * Left out: Authentication Method handling (belongs to the engine: it chooses
 * deriveSkeyidPsk/deriveSkeyidSig), life types, and phase-2 (ESP) transforms.
 */
import { ok, type Result } from "../base/result.js";
import { type IkeCipher, ikeCipher } from "./cipher.js";
import { type DhGroup, dhGroup } from "./dh.js";
import type { CryptoError } from "./errors.js";
import { type Hash, hash, type Prf, prf } from "./prf.js";

/** Oakley (phase-1) attribute classes, RFC 2409 Appendix A. */
export const OakleyAttr = {
  EncryptionAlgorithm: 1,
  HashAlgorithm: 2,
  AuthenticationMethod: 3,
  GroupDescription: 4,
  LifeType: 11,
  LifeDuration: 12,
  KeyLength: 14,
} as const;

/** Authentication Method values, RFC 2409 Appendix A. */
export const OakleyAuth = {
  PreSharedKey: 1,
  DssSignatures: 2,
  RsaSignatures: 3,
  RsaEncryption: 4,
  RevisedRsaEncryption: 5,
} as const;

/** The negotiated attribute values, as numbers off the wire. */
export interface Phase1SuiteAttributes {
  readonly encryption: number;
  /** Key Length attribute in bits; absent for fixed-length ciphers (3DES). */
  readonly keyLength?: number;
  readonly hash: number;
  readonly group: number;
}

export interface Phase1Suite {
  readonly cipher: IkeCipher;
  readonly hash: Hash;
  readonly prf: Prf;
  readonly group: DhGroup;
  /** e.g. "AES-CBC-256/SHA2-256/MODP-2048" for logs. */
  readonly name: string;
}

export function phase1Suite(a: Phase1SuiteAttributes): Result<Phase1Suite, CryptoError> {
  const c = ikeCipher(a.encryption, a.keyLength);
  if (!c.ok) return c;
  const h = hash(a.hash);
  if (!h.ok) return h;
  const p = prf(a.hash);
  if (!p.ok) return p;
  const g = dhGroup(a.group);
  if (!g.ok) return g;
  return ok({
    cipher: c.value,
    hash: h.value,
    prf: p.value,
    group: g.value,
    name: `${c.value.name}/${h.value.name}/${g.value.name}`,
  });
}
