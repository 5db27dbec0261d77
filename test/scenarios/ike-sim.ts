/**
 * Runs Oakley's IKE engine on a simulated host (test/fakes/sim.ts): UDP 500 and 4500 sockets
 * with the RFC 3948 non-ESP marker on 4500, the engine's timer driven by the fake clock, and
 * every action recorded (sent messages, keepalives, installed/removed child SAs, events) so
 * scenario tests can assert on them. A deterministic random source per peer (seeded).
 */
import { Counters } from "../../src/obs/counters.js";
import { LogHub, type LogLevel, MemorySink } from "../../src/obs/log.js";
import {
  type ChildSaInstall,
  type IkeAction,
  type IkeConfigInput,
  IkeEngine,
  type IkeEvent,
  ikeConfig,
} from "../../src/ike/index.js";
import type { Spi } from "../../src/wire/esp/esp.js";
import type { SimHost, Simulator } from "../fakes/sim.js";

/** xorshift32 bytes from a seed: reproducible cookies, nonces, SPIs and message IDs. */
export function seededRandom(seed: number): (n: number) => Buffer {
  let x = seed >>> 0 || 1;
  return (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b[i] = x & 0xff;
    }
    return b;
  };
}

export interface RecordedAction {
  readonly t: number;
  readonly a: IkeAction;
}

export class SimIkePeer {
  readonly engine: IkeEngine;
  readonly counters = new Counters();
  readonly sink = new MemorySink();
  readonly hub: LogHub;
  readonly actions: RecordedAction[] = [];
  readonly installed = new Map<number, ChildSaInstall>();
  keepalivesSent = 0;
  espSeen = 0;
  private cancelTimer: (() => void) | undefined;
  private timerAt: number | undefined;
  private offline = false;

  constructor(
    readonly sim: Simulator,
    readonly host: SimHost,
    config: IkeConfigInput,
    seed: number,
    logLevel: LogLevel = "info",
  ) {
    this.hub = new LogHub(this.sink, logLevel, () => sim.now());
    this.engine = new IkeEngine(ikeConfig({ localAddress: host.address, ...config }), {
      logger: this.hub.logger("ike", { host: host.address }),
      counters: this.counters,
      random: seededRandom(seed),
    });
    host.bind(500, (data, from, to) => this.receive(data, from, to));
    host.bind(4500, (data, from, to) => {
      if (data.length === 1 && data[0] === 0xff) return;
      if (data.length >= 4 && data.readUInt32BE(0) === 0) {
        this.receive(data.subarray(4), from, to);
        return;
      }
      this.espSeen++;
    });
  }

  /** Stops answering (a crashed or unplugged peer); timers stop too. */
  goOffline(): void {
    this.offline = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private receive(
    data: Buffer,
    from: { address: string; port: number },
    to: { address: string; port: number },
  ): void {
    if (this.offline) return;
    this.perform(
      this.engine.handleDatagram(
        { data: Buffer.from(data), local: to, remote: from },
        this.sim.now(),
      ),
    );
  }

  perform(actions: readonly IkeAction[]): void {
    for (const a of actions) {
      this.actions.push({ t: this.sim.now(), a });
      switch (a.kind) {
        case "send": {
          const bytes = a.from.port === 4500 ? Buffer.concat([Buffer.alloc(4), a.data]) : a.data;
          this.host.send(a.from.port, a.to, bytes);
          break;
        }
        case "keepalive":
          this.keepalivesSent++;
          this.host.send(4500, a.to, Buffer.from([0xff]));
          break;
        case "install-child-sa":
          this.installed.set(a.child.childId, a.child);
          break;
        case "remove-child-sa":
          this.installed.delete(a.childId);
          break;
        case "timer":
          this.arm(a.at);
          break;
        default:
          break;
      }
    }
  }

  private arm(at: number): void {
    if (this.offline) return;
    if (this.timerAt === at && this.cancelTimer) return;
    this.cancelTimer?.();
    this.timerAt = at;
    this.cancelTimer = this.sim.at(at, () => {
      this.cancelTimer = undefined;
      this.timerAt = undefined;
      this.perform(this.engine.handleTimer(this.sim.now()));
    });
  }

  events(): IkeEvent[] {
    return this.actions.flatMap((r) => (r.a.kind === "event" ? [r.a.event] : []));
  }

  eventsOf<T extends IkeEvent["type"]>(type: T): Extract<IkeEvent, { type: T }>[] {
    return this.events().filter((e): e is Extract<IkeEvent, { type: T }> => e.type === type);
  }

  sent(): Extract<IkeAction, { kind: "send" }>[] {
    return this.actions.flatMap((r) => (r.a.kind === "send" ? [r.a] : []));
  }

  initiate(req: Parameters<IkeEngine["initiate"]>[0]): void {
    this.perform(this.engine.initiate(req, this.sim.now()));
  }

  command(actions: IkeAction[]): void {
    this.perform(actions);
  }
}

/** Both directions of a child SA pair agree: my outbound is the peer's inbound, and back. */
export function childPairMatches(a: ChildSaInstall, b: ChildSaInstall): boolean {
  // One SA's SPI is outbound at one end and inbound at the other: compared as plain SPIs.
  const same = (x: Spi, y: Spi) => x === y;
  return (
    same(a.outbound.spi, b.inbound.spi) &&
    same(a.inbound.spi, b.outbound.spi) &&
    a.outbound.keys.encryption.equals(b.inbound.keys.encryption) &&
    a.outbound.keys.integrity.equals(b.inbound.keys.integrity) &&
    a.inbound.keys.encryption.equals(b.outbound.keys.encryption) &&
    a.inbound.keys.integrity.equals(b.outbound.keys.integrity)
  );
}

export const PSK = "oakley-sim-psk-0123456789";
