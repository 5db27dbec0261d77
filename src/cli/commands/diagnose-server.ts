/**
 * The server side of `oakley diagnose`: `--recent` (every peer's recent failures) and
 * `--peer ADDRESS` (one peer's), read from the running server through the control protocol
 * (`diagnose.failures`), each failure with its explanation, what the client offered, its vendor
 * IDs and which client that suggests. `--json` gives the records as they are.
 */
import { isIP } from "node:net";
import type { FailureRecord, FailureReport } from "../../control/index.js";
import { type CliIo, type ConnOpts, connect, EXIT, fail, toJson, UsageError } from "./common.js";

export interface ServerDiagnoseOpts extends ConnOpts {
  recent?: boolean;
  peer?: string;
}

const STEP: Record<FailureRecord["step"], string> = {
  phase1: "phase 1 (Main Mode)",
  phase2: "phase 2 (Quick Mode)",
  l2tp: "L2TP",
  ppp: "PPP authentication",
};

function formatRecord(f: FailureRecord): string[] {
  const when = f.count > 1 ? `${f.at} (${f.count} times since ${f.firstAt})` : f.at;
  const lines = [
    `  ${when}  ${STEP[f.step]} from ${f.peer.address}:${f.peer.port}${f.user ? `, user ${f.user}` : ""}`,
    `    why:      ${f.explanation}`,
    `    failure:  ${f.reason} [${f.code}]`,
  ];
  if (f.offered.length > 0) {
    lines.push(`    offered:  ${f.offered[0]}`);
    for (const o of f.offered.slice(1)) lines.push(`              ${o}`);
  }
  if (f.vendorIds.length > 0) lines.push(`    VIDs:     ${f.vendorIds.join(", ")}`);
  if (f.client) lines.push(`    client:   probably ${f.client}`);
  return lines;
}

export function formatFailureReport(r: FailureReport, peer?: string): string {
  const lines: string[] = [];
  if (r.peers.length === 0) {
    lines.push(
      peer !== undefined
        ? `No failures recorded for ${peer} (since the server started, or since they were evicted).`
        : "No failures recorded since the server started.",
    );
  }
  for (const p of r.peers) {
    lines.push(`${p.address}: ${p.failures.length} failure record(s), newest last`);
    for (const f of p.failures) lines.push(...formatRecord(f));
    lines.push("");
  }
  if (r.evicted.peers > 0 || r.evicted.records > 0) {
    lines.push(
      `(kept: ${r.limits.peers} peers x ${r.limits.perPeer} records; forgotten so far: ${r.evicted.peers} peers, ${r.evicted.records} records)`,
    );
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** Runs `oakley diagnose --recent | --peer ADDRESS` against the local or a remote server. */
export async function runServerDiagnose(io: CliIo, o: ServerDiagnoseOpts): Promise<void> {
  if (o.recent && o.peer !== undefined)
    throw new UsageError("give either --recent or --peer ADDRESS, not both");
  if (o.peer !== undefined && isIP(o.peer) === 0)
    throw new UsageError(
      `--peer ${o.peer}: not an IP address (give the client's public address, as in \`oakley diagnose --recent\`)`,
    );
  const c = await connect(o);
  if (!c.ok) return fail(io, c.error, EXIT.notRunning);
  try {
    const r = await c.value.failures(o.peer);
    if (!r.ok) return fail(io, r.error);
    io.out(o.json ? toJson(r.value) : formatFailureReport(r.value, o.peer));
  } finally {
    await c.value.close();
  }
}
