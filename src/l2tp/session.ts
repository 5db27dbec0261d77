/**
 * Calls (RFC 2661 §7, incoming calls both sides): placing a call, ICRQ/ICRP/ICCN, CDN both ways,
 * refusing session messages, and data messages (PPP frames) in and out.
 */
import {
  AvpType,
  CdnResult,
  FramingBits,
  L2tpErrorCode,
  L2tpMessageType,
  l2tpMessageTypeName,
  l2tpResultCodeName,
} from "../registry/l2tp.js";
import type { L2tpAvp } from "../wire/l2tp/avp.js";
import { type ControlMessage, findAvp } from "../wire/l2tp/control.js";
import { type L2tpHeader, dataHeader, serializeL2tpPacket } from "../wire/l2tp/header.js";
import type { L2tpInput, L2tpTeardown, Session, Tunnel } from "./types.js";
import { type Ctx, log, drop, allocateId, sendControl, mt, resultAvp } from "./common.js";
import { sessionLimit, limitRefused } from "./limits.js";

export function placeCall(ctx: Ctx, input: Extract<L2tpInput, { kind: "placeCall" }>): void {
  const t = ctx.st.tunnels.get(input.tunnelId);
  if (!t || t.state === "closing" || t.state === "held") {
    ctx.out.push({ kind: "commandFailed", input: "placeCall", reason: "no such open tunnel" });
    return;
  }
  const limit = sessionLimit(ctx.st, t);
  if (limit !== null) {
    ctx.out.push({ kind: "commandFailed", input: "placeCall", reason: `${limit} limit reached` });
    return;
  }
  const id = allocateId(ctx.st.config.random, (x) => t.sessions.has(x));
  if (id === null) {
    ctx.out.push({ kind: "commandFailed", input: "placeCall", reason: "no free session ID" });
    return;
  }
  const s: Session = {
    localId: id,
    setupDeadline: null,
    peerId: 0,
    state: "waitTunnel",
    role: "lac",
    callSerial: ctx.st.callSerial,
    sequencing: false,
    dataNs: 0,
    ...(input.callingNumber !== undefined ? { callingNumber: input.callingNumber } : {}),
    ...(input.calledNumber !== undefined ? { calledNumber: input.calledNumber } : {}),
  };
  ctx.st.callSerial = (ctx.st.callSerial + 1) >>> 0;
  t.sessions.set(id, s);
  ctx.out.push({ kind: "sessionOpening", tunnelId: t.localId, sessionId: id });
  if (t.state === "established") sendIcrq(ctx, t, s);
}

export function sendIcrq(ctx: Ctx, t: Tunnel, s: Session): void {
  const avps: L2tpAvp[] = [
    mt(L2tpMessageType.ICRQ),
    { type: AvpType.AssignedSessionId, mandatory: true, value: s.localId },
    { type: AvpType.CallSerialNumber, mandatory: true, value: s.callSerial },
    { type: AvpType.BearerType, mandatory: true, value: 0 },
  ];
  if (s.callingNumber !== undefined) {
    avps.push({
      type: AvpType.CallingNumber,
      mandatory: true,
      value: Buffer.from(s.callingNumber),
    });
  }
  if (s.calledNumber !== undefined) {
    avps.push({ type: AvpType.CalledNumber, mandatory: true, value: Buffer.from(s.calledNumber) });
  }
  s.state = "waitReply";
  s.setupDeadline = ctx.now + ctx.st.config.setupTimeoutMs;
  sendControl(ctx, t, 0, avps);
}

export function sendPpp(ctx: Ctx, tunnelId: number, sessionId: number, frame: Uint8Array): void {
  const t = ctx.st.tunnels.get(tunnelId);
  const s = t?.sessions.get(sessionId);
  if (!t || !s || s.state !== "established") {
    ctx.out.push({
      kind: "commandFailed",
      input: "sendPpp",
      reason: "no such established session",
    });
    return;
  }
  const header = dataHeader(t.peerId, s.peerId, {
    lengthBit: ctx.st.config.dataLengthBit,
    ...(s.sequencing ? { ns: s.dataNs, nr: 0 } : {}),
  });
  if (s.sequencing) s.dataNs = (s.dataNs + 1) & 0xffff;
  ctx.out.push({
    kind: "send",
    binding: t.binding,
    bytes: serializeL2tpPacket({ header, body: frame }),
  });
}

export function closeSession(
  ctx: Ctx,
  t: Tunnel,
  s: Session,
  r: Omit<L2tpTeardown, "by">,
  by: L2tpTeardown["by"],
): void {
  t.sessions.delete(s.localId);
  ctx.out.push({ kind: "sessionDown", tunnelId: t.localId, sessionId: s.localId, by, ...r });
  log(ctx, t).info("sending CDN", {
    session: s.localId,
    result: l2tpResultCodeName(L2tpMessageType.CDN, r.resultCode ?? 0),
  });
  // A session still waiting for its tunnel never reached the peer: nothing to send.
  if (s.state === "waitTunnel" || t.state !== "established") return;
  sendControl(ctx, t, s.peerId, [
    mt(L2tpMessageType.CDN),
    resultAvp({ by, ...r }),
    { type: AvpType.AssignedSessionId, mandatory: true, value: s.localId },
  ]);
}

export function sendCdnFor(
  ctx: Ctx,
  t: Tunnel,
  peerSessionId: number,
  r: Omit<L2tpTeardown, "by">,
  localId = 0,
): void {
  sendControl(ctx, t, peerSessionId, [
    mt(L2tpMessageType.CDN),
    resultAvp({ by: "local", ...r }),
    { type: AvpType.AssignedSessionId, mandatory: true, value: localId },
  ]);
}

/** A session-scoped message we cannot accept: clear that session (or refuse the call). */
export function rejectSessionMessage(
  ctx: Ctx,
  t: Tunnel,
  headerSid: number,
  msg: ControlMessage,
  r: { resultCode: number; errorCode: number; message: string },
): void {
  if (msg.messageType === L2tpMessageType.ICRQ || msg.messageType === L2tpMessageType.OCRQ) {
    const peerSid = findAvp(msg, AvpType.AssignedSessionId)?.value ?? 0;
    log(ctx, t).warn(`${l2tpMessageTypeName(msg.messageType)} refused: ${r.message}`);
    sendCdnFor(ctx, t, peerSid, r);
    return;
  }
  const s = t.sessions.get(headerSid);
  if (!s) {
    drop(ctx, "bad_message_unknown_session", { session: headerSid, reason: r.message });
    return;
  }
  log(ctx, t).warn(`session ${s.localId}: ${r.message}`);
  closeSession(ctx, t, s, r, "local");
}

export function onIcrq(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
  const c = ctx.st.config;
  const peerSid = findAvp(msg, AvpType.AssignedSessionId)?.value ?? 0;
  if (peerSid === 0) {
    sendCdnFor(ctx, t, 0, {
      resultCode: 2,
      errorCode: L2tpErrorCode.BadValue,
      message: "Assigned Session ID 0",
    });
    return;
  }
  const limit = sessionLimit(ctx.st, t);
  if (limit !== null) {
    limitRefused(ctx, limit, { owner: t.owner, peer: t.binding, tunnel: t.localId });
    sendCdnFor(ctx, t, peerSid, {
      resultCode: CdnResult.TemporaryNoFacilities,
      errorCode: L2tpErrorCode.NoResources,
      message: `${limit.replaceAll("_", " ")} limit reached`,
    });
    return;
  }
  const id = allocateId(c.random, (x) => t.sessions.has(x));
  if (id === null) {
    sendCdnFor(ctx, t, peerSid, {
      resultCode: CdnResult.TemporaryNoFacilities,
      errorCode: L2tpErrorCode.NoResources,
    });
    return;
  }
  const calling = findAvp(msg, AvpType.CallingNumber)?.value;
  const called = findAvp(msg, AvpType.CalledNumber)?.value;
  const s: Session = {
    localId: id,
    setupDeadline: ctx.now + c.setupTimeoutMs,
    peerId: peerSid,
    state: "waitConnect",
    role: "lns",
    callSerial: findAvp(msg, AvpType.CallSerialNumber)?.value ?? 0,
    sequencing: false,
    dataNs: 0,
    ...(calling ? { callingNumber: calling.toString("latin1") } : {}),
    ...(called ? { calledNumber: called.toString("latin1") } : {}),
  };
  t.sessions.set(id, s);
  sendControl(ctx, t, peerSid, [
    mt(L2tpMessageType.ICRP),
    { type: AvpType.AssignedSessionId, mandatory: true, value: id },
  ]);
}

export function onIcrp(ctx: Ctx, t: Tunnel, sid: number, msg: ControlMessage): void {
  const s = t.sessions.get(sid);
  if (!s) {
    drop(ctx, "icrp_unknown_session", { session: sid });
    return;
  }
  if (s.state !== "waitReply") {
    closeSession(
      ctx,
      t,
      s,
      { resultCode: 2, errorCode: L2tpErrorCode.InvalidSessionId, message: "unexpected ICRP" },
      "local",
    );
    return;
  }
  s.peerId = findAvp(msg, AvpType.AssignedSessionId)?.value ?? 0;
  sendControl(ctx, t, s.peerId, [
    mt(L2tpMessageType.ICCN),
    { type: AvpType.TxConnectSpeed, mandatory: true, value: ctx.st.config.connectSpeed },
    { type: AvpType.FramingType, mandatory: true, value: FramingBits.Sync },
  ]);
  sessionUp(ctx, t, s);
}

export function onIccn(ctx: Ctx, t: Tunnel, sid: number, msg: ControlMessage): void {
  const s = t.sessions.get(sid);
  if (!s) {
    drop(ctx, "iccn_unknown_session", { session: sid });
    return;
  }
  if (s.state !== "waitConnect") {
    closeSession(
      ctx,
      t,
      s,
      { resultCode: 2, errorCode: L2tpErrorCode.InvalidSessionId, message: "unexpected ICCN" },
      "local",
    );
    return;
  }
  s.sequencing = findAvp(msg, AvpType.SequencingRequired) !== undefined;
  sessionUp(ctx, t, s);
}

export function sessionUp(ctx: Ctx, t: Tunnel, s: Session): void {
  s.state = "established";
  s.setupDeadline = null;
  log(ctx, t).info("session established", { session: s.localId, peerSession: s.peerId });
  ctx.out.push({
    kind: "sessionUp",
    tunnelId: t.localId,
    sessionId: s.localId,
    peerSessionId: s.peerId,
    binding: t.binding,
  });
}

export function onCdn(ctx: Ctx, t: Tunnel, sid: number, msg: ControlMessage): void {
  let s = t.sessions.get(sid);
  const peerSid = findAvp(msg, AvpType.AssignedSessionId)?.value;
  if (!s && peerSid !== undefined && peerSid !== 0) {
    s = [...t.sessions.values()].find((x) => x.peerId === peerSid);
  }
  if (!s) {
    drop(ctx, "cdn_unknown_session", { session: sid });
    return;
  }
  const rc = findAvp(msg, AvpType.ResultCode);
  t.sessions.delete(s.localId);
  const r: L2tpTeardown = {
    by: "peer",
    ...(rc ? { resultCode: rc.resultCode } : {}),
    ...(rc?.errorCode !== undefined ? { errorCode: rc.errorCode } : {}),
    ...(rc?.errorMessage ? { message: rc.errorMessage.toString("latin1") } : {}),
  };
  log(ctx, t).info("CDN received", {
    session: s.localId,
    result: l2tpResultCodeName(L2tpMessageType.CDN, r.resultCode ?? 0),
  });
  ctx.out.push({ kind: "sessionDown", tunnelId: t.localId, sessionId: s.localId, ...r });
}

export function onData(
  ctx: Ctx,
  binding: string,
  owner: string,
  h: L2tpHeader,
  body: Buffer,
): void {
  const t = ctx.st.tunnels.get(h.tunnelId);
  if (!t) {
    drop(ctx, "data_unknown_tunnel", { peer: binding, tunnel: h.tunnelId });
    return;
  }
  if (t.binding !== binding || t.owner !== owner) {
    drop(ctx, "wrong_binding", { peer: binding, tunnel: h.tunnelId });
    return;
  }
  t.lastRxAt = ctx.now;
  const s = t.sessions.get(h.sessionId);
  if (s?.state !== "established") {
    drop(ctx, "data_unknown_session", { tunnel: t.localId, session: h.sessionId });
    return;
  }
  ctx.out.push({ kind: "ppp", tunnelId: t.localId, sessionId: s.localId, frame: body });
}
