/**
 * What `oakley serve`'s stack runs with, from the store: the IKE settings (PSKs, certificates,
 * CRLs, FIPS suites), PPP's users and authentication, the address pool.
 */
import { readFileSync, statSync } from "node:fs";
import { err, ok, type Result } from "../../base/result.js";
import { parseCrls } from "../../crypto/crl.js";
import type { IkeConfig } from "../../ike/index.js";
import type { L2tpOverIpsecServer } from "../../l2tp-ipsec/index.js";
import type { Logger } from "../../obs/log.js";
import type { Clock } from "../../platform/index.js";
import { DEFAULT_POOL, type EffectivePolicy, type PolicyStore } from "../../policy/index.js";
import { AddressPool } from "../../ppp/index.js";
import type { ServeConfig } from "../config.js";
import { ikeConfigFromPolicy } from "../policy-to-ike.js";
import { AuthAttemptLimiter, storePasswordVerifier } from "../ppp-password.js";
import { userSecret } from "../users.js";
import type { StageError as ServerError } from "./errors.js";

/** Test hook: engine timers. */
export type IkeOverrides = Parameters<typeof ikeConfigFromPolicy>[1]["overrides"];

/** The first host address of a pool: the server's own PPP address. */
function firstHost(cidr: string): { address: string; prefix: number } {
  const [net, bits] = cidr.split("/");
  const n = (net ?? "0.0.0.0").split(".").reduce((acc, x) => acc * 256 + Number(x), 0) + 1;
  const address = [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
  return { address, prefix: Number(bits) };
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
    readonly ikeOverrides?: IkeOverrides;
    /** FIPS mode: approved IKE/ESP suites only, PPP with PAP only. */
    readonly fips?: boolean;
    /** CRL file contents (--crl). */
    readonly crls?: readonly (string | Uint8Array)[];
  },
): Result<ServerPlan, ServerError> {
  const ikeOverrides = o.ikeOverrides;
  const poolName = eff.settings.defaultPool ?? DEFAULT_POOL;
  const poolObj = store.pools.get(poolName);
  if (!poolObj.ok || !poolObj.value.value)
    return err({
      code: "OAK_E_SERVE_CONFIG",
      message: `the store has no address pool '${poolName}' (the settings' defaultPool); add it with 'oakley policy import FILE' or start with a new --store`,
    });
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
export function fileStamp(path: string): string {
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

/** The CRLs in force (--crl): read again by the watch stage when the file changes. */
export interface CrlSource {
  readonly path: string | undefined;
  current: Buffer[];
}

/**
 * Stage "ike": certificates and CRLs logged, the plan built from the store (PSKs or
 * certificates, FIPS suites, PPP users, the pool).
 */
export function planServer(
  store: PolicyStore,
  eff: EffectivePolicy,
  cfg: Pick<
    ServeConfig,
    "windowsNatFriendly" | "negotiateDh2048" | "pppAuthMethods" | "certificates"
  >,
  o: { readonly clock: Clock; readonly fips: boolean; readonly ikeOverrides?: IkeOverrides },
  log: Logger,
): Result<{ readonly plan: ServerPlan; readonly crl: CrlSource }, ServerError> {
  const crl: CrlSource = {
    path: cfg.certificates?.paths.crl,
    current: cfg.certificates?.material.crl ? [cfg.certificates.material.crl] : [],
  };
  for (const w of cfg.certificates?.material.warnings ?? []) log.warn(w);
  if (cfg.certificates)
    log.info(
      `certificate authentication: our certificate "${cfg.certificates.material.subject}", CA ${cfg.certificates.paths.ca}${crl.path ? `, CRL ${crl.path}` : ""}`,
    );
  const planned = serverPlan(store, eff, cfg, {
    clock: o.clock,
    fips: o.fips,
    crls: crl.current,
    ...(o.ikeOverrides ? { ikeOverrides: o.ikeOverrides } : {}),
  });
  if (!planned.ok) return planned;
  return ok({ plan: planned.value, crl });
}
