/**
 * The CA directory of `oakley pki`: the file side of ca.ts. By default it is `pki/` next to the
 * policy store file (/var/lib/oakley/pki):
 *
 *   pki/                 0700
 *     ca.key             0600  CA private key (PKCS#8 PEM, not passphrase-protected: the
 *                              directory is root's, like the store holding the PSKs)
 *     ca.pem             0644  CA certificate (what servers and clients trust)
 *     crl.pem            0644  current CRL, re-signed on every revoke (number + 1)
 *     index.json         0600  what was issued: names, serials, dates, revocations
 *     issued/NAME-SERIAL.pem        certificate
 *     private/NAME-SERIAL.key 0600  its key
 *
 * Nothing is overwritten: keys are created with O_EXCL, the other files are replaced by
 * rename from a temporary file, `init --force` moves the old directory aside
 * (pki.replaced-TIMESTAMP) instead of deleting it, and a certificate's files stay after it is
 * revoked. A lock file (O_EXCL) keeps two commands from interleaving their index updates.
 */
import {
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate,
} from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { isIP } from "node:net";
import { dirname, join, resolve } from "node:path";
import { PkiErrorCode } from "../base/errors.js";
import { err, ok, type Result } from "../base/result.js";
import {
  crlInfo,
  fromPem,
  KEY_TYPES,
  type KeyType,
  keyTypeOf,
  makePkcs12,
  type P12Profile,
  REVOKE_REASONS,
  type RevokeReason,
  type SubjectAltName,
  serialFrom,
  signCertificate,
  signCrl,
  toPem,
} from "./ca.js";

export interface PkiError {
  readonly code: PkiErrorCode;
  /** One line for a person: what is wrong and the command that fixes it. */
  readonly message: string;
}

const pkiError = (code: PkiErrorCode, message: string): PkiError => ({ code, message });

/** What the store functions need from outside: the time and randomness. */
export interface PkiEnv {
  readonly now: () => Date;
  readonly random: (n: number) => Uint8Array;
}

export interface IssuedEntry {
  readonly name: string;
  readonly kind: "server" | "client";
  /** Hex, upper case, as `openssl x509 -serial` prints it. */
  readonly serial: string;
  readonly commonName: string;
  /** As people read them: "DNS:vpn.example.org", "IP:192.0.2.1", "email:alice@example.org". */
  readonly subjectAltNames: readonly string[];
  readonly keyType: KeyType;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Relative to the CA directory. */
  readonly cert: string;
  readonly key: string;
  readonly revoked?: { readonly at: string; readonly reason: RevokeReason };
}

interface IndexFile {
  readonly version: 1;
  readonly ca: {
    readonly commonName: string;
    readonly serial: string;
    readonly keyType: KeyType;
    readonly notAfter: string;
  };
  /** The number of the CRL last written (decimal string: RFC 5280 allows up to 20 octets). */
  readonly crlNumber: string;
  readonly certs: readonly IssuedEntry[];
}

export const DEFAULTS = {
  caDays: 3650,
  days: 825,
  crlDays: 365,
  caKey: "rsa-3072" as KeyType,
  key: "rsa-3072" as KeyType,
} as const;

/** Allowed certificate names: they become file names and subjects. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const DNS_RE =
  /^(?=.{1,253}$)(?:\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const EMAIL_RE = /^[A-Za-z0-9._+-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** The CA directory for a policy store file: `pki/` beside it. */
export function pkiDirFor(storePath: string): string {
  return join(dirname(resolve(storePath)), "pki");
}

export const caFiles = (dir: string) => ({
  key: join(dir, "ca.key"),
  cert: join(dir, "ca.pem"),
  crl: join(dir, "crl.pem"),
  index: join(dir, "index.json"),
  lock: join(dir, ".lock"),
});

function generateKey(t: KeyType): KeyObject {
  switch (t) {
    case "rsa-2048":
    case "rsa-3072":
    case "rsa-4096":
      return generateKeyPairSync("rsa", { modulusLength: Number(t.slice(4)) }).privateKey;
    case "ecdsa-p256":
      return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    case "ecdsa-p384":
      return generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey;
  }
}

export function parseKeyType(s: string): Result<KeyType, PkiError> {
  return (KEY_TYPES as readonly string[]).includes(s)
    ? ok(s as KeyType)
    : err(pkiError(PkiErrorCode.BadInput, `--key '${s}' is not one of ${KEY_TYPES.join(", ")}`));
}

export function parseDays(s: string, flag = "--days"): Result<number, PkiError> {
  const n = Number(s);
  return /^\d+$/.test(s) && n >= 1 && n <= 36500
    ? ok(n)
    : err(
        pkiError(PkiErrorCode.BadInput, `${flag} '${s}' must be a whole number of days, 1..36500`),
      );
}

export function parseReason(s: string): Result<RevokeReason, PkiError> {
  return Object.hasOwn(REVOKE_REASONS, s)
    ? ok(s as RevokeReason)
    : err(
        pkiError(
          PkiErrorCode.BadInput,
          `--reason '${s}' is not one of ${Object.keys(REVOKE_REASONS).join(", ")}`,
        ),
      );
}

function checkName(name: string): PkiError | undefined {
  if (!NAME_RE.test(name))
    return pkiError(
      PkiErrorCode.BadInput,
      `'${name}' cannot be a certificate name: use 1-128 letters, digits and . _ @ + - (starting with a letter or digit), e.g. alice or vpn.example.org`,
    );
  return undefined;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex").toUpperCase();
const DAY = 86_400_000;

function atomicWrite(path: string, data: string | Uint8Array, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode, flag: "w" });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** A new private file: never replaces one that exists. */
function createPrivate(path: string, data: string): void {
  writeFileSync(path, data, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
}

function ioError(what: string, e: unknown): PkiError {
  const code = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
  return pkiError(PkiErrorCode.Io, `${what} (${code})`);
}

async function withLock<T>(
  dir: string,
  fn: () => Promise<Result<T, PkiError>>,
): Promise<Result<T, PkiError>> {
  const lock = caFiles(dir).lock;
  let fd: number;
  try {
    fd = openSync(lock, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      return err(
        pkiError(
          PkiErrorCode.Busy,
          `another oakley pki command is working on ${dir}; if none is, remove ${lock}`,
        ),
      );
    return err(ioError(`cannot lock ${dir}`, e));
  }
  try {
    return await fn();
  } finally {
    closeSync(fd);
    rmSync(lock, { force: true });
  }
}

function noCa(dir: string): PkiError {
  return pkiError(
    PkiErrorCode.NoCa,
    `there is no CA in ${dir}; create one with oakley pki init (or name the store beside it with --store FILE)`,
  );
}

function readIndex(dir: string): Result<IndexFile, PkiError> {
  const f = caFiles(dir);
  if (!existsSync(f.index) || !existsSync(f.key)) return err(noCa(dir));
  let text: string;
  try {
    text = readFileSync(f.index, "utf8");
  } catch (e) {
    return err(ioError(`cannot read ${f.index}`, e));
  }
  const r = parseIndex(text);
  if (!r.ok)
    return err(
      pkiError(
        PkiErrorCode.Io,
        `${f.index} is damaged (${r.error.message}); restore it from a backup (the certificates are in ${dir}/issued)`,
      ),
    );
  return r;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isDate = (v: unknown): v is string =>
  typeof v === "string" && v.length <= 40 && !Number.isNaN(Date.parse(v));
const isKeyType = (v: unknown): v is KeyType =>
  typeof v === "string" && (KEY_TYPES as readonly string[]).includes(v);
const SERIAL_RE = /^[0-9A-F]{2,40}$/;

function checkEntry(c: unknown, i: number): string | undefined {
  if (!isObj(c)) return `certs[${i}] is not an object`;
  if (typeof c.name !== "string" || !NAME_RE.test(c.name)) return `certs[${i}].name`;
  if (c.kind !== "server" && c.kind !== "client") return `certs[${i}].kind`;
  if (typeof c.serial !== "string" || !SERIAL_RE.test(c.serial)) return `certs[${i}].serial`;
  if (typeof c.commonName !== "string") return `certs[${i}].commonName`;
  if (!Array.isArray(c.subjectAltNames) || !c.subjectAltNames.every((s) => typeof s === "string"))
    return `certs[${i}].subjectAltNames`;
  if (!isKeyType(c.keyType)) return `certs[${i}].keyType`;
  if (!isDate(c.notBefore) || !isDate(c.notAfter)) return `certs[${i}] dates`;
  // The file names follow from name and serial: an index cannot point outside the directory.
  if (c.cert !== `issued/${c.name}-${c.serial}.pem`) return `certs[${i}].cert`;
  if (c.key !== `private/${c.name}-${c.serial}.key`) return `certs[${i}].key`;
  if (c.revoked !== undefined) {
    const r = c.revoked;
    if (
      !isObj(r) ||
      !isDate(r.at) ||
      typeof r.reason !== "string" ||
      !Object.hasOwn(REVOKE_REASONS, r.reason)
    )
      return `certs[${i}].revoked`;
  }
  return undefined;
}

/** index.json, checked field by field: a damaged file is an error value, never a crash. */
export function parseIndex(text: string): Result<IndexFile, PkiError> {
  const bad = (what: string) => err(pkiError(PkiErrorCode.Io, `bad ${what}`));
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad("JSON");
  }
  if (!isObj(v) || v.version !== 1) return bad("version");
  const ca = v.ca;
  if (
    !isObj(ca) ||
    typeof ca.commonName !== "string" ||
    typeof ca.serial !== "string" ||
    !SERIAL_RE.test(ca.serial) ||
    !isKeyType(ca.keyType) ||
    !isDate(ca.notAfter)
  )
    return bad("ca");
  if (typeof v.crlNumber !== "string" || !/^\d{1,48}$/.test(v.crlNumber)) return bad("crlNumber");
  if (!Array.isArray(v.certs)) return bad("certs");
  for (const [i, c] of v.certs.entries()) {
    const e = checkEntry(c, i);
    if (e) return bad(e);
  }
  return ok(v as unknown as IndexFile);
}

function writeIndex(dir: string, idx: IndexFile): void {
  atomicWrite(caFiles(dir).index, `${JSON.stringify(idx, null, 2)}\n`, 0o600);
}

interface LoadedCa {
  readonly cert: Uint8Array;
  readonly key: KeyObject;
  readonly notAfter: Date;
}

function loadCa(dir: string): Result<LoadedCa, PkiError> {
  const f = caFiles(dir);
  try {
    const pem = readFileSync(f.cert, "utf8");
    const cert = fromPem("CERTIFICATE", pem);
    const key = createPrivateKey(readFileSync(f.key));
    return ok({ cert, key, notAfter: new Date(new X509Certificate(pem).validTo) });
  } catch (e) {
    return err(ioError(`cannot load the CA from ${dir}`, e));
  }
}

// ---------------------------------------------------------------------------- init

export interface InitOptions {
  readonly commonName: string;
  readonly keyType: KeyType;
  readonly days: number;
  readonly force: boolean;
}

export interface InitResult {
  readonly dir: string;
  readonly cert: string;
  readonly crl: string;
  /** Where the CA that --force replaced was moved. */
  readonly replacedTo?: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export async function initCa(
  dir: string,
  o: InitOptions,
  env: PkiEnv,
): Promise<Result<InitResult, PkiError>> {
  if (o.commonName.trim() === "" || o.commonName.length > 64 || CONTROL_CHARS.test(o.commonName))
    return err(
      pkiError(PkiErrorCode.BadInput, "--name must be 1-64 characters, without control characters"),
    );
  const f = caFiles(dir);
  let replacedTo: string | undefined;
  if (existsSync(f.key) || existsSync(f.cert) || existsSync(f.index)) {
    if (!o.force)
      return err(
        pkiError(
          PkiErrorCode.Exists,
          `${dir} already holds a CA; certificates it issued stop working if it is replaced. Give --force to make a new one (the old directory is kept as ${dir}.replaced-TIMESTAMP)`,
        ),
      );
    if (existsSync(f.lock))
      return err(
        pkiError(
          PkiErrorCode.Busy,
          `another oakley pki command is working on ${dir}; if none is, remove ${f.lock}`,
        ),
      );
    replacedTo = `${dir}.replaced-${env.now().toISOString().replace(/[:.]/g, "-")}`;
    try {
      renameSync(dir, replacedTo);
    } catch (e) {
      return err(ioError(`cannot move the old CA aside to ${replacedTo}`, e));
    }
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } catch (e) {
    return err(ioError(`cannot create ${dir}`, e));
  }
  return withLock(dir, async () => {
    const now = env.now();
    const key = generateKey(o.keyType);
    const serial = serialFrom(env.random(16));
    const notAfter = new Date(now.getTime() + o.days * DAY);
    const der = await signCertificate(
      {
        kind: "ca",
        commonName: o.commonName,
        subjectAltNames: [],
        subjectKey: key,
        serial,
        notBefore: new Date(now.getTime() - 5 * 60_000),
        notAfter,
      },
      { key },
    );
    const crl = await signCrl(
      {
        number: 1n,
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + DEFAULTS.crlDays * DAY),
        revoked: [],
      },
      { cert: der, key },
    );
    try {
      createPrivate(f.key, key.export({ type: "pkcs8", format: "pem" }) as string);
      atomicWrite(f.cert, toPem("CERTIFICATE", der), 0o644);
      atomicWrite(f.crl, toPem("X509 CRL", crl), 0o644);
      writeIndex(dir, {
        version: 1,
        ca: {
          commonName: o.commonName,
          serial: hex(serial),
          keyType: o.keyType,
          notAfter: notAfter.toISOString(),
        },
        crlNumber: "1",
        certs: [],
      });
    } catch (e) {
      return err(ioError(`cannot write the CA into ${dir}`, e));
    }
    return ok({ dir, cert: f.cert, crl: f.crl, ...(replacedTo ? { replacedTo } : {}) });
  });
}

// ---------------------------------------------------------------------------- issue

export interface IssueOptions {
  readonly name: string;
  /** Non-empty: a server certificate for these DNS names / addresses; empty: a client one. */
  readonly serverNames: readonly string[];
  readonly keyType: KeyType;
  readonly days: number;
}

export interface IssueResult {
  readonly entry: IssuedEntry;
  readonly certPath: string;
  readonly keyPath: string;
  readonly caPath: string;
  readonly warnings: readonly string[];
}

function ipBytes(s: string): Uint8Array | undefined {
  const v = isIP(s);
  if (v === 4) return Uint8Array.from(s.split(".").map(Number));
  if (v !== 6) return undefined;
  // Expand "::" and any embedded IPv4 tail into eight 16-bit groups.
  let t = s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4?.[1]) {
    const b = v4[1].split(".").map(Number);
    t = `${t.slice(0, -v4[1].length)}${(((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16)}:${(((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16)}`;
  }
  const [head = "", tail] = t.split("::");
  const h = head === "" ? [] : head.split(":");
  const tl = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups =
    tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill("0"), ...tl];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = Number.parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

function subjectNames(
  o: IssueOptions,
): Result<
  { kind: "server" | "client"; cn: string; sans: SubjectAltName[]; shown: string[] },
  PkiError
> {
  if (o.serverNames.length === 0) {
    if (o.name.includes("@")) {
      if (!EMAIL_RE.test(o.name))
        return err(pkiError(PkiErrorCode.BadInput, `'${o.name}' is not an email address`));
      return ok({
        kind: "client",
        cn: o.name,
        sans: [{ type: "email", value: o.name }],
        shown: [`email:${o.name}`],
      });
    }
    if (o.name.includes(".") && DNS_RE.test(o.name) && !/\.\d+$/.test(o.name))
      return ok({
        kind: "client",
        cn: o.name,
        sans: [{ type: "dns", value: o.name }],
        shown: [`DNS:${o.name}`],
      });
    return ok({ kind: "client", cn: o.name, sans: [], shown: [] });
  }
  const sans: SubjectAltName[] = [];
  const shown: string[] = [];
  for (const n of o.serverNames) {
    const ip = ipBytes(n);
    if (ip) {
      sans.push({ type: "ip", value: ip });
      shown.push(`IP:${n}`);
    } else if (DNS_RE.test(n) && !/(^|\.)\d+$/.test(n)) {
      sans.push({ type: "dns", value: n.toLowerCase() });
      shown.push(`DNS:${n.toLowerCase()}`);
    } else {
      return err(
        pkiError(
          PkiErrorCode.BadInput,
          // A name ending in a number is a mistyped address (no top-level domain is numeric).
          `--server-name '${n}' is neither a DNS name nor an IP address (e.g. --server-name vpn.example.org --server-name 198.51.100.7)`,
        ),
      );
    }
  }
  return ok({ kind: "server", cn: o.serverNames[0] ?? o.name, sans, shown });
}

/** The newest certificate by that name (revoked or not), if any. */
function latest(idx: IndexFile, name: string): IssuedEntry | undefined {
  return [...idx.certs].reverse().find((c) => c.name === name);
}

export async function issueCert(
  dir: string,
  o: IssueOptions,
  env: PkiEnv,
): Promise<Result<IssueResult, PkiError>> {
  const bad = checkName(o.name);
  if (bad) return err(bad);
  const names = subjectNames(o);
  if (!names.ok) return names;
  const first = readIndex(dir);
  if (!first.ok) return first;
  return withLock(dir, async () => {
    const r = readIndex(dir);
    if (!r.ok) return r;
    const idx = r.value;
    const now = env.now();
    const prev = latest(idx, o.name);
    if (prev && !prev.revoked && new Date(prev.notAfter) > now)
      return err(
        pkiError(
          PkiErrorCode.Exists,
          `'${o.name}' already has a certificate (serial ${prev.serial}, valid until ${prev.notAfter}); revoke it first with oakley pki revoke ${o.name}, or issue under another name`,
        ),
      );
    const ca = loadCa(dir);
    if (!ca.ok) return ca;
    if (ca.value.notAfter <= now)
      return err(
        pkiError(
          PkiErrorCode.Unusable,
          `the CA in ${dir} expired on ${ca.value.notAfter.toISOString()}; make a new one with oakley pki init --force`,
        ),
      );
    const warnings: string[] = [];
    let notAfter = new Date(now.getTime() + o.days * DAY);
    if (notAfter > ca.value.notAfter) {
      notAfter = ca.value.notAfter;
      warnings.push(
        `the certificate ends with the CA on ${notAfter.toISOString()}, not after ${o.days} days`,
      );
    }
    const key = generateKey(o.keyType);
    const serial = serialFrom(env.random(16));
    const notBefore = new Date(now.getTime() - 5 * 60_000);
    const der = await signCertificate(
      {
        kind: names.value.kind,
        commonName: names.value.cn,
        subjectAltNames: names.value.sans,
        subjectKey: key,
        serial,
        notBefore,
        notAfter,
      },
      { cert: ca.value.cert, key: ca.value.key },
    );
    const base = `${o.name}-${hex(serial)}`;
    const entry: IssuedEntry = {
      name: o.name,
      kind: names.value.kind,
      serial: hex(serial),
      commonName: names.value.cn,
      subjectAltNames: names.value.shown,
      keyType: o.keyType,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      cert: `issued/${base}.pem`,
      key: `private/${base}.key`,
    };
    try {
      mkdirSync(join(dir, "issued"), { recursive: true, mode: 0o755 });
      mkdirSync(join(dir, "private"), { recursive: true, mode: 0o700 });
      chmodSync(join(dir, "private"), 0o700);
      createPrivate(join(dir, entry.key), key.export({ type: "pkcs8", format: "pem" }) as string);
      atomicWrite(join(dir, entry.cert), toPem("CERTIFICATE", der), 0o644);
      writeIndex(dir, { ...idx, certs: [...idx.certs, entry] });
    } catch (e) {
      return err(ioError(`cannot write the certificate into ${dir}`, e));
    }
    return ok({
      entry,
      certPath: join(dir, entry.cert),
      keyPath: join(dir, entry.key),
      caPath: caFiles(dir).cert,
      warnings,
    });
  });
}

// ---------------------------------------------------------------------------- revoke / CRL

export interface CrlResult {
  readonly crlPath: string;
  readonly crlNumber: bigint;
  readonly revokedCount: number;
  readonly nextUpdate: Date;
}

async function writeCrl(
  dir: string,
  idx: IndexFile,
  now: Date,
  crlDays: number,
): Promise<Result<CrlResult, PkiError>> {
  const ca = loadCa(dir);
  if (!ca.ok) return ca;
  const number = BigInt(idx.crlNumber);
  const revoked = idx.certs.flatMap((c) =>
    c.revoked
      ? [
          {
            serial: Buffer.from(c.serial, "hex"),
            revokedAt: new Date(c.revoked.at),
            reason: c.revoked.reason,
          },
        ]
      : [],
  );
  const nextUpdate = new Date(now.getTime() + crlDays * DAY);
  const der = await signCrl(
    { number, thisUpdate: now, nextUpdate, revoked },
    { cert: ca.value.cert, key: ca.value.key },
  );
  const path = caFiles(dir).crl;
  try {
    atomicWrite(path, toPem("X509 CRL", der), 0o644);
  } catch (e) {
    return err(ioError(`cannot write ${path}`, e));
  }
  return ok({ crlPath: path, crlNumber: number, revokedCount: revoked.length, nextUpdate });
}

export async function revokeCert(
  dir: string,
  name: string,
  o: { reason: RevokeReason; crlDays: number },
  env: PkiEnv,
): Promise<Result<{ entry: IssuedEntry } & CrlResult, PkiError>> {
  const first = readIndex(dir);
  if (!first.ok) return first;
  return withLock(dir, async () => {
    const r = readIndex(dir);
    if (!r.ok) return r;
    const idx = r.value;
    const i = idx.certs.findLastIndex((c) => c.name === name && !c.revoked);
    if (i < 0) {
      const any = latest(idx, name);
      return err(
        any
          ? pkiError(
              PkiErrorCode.Unusable,
              `'${name}' (serial ${any.serial}) is already revoked; nothing to do`,
            )
          : unknownName(dir, name),
      );
    }
    const now = env.now();
    const old = idx.certs[i] as IssuedEntry;
    const entry: IssuedEntry = { ...old, revoked: { at: now.toISOString(), reason: o.reason } };
    const next: IndexFile = {
      ...idx,
      crlNumber: (BigInt(idx.crlNumber) + 1n).toString(),
      certs: idx.certs.map((c, j) => (j === i ? entry : c)),
    };
    // The index first: if the CRL write fails, `oakley pki crl` rebuilds it from the index.
    try {
      writeIndex(dir, next);
    } catch (e) {
      return err(ioError(`cannot write the index of ${dir}`, e));
    }
    const crl = await writeCrl(dir, next, now, o.crlDays);
    if (!crl.ok) return crl;
    return ok({ entry, ...crl.value });
  });
}

/** Re-signs the CRL with the next number (before its nextUpdate passes, or after a failed write). */
export async function refreshCrl(
  dir: string,
  o: { crlDays: number },
  env: PkiEnv,
): Promise<Result<CrlResult, PkiError>> {
  const first = readIndex(dir);
  if (!first.ok) return first;
  return withLock(dir, async () => {
    const r = readIndex(dir);
    if (!r.ok) return r;
    const next = { ...r.value, crlNumber: (BigInt(r.value.crlNumber) + 1n).toString() };
    try {
      writeIndex(dir, next);
    } catch (e) {
      return err(ioError(`cannot write the index of ${dir}`, e));
    }
    return writeCrl(dir, next, env.now(), o.crlDays);
  });
}

function unknownName(dir: string, name: string): PkiError {
  return pkiError(
    PkiErrorCode.UnknownName,
    `no certificate named '${name}' in ${dir}; see oakley pki list, or issue one with oakley pki issue ${name}`,
  );
}

// ---------------------------------------------------------------------------- list / show

export type CertStatus = "valid" | "revoked" | "expired";

export interface ListedCert extends IssuedEntry {
  readonly status: CertStatus;
}

export interface CaSummary {
  readonly dir: string;
  readonly ca: IndexFile["ca"] & { readonly cert: string };
  readonly crl: {
    readonly path: string;
    readonly number: string;
    /** From crl.pem itself; absent with `problem` when it cannot be read. */
    readonly nextUpdate?: string;
    readonly problem?: string;
  };
  readonly certs: readonly ListedCert[];
}

const statusOf = (c: IssuedEntry, now: Date): CertStatus =>
  c.revoked ? "revoked" : new Date(c.notAfter) <= now ? "expired" : "valid";

export function listCerts(dir: string, now: Date): Result<CaSummary, PkiError> {
  const r = readIndex(dir);
  if (!r.ok) return r;
  const f = caFiles(dir);
  let crl: CaSummary["crl"] = { path: f.crl, number: r.value.crlNumber };
  try {
    const info = crlInfo(fromPem("X509 CRL", readFileSync(f.crl, "utf8")));
    if (info.number?.toString() !== r.value.crlNumber)
      crl = {
        ...crl,
        problem: `${f.crl} is not the CRL the index names; re-sign it with oakley pki crl`,
      };
    else if (info.nextUpdate) crl = { ...crl, nextUpdate: info.nextUpdate.toISOString() };
  } catch (e) {
    crl = {
      ...crl,
      problem: `cannot read ${f.crl} (${e instanceof Error ? e.message : String(e)}); re-sign it with oakley pki crl`,
    };
  }
  return ok({
    dir,
    ca: { ...r.value.ca, cert: f.cert },
    crl,
    certs: r.value.certs.map((c) => ({ ...c, status: statusOf(c, now) })),
  });
}

export interface ShownCert extends ListedCert {
  readonly certPath: string;
  readonly keyPath: string;
  readonly sha256: string;
  readonly subject: string;
  readonly issuer: string;
}

export function showCert(dir: string, name: string, now: Date): Result<ShownCert, PkiError> {
  const r = readIndex(dir);
  if (!r.ok) return r;
  const c = latest(r.value, name);
  if (!c) return err(unknownName(dir, name));
  const certPath = join(dir, c.cert);
  try {
    const x = new X509Certificate(readFileSync(certPath));
    return ok({
      ...c,
      status: statusOf(c, now),
      certPath,
      keyPath: join(dir, c.key),
      sha256: x.fingerprint256,
      subject: x.subject,
      issuer: x.issuer,
    });
  } catch (e) {
    return err(ioError(`cannot read ${certPath}`, e));
  }
}

// ---------------------------------------------------------------------------- PKCS#12

export interface P12Result {
  readonly bytes: Uint8Array;
  readonly entry: IssuedEntry;
  readonly warnings: readonly string[];
}

/** The PKCS#12 bundle of NAME's current certificate, its key and the CA certificate. */
export async function pkcs12For(
  dir: string,
  name: string,
  o: { password: string; profile: P12Profile },
  env: PkiEnv,
): Promise<Result<P12Result, PkiError>> {
  const r = readIndex(dir);
  if (!r.ok) return r;
  const c = latest(r.value, name);
  if (!c)
    return err(
      pkiError(
        PkiErrorCode.UnknownName,
        `no certificate named '${name}' in ${dir}; issue one with oakley pki issue ${name}`,
      ),
    );
  const status = statusOf(c, env.now());
  if (status !== "valid")
    return err(
      pkiError(
        PkiErrorCode.Unusable,
        `the certificate of '${name}' (serial ${c.serial}) is ${status}; issue a new one with oakley pki issue ${name}`,
      ),
    );
  const ca = loadCa(dir);
  if (!ca.ok) return ca;
  const warnings: string[] = [];
  if (c.kind === "server")
    warnings.push(`'${name}' is a server certificate; a device connecting needs a client one`);
  try {
    const certPem = readFileSync(join(dir, c.cert), "utf8");
    const key = createPrivateKey(readFileSync(join(dir, c.key)));
    const mode = statSync(join(dir, c.key)).mode & 0o777;
    if (mode & 0o077)
      warnings.push(
        `${join(dir, c.key)} is readable by others (mode ${mode.toString(8)}); chmod 600 it`,
      );
    if (keyTypeOf(key) === undefined) warnings.push("the key is of a type this CA does not make");
    const bytes = await makePkcs12({
      cert: fromPem("CERTIFICATE", certPem),
      key,
      caCerts: [ca.value.cert],
      password: o.password,
      friendlyName: name,
      profile: o.profile,
      random: env.random,
    });
    return ok({ bytes, entry: c, warnings });
  } catch (e) {
    return err(ioError(`cannot read the certificate of '${name}' in ${dir}`, e));
  }
}
