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
 * Error handling (DESIGN rule 6): the receive path never throws; malformed or unexpected input is
 * dropped and counted (`state.counters`), or answered with StopCCN/CDN and the RFC result code.
 */
import { WireErrorCode } from "../base/errors.js";
import { type Logger, nullLogger } from "../obs/log.js";
import { Counters } from "../obs/counters.js";
import {
  AvpType,
  CdnResult,
  FramingBits,
  L2TP_PROTOCOL_REVISION,
  L2TP_PROTOCOL_VERSION,
  L2tpErrorCode,
  L2tpMessageType,
  StopCcnResult,
  avpTypeName,
  l2tpErrorCodeName,
  l2tpMessageTypeName,
  l2tpResultCodeName,
} from "../registry/l2tp.js";
import { type L2tpAvp, parseAvps, serializeAvps } from "../wire/l2tp/avp.js";
import {
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  findAvp,
} from "../wire/l2tp/control.js";
import {
  type L2tpHeader,
  controlHeader,
  dataHeader,
  parseL2tpPacket,
  serializeL2tpPacket,
} from "../wire/l2tp/header.js";
import {
  type Channel,
  type ChannelParams,
  type WireSend,
  channelDeadline,
  channelIdle,
  enqueue,
  newChannel,
  onAck,
  onReceive,
  onTimer,
  pump,
  setPeerWindow,
  zlb,
} from "./channel.js";
import { REQUIRED_AVPS, TUNNEL_MESSAGES, challengeResponse } from "./messages.js";

// ---------------------------------------------------------------------------------------------
// Public types

export interface L2tpConfig {
  /** Host Name AVP we send. */
  readonly hostName: string;
  readonly vendorName?: string;
  readonly firmwareRevision?: number;
  /** Accept incoming SCCRQs (LNS). A LAC-only endpoint answers them with StopCCN (result 4). */
  readonly acceptTunnels: boolean;
  /** Tunnel secret (§5.1.1): enables Challenge/Response and hidden AVPs. */
  readonly secret?: Uint8Array;
  /** Hide the call AVPs (Assigned Session ID, Call Serial Number, numbers) when a secret is set. Default true. */
  readonly hideAvps?: boolean;
  /** Our Receive Window Size (default 8). */
  readonly receiveWindow?: number;
  readonly helloIntervalMs?: number;
  readonly rtoInitialMs?: number;
  readonly rtoMaxMs?: number;
  readonly maxRetries?: number;
  readonly ackDelayMs?: number;
  /** How long a torn-down tunnel keeps state to ack retransmitted StopCCNs (default 31 s). */
  readonly stopCcnHoldMs?: number;
  readonly maxTunnels?: number;
  readonly maxSessionsPerTunnel?: number;
  /** Send a Tie Breaker AVP in our SCCRQs (default false). */
  readonly tieBreaker?: boolean;
  /** Set the L bit on data messages we send (default true). */
  readonly dataLengthBit?: boolean;
  /** (Tx) Connect Speed we report in ICCN, bits/s (default 100 000 000). */
  readonly connectSpeed?: number;
  /** Randomness (tunnel/session IDs, challenges, random vectors, padding, tie breakers). */
  readonly random: (n: number) => Buffer;
  readonly log?: Logger;
}

export type L2tpInput =
  | { readonly kind: "datagram"; readonly binding: string; readonly bytes: Uint8Array }
  | { readonly kind: "timer" }
  | { readonly kind: "openTunnel"; readonly binding: string }
  | {
      readonly kind: "placeCall";
      readonly tunnelId: number;
      readonly callingNumber?: string;
      readonly calledNumber?: string;
    }
  | {
      readonly kind: "sendPpp";
      readonly tunnelId: number;
      readonly sessionId: number;
      readonly frame: Uint8Array;
    }
  | {
      readonly kind: "closeSession";
      readonly tunnelId: number;
      readonly sessionId: number;
      readonly resultCode?: number;
      readonly errorCode?: number;
      readonly message?: string;
    }
  | {
      readonly kind: "closeTunnel";
      readonly tunnelId: number;
      readonly resultCode?: number;
      readonly message?: string;
    };

export interface L2tpTeardown {
  /** Who ended it: "peer" (StopCCN/CDN received), "local" (command or our rejection), "timeout". */
  readonly by: "peer" | "local" | "timeout";
  readonly resultCode?: number;
  readonly errorCode?: number;
  readonly message?: string;
}

export type L2tpAction =
  | { readonly kind: "send"; readonly binding: string; readonly bytes: Buffer }
  /** The single engine timer: call handle({kind:"timer"}) at `at` (ms); null = none needed. */
  | { readonly kind: "armTimer"; readonly at: number | null }
  | { readonly kind: "tunnelOpening"; readonly tunnelId: number; readonly binding: string }
  | {
      readonly kind: "tunnelUp";
      readonly tunnelId: number;
      readonly peerTunnelId: number;
      readonly binding: string;
      readonly peerHostName: string;
    }
  | ({
      readonly kind: "tunnelDown";
      readonly tunnelId: number;
      readonly binding: string;
    } & L2tpTeardown)
  | { readonly kind: "sessionOpening"; readonly tunnelId: number; readonly sessionId: number }
  | {
      readonly kind: "sessionUp";
      readonly tunnelId: number;
      readonly sessionId: number;
      readonly peerSessionId: number;
      readonly binding: string;
    }
  | ({
      readonly kind: "sessionDown";
      readonly tunnelId: number;
      readonly sessionId: number;
    } & L2tpTeardown)
  | {
      readonly kind: "ppp";
      readonly tunnelId: number;
      readonly sessionId: number;
      readonly frame: Buffer;
    }
  /** A command could not be carried out (unknown tunnel/session, wrong state). */
  | { readonly kind: "commandFailed"; readonly input: L2tpInput["kind"]; readonly reason: string };

type TunnelState = "waitCtlReply" | "waitCtlConn" | "established" | "closing" | "held";
type SessionState = "waitTunnel" | "waitReply" | "waitConnect" | "established";

interface Received {
  readonly header: L2tpHeader;
  readonly body: Buffer;
}

export interface Session {
  readonly localId: number;
  peerId: number;
  state: SessionState;
  readonly role: "lac" | "lns";
  readonly callSerial: number;
  /** Peer asked for sequenced data messages (Sequencing Required in ICCN). */
  sequencing: boolean;
  dataNs: number;
  readonly callingNumber?: string;
  readonly calledNumber?: string;
}

export interface Tunnel {
  readonly localId: number;
  peerId: number;
  readonly binding: string;
  readonly role: "lac" | "lns";
  state: TunnelState;
  readonly channel: Channel<Received>;
  readonly sessions: Map<number, Session>;
  peerHostName: string;
  /** Challenge we sent; the peer's response must match. */
  ourChallenge?: Buffer;
  tieBreaker?: Buffer;
  /** (binding, peer Assigned Tunnel ID) key of the SCCRQ that created this tunnel. */
  sccrqKey?: string;
  announced: boolean;
  lastRxAt: number;
  helloAt: number | null;
  holdUntil: number | null;
}

interface Resolved {
  readonly hostName: Buffer;
  readonly vendorName: string;
  readonly firmwareRevision: number;
  readonly acceptTunnels: boolean;
  readonly secret: Buffer | undefined;
  readonly hideAvps: boolean;
  readonly helloIntervalMs: number;
  readonly stopCcnHoldMs: number;
  readonly maxTunnels: number;
  readonly maxSessionsPerTunnel: number;
  readonly tieBreaker: boolean;
  readonly dataLengthBit: boolean;
  readonly connectSpeed: number;
  readonly channel: ChannelParams;
  readonly random: (n: number) => Buffer;
  readonly log: Logger;
}

export interface L2tpState {
  readonly config: Resolved;
  readonly tunnels: Map<number, Tunnel>;
  readonly bySccrq: Map<string, number>;
  readonly counters: Counters;
  timerAt: number | null;
  callSerial: number;
}

export interface L2tpStep {
  readonly state: L2tpState;
  readonly actions: L2tpAction[];
}

// ---------------------------------------------------------------------------------------------

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
    maxSessionsPerTunnel: config.maxSessionsPerTunnel ?? 65_534,
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
    counters: new Counters(),
    timerAt: null,
    callSerial: 1,
  };
}

/**
 * Feeds one input. Takes ownership of `state`: the returned state may be the same object,
 * updated; callers must use the returned one and keep no other reference.
 */
export function handle(state: L2tpState, input: L2tpInput, now: number): L2tpStep {
  const ctx: Ctx = { st: state, now, out: [] };
  switch (input.kind) {
    case "datagram":
      onDatagram(ctx, input.binding, input.bytes);
      break;
    case "timer":
      state.timerAt = null; // the driver's timer is spent: always re-arm
      onTimers(ctx);
      break;
    case "openTunnel":
      openTunnel(ctx, input.binding);
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

// ---------------------------------------------------------------------------------------------
// Internals

interface Ctx {
  readonly st: L2tpState;
  readonly now: number;
  readonly out: L2tpAction[];
}

function log(ctx: Ctx, t?: Tunnel): Logger {
  return t ? ctx.st.config.log.child({ tunnel: t.localId, peer: t.binding }) : ctx.st.config.log;
}

function drop(ctx: Ctx, reason: string, fields: Record<string, unknown> = {}): void {
  ctx.st.counters.incLabeled("l2tp_rx_drop", "reason", reason);
  ctx.st.config.log.debug(`dropped: ${reason}`, fields);
}

function allocateId(random: (n: number) => Buffer, inUse: (id: number) => boolean): number | null {
  for (let i = 0; i < 16; i++) {
    const id = random(2).readUInt16BE(0);
    if (id !== 0 && !inUse(id)) return id;
  }
  for (let id = 1; id <= 0xffff; id++) if (!inUse(id)) return id;
  return null;
}

function emitWire(ctx: Ctx, t: Tunnel, sends: readonly WireSend[]): void {
  for (const s of sends) {
    const bytes = serializeL2tpPacket({
      header: controlHeader(s.tunnelId, s.sessionId, s.ns, s.nr),
      body: s.body,
    });
    ctx.out.push({ kind: "send", binding: t.binding, bytes });
  }
}

function hideOptions(ctx: Ctx) {
  const c = ctx.st.config;
  if (!c.secret || !c.hideAvps) return undefined;
  return {
    secret: c.secret,
    randomVector: c.random(16),
    types: HIDDEN_TYPES,
    // pad the subformat to a multiple of 16 octets so the value length does not show
    padding: (_t: number, len: number) => c.random((16 - ((len + 2) % 16)) % 16),
  };
}
const HIDDEN_TYPES: ReadonlySet<number> = new Set([
  AvpType.AssignedSessionId,
  AvpType.CallSerialNumber,
  AvpType.CallingNumber,
  AvpType.CalledNumber,
  AvpType.SubAddress,
]);

function sendControl(
  ctx: Ctx,
  t: Tunnel,
  sessionId: number,
  avps: L2tpAvp[],
  headerTunnelId = t.peerId,
): void {
  const body = serializeAvps(encodeControlMessage(avps, hideOptions(ctx)));
  const sends = enqueue(
    t.channel,
    ctx.st.config.channel,
    { tunnelId: headerTunnelId, sessionId, body },
    ctx.now,
  );
  emitWire(ctx, t, sends);
  const mt = avps[0]?.type === AvpType.MessageType ? avps[0].value : -1;
  log(ctx, t).debug(`sent ${l2tpMessageTypeName(mt)}`, { session: sessionId });
}

const mt = (v: number): L2tpAvp => ({ type: AvpType.MessageType, mandatory: true, value: v });
function resultAvp(r: L2tpTeardown): L2tpAvp {
  return {
    type: AvpType.ResultCode,
    mandatory: true,
    resultCode: r.resultCode ?? 0,
    ...(r.errorCode !== undefined || r.message !== undefined
      ? { errorCode: r.errorCode ?? 0 }
      : {}),
    ...(r.message !== undefined ? { errorMessage: Buffer.from(r.message) } : {}),
  };
}

function newTunnel(
  ctx: Ctx,
  role: "lac" | "lns",
  binding: string,
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
    role,
    state,
    channel: newChannel<Received>(st.config.channel),
    sessions: new Map(),
    peerHostName: "",
    announced: false,
    lastRxAt: ctx.now,
    helloAt: null,
    holdUntil: null,
  };
  st.tunnels.set(id, t);
  return t;
}

function deleteTunnel(ctx: Ctx, t: Tunnel): void {
  ctx.st.tunnels.delete(t.localId);
  if (t.sccrqKey !== undefined && ctx.st.bySccrq.get(t.sccrqKey) === t.localId)
    ctx.st.bySccrq.delete(t.sccrqKey);
}

/** Tunnel-level end of life for everything above: sessions down, then the tunnel down. */
function announceDown(ctx: Ctx, t: Tunnel, r: L2tpTeardown): void {
  for (const s of t.sessions.values()) {
    ctx.out.push({ kind: "sessionDown", tunnelId: t.localId, sessionId: s.localId, ...r });
  }
  t.sessions.clear();
  if (t.announced)
    ctx.out.push({ kind: "tunnelDown", tunnelId: t.localId, binding: t.binding, ...r });
  t.announced = false;
}

/** Sends StopCCN and moves to "closing" (§5.7). */
function stopTunnel(ctx: Ctx, t: Tunnel, r: Omit<L2tpTeardown, "by">): void {
  const rc = r.resultCode ?? StopCcnResult.GeneralRequest;
  log(ctx, t).info("sending StopCCN", {
    result: l2tpResultCodeName(L2tpMessageType.StopCCN, rc),
    ...(r.errorCode !== undefined ? { error: l2tpErrorCodeName(r.errorCode) } : {}),
    ...(r.message !== undefined ? { reason: r.message } : {}),
  });
  announceDown(ctx, t, { by: "local", ...r });
  // stop retransmitting anything else; StopCCN is the last message
  t.channel.pending = [];
  sendControl(ctx, t, 0, [
    mt(L2tpMessageType.StopCCN),
    { type: AvpType.AssignedTunnelId, mandatory: true, value: t.localId },
    resultAvp({ by: "local", ...r, resultCode: rc }),
  ]);
  t.state = "closing";
  t.helloAt = null;
  t.holdUntil = ctx.now + ctx.st.config.stopCcnHoldMs;
}

// ----- commands

function openTunnel(ctx: Ctx, binding: string): void {
  const c = ctx.st.config;
  if (ctx.st.tunnels.size >= c.maxTunnels) {
    ctx.out.push({ kind: "commandFailed", input: "openTunnel", reason: "tunnel limit reached" });
    return;
  }
  const t = newTunnel(ctx, "lac", binding, 0, "waitCtlReply");
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

function placeCall(ctx: Ctx, input: Extract<L2tpInput, { kind: "placeCall" }>): void {
  const t = ctx.st.tunnels.get(input.tunnelId);
  if (!t || t.state === "closing" || t.state === "held") {
    ctx.out.push({ kind: "commandFailed", input: "placeCall", reason: "no such open tunnel" });
    return;
  }
  if (t.sessions.size >= ctx.st.config.maxSessionsPerTunnel) {
    ctx.out.push({ kind: "commandFailed", input: "placeCall", reason: "session limit reached" });
    return;
  }
  const id = allocateId(ctx.st.config.random, (x) => t.sessions.has(x));
  if (id === null) {
    ctx.out.push({ kind: "commandFailed", input: "placeCall", reason: "no free session ID" });
    return;
  }
  const s: Session = {
    localId: id,
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

function sendIcrq(ctx: Ctx, t: Tunnel, s: Session): void {
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
  sendControl(ctx, t, 0, avps);
}

function sendPpp(ctx: Ctx, tunnelId: number, sessionId: number, frame: Uint8Array): void {
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

function closeSession(
  ctx: Ctx,
  t: Tunnel,
  s: Session,
  r: Omit<L2tpTeardown, "by">,
  by: "local",
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

// ----- receive path

function onDatagram(ctx: Ctx, binding: string, bytes: Uint8Array): void {
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
    onData(ctx, binding, pkt.header, pkt.body);
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
    t = sccrqTunnel(ctx, binding, pkt.body);
    if (!t) return;
  } else {
    t = ctx.st.tunnels.get(h.tunnelId);
    if (!t) {
      drop(ctx, "unknown_tunnel", { peer: binding, tunnel: h.tunnelId });
      return;
    }
    if (t.binding !== binding) {
      drop(ctx, "wrong_binding", { peer: binding, tunnel: h.tunnelId });
      return;
    }
  }
  const p2 = ctx.st.config.channel;
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

/**
 * An SCCRQ (header Tunnel ID 0): the existing tunnel if this is a retransmission, else a new one
 * (or a tie-breaker loss, or a rejection).
 */
function sccrqTunnel(ctx: Ctx, binding: string, body: Buffer): Tunnel | undefined {
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
  const c = ctx.st.config;
  if (ctx.st.tunnels.size >= c.maxTunnels) {
    // no state to spare: a StopCCN would need a tunnel; drop and let the peer time out
    drop(ctx, "tunnel_limit", { peer: binding });
    return undefined;
  }
  const t = newTunnel(ctx, "lns", binding, peerTid, "waitCtlConn");
  if (!t) {
    drop(ctx, "no_tunnel_id", { peer: binding });
    return undefined;
  }
  t.sccrqKey = key;
  ctx.st.bySccrq.set(key, t.localId);
  return t;
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

function onSccrq(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
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

function onSccrp(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
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

function onScccn(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
  if (t.state !== "waitCtlConn") {
    fsmError(ctx, t, "SCCCN");
    return;
  }
  if (!verifyResponse(ctx, t, msg, L2tpMessageType.SCCCN)) return;
  established(ctx, t);
}

function established(ctx: Ctx, t: Tunnel): void {
  t.state = "established";
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

function onStopCcn(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
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
  t.holdUntil = ctx.now + ctx.st.config.stopCcnHoldMs;
}

function sendCdnFor(
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
function rejectSessionMessage(
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

function onIcrq(ctx: Ctx, t: Tunnel, msg: ControlMessage): void {
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
  if (t.sessions.size >= c.maxSessionsPerTunnel) {
    sendCdnFor(ctx, t, peerSid, {
      resultCode: CdnResult.TemporaryNoFacilities,
      errorCode: L2tpErrorCode.NoResources,
      message: "session limit reached",
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

function onIcrp(ctx: Ctx, t: Tunnel, sid: number, msg: ControlMessage): void {
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

function onIccn(ctx: Ctx, t: Tunnel, sid: number, msg: ControlMessage): void {
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

function sessionUp(ctx: Ctx, t: Tunnel, s: Session): void {
  s.state = "established";
  log(ctx, t).info("session established", { session: s.localId, peerSession: s.peerId });
  ctx.out.push({
    kind: "sessionUp",
    tunnelId: t.localId,
    sessionId: s.localId,
    peerSessionId: s.peerId,
    binding: t.binding,
  });
}

function onCdn(ctx: Ctx, t: Tunnel, sid: number, msg: ControlMessage): void {
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

function onData(ctx: Ctx, binding: string, h: L2tpHeader, body: Buffer): void {
  const t = ctx.st.tunnels.get(h.tunnelId);
  if (!t) {
    drop(ctx, "data_unknown_tunnel", { peer: binding, tunnel: h.tunnelId });
    return;
  }
  if (t.binding !== binding) {
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

// ----- timers

function onTimers(ctx: Ctx): void {
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
    const setupBy = setupDeadline(ctx, t);
    if (setupBy !== null && ctx.now >= setupBy) {
      log(ctx, t).warn("tunnel setup did not complete: clearing the tunnel");
      ctx.st.counters.inc("l2tp_setup_timeout");
      announceDown(ctx, t, { by: "timeout", message: "tunnel setup did not complete" });
      deleteTunnel(ctx, t);
      continue;
    }
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

/**
 * A tunnel still being set up (SCCRQ/SCCRP exchanged, no SCCRP/SCCCN yet) with nothing in flight
 * is cleared one Hello interval after the peer last spoke. RFC 2661 names no setup timer, but
 * without one a peer that acknowledges our message and goes quiet holds a tunnel forever.
 */
function setupDeadline(ctx: Ctx, t: Tunnel): number | null {
  if (t.state !== "waitCtlConn" && t.state !== "waitCtlReply") return null;
  if (!channelIdle(t.channel)) return null; // the retransmission limit decides
  return t.lastRxAt + ctx.st.config.helloIntervalMs;
}

function rearm(ctx: Ctx): void {
  let at: number | null = null;
  for (const t of ctx.st.tunnels.values()) {
    for (const d of [channelDeadline(t.channel), t.helloAt, t.holdUntil, setupDeadline(ctx, t)]) {
      if (d !== null && (at === null || d < at)) at = d;
    }
  }
  if (at !== ctx.st.timerAt) {
    ctx.st.timerAt = at;
    ctx.out.push({ kind: "armTimer", at });
  }
}
