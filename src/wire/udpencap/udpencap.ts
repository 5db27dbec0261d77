/**
 * UDP encapsulation of ESP and IKE on the NAT-T port (RFC 3948 §2, RFC 3947 §4):
 *  - NAT-keepalive packet (§2.3): a single octet 0xFF;
 *  - IKE: a 4-octet zero Non-ESP Marker followed by the IKE header (§2.2);
 *  - ESP: the ESP header starts right after the UDP header; its SPI is never zero (§2.1).
 *
 *   |      Source Port (4500)       |      Destination Port (4500)  |
 *   |           Length              |           Checksum            |
 *   |                      Non-ESP Marker (0) | ESP SPI             |
 *
 * `classifyNattDatagram` works on the UDP payload as a socket delivers it and hands back views
 * (no copy). Leaves out: the draft-ietf-ipsec-udp-encaps-00..02 8-octet Non-IKE marker format
 * used with port 500 by some very old clients (RFC 3948 replaced it); those datagrams are
 * classified as invalid.
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { err, ok, type Result } from "../../base/result.js";
import { ESP_HEADER } from "../esp/esp.js";

export const NON_ESP_MARKER_LENGTH = 4;
export const NATT_KEEPALIVE = 0xff;
/** Smallest IKE header (RFC 2408 §3.1). */
export const IKE_HEADER_LENGTH = 28;

export type NattDatagram =
  | { readonly kind: "keepalive" }
  | { readonly kind: "ike"; readonly ike: Uint8Array }
  | { readonly kind: "esp"; readonly esp: Uint8Array };

export function classifyNattDatagram(payload: Uint8Array): Result<NattDatagram, WireError> {
  if (payload.length === 1) {
    if (payload[0] === NATT_KEEPALIVE) return ok({ kind: "keepalive" });
    return err(wireError(WireErrorCode.BadValue, "NAT-T: one-octet datagram that is not 0xFF", 0));
  }
  if (payload.length < NON_ESP_MARKER_LENGTH) {
    return err(
      wireError(WireErrorCode.Truncated, "NAT-T: datagram shorter than a Non-ESP Marker", 0),
    );
  }
  const marker = payload[0]! | payload[1]! | payload[2]! | payload[3]!;
  if (marker === 0) {
    if (payload.length < NON_ESP_MARKER_LENGTH + IKE_HEADER_LENGTH) {
      return err(
        wireError(
          WireErrorCode.Truncated,
          "NAT-T: IKE message shorter than its header",
          NON_ESP_MARKER_LENGTH,
        ),
      );
    }
    return ok({ kind: "ike", ike: payload.subarray(NON_ESP_MARKER_LENGTH) });
  }
  if (payload.length < ESP_HEADER)
    return err(wireError(WireErrorCode.Truncated, "NAT-T: ESP shorter than its header", 0));
  return ok({ kind: "esp", esp: payload });
}

/** Same classification as the typed record, for round-trip tests. */
export function serializeNattDatagram(d: NattDatagram): Buffer {
  switch (d.kind) {
    case "keepalive":
      return buildNattKeepalive();
    case "ike":
      return buildNattIke(d.ike);
    case "esp":
      return Buffer.from(d.esp);
  }
}

export function buildNattKeepalive(): Buffer {
  return Buffer.from([NATT_KEEPALIVE]);
}

/** Prefixes an IKE message with the Non-ESP Marker for sending on port 4500. */
export function buildNattIke(ike: Uint8Array): Buffer {
  const b = Buffer.alloc(NON_ESP_MARKER_LENGTH + ike.length);
  b.set(ike, NON_ESP_MARKER_LENGTH);
  return b;
}
