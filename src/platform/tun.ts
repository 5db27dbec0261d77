/**
 * TUN device (Linux, Documentation/networking/tuntap.rst): open /dev/net/tun, TUNSETIFF with
 * IFF_TUN | IFF_NO_PI (bare IP packets, no 4-byte packet-information header), non-blocking reads
 * and writes of whole IP packets, readiness from Node's libuv loop.
 *
 * Interface configuration (address, point-to-point peer, netmask, MTU, up/down, routes) uses
 * the classic ioctls on an AF_INET socket (netdevice(7): SIOCSIFADDR, SIOCSIFDSTADDR,
 * SIOCSIFNETMASK, SIOCSIFMTU, SIOCSIFFLAGS; route(4)-style SIOCADDRT/SIOCDELRT) — no child
 * processes and no dependency on iproute2 on the deployed host; each failure names the ioctl.
 *
 * The device is not persistent (no TUNSETPERSIST): the kernel removes it, with its addresses and
 * routes, when the fd is closed — including when the process crashes. cleanupStale() removes a
 * leftover interface of the same name (e.g. a persistent one made by another tool) before open.
 *
 * A TUN fd has no recvmmsg: a readable callback reads packets in a loop (up to `readBatch`)
 * and hands them over as one batch. MSS clamping is the data plane's job, not done here.
 *
 * Offloads (`offload: true`; tun-offload.ts): the device is opened with IFF_VNET_HDR and
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4), so one read may carry a TCP/IPv4 super-packet
 * of up to 64 KiB, which is cut into MSS-sized segments here (the handler still sees ordinary
 * packets), and `write` merges in-order TCP/IPv4 segments of a flow into one super-packet written
 * at the end of the event-loop turn (or on `flush()`). Without the offload ioctl (old kernel) the
 * device still works, just without super-packets.
 * Left out: IPv6 addresses/routes, multi-queue (IFF_MULTI_QUEUE).
 */
import { type Result, err, ok } from "../base/result.js";
import {
  E,
  type PlatformError,
  PlatformErrorCode,
  PlatformFailure,
  platformError,
} from "./errors.js";
import { runIp } from "./ip-command.js";
import { C, Layout, addressOf, libc } from "./native/libc.js";
import { Poller } from "./native/poller.js";
import { check, checkAgain, closeFd, errnoOf, requireIpv4 } from "./native/sys.js";
import {
  TcpGroup,
  type TcpSegmentInfo,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VNET_HDR_LEN,
  type VnetHdr,
  coalescable,
  completeChecksum,
  readVnetHdr,
  segmentTcp,
  writeVnetHdr,
} from "./tun-offload.js";

/** Open TCP groups (flows being merged) at once; more flows are written one by one. */
const MAX_GROUPS = 8;
/** Read offset in the read buffer: puts the IP header 4-aligned after a 10-octet vnet header. */
const READ_AT = 2;

export const IFNAMSIZ = 16;

export interface TunOptions {
  /** Interface name, at most 15 bytes; a `%d` template ("oak%d") lets the kernel pick. */
  name: string;
  /** Largest packet read (default 65535). */
  maxPacket?: number;
  /** Packets read per readiness callback before yielding (default 64). */
  readBatch?: number;
  /** TSO/checksum offload with user-space segmentation and coalescing (default false). */
  offload?: boolean;
}

export interface TunAddress {
  /** Our address on the point-to-point link. */
  local: string;
  /** The peer's address (SIOCSIFDSTADDR); omit for a subnet-style address with `prefixLength`. */
  peer?: string;
  /** Netmask length; default 32. */
  prefixLength?: number;
}

export interface TunStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Writes that failed (EAGAIN: device queue full, EIO: device down...), in packets. */
  txDropped: number;
  /** Offload: TCP super-packets read (and cut into segments, counted in rxPackets). */
  rxSuperPackets: number;
  /** Offload: reads dropped (a super-packet that could not be cut, an unknown gso_type). */
  rxDropped: number;
  /** Offload: super-packets written (merged segments, counted in txPackets). */
  txSuperPackets: number;
}

/** `packets` are copies the handler may keep. */
export type TunPacketsHandler = (packets: readonly Buffer[]) => void;

function fail(code: PlatformErrorCode, message: string, syscall?: string, errno?: number): never {
  const extra: { syscall?: string; errno?: number } = {};
  if (syscall !== undefined) extra.syscall = syscall;
  if (errno !== undefined) extra.errno = errno;
  throw new PlatformFailure(platformError(code, message, extra));
}

function ifreq(name: string): Buffer {
  const b = Buffer.alloc(Layout.ifreq);
  const n = Buffer.from(name, "utf8");
  if (n.length === 0 || n.length >= IFNAMSIZ || n.includes(0) || /[\s/]/.test(name)) {
    fail(
      PlatformErrorCode.BadArgument,
      `interface name "${name}" must be 1-15 bytes, no spaces or "/"`,
    );
  }
  n.copy(b, 0);
  return b;
}

function ifreqName(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? IFNAMSIZ : Math.min(end, IFNAMSIZ)).toString("utf8");
}

function prefixToMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** A control socket for interface ioctls (closed after each operation). */
function withCtlSocket<T>(f: (fd: number) => T): T {
  const fd = check(
    libc.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0),
    "socket(AF_INET, SOCK_DGRAM)",
  );
  try {
    return f(fd);
  } finally {
    closeFd(fd);
  }
}

function ioctl(fd: number, req: number, arg: Buffer, label: string, context: string): void {
  check(libc.ioctl(fd, req, arg), `ioctl(${label})`, context);
}

function setIfAddr(fd: number, name: string, req: number, label: string, addr: number): void {
  const r = ifreq(name);
  r.writeUInt16LE(C.AF_INET, Layout.ifrUnion);
  r.writeUInt32BE(addr, Layout.ifrUnion + 4);
  ioctl(fd, req, r, label, name);
}

function ifFlags(fd: number, name: string): number {
  const r = ifreq(name);
  ioctl(fd, C.SIOCGIFFLAGS, r, "SIOCGIFFLAGS", name);
  return r.readUInt16LE(Layout.ifrUnion);
}

function guard<T>(f: () => T): Result<T, PlatformError> {
  try {
    return ok(f());
  } catch (e) {
    if (e instanceof PlatformFailure) return err(e.error);
    throw e;
  }
}

export interface RouteSpec {
  /** Destination network address, e.g. "198.51.100.0". */
  destination: string;
  prefixLength: number;
  /** Next hop; omit for a route straight onto the device. */
  gateway?: string;
  metric?: number;
}

function rtentry(dev: Buffer, r: RouteSpec): Buffer {
  if (!Number.isInteger(r.prefixLength) || r.prefixLength < 0 || r.prefixLength > 32) {
    fail(PlatformErrorCode.BadArgument, `route prefix length ${r.prefixLength} is not 0-32`);
  }
  const dst = requireIpv4(r.destination, "route destination");
  const mask = prefixToMask(r.prefixLength);
  const b = Buffer.alloc(Layout.rtentry);
  const sa = (off: number, a: number): void => {
    b.writeUInt16LE(C.AF_INET, off);
    b.writeUInt32BE(a, off + 4);
  };
  sa(Layout.rtDst, (dst & mask) >>> 0);
  sa(Layout.rtGenmask, mask);
  let flags = C.RTF_UP;
  if (r.prefixLength === 32) flags |= C.RTF_HOST;
  if (r.gateway !== undefined) {
    sa(Layout.rtGateway, requireIpv4(r.gateway, "route gateway"));
    flags |= C.RTF_GATEWAY;
  }
  b.writeUInt16LE(flags, Layout.rtFlags);
  // rt_metric is "metric + 1" in this legacy interface (0 means "default", shown as metric 0).
  b.writeInt16LE((r.metric ?? 0) + 1, Layout.rtMetric);
  b.writeBigUInt64LE(addressOf(dev), Layout.rtDev);
  return b;
}

export class TunDevice {
  private poller: Poller | undefined;
  private handler: TunPacketsHandler = () => {};
  private errorHandler: (e: PlatformError) => void = () => {};
  private readonly readBuf: Buffer;
  private readonly readPtr: bigint;
  private readonly counters: TunStats = {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    txDropped: 0,
    rxSuperPackets: 0,
    rxDropped: 0,
    txSuperPackets: 0,
  };
  private routes: RouteSpec[] = [];
  /** Offload state (when opened with IFF_VNET_HDR). */
  private readonly hdr: VnetHdr = {
    flags: 0,
    gsoType: 0,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: 0,
    csumOffset: 0,
  };
  private readonly segs: Buffer[] = [];
  private readonly info: TcpSegmentInfo = { ipLen: 0, tcpLen: 0, payload: 0, seq: 0, flags: 0 };
  private readonly open: TcpGroup[] = [];
  private readonly free: TcpGroup[] = [];
  private writeBuf: Buffer | undefined;
  private flushScheduled = false;

  private constructor(
    private fd: number,
    readonly name: string,
    private readonly readBatch: number,
    private readonly maxPacket: number,
    /** True when every read and write carries a virtio_net_hdr. */
    readonly vnetHdr: boolean,
    /** True when the kernel accepted TUNSETOFFLOAD (super-packets on read and write). */
    readonly offloaded: boolean,
  ) {
    this.readBuf = Buffer.allocUnsafeSlow(maxPacket + (vnetHdr ? VNET_HDR_LEN + READ_AT : 0));
    this.readPtr = addressOf(this.readBuf);
    if (vnetHdr) this.writeBuf = Buffer.allocUnsafeSlow(maxPacket + VNET_HDR_LEN);
  }

  /** Creates the interface (down, no address). Needs CAP_NET_ADMIN. */
  static open(opts: TunOptions): Result<TunDevice, PlatformError> {
    return guard(() => {
      const req = ifreq(opts.name);
      const fd = libc.open("/dev/net/tun", C.O_RDWR | C.O_NONBLOCK | C.O_CLOEXEC);
      if (fd < 0) {
        const e = errnoOf();
        if (e === E.ENOENT || e === E.ENODEV || e === E.ENXIO) {
          fail(
            PlatformErrorCode.TunUnavailable,
            "/dev/net/tun is not available: load the tun module (modprobe tun) or give the container the device",
            "open(/dev/net/tun)",
            e,
          );
        }
        if (e === E.EPERM || e === E.EACCES) {
          fail(
            PlatformErrorCode.PermissionDenied,
            "cannot open /dev/net/tun: permission denied; run as root or with CAP_NET_ADMIN",
            "open(/dev/net/tun)",
            e,
          );
        }
        check(-1, "open(/dev/net/tun)", "", e);
      }
      const vnet = opts.offload === true;
      req.writeUInt16LE(C.IFF_TUN | C.IFF_NO_PI | (vnet ? C.IFF_VNET_HDR : 0), Layout.ifrUnion);
      if (libc.ioctl(fd, C.TUNSETIFF, req) < 0) {
        const e = errnoOf();
        closeFd(fd);
        if (e === E.EPERM || e === E.EACCES) {
          fail(
            PlatformErrorCode.PermissionDenied,
            `cannot create TUN device "${opts.name}": permission denied; run as root or with CAP_NET_ADMIN`,
            "ioctl(TUNSETIFF)",
            e,
          );
        }
        if (e === E.EBUSY) {
          fail(
            PlatformErrorCode.AddrInUse,
            `TUN device "${opts.name}" is in use by another process (or a stale interface of another type has that name)`,
            "ioctl(TUNSETIFF)",
            e,
          );
        }
        check(-1, "ioctl(TUNSETIFF)", opts.name, e);
      }
      // TSO on a TUN needs the checksum offload too; without TUNSETOFFLOAD (old kernel) the
      // vnet header stays, with plain packets in it.
      const offloaded =
        vnet && libc.ioctlValue(fd, C.TUNSETOFFLOAD, C.TUN_F_CSUM | C.TUN_F_TSO4) === 0;
      const dev = new TunDevice(
        fd,
        ifreqName(req),
        opts.readBatch ?? 64,
        opts.maxPacket ?? 65535,
        vnet,
        offloaded,
      );
      dev.poller = new Poller(
        fd,
        {
          readable: () => dev.drain(),
          writable: () => {},
          error: () =>
            dev.errorHandler(
              platformError(
                PlatformErrorCode.Syscall,
                `TUN device ${dev.name} reported an error (detached?)`,
                {
                  syscall: "poll",
                },
              ),
            ),
        },
        false,
      );
      return dev;
    });
  }

  /**
   * Removes a leftover interface called `name` (after a crash with a persistent device, or another
   * tool's). Returns ok(true) when one was removed, ok(false) when none existed. Uses `ip link
   * delete`, since deleting a link by ioctl is not possible.
   */
  static async cleanupStale(name: string): Promise<Result<boolean, PlatformError>> {
    if (libc.if_nametoindex(name) === 0) return ok(false);
    const r = await runIp(["link", "delete", "dev", name]);
    if (!r.ok) return r;
    return ok(true);
  }

  /** Sets the address, peer (point-to-point) and netmask. */
  setAddress(a: TunAddress): Result<void, PlatformError> {
    return guard(() =>
      withCtlSocket((fd) => {
        const len = a.prefixLength ?? 32;
        if (!Number.isInteger(len) || len < 0 || len > 32) {
          fail(PlatformErrorCode.BadArgument, `prefix length ${len} is not 0-32`);
        }
        setIfAddr(fd, this.name, C.SIOCSIFADDR, "SIOCSIFADDR", requireIpv4(a.local, "TUN address"));
        if (a.peer !== undefined) {
          setIfAddr(
            fd,
            this.name,
            C.SIOCSIFDSTADDR,
            "SIOCSIFDSTADDR",
            requireIpv4(a.peer, "TUN peer"),
          );
        }
        setIfAddr(fd, this.name, C.SIOCSIFNETMASK, "SIOCSIFNETMASK", prefixToMask(len));
      }),
    );
  }

  setMtu(mtu: number): Result<void, PlatformError> {
    return guard(() =>
      withCtlSocket((fd) => {
        if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
          fail(PlatformErrorCode.BadArgument, `MTU ${mtu} is not 68-65535`);
        }
        const r = ifreq(this.name);
        r.writeInt32LE(mtu, Layout.ifrUnion);
        ioctl(fd, C.SIOCSIFMTU, r, "SIOCSIFMTU", this.name);
      }),
    );
  }

  setUp(up: boolean): Result<void, PlatformError> {
    return guard(() =>
      withCtlSocket((fd) => {
        const flags = ifFlags(fd, this.name);
        const r = ifreq(this.name);
        r.writeUInt16LE(up ? flags | C.IFF_UP : flags & ~C.IFF_UP, Layout.ifrUnion);
        ioctl(fd, C.SIOCSIFFLAGS, r, "SIOCSIFFLAGS", this.name);
      }),
    );
  }

  /** Adds a route through this device (the device must be up). Removed when the device goes. */
  addRoute(route: RouteSpec): Result<void, PlatformError> {
    return guard(() =>
      withCtlSocket((fd) => {
        const dev = Buffer.from(`${this.name}\0`, "utf8");
        const ctx = `${route.destination}/${route.prefixLength} dev ${this.name}`;
        ioctl(fd, C.SIOCADDRT, rtentry(dev, route), "SIOCADDRT", ctx);
        this.routes.push(route);
      }),
    );
  }

  deleteRoute(route: RouteSpec): Result<void, PlatformError> {
    return guard(() =>
      withCtlSocket((fd) => {
        const dev = Buffer.from(`${this.name}\0`, "utf8");
        const ctx = `${route.destination}/${route.prefixLength} dev ${this.name}`;
        ioctl(fd, C.SIOCDELRT, rtentry(dev, route), "SIOCDELRT", ctx);
        this.routes = this.routes.filter((r) => r !== route);
      }),
    );
  }

  onPackets(handler: TunPacketsHandler): void {
    this.handler = handler;
  }

  onError(handler: (e: PlatformError) => void): void {
    this.errorHandler = handler;
  }

  private drain(): void {
    const batch: Buffer[] = [];
    const vnet = this.vnetHdr;
    const at = vnet ? READ_AT : 0;
    const ptr = vnet ? this.readPtr + BigInt(READ_AT) : this.readPtr;
    const room = vnet ? this.maxPacket + VNET_HDR_LEN : this.readBuf.length;
    for (let i = 0; i < this.readBatch && this.fd >= 0; i++) {
      let n: number;
      try {
        n = checkAgain(libc.read(this.fd, ptr, room), "read(tun)");
      } catch (e) {
        if (e instanceof PlatformFailure) this.errorHandler(e.error);
        break;
      }
      if (n <= 0) break;
      if (!vnet) {
        this.counters.rxPackets++;
        this.counters.rxBytes += n;
        batch.push(Buffer.from(this.readBuf.subarray(0, n)));
        continue;
      }
      if (n < VNET_HDR_LEN) {
        this.counters.rxDropped++;
        continue;
      }
      const h = this.hdr;
      readVnetHdr(this.readBuf, at, h);
      const pkt = this.readBuf.subarray(at + VNET_HDR_LEN, at + n);
      if (h.gsoType === VIRTIO_NET_HDR_GSO_NONE) {
        if (
          (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 &&
          !completeChecksum(pkt, h.csumStart, h.csumOffset)
        ) {
          this.counters.rxDropped++;
          continue;
        }
        this.counters.rxPackets++;
        this.counters.rxBytes += pkt.length;
        batch.push(Buffer.from(pkt));
        continue;
      }
      if (
        (h.gsoType !== VIRTIO_NET_HDR_GSO_TCPV4 && h.gsoType !== VIRTIO_NET_HDR_GSO_TCPV6) ||
        !segmentTcp(pkt, h.gsoSize, this.segs)
      ) {
        this.counters.rxDropped++;
        continue;
      }
      this.counters.rxSuperPackets++;
      for (const s of this.segs) {
        this.counters.rxPackets++;
        this.counters.rxBytes += s.length;
        batch.push(s);
      }
      // Hand over in slices of a few super-packets: keeps the consumer's bursts bounded.
      if (batch.length >= 256) this.deliver(batch.splice(0));
    }
    if (batch.length > 0) this.deliver(batch);
  }

  private deliver(batch: Buffer[]): void {
    try {
      this.handler(batch);
    } catch (e) {
      this.errorHandler(
        platformError(PlatformErrorCode.Syscall, `TUN packet handler threw: ${String(e)}`),
      );
    }
  }

  /**
   * Writes one IP packet to the kernel. Returns false (and counts a drop) when it was not taken.
   * With offloads, a TCP/IPv4 segment may instead be merged with others of its flow and written
   * at the end of the event-loop turn or on flush() (true: accepted; a later failure is counted
   * in txDropped). `packet` need not stay valid after the call.
   */
  write(packet: Uint8Array): boolean {
    if (this.fd < 0) return false;
    if (!this.vnetHdr) return this.writeRaw(packet, packet.byteLength, 1);
    if (this.offloaded && coalescable(packet, this.info)) {
      this.merge(packet);
      return true;
    }
    // Not mergeable: keep the flow's order by writing its open group first.
    if (this.open.length > 0 && packet.byteLength >= 24 && packet[0]! >> 4 === 4) {
      for (let i = 0; i < this.open.length; i++) {
        const g = this.open[i]!;
        if (g.sameFlow(packet)) {
          this.writeGroup(g);
          this.open.splice(i, 1);
          this.free.push(g);
          break;
        }
      }
    }
    const wb = this.writeBuf!;
    if (packet.byteLength + VNET_HDR_LEN > wb.length) {
      this.counters.txDropped++;
      return false;
    }
    writeVnetHdr(wb, 0, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
    wb.set(packet, VNET_HDR_LEN);
    return this.writeRaw(wb, packet.byteLength + VNET_HDR_LEN, 1);
  }

  private merge(packet: Uint8Array): void {
    const info = this.info;
    let g: TcpGroup | undefined;
    for (let i = 0; i < this.open.length; i++) {
      const o = this.open[i]!;
      if (!o.sameFlow(packet)) continue;
      if (o.append(packet, info)) {
        if (o.closed) {
          this.writeGroup(o);
          this.open.splice(i, 1);
          this.free.push(o);
        }
        return;
      }
      // Same flow but not a continuation: write what we have, start again with this one.
      this.writeGroup(o);
      this.open.splice(i, 1);
      g = o;
      break;
    }
    if (g === undefined) {
      if (this.open.length >= MAX_GROUPS) {
        g = this.open.shift()!;
        this.writeGroup(g);
      } else {
        g = this.free.pop() ?? new TcpGroup(Buffer.allocUnsafeSlow(65535 + VNET_HDR_LEN));
      }
    }
    g.start(packet, info);
    if (g.closed) {
      this.writeGroup(g);
      this.free.push(g);
      return;
    }
    this.open.push(g);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.scheduledFlush);
    }
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Writes the merged super-packets now (offload mode; a no-op otherwise). */
  flush(): void {
    while (this.open.length > 0) {
      const g = this.open.shift()!;
      this.writeGroup(g);
      this.free.push(g);
    }
  }

  private writeGroup(g: TcpGroup): void {
    const segments = g.segments;
    const bytes = g.finish();
    if (segments > 1) this.counters.txSuperPackets++;
    this.writeRaw(bytes, bytes.byteLength, segments);
  }

  /** One write(2) of `len` octets of `data` carrying `packets` IP packets. */
  private writeRaw(data: Uint8Array, len: number, packets: number): boolean {
    if (this.fd < 0) return false;
    const n = libc.write(this.fd, data, len);
    if (n !== len) {
      const e = n < 0 ? errnoOf() : 0;
      this.counters.txDropped += packets;
      if (e !== E.EAGAIN && e !== E.EWOULDBLOCK) {
        this.errorHandler(
          platformError(PlatformErrorCode.Syscall, `write to TUN ${this.name} failed`, {
            syscall: "write(tun)",
            errno: e,
          }),
        );
      }
      return false;
    }
    this.counters.txPackets += packets;
    this.counters.txBytes += n - (this.vnetHdr ? VNET_HDR_LEN : 0);
    return true;
  }

  writeMany(packets: readonly Uint8Array[]): number {
    let ok = 0;
    for (const p of packets) if (this.write(p)) ok++;
    return ok;
  }

  stats(): TunStats {
    return { ...this.counters };
  }

  /** Closes the fd; the kernel deletes the interface, its addresses and routes. */
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    this.poller?.close();
    this.poller = undefined;
    closeFd(this.fd);
    this.fd = -1;
  }
}
