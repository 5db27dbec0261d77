/**
 * The L2TP/PPP data path without copies (DESIGN rule 2, the hot-path view codec): reads an L2TP
 * data message (RFC 2661 §3.1, T=0) and the PPP Protocol field of the frame it carries
 * (RFC 1661 §2, RFC 1662 §3.1) in place, and writes the fixed 20-octet head Oakley puts in
 * front of an IPv4 packet it sends through a session:
 *
 *   UDP (8)        source 1701, destination the peer's port, length, checksum 0 (RFC 768:
 *                  none; the ESP ICV protects the datagram, RFC 3948 §3.1.2)
 *   L2TP (8)       T=0 L=1 Ver=2, Length, the peer's Tunnel ID and Session ID
 *   PPP (4)        FF 03 00 21 (IPv4; never compressed: a receiver must accept full fields
 *                  even after ACFC/PFC were negotiated, RFC 1661 §6.5-6.6)
 *
 * Same acceptance rules as the full codecs (header.ts `parseL2tpPacket`, ppp/frame.ts
 * `parsePppFrame`), checked against them by property tests; anything they would refuse, or
 * anything but a plain data message, makes `readL2tpData` return false and the caller takes the
 * slow path through the engines (which drop and count it).
 */

const T_BIT = 0x8000;
const L_BIT = 0x4000;
const S_BIT = 0x0800;
const O_BIT = 0x0200;

/** Where things are in an L2TP data message (filled in place, no allocation). */
export interface L2tpDataView {
  tunnelId: number;
  sessionId: number;
  /** S bit: Ns/Nr present (sequenced data). */
  sequenced: boolean;
  /** The PPP frame: [frameStart, frameEnd) of the message. */
  frameStart: number;
  frameEnd: number;
}

export function newL2tpDataView(): L2tpDataView {
  return { tunnelId: 0, sessionId: 0, sequenced: false, frameStart: 0, frameEnd: 0 };
}

/** Reads an L2TP data message; false for a control message or anything malformed. */
export function readL2tpData(b: Uint8Array, v: L2tpDataView): boolean {
  if (b.length < 6) return false;
  const flags = (b[0]! << 8) | b[1]!;
  if ((flags & T_BIT) !== 0 || (flags & 0x000f) !== 2) return false;
  let off = 2;
  let end = b.length;
  if ((flags & L_BIT) !== 0) {
    end = (b[2]! << 8) | b[3]!;
    if (end > b.length) return false;
    off = 4;
  }
  const sequenced = (flags & S_BIT) !== 0;
  const offset = (flags & O_BIT) !== 0;
  const fixed = off + 4 + (sequenced ? 4 : 0) + (offset ? 2 : 0);
  if (end < fixed) return false;
  v.tunnelId = (b[off]! << 8) | b[off + 1]!;
  v.sessionId = (b[off + 2]! << 8) | b[off + 3]!;
  off += sequenced ? 8 : 4;
  if (offset) {
    const size = (b[off]! << 8) | b[off + 1]!;
    off += 2 + size;
    if (off > end) return false;
  }
  v.sequenced = sequenced;
  v.frameStart = off;
  v.frameEnd = end;
  return true;
}

/**
 * Offset of the IPv4 packet in a PPP frame b[start, end) when its Protocol is IPv4 (0x0021,
 * or 0x21 compressed), else -1 (another protocol, or malformed: the PPP engine decides).
 */
export function pppIpv4Offset(b: Uint8Array, start: number, end: number): number {
  let off = start;
  if (end - off >= 1 && b[off] === 0xff) {
    if (end - off < 2 || b[off + 1] !== 0x03) return -1;
    off += 2;
  }
  if (off >= end) return -1;
  if (b[off] === 0x21) return off + 1;
  if (end - off >= 2 && b[off] === 0x00 && b[off + 1] === 0x21) return off + 2;
  return -1;
}

/** Length of the head `writeIpv4Head` writes. */
export const IPV4_HEAD_LENGTH = 20;
export const L2TP_PORT = 1701;

/** Writes the UDP + L2TP + PPP head for an IPv4 packet of `ipLength` octets into `h[0..20)`. */
export function writeIpv4Head(
  h: Uint8Array,
  peerPort: number,
  peerTunnelId: number,
  peerSessionId: number,
  ipLength: number,
): void {
  const udpLength = IPV4_HEAD_LENGTH + ipLength;
  const l2tpLength = udpLength - 8;
  h[0] = L2TP_PORT >> 8;
  h[1] = L2TP_PORT & 0xff;
  h[2] = peerPort >> 8;
  h[3] = peerPort & 0xff;
  h[4] = udpLength >> 8;
  h[5] = udpLength & 0xff;
  h[6] = 0;
  h[7] = 0;
  h[8] = 0x40; // L=1
  h[9] = 0x02; // Ver=2
  h[10] = l2tpLength >> 8;
  h[11] = l2tpLength & 0xff;
  h[12] = peerTunnelId >> 8;
  h[13] = peerTunnelId & 0xff;
  h[14] = peerSessionId >> 8;
  h[15] = peerSessionId & 0xff;
  h[16] = 0xff;
  h[17] = 0x03;
  h[18] = 0x00;
  h[19] = 0x21;
}

/** Writes an 8-octet UDP header (1701 -> `peerPort`, checksum 0) for `payloadLength` octets. */
export function writeUdpHead(h: Uint8Array, peerPort: number, payloadLength: number): void {
  const len = 8 + payloadLength;
  h[0] = L2TP_PORT >> 8;
  h[1] = L2TP_PORT & 0xff;
  h[2] = peerPort >> 8;
  h[3] = peerPort & 0xff;
  h[4] = len >> 8;
  h[5] = len & 0xff;
  h[6] = 0;
  h[7] = 0;
}
