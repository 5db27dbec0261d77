/**
 * IKEv1 fragmentation, the proprietary scheme of Cisco, Microsoft (Windows), racoon and strongSwan:
 * no RFC; the layout below is the one those implementations put on the wire (payload type 132,
 * announced with the FRAGMENTATION vendor ID, registry/vendor-ids.ts).
 *
 * A whole ISAKMP message (header included, encrypted or not) is cut into pieces; each piece
 * travels in its own datagram: an ISAKMP header with the same cookies, Next Payload 132,
 * Message ID 0 and no E flag, followed by exactly one fragment payload:
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !        Payload Length         !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !          Fragment ID          ! Fragment Num  !     Flags     !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Fragment Data                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Fragment numbers start at 1; flag bit 0x01 marks the last one (the total is only known from
 * it). The Fragment ID names the message being cut (strongSwan always sends 1; a retransmission
 * reuses the ID).
 *
 * Deviations on purpose, on receipt: the E flag is tolerated (racoon sets it on fragments,
 * which are never encrypted); fragment number 0, an empty fragment, a second payload after the
 * fragment payload or bytes between it and the header's Length are errors. Unknown flag bits
 * are kept (round trip).
 */
import { asBuffer } from "../../base/bytes.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { type Result, err, ok } from "../../base/result.js";
import { ExchangeType, PayloadType } from "../../registry/ike.js";
import { parseIsakmpHeader, serializeIsakmpHeader } from "./header.js";
import {
  ISAKMP_HEADER_LENGTH,
  type IsakmpHeader,
  NO_FLAGS,
  isakmpCookie,
  isakmpMessageId,
} from "./types.js";

/** Fragment payload header: generic header (4) + ID (2) + number (1) + flags (1). */
export const FRAGMENT_PAYLOAD_HEADER_LENGTH = 8;
/** Flag bit of the last fragment. */
export const FRAGMENT_FLAG_LAST = 0x01;
/** The fragment number is one octet. */
export const MAX_FRAGMENT_NUMBER = 255;

export interface IkeFragment {
  /** The carrier's ISAKMP header (cookies identify the IKE SA). */
  readonly header: IsakmpHeader;
  readonly fragmentId: number;
  /** 1..255. */
  readonly fragmentNumber: number;
  readonly last: boolean;
  /** The raw flags octet (LAST and any unknown bits). */
  readonly flags: number;
  /** The fragment payload's RESERVED octet. */
  readonly reserved: number;
  /** Fragment Data: a piece of the original message (a view into the input). */
  readonly data: Buffer;
  /** Octets after the header's Length (tolerated, not part of the message). */
  readonly trailingLength: number;
}

/** Whether a datagram is a fragment carrier (Next Payload 132), judged from the header only. */
export function isFragmentCarrier(datagram: Uint8Array): boolean {
  return datagram.length >= ISAKMP_HEADER_LENGTH && datagram[16] === PayloadType.FRAGMENT;
}

/** Parses one fragment carrier datagram. */
export function parseIkeFragment(input: Uint8Array): Result<IkeFragment, WireError> {
  const b = asBuffer(input);
  const h = parseIsakmpHeader(b);
  if (!h.ok) return h;
  const header = h.value;
  if (header.majorVersion !== 1) {
    return err(
      wireError(WireErrorCode.BadValue, `ISAKMP major version ${header.majorVersion} (only 1)`, 17),
    );
  }
  if (header.nextPayload !== PayloadType.FRAGMENT) {
    return err(
      wireError(
        WireErrorCode.BadValue,
        `fragment carrier: first payload ${header.nextPayload}, need 132`,
        16,
      ),
    );
  }
  const at = ISAKMP_HEADER_LENGTH;
  if (header.length - at < FRAGMENT_PAYLOAD_HEADER_LENGTH) {
    return err(
      wireError(
        WireErrorCode.Truncated,
        `fragment payload: ${header.length - at} bytes, need ${FRAGMENT_PAYLOAD_HEADER_LENGTH}`,
        at,
      ),
    );
  }
  const next = b[at] ?? 0;
  const reserved = b[at + 1] ?? 0;
  const plen = b.readUInt16BE(at + 2);
  if (next !== PayloadType.NONE) {
    return err(
      wireError(WireErrorCode.BadNesting, `fragment payload: Next Payload ${next}, need 0`, at),
    );
  }
  if (plen !== header.length - at) {
    return err(
      wireError(
        WireErrorCode.BadLength,
        `fragment payload: Payload Length ${plen}, message leaves ${header.length - at}`,
        at + 2,
      ),
    );
  }
  if (plen === FRAGMENT_PAYLOAD_HEADER_LENGTH) {
    return err(wireError(WireErrorCode.BadLength, "fragment payload: no Fragment Data", at + 2));
  }
  const fragmentNumber = b[at + 6] ?? 0;
  if (fragmentNumber === 0) {
    return err(wireError(WireErrorCode.BadValue, "fragment payload: Fragment Number 0", at + 6));
  }
  const flags = b[at + 7] ?? 0;
  return ok({
    header,
    fragmentId: b.readUInt16BE(at + 4),
    fragmentNumber,
    last: (flags & FRAGMENT_FLAG_LAST) !== 0,
    flags,
    reserved,
    data: b.subarray(at + FRAGMENT_PAYLOAD_HEADER_LENGTH, header.length),
    trailingLength: b.length - header.length,
  });
}

/** Serializes a fragment carrier exactly as given (Length fields computed). */
export function serializeIkeFragment(f: Omit<IkeFragment, "last" | "trailingLength">): Buffer {
  if (f.fragmentNumber < 1 || f.fragmentNumber > MAX_FRAGMENT_NUMBER) {
    throw new Error(`serializeIkeFragment: fragment number ${f.fragmentNumber}`);
  }
  const plen = FRAGMENT_PAYLOAD_HEADER_LENGTH + f.data.length;
  const length = ISAKMP_HEADER_LENGTH + plen;
  const out = Buffer.alloc(length);
  serializeIsakmpHeader({ ...f.header, nextPayload: PayloadType.FRAGMENT, length }).copy(out, 0);
  const at = ISAKMP_HEADER_LENGTH;
  out[at] = PayloadType.NONE;
  out[at + 1] = f.reserved & 0xff;
  out.writeUInt16BE(plen, at + 2);
  out.writeUInt16BE(f.fragmentId & 0xffff, at + 4);
  out[at + 6] = f.fragmentNumber;
  out[at + 7] = f.flags & 0xff;
  asBuffer(f.data).copy(out, at + FRAGMENT_PAYLOAD_HEADER_LENGTH);
  return out;
}

/**
 * Cuts a whole ISAKMP message into carriers of at most `maxDataBytes` of Fragment Data each.
 * The carriers copy the message's cookies; like strongSwan they say Identity Protection (or
 * Aggressive for an Aggressive Mode message) with Message ID 0, whatever the exchange inside.
 * Throws (a bug) when the message needs more than 255 pieces or is not an ISAKMP message.
 */
export function splitIntoFragments(
  message: Uint8Array,
  fragmentId: number,
  maxDataBytes: number,
): Buffer[] {
  const m = asBuffer(message);
  if (m.length < ISAKMP_HEADER_LENGTH) throw new Error("splitIntoFragments: not an ISAKMP message");
  if (!Number.isInteger(maxDataBytes) || maxDataBytes < 1) {
    throw new Error(`splitIntoFragments: maxDataBytes ${maxDataBytes}`);
  }
  const count = Math.ceil(m.length / maxDataBytes);
  if (count > MAX_FRAGMENT_NUMBER) {
    throw new Error(`splitIntoFragments: ${count} fragments (at most ${MAX_FRAGMENT_NUMBER})`);
  }
  const header: IsakmpHeader = {
    initiatorCookie: isakmpCookie(m.subarray(0, 8)),
    responderCookie: isakmpCookie(m.subarray(8, 16)),
    nextPayload: PayloadType.FRAGMENT,
    majorVersion: 1,
    minorVersion: 0,
    exchangeType:
      m[18] === ExchangeType.AGGRESSIVE
        ? ExchangeType.AGGRESSIVE
        : ExchangeType.IDENTITY_PROTECTION,
    flags: NO_FLAGS,
    messageId: isakmpMessageId(0),
    length: 0,
  };
  const out: Buffer[] = [];
  for (let n = 1; n <= count; n++) {
    const data = m.subarray((n - 1) * maxDataBytes, Math.min(m.length, n * maxDataBytes));
    out.push(
      serializeIkeFragment({
        header,
        fragmentId,
        fragmentNumber: n,
        flags: n === count ? FRAGMENT_FLAG_LAST : 0,
        reserved: 0,
        data,
      }),
    );
  }
  return out;
}
