/**
 * Hot-path view of an IP packet (v4 or v6): the fields policy lookup and NAT-T checksum fixing
 * need (addresses, upper-layer protocol and offset, ports), read without allocating into a
 * caller-owned `PacketFields` record. The typed parsers in ipv4.ts / ipv6.ts are for the control
 * plane and tests.
 *
 * Ports are read for TCP, UDP and SCTP; ICMP/ICMPv6 type and code are reported in the port
 * fields as RFC 4301 §4.4.1.1 does for selectors. A non-first fragment has no ports (-1).
 */
import { IpProtocol } from "../../registry/ip.js";
import { IPV4_MIN_HEADER } from "./ipv4.js";
import { IPV6_HEADER, walkIpv6Extensions } from "./ipv6.js";

export interface PacketFields {
  version: 4 | 6;
  /** Offsets of source/destination addresses in the packet; lengths are 4 or 16. */
  srcOffset: number;
  dstOffset: number;
  addrLength: 4 | 16;
  /** Upper-layer protocol and where its header starts. */
  protocol: number;
  l4Offset: number;
  /** Total packet length by the header (v4 Total Length, v6 40 + Payload Length). */
  length: number;
  /** -1 when unknown (non-first fragment, truncated, protocol without ports). */
  srcPort: number;
  dstPort: number;
}

export function newPacketFields(): PacketFields {
  return {
    version: 4,
    srcOffset: 0,
    dstOffset: 0,
    addrLength: 4,
    protocol: 0,
    l4Offset: 0,
    length: 0,
    srcPort: -1,
    dstPort: -1,
  };
}

function readPorts(p: Uint8Array, f: PacketFields, end: number): void {
  f.srcPort = -1;
  f.dstPort = -1;
  const o = f.l4Offset;
  switch (f.protocol) {
    case IpProtocol.TCP:
    case IpProtocol.UDP:
    case IpProtocol.SCTP:
      if (o + 4 <= end) {
        f.srcPort = (p[o]! << 8) | p[o + 1]!;
        f.dstPort = (p[o + 2]! << 8) | p[o + 3]!;
      }
      break;
    case IpProtocol.ICMP:
    case IpProtocol.ICMPv6:
      if (o + 2 <= end) {
        f.srcPort = p[o]!;
        f.dstPort = p[o + 1]!;
      }
      break;
    default:
      break;
  }
}

/** Fills `f` from `packet`; returns false for anything that is not a well-formed v4/v6 header. */
export function readPacketFields(packet: Uint8Array, f: PacketFields): boolean {
  if (packet.length < 1) return false;
  const v = packet[0]! >> 4;
  if (v === 4) {
    if (packet.length < IPV4_MIN_HEADER) return false;
    const hl = (packet[0]! & 0x0f) * 4;
    const total = (packet[2]! << 8) | packet[3]!;
    if (hl < IPV4_MIN_HEADER || total < hl || total > packet.length) return false;
    f.version = 4;
    f.addrLength = 4;
    f.srcOffset = 12;
    f.dstOffset = 16;
    f.protocol = packet[9]!;
    f.l4Offset = hl;
    f.length = total;
    const fragOffset = ((packet[6]! & 0x1f) << 8) | packet[7]!;
    if (fragOffset !== 0) {
      f.srcPort = -1;
      f.dstPort = -1;
    } else {
      readPorts(packet, f, total);
    }
    return true;
  }
  if (v === 6) {
    if (packet.length < IPV6_HEADER) return false;
    const total = IPV6_HEADER + ((packet[4]! << 8) | packet[5]!);
    if (total > packet.length) return false;
    f.version = 6;
    f.addrLength = 16;
    f.srcOffset = 8;
    f.dstOffset = 24;
    f.length = total;
    const nh = packet[6]!;
    if (
      nh === IpProtocol.TCP ||
      nh === IpProtocol.UDP ||
      nh === IpProtocol.ICMPv6 ||
      nh === IpProtocol.ESP
    ) {
      f.protocol = nh;
      f.l4Offset = IPV6_HEADER;
      readPorts(packet, f, total);
      return true;
    }
    const w = walkIpv6Extensions(packet, IPV6_HEADER, nh, total);
    if (!w.ok) return false;
    f.protocol = w.value.protocol;
    f.l4Offset = w.value.offset;
    if (w.value.fragment !== undefined && w.value.fragment.offset !== 0) {
      f.srcPort = -1;
      f.dstPort = -1;
    } else {
      readPorts(packet, f, total);
    }
    return true;
  }
  return false;
}
