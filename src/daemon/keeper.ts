/**
 * `oakley connect [--persist]` as a process: one connection attempt after the other
 * (startClient), the back-off between them, and what `oakley status` shows about it — the
 * profile, the state, since when it is up, the bytes carried, the last failure and the next
 * attempt.
 *
 * Without `persist` the first failure ends the process (exit 1), as before. With it, each down
 * tears the attempt down with the fail-closed rules left blocking (`stop({keepBlocked})`), says
 * why and when it tries again in one log line (fields `event: "down"`, `retryInMs`, `attempt`
 * for the terminal view and for JSON readers), waits (reconnectDelayMs) and dials again.
 * The clock, timers and randomness are injected so the loop runs in unit tests.
 */
import type { Clock } from "../base/clock.js";
import { err, type Result } from "../base/result.js";
import {
  type ClientConnectionStatus,
  ControlErrorCode,
  type ControlTarget,
  controlError,
  type DaemonStatus,
  type SaList,
} from "../control/index.js";
import type { Logger, LogHub } from "../obs/log.js";
import { type ClientError, type ClientProgress, reconnectDelayMs } from "./client.js";
import type { RunningClient } from "./client.js";
import { daemonTarget } from "./control-target.js";

/** After this long up, a failure starts the back-off afresh. */
export const BACKOFF_RESET_MS = 60_000;

export interface KeeperHooks {
  readonly onProgress: (p: ClientProgress) => void;
  readonly onDown: (e: ClientError) => void;
}

export interface KeeperDeps {
  /** One connection attempt (startClient with the settings bound). */
  readonly dial: (hooks: KeeperHooks) => Promise<Result<RunningClient, ClientError>>;
  readonly persist: boolean;
  readonly log: Logger;
  readonly logs: LogHub;
  /** Profile name, when connecting by profile. */
  readonly profile?: string;
  readonly server: string;
  readonly software: string;
  /** Monotonic and calendar time (the engines' timestamps are monotonic). */
  readonly clock: Pick<Clock, "now" | "wallNow">;
  /** Whether fail-closed rules block VPN traffic while down (the status says "block"). */
  readonly failClosed: boolean;
  readonly random: () => number;
  readonly setTimer: (fn: () => void, ms: number) => { cancel(): void };
  /** The process should end: no --persist and the connection failed (`why`). */
  readonly exit: (code: number, why: ClientError) => void;
}

export class ConnectionKeeper {
  private state: ClientConnectionStatus["state"] = "connecting";
  private since: number;
  private readonly startedAt: number;
  private upSince: number | undefined;
  private address: string | undefined;
  private attempt = 0;
  private attempts = 0;
  private nextAttemptAt: number | undefined;
  private lastFailure: { at: number; code: string; message: string } | undefined;
  private client: RunningClient | undefined;
  private timer: { cancel(): void } | undefined;
  private stopping = false;
  /** Bytes of earlier connections of this process (the current one is read live). */
  private carried = { in: 0n, out: 0n };

  constructor(private readonly d: KeeperDeps) {
    this.startedAt = d.clock.wallNow();
    this.since = this.startedAt;
  }

  /** Dials the first time. */
  start(): Promise<void> {
    return this.dial();
  }

  /** Ctrl-C / SIGTERM: no more attempts; disconnects in order and removes the block rules. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timer?.cancel();
    this.timer = undefined;
    const c = this.client;
    this.client = undefined;
    this.setState("stopped");
    await c?.stop();
  }

  private setState(s: ClientConnectionStatus["state"]): void {
    if (this.state === s) return;
    this.state = s;
    this.since = this.d.clock.wallNow();
  }

  private async dial(): Promise<void> {
    if (this.stopping) return;
    this.attempts++;
    this.nextAttemptAt = undefined;
    this.setState("connecting");
    const r = await this.d.dial({
      onProgress: (p) => {
        if (p.stage === "address") {
          this.upSince = this.d.clock.wallNow();
          this.address = p.address;
          this.setState("up");
        }
      },
      onDown: (e) => {
        if (!this.stopping) void this.down(e);
      },
    });
    if (!r.ok) {
      if (this.stopping) return;
      this.client = undefined;
      return this.down(r.error, true);
    }
    this.client = r.value;
    if (this.stopping) await r.value.stop();
  }

  private async down(e: ClientError, atStart = false): Promise<void> {
    this.lastFailure = { at: this.d.clock.wallNow(), code: e.code, message: e.message };
    const old = this.client;
    this.client = undefined;
    const wasUpFor = this.upSince === undefined ? 0 : this.d.clock.wallNow() - this.upSince;
    this.upSince = undefined;
    this.address = undefined;
    if (old) this.carry(old);
    if (!this.d.persist) {
      this.setState("stopped");
      await old?.stop();
      this.d.exit(1, { ...e, message: atStart ? `cannot start: ${e.message}` : e.message });
      return;
    }
    this.setState("waiting");
    await old?.stop({ keepBlocked: `reconnecting: ${e.message}` });
    if (this.stopping) return;
    this.attempt = wasUpFor > BACKOFF_RESET_MS ? 1 : this.attempt + 1;
    const wait = reconnectDelayMs(this.attempt, this.d.random());
    this.nextAttemptAt = this.d.clock.wallNow() + wait;
    const at = new Date(this.nextAttemptAt).toISOString().slice(11, 19);
    this.d.log.warn(
      `connection down: ${e.message} [${e.code}]; reconnecting in ${(wait / 1000).toFixed(1)} s (at ${at}, attempt ${this.attempt}); VPN traffic stays blocked meanwhile`,
      { event: "down", code: e.code, retryInMs: wait, attempt: this.attempt },
    );
    this.timer = this.d.setTimer(() => {
      this.timer = undefined;
      void this.dial();
    }, wait);
  }

  private carry(c: RunningClient): void {
    const b = this.bytesOf(c);
    this.carried = { in: this.carried.in + b.in, out: this.carried.out + b.out };
  }

  private target(c: RunningClient): ControlTarget {
    return daemonTarget({
      node: c.node,
      logs: this.d.logs,
      counters: c.counters,
      wallNow: () => this.d.clock.wallNow(),
      now: () => this.d.clock.now(),
      state: {
        software: this.d.software,
        role: "client",
        startedAt: this.startedAt,
        listen: "",
        warnings: [],
        mode: "protected",
      },
      l2tp: c.l2tp,
    });
  }

  private bytesOf(c: RunningClient): { in: bigint; out: bigint } {
    const sas = this.target(c).listSas() as SaList;
    let i = 0n;
    let o = 0n;
    for (const s of sas.child) {
      i += s.traffic.bytesIn;
      o += s.traffic.bytesOut;
    }
    return { in: i, out: o };
  }

  /** What `oakley status` shows about this connection. */
  connection(): ClientConnectionStatus {
    const now = this.d.clock.wallNow();
    const iso = (t: number) => new Date(t).toISOString();
    const live = this.client ? this.bytesOf(this.client) : { in: 0n, out: 0n };
    return {
      ...(this.d.profile !== undefined ? { profile: this.d.profile } : {}),
      server: this.d.server,
      persist: this.d.persist,
      state: this.state,
      since: iso(this.since),
      ...(this.upSince !== undefined
        ? { upSince: iso(this.upSince), uptimeSeconds: Math.floor((now - this.upSince) / 1000) }
        : {}),
      ...(this.address !== undefined ? { address: this.address } : {}),
      attempts: this.attempts,
      ...(this.nextAttemptAt !== undefined ? { nextAttemptAt: iso(this.nextAttemptAt) } : {}),
      bytesIn: live.in,
      bytesOut: live.out,
      totalBytesIn: this.carried.in + live.in,
      totalBytesOut: this.carried.out + live.out,
      ...(this.lastFailure
        ? {
            lastFailure: {
              at: iso(this.lastFailure.at),
              code: this.lastFailure.code,
              message: this.lastFailure.message,
            },
          }
        : {}),
    };
  }

  /** The management protocol's view of the client (`oakley status`, `oakley sa list`). */
  controlTarget(): ControlTarget {
    const idle: SaList = { ike: [], child: [] };
    return {
      status: async (): Promise<DaemonStatus> => {
        const c = this.client;
        const base = c ? await this.target(c).status() : undefined;
        const blocked =
          this.d.failClosed && (this.state === "waiting" || this.state === "connecting");
        return {
          software: this.d.software,
          role: "client",
          mode: this.state === "up" ? "protected" : blocked ? "block" : "starting",
          ...(this.state === "waiting" && this.lastFailure
            ? { blockReason: `reconnecting: ${this.lastFailure.message}` }
            : {}),
          startedAt: new Date(this.startedAt).toISOString(),
          persistentPolicies: [],
          ports: [],
          ikeSas: base?.ikeSas ?? 0,
          childSas: base?.childSas ?? 0,
          ...(base?.l2tpTunnels !== undefined ? { l2tpTunnels: base.l2tpTunnels } : {}),
          ...(base?.pppSessions !== undefined ? { pppSessions: base.pppSessions } : {}),
          warnings: [],
          connection: this.connection(),
        };
      },
      listSas: () => (this.client ? this.target(this.client).listSas() : idle),
      deleteSa: (id) =>
        this.client
          ? this.target(this.client).deleteSa(id)
          : err(
              controlError(ControlErrorCode.NotFound, `no SA ${id}: the client is not connected`),
            ),
      setLogLevel: (group, level) => this.d.logs.setLevel(group, level),
      logLevels: () => this.d.logs.levelsSnapshot(),
      metrics: () => ({ counters: this.client?.counters.snapshot() ?? {} }),
    };
  }
}
