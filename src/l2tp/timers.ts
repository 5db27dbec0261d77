/**
 * Time in the L2TP engine: what runs when the single timer fires (hold expiry, retransmission,
 * peer-dead detection, setup timeouts, Hello) and the computation of the next deadline.
 */
import { CdnResult, L2tpMessageType, StopCcnResult } from "../registry/l2tp.js";
import { channelIdle, onTimer } from "./channel.js";
import type { L2tpState, Tunnel } from "./types.js";
import { type Ctx, log, emitWire, sendControl, mt } from "./common.js";
import { closeSession } from "./session.js";
import { deleteTunnel, announceDown, stopTunnel } from "./tunnel.js";

/** Tunnels and calls that did not complete within `setupTimeoutMs`. */
function setupTimeouts(ctx: Ctx, t: Tunnel): void {
  const c = ctx.st.config;
  const secs = Math.round(c.setupTimeoutMs / 1000);
  if (t.setupDeadline !== null && ctx.now >= t.setupDeadline) {
    ctx.st.counters.incLabeled("l2tp_setup_timeout", "what", "tunnel");
    log(ctx, t).warn(`control connection not established within ${secs} s: clearing it`, {
      state: t.state,
    });
    stopTunnel(
      ctx,
      t,
      {
        resultCode: StopCcnResult.GeneralRequest,
        message: `control connection not established within ${secs} s`,
      },
      "timeout",
    );
    return;
  }
  if (t.state !== "established") return;
  for (const s of [...t.sessions.values()]) {
    if (s.setupDeadline === null || ctx.now < s.setupDeadline) continue;
    ctx.st.counters.incLabeled("l2tp_setup_timeout", "what", "session");
    log(ctx, t).warn(`call not established within ${secs} s: clearing it`, {
      session: s.localId,
      state: s.state,
    });
    closeSession(
      ctx,
      t,
      s,
      { resultCode: CdnResult.Timeout, message: `call not established within ${secs} s` },
      "timeout",
    );
  }
}

/** Runs what is due on the tunnels whose deadline has passed (and only those). */
export function onTimers(ctx: Ctx): void {
  const due = new Set<Tunnel>();
  for (;;) {
    const d = ctx.st.deadlines.popDue(ctx.now);
    if (!d) break;
    d.item.deadline = null;
    due.add(d.item);
  }
  for (const t of due) {
    if (ctx.st.tunnels.get(t.localId) !== t) continue;
    ctx.touched.add(t);
    tunnelTimers(ctx, t);
  }
}

function tunnelTimers(ctx: Ctx, t: Tunnel): void {
  const p = ctx.st.config.channel;
  if (t.holdUntil !== null && ctx.now >= t.holdUntil) {
    deleteTunnel(ctx, t);
    return;
  }
  emitWire(ctx, t, onTimer(t.channel, p, ctx.now, t.peerId));
  if (t.channel.failed) {
    log(ctx, t).warn("peer not responding: retransmissions exhausted, clearing the tunnel");
    ctx.st.counters.inc("l2tp_peer_dead");
    announceDown(ctx, t, { by: "timeout", message: "no acknowledgement from peer" });
    deleteTunnel(ctx, t);
    return;
  }
  setupTimeouts(ctx, t);
  if (t.state === "established" && t.helloAt !== null && ctx.now >= t.helloAt) {
    const interval = ctx.st.config.helloIntervalMs;
    if (ctx.now - t.lastRxAt >= interval) {
      // nothing heard for a whole interval: HELLO (a reliable message: if it is never acked,
      // the retransmission limit declares the peer dead)
      if (channelIdle(t.channel)) sendControl(ctx, t, 0, [mt(L2tpMessageType.HELLO)]);
      t.helloAt = ctx.now + interval;
    } else {
      t.helloAt = t.lastRxAt + interval;
    }
  }
}

/** The earliest of a tunnel's deadlines (retransmission, delayed ack, Hello, hold, setup). */
export function tunnelDeadline(t: Tunnel): number | null {
  let at: number | null = null;
  const consider = (d: number | null): void => {
    if (d !== null && (at === null || d < at)) at = d;
  };
  consider(t.channel.rtoDeadline);
  consider(t.channel.ackDeadline);
  consider(t.helloAt);
  consider(t.holdUntil);
  consider(t.setupDeadline);
  for (const s of t.sessions.values()) consider(s.setupDeadline);
  return at;
}

/**
 * Re-files the deadlines of the tunnels this input touched and asks the driver for a timer at
 * the earliest deadline of all. An entry left earlier than its tunnel's real deadline only
 * makes that tunnel's timers run early and find nothing due.
 */
export function rearm(ctx: Ctx): void {
  const heap = ctx.st.deadlines;
  for (const t of ctx.touched) {
    if (ctx.st.tunnels.get(t.localId) !== t) continue;
    const d = tunnelDeadline(t);
    if (t.deadline && !t.deadline.cancelled && t.deadline.deadline === d) continue;
    if (t.deadline) heap.cancel(t.deadline);
    t.deadline = d === null ? null : heap.push(d, t);
  }
  const at = heap.peek() ?? null;
  if (at !== ctx.st.timerAt) {
    ctx.st.timerAt = at;
    ctx.out.push({ kind: "armTimer", at });
  }
}

/**
 * For tests: every tunnel's filed deadline is no later than its real one (a later one would be
 * a timer that never fires). Returns what is wrong, or undefined.
 */
export function checkDeadlines(st: L2tpState): string | undefined {
  for (const t of st.tunnels.values()) {
    const real = tunnelDeadline(t);
    if (real === null) continue;
    const filed = t.deadline && !t.deadline.cancelled ? t.deadline.deadline : null;
    if (filed === null || filed > real)
      return `tunnel ${t.localId}: deadline ${real} filed as ${filed ?? "nothing"}`;
  }
  return undefined;
}
