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
    const ctls = slots * PKTINFO_SPACE;
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
        this.base + BigInt(this.offCtl + i * PKTINFO_SPACE),
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
      writeSize(m, PKTINFO_SPACE, h + Layout.msgControllen);
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
      out.push({
        data: m.subarray(dataOff, dataOff + Math.min(len, this.slotSize)),
        srcAddr: m.readUInt32BE(name + 4),
        srcPort: m.readUInt16BE(name + 2),
        dstAddr: ctlLen > 0 ? this.pktinfoDst(this.offCtl + i * PKTINFO_SPACE, ctlLen) : 0,
        truncated: (flags & C.MSG_TRUNC) !== 0,
      });
    }
    return n;
  }

  private pktinfoDst(off: number, len: number): number {
    const m = this.mem;
    let p = off;
    const end = off + len;
    while (p + Layout.cmsghdr <= end) {
      const cl = m.readUInt32LE(p);
      if (cl < Layout.cmsghdr || p + cl > end) return 0;
      if (
        m.readInt32LE(p + Layout.cmsgLevel) === C.IPPROTO_IP &&
        m.readInt32LE(p + Layout.cmsgType) === C.IP_PKTINFO &&
        cl >= cmsgLen(Layout.inPktinfo)
      ) {
        return m.readUInt32BE(p + Layout.cmsghdr + 8); // ipi_addr
      }
      p += (cl + 7) & ~7;
    }
    return 0;
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
    if (srcAddr !== 0) {
      const c = this.offCtl + i * PKTINFO_SPACE;
      writeSize(m, cmsgLen(Layout.inPktinfo), c);
      m.writeInt32LE(C.IPPROTO_IP, c + Layout.cmsgLevel);
      m.writeInt32LE(C.IP_PKTINFO, c + Layout.cmsgType);
      m.fill(0, c + Layout.cmsghdr, c + PKTINFO_SPACE);
      m.writeUInt32BE(srcAddr, c + Layout.cmsghdr + 4); // ipi_spec_dst: the source to use
      writeSize(m, PKTINFO_SPACE, h + Layout.msgControllen);
    } else {
      writeSize(m, 0, h + Layout.msgControllen);
    }
    m.writeInt32LE(0, h + Layout.msgFlags);
    return true;
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
