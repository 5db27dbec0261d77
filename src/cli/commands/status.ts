/**
 * `oakley status`. With no daemon
 * running it says so (exit 3), naming the socket it tried and how to start one, and adds what
 * the fail-closed status file (src/daemon/fail-closed/status.ts) records: block mode and why,
 * whether the block rules are enforced, or a clean stop.
 */
import type { Command } from "commander";
import type { DaemonStatus } from "../../control/index.js";
import {
  DEFAULT_STATUS_PATH,
  type FailClosedStatus,
  readFailClosedStatus,
} from "../../daemon/fail-closed/status.js";
import {
  action,
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

export function formatStatus(s: DaemonStatus, via: string): string {
  const lines: string[] = [];
  lines.push(`Daemon:      ${s.software} (${s.role}), ${via}`);
  lines.push(
    s.mode === "block"
      ? `Mode:        BLOCK MODE (fail-closed) - ${s.blockReason ?? "cannot enter protected mode"}`
      : `Mode:        ${s.mode}`,
  );
  lines.push(`Started:     ${s.startedAt}`);
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
