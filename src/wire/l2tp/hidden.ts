/**
 * Hiding of AVP Attribute Values, RFC 2661 §4.3.
 *
 * The value of a hidden AVP (H=1) is the "hidden AVP subformat"
 *
 *   | Length of Original Value (16 bits) | Original Attribute Value ... | Padding ... |
 *
 * obfuscated with an MD5 stream: the subformat is cut into 16-octet chunks p1, p2, ...;
 *   b1 = MD5(Attribute Type (2 octets, network order) + secret + Random Vector),  c1 = p1 xor b1
 *   bi = MD5(secret + c(i-1)),                                                      ci = pi xor bi
 * the last chunk may be shorter than 16 octets (only as many octets of bi are used). The Random
 * Vector is the value of the most recent Random Vector AVP before the hidden AVP in the same
 * message; the secret is the tunnel secret (the one of §5.1.1).
 *
 * Pure functions: the secret, the random vector and the padding come in as arguments (the engine
 * draws them from its injected random source). MD5 is node:crypto's, which does no I/O.
 *
 * Deviation: none. Left out: choosing which AVPs to hide (policy, in l2tp/).
 */
import { createHash } from "node:crypto";
import { type Result, err, ok } from "../../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { avpTypeName } from "../../registry/l2tp.js";
import { AVP_HEADER_LENGTH, AVP_MAX_LENGTH, type RawAvp } from "./avp.js";

function md5(...parts: Uint8Array[]): Buffer {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** XORs the MD5 key stream of §4.3 over `data`; `encrypting` says whether `data` is plaintext. */
function stream(
  attributeType: number,
  secret: Uint8Array,
  randomVector: Uint8Array,
  data: Buffer,
  encrypting: boolean,
): Buffer {
  const out = Buffer.alloc(data.length);
  const type = Buffer.alloc(2);
  type.writeUInt16BE(attributeType, 0);
  let b = md5(type, secret, randomVector);
  for (let off = 0; off < data.length; off += 16) {
    const end = Math.min(off + 16, data.length);
    for (let i = off; i < end; i++) out[i] = (data[i] ?? 0) ^ (b[i - off] ?? 0);
    if (end < data.length) {
      // the next block is keyed with the previous ciphertext chunk
      const cipherChunk = encrypting ? out.subarray(off, end) : data.subarray(off, end);
      b = md5(secret, cipherChunk);
    }
  }
  return out;
}

/**
 * Hides an unhidden AVP: returns the same AVP with H=1 and the obfuscated subformat as value.
 * `padding` is appended after the original value (RFC: arbitrary octets to hide the length).
 * Throws if the result would not fit an AVP (a caller bug).
 */
export function hideAvp(
  a: RawAvp,
  secret: Uint8Array,
  randomVector: Uint8Array,
  padding: Uint8Array = Buffer.alloc(0),
): RawAvp {
  if (a.hidden) throw new Error("hideAvp: already hidden");
  const sub = Buffer.alloc(2 + a.value.length + padding.length);
  sub.writeUInt16BE(a.value.length, 0);
  a.value.copy(sub, 2);
  sub.set(padding, 2 + a.value.length);
  if (AVP_HEADER_LENGTH + sub.length > AVP_MAX_LENGTH)
    throw new Error("hideAvp: hidden AVP too long");
  return { ...a, hidden: true, value: stream(a.attributeType, secret, randomVector, sub, true) };
}

export interface UnhiddenAvp {
  readonly avp: RawAvp;
  /** The padding octets that followed the original value. */
  readonly padding: Buffer;
}

/**
 * Reveals a hidden AVP. BadLength if the subformat is shorter than 2 octets or its Original
 * Length exceeds what is there (which is also what a wrong secret or random vector usually
 * produces — the RFC has no integrity check, so a wrong secret can also yield garbage that fits).
 */
export function unhideAvp(
  a: RawAvp,
  secret: Uint8Array,
  randomVector: Uint8Array,
): Result<UnhiddenAvp, WireError> {
  const name = avpTypeName(a.attributeType, a.vendorId);
  if (!a.hidden) return err(wireError(WireErrorCode.BadValue, `${name}: not hidden`, 0));
  if (a.value.length < 2) {
    return err(
      wireError(WireErrorCode.BadLength, `${name}: hidden value shorter than 2 octets`, 6),
    );
  }
  const sub = stream(a.attributeType, secret, randomVector, a.value, false);
  const len = sub.readUInt16BE(0);
  if (2 + len > sub.length) {
    return err(
      wireError(
        WireErrorCode.BadLength,
        `${name}: hidden Original Length ${len} > ${sub.length - 2} (wrong secret?)`,
        6,
      ),
    );
  }
  return ok({
    avp: { ...a, hidden: false, value: Buffer.from(sub.subarray(2, 2 + len)) },
    padding: Buffer.from(sub.subarray(2 + len)),
  });
}
