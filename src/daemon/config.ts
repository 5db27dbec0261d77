/**
 * Settings of `oakley serve` and `oakley connect`, from three sources with this precedence:
 * command-line flags > environment (OAKLEY_*) > config file (YAML or JSON) > defaults.
 * Every mistake is reported with the field, where it came from, and the fix; all mistakes at
 * once, so a person fixes a config in one round.
 *
 * Secrets: every one has a form that keeps it out of /proc/PID/cmdline (readable by every local
 * user): a file (--psk-file, --password-file, --users-file, --user NAME:@FILE) or the
 * environment (OAKLEY_PSK, OAKLEY_PASSWORD, OAKLEY_USER, and OAKLEY_*_FILE for the files);
 * commandLineSecretWarnings() names the safer form when one is given as a flag. A PSK shorter
 * than MIN_PSK_LENGTH is refused unless --allow-weak-psk: one captured Main Mode exchange lets an
 * attacker test PSK guesses offline.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { err, ok, type Result } from "../base/result.js";
import { type NatPolicy, parseNatPolicy } from "../natt/nat-policy.js";
import type { PppAuthMethod } from "../ppp/index.js";
import { fipsPskProblem } from "../ike/index.js";
import { type FipsMode, MIN_PSK_LENGTH } from "../policy/index.js";
import { parseRadiusSettings, type RadiusSettings } from "./radius-config.js";
import { type CertFilePaths, type CertMaterial, loadCertFiles } from "./cert-files.js";

/** Certificate files given with --cert/--key/--ca[/--crl] and what they hold (checked). */
export interface CertificateSetting {
  readonly paths: CertFilePaths;
  readonly material: CertMaterial;
}

/** Phase-1 authentication the server's rules offer: PSK, certificates, or both. */
export type ServeAuth = "psk" | "certificate" | "both";

export type Source = "flag" | "env" | "file" | "default";

export interface ConfigIssue {
  readonly field: string;
  readonly source: Source;
  readonly message: string;
}

export interface UserSpec {
  readonly name: string;
  readonly password: string;
}

export interface ServeConfig {
  readonly store: string;
  readonly listen: string;
  readonly psk: string | undefined;
  /** Accept a PSK shorter than MIN_PSK_LENGTH (flags and the policy store). */
  readonly allowWeakPsk: boolean;
  readonly users: readonly UserSpec[];
  readonly pool: string | undefined;
  readonly dns: readonly string[];
  /** Present NAT-D so Windows clients see the server as not behind NAT (see natt/nat-detect.ts). */
  readonly windowsNatFriendly: boolean;
  /** Windows' NegotiateDH2048: offer and accept MODP-2048. */
  readonly negotiateDh2048: boolean;
  /** Allow 3DES and MODP-1024 for old clients (Android <= 11, old macOS). */
  readonly allowLegacy: boolean;
  readonly tun: string;
  readonly mtu: number;
  readonly logLevel: string;
  /** Block protected traffic in the clear whenever the service is not protecting it. */
  readonly failClosed: boolean;
  /** Where the daemon records protected/block mode and why (read by `oakley status`). */
  readonly statusFile: string;
  /** Local management socket ("off" disables it). */
  readonly controlSocket: string;
  /** Remote management over TLS: "HOST:PORT" (absent: off); needs cert and key. */
  readonly controlListen: string | undefined;
  readonly controlCert: string | undefined;
  readonly controlKey: string | undefined;
  /** CA whose client certificates are accepted on the TLS port. */
  readonly controlCa: string | undefined;
  /** File of token hashes (`oakley control token NAME` appends to it). */
  readonly controlTokens: string | undefined;
  /** Management connections at once, TLS handshakes in progress included. */
  readonly controlMaxConnections: number;
  /** TLS management connections at once from one source address (an IPv6 /64 is one). */
  readonly controlMaxPerAddress: number;
  /** Prometheus metrics "HOST:PORT" or "off". */
  readonly metricsListen: string;
  /** RADIUS servers, secret and NAS identity (radius-config.ts); absent: local users only. */
  readonly radius: RadiusSettings | undefined;
  /** --fips / --fips=policy-only; absent: the store's setting decides (default off). */
  readonly fips: FipsMode | undefined;
  /** PPP authentication methods offered, most preferred first (default MS-CHAPv2, CHAP, PAP). */
  readonly pppAuthMethods?: readonly PppAuthMethod[];
  /** --cert/--key/--ca[/--crl]: stored as the policy's certificate authentication. */
  readonly certificates: CertificateSetting | undefined;
  /** --auth: what the rules offer when --cert is given (default both). */
  readonly auth: ServeAuth | undefined;
}

export interface ConnectConfig {
  readonly server: string;
  readonly psk: string;
  readonly allowWeakPsk: boolean;
  readonly user: string;
  readonly password: string;
  readonly natPolicy: NatPolicy;
  readonly defaultRoute: boolean;
  readonly routes: readonly string[];
  /** Hand the DNS servers the server gives (RFC 1877) to the system while connected. */
  readonly usePeerDns: boolean;
  /** Drop what must go through the VPN while it is not up, also if this process dies. */
  readonly failClosed: boolean;
  readonly statusFile: string;
  readonly tun: string;
  readonly logLevel: string;
  /**
   * PPP authentication the client agrees to, strongest first. MS-CHAPv2 always (the server
   * proves it knows the password); CHAP-MD5 and PAP only when named in --allow-auth.
   */
  readonly authMethods: readonly PppAuthMethod[];
  /** FIPS mode (fips.ts): approved algorithms only; PPP authenticates with PAP inside ESP. */
  readonly fips: FipsMode;
  /**
   * --cert/--key/--ca: authenticate with our certificate, and accept only a server whose
   * certificate the CA issued and that names the server dialled (subjectAltName DNS or IP).
   */
  readonly certificates?: CertificateSetting;
}

export const SERVE_DEFAULTS = {
  store: "/var/lib/oakley/oakley.db",
  listen: "0.0.0.0",
  windowsNatFriendly: true,
  negotiateDh2048: true,
  allowLegacy: false,
  tun: "oak0",
  mtu: 1400,
  logLevel: "info",
  failClosed: true,
  statusFile: "/run/oakley/status.json",
  controlSocket: "/run/oakley/control.sock",
  controlMaxConnections: 64,
  controlMaxPerAddress: 8,
  metricsListen: "127.0.0.1:9500",
} as const;

type Raw = Record<string, unknown>;

/** Reads a config file (YAML or JSON; JSON is YAML). */
export function readConfigFile(path: string): Result<Raw, ConfigIssue> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    return err({
      field: "config",
      source: "flag",
      message: `cannot read ${path} (${code}); check the path given to --config`,
    });
  }
  try {
    const v: unknown = parseYaml(text);
    if (v === null || v === undefined) return ok({});
    if (typeof v !== "object" || Array.isArray(v)) {
      return err({
        field: "config",
        source: "file",
        message: `${path} must hold a mapping of settings (key: value), not ${Array.isArray(v) ? "a list" : typeof v}`,
      });
    }
    return ok(v as Raw);
  } catch (e) {
    return err({
      field: "config",
      source: "file",
      message: `${path} is not valid YAML/JSON: ${(e as Error).message.split("\n")[0]}`,
    });
  }
}

/** Looks a setting up in flags, then env, then file; returns the value and where it came from. */
class Layers {
  readonly issues: ConfigIssue[] = [];
  constructor(
    private readonly flags: Raw,
    private readonly env: NodeJS.ProcessEnv,
    private readonly file: Raw,
  ) {}

  get(key: string): { value: unknown; source: Source } | undefined {
    if (this.flags[key] !== undefined) return { value: this.flags[key], source: "flag" };
    const envKey = `OAKLEY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const e = this.env[envKey];
    if (e !== undefined && e !== "") return { value: e, source: "env" };
    const fileKey = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (this.file[fileKey] !== undefined) return { value: this.file[fileKey], source: "file" };
    if (this.file[key] !== undefined) return { value: this.file[key], source: "file" };
    return undefined;
  }

  fail(field: string, source: Source, message: string): undefined {
    this.issues.push({ field, source, message });
    return undefined;
  }

  string(key: string, fallback: string): string;
  string(key: string, fallback: undefined): string | undefined;
  string(key: string, fallback: string | undefined): string | undefined {
    const v = this.get(key);
    if (!v) return fallback;
    if (typeof v.value === "string" && v.value.trim() !== "") return v.value.trim();
    if (typeof v.value === "number") return String(v.value);
    return this.fail(key, v.source, `must be a non-empty text value`) ?? fallback;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.get(key);
    if (!v) return fallback;
    if (typeof v.value === "boolean") return v.value;
    if (typeof v.value === "string") {
      const s = v.value.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(s)) return true;
      if (["0", "false", "no", "off"].includes(s)) return false;
    }
    this.fail(key, v.source, `must be true or false (got ${JSON.stringify(v.value)})`);
    return fallback;
  }

  int(key: string, fallback: number, min: number, max: number): number {
    const v = this.get(key);
    if (!v) return fallback;
    const n =
      typeof v.value === "number"
        ? v.value
        : typeof v.value === "string" && /^\d+$/.test(v.value.trim())
          ? Number(v.value)
          : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      this.fail(
        key,
        v.source,
        `must be a whole number from ${min} to ${max} (got ${JSON.stringify(v.value)})`,
      );
      return fallback;
    }
    return n;
  }

  list(key: string): string[] {
    const v = this.get(key);
    if (!v) return [];
    if (Array.isArray(v.value) && v.value.every((x) => typeof x === "string"))
      return v.value as string[];
    if (typeof v.value === "string")
      return v.value
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    this.fail(key, v.source, "must be a list of text values (or a comma-separated text)");
    return [];
  }
}

function checkCidr(l: Layers, field: string, v: string | undefined, source: Source = "flag"): void {
  if (v === undefined) return;
  const m = /^(.+)\/(\d{1,3})$/.exec(v);
  const bits = m ? Number(m[2]) : -1;
  if (!m || isIP(m[1] ?? "") !== 4 || bits < 8 || bits > 30) {
    l.fail(
      field,
      source,
      `"${v}" is not an IPv4 network with a prefix from /8 to /30; write e.g. 10.8.0.0/24`,
    );
  }
}

const RANK: Record<Source, number> = { flag: 3, env: 2, file: 1, default: 0 };
const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The secret in a file: its text without one trailing line end; a typed issue otherwise. */
function readSecretFile(
  l: Layers,
  field: string,
  source: Source,
  path: string,
): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    return l.fail(
      field,
      source,
      `cannot read ${path} (${code}); give a file that holds the secret (mode 0600, owned by root)`,
    );
  }
  const v = text.replace(/\r?\n$/, "");
  if (v === "") return l.fail(field, source, `${path} is empty; write the secret into it`);
  return v;
}

/**
 * A secret given as a value (`key`) or as a file (`key`File): the higher-precedence source wins;
 * both from the same source is a mistake.
 */
function secretSetting(l: Layers, key: string): { value: string; source: Source } | undefined {
  const fileKey = `${key}File`;
  const v = l.get(key);
  const f = l.get(fileKey);
  if (v && f && RANK[v.source] === RANK[f.source]) {
    return l.fail(
      key,
      v.source,
      `give either --${flagName(key)} or --${flagName(fileKey)}, not both`,
    );
  }
  if (f && (!v || RANK[f.source] > RANK[v.source])) {
    const path = l.string(fileKey, undefined);
    if (path === undefined) return undefined;
    const value = readSecretFile(l, flagName(fileKey), f.source, path);
    return value === undefined ? undefined : { value, source: f.source };
  }
  if (!v) return undefined;
  const value = l.string(key, undefined);
  return value === undefined ? undefined : { value, source: v.source };
}

/**
 * --cert, --key, --ca (and --crl where `withCrl`): all or none; read and checked with the
 * wall clock `now`. Issues name the flag and the fix.
 */
function certificateSetting(
  l: Layers,
  now: number,
  withCrl: boolean,
): CertificateSetting | undefined {
  const keys = ["cert", "key", "ca", ...(withCrl ? ["crl"] : [])] as const;
  const given = keys.filter((k) => l.get(k) !== undefined);
  if (given.length === 0) return undefined;
  const src = l.get(given[0]!)?.source ?? "flag";
  const missing = (["cert", "key", "ca"] as const).filter((k) => l.get(k) === undefined);
  if (missing.length > 0) {
    for (const k of missing)
      l.fail(
        k,
        src,
        `--cert, --key and --ca go together; add --${k} FILE (${k === "cert" ? "our certificate" : k === "key" ? "its private key" : "the CA certificate"}, PEM)`,
      );
    return undefined;
  }
  const paths: CertFilePaths = {
    cert: l.string("cert", ""),
    key: l.string("key", ""),
    ca: l.string("ca", ""),
    ...(withCrl && l.get("crl") ? { crl: l.string("crl", "") } : {}),
  };
  const r = loadCertFiles(paths, now);
  if (!r.ok) {
    for (const i of r.error) l.fail(i.field, l.get(i.field)?.source ?? src, i.message);
    return undefined;
  }
  return { paths, material: r.value };
}

function checkPskLength(
  l: Layers,
  psk: { value: string; source: Source } | undefined,
  allowWeak: boolean,
): void {
  if (psk === undefined || allowWeak || psk.value.length >= MIN_PSK_LENGTH) return;
  l.fail(
    "psk",
    psk.source,
    `is ${psk.value.length} characters; use at least ${MIN_PSK_LENGTH} (a short key falls to an offline guess from one captured exchange; e.g. \`openssl rand -base64 18\`), or pass --allow-weak-psk to keep an old one`,
  );
}

/** "NAME:PASSWORD" or "NAME:@FILE" (the password is the file's text). */
function parseUserItem(l: Layers, item: string, source: Source): UserSpec | undefined {
  const i = item.indexOf(":");
  if (i <= 0 || i === item.length - 1) {
    return l.fail(
      "user",
      source,
      `"${item.slice(0, Math.max(i, 0)) || item.slice(0, 20)}…" must be NAME:PASSWORD or NAME:@FILE, e.g. --user alice:@/etc/oakley/alice.pw`,
    );
  }
  const name = item.slice(0, i);
  const rest = item.slice(i + 1);
  if (!rest.startsWith("@")) return { name, password: rest };
  const password = readSecretFile(l, "user", source, rest.slice(1));
  return password === undefined ? undefined : { name, password };
}

/** --users-file: one NAME:PASSWORD a line; blank lines and lines starting with # are skipped. */
function parseUsersFile(l: Layers): UserSpec[] {
  const f = l.get("usersFile");
  if (!f) return [];
  const path = l.string("usersFile", undefined);
  if (path === undefined) return [];
  const text = readSecretFile(l, "users-file", f.source, path);
  if (text === undefined) return [];
  const users: UserSpec[] = [];
  text.split(/\r?\n/).forEach((line, n) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const i = t.indexOf(":");
    if (i <= 0 || i === t.length - 1) {
      l.fail("users-file", f.source, `${path} line ${n + 1} is not NAME:PASSWORD`);
      return;
    }
    users.push({ name: t.slice(0, i), password: t.slice(i + 1) });
  });
  return users;
}

function parseUsers(l: Layers): UserSpec[] {
  const v = l.get("user");
  if (!v) return parseUsersFile(l);
  const items: unknown[] = Array.isArray(v.value) ? v.value : [v.value];
  const users: UserSpec[] = [];
  for (const item of items) {
    if (typeof item === "string") {
      const u = parseUserItem(l, item, v.source);
      if (u) users.push(u);
    } else if (
      item &&
      typeof item === "object" &&
      typeof (item as Raw).name === "string" &&
      typeof (item as Raw).password === "string"
    ) {
      users.push({
        name: (item as Raw).name as string,
        password: (item as Raw).password as string,
      });
    } else {
      l.fail("user", v.source, "each user must be NAME:PASSWORD or {name, password}");
    }
  }
  return [...users, ...parseUsersFile(l)];
}

/**
 * One line per secret given on the command line (each names the safer form), for `serve` and
 * `connect` to print at start: /proc/PID/cmdline is readable by every local user.
 */
export function commandLineSecretWarnings(command: "serve" | "connect", flags: Raw): string[] {
  const out: string[] = [];
  const visible =
    "puts a secret in the process list (/proc/PID/cmdline), visible to every local user";
  if (typeof flags.psk === "string")
    out.push(`oakley ${command}: --psk ${visible}; use --psk-file FILE or OAKLEY_PSK instead`);
  if (command === "serve") {
    const items = Array.isArray(flags.user)
      ? flags.user
      : flags.user === undefined
        ? []
        : [flags.user];
    if (items.some((u) => typeof u === "string" && !u.slice(u.indexOf(":") + 1).startsWith("@")))
      out.push(
        `oakley serve: --user NAME:PASSWORD ${visible}; use --users-file FILE or --user NAME:@FILE instead`,
      );
  }
  if (command === "connect" && typeof flags.password === "string")
    out.push(
      `oakley connect: --password ${visible}; use --password-file FILE or OAKLEY_PASSWORD instead`,
    );
  return out;
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const where = (s: Source): string =>
    s === "flag"
      ? "command line"
      : s === "env"
        ? "environment"
        : s === "file"
          ? "config file"
          : "default";
  return issues.map((i) => `  ${i.field} (${where(i.source)}): ${i.message}`).join("\n");
}

const FIPS_HINT =
  "use --fips (OpenSSL's FIPS provider), --fips=policy-only (approved algorithms without a validated module) or --fips=off";

/** --fips [provider|policy-only|off]: the bare flag (true) means the provider. */
function parseFips(l: Layers): FipsMode | undefined {
  const v = l.get("fips");
  if (!v) return undefined;
  if (v.value === true) return "provider";
  if (v.value === false) return "off";
  const s = typeof v.value === "string" ? v.value.trim().toLowerCase() : "";
  if (["provider", "on", "yes", "true", "1"].includes(s)) return "provider";
  if (s === "policy-only") return "policy-only";
  if (["off", "no", "false", "0"].includes(s)) return "off";
  return l.fail(
    "fips",
    v.source,
    `"${String(v.value).slice(0, 20)}" is not a FIPS mode: ${FIPS_HINT}`,
  );
}

/** Settings FIPS mode rules out, each with the fix (shared by serve and connect). */
function checkFipsConflicts(
  l: Layers,
  fips: FipsMode | undefined,
  psk: { value: string; source: Source } | undefined,
): void {
  if (fips === undefined || fips === "off") return;
  if (l.bool("allowLegacy", false))
    l.fail(
      "allow-legacy",
      l.get("allowLegacy")?.source ?? "flag",
      "3DES and MODP-1024 are not FIPS-approved: remove --allow-legacy or run without --fips",
    );
  const problem = psk === undefined ? undefined : fipsPskProblem(psk.value);
  if (psk !== undefined && problem !== undefined)
    l.fail("psk", psk.source, `${problem} (--allow-weak-psk does not apply in FIPS mode)`);
}

export function loadServeConfig(
  flags: Raw,
  env: NodeJS.ProcessEnv = process.env,
  now: number = Date.now(),
): Result<ServeConfig, ConfigIssue[]> {
  let file: Raw = {};
  const cfgPath = typeof flags.config === "string" ? flags.config : env.OAKLEY_CONFIG;
  if (cfgPath) {
    const r = readConfigFile(cfgPath);
    if (!r.ok) return err([r.error]);
    file = r.value;
  }
  const l = new Layers(flags, env, file);
  const listen = l.string("listen", SERVE_DEFAULTS.listen);
  if (isIP(listen) === 0)
    l.fail(
      "listen",
      l.get("listen")?.source ?? "default",
      `"${listen}" is not an IP address; write e.g. 0.0.0.0 or 198.51.100.2`,
    );
  const pskSetting = secretSetting(l, "psk");
  const psk = pskSetting?.value;
  const allowWeakPsk = l.bool("allowWeakPsk", false);
  checkPskLength(l, pskSetting, allowWeakPsk);
  const pool = l.string("pool", undefined);
  checkCidr(l, "pool", pool, l.get("pool")?.source);
  const dns = l.list("dns");
  for (const d of dns)
    if (isIP(d) === 0) l.fail("dns", l.get("dns")?.source ?? "flag", `"${d}" is not an IP address`);
  const tun = l.string("tun", SERVE_DEFAULTS.tun);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tun))
    l.fail(
      "tun",
      l.get("tun")?.source ?? "flag",
      "must be 1-15 letters, digits, '.', '-' or '_' (a Linux interface name)",
    );
  const logLevel = l.string("logLevel", SERVE_DEFAULTS.logLevel);
  if (!["private", "debug", "info", "warn", "error", "off"].includes(logLevel)) {
    l.fail(
      "log-level",
      l.get("logLevel")?.source ?? "flag",
      "must be one of debug, info, warn, error, off (or private to log key material)",
    );
  }
  const store = l.string("store", SERVE_DEFAULTS.store);
  const radiusKeys: Record<string, string> = {
    radius: "radius",
    "radius-secret-file": "radiusSecretFile",
    "radius-nas-identifier": "radiusNasIdentifier",
    "radius-dae-listen": "radiusDaeListen",
    "radius-interim-interval": "radiusInterimInterval",
  };
  const radius = parseRadiusSettings(
    {
      servers: l.list("radius"),
      secretFile: l.string("radiusSecretFile", undefined),
      nasIdentifier: l.string("radiusNasIdentifier", undefined),
      daeListen: l.string("radiusDaeListen", undefined),
      interimInterval: l.string("radiusInterimInterval", undefined),
      store,
    },
    (field, message) => l.fail(field, l.get(radiusKeys[field] ?? field)?.source ?? "flag", message),
  );
  const cfg: ServeConfig = {
    store,
    listen,
    psk,
    allowWeakPsk,
    users: parseUsers(l),
    pool,
    dns,
    windowsNatFriendly: l.bool("windowsNatFriendly", SERVE_DEFAULTS.windowsNatFriendly),
    negotiateDh2048: l.bool("negotiateDh2048", SERVE_DEFAULTS.negotiateDh2048),
    allowLegacy: l.bool("allowLegacy", SERVE_DEFAULTS.allowLegacy),
    tun,
    mtu: l.int("mtu", SERVE_DEFAULTS.mtu, 576, 1500),
    logLevel,
    failClosed: l.bool("failClosed", SERVE_DEFAULTS.failClosed),
    statusFile: l.string("statusFile", SERVE_DEFAULTS.statusFile),
    controlSocket: l.string("controlSocket", SERVE_DEFAULTS.controlSocket),
    controlListen: l.string("controlListen", undefined),
    controlCert: l.string("controlCert", undefined),
    controlKey: l.string("controlKey", undefined),
    controlCa: l.string("controlCa", undefined),
    controlTokens: l.string("controlTokens", undefined),
    controlMaxConnections: l.int(
      "controlMaxConnections",
      SERVE_DEFAULTS.controlMaxConnections,
      1,
      4096,
    ),
    controlMaxPerAddress: l.int(
      "controlMaxPerAddress",
      SERVE_DEFAULTS.controlMaxPerAddress,
      1,
      4096,
    ),
    metricsListen: l.string("metricsListen", SERVE_DEFAULTS.metricsListen),
    radius,
    fips: parseFips(l),
    ...(l.get("authMethods") ? { pppAuthMethods: parseServeAuthMethods(l) } : {}),
    certificates: certificateSetting(l, now, true),
    auth: serveAuth(l),
  };
  checkFipsConflicts(l, cfg.fips, pskSetting);
  if (cfg.fips !== undefined && cfg.fips !== "off" && cfg.certificates)
    l.fail("cert", l.get("cert")?.source ?? "flag", FIPS_NO_CERTIFICATES);
  if (cfg.auth !== undefined && cfg.auth !== "psk" && !cfg.certificates && !l.get("cert"))
    l.fail(
      "auth",
      l.get("auth")?.source ?? "flag",
      `--auth ${cfg.auth} needs our certificate: add --cert FILE --key FILE --ca FILE`,
    );
  if (
    cfg.controlListen !== undefined &&
    (cfg.controlCert === undefined || cfg.controlKey === undefined)
  ) {
    l.fail(
      "control-listen",
      l.get("controlListen")?.source ?? "flag",
      "remote management needs --control-cert and --control-key (PEM files)",
    );
  }
  return l.issues.length > 0 ? err(l.issues) : ok(cfg);
}

/** IKEv1 signatures sign HASH_I/HASH_R without a DigestInfo: not an approved scheme. */
const FIPS_NO_CERTIFICATES =
  "certificate authentication is not available in FIPS mode (IKEv1 signatures are not an approved scheme): use a PSK of at least 14 bytes, or leave out --fips";

function serveAuth(l: Layers): ServeAuth | undefined {
  const v = l.string("auth", undefined);
  if (v === undefined) return undefined;
  if (v === "psk" || v === "certificate" || v === "both") return v;
  l.fail(
    "auth",
    l.get("auth")?.source ?? "flag",
    `"${v.slice(0, 20)}" is not psk, certificate or both`,
  );
  return undefined;
}

const ALLOW_AUTH_WORDS: Record<string, PppAuthMethod> = {
  mschapv2: "mschapv2",
  chap: "chap-md5",
  pap: "pap",
};
const AUTH_STRENGTH: readonly PppAuthMethod[] = ["mschapv2", "chap-md5", "pap"];

/** `oakley serve --auth-methods`: the methods offered, in order; no duplicates. */
function parseServeAuthMethods(l: Layers): PppAuthMethod[] {
  const v = l.get("authMethods");
  const out: PppAuthMethod[] = [];
  if (!v) return out;
  const hint =
    "use mschapv2, chap or pap (comma-separated, most preferred first), e.g. --auth-methods mschapv2,chap";
  const items = Array.isArray(v.value) ? v.value : [v.value];
  for (const item of items) {
    if (typeof item !== "string") {
      l.fail("auth-methods", v.source, `must be text: ${hint}`);
      continue;
    }
    for (const w of item.split(",").map((x) => x.trim().toLowerCase())) {
      if (w === "") continue;
      const m = ALLOW_AUTH_WORDS[w];
      if (!m)
        l.fail(
          "auth-methods",
          v.source,
          `"${w.slice(0, 20)}" is not an authentication method: ${hint}`,
        );
      else if (!out.includes(m)) out.push(m);
    }
  }
  if (out.length === 0) l.fail("auth-methods", v.source, `names no method: ${hint}`);
  return out;
}

/**
 * --allow-auth: comma-separated words (the flag may be repeated); MS-CHAPv2 is always in, except
 * in FIPS mode: MS-CHAPv2 (MD4, DES) and CHAP-MD5 are not approved, so PPP uses PAP inside the
 * ESP-protected link, and the person must say so (--allow-auth pap) because the server then
 * proves nothing about the password.
 */
function parseAllowAuth(l: Layers, fips: FipsMode): PppAuthMethod[] {
  const v = l.get("allowAuth");
  const allowed = new Set<PppAuthMethod>(["mschapv2"]);
  if (fips !== "off") {
    const words = !v
      ? []
      : (Array.isArray(v.value) ? v.value : [v.value])
          .flatMap((x) => (typeof x === "string" ? x.split(",") : [String(x)]))
          .map((x) => x.trim().toLowerCase())
          .filter((x) => x !== "");
    const notApproved = words.filter((w) => w !== "pap");
    if (notApproved.length > 0)
      l.fail(
        "allow-auth",
        v?.source ?? "flag",
        `${notApproved.join(", ").slice(0, 40)} cannot be used in FIPS mode (MS-CHAPv2 needs MD4 and DES, CHAP-MD5 needs MD5); use --allow-auth pap`,
      );
    else if (!words.includes("pap"))
      l.fail(
        "allow-auth",
        v?.source ?? "flag",
        "FIPS mode cannot use MS-CHAPv2 (MD4 and DES are not approved); PPP then authenticates with PAP inside the ESP-protected link: add --allow-auth pap (the server does not prove it knows your password; see the warning)",
      );
    return ["pap"];
  }
  if (!v) return ["mschapv2"];
  const items = Array.isArray(v.value) ? v.value : [v.value];
  const hint = "use mschapv2, chap or pap (comma-separated), e.g. --allow-auth chap";
  let words = 0;
  for (const item of items) {
    if (typeof item !== "string") {
      l.fail("allow-auth", v.source, `must be text: ${hint}`);
      continue;
    }
    for (const w of item.split(",").map((x) => x.trim().toLowerCase())) {
      if (w === "") continue;
      words++;
      const m = ALLOW_AUTH_WORDS[w];
      if (m) allowed.add(m);
      else
        l.fail(
          "allow-auth",
          v.source,
          `"${w.slice(0, 20)}" is not an authentication method: ${hint}`,
        );
    }
  }
  if (words === 0) l.fail("allow-auth", v.source, `names no method: ${hint}`);
  return AUTH_STRENGTH.filter((m) => allowed.has(m));
}

/** Warnings to show when `oakley connect` starts (weaker settings the person chose). */
export function connectWarnings(cfg: ConnectConfig): string[] {
  const weak = cfg.authMethods.filter((m) => m !== "mschapv2");
  if (weak.length === 0) return [];
  const names = weak.map((m) => (m === "chap-md5" ? "CHAP-MD5" : "PAP"));
  const words = weak.map((m) => (m === "chap-md5" ? "chap" : "pap"));
  return [
    `--allow-auth ${words.join(",")}: ${names.join(" and ")} do${weak.length === 1 ? "es" : ""} not let the server prove it knows your password. A server that holds the PSK (anyone in the group) can pose as the real one, ${weak.includes("pap") ? "read your password (PAP) or " : ""}capture a response to crack offline, and receive your traffic; use only with servers that cannot do MS-CHAPv2.`,
  ];
}

export function loadConnectConfig(
  flags: Raw,
  env: NodeJS.ProcessEnv = process.env,
  now: number = Date.now(),
): Result<ConnectConfig, ConfigIssue[]> {
  let file: Raw = {};
  const cfgPath = typeof flags.config === "string" ? flags.config : env.OAKLEY_CONFIG;
  if (cfgPath) {
    const r = readConfigFile(cfgPath);
    if (!r.ok) return err([r.error]);
    file = r.value;
  }
  const l = new Layers(flags, env, file);
  const server = l.string("server", undefined);
  if (server === undefined)
    l.fail("server", "flag", "is required: oakley connect SERVER (an address or host name)");
  const pskSetting = secretSetting(l, "psk");
  const psk = pskSetting?.value;
  const certificates = certificateSetting(l, now, false);
  const certGiven = l.get("cert") !== undefined;
  if (psk === undefined && !l.get("psk") && !l.get("pskFile") && !certGiven)
    l.fail(
      "psk",
      "flag",
      "is required: the server's pre-shared key (--psk-file or OAKLEY_PSK), or a certificate (--cert, --key, --ca)",
    );
  const allowWeakPsk = l.bool("allowWeakPsk", false);
  checkPskLength(l, pskSetting, allowWeakPsk);
  const user = l.string("user", undefined);
  if (user === undefined) l.fail("user", "flag", "is required: your user name (--user)");
  const password = secretSetting(l, "password")?.value;
  if (password === undefined && !l.get("password") && !l.get("passwordFile"))
    l.fail("password", "flag", "is required: your password (--password-file or OAKLEY_PASSWORD)");
  const np = l.get("natPolicy");
  let natPolicy: NatPolicy = 0;
  if (np) {
    const r = parseNatPolicy(typeof np.value === "number" ? np.value : String(np.value));
    if (r.ok) natPolicy = r.value;
    else l.fail("nat-policy", np.source, r.error);
  }
  const routes = l.list("route");
  for (const r of routes) checkCidr(l, "route", r, l.get("route")?.source);
  const tun = l.string("tun", "oakc0");
  const fips = parseFips(l) ?? "off";
  checkFipsConflicts(l, fips, pskSetting);
  const cfg: ConnectConfig = {
    server: server ?? "",
    psk: psk ?? "",
    allowWeakPsk,
    user: user ?? "",
    password: password ?? "",
    natPolicy,
    defaultRoute: l.bool("defaultRoute", false),
    routes,
    usePeerDns: l.bool("usePeerDns", false),
    failClosed: l.bool("failClosed", true),
    statusFile: l.string("statusFile", "/run/oakley/client-status.json"),
    tun,
    logLevel: l.string("logLevel", "info"),
    authMethods: parseAllowAuth(l, fips),
    fips,
    ...(certificates ? { certificates } : {}),
  };
  if (fips !== "off" && certificates)
    l.fail("cert", l.get("cert")?.source ?? "flag", FIPS_NO_CERTIFICATES);
  return l.issues.length > 0 ? err(l.issues) : ok(cfg);
}
