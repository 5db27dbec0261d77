/** Small IPv4 packet builders the daemon needs around its transport-mode services. */
import { fillIpv4HeaderChecksum } from "../wire/ip/ipv4.js";

export const L2TP_PORT = 1701;

/**
 * An IPv4/UDP packet (no options, DF clear, TTL 64). The UDP checksum is 0 ("none", RFC 768):
 * inside ESP the ICV protects the datagram, and transport-mode receivers across NAT must not
 * rely on it anyway (RFC 3948 §3.1.2).
 */
export function ipv4Udp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Buffer {
  const p = Buffer.allocUnsafe(28 + payload.length);
  p[0] = 0x45;
  p[1] = 0;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt32BE(0, 4);
  p[8] = 64;
  p[9] = 17;
  p.writeUInt16BE(0, 10);
  const a = src.split(".");
  const b = dst.split(".");
  for (let i = 0; i < 4; i++) {
    p[12 + i] = Number(a[i]);
    p[16 + i] = Number(b[i]);
  }
  fillIpv4HeaderChecksum(p.subarray(0, 20));
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(8 + payload.length, 24);
  p.writeUInt16BE(0, 26);
  p.set(payload, 28);
  return p;
}
