/**
 * A typed phase-1 (ISAKMP SA) crypto suite built from the negotiated Oakley attribute values
 * (RFC 2409 Appendix A): Encryption Algorithm (+ Key Length), Hash Algorithm, Group
 * Description. The attribute numbers come from src/registry/ike.ts.
 *
 * Left out: Authentication Method handling (belongs to the engine: it chooses
 * deriveSkeyidPsk/deriveSkeyidSig), life types, and phase-2 (ESP) transforms.
 */
import { ok, type Result } from "../base/result.js";
import { type IkeCipher, ikeCipher } from "./cipher.js";
import { type DhGroup, dhGroup } from "./dh.js";
import type { CryptoError } from "./errors.js";
import { type Hash, hash, type Prf, prf } from "./prf.js";

/** Attribute classes and Authentication Method values live in the registry (RFC 2409 App. A). */
export { IkeAttr as OakleyAttr, IkeAuthMethod as OakleyAuth } from "../registry/ike.js";

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
