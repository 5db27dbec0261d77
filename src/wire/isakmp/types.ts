/**
 * Typed records for ISAKMP (RFC 2408) messages as IKEv1 (RFC 2409) and the IPsec DOI (RFC 2407)
 * use them, plus the structural limits every parser enforces.
 *
 * Representation rules:
 *  - Every field needed to re-create the exact bytes is kept (RESERVED octets included), so
 *    `serialize(parse(b))` equals `b`. Next-payload and length fields are NOT stored: the
 *    serializers compute them from the ordered lists.
 *  - Payloads are a discriminated union on `type` (the ISAKMP payload type number). Payloads we
 *    do not model are `{ type: "unknown", payloadType, body }`.
 *  - Buffers in parsed records are views into the parsed input (no copy). Copy them if the
 *    input buffer is reused.
 */
import type { Brand } from "../../base/brand.js";

/** An 8-octet ISAKMP cookie (RFC 2408 §3.1 Initiator/Responder Cookie). */
export type IsakmpCookie = Brand<Buffer, "IsakmpCookie">;
/** A 32-bit ISAKMP Message ID (RFC 2408 §3.1); 0 in phase 1. */
export type IsakmpMessageId = Brand<number, "IsakmpMessageId">;

export const COOKIE_LENGTH = 8;
export const ISAKMP_HEADER_LENGTH = 28;
export const GENERIC_PAYLOAD_HEADER_LENGTH = 4;

/** Brands 8 bytes as a cookie. Throws (a bug) on any other length. */
export function isakmpCookie(b: Uint8Array): IsakmpCookie {
  if (b.length !== COOKIE_LENGTH) throw new Error(`isakmpCookie: need 8 bytes, got ${b.length}`);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength) as IsakmpCookie;
}

/** The all-zero responder cookie of a first message. */
export const ZERO_COOKIE: IsakmpCookie = isakmpCookie(Buffer.alloc(8));

/** Brands a uint32 as a message ID. Throws (a bug) when out of range. */
export function isakmpMessageId(n: number): IsakmpMessageId {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new Error(`isakmpMessageId: not a uint32: ${n}`);
  }
  return n as IsakmpMessageId;
}

/** RFC 2408 §3.1 flags octet: E (bit 0), C (bit 1), A (bit 2); the other 5 bits are kept raw. */
export interface IsakmpFlags {
  readonly encryption: boolean;
  readonly commit: boolean;
  readonly authenticationOnly: boolean;
  /** The flags octet masked with 0xf8 (undefined bits, normally 0). */
  readonly reservedBits: number;
}

export const NO_FLAGS: IsakmpFlags = {
  encryption: false,
  commit: false,
  authenticationOnly: false,
  reservedBits: 0,
};

/** RFC 2408 §3.1 fixed header. */
export interface IsakmpHeader {
  readonly initiatorCookie: IsakmpCookie;
  readonly responderCookie: IsakmpCookie;
  /** Type of the first payload (of the plaintext, when encrypted). */
  readonly nextPayload: number;
  readonly majorVersion: number;
  readonly minorVersion: number;
  readonly exchangeType: number;
  readonly flags: IsakmpFlags;
  readonly messageId: IsakmpMessageId;
  /** Total message length from the header (header included). */
  readonly length: number;
}

/** What a sender chooses; next-payload and length are computed by the serializer. */
export type IsakmpHeaderFields = Omit<IsakmpHeader, "nextPayload" | "length">;

/**
 * RFC 2408 §3.3 data attribute. AF=1 is TV (16-bit value in the header), AF=0 is TLV.
 * `type` is the 15-bit attribute class.
 */
export type DataAttribute =
  | { readonly format: "TV"; readonly type: number; readonly value: number }
  | { readonly format: "TLV"; readonly type: number; readonly value: Buffer };

/** RFC 2408 §3.6 Transform payload (inside a Proposal). */
export interface Transform {
  /** Generic header RESERVED octet. */
  readonly reserved: number;
  readonly number: number;
  readonly transformId: number;
  /** The 2-octet RESERVED2 field. */
  readonly reserved2: number;
  readonly attributes: readonly DataAttribute[];
}

/** RFC 2408 §3.5 Proposal payload (inside an SA). */
export interface Proposal {
  readonly reserved: number;
  readonly number: number;
  readonly protocolId: number;
  /** SPI of any size 0..255 (0 in phase 1, 4 for ESP/AH, 2 for IPCOMP CPI). */
  readonly spi: Buffer;
  readonly transforms: readonly Transform[];
}

interface PayloadBase {
  /** Generic header RESERVED octet; its high bit is the IKEv2 "critical" bit. */
  readonly reserved: number;
}

/** RFC 2408 §3.4 + RFC 2407 §4.6.1. `situation` is the 32-bit situation bitmap. */
export interface SaPayload extends PayloadBase {
  readonly type: 1;
  readonly doi: number;
  readonly situation: number;
  readonly proposals: readonly Proposal[];
}

/** RFC 2408 §3.7 Key Exchange. */
export interface KePayload extends PayloadBase {
  readonly type: 4;
  readonly data: Buffer;
}

/**
 * RFC 2408 §3.8 + RFC 2407 §4.6.2: ID type, then the 3 DOI-specific octets which the IPsec DOI
 * defines as protocol ID (1) and port (2); `data` is the identification data, decoded with
 * `parseIdentificationData`.
 */
export interface IdPayload extends PayloadBase {
  readonly type: 5;
  readonly idType: number;
  readonly protocolId: number;
  readonly port: number;
  readonly data: Buffer;
}

/** RFC 2408 §3.9 Certificate. */
export interface CertPayload extends PayloadBase {
  readonly type: 6;
  readonly encoding: number;
  readonly data: Buffer;
}

/** RFC 2408 §3.10 Certificate Request. */
export interface CertRequestPayload extends PayloadBase {
  readonly type: 7;
  readonly encoding: number;
  readonly authority: Buffer;
}

/** RFC 2408 §3.11 Hash, §3.12 Signature, §3.13 Nonce, §3.16 Vendor ID: opaque data. */
export interface HashPayload extends PayloadBase {
  readonly type: 8;
  readonly data: Buffer;
}
export interface SigPayload extends PayloadBase {
  readonly type: 9;
  readonly data: Buffer;
}
export interface NoncePayload extends PayloadBase {
  readonly type: 10;
  readonly data: Buffer;
}

/** RFC 2408 §3.14 Notification. */
export interface NotifyPayload extends PayloadBase {
  readonly type: 11;
  readonly doi: number;
  readonly protocolId: number;
  readonly spi: Buffer;
  readonly notifyType: number;
  readonly data: Buffer;
}

/** RFC 2408 §3.15 Delete. `spiSize` is kept because it is meaningful even with 0 SPIs. */
export interface DeletePayload extends PayloadBase {
  readonly type: 12;
  readonly doi: number;
  readonly protocolId: number;
  readonly spiSize: number;
  readonly spis: readonly Buffer[];
}

export interface VendorIdPayload extends PayloadBase {
  readonly type: 13;
  readonly data: Buffer;
}

/** draft-ietf-ipsec-isakmp-mode-cfg-05 §3.2 Attribute payload (XAUTH / Mode Config). */
export interface AttributePayload extends PayloadBase {
  readonly type: 14;
  readonly cfgType: number;
  /** The RESERVED octet after Type. */
  readonly reserved2: number;
  readonly identifier: number;
  readonly attributes: readonly DataAttribute[];
}

/** RFC 3947 §3.1 NAT-D (20) or its draft number (130): a hash. */
export type NatDPayload = (NatDBody & { readonly type: 20 }) | (NatDBody & { readonly type: 130 });
interface NatDBody extends PayloadBase {
  readonly hash: Buffer;
}

/**
 * RFC 3947 §5.2 NAT-OA (21) or its draft number (131): ID type (ID_IPV4_ADDR or
 * ID_IPV6_ADDR), 3 RESERVED octets (kept as a 24-bit number), then the 4- or 16-octet address.
 */
export type NatOaPayload =
  | (NatOaBody & { readonly type: 21 })
  | (NatOaBody & { readonly type: 131 });
interface NatOaBody extends PayloadBase {
  readonly idType: number;
  readonly reserved24: number;
  readonly address: Buffer;
}

/** A payload type we do not model (e.g. GDOI, Cisco fragmentation): raw body. */
export interface UnknownPayload extends PayloadBase {
  readonly type: "unknown";
  readonly payloadType: number;
  readonly body: Buffer;
}

export type Payload =
  | SaPayload
  | KePayload
  | IdPayload
  | CertPayload
  | CertRequestPayload
  | HashPayload
  | SigPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload
  | VendorIdPayload
  | AttributePayload
  | NatDPayload
  | NatOaPayload
  | UnknownPayload;

/** Structural limits (defence against resource abuse); exceeding one is OAK_E_WIRE_TOO_MANY. */
export interface IsakmpLimits {
  /** Payloads in one chain (top level). */
  readonly maxPayloads: number;
  /** Proposals in one SA payload. */
  readonly maxProposals: number;
  /** Transforms in one proposal. */
  readonly maxTransforms: number;
  /** Data attributes in one transform or Attribute payload. */
  readonly maxAttributes: number;
  /** SPIs in one Delete payload. */
  readonly maxDeleteSpis: number;
}

export const DEFAULT_LIMITS: IsakmpLimits = {
  maxPayloads: 64,
  maxProposals: 64,
  maxTransforms: 128,
  maxAttributes: 64,
  maxDeleteSpis: 256,
};

export interface ParseOptions {
  readonly limits?: Partial<IsakmpLimits>;
}

export function resolveLimits(opts: ParseOptions | undefined): IsakmpLimits {
  return { ...DEFAULT_LIMITS, ...(opts?.limits ?? {}) };
}
