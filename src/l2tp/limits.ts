/**
 * Admission limits of the L2TP engine (see "Limits" in engine.ts): per owner (IPsec channel), per
 * tunnel and global caps on tunnels and sessions, the rate-limited refusal log, and the
 * stateless StopCCN for a refused SCCRQ.
 */
import { AvpType, L2tpErrorCode, L2tpMessageType, StopCcnResult } from "../registry/l2tp.js";
import { serializeAvps } from "../wire/l2tp/avp.js";
import { encodeControlMessage } from "../wire/l2tp/control.js";
import { controlHeader, serializeL2tpPacket } from "../wire/l2tp/header.js";
import type { Tunnel, L2tpState } from "./types.js";
import { type Ctx, mt, resultAvp } from "./common.js";

/** Which limit a new tunnel of `owner` would break, or null. */
export function tunnelLimit(st: L2tpState, owner: string): string | null {
  const c = st.config;
  const mine = st.byOwner.get(owner)?.size ?? 0;
  if (mine >= c.maxTunnelsPerOwner) return "tunnels_per_owner";
  if (!globalAdmits(st.tunnels.size, c.maxTunnels, mine)) return "tunnels_global";
  return null;
}

/** Which limit a new session on `t` would break, or null. */
export function sessionLimit(st: L2tpState, t: Tunnel): string | null {
  const c = st.config;
  if (t.sessions.size >= c.maxSessionsPerTunnel) return "sessions_per_tunnel";
  let mine = 0;
  for (const id of st.byOwner.get(t.owner) ?? []) mine += st.tunnels.get(id)?.sessions.size ?? 0;
  if (mine >= c.maxSessionsPerOwner) return "sessions_per_owner";
  let total = 0;
  for (const x of st.tunnels.values()) total += x.sessions.size;
  if (!globalAdmits(total, c.maxSessions, mine)) return "sessions_global";
  return null;
}

/**
 * The global tables are shared: an owner's first entry may take any free slot, further ones
 * only while the table is less than three quarters full, so owners with extras cannot lock out
 * owners that have none.
 */
function globalAdmits(total: number, max: number, ownerHas: number): boolean {
  if (total >= max) return false;
  return ownerHas === 0 || total < max - Math.floor(max / 4);
}

const LIMIT_LOG_INTERVAL_MS = 10_000;

/** Counts a refusal; logs at most one line per limit per 10 s (a flood must not flood the log). */
export function limitRefused(ctx: Ctx, limit: string, fields: Record<string, unknown>): void {
  ctx.st.counters.incLabeled("l2tp_limit_refused", "limit", limit);
  const rl = ctx.st.limitLog.get(limit);
  if (rl && ctx.now < rl.nextAt) {
    rl.suppressed++;
    return;
  }
  ctx.st.config.log.warn(`${limit.replaceAll("_", " ")} limit reached: refused`, {
    ...fields,
    ...(rl && rl.suppressed > 0 ? { suppressedSinceLast: rl.suppressed } : {}),
  });
  ctx.st.limitLog.set(limit, { nextAt: ctx.now + LIMIT_LOG_INTERVAL_MS, suppressed: 0 });
}

/**
 * StopCCN for an SCCRQ we keep no state for (§5.7 asks for a reliable StopCCN, but holding a
 * tunnel per refusal is exactly what the limit prevents): sent once, acking the SCCRQ (Ns 0);
 * a retransmitted SCCRQ gets another. Assigned Tunnel ID 0: we assigned none.
 */
export function refuseSccrq(ctx: Ctx, binding: string, peerTid: number, message: string): void {
  const body = serializeAvps(
    encodeControlMessage([
      mt(L2tpMessageType.StopCCN),
      { type: AvpType.AssignedTunnelId, mandatory: true, value: 0 },
      resultAvp({
        by: "local",
        resultCode: StopCcnResult.GeneralError,
        errorCode: L2tpErrorCode.NoResources,
        message,
      }),
    ]),
  );
  ctx.out.push({
    kind: "send",
    binding,
    bytes: serializeL2tpPacket({ header: controlHeader(peerTid, 0, 0, 1), body }),
  });
}
