/**
 * `oakley serve`: the composition root of the L2TP/IPsec server. Start-up is a list of named
 * stages (src/daemon/stages/; "shared" ones are `oakley connect`'s too):
 *
 *   guard     fail-closed: what an earlier run left (beginFailClosed, shared)
 *   fips      FIPS mode from the command line, before any other crypto runs
 *   store     the SQLite store (openStore)
 *   settings  command-line settings into the store, the effective policy, FIPS (loadSettings)
 *   ike       certificates and CRLs, IKE settings, PPP users and pool (planServer), and the
 *             RADIUS settings in force (radiusSettings)
 *   protect   the block table installed before any traffic flows (protect, shared)
 *   radius    RADIUS authentication and accounting, when configured (startRadius)
 *   tun       one TUN device: the server's PPP address, the pool routed to it (openTun, shared)
 *   ports     UDP 500/4500 and raw ESP (openPorts, shared)
 *   service   IpsecNode --> L2TP over IPsec + PPP (startService, shared)
 *   announce  the start-up text: address, PSK/user on the first start, the pool
 *   manage    control socket / TLS, metrics (startManagement)
 *   watch     store and CRL changes applied while running (watchStore)
 *
 * Every stage registers what it opened with one Teardown (stages/teardown.ts): stop() runs it
 * newest first, and a start that fails part-way closes what the earlier stages opened. One rule
 * for start failures: a configuration mistake (a flag, the store's settings, pool or RADIUS
 * setting) is refused before protected mode, with nothing installed; from protected mode on,
 * every failure is a StartFailure (the types say so) and enters block mode with the reason.
 * Before protect, a store or crypto that cannot be used enters block mode as well.
 *
 * L2TP is bound to the IKE SA a client authenticated with (src/l2tp-ipsec/channel.ts), never
 * to an address: clients behind one NAT with the same private address and ports stay separate,
 * and one client can never reach another's session.
 */
import { readFileSync } from "node:fs";
import { err, ok, type Result } from "../base/result.js";
import type { ControlTarget } from "../control/index.js";
import type { IkeConfig } from "../ike/index.js";
import type {
  L2tpOverIpsec,
  L2tpOverIpsecEvent,
  L2tpOverIpsecServer,
} from "../l2tp-ipsec/index.js";
import { Counters } from "../obs/counters.js";
import type { LogHub, Logger } from "../obs/log.js";
import type { EffectivePolicy, InitialSecrets, PolicyStore } from "../policy/index.js";
import { type Clock, type Random, systemClock, systemRandom } from "../platform/index.js";
import type { ServeConfig } from "./config.js";
import { daemonTarget } from "./control-target.js";
import { acceptedDhGroups, FailureRecorder } from "./diagnostics.js";
import {
  blockSetFromPolicy,
  describeStartFailure,
  type FailClosedGuard,
  failureCode,
  type StartFailure,
} from "./fail-closed/index.js";
import { FailureRing } from "./failure-ring.js";
import { type FipsState, fipsStatusText, startFips } from "./fips.js";
import { initialSecretsInfo, startupAddress, startupText } from "./instructions.js";
import type { IpsecNode } from "./ipsec-node.js";
import type { StageError } from "./stages/errors.js";
import { beginFailClosed, enterBlockMode, protect } from "./stages/fail-closed.js";
import { REAL_HOST, type StartHost, type StartTun } from "./stages/host.js";
import { explainPortsInUse, type OpenedPorts, openPorts, openTun } from "./stages/ports.js";
import { startManagement } from "./stages/serve-manage.js";
import {
  type CrlSource,
  type IkeOverrides,
  planServer,
  type ServerPlan,
} from "./stages/serve-plan.js";
import { type Radius, radiusSettings, startRadius } from "./stages/serve-radius.js";
import type { RadiusSettings } from "./radius-config.js";
import { loadSettings, openStore } from "./stages/serve-settings.js";
import { type LiveSettings, watchStore } from "./stages/serve-watch.js";
import { startService } from "./stages/service.js";
import { Teardown } from "./stages/teardown.js";
import { logServerIkeEvent } from "./stack.js";

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

/** What every stage may use. */
interface Context {
  readonly cfg: ServeConfig;
  readonly deps: ServerDeps;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly counters: Counters;
  readonly host: StartHost;
  readonly guard: FailClosedGuard | undefined;
  readonly teardown: Teardown;
}

type Failure = ServerError | StartFailure;

export async function startServer(
  cfg: ServeConfig,
  deps: ServerDeps,
): Promise<Result<RunningServer, ServerError>> {
  const log = deps.logs.logger("daemon");
  const host = deps.host ?? REAL_HOST;
  // Fail-closed: nftables rules that drop protected traffic in the clear are installed before
  // any traffic flows and outlive this process; any start failure below leaves (or puts) them
  // in place and records why in the status file.
  const guard = await beginFailClosed(
    { failClosed: cfg.failClosed, statusFile: cfg.statusFile, optOut: "run with" },
    host,
    log,
  );
  if (!guard.ok) return guard;
  const c: Context = {
    cfg,
    deps,
    clock: deps.clock ?? systemClock,
    random: deps.random ?? systemRandom,
    log,
    counters: new Counters(),
    host,
    guard: guard.value,
    teardown: new Teardown(),
  };
  try {
    const r = await startStages(c);
    if (r.ok) return r;
    await c.teardown.abort();
    return err("kind" in r.error ? await blockMode(c, r.error) : r.error);
  } catch (e) {
    await c.teardown.abort();
    throw e;
  }
}

/** A start failure: block mode when fail-closed is on; the message says why either way. */
async function blockMode(c: Context, f: StartFailure): Promise<ServerError> {
  if (c.guard) return enterBlockMode(c.guard, f, c.log, { fallbackCode: "OAK_E_SERVE_START" });
  return { code: failureCode(f) ?? "OAK_E_SERVE_START", message: describeStartFailure(f) };
}

/** Up to protected mode: configuration mistakes are refused here, before anything is touched. */
async function startStages(c: Context): Promise<Result<RunningServer, Failure>> {
  const { cfg, deps, clock, random, log, guard, teardown } = c;
  // FIPS mode from the command line: the provider is loaded before any other crypto runs
  // (node:crypto keeps algorithm objects it fetched earlier).
  const early = cfg.fips !== undefined ? startFips(cfg.fips) : undefined;
  if (early && !early.ok) return err({ kind: "crypto", ...early.error });

  const opened = openStore(cfg, random, teardown);
  if (!opened.ok) return opened;
  const { store, initial } = opened.value;

  const settings = loadSettings(store, cfg, early?.value, random, log);
  if (!settings.ok) return settings;
  const { eff, fips, fipsWarnings } = settings.value;

  // The plan and the RADIUS settings come from the store and flags alone: a mistake in them
  // (no such pool, an unusable RADIUS setting) is refused before any rule is installed.
  const planned = planServer(
    store,
    eff,
    cfg,
    {
      clock,
      fips: fips.mode !== "off",
      ...(deps.ikeOverrides ? { ikeOverrides: deps.ikeOverrides } : {}),
    },
    log,
  );
  if (!planned.ok) return planned;
  const radiusCfg = radiusSettings(cfg, eff);
  if (!radiusCfg.ok) return radiusCfg;

  if (guard) {
    const set = blockSetFromPolicy(eff, { role: "server", listen: cfg.listen });
    const p = await protect(guard, set, "run with");
    if (!p.ok) return p;
  }
  return startProtected(c, {
    store,
    initial,
    eff,
    fips,
    fipsWarnings,
    ...planned.value,
    radiusCfg: radiusCfg.value,
  });
}

/** From protected mode on: every failure is a StartFailure (block mode when fail-closed is on). */
async function startProtected(
  c: Context,
  o: {
    readonly store: PolicyStore;
    readonly initial: InitialSecrets | undefined;
    readonly eff: EffectivePolicy;
    readonly fips: FipsState;
    readonly fipsWarnings: readonly string[];
    readonly plan: ServerPlan;
    readonly crl: CrlSource;
    readonly radiusCfg: RadiusSettings | undefined;
  },
): Promise<Result<RunningServer, StartFailure>> {
  const { cfg, deps, clock, random, log, counters, host, guard, teardown } = c;
  const { store, initial, eff, fips, fipsWarnings, plan, crl } = o;
  const { me, poolDef, ike } = plan;

  const radius = await startRadius(
    o.radiusCfg,
    cfg,
    poolDef.cidr,
    { clock, random, logs: deps.logs, counters },
    log,
    teardown,
  );
  if (!radius.ok) return radius;
  const serverSide = radius.value
    ? { ...plan.server, authenticator: radius.value.sessions.authenticator }
    : plan.server;

  // TUN for PPP traffic: our PPP address with the pool's prefix routes every client to it.
  const tunR = openTun(host, {
    name: cfg.tun,
    mtu: cfg.mtu,
    address: { local: me.address, prefixLength: me.prefix },
  });
  if (!tunR.ok) return tunR;
  const tun = tunR.value;
  teardown.add("tun", { close: () => tun.close() });

  const ports = await openPorts(
    host,
    { listen: cfg.listen, ...(deps.ports ? { ports: deps.ports } : {}) },
    teardown,
  );
  if (!ports.ok) return err(explainPortsInUse(ports.error, deps.ports));

  const live: LiveSettings = { allowLegacy: eff.settings.allowLegacyCrypto };
  const { node, l2tp, failures } = serveService(c, {
    ike,
    server: serverSide,
    radius: radius.value,
    ports: ports.value,
    tun,
    live,
  });

  await announce(c, { initial, eff, poolDef });

  const software = `oakley ${SOFTWARE_VERSION}`;
  const target = serverTarget(c, {
    software,
    node,
    l2tp,
    store,
    radius: radius.value,
    failures,
    warnings: [...eff.warnings, ...fipsWarnings],
    fips,
  });
  await startManagement(cfg, target, { software, counters, logs: deps.logs }, log, teardown);

  watchStore(
    store,
    node,
    cfg,
    {
      crl,
      fips,
      live,
      guard,
      ...(deps.ikeOverrides ? { ikeOverrides: deps.ikeOverrides } : {}),
    },
    log,
    teardown,
  );

  log.info("ready: listening on UDP 500 and 4500", { listen: cfg.listen });

  return ok({
    node,
    l2tp,
    store,
    counters,
    tun,
    serverAddress: me.address,
    async stop() {
      await teardown.stop();
      if (guard) {
        const r = await guard.cleanStop();
        if (!r.ok) log.error(`fail-closed rules could not be removed: ${r.error.message}`);
      }
    },
  });
}

/**
 * Stage "service" for the server: the shared IPsec + L2TP service as the LNS, with failure
 * explanations (oakley diagnose --recent, the monitor, the warn lines), session log lines,
 * RADIUS accounting, and the TUN's packets going to the PPP sessions.
 */
function serveService(
  c: Context,
  o: {
    readonly ike: IkeConfig;
    readonly server: L2tpOverIpsecServer;
    readonly radius: Radius | undefined;
    readonly ports: OpenedPorts;
    readonly tun: StartTun;
    readonly live: LiveSettings;
  },
): { readonly node: IpsecNode; readonly l2tp: L2tpOverIpsec; readonly failures: FailureRecorder } {
  const { cfg, deps, clock, log, counters } = c;
  const failures = new FailureRecorder({
    ring: new FailureRing({ counters }),
    context: () => ({
      allowLegacy: o.live.allowLegacy,
      groups: acceptedDhGroups(node.engine.config),
    }),
    wallNow: () => clock.wallNow(),
  });
  const { node, l2tp } = startService(
    {
      role: "lns",
      listen: cfg.listen,
      ike: o.ike,
      clock,
      random: c.random,
      logs: deps.logs,
      counters,
      mtu: cfg.mtu,
      ...(deps.ports ? { ports: deps.ports } : {}),
      server: o.server,
      failures,
      onIkeEvent: (e, why) => logServerIkeEvent(log, e, why),
      onEvent: (e, why) => {
        logSessionEvent(log, e, why);
        o.radius?.sessions.onEvent(e);
      },
    },
    { ipsec: o.ports, tun: o.tun },
    { drainMs: 200 },
    c.teardown,
  );
  o.radius?.attach(l2tp, node, clock);
  o.tun.onPackets((packets) => l2tp.ipPackets(packets));
  for (const w of node.engine.startupWarnings) log.warn(w);
  return { node, l2tp, failures };
}

/** What `oakley status`, the monitor and metrics read from the server. */
function serverTarget(
  c: Context,
  o: {
    readonly software: string;
    readonly node: IpsecNode;
    readonly l2tp: L2tpOverIpsec;
    readonly store: PolicyStore;
    readonly radius: Radius | undefined;
    readonly failures: FailureRecorder;
    readonly warnings: readonly string[];
    readonly fips: FipsState;
  },
): ControlTarget {
  const { cfg, deps, clock } = c;
  const service = o.radius?.service;
  return daemonTarget({
    node: o.node,
    logs: deps.logs,
    counters: c.counters,
    wallNow: () => clock.wallNow(),
    now: () => clock.now(),
    state: {
      software: o.software,
      role: "server",
      startedAt: clock.wallNow(),
      storePath: cfg.store,
      listen: cfg.listen,
      warnings: [...o.warnings],
      mode: "protected",
      fips: { mode: o.fips.mode, text: fipsStatusText(o.fips) },
    },
    store: o.store,
    l2tp: o.l2tp,
    ...(service
      ? {
          radius: () => ({
            servers: service.serverStatus(),
            accountingQueued: service.queued(),
          }),
        }
      : {}),
    failures: o.failures.ring,
  });
}

/** The start-up text: where clients connect, the first start's secrets, the pool. */
async function announce(
  c: Context,
  o: {
    readonly initial: InitialSecrets | undefined;
    readonly eff: EffectivePolicy;
    readonly poolDef: { readonly cidr: string; readonly dns: readonly string[] };
  },
): Promise<void> {
  const { cfg, deps } = c;
  const print = deps.print ?? ((t: string) => process.stdout.write(`${t}\n`));
  const { initial } = o;
  print(
    startupText({
      ...(await startupAddress(cfg.listen)),
      ...(initial
        ? initialSecretsInfo(
            { psk: initial.psk, user: initial.user.name, password: initial.user.password },
            { storePath: cfg.store, isTTY: deps.stdoutIsTTY ?? process.stdout.isTTY === true },
          )
        : {}),
      pool: o.poolDef.cidr,
      dns: o.poolDef.dns,
      storePath: cfg.store,
      windowsNatFriendly: cfg.windowsNatFriendly,
      allowLegacy: o.eff.settings.allowLegacyCrypto,
    }),
  );
}

/** Session milestones in the server's log, one line each. */
function logSessionEvent(log: Logger, e: L2tpOverIpsecEvent, why?: string): void {
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
