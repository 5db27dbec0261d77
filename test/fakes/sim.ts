/**
 * A deterministic discrete-event simulator for scenario tests (DESIGN rule 5): a fake clock,
 * timers, and an in-memory UDP network with NAT boxes, loss, duplication and reordering.
 * Whole peers (client, NATs, server) run in one process, reproducibly from a seed.
 *
 * Topology model: every host lives in a realm ("internet" or the inside of a NAT box). A NAT
 * box sits in an outer realm with one outside address and translates UDP from its inside
 * realm with an endpoint-independent mapping (RFC 4787 "EIM"), like the Linux MASQUERADE the
 * interop tests use; port forwards map an outside port to an inside host. NAT boxes nest
 * (a client behind two NATs). Mappings can be dropped to simulate a NAT rebinding.
 */
import { DeadlineHeap } from "../../src/base/deadline-heap.js";
import { rng as xorshift32 } from "../helpers/fuzz.js";

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export type DatagramHandler = (data: Buffer, from: Endpoint, to: Endpoint) => void;

/** Seeded xorshift32 (test/helpers/fuzz.ts) scaled to [0, 1); seed 0 stands for 1. */
function rng(seed: number): () => number {
  const next = xorshift32(seed >>> 0 || 1);
  return () => next() / 0x100000000;
}

export class Simulator {
  private nowMs = 0;
  private readonly queue = new DeadlineHeap<() => void>();
  readonly random: () => number;

  constructor(seed = 1) {
    this.random = rng(seed);
  }

  now(): number {
    return this.nowMs;
  }

  /** Runs `fn` at absolute time `at` (ms), ties in scheduling order. Returns a cancel function. */
  at(at: number, fn: () => void): () => void {
    const h = this.queue.push(Math.max(at, this.nowMs), fn);
    return () => this.queue.cancel(h);
  }

  after(ms: number, fn: () => void): () => void {
    return this.at(this.nowMs + ms, fn);
  }

  /** Processes events up to and including time `until`; returns the number processed. */
  runUntil(until: number): number {
    let n = 0;
    for (;;) {
      const due = this.queue.popDue(until);
      if (!due) break;
      this.nowMs = due.deadline;
      due.item();
      n++;
      if (n > 10_000_000) throw new Error("simulator: runaway event loop");
    }
    this.nowMs = Math.max(this.nowMs, until);
    return n;
  }

  runFor(ms: number): number {
    return this.runUntil(this.nowMs + ms);
  }

  /** Runs until `cond()` holds (checked after each event) or `limitMs` passes; returns cond(). */
  runUntilTrue(cond: () => boolean, limitMs = 600_000): boolean {
    const deadline = this.nowMs + limitMs;
    while (!cond()) {
      const next = this.queue.peek();
      if (next === undefined || next > deadline) {
        this.nowMs = deadline;
        return cond();
      }
      this.runUntil(next);
    }
    return true;
  }
}

export interface LinkProfile {
  /** One-way latency in ms. */
  readonly latencyMs: number;
  /** Extra random delay up to this many ms (reordering). */
  readonly jitterMs: number;
  readonly loss: number;
  readonly duplicate: number;
}

export const PERFECT: LinkProfile = { latencyMs: 5, jitterMs: 0, loss: 0, duplicate: 0 };

interface Realm {
  readonly name: string;
  readonly hosts: Map<string, SimHost>;
  readonly nats: Map<string, NatBox>; // by outside address
  readonly parent: NatBox | undefined; // the NAT whose inside this is
}

export class SimHost {
  private readonly sockets = new Map<number, DatagramHandler>();
  constructor(
    readonly net: SimNetwork,
    readonly address: string,
    readonly realm: Realm,
  ) {}

  bind(port: number, handler: DatagramHandler): void {
    if (this.sockets.has(port)) throw new Error(`${this.address}:${port} already bound`);
    this.sockets.set(port, handler);
  }

  unbind(port: number): void {
    this.sockets.delete(port);
  }

  send(fromPort: number, to: Endpoint, data: Uint8Array): void {
    this.net.transmit(this.realm, { address: this.address, port: fromPort }, to, Buffer.from(data));
  }

  /** @internal */
  deliver(data: Buffer, from: Endpoint, to: Endpoint): boolean {
    const h = this.sockets.get(to.port);
    if (!h) return false;
    h(data, from, to);
    return true;
  }
}

export class NatBox {
  private nextPort = 40000;
  private readonly out = new Map<string, number>(); // "inAddr:inPort" -> outside port
  private readonly back = new Map<number, Endpoint>(); // outside port -> inside endpoint
  private readonly forwards = new Map<number, Endpoint>();
  /** Datagrams translated, for assertions. */
  translated = 0;

  constructor(
    readonly outsideAddress: string,
    readonly inside: Realm,
    readonly outer: Realm,
  ) {}

  /** Port forward: datagrams to outside:port go to the inside endpoint. */
  forward(port: number, to: Endpoint): void {
    this.forwards.set(port, to);
  }

  /** Forget all dynamic mappings: the next datagram gets a new outside port (NAT rebinding). */
  rebind(): void {
    this.out.clear();
    this.back.clear();
  }

  /**
   * Hands the outside ports mapped to inside endpoint `from` (any port of its address) to the
   * same ports of `to`: a carrier-grade NAT giving a dead client's mappings to a new client.
   */
  reassign(fromAddress: string, toAddress: string): void {
    for (const [key, port] of [...this.out]) {
      const inside = this.back.get(port);
      if (inside?.address !== fromAddress) continue;
      this.out.delete(key);
      const next = { address: toAddress, port: inside.port };
      this.out.set(`${next.address}:${next.port}`, port);
      this.back.set(port, next);
    }
  }

  /** @internal */
  outbound(from: Endpoint): Endpoint {
    for (const [port, ep] of this.forwards) {
      if (ep.address === from.address && ep.port === from.port)
        return { address: this.outsideAddress, port };
    }
    const key = `${from.address}:${from.port}`;
    let port = this.out.get(key);
    if (port === undefined) {
      port = this.nextPort++;
      this.out.set(key, port);
      this.back.set(port, from);
    }
    this.translated++;
    return { address: this.outsideAddress, port };
  }

  /** @internal */
  inbound(port: number): Endpoint | undefined {
    return this.forwards.get(port) ?? this.back.get(port);
  }
}

export class SimNetwork {
  readonly internet: Realm = {
    name: "internet",
    hosts: new Map(),
    nats: new Map(),
    parent: undefined,
  };
  private readonly realms: Realm[] = [this.internet];
  /** Datagrams seen leaving/entering each realm, for assertions (e.g. nothing in clear). */
  readonly log: Array<{ t: number; realm: string; from: Endpoint; to: Endpoint; data: Buffer }> =
    [];
  dropped = 0;
  /**
   * A path that drops IP fragments: datagrams whose IPv4 packet (payload + 28 bytes of IP and
   * UDP headers) exceeds this size are lost (counted in `tooBig`). Undefined: no limit.
   */
  pathMtu: number | undefined;
  tooBig = 0;

  constructor(
    readonly sim: Simulator,
    public profile: LinkProfile = PERFECT,
  ) {}

  host(address: string, realm: Realm = this.internet): SimHost {
    const h = new SimHost(this, address, realm);
    realm.hosts.set(address, h);
    return h;
  }

  /** A NAT box with `outsideAddress` in `outer`; returns it and its inside realm. */
  nat(outsideAddress: string, outer: Realm = this.internet): NatBox {
    const inside: Realm = {
      name: `inside:${outsideAddress}`,
      hosts: new Map(),
      nats: new Map(),
      parent: undefined,
    };
    const box = new NatBox(outsideAddress, inside, outer);
    (inside as { parent: NatBox | undefined }).parent = box;
    outer.nats.set(outsideAddress, box);
    this.realms.push(inside);
    return box;
  }

  /** @internal Route a datagram from a realm, translating through NATs as needed. */
  transmit(realm: Realm, from: Endpoint, to: Endpoint, data: Buffer): void {
    const p = this.profile;
    if (this.pathMtu !== undefined && data.length + 28 > this.pathMtu) {
      this.tooBig++;
      this.dropped++;
      return;
    }
    if (this.sim.random() < p.loss) {
      this.dropped++;
      return;
    }
    const copies = this.sim.random() < p.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = p.latencyMs + this.sim.random() * p.jitterMs;
      this.sim.after(delay, () => this.route(realm, from, to, data, 0));
    }
  }

  private route(realm: Realm, from: Endpoint, to: Endpoint, data: Buffer, depth: number): void {
    if (depth > 8) return;
    this.log.push({ t: this.sim.now(), realm: realm.name, from, to, data });
    const host = realm.hosts.get(to.address);
    if (host) {
      if (!host.deliver(data, from, to)) this.dropped++;
      return;
    }
    const nat = realm.nats.get(to.address);
    if (nat) {
      const inside = nat.inbound(to.port);
      if (!inside) {
        this.dropped++;
        return;
      }
      this.route(nat.inside, from, inside, data, depth + 1);
      return;
    }
    // Not in this realm: leave through this realm's NAT, if any.
    const up = realm.parent;
    if (!up) {
      this.dropped++;
      return;
    }
    const translated = up.outbound(from);
    this.route(up.outer, translated, to, data, depth + 1);
  }
}

/** The simulator's time as a platform Clock, so real drivers (TimerSet users) run on it. */
export function simClock(sim: Simulator): import("../../src/platform/index.js").Clock {
  return {
    now: () => sim.now(),
    wallNow: () => 1_700_000_000_000 + sim.now(),
    alarm: (fire) => {
      let cancel: (() => void) | undefined;
      return {
        arm: (deadline) => {
          cancel?.();
          cancel = sim.at(deadline, () => {
            cancel = undefined;
            fire();
          });
        },
        disarm: () => {
          cancel?.();
          cancel = undefined;
        },
      };
    },
  };
}
