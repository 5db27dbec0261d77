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
  /** Tunnels in the whole engine (default 4096). See "Limits" above for how it is shared. */
  readonly maxTunnels?: number;
  /** Tunnels per owner, i.e. per IPsec channel (default 4; a normal client needs 1). */
  readonly maxTunnelsPerOwner?: number;
  /** Sessions per tunnel (default 4; a normal client needs 1). */
  readonly maxSessionsPerTunnel?: number;
  /** Sessions per owner over all its tunnels (default 8). */
  readonly maxSessionsPerOwner?: number;
  /** Sessions in the whole engine (default 8192). */
  readonly maxSessions?: number;
  /**
   * A tunnel not established (SCCRQ→SCCRP→SCCCN) or a call not connected (ICRQ→ICRP→ICCN) this
   * long after it started is torn down (default 30 s).
   */
  readonly setupTimeoutMs?: number;
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
  | {
      readonly kind: "datagram";
      readonly binding: string;
      /**
       * Who the datagram's transport belongs to — the IPsec channel (SA) it came through; the
       * per-owner limits count against it. Default: the binding itself.
       */
      readonly owner?: string;
      readonly bytes: Uint8Array;
    }
  | { readonly kind: "timer" }
  | { readonly kind: "openTunnel"; readonly binding: string; readonly owner?: string }
  /** The owner's transport is gone (IPsec SA deleted): drop its tunnels and sessions silently. */
  | { readonly kind: "closeOwner"; readonly owner: string; readonly message?: string }
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
  /** Until the call is connected: when it is given up (ms, the engine's clock). */
  setupDeadline: number | null;
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
  /** The transport's owner (IPsec channel); limits count per owner. */
  readonly owner: string;
  readonly role: "lac" | "lns";
  state: TunnelState;
  /** Until established: when the attempt is given up (ms, the engine's clock). */
  setupDeadline: number | null;
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
  readonly maxTunnelsPerOwner: number;
  readonly maxSessionsPerTunnel: number;
  readonly maxSessionsPerOwner: number;
  readonly maxSessions: number;
  readonly setupTimeoutMs: number;
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
  /** Owner -> its tunnels' local IDs. */
  readonly byOwner: Map<string, Set<number>>;
  /** Rate limit of the "limit reached" log lines, per limit. */
  readonly limitLog: Map<string, { nextAt: number; suppressed: number }>;
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
  };
  st.tunnels.set(id, t);
  const mine = st.byOwner.get(owner);
  if (mine) mine.add(id);
  else st.byOwner.set(owner, new Set([id]));
  return t;
}

function deleteTunnel(ctx: Ctx, t: Tunnel): void {
  ctx.st.tunnels.delete(t.localId);
  const mine = ctx.st.byOwner.get(t.owner);
  mine?.delete(t.localId);
  if (mine?.size === 0) ctx.st.byOwner.delete(t.owner);
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
function stopTunnel(
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

// ----- commands

function openTunnel(ctx: Ctx, binding: string, owner: string): void {
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

function placeCall(ctx: Ctx, input: Extract<L2tpInput, { kind: "placeCall" }>): void {
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
  s.setupDeadline = ctx.now + ctx.st.config.setupTimeoutMs;
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

// ----- receive path

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

/**
 * An SCCRQ (header Tunnel ID 0): the existing tunnel if this is a retransmission, else a new one
 * (or a tie-breaker loss, or a rejection).
 */
function sccrqTunnel(ctx: Ctx, binding: string, owner: string, body: Buffer): Tunnel | undefined {
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
  t.setupDeadline = null;
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

function onData(ctx: Ctx, binding: string, owner: string, h: L2tpHeader, body: Buffer): void {
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

// ----- limits (see "Limits" at the top)

/** Which limit a new tunnel of `owner` would break, or null. */
function tunnelLimit(st: L2tpState, owner: string): string | null {
  const c = st.config;
  const mine = st.byOwner.get(owner)?.size ?? 0;
  if (mine >= c.maxTunnelsPerOwner) return "tunnels_per_owner";
  if (!globalAdmits(st.tunnels.size, c.maxTunnels, mine)) return "tunnels_global";
  return null;
}

/** Which limit a new session on `t` would break, or null. */
function sessionLimit(st: L2tpState, t: Tunnel): string | null {
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
function limitRefused(ctx: Ctx, limit: string, fields: Record<string, unknown>): void {
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
function refuseSccrq(ctx: Ctx, binding: string, peerTid: number, message: string): void {
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

/**
 * Every request we answer queues a reliable reply; a peer that keeps sending requests but never
 * acknowledges the replies would grow that queue without end. Past a bound (room for a request
 * and an answer per allowed session, and some tunnel messages) the tunnel is cleared.
 */
function backlogFull(ctx: Ctx, t: Tunnel): boolean {
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

/** The owner's transport is gone: nothing can be sent there any more, so no StopCCN/CDN. */
function closeOwner(ctx: Ctx, owner: string, message: string): void {
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

function rearm(ctx: Ctx): void {
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
