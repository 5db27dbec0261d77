/**
 * The packet format shared by LCP and the NCPs (RFC 1661 §5) and the Configuration Option
 * list (RFC 1661 §6):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Code      |  Identifier   |            Length             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |    Data ...
 *   +-+-+-+-+
 *   Option: | Type (1) | Length (1, counts Type and Length) | Data ... |
 *
 * Octets after Length are padding (RFC 1661 §5: "treated as padding and ignored on
 * reception"); they are kept in `padding` so that serialize(parse(b)) == b.
 * An option whose Length does not fit its known type is kept raw (kind "raw"), so that the
 * engine can Configure-Reject it; a broken option list (Length < 2 or past the end) is an
 * error. At most MAX_OPTIONS options per packet (resource guard).
 */
import { type Result, err, ok } from "../../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";

export const MAX_OPTIONS = 255;

export interface ControlHeader {
  readonly code: number;
  readonly identifier: number;
  /** Bytes after the 4-octet header, up to Length. */
  readonly data: Uint8Array;
  readonly padding: Uint8Array;
}

export function parseControlHeader(
  bytes: Uint8Array,
  what: string,
): Result<ControlHeader, WireError> {
  if (bytes.length < 4)
    return err(wireError(WireErrorCode.Truncated, `${what}: shorter than 4 octets`, 0));
  const code = bytes[0] ?? 0;
  const identifier = bytes[1] ?? 0;
  const length = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  if (length < 4)
    return err(wireError(WireErrorCode.BadLength, `${what}: Length ${length} < 4`, 2));
  if (length > bytes.length) {
    return err(
      wireError(WireErrorCode.Truncated, `${what}: Length ${length} > ${bytes.length} octets`, 2),
    );
  }
  return ok({ code, identifier, data: bytes.subarray(4, length), padding: bytes.subarray(length) });
}

export function serializeControl(
  code: number,
  identifier: number,
  data: Uint8Array,
  padding?: Uint8Array,
): Buffer {
  const length = 4 + data.length;
  if (length > 0xffff) throw new Error(`serializeControl: packet of ${length} octets`);
  const h = Buffer.from([code & 0xff, identifier & 0xff, length >> 8, length & 0xff]);
  return Buffer.concat(padding && padding.length > 0 ? [h, data, padding] : [h, data]);
}

/** An option kept as its bytes: unknown type, or a known type with a length that does not fit. */
export interface RawOption {
  readonly kind: "raw";
  readonly type: number;
  readonly data: Uint8Array;
}

export interface OptionCodec<O> {
  /** Never fails: an unknown or malformed option becomes a RawOption. */
  decode(type: number, data: Uint8Array): O;
  encode(o: O): { readonly type: number; readonly data: Uint8Array };
}

export function parseOptions<O>(
  codec: OptionCodec<O>,
  bytes: Uint8Array,
  what: string,
): Result<O[], WireError> {
  const out: O[] = [];
  let off = 0;
  while (off < bytes.length) {
    if (out.length >= MAX_OPTIONS) {
      return err(
        wireError(WireErrorCode.TooMany, `${what}: more than ${MAX_OPTIONS} options`, off),
      );
    }
    const type = bytes[off] ?? 0;
    const len = bytes[off + 1];
    if (len === undefined)
      return err(wireError(WireErrorCode.Truncated, `${what}: option ${type} without Length`, off));
    if (len < 2)
      return err(
        wireError(WireErrorCode.BadLength, `${what}: option ${type} Length ${len} < 2`, off + 1),
      );
    if (off + len > bytes.length) {
      return err(
        wireError(
          WireErrorCode.Truncated,
          `${what}: option ${type} Length ${len} past the end`,
          off + 1,
        ),
      );
    }
    out.push(codec.decode(type, bytes.subarray(off + 2, off + len)));
    off += len;
  }
  return ok(out);
}

export function serializeOptions<O>(codec: OptionCodec<O>, options: readonly O[]): Buffer {
  const parts: Buffer[] = [];
  for (const o of options) {
    const { type, data } = codec.encode(o);
    if (data.length + 2 > 0xff) throw new Error(`serializeOptions: option ${type} too long`);
    parts.push(Buffer.from([type & 0xff, data.length + 2]), Buffer.from(data));
  }
  return Buffer.concat(parts);
}

export function rawOption(type: number, data: Uint8Array): RawOption {
  return { kind: "raw", type, data };
}

/** Dotted-quad from 4 octets. */
export function ipv4ToString(b: Uint8Array, off = 0): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

const quad = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** 4 octets from a dotted quad; undefined if it is not one. */
export function ipv4FromString(s: string): Buffer | undefined {
  const m = quad.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return Buffer.from(parts);
}

export function ipv4Bytes(s: string): Buffer {
  const b = ipv4FromString(s);
  if (!b) throw new Error(`not an IPv4 address: ${s}`);
  return b;
}

/** The kinds of packet common to LCP and every NCP (RFC 1661 §5.1-§5.6). */
export type ConfigureKind =
  | "Configure-Request"
  | "Configure-Ack"
  | "Configure-Nak"
  | "Configure-Reject";
export const configureCodes: Record<ConfigureKind, number> = {
  "Configure-Request": 1,
  "Configure-Ack": 2,
  "Configure-Nak": 3,
  "Configure-Reject": 4,
};
export const configureKinds: Record<number, ConfigureKind> = {
  1: "Configure-Request",
  2: "Configure-Ack",
  3: "Configure-Nak",
  4: "Configure-Reject",
};

export interface ConfigurePacket<O> {
  readonly kind: ConfigureKind;
  readonly identifier: number;
  readonly options: readonly O[];
  readonly padding?: Uint8Array;
}
export interface TerminatePacket {
  readonly kind: "Terminate-Request" | "Terminate-Ack";
  readonly identifier: number;
  readonly data: Uint8Array;
  readonly padding?: Uint8Array;
}
export interface CodeRejectPacket {
  readonly kind: "Code-Reject";
  readonly identifier: number;
  /** The rejected packet, from its Code field on (possibly truncated by the sender). */
  readonly rejectedPacket: Uint8Array;
  readonly padding?: Uint8Array;
}
/** A code this protocol does not define: the engine answers with Code-Reject. */
export interface UnknownCodePacket {
  readonly kind: "Unknown-Code";
  readonly code: number;
  readonly identifier: number;
  readonly data: Uint8Array;
  readonly padding?: Uint8Array;
}
export type NcpPacket<O> =
  | ConfigurePacket<O>
  | TerminatePacket
  | CodeRejectPacket
  | UnknownCodePacket;

/** Parses codes 1..7 (the NCP set); other codes become Unknown-Code. */
export function parseNcpPacket<O>(
  codec: OptionCodec<O>,
  bytes: Uint8Array,
  what: string,
): Result<NcpPacket<O>, WireError> {
  const h = parseControlHeader(bytes, what);
  return h.ok ? ncpPacketOf(codec, h.value, what) : h;
}

/**
 * The packet codes 1..7 (RFC 1661 §5.1-5.4, shared by LCP and every NCP) give from a parsed
 * header; other codes become Unknown-Code (LCP reads its codes 8..13 before calling this).
 */
export function ncpPacketOf<O>(
  codec: OptionCodec<O>,
  h: ControlHeader,
  what: string,
): Result<NcpPacket<O>, WireError> {
  const { code, identifier, data, padding } = h;
  const pad = padding.length > 0 ? { padding } : {};
  const ck = configureKinds[code];
  if (ck) {
    const opts = parseOptions(codec, data, `${what} ${ck}`);
    if (!opts.ok) return err({ ...opts.error, offset: opts.error.offset + 4 });
    return ok({ kind: ck, identifier, options: opts.value, ...pad });
  }
  if (code === 5 || code === 6) {
    return ok({
      kind: code === 5 ? "Terminate-Request" : "Terminate-Ack",
      identifier,
      data,
      ...pad,
    });
  }
  if (code === 7) return ok({ kind: "Code-Reject", identifier, rejectedPacket: data, ...pad });
  return ok({ kind: "Unknown-Code", code, identifier, data, ...pad });
}

export function serializeNcpPacket<O>(codec: OptionCodec<O>, p: NcpPacket<O>): Buffer {
  switch (p.kind) {
    case "Configure-Request":
    case "Configure-Ack":
    case "Configure-Nak":
    case "Configure-Reject":
      return serializeControl(
        configureCodes[p.kind],
        p.identifier,
        serializeOptions(codec, p.options),
        p.padding,
      );
    case "Terminate-Request":
    case "Terminate-Ack":
      return serializeControl(
        p.kind === "Terminate-Request" ? 5 : 6,
        p.identifier,
        p.data,
        p.padding,
      );
    case "Code-Reject":
      return serializeControl(7, p.identifier, p.rejectedPacket, p.padding);
    case "Unknown-Code":
      return serializeControl(p.code, p.identifier, p.data, p.padding);
  }
}
