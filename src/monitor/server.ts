/**
 * The web monitor: watches several daemons — local socket and remote TLS ones —
 * through control/ only, and serves one page (page.ts) plus:
 *   GET /            the page, with the current state embedded
 *   GET /api/state   the state as JSON (counters as decimal strings)
 *   GET /api/events  server-sent events: one `data:` line of state per poll round
 * Each daemon keeps one ControlClient; a failed call marks the daemon unreachable with the
 * client's message (which names the cause and fix) and the client is reconnected next round.
 *
 * The monitor has no authentication of its own: it listens on 127.0.0.1 by default; put it behind
 * a reverse proxy with authentication before listening elsewhere.
 */
import Fastify, { type FastifyInstance } from "fastify";
import {
  ControlClient,
  type ControlError,
  ControlErrorCode,
  describeEndpoint,
  type DaemonStatus,
  type SaList,
} from "../control/index.js";
import { type Logger, nullLogger } from "../obs/log.js";
import { monitorPage } from "./page.js";
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
  readonly logger?: Logger;
  readonly now?: () => Date;
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
    const [st, sas, m] = await Promise.all([c.status(), c.listSas(), c.metrics()]);
    if (!st.ok) return down(st.error);
    if (!sas.ok) return down(sas.error);
    if (!m.ok) return down(m.error);
    w.view = {
      name: w.view.name,
      endpoint: w.view.endpoint,
      reachable: true,
      lastSeen: this.now().toISOString(),
      status: st.value,
      sas: sas.value,
      failures: failuresOf(m.value.counters),
    };
  }

  async start(): Promise<void> {
    const app = Fastify({ logger: false });
    app.get("/", async (_req, reply) => {
      reply.header("content-type", "text/html; charset=utf-8");
      reply.header(
        "content-security-policy",
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
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
    await app.listen({ host: this.opts.host ?? "127.0.0.1", port: this.opts.port ?? 9600 });
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
      host: this.opts.host ?? "127.0.0.1",
      port: this.port,
      daemons: this.watched.length,
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
