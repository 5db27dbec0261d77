/**
 * One IPsec endpoint on real sockets: the sans-IO IKE engine (src/ike), the user-space ESP data
 * plane (src/esp) behind its driver (esp-driver.ts), UDP 500 for IKE, and UDP 4500 shared by
 * IKE (non-ESP marker) and ESP-in-UDP (RFC 3948). Both products use it: `oakley serve` as
 * responder, `oakley connect` as initiator.
 *
 * Ports are injected (`IpsecNode.create`): the daemon opens the real sockets, raw ESP socket
 * and TUN with `openIpsecPorts`; tests pass simulator adapters. The node keeps the one table of
 * installed child SAs (IKE child id -> data-plane SA handles); transport-mode services (L2TP,
 * src/l2tp-ipsec) are told when a child comes and goes (`onChildUp`/`onChildDown`) and get
 * each decrypted packet of a local transport SA as `{child, nextHeader, payload}` — no IP
 * header is built for them. Which child belongs to which service channel is theirs to decide,
 * by IKE SA, never by address.
 *
 * Tunnel mode (RFC 4301 §4.1, §5.1; RFC 2409 §5.5 client IDs as the selectors), when the node
 * was started with `tunnel` (a TUN device):
 *  - on `install-child-sa` with mode "tunnel": an SPD PROTECT policy (local selector -> remote
 *    selector) on the new outbound SA, and the same selectors as the inbound SA's policy check
 *    (RFC 4301 §5.2 step 4: a decrypted packet must fit the SA's selectors); a rekey (`replaces`,
 *    or a new child with the same selectors) puts the new policy in front of the old one, so the
 *    next packet already takes the new SA, and the old one goes when its child is removed;
 *  - a route for each remote selector network via the TUN (IPv4; ranges split into prefixes),
 *    except one that would contain the peer's outer address (the ESP-in-UDP datagrams would
 *    loop into the TUN; host-to-host tunnels need policy routing, which this does not do);
 *  - decrypted tunnel packets go to the TUN (esp-driver.ts does that), packets the kernel routes
 *    into the TUN go through the SPD to the SA.
 * Deliberate: routes stay until the node closes (the TUN goes with them), also when the child
 * is deleted: while no SA is up, packets for the remote network go into the TUN and the SPD's
 * default DISCARD drops them, instead of the main table sending them out in the clear.
 * Left out: IPv6 routes (the TUN's route ioctl is IPv4; IPv6 selectors still get SPD policies),
 * DPD activity from tunnel traffic (only transport packets count as activity), ports/protocol
 * in routes (the SPD checks them).
 */
import { err, ok, type Result } from "../base/result.js";
import { compileSelector, EspDataPlane, type EspEvent, type SelectorSpec } from "../esp/index.js";
import {
  type ChildRequest,
  type Endpoint,
  type IkeAction,
  type IkeConfig,
  IkeEngine,
  type IkeEvent,
  type InitiateRequest,
  type TrafficSelector,
} from "../ike/index.js";
import type { TransportChild } from "../l2tp-ipsec/index.js";
import type { Counters } from "../obs/counters.js";
import type { Logger } from "../obs/log.js";
import {
  type Clock,
  type DatagramSocket,
  KoffiDatagramSocket,
  type PlatformError,
  type Random,
  type RouteSpec,
  type TimerId,
  TimerSet,
} from "../platform/index.js";
import type { InboundSpi } from "../wire/esp/esp.js";
import { compareBytes, formatIpAddress, parseIpAddress } from "../wire/ip/address.js";
import {
  EspDriver,
  type EspDriverPorts,
  type MssClampMode,
  openEspPorts,
  type RawEspPort,
  type TunPort,
  type TunSetup,
} from "./esp-driver.js";

export interface IpsecNodeOptions {
  /** Our address for IKE when a socket is bound to 0.0.0.0 and a datagram gives none. */
  readonly listen: string;
  readonly ike: IkeConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly ikeLog: Logger;
  readonly espLog: Logger;
  readonly counters: Counters;
  /** The port numbers the IKE and NAT-T sockets are bound to (default 500 and 4500). */
  readonly ports?: { readonly ike: number; readonly natt: number };
  readonly onIkeEvent?: (e: IkeEvent) => void;
  /**
   * Transport-mode child SAs are for a local service (L2TP): installed as local transport SAs
   * and their packets handed to `onLocalTransport`. Default true.
   */
  readonly localTransport?: boolean;
  /** A transport-mode child SA is installed / removed (for the service's channels). */
  readonly onChildUp?: (child: ChildSaRecord) => void;
  readonly onChildDown?: (child: ChildSaRecord) => void;
  /** IKE SA `from` ended; its successor `to` (same peer) keeps its children. */
  readonly onChildrenAdopted?: (from: number, to: number) => void;
  /** A decrypted packet of a local transport SA (`payload`: a view valid during the call). */
  readonly onLocalTransport?: (
    child: ChildSaRecord,
    nextHeader: number,
    payload: Uint8Array,
  ) => boolean;
  /** Tunnel mode: SPD policies and routes per tunnel-mode child SA (needs the TUN port). */
  readonly tunnel?: TunnelOptions;
}

/** The sockets and devices a node runs on, opened by the caller. */
export interface IpsecPorts {
  /** UDP 500, bound. */
  readonly ike: DatagramSocket;
  /** UDP 4500 (NAT-T: IKE and ESP-in-UDP), bound. */
  readonly natt: DatagramSocket;
  /** Plain ESP (IP protocol 50) for peers without NAT. */
  readonly rawEsp?: RawEspPort;
  /** Tunnel mode's TUN device. */
  readonly tun?: TunPort & {
    addRoute(r: RouteSpec): Result<void, PlatformError>;
  };
}

export interface TunnelOptions {
  /** Route each child's remote selector network via the TUN. Default true. */
  readonly routeRemoteSelectors?: boolean;
  /** Selectors `initiateTunnel` asks for (address, "a.b.c.d/n" or "first-last"). */
  readonly selectors?: { readonly local: string; readonly remote: string };
  /** Outer path MTU for MSS clamping (esp-driver.ts). Default 1500. */
  readonly pathMtu?: number;
  readonly mssClamp?: MssClampMode;
}

/** A tunnel-mode child SA as installed in the SPD (for status and tests). */
export interface TunnelPolicyInfo {
  readonly childId: number;
  readonly policy: string;
  readonly local: readonly string[];
  readonly remote: readonly string[];
  readonly outSa: number;
  readonly inSa: number;
}

export interface StartError {
  readonly code: string;
  readonly message: string;
}

/** One installed child SA: the node's table entry (the only one; services keep references). */
export interface ChildSaRecord extends TransportChild {
  ikeSaId: number;
  readonly mode: "transport" | "tunnel";
  readonly inboundSpi: InboundSpi;
  /** Tunnel mode: the SPD policy's name and selectors. */
  readonly tunnel?: { readonly policy: string; readonly key: string; readonly spec: SelectorSpec };
}

export interface OpenIpsecPortsOptions {
  /** Bind UDP 500/4500 on this address (0.0.0.0 for all). */
  readonly listen: string;
  readonly ports?: { readonly ike: number; readonly natt: number };
  /** Plain ESP (IP protocol 50) for peers without NAT. Default true (needs root). */
  readonly rawEsp?: boolean;
  /** Tunnel mode: a TUN device. */
  readonly tun?: TunSetup;
}

/** The real ports: koffi UDP sockets (batched, GSO/GRO), raw ESP, a TUN. */
export async function openIpsecPorts(
  o: OpenIpsecPortsOptions,
): Promise<Result<IpsecPorts & EspDriverPorts, StartError>> {
  const ports = o.ports ?? { ike: 500, natt: 4500 };
  const udp500 = new KoffiDatagramSocket({});
  const b = await udp500.bind(o.listen, ports.ike);
  if (!b.ok) return err(platformError(b.error));
  const opened = await openEspPorts({
    natt: { address: o.listen, port: ports.natt },
    ...(o.rawEsp === false ? {} : { rawEsp: true }),
    ...(o.tun ? { tun: o.tun } : {}),
  });
  if (!opened.ok) {
    udp500.close();
    return err(platformError(opened.error));
  }
  const natt = opened.value.udp;
  if (natt === undefined) {
    udp500.close();
    return err({ code: "OAK_E_PLATFORM_SOCKET", message: "UDP 4500 did not open" });
  }
  return ok({
    ike: udp500,
    natt,
    ...(opened.value.rawEsp ? { rawEsp: opened.value.rawEsp } : {}),
    ...(opened.value.tun ? { tun: opened.value.tun } : {}),
  });
}

export class IpsecNode {
  readonly dp: EspDataPlane;
  readonly engine: IkeEngine;
  readonly driver: EspDriver;
  /** The tunnel-mode TUN device (undefined without `tunnel`). */
  readonly tun: IpsecPorts["tun"];
  private readonly byInSa = new Map<number, ChildSaRecord>();
  /** By outbound SA handle: outbound SPIs are the peers' choice and need not be unique. */
  private readonly byOutSa = new Map<number, ChildSaRecord>();
  private readonly children = new Map<number, ChildSaRecord>(); // by IKE childId
  private readonly timers: TimerSet<"ike">;
  private ikeTimer: TimerId | undefined;
  private readonly routes = new Map<string, RouteSpec>(); // "dest/len" -> route via the TUN
  private readonly udp500: DatagramSocket;
  private closed = false;

  /** Builds a node on opened ports (they close with the node). */
  static create(o: IpsecNodeOptions, ports: IpsecPorts): IpsecNode {
    return new IpsecNode(o, ports);
  }

  /** Opens the real ports (openIpsecPorts) and builds a node on them. */
  static async start(
    o: IpsecNodeOptions & { readonly rawEsp?: boolean; readonly tun?: TunSetup },
  ): Promise<Result<IpsecNode, StartError>> {
    const p = await openIpsecPorts({
      listen: o.listen,
      ...(o.ports ? { ports: o.ports } : {}),
      ...(o.rawEsp === undefined ? {} : { rawEsp: o.rawEsp }),
      ...(o.tun ? { tun: o.tun } : {}),
    });
    if (!p.ok) return p;
    return ok(new IpsecNode(o, p.value));
  }

  private constructor(
    private readonly o: IpsecNodeOptions,
    ports: IpsecPorts,
  ) {
    this.udp500 = ports.ike;
    this.tun = ports.tun;
    this.dp = new EspDataPlane({
      counters: o.counters,
      logger: o.espLog,
      random: (dst) => {
        dst.set(o.random.bytes(dst.length));
      },
      onEvent: (e) => this.onEspEvent(e),
    });
    this.driver = new EspDriver(
      {
        dp: this.dp,
        clock: o.clock,
        logger: o.espLog,
        counters: o.counters,
        ...(o.tunnel?.pathMtu === undefined ? {} : { pathMtu: o.tunnel.pathMtu }),
        ...(o.tunnel?.mssClamp === undefined ? {} : { mssClamp: o.tunnel.mssClamp }),
      },
      {
        udp: ports.natt,
        ...(ports.rawEsp ? { rawEsp: ports.rawEsp } : {}),
        ...(ports.tun ? { tun: ports.tun } : {}),
      },
    );
    // Certificate validity needs calendar time; the engine's `now` is monotonic.
    this.engine = new IkeEngine(
      { ...o.ike, wallClock: o.ike.wallClock ?? (() => o.clock.wallNow()) },
      {
        logger: o.ikeLog,
        counters: o.counters,
        random: (n) => o.random.bytes(n),
      },
    );
    this.timers = new TimerSet<"ike">(o.clock, () => {
      this.ikeTimer = undefined;
      this.perform(this.engine.handleTimer(o.clock.now()));
    });
    this.wire();
  }

  private wire(): void {
    const now = () => this.o.clock.now();
    // The engine speaks of ports 500 and 4500 (RFC 3947 floating, NAT-D): sockets bound to
    // other ports (many clients on one host, tests) are mapped to those logical numbers.
    const ikePort = 500;
    const nattPort = 4500;
    this.udp500.onDatagram((data, address, port, info) => {
      const local = { address: info.localAddress ?? this.o.listen, port: ikePort };
      // Receive buffers may be reused: the engine keeps what it needs, so it gets a copy.
      this.perform(
        this.engine.handleDatagram(
          { data: Buffer.from(data), local, remote: { address, port } },
          now(),
        ),
      );
    });
    this.driver.onIke((data, from, localAddress) => {
      const local = { address: localAddress ?? this.o.listen, port: nattPort };
      this.perform(this.engine.handleDatagram({ data, local, remote: from }, now()));
    });
    this.driver.onTransportPacket((_packet, info) => {
      // Transport-mode SAs not owned by a local service: nothing of ours to deliver.
      const rec = this.byInSa.get(info.sa);
      if (rec) this.engine.noteActivity(rec.inboundSpi, now());
      return false;
    });
    this.driver.onLocalTransport((sa, nextHeader, payload) => {
      const rec = this.byInSa.get(sa);
      if (!rec) return false;
      this.engine.noteActivity(rec.inboundSpi, now());
      return this.o.onLocalTransport?.(rec, nextHeader, payload) ?? false;
    });
    this.driver.onPeerChanged((sa, from) => {
      const rec = this.byInSa.get(sa);
      if (rec) this.perform(this.engine.peerMoved(rec.inboundSpi, from, now()));
    });
    this.driver.onUnknownSpi((spi, from) => {
      this.perform(this.engine.espUnknownSpi(spi, from, now()));
    });
  }

  /** Starts Main Mode + Quick Mode towards a server (client side). */
  initiate(req: InitiateRequest): void {
    this.perform(this.engine.initiate(req, this.o.clock.now()));
  }

  /** Starts a Quick Mode on an established IKE SA (either side may, RFC 2409 §5.5). */
  initiateQuickMode(ikeSaId: number, request: ChildRequest): void {
    this.perform(this.engine.initiateQuickMode(ikeSaId, request, this.o.clock.now()));
  }

  /**
   * Starts Main Mode + Quick Mode for a tunnel-mode child with the given selectors (default:
   * `tunnel.selectors` of the options). Returns an error text for an unusable selector.
   */
  initiateTunnel(
    peer: Endpoint,
    selectors?: { readonly local: string; readonly remote: string },
  ): string | undefined {
    const sel = selectors ?? this.o.tunnel?.selectors;
    if (sel === undefined) return "no tunnel selectors configured";
    const local = trafficSelector(sel.local);
    if (local === undefined) return `bad local selector "${sel.local}"`;
    const remote = trafficSelector(sel.remote);
    if (remote === undefined) return `bad remote selector "${sel.remote}"`;
    this.initiate({ peer, phase2: { mode: "tunnel", local, remote } });
    return undefined;
  }

  /** The tunnel-mode SPD policies in lookup order. */
  tunnelPolicies(): TunnelPolicyInfo[] {
    const byName = new Map<string, [number, ChildSaRecord]>();
    for (const [id, r] of this.children) if (r.tunnel) byName.set(r.tunnel.policy, [id, r]);
    const out: TunnelPolicyInfo[] = [];
    for (const p of this.dp.spd.list()) {
      const hit = byName.get(p.name);
      if (!hit) continue;
      const [childId, r] = hit;
      out.push({
        childId,
        policy: p.name,
        local: r.tunnel?.spec.local ?? [],
        remote: r.tunnel?.spec.remote ?? [],
        outSa: r.outSa,
        inSa: r.inSa,
      });
    }
    return out;
  }

  /** Routes installed via the TUN ("a.b.c.d/n"). */
  tunnelRoutes(): string[] {
    return [...this.routes.keys()];
  }

  /** The installed child SAs (the node's table). */
  childList(): ChildSaRecord[] {
    return [...this.children.values()];
  }

  /** Deletes one IKE SA and its children, telling the peer (`oakley sa delete mm-…`). */
  deleteIkeSa(ikeSaId: number): void {
    this.perform(this.engine.deleteIkeSaCommand(ikeSaId, this.o.clock.now()));
  }

  /** Deletes one child SA pair, telling the peer (`oakley sa delete qm-…`). */
  deleteChildSa(childId: number): void {
    this.perform(this.engine.deleteChildSaCommand(childId, this.o.clock.now()));
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
      // By the SA handle, not the SPI: two peers may have chosen the same (outbound) SPI.
      const rec = this.byInSa.get(e.sa) ?? this.byOutSa.get(e.sa);
      if (rec === undefined) return;
      this.perform(
        this.engine.handleEspEvent({ kind: e.kind, childId: rec.childId }, this.o.clock.now()),
      );
    }
  }

  private perform(actions: readonly IkeAction[]): void {
    if (this.closed) return;
    for (const a of actions) {
      switch (a.kind) {
        case "send":
          if (a.from.port === 4500) this.driver.sendIke(a.data, a.to, a.from.address);
          else this.udp500.send(a.data, a.to.address, a.to.port, a.from.address);
          break;
        case "keepalive":
          this.driver.sendKeepalive(a.to, a.from.address);
          break;
        case "install-child-sa":
          this.install(a.child);
          break;
        case "update-child-sa-peer": {
          // The peer's endpoint lives in the outbound SA (where packets go) and the IKE SA.
          const rec = this.children.get(a.childId);
          if (rec) {
            this.dp.updatePeer(rec.outSa, a.peer);
            this.dp.updatePeer(rec.inSa, a.peer);
          }
          break;
        }
        case "remove-child-sa":
          this.remove(a.childId);
          break;
        case "event":
          if (a.event.type === "children-adopted") this.adopted(a.event);
          this.o.onIkeEvent?.(a.event);
          break;
        case "timer":
          if (this.ikeTimer !== undefined) this.timers.cancel(this.ikeTimer);
          this.ikeTimer = this.timers.set(a.at, "ike");
          break;
      }
    }
  }

  private adopted(e: Extract<IkeEvent, { type: "children-adopted" }>): void {
    for (const id of e.childIds) {
      const rec = this.children.get(id);
      if (rec) rec.ikeSaId = e.ikeSaId;
    }
    this.o.onChildrenAdopted?.(e.from, e.ikeSaId);
  }

  private install(c: Extract<IkeAction, { kind: "install-child-sa" }>["child"]): void {
    const now = this.o.clock.now();
    const suite = { encryption: c.espEncryption, integrity: c.espIntegrity };
    const kb = (k: number) => (k > 0 ? { bytes: BigInt(k) * 1024n } : {});
    const localTransport = c.mode === "transport" && this.o.localTransport !== false;
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
      ...(localTransport ? { localTransport: true } : {}),
    };
    const tunnel = c.mode === "tunnel" && this.o.tunnel ? tunnelSelector(c.selectors) : undefined;
    if (typeof tunnel === "string") {
      this.o.espLog.error("cannot use the negotiated tunnel selectors", {
        child: c.childId,
        error: tunnel,
      });
      return;
    }
    const inb = this.dp.installSa(
      {
        ...common,
        spi: c.inbound.spi,
        direction: "in",
        keys: c.inbound.keys,
        replayWindow: 1024,
        ...(tunnel ? { selector: tunnel.spec } : {}),
      },
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
    const rec: ChildSaRecord = {
      childId: c.childId,
      ikeSaId: c.ikeSaId,
      mode: c.mode,
      inSa: inb.sa,
      outSa: outb.sa,
      inboundSpi: c.inbound.spi,
      local: c.local,
      remote: c.remote,
      ...(c.replaces !== undefined ? { replaces: c.replaces } : {}),
      ...(c.encap?.natOa.remote ? { peerOriginal: c.encap.natOa.remote } : {}),
      ...(tunnel ? { tunnel: { ...tunnel, policy: `child-${c.childId}` } } : {}),
    };
    if (rec.tunnel) this.addTunnelPolicy(rec, c.remote);
    this.children.set(c.childId, rec);
    this.byInSa.set(inb.sa, rec);
    this.byOutSa.set(outb.sa, rec);
    // The newest SA carries new traffic at once (a rekey without a gap); the SA it replaces
    // stays until the engine removes it a few seconds later, so in-flight packets still arrive.
    if (localTransport) this.o.onChildUp?.(rec);
  }

  private remove(childId: number): void {
    const rec = this.children.get(childId);
    if (!rec) return;
    this.children.delete(childId);
    this.byInSa.delete(rec.inSa);
    this.byOutSa.delete(rec.outSa);
    if (rec.tunnel) this.dp.spd.remove(rec.tunnel.policy);
    this.dp.removeSa(rec.inSa);
    this.dp.removeSa(rec.outSa);
    if (rec.mode === "transport") this.o.onChildDown?.(rec);
  }

  /**
   * Puts the child's PROTECT policy in front of the first policy with the same selectors (the
   * SA it rekeys: new traffic takes the new SA at once; the old policy goes with its child),
   * else at the end; then routes its remote networks via the TUN.
   */
  private addTunnelPolicy(rec: ChildSaRecord, peerAddress: string): void {
    const t = rec.tunnel;
    if (!t) return;
    const sel = compileSelector(t.spec);
    if (typeof sel === "string") return; // checked by tunnelSelector already
    const same = new Set<string>();
    for (const r of this.children.values()) if (r.tunnel?.key === t.key) same.add(r.tunnel.policy);
    const list = this.dp.spd.list();
    const at = list.findIndex((p) => same.has(p.name));
    this.dp.spd.add(
      { name: t.policy, selector: sel, action: { kind: "protect", sa: rec.outSa } },
      at < 0 ? list.length : at,
    );
    if (this.tun === undefined || this.o.tunnel?.routeRemoteSelectors === false) return;
    const peer = parseIpAddress(peerAddress);
    for (const net of t.spec.remote ?? []) {
      for (const r of routesFor(net)) {
        const key = `${r.destination}/${r.prefixLength}`;
        if (this.routes.has(key)) continue;
        if (peer && routeContains(r, peer)) {
          this.o.espLog.warn("not routing a tunnel selector that contains the peer's address", {
            route: key,
            peer: peerAddress,
          });
          continue;
        }
        const added = this.tun.addRoute(r);
        if (added.ok || added.error.message.includes("EEXIST")) this.routes.set(key, r);
        else
          this.o.espLog.error("cannot add a route via the TUN", {
            route: key,
            error: added.error.message,
          });
      }
    }
  }
}

/**
 * A Quick Mode selector from text: "192.0.2.2" (ID_IPV4_ADDR), "192.0.2.0/24"
 * (ID_IPV4_ADDR_SUBNET; /32 gives an address), "192.0.2.10-192.0.2.20" (ID_IPV4_ADDR_RANGE),
 * likewise IPv6 (RFC 2407 §4.6.2.1). Undefined for anything else.
 */
export function trafficSelector(text: string, protocol = 0, port = 0): TrafficSelector | undefined {
  const t = text.trim();
  const dash = t.indexOf("-");
  if (dash > 0) {
    const start = parseIpAddress(t.slice(0, dash).trim());
    const end = parseIpAddress(t.slice(dash + 1).trim());
    if (!start || !end || start.length !== end.length || compareBytes(start, 0, end) > 0)
      return undefined;
    const kind = start.length === 4 ? "ipv4-range" : "ipv6-range";
    return {
      id: { kind, start: formatIpAddress(start), end: formatIpAddress(end) },
      protocol,
      port,
    };
  }
  const [addr, plen] = t.split("/") as [string, string | undefined];
  const a = parseIpAddress(addr);
  if (!a) return undefined;
  const bits = plen === undefined ? a.length * 8 : Number(plen);
  if (!/^\d+$/.test(plen ?? "0") || bits < 0 || bits > a.length * 8) return undefined;
  const v4 = a.length === 4;
  if (bits === a.length * 8)
    return { id: { kind: v4 ? "ipv4" : "ipv6", address: formatIpAddress(a) }, protocol, port };
  const mask = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++)
    mask[i] = (0xff << (8 - Math.max(0, Math.min(8, bits - i * 8)))) & 0xff;
  const net = a.map((x, i) => x & mask[i]!);
  return {
    id: {
      kind: v4 ? "ipv4-subnet" : "ipv6-subnet",
      address: formatIpAddress(net),
      mask: formatIpAddress(mask),
    },
    protocol,
    port,
  };
}

/** An ID's address set as SPD text ("a/n", "first-last"); undefined for non-address IDs. */
function selectorRange(ts: TrafficSelector): string | undefined {
  const id = ts.id;
  switch (id.kind) {
    case "ipv4":
    case "ipv6":
      return id.address;
    case "ipv4-subnet":
    case "ipv6-subnet": {
      const m = parseIpAddress(id.mask);
      if (!m) return undefined;
      let bits = 0;
      let contiguous = true;
      for (const b of m) {
        for (let i = 7; i >= 0; i--) {
          const set = ((b >> i) & 1) === 1;
          if (set && !contiguous) return undefined; // a non-contiguous mask
          if (set) bits++;
          else contiguous = false;
        }
      }
      return `${id.address}/${bits}`;
    }
    case "ipv4-range":
    case "ipv6-range":
      return `${id.start}-${id.end}`;
    default:
      return undefined;
  }
}

/** The SPD selector of a negotiated child: our side is `local`, the peer's `remote`. */
function tunnelSelector(s: {
  readonly local: TrafficSelector;
  readonly remote: TrafficSelector;
}): { spec: SelectorSpec; key: string } | string {
  const local = selectorRange(s.local);
  const remote = selectorRange(s.remote);
  if (local === undefined || remote === undefined) return "selectors are not address sets";
  const protocol = s.local.protocol || s.remote.protocol;
  const spec: SelectorSpec = {
    local: [local],
    remote: [remote],
    ...(protocol ? { protocol } : {}),
    ...(s.local.port ? { localPort: s.local.port } : {}),
    ...(s.remote.port ? { remotePort: s.remote.port } : {}),
  };
  const check = compileSelector(spec);
  if (typeof check === "string") return check;
  return { spec, key: `${local}|${remote}|${protocol}|${s.local.port}|${s.remote.port}` };
}

/** IPv4 prefixes covering an SPD address text (a range is split into at most 32 prefixes). */
export function routesFor(text: string): RouteSpec[] {
  const dash = text.indexOf("-");
  let first: number;
  let last: number;
  if (dash > 0) {
    const a = parseIpAddress(text.slice(0, dash));
    const b = parseIpAddress(text.slice(dash + 1));
    if (a?.length !== 4 || b?.length !== 4) return [];
    first = u32(a);
    last = u32(b);
  } else {
    const [addr, plen] = text.split("/") as [string, string | undefined];
    const a = parseIpAddress(addr);
    if (a?.length !== 4) return [];
    const bits = plen === undefined ? 32 : Number(plen);
    const size = 2 ** (32 - bits);
    first = u32(a) - (u32(a) % size);
    last = first + size - 1;
  }
  const out: RouteSpec[] = [];
  while (first <= last && out.length < 32) {
    let bits = 32;
    // The largest aligned block starting at `first` that stays within `last`.
    while (bits > 0) {
      const size = 2 ** (33 - bits);
      if (first % size !== 0 || first + size - 1 > last) break;
      bits--;
    }
    out.push({ destination: ipv4(first), prefixLength: bits });
    first += 2 ** (32 - bits);
  }
  return out;
}

function u32(a: Uint8Array): number {
  return ((a[0]! << 24) >>> 0) + (a[1]! << 16) + (a[2]! << 8) + a[3]!;
}

function ipv4(n: number): string {
  return `${Math.floor(n / 2 ** 24) % 256}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

function routeContains(r: RouteSpec, address: Uint8Array): boolean {
  if (address.length !== 4) return false;
  const a = parseIpAddress(r.destination);
  if (!a) return false;
  const size = 2 ** (32 - r.prefixLength);
  const x = u32(address);
  return x >= u32(a) && x < u32(a) + size;
}

function platformError(e: PlatformError): StartError {
  return { code: e.code, message: e.message };
}
