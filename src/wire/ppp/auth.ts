/**
 * Authentication packets carried in PPP:
 *
 * PAP (RFC 1334 §2.2), protocol 0xC023:
 *   Authenticate-Request: | 1 | Id | Length | Peer-ID Length | Peer-Id | Passwd-Length | Password |
 *   Authenticate-Ack/Nak: | 2/3 | Id | Length | Msg-Length | Message |
 * CHAP (RFC 1994 §4), protocol 0xC223:
 *   Challenge/Response:   | 1/2 | Id | Length | Value-Size | Value | Name |
 *   Success/Failure:      | 3/4 | Id | Length | Message |
 * MS-CHAPv2 (RFC 2759 §4-§6) inside CHAP with Algorithm 0x81:
 *   Response Value (49 octets): Peer-Challenge (16) | Reserved (8, zero) | NT-Response (24) | Flags (1)
 *   Success Message: "S=<40 uppercase hex digits>" optionally followed by " M=<message>"
 *   Failure Message: "E=<error> R=<0|1> C=<32 hex digits> V=<version> M=<message>"
 *
 * Deviations/choices: the Success parser accepts only uppercase hex (RFC 2759 §5: "MUST be
 * uppercase"; pppd compares it byte for byte); the Failure parser requires E= and accepts R=,
 * C=, V=, M= each optional but in the RFC's order, with canonical decimal numbers, so that
 * serialize(parse(m)) == m. Messages are kept as latin1 strings (byte-exact).
 * Left out: MS-CHAPv2 Change-Password (code 7, RFC 2759 §7), which becomes Unknown-Code.
 */
import { type Result, err, ok } from "../../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { parseControlHeader, serializeControl } from "./control.js";

export type PapPacket =
  | {
      readonly kind: "Authenticate-Request";
      readonly identifier: number;
      readonly peerId: Uint8Array;
      readonly password: Uint8Array;
      readonly padding?: Uint8Array;
    }
  | {
      readonly kind: "Authenticate-Ack" | "Authenticate-Nak";
      readonly identifier: number;
      readonly message: Uint8Array;
      readonly padding?: Uint8Array;
    }
  | {
      readonly kind: "Unknown-Code";
      readonly code: number;
      readonly identifier: number;
      readonly data: Uint8Array;
      readonly padding?: Uint8Array;
    };

export function parsePapPacket(bytes: Uint8Array): Result<PapPacket, WireError> {
  const h = parseControlHeader(bytes, "PAP");
  if (!h.ok) return h;
  const { code, identifier, data, padding } = h.value;
  const pad = padding.length > 0 ? { padding } : {};
  if (code === 1) {
    const idLen = data[0];
    if (idLen === undefined)
      return err(wireError(WireErrorCode.Truncated, "PAP request: no Peer-ID Length", 4));
    const pwLen = data[1 + idLen];
    if (pwLen === undefined) {
      return err(wireError(WireErrorCode.Truncated, "PAP request: Peer-Id past the end", 5));
    }
    if (2 + idLen + pwLen !== data.length) {
      return err(
        wireError(
          WireErrorCode.BadLength,
          "PAP request: lengths do not add up to Length",
          6 + idLen,
        ),
      );
    }
    return ok({
      kind: "Authenticate-Request",
      identifier,
      peerId: data.subarray(1, 1 + idLen),
      password: data.subarray(2 + idLen, 2 + idLen + pwLen),
      ...pad,
    });
  }
  if (code === 2 || code === 3) {
    const mLen = data[0];
    if (mLen === undefined)
      return err(wireError(WireErrorCode.Truncated, "PAP Ack/Nak: no Msg-Length", 4));
    if (1 + mLen !== data.length) {
      return err(
        wireError(WireErrorCode.BadLength, "PAP Ack/Nak: Msg-Length does not match Length", 4),
      );
    }
    return ok({
      kind: code === 2 ? "Authenticate-Ack" : "Authenticate-Nak",
      identifier,
      message: data.subarray(1),
      ...pad,
    });
  }
  return ok({ kind: "Unknown-Code", code, identifier, data, ...pad });
}

export function serializePapPacket(p: PapPacket): Buffer {
  switch (p.kind) {
    case "Authenticate-Request":
      if (p.peerId.length > 255 || p.password.length > 255)
        throw new Error("PAP: Peer-Id or Password > 255");
      return serializeControl(
        1,
        p.identifier,
        Buffer.concat([
          Buffer.from([p.peerId.length]),
          p.peerId,
          Buffer.from([p.password.length]),
          p.password,
        ]),
        p.padding,
      );
    case "Authenticate-Ack":
    case "Authenticate-Nak":
      if (p.message.length > 255) throw new Error("PAP: Message > 255");
      return serializeControl(
        p.kind === "Authenticate-Ack" ? 2 : 3,
        p.identifier,
        Buffer.concat([Buffer.from([p.message.length]), p.message]),
        p.padding,
      );
    case "Unknown-Code":
      return serializeControl(p.code, p.identifier, p.data, p.padding);
  }
}

export type ChapPacket =
  | {
      readonly kind: "Challenge" | "Response";
      readonly identifier: number;
      readonly value: Uint8Array;
      readonly name: Uint8Array;
      readonly padding?: Uint8Array;
    }
  | {
      readonly kind: "Success" | "Failure";
      readonly identifier: number;
      readonly message: Uint8Array;
      readonly padding?: Uint8Array;
    }
  | {
      readonly kind: "Unknown-Code";
      readonly code: number;
      readonly identifier: number;
      readonly data: Uint8Array;
      readonly padding?: Uint8Array;
    };

export function parseChapPacket(bytes: Uint8Array): Result<ChapPacket, WireError> {
  const h = parseControlHeader(bytes, "CHAP");
  if (!h.ok) return h;
  const { code, identifier, data, padding } = h.value;
  const pad = padding.length > 0 ? { padding } : {};
  if (code === 1 || code === 2) {
    const size = data[0];
    if (size === undefined)
      return err(wireError(WireErrorCode.Truncated, "CHAP: no Value-Size", 4));
    if (1 + size > data.length)
      return err(wireError(WireErrorCode.BadLength, "CHAP: Value past the end", 4));
    return ok({
      kind: code === 1 ? "Challenge" : "Response",
      identifier,
      value: data.subarray(1, 1 + size),
      name: data.subarray(1 + size),
      ...pad,
    });
  }
  if (code === 3 || code === 4) {
    return ok({ kind: code === 3 ? "Success" : "Failure", identifier, message: data, ...pad });
  }
  return ok({ kind: "Unknown-Code", code, identifier, data, ...pad });
}

export function serializeChapPacket(p: ChapPacket): Buffer {
  switch (p.kind) {
    case "Challenge":
    case "Response":
      if (p.value.length > 255) throw new Error("CHAP: Value > 255 octets");
      return serializeControl(
        p.kind === "Challenge" ? 1 : 2,
        p.identifier,
        Buffer.concat([Buffer.from([p.value.length]), p.value, p.name]),
        p.padding,
      );
    case "Success":
    case "Failure":
      return serializeControl(p.kind === "Success" ? 3 : 4, p.identifier, p.message, p.padding);
    case "Unknown-Code":
      return serializeControl(p.code, p.identifier, p.data, p.padding);
  }
}

/** MS-CHAPv2 Response Value (RFC 2759 §4). */
export interface MsChapV2ResponseValue {
  readonly peerChallenge: Uint8Array;
  readonly reserved: Uint8Array;
  readonly ntResponse: Uint8Array;
  readonly flags: number;
}

export function parseMsChapV2ResponseValue(
  value: Uint8Array,
): Result<MsChapV2ResponseValue, WireError> {
  if (value.length !== 49) {
    return err(
      wireError(
        WireErrorCode.BadLength,
        `MS-CHAPv2 Response Value: ${value.length} octets, not 49`,
        0,
      ),
    );
  }
  return ok({
    peerChallenge: value.subarray(0, 16),
    reserved: value.subarray(16, 24),
    ntResponse: value.subarray(24, 48),
    flags: value[48] ?? 0,
  });
}

export function serializeMsChapV2ResponseValue(v: MsChapV2ResponseValue): Buffer {
  if (v.peerChallenge.length !== 16 || v.reserved.length !== 8 || v.ntResponse.length !== 24) {
    throw new Error("MS-CHAPv2 Response Value: wrong field sizes");
  }
  return Buffer.concat([v.peerChallenge, v.reserved, v.ntResponse, Buffer.from([v.flags & 0xff])]);
}

/** MS-CHAPv2 Success Message (RFC 2759 §5). */
export interface MsChapV2Success {
  /** The 20-octet authenticator response. */
  readonly authenticatorResponse: Uint8Array;
  /** The text after " M=", if present. */
  readonly message?: string;
}

const hexUpper = /^[0-9A-F]*$/;

export function parseMsChapV2Success(msg: Uint8Array): Result<MsChapV2Success, WireError> {
  const s = Buffer.from(msg).toString("latin1");
  if (s.length < 42)
    return err(wireError(WireErrorCode.Truncated, "MS-CHAPv2 Success: shorter than S=<40 hex>", 0));
  const hexPart = s.slice(2, 42);
  if (!s.startsWith("S=") || !hexUpper.test(hexPart)) {
    return err(
      wireError(WireErrorCode.BadValue, "MS-CHAPv2 Success: not S=<40 uppercase hex digits>", 0),
    );
  }
  const authenticatorResponse = Buffer.from(hexPart, "hex");
  const rest = s.slice(42);
  if (rest.length === 0) return ok({ authenticatorResponse });
  if (!rest.startsWith(" M=")) {
    return err(
      wireError(WireErrorCode.BadValue, "MS-CHAPv2 Success: text after S= is not ' M=...'", 42),
    );
  }
  return ok({ authenticatorResponse, message: rest.slice(3) });
}

export function serializeMsChapV2Success(m: MsChapV2Success): Buffer {
  if (m.authenticatorResponse.length !== 20)
    throw new Error("MS-CHAPv2 Success: response must be 20 octets");
  const s = `S=${Buffer.from(m.authenticatorResponse).toString("hex").toUpperCase()}${
    m.message !== undefined ? ` M=${m.message}` : ""
  }`;
  return Buffer.from(s, "latin1");
}

/** MS-CHAPv2 Failure Message (RFC 2759 §6). */
export interface MsChapV2Failure {
  readonly error: number;
  readonly retry?: boolean;
  /** 16-octet new challenge (C=), for a retry. */
  readonly challenge?: Uint8Array;
  readonly version?: number;
  readonly message?: string;
}

const decimal = /^(0|[1-9][0-9]{0,9})$/;

export function parseMsChapV2Failure(msg: Uint8Array): Result<MsChapV2Failure, WireError> {
  const s = Buffer.from(msg).toString("latin1");
  const bad = (why: string, at: number) =>
    err(wireError(WireErrorCode.BadValue, `MS-CHAPv2 Failure: ${why}`, at));
  let pos = 0;
  const field = (key: string): string | undefined => {
    const prefix = pos === 0 ? `${key}=` : ` ${key}=`;
    if (!s.startsWith(prefix, pos)) return undefined;
    const start = pos + prefix.length;
    if (key === "M") {
      pos = s.length;
      return s.slice(start);
    }
    let end = s.indexOf(" ", start);
    if (end < 0) end = s.length;
    pos = end;
    return s.slice(start, end);
  };
  const e = field("E");
  if (e === undefined || !decimal.test(e)) return bad("no E=<error code>", 0);
  const error = Number(e);
  if (error > 0xffffffff) return bad("E= out of range", 2);
  let out: MsChapV2Failure = { error };
  const r = field("R");
  if (r !== undefined) {
    if (r !== "0" && r !== "1") return bad("R= is not 0 or 1", pos);
    out = { ...out, retry: r === "1" };
  }
  const c = field("C");
  if (c !== undefined) {
    if (c.length !== 32 || !/^[0-9A-F]+$/.test(c))
      return bad("C= is not 32 uppercase hex digits", pos);
    out = { ...out, challenge: Buffer.from(c, "hex") };
  }
  const v = field("V");
  if (v !== undefined) {
    if (!decimal.test(v) || Number(v) > 0xffffffff) return bad("V= is not a number", pos);
    out = { ...out, version: Number(v) };
  }
  const m = field("M");
  if (m !== undefined) out = { ...out, message: m };
  if (pos !== s.length) return bad("unexpected text", pos);
  return ok(out);
}

export function serializeMsChapV2Failure(f: MsChapV2Failure): Buffer {
  const parts = [`E=${f.error}`];
  if (f.retry !== undefined) parts.push(`R=${f.retry ? 1 : 0}`);
  if (f.challenge !== undefined) {
    if (f.challenge.length !== 16) throw new Error("MS-CHAPv2 Failure: C= must be 16 octets");
    parts.push(`C=${Buffer.from(f.challenge).toString("hex").toUpperCase()}`);
  }
  if (f.version !== undefined) parts.push(`V=${f.version}`);
  if (f.message !== undefined) parts.push(`M=${f.message}`);
  return Buffer.from(parts.join(" "), "latin1");
}
