/**
 * A tiny classic-pcap reader for the L2TP vector tests (test/helpers/pcap.ts did not exist when
 * this was written). Handles LINKTYPE_RAW (101) and Ethernet (1) with IPv4/UDP; returns the UDP
 * payloads with their addresses. Not a general parser: test input only.
 */
import { readFileSync } from "node:fs";

export interface UdpRecord {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly payload: Buffer;
}

export function readPcapUdp(path: string): UdpRecord[] {
  const f = readFileSync(path);
  const magic = f.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4;
  if (!le && f.readUInt32BE(0) !== 0xa1b2c3d4) throw new Error(`${path}: not a classic pcap`);
  const u32 = (o: number) => (le ? f.readUInt32LE(o) : f.readUInt32BE(o));
  const linktype = u32(20);
  const out: UdpRecord[] = [];
  let off = 24;
  while (off + 16 <= f.length) {
    const incl = u32(off + 8);
    let p = f.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (linktype === 1) {
      if (p.readUInt16BE(12) !== 0x0800) continue;
      p = p.subarray(14);
    } else if (linktype !== 101) throw new Error(`${path}: linktype ${linktype}`);
    if (p.length < 20 || p[0] === undefined || p[0] >> 4 !== 4 || p[9] !== 17) continue;
    const ihl = (p[0] & 0xf) * 4;
    const udp = p.subarray(ihl);
    const ulen = udp.readUInt16BE(4);
    out.push({
      src: [...p.subarray(12, 16)].join("."),
      dst: [...p.subarray(16, 20)].join("."),
      sport: udp.readUInt16BE(0),
      dport: udp.readUInt16BE(2),
      payload: Buffer.from(udp.subarray(8, ulen)),
    });
  }
  return out;
}

const vectorDir = import.meta.dirname;
export const L2TP_CAPTURE_FILES = ["evidence-l2tp-inner-tunnel.pcap", "evidence-l2tp-inner-transport.pcap"];
export function l2tpCapturePath(name: string): string {
  return `${vectorDir}/${name}`;
}
/** Every UDP payload (L2TP message) of the xl2tpd captures, tunnel capture first. */
export function l2tpCaptureMessages(): Buffer[] {
  return L2TP_CAPTURE_FILES.flatMap((f) => readPcapUdp(l2tpCapturePath(f)).map((r) => r.payload));
}
