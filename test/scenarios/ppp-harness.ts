/**
 * In-process harness for PPP scenarios: two engines joined by an in-memory link with a fake
 * clock and scripted loss. Frames are delivered in order; when nothing is in flight the clock
 * jumps to the earliest armed timer. Everything is deterministic (seeded randomness).
 * The harness also plays the driver's part: a verify-credentials action is answered (by
 * `verify` when set — an external authenticator such as RADIUS — else for PAP by
 * `checkPassword`, default: the server's cleartext users) once no frame is in flight, as an
 * asynchronous check would be; returning undefined leaves the check pending for `answer`.
 */
import { createHash } from "node:crypto";
import { PppSession } from "../../src/ppp/index.js";
import type {
  PppAction,
  PppAuthVerdict,
  PppConfig,
  PppCredentials,
  PppEvent,
  PppInput,
} from "../../src/ppp/index.js";

export type Side = "server" | "client";

/** Deterministic "randomness" for tests: SHA-256 in counter mode over a label. */
export function seededRandom(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    let off = 0;
    while (off < n) {
      const block = createHash("sha256").update(`${label}:${counter++}`).digest();
      off += block.copy(out, off);
    }
    return out;
  };
}

export interface Sent {
  readonly from: Side;
  readonly at: number;
  readonly frame: Buffer;
  readonly protocol: number;
  readonly dropped: boolean;
}

export interface PasswordCheck {
  readonly side: Side;
  readonly requestId: number;
  readonly user: string;
  readonly password: string;
}

export class Link {
  now = 0;
  readonly sessions: Record<Side, PppSession>;
  readonly timers: Record<Side, number | null> = { server: null, client: null };
  readonly events: { side: Side; at: number; event: PppEvent }[] = [];
  readonly delivered: Record<Side, Uint8Array[]> = { server: [], client: [] };
  readonly sent: Sent[] = [];
  private readonly queue: { to: Side; frame: Buffer }[] = [];
  /** Return true to lose the frame. `n` counts the frames of that side from 0. */
  drop: (from: Side, frame: Buffer, n: number) => boolean = () => false;
  private readonly counts: Record<Side, number> = { server: 0, client: 0 };
  readonly started: Record<Side, boolean> = { server: false, client: false };
  /** Every verify-credentials action, in order (password empty for CHAP methods). */
  readonly checks: PasswordCheck[] = [];
  private readonly answers: { side: Side; input: PppInput }[] = [];
  /** Answers a PAP password check; undefined (or a function returning undefined): left pending. */
  checkPassword: ((user: string, password: string) => boolean | undefined) | undefined;
  /** An external authenticator: every method's credentials; undefined leaves it pending. */
  verify: ((user: string, c: PppCredentials) => PppAuthVerdict | undefined) | undefined;
  /** Every credentials object the driver was asked about, in order. */
  readonly credentials: PppCredentials[] = [];
  /** Changes a frame on the wire (a rogue peer); default: untouched. */
  rewrite: (from: Side, frame: Buffer) => Buffer = (_from, f) => f;

  constructor(server: PppConfig, client: PppConfig) {
    this.sessions = { server: new PppSession(server, 0), client: new PppSession(client, 0) };
    this.checkPassword = (user, password) => {
      const s = server.users?.(user);
      const clear = typeof s === "string" ? s : s?.cleartext;
      return clear !== undefined && clear === password;
    };
  }

  /** The driver's answer to a pending verify-credentials. */
  answer(side: Side, requestId: number, ok: boolean): void {
    this.feed(side, {
      type: "credentials-verified",
      requestId,
      verdict: ok ? { ok: true } : { ok: false, reason: "wrong-password" },
    });
  }

  feed(side: Side, input: Parameters<PppSession["handle"]>[0]): void {
    if (input.type === "start") this.started[side] = true;
    this.apply(side, this.sessions[side].handle(input, this.now));
  }

  private apply(side: Side, actions: readonly PppAction[]): void {
    const other: Side = side === "server" ? "client" : "server";
    for (const a of actions) {
      switch (a.type) {
        case "send-frame": {
          const n = this.counts[side]++;
          const dropped = this.drop(side, a.frame, n);
          const frame = this.rewrite(side, a.frame);
          this.sent.push({ from: side, at: this.now, frame, protocol: a.protocol, dropped });
          if (!dropped) this.queue.push({ to: other, frame });
          break;
        }
        case "verify-credentials": {
          const c = a.credentials;
          const password = c.method === "pap" ? Buffer.from(c.password).toString("utf8") : "";
          this.checks.push({ side, requestId: a.requestId, user: a.user, password });
          this.credentials.push(c);
          let verdict: PppAuthVerdict | undefined;
          if (this.verify) verdict = this.verify(a.user, c);
          else if (c.method === "pap") {
            const ok = this.checkPassword?.(a.user, password);
            if (ok !== undefined)
              verdict = ok ? { ok: true } : { ok: false, reason: "wrong-password" };
          }
          if (verdict !== undefined)
            this.answers.push({
              side,
              input: { type: "credentials-verified", requestId: a.requestId, verdict },
            });
          break;
        }
        case "set-timer":
          this.timers[side] = a.at;
          break;
        case "deliver-ip":
          this.delivered[side].push(a.packet);
          break;
        case "event":
          this.events.push({ side, at: this.now, event: a.event });
          break;
      }
    }
  }

  eventsOf(side: Side, type?: PppEvent["type"]): PppEvent[] {
    return this.events
      .filter((e) => e.side === side && (type === undefined || e.event.type === type))
      .map((e) => e.event);
  }

  firstAt(side: Side, type: PppEvent["type"]): number | undefined {
    return this.events.find((e) => e.side === side && e.event.type === type)?.at;
  }

  /** Runs until `done()` or until the clock passes `limitMs`. Returns whether done() held. */
  run(done: () => boolean, limitMs = 120_000): boolean {
    for (let guard = 0; guard < 100_000; guard++) {
      if (done()) return true;
      const next = this.queue.shift();
      if (next) {
        this.apply(
          next.to,
          this.sessions[next.to].handle({ type: "frame", frame: next.frame }, this.now),
        );
        continue;
      }
      const answer = this.answers.shift();
      if (answer) {
        this.apply(answer.side, this.sessions[answer.side].handle(answer.input, this.now));
        continue;
      }
      const ts = (["server", "client"] as const)
        .map((s) => ({ s, at: this.timers[s] }))
        .filter((x): x is { s: Side; at: number } => x.at !== null);
      if (ts.length === 0) return done();
      const at = Math.min(...ts.map((x) => x.at));
      if (at > limitMs) return done();
      this.now = Math.max(this.now, at);
      for (const x of ts)
        if (x.at <= this.now)
          this.apply(x.s, this.sessions[x.s].handle({ type: "timer" }, this.now));
    }
    throw new Error("harness: too many steps");
  }

  /** Advances the clock to `t`, firing timers on the way (no frames pending). */
  advanceTo(t: number): void {
    this.run(() => false, t);
    this.now = Math.max(this.now, t);
  }

  bothUp(): boolean {
    return (
      this.eventsOf("server", "ip-up").length > 0 && this.eventsOf("client", "ip-up").length > 0
    );
  }
  bothDown(): boolean {
    return (
      this.eventsOf("server", "link-down").length > 0 &&
      this.eventsOf("client", "link-down").length > 0
    );
  }
}
