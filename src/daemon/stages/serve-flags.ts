/**
 * `oakley serve`'s command-line settings written to the store at every start (kept: the next
 * start needs no flags): --psk, --user/--users-file, --allow-legacy, --cert/--key/--ca/--auth,
 * --pool/--dns.
 */
import { err, ok, type Result } from "../../base/result.js";
import type { Random } from "../../platform/index.js";
import {
  DEFAULT_POOL,
  DEFAULT_PSK,
  type AuthMethod as PolicyAuthMethod,
  makeCredentials,
  type PolicyStore,
} from "../../policy/index.js";
import type { CertificateSetting, ServeAuth, ServeConfig } from "../config.js";
import type { StageError as ServerError } from "./errors.js";

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
