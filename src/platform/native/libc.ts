/**
 * The only file that declares native (libc) functions, structure layouts and constants used by
 * platform/. Linux only; layouts are those of the x86-64 and aarch64 LP64 ABIs (checked at load
 * time against koffi's computed sizes, so a wrong layout fails loudly instead of corrupting memory).
 *
 * Structures (see the Linux man pages socket(7), ip(7), recvmmsg(2), netdevice(7), route(4)):
 *   sockaddr_in   { u16 sin_family; u16 sin_port (BE); u32 sin_addr (BE); u8 zero[8] }   16 bytes
 *   iovec         { void *iov_base; size_t iov_len }                                     16 bytes
 *   msghdr        { void *name; u32 namelen; iovec *iov; size_t iovlen; void *control;
 *                   size_t controllen; int flags }                                        56 bytes
 *   mmsghdr       { msghdr hdr; u32 msg_len }                                             64 bytes
 *   cmsghdr       { size_t len; int level; int type; data[] }                             16 + data
 *   in_pktinfo    { int ipi_ifindex; u32 ipi_spec_dst; u32 ipi_addr }                     12 bytes
 *   ifreq         { char ifr_name[16]; union { sockaddr; short flags; int mtu; ... } }    40 bytes
 *   rtentry       (legacy SIOCADDRT route request)                                       120 bytes
 *
 * Batched message headers are written by hand into Node-owned buffers (offsets below come from
 * the koffi definitions), so the hot path marshals nothing per call: the functions take raw
 * pointers (`bigint`) to memory we keep alive.
 *
 * Left out: IPv6 (AF_INET6 / IPV6_PKTINFO) — the product's addresses are IPv4 today.
 */
import koffi from "koffi";

/** A native pointer as koffi 3 passes it: a bigint address (or a Buffer, whose data it passes). */
export type Ptr = bigint | Uint8Array | null;

const lib = koffi.load("libc.so.6");

// --- structure definitions (the single source of layout truth) ---------------------------------

export const SockaddrIn = koffi.struct("oak_sockaddr_in", {
  sin_family: "uint16_t",
  sin_port: "uint16_t",
  sin_addr: "uint32_t",
  sin_zero: koffi.array("uint8_t", 8),
});
export const Iovec = koffi.struct("oak_iovec", { iov_base: "void *", iov_len: "size_t" });
export const Msghdr = koffi.struct("oak_msghdr", {
  msg_name: "void *",
  msg_namelen: "uint32_t",
  msg_iov: "void *",
  msg_iovlen: "size_t",
  msg_control: "void *",
  msg_controllen: "size_t",
  msg_flags: "int",
});
export const Mmsghdr = koffi.struct("oak_mmsghdr", { msg_hdr: Msghdr, msg_len: "uint32_t" });
export const Cmsghdr = koffi.struct("oak_cmsghdr", {
  cmsg_len: "size_t",
  cmsg_level: "int",
  cmsg_type: "int",
});
export const InPktinfo = koffi.struct("oak_in_pktinfo", {
  ipi_ifindex: "int",
  ipi_spec_dst: "uint32_t",
  ipi_addr: "uint32_t",
});
/** struct ifreq: name plus a 24-byte union (sockaddr / flags / mtu / ifindex). */
export const Ifreq = koffi.struct("oak_ifreq", {
  ifr_name: koffi.array("uint8_t", 16),
  ifr_ifru: koffi.array("uint8_t", 24),
});
export const Sockaddr = koffi.struct("oak_sockaddr", {
  sa_family: "uint16_t",
  sa_data: koffi.array("uint8_t", 14),
});
export const Rtentry = koffi.struct("oak_rtentry", {
  rt_pad1: "unsigned long",
  rt_dst: Sockaddr,
  rt_gateway: Sockaddr,
  rt_genmask: Sockaddr,
  rt_flags: "unsigned short",
  rt_pad2: "short",
  rt_pad3: "unsigned long",
  rt_pad4: "void *",
  rt_metric: "short",
  rt_dev: "void *",
  rt_mtu: "unsigned long",
  rt_window: "unsigned long",
  rt_irtt: "unsigned short",
});

/** Byte offsets used when writing headers by hand (derived from the definitions above). */
export const Layout = {
  sockaddrIn: koffi.sizeof(SockaddrIn),
  iovec: koffi.sizeof(Iovec),
  mmsghdr: koffi.sizeof(Mmsghdr),
  msgName: koffi.offsetof(Msghdr, "msg_name"),
  msgNamelen: koffi.offsetof(Msghdr, "msg_namelen"),
  msgIov: koffi.offsetof(Msghdr, "msg_iov"),
  msgIovlen: koffi.offsetof(Msghdr, "msg_iovlen"),
  msgControl: koffi.offsetof(Msghdr, "msg_control"),
  msgControllen: koffi.offsetof(Msghdr, "msg_controllen"),
  msgFlags: koffi.offsetof(Msghdr, "msg_flags"),
  msgLen: koffi.offsetof(Mmsghdr, "msg_len"),
  iovBase: koffi.offsetof(Iovec, "iov_base"),
  iovLen: koffi.offsetof(Iovec, "iov_len"),
  cmsghdr: koffi.sizeof(Cmsghdr),
  cmsgLevel: koffi.offsetof(Cmsghdr, "cmsg_level"),
  cmsgType: koffi.offsetof(Cmsghdr, "cmsg_type"),
  inPktinfo: koffi.sizeof(InPktinfo),
  ifreq: koffi.sizeof(Ifreq),
  ifrUnion: koffi.offsetof(Ifreq, "ifr_ifru"),
  rtentry: koffi.sizeof(Rtentry),
  rtDst: koffi.offsetof(Rtentry, "rt_dst"),
  rtGateway: koffi.offsetof(Rtentry, "rt_gateway"),
  rtGenmask: koffi.offsetof(Rtentry, "rt_genmask"),
  rtFlags: koffi.offsetof(Rtentry, "rt_flags"),
  rtMetric: koffi.offsetof(Rtentry, "rt_metric"),
  rtDev: koffi.offsetof(Rtentry, "rt_dev"),
} as const;

const expected: Record<string, number> = {
  sockaddrIn: 16,
  iovec: 16,
  mmsghdr: 64,
  cmsghdr: 16,
  inPktinfo: 12,
  ifreq: 40,
  rtentry: 120,
};
for (const [k, v] of Object.entries(expected)) {
  if (Layout[k as keyof typeof Layout] !== v) {
    throw new Error(
      `platform/native: unexpected ABI, sizeof ${k} = ${Layout[k as keyof typeof Layout]}`,
    );
  }
}

/** CMSG_ALIGN / CMSG_SPACE / CMSG_LEN for 8-byte size_t. */
export const cmsgAlign = (n: number): number => (n + 7) & ~7;
export const cmsgSpace = (n: number): number => Layout.cmsghdr + cmsgAlign(n);
export const cmsgLen = (n: number): number => Layout.cmsghdr + n;

// --- constants (linux/include/uapi) ------------------------------------------------------------

export const C = {
  AF_INET: 2,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  IPPROTO_IP: 0,
  IPPROTO_UDP: 17,
  IPPROTO_ESP: 50,
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_ERROR: 4,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_SNDBUFFORCE: 32,
  SO_RCVBUFFORCE: 33,
  IP_PKTINFO: 8,
  SOL_UDP: 17,
  /** udp(7): generic segmentation offload on send (cmsg or option, u16 segment size). */
  UDP_SEGMENT: 103,
  /** udp(7): generic receive offload (option int; cmsg int = segment size). */
  UDP_GRO: 104,
  MSG_DONTWAIT: 0x40,
  MSG_TRUNC: 0x20,
  MSG_CTRUNC: 0x08,
  O_RDWR: 0o2,
  O_NONBLOCK: 0o4000,
  O_CLOEXEC: 0o2000000,
  TUNSETIFF: 0x400454ca,
  /** _IOW('T', 208, unsigned int): offloads the reader/writer handles (TUN_F_*). */
  TUNSETOFFLOAD: 0x400454d0,
  IFF_TUN: 0x0001,
  IFF_NO_PI: 0x1000,
  /** Each read/write starts with a struct virtio_net_hdr (10 octets by default). */
  IFF_VNET_HDR: 0x4000,
  TUN_F_CSUM: 0x01,
  TUN_F_TSO4: 0x02,
  TUN_F_TSO6: 0x04,
  IFF_UP: 0x1,
  IFF_RUNNING: 0x40,
  SIOCGIFFLAGS: 0x8913,
  SIOCSIFFLAGS: 0x8914,
  SIOCSIFADDR: 0x8916,
  SIOCSIFDSTADDR: 0x8918,
  SIOCSIFNETMASK: 0x891c,
  SIOCSIFMTU: 0x8922,
  SIOCADDRT: 0x890b,
  SIOCDELRT: 0x890c,
  RTF_UP: 0x0001,
  RTF_GATEWAY: 0x0002,
  RTF_HOST: 0x0004,
} as const;

// --- functions ---------------------------------------------------------------------------------
// Every function returns -1 (or a negative ssize_t) and sets errno on failure; callers go through
// sys.ts, which checks errno and turns it into a typed PlatformError naming the syscall.

type Fn<A extends unknown[], R> = (...args: A) => R;
const fn = <A extends unknown[], R>(decl: string): Fn<A, R> => lib.func(decl) as Fn<A, R>;

export const libc = {
  socket: fn<[number, number, number], number>("int socket(int domain, int type, int protocol)"),
  bind: fn<[number, Ptr, number], number>("int bind(int fd, void *addr, uint32_t len)"),
  getsockname: fn<[number, Ptr, Ptr], number>("int getsockname(int fd, void *addr, void *len)"),
  setsockopt: fn<[number, number, number, Ptr, number], number>(
    "int setsockopt(int fd, int level, int name, void *val, uint32_t len)",
  ),
  getsockopt: fn<[number, number, number, Ptr, Ptr], number>(
    "int getsockopt(int fd, int level, int name, void *val, void *len)",
  ),
  recvmmsg: fn<[number, Ptr, number, number, Ptr], number>(
    "int recvmmsg(int fd, void *vec, unsigned int vlen, int flags, void *timeout)",
  ),
  sendmmsg: fn<[number, Ptr, number, number], number>(
    "int sendmmsg(int fd, void *vec, unsigned int vlen, int flags)",
  ),
  open: fn<[string, number], number>("int open(const char *path, int flags)"),
  close: fn<[number], number>("int close(int fd)"),
  read: fn<[number, Ptr, number], number>("intptr_t read(int fd, void *buf, size_t n)"),
  write: fn<[number, Ptr, number], number>("intptr_t write(int fd, void *buf, size_t n)"),
  ioctl: fn<[number, number, Ptr], number>("int ioctl(int fd, unsigned long req, void *arg)"),
  /** ioctl whose argument is a value, not a pointer (TUNSETOFFLOAD). */
  ioctlValue: fn<[number, number, number], number>(
    "int ioctl(int fd, unsigned long req, unsigned long arg)",
  ),
  if_nametoindex: fn<[string], number>("unsigned int if_nametoindex(const char *name)"),
};

export function errno(): number {
  return koffi.errno();
}

/** Address of a Node-owned buffer (stable: ArrayBuffer backing stores do not move). */
export function addressOf(b: Buffer): bigint {
  return koffi.address(b);
}

// --- libuv readiness through koffi -------------------------------------------------------------

export interface PollEvents {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly disconnect: boolean;
}
export interface PollOptions {
  readable?: boolean;
  writable?: boolean;
}
/**
 * koffi's PollHandle (an undocumented but shipped API, koffi >= 2.15, `koffi.node.poll`). Its
 * bundled .d.ts says the callback gets `(events)`; the native code (src/koffi/src/uv.cc) calls it
 * with `(status, events)` — status < 0 is a libuv error, after which libuv has stopped the handle.
 */
export interface NativePollHandle {
  start(opts: PollOptions, cb: (status: number, ev: PollEvents) => void): void;
  stop(): void;
  close(): void;
}
type RawPoll = (
  fd: number,
  opts: PollOptions,
  cb: (status: number, ev: PollEvents) => void,
) => NativePollHandle | null;

export const uvPoll: RawPoll = koffi.node.poll as unknown as RawPoll;
