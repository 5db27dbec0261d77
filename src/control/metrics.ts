/**
 * Prometheus metrics (text exposition format 0.0.4, as specified in the Prometheus
 * "Exposition formats" documentation) for the daemon, served over HTTP by fastify.
 *
 * Families:
 *   oakley_up, oakley_info{software,role}, oakley_block_mode      gauges
 *   oakley_sas{phase="main-mode"|"quick-mode",state}               gauge: SAs that exist now
 *   oakley_sa_bytes{phase,direction}, oakley_sa_packets{...}       gauge: traffic of SAs that exist now
 *   oakley_<counter>_total{labels}                                 every obs/Counters entry, e.g.
 *       oakley_ike_sa_established_total (handshakes), oakley_ike_fail_total{reason},
 *       oakley_ike_drop_total{reason}, oakley_esp_rx_drop_total{reason}, oakley_ctl_reject_total{reason}
 * Counter keys (`name{label="value"}`) are split into a sanitised metric name and labels;
 * label values are escaped as the format requires (\\ \" \n).
 *
 * Access: with a token file (`oakley serve --control-tokens`), every scrape needs
 * `Authorization: Bearer <token>` (Prometheus: `authorization: {credentials_file: ...}`), else
 * 401 and no data. Without one the endpoint is open, as exporters usually are, but its Host
 * header must name this server (loopback, the listen address; http-guard.ts) so that a web page
 * cannot read it through DNS rebinding — a browser cannot add a bearer token, so with tokens the
 * Host check is not needed and a scraper may use any name. Listening beyond loopback logs a
 * warning at start.
 *
 * Left out: histograms, the OpenMetrics format, per-SA series (unbounded label cardinality; the
 * monitor shows per-SA traffic instead), TLS (a reverse proxy).
 */
import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "../obs/log.js";
import { checkToken, type TokenRecord } from "./auth.js";
import { bearerToken, exposureWarning, hostAllowed } from "./http-guard.js";
import type { ControlTarget, DaemonStatus, MetricsSnapshot, SaList } from "./types.js";

export const DEFAULT_METRICS_LISTEN = "127.0.0.1:9500";
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const HELP: Readonly<Record<string, string>> = {
  ike_sa_established: "Main Mode handshakes completed.",
  ike_child_installed: "Quick Mode SAs installed.",
  ike_fail: "IKE negotiations that failed, by reason.",
  ike_drop: "IKE messages dropped, by reason.",
  ike_rx: "IKE messages received.",
  ike_tx: "IKE messages sent.",
  ike_retransmit: "IKE retransmissions sent.",
  esp_rx_drop: "Inbound ESP packets dropped, by reason.",
  esp_tx_drop: "Outbound packets dropped before ESP, by reason.",
  ctl_reject: "Management connections refused, by reason.",
  ctl_connection: "Management connections accepted, by transport.",
};

function sanitizeName(n: string): string {
  const s = n.replace(/[^a-zA-Z0-9_:]/g, "_");
  return /^[a-zA-Z_:]/.test(s) ? s : `_${s}`;
}
function sanitizeLabel(n: string): string {
  const s = n.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[a-zA-Z_]/.test(s) && !s.startsWith("__") ? s : `l_${s}`;
}
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Splits an obs/Counters key `name{a="x",b="y"}` into name and labels (best effort). */
export function splitCounterKey(key: string): { name: string; labels: [string, string][] } {
  const brace = key.indexOf("{");
  if (brace < 0 || !key.endsWith("}")) return { name: key, labels: [] };
  const name = key.slice(0, brace);
  const body = key.slice(brace + 1, -1);
  const labels: [string, string][] = [];
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf('="', i);
    if (eq < 0) return { name, labels: [["key", body]] };
    const lname = body.slice(i, eq);
    // The value ends at the quote followed by "," + label start, or at the very end.
    let end = -1;
    for (let j = eq + 2; j < body.length; j++) {
      if (
        body[j] === '"' &&
        (j === body.length - 1 || /^,[a-zA-Z_][a-zA-Z0-9_]*="/.test(body.slice(j + 1)))
      ) {
        end = j;
        break;
      }
    }
    if (end < 0) return { name, labels: [["key", body]] };
    labels.push([lname, body.slice(eq + 2, end)]);
    i = end + 2;
  }
  return { name, labels };
}

interface Sample {
  labels: [string, string][];
  value: string;
}
interface Family {
  type: "counter" | "gauge";
  help: string;
  samples: Sample[];
}

function line(name: string, s: Sample): string {
  const l = s.labels.map(([k, v]) => `${sanitizeLabel(k)}="${escapeLabelValue(v)}"`).join(",");
  return `${name}${l ? `{${l}}` : ""} ${s.value}`;
}

/** The exposition text for one scrape. */
export function renderMetrics(status: DaemonStatus, sas: SaList, snap: MetricsSnapshot): string {
  const fams = new Map<string, Family>();
  const fam = (name: string, type: Family["type"], help: string): Family => {
    let f = fams.get(name);
    if (!f) {
      f = { type, help, samples: [] };
      fams.set(name, f);
    }
    return f;
  };
  fam("oakley_up", "gauge", "1 while the daemon answers scrapes.").samples.push({
    labels: [],
    value: "1",
  });
  fam("oakley_info", "gauge", "Software and role of the daemon.").samples.push({
    labels: [
      ["software", status.software],
      ["role", status.role],
    ],
    value: "1",
  });
  fam("oakley_block_mode", "gauge", "1 when the daemon is in fail-closed block mode.").samples.push(
    {
      labels: [],
      value: status.mode === "block" ? "1" : "0",
    },
  );
  const sasF = fam(
    "oakley_sas",
    "gauge",
    "Security associations that exist now, by phase and state.",
  );
  const bytesF = fam(
    "oakley_sa_bytes",
    "gauge",
    "Bytes carried by the SAs that exist now, by phase and direction.",
  );
  const pktF = fam(
    "oakley_sa_packets",
    "gauge",
    "Packets carried by the SAs that exist now, by phase and direction.",
  );
  for (const [phase, list] of [
    ["main-mode", sas.ike],
    ["quick-mode", sas.child],
  ] as const) {
    const byState = new Map<string, number>();
    let bi = 0n;
    let bo = 0n;
    let pi = 0n;
    let po = 0n;
    for (const sa of list) {
      byState.set(sa.state, (byState.get(sa.state) ?? 0) + 1);
      bi += sa.traffic.bytesIn;
      bo += sa.traffic.bytesOut;
      pi += sa.traffic.packetsIn;
      po += sa.traffic.packetsOut;
    }
    if (!byState.has("established")) byState.set("established", 0);
    for (const [state, n] of [...byState].sort()) {
      sasF.samples.push({
        labels: [
          ["phase", phase],
          ["state", state],
        ],
        value: String(n),
      });
    }
    bytesF.samples.push({
      labels: [
        ["phase", phase],
        ["direction", "in"],
      ],
      value: bi.toString(),
    });
    bytesF.samples.push({
      labels: [
        ["phase", phase],
        ["direction", "out"],
      ],
      value: bo.toString(),
    });
    pktF.samples.push({
      labels: [
        ["phase", phase],
        ["direction", "in"],
      ],
      value: pi.toString(),
    });
    pktF.samples.push({
      labels: [
        ["phase", phase],
        ["direction", "out"],
      ],
      value: po.toString(),
    });
  }
  for (const [key, v] of Object.entries(snap.counters).sort(([a], [b]) => a.localeCompare(b))) {
    const { name, labels } = splitCounterKey(key);
    const base = sanitizeName(name).replace(/_total$/, "");
    const metric = `oakley_${base}_total`;
    const f = fam(metric, "counter", HELP[name] ?? `Oakley counter ${base}.`);
    if (f.type !== "counter") continue;
    f.samples.push({ labels, value: v.toString() });
  }
  const out: string[] = [];
  for (const [name, f] of fams) {
    out.push(`# HELP ${name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    out.push(`# TYPE ${name} ${f.type}`);
    for (const s of f.samples) out.push(line(name, s));
  }
  return `${out.join("\n")}\n`;
}

/** Parses "HOST:PORT", "[V6]:PORT" or ":PORT". */
export function parseListen(
  s: string,
  flag = "--metrics-listen",
): { host: string; port: number } | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    return `${flag} '${s}' is not HOST:PORT (e.g. 127.0.0.1:9500 or [::1]:9500)`;
  }
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface MetricsAccess {
  /** Accepted bearer tokens, read on every scrape; absent = no authentication. */
  readonly tokens?: () => readonly TokenRecord[];
}

/** Serves GET /metrics for `target` on `listen` (default 127.0.0.1:9500; port 0 picks one). */
export async function startMetricsServer(
  target: Pick<ControlTarget, "status" | "listSas" | "metrics">,
  listen: string = DEFAULT_METRICS_LISTEN,
  logger?: Logger,
  access: MetricsAccess = {},
): Promise<MetricsServer> {
  const l = parseListen(listen);
  if (typeof l === "string") throw new Error(l);
  const app: FastifyInstance = Fastify({ logger: false });
  const tokens = access.tokens;
  app.addHook("onRequest", async (req, reply) => {
    if (tokens === undefined) {
      if (!hostAllowed(req.headers.host, { listenHost: l.host })) {
        logger?.warn("metrics request refused: Host not served here", {
          peer: req.socket.remoteAddress,
          host: String(req.headers.host ?? "").slice(0, 100),
        });
        reply.code(421).header("content-type", "text/plain; charset=utf-8");
        return reply.send("421 Misdirected Request: this Host is not served here\n");
      }
      return;
    }
    const t = bearerToken(req.headers.authorization);
    if (t === undefined || checkToken(t, tokens()) === undefined) {
      logger?.warn("metrics request refused: no valid bearer token", {
        peer: req.socket.remoteAddress,
      });
      reply.code(401).header("www-authenticate", 'Bearer realm="oakley-metrics"');
      reply.header("content-type", "text/plain; charset=utf-8");
      return reply.send(
        "401 Unauthorized: send Authorization: Bearer TOKEN (a token from oakley control token NAME)\n",
      );
    }
  });
  app.get("/metrics", async (_req, reply) => {
    const [st, sas, snap] = await Promise.all([
      target.status(),
      target.listSas(),
      target.metrics(),
    ]);
    reply.header("content-type", PROMETHEUS_CONTENT_TYPE);
    return renderMetrics(st, sas, snap);
  });
  app.get("/", async (_req, reply) => {
    reply.header("content-type", "text/plain; charset=utf-8");
    return "Oakley metrics: GET /metrics (Prometheus text format 0.0.4)\n";
  });
  await app.listen({ host: l.host, port: l.port });
  const a = app.server.address();
  const port = a && typeof a === "object" ? a.port : l.port;
  logger?.info("metrics listening", { host: l.host, port, authentication: tokens !== undefined });
  const w = exposureWarning("the metrics endpoint", l.host, port, {
    tls: false,
    ...(tokens ? { secret: "the bearer token" } : { unauthenticated: true }),
    fix:
      tokens === undefined
        ? "give oakley serve --control-tokens FILE so that scrapes need a bearer token, and listen on 127.0.0.1 or put a reverse proxy with TLS in front"
        : "listen on 127.0.0.1, or put a reverse proxy with TLS in front of it",
  });
  if (w) logger?.warn(w);
  return { host: l.host, port, close: () => app.close() };
}
