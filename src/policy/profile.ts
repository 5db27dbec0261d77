/**
 * Client profiles: a saved `oakley connect` (server, pre-shared key, user, optional password,
 * NAT policy, routes, DNS), kept in the client's own store (profile-store.ts) and moved between
 * machines as a small YAML document:
 *
 *   oakley-client-profile: 1
 *   name: office
 *   server: vpn.example.com
 *   user: alice
 *   psk: "…"              # left out of an export unless secrets are asked for
 *   password: "…"         # optional; without it `oakley connect` asks for --password
 *   nat-policy: 1
 *   default-route: false
 *   routes: [10.20.0.0/16]
 *   use-peer-dns: true
 *   cert: /etc/oakley/laptop.pem   # certificate authentication instead of psk: (paths, read
 *   key: /etc/oakley/laptop.key    #   at connect time; the key file stays where it is)
 *   ca: /etc/oakley/ca.pem
 *
 * The same checker reads what a person types (CLI flags), imported documents and stored rows,
 * so every path gives the same messages: each names the field and the fix, never a secret.
 * Unknown keys: an error in an import (with a did-you-mean hint); in a stored row they are
 * fields of a newer Oakley, and such a row is shown but never rewritten here.
 *
 * Left out on purpose: certificate contents in the profile (it names the files), and several
 * profiles in one document (one file a profile is what the server's `client-config` hands out).
 */
import { isIP } from "node:net";
import { MIN_PSK_LENGTH } from "./model.js";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { err, ok, type Result } from "../base/result.js";
import { type NatPolicy, parseNatPolicy } from "../natt/nat-policy.js";
import { nearest } from "./check.js";
import { type StoreError, StoreErrorCode, storeError, type ValidationIssue } from "./errors.js";

export interface ClientProfile {
  readonly name: string;
  /** Address or host name of the server. */
  readonly server: string;
  readonly user: string;
  /** The server's pre-shared key (secret); absent when the profile uses certificates. */
  readonly psk?: string;
  /** Certificate authentication: our certificate, its key and the CA (file paths). */
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
  /** The user's password (secret); absent: given at connect time. */
  readonly password?: string;
  readonly natPolicy: NatPolicy;
  readonly defaultRoute: boolean;
  readonly routes: readonly string[];
  readonly usePeerDns: boolean;
  /** The PSK is shorter than MIN_PSK_LENGTH and the person said that is acceptable. */
  readonly allowWeakPsk: boolean;
}

/** Document marker and format version of a profile file. */
export const PROFILE_DOC_KEY = "oakley-client-profile";
export const PROFILE_DOC_VERSION = 1;

/** A 16-character key is the shortest we accept without --allow-weak-psk (offline guessing of Main Mode PSKs). */
export { MIN_PSK_LENGTH };

/** Document key <-> model field. */
const FIELDS = {
  name: "name",
  server: "server",
  user: "user",
  psk: "psk",
  password: "password",
  "nat-policy": "natPolicy",
  "default-route": "defaultRoute",
  routes: "routes",
  "use-peer-dns": "usePeerDns",
  "allow-weak-psk": "allowWeakPsk",
  cert: "cert",
  key: "key",
  ca: "ca",
} as const satisfies Record<string, keyof ClientProfile>;
type DocKey = keyof typeof FIELDS;
const DOC_KEYS = Object.keys(FIELDS) as DocKey[];

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOST_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** The message every weak-PSK refusal uses (client and server side). */
export function weakPskMessage(psk: string): string | undefined {
  const n = [...psk].length;
  return n < MIN_PSK_LENGTH
    ? `PSK is ${n} characters; use at least ${MIN_PSK_LENGTH} (or --allow-weak-psk)`
    : undefined;
}

export function isProfileName(s: string): boolean {
  return NAME_RE.test(s);
}

/** A profile name derived from a server address or host name (for generated profiles). */
export function profileNameFor(server: string): string {
  const s = server
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 64);
  return s === "" ? "vpn" : s;
}

function text(
  issues: ValidationIssue[],
  key: DocKey,
  v: unknown,
  opts: { max: number; what: string; example: string; secret?: boolean },
): string | undefined {
  if (typeof v === "number" && !opts.secret) v = String(v);
  if (typeof v !== "string" || v === "") {
    issues.push({
      path: key,
      message: `must be ${opts.what} (a non-empty text), e.g. ${key}: ${opts.example}`,
    });
    return undefined;
  }
  if ([...v].length > opts.max) {
    issues.push({ path: key, message: `is too long: at most ${opts.max} characters` });
    return undefined;
  }
  if (CONTROL_RE.test(v)) {
    issues.push({
      path: key,
      message: "contains a control character (line break, tab, …); remove it",
    });
    return undefined;
  }
  return v;
}

function bool(issues: ValidationIssue[], key: DocKey, v: unknown): boolean | undefined {
  if (v === undefined) return false;
  if (typeof v === "boolean") return v;
  issues.push({ path: key, message: `must be true or false (got ${JSON.stringify(v)})` });
  return undefined;
}

/** Checks an IPv4 network the way `oakley connect --route` does (prefix /8 to /30). */
export function checkRoute(v: string): string | undefined {
  const m = /^(.+)\/(\d{1,3})$/.exec(v);
  const bits = m ? Number(m[2]) : -1;
  if (!m || isIP(m[1] ?? "") !== 4 || bits < 8 || bits > 30)
    return `"${v}" is not an IPv4 network with a prefix from /8 to /30; write e.g. 10.8.0.0/24`;
  return undefined;
}

export interface CheckOptions {
  /** A stored row: unknown keys are a newer Oakley's fields, not typos. */
  readonly stored?: boolean;
  /** The PSK may be shorter than MIN_PSK_LENGTH (flag --allow-weak-psk). */
  readonly allowWeakPsk?: boolean;
}

export interface CheckedProfile {
  readonly value: ClientProfile | undefined;
  readonly issues: readonly ValidationIssue[];
  /** Keys this version does not know (only with `stored`). */
  readonly unknownKeys: readonly string[];
}

/** Reads a profile document body (document keys, see FIELDS); reports every problem at once. */
export function checkProfile(doc: unknown, opts: CheckOptions = {}): CheckedProfile {
  const issues: ValidationIssue[] = [];
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return {
      value: undefined,
      issues: [
        { path: "(document)", message: "expected a mapping of profile fields (key: value)" },
      ],
      unknownKeys: [],
    };
  }
  const o = doc as Record<string, unknown>;
  const unknownKeys: string[] = [];
  for (const k of Object.keys(o)) {
    if (k === PROFILE_DOC_KEY || (DOC_KEYS as string[]).includes(k)) continue;
    if (opts.stored) {
      unknownKeys.push(k);
      continue;
    }
    const hint = nearest(k, DOC_KEYS);
    issues.push({
      path: k,
      message: `unknown field${hint ? `; did you mean '${hint}'?` : `; known fields: ${DOC_KEYS.join(", ")}`}`,
    });
  }
  const name = text(issues, "name", o.name, {
    max: 64,
    what: "the profile's name",
    example: "office",
  });
  if (name !== undefined && !NAME_RE.test(name)) {
    issues.push({
      path: "name",
      message: `"${name}" is not a profile name: use letters, digits, '.', '-' and '_' (starting with a letter or digit, at most 64), e.g. office`,
    });
  }
  const server = text(issues, "server", o.server, {
    max: 253,
    what: "the server's address or host name",
    example: "vpn.example.com",
  });
  if (server !== undefined && isIP(server) !== 4 && !HOST_RE.test(server)) {
    issues.push({
      path: "server",
      message: `"${server}" is neither an IPv4 address nor a host name; write e.g. 198.51.100.7 or vpn.example.com`,
    });
  }
  const user = text(issues, "user", o.user, {
    max: 255,
    what: "your user name on the server",
    example: "alice",
  });
  const certFields = (["cert", "key", "ca"] as const).filter((k) => o[k] !== undefined);
  const paths: Partial<Record<"cert" | "key" | "ca", string>> = {};
  for (const k of certFields) {
    const v = text(issues, k, o[k], {
      max: 4096,
      what: `the path of ${k === "cert" ? "your certificate" : k === "key" ? "its private key" : "the CA certificate"} (PEM)`,
      example: `/etc/oakley/${k === "cert" ? "laptop.pem" : k === "key" ? "laptop.key" : "ca.pem"}`,
    });
    if (v !== undefined) paths[k] = v;
  }
  if (certFields.length > 0 && certFields.length < 3)
    for (const k of (["cert", "key", "ca"] as const).filter((x) => !certFields.includes(x)))
      issues.push({
        path: k,
        message: `is missing: cert, key and ca go together (--cert, --key, --ca FILE)`,
      });
  let psk: string | undefined;
  if (o.psk === undefined) {
    if (certFields.length === 0)
      issues.push({
        path: "psk",
        message:
          "is missing: the server's pre-shared key is needed (--psk-file FILE, or psk: in the file), or a certificate (--cert, --key, --ca)",
      });
  } else {
    psk = text(issues, "psk", o.psk, {
      max: 1024,
      what: "the server's pre-shared key",
      example: "(the key)",
      secret: true,
    });
  }
  const password =
    o.password === undefined
      ? undefined
      : text(issues, "password", o.password, {
          max: 255,
          what: "your password",
          example: "(the password)",
          secret: true,
        });
  let natPolicy: NatPolicy | undefined = 0;
  if (o["nat-policy"] !== undefined) {
    const v = o["nat-policy"];
    const r = typeof v === "number" || typeof v === "string" ? parseNatPolicy(v) : err("bad type");
    if (r.ok) natPolicy = r.value;
    else {
      natPolicy = undefined;
      issues.push({
        path: "nat-policy",
        message:
          "must be 0, 1 or 2: 0 = refuse servers behind NAT, 1 = allow a server behind NAT, 2 = allow both client and server behind NAT",
      });
    }
  }
  const defaultRoute = bool(issues, "default-route", o["default-route"]);
  const usePeerDns = bool(issues, "use-peer-dns", o["use-peer-dns"]);
  const allowWeakStored = bool(issues, "allow-weak-psk", o["allow-weak-psk"]);
  let routes: string[] | undefined = [];
  if (o.routes !== undefined) {
    if (!Array.isArray(o.routes) || !o.routes.every((r) => typeof r === "string")) {
      routes = undefined;
      issues.push({ path: "routes", message: "must be a list of networks, e.g. [10.20.0.0/16]" });
    } else {
      routes = [...new Set(o.routes as string[])];
      (o.routes as string[]).forEach((r, i) => {
        const m = checkRoute(r);
        if (m) issues.push({ path: `routes[${i}]`, message: m });
      });
    }
  }
  if (defaultRoute === true && routes !== undefined && routes.length > 0) {
    issues.push({
      path: "routes",
      message:
        "default-route already sends all traffic through the VPN; remove routes or default-route",
    });
  }
  const allowWeakPsk = opts.allowWeakPsk === true || allowWeakStored === true;
  if (psk !== undefined && !allowWeakPsk) {
    const weak = weakPskMessage(psk);
    if (weak) issues.push({ path: "psk", message: weak });
  }
  if (
    issues.length > 0 ||
    name === undefined ||
    server === undefined ||
    user === undefined ||
    natPolicy === undefined ||
    defaultRoute === undefined ||
    usePeerDns === undefined ||
    routes === undefined
  ) {
    return { value: undefined, issues, unknownKeys };
  }
  return {
    value: {
      name,
      server,
      user,
      ...(psk !== undefined ? { psk } : {}),
      ...paths,
      ...(password !== undefined ? { password } : {}),
      natPolicy,
      defaultRoute,
      routes,
      usePeerDns,
      allowWeakPsk: allowWeakPsk && psk !== undefined && weakPskMessage(psk) !== undefined,
    },
    issues,
    unknownKeys,
  };
}

/** The profile as a document body (document keys; defaults left out except nat-policy). */
export function profileToDoc(
  p: ClientProfile,
  opts: { includeSecrets: boolean },
): Record<string, unknown> {
  return {
    name: p.name,
    server: p.server,
    user: p.user,
    ...(opts.includeSecrets && p.psk !== undefined ? { psk: p.psk } : {}),
    ...(opts.includeSecrets && p.password !== undefined ? { password: p.password } : {}),
    "nat-policy": p.natPolicy,
    "default-route": p.defaultRoute,
    routes: [...p.routes],
    "use-peer-dns": p.usePeerDns,
    ...(p.allowWeakPsk ? { "allow-weak-psk": true } : {}),
    ...(p.cert !== undefined ? { cert: p.cert, key: p.key, ca: p.ca } : {}),
  };
}

/** The YAML a person imports with `oakley profile import FILE`. */
export function profileToYaml(
  p: ClientProfile,
  opts: { includeSecrets: boolean; comment?: string },
): string {
  const head = [
    "# Oakley client profile: oakley profile import FILE, then oakley connect NAME",
    ...(opts.comment ? opts.comment.split("\n").map((l) => `# ${l}`) : []),
    ...(opts.includeSecrets
      ? ["# Holds secrets (pre-shared key); keep this file private."]
      : [
          "# Secrets were left out (export with --include-secrets to keep them); add psk: before importing.",
        ]),
  ];
  const body = stringifyYaml(
    { [PROFILE_DOC_KEY]: PROFILE_DOC_VERSION, ...profileToDoc(p, opts) },
    { lineWidth: 0 },
  );
  return `${head.join("\n")}\n${body}`;
}

/** Parses a profile file: YAML (or JSON) with the `oakley-client-profile: 1` marker. */
export function parseProfileDocument(textIn: string): Result<Record<string, unknown>, StoreError> {
  let v: unknown;
  try {
    v = parseYaml(textIn, { maxAliasCount: 0 });
  } catch (e) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `not valid YAML/JSON: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`,
      ),
    );
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `not an Oakley client profile: expected a mapping starting with ${PROFILE_DOC_KEY}: ${PROFILE_DOC_VERSION}`,
      ),
    );
  }
  const o = v as Record<string, unknown>;
  const ver = o[PROFILE_DOC_KEY];
  if (ver === undefined) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `not an Oakley client profile: the key ${PROFILE_DOC_KEY}: ${PROFILE_DOC_VERSION} is missing (make one with oakley profile export or oakley client-config --format oakley)`,
      ),
    );
  }
  if (ver !== PROFILE_DOC_VERSION) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `${PROFILE_DOC_KEY}: ${JSON.stringify(ver)} is not a version this Oakley reads (it reads ${PROFILE_DOC_VERSION}); use a newer Oakley`,
      ),
    );
  }
  const { [PROFILE_DOC_KEY]: _marker, ...body } = o;
  return ok(body);
}
