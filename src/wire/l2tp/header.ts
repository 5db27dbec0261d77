/**
 * L2TPv2 message header and framing, RFC 2661 §3.1.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
 *  |           Tunnel ID           |           Session ID          |
 *  |             Ns (opt)          |             Nr (opt)          |
 *  |      Offset Size (opt)        |    Offset pad... (opt)
 *
 * `parseL2tpPacket` splits a UDP payload into header + body: a control message (T=1) body is an
 * AVP list (kept raw here, see avp.ts), a data message (T=0) body is a PPP frame.
 *
 * Round trip: `serializeL2tpPacket(parseL2tpPacket(b)) == b` for every accepted input. To make
 * that exact, the reserved x bits are kept (RFC: "ignored on incoming messages"), the Offset pad
 * bytes are kept, and bytes after the Length the header declares (a datagram longer than the
 * L2TP message) are kept as `trailing`. The Length field itself is not stored: serialize computes
 * it, parse checks it.
 *
 * Deliberate strictness (RFC 2661 §3.1 MUSTs for control messages): T=1 requires L=1 and S=1,
 * and O=0, P=0; violations are BadValue, the engine drops them. Ver must be 2 (1 is L2F, 3 is
 * L2TPv3): BadValue, which the engine counts and drops (RFC: "silently discarded").
 */
import { type Result, err, ok } from "../../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";

export const L2TP_VERSION = 2;

const T_BIT = 0x8000;
const L_BIT = 0x4000;
const S_BIT = 0x0800;
const O_BIT = 0x0200;
const P_BIT = 0x0100;
/** The x bits of the first 16 bits. */
export const L2TP_RESERVED_MASK = 0x34f0;
const VER_MASK = 0x000f;

export interface L2tpHeader {
  /** T bit: control message (true) or data message. */
  readonly isControl: boolean;
  /** L bit: the Length field is present. */
  readonly lengthPresent: boolean;
  /** S bit: Ns and Nr are present. */
  readonly sequencePresent: boolean;
  /** O bit: Offset Size (and pad) present. */
  readonly offsetPresent: boolean;
  /** P bit: priority (data messages only). */
  readonly priority: boolean;
  /** The reserved x bits exactly as received (mask L2TP_RESERVED_MASK); 0 when sending. */
  readonly reserved: number;
  readonly tunnelId: number;
  readonly sessionId: number;
  /** Present iff sequencePresent. */
  readonly ns?: number;
  readonly nr?: number;
  /** Offset pad bytes (Offset Size = its length); present iff offsetPresent. */
  readonly offsetPad?: Buffer;
}

export type L2tpPacket =
  | {
      readonly kind: "control";
      readonly header: L2tpHeader;
      /** The AVP list bytes (parse with parseAvps). Empty for a ZLB acknowledgement. */
      readonly body: Buffer;
      readonly trailing: Buffer;
    }
  | {
      readonly kind: "data";
      readonly header: L2tpHeader;
      /** The PPP frame (address/control field onwards, as the peer sent it). */
      readonly body: Buffer;
      readonly trailing: Buffer;
    };

const EMPTY = Buffer.alloc(0);

/** Parses one L2TPv2 message from a UDP payload. */
export function parseL2tpPacket(input: Uint8Array): Result<L2tpPacket, WireError> {
  const b = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (b.length < 6)
    return err(wireError(WireErrorCode.Truncated, "L2TP header: fewer than 6 bytes", 0));
  const flags = b.readUInt16BE(0);
  const version = flags & VER_MASK;
  if (version !== L2TP_VERSION) {
    return err(wireError(WireErrorCode.BadValue, `L2TP header: version ${version}, expected 2`, 1));
  }
  const isControl = (flags & T_BIT) !== 0;
  const lengthPresent = (flags & L_BIT) !== 0;
  const sequencePresent = (flags & S_BIT) !== 0;
  const offsetPresent = (flags & O_BIT) !== 0;
  const priority = (flags & P_BIT) !== 0;
  if (isControl && (!lengthPresent || !sequencePresent || offsetPresent || priority)) {
    return err(
      wireError(
        WireErrorCode.BadValue,
        "L2TP control header: needs L=1 S=1 O=0 P=0 (RFC 2661 §3.1)",
        0,
      ),
    );
  }
  let off = 2;
  let end = b.length;
  if (lengthPresent) {
    const length = b.readUInt16BE(off);
    off += 2;
    if (length > b.length) {
      return err(
        wireError(
          WireErrorCode.Truncated,
          `L2TP header: Length ${length} > datagram ${b.length}`,
          2,
        ),
      );
    }
    end = length;
  }
  const fixed = off + 4 + (sequencePresent ? 4 : 0) + (offsetPresent ? 2 : 0);
  if (end < fixed) {
    return err(
      wireError(
        lengthPresent ? WireErrorCode.BadLength : WireErrorCode.Truncated,
        `L2TP header: needs ${fixed} bytes, message has ${end}`,
        lengthPresent ? 2 : 0,
      ),
    );
  }
  const tunnelId = b.readUInt16BE(off);
  const sessionId = b.readUInt16BE(off + 2);
  off += 4;
  let ns: number | undefined;
  let nr: number | undefined;
  if (sequencePresent) {
    ns = b.readUInt16BE(off);
    nr = b.readUInt16BE(off + 2);
    off += 4;
  }
  let offsetPad: Buffer | undefined;
  if (offsetPresent) {
    const size = b.readUInt16BE(off);
    off += 2;
    if (off + size > end) {
      return err(
        wireError(
          WireErrorCode.BadLength,
          `L2TP header: Offset Size ${size} beyond message`,
          off - 2,
        ),
      );
    }
    offsetPad = Buffer.from(b.subarray(off, off + size));
    off += size;
  }
  const header: L2tpHeader = {
    isControl,
    lengthPresent,
    sequencePresent,
    offsetPresent,
    priority,
    reserved: flags & L2TP_RESERVED_MASK,
    tunnelId,
    sessionId,
    ...(ns !== undefined && nr !== undefined ? { ns, nr } : {}),
    ...(offsetPad ? { offsetPad } : {}),
  };
  const body = Buffer.from(b.subarray(off, end));
  const trailing = end < b.length ? Buffer.from(b.subarray(end)) : EMPTY;
  return ok(
    isControl
      ? { kind: "control", header, body, trailing }
      : { kind: "data", header, body, trailing },
  );
}

/** Header length in bytes for these flags (without the Offset pad). */
export function l2tpHeaderLength(h: L2tpHeader): number {
  return 6 + (h.lengthPresent ? 2 : 0) + (h.sequencePresent ? 4 : 0) + (h.offsetPresent ? 2 : 0);
}

/**
 * Serializes header + body (+ trailing). Length (when L=1) is computed. Throws on values that
 * cannot be encoded (a bug in the caller): ids/Ns/Nr out of 16 bits, missing Ns/Nr when S=1,
 * a message longer than 65535 bytes.
 */
export function serializeL2tpPacket(p: {
  readonly header: L2tpHeader;
  readonly body: Uint8Array;
  readonly trailing?: Uint8Array;
}): Buffer {
  const h = p.header;
  const pad = h.offsetPresent ? (h.offsetPad ?? EMPTY) : EMPTY;
  const hlen = l2tpHeaderLength(h) + pad.length;
  const length = hlen + p.body.length;
  if (length > 0xffff) throw new Error(`serializeL2tpPacket: message of ${length} bytes`);
  if ((h.reserved & ~L2TP_RESERVED_MASK) !== 0)
    throw new Error("serializeL2tpPacket: bad reserved bits");
  const trailing = p.trailing ?? EMPTY;
  const out = Buffer.alloc(length + trailing.length);
  const flags =
    (h.isControl ? T_BIT : 0) |
    (h.lengthPresent ? L_BIT : 0) |
    (h.sequencePresent ? S_BIT : 0) |
    (h.offsetPresent ? O_BIT : 0) |
    (h.priority ? P_BIT : 0) |
    h.reserved |
    L2TP_VERSION;
  out.writeUInt16BE(flags, 0);
  let off = 2;
  if (h.lengthPresent) {
    out.writeUInt16BE(length, off);
    off += 2;
  }
  out.writeUInt16BE(h.tunnelId, off);
  out.writeUInt16BE(h.sessionId, off + 2);
  off += 4;
  if (h.sequencePresent) {
    if (h.ns === undefined || h.nr === undefined)
      throw new Error("serializeL2tpPacket: S=1 without Ns/Nr");
    out.writeUInt16BE(h.ns, off);
    out.writeUInt16BE(h.nr, off + 2);
    off += 4;
  }
  if (h.offsetPresent) {
    out.writeUInt16BE(pad.length, off);
    off += 2;
    out.set(pad, off);
    off += pad.length;
  }
  out.set(p.body, off);
  out.set(trailing, length);
  return out;
}

/** A control header as we send it: T=1 L=1 S=1, no reserved bits. */
export function controlHeader(
  tunnelId: number,
  sessionId: number,
  ns: number,
  nr: number,
): L2tpHeader {
  return {
    isControl: true,
    lengthPresent: true,
    sequencePresent: true,
    offsetPresent: false,
    priority: false,
    reserved: 0,
    tunnelId,
    sessionId,
    ns,
    nr,
  };
}

/** A data header as we send it: T=0, L as chosen, S only when sequencing is in use. */
export function dataHeader(
  tunnelId: number,
  sessionId: number,
  opts: { readonly lengthBit?: boolean; readonly ns?: number; readonly nr?: number } = {},
): L2tpHeader {
  const seq = opts.ns !== undefined;
  return {
    isControl: false,
    lengthPresent: opts.lengthBit ?? false,
    sequencePresent: seq,
    offsetPresent: false,
    priority: false,
    reserved: 0,
    tunnelId,
    sessionId,
    ...(seq ? { ns: opts.ns ?? 0, nr: opts.nr ?? 0 } : {}),
  };
}
