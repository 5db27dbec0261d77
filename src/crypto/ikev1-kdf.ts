/**
 * IKEv1 key derivation and authentication hashes: RFC 2409 §5 (SKEYID for signatures,
 * public-key encryption and pre-shared keys; SKEYID_d/_a/_e; HASH_I/HASH_R), §5.5 (Quick
 * Mode HASH(1..3) and KEYMAT with and without PFS), §5.7 (informational HASH), Appendix B
 * (encryption key expansion and IV generation), and RFC 3947 §3.2 (NAT-D hashes).
 *
 * Everything here is a pure function of its inputs: no randomness, no clock, no I/O.
 * Inputs that can come from a hostile peer (addresses, lengths) are checked and give a
 * Result; the rest are values this side computed itself (keys, nonces it stored).
 *
 * Left out: the revised public-key encryption mode (RFC 2409 §5.3) HASH inputs — no
 * client in our target set uses it; commit-bit handling lives in the engine.
 * Deviation: none known. "0" in the RFC formulas is a single zero octet, "1"/"2" likewise.
 */
import { own } from "../base/bytes.js";
import { err, ok, type Result } from "../base/result.js";
import { type CryptoError, CryptoErrorCode, cryptoError } from "./errors.js";
import type { Hash, Prf } from "./prf.js";

const ZERO = Buffer.from([0]);
const ONE = Buffer.from([1]);
const TWO = Buffer.from([2]);

/** Largest KEYMAT / key expansion we hand out (bytes): far above any real cipher+integrity key. */
export const MAX_KEY_MATERIAL = 1024;

/** SKEYID for pre-shared keys: prf(pre-shared-key, Ni_b | Nr_b) (RFC 2409 §5). */
export function deriveSkeyidPsk(p: Prf, psk: Uint8Array, niB: Uint8Array, nrB: Uint8Array): Buffer {
  return p.compute(psk, niB, nrB);
}

/** SKEYID for signatures (DSS/RSA): prf(Ni_b | Nr_b, g^xy) (RFC 2409 §5). */
export function deriveSkeyidSig(p: Prf, niB: Uint8Array, nrB: Uint8Array, gxy: Uint8Array): Buffer {
  return p.compute(Buffer.concat([niB, nrB]), gxy);
}

/** SKEYID for public-key encryption: prf(hash(Ni_b | Nr_b), CKY-I | CKY-R) (RFC 2409 §5). */
export function deriveSkeyidPke(
  p: Prf,
  h: Hash,
  niB: Uint8Array,
  nrB: Uint8Array,
  ckyI: Uint8Array,
  ckyR: Uint8Array,
): Buffer {
  return p.compute(h.digest(niB, nrB), ckyI, ckyR);
}

export interface Phase1Keys {
  readonly skeyidD: Buffer;
  readonly skeyidA: Buffer;
  readonly skeyidE: Buffer;
  /** The phase-1 encryption key, expanded per Appendix B to the cipher's key length. */
  readonly encKey: Buffer;
}

export interface DeriveKeysInput {
  readonly prf: Prf;
  readonly skeyid: Uint8Array;
  /** g^xy, padded to the group's length (MODP) or the x coordinate (ECP). */
  readonly gxy: Uint8Array;
  readonly ckyI: Uint8Array;
  readonly ckyR: Uint8Array;
  /** Key length of the negotiated phase-1 cipher, in bytes. */
  readonly encKeyLength: number;
}

/**
 * SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
 * SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
 * SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
 * and the cipher key from SKEYID_e (Appendix B).
 */
export function deriveKeys(input: DeriveKeysInput): Result<Phase1Keys, CryptoError> {
  const { prf: p, skeyid, gxy, ckyI, ckyR } = input;
  const skeyidD = p.compute(skeyid, gxy, ckyI, ckyR, ZERO);
  const skeyidA = p.compute(skeyid, skeyidD, gxy, ckyI, ckyR, ONE);
  const skeyidE = p.compute(skeyid, skeyidA, gxy, ckyI, ckyR, TWO);
  const encKey = expandEncKey(p, skeyidE, input.encKeyLength);
  if (!encKey.ok) return encKey;
  return ok({ skeyidD, skeyidA, skeyidE, encKey: encKey.value });
}

/**
 * Appendix B: when SKEYID_e is at least as long as the key, the key is its first bytes;
 * otherwise KEYMAT_e = K1 | K2 | ... with K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, K(n-1)),
 * and the key is the first bytes of that.
 */
export function expandEncKey(
  p: Prf,
  skeyidE: Uint8Array,
  length: number,
): Result<Buffer, CryptoError> {
  if (!Number.isInteger(length) || length <= 0 || length > MAX_KEY_MATERIAL) {
    return err(
      cryptoError(CryptoErrorCode.BadLength, `encryption key length ${length} out of range`),
    );
  }
  if (skeyidE.byteLength >= length) return ok(own(skeyidE.subarray(0, length)));
  const blocks: Buffer[] = [];
  let k: Buffer = p.compute(skeyidE, ZERO);
  blocks.push(k);
  let have = k.length;
  while (have < length) {
    k = p.compute(skeyidE, k);
    blocks.push(k);
    have += k.length;
  }
  return ok(own(Buffer.concat(blocks).subarray(0, length)));
}

export interface MainModeHashInput {
  readonly prf: Prf;
  readonly skeyid: Uint8Array;
  /** Initiator's and responder's KE payload bodies (public values). */
  readonly gxi: Uint8Array;
  readonly gxr: Uint8Array;
  readonly ckyI: Uint8Array;
  readonly ckyR: Uint8Array;
  /** The initiator's whole SA payload body (without the generic header). */
  readonly saiB: Uint8Array;
}

/** HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b) (RFC 2409 §5). */
export function hashI(input: MainModeHashInput, idiiB: Uint8Array): Buffer {
  const { prf: p, skeyid, gxi, gxr, ckyI, ckyR, saiB } = input;
  return p.compute(skeyid, gxi, gxr, ckyI, ckyR, saiB, idiiB);
}

/** HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b) (RFC 2409 §5). */
export function hashR(input: MainModeHashInput, idirB: Uint8Array): Buffer {
  const { prf: p, skeyid, gxi, gxr, ckyI, ckyR, saiB } = input;
  return p.compute(skeyid, gxr, gxi, ckyR, ckyI, saiB, idirB);
}

/**
 * Phase-1 IV (Appendix B): hash(g^xi | g^xr) truncated to the cipher block size. After
 * each message the next IV is the last ciphertext block of that message (`nextIv`).
 */
export function phase1Iv(h: Hash, gxi: Uint8Array, gxr: Uint8Array, blockSize: number): Buffer {
  return own(h.digest(gxi, gxr).subarray(0, blockSize));
}

/**
 * Phase-2 and informational IV (Appendix B): hash(last phase-1 CBC output block | M-ID)
 * truncated to the block size; `lastPhase1Block` is the IV state left by the last
 * phase-1 message (the last ciphertext block of the final Main Mode message).
 */
export function phase2Iv(
  h: Hash,
  lastPhase1Block: Uint8Array,
  messageId: number,
  blockSize: number,
): Buffer {
  return own(h.digest(lastPhase1Block, u32(messageId)).subarray(0, blockSize));
}

/** CBC chaining across messages: the next IV is the last ciphertext block. */
export function nextIv(ciphertext: Uint8Array, blockSize: number): Result<Buffer, CryptoError> {
  if (ciphertext.byteLength < blockSize || ciphertext.byteLength % blockSize !== 0) {
    return err(
      cryptoError(CryptoErrorCode.NotBlockAligned, "ciphertext is not a whole number of blocks"),
    );
  }
  // Kept as the SA's IV: its own memory, not a view into a pool slab (base/bytes.ts own()).
  return ok(own(ciphertext.subarray(ciphertext.byteLength - blockSize)));
}

function u32(v: number): Buffer {
  // Message IDs come from the header codec as u32; anything else is a bug, not peer input.
  if (v >>> 0 !== v) throw new RangeError(`message ID ${v} is not a u32`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

/** Quick Mode HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ]) (§5.5). */
export function qmHash1(p: Prf, skeyidA: Uint8Array, messageId: number, rest: Uint8Array): Buffer {
  return p.compute(skeyidA, u32(messageId), rest);
}

/** Quick Mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ]) (§5.5). */
export function qmHash2(
  p: Prf,
  skeyidA: Uint8Array,
  messageId: number,
  niB: Uint8Array,
  rest: Uint8Array,
): Buffer {
  return p.compute(skeyidA, u32(messageId), niB, rest);
}

/** Quick Mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b) (§5.5). */
export function qmHash3(
  p: Prf,
  skeyidA: Uint8Array,
  messageId: number,
  niB: Uint8Array,
  nrB: Uint8Array,
): Buffer {
  return p.compute(skeyidA, ZERO, u32(messageId), niB, nrB);
}

/** Informational HASH(1) = prf(SKEYID_a, M-ID | N/D) (§5.7); `rest` is the Notify or Delete payload(s). */
export function informationalHash(
  p: Prf,
  skeyidA: Uint8Array,
  messageId: number,
  rest: Uint8Array,
): Buffer {
  return p.compute(skeyidA, u32(messageId), rest);
}

export interface KeymatInput {
  readonly prf: Prf;
  readonly skeyidD: Uint8Array;
  /** Protocol ID from the SA proposal (PROTO_IPSEC_ESP = 3, PROTO_IPSEC_AH = 2). */
  readonly protocol: number;
  /** The SPI of the SA this key material is for (4 bytes for ESP/AH), as sent in the proposal. */
  readonly spi: Uint8Array;
  readonly niB: Uint8Array;
  readonly nrB: Uint8Array;
  /** The Quick Mode DH shared secret when PFS is used; absent without PFS. */
  readonly gqmxy?: Uint8Array;
  /** Bytes of key material wanted (encryption key + integrity key, RFC 2409 §5.5). */
  readonly length: number;
}

/**
 * KEYMAT = K1 | K2 | ... (RFC 2409 §5.5):
 *   without PFS K1 = prf(SKEYID_d, protocol | SPI | Ni_b | Nr_b)
 *   with PFS    K1 = prf(SKEYID_d, g(qm)^xy | protocol | SPI | Ni_b | Nr_b)
 *   Kn = prf(SKEYID_d, K(n-1) | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
 */
export function keymat(input: KeymatInput): Result<Buffer, CryptoError> {
  const { prf: p, skeyidD, spi, niB, nrB, length } = input;
  if (!Number.isInteger(length) || length <= 0 || length > MAX_KEY_MATERIAL) {
    return err(cryptoError(CryptoErrorCode.BadLength, `KEYMAT length ${length} out of range`));
  }
  if (!Number.isInteger(input.protocol) || input.protocol < 0 || input.protocol > 255) {
    return err(cryptoError(CryptoErrorCode.BadLength, "protocol ID is not one octet"));
  }
  const tail: Uint8Array[] = [];
  if (input.gqmxy !== undefined) tail.push(input.gqmxy);
  tail.push(Buffer.from([input.protocol]), spi, niB, nrB);
  const blocks: Buffer[] = [];
  let k = p.compute(skeyidD, ...tail);
  blocks.push(k);
  let have = k.length;
  while (have < length) {
    k = p.compute(skeyidD, k, ...tail);
    blocks.push(k);
    have += k.length;
  }
  return ok(own(Buffer.concat(blocks).subarray(0, length)));
}

/**
 * NAT-D payload data (RFC 3947 §3.2): HASH(CKY-I | CKY-R | IP | Port) with the negotiated
 * hash; IP is 4 bytes (IPv4) or 16 bytes (IPv6), Port 2 bytes, network order.
 */
export function natdHash(
  h: Hash,
  ckyI: Uint8Array,
  ckyR: Uint8Array,
  ip: Uint8Array,
  port: number,
): Result<Buffer, CryptoError> {
  if (ip.byteLength !== 4 && ip.byteLength !== 16) {
    return err(cryptoError(CryptoErrorCode.BadAddress, `address of ${ip.byteLength} bytes`));
  }
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    return err(cryptoError(CryptoErrorCode.BadAddress, `port ${port} out of range`));
  }
  const portB = Buffer.alloc(2);
  portB.writeUInt16BE(port);
  return ok(h.digest(ckyI, ckyR, ip, portB));
}
