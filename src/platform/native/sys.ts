/**
 * Checked wrappers over native/libc.ts: each call's return value is checked, and on failure errno
 * is read at once and thrown as a PlatformFailure naming the syscall (callers in platform/ catch
 * it and return a Result). Also IPv4 address helpers shared by the socket implementations.
 */
import { E, PlatformErrorCode, PlatformFailure, platformError, syscallError } from "../errors.js";
import { C, type Ptr, errno, libc } from "./libc.js";

/** errno of the last failed call; read it before any other native call. */
export function errnoOf(): number {
  return errno();
}

/** Returns `ret`, or throws a PlatformFailure naming `syscall` when `ret` < 0. */
export function check(ret: number, syscall: string, context = "", knownErrno?: number): number {
  if (ret < 0) throw new PlatformFailure(syscallError(syscall, knownErrno ?? errno(), context));
  return ret;
}

/** Like check() but returns -errno for EAGAIN/EWOULDBLOCK/EINTR instead of throwing. */
export function checkAgain(ret: number, syscall: string): number {
  if (ret >= 0) return ret;
  const e = errno();
  if (e === E.EAGAIN || e === E.EWOULDBLOCK || e === E.EINTR) return -e;
  throw new PlatformFailure(syscallError(syscall, e));
}

export function setIntOption(
  fd: number,
  level: number,
  name: number,
  value: number,
  label: string,
): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  check(libc.setsockopt(fd, level, name, b, 4), `setsockopt(${label})`);
}

/** Like setIntOption, but returns false instead of throwing (optional features). */
export function trySetIntOption(fd: number, level: number, name: number, value: number): boolean {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return libc.setsockopt(fd, level, name, b, 4) === 0;
}

/**
 * Sets SO_RCVBUF/SO_SNDBUF; as root the *FORCE variant lifts the net.core.[rw]mem_max cap, and
 * without the privilege we fall back to the capped option.
 */
export function setBufferSize(fd: number, which: "rcv" | "snd", bytes: number): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(bytes, 0);
  const force = which === "rcv" ? C.SO_RCVBUFFORCE : C.SO_SNDBUFFORCE;
  if (libc.setsockopt(fd, C.SOL_SOCKET, force, b, 4) === 0) return;
  const plain = which === "rcv" ? C.SO_RCVBUF : C.SO_SNDBUF;
  check(
    libc.setsockopt(fd, C.SOL_SOCKET, plain, b, 4),
    which === "rcv" ? "setsockopt(SO_RCVBUF)" : "setsockopt(SO_SNDBUF)",
  );
}

/** Reads and clears SO_ERROR (pending asynchronous error, e.g. from ICMP). Returns 0 if none. */
export function takeSocketError(fd: number): number {
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4, 0);
  if (libc.getsockopt(fd, C.SOL_SOCKET, C.SO_ERROR, v, len) < 0) return errno();
  return v.readInt32LE(0);
}

export function closeFd(fd: number): void {
  libc.close(fd);
}

// --- IPv4 addresses ----------------------------------------------------------------------------

/** Parses dotted-quad IPv4 into a host-order uint32, or undefined. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (p.length === 0 || p.length > 3 || !/^\d+$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function requireIpv4(s: string, what: string): number {
  const v = parseIpv4(s);
  if (v === undefined) {
    throw new PlatformFailure(
      platformError(PlatformErrorCode.BadArgument, `${what}: "${s}" is not an IPv4 address`),
    );
  }
  return v;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Writes a sockaddr_in at `off` in `b`. */
export function writeSockaddrIn(b: Buffer, off: number, addr: number, port: number): void {
  b.writeUInt16LE(C.AF_INET, off);
  b.writeUInt16BE(port, off + 2);
  b.writeUInt32BE(addr, off + 4);
  b.fill(0, off + 8, off + 16);
}

export function sockaddrIn(addr: number, port: number): Buffer {
  const b = Buffer.alloc(16);
  writeSockaddrIn(b, 0, addr, port);
  return b;
}

export type { Ptr };
