/**
 * Batched datagram I/O with recvmmsg(2)/sendmmsg(2) over Node-owned memory.
 *
 * One MsgRing is a single Buffer holding, for N slots: N mmsghdr, N iovec, N sockaddr_in,
 * N control areas (room for one IP_PKTINFO cmsg) and N data slots. All pointers inside are written
 * once (addresses of that Buffer); per call we only reset the length fields, so a batch of 64
 * datagrams costs one FFI call and no allocation beyond the copies handed to the caller.
 * Works for UDP and raw IP sockets alike (for raw IPv4 sockets the data includes the IP header).
 */
import { C, Layout, addressOf, cmsgLen, cmsgSpace, libc } from "./libc.js";
import { checkAgain } from "./sys.js";

const PKTINFO_SPACE = cmsgSpace(Layout.inPktinfo);
/** Room for one int-sized cmsg (UDP_GRO on receive, UDP_SEGMENT on send). */
const SEG_SPACE = cmsgSpace(4);
/** Control area per slot: IP_PKTINFO plus one UDP_GRO / UDP_SEGMENT. */
const CTL_SPACE = PKTINFO_SPACE + SEG_SPACE;

/** Writes a size_t (< 2^32) without BigInt on the hot path (little-endian, 64-bit). */
function writeSize(m: Buffer, v: number, off: number): void {
  m.writeUInt32LE(v, off);
  m.writeUInt32LE(0, off + 4);
}

export interface RecvSlot {
  /** View on the ring memory: valid until the next recv on this ring. */
  readonly data: Buffer;
  /** Source address (host-order uint32) and port. */
  readonly srcAddr: number;
  readonly srcPort: number;
  /** Destination address from IP_PKTINFO (ipi_addr), 0 when the socket did not ask for it. */
  readonly dstAddr: number;
  /** MSG_TRUNC: the datagram was larger than the slot and was cut. */
  readonly truncated: boolean;
  /**
   * UDP_GRO (udp(7)): the kernel coalesced datagrams of this size into `data` (the last one may
   * be shorter); 0 when `data` is one datagram.
   */
  readonly segmentSize: number;
}

export class MsgRing {
  readonly mem: Buffer;
  private readonly base: bigint;
  private readonly offIov: number;
  private readonly offName: number;
  private readonly offCtl: number;
  private readonly offData: number;

  constructor(
    readonly slots: number,
    readonly slotSize: number,
  ) {
    const hdrs = slots * Layout.mmsghdr;
    const iovs = slots * Layout.iovec;
    const names = slots * Layout.sockaddrIn;
    const ctls = slots * CTL_SPACE;
    this.offIov = hdrs;
    this.offName = this.offIov + iovs;
    this.offCtl = this.offName + names;
    this.offData = (this.offCtl + ctls + 63) & ~63;
    // allocUnsafeSlow: a dedicated (not pooled) backing store whose address we can keep.
    this.mem = Buffer.allocUnsafeSlow(this.offData + slots * slotSize);
    this.mem.fill(0, 0, this.offData);
    this.base = addressOf(this.mem);
    for (let i = 0; i < slots; i++) {
      const h = i * Layout.mmsghdr;
      const iov = this.offIov + i * Layout.iovec;
      this.mem.writeBigUInt64LE(
        this.base + BigInt(this.offName + i * Layout.sockaddrIn),
        h + Layout.msgName,
      );
      this.mem.writeBigUInt64LE(this.base + BigInt(iov), h + Layout.msgIov);
      this.mem.writeBigUInt64LE(1n, h + Layout.msgIovlen);
      this.mem.writeBigUInt64LE(
        this.base + BigInt(this.offCtl + i * CTL_SPACE),
        h + Layout.msgControl,
      );
      this.mem.writeBigUInt64LE(
        this.base + BigInt(this.offData + i * slotSize),
        iov + Layout.iovBase,
      );
    }
  }

  /**
   * One recvmmsg over all slots. Returns the number received (0 when nothing is pending).
   * Throws PlatformFailure on an error other than EAGAIN/EINTR.
   */
  recv(fd: number, out: RecvSlot[]): number {
    const m = this.mem;
    for (let i = 0; i < this.slots; i++) {
      const h = i * Layout.mmsghdr;
      m.writeUInt32LE(Layout.sockaddrIn, h + Layout.msgNamelen);
      writeSize(m, CTL_SPACE, h + Layout.msgControllen);
      m.writeInt32LE(0, h + Layout.msgFlags);
      writeSize(m, this.slotSize, this.offIov + i * Layout.iovec + Layout.iovLen);
    }
    const n = checkAgain(
      libc.recvmmsg(fd, this.base, this.slots, C.MSG_DONTWAIT, null),
      "recvmmsg",
    );
    if (n <= 0) return 0;
    out.length = 0;
    for (let i = 0; i < n; i++) {
      const h = i * Layout.mmsghdr;
      const len = m.readUInt32LE(h + Layout.msgLen);
      const flags = m.readInt32LE(h + Layout.msgFlags);
      const name = this.offName + i * Layout.sockaddrIn;
      const ctlLen = m.readUInt32LE(h + Layout.msgControllen);
      const dataOff = this.offData + i * this.slotSize;
      let dstAddr = 0;
      let segmentSize = 0;
      if (ctlLen > 0) {
        this.readCmsgs(this.offCtl + i * CTL_SPACE, ctlLen);
        dstAddr = this.cmsgDst;
        segmentSize = this.cmsgSeg;
      }
      out.push({
        data: m.subarray(dataOff, dataOff + Math.min(len, this.slotSize)),
        srcAddr: m.readUInt32BE(name + 4),
        srcPort: m.readUInt16BE(name + 2),
        dstAddr,
        truncated: (flags & C.MSG_TRUNC) !== 0,
        segmentSize,
      });
    }
    return n;
  }

  private cmsgDst = 0;
  private cmsgSeg = 0;

  /** Reads IP_PKTINFO (ipi_addr) and UDP_GRO (segment size) into cmsgDst / cmsgSeg. */
  private readCmsgs(off: number, len: number): void {
    const m = this.mem;
    this.cmsgDst = 0;
    this.cmsgSeg = 0;
    let p = off;
    const end = Math.min(off + len, off + CTL_SPACE);
    while (p + Layout.cmsghdr <= end) {
      const cl = m.readUInt32LE(p);
      if (cl < Layout.cmsghdr || p + cl > end) return;
      const level = m.readInt32LE(p + Layout.cmsgLevel);
      const type = m.readInt32LE(p + Layout.cmsgType);
      if (level === C.IPPROTO_IP && type === C.IP_PKTINFO && cl >= cmsgLen(Layout.inPktinfo)) {
        this.cmsgDst = m.readUInt32BE(p + Layout.cmsghdr + 8); // ipi_addr
      } else if (level === C.SOL_UDP && type === C.UDP_GRO && cl >= cmsgLen(2)) {
        // The kernel writes an int (udp_cmsg_recv); its value fits 16 bits.
        this.cmsgSeg = m.readUInt16LE(p + Layout.cmsghdr);
      }
      p += (cl + 7) & ~7;
    }
  }

  /**
   * Fills slot i for sending: copies `data` into the slot, sets the destination and, when
   * `srcAddr` is non-zero, an IP_PKTINFO cmsg choosing the source address. Returns false if the
   * datagram does not fit the slot.
   */
  fillSend(
    i: number,
    data: Uint8Array,
    dstAddr: number,
    dstPort: number,
    srcAddr: number,
  ): boolean {
    if (data.byteLength > this.slotSize) return false;
    const m = this.mem;
    const h = i * Layout.mmsghdr;
    const name = this.offName + i * Layout.sockaddrIn;
    m.writeUInt16LE(C.AF_INET, name);
    m.writeUInt16BE(dstPort, name + 2);
    m.writeUInt32BE(dstAddr, name + 4);
    m.writeUInt32LE(Layout.sockaddrIn, h + Layout.msgNamelen);
    m.set(data, this.offData + i * this.slotSize);
    writeSize(m, data.byteLength, this.offIov + i * Layout.iovec + Layout.iovLen);
    this.writeSendCmsgs(i, srcAddr, 0);
    m.writeInt32LE(0, h + Layout.msgFlags);
    return true;
  }

  /**
   * Fills slot i with datagrams `list[from..from+count)` laid end to end, for one UDP GSO send
   * (UDP_SEGMENT, udp(7)): every datagram but the last must be `segmentSize` long, the last at
   * most that, and the total must fit the slot (the caller groups them so). With count 1 no
   * UDP_SEGMENT cmsg is added.
   */
  fillSendSegments(
    i: number,
    list: readonly { readonly data: Uint8Array }[],
    from: number,
    count: number,
    segmentSize: number,
    dstAddr: number,
    dstPort: number,
    srcAddr: number,
  ): void {
    const m = this.mem;
    const h = i * Layout.mmsghdr;
    const name = this.offName + i * Layout.sockaddrIn;
    m.writeUInt16LE(C.AF_INET, name);
    m.writeUInt16BE(dstPort, name + 2);
    m.writeUInt32BE(dstAddr, name + 4);
    m.writeUInt32LE(Layout.sockaddrIn, h + Layout.msgNamelen);
    let at = this.offData + i * this.slotSize;
    const start = at;
    for (let k = 0; k < count; k++) {
      const d = list[from + k]!.data;
      m.set(d, at);
      at += d.byteLength;
    }
    writeSize(m, at - start, this.offIov + i * Layout.iovec + Layout.iovLen);
    this.writeSendCmsgs(i, srcAddr, count > 1 ? segmentSize : 0);
    m.writeInt32LE(0, h + Layout.msgFlags);
  }

  /** IP_PKTINFO (when srcAddr is set) and UDP_SEGMENT (when segmentSize is set) for slot i. */
  private writeSendCmsgs(i: number, srcAddr: number, segmentSize: number): void {
    const m = this.mem;
    const h = i * Layout.mmsghdr;
    let c = this.offCtl + i * CTL_SPACE;
    const c0 = c;
    if (srcAddr !== 0) {
      writeSize(m, cmsgLen(Layout.inPktinfo), c);
      m.writeInt32LE(C.IPPROTO_IP, c + Layout.cmsgLevel);
      m.writeInt32LE(C.IP_PKTINFO, c + Layout.cmsgType);
      m.fill(0, c + Layout.cmsghdr, c + PKTINFO_SPACE);
      m.writeUInt32BE(srcAddr, c + Layout.cmsghdr + 4); // ipi_spec_dst: the source to use
      c += PKTINFO_SPACE;
    }
    if (segmentSize !== 0) {
      // UDP_SEGMENT carries a u16 (udp_cmsg_send reads sizeof(__u16)).
      writeSize(m, cmsgLen(2), c);
      m.writeInt32LE(C.SOL_UDP, c + Layout.cmsgLevel);
      m.writeInt32LE(C.UDP_SEGMENT, c + Layout.cmsgType);
      m.fill(0, c + Layout.cmsghdr, c + SEG_SPACE);
      m.writeUInt16LE(segmentSize, c + Layout.cmsghdr);
      c += SEG_SPACE;
    }
    writeSize(m, c - c0, h + Layout.msgControllen);
  }

  /**
   * sendmmsg over slots [from, from+count). Returns how many were sent; -EAGAIN when the socket
   * buffer is full before the first one. Throws PlatformFailure when the first message fails
   * otherwise (the caller drops that one and continues).
   */
  send(fd: number, from: number, count: number): number {
    const ptr = this.base + BigInt(from * Layout.mmsghdr);
    return checkAgain(libc.sendmmsg(fd, ptr, count, C.MSG_DONTWAIT), "sendmmsg");
  }
}
