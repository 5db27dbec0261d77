/**
 * `oakley serve`: the composition root of the L2TP/IPsec server, in named stages:
 *
 *   guard      fail-closed rules before any traffic flows (fail-closed/)
 *   store      the SQLite store, command-line secrets applied, the effective policy
 *   tun        one TUN device: the server's PPP address, the pool routed to it
 *   stack      UDP 500/4500 + raw ESP --> IpsecNode --> L2TP over IPsec + PPP (stack.ts)
 *   manage     control socket / TLS, metrics, live policy changes
 *
 * L2TP is bound to the IKE SA a client authenticated with (src/l2tp-ipsec/channel.ts), never
 * to an address: clients behind one NAT with the same private address and ports stay separate,
 * and one client can never reach another's session.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { err, ok, type Result } from "../base/result.js";
import { readFileSync } from "node:fs";
import {
  ControlServer,
  type MetricsServer,
  readTokenFile,
  startMetricsServer,
} from "../control/index.js";
import { Counters } from "../obs/counters.js";
import type { LogHub } from "../obs/log.js";
import {
  createDefaultStore,
  effectivePolicy,
  type InitialSecrets,
  type PolicyStore,
} from "../policy/index.js";
import { type Clock, type Random, systemClock, systemRandom } from "../platform/index.js";
import type { ServeConfig } from "./config.js";
import {
  blockSetFromPolicy,
  describeStartFailure,
  FailClosedGuard,
  fromStoreError,
  portInUse,
  type StartFailure,
} from "./fail-closed/index.js";
import { initialSecretsInfo, startupAddress, startupText } from "./instructions.js";
import { daemonTarget, type TargetState } from "./control-target.js";
import type { IpsecNode } from "./ipsec-node.js";
import type { StageError } from "./stages/errors.js";
import { applyFlags } from "./stages/serve-flags.js";
import { fileStamp, type IkeOverrides, readCrlFile, serverPlan } from "./stages/serve-plan.js";
import { REAL_HOST, type StartHost, type StartTun } from "./stages/host.js";
import type { L2tpOverIpsec, L2tpOverIpsecEvent } from "../l2tp-ipsec/index.js";
import { buildStack, logServerIkeEvent } from "./stack.js";
import { acceptedDhGroups, FailureRecorder } from "./diagnostics.js";
import { FailureRing } from "./failure-ring.js";
import { ikeConfigFromPolicy } from "./policy-to-ike.js";
import { type FipsState, fipsPolicyProblems, fipsStatusText, startFips } from "./fips.js";
import { RadiusService } from "./radius.js";
import { radiusFromStore, radiusServiceOptions } from "./radius-config.js";
import { RadiusSessions, stackControl } from "./radius-sessions.js";

export type ServerError = StageError;

export { applyFlags, SERVE_CA, SERVE_CERT, storeCertificates } from "./stages/serve-flags.js";
export { readCrlFile, type ServerPlan, serverPlan } from "./stages/serve-plan.js";

export interface ServerDeps {
  readonly logs: LogHub;
  readonly clock?: Clock;
  readonly random?: Random;
  /** Where the start-up text goes (stdout by default). */
  readonly print?: (text: string) => void;
  /** Whether that is a terminal (default: stdout's); first-start secrets are shown only there. */
  readonly stdoutIsTTY?: boolean;
  /** Test hook: other IKE/NAT-T ports. */
  readonly ports?: { readonly ike: number; readonly natt: number };
  /** Test hook: engine timers. */
  readonly ikeOverrides?: IkeOverrides;
  /** Test hook: what is opened on the host (TUN, sockets, nftables). */
  readonly host?: StartHost;
}

export interface RunningServer {
  readonly node: IpsecNode;
  readonly l2tp: L2tpOverIpsec;
  readonly store: PolicyStore;
  readonly counters: Counters;
  readonly tun: StartTun;
  readonly serverAddress: string;
  /** Orderly stop: PPP Terminate, CDN/StopCCN, IKE Deletes, TUN removed, store closed. */
  stop(): Promise<void>;
}

const SOFTWARE_VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(":");
  return i < 0 ? [s, 9501] : [s.slice(0, i), Number(s.slice(i + 1))];
}

export async function startServer(
  cfg: ServeConfig,
  deps: ServerDeps,
): Promise<Result<RunningServer, ServerError>> {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const print = deps.print ?? ((t: string) => process.stdout.write(`${t}\n`));
  const log = deps.logs.logger("daemon");
  const counters = new Counters();
  const host = deps.host ?? REAL_HOST;

  // Fail-closed: nftables rules that drop protected traffic in the clear are
  // installed before any traffic flows and outlive this process; any start failure below
  // leaves (or puts) them in place and records why in the status file.
  const guard = cfg.failClosed
    ? new FailClosedGuard({ statusPath: cfg.statusFile, table: host.firewall() })
    : undefined;
  if (guard) {
    const b = await guard.begin();
    if (!b.ok)
      return err({
        code: b.error.code,
        message: `fail-closed: ${b.error.message} (or run with --no-fail-closed)`,
      });
    if (b.value.previous) log.warn(b.value.previous);
  }
  const block = async (f: StartFailure): Promise<ServerError> => {
    const message = describeStartFailure(f);
    if (guard) {
      const r = await guard.enterBlockMode(f);
      if (!r.ok) log.error(`block mode could not be entered: ${r.error.message}`);
      else log.error(`${message}; traffic the policy protects is blocked (block mode)`);
    }
    return { code: "code" in f && f.code ? f.code : "OAK_E_SERVE_START", message };
  };

  // FIPS mode from the command line: the provider is loaded before any other crypto runs
  // (node:crypto keeps algorithm objects it fetched earlier).
  const early = cfg.fips !== undefined ? startFips(cfg.fips) : undefined;
  if (early && !early.ok) return err(await block({ kind: "crypto", ...early.error }));

  try {
    mkdirSync(dirname(cfg.store), { recursive: true, mode: 0o700 });
  } catch (e) {
    return err({
      code: "OAK_E_STORE_UNREADABLE",
      message: `cannot create the folder of the store ${cfg.store}: ${(e as NodeJS.ErrnoException).code ?? e}; use --store`,
    });
  }
  const opened = createDefaultStore(cfg.store, (n) => random.bytes(n), {
    allowLegacyCrypto: cfg.allowLegacy,
    allowWeakPsk: cfg.allowWeakPsk,
  });
  if (!opened.ok) {
    const f = fromStoreError({
      ...opened.error,
      message: `store ${cfg.store}: ${opened.error.message}`,
    });
    return err(await block(f));
  }
  const store = opened.value.store;
  const initial: InitialSecrets | undefined = opened.value.initial;
  let radius: RadiusService | undefined;
  const fail = async (
    e: ServerError | StartFailure,
  ): Promise<Result<RunningServer, ServerError>> => {
    radius?.close();
    store.close();
    return err("kind" in e ? await block(e) : e);
  };
  const applied = applyFlags(store, cfg, random);
  if (!applied.ok) return fail(applied.error);
  const eff = effectivePolicy(store);
  if (!eff.ok) return fail(fromStoreError(eff.error));
  for (const w of eff.value.warnings) log.warn(w);
  // Without a flag, the store's setting decides (and its provider is loaded now).
  const fipsR = early ?? startFips(eff.value.settings.fips ?? "off");
  if (!fipsR.ok) return fail({ kind: "crypto", ...fipsR.error });
  const fips: FipsState = fipsR.value;
  const fipsWarnings: string[] = [];
  if (fips.mode !== "off") {
    const problems = fipsPolicyProblems(eff.value);
    if (problems.errors.length > 0)
      return fail({
        code: "OAK_E_SERVE_CONFIG",
        message: `FIPS mode: ${problems.errors.join("; ")}`,
      });
    const users = store.users.list();
    const noPap = users.ok
      ? users.value.filter((u) => u.value?.enabled && !u.value.protocols.includes("pap"))
      : [];
    if (noPap.length > 0)
      problems.warnings.push(
        `FIPS mode: PPP authenticates with PAP only (MS-CHAPv2 needs MD4 and DES); these users may not use PAP and cannot log in: ${noPap
          .map((u) => u.name)
          .slice(0, 20)
          .join(", ")} (oakley users edit NAME --protocol pap)`,
      );
    fipsWarnings.push(
      ...problems.warnings,
      "FIPS mode: clients must use PAP for PPP (e.g. Windows Add-VpnConnection -AuthenticationMethod Pap, `oakley connect --fips --allow-auth pap`); the connection instructions and `oakley client-config` files name MS-CHAPv2",
    );
    log.info(`FIPS: ${fipsStatusText(fips)}`);
    for (const w of fipsWarnings) log.warn(w);
  }
  if (guard) {
    const set = blockSetFromPolicy(eff.value, { role: "server", listen: cfg.listen });
    if (!set.ok) return fail({ code: set.error.code, message: set.error.message });
    const p = await guard.enterProtectedMode(set.value);
    if (!p.ok)
      return fail({
        code: p.error.code,
        message: `fail-closed: ${p.error.message} (or run with --no-fail-closed)`,
      });
  }

  // --crl: read again when the file changes (checked every 2 s with the store).
  const crlPath = cfg.certificates?.paths.crl;
  let crls: Buffer[] = cfg.certificates?.material.crl ? [cfg.certificates.material.crl] : [];
  for (const w of cfg.certificates?.material.warnings ?? []) log.warn(w);
  if (cfg.certificates)
    log.info(
      `certificate authentication: our certificate "${cfg.certificates.material.subject}", CA ${cfg.certificates.paths.ca}${crlPath ? `, CRL ${crlPath}` : ""}`,
    );
  const planned = serverPlan(store, eff.value, cfg, {
    clock,
    fips: fips.mode !== "off",
    crls,
    ...(deps.ikeOverrides ? { ikeOverrides: deps.ikeOverrides } : {}),
  });
  if (!planned.ok) return fail(planned.error);
  const { me, poolDef, ike } = planned.value;
  let serverSide = planned.value.server;

  // RADIUS: every PPP login is checked by the RADIUS servers (no fallback to local users),
  // accounting goes through the durable queue beside the store.
  let radiusSessions: RadiusSessions | undefined;
  // Without --radius, the store's setting (`oakley policy radius …`) decides.
  const storeRadius = eff.value.settings.radius;
  let radiusCfg = cfg.radius;
  if (!radiusCfg && storeRadius) {
    const r = radiusFromStore(storeRadius, cfg.store);
    if (!r.ok) return fail({ code: "OAK_E_SERVE_CONFIG", message: r.error });
    radiusCfg = r.value;
  }
  if (radiusCfg) {
    const radiusLog = deps.logs.logger("radius");
    const started = await RadiusService.start(radiusServiceOptions(radiusCfg, cfg.listen), {
      clock,
      random,
      log: radiusLog,
      counters,
    });
    if (!started.ok)
      return fail({ code: started.error.code, message: `RADIUS: ${started.error.message}` });
    radius = started.value;
    radiusSessions = new RadiusSessions(radius, clock, radiusLog, {
      interimIntervalS: radiusCfg.interimIntervalS,
      poolCidr: poolDef.cidr,
      newSessionId: () => Buffer.from(random.bytes(8)).toString("hex"),
    });
    serverSide = { ...serverSide, authenticator: radiusSessions.authenticator };
    log.info(
      `PPP logins are checked by RADIUS: ${radiusCfg.servers.map((x) => `${x.address}:${x.authPort}`).join(", ")}`,
    );
  }

  // TUN for PPP traffic: our PPP address with the pool's prefix routes every client to it.
  // Offloads on: the kernel hands TCP super-packets and takes merged ones (tun.ts).
  const tunR = host.openTun({ name: cfg.tun, offload: true });
  if (!tunR.ok)
    return fail({ code: tunR.error.code, message: `TUN ${cfg.tun}: ${tunR.error.message}` });
  const tun = tunR.value;
  for (const r of [
    tun.setMtu(cfg.mtu),
    tun.setAddress({ local: me.address, prefixLength: me.prefix }),
    tun.setUp(true),
  ]) {
    if (!r.ok) {
      tun.close();
      return fail({
        kind: "tun",
        code: r.error.code,
        message: `TUN ${cfg.tun}: ${r.error.message}`,
      });
    }
  }

  const ports = await host.openPorts({
    listen: cfg.listen,
    ...(deps.ports ? { ports: deps.ports } : {}),
  });
  if (!ports.ok) {
    tun.close();
    if (ports.error.code === "OAK_E_PLATFORM_ADDR_IN_USE") {
      const p = deps.ports ?? { ike: 500, natt: 4500 };
      const taken = [p.ike, p.natt]
        .map((x) => portInUse(x))
        .find((f) => f.kind === "port-in-use" && f.owners.length > 0);
      return fail(
        taken ?? { kind: "runtime", code: ports.error.code, message: ports.error.message },
      );
    }
    return fail({ kind: "runtime", code: ports.error.code, message: ports.error.message });
  }
  // Recent failures per peer, explained (oakley diagnose --recent, the monitor, the warn lines).
  let allowLegacy = eff.value.settings.allowLegacyCrypto;
  const failures = new FailureRecorder({
    ring: new FailureRing({ counters }),
    context: () => ({ allowLegacy, groups: acceptedDhGroups(running.engine.config) }),
    wallNow: () => clock.wallNow(),
  });
  const { node: running, l2tp } = buildStack(
    {
      role: "lns",
      listen: cfg.listen,
      ike,
      clock,
      random,
      logs: deps.logs,
      counters,
      mtu: cfg.mtu,
      ...(deps.ports ? { ports: deps.ports } : {}),
      server: serverSide,
      failures,
      onIkeEvent: (e, why) => logServerIkeEvent(log, e, why),
      onEvent: (e, why) => {
        logSessionEvent(log, e, why);
        radiusSessions?.onEvent(e);
      },
    },
    { ipsec: ports.value, tun },
  );
  if (radius && radiusSessions) {
    const sessions = radiusSessions;
    sessions.attach(stackControl(l2tp, running, clock));
    radius.onDynamicAuthorization((req) => sessions.onDynamicAuthorization(req));
  }
  tun.onPackets((packets) => l2tp.ipPackets(packets));
  for (const w of running.engine.startupWarnings) log.warn(w);

  print(
    startupText({
      ...(await startupAddress(cfg.listen)),
      ...(initial
        ? initialSecretsInfo(
            { psk: initial.psk, user: initial.user.name, password: initial.user.password },
            { storePath: cfg.store, isTTY: deps.stdoutIsTTY ?? process.stdout.isTTY === true },
          )
        : {}),
      pool: poolDef.cidr,
      dns: poolDef.dns,
      storePath: cfg.store,
      windowsNatFriendly: cfg.windowsNatFriendly,
      allowLegacy: eff.value.settings.allowLegacyCrypto,
    }),
  );
  // Management: local socket, optional TLS for remote tools/monitors, Prometheus metrics.
  const state: TargetState = {
    software: `oakley ${SOFTWARE_VERSION}`,
    role: "server",
    startedAt: clock.wallNow(),
    storePath: cfg.store,
    listen: cfg.listen,
    warnings: [...eff.value.warnings, ...fipsWarnings],
    mode: "protected",
    fips: { mode: fips.mode, text: fipsStatusText(fips) },
  };
  const target = daemonTarget({
    node: running,
    logs: deps.logs,
    counters,
    wallNow: () => clock.wallNow(),
    now: () => clock.now(),
    state,
    store,
    l2tp,
    ...(radius
      ? {
          radius: () => ({
            servers: radius?.serverStatus() ?? [],
            accountingQueued: radius?.queued() ?? 0,
          }),
        }
      : {}),
    failures: failures.ring,
  });
  let control: ControlServer | undefined;
  let metrics: MetricsServer | undefined;
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
              ...(tokensPath
                ? {
                    tokens: () => {
                      const t = readTokenFile(tokensPath);
                      return t.ok ? t.value : [];
                    },
                  }
                : {}),
            };
          })()
        : undefined;
    if (cfg.controlSocket !== "off" || tls) {
      control = await ControlServer.start({
        target,
        software: state.software,
        counters,
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
        tokensPath
          ? {
              tokens: () => {
                const t = readTokenFile(tokensPath);
                return t.ok ? t.value : [];
              },
            }
          : {},
      );
    }
  } catch (e) {
    log.warn(`management interfaces not started: ${(e as Error).message}`);
  }
  // Changes made through `oakley users/policy` (on this connection or by another process) are
  // seen here; user lookups already read the store on every authentication.
  // Policy, PSK and settings changes are applied to new exchanges and to the fail-closed rules
  // at once; established SAs keep what they negotiated until they rekey.
  let reapplying = Promise.resolve();
  const reapply = async (): Promise<void> => {
    const next = effectivePolicy(store);
    if (!next.ok) {
      log.error(
        `policy change not applied, the previous policy stays in force: ${next.error.message}`,
      );
      return;
    }
    allowLegacy = next.value.settings.allowLegacyCrypto;
    running.engine.reconfigure(
      ikeConfigFromPolicy(next.value, {
        windowsNatFriendly: cfg.windowsNatFriendly,
        negotiateDh2048: cfg.negotiateDh2048,
        crls,
        ...(deps.ikeOverrides ? { overrides: deps.ikeOverrides } : {}),
        fips: fips.mode !== "off",
      }),
    );
    if ((next.value.settings.fips ?? "off") !== fips.mode && cfg.fips === undefined)
      log.warn(
        `the store's FIPS setting is now '${next.value.settings.fips ?? "off"}'; FIPS mode stays '${fips.mode}' until the next start`,
      );
    if (guard) {
      const set = blockSetFromPolicy(next.value, { role: "server", listen: cfg.listen });
      const p = set.ok ? await guard.enterProtectedMode(set.value) : set;
      if (!p.ok) log.error(`fail-closed rules not updated: ${p.error.message}`);
    }
    log.info("policy change applied", {
      policies: next.value.policies.map((x) => x.name).join(", "),
    });
  };
  const unsubscribe = store.subscribe((changes) => {
    log.info(
      `store changed: ${changes.map((c) => `${c.op} ${c.kind} ${c.name} (${c.source})`).join(", ")}`,
    );
    if (changes.some((c) => c.kind !== "user")) reapplying = reapplying.then(reapply);
  });
  let crlStamp = crlPath ? fileStamp(crlPath) : "";
  const pollCrl = (): void => {
    if (!crlPath) return;
    const stamp = fileStamp(crlPath);
    if (stamp === crlStamp) return;
    crlStamp = stamp;
    const r = readCrlFile(crlPath);
    if (!r.ok) {
      log.error(`--crl ${crlPath}: ${r.error}; the previous CRL stays in force`);
      return;
    }
    crls = [r.value];
    log.info(`--crl ${crlPath} changed: CRL reloaded`);
    reapplying = reapplying.then(reapply);
  };
  const poll = setInterval(() => {
    store.poll();
    pollCrl();
  }, 2000);
  poll.unref();

  log.info("ready: listening on UDP 500 and 4500", { listen: cfg.listen });

  return ok({
    node: running,
    l2tp,
    store,
    counters,
    tun,
    serverAddress: me.address,
    async stop() {
      clearInterval(poll);
      unsubscribe();
      await reapplying;
      await control?.close();
      await metrics?.close();
      l2tp.close();
      await new Promise((r) => setTimeout(r, 200)); // let Terminate/CDN/StopCCN leave
      if (radius) {
        // Stop records for what is still up; a second for the queue to drain (what is left is
        // sent after the next start: the queue is on disk).
        radiusSessions?.close();
        for (let i = 0; i < 10 && radius.queued() > 0; i++)
          await new Promise((r) => setTimeout(r, 100));
        radius.close();
      }
      running.deleteAll();
      await new Promise((r) => setTimeout(r, 100));
      l2tp.dispose();
      running.close();
      tun.close();
      store.close();
      if (guard) {
        const r = await guard.cleanStop();
        if (!r.ok) log.error(`fail-closed rules could not be removed: ${r.error.message}`);
      }
    },
  });
}

/** Session milestones in the server's log, one line each. */
function logSessionEvent(
  log: ReturnType<LogHub["logger"]>,
  e: L2tpOverIpsecEvent,
  why?: string,
): void {
  switch (e.type) {
    case "tunnel-up":
      log.info(`L2TP tunnel up with ${e.peerHostName || "client"} (channel ${e.channelId})`);
      break;
    case "auth-ok":
      log.info(`PPP authenticated: user ${e.session.user} (${e.method})`);
      break;
    case "auth-failed":
      log.warn(`PPP authentication failed: ${e.message}${why ? ` — ${why}` : ""}`);
      break;
    case "ip-up":
      log.info(`address assigned: ${e.session.peerAddress} to user ${e.session.user}`);
      break;
    case "session-down":
      log.info(`PPP session ${e.session.key} down: ${e.reason}`);
      break;
    case "tunnel-down":
      if (why) log.warn(`L2TP tunnel ${e.tunnelId} down: ${e.reason} — ${why}`);
      else log.info(`L2TP tunnel ${e.tunnelId} down: ${e.reason}`);
      break;
    default:
      break;
  }
}
