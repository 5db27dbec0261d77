/**
 * UDP header (RFC 768) and its checksum over the IPv4 (RFC 768) or IPv6 (RFC 8200 §8.1)
 * pseudo-header. A computed checksum of 0 is sent as 0xFFFF; 0 on the wire means "none" (IPv4 only).
 *
 *   |          Source Port          |       Destination Port        |
 *   |            Length             |           Checksum            |
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { err, ok, type Result } from "../../base/result.js";
import { IpProtocol } from "../../registry/ip.js";
import { fold, onesSum, pseudoHeaderSumV4, pseudoHeaderSumV6 } from "./checksum.js";

export const UDP_HEADER = 8;

export interface UdpHeader {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly length: number;
  readonly checksum: number;
}

export interface UdpDatagram {
  readonly header: UdpHeader;
  /** View of bytes[8..Length). */
  readonly payload: Uint8Array;
}

export function parseUdpHeader(bytes: Uint8Array): Result<UdpHeader, WireError> {
  if (bytes.length < UDP_HEADER)
    return err(wireError(WireErrorCode.Truncated, "UDP header: fewer than 8 octets", 0));
  return ok({
    srcPort: (bytes[0]! << 8) | bytes[1]!,
    dstPort: (bytes[2]! << 8) | bytes[3]!,
    length: (bytes[4]! << 8) | bytes[5]!,
    checksum: (bytes[6]! << 8) | bytes[7]!,
  });
}

/** Parses a datagram; the Length field must fit within `bytes` (trailing octets are ignored). */
export function parseUdpDatagram(bytes: Uint8Array): Result<UdpDatagram, WireError> {
  const h = parseUdpHeader(bytes);
  if (!h.ok) return h;
  if (h.value.length < UDP_HEADER)
    return err(wireError(WireErrorCode.BadLength, `UDP: Length ${h.value.length} < 8`, 4));
  if (h.value.length > bytes.length)
    return err(
      wireError(WireErrorCode.Truncated, `UDP: Length ${h.value.length} > ${bytes.length}`, 4),
    );
  return ok({ header: h.value, payload: bytes.subarray(UDP_HEADER, h.value.length) });
}

export function serializeUdpHeader(h: UdpHeader): Buffer {
  const b = Buffer.alloc(UDP_HEADER);
  b.writeUInt16BE(h.srcPort & 0xffff, 0);
  b.writeUInt16BE(h.dstPort & 0xffff, 2);
  b.writeUInt16BE(h.length & 0xffff, 4);
  b.writeUInt16BE(h.checksum & 0xffff, 6);
  return b;
}

export function serializeUdpDatagram(h: UdpHeader, payload: Uint8Array): Buffer {
  return Buffer.concat([serializeUdpHeader(h), payload]);
}

/** Unfolded pseudo-header sum for `protocol` over addresses of either family (4 or 16 octets). */
export function pseudoHeaderSum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  return src.length === 16
    ? pseudoHeaderSumV6(src, dst, protocol, length)
    : pseudoHeaderSumV4(src, dst, protocol, length);
}

/**
 * The UDP checksum of `segment` (header + payload, checksum field treated as zero) between
 * `src` and `dst`. Returns 0xFFFF where the arithmetic gives 0 (RFC 768).
 */
export function udpChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): number {
  let sum = pseudoHeaderSum(src, dst, IpProtocol.UDP, segment.length);
  sum = onesSum(segment, 0, 6, sum);
  sum = onesSum(segment, 8, segment.length, sum);
  const c = ~fold(sum) & 0xffff;
  return c === 0 ? 0xffff : c;
}

/** Computes and writes the checksum of the UDP segment in place. */
export function fillUdpChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): void {
  const c = udpChecksum(src, dst, segment);
  segment[6] = c >> 8;
  segment[7] = c & 0xff;
}

/** True when the checksum verifies, or is 0 (not computed) on IPv4. */
export function verifyUdpChecksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): boolean {
  if (segment.length < UDP_HEADER) return false;
  const field = (segment[6]! << 8) | segment[7]!;
  if (field === 0) return src.length === 4;
  const sum = onesSum(
    segment,
    0,
    segment.length,
    pseudoHeaderSum(src, dst, IpProtocol.UDP, segment.length),
  );
  return fold(sum) === 0xffff;
}
