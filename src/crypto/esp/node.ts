/**
 * ESP transforms on node:crypto. Portable fallback and the second opinion in tests: node:crypto
 * needs a new cipher object per packet (about 5–7 µs each, measured with bench:esp), so the
 * EVP backend (evp.ts) is preferred where libcrypto loads. Keys are imported once as KeyObjects.
 * GCM tag failures surface as exceptions inside node:crypto; they are caught here and become -1.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
} from "node:crypto";
import {
  type EspTransform,
  type IvPool,
  ivPoolFor,
  icvEqual,
  type SuiteShape,
  suiteShape,
  type TransformParams,
  writeSeqIv,
  writeU32,
} from "./transform.js";

const EMPTY = Buffer.alloc(0);

class NodeTransform implements EspTransform {
  readonly backend = "node" as const;
  readonly suite;
  readonly ivLength: number;
  readonly icvLength: number;
  readonly blockSize: number;
  private readonly shape: SuiteShape;
  private readonly encKey: KeyObject | undefined;
  private readonly salt: Buffer;
  private readonly macKey: KeyObject | undefined;
  private readonly esn: boolean;
  private readonly ivPool: IvPool;
  private readonly nonce = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(12);
  private readonly seqHiBuf = Buffer.alloc(4);

  constructor(p: TransformParams) {
    this.shape = suiteShape(p);
    this.suite = p.suite;
    this.ivLength = this.shape.ivLength;
    this.icvLength = this.shape.icvLength;
    this.blockSize = this.shape.blockSize;
    this.esn = p.esn;
    const enc = this.shape.enc;
    const k = Buffer.from(p.keys.encryption);
    this.encKey = enc.kind === "null" ? undefined : createSecretKey(k.subarray(0, enc.keyLength));
    this.salt = Buffer.from(k.subarray(enc.keyLength));
    this.salt.copy(this.nonce, 0);
    this.macKey =
      this.shape.integ === undefined ? undefined : createSecretKey(Buffer.from(p.keys.integrity));
    this.ivPool = ivPoolFor(p.random);
  }

  private gcmAad(pkt: Uint8Array, seqHi: number): Buffer {
    if (!this.esn) return Buffer.from(pkt.buffer, pkt.byteOffset, 8);
    this.aad.set(pkt.subarray(0, 4), 0);
    writeU32(this.aad, 4, seqHi);
    this.aad.set(pkt.subarray(4, 8), 8);
    return this.aad;
  }

  private mac(pkt: Uint8Array, end: number, seqHi: number): Buffer {
    const h = createHmac(this.shape.integ!.digest, this.macKey!);
    h.update(pkt.subarray(0, end));
    if (this.esn) {
      writeU32(this.seqHiBuf, 0, seqHi);
      h.update(this.seqHiBuf);
    }
    return h.digest();
  }

  seal(pkt: Uint8Array, ptLength: number, seqHi: number, seqLo: number): number {
    const iv = this.ivLength;
    const start = 8 + iv;
    const end = start + ptLength;
    const pt = pkt.subarray(start, end);
    const enc = this.shape.enc;
    if (enc.kind === "aead") {
      writeSeqIv(pkt, 8, seqHi, seqLo);
      writeSeqIv(this.nonce, 4, seqHi, seqLo);
      const c = createCipheriv(enc.cipherName as "aes-128-gcm", this.encKey!, this.nonce, {
        authTagLength: this.icvLength,
      });
      c.setAAD(this.gcmAad(pkt, seqHi));
      const out = c.update(pt);
      c.final();
      pkt.set(out, start);
      pkt.set(c.getAuthTag(), end);
      return end + this.icvLength;
    }
    if (enc.kind === "cbc") {
      this.ivPool.take(pkt, 8, iv);
      const c = createCipheriv(enc.cipherName, this.encKey!, pkt.subarray(8, start));
      c.setAutoPadding(false);
      const out = c.update(pt);
      pkt.set(out, start);
      const fin = c.final();
      if (fin.length !== 0) pkt.set(fin, start + out.length);
    }
    pkt.set(this.mac(pkt, end, seqHi).subarray(0, this.icvLength), end);
    return end + this.icvLength;
  }

  open(pkt: Uint8Array, seqHi: number, out: Uint8Array, outOffset: number): number {
    const iv = this.ivLength;
    const icv = this.icvLength;
    const start = 8 + iv;
    const end = pkt.length - icv;
    const ctLength = end - start;
    if (ctLength < 0 || ctLength % this.blockSize !== 0) return -1;
    const ct = pkt.subarray(start, end);
    const enc = this.shape.enc;
    if (enc.kind === "aead") {
      this.nonce.set(pkt.subarray(8, 16), 4);
      try {
        const d = createDecipheriv(enc.cipherName as "aes-128-gcm", this.encKey!, this.nonce, {
          authTagLength: icv,
        });
        d.setAAD(this.gcmAad(pkt, seqHi));
        d.setAuthTag(pkt.subarray(end));
        const pt = d.update(ct);
        d.final();
        out.set(pt, outOffset);
      } catch {
        return -1;
      }
      return ctLength;
    }
    const expect = this.mac(pkt, end, seqHi);
    if (!icvEqual(expect, 0, pkt, end, icv)) return -1;
    if (enc.kind === "null") {
      out.set(ct, outOffset);
      return ctLength;
    }
    const d = createDecipheriv(enc.cipherName, this.encKey!, pkt.subarray(8, start));
    d.setAutoPadding(false);
    const pt = d.update(ct);
    out.set(pt, outOffset);
    const fin = ctLength === 0 ? EMPTY : d.final();
    if (fin.length !== 0) out.set(fin, outOffset + pt.length);
    return ctLength;
  }

  dispose(): void {}
}

export function createNodeTransform(p: TransformParams): EspTransform {
  return new NodeTransform(p);
}
