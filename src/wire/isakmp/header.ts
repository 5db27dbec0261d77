/**
 * ISAKMP fixed header, RFC 2408 §3.1.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Initiator                            !
 * !                            Cookie                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Responder                            !
 * !                            Cookie                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Message ID                           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                            Length                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * parseIsakmpHeader accepts any version (the caller decides what to do with IKEv2 or unknown
 * versions: RFC 2408 §5.2 INVALID-MAJOR-VERSION). It checks the Length field against the
 * datagram: smaller than 28 or larger than the datagram is an error; bytes after Length are
 * tolerated and reported by parseIsakmpMessage. Undefined flag bits are kept, not rejected.
 * The non-ESP marker of UDP/4500 (RFC 3948 §2.2) is not part of ISAKMP: strip it before.
 */
import { asBuffer } from "../../base/bytes.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { type Result, err, ok } from "../../base/result.js";
import { IsakmpFlag } from "../../registry/ike.js";
import {
  ISAKMP_HEADER_LENGTH,
  type IsakmpFlags,
  type IsakmpHeader,
  isakmpCookie,
  isakmpMessageId,
} from "./types.js";

export function decodeFlags(octet: number): IsakmpFlags {
  return {
    encryption: (octet & IsakmpFlag.ENCRYPTION) !== 0,
    commit: (octet & IsakmpFlag.COMMIT) !== 0,
    authenticationOnly: (octet & IsakmpFlag.AUTHENTICATION_ONLY) !== 0,
    reservedBits: octet & 0xf8,
  };
}

export function encodeFlags(f: IsakmpFlags): number {
  return (
    (f.encryption ? IsakmpFlag.ENCRYPTION : 0) |
    (f.commit ? IsakmpFlag.COMMIT : 0) |
    (f.authenticationOnly ? IsakmpFlag.AUTHENTICATION_ONLY : 0) |
    (f.reservedBits & 0xf8)
  );
}

/** Parses the 28-octet header and validates Length against the datagram size. */
export function parseIsakmpHeader(input: Uint8Array): Result<IsakmpHeader, WireError> {
  const b = asBuffer(input);
  if (b.length < ISAKMP_HEADER_LENGTH) {
    return err(
      wireError(
        WireErrorCode.Truncated,
        `ISAKMP header: ${b.length} bytes, need ${ISAKMP_HEADER_LENGTH}`,
        0,
      ),
    );
  }
  const length = b.readUInt32BE(24);
  if (length < ISAKMP_HEADER_LENGTH) {
    return err(wireError(WireErrorCode.BadLength, `ISAKMP header: Length ${length} < 28`, 24));
  }
  if (length > b.length) {
    return err(
      wireError(
        WireErrorCode.BadLength,
        `ISAKMP header: Length ${length} exceeds datagram of ${b.length} bytes`,
        24,
      ),
    );
  }
  const version = b[17] ?? 0;
  return ok({
    initiatorCookie: isakmpCookie(b.subarray(0, 8)),
    responderCookie: isakmpCookie(b.subarray(8, 16)),
    nextPayload: b[16] ?? 0,
    majorVersion: version >> 4,
    minorVersion: version & 0x0f,
    exchangeType: b[18] ?? 0,
    flags: decodeFlags(b[19] ?? 0),
    messageId: isakmpMessageId(b.readUInt32BE(20)),
    length,
  });
}

/** Writes the header exactly as given (nextPayload and length included). */
export function serializeIsakmpHeader(h: IsakmpHeader): Buffer {
  if (h.initiatorCookie.length !== 8 || h.responderCookie.length !== 8) {
    throw new Error("serializeIsakmpHeader: cookies must be 8 bytes");
  }
  const out = Buffer.alloc(ISAKMP_HEADER_LENGTH);
  h.initiatorCookie.copy(out, 0);
  h.responderCookie.copy(out, 8);
  out[16] = h.nextPayload & 0xff;
  out[17] = ((h.majorVersion & 0x0f) << 4) | (h.minorVersion & 0x0f);
  out[18] = h.exchangeType & 0xff;
  out[19] = encodeFlags(h.flags);
  out.writeUInt32BE(h.messageId >>> 0, 20);
  out.writeUInt32BE(h.length >>> 0, 24);
  return out;
}
