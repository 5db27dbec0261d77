/**
 * Time in the L2TP engine: what runs when the single timer fires (hold expiry, retransmission,
 * peer-dead detection, setup timeouts, Hello) and the computation of the next deadline.
 */
import { CdnResult, L2tpMessageType, StopCcnResult } from "../registry/l2tp.js";
import { channelDeadline, channelIdle, onTimer } from "./channel.js";
import type { Tunnel } from "./types.js";
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

export function onTimers(ctx: Ctx): void {
  const p = ctx.st.config.channel;
  for (const t of [...ctx.st.tunnels.values()]) {
    if (t.holdUntil !== null && ctx.now >= t.holdUntil) {
      deleteTunnel(ctx, t);
      continue;
    }
    emitWire(ctx, t, onTimer(t.channel, p, ctx.now, t.peerId));
    if (t.channel.failed) {
      log(ctx, t).warn("peer not responding: retransmissions exhausted, clearing the tunnel");
      ctx.st.counters.inc("l2tp_peer_dead");
      announceDown(ctx, t, { by: "timeout", message: "no acknowledgement from peer" });
      deleteTunnel(ctx, t);
      continue;
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
}

export function rearm(ctx: Ctx): void {
  let at: number | null = null;
  for (const t of ctx.st.tunnels.values()) {
    for (const d of [channelDeadline(t.channel), t.helloAt, t.holdUntil, t.setupDeadline]) {
      if (d !== null && (at === null || d < at)) at = d;
    }
    for (const s of t.sessions.values()) {
      const d = s.setupDeadline;
      if (d !== null && (at === null || d < at)) at = d;
    }
  }
  if (at !== ctx.st.timerAt) {
    ctx.st.timerAt = at;
    ctx.out.push({ kind: "armTimer", at });
  }
}
