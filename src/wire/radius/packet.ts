/**
 * RADIUS packet codec, RFC 2865 §3 (packet), §5 (attributes), §5.26 (Vendor-Specific), with
 * the Microsoft sub-attribute layout of RFC 2548 §2.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Code      |  Identifier   |            Length             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Authenticator (16 octets)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Attributes ...  (Type 1 octet, Length 1 octet incl. header, Value)
 *
 *   Vendor-Specific (26): Vendor-Id (4 octets) then, for Microsoft (311), sub-attributes
 *   Vendor-Type (1) | Vendor-Length (1, incl. these two) | Value.
 *
 * Attributes are kept as raw (type, value) pairs in order, so that serialize(parse(b)) == b for
 * every accepted packet (octets past the Length field are padding and dropped, §3). Parsing
 * checks structure and the fixed lengths of the attributes registry/radius.ts knows (an address
 * is 4 octets, Message-Authenticator 16, ...), so typed readers below never see a short value.
 *
 * Pure: no secret, no MD5 here; authenticators and password hiding are in auth.ts.
 * Left out: RFC 6929 extended attributes (types 241-246 pass through as raw octets).
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { err, ok, type Result } from "../../base/result.js";
import {
  msAttrInfo,
  msAttrName,
  RadiusAttr,
  radiusAttrInfo,
  radiusAttrName,
  VENDOR_MICROSOFT,
} from "../../registry/radius.js";

export const RADIUS_HEADER_LENGTH = 20;
/** RFC 2865 §3: the maximum packet length. */
export const RADIUS_MAX_LENGTH = 4096;
/** An attribute value is at most 253 octets (Length is one octet and counts the header). */
export const RADIUS_MAX_VALUE = 253;

export interface RadiusAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface RadiusPacket {
  readonly code: number;
  readonly identifier: number;
  /** 16 octets: the Request or Response Authenticator. */
  readonly authenticator: Uint8Array;
  readonly attributes: readonly RadiusAttribute[];
}

export interface VendorAttribute {
  readonly vendorId: number;
  readonly vendorType: number;
  readonly value: Uint8Array;
}

const bad = (code: WireErrorCode, message: string, offset: number) =>
  err(wireError(code, message, offset));

function checkValue(
  name: string,
  info: { readonly fixed?: number } | undefined,
  len: number,
  at: number,
): WireError | undefined {
  if (info?.fixed !== undefined && len !== info.fixed) {
    return wireError(
      WireErrorCode.BadLength,
      `RADIUS ${name} must be ${info.fixed} octets, not ${len}`,
      at,
    );
  }
  return undefined;
}

/** Checks a Microsoft Vendor-Specific value: sub-attributes must tile it exactly. */
function checkMicrosoft(value: Uint8Array, at: number): WireError | undefined {
  let off = 4;
  if (value.length < 6) {
    return wireError(WireErrorCode.BadLength, "RADIUS Microsoft Vendor-Specific is empty", at);
  }
  while (off < value.length) {
    const vt = value[off] ?? 0;
    const vl = value[off + 1];
    if (vl === undefined || vl < 2 || off + vl > value.length) {
      return wireError(
        WireErrorCode.BadLength,
        `RADIUS ${msAttrName(vt)} has vendor length ${vl ?? "(missing)"} beyond its attribute`,
        at + 2 + off,
      );
    }
    const e = checkValue(msAttrName(vt), msAttrInfo(vt), vl - 2, at + 2 + off);
    if (e) return e;
    off += vl;
  }
  return undefined;
}

/**
 * Parses one RADIUS packet. Structural errors (short header, Length outside 20..4096 or past
 * the datagram, an attribute running past the packet, a known attribute of the wrong size, two
 * Message-Authenticators) are typed errors; the caller drops the packet (RFC 2865 §3 "silently
 * discarded") and counts it.
 */
export function parseRadiusPacket(bytes: Uint8Array): Result<RadiusPacket, WireError> {
  if (bytes.length < RADIUS_HEADER_LENGTH) {
    return bad(
      WireErrorCode.Truncated,
      `RADIUS packet of ${bytes.length} octets is shorter than its 20-octet header`,
      0,
    );
  }
  const length = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  if (length < RADIUS_HEADER_LENGTH || length > RADIUS_MAX_LENGTH) {
    return bad(WireErrorCode.BadLength, `RADIUS Length ${length} is outside 20..4096`, 2);
  }
  if (length > bytes.length) {
    return bad(
      WireErrorCode.Truncated,
      `RADIUS Length ${length} exceeds the ${bytes.length} octets received`,
      2,
    );
  }
  const attributes: RadiusAttribute[] = [];
  let off = RADIUS_HEADER_LENGTH;
  let messageAuthenticators = 0;
  while (off < length) {
    const type = bytes[off] ?? 0;
    const alen = bytes[off + 1];
    if (alen === undefined || off + 1 >= length) {
      return bad(WireErrorCode.Truncated, "RADIUS attribute header cut off by Length", off);
    }
    if (alen < 2 || off + alen > length) {
      return bad(
        WireErrorCode.BadLength,
        `RADIUS ${radiusAttrName(type)} has length ${alen}, outside the packet`,
        off,
      );
    }
    const value = bytes.slice(off + 2, off + alen);
    const info = radiusAttrInfo(type);
    const e = checkValue(radiusAttrName(type), info, value.length, off);
    if (e) return err(e);
    if (type === RadiusAttr.VendorSpecific) {
      if (value.length < 5) {
        return bad(WireErrorCode.BadLength, "RADIUS Vendor-Specific shorter than 7 octets", off);
      }
      const vendorId = readU32(value, 0);
      if (vendorId === VENDOR_MICROSOFT) {
        const me = checkMicrosoft(value, off);
        if (me) return err(me);
      }
    }
    if (type === RadiusAttr.MessageAuthenticator && ++messageAuthenticators > 1) {
      return bad(WireErrorCode.BadValue, "RADIUS packet carries two Message-Authenticators", off);
    }
    attributes.push({ type, value });
    off += alen;
  }
  return ok({
    code: bytes[0] ?? 0,
    identifier: bytes[1] ?? 0,
    authenticator: bytes.slice(4, 20),
    attributes,
  });
}

/**
 * Serializes a packet. Sizes are the builder's job (values ≤ 253 octets, total ≤ 4096); a
 * violation here is a bug and throws.
 */
export function serializeRadiusPacket(p: RadiusPacket): Uint8Array {
  if (p.authenticator.length !== 16) throw new RangeError("RADIUS authenticator must be 16 octets");
  let length = RADIUS_HEADER_LENGTH;
  for (const a of p.attributes) {
    if (a.value.length > RADIUS_MAX_VALUE) {
      throw new RangeError(`RADIUS ${radiusAttrName(a.type)} value exceeds 253 octets`);
    }
    length += 2 + a.value.length;
  }
  if (length > RADIUS_MAX_LENGTH) throw new RangeError(`RADIUS packet of ${length} octets`);
  const out = new Uint8Array(length);
  out[0] = p.code;
  out[1] = p.identifier;
  out[2] = length >> 8;
  out[3] = length & 0xff;
  out.set(p.authenticator, 4);
  let off = RADIUS_HEADER_LENGTH;
  for (const a of p.attributes) {
    out[off] = a.type;
    out[off + 1] = a.value.length + 2;
    out.set(a.value, off + 2);
    off += 2 + a.value.length;
  }
  return out;
}

/** Total encoded size of a set of attributes (to check the 4096-octet limit before building). */
export function attributesLength(attrs: readonly RadiusAttribute[]): number {
  return attrs.reduce((n, a) => n + 2 + a.value.length, 0);
}

// ---- typed values (RFC 2865 §5: text, string, address, integer, time) ----

export function readU32(v: Uint8Array, at = 0): number {
  return (
    (((v[at] ?? 0) << 24) |
      ((v[at + 1] ?? 0) << 16) |
      ((v[at + 2] ?? 0) << 8) |
      (v[at + 3] ?? 0)) >>>
    0
  );
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  b[0] = (n >>> 24) & 0xff;
  b[1] = (n >>> 16) & 0xff;
  b[2] = (n >>> 8) & 0xff;
  b[3] = n & 0xff;
  return b;
}

/** Dotted-quad of a 4-octet address value. */
export function readAddress(v: Uint8Array): string {
  return `${v[0] ?? 0}.${v[1] ?? 0}.${v[2] ?? 0}.${v[3] ?? 0}`;
}

/** 4 octets of a dotted-quad IPv4 address; undefined when it is not one. */
export function addressBytes(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? "";
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

export function attr(type: number, value: Uint8Array | string): RadiusAttribute {
  return { type, value: typeof value === "string" ? new TextEncoder().encode(value) : value };
}

export function attrU32(type: number, n: number): RadiusAttribute {
  return { type, value: u32(n) };
}

/** A Vendor-Specific attribute holding one vendor sub-attribute (RFC 2865 §5.26 layout). */
export function vendorAttr(
  vendorId: number,
  vendorType: number,
  value: Uint8Array,
): RadiusAttribute {
  const v = new Uint8Array(6 + value.length);
  v.set(u32(vendorId), 0);
  v[4] = vendorType;
  v[5] = value.length + 2;
  v.set(value, 6);
  return { type: RadiusAttr.VendorSpecific, value: v };
}

export function findAttr(p: RadiusPacket, type: number): Uint8Array | undefined {
  return p.attributes.find((a) => a.type === type)?.value;
}

export function findAllAttrs(p: RadiusPacket, type: number): Uint8Array[] {
  return p.attributes.filter((a) => a.type === type).map((a) => a.value);
}

/**
 * Vendor sub-attributes of every Vendor-Specific attribute whose layout is the RFC 2865 §5.26
 * recommendation (checked for Microsoft at parse time; other vendors are split best-effort and
 * skipped when they do not tile).
 */
export function vendorAttributes(p: RadiusPacket): VendorAttribute[] {
  const out: VendorAttribute[] = [];
  for (const a of p.attributes) {
    if (a.type !== RadiusAttr.VendorSpecific || a.value.length < 6) continue;
    const vendorId = readU32(a.value, 0);
    const subs: VendorAttribute[] = [];
    let off = 4;
    let tiles = true;
    while (off < a.value.length) {
      const vl = a.value[off + 1];
      if (vl === undefined || vl < 2 || off + vl > a.value.length) {
        tiles = false;
        break;
      }
      subs.push({
        vendorId,
        vendorType: a.value[off] ?? 0,
        value: a.value.slice(off + 2, off + vl),
      });
      off += vl;
    }
    if (tiles) out.push(...subs);
  }
  return out;
}

export function findVendorAttr(
  p: RadiusPacket,
  vendorId: number,
  vendorType: number,
): Uint8Array | undefined {
  return vendorAttributes(p).find((v) => v.vendorId === vendorId && v.vendorType === vendorType)
    ?.value;
}
