/**
 * IKEv1 fragmentation (the Cisco/Microsoft scheme Windows, racoon and strongSwan speak; wire
 * format in wire/isakmp/fragment.ts), both roles, sans-IO.
 *
 * Why: with certificates, MM5/MM6 carry the chain and a signature — 4-6 kB with 4096-bit RSA —
 * so the UDP datagram is IP-fragmented, and many paths (NATs, firewalls, some carriers) drop IP
 * fragments. IKE-level fragments are whole datagrams that fit the path.
 *
 * Receiving (`FragmentHandler.receive`): a carrier (Next Payload 132) is accepted only for an
 * IKE SA we know by its cookie pair (a fragment of an unknown exchange is dropped), reassembled
 * per SA and peer endpoint, and the whole message goes through the normal dispatch (duplicate
 * detection included). `Reassembler` keeps the limits: fragments per message, bytes per
 * message, pending reassemblies per peer address, bytes buffered in total, and a deadline per
 * reassembly (the engine's clock, checked by a timer). Hostile input — a fragment number
 * beyond the limit or beyond the LAST one, two different LAST numbers, a duplicate number with
 * different content, a message too large — discards the reassembly; each drop is counted as
 * `ike_drop{reason="fragment_…"}` and logged.
 *
 * Sending (`FragmentHandler.outgoing`): when fragmentation is on, the peer announced it (its
 * FRAGMENTATION VID) and the datagram would exceed `fragmentSize` (the IP datagram, like
 * strongSwan's fragment_size), the message is cut into carriers that fit; a retransmission of
 * the same message reuses its Fragment ID (so the peer can merge pieces of both tries).
 *
 * Left out: fragmenting MM1 (sent before we know whether the peer understands fragments), and
 * strongSwan's special case of fragmenting towards Windows only messages with certificates
 * (our only messages over the default size are the ones with certificates).
 */
import { PayloadType, parseIkeFragment, splitIntoFragments } from "../wire/isakmp/index.js";
import type { Counters } from "../obs/counters.js";
import type { Logger } from "../obs/log.js";
import type { IkeConfig } from "./config.js";
import type { IkeSa } from "./ike-sa.js";
import { type Endpoint, endpointKey, type IkeDatagram } from "./types.js";

export interface FragmentationConfig {
  /** Announce the FRAGMENTATION vendor ID, accept fragments and send them. Default on. */
  readonly enabled: boolean;
  /**
   * Largest IP datagram (IP + UDP headers included) we send; bigger messages go in fragments
   * when the peer supports them. Default 1280: the IPv6 minimum MTU, strongSwan's default, and
   * below every common tunnel or PPPoE path (1400-1492), yet 4 kB of certificates take only 4
   * fragments.
   */
  readonly fragmentSize: number;
  /** Fragments per message we accept (the wire allows 255). */
  readonly maxFragments: number;
  /** Size of a reassembled message we accept. */
  readonly maxMessageBytes: number;
  /** Reassemblies pending at once from one peer address (clients behind one NAT share it). */
  readonly maxPendingPerPeer: number;
  /** Bytes held in all pending reassemblies together. */
  readonly maxBufferedBytes: number;
  /** A reassembly not complete after this long is dropped (longer than a retransmission). */
  readonly timeoutMs: number;
}

export const DEFAULT_FRAGMENTATION: FragmentationConfig = {
  enabled: true,
  fragmentSize: 1280,
  maxFragments: 64,
  // 32 kB: a chain of a dozen 4096-bit certificates; strongSwan caps whole messages at 10000.
  maxMessageBytes: 32 * 1024,
  maxPendingPerPeer: 4,
  maxBufferedBytes: 4 * 1024 * 1024,
  timeoutMs: 15_000,
};

/** Smallest fragmentSize: the IPv4 minimum reassembly size (RFC 791). */
export const MIN_FRAGMENT_SIZE = 576;

export function fragmentationConfig(c: IkeConfig): FragmentationConfig {
  const f = { ...DEFAULT_FRAGMENTATION, ...c.fragmentation };
  return {
    ...f,
    fragmentSize: Math.min(65_535, Math.max(MIN_FRAGMENT_SIZE, Math.floor(f.fragmentSize))),
  };
}

/** Problems in the configuration, for the engine's start-up warnings. */
export function fragmentationProblems(c: IkeConfig): string[] {
  const s = c.fragmentation?.fragmentSize;
  if (s === undefined || (s >= MIN_FRAGMENT_SIZE && s <= 65_535)) return [];
  return [
    `fragmentation.fragmentSize ${s} is outside ${MIN_FRAGMENT_SIZE}..65535: using ${fragmentationConfig(c).fragmentSize}`,
  ];
}

// ------------------------------------------------------------------------------------------
// Reassembly (pure: time is an argument)

export type FragmentDropReason =
  | "fragment_too_many"
  | "fragment_too_large"
  | "fragment_inconsistent"
  | "fragment_conflict"
  | "fragment_peer_limit"
  | "fragment_memory"
  | "fragment_timeout";

export interface FragmentIn {
  readonly fragmentId: number;
  readonly fragmentNumber: number;
  readonly last: boolean;
  readonly data: Uint8Array;
}

export type AddResult =
  | { readonly kind: "need-more"; readonly started: boolean }
  | { readonly kind: "duplicate" }
  | { readonly kind: "complete"; readonly message: Buffer; readonly fragments: number }
  | {
      readonly kind: "drop";
      readonly reason: FragmentDropReason;
      readonly detail: string;
      /** The pending reassembly was discarded with it. */
      readonly discarded: boolean;
    };

interface Pending {
  readonly peer: string;
  fragmentId: number;
  readonly pieces: Map<number, Buffer>;
  bytes: number;
  /** Number of the LAST fragment, once seen. */
  last: number | undefined;
  readonly deadline: number;
}

export interface ExpiredReassembly {
  readonly key: string;
  readonly peer: string;
  readonly received: readonly number[];
  readonly last: number | undefined;
  readonly bytes: number;
}

export class Reassembler {
  private readonly pending = new Map<string, Pending>();
  private readonly perPeer = new Map<string, number>();
  private buffered = 0;

  constructor(private limits: FragmentationConfig) {}

  /** New limits apply to fragments from now on (pending reassemblies are kept). */
  setLimits(limits: FragmentationConfig): void {
    this.limits = limits;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Adds one fragment of the message `key` (one IKE SA and peer endpoint) from `peer` (its
   * address). One reassembly per key: a new Fragment ID replaces the one pending.
   */
  add(key: string, peer: string, f: FragmentIn, now: number): AddResult {
    const L = this.limits;
    if (f.fragmentNumber > L.maxFragments) {
      return this.dropAll(
        key,
        "fragment_too_many",
        `fragment number ${f.fragmentNumber} over the limit of ${L.maxFragments}`,
      );
    }
    let started = false;
    let p = this.pending.get(key);
    if (p && p.fragmentId !== f.fragmentId) {
      this.remove(key, p);
      p = undefined;
    }
    if (!p) {
      if ((this.perPeer.get(peer) ?? 0) >= L.maxPendingPerPeer) {
        return {
          kind: "drop",
          reason: "fragment_peer_limit",
          detail: `${L.maxPendingPerPeer} fragmented messages from ${peer} already pending`,
          discarded: false,
        };
      }
      p = {
        peer,
        fragmentId: f.fragmentId,
        pieces: new Map(),
        bytes: 0,
        last: undefined,
        deadline: now + L.timeoutMs,
      };
      started = true;
      this.pending.set(key, p);
      this.perPeer.set(peer, (this.perPeer.get(peer) ?? 0) + 1);
    }
    const seen = p.pieces.get(f.fragmentNumber);
    if (seen) {
      if (seen.equals(f.data) && (!f.last || p.last === f.fragmentNumber))
        return { kind: "duplicate" };
      return this.dropAll(
        key,
        "fragment_conflict",
        `fragment ${f.fragmentNumber} arrived twice with different content`,
      );
    }
    if (f.last) {
      if (p.last !== undefined && p.last !== f.fragmentNumber) {
        return this.dropAll(
          key,
          "fragment_inconsistent",
          `two last fragments (${p.last} and ${f.fragmentNumber})`,
        );
      }
      const beyond = [...p.pieces.keys()].find((n) => n > f.fragmentNumber);
      if (beyond !== undefined) {
        return this.dropAll(
          key,
          "fragment_inconsistent",
          `fragment ${beyond} beyond the last one (${f.fragmentNumber})`,
        );
      }
      p.last = f.fragmentNumber;
    } else if (p.last !== undefined && f.fragmentNumber > p.last) {
      return this.dropAll(
        key,
        "fragment_inconsistent",
        `fragment ${f.fragmentNumber} beyond the last one (${p.last})`,
      );
    }
    if (p.bytes + f.data.length > L.maxMessageBytes) {
      return this.dropAll(
        key,
        "fragment_too_large",
        `message over ${L.maxMessageBytes} bytes (${p.bytes + f.data.length} so far)`,
      );
    }
    if (this.buffered + f.data.length > L.maxBufferedBytes) {
      const fresh = p.pieces.size === 0;
      if (fresh) this.remove(key, p);
      return {
        kind: "drop",
        reason: "fragment_memory",
        detail: `${this.buffered} bytes of fragments already buffered (limit ${L.maxBufferedBytes})`,
        discarded: fresh,
      };
    }
    // A copy: the datagram buffer may be reused by the receive loop.
    p.pieces.set(f.fragmentNumber, Buffer.from(f.data));
    p.bytes += f.data.length;
    this.buffered += f.data.length;
    if (p.last === undefined || p.pieces.size !== p.last) return { kind: "need-more", started };
    const parts: Buffer[] = [];
    for (let n = 1; n <= p.last; n++) parts.push(p.pieces.get(n)!);
    this.remove(key, p);
    return { kind: "complete", message: Buffer.concat(parts), fragments: parts.length };
  }

  /** Reassemblies whose deadline has passed, removed. */
  expire(now: number): ExpiredReassembly[] {
    const out: ExpiredReassembly[] = [];
    for (const [key, p] of this.pending) {
      if (p.deadline > now) continue;
      this.remove(key, p);
      out.push({
        key,
        peer: p.peer,
        received: [...p.pieces.keys()].sort((a, b) => a - b),
        last: p.last,
        bytes: p.bytes,
      });
    }
    return out;
  }

  /** Forgets every reassembly whose key starts with `prefix` (an IKE SA that went away). */
  forget(prefix: string): void {
    for (const [key, p] of this.pending) if (key.startsWith(prefix)) this.remove(key, p);
  }

  private dropAll(key: string, reason: FragmentDropReason, detail: string): AddResult {
    const p = this.pending.get(key);
    if (p) this.remove(key, p);
    return { kind: "drop", reason, detail, discarded: p !== undefined };
  }

  private remove(key: string, p: Pending): void {
    if (this.pending.get(key) !== p) return;
    this.pending.delete(key);
    this.buffered -= p.bytes;
    const n = (this.perPeer.get(p.peer) ?? 1) - 1;
    if (n <= 0) this.perPeer.delete(p.peer);
    else this.perPeer.set(p.peer, n);
  }
}

// ------------------------------------------------------------------------------------------
// The engine's side

/** What the handler needs from the engine (a subset of EngineContext). */
export interface FragmentHost {
  readonly config: IkeConfig;
  readonly counters: Counters;
  readonly log: Logger;
  readonly now: number;
  schedule(at: number, fn: () => void): () => void;
}

/** Bytes of IP + UDP (+ non-ESP marker on 4500) around an ISAKMP message. */
export function datagramOverhead(from: Endpoint, to: Endpoint): number {
  const ip = to.address.includes(":") ? 40 : 20;
  const marker = from.port === 4500 || to.port === 4500 ? 4 : 0;
  return ip + 8 + marker;
}

/** ISAKMP header + fragment payload header in every carrier. */
const CARRIER_OVERHEAD = 28 + 8;

interface SentMessage {
  readonly bytes: Buffer;
  readonly id: number;
  readonly parts: readonly Buffer[];
}

export class FragmentHandler {
  private readonly reassembler: Reassembler;
  private limits: FragmentationConfig;
  private readonly sent = new WeakMap<IkeSa, SentMessage>();
  private readonly nextId = new WeakMap<IkeSa, number>();
  private readonly warnedDisabled = new WeakSet<IkeSa>();
  private readonly hinted = new WeakSet<IkeSa>();

  constructor(private readonly host: FragmentHost) {
    this.limits = fragmentationConfig(host.config);
    this.reassembler = new Reassembler(this.limits);
  }

  /** The configuration in effect (follows live reconfiguration for new decisions). */
  get config(): FragmentationConfig {
    const c = this.host.config.fragmentation;
    if (c !== undefined && c !== this.lastSeen) {
      this.lastSeen = c;
      this.limits = fragmentationConfig(this.host.config);
      this.reassembler.setLimits(this.limits);
    }
    return this.limits;
  }
  private lastSeen: IkeConfig["fragmentation"];

  get pendingReassemblies(): number {
    return this.reassembler.pendingCount;
  }

  /**
   * A fragment carrier arrived. Returns the datagram to dispatch when it completed a message,
   * else undefined (kept, or dropped with a counter and a log line). `findSa` looks an IKE SA
   * up by its cookie pair (hex).
   */
  receive(
    dg: IkeDatagram,
    findSa: (ckyI: string, ckyR: string) => IkeSa | undefined,
  ): Buffer | undefined {
    const h = this.host;
    const cfg = this.config;
    const from = endpointKey(dg.remote);
    const r = parseIkeFragment(dg.data);
    if (!r.ok) {
      this.drop("fragment_malformed");
      h.log.debug("malformed IKE fragment", { from, why: r.error.message });
      return undefined;
    }
    const f = r.value;
    const ckyI = f.header.initiatorCookie.toString("hex");
    const ckyR = f.header.responderCookie.toString("hex");
    const sa = /^0+$/.test(ckyR) ? undefined : findSa(ckyI, ckyR);
    if (!sa || sa.state === "DELETED") {
      // Spoofable: debug only, like any message for an unknown SA.
      this.drop("fragment_unknown_sa");
      h.log.debug("IKE fragment for no known IKE SA dropped", { from, cookies: `${ckyI}/${ckyR}` });
      return undefined;
    }
    if (!cfg.enabled) {
      this.drop("fragmentation_disabled");
      if (!this.warnedDisabled.has(sa)) {
        this.warnedDisabled.add(sa);
        sa.log.warn(
          "the peer sends IKE fragments but IKE fragmentation is off here: its message is dropped (turn fragmentation on to accept it)",
          { from },
        );
      }
      return undefined;
    }
    const key = `${ckyI}${ckyR}|${from}`;
    const res = this.reassembler.add(key, dg.remote.address, f, h.now);
    switch (res.kind) {
      case "need-more":
        h.counters.inc("ike_fragments_rx");
        if (res.started) this.armSweep();
        return undefined;
      case "duplicate":
        h.counters.inc("ike_fragments_rx");
        this.drop("fragment_duplicate");
        return undefined;
      case "drop":
        this.drop(res.reason);
        sa.log.warn(`IKE fragment dropped: ${res.detail}`, {
          from,
          reason: res.reason,
          fragmentId: f.fragmentId,
          fragment: f.fragmentNumber,
          ...(res.discarded ? { discarded: "the whole message" } : {}),
        });
        return undefined;
      case "complete": {
        h.counters.inc("ike_fragments_rx");
        h.counters.inc("ike_fragmented_messages_rx");
        const m = res.message;
        if (m.length < 28 || !m.subarray(0, 16).equals(dg.data.subarray(0, 16))) {
          this.drop("fragment_mismatch");
          sa.log.warn("reassembled IKE message dropped: its cookies differ from the fragments'", {
            from,
          });
          return undefined;
        }
        if (m[16] === PayloadType.FRAGMENT) {
          this.drop("fragment_nested");
          sa.log.warn("reassembled IKE message dropped: it is itself a fragment", { from });
          return undefined;
        }
        sa.log.debug("IKE message reassembled", {
          from,
          fragments: res.fragments,
          bytes: m.length,
        });
        return m;
      }
    }
  }

  /**
   * The datagrams to send for `bytes` from `from` to `to` on `sa`: the message itself, or
   * fragments when enabled, announced by the peer and the message exceeds fragmentSize.
   */
  outgoing(sa: IkeSa | undefined, from: Endpoint, to: Endpoint, bytes: Buffer): readonly Buffer[] {
    if (!sa) return [bytes];
    const cfg = this.config;
    const overhead = datagramOverhead(from, to);
    if (bytes.length + overhead <= cfg.fragmentSize) return [bytes];
    if (!cfg.enabled || !sa.vids.fragmentation || bytes.length < 28) return [bytes];
    const cached = this.sent.get(sa);
    if (cached?.bytes === bytes) {
      this.host.counters.inc("ike_fragments_tx", BigInt(cached.parts.length));
      return cached.parts;
    }
    const maxData = cfg.fragmentSize - overhead - CARRIER_OVERHEAD;
    if (Math.ceil(bytes.length / maxData) > 255) return [bytes];
    const id = this.nextId.get(sa) ?? 1;
    this.nextId.set(sa, id >= 0xffff ? 1 : id + 1);
    const parts = splitIntoFragments(bytes, id, maxData);
    this.sent.set(sa, { bytes, id, parts });
    this.host.counters.inc("ike_fragmented_messages_tx");
    this.host.counters.inc("ike_fragments_tx", BigInt(parts.length));
    sa.log.debug("sending an IKE message in fragments", {
      bytes: bytes.length,
      fragments: parts.length,
      fragmentId: id,
    });
    return parts;
  }

  /**
   * Why a large message may not have made it, for a failure message or a warning: empty when
   * fragmentation is not the likely cause. `bytes` is the message we sent (or undefined).
   */
  hint(sa: IkeSa, sentBytes: number | undefined): string {
    const cfg = this.config;
    const big =
      sentBytes !== undefined && sentBytes + datagramOverhead(sa.local, sa.peer) > cfg.fragmentSize;
    const usesCerts = sa.suite?.auth === "rsa-sig";
    if (!big && !usesCerts) return "";
    const fix = !cfg.enabled
      ? "IKE fragmentation is off here: turn it on"
      : !sa.vids.fragmentation
        ? "the peer did not announce IKE fragmentation: enable it there (strongSwan: fragmentation=yes)"
        : "both sides use IKE fragmentation: check the path for loss";
    const what = big
      ? `our ${sentBytes}-byte message went out as IP fragments, which this path may drop`
      : "a message with certificates is larger than one datagram, and a path that drops IP fragments loses it";
    return ` (${what}; ${fix})`;
  }

  /** The peer retransmits the message we answered: warn once when our answer was large. */
  peerRetransmits(sa: IkeSa, answerBytes: number | undefined): void {
    if (this.hinted.has(sa) || answerBytes === undefined) return;
    const h = this.hint(sa, answerBytes);
    if (!h || (this.config.enabled && sa.vids.fragmentation)) return;
    this.hinted.add(sa);
    sa.log.warn(`the peer keeps retransmitting: our answer may not reach it${h}`);
  }

  /** An IKE SA went away: its pending reassemblies with it. */
  forget(sa: IkeSa): void {
    this.reassembler.forget(`${sa.ckyIB.toString("hex")}${sa.ckyRB.toString("hex")}|`);
  }

  private armSweep(): void {
    const at = this.host.now + this.config.timeoutMs;
    this.host.schedule(at, () => this.sweep());
  }

  private sweep(): void {
    for (const e of this.reassembler.expire(this.host.now)) {
      this.drop("fragment_timeout");
      const missing =
        e.last === undefined
          ? "the last fragment never came"
          : `missing ${[...Array(e.last).keys()]
              .map((i) => i + 1)
              .filter((n) => !e.received.includes(n))
              .join(",")} of ${e.last}`;
      this.host.log.warn(
        `incomplete fragmented IKE message from ${e.peer} dropped after ${this.config.timeoutMs / 1000} s: ${missing}`,
        { received: e.received.join(","), bytes: e.bytes },
      );
    }
  }

  private drop(reason: string): void {
    this.host.counters.incLabeled("ike_drop", "reason", reason);
  }
}
