/**
 * The PPP session engine, sans-IO (DESIGN rule 4): `handle(config, state, input, now)` returns
 * the next state and the actions to perform (send a frame, set the timer, deliver an IPv4
 * packet, report an event, ask the driver to verify credentials). The input state is never modified: each call works on a
 * structuredClone of it. Time comes in as `now` (ms); randomness, users, the address pool
 * and the logger through the config. The one shared mutable thing is the address pool
 * (allocation at the Network phase, release at link down).
 *
 * Frame dispatch by phase (RFC 1661 §3): LCP always; in Establish everything else is silently
 * discarded; in Authenticate only the negotiated PAP/CHAP; in Network also IPCP and IPv4
 * (IPv4 only while IPCP is Opened). In the Network phase any other protocol (IPV6CP, IPv6,
 * CCP, ...) gets an LCP Protocol-Reject. Frames that arrive before "start" (the lower layer is
 * not up yet) are kept (up to 16) and handled right after it: a peer's early Configure-Request
 * is answered, not lost.
 */
import { PppProtocol, pppProtocolName } from "../registry/ppp.js";
import { parsePppFrame } from "../wire/ppp/frame.js";
import { authReceive, authTimer, credentialsVerified, newAuthState } from "./auth.js";
import { cpTimeout, newCp } from "./cp.js";
import { Engine, PPP_DEFAULT_MRU, type ResolvedConfig, resolveConfig } from "./engine.js";
import { initialIpcpWant, ipcpHost, ipcpReceive } from "./ipcp.js";
import { initialLcpWant, lcpEchoTimer, lcpHost, lcpReceive, sendProtocolReject } from "./lcp.js";
import { adminClose, linkStart, lowerDown, phaseEvent } from "./phases.js";
import type { PppAction, PppConfig, PppInput, PppState } from "./types.js";

const MAX_PENDING = 16;

/** Every Engine reports to the phase coordinator. */
function engine(cfg: ResolvedConfig, st: PppState, now: number): Engine {
  return new Engine(cfg, st, now, phaseEvent);
}

export interface PppStep {
  readonly state: PppState;
  readonly actions: readonly PppAction[];
}

/** A fresh session (not started: feed {type: "start"} when the L2TP session is up). */
export function createPppState(config: PppConfig, now: number): PppState {
  const st: PppState = {
    role: config.role,
    phase: "Dead",
    started: false,
    finished: false,
    closeReason: null,
    pending: [],
    lcp: {
      cp: newCp(),
      want: { mru: null, accm: null, auth: null, magic: null, pfc: false, acfc: false },
      got: { mru: null, accm: null, auth: null, magic: null, pfc: false, acfc: false },
      peer: {
        mru: PPP_DEFAULT_MRU,
        accm: 0xffffffff,
        magic: null,
        pfc: false,
        acfc: false,
        auth: null,
      },
      authTried: [],
      authRefused: [],
      authNaks: 0,
      loops: 0,
      receivedAny: false,
      echo: { deadline: null, outstanding: 0, nextId: 1 },
    },
    auth: newAuthState(),
    ipcp: { cp: newCp(), want: [], peerAddress: null, missingAddressNaks: 0, up: false },
    timerAt: null,
    counters: {},
  };
  const e = engine(resolveConfig(config), st, now);
  st.lcp.want = initialLcpWant(e);
  st.ipcp.want = initialIpcpWant(e);
  return st;
}

export function handle(config: PppConfig, state: PppState, input: PppInput, now: number): PppStep {
  if (state.finished) return { state, actions: [] };
  if (input.type === "send-ip") {
    // Data path: no control state changes, so no copy of the state.
    if (!state.ipcp.up) return { state, actions: [] }; // IPCP not open: dropped
    const e = engine(resolveConfig(config), state, now);
    e.sendFrame(PppProtocol.IPv4, input.packet);
    return { state, actions: e.actions };
  }
  if (input.type === "frame" && state.started && state.ipcp.up) {
    // Data path: an IPv4 frame while IPCP is open changes no state, so no copy of the state.
    const f = parsePppFrame(input.frame);
    if (f.ok && f.value.protocol === PppProtocol.IPv4) {
      return { state, actions: [{ type: "deliver-ip", packet: f.value.information }] };
    }
  }
  const st = structuredClone(state);
  const e = engine(resolveConfig(config), st, now);
  switch (input.type) {
    case "start":
      start(e);
      break;
    case "frame":
      if (!st.started) {
        if (st.pending.length < MAX_PENDING) st.pending.push(Uint8Array.from(input.frame));
        else e.count("rx_drop_before_start");
      } else {
        receiveFrame(e, input.frame);
      }
      break;
    case "timer":
      timers(e);
      break;
    case "close":
      adminClose(e, input.message ?? "closed by the administrator");
      break;
    case "credentials-verified":
      credentialsVerified(e, input.requestId, input.verdict);
      break;
    case "lower-down":
      lowerDown(e);
      break;
  }
  armTimer(e);
  return { state: st, actions: e.actions };
}

function start(e: Engine): void {
  const st = e.st;
  if (st.started) return;
  linkStart(e);
  const pending = st.pending;
  st.pending = [];
  for (const f of pending) receiveFrame(e, f);
}

function receiveFrame(e: Engine, bytes: Uint8Array): void {
  const st = e.st;
  if (st.finished) return;
  const r = parsePppFrame(bytes);
  if (!r.ok) {
    e.count("rx_drop_frame_parse");
    e.log.debug("malformed PPP frame dropped", { error: r.error.message });
    return;
  }
  const { protocol, information } = r.value;
  if (protocol === PppProtocol.LCP) {
    lcpReceive(e, information);
    return;
  }
  if (st.lcp.cp.state !== "Opened" || st.phase === "Establish" || st.phase === "Dead") {
    e.count("rx_drop_not_opened");
    return;
  }
  if (protocol === PppProtocol.PAP || protocol === PppProtocol.CHAP) {
    authReceive(e, protocol, information);
    return;
  }
  if (st.phase !== "Network") {
    e.count("rx_drop_auth_phase");
    e.log.debug(`${pppProtocolName(protocol)} during authentication: discarded (RFC 1661 §3.5)`);
    return;
  }
  if (protocol === PppProtocol.IPCP) {
    ipcpReceive(e, information);
    return;
  }
  if (protocol === PppProtocol.IPv4) {
    if (!st.ipcp.up) {
      e.count("rx_drop_ip_not_up");
      return;
    }
    e.actions.push({ type: "deliver-ip", packet: information });
    return;
  }
  sendProtocolReject(e, protocol, information);
}

function timers(e: Engine): void {
  const st = e.st;
  for (let round = 0; round < 8 && !st.finished; round++) {
    let fired = false;
    if (st.lcp.cp.deadline !== null && st.lcp.cp.deadline <= e.now) {
      fired = true;
      cpTimeout(st.lcp.cp, lcpHost(e));
    }
    if (!st.finished && st.ipcp.cp.deadline !== null && st.ipcp.cp.deadline <= e.now) {
      fired = true;
      cpTimeout(st.ipcp.cp, ipcpHost(e));
    }
    if (!st.finished && st.auth.deadline !== null && st.auth.deadline <= e.now) {
      fired = true;
      authTimer(e);
    }
    if (!st.finished && st.lcp.echo.deadline !== null && st.lcp.echo.deadline <= e.now) {
      fired = true;
      lcpEchoTimer(e);
    }
    if (!fired) break;
  }
}

function armTimer(e: Engine): void {
  const st = e.st;
  const ds = st.finished
    ? []
    : [st.lcp.cp.deadline, st.ipcp.cp.deadline, st.auth.deadline, st.lcp.echo.deadline].filter(
        (d): d is number => d !== null,
      );
  const at = ds.length > 0 ? Math.min(...ds) : null;
  if (at !== st.timerAt) {
    st.timerAt = at;
    e.actions.push({ type: "set-timer", at });
  }
}

/**
 * Convenience holder for a driver: keeps the state between calls.
 *   const s = new PppSession(config, now); s.handle({type: "start"}, now) -> actions
 */
export class PppSession {
  private st: PppState;
  constructor(
    readonly config: PppConfig,
    now: number,
  ) {
    this.st = createPppState(config, now);
  }
  get state(): PppState {
    return this.st;
  }
  handle(input: PppInput, now: number): readonly PppAction[] {
    const r = handle(this.config, this.st, input, now);
    this.st = r.state;
    return r.actions;
  }
}
