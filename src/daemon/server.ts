/**
 * `oakley serve`: the composition root of the L2TP/IPsec server.
 *
 *   store (SQLite) --effective policy--> IKE responder config, PSKs, users, address pool
 *   UDP 500 + UDP 4500 --> IpsecNode (IKE engine + ESP data plane)
 *        transport-mode UDP 1701 packets <--> L2TP LNS + PPP (L2tpPppService)
 *   PPP IPv4 <--> one TUN device (server address = first pool address; the pool routed to it)
 *
 * L2TP tunnels are bound to the IPsec channel they arrived on (peer address:port after NAT)
 * plus the client's UDP source port — never to the inner IP address, so clients behind one NAT
 * presenting the same private address and port stay separate.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { err, ok, type Result } from "../base/result.js";
import type { IkeEvent } from "../ike/index.js";
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
  effectivePolicy,
  type InitialSecrets,
  makeCredentials,
  type PolicyStore,
} from "../policy/index.js";
import { AddressPool } from "../ppp/index.js";
import {
  type Clock,
  type Random,
  systemClock,
  systemRandom,
  TunDevice,
} from "../platform/index.js";
import { clampTcpMss } from "../wire/ip/tcp.js";
import type { ServeConfig } from "./config.js";
import {
  blockSetFromPolicy,
  describeStartFailure,
  FailClosedGuard,
  fromStoreError,
  portInUse,
  type StartFailure,
} from "./fail-closed/index.js";
import { startupText } from "./instructions.js";
import { daemonTarget, type TargetState } from "./control-target.js";
import { type Channel, IpsecNode } from "./ipsec-node.js";
import { L2tpPppService, type L2tpPppEvent } from "./l2tp-ppp.js";
import { ipv4Udp, L2TP_PORT } from "./packets.js";
import { ikeConfigFromPolicy } from "./policy-to-ike.js";
import { AuthAttemptLimiter, storePasswordVerifier } from "./ppp-password.js";
import { userSecret } from "./users.js";

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
  /** Test hook: other IKE/NAT-T ports. */
  readonly ports?: { readonly ike: number; readonly natt: number };
  /** Test hook: engine timers. */
  readonly ikeOverrides?: Parameters<typeof ikeConfigFromPolicy>[1]["overrides"];
}

export interface RunningServer {
  readonly node: IpsecNode;
  readonly lns: L2tpPppService;
  readonly store: PolicyStore;
  readonly counters: Counters;
  readonly tun: TunDevice;
  readonly serverAddress: string;
  /** Orderly stop: PPP Terminate, CDN/StopCCN, IKE Deletes, TUN removed, store closed. */
  stop(): Promise<void>;
}

/** Applies command-line secrets to the store (kept: the next start needs no flags). */
function applyFlags(
  store: PolicyStore,
  cfg: ServeConfig,
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
    const user = {
      name: u.name,
      enabled: true,
      protocols: ["mschapv2", "chap-md5", "pap"] as const,
      credentials: makeCredentials(u.password, (n) => random.bytes(n), { allowChapMd5: true }),
    };
    const value = { ...user, protocols: [...user.protocols] };
    const r = cur.ok ? store.users.update(u.name, value) : store.users.create(value);
    if (!r.ok) return fail(`--user ${u.name}`, r.error);
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

function describeIkeEvent(e: IkeEvent): string {
  switch (e.type) {
    case "phase1-up":
      return `phase 1 up with ${e.peer.address}:${e.peer.port} (ID ${e.peerId}): ${e.suite}; NAT: ${
        e.nat.peerBehindNat ? "client behind NAT" : "client not behind NAT"
      }${e.nat.localBehindNat ? ", this server behind NAT" : ""} (${e.nat.method})`;
    case "phase2-up":
      return `phase 2 up (${e.mode}, ${e.suite}) with ${e.remote}${e.rekey ? " (rekey)" : ""}`;
    case "failed":
      return `${e.stage} with ${e.peer.address}:${e.peer.port} failed: ${e.message} [${e.code}]`;
    case "deleted":
      return `${e.what === "ike" ? "IKE SA" : "child SA"} deleted: ${e.reason}`;
    case "peer-moved":
      return `peer moved from ${e.from.address}:${e.from.port} to ${e.to.address}:${e.to.port} (NAT mapping changed)`;
    case "children-adopted":
      return `IKE SA ${e.from} replaced by IKE SA ${e.ikeSaId} (phase-1 rekey); it keeps ${e.childIds.length} child SA(s)`;
  }
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

  // Fail-closed: nftables rules that drop protected traffic in the clear are
  // installed before any traffic flows and outlive this process; any start failure below
  // leaves (or puts) them in place and records why in the status file.
  const guard = cfg.failClosed ? new FailClosedGuard({ statusPath: cfg.statusFile }) : undefined;
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
  const fail = async (
    e: ServerError | StartFailure,
  ): Promise<Result<RunningServer, ServerError>> => {
    store.close();
    return err("kind" in e ? await block(e) : e);
  };
  const applied = applyFlags(store, cfg, random);
  if (!applied.ok) return fail(applied.error);
  const eff = effectivePolicy(store);
  if (!eff.ok) return fail(fromStoreError(eff.error));
  for (const w of eff.value.warnings) log.warn(w);
  if (guard) {
    const set = blockSetFromPolicy(eff.value, { role: "server" });
    if (!set.ok) return fail({ code: set.error.code, message: set.error.message });
    const p = await guard.enterProtectedMode(set.value);
    if (!p.ok)
      return fail({
        code: p.error.code,
        message: `fail-closed: ${p.error.message} (or run with --no-fail-closed)`,
      });
  }

  const poolObj = store.pools.get(eff.value.settings.defaultPool ?? DEFAULT_POOL);
  if (!poolObj.ok || !poolObj.value.value)
    return fail({ code: "OAK_E_SERVE_CONFIG", message: "the store has no address pool" });
  const poolDef = poolObj.value.value;
  const me = firstHost(poolDef.cidr);
  const staticAddresses: Record<string, string> = {};
  const users = store.users.list();
  if (users.ok)
    for (const u of users.value)
      if (u.value?.staticAddress) staticAddresses[u.name] = u.value.staticAddress;
  const pool = new AddressPool({ cidr: poolDef.cidr, reserved: [me.address], staticAddresses });

  // TUN for PPP traffic: our PPP address with the pool's prefix routes every client to it.
  const tunR = TunDevice.open({ name: cfg.tun });
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
  const mss = cfg.mtu - 40;

  let node: IpsecNode | undefined;
  const channels = new Map<number, Channel>();
  const lns = new L2tpPppService({
    role: "lns",
    clock,
    random: (n) => random.bytes(n),
    l2tpLog: deps.logs.logger("l2tp"),
    pppLog: deps.logs.logger("ppp"),
    mru: cfg.mtu,
    server: {
      authMethods: ["mschapv2", "chap-md5", "pap"],
      users: (name) => {
        const u = store.users.get(name);
        return u.ok ? userSecret(u.value.value) : undefined;
      },
      verifier: storePasswordVerifier((name) => {
        const u = store.users.get(name);
        return u.ok ? u.value.value : undefined;
      }),
      // Keyed by the IPsec channel alone ("channel:port" bindings): other L2TP source ports
      // on the same SA buy no extra attempts.
      authLimiter: ((l) => ({ take: (b: string) => l.take(b.split(":")[0] ?? b) }))(
        new AuthAttemptLimiter(clock),
      ),
      pool,
      localAddress: me.address,
      dns: poolDef.dns,
    },
    send: (binding, bytes) => {
      const [chId, port] = binding.split(":").map(Number);
      const ch = channels.get(chId ?? -1);
      if (!ch || !node) return;
      node.send(ch, ipv4Udp(ch.local, ch.peer.address, L2TP_PORT, port ?? L2TP_PORT, bytes));
    },
    deliverIp: (packet) => {
      if (packet.length >= 40 && packet[9] === 6)
        clampTcpMss(packet.subarray((packet[0]! & 0x0f) * 4), mss);
      tun.write(packet);
    },
    onEvent: (e) => onL2tpPpp(e),
  });
  const onL2tpPpp = (e: L2tpPppEvent): void => {
    switch (e.type) {
      case "tunnel-up":
        log.info(`L2TP tunnel up with ${e.peerHostName || "client"} (${e.binding})`);
        break;
      case "auth-ok":
        log.info(`PPP authenticated: user ${e.session.user} (${e.method})`);
        break;
      case "auth-failed":
        log.warn(`PPP authentication failed: ${e.message}`);
        break;
      case "ip-up":
        log.info(`address assigned: ${e.session.peerAddress} to user ${e.session.user}`);
        break;
      case "session-down":
        log.info(`PPP session ${e.session.key} down: ${e.reason}`);
        break;
      default:
        break;
    }
  };
  tun.onPackets((packets) => {
    for (const p of packets) {
      if (p.length >= 40 && p[0]! >> 4 === 4 && p[9] === 6)
        clampTcpMss(p.subarray((p[0]! & 0x0f) * 4), mss);
      lns.sendIp(p);
    }
  });

  const ike = ikeConfigFromPolicy(eff.value, {
    windowsNatFriendly: cfg.windowsNatFriendly,
    negotiateDh2048: cfg.negotiateDh2048,
    ...(deps.ikeOverrides ? { overrides: deps.ikeOverrides } : {}),
  });
  const started = await IpsecNode.start({
    listen: cfg.listen,
    ike,
    clock,
    random,
    ikeLog: deps.logs.logger("ike"),
    espLog: deps.logs.logger("esp"),
    counters,
    ...(deps.ports ? { ports: deps.ports } : {}),
    onIkeEvent: (e) =>
      e.type === "failed" ? log.warn(describeIkeEvent(e)) : log.info(describeIkeEvent(e)),
    onTransportPacket: (packet, ch) => {
      // IPv4 + UDP to port 1701: L2TP. Anything else on the SA is not ours to take.
      if (packet.length < 28 || packet[0]! >> 4 !== 4 || packet[9] !== 17) return false;
      const ihl = (packet[0]! & 0x0f) * 4;
      if (packet.length < ihl + 8) return false;
      const sport = (packet[ihl]! << 8) | packet[ihl + 1]!;
      const dport = (packet[ihl + 2]! << 8) | packet[ihl + 3]!;
      if (dport !== L2TP_PORT) return false;
      channels.set(ch.id, ch);
      lns.receive(`${ch.id}:${sport}`, packet.subarray(ihl + 8));
      return true;
    },
    onChannelDown: (ch) => {
      channels.delete(ch.id);
      for (const s of lns.list()) if (s.binding.startsWith(`${ch.id}:`)) lns.lowerDown(s.binding);
    },
  });
  if (!started.ok) {
    lns.dispose();
    tun.close();
    if (started.error.code === "OAK_E_PLATFORM_ADDR_IN_USE") {
      const ports = deps.ports ?? { ike: 500, natt: 4500 };
      const taken = [ports.ike, ports.natt]
        .map((p) => portInUse(p))
        .find((f) => f.kind === "port-in-use" && f.owners.length > 0);
      return fail(
        taken ?? { kind: "runtime", code: started.error.code, message: started.error.message },
      );
    }
    return fail({ kind: "runtime", code: started.error.code, message: started.error.message });
  }
  node = started.value;
  const running = node;
  for (const w of running.engine.startupWarnings) log.warn(w);

  print(
    startupText({
      serverAddress: cfg.listen === "0.0.0.0" ? "<this server's public address>" : cfg.listen,
      ...(initial
        ? {
            generated: {
              psk: initial.psk,
              user: initial.user.name,
              password: initial.user.password,
            },
          }
        : {}),
      pool: poolDef.cidr,
      dns: poolDef.dns,
      storePath: cfg.store,
      windowsNatFriendly: cfg.windowsNatFriendly,
    }),
  );
  // Management: local socket, optional TLS for remote tools/monitors, Prometheus metrics.
  const state: TargetState = {
    software: `oakley ${SOFTWARE_VERSION}`,
    role: "server",
    startedAt: clock.wallNow(),
    storePath: cfg.store,
    listen: cfg.listen,
    warnings: [...eff.value.warnings],
    mode: "protected",
  };
  const target = daemonTarget({
    node: running,
    logs: deps.logs,
    counters,
    wallNow: () => clock.wallNow(),
    now: () => clock.now(),
    state,
    store,
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
        ...(cfg.controlSocket !== "off" ? { unix: { path: cfg.controlSocket } } : {}),
        ...(tls ? { tls } : {}),
      });
    }
    if (cfg.metricsListen !== "off")
      metrics = await startMetricsServer(target, cfg.metricsListen, deps.logs.logger("ctl"));
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
    running.engine.reconfigure(
      ikeConfigFromPolicy(next.value, {
        windowsNatFriendly: cfg.windowsNatFriendly,
        negotiateDh2048: cfg.negotiateDh2048,
        ...(deps.ikeOverrides ? { overrides: deps.ikeOverrides } : {}),
      }),
    );
    if (guard) {
      const set = blockSetFromPolicy(next.value, { role: "server" });
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
  const poll = setInterval(() => store.poll(), 2000);
  poll.unref();

  log.info("ready: listening on UDP 500 and 4500", { listen: cfg.listen });

  return ok({
    node: running,
    lns,
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
      lns.close();
      await new Promise((r) => setTimeout(r, 200)); // let Terminate/CDN/StopCCN leave
      running.deleteAll();
      await new Promise((r) => setTimeout(r, 100));
      lns.dispose();
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
