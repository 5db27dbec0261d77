/**
 * L2TP + PPP as one service, for both products: the LNS side of `oakley serve` and the LAC side
 * of `oakley connect`. It drives the sans-IO engines (src/l2tp, src/ppp) with a clock and
 * timers, creates one PPP session per L2TP session, and moves IPv4 packets between PPP and the
 * TUN device. Transport is injected: `send(binding, bytes)` carries an L2TP datagram to the peer
 * (through the IPsec SA the binding names), `receive(binding, bytes)` feeds one in.
 *
 * Server: one TUN for all clients; packets from the TUN are routed to the PPP session whose
 * IPCP-assigned address is the destination. Client: one session; every packet goes to it.
 * PAP passwords are checked by the injected verifier (asynchronously; the answer goes back to
 * the session if it still exists); new sessions on a channel past its authentication limit
 * are hung up before PPP starts.
 */
import type { Logger } from "../obs/log.js";
import {
  createL2tp,
  handle as l2tpHandle,
  type L2tpAction,
  type L2tpState,
} from "../l2tp/index.js";
import {
  type AddressAllocator,
  type PppAction,
  type PppAuthMethod,
  PppSession,
  type UserSecret,
} from "../ppp/index.js";
import type { Clock, TimerId } from "../platform/index.js";
import type { AuthLimiter, PasswordVerifier } from "./ppp-password.js";
import { TimerSet } from "../platform/index.js";

export interface L2tpPppServerOptions {
  readonly authMethods: readonly PppAuthMethod[];
  /** Secrets for CHAP-MD5 and MS-CHAPv2. */
  readonly users: (name: string) => string | UserSecret | undefined;
  /** PAP password checks, run off the event loop (see ppp-password.ts). */
  readonly verifier: PasswordVerifier;
  /** Authentication attempts (one per PPP session) allowed per channel; absent: no limit. */
  readonly authLimiter?: AuthLimiter;
  readonly pool: AddressAllocator;
  readonly localAddress: string;
  readonly dns: readonly string[];
}

export interface L2tpPppClientOptions {
  readonly user: string;
  readonly password: string;
  readonly authMethods?: readonly PppAuthMethod[];
}

export interface L2tpPppOptions {
  readonly role: "lns" | "lac";
  readonly clock: Clock;
  readonly random: (n: number) => Buffer;
  readonly l2tpLog: Logger;
  readonly pppLog: Logger;
  readonly hostName?: string;
  readonly l2tpSecret?: Uint8Array;
  readonly mru?: number;
  readonly echoIntervalMs?: number;
  readonly server?: L2tpPppServerOptions;
  readonly client?: L2tpPppClientOptions;
  /** Carry an L2TP datagram to the peer behind `binding`. */
  readonly send: (binding: string, bytes: Buffer) => void;
  /** An IPv4 packet from a PPP peer, for the TUN device. */
  readonly deliverIp: (packet: Uint8Array) => void;
  readonly onEvent?: (e: L2tpPppEvent) => void;
}

export interface SessionInfo {
  readonly key: string;
  readonly binding: string;
  readonly tunnelId: number;
  readonly sessionId: number;
  user: string | null;
  peerAddress: string | null;
  localAddress: string | null;
  dns: readonly string[];
  up: boolean;
}

export type L2tpPppEvent =
  | {
      readonly type: "tunnel-up";
      readonly binding: string;
      readonly tunnelId: number;
      readonly peerHostName: string;
    }
  | {
      readonly type: "tunnel-down";
      readonly binding: string;
      readonly tunnelId: number;
      readonly reason: string;
    }
  | { readonly type: "session-up"; readonly session: SessionInfo }
  | { readonly type: "auth-ok"; readonly session: SessionInfo; readonly method: string }
  | {
      readonly type: "auth-failed";
      readonly session: SessionInfo;
      readonly message: string;
      readonly code?: number;
      /** Client: the server did not prove it knows the password (MS-CHAPv2 S=). */
      readonly serverNotAuthenticated?: boolean;
    }
  | { readonly type: "ip-up"; readonly session: SessionInfo }
  | { readonly type: "session-down"; readonly session: SessionInfo; readonly reason: string };

interface Live {
  readonly info: SessionInfo;
  readonly ppp: PppSession;
  timer: TimerId | undefined;
}

type TimerKey = "l2tp" | `ppp:${string}`;

export class L2tpPppService {
  private l2tp: L2tpState;
  private readonly sessions = new Map<string, Live>();
  private readonly byAddress = new Map<string, Live>();
  private readonly timers: TimerSet<TimerKey>;
  private l2tpTimer: TimerId | undefined;
  private closed = false;

  constructor(private readonly o: L2tpPppOptions) {
    this.l2tp = createL2tp({
      hostName: o.hostName ?? "oakley",
      acceptTunnels: o.role === "lns",
      ...(o.l2tpSecret ? { secret: o.l2tpSecret } : {}),
      random: o.random,
      log: o.l2tpLog,
    });
    this.timers = new TimerSet<TimerKey>(o.clock, (k) => this.onTimer(k));
  }

  /** An L2TP datagram arrived from the peer behind `binding`. */
  receive(binding: string, bytes: Uint8Array): void {
    if (this.closed) return;
    this.stepL2tp({ kind: "datagram", binding, bytes });
  }

  /** LAC: open a tunnel to the peer behind `binding` and place one call on it. */
  connect(binding: string): void {
    const step = l2tpHandle(this.l2tp, { kind: "openTunnel", binding }, this.o.clock.now());
    this.l2tp = step.state;
    const opening = step.actions.find((a) => a.kind === "tunnelOpening");
    this.perform(step.actions);
    if (opening && opening.kind === "tunnelOpening")
      this.stepL2tp({ kind: "placeCall", tunnelId: opening.tunnelId });
  }

  /** An IPv4 packet from the TUN device. Returns false when no session takes it. */
  sendIp(packet: Uint8Array): boolean {
    let live: Live | undefined;
    if (this.o.role === "lac") {
      for (const l of this.sessions.values()) if (l.info.up) live = l;
    } else if (packet.length >= 20) {
      live = this.byAddress.get(`${packet[16]}.${packet[17]}.${packet[18]}.${packet[19]}`);
    }
    if (!live?.info.up) return false;
    this.stepPpp(live, { type: "send-ip", packet });
    return true;
  }

  /** The transport to `binding` is gone (IPsec SA deleted): drop its sessions without signalling. */
  lowerDown(binding: string): void {
    for (const live of [...this.sessions.values()]) {
      if (live.info.binding === binding) this.stepPpp(live, { type: "lower-down" });
    }
  }

  /** Orderly teardown: PPP Terminate, then CDN/StopCCN (best effort; engines keep retrying). */
  close(): void {
    for (const live of this.sessions.values())
      this.stepPpp(live, { type: "close", message: "shutting down" });
    for (const t of new Set([...this.sessions.values()].map((l) => l.info.tunnelId))) {
      this.stepL2tp({ kind: "closeTunnel", tunnelId: t });
    }
    this.closed = true;
  }

  dispose(): void {
    this.timers.close();
  }

  list(): SessionInfo[] {
    return [...this.sessions.values()].map((l) => l.info);
  }

  private onTimer(k: TimerKey): void {
    if (k === "l2tp") {
      this.l2tpTimer = undefined;
      this.stepL2tp({ kind: "timer" });
      return;
    }
    const live = this.sessions.get(k.slice(4));
    if (live) {
      live.timer = undefined;
      this.stepPpp(live, { type: "timer" });
    }
  }

  private stepL2tp(input: Parameters<typeof l2tpHandle>[1]): void {
    const step = l2tpHandle(this.l2tp, input, this.o.clock.now());
    this.l2tp = step.state;
    this.perform(step.actions);
  }

  private perform(actions: readonly L2tpAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case "send":
          this.o.send(a.binding, a.bytes);
          break;
        case "armTimer":
          if (this.l2tpTimer !== undefined) this.timers.cancel(this.l2tpTimer);
          this.l2tpTimer = a.at === null ? undefined : this.timers.set(a.at, "l2tp");
          break;
        case "tunnelUp":
          this.o.onEvent?.({
            type: "tunnel-up",
            binding: a.binding,
            tunnelId: a.tunnelId,
            peerHostName: a.peerHostName,
          });
          break;
        case "tunnelDown":
          this.o.onEvent?.({
            type: "tunnel-down",
            binding: a.binding,
            tunnelId: a.tunnelId,
            reason: describe(a),
          });
          break;
        case "sessionUp":
          this.startSession(a.binding, a.tunnelId, a.sessionId);
          break;
        case "sessionDown": {
          const live = this.sessions.get(`${a.tunnelId}/${a.sessionId}`);
          if (live) this.stepPpp(live, { type: "lower-down" });
          break;
        }
        case "ppp": {
          const live = this.sessions.get(`${a.tunnelId}/${a.sessionId}`);
          if (live) this.stepPpp(live, { type: "frame", frame: a.frame });
          break;
        }
        case "commandFailed":
          this.o.l2tpLog.debug("l2tp command failed", { input: a.input, reason: a.reason });
          break;
        default:
          break;
      }
    }
  }

  private startSession(binding: string, tunnelId: number, sessionId: number): void {
    const key = `${tunnelId}/${sessionId}`;
    const now = this.o.clock.now();
    const s = this.o.server;
    const c = this.o.client;
    if (s?.authLimiter && !s.authLimiter.take(binding)) {
      this.refuseSession(binding, tunnelId, sessionId);
      return;
    }
    const ppp = new PppSession(
      {
        role: this.o.role === "lns" ? "server" : "client",
        sessionId: key,
        ...(s
          ? {
              authMethods: s.authMethods,
              users: s.users,
              pool: s.pool,
              localAddress: s.localAddress,
              dns: s.dns,
            }
          : {}),
        ...(c
          ? {
              credentials: { user: c.user, password: c.password },
              ...(c.authMethods ? { authMethods: c.authMethods } : {}),
            }
          : {}),
        mru: this.o.mru ?? 1400,
        echoIntervalMs: this.o.echoIntervalMs ?? 30_000,
        random: this.o.random,
        logger: this.o.pppLog.child({ session: key }),
      },
      now,
    );
    const info: SessionInfo = {
      key,
      binding,
      tunnelId,
      sessionId,
      user: null,
      peerAddress: null,
      localAddress: null,
      dns: [],
      up: false,
    };
    const live: Live = { info, ppp, timer: undefined };
    this.sessions.set(key, live);
    this.o.onEvent?.({ type: "session-up", session: info });
    this.stepPpp(live, { type: "start" });
  }

  private stepPpp(live: Live, input: Parameters<PppSession["handle"]>[0]): void {
    const actions = live.ppp.handle(input, this.o.clock.now());
    this.performPpp(live, actions);
  }

  private performPpp(live: Live, actions: readonly PppAction[]): void {
    const { info } = live;
    for (const a of actions) {
      switch (a.type) {
        case "send-frame":
          this.stepL2tp({
            kind: "sendPpp",
            tunnelId: info.tunnelId,
            sessionId: info.sessionId,
            frame: a.frame,
          });
          break;
        case "set-timer":
          if (live.timer !== undefined) this.timers.cancel(live.timer);
          live.timer = a.at === null ? undefined : this.timers.set(a.at, `ppp:${info.key}`);
          break;
        case "deliver-ip":
          this.o.deliverIp(a.packet);
          break;
        case "event":
          this.onPppEvent(live, a.event);
          break;
        case "check-password":
          this.checkPassword(live, a.requestId, a.user, a.password);
          break;
      }
    }
  }

  /** Runs the PAP check off the event loop; the answer goes to the session if it is still there. */
  private checkPassword(live: Live, requestId: number, user: string, password: Uint8Array): void {
    const verifier = this.o.server?.verifier;
    const pending = verifier
      ? verifier.verify(user, Buffer.from(password).toString("utf8"))
      : Promise.resolve({ ok: false as const, reason: "error" as const });
    pending
      .catch(() => ({ ok: false as const, reason: "error" as const }))
      .then((v) => {
        if (this.closed || this.sessions.get(live.info.key) !== live) return;
        this.stepPpp(live, {
          type: "password-checked",
          requestId,
          ok: v.ok,
          ...(v.ok ? {} : { reason: v.reason }),
        });
      });
  }

  /** A channel past its authentication limit: hang the call up before PPP starts. */
  private refuseSession(binding: string, tunnelId: number, sessionId: number): void {
    const reason = "too many authentication attempts on this channel; call refused";
    this.o.pppLog.warn(reason, { binding, session: `${tunnelId}/${sessionId}` });
    const info: SessionInfo = {
      key: `${tunnelId}/${sessionId}`,
      binding,
      tunnelId,
      sessionId,
      user: null,
      peerAddress: null,
      localAddress: null,
      dns: [],
      up: false,
    };
    this.o.onEvent?.({
      type: "session-down",
      session: info,
      reason: `auth-rate-limited: ${reason}`,
    });
    const step = l2tpHandle(
      this.l2tp,
      { kind: "closeSession", tunnelId, sessionId },
      this.o.clock.now(),
    );
    this.l2tp = step.state;
    this.perform(step.actions.filter((x) => x.kind !== "commandFailed"));
  }

  private onPppEvent(live: Live, e: Extract<PppAction, { type: "event" }>["event"]): void {
    const { info } = live;
    switch (e.type) {
      case "auth-ok":
        info.user = e.user;
        this.o.onEvent?.({ type: "auth-ok", session: info, method: e.method });
        break;
      case "auth-failed":
        info.user = e.user;
        this.o.onEvent?.({
          type: "auth-failed",
          session: info,
          message: e.message,
          ...(e.code !== undefined ? { code: e.code } : {}),
          ...(e.serverNotAuthenticated ? { serverNotAuthenticated: true } : {}),
        });
        break;
      case "ip-up":
        info.peerAddress = e.peerAddress;
        info.localAddress = e.localAddress;
        info.dns = e.dns;
        info.up = true;
        if (this.o.role === "lns") this.byAddress.set(e.peerAddress, live);
        this.o.onEvent?.({ type: "ip-up", session: info });
        break;
      case "ip-down":
        info.up = false;
        if (info.peerAddress) this.byAddress.delete(info.peerAddress);
        break;
      case "link-down":
        info.up = false;
        if (info.peerAddress) this.byAddress.delete(info.peerAddress);
        if (live.timer !== undefined) this.timers.cancel(live.timer);
        this.sessions.delete(info.key);
        this.o.onEvent?.({
          type: "session-down",
          session: info,
          reason: `${e.reason}: ${e.message}`,
        });
        // PPP is gone: hang up the L2TP call too (no-op if L2TP already tore it down).
        if (!this.closed) {
          const step = l2tpHandle(
            this.l2tp,
            { kind: "closeSession", tunnelId: info.tunnelId, sessionId: info.sessionId },
            this.o.clock.now(),
          );
          this.l2tp = step.state;
          this.perform(step.actions.filter((x) => x.kind !== "commandFailed"));
        }
        break;
      default:
        break;
    }
  }
}

function describe(t: { readonly resultCode?: number; readonly message?: string }): string {
  const parts = [
    t.resultCode !== undefined ? `result ${t.resultCode}` : "",
    t.message ?? "",
  ].filter((x) => x !== "");
  return parts.join(": ") || "closed";
}
