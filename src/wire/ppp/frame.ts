/**
 * PPP frame as carried in an L2TP data message (RFC 2661 §5.1 / RFC 1661 §2 / RFC 1662 §3).
 *
 *   +----------+----------+----------+-------------+---------
 *   | Address  | Control  | Protocol | Information | Padding
 *   | 0xFF     | 0x03     | 8/16 bits|      *      |    *
 *   +----------+----------+----------+-------------+---------
 *
 * L2TP carries the frame without HDLC flags, byte stuffing or FCS (RFC 2661 §5.1), so only
 * the Address/Control pair (omitted under ACFC, RFC 1661 §6.6) and the Protocol field
 * (1 octet under PFC, RFC 1661 §6.5) are parsed here. The Information field keeps any
 * trailing padding: padding belongs to the protocol inside (e.g. a control packet's Length).
 *
 * Rules applied: a frame starting with 0xFF must continue with 0x03 (RFC 1662 §3.1: the
 * All-Stations address is always followed by UI control); the Protocol field's least
 * significant octet must be odd and its most significant octet even (RFC 1661 §2), so a first
 * octet with the low bit set is a compressed (1-octet) Protocol field. The reserved protocol
 * 0x00ff is never sent compressed without FF 03 (it would read as the Address field).
 * Left out: HDLC framing (RFC 1662 §4), which L2TP does not use.
 */
import { type Result, err, ok } from "../../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";

export interface PppFrame {
  /** Address 0xFF and Control 0x03 present (false = compressed away, ACFC). */
  readonly addressControl: boolean;
  /** Protocol field sent in one octet (PFC); only possible for protocols < 0x100. */
  readonly protocolCompressed: boolean;
  readonly protocol: number;
  readonly information: Uint8Array;
}

export function parsePppFrame(bytes: Uint8Array): Result<PppFrame, WireError> {
  let off = 0;
  let addressControl = false;
  if (bytes.length >= 1 && bytes[0] === 0xff) {
    if (bytes.length < 2)
      return err(wireError(WireErrorCode.Truncated, "PPP frame: no Control field", 1));
    if (bytes[1] !== 0x03) {
      return err(
        wireError(WireErrorCode.BadValue, "PPP frame: Address 0xFF without Control 0x03", 1),
      );
    }
    addressControl = true;
    off = 2;
  }
  const p0 = bytes[off];
  if (p0 === undefined)
    return err(wireError(WireErrorCode.Truncated, "PPP frame: no Protocol field", off));
  if ((p0 & 1) === 1) {
    return ok({
      addressControl,
      protocolCompressed: true,
      protocol: p0,
      information: bytes.subarray(off + 1),
    });
  }
  const p1 = bytes[off + 1];
  if (p1 === undefined) {
    return err(wireError(WireErrorCode.Truncated, "PPP frame: Protocol field cut short", off + 1));
  }
  if ((p1 & 1) === 0) {
    return err(
      wireError(WireErrorCode.BadValue, "PPP frame: Protocol field low octet is even", off + 1),
    );
  }
  return ok({
    addressControl,
    protocolCompressed: false,
    protocol: (p0 << 8) | p1,
    information: bytes.subarray(off + 2),
  });
}

export function serializePppFrame(f: PppFrame): Buffer {
  if (f.protocolCompressed && f.protocol > 0xff) {
    throw new Error(
      `serializePppFrame: protocol 0x${f.protocol.toString(16)} cannot be compressed`,
    );
  }
  const head: number[] = f.addressControl ? [0xff, 0x03] : [];
  if (f.protocolCompressed) head.push(f.protocol);
  else head.push(f.protocol >> 8, f.protocol & 0xff);
  return Buffer.concat([Buffer.from(head), f.information]);
}

/** Builds a frame for sending under the negotiated compression (PFC applies only below 0x100). */
export function makePppFrame(
  protocol: number,
  information: Uint8Array,
  opts: { readonly acfc: boolean; readonly pfc: boolean },
): Buffer {
  return serializePppFrame({
    addressControl: !opts.acfc,
    protocolCompressed: opts.pfc && protocol < 0xff,
    protocol,
    information,
  });
}
