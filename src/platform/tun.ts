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
 * Left out: IPv6 addresses/routes, multi-queue (IFF_MULTI_QUEUE), offloads (TUNSETOFFLOAD).
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

export const IFNAMSIZ = 16;

export interface TunOptions {
  /** Interface name, at most 15 bytes; a `%d` template ("oak%d") lets the kernel pick. */
  name: string;
  /** Largest packet read (default 65535). */
  maxPacket?: number;
  /** Packets read per readiness callback before yielding (default 64). */
  readBatch?: number;
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
  /** Writes that failed (EAGAIN: device queue full, EIO: device down...). */
  txDropped: number;
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
  };
  private routes: RouteSpec[] = [];

  private constructor(
    private fd: number,
    readonly name: string,
    private readonly readBatch: number,
    maxPacket: number,
  ) {
    this.readBuf = Buffer.allocUnsafeSlow(maxPacket);
    this.readPtr = addressOf(this.readBuf);
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
      req.writeUInt16LE(C.IFF_TUN | C.IFF_NO_PI, Layout.ifrUnion);
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
      const dev = new TunDevice(fd, ifreqName(req), opts.readBatch ?? 64, opts.maxPacket ?? 65535);
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
    for (let i = 0; i < this.readBatch && this.fd >= 0; i++) {
      let n: number;
      try {
        n = checkAgain(libc.read(this.fd, this.readPtr, this.readBuf.length), "read(tun)");
      } catch (e) {
        if (e instanceof PlatformFailure) this.errorHandler(e.error);
        break;
      }
      if (n <= 0) break;
      this.counters.rxPackets++;
      this.counters.rxBytes += n;
      batch.push(Buffer.from(this.readBuf.subarray(0, n)));
    }
    if (batch.length > 0) {
      try {
        this.handler(batch);
      } catch (e) {
        this.errorHandler(
          platformError(PlatformErrorCode.Syscall, `TUN packet handler threw: ${String(e)}`),
        );
      }
    }
  }

  /** Writes one IP packet to the kernel. Returns false (and counts a drop) when it was not taken. */
  write(packet: Uint8Array): boolean {
    if (this.fd < 0) return false;
    const n = libc.write(this.fd, packet, packet.byteLength);
    if (n !== packet.byteLength) {
      const e = n < 0 ? errnoOf() : 0;
      this.counters.txDropped++;
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
    this.counters.txPackets++;
    this.counters.txBytes += n;
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
    this.poller?.close();
    this.poller = undefined;
    closeFd(this.fd);
    this.fd = -1;
  }
}
