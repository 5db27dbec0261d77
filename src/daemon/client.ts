/**
 * `oakley connect SERVER`: the L2TP/IPsec client — IKE initiator (Main Mode + Quick Mode for
 * L2TP, ESP transport mode, with the client NAT policy 0/1/2), L2TP LAC, PPP
 * peer, and a TUN device with the assigned address and the routes asked for. Start-up is a list
 * of named stages (src/daemon/stages/; "shared" ones are `oakley serve`'s too):
 *
 *   fips      FIPS mode, before any crypto runs
 *   route     SERVER resolved, our address on the path to it (findServer)
 *   guard     fail-closed: the connection's block table installed (beginFailClosed + protect,
 *             shared)
 *   ike       our offers, PSK or certificate (clientIkeConfig)
 *   outcome   progress as a person follows it, and the one reason it ended (ConnectionOutcome)
 *   address   the TUN, routes and DNS, opened when PPP assigns the address (AddressStage)
 *   ports     UDP 500/4500 and raw ESP (openPorts, shared)
 *   service   IpsecNode --> L2TP over IPsec + PPP (startService, shared)
 *   dial      Main Mode + Quick Mode for L2TP initiated
 *
 * Progress is reported as a person follows it: phase 1 up, phase 2 up, L2TP up, PPP
 * authenticated, address assigned; a failure ends the connection with one clear reason (the
 * NAT-policy refusal names the setting; a wrong password shows the server's error 691).
 * `stop()` runs the teardown in the order that never leaks L2TP in the clear: PPP Terminate, CDN
 * and StopCCN while the SA still exists, then IKE Deletes, then the TUN and routes go.
 */
import { err, ok, type Result } from "../base/result.js";
import {
  addressSelector,
  type IkeConfig,
  type InitiateRequest,
  ikeConfig,
  phase1Offers,
} from "../ike/index.js";
import { Counters } from "../obs/counters.js";
import type { LogHub } from "../obs/log.js";
import { type Clock, type Random, systemClock, systemRandom } from "../platform/index.js";
import type { ConnectConfig } from "./config.js";
import type { L2tpOverIpsec } from "../l2tp-ipsec/index.js";
import { L2TP_PORT } from "../wire/l2tp/data-view.js";
import type { IpsecNode } from "./ipsec-node.js";
import { type ServerPath, findServer } from "./stages/connect-route.js";
import { AddressStage, type ClientProgress, ConnectionOutcome } from "./stages/connect-session.js";
import type { StageError } from "./stages/errors.js";
import { beginFailClosed, enterBlockMode, protect } from "./stages/fail-closed.js";
import { REAL_HOST, type StartHost } from "./stages/host.js";
import { openPorts, type PortsFailure } from "./stages/ports.js";
import { startService } from "./stages/service.js";
import { Teardown } from "./stages/teardown.js";
import {
  type BlockSet,
  blockSetFromPolicy,
  type FailClosedError,
  type FailClosedGuard,
  type FailClosedStatus,
} from "./fail-closed/index.js";
import { fipsStatusText, startFips } from "./fips.js";
import { fipsPhase1, fipsPhase2, type Phase2Offer } from "../ike/index.js";

export type { ClientProgress } from "./stages/connect-session.js";

export type ClientError = StageError;

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
  const log = deps.logs.logger("daemon");
  const host = deps.host ?? REAL_HOST;

  // FIPS mode first: the provider must be in place before any crypto runs.
  const fips = startFips(cfg.fips);
  if (!fips.ok) return err(fips.error);
  if (fips.value.mode !== "off") log.info(`FIPS: ${fipsStatusText(fips.value)}`);

  const path = await findServer(cfg.server);
  if (!path.ok) return path;
  const { server } = path.value;

  // Fail-closed: what must go through the VPN (L2TP to the server, the routes asked for,
  // everything with --default-route) is dropped in the clear from now on — also if this
  // process dies — until a clean disconnect removes the rules.
  const begun = await beginFailClosed(
    { failClosed: cfg.failClosed, statusFile: cfg.statusFile, optOut: "use" },
    host,
    log,
  );
  if (!begun.ok) return begun;
  const guard = begun.value;
  let set: BlockSet | undefined;
  if (guard) {
    const p = await protect(
      guard,
      blockSetFromPolicy(null, {
        role: "client",
        server,
        defaultRoute: cfg.defaultRoute,
        routes: cfg.routes,
      }),
      "use",
    );
    if (!p.ok) return p;
    set = p.value;
  }

  const teardown = new Teardown();
  try {
    const r = await startStages(cfg, deps, path.value, teardown);
    if (r.ok)
      return ok({
        ...r.value,
        async stop(o: { readonly keepBlocked?: string } = {}) {
          await teardown.stop();
          if (guard && o.keepBlocked !== undefined) {
            // Reconnecting (--persist): what must go through the VPN stays blocked in between.
            const b = await blockBetweenAttempts(guard, set, o.keepBlocked);
            if (!b.ok) log.error(`block mode could not be entered: ${b.error.message}`);
          } else if (guard) {
            const c = await guard.cleanStop({ unblock: true });
            if (!c.ok) log.error(`fail-closed rules could not be removed: ${c.error.message}`);
          }
        },
      });
    await teardown.abort();
    const f = r.error;
    if (!guard) return err({ code: f.code, message: f.message });
    return err(await enterBlockMode(guard, f, log, { fallbackCode: f.code, set }));
  } catch (e) {
    await teardown.abort();
    throw e;
  }
}

/** The stages after the guard; what they open is in `teardown`. */
async function startStages(
  cfg: ConnectConfig,
  deps: ClientDeps,
  path: ServerPath,
  teardown: Teardown,
): Promise<Result<Omit<RunningClient, "stop">, PortsFailure>> {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const log = deps.logs.logger("daemon");
  const host = deps.host ?? REAL_HOST;
  const mtu = deps.mtu ?? 1400;
  const { server, local } = path;

  const ike = clientIkeConfig(cfg, local, server, deps.allowLegacy ?? false);
  if (cfg.certificates)
    log.info(
      `certificate authentication: "${cfg.certificates.material.subject}"; the server's certificate must chain to ${cfg.certificates.paths.ca} and name ${[...new Set([cfg.server, server])].join(" or ")}`,
    );

  const outcome = new ConnectionOutcome(log, {
    ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
    ...(deps.onDown ? { onDown: deps.onDown } : {}),
  });
  const address = new AddressStage(cfg, mtu, path, host, outcome, teardown);

  const ports = await openPorts(
    host,
    { listen: local, ...(deps.ports ? { ports: deps.ports } : {}) },
    teardown,
  );
  if (!ports.ok) return ports;
  const counters = new Counters();
  const { node, l2tp } = startService(
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
      onIkeEvent: (e) => outcome.onIke(e),
      onEvent: (e) => outcome.onSession(e, cfg, server, address),
    },
    // The TUN opens when PPP gives us an address; until then nothing is written to it.
    { ipsec: ports.value, tun: address.port },
    { drainMs: 300 },
    teardown,
  );
  address.onPackets((packets) => l2tp.ipPackets(packets));

  teardown.add("dial", { stop: () => outcome.finish() });
  log.info(`connecting to ${server} from ${local} (nat-policy ${cfg.natPolicy})`, {
    event: "connecting",
  });
  node.initiate(l2tpRequest(local, server, deps.ports?.ike ?? 500));
  return ok({ node, l2tp, counters, ready: outcome.ready });
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
