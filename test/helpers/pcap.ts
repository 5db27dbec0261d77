/**
 * The one classic-pcap reader (and writer) for tests (libpcap file format, "pcap-savefile" man
 * page): global header (magic a1b2c3d4 µs / a1b23c4d ns, either byte order), per-record headers.
 * Link types: 1 Ethernet (with one optional 802.1Q tag), 113 Linux cooked SLL, 276 Linux
 * cooked SLL2, 101/228 raw IPv4 (and 12/14, the BSD raw-IP DLT values).
 * Extracts IPv4/UDP datagrams (unfragmented or first fragment with MF clear only) and, for
 * UDP port 4500, applies RFC 3948 §2.2: a zero 4-byte non-ESP marker is stripped (IKE), a
 * single 0xff byte is a NAT-keepalive, anything else is ESP.
 * `writePcap` writes a little-endian microsecond file (what tshark and tcpdump read).
 * Test code only: not product code, no pcapng, no IPv6, no reassembly.
 */
import { readFileSync } from "node:fs";

export interface PcapRecord {
  /** 1-based frame number, as tshark numbers frames. */
  readonly frame: number;
  readonly linkType: number;
  /** Capture time in microseconds since the epoch. */
  readonly timeUs: number;
  /** Length of the packet on the wire (orig_len), which may exceed `data` (snaplen). */
  readonly origLen: number;
  readonly data: Buffer;
}

/** What a UDP payload is, judged by port and the RFC 3948 marker rules. */
export type NattKind = "isakmp" | "esp-in-udp" | "nat-keepalive" | "udp";

export interface UdpDatagram {
  readonly frame: number;
  /** Capture time in microseconds since the epoch. */
  readonly timeUs: number;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** The UDP payload as captured (for port 4500 IKE: with the non-ESP marker). */
  readonly udpPayload: Buffer;
  /** The UDP payload without the non-ESP marker (the ISAKMP message for kind "isakmp"). */
  readonly payload: Buffer;
  readonly kind: NattKind;
  /** Whether a non-ESP marker preceded the ISAKMP message (RFC 3948 §2.2). */
  readonly marker: boolean;
}

/** The records of a classic pcap file; throws on a bad magic or a truncated record. */
export function readPcap(file: Buffer): PcapRecord[] {
  if (file.length < 24) throw new Error("pcap: shorter than the global header");
  const magicBE = file.readUInt32BE(0);
  let le: boolean;
  if (magicBE === 0xa1b2c3d4 || magicBE === 0xa1b23c4d) le = false;
  else if (magicBE === 0xd4c3b2a1 || magicBE === 0x4d3cb2a1) le = true;
  else throw new Error(`pcap: bad magic ${magicBE.toString(16)} (pcapng is not supported)`);
  const nano = magicBE === 0xa1b23c4d || magicBE === 0x4d3cb2a1;
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  const out: PcapRecord[] = [];
  let off = 24;
  let frame = 0;
  while (off + 16 <= file.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const inclLen = u32(off + 8);
    const start = off + 16;
    if (start + inclLen > file.length) throw new Error(`pcap: record ${frame + 1} truncated`);
    frame++;
    out.push({
      frame,
      linkType,
      timeUs: sec * 1e6 + (nano ? Math.floor(frac / 1000) : frac),
      origLen: u32(off + 12),
      data: file.subarray(start, start + inclLen),
    });
    off = start + inclLen;
  }
  return out;
}

/**
 * A classic pcap file (little-endian, microsecond magic, snaplen 65535) holding `packets` as
 * frames of `linkType`, record i stamped `firstSecond + i` seconds.
 */
export function writePcap(linkType: number, packets: readonly Buffer[], firstSecond = 0): Buffer {
  const g = Buffer.alloc(24);
  g.writeUInt32LE(0xa1b2c3d4, 0);
  g.writeUInt16LE(2, 4);
  g.writeUInt16LE(4, 6);
  g.writeUInt32LE(65535, 16);
  g.writeUInt32LE(linkType, 20);
  const recs = packets.map((p, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(firstSecond + i, 0);
    r.writeUInt32LE(p.length, 8);
    r.writeUInt32LE(p.length, 12);
    return Buffer.concat([r, p]);
  });
  return Buffer.concat([g, ...recs]);
}

/** The IPv4 packet inside a link-layer frame, or undefined for non-IPv4 frames. */
export function ipv4Of(rec: PcapRecord): Buffer | undefined {
  const d = rec.data;
  switch (rec.linkType) {
    case 1: {
      if (d.length < 14) return undefined;
      let etherType = d.readUInt16BE(12);
      let off = 14;
      if (etherType === 0x8100 && d.length >= 18) {
        etherType = d.readUInt16BE(16);
        off = 18;
      }
      return etherType === 0x0800 ? d.subarray(off) : undefined;
    }
    case 113:
      if (d.length < 16) return undefined;
      return d.readUInt16BE(14) === 0x0800 ? d.subarray(16) : undefined;
    case 276:
      if (d.length < 20) return undefined;
      return d.readUInt16BE(0) === 0x0800 ? d.subarray(20) : undefined;
    case 12:
    case 14:
    case 101:
    case 228:
      return d.length > 0 && (d[0] ?? 0) >> 4 === 4 ? d : undefined;
    default:
      throw new Error(`pcap: link type ${rec.linkType} not supported`);
  }
}

/**
 * Classifies a UDP payload as RFC 3948 §2 does: on port 4500 a 4-byte zero non-ESP marker
 * precedes IKE (returned without it), a single 0xff byte is a NAT-keepalive, anything else is
 * ESP; on port 500 it is IKE.
 */
export function classifyNatt(
  srcPort: number,
  dstPort: number,
  udpPayload: Buffer,
): { kind: NattKind; payload: Buffer; marker: boolean } {
  if (srcPort === 4500 || dstPort === 4500) {
    if (udpPayload.length === 1 && udpPayload[0] === 0xff) {
      return { kind: "nat-keepalive", payload: udpPayload, marker: false };
    }
    if (udpPayload.length >= 4 && udpPayload.readUInt32BE(0) === 0) {
      return { kind: "isakmp", payload: udpPayload.subarray(4), marker: true };
    }
    return { kind: "esp-in-udp", payload: udpPayload, marker: false };
  }
  if (srcPort === 500 || dstPort === 500)
    return { kind: "isakmp", payload: udpPayload, marker: false };
  return { kind: "udp", payload: udpPayload, marker: false };
}

const ipText = (b: Buffer, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** All IPv4/UDP datagrams of a capture (file contents or path), classified for IKE/NAT-T. */
export function udpDatagrams(file: Buffer | string): UdpDatagram[] {
  const out: UdpDatagram[] = [];
  for (const rec of readPcap(typeof file === "string" ? readFileSync(file) : file)) {
    const ip = ipv4Of(rec);
    if (!ip || ip.length < 20) continue;
    const ihl = ((ip[0] ?? 0) & 0x0f) * 4;
    const totalLen = ip.readUInt16BE(2);
    const fragField = ip.readUInt16BE(6);
    if ((fragField & 0x3fff) !== 0) continue; // fragment (MF set or offset != 0): not reassembled
    if (ip[9] !== 17 || ihl < 20 || totalLen > ip.length || totalLen < ihl + 8) continue;
    const udp = ip.subarray(ihl, totalLen);
    const srcPort = udp.readUInt16BE(0);
    const dstPort = udp.readUInt16BE(2);
    const udpLen = udp.readUInt16BE(4);
    if (udpLen < 8 || udpLen > udp.length) continue;
    const udpPayload = udp.subarray(8, udpLen);
    out.push({
      frame: rec.frame,
      timeUs: rec.timeUs,
      src: ipText(ip, 12),
      dst: ipText(ip, 16),
      srcPort,
      dstPort,
      udpPayload,
      ...classifyNatt(srcPort, dstPort, udpPayload),
    });
  }
  return out;
}

/** The ISAKMP datagrams of a capture (port 500, and port 4500 with the marker stripped). */
export function isakmpDatagrams(file: Buffer | string): UdpDatagram[] {
  return udpDatagrams(file).filter((d) => d.kind === "isakmp");
}
