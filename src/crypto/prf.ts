/**
 * Hash functions and PRFs for IKEv1 (RFC 2409 §4 and Appendix A, RFC 4868 §2 for the
 * SHA-2 HMACs). In IKEv1 without an explicit PRF attribute the negotiated hash algorithm
 * selects the PRF: "prf" is the HMAC version of that hash (RFC 2409 §4, Appendix A
 * "Hash Algorithm"). This module offers both: `hash(id)` and `prf(id)`.
 *
 * Left out: Tiger (Hash Algorithm 3) — no current peer offers it; the explicit PRF
 * attribute (class 13) — RFC 2409 defines no values for it and no peer sends one.
 */
import { createHash, createHmac } from "node:crypto";
import { err, ok, type Result } from "../base/result.js";
import { IkeHash as RegistryHash } from "../registry/ike.js";
import { type CryptoError, CryptoErrorCode, cryptoError } from "./errors.js";

/** The Hash Algorithm values implemented here (numbers from src/registry/ike.ts). */
export const IkeHash = {
  MD5: RegistryHash.MD5,
  SHA: RegistryHash.SHA,
  SHA2_256: RegistryHash.SHA2_256,
  SHA2_384: RegistryHash.SHA2_384,
  SHA2_512: RegistryHash.SHA2_512,
} as const;
export type IkeHashId = (typeof IkeHash)[keyof typeof IkeHash];

interface HashDesc {
  readonly id: IkeHashId;
  /** Human name (the registry name used in logs). */
  readonly name: string;
  /** node:crypto algorithm name. */
  readonly node: string;
  /** Output length in bytes. */
  readonly outLen: number;
}

const HASHES: Readonly<Record<IkeHashId, HashDesc>> = {
  1: { id: 1, name: "MD5", node: "md5", outLen: 16 },
  2: { id: 2, name: "SHA", node: "sha1", outLen: 20 },
  4: { id: 4, name: "SHA2-256", node: "sha256", outLen: 32 },
  5: { id: 5, name: "SHA2-384", node: "sha384", outLen: 48 },
  6: { id: 6, name: "SHA2-512", node: "sha512", outLen: 64 },
};

/** A keyed PRF (HMAC) bound to one hash. `compute` concatenates `parts` as the message. */
export interface Prf {
  readonly hashId: IkeHashId;
  readonly name: string;
  /** Output length in bytes. */
  readonly outLen: number;
  compute(key: Uint8Array, ...parts: readonly Uint8Array[]): Buffer;
}

/** An unkeyed hash bound to one algorithm. */
export interface Hash {
  readonly hashId: IkeHashId;
  readonly name: string;
  readonly outLen: number;
  digest(...parts: readonly Uint8Array[]): Buffer;
}

function desc(id: number): HashDesc | undefined {
  return Object.hasOwn(HASHES, id) ? HASHES[id as IkeHashId] : undefined;
}

export function isIkeHashId(id: number): id is IkeHashId {
  return desc(id) !== undefined;
}

function unsupported(id: number): CryptoError {
  return cryptoError(CryptoErrorCode.Unsupported, `hash algorithm ${id} is not supported`);
}

function makePrf(d: HashDesc): Prf {
  return {
    hashId: d.id,
    name: `HMAC-${d.name}`,
    outLen: d.outLen,
    compute(key, ...parts) {
      const h = createHmac(d.node, key);
      for (const p of parts) h.update(p);
      return h.digest();
    },
  };
}

function makeHash(d: HashDesc): Hash {
  return {
    hashId: d.id,
    name: d.name,
    outLen: d.outLen,
    digest(...parts) {
      const h = createHash(d.node);
      for (const p of parts) h.update(p);
      return h.digest();
    },
  };
}

const PRFS = new Map<number, Prf>(Object.values(HASHES).map((d) => [d.id, makePrf(d)]));
const DIGESTS = new Map<number, Hash>(Object.values(HASHES).map((d) => [d.id, makeHash(d)]));

/** The IKEv1 PRF selected by the negotiated Hash Algorithm attribute. */
export function prf(hashId: number): Result<Prf, CryptoError> {
  const p = PRFS.get(hashId);
  return p ? ok(p) : err(unsupported(hashId));
}

/** The plain hash selected by the negotiated Hash Algorithm attribute (IVs, NAT-D). */
export function hash(hashId: number): Result<Hash, CryptoError> {
  const h = DIGESTS.get(hashId);
  return h ? ok(h) : err(unsupported(hashId));
}
