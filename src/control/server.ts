/**
 * ControlServer: serves the management protocol (protocol.ts) for one ControlTarget over a local
 * Unix socket and/or TLS.
 *
 * Every connection starts unauthenticated. Only `hello` is accepted first; it authenticates,
 * then negotiates the version, so a TLS peer without credentials never learns the daemon's
 * software version. Unix socket = file-system permissions (socket 0600); TLS = a client
 * certificate that chains to `tls.clientCa`, or a bearer token whose SHA-256 is in `tls.tokens`.
 * Anything else (no hello, wrong token, untrusted certificate, no common version, garbage, a line
 * over `maxLine`, plain TCP to the TLS port, too many connections) gets a typed error where a
 * reply is possible, is counted in `ctl_reject{reason=...}`, logged, and the connection closed.
 *
 * Before authentication a peer gets little: a slot is taken at the TCP accept (so TLS handshakes
 * in progress count toward `maxConnections`), at most `maxConnectionsPerAddress` slots per source
 * address (an IPv6 /64 counts as one address), an absolute deadline for the TLS handshake (a
 * peer trickling bytes does not extend it, unlike node's idle-based handshakeTimeout), another
 * for the hello, and a first line of at most MAX_HELLO_LINE bytes, checked before any JSON is
 * parsed. Connections over a limit are dropped at the TCP level, before any TLS work.
 * The server never throws out of a connection handler: a bug while serving a request becomes
 * OAK_E_CTL_INTERNAL and the connection survives.
 *
 * Requests on one connection are answered in order. Left out: request cancellation, server push.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import net from "node:net";
import { dirname } from "node:path";
import tls from "node:tls";
import { err, ok, type Result } from "../base/result.js";
import type { Counters } from "../obs/counters.js";
import {
  LOG_GROUPS,
  LOG_LEVELS,
  type LogFields,
  type LogGroup,
  type LogLevel,
  type Logger,
  nullLogger,
} from "../obs/log.js";
import { checkToken, type TokenRecord } from "./auth.js";
import { type ControlError, ControlErrorCode, controlError } from "./errors.js";
import {
  DEFAULT_MAX_REQUEST_LINE,
  encodeLine,
  MAX_HELLO_LINE,
  type HelloResult,
  type Json,
  type JsonObject,
  LineSplitter,
  negotiate,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  parseHelloParams,
  parseRequest,
  type Request,
  type VersionRange,
} from "./protocol.js";
import type { ControlTarget, PolicyOps } from "./types.js";

export const DEFAULT_SOCKET_PATH = "/run/oakley/control.sock";
export const DEFAULT_TLS_PORT = 9501;
export const DEFAULT_MAX_CONNECTIONS = 64;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 8;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
export const DEFAULT_HELLO_TIMEOUT_MS = 5000;

export interface ControlTlsOptions {
  readonly host: string;
  /** 0 picks a free port (tests); read it back from `tlsAddress`. */
  readonly port: number;
  /** PEM server key and certificate. */
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** PEM CA that signs accepted client certificates (absent: certificates are not accepted). */
  readonly clientCa?: string | Buffer;
  /** Accepted tokens (hashes), or a function read on every hello (token file reloads). */
  readonly tokens?: readonly TokenRecord[] | (() => readonly TokenRecord[]);
}

export interface ControlServerOptions {
  readonly target: ControlTarget;
  /** Software name sent in hello, e.g. "oakley 0.1.0". */
  readonly software: string;
  readonly unix?: { readonly path: string; readonly mode?: number };
  readonly tls?: ControlTlsOptions;
  /** Versions this server speaks (default PROTOCOL_MIN..PROTOCOL_MAX; tests simulate others). */
  readonly versions?: VersionRange;
  readonly maxLine?: number;
  /** Connections at once, TLS handshakes in progress included (default 64). */
  readonly maxConnections?: number;
  /** TLS connections at once from one source address, an IPv6 /64 being one (default 8). */
  readonly maxConnectionsPerAddress?: number;
  /** Deadline of the TLS handshake, counted from the TCP accept (default 5000 ms). */
  readonly handshakeTimeoutMs?: number;
  /** Deadline of the hello, counted from the end of the TLS handshake or the accept (default 5000 ms). */
  readonly helloTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  readonly logger?: Logger;
  readonly counters?: Counters;
}

type Transport = "unix" | "tls";

/** A connection slot, taken at the accept and held until the socket closes. */
interface Slot {
  /** Source address group for the per-address limit (TLS only). */
  readonly group: string | undefined;
  released: boolean;
  /** The TLS handshake deadline while the handshake runs. */
  timer: NodeJS.Timeout | undefined;
}

/** Marks a socket that this server destroyed on purpose (already counted and logged). */
const REFUSED_HERE = "OAK_CTL_REFUSED_HERE";
function refusedHere(reason: string): Error {
  return Object.assign(new Error(`connection refused by the control server: ${reason}`), {
    code: REFUSED_HERE,
  });
}

/**
 * The key the per-address limit counts by: the IPv4 address (IPv4-mapped IPv6 included), or the
 * /64 of an IPv6 address (one subscriber usually holds a whole /64).
 */
export function addressGroup(address: string): string {
  const a = address.toLowerCase().replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped?.[1]) return mapped[1];
  if (!net.isIPv6(a)) return a;
  const [head = "", tail] = a.split("::");
  const hextets = (x: string | undefined) =>
    x ? x.split(":").flatMap((h) => (h.includes(".") ? ["0", "0"] : [h])) : [];
  const h = hextets(head);
  const t = hextets(tail);
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return `${all
    .slice(0, 4)
    .map((x) => Number.parseInt(x, 16).toString(16))
    .join(":")}::/64`;
}

interface Conn {
  readonly socket: net.Socket;
  readonly transport: Transport;
  readonly peer: string;
  readonly slot: Slot;
  readonly splitter: LineSplitter;
  /** Bytes read on this connection (logged when refusing). */
  received: number;
  version: number | undefined;
  identity: string | undefined;
  queue: Promise<void>;
  closing: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class ControlServer {
  private unixServer: net.Server | undefined;
  private tlsServer: tls.Server | undefined;
  private readonly conns = new Set<Conn>();
  private readonly slots = new Set<Slot>();
  private readonly perGroup = new Map<string, number>();
  /** TLS handshakes in progress by "address|port" (to find the slot at secureConnection). */
  private readonly handshaking = new Map<string, { slot: Slot; raw: net.Socket }>();
  private readonly log: Logger;
  private readonly versions: VersionRange;
  private readonly maxLine: number;
  private readonly maxConnections: number;
  private readonly maxPerAddress: number;
  private readonly handshakeTimeoutMs: number;
  private closed = false;

  private constructor(private readonly opts: ControlServerOptions) {
    this.log = opts.logger ?? nullLogger;
    this.versions = opts.versions ?? { min: PROTOCOL_MIN, max: PROTOCOL_MAX };
    this.maxLine = opts.maxLine ?? DEFAULT_MAX_REQUEST_LINE;
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.maxPerAddress = opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  }

  /** Starts listening on the configured transports; rejects with a clear Error if it cannot. */
  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    const s = new ControlServer(opts);
    try {
      if (opts.unix) await s.listenUnix(opts.unix.path, opts.unix.mode ?? 0o600);
      if (opts.tls) await s.listenTls(opts.tls);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  get unixPath(): string | undefined {
    return this.opts.unix?.path;
  }

  get tlsAddress(): { address: string; port: number } | undefined {
    const a = this.tlsServer?.address();
    return a && typeof a === "object" ? { address: a.address, port: a.port } : undefined;
  }

  /** Slots in use: connections, TLS handshakes in progress included. */
  get connectionCount(): number {
    return this.slots.size;
  }

  private take(group: string | undefined): Slot | "busy" | "per_address" {
    if (this.closed) return "busy";
    if (group !== undefined && (this.perGroup.get(group) ?? 0) >= this.maxPerAddress)
      return "per_address";
    if (this.slots.size >= this.maxConnections) return "busy";
    const slot: Slot = { group, released: false, timer: undefined };
    this.slots.add(slot);
    if (group !== undefined) this.perGroup.set(group, (this.perGroup.get(group) ?? 0) + 1);
    return slot;
  }

  private release(slot: Slot): void {
    if (slot.released) return;
    slot.released = true;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    this.slots.delete(slot);
    if (slot.group !== undefined) {
      const n = (this.perGroup.get(slot.group) ?? 1) - 1;
      if (n > 0) this.perGroup.set(slot.group, n);
      else this.perGroup.delete(slot.group);
    }
  }

  private count(name: string, label?: string, value?: string): void {
    if (!this.opts.counters) return;
    if (label !== undefined && value !== undefined)
      this.opts.counters.incLabeled(name, label, value);
    else this.opts.counters.inc(name);
  }

  private async listenUnix(path: string, mode: number): Promise<void> {
    const dir = dirname(path);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) {
        throw new Error(
          `control socket path ${path} exists and is not a socket; remove it or pick another --socket`,
        );
      }
      // A stale socket from a crashed daemon answers nothing; a live one means a second daemon.
      const live = await new Promise<boolean>((res) => {
        const c = net.connect(path);
        c.once("connect", () => {
          c.destroy();
          res(true);
        });
        c.once("error", () => res(false));
      });
      if (live) throw new Error(`another daemon already serves the control socket ${path}`);
      unlinkSync(path);
    }
    const server = net.createServer((sock) => this.accept(sock, "unix"));
    // Created with a umask that leaves nobody else a window, then set exactly.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((res, rej) => {
        server.once("error", rej);
        server.listen(path, () => {
          server.off("error", rej);
          res();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(path, mode);
    server.on("error", (e) => this.log.error("control socket error", { error: e.message }));
    this.unixServer = server;
    this.log.info("control socket listening", { path, mode: mode.toString(8) });
  }

  private async listenTls(o: ControlTlsOptions): Promise<void> {
    const server = tls.createServer({
      key: o.key,
      cert: o.cert,
      minVersion: "TLSv1.2",
      ...(o.clientCa ? { ca: o.clientCa, requestCert: true } : { requestCert: false }),
      // Unverified certificates are refused at hello with a message, not by a silent TLS alert.
      rejectUnauthorized: false,
      // node's own timeout is reset by every byte; the absolute deadline is ours (onTcp). This
      // one is only a backstop.
      handshakeTimeout: 2 * this.handshakeTimeoutMs,
    });
    // Runs after tls.Server's own listener has wrapped the socket; destroying `raw` with an
    // error ends the handshake (tlsClientError then carries that error).
    server.on("connection", (raw: net.Socket) => this.onTcp(raw));
    server.on("secureConnection", (sock) => this.onSecure(sock));
    server.on("tlsClientError", (e, sock) => {
      if ((e as NodeJS.ErrnoException).code === REFUSED_HERE) return;
      this.count("ctl_reject", "reason", "tls");
      this.log.warn("control TLS handshake failed", {
        peer: `${sock.remoteAddress}:${sock.remotePort}`,
        error: e.message,
      });
      sock.destroy();
    });
    await new Promise<void>((res, rej) => {
      server.once("error", rej);
      server.listen(o.port, o.host, () => {
        server.off("error", rej);
        res();
      });
    });
    server.on("error", (e) => this.log.error("control TLS server error", { error: e.message }));
    this.tlsServer = server;
    this.log.info("control TLS listening", { ...this.tlsAddress });
  }

  /** A TCP connection to the TLS port, before any TLS: admission and the handshake deadline. */
  private onTcp(raw: net.Socket): void {
    const address = raw.remoteAddress ?? "unknown";
    const peer = `${address}:${raw.remotePort}`;
    raw.on("error", () => {});
    const slot = this.take(addressGroup(address));
    if (typeof slot === "string") {
      this.count("ctl_reject", "reason", slot);
      this.log.warn("control connection refused", { transport: "tls", peer, reason: slot });
      raw.destroy(refusedHere(slot));
      return;
    }
    const key = `${address}|${raw.remotePort}`;
    this.handshaking.set(key, { slot, raw });
    slot.timer = setTimeout(() => {
      this.count("ctl_reject", "reason", "handshake_timeout");
      this.log.warn("control connection refused", {
        transport: "tls",
        peer,
        reason: "handshake_timeout",
        timeoutMs: this.handshakeTimeoutMs,
      });
      raw.destroy(refusedHere("handshake_timeout"));
    }, this.handshakeTimeoutMs);
    slot.timer.unref();
    raw.once("close", () => {
      if (this.handshaking.get(key)?.slot === slot) this.handshaking.delete(key);
      this.release(slot);
    });
  }

  private onSecure(sock: tls.TLSSocket): void {
    const key = `${sock.remoteAddress}|${sock.remotePort}`;
    const h = this.handshaking.get(key);
    if (!h || h.slot.released) {
      // Every TLS connection passes onTcp first; one that does not has no slot to use.
      sock.destroy();
      return;
    }
    this.handshaking.delete(key);
    if (h.slot.timer) clearTimeout(h.slot.timer);
    h.slot.timer = undefined;
    this.accept(sock, "tls", h.slot);
  }

  private accept(socket: net.Socket, transport: Transport, tlsSlot?: Slot): void {
    const peer = transport === "unix" ? "unix" : `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on("error", (e) =>
      this.log.debug("control connection error", { peer, error: e.message }),
    );
    const slot = tlsSlot ?? this.take(undefined);
    if (typeof slot === "string") {
      this.count("ctl_reject", "reason", "busy");
      this.log.warn("control connection refused", { transport, peer, reason: "busy" });
      socket.end(
        encodeLine({
          v: this.versions.max,
          id: null,
          error: controlError(
            ControlErrorCode.Busy,
            "too many management connections; try again later",
          ),
        }),
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const conn: Conn = {
      socket,
      transport,
      peer,
      slot,
      splitter: new LineSplitter(this.maxLine, MAX_HELLO_LINE),
      received: 0,
      version: undefined,
      identity: undefined,
      queue: Promise.resolve(),
      closing: false,
      timer: undefined,
    };
    this.conns.add(conn);
    this.count("ctl_connection", "transport", transport);
    this.arm(conn, this.opts.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS, "hello_timeout");
    socket.on("data", (chunk: Buffer) => this.onData(conn, chunk));
    socket.on("close", () => {
      if (conn.timer) clearTimeout(conn.timer);
      this.conns.delete(conn);
      this.release(slot);
    });
  }

  private arm(conn: Conn, ms: number, reason: string): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = setTimeout(() => {
      this.count("ctl_reject", "reason", reason);
      this.refuse(
        conn,
        null,
        controlError(
          ControlErrorCode.Timeout,
          reason === "hello_timeout"
            ? "no hello in time; the connection is closed"
            : "idle connection closed",
        ),
        reason,
      );
    }, ms);
    conn.timer.unref();
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (conn.closing) return;
    conn.received += chunk.length;
    const lines = conn.splitter.push(chunk);
    if (!lines.ok) {
      this.refuse(conn, null, lines.error, "too_large", {
        received: conn.received,
        limit: conn.splitter.limit,
      });
      return;
    }
    for (const line of lines.value) {
      if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) continue;
      conn.queue = conn.queue.then(() => this.onLine(conn, line));
    }
  }

  private send(
    conn: Conn,
    id: number | string | null,
    body: { result: Json } | { error: ControlError },
  ): void {
    if (conn.closing || conn.socket.destroyed) return;
    conn.socket.write(
      encodeLine({ v: conn.version ?? this.versions.max, id, ...body } as JsonObject),
    );
  }

  /** Sends a typed error, counts the reason, and closes the connection. */
  private refuse(
    conn: Conn,
    id: number | string | null,
    e: ControlError,
    reason: string,
    extra: LogFields = {},
  ): void {
    if (conn.closing) return;
    if (reason !== "hello_timeout" && reason !== "idle") this.count("ctl_reject", "reason", reason);
    this.log.warn("control connection refused", {
      transport: conn.transport,
      peer: conn.peer,
      code: e.code,
      reason,
      ...extra,
    });
    this.send(conn, id, { error: e });
    conn.closing = true;
    if (conn.timer) clearTimeout(conn.timer);
    // Read nothing more from a refused peer: what it still sends stays in the kernel's buffers.
    conn.socket.pause();
    conn.socket.end();
    setTimeout(() => conn.socket.destroy(), 1000).unref();
  }

  private async onLine(conn: Conn, line: Buffer): Promise<void> {
    if (conn.closing) return;
    const r = parseRequest(line);
    if (!r.ok) {
      this.refuse(conn, null, r.error, "bad_message");
      return;
    }
    const req = r.value;
    if (conn.version === undefined) {
      this.hello(conn, req);
      return;
    }
    this.arm(conn, this.opts.idleTimeoutMs ?? 300_000, "idle");
    if (req.method === "hello") {
      this.refuse(
        conn,
        req.id,
        controlError(ControlErrorCode.Sequence, "hello sent twice"),
        "sequence",
      );
      return;
    }
    if (req.v !== conn.version) {
      this.refuse(
        conn,
        req.id,
        controlError(
          ControlErrorCode.Version,
          `request uses protocol version ${req.v} but this connection negotiated ${conn.version}`,
        ),
        "version",
      );
      return;
    }
    let res: Result<Json, ControlError>;
    try {
      res = await this.dispatch(req);
    } catch (e) {
      this.count("ctl_internal_error");
      this.log.error("control request failed with a bug", {
        method: req.method,
        error: e instanceof Error ? (e.stack ?? e.message) : String(e),
      });
      res = err(
        controlError(
          ControlErrorCode.Internal,
          `the daemon failed while serving ${req.method}; see its log`,
        ),
      );
    }
    if (res.ok) this.send(conn, req.id, { result: res.value });
    else this.send(conn, req.id, { error: res.error });
  }

  private hello(conn: Conn, req: Request): void {
    if (req.method !== "hello") {
      this.refuse(
        conn,
        req.id,
        controlError(
          ControlErrorCode.Sequence,
          `the daemon${conn.transport === "unix" ? ` (${this.opts.software})` : ""} expects a hello first (protocol versions ${this.versions.min}..${this.versions.max}); this client does not send one: upgrade the management client`,
        ),
        "sequence",
      );
      return;
    }
    const hp = parseHelloParams(req);
    if (!hp.ok) {
      this.refuse(conn, req.id, hp.error, "bad_message");
      return;
    }
    const h = hp.value;
    // Authentication before version negotiation: a peer without credentials learns nothing
    // about the daemon (not even its software version, which the mismatch message names). The
    // hello's token and the TLS client certificate do not depend on the protocol version.
    const who = this.authenticate(conn, h.token);
    if (!who.ok) {
      this.refuse(conn, req.id, who.error, "auth");
      return;
    }
    const v = negotiate({ min: h.min, max: h.max }, this.versions, h.client, this.opts.software);
    if (!v.ok) {
      this.refuse(conn, req.id, v.error, "version");
      return;
    }
    conn.version = v.value;
    conn.identity = who.value;
    this.arm(conn, this.opts.idleTimeoutMs ?? 300_000, "idle");
    this.log.info("control client connected", {
      transport: conn.transport,
      identity: who.value,
      client: h.client,
      version: v.value,
    });
    const result: HelloResult = {
      version: v.value,
      min: this.versions.min,
      max: this.versions.max,
      daemon: this.opts.software,
      identity: who.value,
    };
    this.send(conn, req.id, { result: result as unknown as JsonObject });
  }

  private authenticate(conn: Conn, token: string | undefined): Result<string, ControlError> {
    if (conn.transport === "unix") return ok("unix-socket");
    const sock = conn.socket as tls.TLSSocket;
    const cert = sock.getPeerCertificate();
    const presented = cert !== null && typeof cert === "object" && Object.keys(cert).length > 0;
    if (presented) {
      if (!sock.authorized) {
        return err(
          controlError(
            ControlErrorCode.Auth,
            `client certificate not accepted (${String(sock.authorizationError ?? "not signed by the control CA")}); use a certificate signed by the daemon's control CA, or a token`,
          ),
        );
      }
      const cn = cert.subject?.CN;
      return ok(`certificate:${Array.isArray(cn) ? cn.join(",") : (cn ?? "?")}`);
    }
    if (token === undefined) {
      return err(
        controlError(
          ControlErrorCode.Auth,
          "authentication required: give a token (--token or --token-file) or a client certificate (--cert/--key)",
        ),
      );
    }
    const t = this.opts.tls?.tokens;
    const records = typeof t === "function" ? t() : (t ?? []);
    const name = checkToken(token, records);
    if (name === undefined) {
      return err(
        controlError(
          ControlErrorCode.Auth,
          "token not accepted; ask the daemon's operator for a valid token",
        ),
      );
    }
    return ok(`token:${name}`);
  }

  private async dispatch(req: Request): Promise<Result<Json, ControlError>> {
    const t = this.opts.target;
    const p = new Params(req.params);
    const m = req.method;
    const toJson = (x: unknown): Json => x as Json;
    switch (m) {
      case "status":
        return ok(toJson(await t.status()));
      case "sa.list":
        return ok(toJson(await t.listSas()));
      case "sa.delete": {
        const id = p.str("id");
        if (!id.ok) return id;
        const r = await t.deleteSa(id.value);
        return r.ok ? ok(toJson(r.value)) : r;
      }
      case "log.get":
        return ok(toJson(await t.logLevels()));
      case "log.set": {
        const g = p.oneOf("group", LOG_GROUPS);
        if (!g.ok) return g;
        const l = p.oneOf("level", LOG_LEVELS);
        if (!l.ok) return l;
        await t.setLogLevel(g.value as LogGroup, l.value as LogLevel);
        this.log.info("log level changed", { group: g.value, level: l.value });
        return ok(toJson(await t.logLevels()));
      }
      case "metrics":
        return ok(toJson(await t.metrics()));
      case "diagnose.failures": {
        const peer = p.optStr("peer");
        if (!peer.ok) return peer;
        if (!t.failures) {
          return err(
            controlError(
              ControlErrorCode.Unsupported,
              "this daemon keeps no failure records (only `oakley serve` does)",
            ),
          );
        }
        return ok(toJson(await t.failures(peer.value !== undefined ? { peer: peer.value } : {})));
      }
      default:
        if (m.startsWith("policy.") || m.startsWith("users.")) return this.policyMethod(m, p);
        return err(
          controlError(
            ControlErrorCode.UnknownMethod,
            `method '${m.slice(0, 64)}' does not exist in protocol version ${req.v}`,
          ),
        );
    }
  }

  private policyMethod(m: string, p: Params): Result<Json, ControlError> {
    const ops: PolicyOps | undefined = this.opts.target.policy;
    if (!ops) {
      return err(
        controlError(
          ControlErrorCode.Unsupported,
          "this daemon has no policy store (it runs as a client)",
        ),
      );
    }
    const j = <T>(r: Result<T, ControlError>): Result<Json, ControlError> =>
      r.ok ? ok((r.value === undefined ? null : r.value) as Json) : r;
    switch (m) {
      case "policy.show":
        return j(ops.show());
      case "policy.list":
        return j(ops.list());
      case "policy.get": {
        const n = p.str("name");
        return n.ok ? j(ops.get(n.value)) : n;
      }
      case "policy.add": {
        const d = p.obj("document");
        if (!d.ok) return d;
        const persistent = p.optBool("persistent");
        const assign = p.optBool("assign");
        const order = p.optInt("order");
        if (!persistent.ok) return persistent;
        if (!assign.ok) return assign;
        if (!order.ok) return order;
        return j(
          ops.add(d.value, {
            ...(persistent.value !== undefined ? { persistent: persistent.value } : {}),
            ...(assign.value !== undefined ? { assign: assign.value } : {}),
            ...(order.value !== undefined ? { order: order.value } : {}),
          }),
        );
      }
      case "policy.edit": {
        const n = p.str("name");
        if (!n.ok) return n;
        const d = p.obj("document");
        return d.ok ? j(ops.edit(n.value, d.value)) : d;
      }
      case "policy.remove": {
        const n = p.str("name");
        return n.ok ? j(ops.remove(n.value)) : n;
      }
      case "policy.assign": {
        if (p.raw.name === null) return j(ops.assign(null));
        const n = p.str("name");
        return n.ok ? j(ops.assign(n.value)) : n;
      }
      case "policy.persistent": {
        const n = p.str("name");
        if (!n.ok) return n;
        const on = p.bool("persistent");
        if (!on.ok) return on;
        const order = p.optInt("order");
        if (!order.ok) return order;
        return j(ops.setPersistent(n.value, on.value, order.value ?? 0));
      }
      case "policy.fips": {
        const m = p.oneOf("mode", ["off", "policy-only", "provider"] as const);
        return m.ok ? j(ops.setFips(m.value as "off" | "policy-only" | "provider")) : m;
      }
      case "policy.radius": {
        const s = p.raw.setting;
        if (s !== null && (typeof s !== "object" || Array.isArray(s)))
          return err({
            code: ControlErrorCode.BadMessage,
            message: "setting: expected an object (servers, secretFile, …) or null",
          });
        return j(ops.setRadius(s as JsonObject | null));
      }
      case "policy.export": {
        const f = p.oneOf("format", ["yaml", "json"] as const);
        if (!f.ok) return f;
        const s = p.optBool("includeSecrets");
        if (!s.ok) return s;
        const r = ops.exportText(f.value as "yaml" | "json", s.value === true);
        return r.ok ? ok({ text: r.value }) : r;
      }
      case "policy.import": {
        const t = p.str("text", 16 * 1024 * 1024);
        if (!t.ok) return t;
        const f = p.oneOf("format", ["yaml", "json"] as const);
        if (!f.ok) return f;
        const mode = p.oneOf("mode", ["merge", "replace"] as const);
        if (!mode.ok) return mode;
        return j(
          ops.importText(t.value, f.value as "yaml" | "json", mode.value as "merge" | "replace"),
        );
      }
      case "users.list":
        return j(ops.usersList());
      case "users.add": {
        const n = p.str("name");
        if (!n.ok) return n;
        const pw = p.str("password");
        if (!pw.ok) return pw;
        const protocols = p.optStrings("protocols");
        if (!protocols.ok) return protocols;
        const pool = p.optStr("pool");
        if (!pool.ok) return pool;
        const addr = p.optStr("staticAddress");
        if (!addr.ok) return addr;
        return j(
          ops.usersAdd(n.value, pw.value, {
            ...(protocols.value ? { protocols: protocols.value } : {}),
            ...(pool.value !== undefined ? { pool: pool.value } : {}),
            ...(addr.value !== undefined ? { staticAddress: addr.value } : {}),
          }),
        );
      }
      case "users.remove": {
        const n = p.str("name");
        return n.ok ? j(ops.usersRemove(n.value)) : n;
      }
      case "users.passwd": {
        const n = p.str("name");
        if (!n.ok) return n;
        const pw = p.str("password");
        return pw.ok ? j(ops.usersPasswd(n.value, pw.value)) : pw;
      }
      default:
        return err(
          controlError(ControlErrorCode.UnknownMethod, `method '${m.slice(0, 64)}' does not exist`),
        );
    }
  }

  /** Stops listening, closes every connection, removes the socket file. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.conns) c.socket.destroy();
    for (const h of this.handshaking.values()) h.raw.destroy(refusedHere("shutdown"));
    const closeServer = (s: net.Server | undefined) =>
      s ? new Promise<void>((res) => s.close(() => res())) : Promise.resolve();
    await Promise.all([closeServer(this.unixServer), closeServer(this.tlsServer)]);
    this.unixServer = undefined;
    this.tlsServer = undefined;
  }
}

/** Typed access to request params; each failure names the field. */
class Params {
  constructor(readonly raw: JsonObject) {}
  private bad(k: string, what: string): { ok: false; error: ControlError } {
    return err(controlError(ControlErrorCode.BadParams, `parameter '${k}' must be ${what}`));
  }
  str(k: string, max = 4096): Result<string, ControlError> {
    const v = this.raw[k];
    return typeof v === "string" && v.length > 0 && v.length <= max
      ? ok(v)
      : this.bad(k, "a non-empty string");
  }
  optStr(k: string): Result<string | undefined, ControlError> {
    return this.raw[k] === undefined ? ok(undefined) : this.str(k);
  }
  optStrings(k: string): Result<string[] | undefined, ControlError> {
    const v = this.raw[k];
    if (v === undefined) return ok(undefined);
    return Array.isArray(v) && v.length <= 16 && v.every((x) => typeof x === "string")
      ? ok(v as string[])
      : this.bad(k, "a list of strings");
  }
  bool(k: string): Result<boolean, ControlError> {
    const v = this.raw[k];
    return typeof v === "boolean" ? ok(v) : this.bad(k, "true or false");
  }
  optBool(k: string): Result<boolean | undefined, ControlError> {
    return this.raw[k] === undefined ? ok(undefined) : this.bool(k);
  }
  optInt(k: string): Result<number | undefined, ControlError> {
    const v = this.raw[k];
    if (v === undefined) return ok(undefined);
    return typeof v === "number" && Number.isSafeInteger(v) ? ok(v) : this.bad(k, "a whole number");
  }
  obj(k: string): Result<JsonObject, ControlError> {
    const v = this.raw[k];
    return v !== null && typeof v === "object" && !Array.isArray(v)
      ? ok(v)
      : this.bad(k, "an object");
  }
  oneOf(k: string, values: readonly string[]): Result<string, ControlError> {
    const v = this.raw[k];
    return typeof v === "string" && values.includes(v)
      ? ok(v)
      : this.bad(k, `one of ${values.join(", ")}`);
  }
}
