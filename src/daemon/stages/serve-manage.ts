/**
 * `oakley serve` stage "manage": what tools and monitors talk to — the local control socket,
 * optionally the control API over TLS for remote tools, and Prometheus metrics. A management
 * interface that cannot start is logged and the server runs without it.
 */
import { readFileSync } from "node:fs";
import {
  type ControlTarget,
  ControlServer,
  type MetricsServer,
  readTokenFile,
  type TokenRecord,
  startMetricsServer,
} from "../../control/index.js";
import type { Counters } from "../../obs/counters.js";
import type { LogHub, Logger } from "../../obs/log.js";
import type { ServeConfig } from "../config.js";
import { once, type Teardown } from "./teardown.js";

type ManageConfig = Pick<
  ServeConfig,
  | "controlSocket"
  | "controlListen"
  | "controlCert"
  | "controlKey"
  | "controlCa"
  | "controlTokens"
  | "controlMaxConnections"
  | "controlMaxPerAddress"
  | "metricsListen"
>;

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(":");
  return i < 0 ? [s, 9501] : [s.slice(0, i), Number(s.slice(i + 1))];
}

/** Bearer tokens from the token file, read on every request (a changed file applies at once). */
function tokensFrom(path: string): () => readonly TokenRecord[] {
  return () => {
    const t = readTokenFile(path);
    return t.ok ? t.value : [];
  };
}

export async function startManagement(
  cfg: ManageConfig,
  target: ControlTarget,
  deps: {
    readonly software: string;
    readonly counters: Counters;
    readonly logs: LogHub;
  },
  log: Logger,
  teardown: Teardown,
): Promise<void> {
  let control: ControlServer | undefined;
  let metrics: MetricsServer | undefined;
  const close = once(async () => {
    await control?.close();
    await metrics?.close();
  });
  teardown.add("manage", { stop: close, close });
  try {
    const tls =
      cfg.controlListen !== undefined &&
      cfg.controlCert !== undefined &&
      cfg.controlKey !== undefined
        ? (() => {
            const [host, port] = splitHostPort(cfg.controlListen);
            const tokensPath = cfg.controlTokens;
            return {
              host,
              port,
              key: readFileSync(cfg.controlKey),
              cert: readFileSync(cfg.controlCert),
              ...(cfg.controlCa ? { clientCa: readFileSync(cfg.controlCa) } : {}),
              ...(tokensPath ? { tokens: tokensFrom(tokensPath) } : {}),
            };
          })()
        : undefined;
    if (cfg.controlSocket !== "off" || tls) {
      control = await ControlServer.start({
        target,
        software: deps.software,
        counters: deps.counters,
        logger: deps.logs.logger("ctl"),
        maxConnections: cfg.controlMaxConnections,
        maxConnectionsPerAddress: cfg.controlMaxPerAddress,
        ...(cfg.controlSocket !== "off" ? { unix: { path: cfg.controlSocket } } : {}),
        ...(tls ? { tls } : {}),
      });
    }
    if (cfg.metricsListen !== "off") {
      const tokensPath = cfg.controlTokens;
      // With a token file, scrapes need one of its tokens (read on every scrape).
      metrics = await startMetricsServer(
        target,
        cfg.metricsListen,
        deps.logs.logger("ctl"),
        tokensPath ? { tokens: tokensFrom(tokensPath) } : {},
      );
    }
  } catch (e) {
    log.warn(`management interfaces not started: ${(e as Error).message}`);
  }
}
