/**
 * ESP packet format (RFC 4303 §2): header, and the plaintext trailer (§2.4 Padding, §2.5 Pad
 * Length, §2.6 Next Header), at two levels (DESIGN rule 2):
 *  - views for the hot path: `espSpi`/`espSeq` read the header of a buffer in place;
 *  - typed records for the control plane and tests: `parseEspPacket`, `parseEspPlaintext`.
 *
 *    0                   1                   2                   3
 *   |               Security Parameters Index (SPI)                 |
 *   |                      Sequence Number                          |
 *   |                    Payload Data* (variable)  (IV first)       |
 *   ~               |     Padding (0-255 bytes)                     |
 *   |                               |  Pad Length   | Next Header   |
 *   |         Integrity Check Value-ICV   (variable)                |
 *
 * The IV, ciphertext and ICV lengths depend on the SA's transform, so the wire record keeps
 * them as one opaque `body`; crypto/esp splits it. Padding is checked to be the default
 * monotonic 1, 2, 3, ... sequence of §2.4 (`checkPadding`, on by default).
 * Leaves out: TFC padding detection (§2.7) — it sits inside Payload Data and only the inner
 * protocol's length can tell it apart; SPI 1..255 are reserved (§2.1) and rejected.
 */
import type { Brand } from "../../base/brand.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { err, ok, type Result } from "../../base/result.js";

/** A Security Parameters Index (RFC 4303 §2.1), a uint32. */
export type Spi = Brand<number, "Spi">;
export function asSpi(n: number): Spi {
  return (n >>> 0) as Spi;
}

declare const spiDirection: unique symbol;
/** An SPI this end chose: peers send with it, and received ESP is matched to it (unique here). */
export type InboundSpi = Spi & { readonly [spiDirection]: "in" };
/** An SPI a peer chose: this end sends with it. Unique per peer only, not across peers. */
export type OutboundSpi = Spi & { readonly [spiDirection]: "out" };
/** Brands an SPI that this end allocated (or, in tests, installs as inbound). */
export function asInboundSpi(n: number): InboundSpi {
  return (n >>> 0) as InboundSpi;
}
/** Brands an SPI that a peer chose (a proposal's SPI), or, in tests, installs as outbound. */
export function asOutboundSpi(n: number): OutboundSpi {
  return (n >>> 0) as OutboundSpi;
}

export const ESP_HEADER = 8;
/** Pad Length + Next Header. */
export const ESP_TRAILER = 2;
export const ESP_MAX_PADDING = 255;

/** SPI of the ESP packet at bytes[offset..] (no checks: callers verified the length). */
export function espSpi(bytes: Uint8Array, offset = 0): Spi {
  return (((bytes[offset]! << 24) |
    (bytes[offset + 1]! << 16) |
    (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!) >>>
    0) as Spi;
}

/** Low 32 bits of the sequence number of the ESP packet at bytes[offset..]. */
export function espSeq(bytes: Uint8Array, offset = 0): number {
  return (
    ((bytes[offset + 4]! << 24) |
      (bytes[offset + 5]! << 16) |
      (bytes[offset + 6]! << 8) |
      bytes[offset + 7]!) >>>
    0
  );
}

export function writeEspHeader(bytes: Uint8Array, spi: Spi, seq: number, offset = 0): void {
  bytes[offset] = spi >>> 24;
  bytes[offset + 1] = (spi >>> 16) & 0xff;
  bytes[offset + 2] = (spi >>> 8) & 0xff;
  bytes[offset + 3] = spi & 0xff;
  bytes[offset + 4] = seq >>> 24;
  bytes[offset + 5] = (seq >>> 16) & 0xff;
  bytes[offset + 6] = (seq >>> 8) & 0xff;
  bytes[offset + 7] = seq & 0xff;
}

export interface EspPacket {
  readonly spi: Spi;
  /** The 32-bit Sequence Number field (low half of an ESN). */
  readonly seq: number;
  /** IV || ciphertext || ICV, as sent. */
  readonly body: Uint8Array;
}

export function parseEspPacket(bytes: Uint8Array): Result<EspPacket, WireError> {
  if (bytes.length < ESP_HEADER)
    return err(wireError(WireErrorCode.Truncated, "ESP: fewer than 8 octets", 0));
  const spi = espSpi(bytes);
  if (spi === 0)
    return err(wireError(WireErrorCode.BadValue, "ESP: SPI 0 is reserved for local use", 0));
  if (spi < 256)
    return err(wireError(WireErrorCode.BadValue, `ESP: SPI ${spi} is reserved by IANA`, 0));
  return ok({ spi, seq: espSeq(bytes), body: bytes.subarray(ESP_HEADER) });
}

export function serializeEspPacket(p: EspPacket): Buffer {
  const b = Buffer.alloc(ESP_HEADER + p.body.length);
  writeEspHeader(b, p.spi, p.seq);
  b.set(p.body, ESP_HEADER);
  return b;
}

/** The decrypted part of an ESP packet: Payload Data (without IV), Padding, Pad Length, Next Header. */
export interface EspPlaintext {
  readonly payload: Uint8Array;
  readonly padding: Uint8Array;
  readonly nextHeader: number;
}

/** True when padding[i] === i + 1 for every octet (RFC 4303 §2.4 default padding). */
export function isDefaultPadding(bytes: Uint8Array, start: number, length: number): boolean {
  let bad = 0;
  for (let i = 0; i < length; i++) bad |= bytes[start + i]! ^ ((i + 1) & 0xff);
  return bad === 0;
}

export interface ParsePlaintextOptions {
  /** Reject padding that is not 1, 2, 3, ... (default true). */
  readonly checkPadding?: boolean;
}

export function parseEspPlaintext(
  bytes: Uint8Array,
  opts: ParsePlaintextOptions = {},
): Result<EspPlaintext, WireError> {
  if (bytes.length < ESP_TRAILER)
    return err(wireError(WireErrorCode.Truncated, "ESP trailer: fewer than 2 octets", 0));
  const nextHeader = bytes[bytes.length - 1]!;
  const padLength = bytes[bytes.length - 2]!;
  const payloadEnd = bytes.length - ESP_TRAILER - padLength;
  if (payloadEnd < 0) {
    return err(
      wireError(
        WireErrorCode.BadLength,
        `ESP trailer: Pad Length ${padLength} exceeds the payload`,
        bytes.length - 2,
      ),
    );
  }
  if ((opts.checkPadding ?? true) && !isDefaultPadding(bytes, payloadEnd, padLength)) {
    return err(
      wireError(WireErrorCode.BadValue, "ESP trailer: padding is not 1, 2, 3, ...", payloadEnd),
    );
  }
  return ok({
    payload: bytes.subarray(0, payloadEnd),
    padding: bytes.subarray(payloadEnd, payloadEnd + padLength),
    nextHeader,
  });
}

export function serializeEspPlaintext(p: EspPlaintext): Buffer {
  if (p.padding.length > ESP_MAX_PADDING)
    throw new Error("serializeEspPlaintext: padding > 255 octets");
  const b = Buffer.alloc(p.payload.length + p.padding.length + ESP_TRAILER);
  b.set(p.payload, 0);
  b.set(p.padding, p.payload.length);
  b[b.length - 2] = p.padding.length;
  b[b.length - 1] = p.nextHeader & 0xff;
  return b;
}

/**
 * Padding length so that payload + padding + 2 is a multiple of `align` (the cipher block size,
 * at least 4 — RFC 4303 §2.4), plus optional extra blocks (for traffic-flow confidentiality).
 */
export function espPadLength(payloadLength: number, align: number): number {
  const a = Math.max(align, 4);
  const r = (payloadLength + ESP_TRAILER) % a;
  return r === 0 ? 0 : a - r;
}

/** Writes default padding, Pad Length and Next Header at bytes[at..]; returns the end offset. */
export function writeEspTrailer(
  bytes: Uint8Array,
  at: number,
  padLength: number,
  nextHeader: number,
): number {
  for (let i = 0; i < padLength; i++) bytes[at + i] = i + 1;
  bytes[at + padLength] = padLength;
  bytes[at + padLength + 1] = nextHeader;
  return at + padLength + ESP_TRAILER;
}
