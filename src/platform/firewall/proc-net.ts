/**
 * Who holds a UDP port: the /proc/net/udp{,6} socket tables (proc(5), "/proc/net/udp") and the
 * /proc/PID/fd links ("socket:[INODE]"). Used when IKE cannot bind UDP 500/4500 so block mode can name the process.
 *
 * Line format (kernel net/ipv4/udp.c udp4_format_sock, net/ipv6/datagrams.c):
 *   "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ..."
 *   " 123: 00000000:01F4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 31337 2 ..."
 * local_address is the address in hex (32-bit words in host byte order; we read them as
 * little-endian: x86-64 and arm64, the hosts Oakley runs on) and the port in hex.
 *
 * Lives beside the firewall code because it answers the firewall question "why can IKE not
 * listen"; it reads only /proc. Leaves out: sockets of other network namespaces (each namespace
 * has its own /proc/net/udp; we read our own), and processes whose fds we may not read.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { err, ok, type Result } from "../../base/result.js";
import { type FirewallError, FirewallErrorCode, firewallError } from "./errors.js";

export interface ProcNetUdpEntry {
  /** Local address as text ("0.0.0.0", "::"), and port. */
  readonly localAddress: string;
  readonly localPort: number;
  readonly inode: number;
  readonly uid: number;
}

export interface PortOwner {
  readonly pid: number;
  /** /proc/PID/comm, e.g. "charon", "racoon", "socat". */
  readonly command: string;
}

const MAX_LINES = 1_000_000;

function hexAddress(h: string): string | undefined {
  if (h.length === 8) {
    // IPv4: one 32-bit word in host (little-endian on x86/arm) order.
    const n = Number.parseInt(h, 16);
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join(".");
  }
  if (h.length === 32) {
    const groups: string[] = [];
    for (let w = 0; w < 4; w++) {
      const word = h.slice(w * 8, w * 8 + 8);
      // each 32-bit word is in host order: reverse its bytes
      const be = (word.match(/../g) ?? []).reverse().join("");
      groups.push(be.slice(0, 4), be.slice(4, 8));
    }
    return groups.map((g) => Number.parseInt(g, 16).toString(16)).join(":");
  }
  return undefined;
}

/** Parses the text of /proc/net/udp or /proc/net/udp6. */
export function parseProcNetUdp(text: string): Result<ProcNetUdpEntry[], FirewallError> {
  const lines = text.split("\n");
  if (lines.length > MAX_LINES) {
    return err(firewallError(FirewallErrorCode.BadOutput, "/proc/net/udp: too many lines"));
  }
  const first = lines[0] ?? "";
  if (!/^\s*sl\s+local_address\s+rem(?:ote)?_address/.test(first)) {
    return err(firewallError(FirewallErrorCode.BadOutput, "/proc/net/udp: no header line"));
  }
  const out: ProcNetUdpEntry[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "") continue;
    const f = line.split(/\s+/);
    const local = f[1] ?? "";
    const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(local);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (
      !m ||
      !/^[0-9]+:$/.test(f[0] ?? "") ||
      !Number.isSafeInteger(uid) ||
      !Number.isSafeInteger(inode)
    ) {
      return err(
        firewallError(
          FirewallErrorCode.BadOutput,
          `/proc/net/udp: line ${i + 1} is not a socket entry`,
        ),
      );
    }
    const addr = hexAddress(m[1] ?? "");
    if (addr === undefined) {
      return err(
        firewallError(FirewallErrorCode.BadOutput, `/proc/net/udp: line ${i + 1}: bad address`),
      );
    }
    out.push({ localAddress: addr, localPort: Number.parseInt(m[2] ?? "0", 16), inode, uid });
  }
  return ok(out);
}

/**
 * The processes holding a UDP socket bound to `port` (any address, IPv4 or IPv6), found through
 * `procRoot` (default /proc). Best effort: unreadable files are skipped; an empty list means
 * "held by something we cannot see" (another user's process without our privileges, or the
 * kernel).
 */
export function findUdpPortOwners(port: number, procRoot = "/proc"): PortOwner[] {
  const inodes = new Set<number>();
  for (const f of ["net/udp", "net/udp6"]) {
    let text: string;
    try {
      text = readFileSync(join(procRoot, f), "utf8");
    } catch {
      continue;
    }
    const r = parseProcNetUdp(text);
    if (!r.ok) continue;
    for (const e of r.value) if (e.localPort === port && e.inode !== 0) inodes.add(e.inode);
  }
  if (inodes.size === 0) return [];
  const owners: PortOwner[] = [];
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^[0-9]+$/.test(d));
  } catch {
    return [];
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(join(procRoot, pid, "fd"));
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(join(procRoot, pid, "fd", fd));
      } catch {
        continue;
      }
      const m = /^socket:\[([0-9]+)\]$/.exec(link);
      if (m && inodes.has(Number(m[1]))) {
        let command = "?";
        try {
          command = readFileSync(join(procRoot, pid, "comm"), "utf8").trim() || "?";
        } catch {
          // the process exited meanwhile
        }
        owners.push({ pid: Number(pid), command });
        break;
      }
    }
  }
  return owners.sort((a, b) => a.pid - b.pid);
}
