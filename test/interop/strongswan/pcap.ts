/**
 * Minimal reader for classic libpcap files (the format tcpdump -w writes: 24-byte global
 * header, 16-byte record headers; microsecond or nanosecond magic, either byte order) and
 * an Ethernet/IPv4/UDP walk, so that tests and the vector maker can pull IKE messages and
 * ESP-in-UDP packets (RFC 3948) out of lab captures.
 *
 * Test tooling, not a product codec: it throws on malformed files (captures are ours).
 * Leaves out: pcapng, IPv6, IP fragments (reassembly), VLAN tags, link types other than
 * Ethernet (1) and Linux cooked (113).
 */
import { readFileSync } from "node:fs";

export interface PcapFrame {
  /** 1-based, as Wireshark numbers frames. */
  readonly index: number;
  /** Capture time in microseconds since the epoch. */
  readonly timeUs: number;
  readonly data: Buffer;
}

export interface UdpDatagram {
  readonly frame: number;
  readonly timeUs: number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly payload: Buffer;
}

export function readPcap(file: string): { linkType: number; frames: PcapFrame[] } {
  const b = readFileSync(file);
  if (b.length < 24) throw new Error(`${file}: not a pcap file (too short)`);
  const magicLE = b.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    le = true;
    nano = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = b.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d)
      throw new Error(`${file}: bad pcap magic`);
    le = false;
    nano = magicBE === 0xa1b23c4d;
  }
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  const frames: PcapFrame[] = [];
  let off = 24;
  while (off + 16 <= b.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    if (off + 16 + incl > b.length) throw new Error(`${file}: truncated record at ${off}`);
    frames.push({
      index: frames.length + 1,
      timeUs: sec * 1e6 + (nano ? Math.floor(frac / 1000) : frac),
      data: b.subarray(off + 16, off + 16 + incl),
    });
    off += 16 + incl;
  }
  return { linkType, frames };
}

function ipv4(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** The IPv4 header offset in a frame, or -1 if the frame is not IPv4. */
function ipOffset(linkType: number, d: Buffer): number {
  if (linkType === 1) return d.length >= 14 && d.readUInt16BE(12) === 0x0800 ? 14 : -1;
  if (linkType === 113) return d.length >= 16 && d.readUInt16BE(14) === 0x0800 ? 16 : -1;
  throw new Error(`unsupported pcap link type ${linkType}`);
}

/** Every unfragmented UDP/IPv4 datagram of a capture. */
export function udpDatagrams(file: string): UdpDatagram[] {
  const { linkType, frames } = readPcap(file);
  const out: UdpDatagram[] = [];
  for (const f of frames) {
    const d = f.data;
    const ip = ipOffset(linkType, d);
    if (ip < 0 || d.length < ip + 20) continue;
    const ihl = ((d[ip] as number) & 0x0f) * 4;
    const proto = d[ip + 9];
    const fragField = d.readUInt16BE(ip + 6);
    if (proto !== 17 || (fragField & 0x3fff) !== 0) continue;
    const totalLen = d.readUInt16BE(ip + 2);
    const u = ip + ihl;
    if (d.length < u + 8) continue;
    const udpLen = d.readUInt16BE(u + 4);
    const end = Math.min(ip + totalLen, u + udpLen, d.length);
    out.push({
      frame: f.index,
      timeUs: f.timeUs,
      src: ipv4(d, ip + 12),
      dst: ipv4(d, ip + 16),
      sport: d.readUInt16BE(u),
      dport: d.readUInt16BE(u + 2),
      payload: d.subarray(u + 8, end),
    });
  }
  return out;
}

export type NattKind = "ike" | "esp" | "keepalive" | "other";

/**
 * Classifies a UDP payload as RFC 3948 section 2 does: on port 4500 a 4-byte zero Non-ESP
 * Marker precedes IKE, a single 0xFF byte is a NAT-keepalive, anything else is ESP; on 500 it
 * is IKE. Returns the IKE message without the marker, or the ESP packet.
 */
export function classifyNatt(d: UdpDatagram): { kind: NattKind; data: Buffer; marker: boolean } {
  const p = d.payload;
  if (d.sport === 500 || d.dport === 500) return { kind: "ike", data: p, marker: false };
  if (d.sport === 4500 || d.dport === 4500) {
    if (p.length === 1 && p[0] === 0xff) return { kind: "keepalive", data: p, marker: false };
    if (p.length >= 4 && p.readUInt32BE(0) === 0) {
      return { kind: "ike", data: p.subarray(4), marker: true };
    }
    return { kind: "esp", data: p, marker: false };
  }
  return { kind: "other", data: p, marker: false };
}
