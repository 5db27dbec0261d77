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
import { mkdirSync, statSync } from "node:fs";
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
  DEFAULT_POOL,
  DEFAULT_PSK,
  type AuthMethod as PolicyAuthMethod,
  type EffectivePolicy,
  effectivePolicy,
  type InitialSecrets,
  makeCredentials,
  type PolicyStore,
} from "../policy/index.js";
import { AddressPool } from "../ppp/index.js";
import { type Clock, type Random, systemClock, systemRandom } from "../platform/index.js";
import type { CertificateSetting, ServeAuth, ServeConfig } from "./config.js";
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
import { REAL_HOST, type StartHost, type StartTun } from "./stages/host.js";
import type {
  L2tpOverIpsec,
  L2tpOverIpsecEvent,
  L2tpOverIpsecServer,
} from "../l2tp-ipsec/index.js";
import type { IkeConfig } from "../ike/index.js";
import { buildStack, logServerIkeEvent } from "./stack.js";
import { acceptedDhGroups, FailureRecorder } from "./diagnostics.js";
import { FailureRing } from "./failure-ring.js";
import { ikeConfigFromPolicy } from "./policy-to-ike.js";
import { AuthAttemptLimiter, storePasswordVerifier } from "./ppp-password.js";
import { type FipsState, fipsPolicyProblems, fipsStatusText, startFips } from "./fips.js";
import { RadiusService } from "./radius.js";
import { radiusFromStore, radiusServiceOptions } from "./radius-config.js";
import { RadiusSessions, stackControl } from "./radius-sessions.js";
import { userSecret } from "./users.js";
import { parseCrls } from "../crypto/crl.js";

export interface ServerError {
  readonly code: string;
  readonly message: string;
}

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
  readonly ikeOverrides?: Parameters<typeof ikeConfigFromPolicy>[1]["overrides"];
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

/** What a user given by --user/--users-file may use. */
const FLAG_USER_PROTOCOLS = ["mschapv2", "chap-md5", "pap"] as const;

/**
 * Applies command-line secrets, and `--allow-legacy`, to the store at every start (kept: the
 * next start needs no flags).
 */
export function applyFlags(
  store: PolicyStore,
  cfg: Pick<ServeConfig, "psk" | "users" | "pool" | "dns" | "allowLegacy"> &
    Partial<Pick<ServeConfig, "certificates" | "auth">>,
  random: Random,
): Result<void, ServerError> {
  const fail = (what: string, e: { message: string }) =>
    err({ code: "OAK_E_SERVE_CONFIG", message: `${what}: ${e.message}` });
  if (cfg.psk !== undefined) {
    const cur = store.psks.get(DEFAULT_PSK);
    const psk = { name: DEFAULT_PSK, secret: cfg.psk };
    const r = cur.ok ? store.psks.update(DEFAULT_PSK, psk) : store.psks.create(psk);
    if (!r.ok) return fail("--psk", r.error);
  }
  for (const u of cfg.users) {
    const cur = store.users.get(u.name);
    // Unchanged since the last start: keep the stored record (hashing costs ~0.1 s a user).
    const had = cur.ok ? cur.value.value : undefined;
    if (
      had?.enabled &&
      had.credentials.cleartext === u.password &&
      FLAG_USER_PROTOCOLS.every((m) => had.protocols.includes(m))
    )
      continue;
    const user = {
      name: u.name,
      enabled: true,
      protocols: FLAG_USER_PROTOCOLS,
      credentials: makeCredentials(u.password, (n) => random.bytes(n), { allowChapMd5: true }),
    };
    const value = { ...user, protocols: [...user.protocols] };
    const r = cur.ok ? store.users.update(u.name, value) : store.users.create(value);
    if (!r.ok) return fail(`--user ${u.name}`, r.error);
  }
  // --allow-legacy turns the setting on in an existing store too (the first start seeds it);
  // without the flag a setting made in the store is left as it is.
  if (cfg.allowLegacy) {
    const cur = store.settings();
    if (!cur.ok) return fail("--allow-legacy", cur.error);
    const st = cur.value.value;
    if (!st) return fail("--allow-legacy", { message: "the store's settings do not validate" });
    if (!st.allowLegacyCrypto) {
      const r = store.setSettings({ ...st, allowLegacyCrypto: true });
      if (!r.ok) return fail("--allow-legacy", r.error);
    }
  }
  if (cfg.certificates) {
    const r = applyCertificates(store, cfg);
    if (!r.ok) return r;
  }
  if (cfg.pool !== undefined || cfg.dns.length > 0) {
    const cur = store.pools.get(DEFAULT_POOL);
    if (!cur.ok || !cur.value.value)
      return fail("--pool", { message: "the store has no default pool to change" });
    const pool = cur.value.value;
    const { first: _f, last: _l, ...rest } = pool;
    const next = {
      ...(cfg.pool !== undefined ? rest : pool),
      ...(cfg.pool !== undefined ? { cidr: cfg.pool } : {}),
      ...(cfg.dns.length > 0 ? { dns: cfg.dns } : {}),
    };
    const r = store.pools.update(DEFAULT_POOL, next);
    if (!r.ok) return fail("--pool/--dns", r.error);
  }
  return ok(undefined);
}

/** Store names of what --cert/--key and --ca import. */
export const SERVE_CERT = "serve-cert";
export const SERVE_CA = "serve-ca";

/**
 * --cert/--key/--ca: our certificate (with its key) and the CA go into the store, and every
 * negotiating rule of the assigned policy authenticates as --auth says (default both: the
 * rule's PSKs and the certificate, so PSK clients keep working).
 */
function applyCertificates(
  store: PolicyStore,
  cfg: Partial<Pick<ServeConfig, "certificates" | "auth">>,
): Result<void, ServerError> {
  const c = cfg.certificates;
  if (!c) return ok(undefined);
  return storeCertificates(store, c, cfg.auth ?? "both");
}

/** Stores certificate files' contents as the assigned policy's authentication (see above). */
export function storeCertificates(
  store: PolicyStore,
  c: CertificateSetting,
  auth: ServeAuth,
): Result<void, ServerError> {
  const fail = (what: string, e: { message: string }) =>
    err({ code: "OAK_E_SERVE_CONFIG", message: `${what}: ${e.message}` });
  const put = (v: { name: string; pem: string; isCa: boolean; privateKey?: string }) =>
    store.certificates.get(v.name).ok
      ? store.certificates.update(v.name, v)
      : store.certificates.create(v);
  const ca = put({ name: SERVE_CA, pem: c.material.caPem, isCa: true });
  if (!ca.ok) return fail(`--ca ${c.paths.ca}`, ca.error);
  const mine = put({
    name: SERVE_CERT,
    pem: c.material.certPem,
    isCa: false,
    privateKey: c.material.keyPem,
  });
  if (!mine.ok) return fail(`--cert ${c.paths.cert}`, mine.error);
  const assigned = store.assigned();
  if (!assigned.ok || !assigned.value?.value)
    return fail("--cert", { message: "no assigned policy to authenticate with the certificate" });
  const p = assigned.value.value;
  const cert: PolicyAuthMethod = { method: "certificate", ca: SERVE_CA, certificate: SERVE_CERT };
  const rules = p.rules.map((r) => {
    if (r.action.type !== "negotiate") return r;
    const psks = r.authentication.filter((a) => a.method === "psk");
    const others = r.authentication.filter((a) => a.method === "certificate" && a.ca !== SERVE_CA);
    const authentication =
      auth === "psk"
        ? [...psks, ...others]
        : auth === "certificate"
          ? [cert, ...others]
          : [...psks, cert, ...others];
    return { ...r, authentication };
  });
  if (rules.some((r) => r.action.type === "negotiate" && r.authentication.length === 0))
    return fail("--auth psk", {
      message: "the policy's rules have no pre-shared key; use --auth both",
    });
  const u = store.policies.update(p.name, { ...p, rules });
  if (!u.ok) return fail(`--cert (policy '${p.name}')`, u.error);
  return ok(undefined);
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

/** The first host address of a pool: the server's own PPP address. */
function firstHost(cidr: string): { address: string; prefix: number } {
  const [net, bits] = cidr.split("/");
  const n = (net ?? "0.0.0.0").split(".").reduce((acc, x) => acc * 256 + Number(x), 0) + 1;
  const address = [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
  return { address, prefix: Number(bits) };
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

/** What the server stack runs with, from the store: IKE settings, PPP users, the pool. */
export interface ServerPlan {
  readonly ike: IkeConfig;
  readonly server: L2tpOverIpsecServer;
  /** The server's own PPP address (the pool's first host) and the pool's prefix length. */
  readonly me: { readonly address: string; readonly prefix: number };
  readonly poolDef: { readonly cidr: string; readonly dns: readonly string[] };
}

export function serverPlan(
  store: PolicyStore,
  eff: EffectivePolicy,
  cfg: Pick<ServeConfig, "windowsNatFriendly" | "negotiateDh2048" | "pppAuthMethods">,
  o: {
    readonly clock: Clock;
    readonly ikeOverrides?: ServerDeps["ikeOverrides"];
    /** FIPS mode: approved IKE/ESP suites only, PPP with PAP only. */
    readonly fips?: boolean;
    /** CRL file contents (--crl). */
    readonly crls?: readonly (string | Uint8Array)[];
  },
): Result<ServerPlan, ServerError> {
  const ikeOverrides = o.ikeOverrides;
  const poolObj = store.pools.get(eff.settings.defaultPool ?? DEFAULT_POOL);
  if (!poolObj.ok || !poolObj.value.value)
    return err({ code: "OAK_E_SERVE_CONFIG", message: "the store has no address pool" });
  const poolDef = poolObj.value.value;
  const me = firstHost(poolDef.cidr);
  const staticAddresses: Record<string, string> = {};
  const users = store.users.list();
  if (users.ok)
    for (const u of users.value)
      if (u.value?.staticAddress) staticAddresses[u.name] = u.value.staticAddress;
  const pool = new AddressPool({ cidr: poolDef.cidr, reserved: [me.address], staticAddresses });
  const ike = ikeConfigFromPolicy(eff, {
    windowsNatFriendly: cfg.windowsNatFriendly,
    negotiateDh2048: cfg.negotiateDh2048,
    ...(o.crls ? { crls: o.crls } : {}),
    ...(ikeOverrides ? { overrides: ikeOverrides } : {}),
    ...(o.fips ? { fips: true } : {}),
  });
  return ok({
    ike,
    me,
    poolDef,
    server: {
      // FIPS mode: PAP only, inside ESP (daemon/fips.ts says why).
      authMethods: o.fips ? ["pap"] : (cfg.pppAuthMethods ?? ["mschapv2", "chap-md5", "pap"]),
      users: (name) => {
        const u = store.users.get(name);
        return u.ok ? userSecret(u.value.value) : undefined;
      },
      verifier: storePasswordVerifier((name) => {
        const u = store.users.get(name);
        return u.ok ? u.value.value : undefined;
      }),
      // One attempt per PPP session; a channel opening session after session gets few.
      authLimiter: new AuthAttemptLimiter(o.clock),
      pool,
      localAddress: me.address,
      dns: poolDef.dns,
    },
  });
}

/** mtime and size of a file ("" when it cannot be read): a change means "read it again". */
function fileStamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return "";
  }
}

/** A CRL file's bytes when they parse as a CRL; else why not. */
export function readCrlFile(path: string): Result<Buffer, string> {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (e) {
    return err(`cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  const p = parseCrls(b);
  return p.ok ? ok(b) : err(`not a CRL (${p.error.message})`);
}
