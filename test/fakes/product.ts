/**
 * The whole product in one process: simulator adapters for the ports the daemon injects (UDP
 * sockets, raw ESP, TUN) and builders that run `oakley serve`'s and `oakley connect`'s stacks on
 * them — the same code the daemon runs (src/daemon/stack.ts, the server's plan from a real
 * SQLite store, the client's IKE settings), on simulated hosts, NATs and time (sim.ts).
 *
 * Raw ESP (IP protocol 50) is modelled as datagrams to and from port 0 of a host: it only flows
 * where no NAT is in the way, as on a real network.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ok, type Result } from "../../src/base/result.js";
import { clientIkeConfig, l2tpRequest } from "../../src/daemon/client.js";
import type { IpsecPorts } from "../../src/daemon/ipsec-node.js";
import { RadiusService } from "../../src/daemon/radius.js";
import { RadiusSessions, stackControl } from "../../src/daemon/radius-sessions.js";
import { serverPlan, storeCertificates } from "../../src/daemon/server.js";
import type { ServeAuth } from "../../src/daemon/config.js";
import { acceptedDhGroups, FailureRecorder } from "../../src/daemon/diagnostics.js";
import { FailureRing } from "../../src/daemon/failure-ring.js";
import { buildStack, logServerIkeEvent, type Stack } from "../../src/daemon/stack.js";
import type { IkeConfig, IkeConfigInput, IkeEvent, InitiateRequest } from "../../src/ike/index.js";
import type { Clock } from "../../src/base/clock.js";
import type { L2tpOverIpsecEvent, L2tpOverIpsecServer } from "../../src/l2tp-ipsec/index.js";
import type { NatPolicy } from "../../src/natt/nat-policy.js";
import { Counters } from "../../src/obs/counters.js";
import { LogHub, type LogLevel, MemorySink } from "../../src/obs/log.js";
import type {
  DatagramHandler as PlatformDatagramHandler,
  DatagramSocket,
  EspPacketHandler,
  PlatformError,
  RouteSpec,
  SocketStats,
  TunPacketsHandler,
} from "../../src/platform/index.js";
import { SeededRandom } from "../../src/platform/random.js";
import { emptyStats } from "../../src/platform/udp.js";
import {
  createDefaultStore,
  DEFAULT_POOL,
  DEFAULT_PSK,
  effectivePolicy,
  makeCredentials,
  type PolicyStore,
} from "../../src/policy/index.js";
import type { PppAuthMethod } from "../../src/ppp/index.js";
import { type SimHost, type Simulator, simClock } from "./sim.js";

// ------------------------------------------------------------------ port adapters

/** A UDP socket on a simulated host (the daemon's DatagramSocket). */
export class SimUdpSocket implements DatagramSocket {
  readonly implementation = "simulated" as const;
  private handler: PlatformDatagramHandler | undefined;
  private port: number | undefined;
  private readonly st: SocketStats = emptyStats();

  constructor(private readonly host: SimHost) {}

  async bind(
    _address: string,
    port: number,
  ): Promise<Result<{ address: string; port: number }, PlatformError>> {
    this.bindNow(port);
    return ok({ address: this.host.address, port });
  }

  /** Synchronous bind (the simulator has no event loop to wait for). */
  bindNow(port: number): this {
    this.port = port;
    this.host.bind(port, (data, from, to) => {
      this.st.rxDatagrams++;
      this.st.rxBytes += data.length;
      this.handler?.(data, from.address, from.port, { localAddress: to.address });
    });
    return this;
  }

  local(): { address: string; port: number } | undefined {
    return this.port === undefined ? undefined : { address: this.host.address, port: this.port };
  }

  send(data: Uint8Array, address: string, port: number): void {
    if (this.port === undefined) return;
    this.st.txDatagrams++;
    this.st.txBytes += data.length;
    this.host.send(this.port, { address, port }, data);
  }

  flush(): void {}

  onDatagram(handler: PlatformDatagramHandler): void {
    this.handler = handler;
  }

  onError(_handler: (e: PlatformError) => void): void {}

  stats(): SocketStats {
    return { ...this.st };
  }

  close(): void {
    if (this.port !== undefined) this.host.unbind(this.port);
    this.port = undefined;
  }
}

/** Plain ESP on a simulated host: datagrams on port 0. */
export class SimRawEsp {
  private handler: EspPacketHandler | undefined;
  constructor(private readonly host: SimHost) {
    host.bind(0, (data, from, to) =>
      this.handler?.(data, { source: from.address, destination: to.address }),
    );
  }
  onPacket(handler: EspPacketHandler): void {
    this.handler = handler;
  }
  send(payload: Uint8Array, peer: string): void {
    this.host.send(0, { address: peer, port: 0 }, payload);
  }
  flush(): void {}
  close(): void {
    this.host.unbind(0);
  }
}

/** A TUN device: what the stack writes is kept; `inject` plays the kernel routing packets in. */
export class FakeTun {
  readonly name = "simtun0";
  readonly written: Buffer[] = [];
  private handler: TunPacketsHandler | undefined;
  closed = false;
  onPackets(handler: TunPacketsHandler): void {
    this.handler = handler;
  }
  write(packet: Uint8Array): boolean {
    if (this.closed) return false;
    this.written.push(Buffer.from(packet));
    return true;
  }
  inject(...packets: Buffer[]): void {
    this.handler?.(packets);
  }
  addRoute(_r: RouteSpec): Result<void, PlatformError> {
    return ok(undefined);
  }
  close(): void {
    this.closed = true;
  }
}

export function simIpsecPorts(
  host: SimHost,
  ports: { readonly ike: number; readonly natt: number } = { ike: 500, natt: 4500 },
): IpsecPorts {
  return {
    ike: new SimUdpSocket(host).bindNow(ports.ike),
    natt: new SimUdpSocket(host).bindNow(ports.natt),
    ...(ports.ike === 500 ? { rawEsp: new SimRawEsp(host) } : {}),
  };
}

// ------------------------------------------------------------------ the products

export const SIM_PSK = "simulated-group-psk-0123456789";
/** scrypt made cheap for tests (the product's cost is ~200 ms per verification). */
const CHEAP_SCRYPT = { n: 1024, r: 8, p: 1 };

export interface SimUser {
  readonly name: string;
  readonly password: string;
  readonly protocols?: readonly PppAuthMethod[];
  readonly staticAddress?: string;
}

export interface SimServer {
  readonly stack: Stack;
  readonly tun: FakeTun;
  readonly store: PolicyStore;
  readonly events: L2tpOverIpsecEvent[];
  readonly counters: Counters;
  readonly logs: MemorySink;
  /** The server's failure records (what `oakley diagnose --recent` reads). */
  readonly failures: FailureRecorder;
  /** The server's own PPP address. */
  readonly address: string;
  /** Closes the stack (sockets unbound, timers stopped); the store stays for a restart. */
  stop(): void;
  /** Closes the store and removes its folder. */
  dispose(): void;
}

export interface SimServerOptions {
  readonly users?: readonly SimUser[];
  readonly psk?: string;
  readonly seed?: number;
  /** Reuse a store (a restart). */
  readonly store?: { readonly store: PolicyStore; readonly dir: string };
  readonly ike?: Partial<Pick<IkeConfigInput, "dpd" | "phase1" | "phase2">>;
  readonly logLevel?: LogLevel;
  /** Replace parts of what the store gives the PPP side (methods, PAP verifier, limiter). */
  readonly ppp?: (clock: Clock) => Partial<L2tpOverIpsecServer>;
  /** PPP LCP echo interval (default 30 s). */
  readonly echoIntervalMs?: number;
  /** The address pool (default: the store's, 10.8.0.0/24). */
  readonly pool?: string;
  /** FIPS mode's algorithm and PPP rules (the module itself is not loaded here). */
  readonly fips?: boolean;
  /** Also called with every L2TP/PPP event (after it is recorded). */
  readonly onEvent?: (e: L2tpOverIpsecEvent) => void;
  /** `serve --cert --key --ca [--crl] [--auth]`: PEM texts, stored as `oakley serve` does. */
  readonly certificates?: SimCertificates & { readonly crl?: string; readonly auth?: ServeAuth };
  /** Calendar time for certificate validity (default: the real clock). */
  readonly wallClock?: () => number;
}

/** PEM texts of `--cert`, `--key` and `--ca`. */
export interface SimCertificates {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

function certSetting(c: SimCertificates) {
  return {
    paths: { cert: "sim-cert.pem", key: "sim-key.pem", ca: "sim-ca.pem" },
    material: { certPem: c.cert, keyPem: c.key, caPem: c.ca, subject: "", warnings: [] },
  };
}

export const ALICE: SimUser = { name: "alice", password: "correct horse battery" };

/** `oakley serve`'s stack on `host`, configured from a real SQLite store. */
export function simServer(sim: Simulator, host: SimHost, o: SimServerOptions = {}): SimServer {
  const random = new SeededRandom(`server-${o.seed ?? 1}`);
  let dir: string;
  let store: PolicyStore;
  if (o.store) {
    ({ dir, store } = o.store);
  } else {
    dir = mkdtempSync(join(tmpdir(), "oakley-sim-"));
    const opened = createDefaultStore(join(dir, "oakley.db"), (n) => random.bytes(n));
    if (!opened.ok) throw new Error(opened.error.message);
    store = opened.value.store;
    const psk = store.psks.update(DEFAULT_PSK, { name: DEFAULT_PSK, secret: o.psk ?? SIM_PSK });
    if (!psk.ok) throw new Error(psk.error.message);
    if (o.pool) {
      const cur = store.pools.get(DEFAULT_POOL);
      if (!cur.ok || !cur.value.value) throw new Error("the store has no default pool");
      const { first: _f, last: _l, ...rest } = cur.value.value;
      const r = store.pools.update(DEFAULT_POOL, { ...rest, cidr: o.pool });
      if (!r.ok) throw new Error(r.error.message);
    }
    for (const u of o.users ?? [ALICE]) {
      const r = store.users.create({
        name: u.name,
        enabled: true,
        protocols: [...(u.protocols ?? ["mschapv2", "chap-md5", "pap"])],
        credentials: makeCredentials(u.password, (n) => random.bytes(n), {
          allowChapMd5: true,
          scrypt: CHEAP_SCRYPT,
        }),
        ...(u.staticAddress ? { staticAddress: u.staticAddress } : {}),
      });
      if (!r.ok) throw new Error(r.error.message);
    }
    if (o.certificates) {
      const r = storeCertificates(
        store,
        certSetting(o.certificates),
        o.certificates.auth ?? "both",
      );
      if (!r.ok) throw new Error(r.error.message);
    }
  }
  const eff = effectivePolicy(store);
  if (!eff.ok) throw new Error(eff.error.message);
  const clock = simClock(sim);
  const plan = serverPlan(
    store,
    eff.value,
    { windowsNatFriendly: true, negotiateDh2048: true },
    {
      clock,
      ...(o.fips ? { fips: true } : {}),
      ...(o.certificates?.crl ? { crls: [o.certificates.crl] } : {}),
    },
  );
  if (!plan.ok) throw new Error(plan.error.message);
  const sink = new MemorySink();
  const logs = new LogHub(sink, o.logLevel ?? "warn", () => sim.now());
  const counters = new Counters();
  const events: L2tpOverIpsecEvent[] = [];
  const tun = new FakeTun();
  const failures = new FailureRecorder({
    ring: new FailureRing({ counters }),
    context: () => ({
      allowLegacy: eff.value.settings.allowLegacyCrypto,
      groups: acceptedDhGroups(stack.node.engine.config),
    }),
    wallNow: () => Date.UTC(2026, 0, 1) + sim.now(),
  });
  const daemonLog = logs.logger("daemon");
  const base = o.wallClock ? { ...plan.value.ike, wallClock: o.wallClock } : plan.value.ike;
  const ike = o.ike
    ? {
        ...base,
        ...(o.ike.dpd ? { dpd: { ...plan.value.ike.dpd, ...o.ike.dpd } } : {}),
        ...(o.ike.phase2 ? { phase2: { ...plan.value.ike.phase2, ...o.ike.phase2 } } : {}),
        ...(o.ike.phase1 ? { phase1: { ...plan.value.ike.phase1, ...o.ike.phase1 } } : {}),
      }
    : base;
  const stack = buildStack(
    {
      role: "lns",
      listen: host.address,
      ike,
      clock,
      random,
      logs,
      counters,
      mtu: 1400,
      server: { ...plan.value.server, ...o.ppp?.(clock) },
      ...(o.echoIntervalMs !== undefined ? { echoIntervalMs: o.echoIntervalMs } : {}),
      failures,
      onIkeEvent: (e, why) => logServerIkeEvent(daemonLog, e, why),
      onEvent: (e) => {
        events.push(e);
        o.onEvent?.(e);
      },
    },
    { ipsec: simIpsecPorts(host), tun },
  );
  tun.onPackets((p) => stack.l2tp.ipPackets(p));
  let stopped = false;
  return {
    stack,
    tun,
    store,
    events,
    counters,
    logs: sink,
    failures,
    address: plan.value.me.address,
    stop() {
      if (stopped) return;
      stopped = true;
      stack.l2tp.dispose();
      stack.node.close();
    },
    dispose() {
      this.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
    // For restarts: the store and its folder.
    ...{ storeRef: { store, dir } },
  } as SimServer & { storeRef: { store: PolicyStore; dir: string } };
}

/** A UDP socket whose port 0 means "some free port" (port 0 itself is the simulated ESP's). */
class SimEphemeralUdpSocket extends SimUdpSocket {
  private static next = 40_000;
  override bind(address: string, port: number) {
    return super.bind(address, port === 0 ? SimEphemeralUdpSocket.next++ : port);
  }
}

export interface SimRadiusOptions {
  /** The RADIUS server's address (auth 1812, accounting 1813). */
  readonly server: string;
  readonly secret: Uint8Array;
  /** Accept Disconnect/CoA from the server on UDP 3799. */
  readonly dae?: boolean;
  readonly interimIntervalS?: number;
  readonly timeoutMs?: number;
  readonly retries?: number;
}

export interface SimRadiusServer extends SimServer {
  readonly radius: RadiusService;
  readonly radiusSessions: RadiusSessions;
}

/** `oakley serve --radius …` on `host`: the real RADIUS service on simulated sockets. */
export async function simServerWithRadius(
  sim: Simulator,
  host: SimHost,
  o: SimServerOptions & { readonly radius: SimRadiusOptions },
): Promise<SimRadiusServer> {
  const clock = simClock(sim);
  const random = new SeededRandom(`radius-${o.seed ?? 1}-${host.address}`);
  const dir = mkdtempSync(join(tmpdir(), "oakley-sim-radius-"));
  const sink = new MemorySink();
  const log = new LogHub(sink, o.logLevel ?? "warn", () => sim.now()).logger("radius");
  const r = o.radius;
  const started = await RadiusService.start(
    {
      client: {
        servers: [{ address: r.server, authPort: 1812, acctPort: 1813, secret: r.secret }],
        nasIdentifier: `sim-${host.address}`,
        ...(r.timeoutMs !== undefined ? { timeoutMs: r.timeoutMs } : {}),
        ...(r.retries !== undefined ? { retries: r.retries } : {}),
      },
      queuePath: join(dir, "radius-accounting.db"),
      bindAddress: host.address,
      acctRetryMinMs: 1000,
      ...(r.dae
        ? {
            dae: {
              address: host.address,
              port: 3799,
              clients: [{ address: r.server, secret: r.secret }],
            },
          }
        : {}),
    },
    { clock, random, log, socket: () => new SimEphemeralUdpSocket(host) },
  );
  if (!started.ok) throw new Error(started.error.message);
  const radius = started.value;
  const sessions = new RadiusSessions(radius, clock, log, {
    interimIntervalS: r.interimIntervalS ?? 0,
    poolCidr: "10.8.0.0/24",
    newSessionId: () => Buffer.from(random.bytes(8)).toString("hex"),
  });
  const server = simServer(sim, host, {
    ...o,
    ppp: (c) => ({ ...o.ppp?.(c), authenticator: sessions.authenticator }),
    onEvent: (e) => {
      sessions.onEvent(e);
      o.onEvent?.(e);
    },
  });
  sessions.attach(stackControl(server.stack.l2tp, server.stack.node, clock));
  radius.onDynamicAuthorization((req) => sessions.onDynamicAuthorization(req));
  return {
    ...server,
    radius,
    radiusSessions: sessions,
    stop() {
      sessions.close();
      radius.close();
      server.stop();
    },
    dispose() {
      sessions.close();
      radius.close();
      server.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Restarts a simulated server on the same host and store (a daemon restart). */
export function restartSimServer(
  sim: Simulator,
  host: SimHost,
  old: SimServer,
  o: SimServerOptions = {},
): SimServer {
  old.stop();
  const ref = (old as SimServer & { storeRef: { store: PolicyStore; dir: string } }).storeRef;
  return simServer(sim, host, { ...o, store: ref });
}

export interface SimClient {
  readonly stack: Stack;
  readonly tun: FakeTun;
  readonly events: L2tpOverIpsecEvent[];
  /** The IKE engine's events (phase 1/2 up, failures such as DPD death). */
  readonly ikeEvents: IkeEvent[];
  readonly counters: Counters;
  readonly logs: MemorySink;
  /** The address PPP gave us, once up. */
  address(): string | undefined;
  up(): boolean;
  stop(): void;
}

export interface SimClientOptions {
  readonly user?: SimUser;
  readonly psk?: string;
  readonly natPolicy?: NatPolicy;
  readonly authMethods?: readonly PppAuthMethod[];
  readonly seed?: number;
  readonly logLevel?: LogLevel;
  /** Child SA lifetime the client offers (and rekeys before). */
  readonly phase2LifeSeconds?: number;
  /** PPP LCP echo interval (default 30 s). */
  readonly echoIntervalMs?: number;
  /** Local UDP ports other than 500/4500 (many clients on one host, as bench:sessions runs). */
  readonly ports?: { readonly ike: number; readonly natt: number };
  /** FIPS mode's algorithm rules on the client's offers (policy-only: no module loaded). */
  readonly fips?: boolean;
  /** Also offer 3DES and MODP-1024 (connect --allow-legacy). */
  readonly allowLegacy?: boolean;
  /** Changes the client's IKE settings (e.g. offer only MODP-1024), as a misconfigured client. */
  readonly ike?: (c: IkeConfig) => IkeConfig;
  /** Changes what the client asks for in Quick Mode (tunnel mode, other selectors). */
  readonly request?: (r: InitiateRequest) => InitiateRequest;
  /** `connect --cert --key --ca` (PEM texts); no PSK is offered then. */
  readonly certificates?: SimCertificates;
  /** The SERVER as typed (a DNS name the server's certificate must carry); default: the address. */
  readonly serverName?: string;
  /** Calendar time for certificate validity (default: the simulator's fixed calendar). */
  readonly wallClock?: () => number;
}

/** `oakley connect`'s stack on `host`, dialling `server` (Main Mode, Quick Mode, L2TP, PPP). */
export function simClient(
  sim: Simulator,
  host: SimHost,
  server: string,
  o: SimClientOptions = {},
): SimClient {
  const random = new SeededRandom(`client-${o.seed ?? 2}-${host.address}`);
  const user = o.user ?? ALICE;
  const sink = new MemorySink();
  const logs = new LogHub(sink, o.logLevel ?? "warn", () => sim.now());
  const counters = new Counters();
  const events: L2tpOverIpsecEvent[] = [];
  const ikeEvents: IkeEvent[] = [];
  const tun = new FakeTun();
  const base = clientIkeConfig(
    {
      psk: o.certificates ? "" : (o.psk ?? SIM_PSK),
      natPolicy: o.natPolicy ?? 1,
      ...(o.fips ? { fips: "policy-only" } : {}),
      ...(o.certificates ? { certificates: certSetting(o.certificates) } : {}),
      ...(o.serverName ? { server: o.serverName } : {}),
    },
    host.address,
    server,
    o.allowLegacy === true,
  );
  const ike = o.ike ? o.ike(base) : base;
  const stack = buildStack(
    {
      role: "lac",
      listen: host.address,
      ike: {
        ...ike,
        ...(o.wallClock ? { wallClock: o.wallClock } : {}),
        ...(o.phase2LifeSeconds === undefined
          ? {}
          : { phase2: { ...ike.phase2, lifeSeconds: o.phase2LifeSeconds } }),
      },
      clock: simClock(sim),
      random,
      logs,
      counters,
      mtu: 1400,
      client: {
        user: user.name,
        password: user.password,
        ...(o.authMethods ? { authMethods: o.authMethods } : {}),
      },
      ...(o.echoIntervalMs !== undefined ? { echoIntervalMs: o.echoIntervalMs } : {}),
      ...(o.ports ? { ports: o.ports } : {}),
      onEvent: (e) => events.push(e),
      onIkeEvent: (e) => ikeEvents.push(e),
    },
    { ipsec: simIpsecPorts(host, o.ports), tun },
  );
  tun.onPackets((p) => stack.l2tp.ipPackets(p));
  const request = l2tpRequest(host.address, server);
  stack.node.initiate(o.request ? o.request(request) : request);
  let stopped = false;
  const ipUp = () => events.findLast((e) => e.type === "ip-up" || e.type === "session-down");
  return {
    stack,
    tun,
    events,
    ikeEvents,
    counters,
    logs: sink,
    address: () => {
      const e = ipUp();
      return e?.type === "ip-up" ? (e.session.localAddress ?? undefined) : undefined;
    },
    up: () => ipUp()?.type === "ip-up",
    stop() {
      if (stopped) return;
      stopped = true;
      stack.l2tp.dispose();
      stack.node.close();
    },
  };
}

/** An IPv4/UDP packet (no checksums needed: the TUN side does not check them). */
export function ipv4(src: string, dst: string, payload: string | Buffer, protocol = 17): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + body.length, 2);
  h[8] = 64;
  h[9] = protocol;
  Buffer.from(src.split(".").map(Number)).copy(h, 12);
  Buffer.from(dst.split(".").map(Number)).copy(h, 16);
  return Buffer.concat([h, body]);
}

/** Source and payload text of the packets a fake TUN got. */
export function received(tun: FakeTun): Array<{ src: string; dst: string; text: string }> {
  return tun.written.map((p) => ({
    src: `${p[12]}.${p[13]}.${p[14]}.${p[15]}`,
    dst: `${p[16]}.${p[17]}.${p[18]}.${p[19]}`,
    text: p.subarray(20).toString(),
  }));
}

/**
 * Runs the simulator until `cond` holds, letting real time pass between slices: work the
 * product does off the event loop (PAP's scrypt on the libuv threadpool) finishes in real time.
 */
export async function runUntilAsync(
  sim: Simulator,
  cond: () => boolean,
  limitMs = 60_000,
  sliceMs = 250,
): Promise<boolean> {
  const end = sim.now() + limitMs;
  while (!cond()) {
    if (sim.now() >= end) return false;
    sim.runFor(sliceMs);
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}
