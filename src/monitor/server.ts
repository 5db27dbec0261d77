/**
 * The web monitor: watches several daemons — local socket and remote TLS ones —
 * through control/ only, and serves one page (page.ts) plus:
 *   GET /            the page, with the current state embedded
 *   GET /api/state   the state as JSON (counters as decimal strings)
 *   GET /api/events  server-sent events: one `data:` line of state per poll round
 * Each daemon keeps one ControlClient; a failed call marks the daemon unreachable with the
 * client's message (which names the cause and fix) and the client is reconnected next round.
 *
 *   GET /login, POST /login, POST /logout
 *
 * Access needs one of the control protocol's tokens (`oakley control token NAME`; the token file
 * is read on every check, so removing a line revokes it at once, open sessions included):
 *  - scripts send `Authorization: Bearer oak1_...`;
 *  - a browser posts the token once to the login form and gets a session cookie (a random id,
 *    not the token; HttpOnly, SameSite=Strict, 12 hours). The token is never accepted in the URL:
 *    these tokens also open the daemons' control ports, and a URL stays in the browser history,
 *    in proxy logs and in Referer headers (a redirect does not remove it from the history).
 * Anything else gets 401 and no data. Before authentication, every request's Host header must
 * name this server (control/http-guard.ts) — otherwise 421 — so a web page cannot read the
 * monitor through DNS rebinding; a login POST from another origin gets 403.
 *
 * Left out: TLS (listen on loopback, or put a TLS reverse proxy in front; the start warns when
 * listening beyond loopback), login rate limiting (tokens carry 256 random bits).
 */
import { randomBytes } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import {
  bearerToken,
  ControlClient,
  type ControlError,
  ControlErrorCode,
  checkToken,
  describeEndpoint,
  type DaemonStatus,
  exposureWarning,
  hashToken,
  hostAllowed,
  type PeerFailures,
  type SaList,
  type TokenRecord,
} from "../control/index.js";
import { type Logger, nullLogger } from "../obs/log.js";
import { loginPage, monitorPage } from "./page.js";
import type { DaemonSpec } from "./spec.js";

export interface FailureCount {
  readonly counter: string;
  readonly reason: string;
  readonly count: string;
}

export interface DaemonView {
  readonly name: string;
  readonly endpoint: string;
  readonly reachable: boolean;
  readonly error?: { readonly code: string; readonly message: string };
  readonly lastSeen?: string;
  readonly status?: DaemonStatus;
  readonly sas?: SaList;
  readonly failures: readonly FailureCount[];
  /** The daemon's recent connection failures with explanations (servers only). */
  readonly recentFailures?: readonly PeerFailures[];
}

export interface MonitorState {
  readonly generatedAt: string;
  readonly daemons: readonly DaemonView[];
}

export interface MonitorOptions {
  readonly daemons: readonly DaemonSpec[];
  /** "HOST:PORT"; default 127.0.0.1:9600 (port 0 picks one). */
  readonly host?: string;
  readonly port?: number;
  readonly pollMs?: number;
  /** Accepted tokens (the control token file), read on every check. */
  readonly tokens: () => readonly TokenRecord[];
  /** Names accepted in the Host header besides loopback and the listen address (--allow-host). */
  readonly allowHosts?: readonly string[];
  /** How long a browser session lasts (default 12 hours). */
  readonly sessionMs?: number;
  readonly logger?: Logger;
  readonly now?: () => Date;
}

/** Peers whose failures the page shows (newest first); `oakley diagnose --recent` has all. */
const MAX_FAILURE_PEERS = 50;

export const SESSION_COOKIE = "oakley_monitor_session";
const MAX_SESSIONS = 1000;

interface Session {
  /** SHA-256 of the token that opened it: the session ends when the token is revoked. */
  readonly sha256: string;
  readonly name: string;
  readonly expires: number;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const FAILURE_COUNTERS =
  /^(ike_fail|ike_drop|esp_rx_drop|esp_tx_drop|ctl_reject)\{reason="(.*)"\}$/;

function failuresOf(counters: Readonly<Record<string, bigint>>): FailureCount[] {
  const out: FailureCount[] = [];
  for (const [k, v] of Object.entries(counters)) {
    const m = FAILURE_COUNTERS.exec(k);
    if (m?.[1] && m[2] !== undefined)
      out.push({ counter: m[1], reason: m[2], count: v.toString() });
  }
  return out.sort((a, b) => a.counter.localeCompare(b.counter) || a.reason.localeCompare(b.reason));
}

export function stateJson(s: MonitorState): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

class Watched {
  client: ControlClient | undefined;
  view: DaemonView;
  constructor(readonly spec: DaemonSpec) {
    this.view = {
      name: spec.name,
      endpoint: describeEndpoint(spec.endpoint),
      reachable: false,
      error: { code: ControlErrorCode.Unavailable, message: "not contacted yet" },
      failures: [],
    };
  }
}

export class Monitor {
  private readonly watched: Watched[];
  private readonly sse = new Set<{ write(s: string): void; end(): void }>();
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private app: FastifyInstance | undefined;
  private round: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly sessions = new Map<string, Session>();
  port = 0;

  constructor(private readonly opts: MonitorOptions) {
    this.watched = opts.daemons.map((d) => new Watched(d));
    this.log = opts.logger ?? nullLogger;
    this.now = opts.now ?? (() => new Date());
  }

  state(): MonitorState {
    return { generatedAt: this.now().toISOString(), daemons: this.watched.map((w) => w.view) };
  }

  /** Polls every daemon once (concurrently) and pushes the new state to event streams. */
  pollOnce(): Promise<void> {
    this.round = this.round.then(async () => {
      await Promise.all(this.watched.map((w) => this.pollDaemon(w)));
      const data = `data: ${stateJson(this.state())}\n\n`;
      for (const c of this.sse) c.write(data);
    });
    return this.round;
  }

  private async pollDaemon(w: Watched): Promise<void> {
    const down = (e: ControlError) => {
      if (w.view.reachable)
        this.log.warn("daemon unreachable", { daemon: w.spec.name, error: e.message });
      w.client?.close().catch(() => {});
      w.client = undefined;
      w.view = {
        name: w.view.name,
        endpoint: w.view.endpoint,
        reachable: false,
        error: { code: e.code, message: e.message },
        ...(w.view.lastSeen !== undefined ? { lastSeen: w.view.lastSeen } : {}),
        failures: w.view.failures,
      };
    };
    const timeoutMs = Math.min(10_000, Math.max(1000, (this.opts.pollMs ?? 2000) * 2));
    if (!w.client || w.client.isClosed) {
      const c = await ControlClient.connect(w.spec.endpoint, {
        client: "oakley-monitor",
        timeoutMs,
      });
      if (!c.ok) return down(c.error);
      w.client = c.value;
    }
    const c = w.client;
    const [st, sas, m, rf] = await Promise.all([
      c.status(),
      c.listSas(),
      c.metrics(),
      c.failures(),
    ]);
    if (!st.ok) return down(st.error);
    if (!sas.ok) return down(sas.error);
    if (!m.ok) return down(m.error);
    // Failure records are optional: clients and older daemons have none (that is not "down").
    w.view = {
      name: w.view.name,
      endpoint: w.view.endpoint,
      reachable: true,
      lastSeen: this.now().toISOString(),
      status: st.value,
      sas: sas.value,
      failures: failuresOf(m.value.counters),
      ...(rf.ok ? { recentFailures: rf.value.peers.slice(0, MAX_FAILURE_PEERS) } : {}),
    };
  }

  /** The name of the token that authenticates `req` (bearer header or session), or undefined. */
  private authenticate(req: FastifyRequest): string | undefined {
    const records = this.opts.tokens();
    const b = bearerToken(req.headers.authorization);
    if (b !== undefined) return checkToken(b, records);
    const sid = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (sid === undefined) return undefined;
    const s = this.sessions.get(sid);
    if (!s) return undefined;
    if (s.expires <= this.now().getTime() || !records.some((r) => r.sha256 === s.sha256)) {
      this.sessions.delete(sid);
      return undefined;
    }
    return s.name;
  }

  private unauthorized(req: FastifyRequest, reply: FastifyReply, message?: string): string {
    reply.code(401);
    reply.header("www-authenticate", 'Bearer realm="oakley-monitor"');
    if (req.url.startsWith("/api/")) {
      reply.header("content-type", "application/json; charset=utf-8");
      return JSON.stringify({
        error: message ?? "authentication required: log in, or send Authorization: Bearer TOKEN",
      });
    }
    reply.header("content-type", "text/html; charset=utf-8");
    return loginPage(message);
  }

  private newSession(record: TokenRecord): string {
    const nowMs = this.now().getTime();
    for (const [k, v] of this.sessions) if (v.expires <= nowMs) this.sessions.delete(k);
    // Only token holders make sessions; the bound keeps a runaway script from growing the map.
    while (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const sid = randomBytes(32).toString("base64url");
    this.sessions.set(sid, {
      sha256: record.sha256,
      name: record.name,
      expires: nowMs + (this.opts.sessionMs ?? 12 * 3600_000),
    });
    return sid;
  }

  async start(): Promise<void> {
    const listenHost = this.opts.host ?? "127.0.0.1";
    const app = Fastify({ logger: false, bodyLimit: 4096 });
    app.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 4096 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    app.addHook("onRequest", async (req, reply) => {
      reply.header("cache-control", "no-store");
      // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the
      // login POST, which the cross-site check below must refuse.
      reply.header("referrer-policy", "same-origin");
      reply.header("x-content-type-options", "nosniff");
      reply.header("x-frame-options", "DENY");
      if (!hostAllowed(req.headers.host, { listenHost, allowHosts: this.opts.allowHosts ?? [] })) {
        this.log.warn("monitor request refused: Host not served here", {
          peer: req.socket.remoteAddress,
          host: String(req.headers.host ?? "").slice(0, 100),
        });
        reply.code(421).header("content-type", "text/plain; charset=utf-8");
        return reply.send(
          "421 Misdirected Request: this Host is not served here (a DNS rebinding attempt, or a name the monitor was not told about: start it with --allow-host NAME)\n",
        );
      }
      const open = req.url === "/login" || req.url.startsWith("/login?");
      if (open || req.url === "/logout") return;
      if (this.authenticate(req) === undefined) return reply.send(this.unauthorized(req, reply));
    });
    app.get("/login", async (_req, reply) => {
      reply.header("content-type", "text/html; charset=utf-8");
      reply.header(
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      );
      return loginPage();
    });
    app.post("/login", async (req, reply) => {
      const origin = req.headers.origin;
      const fetchSite = req.headers["sec-fetch-site"];
      const crossSite =
        (origin !== undefined &&
          origin !== `http://${req.headers.host}` &&
          origin !== `https://${req.headers.host}`) ||
        (fetchSite !== undefined && fetchSite !== "same-origin" && fetchSite !== "none");
      if (crossSite) {
        this.log.warn("monitor login refused: cross-site form", {
          peer: req.socket.remoteAddress,
          origin: String(origin ?? fetchSite).slice(0, 100),
        });
        reply.code(403).header("content-type", "text/plain; charset=utf-8");
        return "403 Forbidden: a login from another site is not accepted\n";
      }
      const body = req.body as Record<string, unknown> | undefined;
      const token = typeof body?.token === "string" ? body.token.trim() : "";
      const records = this.opts.tokens();
      const name = checkToken(token, records);
      const record =
        name === undefined ? undefined : records.find((r) => r.sha256 === hashToken(token));
      if (!record) {
        this.log.warn("monitor login refused", { peer: req.socket.remoteAddress });
        return this.unauthorized(
          req,
          reply,
          "token not accepted; make one with: oakley control token NAME",
        );
      }
      const sid = this.newSession(record);
      this.log.info("monitor login", { peer: req.socket.remoteAddress, token: record.name });
      reply.header(
        "set-cookie",
        `${SESSION_COOKIE}=${sid}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor((this.opts.sessionMs ?? 12 * 3600_000) / 1000)}`,
      );
      return reply.code(303).header("location", "./").send();
    });
    app.post("/logout", async (req, reply) => {
      const sid = cookieValue(req.headers.cookie, SESSION_COOKIE);
      if (sid !== undefined) this.sessions.delete(sid);
      reply.header(
        "set-cookie",
        `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`,
      );
      return reply.code(303).header("location", "login").send();
    });
    app.get("/", async (_req, reply) => {
      reply.header("content-type", "text/html; charset=utf-8");
      reply.header(
        "content-security-policy",
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      );
      return monitorPage(stateJson(this.state()));
    });
    app.get("/api/state", async (_req, reply) => {
      reply.header("content-type", "application/json; charset=utf-8");
      reply.header("cache-control", "no-store");
      return stateJson(this.state());
    });
    app.get("/api/events", (req, reply) => {
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      raw.write(`retry: 2000\ndata: ${stateJson(this.state())}\n\n`);
      const client = { write: (s: string) => void raw.write(s), end: () => void raw.end() };
      this.sse.add(client);
      req.raw.on("close", () => this.sse.delete(client));
    });
    await app.listen({ host: listenHost, port: this.opts.port ?? 9600 });
    const a = app.server.address();
    this.port = a && typeof a === "object" ? a.port : (this.opts.port ?? 9600);
    this.app = app;
    await this.pollOnce();
    const tick = () => {
      if (this.closed) return;
      this.timer = setTimeout(() => {
        this.pollOnce().finally(tick);
      }, this.opts.pollMs ?? 2000);
    };
    tick();
    this.log.info("monitor listening", {
      host: listenHost,
      port: this.port,
      daemons: this.watched.length,
    });
    const w = this.exposureWarning();
    if (w) this.log.warn(w);
  }

  /** The start-up warning when listening beyond loopback (undefined on loopback). */
  exposureWarning(): string | undefined {
    return exposureWarning("the monitor", this.opts.host ?? "127.0.0.1", this.port, {
      tls: false,
      secret: "the token",
      fix: "listen on 127.0.0.1 and reach it through an SSH tunnel, or put a reverse proxy with TLS in front of it and give its name with --allow-host",
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.round.catch(() => {});
    for (const w of this.watched) await w.client?.close();
    for (const c of this.sse) c.end();
    this.sse.clear();
    await this.app?.close();
  }
}
