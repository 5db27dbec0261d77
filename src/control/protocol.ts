/**
 * The Oakley management protocol, version 1: framing, messages and version negotiation
 * (incompatible versions refuse each other with a clear message).
 *
 * Framing: JSON lines (one UTF-8 JSON object per line, "\n" terminated) over a Unix stream
 * socket or TLS. A line longer than the receiver's maximum is refused (OAK_E_CTL_TOO_LARGE)
 * and the connection closed; the reader never buffers more than maximum + one chunk. The first
 * line (the hello, read before authentication) may be at most MAX_HELLO_LINE (4 KiB).
 *
 *   request   {"v":1,"id":7,"method":"sa.list","params":{}}
 *   response  {"v":1,"id":7,"result":{...}}    or    {"v":1,"id":7,"error":{"code":"OAK_E_...","message":"..."}}
 *
 * Handshake: the first request must be `hello` with params
 *   {"min":1,"max":1,"client":"oakley 0.1.0","token":"oak1_..."}   (token only for TLS+token)
 * The daemon answers with the highest version both speak, its own range and software name, or
 * refuses with OAK_E_CTL_VERSION naming both ranges and which side to upgrade, and closes.
 * Every later request carries the negotiated `v`; a different `v` is refused the same way.
 * An old client that sends no hello gets OAK_E_CTL_SEQUENCE (message says to upgrade it).
 *
 * 64-bit counters travel as decimal strings (JSON numbers lose precision past 2^53).
 *
 * Not a JSON-RPC 2.0 implementation (no batches, no notifications): the protocol is private to
 * Oakley, and a version field we control is what makes the upgrade messages possible.
 */
import { err, ok, type Result } from "../base/result.js";
import { type ControlError, ControlErrorCode, controlError } from "./errors.js";

/** Protocol versions this build speaks. Bump max when adding incompatible changes. */
export const PROTOCOL_MIN = 1;
export const PROTOCOL_MAX = 1;

/** The first Oakley release that spoke each protocol version (for upgrade advice). */
export const PROTOCOL_HISTORY: Readonly<Record<number, string>> = { 1: "0.1.0" };

/** Default largest request line a daemon accepts (policy imports fit; floods do not). */
export const DEFAULT_MAX_REQUEST_LINE = 1024 * 1024;
/**
 * Largest first line (the hello, before authentication). A hello with a token is ~150 bytes; an
 * unauthenticated peer must not make the daemon hold more than this plus one read.
 */
export const MAX_HELLO_LINE = 4096;
/** Default largest response line a client accepts (a daemon with many SAs). */
export const DEFAULT_MAX_RESPONSE_LINE = 64 * 1024 * 1024;

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export interface Request {
  readonly v: number;
  readonly id: number | string;
  readonly method: string;
  readonly params: JsonObject;
}

export type Response =
  | { readonly v: number; readonly id: number | string | null; readonly result: Json }
  | { readonly v: number; readonly id: number | string | null; readonly error: ControlError };

export interface HelloParams {
  readonly min: number;
  readonly max: number;
  readonly client: string;
  readonly token?: string;
}

export interface HelloResult {
  /** The negotiated version. */
  readonly version: number;
  readonly min: number;
  readonly max: number;
  /** Software of the daemon, e.g. "oakley 0.1.0". */
  readonly daemon: string;
  /** How the daemon authenticated us: "unix-socket", "token:<name>", "certificate:<subject CN>". */
  readonly identity: string;
}

// ------------------------------------------------------------------ encoding

/** JSON with bigint as decimal strings; one line, newline-terminated. */
export function encodeLine(msg: Request | Response | JsonObject): string {
  return `${JSON.stringify(msg, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`;
}

// ------------------------------------------------------------------ framing

/**
 * Splits a byte stream into lines, refusing any line longer than `maxLine` bytes — or, for the
 * very first line, longer than `firstLineMax` (the pre-authentication hello gets a smaller
 * budget). Sizes are checked before anything is parsed. After an error the splitter stays
 * failed (the connection is to be closed).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private failed = false;
  private first = true;

  constructor(
    readonly maxLine: number,
    readonly firstLineMax: number = maxLine,
  ) {}

  /** The limit that applies to the line being read now. */
  get limit(): number {
    return this.first ? Math.min(this.firstLineMax, this.maxLine) : this.maxLine;
  }

  push(chunk: Uint8Array): Result<Buffer[], ControlError> {
    if (this.failed) return err(tooLarge(this.limit));
    const lines: Buffer[] = [];
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) break;
      if (this.size + nl > this.limit) return this.fail();
      const piece = buf.subarray(0, nl);
      lines.push(this.size === 0 ? Buffer.from(piece) : Buffer.concat([...this.parts, piece]));
      this.parts = [];
      this.size = 0;
      this.first = false;
      buf = buf.subarray(nl + 1);
    }
    if (buf.length > 0) {
      if (this.size + buf.length > this.limit) return this.fail();
      this.parts.push(Buffer.from(buf));
      this.size += buf.length;
    }
    return ok(lines);
  }

  private fail(): Result<Buffer[], ControlError> {
    this.failed = true;
    this.parts = [];
    this.size = 0;
    return err(tooLarge(this.limit));
  }
}

function tooLarge(max: number): ControlError {
  return controlError(
    ControlErrorCode.TooLarge,
    `message line longer than ${max} bytes; the connection is closed`,
  );
}

// ------------------------------------------------------------------ parsing

const METHOD_RE = /^[a-z][a-z0-9]*(?:\.[a-z][a-z0-9-]*)*$/;

function bad(message: string): ControlError {
  return controlError(ControlErrorCode.BadMessage, message);
}

function parseJsonObject(line: Uint8Array): Result<Record<string, unknown>, ControlError> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(line);
  } catch {
    return err(bad("message is not UTF-8"));
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return err(bad("message is not JSON (expected one JSON object per line)"));
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return err(bad("message is not a JSON object"));
  }
  return ok(v as Record<string, unknown>);
}

function isId(x: unknown): x is number | string {
  return (
    (typeof x === "number" && Number.isSafeInteger(x) && x >= 0) ||
    (typeof x === "string" && x.length > 0 && x.length <= 64)
  );
}

function isVersion(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0 && x <= 65535;
}

/** Parses one request line (without the newline). */
export function parseRequest(line: Uint8Array): Result<Request, ControlError> {
  const o = parseJsonObject(line);
  if (!o.ok) return o;
  const { v, id, method, params } = o.value;
  if (!isVersion(v)) return err(bad("request has no protocol version 'v' (a whole number)"));
  if (!isId(id)) return err(bad("request has no 'id' (a whole number or a short string)"));
  if (typeof method !== "string" || method.length > 64 || !METHOD_RE.test(method)) {
    return err(bad("request has no valid 'method'"));
  }
  if (
    params !== undefined &&
    (params === null || typeof params !== "object" || Array.isArray(params))
  ) {
    return err(bad("request 'params' must be a JSON object"));
  }
  return ok({ v, id, method, params: (params ?? {}) as JsonObject });
}

/** Parses one response line (without the newline). */
export function parseResponse(line: Uint8Array): Result<Response, ControlError> {
  const o = parseJsonObject(line);
  if (!o.ok) return o;
  const { v, id } = o.value;
  if (!isVersion(v)) return err(bad("response has no protocol version 'v'"));
  if (id !== null && !isId(id)) return err(bad("response has no valid 'id'"));
  if ("error" in o.value) {
    const e = o.value.error;
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      return err(bad("response 'error' is not an object"));
    }
    const { code, message, issues, extensions } = e as Record<string, unknown>;
    if (typeof code !== "string" || code.length > 64 || typeof message !== "string") {
      return err(bad("response 'error' has no code and message"));
    }
    const is = Array.isArray(issues)
      ? issues
          .filter(
            (i): i is { path: string; message: string } =>
              i !== null &&
              typeof i === "object" &&
              typeof (i as { path?: unknown }).path === "string" &&
              typeof (i as { message?: unknown }).message === "string",
          )
          .map((i) => ({ path: i.path, message: i.message }))
      : undefined;
    const ex = Array.isArray(extensions)
      ? extensions.filter((x): x is string => typeof x === "string")
      : undefined;
    return ok({
      v,
      id,
      error: controlError(code, message, {
        ...(is ? { issues: is } : {}),
        ...(ex ? { extensions: ex } : {}),
      }),
    });
  }
  if (!("result" in o.value)) return err(bad("response has neither 'result' nor 'error'"));
  return ok({ v, id, result: o.value.result as Json });
}

/** Reads hello params; an old client may send only `v` (then min = max = v). */
export function parseHelloParams(req: Request): Result<HelloParams, ControlError> {
  const p = req.params;
  const min = p.min ?? req.v;
  const max = p.max ?? req.v;
  if (!isVersion(min) || !isVersion(max) || min > max) {
    return err(bad("hello needs 'min' <= 'max' protocol versions"));
  }
  const client = typeof p.client === "string" ? p.client.slice(0, 128) : "an unnamed client";
  if (p.token !== undefined && typeof p.token !== "string") {
    return err(bad("hello 'token' must be a string"));
  }
  return ok({ min, max, client, ...(typeof p.token === "string" ? { token: p.token } : {}) });
}

// ------------------------------------------------------------------ negotiation

function releaseFor(version: number): string {
  const r = PROTOCOL_HISTORY[version];
  return r ? `oakley ${r} or newer` : `a release that speaks protocol version ${version}`;
}

function rangeText(r: VersionRange): string {
  return r.min === r.max ? `version ${r.min}` : `versions ${r.min}..${r.max}`;
}

/**
 * The version both sides speak (the highest), or an error naming both ranges and the side to
 * upgrade. `clientName`/`daemonName` are software names such as "oakley 0.1.0".
 */
export function negotiate(
  client: VersionRange,
  daemon: VersionRange,
  clientName: string,
  daemonName: string,
): Result<number, ControlError> {
  const lo = Math.max(client.min, daemon.min);
  const hi = Math.min(client.max, daemon.max);
  if (lo <= hi) return ok(hi);
  const upgradeClient = client.max < daemon.min;
  const fix = upgradeClient
    ? `upgrade the management client (${clientName}) to ${releaseFor(daemon.min)}`
    : `upgrade the daemon (${daemonName}) to ${releaseFor(client.min)}, or use a management client that speaks ${rangeText(daemon)}`;
  return err(
    controlError(
      ControlErrorCode.Version,
      `management protocol mismatch: the client (${clientName}) speaks ${rangeText(client)}, the daemon (${daemonName}) speaks ${rangeText(daemon)}; ${fix}`,
    ),
  );
}
