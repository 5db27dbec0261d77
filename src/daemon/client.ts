/**
 * `oakley connect SERVER`: the L2TP/IPsec client — IKE initiator (Main Mode + Quick Mode for
 * L2TP, ESP transport mode, with the client NAT policy 0/1/2), L2TP LAC, PPP
 * peer, and a TUN device with the assigned address and the routes asked for.
 *
 * Progress is reported as a person follows it: phase 1 up, phase 2 up, L2TP up, PPP
 * authenticated, address assigned; a failure ends the connection with one clear reason (the
 * NAT-policy refusal names the setting; a wrong password shows the server's error 691).
 * `stop()` tears down in the order that never leaks L2TP in the clear: PPP Terminate, CDN and
 * StopCCN while the SA still exists, then IKE Deletes, then the TUN and routes go.
 */
import { err, ok, type Result } from "../base/result.js";
import {
  addressSelector,
  type IkeConfig,
  type IkeEvent,
  type InitiateRequest,
  ikeConfig,
  phase1Offers,
} from "../ike/index.js";
import { Counters } from "../obs/counters.js";
import type { LogHub } from "../obs/log.js";
import { type Clock, type Random, systemClock, systemRandom } from "../platform/index.js";
import { applyDns } from "../platform/dns.js";
import { pinHostRoute, resolveIpv4, routeTo } from "../platform/route.js";
import type { ConnectConfig } from "./config.js";
import type { L2tpOverIpsec, L2tpOverIpsecEvent } from "../l2tp-ipsec/index.js";
import { L2TP_PORT } from "../wire/l2tp/data-view.js";
import type { IpsecNode } from "./ipsec-node.js";
import { REAL_HOST, type StartHost, type StartTun } from "./stages/host.js";
import {
  type BlockSet,
  blockSetFromPolicy,
  describeStartFailure,
  type FailClosedError,
  FailClosedGuard,
  type FailClosedStatus,
} from "./fail-closed/index.js";
import { buildStack } from "./stack.js";
import { fipsStatusText, startFips } from "./fips.js";
import { fipsPhase1, fipsPhase2, type Phase2Offer } from "../ike/index.js";

export type ClientProgress =
  | { readonly stage: "phase1"; readonly text: string }
  | { readonly stage: "phase2"; readonly text: string }
  | { readonly stage: "l2tp"; readonly text: string }
  | { readonly stage: "ppp-auth"; readonly text: string }
  | {
      readonly stage: "address";
      readonly text: string;
      readonly address: string;
      readonly dns: readonly string[];
    };

export interface ClientError {
  readonly code: string;
  readonly message: string;
}

export interface ClientDeps {
  readonly logs: LogHub;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly onProgress?: (p: ClientProgress) => void;
  /** The connection ended (after being up, or while coming up). */
  readonly onDown?: (e: ClientError) => void;
  readonly ports?: { readonly ike: number; readonly natt: number };
  /** Allow 3DES/MODP-1024 offers for old servers. */
  readonly allowLegacy?: boolean;
  readonly mtu?: number;
  /** Test hook: what is opened on the host (TUN, sockets, nftables). */
  readonly host?: StartHost;
}

export interface RunningClient {
  readonly node: IpsecNode;
  readonly l2tp: L2tpOverIpsec;
  readonly counters: Counters;
  /** Resolves once an address is assigned (or rejects with the reason the connection failed). */
  readonly ready: Promise<{ address: string; peer: string; dns: readonly string[] }>;
  /** Disconnects in order; `keepBlocked` (a reason) leaves the fail-closed rules blocking. */
  stop(o?: { readonly keepBlocked?: string }): Promise<void>;
}

export async function startClient(
  cfg: ConnectConfig,
  deps: ClientDeps,
): Promise<Result<RunningClient, ClientError>> {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const log = deps.logs.logger("daemon");
  const host = deps.host ?? REAL_HOST;
  const mtu = deps.mtu ?? 1400;
  const progress = (p: ClientProgress) => {
    log.info(p.text, { step: p.stage });
    deps.onProgress?.(p);
  };

  // FIPS mode first: the provider must be in place before any crypto runs.
  const fips = startFips(cfg.fips);
  if (!fips.ok) return err(fips.error);
  if (fips.value.mode !== "off") log.info(`FIPS: ${fipsStatusText(fips.value)}`);

  const server = await resolveIpv4(cfg.server);
  if (!server.ok) return err({ code: server.error.code, message: server.error.message });
  const route = await routeTo(server.value);
  if (!route.ok)
    return err({
      code: route.error.code,
      message: `no route to the server ${server.value}: ${route.error.message}`,
    });
  const local = route.value.source;

  // Fail-closed: what must go through the VPN (L2TP to the server, the routes asked for,
  // everything with --default-route) is dropped in the clear from now on — also if this
  // process dies — until a clean disconnect removes the rules.
  const guard = cfg.failClosed
    ? new FailClosedGuard({ statusPath: cfg.statusFile, table: host.firewall() })
    : undefined;
  let set: BlockSet | undefined;
  if (guard) {
    const b = await guard.begin();
    if (!b.ok)
      return err({
        code: b.error.code,
        message: `fail-closed: ${b.error.message} (or use --no-fail-closed)`,
      });
    if (b.value.previous) log.warn(b.value.previous);
    const s = blockSetFromPolicy(null, {
      role: "client",
      server: server.value,
      defaultRoute: cfg.defaultRoute,
      routes: cfg.routes,
    });
    if (!s.ok) return err({ code: s.error.code, message: s.error.message });
    set = s.value;
    const p = await guard.enterProtectedMode(set);
    if (!p.ok)
      return err({
        code: p.error.code,
        message: `fail-closed: ${p.error.message} (or use --no-fail-closed)`,
      });
  }

  const ike = clientIkeConfig(cfg, local, server.value, deps.allowLegacy ?? false);
  if (cfg.certificates)
    log.info(
      `certificate authentication: "${cfg.certificates.material.subject}"; the server's certificate must chain to ${cfg.certificates.paths.ca} and name ${[...new Set([cfg.server, server.value])].join(" or ")}`,
    );

  let settle: {
    resolve: (v: { address: string; peer: string; dns: readonly string[] }) => void;
    reject: (e: Error) => void;
  };
  const ready = new Promise<{ address: string; peer: string; dns: readonly string[] }>(
    (resolve, reject) => {
      settle = { resolve, reject };
    },
  );
  ready.catch(() => {});
  let finished = false;
  const down = (e: ClientError) => {
    if (finished) return;
    finished = true;
    // The caller (keeper.ts) says it, with what happens next.
    log.debug(`connection ended: ${e.message}`, { code: e.code });
    settle.reject(Object.assign(new Error(e.message), { code: e.code }));
    deps.onDown?.(e);
  };

  let tun: StartTun | undefined;
  const undo: Array<() => Promise<void>> = [];
  let l2tp: L2tpOverIpsec | undefined;

  const onSession = (e: L2tpOverIpsecEvent) => {
    switch (e.type) {
      case "tunnel-up":
        progress({
          stage: "l2tp",
          text: `L2TP tunnel up (server ${e.peerHostName || server.value})`,
        });
        break;
      case "auth-ok":
        progress({ stage: "ppp-auth", text: `PPP authenticated as ${cfg.user} (${e.method})` });
        break;
      case "auth-failed":
        down(
          e.serverNotAuthenticated
            ? {
                code: "OAK_E_CONNECT_SERVER_AUTH",
                message: `${e.message}; it may be a rogue server holding the PSK: connection refused`,
              }
            : {
                code: "OAK_E_CONNECT_AUTH",
                message: `the server refused user ${cfg.user}${e.code !== undefined ? ` (error ${e.code})` : ""}: ${e.message}; check --user and --password`,
              },
        );
        break;
      case "ip-up":
        void addressUp(e.session.localAddress ?? "", e.session.peerAddress ?? "", e.session.dns);
        break;
      case "session-down":
        down({ code: "OAK_E_CONNECT_DOWN", message: `PPP session ended: ${e.reason}` });
        break;
      case "tunnel-down":
        down({ code: "OAK_E_CONNECT_DOWN", message: `L2TP tunnel closed: ${e.reason}` });
        break;
      case "channel-down":
        down({ code: "OAK_E_CONNECT_DOWN", message: "the server deleted the IPsec SA" });
        break;
      default:
        break;
    }
  };

  const addressUp = async (
    address: string,
    peer: string,
    dns: readonly string[],
  ): Promise<void> => {
    const t = host.openTun({ name: cfg.tun, offload: true });
    if (!t.ok) return down({ code: t.error.code, message: `TUN ${cfg.tun}: ${t.error.message}` });
    tun = t.value;
    for (const r of [tun.setMtu(mtu), tun.setAddress({ local: address, peer }), tun.setUp(true)]) {
      if (!r.ok) return down({ code: r.error.code, message: `TUN ${cfg.tun}: ${r.error.message}` });
    }
    const routes: Array<{ destination: string; prefixLength: number }> = [];
    if (cfg.defaultRoute) {
      // Keep ESP-in-UDP to the server on the original path, then take 0/1 + 128/1: more
      // specific than any default route, and nothing to restore when we leave.
      const pin = await pinHostRoute(server.value, route.value);
      if (!pin.ok) return down({ code: pin.error.code, message: pin.error.message });
      undo.push(pin.value);
      routes.push(
        { destination: "0.0.0.0", prefixLength: 1 },
        { destination: "128.0.0.0", prefixLength: 1 },
      );
    }
    for (const r of cfg.routes) {
      const [dst, bits] = r.split("/");
      routes.push({ destination: dst ?? "0.0.0.0", prefixLength: Number(bits) });
    }
    for (const r of routes) {
      const a = tun.addRoute(r);
      if (!a.ok)
        return down({
          code: a.error.code,
          message: `route ${r.destination}/${r.prefixLength}: ${a.error.message}`,
        });
    }
    if (cfg.usePeerDns) {
      const d = await applyDns(cfg.tun, dns);
      if (!d.ok) return down({ code: d.error.code, message: d.error.message });
      undo.push(d.value);
    }
    tun.onPackets((packets) => l2tp?.ipPackets(packets));
    progress({
      stage: "address",
      text: `address assigned: ${address} (server ${peer}${dns.length > 0 ? `, DNS ${dns.join(", ")}${cfg.usePeerDns ? " in use" : ""}` : ""}) on ${cfg.tun}`,
      address,
      dns,
    });
    settle.resolve({ address, peer, dns });
  };

  const onIke = (e: IkeEvent): void => {
    switch (e.type) {
      case "phase1-up":
        progress({
          stage: "phase1",
          text: `phase 1 up with ${e.peer.address}: ${e.suite}; NAT: ${e.nat.localBehindNat ? "this client is behind NAT" : "no NAT on this side"}${
            e.nat.peerBehindNat ? ", the server is behind NAT" : ""
          }${e.nat.method !== "none" ? ` (NAT-T ${e.nat.method}, UDP 4500)` : ""}`,
        });
        break;
      case "phase2-up":
        // The L2TP tunnel opens with the first child SA (src/l2tp-ipsec): one per connection.
        if (!e.rekey) progress({ stage: "phase2", text: `phase 2 up: ESP ${e.mode} ${e.suite}` });
        break;
      case "failed":
        down({ code: e.code, message: `${e.stage} failed: ${e.message}` });
        break;
      default:
        break;
    }
  };

  const ports = await host.openPorts({
    listen: local,
    ...(deps.ports ? { ports: deps.ports } : {}),
  });
  if (!ports.ok) {
    if (guard) {
      const why = {
        kind: "runtime" as const,
        code: ports.error.code,
        message: ports.error.message,
      };
      await guard.enterBlockMode(why, set);
      return err({ code: ports.error.code, message: describeStartFailure(why) });
    }
    return err({ code: ports.error.code, message: ports.error.message });
  }
  const counters = new Counters();
  const stack = buildStack(
    {
      role: "lac",
      listen: local,
      ike,
      clock,
      random,
      logs: deps.logs,
      counters,
      mtu,
      ...(deps.ports ? { ports: deps.ports } : {}),
      client: { user: cfg.user, password: cfg.password, authMethods: cfg.authMethods },
      onIkeEvent: onIke,
      onEvent: onSession,
    },
    // The TUN opens when PPP gives us an address; until then nothing is written to it.
    { ipsec: ports.value, tun: { write: (p) => tun?.write(p) ?? false } },
  );
  l2tp = stack.l2tp;
  const running = stack.node;
  log.info(`connecting to ${server.value} from ${local} (nat-policy ${cfg.natPolicy})`, {
    event: "connecting",
  });
  running.initiate(l2tpRequest(local, server.value, deps.ports?.ike ?? 500));

  return ok({
    node: running,
    l2tp: stack.l2tp,
    counters,
    ready,
    async stop(o: { readonly keepBlocked?: string } = {}) {
      finished = true;
      stack.l2tp.close();
      await new Promise((r) => setTimeout(r, 300)); // PPP Terminate, CDN, StopCCN leave inside ESP
      running.deleteAll();
      await new Promise((r) => setTimeout(r, 100));
      stack.l2tp.dispose();
      running.close();
      tun?.close();
      for (const u of undo.reverse()) await u();
      if (guard && o.keepBlocked !== undefined) {
        // Reconnecting (--persist): what must go through the VPN stays blocked in between.
        const r = await blockBetweenAttempts(guard, set, o.keepBlocked);
        if (!r.ok) log.error(`block mode could not be entered: ${r.error.message}`);
      } else if (guard) {
        const r = await guard.cleanStop({ unblock: true });
        if (!r.ok) log.error(`fail-closed rules could not be removed: ${r.error.message}`);
      }
    },
  });
}

/**
 * Between two attempts of `--persist`: block mode, with the rules of the connection that just
 * went down — passed explicitly, never re-read from the saved file, which another Oakley on the
 * same host (sharing the status directory) may have rewritten since.
 */
export function blockBetweenAttempts(
  guard: FailClosedGuard,
  set: BlockSet | undefined,
  reason: string,
): Promise<Result<FailClosedStatus, FailClosedError>> {
  return guard.enterBlockMode(
    { kind: "runtime", code: "OAK_E_CONNECT_DOWN", message: reason },
    set,
  );
}

/**
 * `--persist`: the wait before reconnect attempt `attempt` (1, 2, ...): 1 s doubling up to
 * `capMs`, with ±20 % jitter (`random` in [0, 1)) so that many clients cut off together do not
 * return together.
 */
export function reconnectDelayMs(attempt: number, random: number, capMs = 60_000): number {
  const base = Math.min(capMs, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random));
}

/**
 * The client's IKE settings: our offers (modern first; legacy only when asked), the PSK, and
 * with --cert our certificate, the CA, and the names the server's certificate must carry (the
 * SERVER given and the address it resolved to).
 */
export function clientIkeConfig(
  cfg: Pick<ConnectConfig, "psk" | "natPolicy" | "certificates"> & {
    readonly fips?: ConnectConfig["fips"];
    readonly server?: string;
  },
  local: string,
  server: string,
  allowLegacy: boolean,
): IkeConfig {
  const fips = cfg.fips !== undefined && cfg.fips !== "off";
  const c = cfg.certificates?.material;
  const groups = allowLegacy ? [14, 19, 20, 2] : [14, 19, 20];
  const ciphers = [
    { encryption: "aes-cbc" as const, keyBits: 256 },
    { encryption: "aes-cbc" as const, keyBits: 128 },
    ...(allowLegacy ? [{ encryption: "3des-cbc" as const, keyBits: 192 }] : []),
  ];
  const p1 = phase1Offers(ciphers, ["sha2-256", "sha1"], groups);
  return ikeConfig({
    localAddress: local,
    psks: cfg.psk !== "" ? [{ secret: cfg.psk, address: server, name: "server" }] : [],
    ...(c
      ? {
          certificates: {
            certificate: c.certPem,
            privateKey: c.keyPem,
            trustedCas: [c.caPem],
            peerNames: [...new Set([cfg.server ?? server, server])],
          },
          // Only the certificate: a PSK fallback would let a server holding the PSK skip the
          // certificate check.
          authMethods: ["rsa-sig"],
        }
      : {}),
    ...(fips ? { fips } : {}),
    phase1: { offers: fips ? p1.filter((o) => fipsPhase1(o)) : p1 },
    phase2: {
      offers: (
        [
          { cipher: "aes-gcm-16", keyBits: 256, integrity: "none" },
          { cipher: "aes-gcm-16", keyBits: 128, integrity: "none" },
          { cipher: "aes-cbc", keyBits: 256, integrity: "hmac-sha2-256-128" },
          { cipher: "aes-cbc", keyBits: 256, integrity: "hmac-sha1-96" },
          { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-sha1-96" },
          ...(allowLegacy
            ? [{ cipher: "3des-cbc" as const, keyBits: 192, integrity: "hmac-sha1-96" as const }]
            : []),
        ] as Phase2Offer[]
      ).filter((o) => !fips || fipsPhase2(o)),
    },
    natt: { policy: cfg.natPolicy },
    // A client notices a server that vanished (restart, lost path) in about 16 s instead of
    // the server's 55 s, so that `--persist` dials again soon: one R-U-THERE after 10 s without
    // word from the server, then every 2 s, dead after 3 unanswered.
    dpd: CLIENT_DPD,
  });
}

/** The client's dead-peer detection (RFC 3706): idle 10 s, then 3 probes 2 s apart. */
export const CLIENT_DPD = { delaySeconds: 10, retrySeconds: 2, maxRetries: 3 } as const;

/** Main Mode + Quick Mode for L2TP: UDP 1701 between our address and the server's. */
export function l2tpRequest(local: string, server: string, ikePort = 500): InitiateRequest {
  return {
    peer: { address: server, port: ikePort },
    phase2: {
      mode: "transport",
      local: addressSelector(local, 17, L2TP_PORT),
      remote: addressSelector(server, 17, L2TP_PORT),
    },
  };
}
