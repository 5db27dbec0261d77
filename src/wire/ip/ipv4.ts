/**
 * IPv4 header (RFC 791 §3.1), with options kept as a list and the header checksum (RFC 1071).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   |Version|  IHL  |  DSCP     |ECN|          Total Length         |
 *   |         Identification        |Flags|      Fragment Offset    |
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   |                       Source Address                          |
 *   |                    Destination Address                        |
 *   |                    Options                    |    Padding    |
 *
 * Parsing does not reject a wrong header checksum (round trip must stay exact and a NAT may have
 * rewritten it); `verifyIpv4HeaderChecksum` checks it. Options are split into type/data records
 * (RFC 791: End of Option List and No-Operation are single octets, the others carry a length);
 * anything after End of Option List is kept verbatim as `padding`.
 * Leaves out: option semantics (source routes, timestamps) and reassembly of fragments.
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { err, ok, type Result } from "../../base/result.js";
import { internetChecksum } from "./checksum.js";

export const IPV4_MIN_HEADER = 20;
export const IPV4_MAX_HEADER = 60;
export const Ipv4Flags = { Reserved: 4, DF: 2, MF: 1 } as const;
export const Ipv4OptionType = { EOL: 0, NOP: 1 } as const;

export interface Ipv4Option {
  readonly type: number;
  /** Option data without type and length octets; absent for EOL/NOP. */
  readonly data?: Uint8Array;
}

export interface Ipv4Header {
  readonly dscp: number;
  readonly ecn: number;
  readonly totalLength: number;
  readonly identification: number;
  /** 3 bits: reserved, DF, MF (see Ipv4Flags). */
  readonly flags: number;
  /** In 8-octet units. */
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly checksum: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly options: readonly Ipv4Option[];
  /** Octets after an End of Option List option, up to the IHL boundary. */
  readonly padding: Uint8Array;
}

export interface Ipv4Packet {
  readonly header: Ipv4Header;
  readonly headerLength: number;
  /** View of bytes[headerLength..totalLength). */
  readonly payload: Uint8Array;
}

function parseOptions(
  b: Uint8Array,
  start: number,
  end: number,
): Result<{ options: Ipv4Option[]; padding: Uint8Array }, WireError> {
  const options: Ipv4Option[] = [];
  let i = start;
  while (i < end) {
    const type = b[i]!;
    if (type === Ipv4OptionType.EOL) {
      options.push({ type });
      return ok({ options, padding: b.subarray(i + 1, end) });
    }
    if (type === Ipv4OptionType.NOP) {
      options.push({ type });
      i++;
      continue;
    }
    if (i + 1 >= end)
      return err(wireError(WireErrorCode.Truncated, "IPv4 option: missing length octet", i));
    const len = b[i + 1]!;
    if (len < 2 || i + len > end) {
      return err(wireError(WireErrorCode.BadLength, `IPv4 option ${type}: length ${len}`, i + 1));
    }
    options.push({ type, data: b.subarray(i + 2, i + len) });
    i += len;
  }
  return ok({ options, padding: b.subarray(end, end) });
}

/** Parses the header only (20..60 octets); `bytes` may continue with the payload. */
export function parseIpv4Header(
  bytes: Uint8Array,
): Result<{ header: Ipv4Header; headerLength: number }, WireError> {
  if (bytes.length < IPV4_MIN_HEADER) {
    return err(wireError(WireErrorCode.Truncated, "IPv4 header: fewer than 20 octets", 0));
  }
  const version = bytes[0]! >> 4;
  if (version !== 4)
    return err(wireError(WireErrorCode.BadValue, `IPv4 header: version ${version}`, 0));
  const headerLength = (bytes[0]! & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER) {
    return err(wireError(WireErrorCode.BadLength, `IPv4 header: IHL ${headerLength / 4}`, 0));
  }
  if (headerLength > bytes.length) {
    return err(wireError(WireErrorCode.Truncated, "IPv4 header: shorter than IHL", 0));
  }
  const totalLength = (bytes[2]! << 8) | bytes[3]!;
  const opts = parseOptions(bytes, IPV4_MIN_HEADER, headerLength);
  if (!opts.ok) return opts;
  const fragWord = (bytes[6]! << 8) | bytes[7]!;
  return ok({
    headerLength,
    header: {
      dscp: bytes[1]! >> 2,
      ecn: bytes[1]! & 3,
      totalLength,
      identification: (bytes[4]! << 8) | bytes[5]!,
      flags: fragWord >> 13,
      fragmentOffset: fragWord & 0x1fff,
      ttl: bytes[8]!,
      protocol: bytes[9]!,
      checksum: (bytes[10]! << 8) | bytes[11]!,
      src: bytes.subarray(12, 16),
      dst: bytes.subarray(16, 20),
      options: opts.value.options,
      padding: opts.value.padding,
    },
  });
}

/** Parses a whole IPv4 packet; octets after Total Length (link padding) are ignored. */
export function parseIpv4Packet(bytes: Uint8Array): Result<Ipv4Packet, WireError> {
  const h = parseIpv4Header(bytes);
  if (!h.ok) return h;
  const { header, headerLength } = h.value;
  if (header.totalLength < headerLength) {
    return err(
      wireError(WireErrorCode.BadLength, `IPv4: Total Length ${header.totalLength} < header`, 2),
    );
  }
  if (header.totalLength > bytes.length) {
    return err(
      wireError(
        WireErrorCode.Truncated,
        `IPv4: Total Length ${header.totalLength} > ${bytes.length} octets`,
        2,
      ),
    );
  }
  return ok({ header, headerLength, payload: bytes.subarray(headerLength, header.totalLength) });
}

/** Length of the options area (before rounding) of a header record. */
function optionsLength(h: Ipv4Header): number {
  let n = 0;
  for (const o of h.options)
    n +=
      o.type === Ipv4OptionType.EOL || o.type === Ipv4OptionType.NOP
        ? 1
        : 2 + (o.data?.length ?? 0);
  return n + h.padding.length;
}

/** Writes the header as given (checksum field included; see `withIpv4Checksum`). Pads options to 4 octets with zeros. */
export function serializeIpv4Header(h: Ipv4Header): Buffer {
  const optLen = optionsLength(h);
  const headerLength = IPV4_MIN_HEADER + Math.ceil(optLen / 4) * 4;
  if (headerLength > IPV4_MAX_HEADER)
    throw new Error("serializeIpv4Header: options exceed 40 octets");
  const b = Buffer.alloc(headerLength);
  b[0] = 0x40 | (headerLength / 4);
  b[1] = ((h.dscp & 0x3f) << 2) | (h.ecn & 3);
  b.writeUInt16BE(h.totalLength & 0xffff, 2);
  b.writeUInt16BE(h.identification & 0xffff, 4);
  b.writeUInt16BE(((h.flags & 7) << 13) | (h.fragmentOffset & 0x1fff), 6);
  b[8] = h.ttl & 0xff;
  b[9] = h.protocol & 0xff;
  b.writeUInt16BE(h.checksum & 0xffff, 10);
  b.set(h.src.subarray(0, 4), 12);
  b.set(h.dst.subarray(0, 4), 16);
  let i = IPV4_MIN_HEADER;
  for (const o of h.options) {
    b[i++] = o.type;
    if (o.type === Ipv4OptionType.EOL || o.type === Ipv4OptionType.NOP) continue;
    const data = o.data ?? new Uint8Array(0);
    b[i++] = data.length + 2;
    b.set(data, i);
    i += data.length;
  }
  b.set(h.padding, i);
  return b;
}

export function serializeIpv4Packet(h: Ipv4Header, payload: Uint8Array): Buffer {
  return Buffer.concat([serializeIpv4Header(h), payload]);
}

/** Computes and stores the header checksum of the IPv4 header at bytes[0..IHL*4) in place. */
export function fillIpv4HeaderChecksum(bytes: Uint8Array): void {
  const hl = (bytes[0]! & 0x0f) * 4;
  bytes[10] = 0;
  bytes[11] = 0;
  const c = internetChecksum(bytes, 0, hl);
  bytes[10] = c >> 8;
  bytes[11] = c & 0xff;
}

/** True when the header checksum of the IPv4 header at bytes[0..] verifies (RFC 1071 §1). */
export function verifyIpv4HeaderChecksum(bytes: Uint8Array): boolean {
  const hl = (bytes[0]! & 0x0f) * 4;
  if (hl < IPV4_MIN_HEADER || hl > bytes.length) return false;
  return internetChecksum(bytes, 0, hl) === 0;
}

/** A copy of `h` whose checksum field is right for its other fields. */
export function withIpv4Checksum(h: Ipv4Header): Ipv4Header {
  const b = serializeIpv4Header({ ...h, checksum: 0 });
  fillIpv4HeaderChecksum(b);
  return { ...h, checksum: b.readUInt16BE(10) };
}
