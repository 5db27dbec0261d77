/**
 * `oakley status`. With no daemon
 * running it says so (exit 3), naming the socket it tried and how to start one, and adds what
 * the fail-closed status file (src/daemon/fail-closed/status.ts) records: block mode and why,
 * whether the block rules are enforced, or a clean stop.
 */
import type { Command } from "commander";
import { readdirSync } from "node:fs";
import type { ClientConnectionStatus, DaemonStatus } from "../../control/index.js";
import {
  DEFAULT_STATUS_PATH,
  type FailClosedStatus,
  readFailClosedStatus,
} from "../../daemon/fail-closed/status.js";
import {
  action,
  CLIENT_SOCKET_DIR,
  type CliIo,
  type ConnOpts,
  connect,
  connectionOptions,
  EXIT,
  endpointFromFlags,
  fail,
  isNotRunning,
  processIo,
  toJson,
} from "./common.js";

const human = (n: bigint): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
};

const duration = (s: number): string => {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [d ? `${d}d` : "", h ? `${h}h` : "", m ? `${m}m` : "", `${s % 60}s`];
  return parts.filter(Boolean).join(" ");
};

/** `oakley status` against `oakley connect`: the connection it keeps. */
export function formatClientStatus(
  s: DaemonStatus,
  c: ClientConnectionStatus,
  via: string,
): string {
  const lines: string[] = [];
  lines.push(`Client:      ${s.software}, ${via}`);
  lines.push(`Profile:     ${c.profile ?? "(none: connected by address)"}`);
  lines.push(`Server:      ${c.server}${c.persist ? " (--persist: reconnects)" : ""}`);
  const state =
    c.state === "up"
      ? `up since ${c.upSince ?? c.since} (${duration(c.uptimeSeconds ?? 0)})${c.address ? `, address ${c.address}` : ""}`
      : c.state === "waiting"
        ? `down, reconnecting${c.nextAttemptAt ? ` at ${c.nextAttemptAt}` : ""}`
        : c.state === "connecting"
          ? `connecting (attempt ${c.attempts}) since ${c.since}`
          : `stopped since ${c.since}`;
  lines.push(`State:       ${state}`);
  lines.push(
    `Fail-closed: ${s.mode === "block" ? "BLOCKING VPN traffic until the connection is back" : s.mode === "protected" ? "protected" : s.mode}`,
  );
  lines.push(
    `Bytes:       ${human(c.bytesIn)} in, ${human(c.bytesOut)} out (this connection); ${human(c.totalBytesIn)} in, ${human(c.totalBytesOut)} out since ${s.startedAt}`,
  );
  lines.push(`Attempts:    ${c.attempts}`);
  lines.push(
    `Last failure: ${c.lastFailure ? `${c.lastFailure.at}: ${c.lastFailure.message} [${c.lastFailure.code}]` : "(none)"}`,
  );
  return `${lines.join("\n")}\n`;
}

export function formatStatus(s: DaemonStatus, via: string): string {
  if (s.connection) return formatClientStatus(s, s.connection, via);
  const lines: string[] = [];
  lines.push(`Daemon:      ${s.software} (${s.role}), ${via}`);
  lines.push(
    s.mode === "block"
      ? `Mode:        BLOCK MODE (fail-closed) - ${s.blockReason ?? "cannot enter protected mode"}`
      : `Mode:        ${s.mode}`,
  );
  lines.push(`Started:     ${s.startedAt}`);
  lines.push(`FIPS:        ${s.fips?.text ?? "off"}`);
  if (s.store !== undefined) lines.push(`Store:       ${s.store}`);
  lines.push(`Policy:      ${s.assignedPolicy ?? "(none assigned)"}`);
  lines.push(
    `Persistent:  ${s.persistentPolicies.length > 0 ? s.persistentPolicies.join(", ") : "(none)"}`,
  );
  lines.push("Ports:");
  for (const p of s.ports) {
    lines.push(
      `  ${p.name.padEnd(6)} ${p.what.padEnd(12)} ${p.state}${p.detail ? ` (${p.detail})` : ""}`,
    );
  }
  lines.push(`SAs:         ${s.ikeSas} main mode, ${s.childSas} quick mode`);
  if (s.pppSessions !== undefined)
    lines.push(
      `L2TP/PPP:    ${s.l2tpTunnels ?? 0} tunnels, ${s.pppSessions} sessions, ${s.addressesInUse ?? 0} addresses given out`,
    );
  if (s.radius) {
    for (const r of s.radius.servers) {
      const ago =
        r.lastReplyAgoMs !== undefined
          ? `, last reply ${Math.round(r.lastReplyAgoMs / 1000)} s ago`
          : "";
      const what =
        r.state === "bad-replies"
          ? "replies fail verification (wrong shared secret?)"
          : r.state === "untested"
            ? "no request sent yet"
            : r.state;
      lines.push(`RADIUS:      ${r.server} ${what}${ago}`);
    }
    lines.push(`Accounting:  ${s.radius.accountingQueued} records queued`);
  }
  if (s.memory) {
    const mb = (n: number): string => `${(n / 1_048_576).toFixed(1)} MB`;
    lines.push(
      `Memory:      ${mb(s.memory.rssBytes)} resident (JS heap ${mb(s.memory.heapUsedBytes)}, native buffers ${mb(s.memory.externalBytes)})`,
    );
  }
  for (const w of s.warnings) lines.push(`Warning:     ${w}`);
  return `${lines.join("\n")}\n`;
}

/** What the status file says when no daemon answers. */
export function formatFailClosed(f: FailClosedStatus): string {
  if (f.mode === "block") {
    return `BLOCK MODE (fail-closed) since ${f.since}: ${f.reason ?? "cannot enter protected mode"}${f.code ? ` [${f.code}]` : ""}\nblock rules ${f.enforced ? `enforced${f.blockSet ? ` (${f.blockSet})` : ""}` : "NOT enforced: traffic is not blocked"}\n`;
  }
  if (f.mode === "stopped") return `stopped cleanly at ${f.since}; no block rules installed\n`;
  return `the status file says protected mode since ${f.since} (pid ${f.pid}), but the daemon does not answer: it may have crashed\n`;
}

export function register(program: Command, io: CliIo = processIo()): void {
  const cmd = program
    .command("status")
    .description(
      "show whether the daemon runs, its mode (protected/block), policy, ports and SA counts",
    )
    .option("--json", "machine-readable output")
    .option(
      "--status-file <file>",
      `fail-closed status file read when no daemon answers (default ${DEFAULT_STATUS_PATH})`,
    );
  connectionOptions(cmd).action(
    action(io, async (o: ConnOpts & { statusFile?: string }) => {
      const ep = endpointFromFlags(o);
      const c = await connect(o);
      if (!c.ok) {
        // No server daemon here: the connections `oakley connect` keeps on this host.
        if (isNotRunning(c.error, ep) && o.socket === undefined && o.host === undefined) {
          if (await showClients(io, o)) return;
        }
        if (isNotRunning(c.error, ep)) {
          const f = readFailClosedStatus(o.statusFile ?? DEFAULT_STATUS_PATH);
          if (o.json) {
            io.out(
              toJson({
                running: false,
                reason: c.error.message,
                failClosed: f.ok ? f.value : { error: f.error.message },
              }),
            );
          } else {
            io.err(`oakley: ${c.error.message}\n`);
            if (!f.ok) io.err(`oakley: ${f.error.message}\n`);
            else if (f.value) io.out(formatFailClosed(f.value));
          }
          io.setExitCode(EXIT.notRunning);
          return;
        }
        fail(io, c.error);
        return;
      }
      try {
        const s = await c.value.status();
        if (!s.ok) return fail(io, s.error);
        const h = c.value.hello;
        if (o.json)
          io.out(toJson({ running: true, protocol: h.version, identity: h.identity, ...s.value }));
        else
          io.out(
            formatStatus(
              s.value,
              `protocol ${h.version}, via ${ep.kind === "unix" ? `unix:${ep.path}` : `${ep.host}:${ep.port}`} as ${h.identity}`,
            ),
          );
      } finally {
        await c.value.close();
      }
    }),
  );
}

/** Sockets of `oakley connect` processes (connect-NAME.sock) in `dir`. */
export function clientSockets(dir = CLIENT_SOCKET_DIR): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.startsWith("connect-") && n.endsWith(".sock"))
      .sort()
      .map((n) => `${dir}/${n}`);
  } catch {
    return [];
  }
}

/** Shows every client that answers; false when none does. */
async function showClients(io: CliIo, o: ConnOpts, dir = CLIENT_SOCKET_DIR): Promise<boolean> {
  const found: Array<{ path: string; status: DaemonStatus }> = [];
  for (const path of clientSockets(dir)) {
    const c = await connect({ ...o, socket: path });
    if (!c.ok) continue;
    try {
      const s = await c.value.status();
      if (s.ok) found.push({ path, status: s.value });
    } finally {
      await c.value.close();
    }
  }
  if (found.length === 0) return false;
  if (o.json) io.out(toJson({ running: true, clients: found.map((f) => f.status) }));
  else io.out(found.map((f) => formatStatus(f.status, `via unix:${f.path}`)).join("\n"));
  return true;
}
