/**
 * TCP header (RFC 9293 §3.1) with options as records, its checksum over the pseudo-header,
 * and the Maximum Segment Size option (kind 2, RFC 9293 §3.7.1) find/rewrite used for MSS
 * clamping through the tunnel (the checksum is patched incrementally, RFC 1624).
 *
 *   |          Source Port          |       Destination Port        |
 *   |                        Sequence Number                        |
 *   |                    Acknowledgment Number                      |
 *   |  Data |       |C|E|U|A|P|R|S|F|                               |
 *   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *   |           Checksum            |         Urgent Pointer        |
 *   |                           [Options]                           |
 *
 * Options: End of Option List (0) and No-Operation (1) are single octets, all others carry a
 * length octet >= 2. Octets after End of Option List are kept verbatim as `padding`.
 * Leaves out: option semantics other than MSS; segment reassembly.
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { err, ok, type Result } from "../../base/result.js";
import { IpProtocol } from "../../registry/ip.js";
import { checksumUpdate16, fold, onesSum } from "./checksum.js";
import { pseudoHeaderSum } from "./udp.js";

export const TCP_MIN_HEADER = 20;
export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;
export const TcpOptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamps: 8,
} as const;

export interface TcpOption {
  readonly kind: number;
  readonly data?: Uint8Array;
}

export interface TcpHeader {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  /** The 4 reserved bits between Data Offset and the flags. */
  readonly reserved: number;
  readonly flags: number;
  readonly window: number;
  readonly checksum: number;
  readonly urgentPointer: number;
  readonly options: readonly TcpOption[];
  readonly padding: Uint8Array;
}

export interface TcpSegment {
  readonly header: TcpHeader;
  readonly headerLength: number;
  readonly payload: Uint8Array;
}

function parseOptions(
  b: Uint8Array,
  start: number,
  end: number,
): Result<{ options: TcpOption[]; padding: Uint8Array }, WireError> {
  const options: TcpOption[] = [];
  let i = start;
  while (i < end) {
    const kind = b[i]!;
    if (kind === TcpOptionKind.EOL) {
      options.push({ kind });
      return ok({ options, padding: b.subarray(i + 1, end) });
    }
    if (kind === TcpOptionKind.NOP) {
      options.push({ kind });
      i++;
      continue;
    }
    if (i + 1 >= end)
      return err(wireError(WireErrorCode.Truncated, "TCP option: missing length octet", i));
    const len = b[i + 1]!;
    if (len < 2 || i + len > end)
      return err(wireError(WireErrorCode.BadLength, `TCP option ${kind}: length ${len}`, i + 1));
    options.push({ kind, data: b.subarray(i + 2, i + len) });
    i += len;
  }
  return ok({ options, padding: b.subarray(end, end) });
}

/** Parses a TCP segment (header, options, payload = the rest of `bytes`). */
export function parseTcpSegment(bytes: Uint8Array): Result<TcpSegment, WireError> {
  if (bytes.length < TCP_MIN_HEADER)
    return err(wireError(WireErrorCode.Truncated, "TCP header: fewer than 20 octets", 0));
  const headerLength = (bytes[12]! >> 4) * 4;
  if (headerLength < TCP_MIN_HEADER)
    return err(wireError(WireErrorCode.BadLength, `TCP: Data Offset ${headerLength / 4}`, 12));
  if (headerLength > bytes.length)
    return err(wireError(WireErrorCode.Truncated, "TCP: shorter than Data Offset", 12));
  const opts = parseOptions(bytes, TCP_MIN_HEADER, headerLength);
  if (!opts.ok) return opts;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return ok({
    headerLength,
    payload: bytes.subarray(headerLength),
    header: {
      srcPort: dv.getUint16(0),
      dstPort: dv.getUint16(2),
      seq: dv.getUint32(4),
      ack: dv.getUint32(8),
      reserved: bytes[12]! & 0x0f,
      flags: bytes[13]!,
      window: dv.getUint16(14),
      checksum: dv.getUint16(16),
      urgentPointer: dv.getUint16(18),
      options: opts.value.options,
      padding: opts.value.padding,
    },
  });
}

export function serializeTcpSegment(h: TcpHeader, payload: Uint8Array = new Uint8Array(0)): Buffer {
  let optLen = h.padding.length;
  for (const o of h.options)
    optLen +=
      o.kind === TcpOptionKind.EOL || o.kind === TcpOptionKind.NOP ? 1 : 2 + (o.data?.length ?? 0);
  const headerLength = TCP_MIN_HEADER + Math.ceil(optLen / 4) * 4;
  if (headerLength > 60) throw new Error("serializeTcpSegment: options exceed 40 octets");
  const b = Buffer.alloc(headerLength + payload.length);
  b.writeUInt16BE(h.srcPort & 0xffff, 0);
  b.writeUInt16BE(h.dstPort & 0xffff, 2);
  b.writeUInt32BE(h.seq >>> 0, 4);
  b.writeUInt32BE(h.ack >>> 0, 8);
  b[12] = ((headerLength / 4) << 4) | (h.reserved & 0x0f);
  b[13] = h.flags & 0xff;
  b.writeUInt16BE(h.window & 0xffff, 14);
  b.writeUInt16BE(h.checksum & 0xffff, 16);
  b.writeUInt16BE(h.urgentPointer & 0xffff, 18);
  let i = TCP_MIN_HEADER;
  for (const o of h.options) {
    b[i++] = o.kind;
    if (o.kind === TcpOptionKind.EOL || o.kind === TcpOptionKind.NOP) continue;
    const data = o.data ?? new Uint8Array(0);
    b[i++] = data.length + 2;
    b.set(data, i);
    i += data.length;
  }
  b.set(h.padding, i);
  b.set(payload, headerLength);
  return b;
}

/** TCP checksum of `segment` between `src` and `dst` (checksum field treated as zero). */
export function tcpChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): number {
  let sum = pseudoHeaderSum(src, dst, IpProtocol.TCP, segment.length);
  sum = onesSum(segment, 0, 16, sum);
  sum = onesSum(segment, 18, segment.length, sum);
  return ~fold(sum) & 0xffff;
}

export function fillTcpChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): void {
  const c = tcpChecksum(src, dst, segment);
  segment[16] = c >> 8;
  segment[17] = c & 0xff;
}

export function verifyTcpChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): boolean {
  if (segment.length < TCP_MIN_HEADER) return false;
  const sum = onesSum(
    segment,
    0,
    segment.length,
    pseudoHeaderSum(src, dst, IpProtocol.TCP, segment.length),
  );
  return fold(sum) === 0xffff;
}

/**
 * Finds the MSS option in the segment's header without allocating: returns the offset of the
 * 16-bit MSS value within `segment`, or -1 (no option, malformed options, or short segment).
 */
export function findTcpMss(segment: Uint8Array): number {
  if (segment.length < TCP_MIN_HEADER) return -1;
  const end = (segment[12]! >> 4) * 4;
  if (end < TCP_MIN_HEADER || end > segment.length) return -1;
  let i = TCP_MIN_HEADER;
  while (i < end) {
    const kind = segment[i]!;
    if (kind === TcpOptionKind.EOL) return -1;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return -1;
    const len = segment[i + 1]!;
    if (len < 2 || i + len > end) return -1;
    if (kind === TcpOptionKind.MSS) return len === 4 ? i + 2 : -1;
    i += len;
  }
  return -1;
}

/**
 * MSS clamping: on a SYN segment whose MSS option exceeds `maxMss`, rewrites it to `maxMss` in
 * place and patches the checksum (RFC 1624 Eqn. 3). Returns true when the segment changed.
 */
export function clampTcpMss(segment: Uint8Array, maxMss: number): boolean {
  if (segment.length < TCP_MIN_HEADER || (segment[13]! & TcpFlags.SYN) === 0) return false;
  const at = findTcpMss(segment);
  if (at < 0) return false;
  const old = (segment[at]! << 8) | segment[at + 1]!;
  if (old <= maxMss) return false;
  segment[at] = maxMss >> 8;
  segment[at + 1] = maxMss & 0xff;
  // The MSS value sits at an even or odd offset; the checksum works on 16-bit words aligned to
  // the segment start, so patch the two words it touches when it is misaligned.
  let c = (segment[16]! << 8) | segment[17]!;
  if (at % 2 === 0) {
    c = checksumUpdate16(c, old, maxMss);
  } else {
    const w1Old = (segment[at - 1]! << 8) | (old >> 8);
    const w1New = (segment[at - 1]! << 8) | (maxMss >> 8);
    const w2Old = ((old & 0xff) << 8) | (at + 2 < segment.length ? segment[at + 2]! : 0);
    const w2New = ((maxMss & 0xff) << 8) | (at + 2 < segment.length ? segment[at + 2]! : 0);
    c = checksumUpdate16(checksumUpdate16(c, w1Old, w1New), w2Old, w2New);
  }
  segment[16] = c >> 8;
  segment[17] = c & 0xff;
  return true;
}
