/**
 * Plain ESP (IP protocol 50, RFC 4303) endpoint for SAs without NAT: a raw IPv4 socket
 * socket(AF_INET, SOCK_RAW, IPPROTO_ESP), batched with recvmmsg/sendmmsg like the UDP socket.
 *
 * Receive: the kernel hands raw IPv4 sockets the whole datagram including the IP header (fragments
 * already reassembled); we strip the header (IHL) and deliver the ESP payload (SPI onwards) with
 * the IP source and destination. Send: the kernel builds the IP header (no IP_HDRINCL); the
 * caller gives the ESP payload and the peer address, optionally the source address (IP_PKTINFO).
 *
 * Without CAP_NET_RAW socket() fails with EPERM: that is `OAK_E_PLATFORM_PERMISSION_DENIED`,
 * with a message telling the operator to run as root or force UDP encapsulation.
 * Left out: IPv6 (next header 50 over AF_INET6).
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
  sockaddrIn,
} from "./native/sys.js";
import { type SocketStats, emptyStats } from "./udp.js";

export interface EspPacketInfo {
  /** IP source of the packet (the peer). */
  readonly source: string;
  /** IP destination (our address it was sent to). */
  readonly destination: string;
}

/** `payload` is the ESP packet from the SPI on; a copy the handler may keep. */
export type EspPacketHandler = (payload: Buffer, info: EspPacketInfo) => void;

export interface RawEspOptions {
  /** Only receive packets sent to this local address (bind); default all addresses. */
  localAddress?: string;
  batch?: number;
  receiveBuffer?: number;
  sendBuffer?: number;
}

export const RAW_ESP_PERMISSION_MESSAGE =
  "cannot open a raw ESP socket (IP protocol 50): permission denied; run the daemon as root " +
  "(or with CAP_NET_RAW), or force UDP encapsulation (ESP in UDP 4500) for all SAs";

export class RawEspSocket {
  private handler: EspPacketHandler = () => {};
  private errorHandler: (e: PlatformError) => void = () => {};
  private finalCounters: SocketStats = emptyStats();

  private constructor(
    private io: BatchedFd | undefined,
    private readonly boundAddr: number,
  ) {}

  static open(opts: RawEspOptions = {}): Result<RawEspSocket, PlatformError> {
    let fd = -1;
    try {
      const addr =
        opts.localAddress === undefined ? 0 : requireIpv4(opts.localAddress, "ESP local address");
      fd = libc.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, C.IPPROTO_ESP);
      if (fd < 0) {
        const e = errnoOf();
        if (e === E.EPERM || e === E.EACCES) {
          return err(
            platformError(PlatformErrorCode.PermissionDenied, RAW_ESP_PERMISSION_MESSAGE, {
              syscall: "socket(AF_INET, SOCK_RAW, IPPROTO_ESP)",
              errno: e,
            }),
          );
        }
        check(-1, "socket(AF_INET, SOCK_RAW, IPPROTO_ESP)", "", e);
      }
      if (opts.receiveBuffer) setBufferSize(fd, "rcv", opts.receiveBuffer);
      if (opts.sendBuffer) setBufferSize(fd, "snd", opts.sendBuffer);
      if (addr !== 0)
        check(libc.bind(fd, sockaddrIn(addr, 0), 16), "bind", opts.localAddress ?? "");
      const io = new BatchedFd(fd, {
        batch: opts.batch ?? 64,
        slotSize: 65535,
        sendQueueLimit: 4096,
        maxRounds: 8,
      });
      const s = new RawEspSocket(io, addr);
      io.onReceive = (slot) => s.deliver(slot.data);
      io.onError = (e) => s.errorHandler(e);
      io.start();
      return ok(s);
    } catch (e) {
      if (fd >= 0) closeFd(fd);
      if (e instanceof PlatformFailure) return err(e.error);
      throw e;
    }
  }

  private deliver(pkt: Buffer): void {
    // IPv4 header: version/IHL, ..., protocol at 9, source at 12, destination at 16.
    if (pkt.length < 20 || pkt[0]! >> 4 !== 4) {
      this.dropMalformed();
      return;
    }
    const ihl = (pkt[0]! & 0x0f) * 4;
    if (ihl < 20 || pkt.length < ihl || pkt[9] !== C.IPPROTO_ESP) {
      this.dropMalformed();
      return;
    }
    this.handler(Buffer.from(pkt.subarray(ihl)), {
      source: formatIpv4(pkt.readUInt32BE(12)),
      destination: formatIpv4(pkt.readUInt32BE(16)),
    });
  }

  private dropMalformed(): void {
    if (this.io) this.io.counters.rxMalformed++;
  }

  onPacket(handler: EspPacketHandler): void {
    this.handler = handler;
  }

  onError(handler: (e: PlatformError) => void): void {
    this.errorHandler = handler;
  }

  /** Queues one ESP payload to `peer`; sent with the rest of this tick's packets. Never throws. */
  send(payload: Uint8Array, peer: string, localAddress?: string): void {
    const io = this.io;
    if (!io) {
      this.errorHandler(platformError(PlatformErrorCode.Closed, "send on a closed ESP socket"));
      return;
    }
    const dst = parseIpv4(peer);
    const src = localAddress === undefined ? 0 : parseIpv4(localAddress);
    if (dst === undefined || src === undefined) {
      io.counters.txDropped++;
      this.errorHandler(
        platformError(PlatformErrorCode.BadArgument, `ESP send to "${peer}": not an IPv4 address`),
      );
      return;
    }
    io.enqueue(payload, dst, 0, src === this.boundAddr ? 0 : src);
  }

  flush(): void {
    this.io?.flush();
  }

  stats(): SocketStats {
    return { ...(this.io?.counters ?? this.finalCounters) };
  }

  close(): void {
    if (!this.io) return;
    this.finalCounters = this.io.counters;
    this.io.close();
    this.io = undefined;
  }
}
