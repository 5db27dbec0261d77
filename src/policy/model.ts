/**
 * The policy model: policies made of rules (filter list, filter action,
 * authentication methods, tunnel settings) with main-mode offers; users, pre-shared keys,
 * certificates, address pools and global settings. Every kind has a validator that turns an
 * unknown JSON value into a typed value or issues naming the field path and the fix.
 *
 * Model choices (documented deviations from the Windows IPsec policy model this mirrors):
 *  - Filter lists and filter actions are embedded in their rule, not shared objects; the rule
 *    names them (`filterListName`) for display. Sharing can be added as a new kind later.
 *  - Rules are evaluated first-match in order (Windows sorts by filter specificity); the
 *    evaluator documents this.
 *  - AH is not modelled (no L2TP/IPsec built-in OS client uses it).
 *  - Algorithms are names (names.ts), never numbers.
 *
 * OBJECT_VERSION is the version of the object format this code writes. An object with a
 * higher version, or with fields this code does not know, was written by a newer Oakley and is
 * read-only here (store.ts).
 */
import { X509Certificate } from "node:crypto";
import {
  type DynamicFilter,
  parseAddressSpec,
  parseCidr,
  parseIPv4,
  parseIp,
  parsePortSpec,
} from "./address.js";
import { Checker, type JsonObject, type Segment } from "./check.js";
import type { ValidationIssue } from "./errors.js";
import {
  AES_KEY_LENGTHS,
  DH_GROUP,
  type DhGroupName,
  ESP_ENCRYPTION,
  ESP_INTEGRITY,
  type EspEncryption,
  type EspIntegrity,
  IKE_ENCRYPTION,
  IKE_HASH,
  IP_PROTOCOL,
  type IkeEncryption,
  type IkeHash,
} from "./names.js";

export const OBJECT_VERSION = 1;

export const KINDS = ["policy", "user", "psk", "certificate", "pool", "settings"] as const;
export type Kind = (typeof KINDS)[number];

// ---------------------------------------------------------------------------------------------
// Types

export interface MainModeOffer {
  readonly encryption: IkeEncryption;
  /** Required for aes-cbc (128/192/256), absent for 3des-cbc. */
  readonly keyLength?: number;
  readonly hash: IkeHash;
  readonly dhGroup: DhGroupName;
  readonly lifetimeSeconds: number;
  /** Absent: no kilobyte limit on the Main Mode SA. */
  readonly lifetimeKilobytes?: number;
}

export interface MainMode {
  /** Ordered: the first acceptable offer wins. */
  readonly offers: readonly MainModeOffer[];
  /**
   * Per-policy override of settings.negotiateDh2048 (Windows' NegotiateDH2048): when false,
   * offers with modp2048 are neither sent nor accepted. Absent: follow the global setting.
   */
  readonly negotiateDh2048?: boolean;
}

export type Encapsulation = "transport" | "tunnel";

export interface QuickModeOffer {
  readonly encryption: EspEncryption;
  /** Required for AES (128/192/256), absent for 3des-cbc. */
  readonly keyLength?: number;
  /** "none" only (and always) with aes-gcm-16, which has its own integrity check. */
  readonly integrity: EspIntegrity;
  /** Perfect forward secrecy: a DH group for the Quick Mode KE, or "none". */
  readonly pfs: DhGroupName | "none";
  readonly lifetimeSeconds: number;
  readonly lifetimeKilobytes: number;
  readonly encapsulation: Encapsulation;
}

export type FilterAction =
  | { readonly type: "permit" }
  | { readonly type: "block" }
  | {
      readonly type: "negotiate";
      /** Ordered Quick Mode offers. */
      readonly offers: readonly QuickModeOffer[];
      /** Fall back to clear text with peers that do not speak IPsec. Off by default. */
      readonly allowClearFallback: boolean;
    };

export interface Filter {
  readonly description?: string;
  /** Address spec (address.ts): "any", "me", "dns", "192.0.2.0/24", "a-b"... */
  readonly source: string;
  readonly destination: string;
  /** "any", a name from names.IP_PROTOCOL, or a number 0..255. */
  readonly protocol: string | number;
  /** "any", "1701", "1000-2000"; only with tcp/udp. */
  readonly sourcePort: string;
  readonly destinationPort: string;
  /** Also match the reverse direction (destination -> source). */
  readonly mirrored: boolean;
}

export type AuthMethod =
  | { readonly method: "psk"; readonly psk: string }
  | {
      readonly method: "certificate";
      /** The CA (an isCa certificate) peers' certificates must chain to. */
      readonly ca: string;
      /**
       * Our own certificate (one holding privateKey) sent to peers. Absent: the store's one
       * non-CA certificate with a private key.
       */
      readonly certificate?: string;
    };

export type Tunnel =
  | { readonly mode: "transport" }
  | { readonly mode: "tunnel"; readonly localEndpoint: string; readonly remoteEndpoint: string };

export interface Rule {
  readonly name: string;
  readonly description?: string;
  readonly enabled: boolean;
  /** Display name of the filter list. */
  readonly filterListName?: string;
  readonly filters: readonly Filter[];
  readonly action: FilterAction;
  /** Ordered; required (non-empty) when the action is negotiate. */
  readonly authentication: readonly AuthMethod[];
  readonly tunnel: Tunnel;
}

export interface Policy {
  readonly name: string;
  readonly description?: string;
  readonly mainMode: MainMode;
  /** Ordered, first match wins. */
  readonly rules: readonly Rule[];
}

export type UserAuthProtocol = "mschapv2" | "chap-md5" | "pap";
export const USER_AUTH_PROTOCOLS: readonly UserAuthProtocol[] = ["mschapv2", "chap-md5", "pap"];

/** How a password is kept; see credentials.ts for the trade-off. */
export interface Credentials {
  /** MD4(UTF-16LE(password)) as hex (RFC 2759 section 8.3, NtPasswordHash): MS-CHAPv2. */
  readonly ntHash: string;
  /** Salted scrypt verifier (RFC 7914): PAP. */
  readonly pap: {
    readonly algorithm: "scrypt";
    readonly n: number;
    readonly r: number;
    readonly p: number;
    readonly salt: string;
    readonly hash: string;
  };
  /** Kept only when the user may use CHAP-MD5 (RFC 1994 needs the secret itself). */
  readonly cleartext?: string;
}

export interface User {
  readonly name: string;
  readonly enabled: boolean;
  readonly protocols: readonly UserAuthProtocol[];
  /** A fixed IPv4 address given by IPCP instead of a pool address. */
  readonly staticAddress?: string;
  /** Pool to take the address from (absent: settings.defaultPool). */
  readonly pool?: string;
  readonly credentials: Credentials;
}

/**
 * Shortest PSK accepted without an explicit opt-in (settings.allowWeakPsk, --allow-weak-psk):
 * one captured Main Mode exchange lets an attacker test guesses offline.
 */
export const MIN_PSK_LENGTH = 16;

export type PeerIdType = "address" | "fqdn" | "user-fqdn" | "key-id";
export interface Psk {
  readonly name: string;
  readonly secret: string;
  /** Use this key only for a peer whose IKE identity matches. Absent: any peer. */
  readonly peerId?: { readonly type: PeerIdType; readonly value: string };
}

export interface Certificate {
  readonly name: string;
  readonly pem: string;
  readonly isCa: boolean;
  /** PEM private key for our own certificate (secret). */
  readonly privateKey?: string;
}

export interface Pool {
  readonly name: string;
  readonly cidr: string;
  /** First and last address handed out (default: the whole subnet minus network/broadcast/first). */
  readonly first?: string;
  readonly last?: string;
  readonly dns: readonly string[];
  readonly wins: readonly string[];
}

export type NatPolicy = 0 | 1 | 2;
/**
 * FIPS mode: "provider" = approved algorithms only, through OpenSSL's FIPS provider (the
 * daemon refuses to start without it); "policy-only" = approved algorithms only, without a
 * validated module; "off".
 */
export type FipsMode = "off" | "policy-only" | "provider";
export const FIPS_MODES: readonly FipsMode[] = ["off", "policy-only", "provider"];
export interface Settings {
  /**
   * Client NAT policy, Windows' AssumeUDPEncapsulationContextOnSendRule:
   * 0 no SA to a server behind NAT; 1 allowed when the server is behind NAT; 2 also when both are.
   */
  readonly natPolicy: NatPolicy;
  /** Server-wide NegotiateDH2048 (as in Windows): offer and accept MODP 2048 (group 14). */
  readonly negotiateDh2048: boolean;
  /** Allow the legacy algorithms of names.LEGACY (3DES, MD5, MODP <= 1536). */
  readonly allowLegacyCrypto: boolean;
  /** Accept draft-ietf-ipsec-nat-t-ike-02 vendor IDs and encapsulation values old Windows sends. */
  readonly windowsNatCompat: boolean;
  readonly defaultPool?: string;
  /**
   * Accept pre-shared keys shorter than MIN_PSK_LENGTH (old clients whose key cannot change).
   * Written only when true, so that a store that never allowed them stays readable, unchanged,
   * by an Oakley that does not know the field.
   */
  readonly allowWeakPsk?: boolean;
  /**
   * FIPS mode for `oakley serve` when no --fips flag is given. Written only when not "off" (a
   * store without it stays readable by an Oakley that does not know the field).
   */
  readonly fips?: FipsMode;
  /**
   * RADIUS for `oakley serve` when no --radius flag is given (the flags' words, checked again
   * at start: servers must be reachable addresses, the secret file private). Absent: users from
   * the store.
   */
  readonly radius?: RadiusSetting;
}

/** `oakley policy radius …`: the same words as serve's --radius flags. */
export interface RadiusSetting {
  /** HOST[:PORT], tried in order (accounting on PORT + 1). */
  readonly servers: readonly string[];
  /** A file holding the shared secret (the secret itself is never in the store). */
  readonly secretFile: string;
  readonly nasIdentifier?: string;
  /** ADDR[:PORT] for Disconnect/CoA requests. */
  readonly daeListen?: string;
  /** Seconds between Interim-Updates when the server sends no Acct-Interim-Interval. */
  readonly interimInterval?: number;
}

export const DEFAULT_SETTINGS: Settings = {
  natPolicy: 0,
  negotiateDh2048: true,
  allowLegacyCrypto: false,
  windowsNatCompat: true,
};

export interface ModelOf {
  policy: Policy;
  user: User;
  psk: Psk;
  certificate: Certificate;
  pool: Pool;
  settings: Settings;
}

// ---------------------------------------------------------------------------------------------
// Validators. Each returns the typed value (defaults filled in) or undefined with issues in c.

const DH_NAMES = Object.keys(DH_GROUP) as DhGroupName[];
const LIFETIME_MAX_S = 7 * 24 * 3600;

function keyLength(
  c: Checker,
  o: Record<string, unknown>,
  p: readonly Segment[],
  isAes: boolean,
): number | undefined | null {
  if (isAes) {
    const v = c.oneOf(o, "keyLength", p, AES_KEY_LENGTHS);
    return v === undefined ? null : v;
  }
  if (o.keyLength !== undefined) {
    c.issue([...p, "keyLength"], "only AES takes a key length; remove this field");
    return null;
  }
  return undefined;
}

export function checkMainModeOffer(
  c: Checker,
  v: unknown,
  p: readonly Segment[],
): MainModeOffer | undefined {
  const o = c.object(v, p, [
    "encryption",
    "keyLength",
    "hash",
    "dhGroup",
    "lifetimeSeconds",
    "lifetimeKilobytes",
  ]);
  if (!o) return undefined;
  const encryption = c.oneOf(o, "encryption", p, Object.keys(IKE_ENCRYPTION) as IkeEncryption[]);
  const kl = keyLength(c, o, p, encryption === "aes-cbc");
  const hash = c.oneOf(o, "hash", p, Object.keys(IKE_HASH) as IkeHash[]);
  const dhGroup = c.oneOf(o, "dhGroup", p, DH_NAMES);
  const lifetimeSeconds = c.integer(o, "lifetimeSeconds", p, {
    min: 60,
    max: LIFETIME_MAX_S,
    default: 28800,
    unit: "seconds",
  });
  const lifetimeKilobytes = c.integer(o, "lifetimeKilobytes", p, {
    min: 1,
    max: 2 ** 40,
    optional: true,
    unit: "kilobytes",
  });
  if (!encryption || kl === null || !hash || !dhGroup || lifetimeSeconds === undefined)
    return undefined;
  return {
    encryption,
    ...(kl !== undefined ? { keyLength: kl } : {}),
    hash,
    dhGroup,
    lifetimeSeconds,
    ...(lifetimeKilobytes !== undefined ? { lifetimeKilobytes } : {}),
  };
}

export function checkQuickModeOffer(
  c: Checker,
  v: unknown,
  p: readonly Segment[],
): QuickModeOffer | undefined {
  const o = c.object(v, p, [
    "encryption",
    "keyLength",
    "integrity",
    "pfs",
    "lifetimeSeconds",
    "lifetimeKilobytes",
    "encapsulation",
  ]);
  if (!o) return undefined;
  const encryption = c.oneOf(o, "encryption", p, Object.keys(ESP_ENCRYPTION) as EspEncryption[]);
  const kl = keyLength(c, o, p, encryption === "aes-cbc" || encryption === "aes-gcm-16");
  const integrity = c.oneOf(o, "integrity", p, Object.keys(ESP_INTEGRITY) as EspIntegrity[]);
  if (encryption === "aes-gcm-16" && integrity !== undefined && integrity !== "none") {
    c.issue([...p, "integrity"], 'aes-gcm-16 carries its own integrity check; write "none"');
  }
  if (encryption !== undefined && encryption !== "aes-gcm-16" && integrity === "none") {
    c.issue(
      [...p, "integrity"],
      `${encryption} needs an integrity algorithm; write e.g. "sha2-256" or "sha1"`,
    );
  }
  const pfs = c.oneOf(o, "pfs", p, ["none", ...DH_NAMES] as const, { default: "none" });
  const lifetimeSeconds = c.integer(o, "lifetimeSeconds", p, {
    min: 60,
    max: LIFETIME_MAX_S,
    default: 3600,
    unit: "seconds",
  });
  const lifetimeKilobytes = c.integer(o, "lifetimeKilobytes", p, {
    min: 1,
    max: 2 ** 40,
    default: 250000,
    unit: "kilobytes",
  });
  const encapsulation = c.oneOf(o, "encapsulation", p, ["transport", "tunnel"] as const, {
    default: "transport",
  });
  if (!encryption || kl === null || !integrity || !pfs || lifetimeSeconds === undefined)
    return undefined;
  if (lifetimeKilobytes === undefined || !encapsulation) return undefined;
  return {
    encryption,
    ...(kl !== undefined ? { keyLength: kl } : {}),
    integrity,
    pfs,
    lifetimeSeconds,
    lifetimeKilobytes,
    encapsulation,
  };
}

const PORT_FIX = 'write e.g. "1701" or "1000-2000", or "any"';

export function checkFilter(c: Checker, v: unknown, p: readonly Segment[]): Filter | undefined {
  const o = c.object(v, p, [
    "description",
    "source",
    "destination",
    "protocol",
    "sourcePort",
    "destinationPort",
    "mirrored",
  ]);
  if (!o) return undefined;
  const description = c.string(o, "description", p, { optional: true, max: 1024 });
  const addr = (k: "source" | "destination"): string | undefined => {
    const s = c.string(o, k, p, { default: "any" });
    if (s === undefined) return undefined;
    const r = parseAddressSpec(s);
    if (!r.ok) {
      c.issue([...p, k], `${JSON.stringify(s)} is not an address spec; ${r.hint}`);
      return undefined;
    }
    return s;
  };
  const source = addr("source");
  const destination = addr("destination");
  let protocol: string | number | undefined = "any";
  const pv = o.protocol;
  if (pv !== undefined) {
    const names = ["any", ...Object.keys(IP_PROTOCOL)];
    if (typeof pv === "number" && Number.isInteger(pv) && pv >= 0 && pv <= 255) protocol = pv;
    else if (typeof pv === "string" && names.includes(pv)) protocol = pv;
    else {
      c.issue(
        [...p, "protocol"],
        `${JSON.stringify(pv)} is not a protocol; write one of ${names.map((n) => `"${n}"`).join(", ")} or a number 0..255`,
      );
      protocol = undefined;
    }
  }
  const portKind = protocol === "tcp" || protocol === "udp" || protocol === 6 || protocol === 17;
  const port = (k: "sourcePort" | "destinationPort"): string | undefined => {
    const raw = o[k];
    if (raw === undefined) return "any";
    const s = typeof raw === "number" ? String(raw) : raw;
    if (typeof s !== "string" || parsePortSpec(s) === undefined) {
      c.issue([...p, k], `${JSON.stringify(raw)} is not a port or range; ${PORT_FIX}`);
      return undefined;
    }
    if (s !== "any" && protocol !== undefined && !portKind) {
      c.issue(
        [...p, k],
        `ports apply only to tcp and udp; set protocol to "tcp" or "udp", or write "any"`,
      );
      return undefined;
    }
    return s;
  };
  const sourcePort = port("sourcePort");
  const destinationPort = port("destinationPort");
  const mirrored = c.boolean(o, "mirrored", p, true);
  if (source === undefined || destination === undefined || protocol === undefined) return undefined;
  if (sourcePort === undefined || destinationPort === undefined || mirrored === undefined)
    return undefined;
  return {
    ...(description !== undefined ? { description } : {}),
    source,
    destination,
    protocol,
    sourcePort,
    destinationPort,
    mirrored,
  };
}

function checkAction(c: Checker, v: unknown, p: readonly Segment[]): FilterAction | undefined {
  if (!c.object(v, p, ["type", "offers", "allowClearFallback"])) return undefined;
  const o = v as Record<string, unknown>;
  const type = c.oneOf(o, "type", p, ["permit", "block", "negotiate"] as const);
  if (type === undefined) return undefined;
  if (type !== "negotiate") {
    for (const k of ["offers", "allowClearFallback"]) {
      if (o[k] !== undefined)
        c.issue([...p, k], `only a "negotiate" action has ${k}; remove it or set type: negotiate`);
    }
    return { type };
  }
  const arr = c.array(o, "offers", p, { min: 1, max: 64, what: "quick-mode offers" });
  const offers = (arr ?? []).map((x, i) => checkQuickModeOffer(c, x, [...p, "offers", i]));
  const allowClearFallback = c.boolean(o, "allowClearFallback", p, false);
  if (!arr || offers.some((x) => x === undefined) || allowClearFallback === undefined)
    return undefined;
  return { type, offers: offers as QuickModeOffer[], allowClearFallback };
}

function checkAuth(c: Checker, v: unknown, p: readonly Segment[]): AuthMethod | undefined {
  const o = c.object(v, p, ["method", "psk", "ca", "certificate"]);
  if (!o) return undefined;
  const method = c.oneOf(o, "method", p, ["psk", "certificate"] as const);
  if (method === "psk") {
    if (o.ca !== undefined)
      c.issue([...p, "ca"], 'only method "certificate" names a CA; remove it');
    if (o.certificate !== undefined)
      c.issue([...p, "certificate"], 'only method "certificate" names our certificate; remove it');
    const psk = c.name(o, "psk", p);
    return psk === undefined ? undefined : { method, psk };
  }
  if (method === "certificate") {
    if (o.psk !== undefined)
      c.issue([...p, "psk"], 'only method "psk" names a pre-shared key; remove it');
    const ca = c.name(o, "ca", p);
    const own = o.certificate === undefined ? undefined : c.name(o, "certificate", p);
    if (ca === undefined || (o.certificate !== undefined && own === undefined)) return undefined;
    return { method, ca, ...(own !== undefined ? { certificate: own } : {}) };
  }
  return undefined;
}

function checkTunnel(c: Checker, v: unknown, p: readonly Segment[]): Tunnel | undefined {
  const o = c.object(v, p, ["mode", "localEndpoint", "remoteEndpoint"]);
  if (!o) return undefined;
  const mode = c.oneOf(o, "mode", p, ["transport", "tunnel"] as const);
  if (mode === "transport") {
    for (const k of ["localEndpoint", "remoteEndpoint"]) {
      if (o[k] !== undefined)
        c.issue(
          [...p, k],
          'transport mode has no tunnel endpoints; remove it or write mode: "tunnel"',
        );
    }
    return { mode };
  }
  if (mode !== "tunnel") return undefined;
  const ep = (k: "localEndpoint" | "remoteEndpoint"): string | undefined => {
    const s = c.string(o, k, p, { what: 'an IP address such as "192.0.2.1"' });
    if (s !== undefined && !parseIp(s)) {
      c.issue(
        [...p, k],
        `${JSON.stringify(s)} is not an IP address; write e.g. "192.0.2.1" or "2001:db8::1"`,
      );
      return undefined;
    }
    return s;
  };
  const localEndpoint = ep("localEndpoint");
  const remoteEndpoint = ep("remoteEndpoint");
  if (localEndpoint === undefined || remoteEndpoint === undefined) return undefined;
  return { mode, localEndpoint, remoteEndpoint };
}

export function checkRule(c: Checker, v: unknown, p: readonly Segment[]): Rule | undefined {
  const o = c.object(v, p, [
    "name",
    "description",
    "enabled",
    "filterListName",
    "filters",
    "action",
    "authentication",
    "tunnel",
  ]);
  if (!o) return undefined;
  const name = c.name(o, "name", p);
  const description = c.string(o, "description", p, { optional: true, max: 1024 });
  const enabled = c.boolean(o, "enabled", p, true);
  const filterListName = c.string(o, "filterListName", p, { optional: true, max: 256 });
  const fa = c.array(o, "filters", p, { min: 1, max: 1000, what: "filters" });
  const filters = (fa ?? []).map((x, i) => checkFilter(c, x, [...p, "filters", i]));
  const action = checkAction(c, o.action, [...p, "action"]);
  const aa = c.array(o, "authentication", p, {
    optional: true,
    max: 16,
    what: "authentication methods",
  });
  const authentication = (aa ?? []).map((x, i) => checkAuth(c, x, [...p, "authentication", i]));
  const tunnel =
    o.tunnel === undefined
      ? ({ mode: "transport" } as const)
      : checkTunnel(c, o.tunnel, [...p, "tunnel"]);
  if (action?.type === "negotiate") {
    if (aa !== undefined && aa.length === 0) {
      c.issue(
        [...p, "authentication"],
        'a "negotiate" rule needs at least one method; add e.g. {method: psk, psk: "default"}',
      );
    }
    if (tunnel) {
      action.offers.forEach((off, i) => {
        if (off.encapsulation !== tunnel.mode) {
          c.issue(
            [...p, "action", "offers", i, "encapsulation"],
            `is "${off.encapsulation}" but the rule's tunnel mode is "${tunnel.mode}"; make them the same`,
          );
        }
      });
    }
  }
  if (
    name === undefined ||
    enabled === undefined ||
    !fa ||
    filters.some((f) => f === undefined) ||
    !action
  )
    return undefined;
  if (!aa || authentication.some((a) => a === undefined) || !tunnel) return undefined;
  return {
    name,
    ...(description !== undefined ? { description } : {}),
    enabled,
    ...(filterListName !== undefined ? { filterListName } : {}),
    filters: filters as Filter[],
    action,
    authentication: authentication as AuthMethod[],
    tunnel,
  };
}

export function checkPolicy(c: Checker, v: unknown): Policy | undefined {
  const o = c.object(v, [], ["name", "description", "mainMode", "rules"]);
  if (!o) return undefined;
  const name = c.name(o, "name", []);
  const description = c.string(o, "description", [], { optional: true, max: 1024 });
  const mm = c.object(o.mainMode, ["mainMode"], ["offers", "negotiateDh2048"]);
  let mainMode: MainMode | undefined;
  if (mm) {
    const arr = c.array(mm, "offers", ["mainMode"], { min: 1, max: 64, what: "main-mode offers" });
    const offers = (arr ?? []).map((x, i) => checkMainModeOffer(c, x, ["mainMode", "offers", i]));
    const nd =
      mm.negotiateDh2048 === undefined ? undefined : c.boolean(mm, "negotiateDh2048", ["mainMode"]);
    if (arr && !offers.some((x) => x === undefined)) {
      mainMode = {
        offers: offers as MainModeOffer[],
        ...(nd !== undefined ? { negotiateDh2048: nd } : {}),
      };
    }
  }
  const ra = c.array(o, "rules", [], { min: 0, max: 1000, what: "rules" });
  const rules = (ra ?? []).map((x, i) => checkRule(c, x, ["rules", i]));
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (!r) return;
    if (seen.has(r.name))
      c.issue(
        ["rules", i, "name"],
        `rule name "${r.name}" is used twice; give each rule its own name`,
      );
    seen.add(r.name);
  });
  if (name === undefined || !mainMode || !ra || rules.some((r) => r === undefined))
    return undefined;
  return {
    name,
    ...(description !== undefined ? { description } : {}),
    mainMode,
    rules: rules as Rule[],
  };
}

function checkCredentials(c: Checker, v: unknown, p: readonly Segment[]): Credentials | undefined {
  const o = c.object(v, p, ["ntHash", "pap", "cleartext"]);
  if (!o) return undefined;
  const ntHash = c.string(o, "ntHash", p, { what: "32 hex digits" });
  if (ntHash !== undefined && !/^[0-9a-f]{32}$/.test(ntHash))
    c.issue([...p, "ntHash"], "must be 32 lower-case hex digits");
  const pp = [...p, "pap"];
  const po = c.object(o.pap, pp, ["algorithm", "n", "r", "p", "salt", "hash"]);
  let pap: Credentials["pap"] | undefined;
  if (po) {
    const algorithm = c.oneOf(po, "algorithm", pp, ["scrypt"] as const);
    const n = c.integer(po, "n", pp, { min: 2, max: 2 ** 24 });
    if (n !== undefined && (n & (n - 1)) !== 0)
      c.issue([...pp, "n"], "scrypt N must be a power of two");
    const r = c.integer(po, "r", pp, { min: 1, max: 64 });
    const pr = c.integer(po, "p", pp, { min: 1, max: 64 });
    const salt = c.string(po, "salt", pp, { min: 16, max: 256, what: "base64 text" });
    const hash = c.string(po, "hash", pp, { min: 16, max: 256, what: "base64 text" });
    for (const [k, s] of [
      ["salt", salt],
      ["hash", hash],
    ] as const) {
      if (s !== undefined && !/^[A-Za-z0-9+/]+=*$/.test(s)) c.issue([...pp, k], "must be base64");
    }
    if (algorithm && n !== undefined && r !== undefined && pr !== undefined && salt && hash) {
      pap = { algorithm, n, r, p: pr, salt, hash };
    }
  }
  const cleartext = c.string(o, "cleartext", p, { optional: true, min: 1, max: 256 });
  if (ntHash === undefined || !pap) return undefined;
  return { ntHash, pap, ...(cleartext !== undefined ? { cleartext } : {}) };
}

export function checkUser(c: Checker, v: unknown): User | undefined {
  const o = c.object(
    v,
    [],
    ["name", "enabled", "protocols", "staticAddress", "pool", "credentials"],
  );
  if (!o) return undefined;
  const name = c.name(o, "name", []);
  const enabled = c.boolean(o, "enabled", [], true);
  let protocols: UserAuthProtocol[] | undefined = ["mschapv2"];
  if (o.protocols !== undefined) {
    const arr = c.array(o, "protocols", [], { min: 1, max: 3, what: "authentication protocols" });
    const got = (arr ?? []).map((x, i) =>
      c.oneOf({ v: x }, "v", ["protocols", i], USER_AUTH_PROTOCOLS),
    );
    protocols = arr && !got.some((x) => x === undefined) ? (got as UserAuthProtocol[]) : undefined;
    if (protocols && new Set(protocols).size !== protocols.length) {
      c.issue(["protocols"], "lists a protocol twice; list each once");
    }
  }
  const staticAddress = c.string(o, "staticAddress", [], { optional: true });
  if (staticAddress !== undefined && !parseIPv4(staticAddress)) {
    c.issue(
      ["staticAddress"],
      `${JSON.stringify(staticAddress)} is not an IPv4 address (IPCP hands out IPv4); write e.g. "10.8.0.20"`,
    );
  }
  const pool = o.pool === undefined ? undefined : c.name(o, "pool", []);
  if (staticAddress !== undefined && pool !== undefined) {
    c.issue(["pool"], "a user with a staticAddress takes no pool address; remove one of them");
  }
  const credentials = checkCredentials(c, o.credentials, ["credentials"]);
  if (protocols?.includes("chap-md5") && credentials && credentials.cleartext === undefined) {
    c.issue(
      ["protocols"],
      'CHAP-MD5 needs the password itself (RFC 1994), which is not stored for this user; set the password again with CHAP-MD5 allowed, or remove "chap-md5"',
    );
  }
  if (name === undefined || enabled === undefined || !protocols || !credentials) return undefined;
  return {
    name,
    enabled,
    protocols,
    ...(staticAddress !== undefined ? { staticAddress } : {}),
    ...(pool !== undefined ? { pool } : {}),
    credentials,
  };
}

const PEER_ID_TYPES: readonly PeerIdType[] = ["address", "fqdn", "user-fqdn", "key-id"];

export function checkPsk(c: Checker, v: unknown): Psk | undefined {
  const o = c.object(v, [], ["name", "secret", "peerId"]);
  if (!o) return undefined;
  const name = c.name(o, "name", []);
  const secret = c.string(o, "secret", [], { min: 1, max: 1024, what: "the shared secret" });
  let peerId: Psk["peerId"];
  let bad = false;
  if (o.peerId !== undefined) {
    const po = c.object(o.peerId, ["peerId"], ["type", "value"]);
    const type = po ? c.oneOf(po, "type", ["peerId"], PEER_ID_TYPES) : undefined;
    const value = po ? c.string(po, "value", ["peerId"], { min: 1, max: 255 }) : undefined;
    if (type === "address" && value !== undefined && !parseIp(value)) {
      c.issue(
        ["peerId", "value"],
        `${JSON.stringify(value)} is not an IP address; write e.g. "198.51.100.7"`,
      );
    }
    if (type && value !== undefined) peerId = { type, value };
    else bad = true;
  }
  if (name === undefined || secret === undefined || bad) return undefined;
  return { name, secret, ...(peerId ? { peerId } : {}) };
}

export function checkCertificate(c: Checker, v: unknown): Certificate | undefined {
  const o = c.object(v, [], ["name", "pem", "isCa", "privateKey"]);
  if (!o) return undefined;
  const name = c.name(o, "name", []);
  const pem = c.string(o, "pem", [], {
    max: 65536,
    what: "a PEM certificate (-----BEGIN CERTIFICATE-----…)",
  });
  const isCa = c.boolean(o, "isCa", [], false);
  if (pem !== undefined) {
    let cert: X509Certificate | undefined;
    try {
      const looksPem = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(pem);
      cert = looksPem ? new X509Certificate(pem) : undefined;
    } catch {
      cert = undefined;
    }
    if (!cert) {
      c.issue(
        ["pem"],
        "is not a PEM X.509 certificate; paste the text from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----",
      );
    } else if (isCa === true && !cert.ca) {
      c.issue(
        ["isCa"],
        "the certificate's basicConstraints do not say CA:TRUE; import the CA certificate itself, or write isCa: false",
      );
    }
  }
  const privateKey = c.string(o, "privateKey", [], { optional: true, max: 65536 });
  if (privateKey !== undefined && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) {
    c.issue(
      ["privateKey"],
      "is not a PEM private key; paste the text from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----",
    );
  }
  if (name === undefined || pem === undefined || isCa === undefined) return undefined;
  return { name, pem, isCa, ...(privateKey !== undefined ? { privateKey } : {}) };
}

export function checkPool(c: Checker, v: unknown): Pool | undefined {
  const o = c.object(v, [], ["name", "cidr", "first", "last", "dns", "wins"]);
  if (!o) return undefined;
  const name = c.name(o, "name", []);
  const cidr = c.string(o, "cidr", [], { what: 'an IPv4 subnet such as "10.8.0.0/24"' });
  const net = cidr === undefined ? null : parseCidr(cidr);
  if (cidr !== undefined && (net?.from.family !== 4 || net.prefix > 30)) {
    c.issue(
      ["cidr"],
      `${JSON.stringify(cidr)} is not an IPv4 subnet of at least 4 addresses with zero host bits; write e.g. "10.8.0.0/24"`,
    );
  }
  const inside = (k: "first" | "last"): string | undefined => {
    const s = c.string(o, k, [], { optional: true });
    if (s === undefined) return undefined;
    const a = parseIPv4(s);
    if (!a || (net && (a.value <= net.from.value || a.value >= net.to.value))) {
      c.issue(
        [k],
        `${JSON.stringify(s)} is not a host address inside ${cidr ?? "the pool's cidr"}`,
      );
    }
    return s;
  };
  const first = inside("first");
  const last = inside("last");
  if (first !== undefined && last !== undefined) {
    const a = parseIPv4(first);
    const b = parseIPv4(last);
    if (a && b && a.value > b.value) c.issue(["last"], "must not be below first");
  }
  const addrs = (k: "dns" | "wins"): string[] | undefined => {
    const arr = c.array(o, k, [], { optional: true, max: 4, what: "IPv4 addresses" });
    if (!arr) return undefined;
    let good = true;
    arr.forEach((x, i) => {
      if (typeof x !== "string" || !parseIPv4(x)) {
        c.issue([k, i], `${JSON.stringify(x)} is not an IPv4 address; write e.g. "192.0.2.53"`);
        good = false;
      }
    });
    return good ? (arr as string[]) : undefined;
  };
  const dns = addrs("dns");
  const wins = addrs("wins");
  if (name === undefined || cidr === undefined || !dns || !wins) return undefined;
  return {
    name,
    cidr,
    ...(first !== undefined ? { first } : {}),
    ...(last !== undefined ? { last } : {}),
    dns,
    wins,
  };
}

export function checkSettings(c: Checker, v: unknown): Settings | undefined {
  const o = c.object(
    v,
    [],
    [
      "natPolicy",
      "negotiateDh2048",
      "allowLegacyCrypto",
      "windowsNatCompat",
      "defaultPool",
      "allowWeakPsk",
      "fips",
      "radius",
    ],
  );
  if (!o) return undefined;
  const natPolicy = c.oneOf(o, "natPolicy", [], [0, 1, 2] as const, {
    default: DEFAULT_SETTINGS.natPolicy,
  });
  const negotiateDh2048 = c.boolean(o, "negotiateDh2048", [], DEFAULT_SETTINGS.negotiateDh2048);
  const allowLegacyCrypto = c.boolean(
    o,
    "allowLegacyCrypto",
    [],
    DEFAULT_SETTINGS.allowLegacyCrypto,
  );
  const windowsNatCompat = c.boolean(o, "windowsNatCompat", [], DEFAULT_SETTINGS.windowsNatCompat);
  const defaultPool = o.defaultPool === undefined ? undefined : c.name(o, "defaultPool", []);
  const allowWeakPsk = c.boolean(o, "allowWeakPsk", [], false);
  if (allowWeakPsk === undefined) return undefined;
  const fips = c.oneOf(o, "fips", [], FIPS_MODES, { default: "off" });
  if (fips === undefined) return undefined;
  if (natPolicy === undefined || negotiateDh2048 === undefined || allowLegacyCrypto === undefined)
    return undefined;
  if (windowsNatCompat === undefined) return undefined;
  const radius = o.radius === undefined ? undefined : checkRadiusSetting(c, o.radius);
  if (o.radius !== undefined && radius === undefined) return undefined;
  return {
    natPolicy,
    negotiateDh2048,
    allowLegacyCrypto,
    windowsNatCompat,
    ...(defaultPool !== undefined ? { defaultPool } : {}),
    ...(allowWeakPsk ? { allowWeakPsk } : {}),
    ...(fips !== "off" ? { fips } : {}),
    ...(radius ? { radius } : {}),
  };
}

function checkRadiusSetting(c: Checker, v: unknown): RadiusSetting | undefined {
  const p = ["radius"];
  const o = c.object(v, p, [
    "servers",
    "secretFile",
    "nasIdentifier",
    "daeListen",
    "interimInterval",
  ]);
  if (!o) return undefined;
  const list = c.array(o, "servers", p, { min: 1, max: 8, what: "RADIUS servers (HOST[:PORT])" });
  const servers: string[] = [];
  for (const [i, s] of (list ?? []).entries()) {
    if (typeof s !== "string" || s.length === 0 || s.length > 64)
      c.issue([...p, "servers", i], 'must be HOST[:PORT], e.g. "192.0.2.10:1812"');
    else servers.push(s);
  }
  const secretFile = c.string(o, "secretFile", p, { min: 1, max: 4096, what: "a file path" });
  const nasIdentifier = c.string(o, "nasIdentifier", p, { optional: true, min: 1, max: 253 });
  const daeListen = c.string(o, "daeListen", p, { optional: true, min: 1, max: 64 });
  const interimInterval =
    o.interimInterval === undefined
      ? undefined
      : c.integer(o, "interimInterval", p, { min: 60, max: 86_400, unit: "seconds" });
  if (!list || servers.length !== list.length || secretFile === undefined) return undefined;
  if (o.interimInterval !== undefined && interimInterval === undefined) return undefined;
  return {
    servers,
    secretFile,
    ...(nasIdentifier !== undefined ? { nasIdentifier } : {}),
    ...(daeListen !== undefined ? { daeListen } : {}),
    ...(interimInterval !== undefined ? { interimInterval } : {}),
  };
}

const CHECKERS: { [K in Kind]: (c: Checker, v: unknown) => ModelOf[K] | undefined } = {
  policy: checkPolicy,
  user: checkUser,
  psk: checkPsk,
  certificate: checkCertificate,
  pool: checkPool,
  settings: checkSettings,
};

export interface Checked<K extends Kind> {
  readonly value: ModelOf[K] | undefined;
  readonly issues: readonly ValidationIssue[];
  /** JSON pointer -> value, for fields this version does not know (preserve mode only). */
  readonly extensions: Readonly<Record<string, JsonObject[string]>>;
}

/** Validates a value of a kind. `prefix` prefixes issue paths (e.g. "policies[0]"). */
export function checkKind<K extends Kind>(
  kind: K,
  v: unknown,
  mode: "strict" | "preserve",
  prefix = "",
): Checked<K> {
  const c = new Checker(mode, prefix);
  const value = CHECKERS[kind](c, v) as ModelOf[K] | undefined;
  return { value: c.ok ? value : undefined, issues: c.issues, extensions: c.extensions };
}

/** Names of other objects an object refers to (kept in link tables; checked on every write). */
export function referencesOf<K extends Kind>(
  kind: K,
  v: ModelOf[K],
): { psk: string[]; certificate: string[]; pool: string[] } {
  const out = { psk: [] as string[], certificate: [] as string[], pool: [] as string[] };
  if (kind === "policy") {
    for (const r of (v as Policy).rules) {
      for (const a of r.authentication) {
        if (a.method === "psk") out.psk.push(a.psk);
        else {
          out.certificate.push(a.ca);
          if (a.certificate !== undefined) out.certificate.push(a.certificate);
        }
      }
    }
  } else if (kind === "user") {
    const u = v as User;
    if (u.pool !== undefined) out.pool.push(u.pool);
  } else if (kind === "settings") {
    const s = v as Settings;
    if (s.defaultPool !== undefined) out.pool.push(s.defaultPool);
  }
  out.psk = [...new Set(out.psk)];
  out.certificate = [...new Set(out.certificate)];
  return out;
}

export function dynamicFiltersOf(p: Policy): DynamicFilter[] {
  const out = new Set<DynamicFilter>();
  for (const r of p.rules) {
    for (const f of r.filters) {
      for (const s of [f.source, f.destination]) {
        const a = parseAddressSpec(s);
        if (a.ok && a.value.kind === "dynamic") out.add(a.value.which);
      }
    }
  }
  return [...out];
}
