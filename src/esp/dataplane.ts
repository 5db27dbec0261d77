/**
 * The user-space ESP data plane: SAD, SPD, outbound and inbound processing (RFC 4303 §3.3 and
 * §3.4, RFC 4301 §5.1/§5.2) in transport and tunnel mode for IPv4 and IPv6 inner packets, with
 * plain ESP (IP protocol 50) or UDP encapsulation (RFC 3948).
 *
 * Sans-IO: bytes in, bytes out; the caller owns sockets, TUN and the clock (`now`, in ms).
 * Hot path: SAD lookups are Map gets; output goes into preallocated buffers (or a buffer the
 * caller passes, e.g. a slot of its sendmmsg batch); the returned views stay valid until the
 * next call of the same method with the internal buffer.
 *
 * Every inbound failure is a returned `{ok:false, reason}`, counted in `esp_rx_drop{reason=…}`
 * and logged at debug with SPI and peer; nothing here throws on packet content.
 *
 * Deviations / left out:
 *  - IPv6 transport mode encrypts everything after the fixed 40-octet header (extension headers
 *    that should stay outside ESP, such as Hop-by-Hop, are not split out).
 *  - Transport-mode inbound rebuilds the IP header from the SA's addresses (TTL/hop limit 64,
 *    no options): the original outer header is not needed, which suits UDP sockets.
 *  - No fragmentation/PMTU handling (the caller clamps MSS with `overhead()`), no TFC padding.
 */
import { createEspTransform, type EspTransform, type RandomFill } from "../crypto/esp/index.js";
import type { Logger } from "../obs/log.js";
import type { Counters } from "../obs/counters.js";
import { IpProtocol } from "../registry/ip.js";
import { parseIpAddress } from "../wire/ip/address.js";
import { checksumUpdateBytes } from "../wire/ip/checksum.js";
import { fillIpv4HeaderChecksum } from "../wire/ip/ipv4.js";
import { newPacketFields, type PacketFields, readPacketFields } from "../wire/ip/packet.js";
import { tcpChecksum } from "../wire/ip/tcp.js";
import { udpChecksum } from "../wire/ip/udp.js";
import {
  ESP_HEADER,
  espPadLength,
  espSeq,
  espSpi,
  type InboundSpi,
  isDefaultPadding,
  type OutboundSpi,
  type Spi,
  writeEspHeader,
  writeEspTrailer,
} from "../wire/esp/esp.js";
import { REPLAY_DUPLICATE, REPLAY_OK, ReplayWindow } from "./replay.js";
import type {
  Endpoint,
  EspDirection,
  EspEvent,
  EspMode,
  LifetimeReason,
  NatChecksumFix,
  SaDirectionSpi,
  SaSpec,
  SaStats,
} from "./sa.js";
import { ANY_SELECTOR, compileSelector, type Selector, selectorMatches, Spd } from "./spd.js";

export type EspDropReason =
  | "truncated"
  | "unknown_spi"
  | "wrong_direction"
  | "sa_expired"
  | "replayed"
  | "outside_window"
  | "bad_icv"
  | "bad_length"
  | "bad_padding"
  | "dummy_packet"
  | "bad_next_header"
  | "bad_inner_packet"
  | "policy_mismatch"
  | "policy_discard"
  | "no_sa"
  | "too_big"
  | "seq_overflow"
  | "bad_packet";

export type InboundResult =
  | {
      readonly ok: true;
      readonly sa: number;
      readonly spi: InboundSpi;
      readonly mode: EspMode;
      /** The inner IP packet (tunnel) or the rebuilt transport-mode packet. */
      readonly packet: Uint8Array;
      /** Next Header of the ESP trailer (4/41 in tunnel mode, the upper layer in transport). */
      readonly nextHeader: number;
      /**
       * UDP-encapsulated SA whose packet came from another address:port and passed ICV and the
       * anti-replay window as the newest seen (false without a replay window).
       */
      readonly peerChanged: boolean;
      /**
       * A `localTransport` SA: `packet` is the upper-layer payload (e.g. a UDP datagram,
       * `nextHeader` 17) without an IP header.
       */
      readonly payloadOnly: boolean;
    }
  | { readonly ok: false; readonly reason: EspDropReason; readonly spi?: Spi };

export type OutboundResult =
  | {
      readonly ok: true;
      readonly action: "send";
      readonly sa: number;
      readonly spi: OutboundSpi;
      /** The ESP packet: the whole UDP payload when `port` is set, else the IP payload (protocol 50). */
      readonly data: Uint8Array;
      readonly address: string;
      /** Present for UDP-encapsulated SAs (send from our NAT-T port 4500 to this port). */
      readonly port?: number;
    }
  | { readonly ok: true; readonly action: "bypass"; readonly packet: Uint8Array }
  | { readonly ok: false; readonly reason: EspDropReason; readonly spi?: Spi };

export interface DataPlaneDeps {
  readonly counters: Counters;
  readonly logger: Logger;
  /** Randomness for CBC IVs (platform/). */
  readonly random: RandomFill;
  readonly onEvent?: (e: EspEvent) => void;
  /** Largest inner packet handled (default 65535). */
  readonly maxPacket?: number;
}

interface Limits {
  bytes: number;
  packets: number;
  ms: number;
}

type Sa = SaDirectionSpi & SaState;
type InboundSa = Extract<Sa, { readonly direction: "in" }>;
type OutboundSa = Extract<Sa, { readonly direction: "out" }>;

interface SaState {
  readonly id: number;
  readonly mode: EspMode;
  readonly name: string;
  readonly transform: EspTransform;
  readonly esn: boolean;
  readonly localBytes: Uint8Array;
  readonly remoteBytes: Uint8Array;
  readonly remote: string;
  peer: Endpoint | undefined;
  readonly natOaRemote: Uint8Array | undefined;
  readonly natOaLocal: Uint8Array | undefined;
  readonly checksumFix: NatChecksumFix;
  readonly replay: ReplayWindow | undefined;
  readonly selector: Selector;
  readonly soft: Limits;
  readonly hard: Limits;
  softFired: boolean;
  hardFired: boolean;
  /** Outbound sequence number last used (hi, lo). */
  seqHi: number;
  seqLo: number;
  rekeyWarned: boolean;
  seqExhausted: boolean;
  readonly stats: SaStats;
  readonly minLength: number;
  readonly localTransport: boolean;
}

const NONE: Limits = {
  bytes: Number.POSITIVE_INFINITY,
  packets: Number.POSITIVE_INFINITY,
  ms: Number.POSITIVE_INFINITY,
};
/** Warn (rekey-needed) when this many sequence numbers are left. */
const SEQ_REKEY_MARGIN = 1 << 20;
const MAX_U32 = 0xffffffff;

function limits(l: { bytes?: bigint; packets?: bigint; seconds?: number } | undefined): Limits {
  if (l === undefined) return NONE;
  return {
    bytes: l.bytes === undefined ? Number.POSITIVE_INFINITY : Number(l.bytes),
    packets: l.packets === undefined ? Number.POSITIVE_INFINITY : Number(l.packets),
    ms: l.seconds === undefined ? Number.POSITIVE_INFINITY : l.seconds * 1000,
  };
}

function hex8(n: Spi): string {
  return n.toString(16).padStart(8, "0");
}

export interface SaInfo {
  readonly id: number;
  readonly spi: Spi;
  readonly direction: EspDirection;
  readonly mode: EspMode;
  readonly name: string;
  readonly suite: string;
  readonly backend: string;
  readonly peer: Endpoint | undefined;
  readonly remote: string;
  readonly stats: Readonly<SaStats>;
  readonly expired: boolean;
}

/** Distinct addresses whose octets SAs share (see EspDataPlane.addresses). */
const ADDRESS_CACHE = 1024;

export class EspDataPlane {
  /**
   * Inbound SAs by SPI (we chose these SPIs, so they are unique). Keyed by any SPI a packet
   * carries; only inbound SAs are put in.
   */
  private readonly inboundBySpi = new Map<Spi, InboundSa>();
  /** All SAs by handle (outbound SPIs are chosen by peers and may collide across peers). */
  private readonly byId = new Map<number, Sa>();
  private nextId = 1;
  /**
   * Address octets shared by the SAs that name the same address (read only, never written):
   * every SA has our address and most the same NAT-OA, and each copy costs a typed array.
   * Bounded, since NAT-OA addresses come from peers; past the bound SAs get their own copy.
   */
  private readonly addresses = new Map<string, Uint8Array>();
  readonly spd = new Spd();
  private readonly txBuf: Uint8Array;
  private readonly rxBuf: Uint8Array;
  private readonly fields: PacketFields = newPacketFields();
  private readonly maxPacket: number;

  constructor(private readonly deps: DataPlaneDeps) {
    this.maxPacket = deps.maxPacket ?? 65535;
    this.txBuf = new Uint8Array(this.maxPacket + 512);
    this.rxBuf = new Uint8Array(this.maxPacket + 512);
  }

  private address(text: string): Uint8Array | undefined {
    const have = this.addresses.get(text);
    if (have !== undefined) return have;
    const bytes = parseIpAddress(text);
    if (bytes !== undefined && this.addresses.size < ADDRESS_CACHE) this.addresses.set(text, bytes);
    return bytes;
  }

  /**
   * Installs an SA; returns its handle, or an error string for a bad spec (unknown suite, key
   * length, address). Inbound SPIs must be unique.
   */
  installSa(spec: SaSpec, now: number): { ok: true; sa: number } | { ok: false; error: string } {
    const localBytes = this.address(spec.local);
    const remoteBytes = this.address(spec.remote);
    if (
      localBytes === undefined ||
      remoteBytes === undefined ||
      localBytes.length !== remoteBytes.length
    ) {
      return { ok: false, error: `bad SA addresses ${spec.local} / ${spec.remote}` };
    }
    if (spec.spi >>> 0 !== spec.spi || spec.spi < 256)
      return { ok: false, error: `bad SPI ${spec.spi}` };
    if (spec.direction === "in" && this.inboundBySpi.has(spec.spi)) {
      return { ok: false, error: `inbound SPI ${hex8(spec.spi)} already installed` };
    }
    const selector = spec.selector === undefined ? ANY_SELECTOR : compileSelector(spec.selector);
    if (typeof selector === "string") return { ok: false, error: selector };
    const natOaRemote =
      spec.encap?.natOa?.remote === undefined ? undefined : this.address(spec.encap.natOa.remote);
    const natOaLocal =
      spec.encap?.natOa?.local === undefined ? undefined : this.address(spec.encap.natOa.local);
    if (
      (spec.encap?.natOa?.remote !== undefined && natOaRemote === undefined) ||
      (spec.encap?.natOa?.local !== undefined && natOaLocal === undefined)
    ) {
      return { ok: false, error: "bad NAT-OA address" };
    }
    const esn = spec.esn ?? false;
    let transform: EspTransform;
    try {
      transform = createEspTransform(
        { suite: spec.suite, keys: spec.keys, esn, random: this.deps.random },
        spec.backend ?? "auto",
      );
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    const windowSize = spec.replayWindow ?? 128;
    let replay: ReplayWindow | undefined;
    if (spec.direction === "in" && windowSize > 0) {
      replay = new ReplayWindow(windowSize, esn);
      if (spec.replayStart !== undefined) replay.reset(spec.replayStart);
    }
    const defaultFix: NatChecksumFix =
      natOaRemote !== undefined && natOaLocal !== undefined ? "incremental" : "recompute";
    const id = this.nextId++;
    const key: SaDirectionSpi =
      spec.direction === "in"
        ? { spi: spec.spi, direction: spec.direction }
        : { spi: spec.spi, direction: spec.direction };
    const sa: Sa = {
      id,
      ...key,
      mode: spec.mode,
      name: spec.name ?? hex8(spec.spi),
      transform,
      esn,
      localBytes,
      remoteBytes,
      remote: spec.remote,
      peer: spec.encap?.peer,
      natOaRemote,
      natOaLocal,
      checksumFix: spec.encap === undefined ? "none" : (spec.encap.checksum ?? defaultFix),
      replay,
      selector,
      soft: limits(spec.lifetimes?.soft),
      hard: limits(spec.lifetimes?.hard),
      softFired: false,
      hardFired: false,
      seqHi: 0,
      seqLo: 0,
      rekeyWarned: false,
      seqExhausted: false,
      stats: {
        packets: 0,
        bytes: 0,
        drops: 0,
        replayDrops: 0,
        icvFailures: 0,
        installedAt: now,
        lastUsed: now,
      },
      minLength:
        ESP_HEADER + transform.ivLength + transform.icvLength + Math.max(transform.blockSize, 4),
      localTransport: spec.mode === "transport" && spec.localTransport === true,
    };
    this.byId.set(id, sa);
    if (sa.direction === "in") this.inboundBySpi.set(sa.spi, sa);
    return { ok: true, sa: id };
  }

  removeSa(id: number): boolean {
    const sa = this.byId.get(id);
    if (sa === undefined) return false;
    this.byId.delete(id);
    if (sa.direction === "in" && this.inboundBySpi.get(sa.spi) === sa)
      this.inboundBySpi.delete(sa.spi);
    sa.transform.dispose();
    return true;
  }

  /** The peer's NAT mapping changed (RFC 3948 §2.2 / RFC 3947 port changes): send there from now on. */
  updatePeer(id: number, peer: Endpoint): boolean {
    const sa = this.byId.get(id);
    if (sa === undefined) return false;
    sa.peer = peer;
    return true;
  }

  /**
   * Octets on the wire beyond an inner IP packet of `length` on this SA: ESP header, IV,
   * padding, trailer, ICV, the UDP header when encapsulated, and the outer IP header in tunnel
   * mode (transport mode keeps the packet's own header). For MSS clamping and MTU choice.
   */
  overhead(id: number, length = 0): number {
    const sa = this.byId.get(id);
    if (sa === undefined) return 0;
    const t = sa.transform;
    const ipHeader = sa.localBytes.length === 4 ? 20 : 40;
    const payload = sa.mode === "tunnel" ? length : Math.max(0, length - ipHeader);
    const pad = espPadLength(payload, t.blockSize);
    const udp = sa.peer !== undefined ? 8 : 0;
    return (
      ESP_HEADER + t.ivLength + pad + 2 + t.icvLength + udp + (sa.mode === "tunnel" ? ipHeader : 0)
    );
  }

  info(id: number): SaInfo | undefined {
    const sa = this.byId.get(id);
    if (sa === undefined) return undefined;
    const s = sa.transform.suite;
    return {
      id: sa.id,
      spi: sa.spi,
      direction: sa.direction,
      mode: sa.mode,
      name: sa.name,
      suite: s.integrity === "none" ? s.encryption : `${s.encryption}/${s.integrity}`,
      backend: sa.transform.backend,
      peer: sa.peer,
      remote: sa.remote,
      stats: { ...sa.stats },
      expired: sa.hardFired,
    };
  }

  list(): SaInfo[] {
    return [...this.byId.keys()].map((id) => this.info(id)!);
  }

  // ---------------------------------------------------------------- lifetimes

  private emit(e: EspEvent): void {
    this.deps.logger.info(`esp ${e.kind}`, {
      spi: hex8(e.spi),
      ...("reason" in e ? { reason: e.reason } : {}),
    });
    this.deps.onEvent?.(e);
  }

  /** Checks byte/packet/time limits after use; returns false when the SA is (now) hard-expired. */
  private checkLifetime(sa: Sa, now: number): boolean {
    if (sa.hardFired) return false;
    const age = now - sa.stats.installedAt;
    const st = sa.stats;
    const hardReason: LifetimeReason | undefined =
      st.bytes >= sa.hard.bytes
        ? "bytes"
        : st.packets >= sa.hard.packets
          ? "packets"
          : age >= sa.hard.ms
            ? "seconds"
            : undefined;
    if (hardReason !== undefined) {
      sa.hardFired = true;
      if (!sa.softFired) {
        sa.softFired = true;
        this.emit({
          kind: "soft-expire",
          sa: sa.id,
          spi: sa.spi,
          direction: sa.direction,
          reason: hardReason,
        });
      }
      this.emit({
        kind: "hard-expire",
        sa: sa.id,
        spi: sa.spi,
        direction: sa.direction,
        reason: hardReason,
      });
      return false;
    }
    if (!sa.softFired) {
      const softReason: LifetimeReason | undefined =
        st.bytes >= sa.soft.bytes
          ? "bytes"
          : st.packets >= sa.soft.packets
            ? "packets"
            : age >= sa.soft.ms
              ? "seconds"
              : undefined;
      if (softReason !== undefined) {
        sa.softFired = true;
        this.emit({
          kind: "soft-expire",
          sa: sa.id,
          spi: sa.spi,
          direction: sa.direction,
          reason: softReason,
        });
      }
    }
    return true;
  }

  /** Time-driven lifetime checks for idle SAs; call from a timer (e.g. once a second). */
  tick(now: number): void {
    for (const sa of this.byId.values()) this.checkLifetime(sa, now);
  }

  // ---------------------------------------------------------------- outbound

  private txDrop(reason: EspDropReason, sa: Sa | undefined): OutboundResult {
    this.deps.counters.incLabeled("esp_tx_drop", "reason", reason);
    if (sa !== undefined) sa.stats.drops++;
    this.deps.logger.debug(
      "esp outbound drop",
      sa === undefined
        ? { reason }
        : {
            reason,
            spi: hex8(sa.spi),
            peer: sa.peer === undefined ? sa.remote : `${sa.peer.address}:${sa.peer.port}`,
          },
    );
    return sa === undefined ? { ok: false, reason } : { ok: false, reason, spi: sa.spi };
  }

  /** Outbound through the SPD: protect, bypass or discard the IP packet. */
  outbound(packet: Uint8Array, now: number, out?: Uint8Array): OutboundResult {
    const f = this.fields;
    if (!readPacketFields(packet, f)) return this.txDrop("bad_packet", undefined);
    const pol = this.spd.lookupOutbound(packet, f);
    const action = pol?.action ?? this.spd.defaultAction;
    if (action.kind === "bypass")
      return { ok: true, action: "bypass", packet: packet.subarray(0, f.length) };
    if (action.kind === "discard") return this.txDrop("policy_discard", undefined);
    return this.protect(action.sa, packet, now, out);
  }

  /**
   * Encapsulates an IP packet on outbound SA `id` (no SPD lookup: for callers that already
   * chose the SA, like L2TP over its transport-mode SA).
   */
  protect(id: number, packet: Uint8Array, now: number, out?: Uint8Array): OutboundResult {
    const sa = this.byId.get(id);
    if (sa === undefined || sa.direction !== "out") return this.txDrop("no_sa", undefined);
    if (sa.hardFired) return this.txDrop("sa_expired", sa);
    const f = this.fields;
    if (!readPacketFields(packet, f)) return this.txDrop("bad_packet", sa);
    let payloadStart: number;
    let nextHeader: number;
    if (sa.mode === "tunnel") {
      payloadStart = 0;
      nextHeader = f.version === 4 ? IpProtocol.IPv4 : IpProtocol.IPv6;
    } else if (f.version === 4) {
      payloadStart = f.l4Offset;
      nextHeader = f.protocol;
    } else {
      payloadStart = 40;
      nextHeader = packet[6]!;
    }
    const payloadLength = f.length - payloadStart;
    const t = sa.transform;
    const pad = espPadLength(payloadLength, t.blockSize);
    const ptLength = payloadLength + pad + 2;
    const total = ESP_HEADER + t.ivLength + ptLength + t.icvLength;
    const buf = out ?? this.txBuf;
    if (total > buf.length || payloadLength > this.maxPacket) return this.txDrop("too_big", sa);
    if (!this.nextSeq(sa)) return this.txDrop("seq_overflow", sa);
    writeEspHeader(buf, sa.spi, sa.seqLo);
    const start = ESP_HEADER + t.ivLength;
    buf.set(packet.subarray(payloadStart, f.length), start);
    writeEspTrailer(buf, start + payloadLength, pad, nextHeader);
    const n = t.seal(buf, ptLength, sa.seqHi, sa.seqLo);
    return this.sent(sa, buf.subarray(0, n), payloadLength, now);
  }

  /** Takes the next outbound sequence number; false when exhausted (never wraps, RFC 4303 §3.3.3). */
  private nextSeq(sa: OutboundSa): boolean {
    if (sa.seqLo === MAX_U32) {
      if (!sa.esn || sa.seqHi === MAX_U32) {
        if (!sa.seqExhausted) {
          sa.seqExhausted = true;
          this.emit({ kind: "seq-overflow", sa: sa.id, spi: sa.spi });
        }
        return false;
      }
      sa.seqHi++;
      sa.seqLo = 0;
    } else {
      sa.seqLo++;
    }
    return true;
  }

  /** Accounting and the send result of a sealed packet. */
  private sent(
    sa: OutboundSa,
    data: Uint8Array,
    payloadLength: number,
    now: number,
  ): OutboundResult {
    sa.stats.packets++;
    sa.stats.bytes += payloadLength;
    sa.stats.lastUsed = now;
    if (
      !sa.rekeyWarned &&
      (sa.esn ? sa.seqHi === MAX_U32 : true) &&
      sa.seqLo >= MAX_U32 - SEQ_REKEY_MARGIN
    ) {
      sa.rekeyWarned = true;
      this.emit({ kind: "rekey-needed", sa: sa.id, spi: sa.spi, reason: "sequence" });
    }
    this.checkLifetime(sa, now);
    if (sa.peer !== undefined)
      return {
        ok: true,
        action: "send",
        sa: sa.id,
        spi: sa.spi,
        data,
        address: sa.peer.address,
        port: sa.peer.port,
      };
    return { ok: true, action: "send", sa: sa.id, spi: sa.spi, data, address: sa.remote };
  }

  /**
   * Encapsulates an upper-layer payload on `localTransport` SA `id`: `head` then `body` are the
   * ESP payload (e.g. a UDP header and an L2TP datagram), `nextHeader` its protocol. No IP
   * header is built or parsed; two parts so that the caller need not join them first.
   */
  protectPayload(
    id: number,
    nextHeader: number,
    head: Uint8Array,
    body: Uint8Array,
    now: number,
    out?: Uint8Array,
  ): OutboundResult {
    const sa = this.byId.get(id);
    if (sa === undefined || sa.direction !== "out") return this.txDrop("no_sa", undefined);
    if (!sa.localTransport) return this.txDrop("bad_packet", sa);
    if (sa.hardFired) return this.txDrop("sa_expired", sa);
    const payloadLength = head.length + body.length;
    const t = sa.transform;
    const pad = espPadLength(payloadLength, t.blockSize);
    const ptLength = payloadLength + pad + 2;
    const total = ESP_HEADER + t.ivLength + ptLength + t.icvLength;
    const buf = out ?? this.txBuf;
    if (total > buf.length || payloadLength > this.maxPacket) return this.txDrop("too_big", sa);
    if (!this.nextSeq(sa)) return this.txDrop("seq_overflow", sa);
    writeEspHeader(buf, sa.spi, sa.seqLo);
    const start = ESP_HEADER + t.ivLength;
    buf.set(head, start);
    buf.set(body, start + head.length);
    writeEspTrailer(buf, start + payloadLength, pad, nextHeader);
    const n = t.seal(buf, ptLength, sa.seqHi, sa.seqLo);
    return this.sent(sa, buf.subarray(0, n), payloadLength, now);
  }

  // ---------------------------------------------------------------- inbound

  private rxDrop(
    reason: EspDropReason,
    spi: Spi | undefined,
    from: { address: string; port?: number } | undefined,
    sa?: Sa,
  ): InboundResult {
    this.deps.counters.incLabeled("esp_rx_drop", "reason", reason);
    if (sa !== undefined) sa.stats.drops++;
    this.deps.logger.debug("esp inbound drop", {
      reason,
      ...(spi === undefined ? {} : { spi: hex8(spi) }),
      ...(from === undefined
        ? {}
        : { peer: from.port === undefined ? from.address : `${from.address}:${from.port}` }),
    });
    return spi === undefined ? { ok: false, reason } : { ok: false, reason, spi };
  }

  /**
   * Processes one ESP packet (SPI first: the UDP payload of a NAT-T datagram classified as ESP,
   * or the IP payload of a protocol-50 packet). `from` is where it came from (port for UDP).
   * The inner packet is written to `out` (or an internal buffer) and returned as a view.
   */
  inbound(
    esp: Uint8Array,
    from: { readonly address: string; readonly port?: number },
    now: number,
    out?: Uint8Array,
  ): InboundResult {
    if (esp.length < ESP_HEADER) return this.rxDrop("truncated", undefined, from);
    const spi = espSpi(esp);
    const sa = this.inboundBySpi.get(spi);
    if (sa === undefined) return this.rxDrop("unknown_spi", spi, from);
    if (sa.hardFired) return this.rxDrop("sa_expired", spi, from, sa);
    const t = sa.transform;
    if (esp.length < sa.minLength) return this.rxDrop("truncated", spi, from, sa);
    const ctLength = esp.length - ESP_HEADER - t.ivLength - t.icvLength;
    if (ctLength % t.blockSize !== 0) return this.rxDrop("bad_length", spi, from, sa);
    const seqLo = espSeq(esp);
    let seqHi = 0;
    const replay = sa.replay;
    if (replay !== undefined) {
      const v = replay.check(seqLo);
      if (v !== REPLAY_OK) {
        sa.stats.replayDrops++;
        return this.rxDrop(v === REPLAY_DUPLICATE ? "replayed" : "outside_window", spi, from, sa);
      }
      seqHi = replay.seqHi;
    }
    const buf = out ?? this.rxBuf;
    // Leave room for a rebuilt IPv6 header in front of a transport-mode payload.
    const headroom = 40;
    if (buf.length < headroom + ctLength) return this.rxDrop("too_big", spi, from, sa);
    const n = t.open(esp, seqHi, buf, headroom);
    if (n < 0) {
      sa.stats.icvFailures++;
      return this.rxDrop("bad_icv", spi, from, sa);
    }
    // Authenticated: now the window may move (RFC 4303 §3.4.3).
    const newest = replay?.update(seqHi, seqLo) ?? false;
    const padLength = buf[headroom + n - 2]!;
    const nextHeader = buf[headroom + n - 1]!;
    const payloadLength = n - 2 - padLength;
    if (payloadLength < 0 || !isDefaultPadding(buf, headroom + payloadLength, padLength)) {
      return this.rxDrop("bad_padding", spi, from, sa);
    }
    if (nextHeader === IpProtocol.IPv6NoNxt) return this.rxDrop("dummy_packet", spi, from, sa);
    let packet: Uint8Array;
    const f = this.fields;
    if (sa.mode === "tunnel") {
      if (nextHeader !== IpProtocol.IPv4 && nextHeader !== IpProtocol.IPv6)
        return this.rxDrop("bad_next_header", spi, from, sa);
      const inner = buf.subarray(headroom, headroom + payloadLength);
      if (!readPacketFields(inner, f) || (f.version === 4) !== (nextHeader === IpProtocol.IPv4)) {
        return this.rxDrop("bad_inner_packet", spi, from, sa);
      }
      // Anything after the inner packet's own length is TFC padding (RFC 4303 §2.7).
      packet = inner.subarray(0, f.length);
    } else if (sa.localTransport) {
      packet = buf.subarray(headroom, headroom + payloadLength);
      sa.stats.packets++;
      sa.stats.bytes += payloadLength;
      sa.stats.lastUsed = now;
      this.checkLifetime(sa, now);
      const peerChanged = this.peerChanged(sa, from, newest);
      return {
        ok: true,
        sa: sa.id,
        spi: sa.spi,
        mode: sa.mode,
        packet,
        nextHeader,
        peerChanged,
        payloadOnly: true,
      };
    } else {
      packet = this.rebuildTransport(sa, buf, headroom, payloadLength, nextHeader);
      if (!readPacketFields(packet, f)) return this.rxDrop("bad_inner_packet", spi, from, sa);
      if (sa.checksumFix !== "none") this.fixChecksum(sa, packet, f);
    }
    if (!selectorMatches(sa.selector, packet, f, false))
      return this.rxDrop("policy_mismatch", spi, from, sa);
    sa.stats.packets++;
    sa.stats.bytes += payloadLength;
    sa.stats.lastUsed = now;
    this.checkLifetime(sa, now);
    const peerChanged = this.peerChanged(sa, from, newest);
    return {
      ok: true,
      sa: sa.id,
      spi: sa.spi,
      mode: sa.mode,
      packet,
      nextHeader,
      peerChanged,
      payloadOnly: false,
    };
  }

  /**
   * A UDP-encapsulated SA's packet came from another address:port. It counts only for a packet
   * that cannot be a replay or a delayed copy: it passed ICV and the anti-replay window and is
   * the newest seen (`newest`), so another client that captured this peer's packets cannot
   * pull the SA to its own NAT mapping.
   */
  private peerChanged(
    sa: Sa,
    from: { readonly address: string; readonly port?: number },
    newest: boolean,
  ): boolean {
    return (
      newest &&
      sa.peer !== undefined &&
      (sa.peer.address !== from.address || (from.port !== undefined && sa.peer.port !== from.port))
    );
  }

  /** Prepends an IP header (remote -> local) to the transport payload at buf[at..at+len). */
  private rebuildTransport(
    sa: Sa,
    buf: Uint8Array,
    at: number,
    len: number,
    nextHeader: number,
  ): Uint8Array {
    if (sa.localBytes.length === 4) {
      const h = at - 20;
      const total = 20 + len;
      buf[h] = 0x45;
      buf[h + 1] = 0;
      buf[h + 2] = total >> 8;
      buf[h + 3] = total & 0xff;
      buf[h + 4] = 0;
      buf[h + 5] = 0;
      buf[h + 6] = 0x40; // DF
      buf[h + 7] = 0;
      buf[h + 8] = 64;
      buf[h + 9] = nextHeader;
      buf.set(sa.remoteBytes, h + 12);
      buf.set(sa.localBytes, h + 16);
      fillIpv4HeaderChecksum(buf.subarray(h, h + 20));
      return buf.subarray(h, h + total);
    }
    const h = at - 40;
    buf[h] = 0x60;
    buf[h + 1] = 0;
    buf[h + 2] = 0;
    buf[h + 3] = 0;
    buf[h + 4] = len >> 8;
    buf[h + 5] = len & 0xff;
    buf[h + 6] = nextHeader;
    buf[h + 7] = 64;
    buf.set(sa.remoteBytes, h + 8);
    buf.set(sa.localBytes, h + 24);
    return buf.subarray(h, h + 40 + len);
  }

  /**
   * RFC 3948 §3.1.2: the peer computed its TCP/UDP checksum with its own (pre-NAT) addresses;
   * fix it for the addresses of the rebuilt header, incrementally from NAT-OA, or recompute.
   */
  private fixChecksum(sa: Sa, packet: Uint8Array, f: PacketFields): void {
    const proto = f.protocol;
    if (proto !== IpProtocol.TCP && proto !== IpProtocol.UDP) return;
    const seg = packet.subarray(f.l4Offset, f.length);
    const field = proto === IpProtocol.TCP ? 16 : 6;
    if (seg.length < field + 2) return;
    const current = (seg[field]! << 8) | seg[field + 1]!;
    // A zero UDP checksum over IPv4 means "not computed": leave it so.
    if (proto === IpProtocol.UDP && current === 0 && f.addrLength === 4) return;
    const src = packet.subarray(f.srcOffset, f.srcOffset + f.addrLength);
    const dst = packet.subarray(f.dstOffset, f.dstOffset + f.addrLength);
    let c: number;
    if (
      sa.checksumFix === "incremental" &&
      sa.natOaRemote !== undefined &&
      sa.natOaLocal !== undefined &&
      sa.natOaRemote.length === f.addrLength
    ) {
      c = checksumUpdateBytes(current, sa.natOaRemote, src);
      c = checksumUpdateBytes(c, sa.natOaLocal, dst);
      if (proto === IpProtocol.UDP && c === 0) c = 0xffff;
    } else {
      c = proto === IpProtocol.TCP ? tcpChecksum(src, dst, seg) : udpChecksum(src, dst, seg);
    }
    seg[field] = c >> 8;
    seg[field + 1] = c & 0xff;
  }
}
