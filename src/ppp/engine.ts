/**
 * The working context of one `handle` call: the configuration with defaults applied, the
 * draft state (a private copy), the clock reading, and the actions produced. Protocol modules
 * (lcp.ts, ipcp.ts, auth.ts) act through it, and report what happened to the phase
 * coordinator (phases.ts) through it, so that they need not import each other; nothing here
 * performs I/O.
 */
import { type Logger, nullLogger } from "../obs/log.js";
import { PppProtocol, pppProtocolName } from "../registry/ppp.js";
import { makePppFrame } from "../wire/ppp/frame.js";
import type { CpTiming } from "./cp.js";
import type {
  DownReason,
  PppAction,
  PppAuthMethod,
  PppConfig,
  PppEvent,
  PppState,
} from "./types.js";

/**
 * What LCP, authentication and IPCP tell the phase coordinator (phases.ts), which decides what
 * starts or stops next (RFC 1661 §3).
 */
export type PhaseEvent =
  /** LCP This-Layer-Up; `auth` is the method negotiated (null: none). */
  | { readonly type: "lcp-up"; readonly auth: PppAuthMethod | null }
  /** LCP This-Layer-Down: LCP left the Opened state. */
  | { readonly type: "lcp-down" }
  /** LCP This-Layer-Finished: the link is dead. */
  | { readonly type: "lcp-finished" }
  | { readonly type: "auth-succeeded" }
  | { readonly type: "auth-failed"; readonly message: string }
  /** The peer sent an LCP Protocol-Reject for IPCP. */
  | { readonly type: "ipcp-rejected" }
  /** IPCP This-Layer-Finished: no network protocol left. */
  | { readonly type: "ipcp-finished" }
  /** Something found the link unusable: it must close, for this reason. */
  | { readonly type: "close"; readonly reason: DownReason; readonly message: string };

export type PhaseHandler = (e: Engine, event: PhaseEvent) => void;

export const DEFAULT_MRU = 1400;
/** RFC 1661 §6.1 default MRU, assumed when the peer sends none. */
export const PPP_DEFAULT_MRU = 1500;
/** Smallest MRU we accept from a peer (pppd's MINMRU). */
export const MIN_MRU = 128;

export interface ResolvedConfig {
  readonly role: "server" | "client";
  readonly sessionId: string;
  readonly authMethods: readonly PppAuthMethod[];
  readonly hostname: string;
  readonly mru: number;
  readonly echoIntervalMs: number;
  readonly echoFailures: number;
  readonly authTimeoutMs: number;
  readonly requestDns: boolean;
  readonly requestNbns: boolean;
  readonly resendRequestOnPeerStart: boolean;
  readonly timing: CpTiming;
  readonly raw: PppConfig;
}

export function resolveConfig(c: PppConfig): ResolvedConfig {
  return {
    role: c.role,
    sessionId: c.sessionId,
    authMethods:
      c.authMethods ??
      // The client's default is the one method in which the server proves it knows the password.
      (c.role === "server" ? ["mschapv2", "chap-md5", "pap"] : ["mschapv2"]),
    hostname: c.hostname ?? "oakley",
    mru: c.mru ?? DEFAULT_MRU,
    echoIntervalMs: c.echoIntervalMs ?? 30_000,
    echoFailures: c.echoFailures ?? 4,
    authTimeoutMs: c.authTimeoutMs ?? 30_000,
    requestDns: c.requestDns ?? true,
    requestNbns: c.requestNbns ?? false,
    resendRequestOnPeerStart: c.resendRequestOnPeerStart ?? true,
    timing: {
      restartMs: c.restartMs ?? 3000,
      maxConfigure: c.maxConfigure ?? 10,
      maxTerminate: c.maxTerminate ?? 2,
      maxFailure: c.maxFailure ?? 5,
    },
    raw: c,
  };
}

export class Engine {
  readonly actions: PppAction[] = [];
  readonly log: Logger;

  constructor(
    readonly cfg: ResolvedConfig,
    readonly st: PppState,
    readonly now: number,
    private readonly phases: PhaseHandler,
  ) {
    this.log = (cfg.raw.logger ?? nullLogger).child({ sa: cfg.sessionId, role: cfg.role });
  }

  count(name: string): void {
    this.st.counters[name] = (this.st.counters[name] ?? 0) + 1;
  }

  random(n: number): Uint8Array {
    const r = this.cfg.raw.random(n);
    if (r.length !== n) throw new Error(`random(${n}) returned ${r.length} octets`);
    return r;
  }

  /** A non-zero 32-bit magic number (RFC 1661 §6.4: zero is illegal). */
  randomMagic(avoid: number | null = null): number {
    for (let i = 0; i < 8; i++) {
      const v = Buffer.from(this.random(4)).readUInt32BE(0);
      if (v !== 0 && v !== avoid) return v;
    }
    return avoid === 1 ? 2 : 1;
  }

  /**
   * Frames and sends. LCP always goes with Address/Control and a 2-octet Protocol field
   * (RFC 1661 §6.5-6.6); other protocols use what the peer asked for (its PFC/ACFC options).
   */
  sendFrame(protocol: number, information: Uint8Array): void {
    if (this.st.finished) return;
    const isLcp = protocol === PppProtocol.LCP;
    const opened = this.st.lcp.cp.state === "Opened";
    const frame = makePppFrame(protocol, information, {
      acfc: !isLcp && opened && this.st.lcp.peer.acfc,
      pfc: !isLcp && opened && this.st.lcp.peer.pfc,
    });
    if (protocol !== PppProtocol.IPv4)
      this.log.debug(`send ${pppProtocolName(protocol)}`, { len: frame.length });
    this.actions.push({ type: "send-frame", protocol, frame });
  }

  /** Tells the phase coordinator; it may act at once (e.g. start IPCP, close the link). */
  report(event: PhaseEvent): void {
    this.phases(this, event);
  }

  emit(event: PppEvent): void {
    this.log.info(`event ${event.type}`, { ...event });
    this.actions.push({ type: "event", event });
  }

  /** Records why the link goes down (the first reason wins). */
  setReason(reason: DownReason, message: string): void {
    if (!this.st.closeReason) this.st.closeReason = { reason, message };
  }
}
