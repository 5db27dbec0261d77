/**
 * The ESP data-plane driver: the thin I/O loop around the sans-IO `EspDataPlane` (src/esp).
 *
 *   UDP 4500 (NAT-T, shared with IKE) --classify (RFC 3948 §2)--> keepalive: counted, dropped
 *                                                           \--> IKE: onIke(bytes, from, local)
 *                                                            \-> ESP: dp.inbound -> TUN / local
 *   raw IP protocol 50 (plain ESP, no NAT) -------------------------> dp.inbound -> TUN / local
 *   TUN --> MSS clamp --> dp.outbound (SPD) --> UDP 4500 (sendmmsg batch) or raw ESP
 *   local transport SAs (L2TP) <-- onLocalTransport(sa, nextHeader, payload)
 *                              --> sendPayload(sa, nextHeader, head, body)
 *
 * - Decrypted packets go to the TUN device, except those of local transport SAs (L2TP on UDP
 *   1701, src/l2tp-ipsec): their upper-layer payload goes to `onLocalTransport` without an IP
 *   header, and never to the TUN.
 * - TCP MSS clamping (RFC 879 §3 / RFC 6691 §2: MSS = what fits in one packet of the path, less
 *   the IP and TCP headers) of SYNs in both directions: outbound before encryption, to what the
 *   SA the SPD picks can carry within `pathMtu`; inbound after decryption, to what the SA it
 *   arrived on can carry (both SAs of a pair have the same suite, mode and encapsulation). This
 *   is the fix for "connected, but web sites don't load" (PMTU black holes behind tunnels).
 * - NAT keepalives (RFC 3948 §2.3): `sendKeepalive`, when the IKE engine's schedule says so.
 * - ESP with an unknown SPI is reported (`onUnknownSpi`) so IKE can send INVALID-SPI.
 * - `dp.tick(now)` from a timer (lifetimes of idle SAs), and the driver's own counters are added
 *   to the shared `Counters` at the same time: the hot path only bumps plain numbers.
 *
 * Hot path, measured (bench/esp-tunnel.ts): outbound ESP is written straight into slices of a
 * send arena (no per-packet buffer), queued on the socket and sent with one sendmmsg per TUN
 * read batch (`flush` at the end of each batch). The socket keeps references until it has sent
 * them (also across a full socket buffer), so a used arena is never rewritten: when it is full a
 * fresh one is taken and the old one is left to the garbage collector once the socket let go.
 * Inbound packets are decrypted into the data plane's buffer and handed to the TUN at once.
 * Receive uses the socket's zero-copy views (`zeroCopy: true` in openEspPorts); only IKE
 * datagrams are copied, since the IKE side keeps them.
 * Offloads (openEspPorts, on by default; measured in bench/esp-tunnel.ts, each about 1.4-1.6x):
 * UDP GSO/GRO on the NAT-T socket (a run of equal-sized ESP datagrams to one peer leaves as one
 * sendmmsg message; coalesced receives are split again before `onUdp`), and TUN TSO: a TUN read
 * may be a 64 KiB TCP super-packet the TUN device cuts into segments before `onTun`, and TUN
 * writes of in-order TCP segments are merged into super-packets by the device. The driver sees
 * ordinary packets either way; `udpOffload: false` / `tunOffload: false` turn them off.
 *
 * Left out on purpose: IPv6 outer addresses (the platform sockets are IPv4), ICMP "fragmentation
 * needed" generation for oversized DF packets from the TUN (MSS clamping covers TCP; `mssFor`
 * + 40 is the TUN MTU that fits), and keepalive suppression while data flows (RFC 3948 §2.3
 * allows sending them only when idle; we send them on the interval regardless: 1 octet/20 s).
 */
import { type Result, err, ok } from "../base/result.js";
import type { EspDataPlane } from "../esp/index.js";
import type { Counters } from "../obs/counters.js";
import type { Logger } from "../obs/log.js";
import {
  type Clock,
  type DatagramInfo,
  type DatagramSocket,
  type EspPacketHandler,
  KoffiDatagramSocket,
  type PlatformError,
  RawEspSocket,
  type RawEspOptions,
  type RouteSpec,
  TimerSet,
  type TunAddress,
  TunDevice,
  type TunPacketsHandler,
} from "../platform/index.js";
import type { InboundSpi, Spi } from "../wire/esp/esp.js";
import { clampTcpMss } from "../wire/ip/tcp.js";
import { newPacketFields, readPacketFields } from "../wire/ip/packet.js";
import { NATT_KEEPALIVE, buildNattIke, classifyNattDatagram } from "../wire/udpencap/udpencap.js";

/** Where a datagram or ESP packet came from / goes to. */
export interface PeerEndpoint {
  readonly address: string;
  readonly port: number;
}

/** The raw ESP socket as the driver uses it (RawEspSocket satisfies it). */
export interface RawEspPort {
  onPacket(handler: EspPacketHandler): void;
  send(payload: Uint8Array, peer: string, localAddress?: string): void;
  flush(): void;
  close(): void;
}

/** The TUN device as the driver uses it (TunDevice satisfies it). */
export interface TunPort {
  readonly name: string;
  onPackets(handler: TunPacketsHandler): void;
  write(packet: Uint8Array): boolean;
  close(): void;
}

export interface EspDriverPorts {
  /** The NAT-T socket (UDP 4500), shared with IKE. Best created with `zeroCopy: true`. */
  readonly udp?: DatagramSocket;
  /** Plain ESP (IP protocol 50) for SAs without UDP encapsulation. */
  readonly rawEsp?: RawEspPort;
  readonly tun?: TunPort;
}

/** Which SYNs get their MSS clamped. */
export type MssClampMode = "both" | "outbound" | "inbound" | "off";

export interface EspDriverOptions {
  readonly dp: EspDataPlane;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: Counters;
  /** MTU of the path the ESP packets take (outer packets), for MSS clamping. Default 1500. */
  readonly pathMtu?: number;
  /** Default "both". */
  readonly mssClamp?: MssClampMode;
  /** How often `dp.tick` runs and counters are published. Default 1000 ms. */
  readonly tickIntervalMs?: number;
}

export interface InboundPacketInfo {
  /** Inbound SA handle and SPI the packet arrived on. */
  readonly sa: number;
  readonly spi: InboundSpi;
}

/**
 * A decrypted transport-mode packet (IP header rebuilt by the data plane). Return true when
 * taken (it then does not go to the TUN). `packet` is a view valid only during the call.
 */
export type TransportPacketHandler = (packet: Uint8Array, info: InboundPacketInfo) => boolean;

/** An IKE message that came in on the NAT-T port (non-ESP marker removed; a copy). */
export type NattIkeHandler = (
  ike: Buffer,
  from: PeerEndpoint,
  localAddress: string | undefined,
) => void;

/**
 * A decrypted packet of a local transport SA: the upper-layer payload (no IP header), a view
 * valid only during the call. Return true when taken.
 */
export type LocalTransportHandler = (
  sa: number,
  nextHeader: number,
  payload: Uint8Array,
) => boolean;

/** ESP with an SPI no inbound SA has, from `from` (for IKE's INVALID-SPI notify). */
export type UnknownSpiHandler = (spi: Spi, from: PeerEndpoint) => void;

/**
 * An authenticated ESP packet of UDP-encapsulated inbound SA `sa` came from an address/port
 * other than the SA's peer (NAT mapping changed, RFC 3948 §2.2 / RFC 3947 §4). Reported once
 * per new endpoint; the owner (IKE) decides and calls `dp.updatePeer` on the outbound SA(s).
 */
export type PeerChangedHandler = (sa: number, from: PeerEndpoint) => void;

export interface EspDriverStats {
  rxEsp: number;
  rxIke: number;
  rxKeepalive: number;
  rxInvalid: number;
  rxDropped: number;
  rxToTun: number;
  rxToLocal: number;
  txFromTun: number;
  txEsp: number;
  txDropped: number;
  txBypassDropped: number;
  txKeepalive: number;
  txIke: number;
  mssClampedOut: number;
  mssClampedIn: number;
  tunWriteFailed: number;
}

function emptyStats(): EspDriverStats {
  return {
    rxEsp: 0,
    rxIke: 0,
    rxKeepalive: 0,
    rxInvalid: 0,
    rxDropped: 0,
    rxToTun: 0,
    rxToLocal: 0,
    txFromTun: 0,
    txEsp: 0,
    txDropped: 0,
    txBypassDropped: 0,
    txKeepalive: 0,
    txIke: 0,
    mssClampedOut: 0,
    mssClampedIn: 0,
    tunWriteFailed: 0,
  };
}

/** Counter names (`esp_driver_<snake>`) of each stats field. */
const COUNTER_NAMES: Readonly<Record<keyof EspDriverStats, string>> = {
  rxEsp: "esp_driver_rx_esp",
  rxIke: "esp_driver_rx_ike",
  rxKeepalive: "esp_driver_rx_keepalive",
  rxInvalid: "esp_driver_rx_invalid",
  rxDropped: "esp_driver_rx_dropped",
  rxToTun: "esp_driver_rx_to_tun",
  rxToLocal: "esp_driver_rx_to_local",
  txFromTun: "esp_driver_tx_from_tun",
  txEsp: "esp_driver_tx_esp",
  txDropped: "esp_driver_tx_dropped",
  txBypassDropped: "esp_driver_tx_bypass_dropped",
  txKeepalive: "esp_driver_tx_keepalive",
  txIke: "esp_driver_tx_ike",
  mssClampedOut: "esp_driver_mss_clamped_out",
  mssClampedIn: "esp_driver_mss_clamped_in",
  tunWriteFailed: "esp_driver_tun_write_failed",
};

/** Room beyond the inner packet for ESP header, IV, padding, trailer and ICV (all suites). */
const ESP_SLACK = 128;
/** Send arena size: ~700 full-size ESP packets between arena changes. */
const ARENA_BYTES = 1 << 20;
const KEEPALIVE = Buffer.from([NATT_KEEPALIVE]);
const TCP = 6;
const SYN = 0x02;

type TimerItem = { readonly kind: "tick" };

/** How often a still-unfollowed endpoint change is reported again. */
const PEER_REPORT_MS = 5000;

/**
 * Offset of the TCP header of an unfragmented IPv4 TCP SYN, or of an IPv6 TCP SYN without
 * extension headers; -1 otherwise. Cheap enough for every packet.
 */
function tcpSynOffset(p: Uint8Array): number {
  const v = p[0]! >> 4;
  if (v === 4) {
    if (p.length < 40 || p[9] !== TCP || ((p[6]! & 0x1f) | p[7]!) !== 0) return -1;
    const ihl = (p[0]! & 0x0f) * 4;
    if (ihl < 20 || p.length < ihl + 20) return -1;
    return (p[ihl + 13]! & SYN) !== 0 ? ihl : -1;
  }
  if (v === 6) {
    if (p.length < 60 || p[6] !== TCP) return -1;
    return (p[53]! & SYN) !== 0 ? 40 : -1;
  }
  return -1;
}

/** Inner IP + TCP header octets for a packet's family (no options, RFC 6691 §2). */
const tcpIpHeaders = (version: number): number => (version === 6 ? 60 : 40);

export class EspDriver {
  private readonly dp: EspDataPlane;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly counters: Counters;
  private readonly pathMtu: number;
  private readonly clampOut: boolean;
  private readonly clampIn: boolean;
  private readonly st: EspDriverStats = emptyStats();
  private readonly published: EspDriverStats = emptyStats();
  private readonly timers: TimerSet<TimerItem>;
  private readonly mssCache = new Map<number, number>();
  /** Per inbound SA: the new endpoint last reported and when (see peerMoved). */
  private readonly reportedPeer = new Map<number, { key: string; at: number }>();
  private readonly fields = newPacketFields();
  private readonly tickIntervalMs: number;
  private arena: Buffer = Buffer.allocUnsafeSlow(ARENA_BYTES);
  private arenaOff = 0;
  private ikeHandler: NattIkeHandler | undefined;
  private transportHandler: TransportPacketHandler | undefined;
  private localTransportHandler: LocalTransportHandler | undefined;
  private unknownSpiHandler: UnknownSpiHandler | undefined;
  private peerChangedHandler: PeerChangedHandler | undefined;
  private closed = false;

  constructor(
    opts: EspDriverOptions,
    private readonly ports: EspDriverPorts,
  ) {
    this.dp = opts.dp;
    this.clock = opts.clock;
    this.log = opts.logger;
    this.counters = opts.counters;
    this.pathMtu = opts.pathMtu ?? 1500;
    const clamp = opts.mssClamp ?? "both";
    this.clampOut = clamp === "both" || clamp === "outbound";
    this.clampIn = clamp === "both" || clamp === "inbound";
    this.tickIntervalMs = opts.tickIntervalMs ?? 1000;
    this.timers = new TimerSet<TimerItem>(this.clock, (item) => this.onTimer(item));
    this.timers.set(this.clock.now() + this.tickIntervalMs, { kind: "tick" });
    ports.udp?.onDatagram(this.onUdp);
    ports.udp?.onError((e) =>
      this.log.debug("NAT-T socket error", { code: e.code, msg: e.message }),
    );
    ports.rawEsp?.onPacket(this.onRawEsp);
    ports.tun?.onPackets(this.onTun);
  }

  // ------------------------------------------------------------------ registration

  /** IKE messages arriving on the NAT-T port (the IKE driver registers here). */
  onIke(handler: NattIkeHandler): void {
    this.ikeHandler = handler;
  }

  /** Local consumer of transport-mode traffic (e.g. L2TP on UDP 1701). */
  onTransportPacket(handler: TransportPacketHandler): void {
    this.transportHandler = handler;
  }

  /** The local service of local transport SAs (L2TP over IPsec). */
  onLocalTransport(handler: LocalTransportHandler): void {
    this.localTransportHandler = handler;
  }

  onUnknownSpi(handler: UnknownSpiHandler): void {
    this.unknownSpiHandler = handler;
  }

  onPeerChanged(handler: PeerChangedHandler): void {
    this.peerChangedHandler = handler;
  }

  // ------------------------------------------------------------------ sending

  /** Sends an IKE message on the NAT-T port (adds the non-ESP marker, RFC 3948 §2.2). */
  sendIke(ike: Uint8Array, to: PeerEndpoint, localAddress?: string): void {
    const udp = this.ports.udp;
    if (udp === undefined || this.closed) return;
    this.st.txIke++;
    udp.send(buildNattIke(ike), to.address, to.port, localAddress);
  }

  /** One NAT keepalive now (RFC 3948 §2.3). */
  sendKeepalive(peer: PeerEndpoint, localAddress?: string): void {
    const udp = this.ports.udp;
    if (udp === undefined || this.closed) return;
    this.st.txKeepalive++;
    udp.send(KEEPALIVE, peer.address, peer.port, localAddress);
  }

  /**
   * Routes one IP packet through the SPD (as if read from the TUN): protect and send, bypass
   * or drop. Queued; sent at the end of the event-loop turn or on `flush()`.
   */
  sendPacket(packet: Uint8Array): boolean {
    if (this.closed) return false;
    return this.outboundOne(packet, this.clock.now(), true);
  }

  /**
   * Encapsulates `packet` on outbound SA `sa` and sends it (no SPD lookup: for a local service
   * bound to its SA, like L2TP over its transport-mode SA). Returns false when dropped.
   */
  protectAndSend(sa: number, packet: Uint8Array): boolean {
    if (this.closed) return false;
    const o = this.dp.protect(sa, packet, this.clock.now(), this.slot(packet.length));
    if (!o.ok) {
      this.st.txDropped++;
      return false;
    }
    if (o.action !== "send") return false;
    this.emit(o.data, o.address, o.port);
    return true;
  }

  /**
   * Encrypts `head` + `body` on local transport SA `sa` (no IP header: src/l2tp-ipsec) and
   * queues it. Returns false when dropped.
   */
  sendPayload(sa: number, nextHeader: number, head: Uint8Array, body: Uint8Array): boolean {
    if (this.closed) return false;
    const o = this.dp.protectPayload(
      sa,
      nextHeader,
      head,
      body,
      this.clock.now(),
      this.slot(head.length + body.length),
    );
    if (!o.ok || o.action !== "send") {
      this.st.txDropped++;
      return false;
    }
    this.emit(o.data, o.address, o.port);
    return true;
  }

  /** Octets on the wire beyond an inner packet of `length` on `sa` (dp.overhead). */
  overhead(sa: number, length: number): number {
    return this.dp.overhead(sa, length);
  }

  /** Sends whatever is queued on the sockets now. */
  flush(): void {
    this.ports.udp?.flush();
    this.ports.rawEsp?.flush();
  }

  // ------------------------------------------------------------------ MSS

  /**
   * Largest TCP MSS that fits one packet on SA `sa` within the path MTU (IPv4 inner packets
   * by default): the largest inner length L with L + overhead(L) <= pathMtu, less 40 (IPv4+TCP)
   * or 60 (IPv6+TCP). Cached per SA; 0 for an unknown SA.
   */
  mssFor(sa: number, version: 4 | 6 = 4): number {
    const key = version === 4 ? sa : -sa;
    const c = this.mssCache.get(key);
    if (c !== undefined) return c;
    if (this.dp.info(sa) === undefined) return 0;
    let len = this.pathMtu;
    while (len > 0 && len + this.dp.overhead(sa, len) > this.pathMtu) len--;
    const mss = Math.max(0, len - tcpIpHeaders(version));
    if (this.mssCache.size > 1024) this.mssCache.clear();
    this.mssCache.set(key, mss);
    return mss;
  }

  private clamp(packet: Uint8Array, tcpOff: number, sa: number, inbound: boolean): void {
    const version = packet[0]! >> 4 === 6 ? 6 : 4;
    const mss = this.mssFor(sa, version);
    if (mss <= 0) return;
    const end =
      version === 4 ? (packet[2]! << 8) | packet[3]! : 40 + ((packet[4]! << 8) | packet[5]!);
    if (end > packet.length || end <= tcpOff) return;
    if (clampTcpMss(packet.subarray(tcpOff, end), mss)) {
      if (inbound) this.st.mssClampedIn++;
      else this.st.mssClampedOut++;
    }
  }

  // ------------------------------------------------------------------ receive paths

  private readonly onUdp = (
    data: Buffer,
    address: string,
    port: number,
    info: DatagramInfo,
  ): void => {
    // ESP (RFC 3948 §2.1): a non-zero SPI where the non-ESP marker would be. Checked inline
    // (same rule as classifyNattDatagram) to keep the common case free of a result object.
    if (data.length >= 8 && (data[0]! | data[1]! | data[2]! | data[3]!) !== 0) {
      this.espIn(data, address, port);
      return;
    }
    const c = classifyNattDatagram(data);
    if (!c.ok) {
      this.st.rxInvalid++;
      this.log.debug("NAT-T: invalid datagram", {
        peer: `${address}:${port}`,
        msg: c.error.message,
      });
      return;
    }
    switch (c.value.kind) {
      case "keepalive":
        this.st.rxKeepalive++;
        return;
      case "ike":
        this.st.rxIke++;
        if (this.ikeHandler === undefined) {
          this.log.debug("NAT-T: IKE message but no IKE handler", { peer: `${address}:${port}` });
          return;
        }
        this.ikeHandler(Buffer.from(c.value.ike), { address, port }, info.localAddress);
        return;
      case "esp":
        this.espIn(c.value.esp, address, port);
        return;
    }
  };

  private readonly onRawEsp: EspPacketHandler = (payload, info) => {
    this.espIn(payload, info.source, undefined);
  };

  private espIn(esp: Uint8Array, address: string, port: number | undefined): void {
    if (this.closed) return;
    this.st.rxEsp++;
    const from = port === undefined ? { address } : { address, port };
    const r = this.dp.inbound(esp, from, this.clock.now());
    if (!r.ok) {
      this.st.rxDropped++; // counted by reason and logged by the data plane
      if (r.reason === "unknown_spi" && r.spi !== undefined && port !== undefined)
        this.unknownSpiHandler?.(r.spi, { address, port });
      return;
    }
    if (r.peerChanged && port !== undefined) this.peerMoved(r.sa, address, port);
    const packet = r.packet;
    if (r.payloadOnly) {
      if (this.localTransportHandler?.(r.sa, r.nextHeader, packet)) this.st.rxToLocal++;
      else this.st.rxDropped++;
      return;
    }
    if (r.mode === "transport" && this.transportHandler !== undefined) {
      if (this.transportHandler(packet, r)) {
        this.st.rxToLocal++;
        return;
      }
    }
    const tun = this.ports.tun;
    if (tun === undefined) {
      this.st.rxDropped++;
      return;
    }
    if (this.clampIn) {
      const off = tcpSynOffset(packet);
      if (off >= 0) this.clamp(packet, off, r.sa, true);
    }
    if (tun.write(packet)) this.st.rxToTun++;
    else this.st.tunWriteFailed++;
  }

  /**
   * Reports a new endpoint once, and again every PEER_REPORT_MS while packets keep coming from
   * it: IKE may refuse a move (another live SA holds that endpoint) and accept it later, when
   * that SA is gone; a client that sends no DPD gives no other evidence.
   */
  private peerMoved(sa: number, address: string, port: number): void {
    const key = `${address}:${port}`;
    const now = this.clock.now();
    const last = this.reportedPeer.get(sa);
    if (last?.key === key && now - last.at < PEER_REPORT_MS) return;
    if (this.reportedPeer.size > 4096) this.reportedPeer.clear();
    this.reportedPeer.set(sa, { key, at: now });
    if (last?.key !== key) this.log.info("ESP peer moved (NAT mapping changed)", { sa, peer: key });
    this.peerChangedHandler?.(sa, { address, port });
  }

  // ------------------------------------------------------------------ TUN -> ESP

  private readonly onTun: TunPacketsHandler = (packets) => {
    if (this.closed) return;
    const now = this.clock.now();
    for (let i = 0; i < packets.length; i++) this.outboundOne(packets[i]!, now, false);
    this.flush();
  };

  /** A slice of the send arena for an ESP packet carrying `innerLength` octets. */
  private slot(innerLength: number): Uint8Array {
    const need = innerLength + ESP_SLACK;
    if (this.arenaOff + need > this.arena.length) {
      // Queued datagrams may still point into the old arena (socket buffer full): never reuse
      // it; the garbage collector frees it when the socket has sent them.
      this.arena = Buffer.allocUnsafeSlow(Math.max(ARENA_BYTES, need));
      this.arenaOff = 0;
    }
    return this.arena.subarray(this.arenaOff, this.arenaOff + need);
  }

  private outboundOne(packet: Uint8Array, now: number, local: boolean): boolean {
    if (!local) this.st.txFromTun++;
    if (this.clampOut) {
      const off = tcpSynOffset(packet);
      if (off >= 0) {
        const f = this.fields;
        if (readPacketFields(packet, f)) {
          const pol = this.dp.spd.lookupOutbound(packet, f);
          const action = pol?.action ?? this.dp.spd.defaultAction;
          if (action.kind === "protect") this.clamp(packet, off, action.sa, false);
        }
      }
    }
    const o = this.dp.outbound(packet, now, this.slot(packet.length));
    if (!o.ok) {
      this.st.txDropped++; // counted by reason and logged by the data plane
      return false;
    }
    if (o.action === "bypass") {
      // A TUN packet the SPD lets pass in the clear has nowhere to go from here: counted.
      this.st.txBypassDropped++;
      return false;
    }
    this.emit(o.data, o.address, o.port);
    return true;
  }

  private emit(data: Uint8Array, address: string, port: number | undefined): void {
    // Keep the bytes written into the arena (8-aligned start for the next packet).
    this.arenaOff += (data.length + 7) & ~7;
    if (port !== undefined) {
      const udp = this.ports.udp;
      if (udp === undefined) {
        this.st.txDropped++;
        return;
      }
      udp.send(data, address, port);
    } else {
      const raw = this.ports.rawEsp;
      if (raw === undefined) {
        this.st.txDropped++;
        return;
      }
      raw.send(data, address);
    }
    this.st.txEsp++;
  }

  // ------------------------------------------------------------------ timers, stats, close

  private onTimer(_item: TimerItem): void {
    if (this.closed) return;
    const now = this.clock.now();
    this.dp.tick(now);
    this.publish();
    this.timers.set(now + this.tickIntervalMs, { kind: "tick" });
  }

  /** Adds what happened since the last call to the shared counters. */
  publish(): void {
    for (const key of Object.keys(COUNTER_NAMES) as (keyof EspDriverStats)[]) {
      const d = this.st[key] - this.published[key];
      if (d > 0) {
        this.counters.inc(COUNTER_NAMES[key], BigInt(d));
        this.published[key] = this.st[key];
      }
    }
  }

  stats(): Readonly<EspDriverStats> {
    return { ...this.st };
  }

  /** Stops timers, sends what is queued, closes the TUN (the kernel removes it) and sockets. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.publish();
    this.timers.close();
    this.ports.tun?.close();
    this.ports.rawEsp?.close();
    this.ports.udp?.close();
  }
}

// ------------------------------------------------------------------ opening the ports

export interface TunSetup {
  /** Interface name ("oak0") or template ("oak%d"). */
  readonly name: string;
  readonly mtu?: number;
  readonly address?: TunAddress;
  readonly routes?: readonly RouteSpec[];
}

export interface OpenPortsOptions {
  /** Bind the NAT-T socket here (e.g. {address: "0.0.0.0", port: 4500}). */
  readonly natt?: PeerEndpoint;
  /** Open a raw ESP socket (true, or its options). */
  readonly rawEsp?: boolean | RawEspOptions;
  readonly tun?: TunSetup;
  /** SO_RCVBUF/SO_SNDBUF for the sockets (default 4 MiB). */
  readonly socketBuffer?: number;
  /** UDP GSO on send and GRO on receive for the NAT-T socket (default true; see udp.ts). */
  readonly udpOffload?: boolean;
  /** TUN TSO/checksum offload, segmenting and merging in user space (default true; tun.ts). */
  readonly tunOffload?: boolean;
}

export interface OpenedPorts extends EspDriverPorts {
  readonly udp?: KoffiDatagramSocket;
  readonly rawEsp?: RawEspSocket;
  readonly tun?: TunDevice;
}

/**
 * Opens what the driver needs with the platform's fast paths (koffi recvmmsg/sendmmsg with
 * zero-copy receive, raw ESP, a configured TUN). On any failure everything opened is closed.
 */
export async function openEspPorts(
  o: OpenPortsOptions,
): Promise<Result<OpenedPorts, PlatformError>> {
  const buf = o.socketBuffer ?? 4 << 20;
  let udp: KoffiDatagramSocket | undefined;
  let rawEsp: RawEspSocket | undefined;
  let tun: TunDevice | undefined;
  const fail = (e: PlatformError): Result<OpenedPorts, PlatformError> => {
    tun?.close();
    rawEsp?.close();
    udp?.close();
    return err(e);
  };
  if (o.natt !== undefined) {
    udp = new KoffiDatagramSocket({
      zeroCopy: true,
      receiveBuffer: buf,
      sendBuffer: buf,
      gso: o.udpOffload ?? true,
      gro: o.udpOffload ?? true,
    });
    const b = await udp.bind(o.natt.address, o.natt.port);
    if (!b.ok) return fail(b.error);
  }
  if (o.rawEsp !== undefined && o.rawEsp !== false) {
    const r = RawEspSocket.open({
      receiveBuffer: buf,
      sendBuffer: buf,
      ...(o.rawEsp === true ? {} : o.rawEsp),
    });
    if (!r.ok) return fail(r.error);
    rawEsp = r.value;
  }
  if (o.tun !== undefined) {
    const t = TunDevice.open({ name: o.tun.name, offload: o.tunOffload ?? true });
    if (!t.ok) return fail(t.error);
    tun = t.value;
    if (o.tun.mtu !== undefined) {
      const r = tun.setMtu(o.tun.mtu);
      if (!r.ok) return fail(r.error);
    }
    if (o.tun.address !== undefined) {
      const r = tun.setAddress(o.tun.address);
      if (!r.ok) return fail(r.error);
    }
    const up = tun.setUp(true);
    if (!up.ok) return fail(up.error);
    for (const route of o.tun.routes ?? []) {
      const r = tun.addRoute(route);
      if (!r.ok) return fail(r.error);
    }
  }
  return ok({
    ...(udp === undefined ? {} : { udp }),
    ...(rawEsp === undefined ? {} : { rawEsp }),
    ...(tun === undefined ? {} : { tun }),
  });
}
