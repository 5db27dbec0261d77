/**
 * The RADIUS client engine (sans-IO): Access-Request (RFC 2865) for PAP, CHAP-MD5 and
 * MS-CHAPv2 (RFC 2548 §2.3), Accounting-Request (RFC 2866, with RFC 2869 §5.1-5.2 Gigawords),
 * several servers with failover, retransmission on deadlines, Identifier allocation.
 *
 * Shape: like the other engines, an object whose methods take `now` (monotonic ms) and return
 * actions — `send` a datagram, or a request's `auth-done` / `acct-done` result. The driver
 * (daemon/radius.ts) owns the socket and one timer at `nextDeadline()`. Randomness (Request
 * Authenticators, the first Identifier) comes from the injected `Random`.
 *
 * Retransmission (RFC 5080 §2.2.1): a retry to the same server resends the same bytes (same
 * Identifier and Request Authenticator, so the server's duplicate cache sees one request); after
 * `retries` retries the request moves to the next server with a new Identifier and packet. A
 * server that timed out is skipped by new requests for `deadTimeMs` (unless all are down).
 *
 * Replies: matched by server address, port and Identifier, then verified (Response
 * Authenticator, and a Message-Authenticator required on every Access reply: Blast-RADIUS,
 * CVE-2024-3596). A reply failing verification is dropped and counted — never fatal at once, a
 * forger must not be able to end a request — but if every reply a request saw failed it ends
 * with OAK_E_RADIUS_BAD_SECRET instead of a bare timeout, so a wrong secret reads as one.
 *
 * Left out on purpose: Access-Challenge rounds (reported as a reject: PPP has no way to show a
 * challenge), Status-Server (RFC 5997) probing of dead servers, IPv6 servers, RadSec.
 */
import { err, ok, type Result } from "../base/result.js";
import type { PppCredentials } from "../ppp/index.js";
import type { Counters } from "../obs/counters.js";
import { type Logger, nullLogger } from "../obs/log.js";
import {
  AcctStatusType,
  type AcctTerminateCause,
  FRAMED_PROTOCOL_PPP,
  MsAttr,
  NAS_PORT_TYPE_VIRTUAL,
  RadiusAttr,
  RadiusCode,
  radiusCodeName,
  SERVICE_TYPE_FRAMED,
  VENDOR_MICROSOFT,
} from "../registry/radius.js";
import { hideUserPassword, signRequest, verifyResponse } from "../wire/radius/auth.js";
import {
  addressBytes,
  attr,
  attributesLength,
  attrU32,
  findAllAttrs,
  findAttr,
  findVendorAttr,
  parseRadiusPacket,
  RADIUS_HEADER_LENGTH,
  RADIUS_MAX_LENGTH,
  RADIUS_MAX_VALUE,
  type RadiusAttribute,
  type RadiusPacket,
  readAddress,
  readU32,
  vendorAttr,
} from "../wire/radius/packet.js";
import { type RadiusError, RadiusErrorCode, radiusError } from "./errors.js";

/** The engine's source of randomness (platform/random.ts `Random` satisfies it). */
export interface RandomSource {
  bytes(n: number): Uint8Array;
}

export interface RadiusServerConfig {
  /** IPv4 address. */
  readonly address: string;
  readonly authPort: number;
  readonly acctPort: number;
  readonly secret: Uint8Array;
}

export interface RadiusClientOptions {
  /** Tried in this order; the first that answers is preferred until it stops answering. */
  readonly servers: readonly RadiusServerConfig[];
  /** NAS-Identifier sent in every request (RFC 2865 §5.32). */
  readonly nasIdentifier: string;
  /** NAS-IP-Address, when set. */
  readonly nasIpAddress?: string;
  /** Wait for a reply before retransmitting. Default 3000 ms. */
  readonly timeoutMs?: number;
  /** Retransmissions to one server before moving on. Default 2 (three sends). */
  readonly retries?: number;
  /** How long a server that timed out is skipped by new requests. Default 30 000 ms. */
  readonly deadTimeMs?: number;
}

export interface RadiusEndpoint {
  readonly address: string;
  readonly port: number;
}

export type RadiusRequestId = number & { readonly __radiusRequestId: unique symbol };

/** What the PPP peer sent (each method's credentials map onto its RADIUS attributes). */
export type RadiusCredentials = PppCredentials;

export interface AuthRequest {
  readonly userName: string;
  readonly credentials: RadiusCredentials;
  /** The client's outer address ("198.51.100.7" or "198.51.100.7:4500"), as Calling-Station-Id. */
  readonly callingStationId?: string;
  readonly nasPort?: number;
  /** Acct-Session-Id the session will account under, so the server can correlate. */
  readonly acctSessionId?: string;
}

/** The MS-CHAP2-Success the server computed; the PPP layer sends it in its Success packet. */
export interface Mschap2Success {
  readonly identifier: number;
  /** "S=" and 40 hex digits (RFC 2759 §5), exactly as the server sent it. */
  readonly authenticatorResponse: string;
}

export interface AuthAccept {
  readonly kind: "accept";
  /** Which server answered ("192.0.2.10:1812"). */
  readonly server: string;
  /** Absent also when the server says "NAS chooses" (255.255.255.254/255). */
  readonly framedIpAddress?: string;
  readonly framedIpNetmask?: string;
  /** Seconds. */
  readonly sessionTimeout?: number;
  readonly idleTimeout?: number;
  readonly acctInterimInterval?: number;
  /** MS-Primary-DNS-Server then MS-Secondary-DNS-Server, when given. */
  readonly dnsServers: readonly string[];
  /** Class attributes, to echo unchanged in every Accounting-Request (RFC 2865 §5.25). */
  readonly classes: readonly Uint8Array[];
  readonly replyMessage?: string;
  /** Present for MS-CHAPv2 (and required: without it the client could not verify the server). */
  readonly mschap2Success?: Mschap2Success;
}

export interface AuthReject {
  readonly kind: "reject";
  readonly server: string;
  readonly replyMessage?: string;
  /** MS-CHAP-Error without its Ident octet ("E=691 R=0 C=... V=3 M=..."), for MS-CHAPv2. */
  readonly mschapError?: string;
  /** True when the server sent Access-Challenge (not supported over PPP; treated as reject). */
  readonly challenge?: boolean;
}

export type AuthOutcome = AuthAccept | AuthReject;

export type AccountingStatus = "start" | "interim-update" | "stop";

/** One accounting event, as queued (acct-queue.ts) and sent. Counters are totals since Start. */
export interface AccountingRecord {
  readonly status: AccountingStatus;
  readonly sessionId: string;
  readonly userName: string;
  /** Calendar time of the event (ms since the epoch): gives Event-Timestamp and Acct-Delay-Time. */
  readonly eventTime: number;
  readonly framedIpAddress?: string;
  readonly callingStationId?: string;
  readonly nasPort?: number;
  /** Seconds since Start (Interim-Update, Stop). */
  readonly sessionTime?: number;
  /** Octets/packets received from the user (Acct-Input-*), and sent to the user (Acct-Output-*). */
  readonly inputOctets?: bigint;
  readonly outputOctets?: bigint;
  readonly inputPackets?: bigint;
  readonly outputPackets?: bigint;
  readonly terminateCause?: AcctTerminateCause;
  /** Class attributes from the Access-Accept, echoed unchanged. */
  readonly classes?: readonly Uint8Array[];
}

export type RadiusAction =
  | { readonly kind: "send"; readonly to: RadiusEndpoint; readonly bytes: Uint8Array }
  | {
      readonly kind: "auth-done";
      readonly id: RadiusRequestId;
      readonly result: Result<AuthOutcome, RadiusError>;
    }
  | {
      readonly kind: "acct-done";
      readonly id: RadiusRequestId;
      readonly result: Result<void, RadiusError>;
    };

interface Built {
  readonly bytes: Uint8Array;
  readonly authenticator: Uint8Array;
}

interface Pending {
  readonly id: RadiusRequestId;
  readonly kind: "auth" | "acct";
  readonly build: (
    server: RadiusServerConfig,
    identifier: number,
    now: number,
  ) => Result<Built, RadiusError>;
  readonly order: readonly number[];
  /** Index into `order` of the server being tried. */
  pos: number;
  sends: number;
  identifier: number;
  authenticator: Uint8Array;
  bytes: Uint8Array;
  deadline: number;
  badReplies: number;
  lastBad?: string;
  lastBadCode?: RadiusErrorCode;
  /** Only for MS-CHAPv2: the Ident the MS-CHAP2-Success must carry. */
  readonly mschapIdent?: number;
}

const MAX_U32 = 0xffffffffn;
const text = new TextDecoder("utf-8", { fatal: false });

function endpointKey(address: string, port: number, identifier: number): string {
  return `${address}:${port}#${identifier}`;
}

function low32(n: bigint | undefined): number {
  return Number((n ?? 0n) & MAX_U32);
}
function high32(n: bigint | undefined): number {
  return Number(((n ?? 0n) >> 32n) & MAX_U32);
}

/** What `oakley status` shows of one server. */
export interface RadiusServerStatus {
  /** "192.0.2.10:1812". */
  readonly server: string;
  /**
   * reachable: its last verified reply is the latest news; unreachable: it timed out (skipped
   * for the dead time); bad-replies: its replies fail verification (a wrong shared secret, or
   * forgeries); untested: no request yet.
   */
  readonly state: "reachable" | "unreachable" | "bad-replies" | "untested";
  /** Milliseconds since its last verified reply, when it sent one. */
  readonly lastReplyAgoMs?: number;
}

export class RadiusClient {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly deadTimeMs: number;
  private readonly pending = new Map<RadiusRequestId, Pending>();
  private readonly byKey = new Map<string, RadiusRequestId>();
  private readonly nextIdentifier = new Map<string, number>();
  private readonly deadUntil: number[];
  private readonly lastReplyAt: (number | undefined)[];
  private readonly lastBadAt: (number | undefined)[];
  private nextRequestId = 1;

  constructor(
    private readonly opts: RadiusClientOptions,
    private readonly random: RandomSource,
    private readonly log: Logger = nullLogger,
    private readonly counters?: Counters,
  ) {
    if (opts.servers.length === 0) throw new RangeError("RadiusClient needs at least one server");
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.retries = opts.retries ?? 2;
    this.deadTimeMs = opts.deadTimeMs ?? 30_000;
    this.deadUntil = opts.servers.map(() => Number.NEGATIVE_INFINITY);
    this.lastReplyAt = opts.servers.map(() => undefined);
    this.lastBadAt = opts.servers.map(() => undefined);
  }

  /** Each server's reachability as this client saw it (status). */
  serverStatus(now: number): RadiusServerStatus[] {
    return this.opts.servers.map((s, i) => {
      const reply = this.lastReplyAt[i];
      const bad = this.lastBadAt[i];
      // A server whose latest replies fail verification does answer: say that, not "down".
      const state =
        bad !== undefined && (reply === undefined || bad > reply)
          ? "bad-replies"
          : (this.deadUntil[i] ?? 0) > now
            ? "unreachable"
            : reply !== undefined
              ? "reachable"
              : "untested";
      return {
        server: `${s.address}:${s.authPort}`,
        state,
        ...(reply !== undefined ? { lastReplyAgoMs: Math.round(now - reply) } : {}),
      };
    });
  }

  /** Number of requests waiting for a reply. */
  inFlight(): number {
    return this.pending.size;
  }

  /** The earliest retransmission deadline, for the driver's timer. */
  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const p of this.pending.values()) if (d === undefined || p.deadline < d) d = p.deadline;
    return d;
  }

  /** Starts an Access-Request. The result arrives as an `auth-done` action. */
  authenticate(req: AuthRequest, now: number): { id: RadiusRequestId; actions: RadiusAction[] } {
    if (
      new TextEncoder().encode(req.userName).length > RADIUS_MAX_VALUE ||
      req.userName.length === 0
    ) {
      const id = this.nextRequestId++ as RadiusRequestId;
      const e = radiusError(
        RadiusErrorCode.BadRequest,
        "user name must be 1..253 octets for RADIUS",
      );
      return { id, actions: [{ kind: "auth-done", id, result: err(e) }] };
    }
    const common = this.accessAttributes(req);
    const mschapIdent =
      req.credentials.method === "mschapv2" ? req.credentials.identifier : undefined;
    const build = (server: RadiusServerConfig, identifier: number): Result<Built, RadiusError> => {
      const ra = this.random.bytes(16);
      const attrs = [...common];
      const c = req.credentials;
      if (c.method === "pap") {
        const hidden = hideUserPassword(c.password, server.secret, ra);
        if (!hidden.ok) return err(radiusError(RadiusErrorCode.BadRequest, hidden.error.message));
        attrs.push(attr(RadiusAttr.UserPassword, hidden.value));
      } else if (c.method === "chap-md5") {
        if (
          c.response.length !== 16 ||
          c.challenge.length === 0 ||
          c.challenge.length > RADIUS_MAX_VALUE
        ) {
          return err(
            radiusError(
              RadiusErrorCode.BadRequest,
              "CHAP response must be 16 octets, challenge 1..253",
            ),
          );
        }
        attrs.push(
          attr(RadiusAttr.ChapPassword, Uint8Array.from([c.identifier & 0xff, ...c.response])),
        );
        attrs.push(attr(RadiusAttr.ChapChallenge, c.challenge));
      } else {
        if (
          c.authenticatorChallenge.length !== 16 ||
          c.peerChallenge.length !== 16 ||
          c.ntResponse.length !== 24
        ) {
          return err(
            radiusError(
              RadiusErrorCode.BadRequest,
              "MS-CHAPv2 challenges must be 16 octets, NT-Response 24",
            ),
          );
        }
        // RFC 2548 §2.3.2 MS-CHAP2-Response: Ident, Flags, Peer-Challenge, Reserved (8), Response.
        const r = new Uint8Array(50);
        r[0] = c.identifier & 0xff;
        r.set(c.peerChallenge, 2);
        r.set(c.ntResponse, 26);
        attrs.push(vendorAttr(VENDOR_MICROSOFT, MsAttr.ChapChallenge, c.authenticatorChallenge));
        attrs.push(vendorAttr(VENDOR_MICROSOFT, MsAttr.Chap2Response, r));
      }
      return this.sign(RadiusCode.AccessRequest, identifier, attrs, server, ra);
    };
    return this.start("auth", build, now, mschapIdent);
  }

  /** Starts an Accounting-Request. `wallNow` gives Acct-Delay-Time for old (queued) events. */
  account(
    rec: AccountingRecord,
    now: number,
    wallNow: number,
  ): { id: RadiusRequestId; actions: RadiusAction[] } {
    const eventMono = now - Math.max(0, wallNow - rec.eventTime);
    const base = this.accountingAttributes(rec);
    const build = (
      server: RadiusServerConfig,
      identifier: number,
      at: number,
    ): Result<Built, RadiusError> => {
      const delay = Math.max(0, Math.floor((at - eventMono) / 1000));
      const attrs = [...base, attrU32(RadiusAttr.AcctDelayTime, Math.min(delay, 0xffffffff))];
      return this.sign(RadiusCode.AccountingRequest, identifier, attrs, server, new Uint8Array(16));
    };
    return this.start("acct", build, now, undefined);
  }

  /** Abandons a request (its result will never be reported). */
  cancel(id: RadiusRequestId): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.release(p);
    this.pending.delete(id);
  }

  /** A datagram from `from` on the client socket. */
  handleDatagram(from: RadiusEndpoint, bytes: Uint8Array, now: number): RadiusAction[] {
    const parsed = parseRadiusPacket(bytes);
    if (!parsed.ok) {
      this.drop("malformed", from, parsed.error.message);
      return [];
    }
    const p = parsed.value;
    const id = this.byKey.get(endpointKey(from.address, from.port, p.identifier));
    const req = id === undefined ? undefined : this.pending.get(id);
    if (!req) {
      this.drop(
        "unexpected",
        from,
        `${radiusCodeName(p.code)} id ${p.identifier} matches no request`,
      );
      return [];
    }
    const expected =
      req.kind === "auth"
        ? p.code === RadiusCode.AccessAccept ||
          p.code === RadiusCode.AccessReject ||
          p.code === RadiusCode.AccessChallenge
        : p.code === RadiusCode.AccountingResponse;
    if (!expected) {
      this.drop(
        "wrong_code",
        from,
        `${radiusCodeName(p.code)} is no reply to a ${req.kind} request`,
      );
      return [];
    }
    const server = this.serverOf(req);
    const v = verifyResponse(bytes, p, req.authenticator, server.secret);
    if (!v.ok) {
      req.badReplies++;
      this.lastBadAt[req.order[req.pos] ?? 0] = now;
      req.lastBad = v.error.message;
      req.lastBadCode = v.error.code;
      this.drop("bad_authenticator", from, v.error.message);
      return [];
    }
    this.deadUntil[req.order[req.pos] ?? 0] = Number.NEGATIVE_INFINITY;
    this.lastReplyAt[req.order[req.pos] ?? 0] = now;
    this.release(req);
    this.pending.delete(req.id);
    const at = `${from.address}:${from.port}`;
    this.counters?.incLabeled("radius_rx", "code", radiusCodeName(p.code));
    if (req.kind === "acct") return [{ kind: "acct-done", id: req.id, result: ok(undefined) }];
    return [{ kind: "auth-done", id: req.id, result: this.decodeAuth(p, at, req.mschapIdent) }];
  }

  /** Retransmits or fails over every request whose deadline has passed. */
  handleTimer(now: number): RadiusAction[] {
    const out: RadiusAction[] = [];
    for (const req of [...this.pending.values()]) {
      if (req.deadline > now) continue;
      if (req.sends <= this.retries) {
        req.sends++;
        req.deadline = now + this.timeoutMs;
        const s = this.serverOf(req);
        this.counters?.inc("radius_retransmit");
        out.push({ kind: "send", to: this.endpointOf(req, s), bytes: req.bytes });
        continue;
      }
      const failed = req.order[req.pos] ?? 0;
      this.deadUntil[failed] = now + this.deadTimeMs;
      const fs = this.opts.servers[failed];
      this.log.warn("RADIUS server does not answer; trying the next", {
        server: fs ? `${fs.address}:${req.kind === "auth" ? fs.authPort : fs.acctPort}` : "?",
        sends: req.sends,
      });
      this.release(req);
      out.push(...this.advance(req, req.pos + 1, now));
    }
    return out;
  }

  // ---- internals ----

  private start(
    kind: "auth" | "acct",
    build: Pending["build"],
    now: number,
    mschapIdent: number | undefined,
  ): { id: RadiusRequestId; actions: RadiusAction[] } {
    const id = this.nextRequestId++ as RadiusRequestId;
    const alive: number[] = [];
    const dead: number[] = [];
    for (let i = 0; i < this.opts.servers.length; i++) {
      ((this.deadUntil[i] ?? 0) > now ? dead : alive).push(i);
    }
    const req: Pending = {
      id,
      kind,
      build,
      order: [...alive, ...dead],
      pos: 0,
      sends: 0,
      identifier: 0,
      authenticator: new Uint8Array(16),
      bytes: new Uint8Array(0),
      deadline: now,
      badReplies: 0,
      ...(mschapIdent === undefined ? {} : { mschapIdent }),
    };
    return { id, actions: this.advance(req, 0, now) };
  }

  /** Sends `req` to the server at `order[pos]` (or the next that can take it), or ends it. */
  private advance(req: Pending, pos: number, now: number): RadiusAction[] {
    let sawBusy = false;
    for (; pos < req.order.length; pos++) {
      const server = this.opts.servers[req.order[pos] ?? 0];
      if (!server) continue;
      const port = req.kind === "auth" ? server.authPort : server.acctPort;
      const identifier = this.allocate(server.address, port);
      if (identifier === undefined) {
        sawBusy = true;
        continue;
      }
      const built = req.build(server, identifier, now);
      if (!built.ok) return this.finish(req, built.error);
      req.pos = pos;
      req.identifier = identifier;
      req.authenticator = built.value.authenticator;
      req.bytes = built.value.bytes;
      req.sends = 1;
      req.deadline = now + this.timeoutMs;
      this.pending.set(req.id, req);
      this.byKey.set(endpointKey(server.address, port, identifier), req.id);
      this.counters?.incLabeled(
        "radius_tx",
        "code",
        req.kind === "auth" ? "Access-Request" : "Accounting-Request",
      );
      return [{ kind: "send", to: { address: server.address, port }, bytes: req.bytes }];
    }
    const names = req.order
      .map((i) => this.opts.servers[i])
      .filter((s): s is RadiusServerConfig => s !== undefined)
      .map((s) => `${s.address}:${req.kind === "auth" ? s.authPort : s.acctPort}`)
      .join(", ");
    if (req.badReplies > 0 && req.lastBadCode === RadiusErrorCode.MissingMessageAuthenticator) {
      return this.finish(
        req,
        radiusError(
          RadiusErrorCode.MissingMessageAuthenticator,
          `RADIUS ${names} answers without Message-Authenticator, which Oakley requires against forged replies (Blast-RADIUS, CVE-2024-3596): upgrade the server, or make it add Message-Authenticator to its replies`,
        ),
      );
    }
    if (req.badReplies > 0) {
      return this.finish(
        req,
        radiusError(
          RadiusErrorCode.BadSecret,
          `RADIUS ${names}: ${req.badReplies} replies failed the authenticator check (${req.lastBad ?? "?"}); check that the shared secret (--radius-secret-file) is the server's secret for this NAS`,
        ),
      );
    }
    if (sawBusy && req.bytes.length === 0) {
      return this.finish(
        req,
        radiusError(RadiusErrorCode.Busy, `RADIUS ${names}: all 256 Identifiers are in use`),
      );
    }
    return this.finish(
      req,
      radiusError(
        RadiusErrorCode.Timeout,
        `no reply from RADIUS ${names} after ${this.retries + 1} tries each (${this.timeoutMs} ms apart): check that the server runs and is reachable, that it lists this NAS as a client, and that --radius-secret-file holds that client's secret (servers silently drop requests signed with another secret)`,
      ),
    );
  }

  private finish(req: Pending, e: RadiusError): RadiusAction[] {
    this.pending.delete(req.id);
    this.counters?.incLabeled("radius_fail", "code", e.code);
    this.log.warn("RADIUS request failed", { code: e.code, error: e.message });
    return req.kind === "auth"
      ? [{ kind: "auth-done", id: req.id, result: err(e) }]
      : [{ kind: "acct-done", id: req.id, result: err(e) }];
  }

  private sign(
    code: number,
    identifier: number,
    attrs: RadiusAttribute[],
    server: RadiusServerConfig,
    requestAuthenticator: Uint8Array,
  ): Result<Built, RadiusError> {
    // +18: the Message-Authenticator signRequest puts first.
    if (RADIUS_HEADER_LENGTH + 18 + attributesLength(attrs) > RADIUS_MAX_LENGTH) {
      return err(
        radiusError(RadiusErrorCode.BadRequest, "RADIUS request would exceed 4096 octets"),
      );
    }
    return ok(
      signRequest({ code, identifier, attributes: attrs }, server.secret, requestAuthenticator),
    );
  }

  private nasAttributes(): RadiusAttribute[] {
    const out = [attr(RadiusAttr.NasIdentifier, this.opts.nasIdentifier)];
    const ip =
      this.opts.nasIpAddress === undefined ? undefined : addressBytes(this.opts.nasIpAddress);
    if (ip) out.push(attr(RadiusAttr.NasIpAddress, ip));
    out.push(attrU32(RadiusAttr.NasPortType, NAS_PORT_TYPE_VIRTUAL));
    return out;
  }

  private accessAttributes(req: AuthRequest): RadiusAttribute[] {
    const out = [
      attr(RadiusAttr.UserName, clip(req.userName)),
      ...this.nasAttributes(),
      attrU32(RadiusAttr.ServiceType, SERVICE_TYPE_FRAMED),
      attrU32(RadiusAttr.FramedProtocol, FRAMED_PROTOCOL_PPP),
    ];
    if (req.nasPort !== undefined) out.push(attrU32(RadiusAttr.NasPort, req.nasPort));
    if (req.callingStationId)
      out.push(attr(RadiusAttr.CallingStationId, clip(req.callingStationId)));
    if (req.acctSessionId) out.push(attr(RadiusAttr.AcctSessionId, clip(req.acctSessionId)));
    return out;
  }

  private accountingAttributes(rec: AccountingRecord): RadiusAttribute[] {
    const status =
      rec.status === "start"
        ? AcctStatusType.Start
        : rec.status === "stop"
          ? AcctStatusType.Stop
          : AcctStatusType.InterimUpdate;
    const out = [
      attrU32(RadiusAttr.AcctStatusType, status),
      attr(RadiusAttr.AcctSessionId, clip(rec.sessionId)),
      attr(RadiusAttr.UserName, clip(rec.userName)),
      ...this.nasAttributes(),
      attrU32(RadiusAttr.ServiceType, SERVICE_TYPE_FRAMED),
      attrU32(RadiusAttr.FramedProtocol, FRAMED_PROTOCOL_PPP),
      attrU32(RadiusAttr.EventTimestamp, Math.floor(rec.eventTime / 1000) >>> 0),
    ];
    const ip = rec.framedIpAddress === undefined ? undefined : addressBytes(rec.framedIpAddress);
    if (ip) out.push(attr(RadiusAttr.FramedIpAddress, ip));
    if (rec.nasPort !== undefined) out.push(attrU32(RadiusAttr.NasPort, rec.nasPort));
    if (rec.callingStationId)
      out.push(attr(RadiusAttr.CallingStationId, clip(rec.callingStationId)));
    if (rec.status !== "start") {
      out.push(
        attrU32(RadiusAttr.AcctSessionTime, Math.max(0, Math.floor(rec.sessionTime ?? 0)) >>> 0),
        attrU32(RadiusAttr.AcctInputOctets, low32(rec.inputOctets)),
        attrU32(RadiusAttr.AcctInputGigawords, high32(rec.inputOctets)),
        attrU32(RadiusAttr.AcctOutputOctets, low32(rec.outputOctets)),
        attrU32(RadiusAttr.AcctOutputGigawords, high32(rec.outputOctets)),
        attrU32(RadiusAttr.AcctInputPackets, low32(rec.inputPackets)),
        attrU32(RadiusAttr.AcctOutputPackets, low32(rec.outputPackets)),
      );
    }
    if (rec.status === "stop" && rec.terminateCause !== undefined) {
      out.push(attrU32(RadiusAttr.AcctTerminateCause, rec.terminateCause));
    }
    for (const c of rec.classes ?? []) {
      if (c.length <= RADIUS_MAX_VALUE) out.push(attr(RadiusAttr.Class, c));
    }
    return out;
  }

  private decodeAuth(
    p: RadiusPacket,
    server: string,
    mschapIdent: number | undefined,
  ): Result<AuthOutcome, RadiusError> {
    const reply = findAllAttrs(p, RadiusAttr.ReplyMessage);
    const replyMessage = reply.length > 0 ? reply.map((r) => text.decode(r)).join("") : undefined;
    const msg = replyMessage === undefined ? {} : { replyMessage };
    if (p.code !== RadiusCode.AccessAccept) {
      const e = findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.ChapError);
      return ok({
        kind: "reject",
        server,
        ...msg,
        ...(e && e.length > 1 ? { mschapError: text.decode(e.subarray(1)) } : {}),
        ...(p.code === RadiusCode.AccessChallenge ? { challenge: true } : {}),
      });
    }
    let mschap2Success: Mschap2Success | undefined;
    if (mschapIdent !== undefined) {
      const s = findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.Chap2Success);
      const str = s && s.length >= 43 ? text.decode(s.subarray(1, 43)) : "";
      if (!s || s[0] !== (mschapIdent & 0xff) || !/^S=[0-9A-Fa-f]{40}$/.test(str)) {
        return err(
          radiusError(
            RadiusErrorCode.BadReply,
            `RADIUS ${server} accepted MS-CHAPv2 without a valid MS-CHAP2-Success; the client could not verify the server, so the login is refused`,
          ),
        );
      }
      mschap2Success = { identifier: s[0] ?? 0, authenticatorResponse: str.toUpperCase() };
    }
    const addr = (t: number) => {
      const v = findAttr(p, t);
      return v ? readAddress(v) : undefined;
    };
    const num = (t: number) => {
      const v = findAttr(p, t);
      return v ? readU32(v) : undefined;
    };
    let framed = addr(RadiusAttr.FramedIpAddress);
    if (framed === "255.255.255.255" || framed === "255.255.255.254") framed = undefined;
    const dns = [MsAttr.PrimaryDnsServer, MsAttr.SecondaryDnsServer]
      .map((t) => findVendorAttr(p, VENDOR_MICROSOFT, t))
      .filter((v): v is Uint8Array => v !== undefined)
      .map(readAddress);
    const out: AuthAccept = {
      kind: "accept",
      server,
      dnsServers: dns,
      classes: findAllAttrs(p, RadiusAttr.Class),
      ...msg,
      ...(framed === undefined ? {} : { framedIpAddress: framed }),
      ...optional("framedIpNetmask", addr(RadiusAttr.FramedIpNetmask)),
      ...optional("sessionTimeout", num(RadiusAttr.SessionTimeout)),
      ...optional("idleTimeout", num(RadiusAttr.IdleTimeout)),
      ...optional("acctInterimInterval", num(RadiusAttr.AcctInterimInterval)),
      ...(mschap2Success ? { mschap2Success } : {}),
    };
    return ok(out);
  }

  private allocate(address: string, port: number): number | undefined {
    const space = `${address}:${port}`;
    let next = this.nextIdentifier.get(space);
    if (next === undefined) next = (this.random.bytes(1)[0] ?? 0) & 0xff;
    for (let i = 0; i < 256; i++) {
      const cand = (next + i) & 0xff;
      if (!this.byKey.has(endpointKey(address, port, cand))) {
        this.nextIdentifier.set(space, (cand + 1) & 0xff);
        return cand;
      }
    }
    return undefined;
  }

  private release(req: Pending): void {
    const s = this.opts.servers[req.order[req.pos] ?? 0];
    if (!s || req.bytes.length === 0) return;
    const port = req.kind === "auth" ? s.authPort : s.acctPort;
    const key = endpointKey(s.address, port, req.identifier);
    if (this.byKey.get(key) === req.id) this.byKey.delete(key);
  }

  private serverOf(req: Pending): RadiusServerConfig {
    const s = this.opts.servers[req.order[req.pos] ?? 0];
    if (!s) throw new Error("RADIUS request points at no server");
    return s;
  }

  private endpointOf(req: Pending, s: RadiusServerConfig): RadiusEndpoint {
    return { address: s.address, port: req.kind === "auth" ? s.authPort : s.acctPort };
  }

  private drop(reason: string, from: RadiusEndpoint, detail: string): void {
    this.counters?.incLabeled("radius_rx_drop", "reason", reason);
    this.log.debug("RADIUS datagram dropped", {
      reason,
      peer: `${from.address}:${from.port}`,
      detail,
    });
  }
}

function optional<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

/** Text attributes are at most 253 octets; longer input is cut (at a character boundary). */
function clip(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  if (b.length <= RADIUS_MAX_VALUE) return b;
  let end = RADIUS_MAX_VALUE;
  while (end > 0 && ((b[end] ?? 0) & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}
