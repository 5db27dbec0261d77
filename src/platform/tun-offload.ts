/**
 * TUN offloads in user space: the packet work that a TUN device opened with IFF_VNET_HDR and
 * TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4) leaves to its reader and writer
 * (Documentation/networking/tuntap.rst; struct virtio_net_hdr, Virtual I/O Device (VIRTIO) 1.2
 * section 5.1.6 "Device Operation"; the same scheme wireguard-go uses in tun/offload_linux.go).
 *
 *  - Read side: a packet may come with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM: the
 *    checksum field holds the pseudo-header sum; the sum from csum_start to the end completes it)
 *    and a TCP packet may be a "super-packet" of up to 64 KiB (gso_type TCPV4/TCPV6, gso_size =
 *    MSS) that we cut into MSS-sized segments as the kernel's TSO would (RFC 9293 §3.1 header
 *    fields: sequence numbers advance by the payload, FIN/PSH only on the last segment, CWR only
 *    on the first; IPv4 identification increments, RFC 791 header checksum per segment; a full
 *    TCP checksum with the pseudo-header of RFC 9293 §3.1 / RFC 8200 §8.1 per segment).
 *  - Write side: consecutive in-order TCP/IPv4 segments of one flow with identical headers
 *    (apart from sequence number, IP length/id/checksum and the PSH of the last one) are merged
 *    into one super-packet written with gso_type TCPV4 and a partial checksum, so the kernel
 *    takes ~45 segments in one write and one trip through its stack (receive-side coalescing as
 *    Linux GRO does it, net/ipv4/tcp_offload.c). Each segment's IPv4 header checksum and TCP
 *    checksum are verified before it is merged: a corrupt segment is written on its own, unchanged,
 *    for the kernel to drop.
 *
 * Pure functions over buffers (no I/O): tun.ts does the reads and writes.
 * Left out: IPv6 coalescing on write (IPv6 packets are written one by one), UDP (USO/UFO),
 * ECN-marked super-packets (TUN_F_TSO_ECN is not offered, so the kernel segments those itself),
 * IPv6 TSO (TUN_F_TSO6 is not offered: the kernel segments IPv6 TCP, which may carry extension
 * headers; segmentTcp handles a TCPV6 super-packet without them should one come).
 */

/** sizeof(struct virtio_net_hdr): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
export const VNET_HDR_LEN = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

const TCP = 6;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const URG = 0x20;
const ECE = 0x40;
const CWR = 0x80;

export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function readVnetHdr(b: Uint8Array, off: number, h: VnetHdr): void {
  h.flags = b[off]!;
  h.gsoType = b[off + 1]!;
  h.hdrLen = b[off + 2]! | (b[off + 3]! << 8);
  h.gsoSize = b[off + 4]! | (b[off + 5]! << 8);
  h.csumStart = b[off + 6]! | (b[off + 7]! << 8);
  h.csumOffset = b[off + 8]! | (b[off + 9]! << 8);
}

/** Writes a virtio_net_hdr (little-endian, as a TUN device on x86-64/aarch64 expects). */
export function writeVnetHdr(
  b: Uint8Array,
  off: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  b[off] = flags;
  b[off + 1] = gsoType;
  b[off + 2] = hdrLen & 0xff;
  b[off + 3] = hdrLen >> 8;
  b[off + 4] = gsoSize & 0xff;
  b[off + 5] = gsoSize >> 8;
  b[off + 6] = csumStart & 0xff;
  b[off + 7] = csumStart >> 8;
  b[off + 8] = csumOffset & 0xff;
  b[off + 9] = csumOffset >> 8;
}

// ------------------------------------------------------------------ checksum (RFC 1071)

/**
 * One's complement sum (RFC 1071 §4.1) of b[start..end), unfolded, in network byte order.
 * Where the region starts 4-byte aligned in memory it adds 32-bit little-endian words (RFC 1071
 * §2(B), byte-order independence, and §2(C), parallel summation: 2^16 = 1 mod 0xffff) and swaps
 * the folded result; otherwise 16-bit words one by one.
 */
export function onesSum(b: Uint8Array, start: number, end: number): number {
  let i = start;
  let sum = 0;
  const abs = b.byteOffset + i;
  if ((abs & 1) === 0 && end - i >= 64) {
    if ((abs & 3) === 2) {
      sum += (b[i]! << 8) | b[i + 1]!;
      i += 2;
    }
    const words = (end - i) >>> 2;
    const u32 = new Uint32Array(b.buffer, b.byteOffset + i, words);
    let le = 0;
    for (let k = 0; k < words; k++) le += u32[k]!;
    i += words * 4;
    // Fold the little-endian sum to 16 bits, then swap it to network order.
    le = foldSum(le);
    sum += ((le & 0xff) << 8) | (le >>> 8);
  }
  const last = end - 1;
  for (; i < last; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  return sum;
}

/** End-around-carry fold to 16 bits (never turns a non-zero sum into 0). */
export function foldSum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** Sum of the TCP/UDP pseudo-header (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6). */
function pseudoSum(p: Uint8Array, v6: boolean, proto: number, l4Length: number): number {
  let s = proto + (l4Length & 0xffff) + Math.floor(l4Length / 0x10000);
  const from = v6 ? 8 : 12;
  const to = v6 ? 40 : 20;
  for (let i = from; i < to; i += 2) s += (p[i]! << 8) | p[i + 1]!;
  return s;
}

function ipv4HeaderChecksum(p: Uint8Array, at: number, ihl: number): number {
  let s = 0;
  for (let i = at; i < at + ihl; i += 2) if (i !== at + 10) s += (p[i]! << 8) | p[i + 1]!;
  return ~foldSum(s) & 0xffff;
}

// ------------------------------------------------------------------ read side

/**
 * Completes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM) in place: sums p[csumStart..end)
 * (the checksum field holds the pseudo-header sum) and stores the complement. False when the
 * offsets do not fit the packet.
 */
export function completeChecksum(p: Uint8Array, csumStart: number, csumOffset: number): boolean {
  const at = csumStart + csumOffset;
  if (csumStart >= p.length || at + 2 > p.length) return false;
  // A computed 0 is sent as 0xffff, as the kernel's skb_checksum_help does (CSUM_MANGLED_0):
  // the same value in one's complement, and the only valid form for UDP (RFC 768).
  const c = ~foldSum(onesSum(p, csumStart, p.length)) & 0xffff || 0xffff;
  p[at] = c >> 8;
  p[at + 1] = c & 0xff;
  return true;
}

/**
 * Cuts a TCP super-packet (IPv4, or IPv6 without extension headers, read after a virtio_net_hdr
 * with gso_type TCPV4/TCPV6) into segments of at most `mss` payload octets, each a complete
 * packet with correct lengths and checksums, copied into one new buffer (8-aligned, one after
 * the other). Fills `out` with the segments (views on that buffer); returns false when the
 * packet is not a TCP packet this can cut (the caller drops it and counts it).
 */
export function segmentTcp(p: Uint8Array, mss: number, out: Buffer[]): boolean {
  out.length = 0;
  if (p.length < 40 || mss <= 0) return false;
  const version = p[0]! >> 4;
  const v6 = version === 6;
  if (!v6 && version !== 4) return false;
  const ipLen = v6 ? 40 : (p[0]! & 0x0f) * 4;
  if (ipLen < 20 || (v6 ? p[6] : p[9]) !== TCP || p.length < ipLen + 20) return false;
  const tcpLen = (p[ipLen + 12]! >> 4) * 4;
  const hdrLen = ipLen + tcpLen;
  if (tcpLen < 20 || p.length < hdrLen) return false;
  const payload = p.length - hdrLen;
  const count = Math.max(1, Math.ceil(payload / mss));
  const stride = (hdrLen + mss + 7) & ~7;
  const slab = Buffer.allocUnsafe(count * stride);
  const seq0 =
    ((p[ipLen + 4]! << 24) | (p[ipLen + 5]! << 16) | (p[ipLen + 6]! << 8) | p[ipLen + 7]!) >>> 0;
  const id0 = v6 ? 0 : (p[4]! << 8) | p[5]!;
  const flags0 = p[ipLen + 13]!;
  for (let i = 0; i < count; i++) {
    const from = hdrLen + i * mss;
    const len = Math.min(mss, payload - i * mss);
    const at = i * stride;
    const seg = slab.subarray(at, at + hdrLen + len);
    seg.set(p.subarray(0, hdrLen), 0);
    if (len > 0) seg.set(p.subarray(from, from + len), hdrLen);
    // IP header: length, identification (+i), checksum.
    if (v6) {
      const pl = hdrLen - 40 + len;
      seg[4] = pl >> 8;
      seg[5] = pl & 0xff;
    } else {
      const total = hdrLen + len;
      seg[2] = total >> 8;
      seg[3] = total & 0xff;
      const id = (id0 + i) & 0xffff;
      seg[4] = id >> 8;
      seg[5] = id & 0xff;
      const c = ipv4HeaderChecksum(seg, 0, ipLen);
      seg[10] = c >> 8;
      seg[11] = c & 0xff;
    }
    // TCP: sequence number, flags, checksum.
    const seq = (seq0 + i * mss) >>> 0;
    seg[ipLen + 4] = seq >>> 24;
    seg[ipLen + 5] = (seq >>> 16) & 0xff;
    seg[ipLen + 6] = (seq >>> 8) & 0xff;
    seg[ipLen + 7] = seq & 0xff;
    let fl = flags0;
    if (i < count - 1) fl &= ~(FIN | PSH);
    if (i > 0) fl &= ~CWR;
    seg[ipLen + 13] = fl;
    seg[ipLen + 16] = 0;
    seg[ipLen + 17] = 0;
    const l4 = tcpLen + len;
    const c = ~foldSum(pseudoSum(seg, v6, TCP, l4) + onesSum(seg, ipLen, seg.length)) & 0xffff;
    seg[ipLen + 16] = c >> 8;
    seg[ipLen + 17] = c & 0xff;
    out.push(seg);
  }
  return true;
}

// ------------------------------------------------------------------ write side

/** Where a TCP/IPv4 segment's fields are, when it may be merged (see `coalescable`). */
export interface TcpSegmentInfo {
  ipLen: number;
  tcpLen: number;
  payload: number;
  seq: number;
  flags: number;
}

/**
 * Whether `p` is a TCP/IPv4 segment that may take part in coalescing: no fragment, payload > 0,
 * only ACK (and PSH) set, and its IPv4 header and TCP checksums are valid. Fills `info`.
 */
export function coalescable(p: Uint8Array, info: TcpSegmentInfo): boolean {
  if (p.length < 40 || p[0]! >> 4 !== 4 || p[9] !== TCP) return false;
  const ipLen = (p[0]! & 0x0f) * 4;
  const total = (p[2]! << 8) | p[3]!;
  if (ipLen < 20 || total !== p.length || ((p[6]! & 0x3f) | p[7]!) !== 0) return false;
  if (p.length < ipLen + 20) return false;
  const tcpLen = (p[ipLen + 12]! >> 4) * 4;
  if (tcpLen < 20 || p.length <= ipLen + tcpLen) return false;
  const flags = p[ipLen + 13]!;
  if ((flags & (FIN | SYN | RST | URG | ECE | CWR)) !== 0 || (flags & ACK) === 0) return false;
  const ipc = (p[10]! << 8) | p[11]!;
  if (ipv4HeaderChecksum(p, 0, ipLen) !== ipc) return false;
  const sum = foldSum(pseudoSum(p, false, TCP, p.length - ipLen) + onesSum(p, ipLen, p.length));
  if (sum !== 0xffff) return false;
  info.ipLen = ipLen;
  info.tcpLen = tcpLen;
  info.payload = p.length - ipLen - tcpLen;
  info.seq =
    ((p[ipLen + 4]! << 24) | (p[ipLen + 5]! << 16) | (p[ipLen + 6]! << 8) | p[ipLen + 7]!) >>> 0;
  info.flags = flags;
  return true;
}

/**
 * A super-packet being built in `buf` (virtio_net_hdr at 0, IP packet from VNET_HDR_LEN): the
 * first segment's headers, then the payloads of the segments merged so far.
 */
export class TcpGroup {
  /** Octets used in buf (header included). */
  used = 0;
  segments = 0;
  ipLen = 0;
  hdrLen = 0;
  /** Payload size of the first segment: the gso_size. */
  segSize = 0;
  nextSeq = 0;
  /** Set when the group may not grow (a shorter segment or PSH ended it). */
  closed = false;

  constructor(readonly buf: Uint8Array) {}

  /** Starts the group with segment `p`. */
  start(p: Uint8Array, info: TcpSegmentInfo): void {
    this.buf.set(p, VNET_HDR_LEN);
    this.used = VNET_HDR_LEN + p.length;
    this.segments = 1;
    this.ipLen = info.ipLen;
    this.hdrLen = info.ipLen + info.tcpLen;
    this.segSize = info.payload;
    this.nextSeq = (info.seq + info.payload) >>> 0;
    this.closed = (info.flags & PSH) !== 0;
  }

  /**
   * Appends `p` when it continues the flow in order with the same headers (RFC 9293 fields that
   * Linux GRO also requires equal: addresses, ports, ack number, window, options; IPv4 TOS, TTL,
   * flags) and fits; returns false otherwise (then the group is unchanged).
   */
  append(p: Uint8Array, info: TcpSegmentInfo): boolean {
    if (this.closed || info.seq !== this.nextSeq) return false;
    if (info.ipLen + info.tcpLen !== this.hdrLen || info.ipLen !== this.ipLen) return false;
    if (info.payload > this.segSize) return false;
    if (
      this.used + info.payload > this.buf.length ||
      this.used - VNET_HDR_LEN + info.payload > 65535
    )
      return false;
    const b = this.buf;
    const o = VNET_HDR_LEN;
    // IPv4: version/IHL, TOS (bytes 0-1); flags/fragment (6-7), TTL, protocol (8-9);
    // addresses (12-19) and options. Length, id and checksum may differ.
    if (b[o] !== p[0] || b[o + 1] !== p[1] || b[o + 6] !== p[6] || b[o + 7] !== p[7]) return false;
    if (b[o + 8] !== p[8] || b[o + 9] !== p[9]) return false;
    for (let i = 12; i < this.ipLen; i++) if (b[o + i] !== p[i]) return false;
    // TCP: ports (0-3), ack (8-11), data offset (12), window (14-15), urgent (18-19), options.
    const t = this.ipLen;
    for (let i = 0; i < 4; i++) if (b[o + t + i] !== p[t + i]) return false;
    for (let i = 8; i < 13; i++) if (b[o + t + i] !== p[t + i]) return false;
    for (let i = 14; i < 16; i++) if (b[o + t + i] !== p[t + i]) return false;
    for (let i = 18; i < this.hdrLen - t; i++) if (b[o + t + i] !== p[t + i]) return false;
    b.set(p.subarray(this.hdrLen), this.used);
    this.used += info.payload;
    this.segments++;
    this.nextSeq = (info.seq + info.payload) >>> 0;
    if ((info.flags & PSH) !== 0) {
      b[o + t + 13]! |= PSH;
      this.closed = true;
    }
    if (info.payload < this.segSize) this.closed = true;
    return true;
  }

  /**
   * Finishes the header for writing and returns the bytes to write (virtio_net_hdr + packet).
   * One segment: written as it is (no offload). More: IPv4 length and header checksum for the
   * whole, the TCP checksum field set to the folded pseudo-header sum, and gso_type TCPV4 with
   * a partial checksum from the TCP header (what the kernel's own TSO path hands a device).
   */
  finish(): Uint8Array {
    const b = this.buf;
    const o = VNET_HDR_LEN;
    if (this.segments === 1) {
      writeVnetHdr(b, 0, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
      return b.subarray(0, this.used);
    }
    const total = this.used - o;
    b[o + 2] = total >> 8;
    b[o + 3] = total & 0xff;
    const c = ipv4HeaderChecksum(b, o, this.ipLen);
    b[o + 10] = c >> 8;
    b[o + 11] = c & 0xff;
    const pkt = b.subarray(o, this.used);
    const ps = foldSum(pseudoSum(pkt, false, TCP, total - this.ipLen));
    b[o + this.ipLen + 16] = ps >> 8;
    b[o + this.ipLen + 17] = ps & 0xff;
    writeVnetHdr(
      b,
      0,
      VIRTIO_NET_HDR_F_NEEDS_CSUM,
      VIRTIO_NET_HDR_GSO_TCPV4,
      this.hdrLen,
      this.segSize,
      this.ipLen,
      16,
    );
    return b.subarray(0, this.used);
  }

  /** The flow key: addresses and ports (for matching a segment to its group). */
  sameFlow(p: Uint8Array): boolean {
    const b = this.buf;
    const o = VNET_HDR_LEN;
    for (let i = 12; i < 20; i++) if (b[o + i] !== p[i]) return false;
    const t = this.ipLen;
    const pt = (p[0]! & 0x0f) * 4;
    for (let i = 0; i < 4; i++) if (b[o + t + i] !== p[pt + i]) return false;
    return true;
  }
}
