/**
 * Typed failures of the I/O boundary. Like WireError (src/base/errors.ts) these are values with a
 * stable `OAK_E_PLATFORM_*` code; the daemon decides what to do (e.g. enter fail-closed block mode
 * on `AddrInUse` for UDP 500/4500). Every failure of a native call names the
 * syscall and the errno.
 *
 * Deviation from CONTRIBUTING ("add codes to src/base/errors.ts"): base/ is not ours to edit, so
 * the platform codes live here; they follow the same naming and stability rules.
 */
import { constants } from "node:os";

export const PlatformErrorCode = {
  /** bind(): the address/port is taken by another socket (EADDRINUSE). */
  AddrInUse: "OAK_E_PLATFORM_ADDR_IN_USE",
  /** bind(): the address is not configured on this host (EADDRNOTAVAIL). */
  AddrNotAvailable: "OAK_E_PLATFORM_ADDR_NOT_AVAILABLE",
  /** Not allowed (EPERM/EACCES): raw sockets, TUN, privileged ports need root/CAP_NET_ADMIN/RAW. */
  PermissionDenied: "OAK_E_PLATFORM_PERMISSION_DENIED",
  /** /dev/net/tun is missing or the kernel has no TUN support. */
  TunUnavailable: "OAK_E_PLATFORM_TUN_UNAVAILABLE",
  /** Any other failed system call (see `syscall` and `errno`). */
  Syscall: "OAK_E_PLATFORM_SYSCALL",
  /** A helper command (e.g. `ip`) failed. */
  Command: "OAK_E_PLATFORM_COMMAND",
  /** An argument the platform cannot use (not an IPv4 address, name too long...). */
  BadArgument: "OAK_E_PLATFORM_BAD_ARGUMENT",
  /** The object was already closed. */
  Closed: "OAK_E_PLATFORM_CLOSED",
} as const;
export type PlatformErrorCode = (typeof PlatformErrorCode)[keyof typeof PlatformErrorCode];

export interface PlatformError {
  readonly code: PlatformErrorCode;
  /** One sentence a person can act on, e.g. "UDP 500 is in use by another process". */
  readonly message: string;
  /** The failed system call ("bind", "ioctl(TUNSETIFF)"...), when there is one. */
  readonly syscall?: string;
  /** errno number and its symbolic name ("EADDRINUSE"), when there is one. */
  readonly errno?: number;
  readonly errnoName?: string;
}

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, num]) => [num, name]),
);

export function errnoName(e: number): string {
  return errnoNames.get(e) ?? `errno ${e}`;
}

export const E = constants.errno;

export function platformError(
  code: PlatformErrorCode,
  message: string,
  extra: { syscall?: string; errno?: number } = {},
): PlatformError {
  const out: {
    code: PlatformErrorCode;
    message: string;
    syscall?: string;
    errno?: number;
    errnoName?: string;
  } = { code, message };
  if (extra.syscall !== undefined) out.syscall = extra.syscall;
  if (extra.errno !== undefined) {
    out.errno = extra.errno;
    out.errnoName = errnoName(extra.errno);
  }
  return out;
}

/** The generic mapping of a failed syscall; callers pass a more specific code when they know it. */
export function syscallError(syscall: string, errno: number, context = ""): PlatformError {
  const name = errnoName(errno);
  const where = context ? ` (${context})` : "";
  const code =
    errno === E.EPERM || errno === E.EACCES
      ? PlatformErrorCode.PermissionDenied
      : errno === E.EADDRINUSE
        ? PlatformErrorCode.AddrInUse
        : errno === E.EADDRNOTAVAIL
          ? PlatformErrorCode.AddrNotAvailable
          : PlatformErrorCode.Syscall;
  return platformError(code, `${syscall} failed: ${name}${where}`, { syscall, errno });
}

/**
 * Internal carrier used to unwind through platform code; never escapes a public function (they
 * return `Result<_, PlatformError>` or report through `onError`).
 */
export class PlatformFailure extends Error {
  constructor(readonly error: PlatformError) {
    super(error.message);
  }
}
