/**
 * IPv6 fixed header (RFC 8200 §3) and the extension-header walk to the upper-layer protocol
 * (RFC 8200 §4; AH length in 4-octet units per RFC 4302 §2.2; Fragment header fixed 8 octets).
 *
 *   |Version| Traffic Class |           Flow Label                  |
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   |                     Source Address (128 bits)                 |
 *   |                  Destination Address (128 bits)               |
 *
 * The walk stops at the first header that is not an extension header (TCP, UDP, ICMPv6, ESP,
 * No Next Header...). For a non-first fragment the upper-layer header is not present; the walk
 * reports the fragment so callers (policy selectors) can treat ports as unknown.
 * Leaves out: option (TLV) semantics inside Hop-by-Hop/Destination options; jumbograms.
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { err, ok, type Result } from "../../base/result.js";
import { IPV6_EXTENSION_HEADERS, IpProtocol } from "../../registry/ip.js";

export const IPV6_HEADER = 40;
/** Defends against chains of thousands of tiny extension headers. */
export const IPV6_MAX_EXTENSION_HEADERS = 16;

export interface Ipv6Header {
  readonly trafficClass: number;
  readonly flowLabel: number;
  readonly payloadLength: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

export interface Ipv6ExtensionHeader {
  readonly type: number;
  /** The whole extension header (including its Next Header and length octets). */
  readonly bytes: Uint8Array;
}

export interface Ipv6Fragment {
  readonly offset: number;
  readonly more: boolean;
  readonly identification: number;
}

export interface Ipv6Packet {
  readonly header: Ipv6Header;
  readonly extensions: readonly Ipv6ExtensionHeader[];
  /** Upper-layer protocol (the Next Header after the last extension header). */
  readonly upperLayerProtocol: number;
  /** Offset of the upper-layer header in the packet. */
  readonly upperLayerOffset: number;
  readonly fragment?: Ipv6Fragment;
  /** View of bytes[40..40+Payload Length). */
  readonly payload: Uint8Array;
}

export function parseIpv6Header(bytes: Uint8Array): Result<Ipv6Header, WireError> {
  if (bytes.length < IPV6_HEADER)
    return err(wireError(WireErrorCode.Truncated, "IPv6 header: fewer than 40 octets", 0));
  const version = bytes[0]! >> 4;
  if (version !== 6)
    return err(wireError(WireErrorCode.BadValue, `IPv6 header: version ${version}`, 0));
  return ok({
    trafficClass: ((bytes[0]! & 0x0f) << 4) | (bytes[1]! >> 4),
    flowLabel: ((bytes[1]! & 0x0f) << 16) | (bytes[2]! << 8) | bytes[3]!,
    payloadLength: (bytes[4]! << 8) | bytes[5]!,
    nextHeader: bytes[6]!,
    hopLimit: bytes[7]!,
    src: bytes.subarray(8, 24),
    dst: bytes.subarray(24, 40),
  });
}

export function serializeIpv6Header(h: Ipv6Header): Buffer {
  const b = Buffer.alloc(IPV6_HEADER);
  b[0] = 0x60 | ((h.trafficClass >> 4) & 0x0f);
  b[1] = ((h.trafficClass & 0x0f) << 4) | ((h.flowLabel >> 16) & 0x0f);
  b.writeUInt16BE(h.flowLabel & 0xffff, 2);
  b.writeUInt16BE(h.payloadLength & 0xffff, 4);
  b[6] = h.nextHeader & 0xff;
  b[7] = h.hopLimit & 0xff;
  b.set(h.src.subarray(0, 16), 8);
  b.set(h.dst.subarray(0, 16), 24);
  return b;
}

/** Result of walking extension headers from `offset` where header type `first` starts. */
export interface Ipv6Walk {
  readonly protocol: number;
  readonly offset: number;
  readonly extensions: Ipv6ExtensionHeader[];
  readonly fragment?: Ipv6Fragment;
}

/** Walks extension headers in bytes[offset..end) beginning with type `first`. */
export function walkIpv6Extensions(
  bytes: Uint8Array,
  offset: number,
  first: number,
  end = bytes.length,
): Result<Ipv6Walk, WireError> {
  let type = first;
  let at = offset;
  const extensions: Ipv6ExtensionHeader[] = [];
  let fragment: Ipv6Fragment | undefined;
  while (IPV6_EXTENSION_HEADERS.has(type)) {
    if (extensions.length >= IPV6_MAX_EXTENSION_HEADERS) {
      return err(wireError(WireErrorCode.TooMany, "IPv6: too many extension headers", at));
    }
    if (at + 8 > end)
      return err(
        wireError(WireErrorCode.Truncated, `IPv6 extension header ${type}: truncated`, at),
      );
    let len: number;
    if (type === IpProtocol.IPv6Frag) {
      len = 8;
      const w = (bytes[at + 2]! << 8) | bytes[at + 3]!;
      fragment = {
        offset: w >> 3,
        more: (w & 1) === 1,
        identification:
          ((bytes[at + 4]! << 24) |
            (bytes[at + 5]! << 16) |
            (bytes[at + 6]! << 8) |
            bytes[at + 7]!) >>>
          0,
      };
    } else if (type === IpProtocol.AH) {
      len = (bytes[at + 1]! + 2) * 4;
    } else {
      len = (bytes[at + 1]! + 1) * 8;
    }
    if (at + len > end)
      return err(
        wireError(WireErrorCode.BadLength, `IPv6 extension header ${type}: length ${len}`, at + 1),
      );
    extensions.push({ type, bytes: bytes.subarray(at, at + len) });
    const next = bytes[at]!;
    at += len;
    type = next;
    // A non-first fragment carries no upper-layer header: stop here.
    if (fragment !== undefined && fragment.offset !== 0) break;
  }
  return ok(
    fragment === undefined
      ? { protocol: type, offset: at, extensions }
      : { protocol: type, offset: at, extensions, fragment },
  );
}

/** Parses an IPv6 packet and walks its extension headers; octets after Payload Length are ignored. */
export function parseIpv6Packet(bytes: Uint8Array): Result<Ipv6Packet, WireError> {
  const h = parseIpv6Header(bytes);
  if (!h.ok) return h;
  const end = IPV6_HEADER + h.value.payloadLength;
  if (end > bytes.length) {
    return err(
      wireError(
        WireErrorCode.Truncated,
        `IPv6: Payload Length ${h.value.payloadLength} > ${bytes.length - IPV6_HEADER} octets`,
        4,
      ),
    );
  }
  const w = walkIpv6Extensions(bytes, IPV6_HEADER, h.value.nextHeader, end);
  if (!w.ok) return w;
  const base = {
    header: h.value,
    extensions: w.value.extensions,
    upperLayerProtocol: w.value.protocol,
    upperLayerOffset: w.value.offset,
    payload: bytes.subarray(IPV6_HEADER, end),
  };
  return ok(w.value.fragment === undefined ? base : { ...base, fragment: w.value.fragment });
}

/** Serializes header + (already serialized) extension headers and upper-layer bytes in `payload`. */
export function serializeIpv6Packet(h: Ipv6Header, payload: Uint8Array): Buffer {
  return Buffer.concat([serializeIpv6Header(h), payload]);
}
