/**
 * What the exchange modules (exchanges/*.ts) may ask of the engine: configuration, the clock
 * value of the current call, randomness, sending, timers, events and the tables. The engine
 * (engine.ts) implements it; exchanges never see each other, only this interface.
 */
import type { DhGroup, DhKeyPair } from "../crypto/index.js";
import type { Counters } from "../obs/counters.js";
import type { Logger } from "../obs/log.js";
import type { InboundSpi } from "../wire/esp/esp.js";
import type { IsakmpMessageId } from "../wire/isakmp/index.js";
import type { IkeConfig } from "./config.js";
import type { IkeFailure } from "./errors.js";
import type { CertContext } from "./exchanges/cert-auth.js";
import type { ChildSa, IkeSa, QuickExchange } from "./ike-sa.js";
import type { SaTable } from "./sa-table.js";
import type { ChildRequest, Endpoint, IkeAction, IkeEvent, IkeStage, PeerOffer } from "./types.js";

export interface EngineContext {
  readonly config: IkeConfig;
  readonly counters: Counters;
  readonly log: Logger;
  /** The `now` of the call being handled (ms). */
  readonly now: number;
  random(n: number): Buffer;
  /** Calendar time (ms since the Unix epoch) for certificate validity. */
  wallNow(): number;
  /** Our certificate, key and trusted CAs, when configured. */
  readonly certs: CertContext | undefined;
  newDh(group: DhGroup): DhKeyPair;
  readonly table: SaTable<IkeSa>;
  readonly children: ReadonlyMap<number, ChildSa>;
  /** All IKE SAs by id. */
  readonly sas: ReadonlyMap<number, IkeSa>;
  nextSaId(): number;
  /** Adds a new IKE SA to the tables. */
  registerSa(sa: IkeSa): void;
  /** A fresh inbound SPI (not in use, >= 256: RFC 4303 §2.1 reserves 1-255). */
  newSpi(): InboundSpi;
  /** A fresh non-zero message ID not in use on this SA. */
  newMessageId(sa: IkeSa): IsakmpMessageId;
  action(a: IkeAction): void;
  emit(e: IkeEvent): void;
  /** Sends from the SA's local endpoint to its peer's current endpoint. */
  send(sa: IkeSa, bytes: Buffer): void;
  /** With `sa`, a large message goes in IKE fragments when the peer supports them. */
  sendFrom(from: Endpoint, to: Endpoint, bytes: Buffer, sa?: IkeSa): void;
  /** Calls fn at `at`; returns a cancel function. */
  schedule(at: number, fn: () => void): () => void;
  /** A timer owned by an SA: cancelled when the SA is deleted, forgotten once it fired. */
  scheduleFor(sa: IkeSa, at: number, fn: () => void): void;
  /** Counts, logs and reports a failure; deletes the SA (without telling the peer) if given. */
  fail(
    stage: IkeStage,
    f: IkeFailure,
    peer: Endpoint,
    sa?: IkeSa,
    opts?: { keepSa?: boolean; offer?: PeerOffer },
  ): void;
  /** INITIAL-CONTACT from this SA's peer: drop older SAs of the same identity and endpoint. */
  initialContact(sa: IkeSa): void;
  /** Retransmit `bytes` with back-off until `cancel`; on exhaustion `onGiveUp`. */
  retransmit(sa: IkeSa, bytes: Buffer, onGiveUp: () => void): { tries: number; cancel: () => void };
  /** Phase 1 finished: INITIAL-CONTACT, DPD, keepalives, queued Quick Modes. */
  phase1Up(sa: IkeSa): void;
  /** Installs a negotiated child SA pair (both directions) and reports it. */
  installChild(sa: IkeSa, ex: QuickExchange): void;
  /** Starts a Quick Mode on an established SA. */
  startQuickMode(sa: IkeSa, request: ChildRequest, rekeyOf?: number): void;
  /** Deletes an IKE SA locally (and optionally tells the peer). */
  deleteIkeSa(sa: IkeSa, reason: string, notifyPeer: boolean, withChildren: boolean): void;
  /** Deletes a child SA locally (and optionally tells the peer). */
  deleteChild(child: ChildSa, reason: string, notifyPeer: boolean): void;
  /**
   * Why a large message may have been lost (IP fragments dropped; fragmentation off or not
   * announced), as " (…)" to append to a failure; empty when that is not the likely cause.
   */
  fragmentationHint(sa: IkeSa, sentBytes: number | undefined): string;
}
