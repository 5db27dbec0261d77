/**
 * One IPsec endpoint on real sockets: the sans-IO IKE engine (src/ike), the user-space ESP data
 * plane (src/esp) behind its driver (esp-driver.ts), UDP 500 for IKE, and UDP 4500 shared by
 * IKE (non-ESP marker) and ESP-in-UDP (RFC 3948). Both products use it: `oakley serve` as
 * responder, `oakley connect` as initiator.
 *
 * Transport-mode services (L2TP on UDP 1701) talk to peers through *channels*: one channel per
 * peer endpoint (its address:port after NAT), stable across Quick Mode rekeys and followed when
 * the peer's NAT mapping moves. Several clients behind one NAT with the same private address
 * and ports are different channels, because their NAT mappings differ (REQUIREMENTS R2).
 * A channel's `send` encapsulates on the newest outbound SA; packets decrypted on any of its
 * inbound SAs are delivered with the channel.
 */
import { err, ok, type Result } from "../base/result.js";
import { EspDataPlane, type EspEvent } from "../esp/index.js";
import {
  type IkeAction,
  type IkeConfig,
  IkeEngine,
  type IkeEvent,
  type InitiateRequest,
} from "../ike/index.js";
import type { Counters } from "../obs/counters.js";
import type { Logger } from "../obs/log.js";
import {
  type Clock,
  KoffiDatagramSocket,
  type PlatformError,
  type Random,
  type TimerId,
  TimerSet,
} from "../platform/index.js";
import { EspDriver, openEspPorts } from "./esp-driver.js";

export interface Channel {
  readonly id: number;
  /** The peer's outer endpoint as we see it (after NAT). */
  peer: { address: string; port: number };
  /** Our outer address on this channel. */
  readonly local: string;
  /** The peer's own (pre-NAT) address from NAT-OA or its ID, when known. */
  peerOriginal: string | undefined;
  /** Newest outbound SA handle (undefined while no child SA is up). */
  outSa: number | undefined;
  readonly inSas: Set<number>;
  readonly ikeSaIds: Set<number>;
}

export interface IpsecNodeOptions {
  /** Address to bind UDP 500/4500 on (0.0.0.0 for all). */
  readonly listen: string;
  readonly ike: IkeConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly ikeLog: Logger;
  readonly espLog: Logger;
  readonly counters: Counters;
  readonly ports?: { readonly ike: number; readonly natt: number };
  /** Plain ESP (IP protocol 50) for peers without NAT. Default true (needs root). */
  readonly rawEsp?: boolean;
  readonly onIkeEvent?: (e: IkeEvent) => void;
  /** A transport-mode packet (IPv4, header rebuilt) from a peer; return true if taken. */
  readonly onTransportPacket?: (packet: Uint8Array, channel: Channel) => boolean;
  /** A channel lost its last child SA (peer gone or deleted). */
  readonly onChannelDown?: (channel: Channel) => void;
}

export interface StartError {
  readonly code: string;
  readonly message: string;
}

interface ChildRecord {
  readonly channel: Channel;
  readonly inSa: number;
  readonly outSa: number;
  readonly inboundSpi: number;
}

export class IpsecNode {
  readonly dp: EspDataPlane;
  readonly engine: IkeEngine;
  private readonly channels = new Map<string, Channel>(); // by endpoint key
  private readonly byInSa = new Map<number, ChildRecord>();
  private readonly children = new Map<number, ChildRecord>(); // by IKE childId
  private readonly timers: TimerSet<"ike">;
  private ikeTimer: TimerId | undefined;
  private nextChannel = 1;
  private closed = false;

  private constructor(
    private readonly o: IpsecNodeOptions,
    private readonly udp500: KoffiDatagramSocket,
    readonly driver: EspDriver,
    dp: EspDataPlane,
    engine: IkeEngine,
  ) {
    this.dp = dp;
    this.engine = engine;
    this.timers = new TimerSet<"ike">(o.clock, () => {
      this.ikeTimer = undefined;
      this.perform(this.engine.handleTimer(o.clock.now()));
    });
  }

  static async start(o: IpsecNodeOptions): Promise<Result<IpsecNode, StartError>> {
    const ports = o.ports ?? { ike: 500, natt: 4500 };
    const udp500 = new KoffiDatagramSocket({});
    const b = await udp500.bind(o.listen, ports.ike);
    if (!b.ok) return err(platformError(b.error));
    const opened = await openEspPorts({
      natt: { address: o.listen, port: ports.natt },
      ...(o.rawEsp === false ? {} : { rawEsp: true }),
    });
    if (!opened.ok) {
      udp500.close();
      return err(platformError(opened.error));
    }
    let node: IpsecNode | undefined;
    const dp = new EspDataPlane({
      counters: o.counters,
      logger: o.espLog,
      random: (dst) => {
        dst.set(o.random.bytes(dst.length));
      },
      onEvent: (e) => node?.onEspEvent(e),
    });
    const driver = new EspDriver(
      { dp, clock: o.clock, logger: o.espLog, counters: o.counters },
      opened.value,
    );
    const engine = new IkeEngine(o.ike, {
      logger: o.ikeLog,
      counters: o.counters,
      random: (n) => o.random.bytes(n),
    });
    node = new IpsecNode(o, udp500, driver, dp, engine);
    node.wire();
    return ok(node);
  }

  private wire(): void {
    const now = () => this.o.clock.now();
    this.udp500.onDatagram((data, address, port, info) => {
      const local = { address: info.localAddress ?? this.o.listen, port: this.o.ports?.ike ?? 500 };
      this.perform(this.engine.handleDatagram({ data, local, remote: { address, port } }, now()));
    });
    this.driver.onIke((data, from, localAddress) => {
      const local = { address: localAddress ?? this.o.listen, port: this.o.ports?.natt ?? 4500 };
      this.perform(this.engine.handleDatagram({ data, local, remote: from }, now()));
    });
    this.driver.onTransportPacket((packet, info) => {
      const rec = this.byInSa.get(info.sa);
      if (!rec) return false;
      this.engine.noteActivity(rec.inboundSpi, now());
      return this.o.onTransportPacket?.(packet, rec.channel) ?? false;
    });
    this.driver.onPeerChanged((sa, from) => {
      const rec = this.byInSa.get(sa);
      if (rec) this.perform(this.engine.peerMoved(rec.inboundSpi, from, now()));
    });
  }

  /** Starts Main Mode + Quick Mode towards a server (client side). */
  initiate(req: InitiateRequest): void {
    this.perform(this.engine.initiate(req, this.o.clock.now()));
  }

  /** Encapsulates an IPv4 packet on the channel's newest outbound SA. */
  send(channel: Channel, packet: Uint8Array): boolean {
    if (channel.outSa === undefined) return false;
    const sent = this.driver.protectAndSend(channel.outSa, packet);
    return sent;
  }

  channelList(): Channel[] {
    return [...this.channels.values()];
  }

  /** Deletes every IKE SA (with Delete notifications to the peers). */
  deleteAll(): void {
    for (const id of [...this.engine.sas.keys()]) {
      this.perform(this.engine.deleteIkeSaCommand(id, this.o.clock.now()));
    }
    this.driver.flush();
    this.udp500.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timers.close();
    this.driver.close();
    this.udp500.close();
  }

  private onEspEvent(e: EspEvent): void {
    if (e.kind === "soft-expire" || e.kind === "hard-expire" || e.kind === "rekey-needed") {
      const direction = "direction" in e ? e.direction : "out";
      this.perform(
        this.engine.handleEspEvent({ kind: e.kind, spi: e.spi, direction }, this.o.clock.now()),
      );
    }
  }

  private channelFor(local: string, peer: { address: string; port: number }): Channel {
    const key = `${peer.address}:${peer.port}`;
    let ch = this.channels.get(key);
    if (!ch) {
      ch = {
        id: this.nextChannel++,
        peer,
        local,
        peerOriginal: undefined,
        outSa: undefined,
        inSas: new Set(),
        ikeSaIds: new Set(),
      };
      this.channels.set(key, ch);
    }
    return ch;
  }

  private perform(actions: readonly IkeAction[]): void {
    if (this.closed) return;
    for (const a of actions) {
      switch (a.kind) {
        case "send":
          if (a.from.port === (this.o.ports?.natt ?? 4500))
            this.driver.sendIke(a.data, a.to, a.from.address);
          else this.udp500.send(a.data, a.to.address, a.to.port, a.from.address);
          break;
        case "keepalive":
          this.driver.sendKeepalive(a.to, a.from.address);
          break;
        case "install-child-sa":
          this.install(a.child);
          break;
        case "update-child-sa-peer": {
          const rec = this.children.get(a.childId);
          if (rec) {
            this.dp.updatePeer(rec.outSa, a.peer);
            this.dp.updatePeer(rec.inSa, a.peer);
            const ch = rec.channel;
            this.channels.delete(`${ch.peer.address}:${ch.peer.port}`);
            ch.peer = a.peer;
            this.channels.set(`${a.peer.address}:${a.peer.port}`, ch);
          }
          break;
        }
        case "remove-child-sa":
          this.remove(a.childId);
          break;
        case "event":
          this.o.onIkeEvent?.(a.event);
          break;
        case "timer":
          if (this.ikeTimer !== undefined) this.timers.cancel(this.ikeTimer);
          this.ikeTimer = this.timers.set(a.at, "ike");
          break;
      }
    }
  }

  private install(c: Extract<IkeAction, { kind: "install-child-sa" }>["child"]): void {
    const now = this.o.clock.now();
    const peer = c.encap ? c.encap.peer : { address: c.remote, port: 0 };
    const channel = this.channelFor(c.local, peer);
    channel.ikeSaIds.add(c.ikeSaId);
    if (c.encap?.natOa.remote) channel.peerOriginal = c.encap.natOa.remote;
    const suite = { encryption: c.espEncryption, integrity: c.espIntegrity };
    const kb = (k: number) => (k > 0 ? { bytes: BigInt(k) * 1024n } : {});
    const common = {
      mode: c.mode,
      suite,
      local: c.local,
      remote: c.remote,
      ...(c.encap ? { encap: { peer: c.encap.peer, natOa: c.encap.natOa } } : {}),
      lifetimes: {
        soft: { seconds: c.lifetimes.softSeconds, ...kb(c.lifetimes.softKilobytes) },
        hard: { seconds: c.lifetimes.hardSeconds, ...kb(c.lifetimes.hardKilobytes) },
      },
      name: `child ${c.childId} of IKE SA ${c.ikeSaId}`,
    };
    const inb = this.dp.installSa(
      { ...common, spi: c.inbound.spi, direction: "in", keys: c.inbound.keys, replayWindow: 1024 },
      now,
    );
    const outb = this.dp.installSa(
      { ...common, spi: c.outbound.spi, direction: "out", keys: c.outbound.keys },
      now,
    );
    if (!inb.ok || !outb.ok) {
      this.o.espLog.error("cannot install the negotiated ESP SAs", {
        child: c.childId,
        error: inb.ok ? (outb.ok ? "" : outb.error) : inb.error,
      });
      if (inb.ok) this.dp.removeSa(inb.sa);
      if (outb.ok) this.dp.removeSa(outb.sa);
      return;
    }
    const rec: ChildRecord = { channel, inSa: inb.sa, outSa: outb.sa, inboundSpi: c.inbound.spi };
    this.children.set(c.childId, rec);
    this.byInSa.set(inb.sa, rec);
    channel.inSas.add(inb.sa);
    channel.outSa = outb.sa; // the newest SA carries new traffic (rekey without a gap)
    if (c.replaces !== undefined) this.remove(c.replaces);
  }

  private remove(childId: number): void {
    const rec = this.children.get(childId);
    if (!rec) return;
    this.children.delete(childId);
    this.byInSa.delete(rec.inSa);
    this.dp.removeSa(rec.inSa);
    this.dp.removeSa(rec.outSa);
    const ch = rec.channel;
    ch.inSas.delete(rec.inSa);
    if (ch.outSa === rec.outSa) {
      // Fall back to another live child of the channel, if any.
      ch.outSa = undefined;
      for (const r of this.children.values()) if (r.channel === ch) ch.outSa = r.outSa;
    }
    if (ch.inSas.size === 0) {
      this.channels.delete(`${ch.peer.address}:${ch.peer.port}`);
      this.o.onChannelDown?.(ch);
    }
  }
}

function platformError(e: PlatformError): StartError {
  return { code: e.code, message: e.message };
}
