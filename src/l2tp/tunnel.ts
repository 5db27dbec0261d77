/**
 * Control connections (RFC 2661 §5.1, §5.7, §6.1–§6.4): creating and releasing tunnels,
 * SCCRQ/SCCRP/SCCCN both roles with tunnel authentication (§5.1.1) and the tie breaker (§4.4.3),
 * StopCCN both ways with the hold period, dropping an owner's tunnels, and the guard against a
 * peer that never acknowledges.
 */
import {
  AvpType,
  FramingBits,
  L2TP_PROTOCOL_REVISION,
  L2TP_PROTOCOL_VERSION,
  L2tpErrorCode,
  L2tpMessageType,
  StopCcnResult,
  l2tpErrorCodeName,
  l2tpMessageTypeName,
  l2tpResultCodeName,
} from "../registry/l2tp.js";
import { type L2tpAvp, parseAvps } from "../wire/l2tp/avp.js";
import { type ControlMessage, decodeControlMessage, findAvp } from "../wire/l2tp/control.js";
import { newChannel, setPeerWindow, zlb } from "./channel.js";
import { challengeResponse } from "./messages.js";
import type { L2tpTeardown, TunnelState, Received, Tunnel } from "./types.js";
import { type Ctx, log, drop, allocateId, emitWire, sendControl, mt, resultAvp } from "./common.js";
import { tunnelLimit, limitRefused, refuseSccrq } from "./limits.js";
import { sendIcrq } from "./session.js";

function newTunnel(
  ctx: Ctx,
  role: "lac" | "lns",
  binding: string,
  owner: string,
  peerId: number,
  state: TunnelState,
): Tunnel | null {
  const st = ctx.st;
  const id = allocateId(st.config.random, (x) => st.tunnels.has(x));
  if (id === null) return null;
  const t: Tunnel = {
    localId: id,
    peerId,
    binding,
    owner,
    role,
    state,
    setupDeadline: ctx.now + st.config.setupTimeoutMs,
    channel: newChannel<Received>(st.config.channel),
    sessions: new Map(),
    peerHostName: "",
    announced: false,
    lastRxAt: ctx.now,
    helloAt: null,
    holdUntil: null,
    deadline: null,
  };
  st.tunnels.set(id, t);
  ctx.touched.add(t);
  const mine = st.byOwner.get(owner);
  if (mine) mine.add(id);
  else st.byOwner.set(owner, new Set([id]));
  return t;
}

export function deleteTunnel(ctx: Ctx, t: Tunnel): void {
  ctx.st.tunnels.delete(t.localId);
  if (t.deadline) ctx.st.deadlines.cancel(t.deadline);
  t.deadline = null;
  const mine = ctx.st.byOwner.get(t.owner);
  mine?.delete(t.localId);
  if (mine?.size === 0) ctx.st.byOwner.delete(t.owner);
  if (t.sccrqKey !== undefined && ctx.st.bySccrq.get(t.sccrqKey) === t.localId)
    ctx.st.bySccrq.delete(t.sccrqKey);
}

/** Tunnel-level end of life for everything above: sessions down, then the tunnel down. */
export function announceDown(ctx: Ctx, t: Tunnel, r: L2tpTeardown): void {
  for (const s of t.sessions.values()) {
    ctx.out.push({ kind: "sessionDown", tunnelId: t.localId, sessionId: s.localId, ...r });
  }
  t.sessions.clear();
  if (t.announced)
    ctx.out.push({ kind: "tunnelDown", tunnelId: t.localId, binding: t.binding, ...r });
  t.announced = false;
}

/** Sends StopCCN and moves to "closing" (§5.7). */
export function stopTunnel(
  ctx: Ctx,
  t: Tunnel,
  r: Omit<L2tpTeardown, "by">,
  by: L2tpTeardown["by"] = "local",
): void {
  const rc = r.resultCode ?? StopCcnResult.GeneralRequest;
  log(ctx, t).info("sending StopCCN", {
    result: l2tpResultCodeName(L2tpMessageType.StopCCN, rc),
    ...(r.errorCode !== undefined ? { error: l2tpErrorCodeName(r.errorCode) } : {}),
    ...(r.message !== undefined ? { reason: r.message } : {}),
  });
  announceDown(ctx, t, { by, ...r });
  // stop retransmitting anything else; StopCCN is the last message
  t.channel.pending = [];
  sendControl(ctx, t, 0, [
    mt(L2tpMessageType.StopCCN),
    { type: AvpType.AssignedTunnelId, mandatory: true, value: t.localId },
    resultAvp({ by: "local", ...r, resultCode: rc }),
  ]);
  t.state = "closing";
  t.helloAt = null;
  t.setupDeadline = null;
  t.holdUntil = ctx.now + ctx.st.config.stopCcnHoldMs;
}

/** The owner's transport is gone: nothing can be sent there any more, so no StopCCN/CDN. */
export function closeOwner(ctx: Ctx, owner: string, message: string): void {
  const ids = [...(ctx.st.byOwner.get(owner) ?? [])];
  for (const id of ids) {
    const t = ctx.st.tunnels.get(id);
    if (!t) continue;
    announceDown(ctx, t, { by: "local", message });
    deleteTunnel(ctx, t);
  }
  if (ids.length > 0)
    ctx.st.config.log.info("owner gone: tunnels dropped", {
      owner,
      tunnels: ids.length,
      reason: message,
    });
}

export function openTunnel(ctx: Ctx, binding: string, owner: string): void {
  const c = ctx.st.config;
  const limit = tunnelLimit(ctx.st, owner);
  if (limit !== null) {
    ctx.out.push({ kind: "commandFailed", input: "openTunnel", reason: `${limit} limit reached` });
    return;
  }
  const t = newTunnel(ctx, "lac", binding, owner, 0, "waitCtlReply");
  if (!t) {
    ctx.out.push({ kind: "commandFailed", input: "openTunnel", reason: "no free tunnel ID" });
    return;
  }
  t.announced = true;
  ctx.out.push({ kind: "tunnelOpening", tunnelId: t.localId, binding });
  const avps: L2tpAvp[] = [mt(L2tpMessageType.SCCRQ), ...startAvps(ctx, t)];
  if (c.tieBreaker) {
    t.tieBreaker = c.random(8);
    avps.push({ type: AvpType.TieBreaker, mandatory: false, value: t.tieBreaker });
  }
  if (c.secret) {
    t.ourChallenge = c.random(16);
    avps.push({ type: AvpType.Challenge, mandatory: true, value: t.ourChallenge });
  }
  log(ctx, t).info("opening tunnel");
  sendControl(ctx, t, 0, avps, 0);
}

/** AVPs common to SCCRQ and SCCRP (§6.1, §6.2). */
function startAvps(ctx: Ctx, t: Tunnel): L2tpAvp[] {
  const c = ctx.st.config;
  return [
    {
      type: AvpType.ProtocolVersion,
      mandatory: true,
      version: L2TP_PROTOCOL_VERSION,
      revision: L2TP_PROTOCOL_REVISION,
    },
    {
      type: AvpType.FramingCapabilities,
      mandatory: true,
      value: FramingBits.Sync | FramingBits.Async,
    },
    { type: AvpType.BearerCapabilities, mandatory: true, value: 0 },
    { type: AvpType.FirmwareRevision, mandatory: false, value: c.firmwareRevision },
    { type: AvpType.HostName, mandatory: true, value: c.hostName },
    { type: AvpType.VendorName, mandatory: false, value: Buffer.from(c.vendorName) },
    { type: AvpType.AssignedTunnelId, mandatory: true, value: t.localId },
    { type: AvpType.ReceiveWindowSize, mandatory: true, value: c.channel.receiveWindow },
  ];
}

/**
 * An SCCRQ (header Tunnel ID 0): the existing tunnel if this is a retransmission, else a new one
 * (or a tie-breaker loss, or a rejection).
 */
export function sccrqTunnel(
  ctx: Ctx,
  binding: string,
  owner: string,
  body: Buffer,
): Tunnel | undefined {
  const raws = parseAvps(body);
  if (!raws.ok) {
    drop(ctx, "malformed_sccrq", { peer: binding, error: raws.error.message });
    return undefined;
  }
  const m = decodeControlMessage(raws.value, ctx.st.config.secret);
  if (!m.ok) {
    drop(ctx, "malformed_sccrq", { peer: binding, error: m.error.message });
    return undefined;
  }
  if (m.value.messageType !== L2tpMessageType.SCCRQ) {
    drop(ctx, "tunnel_0_not_sccrq", {
      peer: binding,
      type: l2tpMessageTypeName(m.value.messageType),
    });
    return undefined;
  }
  const peerTid = findAvp(m.value, AvpType.AssignedTunnelId)?.value;
  if (peerTid === undefined || peerTid === 0) {
    drop(ctx, "sccrq_without_tunnel_id", { peer: binding });
    return undefined;
  }
  const key = `${binding}\u0000${peerTid}`;
  const existing = ctx.st.bySccrq.get(key);
  if (existing !== undefined) {
    const t = ctx.st.tunnels.get(existing);
    if (t) return t;
  }
  // tie breaker (§4.4.3): only when both SCCRQs carry one
  const theirs = findAvp(m.value, AvpType.TieBreaker)?.value;
  if (theirs) {
    for (const ours of ctx.st.tunnels.values()) {
      if (ours.binding !== binding || ours.state !== "waitCtlReply" || !ours.tieBreaker) continue;
      const cmp = Buffer.compare(ours.tieBreaker, theirs);
      if (cmp < 0) {
        log(ctx, ours).info("simultaneous SCCRQ: our tie breaker is lower, we keep our tunnel");
        drop(ctx, "tie_breaker_won", { peer: binding });
        return undefined;
      }
      log(ctx, ours).info("simultaneous SCCRQ: tie breaker lost, discarding our tunnel");
      announceDown(ctx, ours, { by: "local", message: "tie breaker lost" });
      deleteTunnel(ctx, ours);
      if (cmp === 0) {
        drop(ctx, "tie_breaker_equal", { peer: binding });
        return undefined;
      }
    }
  }
  const limit = tunnelLimit(ctx.st, owner);
  if (limit !== null) {
    limitRefused(ctx, limit, { owner, peer: binding });
    refuseSccrq(ctx, binding, peerTid, `${limit.replaceAll("_", " ")} limit reached`);
    return undefined;
  }
  const t = newTunnel(ctx, "lns", binding, owner, peerTid, "waitCtlConn");
  if (!t) {
    drop(ctx, "no_tunnel_id", { peer: binding });
    return undefined;
  }
  t.sccrqKey = key;
  ctx.st.bySccrq.set(key, t.localId);
  return t;
}

function fsmError(ctx: Ctx, t: Tunnel, what: string): void {
  stopTunnel(ctx, t, {
    resultCode: StopCcnResult.FsmError,
    message: `unexpected ${what} in state ${t.state}`,
  });
}

function checkVersion(ctx: Ctx, t: Tunnel, msg: ControlMessage): boolean {
  const v = findAvp(msg, AvpType.ProtocolVersion);
  if (v && v.version === L2TP_PROTOCOL_VERSION && v.revision === L2TP_PROTOCOL_REVISION)
    return true;
  stopTunnel(ctx, t, {
    resultCode: StopCcnResult.UnsupportedVersion,
    // §4.4.2: the Error Code carries the highest version/revision we support
    errorCode: (L2TP_PROTOCOL_VERSION << 8) | L2TP_PROTOCOL_REVISION,
    message: `protocol version ${v?.version ?? "?"}.${v?.revision ?? "?"} not supported`,
  });
  return false;
}

function notAuthorized(ctx: Ctx, t: Tunnel, why: string): void {
  log(ctx, t).warn(`tunnel authentication failed: ${why}`);
  ctx.st.counters.inc("l2tp_auth_failures");
  stopTunnel(ctx, t, { resultCode: StopCcnResult.NotAuthorized, message: why });
}

export function onSccrq(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
  const c = ctx.st.config;
  if (t.state !== "waitCtlConn" || t.channel.nr !== 1) {
    fsmError(ctx, t, "SCCRQ");
    return;
  }
  t.peerHostName = findAvp(msg, AvpType.HostName)?.value.toString("latin1") ?? "";
  setPeerWindow(t.channel, findAvp(msg, AvpType.ReceiveWindowSize)?.value ?? 4);
  if (!c.acceptTunnels) {
    stopTunnel(ctx, t, {
      resultCode: StopCcnResult.NotAuthorized,
      message: "this endpoint accepts no tunnels",
    });
    return;
  }
  if (!checkVersion(ctx, t, msg)) return;
  const challenge = findAvp(msg, AvpType.Challenge)?.value;
  if (challenge && !c.secret) {
    notAuthorized(ctx, t, "peer sent a Challenge but no tunnel secret is configured");
    return;
  }
  const avps: L2tpAvp[] = [mt(L2tpMessageType.SCCRP), ...startAvps(ctx, t)];
  if (challenge && c.secret) {
    avps.push({
      type: AvpType.ChallengeResponse,
      mandatory: true,
      value: challengeResponse(L2tpMessageType.SCCRP, c.secret, challenge),
    });
  }
  if (c.secret) {
    t.ourChallenge = c.random(16);
    avps.push({ type: AvpType.Challenge, mandatory: true, value: t.ourChallenge });
  }
  log(ctx, t).info("SCCRQ accepted", { peerHost: t.peerHostName, peerTunnel: t.peerId });
  sendControl(ctx, t, 0, avps);
}

function verifyResponse(ctx: Ctx, t: Tunnel, msg: ControlMessage, responseType: number): boolean {
  const c = ctx.st.config;
  if (!t.ourChallenge || !c.secret) return true;
  const got = findAvp(msg, AvpType.ChallengeResponse)?.value;
  const want = challengeResponse(responseType, c.secret, t.ourChallenge);
  if (!got) {
    notAuthorized(ctx, t, `${l2tpMessageTypeName(responseType)} without Challenge Response`);
    return false;
  }
  if (!got.equals(want)) {
    notAuthorized(ctx, t, "wrong Challenge Response (tunnel secrets differ)");
    return false;
  }
  return true;
}

export function onSccrp(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
  const c = ctx.st.config;
  if (t.state !== "waitCtlReply") {
    fsmError(ctx, t, "SCCRP");
    return;
  }
  t.peerId = findAvp(msg, AvpType.AssignedTunnelId)?.value ?? 0;
  t.peerHostName = findAvp(msg, AvpType.HostName)?.value.toString("latin1") ?? "";
  setPeerWindow(t.channel, findAvp(msg, AvpType.ReceiveWindowSize)?.value ?? 4);
  if (t.peerId === 0) {
    stopTunnel(ctx, t, {
      resultCode: 2,
      errorCode: L2tpErrorCode.BadValue,
      message: "Assigned Tunnel ID 0",
    });
    return;
  }
  if (!checkVersion(ctx, t, msg)) return;
  if (!verifyResponse(ctx, t, msg, L2tpMessageType.SCCRP)) return;
  const challenge = findAvp(msg, AvpType.Challenge)?.value;
  if (challenge && !c.secret) {
    notAuthorized(ctx, t, "peer sent a Challenge but no tunnel secret is configured");
    return;
  }
  const avps: L2tpAvp[] = [mt(L2tpMessageType.SCCCN)];
  if (challenge && c.secret) {
    avps.push({
      type: AvpType.ChallengeResponse,
      mandatory: true,
      value: challengeResponse(L2tpMessageType.SCCCN, c.secret, challenge),
    });
  }
  sendControl(ctx, t, 0, avps);
  established(ctx, t);
}

export function onScccn(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
  if (t.state !== "waitCtlConn") {
    fsmError(ctx, t, "SCCCN");
    return;
  }
  if (!verifyResponse(ctx, t, msg, L2tpMessageType.SCCCN)) return;
  established(ctx, t);
}

export function established(ctx: Ctx, t: Tunnel): void {
  t.state = "established";
  t.setupDeadline = null;
  t.announced = true;
  t.helloAt = ctx.now + ctx.st.config.helloIntervalMs;
  log(ctx, t).info("control connection established", {
    peerHost: t.peerHostName,
    peerTunnel: t.peerId,
  });
  ctx.out.push({
    kind: "tunnelUp",
    tunnelId: t.localId,
    peerTunnelId: t.peerId,
    binding: t.binding,
    peerHostName: t.peerHostName,
  });
  for (const s of t.sessions.values()) if (s.state === "waitTunnel") sendIcrq(ctx, t, s);
}

export function onStopCcn(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
  const rc = findAvp(msg, AvpType.ResultCode);
  const r: L2tpTeardown = {
    by: "peer",
    ...(rc ? { resultCode: rc.resultCode } : {}),
    ...(rc?.errorCode !== undefined ? { errorCode: rc.errorCode } : {}),
    ...(rc?.errorMessage ? { message: rc.errorMessage.toString("latin1") } : {}),
  };
  log(ctx, t).info("StopCCN received", {
    result: l2tpResultCodeName(L2tpMessageType.StopCCN, r.resultCode ?? 0),
    ...(r.message !== undefined ? { reason: r.message } : {}),
  });
  announceDown(ctx, t, r);
  // §5.7: ack it and keep enough state to ack retransmissions for a full cycle
  t.channel.pending = [];
  t.channel.inFlight = [];
  t.channel.rtoDeadline = null;
  t.channel.ackDeadline = null;
  emitWire(ctx, t, [zlb(t.channel, t.peerId)]);
  t.state = "held";
  t.helloAt = null;
  t.setupDeadline = null;
  t.holdUntil = ctx.now + ctx.st.config.stopCcnHoldMs;
}

/**
 * Every request we answer queues a reliable reply; a peer that keeps sending requests but never
 * acknowledges the replies would grow that queue without end. Past a bound (room for a request
 * and an answer per allowed session, and some tunnel messages) the tunnel is cleared.
 */
export function backlogFull(ctx: Ctx, t: Tunnel): boolean {
  if (t.state === "closing" || t.state === "held") return false;
  const queued = t.channel.pending.length + t.channel.inFlight.length;
  if (queued < 2 * ctx.st.config.maxSessionsPerTunnel + 16) return false;
  limitRefused(ctx, "control_backlog", { owner: t.owner, peer: t.binding, tunnel: t.localId });
  stopTunnel(ctx, t, {
    resultCode: StopCcnResult.GeneralError,
    errorCode: L2tpErrorCode.NoResources,
    message: `peer leaves ${queued} control messages unacknowledged`,
  });
  return true;
}
