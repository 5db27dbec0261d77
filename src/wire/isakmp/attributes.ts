/**
 * ISAKMP data attributes, RFC 2408 §3.3, and typed views of IKE (RFC 2409 Appendix A) and
 * IPsec DOI (RFC 2407 §4.5) transform attributes.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !A!       Attribute Type        !    AF=0  Attribute Length     !
 * !F!                             !    AF=1  Attribute Value      !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * .                   AF=0  Attribute Value                       .
 * .                   AF=1  Not Transmitted                       .
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The attribute list is kept raw (format, class, value) for exact round trips; the typed
 * views (`decodeIkeAttributes`, `decodeIpsecAttributes`) are computed from it. Deviation
 * (liberal): a class that RFC 2409/2407 mark "basic" is still accepted in TLV form when its
 * value fits in 4 octets (some peers send Key Length or lifetimes that way).
 * Life Type / Life Duration pairs (RFC 2409 App. A, RFC 2407 §4.5 "SA Life Type" note) are
 * collected in order; a Duration without a preceding Type is an error.
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { type Result, err, ok } from "../../base/result.js";
import { IkeAttr, IpsecAttr } from "../../registry/ike.js";
import type { DataAttribute } from "./types.js";

/**
 * Parses attributes filling exactly `b`. `base` is the absolute offset of `b` for error
 * reporting.
 */
export function parseDataAttributes(
  b: Buffer,
  base: number,
  maxAttributes: number,
): Result<DataAttribute[], WireError> {
  const out: DataAttribute[] = [];
  let off = 0;
  while (off < b.length) {
    if (out.length >= maxAttributes) {
      return err(
        wireError(WireErrorCode.TooMany, `data attributes: more than ${maxAttributes}`, base + off),
      );
    }
    if (b.length - off < 4) {
      return err(
        wireError(
          WireErrorCode.Truncated,
          `data attribute header: ${b.length - off} bytes left, need 4`,
          base + off,
        ),
      );
    }
    const word = b.readUInt16BE(off);
    const type = word & 0x7fff;
    const v = b.readUInt16BE(off + 2);
    if (word & 0x8000) {
      out.push({ format: "TV", type, value: v });
      off += 4;
    } else {
      if (off + 4 + v > b.length) {
        return err(
          wireError(
            WireErrorCode.BadLength,
            `data attribute ${type}: TLV length ${v} beyond its container (${b.length - off - 4} left)`,
            base + off + 2,
          ),
        );
      }
      out.push({ format: "TLV", type, value: b.subarray(off + 4, off + 4 + v) });
      off += 4 + v;
    }
  }
  return ok(out);
}

/** Parses a standalone attribute list (for fuzzing and tests). */
export function parseDataAttributeList(
  input: Uint8Array,
  maxAttributes = 64,
): Result<DataAttribute[], WireError> {
  return parseDataAttributes(
    Buffer.from(input.buffer, input.byteOffset, input.byteLength),
    0,
    maxAttributes,
  );
}

export function dataAttributesLength(attrs: readonly DataAttribute[]): number {
  let n = 0;
  for (const a of attrs) n += a.format === "TV" ? 4 : 4 + a.value.length;
  return n;
}

/** Writes attributes at `out[off..]`; returns the new offset. */
export function writeDataAttributes(
  out: Buffer,
  off: number,
  attrs: readonly DataAttribute[],
): number {
  let o = off;
  for (const a of attrs) {
    if (a.type < 0 || a.type > 0x7fff) throw new Error(`data attribute class ${a.type} > 15 bits`);
    if (a.format === "TV") {
      if (a.value < 0 || a.value > 0xffff)
        throw new Error(`TV attribute value ${a.value} > 16 bits`);
      out.writeUInt16BE(0x8000 | a.type, o);
      out.writeUInt16BE(a.value, o + 2);
      o += 4;
    } else {
      if (a.value.length > 0xffff) throw new Error("TLV attribute value longer than 65535");
      out.writeUInt16BE(a.type, o);
      out.writeUInt16BE(a.value.length, o + 2);
      a.value.copy(out, o + 4);
      o += 4 + a.value.length;
    }
  }
  return o;
}

export function serializeDataAttributes(attrs: readonly DataAttribute[]): Buffer {
  const out = Buffer.alloc(dataAttributesLength(attrs));
  writeDataAttributes(out, 0, attrs);
  return out;
}

/**
 * Builds an attribute, TV when the value fits 16 bits (RFC 2408 §3.3), else TLV with the
 * shortest big-endian encoding of at least 4 octets (lifetimes, RFC 2409 App. A).
 */
export function attr(type: number, value: number | bigint | Buffer): DataAttribute {
  if (Buffer.isBuffer(value)) return { format: "TLV", type, value };
  const v = BigInt(value);
  if (v < 0n) throw new Error("attr: negative value");
  if (v <= 0xffffn) return { format: "TV", type, value: Number(v) };
  const bytes = v <= 0xffffffffn ? 4 : 8;
  const buf = Buffer.alloc(bytes);
  if (bytes === 4) buf.writeUInt32BE(Number(v));
  else buf.writeBigUInt64BE(v);
  return { format: "TLV", type, value: buf };
}

/** Numeric value of an attribute (TV, or TLV of up to 8 octets); undefined if longer. */
export function attributeNumber(a: DataAttribute): bigint | undefined {
  if (a.format === "TV") return BigInt(a.value);
  if (a.value.length > 8) return undefined;
  let v = 0n;
  for (const byte of a.value) v = (v << 8n) | BigInt(byte);
  return v;
}

/** A lifetime pair: Life Type (seconds/kilobytes) followed by Life Duration. */
export interface Lifetime {
  readonly lifeType: number;
  readonly duration: bigint;
}

/** Typed view of an IKE (phase 1, KEY_IKE) transform's attributes, RFC 2409 App. A. */
export interface IkeAttributes {
  readonly encryptionAlgorithm?: number;
  readonly hashAlgorithm?: number;
  readonly authenticationMethod?: number;
  readonly groupDescription?: number;
  readonly groupType?: number;
  readonly prf?: number;
  readonly keyLength?: number;
  readonly fieldSize?: number;
  readonly lifetimes: readonly Lifetime[];
  /** Classes 6-10 and 16 (private groups) and unknown classes, raw. */
  readonly other: readonly DataAttribute[];
}

/** Typed view of an IPsec DOI (phase 2) transform's attributes, RFC 2407 §4.5. */
export interface IpsecAttributes {
  readonly groupDescription?: number;
  readonly encapsulationMode?: number;
  readonly authenticationAlgorithm?: number;
  readonly keyLength?: number;
  readonly keyRounds?: number;
  readonly compressDictionarySize?: number;
  readonly ecnTunnel?: number;
  readonly extendedSequenceNumber?: number;
  readonly authenticationKeyLength?: number;
  readonly signatureEncodingAlgorithm?: number;
  readonly addressPreservation?: number;
  readonly saDirection?: number;
  readonly lifetimes: readonly Lifetime[];
  readonly other: readonly DataAttribute[];
}

function smallNumber(a: DataAttribute, what: string): Result<number, WireError> {
  if (a.format === "TLV" && a.value.length > 4) {
    return err(
      wireError(WireErrorCode.BadValue, `${what}: TLV value of ${a.value.length} octets`, 0),
    );
  }
  return ok(Number(attributeNumber(a) ?? 0n));
}

function decodeCommon<
  T extends { lifetimes: readonly Lifetime[]; other: readonly DataAttribute[] },
>(
  attrs: readonly DataAttribute[],
  fields: Readonly<Record<number, keyof T & string>>,
  lifeTypeClass: number,
  lifeDurationClass: number,
  what: string,
): Result<T, WireError> {
  const view: Record<string, unknown> = {};
  const lifetimes: Lifetime[] = [];
  const other: DataAttribute[] = [];
  let pendingLifeType: number | undefined;
  for (const a of attrs) {
    if (a.type === lifeTypeClass) {
      const n = smallNumber(a, `${what} Life Type`);
      if (!n.ok) return n;
      if (pendingLifeType !== undefined) {
        return err(
          wireError(WireErrorCode.BadValue, `${what}: Life Type without Life Duration`, 0),
        );
      }
      pendingLifeType = n.value;
      continue;
    }
    if (a.type === lifeDurationClass) {
      const d = attributeNumber(a);
      if (d === undefined) {
        return err(
          wireError(WireErrorCode.BadValue, `${what}: Life Duration longer than 64 bits`, 0),
        );
      }
      if (pendingLifeType === undefined) {
        return err(
          wireError(WireErrorCode.BadValue, `${what}: Life Duration without Life Type`, 0),
        );
      }
      lifetimes.push({ lifeType: pendingLifeType, duration: d });
      pendingLifeType = undefined;
      continue;
    }
    const field = fields[a.type];
    if (field === undefined) {
      other.push(a);
      continue;
    }
    if (view[field] !== undefined) {
      return err(wireError(WireErrorCode.BadValue, `${what}: attribute ${a.type} repeated`, 0));
    }
    const n = smallNumber(a, `${what} attribute ${a.type}`);
    if (!n.ok) return n;
    view[field] = n.value;
  }
  if (pendingLifeType !== undefined) {
    return err(wireError(WireErrorCode.BadValue, `${what}: Life Type without Life Duration`, 0));
  }
  // `fields` maps classes to keys of T, so the assembled record has T's shape.
  const result = { ...view, lifetimes, other } as unknown as T;
  return ok(result);
}

const IKE_FIELDS: Readonly<Record<number, keyof IkeAttributes & string>> = {
  [IkeAttr.ENCRYPTION_ALGORITHM]: "encryptionAlgorithm",
  [IkeAttr.HASH_ALGORITHM]: "hashAlgorithm",
  [IkeAttr.AUTHENTICATION_METHOD]: "authenticationMethod",
  [IkeAttr.GROUP_DESCRIPTION]: "groupDescription",
  [IkeAttr.GROUP_TYPE]: "groupType",
  [IkeAttr.PRF]: "prf",
  [IkeAttr.KEY_LENGTH]: "keyLength",
  [IkeAttr.FIELD_SIZE]: "fieldSize",
};

const IPSEC_FIELDS: Readonly<Record<number, keyof IpsecAttributes & string>> = {
  [IpsecAttr.GROUP_DESCRIPTION]: "groupDescription",
  [IpsecAttr.ENCAPSULATION_MODE]: "encapsulationMode",
  [IpsecAttr.AUTHENTICATION_ALGORITHM]: "authenticationAlgorithm",
  [IpsecAttr.KEY_LENGTH]: "keyLength",
  [IpsecAttr.KEY_ROUNDS]: "keyRounds",
  [IpsecAttr.COMPRESS_DICTIONARY_SIZE]: "compressDictionarySize",
  [IpsecAttr.ECN_TUNNEL]: "ecnTunnel",
  [IpsecAttr.EXTENDED_SEQUENCE_NUMBER]: "extendedSequenceNumber",
  [IpsecAttr.AUTHENTICATION_KEY_LENGTH]: "authenticationKeyLength",
  [IpsecAttr.SIGNATURE_ENCODING_ALGORITHM]: "signatureEncodingAlgorithm",
  [IpsecAttr.ADDRESS_PRESERVATION]: "addressPreservation",
  [IpsecAttr.SA_DIRECTION]: "saDirection",
};

/** Typed view of a phase 1 transform's attributes. */
export function decodeIkeAttributes(
  attrs: readonly DataAttribute[],
): Result<IkeAttributes, WireError> {
  return decodeCommon<IkeAttributes>(
    attrs,
    IKE_FIELDS,
    IkeAttr.LIFE_TYPE,
    IkeAttr.LIFE_DURATION,
    "IKE transform",
  );
}

/** Typed view of a phase 2 (IPsec DOI) transform's attributes. */
export function decodeIpsecAttributes(
  attrs: readonly DataAttribute[],
): Result<IpsecAttributes, WireError> {
  return decodeCommon<IpsecAttributes>(
    attrs,
    IPSEC_FIELDS,
    IpsecAttr.SA_LIFE_TYPE,
    IpsecAttr.SA_LIFE_DURATION,
    "IPsec transform",
  );
}
