/**
 * DatagramSocket over a koffi-driven UDP socket: socket(AF_INET, SOCK_DGRAM|SOCK_NONBLOCK),
 * bind, recvmmsg/sendmmsg batches (native/batched.ts), readiness from Node's libuv loop.
 *
 * IP_PKTINFO is always on: each datagram reports the local address it arrived on (needed by IKE
 * when bound to 0.0.0.0, e.g. for NAT-D hashes and to answer from the same address), and send()
 * can choose the source address. The socket is never connect()ed (a connected UDP socket turns
 * ICMP errors into POLLERR, which stops libuv polling; see native/poller.ts).
 *
 * Optional offloads (udp(7), Linux 4.18+/5.0+): UDP GSO on send (UDP_SEGMENT cmsg on runs of
 * equal-sized datagrams to one destination, off by itself if the kernel refuses it) and UDP_GRO on
 * receive (coalesced datagrams are split again before the handler sees them).
 */
import { type Result, err, ok } from "../base/result.js";
import {
  E,
  type PlatformError,
  PlatformErrorCode,
  PlatformFailure,
  platformError,
} from "./errors.js";
import { BatchedFd } from "./native/batched.js";
import { C, libc } from "./native/libc.js";
import {
  check,
  closeFd,
  errnoOf,
  formatIpv4,
  parseIpv4,
  requireIpv4,
  setBufferSize,
  setIntOption,
  sockaddrIn,
  trySetIntOption,
} from "./native/sys.js";
import {
  type DatagramHandler,
  type DatagramInfo,
  type DatagramSocket,
  type DatagramSocketOptions,
  type Endpoint,
  type SocketStats,
  addrInUseMessage,
  emptyStats,
} from "./udp.js";

export class KoffiDatagramSocket implements DatagramSocket {
  readonly implementation = "koffi" as const;
  private io: BatchedFd | undefined;
  private bound: Endpoint | undefined;
  private boundAddr = 0;
  private handler: DatagramHandler = () => {};
  private errorHandler: (e: PlatformError) => void = () => {};
  private closed = false;
  private finalCounters: SocketStats = emptyStats();
  private lastDstText = "";
  private lastDst = 0;

  constructor(private readonly opts: DatagramSocketOptions = {}) {}

  async bind(address: string, port: number): Promise<Result<Endpoint, PlatformError>> {
    return this.bindSync(address, port);
  }

  bindSync(address: string, port: number): Result<Endpoint, PlatformError> {
    if (this.closed) return err(platformError(PlatformErrorCode.Closed, "socket is closed"));
    if (this.io)
      return err(platformError(PlatformErrorCode.BadArgument, "socket is already bound"));
    let fd = -1;
    try {
      const addr = requireIpv4(address, "bind address");
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new PlatformFailure(
          platformError(PlatformErrorCode.BadArgument, `bind port ${port} is not a UDP port`),
        );
      }
      fd = check(
        libc.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0),
        "socket(AF_INET, SOCK_DGRAM)",
      );
      setIntOption(fd, C.IPPROTO_IP, C.IP_PKTINFO, 1, "IP_PKTINFO");
      // UDP_GRO where the kernel has it (4.18+); without it datagrams simply come one by one.
      const gro = this.opts.gro === true && trySetIntOption(fd, C.SOL_UDP, C.UDP_GRO, 1);
      if (this.opts.receiveBuffer) setBufferSize(fd, "rcv", this.opts.receiveBuffer);
      if (this.opts.sendBuffer) setBufferSize(fd, "snd", this.opts.sendBuffer);
      if (libc.bind(fd, sockaddrIn(addr, port), 16) < 0) {
        const e = errnoOf();
        if (e === E.EADDRINUSE) {
          throw new PlatformFailure(
            platformError(PlatformErrorCode.AddrInUse, addrInUseMessage(port, address), {
              syscall: "bind",
              errno: e,
            }),
          );
        }
        check(-1, "bind", `${address}:${port}`, e);
      }
      const name = Buffer.alloc(16);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(16, 0);
      check(libc.getsockname(fd, name, len), "getsockname");
      this.boundAddr = addr;
      this.bound = { address, port: name.readUInt16BE(2) };
      const io = new BatchedFd(fd, {
        batch: this.opts.batch ?? 64,
        slotSize: this.opts.slotSize ?? 65535,
        sendQueueLimit: this.opts.sendQueueLimit ?? 4096,
        maxRounds: 8,
        gso: this.opts.gso ?? false,
        gro,
      });
      const zeroCopy = this.opts.zeroCopy ?? false;
      const fixedLocal = addr !== 0 ? address : undefined;
      // Datagrams come in runs from the same peer to the same address: format each address
      // once per run and share one (immutable) info object.
      let srcNum = -1;
      let srcText = "";
      let dstNum = -1;
      let info: DatagramInfo = { localAddress: fixedLocal };
      io.onReceive = (s) => {
        if (s.dstAddr !== dstNum) {
          dstNum = s.dstAddr;
          info = { localAddress: dstNum !== 0 ? formatIpv4(dstNum) : fixedLocal };
        }
        if (s.srcAddr !== srcNum) {
          srcNum = s.srcAddr;
          srcText = formatIpv4(srcNum);
        }
        const data = zeroCopy ? s.data : Buffer.from(s.data);
        this.handler(data, srcText, s.srcPort, info);
      };
      io.onError = (e) => this.errorHandler(e);
      io.start();
      this.io = io;
      return ok(this.bound);
    } catch (e) {
      if (fd >= 0) closeFd(fd);
      if (e instanceof PlatformFailure) return err(e.error);
      throw e;
    }
  }

  local(): Endpoint | undefined {
    return this.bound;
  }

  send(data: Uint8Array, address: string, port: number, localAddress?: string): void {
    const io = this.io;
    if (!io) {
      this.errorHandler(
        platformError(PlatformErrorCode.Closed, "send on an unbound or closed socket"),
      );
      return;
    }
    // The data plane sends run after run to the same peer: parse its address once.
    let dst: number | undefined;
    if (address === this.lastDstText) dst = this.lastDst;
    else {
      dst = parseIpv4(address);
      if (dst !== undefined) {
        this.lastDstText = address;
        this.lastDst = dst;
      }
    }
    const src = localAddress === undefined ? 0 : parseIpv4(localAddress);
    if (dst === undefined || src === undefined || port <= 0 || port > 65535) {
      io.counters.txDropped++;
      this.errorHandler(
        platformError(
          PlatformErrorCode.BadArgument,
          `send to ${address}:${port}: not an IPv4 endpoint`,
        ),
      );
      return;
    }
    io.enqueue(data, dst, port, src === this.boundAddr ? 0 : src);
  }

  flush(): void {
    this.io?.flush();
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  onError(handler: (e: PlatformError) => void): void {
    this.errorHandler = handler;
  }

  stats(): SocketStats {
    return { ...(this.io?.counters ?? this.finalCounters) };
  }

  close(): void {
    this.closed = true;
    if (this.io) this.finalCounters = this.io.counters;
    this.io?.close();
    this.io = undefined;
  }
}
