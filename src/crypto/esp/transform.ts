/**
 * The one interface both ESP crypto backends implement (node:crypto in node.ts, libcrypto EVP
 * through koffi in evp.ts), plus what they share: key checks, the CBC IV pool, the ESN-aware
 * AAD/ICV input rules of RFC 4303 §2.2.1 / RFC 4106 §5.
 *
 * Buffer contract (no allocation on the EVP hot path): a packet buffer `pkt` holds
 *   [0..8) SPI | Sequence Number   [8..8+iv) IV   [8+iv..8+iv+pt) plaintext/ciphertext   then ICV
 * `seal` fills the IV, encrypts in place and appends the ICV; `open` verifies the ICV (in
 * constant time) and decrypts into a separate output buffer. Neither throws on bad input: `open`
 * returns -1 when the ICV does not verify.
 *
 * IVs: GCM uses the 64-bit sequence number as its explicit IV (unique per SA, RFC 4106 §3.1);
 * CBC IVs must be unpredictable (RFC 3602 §2.3) and come from an injected random source,
 * drawn in 4 KiB batches.
 */
import { timingSafeEqual } from "node:crypto";
import {
  ENCRYPTION,
  type EncryptionInfo,
  type EspSuite,
  INTEGRITY,
  type IntegrityInfo,
  keyLengths,
  validateSuite,
} from "./suites.js";

export type EspBackendName = "node" | "evp";

export interface EspKeys {
  /** Encryption key; for GCM the AES key followed by the 4-octet salt. Empty for NULL. */
  readonly encryption: Uint8Array;
  /** Integrity key; empty for GCM. */
  readonly integrity: Uint8Array;
}

/** Fills `dst` with cryptographically strong random octets (injected from platform/). */
export type RandomFill = (dst: Uint8Array) => void;

export interface EspTransform {
  readonly suite: EspSuite;
  readonly backend: EspBackendName;
  readonly ivLength: number;
  readonly icvLength: number;
  /** Plaintext (payload + padding + trailer) must be a multiple of this. */
  readonly blockSize: number;
  /**
   * Encrypts pkt[8+iv .. 8+iv+ptLength) in place, writes the IV and the ICV after the
   * ciphertext. pkt[0..8) must already hold SPI and the low 32 bits of the sequence number.
   * Returns the ESP packet length (8 + iv + ptLength + icv).
   */
  seal(pkt: Uint8Array, ptLength: number, seqHi: number, seqLo: number): number;
  /**
   * Verifies the ICV of the whole ESP packet `pkt` and decrypts its ciphertext into
   * out[outOffset..]. Returns the plaintext length, or -1 when the ICV does not verify or the
   * ciphertext is not a whole number of blocks.
   */
  open(pkt: Uint8Array, seqHi: number, out: Uint8Array, outOffset: number): number;
  /** Frees native contexts; the transform must not be used afterwards. */
  dispose(): void;
}

export interface TransformParams {
  readonly suite: EspSuite;
  readonly keys: EspKeys;
  /** Extended Sequence Numbers (RFC 4303 §2.2.1): high half enters AAD / ICV. */
  readonly esn: boolean;
  readonly random: RandomFill;
}

/** Resolved sizes of a suite. */
export interface SuiteShape {
  readonly enc: EncryptionInfo;
  readonly integ: IntegrityInfo | undefined;
  readonly ivLength: number;
  readonly icvLength: number;
  readonly blockSize: number;
}

export function suiteShape(p: TransformParams): SuiteShape {
  const problem = validateSuite(p.suite);
  if (problem !== undefined) throw new Error(`ESP transform: ${problem}`);
  const want = keyLengths(p.suite);
  if (p.keys.encryption.length !== want.encryption) {
    throw new Error(
      `ESP transform: ${p.suite.encryption} needs ${want.encryption} key octets, got ${p.keys.encryption.length}`,
    );
  }
  if (p.keys.integrity.length !== want.integrity) {
    throw new Error(
      `ESP transform: ${p.suite.integrity} needs ${want.integrity} key octets, got ${p.keys.integrity.length}`,
    );
  }
  const enc = ENCRYPTION[p.suite.encryption];
  const integ = p.suite.integrity === "none" ? undefined : INTEGRITY[p.suite.integrity];
  return {
    enc,
    integ,
    ivLength: enc.ivLength,
    icvLength: enc.kind === "aead" ? enc.tagLength : (integ?.icvLength ?? 0),
    blockSize: enc.blockSize,
  };
}

/**
 * Hands out IVs from batches of random octets. One pool per random source, shared by every
 * transform drawing from it (`ivPoolFor`): a server with thousands of SAs keeps one 4 KB batch,
 * not one per SA (inbound transforms never draw IVs at all).
 */
export class IvPool {
  private readonly pool = Buffer.alloc(4096);
  private at = this.pool.length;
  constructor(private readonly random: RandomFill) {}
  /** Copies `length` fresh random octets into dst[offset..]. */
  take(dst: Uint8Array, offset: number, length: number): void {
    if (this.at + length > this.pool.length) {
      this.random(this.pool);
      this.at = 0;
    }
    dst.set(this.pool.subarray(this.at, this.at + length), offset);
    // Never reuse: wipe what was handed out.
    this.pool.fill(0, this.at, this.at + length);
    this.at += length;
  }
}

const ivPools = new WeakMap<RandomFill, IvPool>();

/** The IV pool of a random source, made on first use. */
export function ivPoolFor(random: RandomFill): IvPool {
  let pool = ivPools.get(random);
  if (!pool) {
    pool = new IvPool(random);
    ivPools.set(random, pool);
  }
  return pool;
}

/** Writes the 8-octet GCM explicit IV (the 64-bit sequence number) at dst[offset..]. */
export function writeSeqIv(dst: Uint8Array, offset: number, seqHi: number, seqLo: number): void {
  dst[offset] = seqHi >>> 24;
  dst[offset + 1] = (seqHi >>> 16) & 0xff;
  dst[offset + 2] = (seqHi >>> 8) & 0xff;
  dst[offset + 3] = seqHi & 0xff;
  dst[offset + 4] = seqLo >>> 24;
  dst[offset + 5] = (seqLo >>> 16) & 0xff;
  dst[offset + 6] = (seqLo >>> 8) & 0xff;
  dst[offset + 7] = seqLo & 0xff;
}

export function writeU32(dst: Uint8Array, offset: number, v: number): void {
  dst[offset] = v >>> 24;
  dst[offset + 1] = (v >>> 16) & 0xff;
  dst[offset + 2] = (v >>> 8) & 0xff;
  dst[offset + 3] = v & 0xff;
}

/** Constant-time comparison of a[aOff..aOff+n) and b[bOff..bOff+n). */
export function icvEqual(
  a: Uint8Array,
  aOff: number,
  b: Uint8Array,
  bOff: number,
  n: number,
): boolean {
  return timingSafeEqual(a.subarray(aOff, aOff + n), b.subarray(bOff, bOff + n));
}
