/**
 * LCP packets and options (RFC 1661 §5, §6; RFC 1662 §7.1 ACCM; RFC 1570 §2 Identification,
 * §3 Time-Remaining; RFC 1994 §3 / RFC 2759 §2 CHAP algorithm octet).
 *
 *   Configure-*, Terminate-*, Code-Reject: see control.ts.
 *   Protocol-Reject:  | 8 | Id | Length | Rejected-Protocol (2) | Rejected-Information ...
 *   Echo-Request/Reply, Discard-Request: | 9/10/11 | Id | Length | Magic-Number (4) | Data ...
 *   Identification:   | 12 | Id | Length | Magic-Number (4) | Message ...
 *   Time-Remaining:   | 13 | Id | Length | Magic-Number (4) | Seconds-Remaining (4) | Message ...
 *
 * Options: MRU (1, len 4), ACCM (2, len 6), Authentication-Protocol (3, len >= 4: protocol +
 * data; for CHAP the data is the Algorithm octet), Quality-Protocol (4, len >= 4), Magic-Number
 * (5, len 6), PFC (7, len 2), ACFC (8, len 2). Anything else, or a known type with a length
 * that does not fit, is kept raw.
 * Left out: Multilink options (RFC 1990), Callback (RFC 1570 §4) beyond raw form.
 */
import { type Result, err, ok } from "../../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import {
  type CodeRejectPacket,
  type ConfigurePacket,
  type OptionCodec,
  type RawOption,
  type TerminatePacket,
  type UnknownCodePacket,
  ncpPacketOf,
  parseControlHeader,
  rawOption,
  serializeControl,
  serializeNcpPacket,
} from "./control.js";

export type LcpOption =
  | { readonly kind: "mru"; readonly mru: number }
  | { readonly kind: "accm"; readonly accm: number }
  | { readonly kind: "auth-protocol"; readonly protocol: number; readonly data: Uint8Array }
  | { readonly kind: "quality-protocol"; readonly protocol: number; readonly data: Uint8Array }
  | { readonly kind: "magic-number"; readonly magic: number }
  | { readonly kind: "pfc" }
  | { readonly kind: "acfc" }
  | RawOption;

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}
function u32(b: Uint8Array, o: number): number {
  return (
    (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0
  );
}
function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}
function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export const lcpOptionCodec: OptionCodec<LcpOption> = {
  decode(type, data) {
    switch (type) {
      case 1:
        return data.length === 2 ? { kind: "mru", mru: u16(data, 0) } : rawOption(type, data);
      case 2:
        return data.length === 4 ? { kind: "accm", accm: u32(data, 0) } : rawOption(type, data);
      case 3:
        return data.length >= 2
          ? { kind: "auth-protocol", protocol: u16(data, 0), data: data.subarray(2) }
          : rawOption(type, data);
      case 4:
        return data.length >= 2
          ? { kind: "quality-protocol", protocol: u16(data, 0), data: data.subarray(2) }
          : rawOption(type, data);
      case 5:
        return data.length === 4
          ? { kind: "magic-number", magic: u32(data, 0) }
          : rawOption(type, data);
      case 7:
        return data.length === 0 ? { kind: "pfc" } : rawOption(type, data);
      case 8:
        return data.length === 0 ? { kind: "acfc" } : rawOption(type, data);
      default:
        return rawOption(type, data);
    }
  },
  encode(o) {
    switch (o.kind) {
      case "mru":
        return { type: 1, data: be16(o.mru) };
      case "accm":
        return { type: 2, data: be32(o.accm) };
      case "auth-protocol":
        return { type: 3, data: Buffer.concat([be16(o.protocol), o.data]) };
      case "quality-protocol":
        return { type: 4, data: Buffer.concat([be16(o.protocol), o.data]) };
      case "magic-number":
        return { type: 5, data: be32(o.magic) };
      case "pfc":
        return { type: 7, data: Buffer.alloc(0) };
      case "acfc":
        return { type: 8, data: Buffer.alloc(0) };
      case "raw":
        return { type: o.type, data: o.data };
    }
  },
};

/** The CHAP Algorithm octet of an Authentication-Protocol option, if it is CHAP with one. */
export function chapAlgorithmOf(o: {
  readonly protocol: number;
  readonly data: Uint8Array;
}): number | undefined {
  return o.protocol === 0xc223 && o.data.length === 1 ? o.data[0] : undefined;
}

export interface ProtocolRejectPacket {
  readonly kind: "Protocol-Reject";
  readonly identifier: number;
  readonly rejectedProtocol: number;
  readonly rejectedInformation: Uint8Array;
  readonly padding?: Uint8Array;
}
export interface EchoPacket {
  readonly kind: "Echo-Request" | "Echo-Reply" | "Discard-Request";
  readonly identifier: number;
  readonly magic: number;
  readonly data: Uint8Array;
  readonly padding?: Uint8Array;
}
export interface IdentificationPacket {
  readonly kind: "Identification";
  readonly identifier: number;
  readonly magic: number;
  readonly message: Uint8Array;
  readonly padding?: Uint8Array;
}
export interface TimeRemainingPacket {
  readonly kind: "Time-Remaining";
  readonly identifier: number;
  readonly magic: number;
  readonly secondsRemaining: number;
  readonly message: Uint8Array;
  readonly padding?: Uint8Array;
}

export type LcpPacket =
  | ConfigurePacket<LcpOption>
  | TerminatePacket
  | CodeRejectPacket
  | ProtocolRejectPacket
  | EchoPacket
  | IdentificationPacket
  | TimeRemainingPacket
  | UnknownCodePacket;

const echoKinds: Record<number, EchoPacket["kind"]> = {
  9: "Echo-Request",
  10: "Echo-Reply",
  11: "Discard-Request",
};
const echoCodes: Record<EchoPacket["kind"], number> = {
  "Echo-Request": 9,
  "Echo-Reply": 10,
  "Discard-Request": 11,
};

export function parseLcpPacket(bytes: Uint8Array): Result<LcpPacket, WireError> {
  const h = parseControlHeader(bytes, "LCP");
  if (!h.ok) return h;
  const { code, identifier, data, padding } = h.value;
  const pad = padding.length > 0 ? { padding } : {};
  switch (code) {
    case 8:
      if (data.length < 2) {
        return err(
          wireError(WireErrorCode.Truncated, "LCP Protocol-Reject: no Rejected-Protocol", 4),
        );
      }
      return ok({
        kind: "Protocol-Reject",
        identifier,
        rejectedProtocol: u16(data, 0),
        rejectedInformation: data.subarray(2),
        ...pad,
      });
    case 9:
    case 10:
    case 11:
    case 12:
    case 13: {
      const need = code === 13 ? 8 : 4;
      if (data.length < need) {
        return err(
          wireError(
            WireErrorCode.Truncated,
            `LCP code ${code}: shorter than ${need} data octets`,
            4,
          ),
        );
      }
      const magic = u32(data, 0);
      if (code === 12)
        return ok({ kind: "Identification", identifier, magic, message: data.subarray(4), ...pad });
      if (code === 13) {
        return ok({
          kind: "Time-Remaining",
          identifier,
          magic,
          secondsRemaining: u32(data, 4),
          message: data.subarray(8),
          ...pad,
        });
      }
      return ok({
        kind: echoKinds[code] ?? "Echo-Request",
        identifier,
        magic,
        data: data.subarray(4),
        ...pad,
      });
    }
    default:
      // codes 1..7 as every NCP has them; anything else is Unknown-Code
      return ncpPacketOf(lcpOptionCodec, h.value, "LCP");
  }
}

export function serializeLcpPacket(p: LcpPacket): Buffer {
  switch (p.kind) {
    case "Protocol-Reject":
      return serializeControl(
        8,
        p.identifier,
        Buffer.concat([be16(p.rejectedProtocol), p.rejectedInformation]),
        p.padding,
      );
    case "Echo-Request":
    case "Echo-Reply":
    case "Discard-Request":
      return serializeControl(
        echoCodes[p.kind],
        p.identifier,
        Buffer.concat([be32(p.magic), p.data]),
        p.padding,
      );
    case "Identification":
      return serializeControl(
        12,
        p.identifier,
        Buffer.concat([be32(p.magic), p.message]),
        p.padding,
      );
    case "Time-Remaining":
      return serializeControl(
        13,
        p.identifier,
        Buffer.concat([be32(p.magic), be32(p.secondsRemaining), p.message]),
        p.padding,
      );
    default:
      // Configure-*, Terminate-*, Code-Reject, Unknown-Code: as every NCP writes them
      return serializeNcpPacket(lcpOptionCodec, p);
  }
}
