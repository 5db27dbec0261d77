/**
 * The L2TPv2 engine, sans-IO (DESIGN rule 4): `handle(state, input, now)` → `{ state, actions }`.
 * RFC 2661 §5 (control connection operation), §5.1.1 (tunnel authentication), §6 (messages),
 * §7 (state machines for incoming calls, both LAC and LNS side).
 *
 * Tunnels are keyed by our local Tunnel ID (unique in the whole engine) and bound to an opaque
 * `binding` the driver supplies (IPsec SA, or "addr:port"): replies go to the binding the tunnel
 * was set up on, and a message for a tunnel arriving on another binding is dropped. A new SCCRQ
 * is deduplicated by (binding, peer's Assigned Tunnel ID), so two clients behind one NAT that
 * happen to pick the same tunnel ID and inner address/port stay separate.
 *
 * Implemented: both roles of tunnel setup (SCCRQ/SCCRP/SCCCN), the tie breaker of §4.4.3
 * (resolved only when both simultaneous SCCRQs carry one; otherwise both tunnels live, which
 * §5 allows), StopCCN both ways with result codes and the hold period (§5.7: keep state for a
 * full retransmission cycle to ack retransmitted StopCCNs), HELLO after `helloIntervalMs`
 * without anything received from the peer and peer-dead detection through the retransmission
 * limit, Challenge/Challenge Response when a secret is configured, hiding of the call AVPs when
 * a secret is configured, incoming calls both sides (ICRQ/ICRP/ICCN, CDN both ways), data
 * messages (with Ns when the peer sent Sequencing Required), WEN/SLI accepted and logged.
 *
 * Left out on purpose: outgoing calls (OCRQ/OCRP/OCCN). An OCRQ is answered with a CDN, Result
 * Code 5 ("permanent lack of facilities"); L2TP/IPsec clients never place them. Proxy LCP and
 * proxy authentication AVPs are decoded by the codec but not acted on. Data-message reordering
 * (§5.9 with S=1) is not done: PPP frames are delivered in arrival order.
 *
 * Limits: every tunnel belongs to an `owner` — the transport it came through, i.e. the IPsec
 * channel (the driver passes it; default: the binding). A normal client needs one tunnel and one
 * session; an owner gets at most `maxTunnelsPerOwner` tunnels (4), `maxSessionsPerTunnel` (4) and
 * `maxSessionsPerOwner` (8) sessions. Beyond that an SCCRQ is answered with a stateless StopCCN
 * and an ICRQ with a CDN (General error / Insufficient resources), counted in
 * `l2tp_limit_refused{limit}`, logged at most once per 10 s per limit. The global caps
 * (`maxTunnels`, `maxSessions`) stay; with defaults 4096 ≥ 1024 channels × 4 no channel can
 * exhaust them, and past that an owner's second and later tunnel (session) only gets in while the
 * table is below three quarters, so the last quarter stays for owners that have none yet.
 * Tunnels and calls that do not complete within `setupTimeoutMs` (30 s; SCCRQ without SCCCN,
 * ICRQ without ICCN, and the LAC side's unanswered requests) are cleared with StopCCN / CDN
 * (result 10, timeout) and counted in `l2tp_setup_timeout{what}`. `closeOwner` drops an owner's
 * tunnels at once, without signalling, when its transport is gone.
 *
 * Error handling (DESIGN rule 6): the receive path never throws; malformed or unexpected input is
 * dropped and counted (`state.counters`), or answered with StopCCN/CDN and the RFC result code.
 *
 * Layout: this file is the dispatcher — `handle` and the receive path up to the control message
 * switch. The rest, by concern: types.ts (public and state types), common.ts (the per-call
 * context, logging, sending control messages), channel.ts (reliable delivery: Ns/Nr, window,
 * retransmission), tunnel.ts (control connection setup and teardown), session.ts (calls and data
 * messages), limits.ts (admission caps and refusals), timers.ts (timeouts, Hello, the one timer),
 * messages.ts (required AVPs, the challenge response).
 */
import { DeadlineHeap } from "../base/deadline-heap.js";
import { WireErrorCode } from "../base/errors.js";
import { nullLogger } from "../obs/log.js";
import { Counters } from "../obs/counters.js";
import {
  AvpType,
  CdnResult,
  L2tpErrorCode,
  L2tpMessageType,
  StopCcnResult,
  avpTypeName,
  l2tpMessageTypeName,
} from "../registry/l2tp.js";
import { parseAvps } from "../wire/l2tp/avp.js";
import { decodeControlMessage, findAvp } from "../wire/l2tp/control.js";
import { parseL2tpPacket } from "../wire/l2tp/header.js";
import { channelIdle, onAck, onReceive, pump } from "./channel.js";
import { REQUIRED_AVPS, TUNNEL_MESSAGES } from "./messages.js";
import type {
  L2tpConfig,
  L2tpInput,
  Received,
  Tunnel,
  Resolved,
  L2tpState,
  L2tpStep,
} from "./types.js";
import { type Ctx, log, drop, emitWire } from "./common.js";
import {
  placeCall,
  sendPpp,
  closeSession,
  sendCdnFor,
  rejectSessionMessage,
  onIcrq,
  onIcrp,
  onIccn,
  onCdn,
  onData,
} from "./session.js";
import {
  deleteTunnel,
  stopTunnel,
  closeOwner,
  openTunnel,
  sccrqTunnel,
  onSccrq,
  onSccrp,
  onScccn,
  onStopCcn,
  backlogFull,
} from "./tunnel.js";
import { onTimers, rearm } from "./timers.js";
export type {
  L2tpConfig,
  L2tpInput,
  L2tpTeardown,
  L2tpAction,
  Session,
  Tunnel,
  L2tpState,
  L2tpStep,
} from "./types.js";

export function createL2tp(config: L2tpConfig): L2tpState {
  const cfg: Resolved = {
    hostName: Buffer.from(config.hostName),
    vendorName: config.vendorName ?? "Oakley",
    firmwareRevision: config.firmwareRevision ?? 0x0100,
    acceptTunnels: config.acceptTunnels,
    secret: config.secret ? Buffer.from(config.secret) : undefined,
    hideAvps: config.hideAvps ?? true,
    helloIntervalMs: config.helloIntervalMs ?? 60_000,
    stopCcnHoldMs: config.stopCcnHoldMs ?? 31_000,
    maxTunnels: config.maxTunnels ?? 4096,
    maxTunnelsPerOwner: config.maxTunnelsPerOwner ?? 4,
    maxSessionsPerTunnel: config.maxSessionsPerTunnel ?? 4,
    maxSessionsPerOwner: config.maxSessionsPerOwner ?? 8,
    maxSessions: config.maxSessions ?? 8192,
    setupTimeoutMs: config.setupTimeoutMs ?? 30_000,
    tieBreaker: config.tieBreaker ?? false,
    dataLengthBit: config.dataLengthBit ?? true,
    connectSpeed: config.connectSpeed ?? 100_000_000,
    channel: {
      rtoInitialMs: config.rtoInitialMs ?? 1000,
      rtoMaxMs: config.rtoMaxMs ?? 8000,
      maxRetries: config.maxRetries ?? 5,
      ackDelayMs: config.ackDelayMs ?? 100,
      receiveWindow: config.receiveWindow ?? 8,
    },
    random: config.random,
    log: config.log ?? nullLogger,
  };
  return {
    config: cfg,
    tunnels: new Map(),
    bySccrq: new Map(),
    byOwner: new Map(),
    limitLog: new Map(),
    counters: new Counters(),
    deadlines: new DeadlineHeap<Tunnel>(),
    timerAt: null,
    callSerial: 1,
  };
}

/**
 * Feeds one input. Takes ownership of `state`: the returned state may be the same object,
 * updated; callers must use the returned one and keep no other reference.
 */
export function handle(state: L2tpState, input: L2tpInput, now: number): L2tpStep {
  const ctx: Ctx = { st: state, now, out: [], touched: new Set() };
  switch (input.kind) {
    case "datagram":
      onDatagram(ctx, input.binding, input.owner ?? input.binding, input.bytes);
      break;
    case "timer":
      state.timerAt = null; // the driver's timer is spent: always re-arm
      onTimers(ctx);
      break;
    case "openTunnel":
      openTunnel(ctx, input.binding, input.owner ?? input.binding);
      break;
    case "closeOwner":
      closeOwner(ctx, input.owner, input.message ?? "transport gone");
      break;
    case "placeCall":
      placeCall(ctx, input);
      break;
    case "sendPpp":
      sendPpp(ctx, input.tunnelId, input.sessionId, input.frame);
      break;
    case "closeSession": {
      const t = state.tunnels.get(input.tunnelId);
      const s = t?.sessions.get(input.sessionId);
      if (!t || !s) {
        ctx.out.push({ kind: "commandFailed", input: input.kind, reason: "no such session" });
        break;
      }
      closeSession(
        ctx,
        t,
        s,
        {
          resultCode: input.resultCode ?? CdnResult.Administrative,
          ...(input.errorCode !== undefined ? { errorCode: input.errorCode } : {}),
          ...(input.message !== undefined ? { message: input.message } : {}),
        },
        "local",
      );
      break;
    }
    case "closeTunnel": {
      const t = state.tunnels.get(input.tunnelId);
      if (!t || t.state === "closing" || t.state === "held") {
        ctx.out.push({ kind: "commandFailed", input: input.kind, reason: "no such open tunnel" });
        break;
      }
      stopTunnel(ctx, t, {
        resultCode: input.resultCode ?? StopCcnResult.GeneralRequest,
        ...(input.message !== undefined ? { message: input.message } : {}),
      });
      break;
    }
  }
  rearm(ctx);
  return { state, actions: ctx.out };
}

/** Read-only views for the daemon/monitor. */
export function listTunnels(state: L2tpState): readonly Tunnel[] {
  return [...state.tunnels.values()];
}

function onDatagram(ctx: Ctx, binding: string, owner: string, bytes: Uint8Array): void {
  const p = parseL2tpPacket(bytes);
  if (!p.ok) {
    drop(ctx, p.error.code === WireErrorCode.BadValue ? "bad_header" : "malformed_header", {
      peer: binding,
      error: p.error.message,
    });
    return;
  }
  const pkt = p.value;
  if (pkt.kind === "data") {
    onData(ctx, binding, owner, pkt.header, pkt.body);
    return;
  }
  const h = pkt.header;
  const ns = h.ns ?? 0;
  const nr = h.nr ?? 0;
  let t: Tunnel | undefined;
  if (h.tunnelId === 0) {
    if (pkt.body.length === 0) {
      drop(ctx, "zlb_for_tunnel_0", { peer: binding });
      return;
    }
    if (ns !== 0) {
      drop(ctx, "sccrq_ns_not_0", { peer: binding });
      return;
    }
    t = sccrqTunnel(ctx, binding, owner, pkt.body);
    if (!t) return;
  } else {
    t = ctx.st.tunnels.get(h.tunnelId);
    if (!t) {
      drop(ctx, "unknown_tunnel", { peer: binding, tunnel: h.tunnelId });
      return;
    }
    if (t.binding !== binding || t.owner !== owner) {
      drop(ctx, "wrong_binding", { peer: binding, tunnel: h.tunnelId });
      return;
    }
  }
  const p2 = ctx.st.config.channel;
  ctx.touched.add(t);
  t.lastRxAt = ctx.now;
  onAck(t.channel, p2, nr, ctx.now);
  if (pkt.body.length === 0) {
    // ZLB: acknowledgement only
  } else {
    const r = onReceive(t.channel, p2, ns, { header: h, body: pkt.body }, ctx.now, t.peerId);
    if (r.duplicate) ctx.st.counters.inc("l2tp_rx_duplicate");
    emitWire(ctx, t, r.sends);
    for (const m of r.deliver) {
      if (!ctx.st.tunnels.has(t.localId)) break;
      if (backlogFull(ctx, t)) break;
      onControl(ctx, t, m);
    }
  }
  afterChannelActivity(ctx, t);
}

/** After acks: closing tunnels whose StopCCN got acked go away; queued messages may now go. */
function afterChannelActivity(ctx: Ctx, t: Tunnel): void {
  if (!ctx.st.tunnels.has(t.localId)) return;
  emitWire(ctx, t, pump(t.channel, ctx.st.config.channel, ctx.now));
  if (t.state === "closing" && channelIdle(t.channel)) {
    log(ctx, t).debug("StopCCN acknowledged; tunnel state released");
    deleteTunnel(ctx, t);
  }
}

function onControl(ctx: Ctx, t: Tunnel, m: Received): void {
  if (t.state === "held" || t.state === "closing") {
    // only acks matter now (already done by the channel)
    drop(ctx, "tunnel_closing", { tunnel: t.localId });
    return;
  }
  const raws = parseAvps(m.body);
  if (!raws.ok) {
    stopTunnel(ctx, t, {
      resultCode: StopCcnResult.GeneralError,
      errorCode: L2tpErrorCode.BadLength,
      message: raws.error.message,
    });
    return;
  }
  const d = decodeControlMessage(raws.value, ctx.st.config.secret);
  if (!d.ok) {
    stopTunnel(ctx, t, {
      resultCode: StopCcnResult.GeneralError,
      errorCode:
        d.error.code === WireErrorCode.BadLength ? L2tpErrorCode.BadLength : L2tpErrorCode.BadValue,
      message: d.error.message,
    });
    return;
  }
  const msg = d.value;
  const type = msg.messageType;
  const typeAvp = raws.value[0];
  log(ctx, t).debug(`received ${l2tpMessageTypeName(type)}`, { session: m.header.sessionId });
  if (REQUIRED_AVPS[type] === undefined) {
    // unknown message type: §3.2 — with the M bit tear down, else ignore
    if (typeAvp?.mandatory) {
      stopTunnel(ctx, t, {
        resultCode: StopCcnResult.GeneralError,
        errorCode: L2tpErrorCode.UnknownMandatoryAvp,
        message: `unknown mandatory message type ${type}`,
      });
      return;
    }
    drop(ctx, "unknown_message_type", { type });
    return;
  }
  const missing = (REQUIRED_AVPS[type] ?? []).filter((a) => !msg.avps.some((x) => x.type === a));
  const tunnelScoped = TUNNEL_MESSAGES.has(type);
  if (msg.unknownMandatory.length > 0) {
    const names = msg.unknownMandatory
      .map((a) => avpTypeName(a.attributeType, a.vendorId))
      .join(", ");
    const r = {
      resultCode: 2,
      errorCode: L2tpErrorCode.UnknownMandatoryAvp,
      message: `unknown mandatory AVP: ${names}`,
    };
    if (type === L2tpMessageType.StopCCN || type === L2tpMessageType.CDN) {
      log(ctx, t).warn(
        `${l2tpMessageTypeName(type)} carries unrecognized mandatory AVPs; honouring it anyway`,
        { avps: names },
      );
    } else if (tunnelScoped) {
      stopTunnel(ctx, t, r);
      return;
    } else {
      rejectSessionMessage(ctx, t, m.header.sessionId, msg, r);
      return;
    }
  }
  if (missing.length > 0) {
    const r = {
      resultCode: 2,
      errorCode: L2tpErrorCode.BadValue,
      message: `${l2tpMessageTypeName(type)} without ${missing.map((a) => avpTypeName(a)).join(", ")}`,
    };
    if (tunnelScoped) {
      stopTunnel(ctx, t, r);
      return;
    }
    rejectSessionMessage(ctx, t, m.header.sessionId, msg, r);
    return;
  }
  switch (type) {
    case L2tpMessageType.SCCRQ:
      onSccrq(ctx, t, msg);
      return;
    case L2tpMessageType.SCCRP:
      onSccrp(ctx, t, msg);
      return;
    case L2tpMessageType.SCCCN:
      onScccn(ctx, t, msg);
      return;
    case L2tpMessageType.StopCCN:
      onStopCcn(ctx, t, msg);
      return;
    case L2tpMessageType.HELLO:
      return;
  }
  if (t.state !== "established") {
    stopTunnel(ctx, t, {
      resultCode: StopCcnResult.FsmError,
      message: `${l2tpMessageTypeName(type)} before the control connection is established`,
    });
    return;
  }
  switch (type) {
    case L2tpMessageType.ICRQ:
      onIcrq(ctx, t, msg);
      return;
    case L2tpMessageType.ICRP:
      onIcrp(ctx, t, m.header.sessionId, msg);
      return;
    case L2tpMessageType.ICCN:
      onIccn(ctx, t, m.header.sessionId, msg);
      return;
    case L2tpMessageType.CDN:
      onCdn(ctx, t, m.header.sessionId, msg);
      return;
    case L2tpMessageType.OCRQ: {
      const peerSid = findAvp(msg, AvpType.AssignedSessionId)?.value ?? 0;
      log(ctx, t).info("OCRQ rejected: outgoing calls are not supported");
      sendCdnFor(ctx, t, peerSid, {
        resultCode: CdnResult.PermanentNoFacilities,
        message: "outgoing calls not supported",
      });
      return;
    }
    case L2tpMessageType.WEN:
    case L2tpMessageType.SLI:
      log(ctx, t).info(`received ${l2tpMessageTypeName(type)}`, { session: m.header.sessionId });
      return;
    default:
      // OCRP/OCCN: answers to an OCRQ we never send
      drop(ctx, "unexpected_message", { type: l2tpMessageTypeName(type) });
      return;
  }
}
