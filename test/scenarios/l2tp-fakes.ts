/**
 * Fakes for L2TP scenario tests: a fake clock, a seeded lossy in-memory datagram network
 * (loss, duplication, reordering through random delay) and a tiny driver per engine that does
 * what a real driver does (perform sends, keep the one timer). Deterministic for a given seed.
 */
import {
  type L2tpAction,
  type L2tpConfig,
  type L2tpInput,
  type L2tpState,
  createL2tp,
  checkDeadlines,
  handle,
} from "../../src/l2tp/index.js";
import { rng } from "../helpers/fuzz.js";

export function seededRandom(seed: number): (n: number) => Buffer {
  const next = rng(seed);
  return (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = next() & 0xff;
    return b;
  };
}

export interface LinkQuality {
  /** Probability a datagram is lost. */
  readonly loss: number;
  /** Probability a datagram is delivered twice. */
  readonly duplicate: number;
  /** Base one-way delay and random extra delay (ms): extra > spacing means reordering. */
  readonly delayMs: number;
  readonly jitterMs: number;
}
export const PERFECT: LinkQuality = { loss: 0, duplicate: 0, delayMs: 5, jitterMs: 0 };

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly to: Peer;
  readonly binding: string;
  readonly bytes: Buffer;
}

export class Peer {
  state: L2tpState;
  timerAt: number | null = null;
  /** Every non-send action, in order. */
  readonly events: L2tpAction[] = [];
  /** Every datagram this peer sent (binding, bytes). */
  readonly sent: { binding: string; bytes: Buffer }[] = [];

  constructor(
    readonly net: Net,
    readonly name: string,
    config: L2tpConfig,
  ) {
    this.state = createL2tp(config);
  }

  input(i: L2tpInput): L2tpAction[] {
    const step = handle(this.state, i, this.net.now);
    this.state = step.state;
    const wrong = checkDeadlines(this.state);
    if (wrong) throw new Error(`L2TP timer bookkeeping after ${i.kind}: ${wrong}`);
    for (const a of step.actions) {
      if (a.kind === "send") {
        this.sent.push({ binding: a.binding, bytes: a.bytes });
        this.net.transmit(this, a.binding, a.bytes);
      } else if (a.kind === "armTimer") this.timerAt = a.at;
      else this.events.push(a);
    }
    return step.actions;
  }

  of<K extends L2tpAction["kind"]>(kind: K): Extract<L2tpAction, { kind: K }>[] {
    return this.events.filter((e): e is Extract<L2tpAction, { kind: K }> => e.kind === kind);
  }
}

export class Net {
  now = 0;
  private seq = 0;
  private readonly queue: InFlight[] = [];
  private readonly routes = new Map<string, { to: Peer; binding: string; quality: LinkQuality }>();
  readonly peers: Peer[] = [];
  private readonly next: () => number;
  delivered = 0;
  lost = 0;

  constructor(seed = 1) {
    this.next = rng(seed);
  }

  private chance(p: number): boolean {
    return (this.next() % 1_000_000) / 1_000_000 < p;
  }

  peer(
    name: string,
    config: Omit<L2tpConfig, "random"> & { random?: L2tpConfig["random"] },
    seed: number,
  ): Peer {
    const p = new Peer(this, name, { random: seededRandom(seed), ...config });
    this.peers.push(p);
    return p;
  }

  /** a sends to `bindingAtA` -> b receives it as coming from `bindingAtB`, and back. */
  link(
    a: Peer,
    bindingAtA: string,
    b: Peer,
    bindingAtB: string,
    quality: LinkQuality = PERFECT,
  ): void {
    this.routes.set(`${a.name}\u0000${bindingAtA}`, { to: b, binding: bindingAtB, quality });
    this.routes.set(`${b.name}\u0000${bindingAtB}`, { to: a, binding: bindingAtA, quality });
  }

  setQuality(a: Peer, bindingAtA: string, quality: LinkQuality): void {
    const fwd = this.routes.get(`${a.name}\u0000${bindingAtA}`);
    if (!fwd) throw new Error("no such link");
    this.routes.set(`${a.name}\u0000${bindingAtA}`, { ...fwd, quality });
    const back = this.routes.get(`${fwd.to.name}\u0000${fwd.binding}`);
    if (back) this.routes.set(`${fwd.to.name}\u0000${fwd.binding}`, { ...back, quality });
  }

  /** Hand-crafted datagram into a peer, as if from `binding`. */
  inject(to: Peer, binding: string, bytes: Buffer): void {
    this.queue.push({ at: this.now, seq: this.seq++, to, binding, bytes });
  }

  transmit(from: Peer, binding: string, bytes: Buffer): void {
    const r = this.routes.get(`${from.name}\u0000${binding}`);
    if (!r) return;
    const copies = this.chance(r.quality.loss) ? 0 : this.chance(r.quality.duplicate) ? 2 : 1;
    if (copies === 0) this.lost++;
    for (let i = 0; i < copies; i++) {
      const delay =
        r.quality.delayMs + (r.quality.jitterMs > 0 ? this.next() % r.quality.jitterMs : 0);
      this.queue.push({
        at: this.now + delay,
        seq: this.seq++,
        to: r.to,
        binding: r.binding,
        bytes,
      });
    }
  }

  /** Runs events in time order until `until` (absolute ms) or until `done()` holds. */
  run(until: number, done: () => boolean = () => false): void {
    while (!done()) {
      let nextAt = Number.POSITIVE_INFINITY;
      for (const q of this.queue) nextAt = Math.min(nextAt, q.at);
      for (const p of this.peers) if (p.timerAt !== null) nextAt = Math.min(nextAt, p.timerAt);
      if (nextAt > until) break;
      this.now = Math.max(this.now, nextAt);
      const due = this.queue
        .filter((q) => q.at <= this.now)
        .sort((a, b) => a.at - b.at || a.seq - b.seq);
      if (due.length > 0) {
        const q = due[0];
        if (!q) break;
        this.queue.splice(this.queue.indexOf(q), 1);
        this.delivered++;
        q.to.input({ kind: "datagram", binding: q.binding, bytes: q.bytes });
        continue;
      }
      for (const p of this.peers) {
        if (p.timerAt !== null && p.timerAt <= this.now) {
          p.timerAt = null;
          p.input({ kind: "timer" });
        }
      }
    }
    if (!done()) this.now = Math.max(this.now, until);
  }
}
