/**
 * What `oakley connect` shows a person: the log records (JSON lines from LogHub) turned into
 * readable lines — a tick for each step reached (phase 1, phase 2, L2TP, PPP, address), a cross
 * for a connection that went down with why and when the next attempt is — and, on a terminal,
 * one spinner line at the bottom saying what it waits for (rewritten in place, erased before
 * any other line is printed). Off a terminal (a pipe, the journal) the same lines without the
 * spinner or escape codes. `--log-format json` bypasses this (sinks.ts jsonSink).
 *
 * Records it understands (fields set by src/daemon/client.ts and keeper.ts):
 *   step: "phase1" | "phase2" | "l2tp" | "ppp-auth" | "address"   a step reached
 *   event: "connecting"                                             an attempt starts
 *   event: "down", retryInMs, attempt                                down; next attempt in …
 *   event: "failed"                                                  down for good
 * Anything else: warnings with "!", errors with "✖", info plain, debug with its group and fields.
 */
import type { LogSink } from "../obs/log.js";

export interface ViewStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
}

export interface ViewTimer {
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

const realTimer: ViewTimer = {
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const CLEAR_LINE = "\r\x1b[2K";

/** What the client waits for after each step. */
const NEXT: Record<string, string | undefined> = {
  connecting: "phase 1 (IKE Main Mode)",
  phase1: "phase 2 (IKE Quick Mode)",
  phase2: "the L2TP tunnel",
  l2tp: "PPP authentication",
  "ppp-auth": "an address (IPCP)",
  address: undefined,
};

export interface ConnectViewOptions {
  /** Draw the spinner (default: when the stream is a TTY). */
  readonly spinner?: boolean;
  readonly now?: () => number;
  readonly timer?: ViewTimer;
  /**
   * Also show the protocol groups' info lines (ike, l2tp, ppp, …), as with --log-level debug.
   * Otherwise only the client's own (group daemon) info lines, warnings and errors appear.
   */
  readonly verbose?: boolean;
}

export class ConnectView implements LogSink {
  private readonly spin: boolean;
  private readonly now: () => number;
  private readonly timer: ViewTimer;
  private readonly verbose: boolean;
  private waitingFor: string | undefined;
  private waitingSince = 0;
  /** Wall time of the next attempt while waiting to reconnect. */
  private retryAt: number | undefined;
  private frame = 0;
  private stopTicker: (() => void) | undefined;
  private drawn = false;

  constructor(
    private readonly out: ViewStream,
    o: ConnectViewOptions = {},
  ) {
    this.spin = o.spinner ?? out.isTTY === true;
    this.now = o.now ?? Date.now;
    this.timer = o.timer ?? realTimer;
    this.verbose = o.verbose ?? false;
  }

  /** LogSink: one JSON record from LogHub. */
  write(line: string): void {
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.print(line);
      return;
    }
    const { ts, level, group, msg, step, event, ...rest } = r;
    const time = typeof ts === "string" ? ts.slice(11, 19) : "";
    const text = String(msg);
    if (typeof step === "string") {
      this.print(`${time} ✔ ${text}`);
      this.wait(NEXT[step]);
      return;
    }
    if (event === "connecting") {
      this.print(`${time} → ${text}`);
      this.wait(NEXT.connecting);
      return;
    }
    if (event === "down") {
      this.print(`${time} ✖ ${text}`);
      const ms = typeof rest.retryInMs === "number" ? rest.retryInMs : undefined;
      this.retryAt = ms === undefined ? undefined : this.now() + ms;
      this.wait("the next attempt");
      return;
    }
    if (event === "failed") {
      this.print(`${time} ✖ ${text}`);
      this.wait(undefined);
      return;
    }
    delete rest.code;
    const extra = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    switch (level) {
      case "error":
        this.print(`${time} ✖ ${text}`);
        break;
      case "warn":
        this.print(`${time} ! ${text}`);
        break;
      case "info":
        if (group === "daemon") this.print(`${time}   ${text}`);
        else if (this.verbose)
          this.print(`${time} · ${String(group)} ${text}${extra ? `  ${extra}` : ""}`);
        break;
      default:
        this.print(`${time} · ${String(group)} ${text}${extra ? `  ${extra}` : ""}`);
    }
  }

  /** Erases the spinner and stops it (before exit or a message on stderr). */
  close(): void {
    this.wait(undefined);
  }

  private print(s: string): void {
    if (this.drawn) this.out.write(CLEAR_LINE);
    this.drawn = false;
    this.out.write(`${s}\n`);
    this.draw();
  }

  private wait(what: string | undefined): void {
    if (what !== "the next attempt") this.retryAt = undefined;
    this.waitingFor = what;
    this.waitingSince = this.now();
    if (!this.spin) return;
    if (what === undefined) {
      this.stopTicker?.();
      this.stopTicker = undefined;
      if (this.drawn) this.out.write(CLEAR_LINE);
      this.drawn = false;
      return;
    }
    if (!this.stopTicker) {
      this.stopTicker = this.timer.every(100, () => {
        this.frame = (this.frame + 1) % FRAMES.length;
        this.draw();
      });
    }
    this.draw();
  }

  private draw(): void {
    if (!this.spin || this.waitingFor === undefined) return;
    const f = FRAMES[this.frame] ?? "-";
    const text =
      this.retryAt !== undefined
        ? `reconnecting in ${Math.max(0, Math.ceil((this.retryAt - this.now()) / 1000))} s`
        : `waiting for ${this.waitingFor} ${Math.floor((this.now() - this.waitingSince) / 1000)} s`;
    this.out.write(`${CLEAR_LINE}${f} ${text}`);
    this.drawn = true;
  }
}
