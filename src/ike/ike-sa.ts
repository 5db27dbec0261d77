/**
 * The IKE SA (ISAKMP SA) and child SA records (DESIGN rule 9: data plus invariants; the
 * exchanges in exchanges/ change them, the engine owns the tables), and the message protection
 * of RFC 2409 Appendix B: phase-1 encryption with CBC chaining across Main Mode messages,
 * phase-2 / informational IVs from the last phase-1 block and the message ID.
 *
 * Padding: plaintexts get 1..blocksize zero octets (as strongSwan 5.9.8 sends, seen in
 * test/vectors/strongswan: a 64-octet MM5 body went out as 80 octets); RFC 2409 App. B leaves
 * the content open; no pad-length octet is expected on receive: the end of the payload chain is
 * found from the payload lengths.
 */
import { concat } from "../base/bytes.js";
import { err, ok, type Result } from "../base/result.js";
import {
  type DhKeyPair,
  type Phase1Suite as CryptoSuite,
  informationalHash,
  nextIv,
  phase2Iv,
} from "../crypto/index.js";
import type { Logger } from "../obs/log.js";
import type { InboundSpi, OutboundSpi } from "../wire/esp/esp.js";
import {
  type EncryptedIsakmpMessage,
  ExchangeType,
  type IdentificationValue,
  type IsakmpCookie,
  type IsakmpMessageId,
  isakmpMessageId,
  NO_FLAGS,
  type Payload,
  PayloadType,
  parsePayloadChain,
  serializeEncryptedIsakmpMessage,
  serializeIsakmpMessage,
  serializePayloadChain,
} from "../wire/isakmp/index.js";
import type { PskEntry } from "./config.js";
import { IkeErrorCode, type IkeFailure, failure } from "./errors.js";
import type { TableEntry } from "./sa-table.js";
import type { NattMethod, Phase1Suite, Phase2Suite } from "./suites.js";
import type { ChildRequest, Endpoint, IkeRole, TrafficSelector } from "./types.js";

export type MmState =
  | "I_MM1" // initiator sent MM1, waits for MM2
  | "I_MM3" // sent MM3, waits for MM4
  | "I_MM5" // sent MM5, waits for MM6
  | "R_MM2" // responder sent MM2, waits for MM3
  | "R_MM4" // sent MM4, waits for MM5
  | "R_AM2" // responder sent AM2, waits for AM3 (Aggressive Mode)
  | "ESTABLISHED"
  | "DELETED";

/** A message waiting for its answer, retransmitted with back-off. */
export interface Pending {
  readonly bytes: Buffer;
  tries: number;
  cancel: () => void;
}

export interface PeerVendorIds {
  readonly names: string[];
  dpd: boolean;
  /** MS NT5 ISAKMPOAKLEY: Windows, which rekeys itself and refuses rekeys behind NAT. */
  windows: boolean;
  /** Windows' "Vid-Initial-Contact" VID: same meaning as the INITIAL-CONTACT notify. */
  initialContact: boolean;
  natt: NattMethod;
  /** FRAGMENTATION VID (without capabilities, or with the IKE bit 0x80000000): IKEv1 fragments. */
  fragmentation?: boolean;
  /** The draft VID to echo (when natt is "draft"). */
  nattDraftVid?: Buffer;
}

export interface Phase1Keys {
  /** SKEYID and SKEYID_e: needed until HASH_I/HASH_R are checked and the cipher key is made. */
  readonly skeyid: Buffer | undefined;
  readonly skeyidD: Buffer;
  readonly skeyidA: Buffer;
  readonly skeyidE: Buffer | undefined;
  readonly encKey: Buffer;
}

export interface QuickExchange {
  readonly mid: IsakmpMessageId;
  readonly role: IkeRole;
  state: "QM1_SENT" | "QM2_SENT" | "DONE";
  iv: Buffer;
  /** Ni_b, Nr_b, g(qm)^xy: KEYMAT inputs, dropped once the child is installed (settleQuick). */
  ni: Buffer | undefined;
  nr?: Buffer | undefined;
  dh?: DhKeyPair | undefined;
  gqmxy?: Buffer | undefined;
  readonly ourSpi: InboundSpi;
  peerSpi?: OutboundSpi;
  suite?: Phase2Suite;
  request?: ChildRequest;
  selectors?: { local: TrafficSelector; remote: TrafficSelector };
  natOa?: { remote?: string; local?: string } | undefined;
  /** Quick Mode of a rekey: the child this one replaces. */
  readonly rekeyOf?: number;
  /**
   * Responder: QM1 (as a SHA-256 digest, half-open.ts messageDigest) and our QM2, to answer
   * retransmissions. Initiator: QM2 seen (digest) and QM3 sent.
   */
  lastIn?: Buffer;
  lastOut?: Buffer;
  pending?: Pending | undefined;
  readonly startedAt: number;
}

export interface ChildSa {
  readonly id: number;
  ikeSaId: number;
  readonly initiatedByUs: boolean;
  readonly mode: "transport" | "tunnel";
  readonly suite: Phase2Suite;
  readonly inboundSpi: InboundSpi;
  readonly outboundSpi: OutboundSpi;
  readonly selectors: { readonly local: TrafficSelector; readonly remote: TrafficSelector };
  readonly request: ChildRequest;
  readonly installedAt: number;
  readonly hardAt: number;
  rekeyed: boolean;
  cancelTimers: (() => void)[];
}

/**
 * Fields that end their use are set to undefined, never `delete`d: deleting a property turns the
 * object into a slow dictionary-mode object in V8 (bigger, and every later access a hash lookup).
 */
export interface IkeSa extends TableEntry {
  readonly id: number;
  readonly role: IkeRole;
  state: MmState;
  readonly ckyIB: IsakmpCookie;
  /** ZERO_COOKIE until the initiator learns it from MM2. */
  ckyRB: IsakmpCookie;
  /** Our address and current port (500, or 4500 after floating). */
  local: Endpoint;
  /** The peer's current endpoint (its NAT mapping). */
  peer: Endpoint;
  log: Logger;
  readonly createdAt: number;
  vids: PeerVendorIds;
  /** NAT-T in use for this SA (method negotiated and a NAT detected). */
  nat: { localBehindNat: boolean; peerBehindNat: boolean; anyNat: boolean };
  suite?: Phase1Suite;
  crypto?: CryptoSuite;
  /** Initiator's SA payload body (SAi_b) as sent in MM1. */
  saiB?: Buffer | undefined;
  dh?: DhKeyPair | undefined;
  gxi?: Buffer | undefined;
  gxr?: Buffer | undefined;
  ni?: Buffer | undefined;
  nr?: Buffer | undefined;
  gxy?: Buffer | undefined;
  keys?: Phase1Keys;
  /** CBC state of phase 1; after MM6 the last phase-1 block (input of every phase-2 IV). */
  iv?: Buffer;
  psk?: PskEntry;
  peerId?: IdentificationValue;
  peerIdText: string;
  /** Established by Aggressive Mode (responder). */
  aggressive?: boolean;
  /** Aggressive Mode: the initiator's ID payload body from AM1 (IDii_b of HASH_I). */
  idiB?: Buffer | undefined;
  /** RSA-signature SAs: the subject of the peer's verified certificate. */
  peerCertSubject?: string;
  /** INITIAL-CONTACT seen in MM5 (or the Windows VID). */
  initialContact: boolean;
  /**
   * Last request seen, as a SHA-256 digest (half-open.ts: not the bytes), and our answer:
   * duplicate requests get the cached answer (responder) or are dropped (initiator).
   */
  lastIn?: Buffer;
  lastOut?: Buffer | undefined;
  /** Initiator: why the last answer was ignored (reported if retransmission gives up). */
  lastError?: IkeFailure | undefined;
  /** Initiator: the request waiting for an answer. */
  pending?: Pending | undefined;
  readonly quick: Map<IsakmpMessageId, QuickExchange>;
  readonly children: Set<number>;
  readonly waiting: { request: ChildRequest; rekeyOf?: number }[];
  establishedAt?: number;
  expiresAt?: number;
  lastHeard: number;
  /** Sequence number of our last R-U-THERE (RFC 3706 §7). */
  dpdSeq: number;
  /** Our last R-U-THERE the peer acknowledged (equal to dpdSeq: none outstanding). */
  dpdAckedSeq: number;
  /** The peer's last accepted R-U-THERE sequence number (liveness.ts). */
  dpdPeerSeq?: number | undefined;
  dpdOutstanding: number;
  /** Message IDs of the peer's Quick Modes and non-DPD informationals (liveness.ts). */
  peerMids?: IsakmpMessageId[] | undefined;
  /** The endpoint this SA followed the peer away from (liveness.ts: sibling SAs). */
  movedFrom?: string | undefined;
  /** Pending timers of this SA (each removes itself when it fires). */
  readonly cancelTimers: Set<() => void>;
}

export function cookieHex(sa: IkeSa): string {
  return `${sa.ckyIB.toString("hex")}:${sa.ckyRB.toString("hex")}`;
}

export function header(sa: IkeSa, exchangeType: number, messageId: IsakmpMessageId) {
  return {
    initiatorCookie: sa.ckyIB,
    responderCookie: sa.ckyRB,
    majorVersion: 1,
    minorVersion: 0,
    exchangeType,
    flags: NO_FLAGS,
    messageId,
  };
}

/** The message ID of phase 1 (Main and Aggressive Mode). */
export const PHASE1_MESSAGE_ID = isakmpMessageId(0);

export function cleartext(sa: IkeSa, exchangeType: number, payloads: readonly Payload[]): Buffer {
  return serializeIsakmpMessage(header(sa, exchangeType, PHASE1_MESSAGE_ID), payloads);
}

/** 1..bs zero octets, like strongSwan (a whole block when the plaintext is already aligned). */
function pad(plain: Buffer, bs: number): Buffer {
  return concat([plain, Buffer.alloc(bs - (plain.length % bs))]);
}

/** Encrypts `payloads` under the SA's phase-1 key with `iv`; returns the message and next IV. */
export function sealMessage(
  sa: IkeSa,
  exchangeType: number,
  messageId: IsakmpMessageId,
  payloads: readonly Payload[],
  iv: Buffer,
): Result<{ bytes: Buffer; lastBlock: Buffer }, IkeFailure> {
  const c = sa.crypto;
  const k = sa.keys;
  if (!c || !k) return err(failure(IkeErrorCode.Crypto, "no phase-1 keys"));
  const chain = serializePayloadChain(payloads);
  const ct = c.cipher.encrypt(k.encKey, iv, pad(chain.bytes, c.cipher.blockSize));
  if (!ct.ok) return err(failure(IkeErrorCode.Crypto, ct.error.message));
  const bytes = serializeEncryptedIsakmpMessage(
    { ...header(sa, exchangeType, messageId), nextPayload: chain.firstPayloadType },
    ct.value,
  );
  const last = nextIv(ct.value, c.cipher.blockSize);
  if (!last.ok) return err(failure(IkeErrorCode.Crypto, last.error.message));
  return ok({ bytes, lastBlock: last.value });
}

export interface Opened {
  readonly payloads: readonly Payload[];
  readonly spans: readonly { readonly start: number; readonly end: number }[];
  readonly plain: Buffer;
  readonly lastBlock: Buffer;
}

/** Decrypts an encrypted message with `iv` and parses its payload chain. */
export function openMessage(
  c: CryptoSuite,
  encKey: Buffer,
  msg: EncryptedIsakmpMessage,
  iv: Buffer,
): Result<Opened, IkeFailure> {
  const bs = c.cipher.blockSize;
  if (msg.ciphertext.length === 0 || msg.ciphertext.length % bs !== 0) {
    return err(failure(IkeErrorCode.Decrypt, "ciphertext is not a whole number of blocks"));
  }
  const pt = c.cipher.decrypt(encKey, iv, msg.ciphertext);
  if (!pt.ok) return err(failure(IkeErrorCode.Decrypt, pt.error.message));
  const chain = parsePayloadChain(msg.header.nextPayload, pt.value, { allowTrailingPadding: true });
  if (!chain.ok) {
    return err(
      failure(IkeErrorCode.Decrypt, `decrypted message does not parse: ${chain.error.message}`),
    );
  }
  const last = nextIv(msg.ciphertext, bs);
  if (!last.ok) return err(failure(IkeErrorCode.Decrypt, last.error.message));
  return ok({
    payloads: chain.value.payloads,
    spans: chain.value.spans,
    plain: pt.value,
    lastBlock: last.value,
  });
}

/** The raw bytes of payloads 1..n (everything after the leading HASH), for QM/INFO hashes. */
export function restAfterHash(o: Opened): Buffer {
  const first = o.spans[1];
  const last = o.spans[o.spans.length - 1];
  if (!first || !last) return Buffer.alloc(0);
  return o.plain.subarray(first.start, last.end);
}

/** IV of a phase-2 / informational message ID (RFC 2409 Appendix B). */
export function phase2IvFor(sa: IkeSa, mid: IsakmpMessageId): Buffer {
  const c = sa.crypto;
  if (!c || !sa.iv) throw new Error("phase2IvFor before phase 1 is complete");
  return phase2Iv(c.hash, sa.iv, mid, c.cipher.blockSize);
}

/** A protected informational message (RFC 2409 §5.7): HASH(1) then the notifies/deletes. */
export function sealInformational(
  sa: IkeSa,
  mid: IsakmpMessageId,
  payloads: readonly Payload[],
): Result<Buffer, IkeFailure> {
  const c = sa.crypto;
  const k = sa.keys;
  if (!c || !k) return err(failure(IkeErrorCode.Crypto, "no phase-1 keys"));
  const rest = serializePayloadChain(payloads).bytes;
  const h = informationalHash(c.prf, k.skeyidA, mid, rest);
  const all: Payload[] = [{ type: PayloadType.HASH, reserved: 0, data: h }, ...payloads];
  const r = sealMessage(sa, ExchangeType.INFORMATIONAL, mid, all, phase2IvFor(sa, mid));
  return r.ok ? ok(r.value.bytes) : r;
}
