/**
 * L2TPv2 Attribute Value Pairs, RFC 2661 §4.1 (format), §4.4 (every IETF AVP of vendor 0).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  |M|H| rsvd  |      Length       |           Vendor ID           |
 *  |         Attribute Type        |        Attribute Value...
 *
 * Two levels (DESIGN rule 2): `parseAvps`/`serializeAvps` turn a control message body into
 * `RawAvp`s and back, byte-exact (M, H, the 4 reserved bits, vendor ID, value); `decodeAvp` /
 * `encodeAvp` turn one unhidden IETF RawAvp into a typed `L2tpAvp` and back, also exact for
 * every value that decodes. Hidden values (H=1) must be unhidden first (hidden.ts).
 *
 * Octet strings (Host Name, Called Number, ...) stay `Buffer`s: RFC 2661 gives them no character
 * set, and keeping bytes makes the round trip exact. Value length rules are those of §4.4; a
 * value of the wrong size is BadLength. Attribute 20 is unassigned in RFC 2661 and is treated as
 * unknown. Vendor AVPs (vendor ID != 0) and unknown types are not decoded (`decodeAvp` returns
 * UnsupportedCritical / BadValue); callers keep them raw and look at the M bit (§4.2).
 */
import { type Result, err, ok } from "../../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { AvpType, avpTypeName } from "../../registry/l2tp.js";

export const AVP_HEADER_LENGTH = 6;
export const AVP_MAX_LENGTH = 0x3ff;
const M_BIT = 0x8000;
const H_BIT = 0x4000;
const RSVD_MASK = 0x3c00;
const LEN_MASK = 0x03ff;

export interface RawAvp {
  readonly mandatory: boolean;
  readonly hidden: boolean;
  /** The 4 reserved bits (0..15) as received; RFC 2661 §4.1: non-zero means "unrecognized". */
  readonly reserved: number;
  readonly vendorId: number;
  readonly attributeType: number;
  readonly value: Buffer;
}

/** Parses a control message body into AVPs. Empty body = ZLB = empty list. */
export function parseAvps(input: Uint8Array): Result<RawAvp[], WireError> {
  const b = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const out: RawAvp[] = [];
  let off = 0;
  while (off < b.length) {
    if (b.length - off < AVP_HEADER_LENGTH) {
      return err(
        wireError(WireErrorCode.Truncated, "AVP: fewer than 6 bytes left for a header", off),
      );
    }
    const w = b.readUInt16BE(off);
    const len = w & LEN_MASK;
    if (len < AVP_HEADER_LENGTH) {
      return err(wireError(WireErrorCode.BadLength, `AVP: Length ${len} < 6`, off));
    }
    if (off + len > b.length) {
      return err(wireError(WireErrorCode.BadLength, `AVP: Length ${len} beyond message`, off));
    }
    out.push({
      mandatory: (w & M_BIT) !== 0,
      hidden: (w & H_BIT) !== 0,
      reserved: (w & RSVD_MASK) >> 10,
      vendorId: b.readUInt16BE(off + 2),
      attributeType: b.readUInt16BE(off + 4),
      value: Buffer.from(b.subarray(off + AVP_HEADER_LENGTH, off + len)),
    });
    off += len;
  }
  return ok(out);
}

export function serializeAvp(a: RawAvp): Buffer {
  const len = AVP_HEADER_LENGTH + a.value.length;
  if (len > AVP_MAX_LENGTH)
    throw new Error(`serializeAvp: ${avpTypeName(a.attributeType)} is ${len} bytes`);
  const out = Buffer.alloc(len);
  out.writeUInt16BE(
    (a.mandatory ? M_BIT : 0) | (a.hidden ? H_BIT : 0) | ((a.reserved & 0xf) << 10) | len,
    0,
  );
  out.writeUInt16BE(a.vendorId, 2);
  out.writeUInt16BE(a.attributeType, 4);
  a.value.copy(out, AVP_HEADER_LENGTH);
  return out;
}

export function serializeAvps(avps: readonly RawAvp[]): Buffer {
  return Buffer.concat(avps.map(serializeAvp));
}

// ---------------------------------------------------------------------------------------------
// Typed values.

type T = typeof AvpType;
/** AVPs whose value is one unsigned 16-bit number. */
export type U16AvpType =
  | T["MessageType"]
  | T["FirmwareRevision"]
  | T["AssignedTunnelId"]
  | T["ReceiveWindowSize"]
  | T["AssignedSessionId"]
  | T["ProxyAuthenType"];
/** AVPs whose value is one unsigned 32-bit number (capabilities/types are bit masks). */
export type U32AvpType =
  | T["FramingCapabilities"]
  | T["BearerCapabilities"]
  | T["CallSerialNumber"]
  | T["MinimumBps"]
  | T["MaximumBps"]
  | T["BearerType"]
  | T["FramingType"]
  | T["TxConnectSpeed"]
  | T["PhysicalChannelId"]
  | T["RxConnectSpeed"];
/** AVPs whose value is an octet string. */
export type BytesAvpType =
  | T["TieBreaker"]
  | T["HostName"]
  | T["VendorName"]
  | T["Challenge"]
  | T["ChallengeResponse"]
  | T["CalledNumber"]
  | T["CallingNumber"]
  | T["SubAddress"]
  | T["InitialReceivedLcpConfreq"]
  | T["LastSentLcpConfreq"]
  | T["LastReceivedLcpConfreq"]
  | T["ProxyAuthenName"]
  | T["ProxyAuthenChallenge"]
  | T["ProxyAuthenResponse"]
  | T["RandomVector"]
  | T["PrivateGroupId"];

interface Base {
  readonly mandatory: boolean;
}
export type L2tpAvp =
  | (Base & { readonly type: U16AvpType; readonly value: number })
  | (Base & { readonly type: U32AvpType; readonly value: number })
  | (Base & { readonly type: BytesAvpType; readonly value: Buffer })
  | (Base & {
      readonly type: T["ResultCode"];
      readonly resultCode: number;
      /** Absent when the AVP carries only the 2-byte Result Code. */
      readonly errorCode?: number;
      /** Absent when the AVP ends after the Error Code. */
      readonly errorMessage?: Buffer;
    })
  | (Base & {
      readonly type: T["ProtocolVersion"];
      readonly version: number;
      readonly revision: number;
    })
  | (Base & {
      readonly type: T["Q931CauseCode"];
      readonly causeCode: number;
      readonly causeMsg: number;
      readonly advisory: Buffer;
    })
  | (Base & { readonly type: T["ProxyAuthenId"]; readonly reserved: number; readonly id: number })
  | (Base & {
      readonly type: T["CallErrors"];
      readonly reserved: number;
      readonly crcErrors: number;
      readonly framingErrors: number;
      readonly hardwareOverruns: number;
      readonly bufferOverruns: number;
      readonly timeoutErrors: number;
      readonly alignmentErrors: number;
    })
  | (Base & {
      readonly type: T["Accm"];
      readonly reserved: number;
      readonly sendAccm: number;
      readonly receiveAccm: number;
    })
  | (Base & { readonly type: T["SequencingRequired"] });

/** The typed AVP variant that carries attribute type K. */
export type AvpOf<K extends number> = L2tpAvp extends infer A
  ? A extends { readonly type: infer T }
    ? K extends T
      ? A
      : never
    : never
  : never;

const u16Types = new Set<number>([0, 6, 9, 10, 14, 29]);
const u32Types = new Set<number>([3, 4, 15, 16, 17, 18, 19, 24, 25, 38]);
/** Octet-string AVPs with [min, max] value length (§4.4). */
const bytesTypes = new Map<number, readonly [number, number]>([
  [AvpType.TieBreaker, [8, 8]],
  [AvpType.HostName, [1, AVP_MAX_LENGTH]],
  [AvpType.VendorName, [0, AVP_MAX_LENGTH]],
  [AvpType.Challenge, [1, AVP_MAX_LENGTH]],
  [AvpType.ChallengeResponse, [16, 16]],
  [AvpType.CalledNumber, [0, AVP_MAX_LENGTH]],
  [AvpType.CallingNumber, [0, AVP_MAX_LENGTH]],
  [AvpType.SubAddress, [0, AVP_MAX_LENGTH]],
  [AvpType.InitialReceivedLcpConfreq, [0, AVP_MAX_LENGTH]],
  [AvpType.LastSentLcpConfreq, [0, AVP_MAX_LENGTH]],
  [AvpType.LastReceivedLcpConfreq, [0, AVP_MAX_LENGTH]],
  [AvpType.ProxyAuthenName, [0, AVP_MAX_LENGTH]],
  [AvpType.ProxyAuthenChallenge, [0, AVP_MAX_LENGTH]],
  [AvpType.ProxyAuthenResponse, [0, AVP_MAX_LENGTH]],
  [AvpType.RandomVector, [1, AVP_MAX_LENGTH]],
  [AvpType.PrivateGroupId, [0, AVP_MAX_LENGTH]],
]);

/** True for an attribute type this codec decodes (vendor 0). */
export function isKnownAvpType(type: number): boolean {
  return (
    u16Types.has(type) ||
    u32Types.has(type) ||
    bytesTypes.has(type) ||
    type === AvpType.ResultCode ||
    type === AvpType.ProtocolVersion ||
    type === AvpType.Q931CauseCode ||
    type === AvpType.ProxyAuthenId ||
    type === AvpType.CallErrors ||
    type === AvpType.Accm ||
    type === AvpType.SequencingRequired
  );
}

/**
 * Decodes an unhidden IETF AVP. Errors: BadValue for vendor/unknown/reserved-bits AVPs (the caller
 * should have routed those as "unrecognized", §4.1/§4.2) or a hidden AVP, BadLength when the value
 * size breaks §4.4.
 */
export function decodeAvp(a: RawAvp): Result<L2tpAvp, WireError> {
  const name = avpTypeName(a.attributeType, a.vendorId);
  if (a.vendorId !== 0 || a.reserved !== 0 || !isKnownAvpType(a.attributeType)) {
    return err(wireError(WireErrorCode.BadValue, `${name}: not an IETF AVP this codec decodes`, 0));
  }
  if (a.hidden) return err(wireError(WireErrorCode.BadValue, `${name}: hidden, unhide first`, 0));
  const v = a.value;
  const t = a.attributeType;
  const m = a.mandatory;
  const bad = (want: string): Result<L2tpAvp, WireError> =>
    err(wireError(WireErrorCode.BadLength, `${name}: value is ${v.length} bytes, want ${want}`, 6));
  if (u16Types.has(t)) {
    if (v.length !== 2) return bad("2");
    return ok({ mandatory: m, type: t as U16AvpType, value: v.readUInt16BE(0) });
  }
  if (u32Types.has(t)) {
    if (v.length !== 4) return bad("4");
    return ok({ mandatory: m, type: t as U32AvpType, value: v.readUInt32BE(0) });
  }
  const range = bytesTypes.get(t);
  if (range) {
    if (v.length < range[0] || v.length > range[1]) return bad(`${range[0]}..${range[1]}`);
    return ok({ mandatory: m, type: t as BytesAvpType, value: Buffer.from(v) });
  }
  switch (t) {
    case AvpType.ResultCode: {
      if (v.length < 2 || v.length === 3) return bad("2, or 4 and more");
      const resultCode = v.readUInt16BE(0);
      if (v.length === 2) return ok({ mandatory: m, type: t, resultCode });
      const errorCode = v.readUInt16BE(2);
      if (v.length === 4) return ok({ mandatory: m, type: t, resultCode, errorCode });
      return ok({
        mandatory: m,
        type: t,
        resultCode,
        errorCode,
        errorMessage: Buffer.from(v.subarray(4)),
      });
    }
    case AvpType.ProtocolVersion:
      if (v.length !== 2) return bad("2");
      return ok({ mandatory: m, type: t, version: v[0] ?? 0, revision: v[1] ?? 0 });
    case AvpType.Q931CauseCode:
      if (v.length < 3) return bad("3 or more");
      return ok({
        mandatory: m,
        type: t,
        causeCode: v.readUInt16BE(0),
        causeMsg: v[2] ?? 0,
        advisory: Buffer.from(v.subarray(3)),
      });
    case AvpType.ProxyAuthenId:
      if (v.length !== 2) return bad("2");
      return ok({ mandatory: m, type: t, reserved: v[0] ?? 0, id: v[1] ?? 0 });
    case AvpType.CallErrors:
      if (v.length !== 26) return bad("26");
      return ok({
        mandatory: m,
        type: t,
        reserved: v.readUInt16BE(0),
        crcErrors: v.readUInt32BE(2),
        framingErrors: v.readUInt32BE(6),
        hardwareOverruns: v.readUInt32BE(10),
        bufferOverruns: v.readUInt32BE(14),
        timeoutErrors: v.readUInt32BE(18),
        alignmentErrors: v.readUInt32BE(22),
      });
    case AvpType.Accm:
      if (v.length !== 10) return bad("10");
      return ok({
        mandatory: m,
        type: t,
        reserved: v.readUInt16BE(0),
        sendAccm: v.readUInt32BE(2),
        receiveAccm: v.readUInt32BE(6),
      });
    case AvpType.SequencingRequired:
      if (v.length !== 0) return bad("0");
      return ok({ mandatory: m, type: t });
    default:
      return err(wireError(WireErrorCode.BadValue, `${name}: not decoded`, 0));
  }
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** The value bytes of a typed AVP. */
export function encodeAvpValue(a: L2tpAvp): Buffer {
  switch (a.type) {
    case AvpType.ResultCode: {
      const parts = [u16(a.resultCode)];
      if (a.errorCode !== undefined || a.errorMessage !== undefined)
        parts.push(u16(a.errorCode ?? 0));
      if (a.errorMessage !== undefined) parts.push(a.errorMessage);
      return Buffer.concat(parts);
    }
    case AvpType.ProtocolVersion:
      return Buffer.from([a.version, a.revision]);
    case AvpType.Q931CauseCode:
      return Buffer.concat([u16(a.causeCode), Buffer.from([a.causeMsg]), a.advisory]);
    case AvpType.ProxyAuthenId:
      return Buffer.from([a.reserved, a.id]);
    case AvpType.CallErrors:
      return Buffer.concat([
        u16(a.reserved),
        u32(a.crcErrors),
        u32(a.framingErrors),
        u32(a.hardwareOverruns),
        u32(a.bufferOverruns),
        u32(a.timeoutErrors),
        u32(a.alignmentErrors),
      ]);
    case AvpType.Accm:
      return Buffer.concat([u16(a.reserved), u32(a.sendAccm), u32(a.receiveAccm)]);
    case AvpType.SequencingRequired:
      return Buffer.alloc(0);
    default:
      if (typeof a.value === "number") return u16Types.has(a.type) ? u16(a.value) : u32(a.value);
      return Buffer.from(a.value);
  }
}

/** A typed AVP as an unhidden RawAvp with vendor ID 0. */
export function encodeAvp(a: L2tpAvp): RawAvp {
  return {
    mandatory: a.mandatory,
    hidden: false,
    reserved: 0,
    vendorId: 0,
    attributeType: a.type,
    value: encodeAvpValue(a),
  };
}
