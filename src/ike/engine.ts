/**
 * The IKEv1 engine (RFC 2408/2409 with RFC 3947/3948 NAT-T and RFC 3706 DPD), sans-IO
 * (DESIGN rule 4): an engine object whose `handle*(…, now)` methods and commands return the
 * actions to perform (types.ts). It owns the tables (IKE SAs by cookies, child SAs by SPI),
 * the timer queue, retransmission, lifetimes and rekeying, DPD and NAT keepalives; the
 * exchanges themselves live in exchanges/ (main-mode, quick-mode, informational), which see
 * the engine only through EngineContext.
 *
 * Demultiplexing: messages are matched to IKE SAs by cookie pair; a first message (responder
 * cookie zero) by initiator cookie AND the peer's address:port, so many clients behind one NAT
 * address (distinct ports) never collide even with equal private addresses and identities.
 * Duplicated requests are answered from the cached response (raw-byte comparison before any
 * decryption), once established only towards the peer's current endpoint. A peer whose NAT
 * mapping changes is followed only on evidence that cannot be replayed: a fresh DPD exchange
 * from the new endpoint on UDP 4500, or ESP that passed ICV and anti-replay (`peerMoved`);
 * liveness.ts has the rules.
 *
 * Half-open responder SAs (spoofable MM1s) are budgeted by half-open.ts.
 *
 * Rekeying: the side that created a child SA rekeys it `rekeyMargin` before its lifetime ends
 * (new SA installed before the old is removed; the old one is then deleted with a Delete
 * notify), except towards a Windows peer behind NAT (MS NT5 ISAKMPOAKLEY VID: it rekeys
 * itself and refuses server-initiated rekeys). The initiator of an IKE SA
 * starts a new Main Mode before the phase-1 lifetime ends; child SAs move to the new IKE SA.
 * Authentication: pre-shared keys or RSA signatures with X.509 certificates (main-mode.ts,
 * exchanges/cert-auth.ts; certificate validity uses config.wallClock, not `now`).
 * Aggressive Mode: responder only, PSK, when config.aggressiveMode is on (exchanges/
 * aggressive-mode.ts; a warning at start); off, AM1 is dropped and counted
 * (ike_drop{reason="aggressive_mode"}).
 * Child SAs (table, install, KEYMAT, rekey) are in child-sas.ts; an established SA's timers
 * (lifetime, DPD, keepalives) in sa-timers.ts.
 * IKEv1 fragmentation (fragments.ts): carriers are reassembled before dispatch; large messages
 * to peers that announced it leave in fragments (send/sendFrom).
 * Left out: Aggressive Mode initiator.
 */
import { DeadlineHeap } from "../base/deadline-heap.js";
import { randomBytes, randomFillSync } from "node:crypto";
import type { DhGroup, DhKeyPair } from "../crypto/index.js";
import { Counters } from "../obs/counters.js";
import { type Logger, nullLogger } from "../obs/log.js";
import type { InboundSpi, OutboundSpi, Spi } from "../wire/esp/esp.js";
import {
  ExchangeType,
  type IsakmpMessageId,
  isakmpMessageId,
  isFragmentCarrier,
  NotifyType,
  ProtocolId,
  parseIsakmpMessage,
  ZERO_COOKIE,
} from "../wire/isakmp/index.js";
import { AGGRESSIVE_MODE_WARNING, type IkeConfig } from "./config.js";
import { FragmentHandler, fragmentationProblems } from "./fragments.js";

import { type CertContext, loadCertContext } from "./exchanges/cert-auth.js";
import { IkeErrorCode, type IkeFailure, failure } from "./errors.js";
import {
  handleInformational,
  sendDeleteEsp,
  sendDeleteIke,
  sendProtectedNotify,
} from "./exchanges/informational.js";
import {
  initiatorMm2,
  initiatorMm4,
  initiatorMm6,
  responderMm1,
  responderMm3,
  responderMm5,
  startMainMode,
} from "./exchanges/main-mode.js";
import { handleQuickMode, startQuick } from "./exchanges/quick-mode.js";
import { responderAm1, responderAm3 } from "./exchanges/aggressive-mode.js";
import { type ChildSa, cookieHex, type IkeSa, type QuickExchange } from "./ike-sa.js";
import { sameMessage } from "./half-open.js";
import { followPeer, heard } from "./liveness.js";
import { SaTable } from "./sa-table.js";
import {
  ChildSaTable,
  type ChildSaHost,
  installChild,
  maybeRekey,
  suiteName,
} from "./child-sas.js";
import { spiBytes } from "./exchanges/common.js";
import { armSaTimers, type SaTimerHost } from "./sa-timers.js";
import type { IkeAuth } from "./suites.js";

import {
  type ChildRequest,
  type Endpoint,
  type EspLifetimeEvent,
  endpointKey,
  type IkeAction,
  type IkeDatagram,
  type IkeEvent,
  type IkeStage,
  type InitiateRequest,
  type PeerOffer,
  sameEndpoint,
} from "./types.js";

const AUTH_TEXT: Readonly<Record<IkeAuth, string>> = {
  psk: "pre-shared key",
  "rsa-sig": "RSA signature",
  "ecdsa-256": "ECDSA-256 signature",
  "ecdsa-384": "ECDSA-384 signature",
  "ecdsa-521": "ECDSA-521 signature",
};

export interface IkeEngineDeps {
  readonly logger?: Logger;
  readonly counters?: Counters;
  /**
   * Random octets (cookies, nonces, SPIs, message IDs). Default: node:crypto's CSPRNG, drawn
   * in 4 KiB blocks (pooledRandom).
   */
  readonly random?: (n: number) => Buffer;
  /** DH key pairs; default: the group's generate() (OpenSSL RNG). */
  readonly newDh?: (g: DhGroup) => DhKeyPair;
}

export interface IkeSaInfo {
  readonly id: number;
  readonly role: "initiator" | "responder";
  readonly state: string;
  readonly cookies: string;
  readonly local: Endpoint;
  readonly peer: Endpoint;
  readonly peerId: string;
  readonly suite: string;
  readonly nat: {
    readonly method: string;
    readonly localBehindNat: boolean;
    readonly peerBehindNat: boolean;
  };
  readonly dpd: boolean;
  readonly peerRekeys: boolean;
  readonly children: readonly number[];
}

export interface ChildSaInfo {
  readonly id: number;
  readonly ikeSaId: number;
  readonly mode: "transport" | "tunnel";
  readonly suite: string;
  readonly inboundSpi: InboundSpi;
  readonly outboundSpi: OutboundSpi;
  readonly local: string;
  readonly remote: string;
  readonly installedAt: number;
  readonly expiresAt: number;
}

/**
 * node:crypto's CSPRNG read 4 KiB at a time: a handshake asks for five small values (cookie,
 * nonce, SPI, ...), each a separate randomBytes call otherwise. Every caller gets its own copy;
 * the values are public (they go on the wire), private DH values come from OpenSSL directly.
 */
function pooledRandom(): (n: number) => Buffer {
  const pool = Buffer.alloc(4096);
  let off = pool.length;
  return (n) => {
    if (n > 256) return randomBytes(n);
    if (off + n > pool.length) {
      randomFillSync(pool);
      off = 0;
    }
    const out = Buffer.from(pool.subarray(off, off + n));
    pool.fill(0, off, off + n);
    off += n;
    return out;
  };
}

/** How long a rekeyed child SA stays installed next to its successor. */

export class IkeEngine implements ChildSaHost, SaTimerHost {
  readonly counters: Counters;
  readonly log: Logger;
  readonly table: SaTable<IkeSa>;
  readonly sas = new Map<number, IkeSa>();
  /** Established SAs by peer identity (INITIAL-CONTACT looks here, not through every SA). */
  private readonly byPeerId = new Map<string, Set<IkeSa>>();
  readonly childTable = new ChildSaTable();
  private readonly timers = new DeadlineHeap<() => void>();
  private out: IkeAction[] = [];
  private saSerial = 0;
  private readonly rand: (n: number) => Buffer;
  private readonly dh: (g: DhGroup) => DhKeyPair;
  private readonly wall: () => number;
  now = 0;
  /** Our certificate, key, CAs and CRLs; reloaded by `reconfigure` when they change. */
  certs: CertContext | undefined;
  /**
   * Configuration warnings for the operator, also logged at start: Aggressive Mode enabled
   * (AGGRESSIVE_MODE_WARNING), unusable certificate configuration.
   */
  readonly startupWarnings: readonly string[];

  private currentConfig: IkeConfig;
  private readonly fragments: FragmentHandler;

  /** The configuration new exchanges use (see reconfigure). */
  get config(): IkeConfig {
    return this.currentConfig;
  }

  /**
   * A live policy change: new exchanges use `c` — offers, PSKs, certificates, CAs and CRLs,
   * NAT-T and DPD settings; established SAs keep what they negotiated until they rekey. The
   * certificate configuration is parsed again only when it changed; its problems are logged.
   */
  reconfigure(c: IkeConfig): void {
    const before = this.currentConfig.certificates;
    this.currentConfig = c;
    if (!sameCertificates(before, c.certificates)) {
      this.certs = loadCertContext(c);
      if (this.certs && this.certs.problems.length > 0)
        this.log.warn(`certificate authentication is disabled: ${this.certs.problems.join("; ")}`);
      for (const w of this.certs?.warnings ?? []) this.log.warn(w);
    }
  }

  constructor(config: IkeConfig, deps: IkeEngineDeps = {}) {
    this.currentConfig = config;
    this.counters = deps.counters ?? new Counters();
    this.log = deps.logger ?? nullLogger;
    this.rand = deps.random ?? pooledRandom();
    this.dh = deps.newDh ?? ((g) => g.generate());
    this.wall = config.wallClock ?? (() => Date.now());
    this.table = new SaTable<IkeSa>(config.table);
    this.certs = loadCertContext(config);
    this.fragments = new FragmentHandler(this);
    const warnings: string[] = [...fragmentationProblems(config), ...(this.certs?.warnings ?? [])];
    if (config.aggressiveMode) warnings.push(AGGRESSIVE_MODE_WARNING);
    if (this.certs && this.certs.problems.length > 0)
      warnings.push(`certificate authentication is disabled: ${this.certs.problems.join("; ")}`);
    this.startupWarnings = warnings;
    for (const w of warnings) this.log.warn(w);
  }

  wallNow(): number {
    return this.wall();
  }

  // ----------------------------------------------------------------------------------------
  // Inputs

  /** A datagram from UDP 500 or 4500 (non-ESP marker already removed). Never throws. */
  handleDatagram(dg: IkeDatagram, now: number): IkeAction[] {
    return this.run(now, () => this.dispatch(dg));
  }

  /** Runs every timer due at `now`. */
  handleTimer(now: number): IkeAction[] {
    return this.run(now, () => {
      for (;;) {
        const due = this.timers.popDue(now);
        if (!due) break;
        due.item();
      }
    });
  }

  /** Starts Main Mode (if no IKE SA to the peer is up) and a Quick Mode for `phase2`. */
  initiate(req: InitiateRequest, now: number): IkeAction[] {
    return this.run(now, () => {
      const local = this.config.localAddress;
      if (!local) {
        this.fail(
          "main-mode",
          failure(IkeErrorCode.BadRequest, "initiate: no localAddress configured"),
          req.peer,
        );
        return;
      }
      const est = this.findSaToPeer(req.peer.address, true);
      if (est) {
        if (req.phase2) startQuick(this, est, req.phase2);
        return;
      }
      const half = this.findSaToPeer(req.peer.address, false);
      if (half) {
        if (req.phase2) half.waiting.push({ request: req.phase2 });
        return;
      }
      const sa = startMainMode(this, { address: local, port: 500 }, req.peer);
      if (req.phase2) sa.waiting.push({ request: req.phase2 });
    });
  }

  /**
   * Starts a Quick Mode on an established IKE SA, whichever side began Main Mode (RFC 2409 §5.5
   * lets either peer start one). Nothing happens for an unknown or unestablished SA.
   */
  initiateQuickMode(ikeSaId: number, request: ChildRequest, now: number): IkeAction[] {
    return this.run(now, () => {
      const sa = this.sas.get(ikeSaId);
      if (sa?.state === "ESTABLISHED") startQuick(this, sa, request);
    });
  }

  /** Deletes an IKE SA and its child SAs, telling the peer. */
  deleteIkeSaCommand(ikeSaId: number, now: number): IkeAction[] {
    return this.run(now, () => {
      const sa = this.sas.get(ikeSaId);
      if (sa) this.deleteIkeSa(sa, "deleted by the operator", true, true);
    });
  }

  /** Deletes one child SA, telling the peer. */
  deleteChildSaCommand(childId: number, now: number): IkeAction[] {
    return this.run(now, () => {
      const c = this.children.get(childId);
      if (c) this.deleteChild(c, "deleted by the operator", true);
    });
  }

  /** An ESP data-plane event (src/esp EspEvent): soft expiry rekeys, hard expiry deletes. */
  handleEspEvent(ev: EspLifetimeEvent, now: number): IkeAction[] {
    return this.run(now, () => {
      const child = this.childTable.get(ev.childId);
      if (!child) return;
      if (ev.kind === "hard-expire") this.deleteChild(child, `ESP ${ev.kind}`, true);
      else maybeRekey(this, child);
    });
  }

  /**
   * The data plane saw an ESP packet for `inboundSpi` from a new endpoint that passed ICV and
   * anti-replay as the newest (src/esp peerChanged): evidence that cannot be replayed.
   */
  peerMoved(inboundSpi: InboundSpi, to: Endpoint, now: number): IkeAction[] {
    return this.run(now, () => {
      const c = this.childTable.byInbound(inboundSpi);
      const sa = c ? this.sas.get(c.ikeSaId) : undefined;
      if (!sa) return;
      heard(this, sa);
      followPeer(this, sa, { address: sa.local.address, port: 4500 }, to);
    });
  }

  /**
   * ESP with an SPI we do not know arrived from `from`: tell that peer with a protected
   * INVALID-SPI notify (RFC 2408 §3.14.1) over its IKE SA, at most once per 10 s per SA.
   */
  espUnknownSpi(spi: Spi, from: Endpoint, now: number): IkeAction[] {
    return this.run(now, () => {
      const sa = [...this.sas.values()].find(
        (x) =>
          x.state === "ESTABLISHED" && x.peer.address === from.address && x.peer.port === from.port,
      );
      if (!sa) return;
      const last = this.invalidSpiSent.get(sa.id) ?? Number.NEGATIVE_INFINITY;
      if (now - last < 10_000) return;
      this.invalidSpiSent.set(sa.id, now);
      sendProtectedNotify(
        this,
        sa,
        NotifyType.INVALID_SPI,
        ProtocolId.PROTO_IPSEC_ESP,
        spiBytes(spi),
      );
    });
  }

  private readonly invalidSpiSent = new Map<number, number>();

  /** Traffic arrived on a child SA (authenticated by ESP): the peer is alive (RFC 3706 §5.2). */
  noteActivity(inboundSpi: InboundSpi, now: number): void {
    const c = this.childTable.byInbound(inboundSpi);
    const sa = c ? this.sas.get(c.ikeSaId) : undefined;
    if (sa) {
      sa.lastHeard = Math.max(sa.lastHeard, now);
      sa.dpdOutstanding = 0;
    }
  }

  nextDeadline(): number | undefined {
    return this.timers.peek();
  }

  ikeSas(): IkeSaInfo[] {
    return [...this.sas.values()].map((sa) => ({
      id: sa.id,
      role: sa.role,
      state: sa.state,
      cookies: cookieHex(sa),
      local: sa.local,
      peer: sa.peer,
      peerId: sa.peerIdText,
      suite: sa.crypto?.name ?? "",
      nat: {
        method: sa.vids.natt,
        localBehindNat: sa.nat.localBehindNat,
        peerBehindNat: sa.nat.peerBehindNat,
      },
      dpd: sa.vids.dpd,
      peerRekeys: sa.vids.windows,
      children: [...sa.children],
    }));
  }

  childSas(): ChildSaInfo[] {
    return [...this.children.values()].map((c) => {
      const sa = this.sas.get(c.ikeSaId);
      return {
        id: c.id,
        ikeSaId: c.ikeSaId,
        mode: c.mode,
        suite: suiteName(c.suite),
        inboundSpi: c.inboundSpi,
        outboundSpi: c.outboundSpi,
        local: sa?.local.address ?? "",
        remote: sa?.peer.address ?? "",
        installedAt: c.installedAt,
        expiresAt: c.hardAt,
      };
    });
  }

  // ----------------------------------------------------------------------------------------
  // Dispatch

  private run(now: number, fn: () => void): IkeAction[] {
    this.now = now;
    this.out = [];
    try {
      fn();
    } catch (e) {
      // A bug: the receive loop never throws (DESIGN rule 6). Count, log, keep going.
      this.counters.incLabeled("ike_drop", "reason", "internal_error");
      this.log.error("internal error in the IKE engine", {
        error: e instanceof Error ? e.stack : String(e),
      });
    }
    const out = this.out;
    this.out = [];
    const next = this.timers.peek();
    if (next !== undefined) out.push({ kind: "timer", at: next });
    return out;
  }

  private dispatch(received: IkeDatagram): void {
    this.counters.inc("ike_rx");
    if (received.local.port !== 500 && received.local.port !== 4500) {
      this.counters.incLabeled("ike_drop", "reason", "bad_port");
      return;
    }
    let dg = received;
    if (isFragmentCarrier(dg.data)) {
      const whole = this.fragments.receive(dg, (i, r) => this.table.byCookiePair(i, r));
      if (!whole) return;
      dg = { ...dg, data: whole };
    }
    const p = parseIsakmpMessage(dg.data);
    if (!p.ok) {
      this.counters.incLabeled("ike_drop", "reason", "malformed");
      this.log.debug("malformed ISAKMP message", {
        from: endpointKey(dg.remote),
        why: p.error.message,
      });
      return;
    }
    const msg = p.value;
    const h = msg.header;
    const ckyI = h.initiatorCookie.toString("hex");
    const zeroR = h.responderCookie.equals(ZERO_COOKIE);
    const ckyR = h.responderCookie.toString("hex");
    const rkey = endpointKey(dg.remote);
    const find = (): IkeSa | undefined => {
      const byPair = zeroR ? undefined : this.table.byCookiePair(ckyI, ckyR);
      if (byPair) return byPair;
      const early = this.table.byInitiatorCookie(ckyI, rkey);
      return early && early.role === "initiator" && early.state === "I_MM1" ? early : undefined;
    };
    switch (h.exchangeType) {
      case ExchangeType.IDENTITY_PROTECTION: {
        if (zeroR) {
          const old = this.table.byInitiatorCookie(ckyI, rkey);
          if (old) {
            this.duplicate(old, dg);
            return;
          }
          if (msg.encrypted) {
            this.drop("mm1_encrypted");
            return;
          }
          responderMm1(this, msg, dg);
          return;
        }
        const sa = find();
        if (!sa) {
          this.drop("unknown_sa");
          return;
        }
        if (sa.role === "responder") {
          if (sameMessage(sa.lastIn, dg.data)) {
            this.duplicate(sa, dg);
            return;
          }
          if (sa.state === "R_MM2" && !msg.encrypted) {
            responderMm3(this, sa, msg, dg);
            return;
          }
          if (sa.state === "R_MM4" && msg.encrypted) {
            responderMm5(this, sa, msg, dg);
            return;
          }
          this.drop("mm_unexpected");
          return;
        }
        if (sameMessage(sa.lastIn, dg.data)) {
          this.drop("duplicate_response");
          return;
        }
        if (sa.state === "I_MM1" && !msg.encrypted) {
          initiatorMm2(this, sa, msg, dg);
          return;
        }
        if (sa.state === "I_MM3" && !msg.encrypted) {
          initiatorMm4(this, sa, msg, dg);
          return;
        }
        if (sa.state === "I_MM5" && msg.encrypted) {
          initiatorMm6(this, sa, msg);
          return;
        }
        this.drop("mm_unexpected");
        return;
      }
      case ExchangeType.QUICK_MODE: {
        const sa = find();
        if (sa?.state !== "ESTABLISHED") {
          this.drop("unknown_sa");
          return;
        }
        handleQuickMode(this, sa, msg, dg);
        return;
      }
      case ExchangeType.INFORMATIONAL: {
        const sa = find();
        if (!sa) {
          this.drop("unknown_sa");
          return;
        }
        handleInformational(this, sa, msg, dg);
        return;
      }
      case ExchangeType.AGGRESSIVE: {
        if (!this.config.aggressiveMode) {
          this.log.warn("Aggressive Mode request dropped: Aggressive Mode is not served", {
            from: rkey,
          });
          this.drop("aggressive_mode");
          return;
        }
        if (zeroR) {
          const old = this.table.byInitiatorCookie(ckyI, rkey);
          if (old) {
            this.duplicate(old, dg);
            return;
          }
          if (msg.encrypted) {
            this.drop("am1_encrypted");
            return;
          }
          responderAm1(this, msg, dg);
          return;
        }
        const sa = find();
        if (sa?.role !== "responder") {
          this.drop("unknown_sa");
          return;
        }
        if (sameMessage(sa.lastIn, dg.data)) {
          this.duplicate(sa, dg);
          return;
        }
        if (sa.state === "R_AM2") {
          responderAm3(this, sa, msg, dg);
          return;
        }
        this.drop("am_unexpected");
        return;
      }
      default: {
        this.drop("unsupported_exchange");
        return;
      }
    }
  }

  private duplicate(sa: IkeSa, dg: IkeDatagram): void {
    if (sa.state === "ESTABLISHED" && !sameEndpoint(dg.remote, sa.peer)) {
      this.drop("duplicate_other_endpoint");
      return;
    }
    if (sa.role === "responder" && sameMessage(sa.lastIn, dg.data) && sa.lastOut) {
      this.counters.inc("ike_retransmit_answered");
      this.fragments.peerRetransmits(sa, sa.lastOut.length);
      this.sendFrom(dg.local, dg.remote, sa.lastOut, sa);
      return;
    }
    this.drop("duplicate");
  }

  private drop(reason: string): void {
    this.counters.incLabeled("ike_drop", "reason", reason);
  }

  findSaToPeer(address: string, established: boolean): IkeSa | undefined {
    for (const sa of this.sas.values()) {
      if (sa.peer.address !== address || sa.role !== "initiator" || sa.state === "DELETED")
        continue;
      if (established === (sa.state === "ESTABLISHED") && !this.rekeying.has(sa.id)) return sa;
    }
    return undefined;
  }

  /** IKE SAs being replaced by a new Main Mode (soft lifetime). */
  readonly rekeying = new Set<number>();

  // ----------------------------------------------------------------------------------------
  // EngineContext

  random(n: number): Buffer {
    return this.rand(n);
  }

  newDh(g: DhGroup): DhKeyPair {
    return this.dh(g);
  }

  nextSaId(): number {
    return ++this.saSerial;
  }

  registerSa(sa: IkeSa): void {
    this.table.add(sa);
    this.sas.set(sa.id, sa);
  }

  newSpi(): InboundSpi {
    return this.childTable.reserveSpi(this.rand);
  }

  get children(): ReadonlyMap<number, ChildSa> {
    return this.childTable.all;
  }

  installChild(sa: IkeSa, ex: QuickExchange): void {
    installChild(this, sa, ex);
  }

  newMessageId(sa: IkeSa): IsakmpMessageId {
    for (;;) {
      const mid = isakmpMessageId(this.rand(4).readUInt32BE(0));
      if (mid !== 0 && !sa.quick.has(mid)) return mid;
    }
  }

  action(a: IkeAction): void {
    this.out.push(a);
  }

  emit(e: IkeEvent): void {
    this.out.push({ kind: "event", event: e });
  }

  send(sa: IkeSa, bytes: Buffer): void {
    this.sendFrom(sa.local, sa.peer, bytes, sa);
  }

  sendFrom(from: Endpoint, to: Endpoint, bytes: Buffer, sa?: IkeSa): void {
    for (const data of this.fragments.outgoing(sa, from, to, bytes)) {
      this.counters.inc("ike_tx");
      this.out.push({ kind: "send", data, from, to });
    }
  }

  /** Fragmented messages being reassembled (for tests and the monitor). */
  fragmentsPending(): number {
    return this.fragments.pendingReassemblies;
  }

  fragmentationHint(sa: IkeSa, sentBytes: number | undefined): string {
    return this.fragments.hint(sa, sentBytes);
  }

  schedule(at: number, fn: () => void): () => void {
    const h = this.timers.push(at, fn);
    return () => this.timers.cancel(h);
  }

  scheduleFor(sa: IkeSa, at: number, fn: () => void): void {
    const cancel = this.schedule(at, () => {
      sa.cancelTimers.delete(cancel);
      fn();
    });
    sa.cancelTimers.add(cancel);
  }

  retransmit(
    sa: IkeSa,
    bytes: Buffer,
    onGiveUp: () => void,
  ): { tries: number; cancel: () => void } {
    const cfg = this.config.retransmit;
    let tries = 0;
    let cancelled = false;
    let cancelTimer = (): void => {};
    const arm = (): void => {
      cancelTimer = this.schedule(this.now + cfg.initialMs * 2 ** tries, () => {
        if (cancelled || sa.state === "DELETED") return;
        if (tries >= cfg.tries) {
          cancel();
          onGiveUp();
          return;
        }
        tries++;
        this.counters.inc("ike_retransmit");
        sa.log.debug("retransmitting", { try: tries });
        this.send(sa, bytes);
        arm();
      });
    };
    arm();
    const cancel = (): void => {
      cancelled = true;
      cancelTimer();
      sa.cancelTimers.delete(cancel);
    };
    sa.cancelTimers.add(cancel);
    return { tries, cancel };
  }

  fail(
    stage: IkeStage,
    f: IkeFailure,
    peer: Endpoint,
    sa?: IkeSa,
    opts?: { keepSa?: boolean; offer?: PeerOffer },
  ): void {
    this.counters.incLabeled("ike_fail", "reason", f.code);
    (sa?.log ?? this.log).warn(f.message, { code: f.code, stage });
    // Diagnostics: what the peer offered (given by the exchange) and its vendor IDs / NAT state.
    const offer: PeerOffer | undefined =
      opts?.offer || sa
        ? {
            ...opts?.offer,
            ...(sa && !opts?.offer?.vendorIds ? { vendorIds: sa.vids.names } : {}),
            ...(sa && stage === "quick-mode" ? { nat: sa.nat.anyNat } : {}),
          }
        : undefined;
    this.emit({
      type: "failed",
      stage,
      code: f.code,
      message: f.message,
      peer,
      ...(sa ? { ikeSaId: sa.id } : {}),
      ...(offer ? { offer } : {}),
    });
    if (sa && !opts?.keepSa) this.deleteIkeSa(sa, f.message, false, true);
  }

  phase1Up(sa: IkeSa): void {
    sa.state = "ESTABLISHED";
    this.table.markEstablished(sa);
    sa.establishedAt = this.now;
    sa.lastHeard = this.now;
    // Phase-1 scratch values are no longer needed once HASH_I/HASH_R are verified.
    sa.dh = undefined;
    sa.gxi = undefined;
    sa.gxr = undefined;
    sa.gxy = undefined;
    sa.saiB = undefined;
    sa.ni = undefined;
    sa.nr = undefined;
    sa.idiB = undefined;
    sa.lastError = undefined;
    // SKEYID and SKEYID_e have done their work (HASH_I/HASH_R, the cipher key): wiped, dropped.
    if (sa.keys) {
      sa.keys.skeyid?.fill(0);
      sa.keys.skeyidE?.fill(0);
      sa.keys = { ...sa.keys, skeyid: undefined, skeyidE: undefined };
    }
    this.counters.inc("ike_sa_established");
    let same = this.byPeerId.get(sa.peerIdText);
    if (!same) {
      same = new Set();
      this.byPeerId.set(sa.peerIdText, same);
    }
    same.add(sa);
    const auth = AUTH_TEXT[sa.suite?.auth ?? "psk"];
    const suite = `${sa.crypto?.name ?? ""} ${auth}${sa.aggressive ? " (Aggressive Mode)" : ""}`;
    sa.log.info("IKE SA established", {
      peerId: sa.peerIdText,
      ...(sa.peerCertSubject ? { peerCertificate: sa.peerCertSubject } : {}),
      suite,
      natt: sa.vids.natt,
      ...sa.nat,
      local: endpointKey(sa.local),
      remote: endpointKey(sa.peer),
    });
    this.emit({
      type: "phase1-up",
      ikeSaId: sa.id,
      role: sa.role,
      local: sa.local,
      peer: sa.peer,
      peerId: sa.peerIdText,
      ...(sa.peerCertSubject ? { peerCertificate: sa.peerCertSubject } : {}),
      suite,
      nat: {
        method: sa.vids.natt,
        localBehindNat: sa.nat.localBehindNat,
        peerBehindNat: sa.nat.peerBehindNat,
      },
      dpd: sa.vids.dpd,
      peerVendorIds: sa.vids.names,
    });
    if (sa.initialContact) this.initialContact(sa);
    armSaTimers(this, sa);
    // A rekeyed IKE SA: take over the children of the SA it replaces.
    for (const id of [...this.rekeying]) {
      const old = this.sas.get(id);
      if (old && old !== sa && isSamePeer(old, sa)) {
        this.rekeying.delete(old.id);
        this.deleteIkeSa(old, "replaced by a new IKE SA", true, false);
      }
    }
    const waiting = sa.waiting.splice(0);
    for (const w of waiting) startQuick(this, sa, w.request, w.rekeyOf);
  }

  initialContact(sa: IkeSa): void {
    for (const other of [...(this.byPeerId.get(sa.peerIdText) ?? [])]) {
      // Only older SAs: the notify says "this is my first SA", never "forget my newer ones".
      if (
        other !== sa &&
        other.id < sa.id &&
        other.state === "ESTABLISHED" &&
        other.peerIdText === sa.peerIdText &&
        sameEndpoint(other.peer, sa.peer)
      ) {
        other.log.info("INITIAL-CONTACT from the same identity and endpoint: deleting the old SA");
        this.deleteIkeSa(other, "INITIAL-CONTACT", false, true);
      }
    }
  }

  startQuickMode(sa: IkeSa, request: ChildRequest, rekeyOf?: number): void {
    startQuick(this, sa, request, rekeyOf);
  }

  /** An established IKE SA that succeeds `sa`: the same peer identity at the same endpoint. */
  private successorOf(sa: IkeSa): IkeSa | undefined {
    for (const o of this.byPeerId.get(sa.peerIdText) ?? []) {
      if (o !== sa && o.state === "ESTABLISHED" && isSamePeer(o, sa) && !this.rekeying.has(o.id))
        return o;
    }
    return undefined;
  }

  deleteIkeSa(sa: IkeSa, reason: string, notifyPeer: boolean, withChildren: boolean): void {
    if (sa.state === "DELETED") return;
    const wasUp = sa.state === "ESTABLISHED";
    // Children outlive their IKE SA only under a successor of the same peer: same identity
    // and same endpoint. Users behind one (CG)NAT share an address and often a private ID, so
    // anything looser would hand one user's child SAs to another user's IKE SA.
    const heir = withChildren ? undefined : this.successorOf(sa);
    const adopted: number[] = [];
    for (const cid of [...sa.children]) {
      const c = this.children.get(cid);
      if (!c) continue;
      if (heir) {
        c.ikeSaId = heir.id;
        heir.children.add(cid);
        sa.children.delete(cid);
        adopted.push(cid);
      } else {
        this.deleteChild(c, reason, notifyPeer && wasUp);
      }
    }
    if (heir && adopted.length > 0)
      this.emit({ type: "children-adopted", ikeSaId: heir.id, from: sa.id, childIds: adopted });
    if (notifyPeer && wasUp) sendDeleteIke(this, sa);
    for (const cancel of [...sa.cancelTimers]) cancel();
    sa.cancelTimers.clear();
    sa.pending?.cancel();
    for (const q of sa.quick.values()) {
      q.pending?.cancel();
      this.childTable.releaseSpi(q.ourSpi);
    }
    sa.quick.clear();
    this.table.remove(sa);
    this.fragments.forget(sa);
    this.sas.delete(sa.id);
    const same = this.byPeerId.get(sa.peerIdText);
    if (same?.delete(sa) && same.size === 0) this.byPeerId.delete(sa.peerIdText);
    this.invalidSpiSent.delete(sa.id);
    this.rekeying.delete(sa.id);
    sa.state = "DELETED";
    if (wasUp) {
      sa.log.info("IKE SA deleted", { reason });
      this.emit({ type: "deleted", what: "ike", ikeSaId: sa.id, reason });
    }
  }

  deleteChild(child: ChildSa, reason: string, notifyPeer: boolean): void {
    if (!this.childTable.remove(child)) return;
    for (const cancel of child.cancelTimers) cancel();
    const sa = this.sas.get(child.ikeSaId);
    sa?.children.delete(child.id);
    this.action({
      kind: "remove-child-sa",
      childId: child.id,
      inboundSpi: child.inboundSpi,
      outboundSpi: child.outboundSpi,
      reason,
    });
    if (notifyPeer && sa?.state === "ESTABLISHED") sendDeleteEsp(this, sa, [child.inboundSpi]);
    (sa?.log ?? this.log).info("child SA deleted", { child: child.id, reason });
    this.emit({
      type: "deleted",
      what: "child",
      ikeSaId: child.ikeSaId,
      childId: child.id,
      reason,
    });
  }
}

/** The same peer: the same phase-1 identity at the same endpoint (address and port). */
function isSamePeer(a: IkeSa, b: IkeSa): boolean {
  return a.peerIdText === b.peerIdText && sameEndpoint(a.peer, b.peer);
}

function sameBytes(a: string | Uint8Array, b: string | Uint8Array): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Same certificate configuration (so the parsed context can stay)? */
function sameCertificates(a: IkeConfig["certificates"], b: IkeConfig["certificates"]): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const list = <T extends string | Uint8Array>(x: readonly T[] = [], y: readonly T[] = []) =>
    x.length === y.length && x.every((v, i) => sameBytes(v, y[i]!));
  return (
    a.certificate === b.certificate &&
    a.privateKey === b.privateKey &&
    list(a.trustedCas, b.trustedCas) &&
    list(a.crls, b.crls) &&
    list(a.peerNames, b.peerNames)
  );
}
