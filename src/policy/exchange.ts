/**
 * Import and export of the whole store as a readable YAML or JSON document.
 *
 * Document shape (YAML shown):
 *   format: oakley-policy-store
 *   formatVersion: 1
 *   settings: {natPolicy: 0, negotiateDh2048: true, ...}
 *   psks: [{name, secret, peerId?}]
 *   certificates: [{name, pem, isCa, privateKey?}]
 *   pools: [{name, cidr, first?, last?, dns, wins}]
 *   users: [{name, enabled, protocols, staticAddress?, pool?, credentials | password}]
 *   policies: [{name, assigned, persistent, persistentOrder, description?, mainMode, rules}]
 * An object written by a newer Oakley carries `objectVersion` (when above ours) and
 * `extensions` (JSON pointer -> value of the fields this version does not understand); such an
 * entry is imported verbatim and stays read-only. Anywhere else an unknown field is an error
 * with a did-you-mean, because in a hand-written file it is a typo.
 *
 * Secrets (psk.secret, certificate.privateKey, user.credentials) are exported as "<redacted>"
 * unless includeSecrets is set. Importing "<redacted>" keeps the secret of the object of the
 * same name already in the store (so an export without secrets can be edited and re-imported),
 * and is an error naming the field when there is none. A user entry may give `password`
 * instead of `credentials`; the credentials are derived on import (credentials.ts).
 *
 * Import is one transaction: everything is validated first (all issues reported together, each
 * with its field path and fix), then applied all or nothing. Mode "merge" creates and updates
 * the named objects; mode "replace" also deletes objects the document does not list.
 * Round trip: export -> import (replace, into any store) -> export gives the same document.
 */
import { randomBytes } from "node:crypto";
import YAML from "yaml";
import { err, ok, type Result } from "../base/result.js";
import {
  type Json,
  type JsonObject,
  deleteAtPointer,
  describe,
  isJsonObject,
  nearest,
} from "./check.js";
import { makeCredentials, type RandomBytes } from "./credentials.js";
import { type StoreError, StoreErrorCode, type ValidationIssue, storeError } from "./errors.js";
import { checkKind, type Kind, OBJECT_VERSION, type User } from "./model.js";
import { STORE_FORMAT } from "./schema.js";
import type { ObjectKind, PolicyStore, StoredObject, StoredPolicy } from "./store.js";

export const EXPORT_FORMAT_VERSION = 1;
export const REDACTED = "<redacted>";

export interface ExportOptions {
  /** Include PSKs, private keys and password credentials. Off by default. */
  readonly includeSecrets?: boolean;
}

export interface ImportOptions {
  /** "merge" (default): create/update listed objects. "replace": also delete unlisted ones. */
  readonly mode?: "merge" | "replace";
  /** Randomness for salts when a user entry gives a password (default: node:crypto). */
  readonly random?: RandomBytes;
}

export interface ImportSummary {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
}

const SECTIONS: readonly [string, ObjectKind][] = [
  ["psks", "psk"],
  ["certificates", "certificate"],
  ["pools", "pool"],
  ["users", "user"],
  ["policies", "policy"],
];
const SECRET_FIELD: Partial<Record<Kind, string>> = {
  psk: "secret",
  certificate: "privateKey",
  user: "credentials",
};

function exportEntry(o: StoredObject<Kind>, includeSecrets: boolean): JsonObject {
  const known = structuredClone(o.document);
  for (const ptr of Object.keys(o.extensions)) deleteAtPointer(known, ptr);
  const secret = SECRET_FIELD[o.kind];
  if (!includeSecrets && secret !== undefined && Object.hasOwn(known, secret))
    known[secret] = REDACTED;
  const head: JsonObject = {};
  if (o.kind === "policy") {
    const p = o as StoredPolicy;
    head.name = p.name;
    head.assigned = p.assigned;
    head.persistent = p.persistent;
    head.persistentOrder = p.persistentOrder;
  }
  const out: JsonObject = { ...head, ...known };
  if (o.version !== OBJECT_VERSION) out.objectVersion = o.version;
  const extKeys = Object.keys(o.extensions).sort();
  if (extKeys.length > 0)
    out.extensions = Object.fromEntries(extKeys.map((k) => [k, o.extensions[k] ?? null]));
  return out;
}

/** The whole store as a plain JSON document. */
export function exportDocument(
  store: PolicyStore,
  opts: ExportOptions = {},
): Result<JsonObject, StoreError> {
  const inc = opts.includeSecrets === true;
  const settings = store.getRaw("settings", "settings");
  if (!settings.ok) return settings;
  const doc: JsonObject = { format: STORE_FORMAT, formatVersion: EXPORT_FORMAT_VERSION };
  if (settings.value) {
    const e = exportEntry(settings.value, inc);
    doc.settings = e;
  }
  for (const [section, kind] of SECTIONS) {
    const l = store.listRaw(kind);
    if (!l.ok) return l;
    doc[section] = l.value.map((o) => exportEntry(o as StoredObject<Kind>, inc));
  }
  return ok(doc);
}

export function exportYaml(
  store: PolicyStore,
  opts: ExportOptions = {},
): Result<string, StoreError> {
  const d = exportDocument(store, opts);
  if (!d.ok) return d;
  return ok(YAML.stringify(d.value, { lineWidth: 0, aliasDuplicateObjects: false }));
}

export function exportJson(
  store: PolicyStore,
  opts: ExportOptions = {},
): Result<string, StoreError> {
  const d = exportDocument(store, opts);
  if (!d.ok) return d;
  return ok(`${JSON.stringify(d.value, null, 2)}\n`);
}

export function importYaml(
  store: PolicyStore,
  text: string,
  opts: ImportOptions = {},
): Result<ImportSummary, StoreError> {
  let doc: unknown;
  try {
    const parsed = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (parsed.errors.length > 0) {
      const e = parsed.errors[0]!;
      return err(
        storeError(StoreErrorCode.ImportFormat, `not valid YAML: ${e.message.split("\n")[0]}`),
      );
    }
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `not valid YAML: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
      ),
    );
  }
  return importDocument(store, doc, opts);
}

export function importJson(
  store: PolicyStore,
  text: string,
  opts: ImportOptions = {},
): Result<ImportSummary, StoreError> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
      ),
    );
  }
  return importDocument(store, doc, opts);
}

interface Planned {
  readonly kind: Kind;
  readonly name: string;
  /** Where it is in the document, e.g. "policies[2]". */
  readonly prefix: string;
  /** Validated value (normal entry) ... */
  readonly value?: unknown;
  /** ... or verbatim newer object. */
  readonly raw?: { version: number; body: JsonObject; extensions: Record<string, Json> };
  readonly assigned?: boolean;
  readonly persistent?: boolean;
  readonly persistentOrder?: number;
  /** A user's password, turned into credentials once the whole document validates. */
  readonly password?: string;
}

/** Shape-valid placeholder used while validating a user entry that gives a password. */
const STAND_IN = {
  ntHash: "0".repeat(32),
  pap: { algorithm: "scrypt", n: 2, r: 1, p: 1, salt: "A".repeat(16), hash: "A".repeat(16) },
};

const META_KEYS = ["objectVersion", "extensions"];
const POLICY_META = ["assigned", "persistent", "persistentOrder"];

function planEntry(
  store: PolicyStore,
  kind: Kind,
  entry: unknown,
  prefix: string,
  issues: ValidationIssue[],
): Planned | undefined {
  if (!isJsonObject(entry)) {
    issues.push({
      path: prefix,
      message: `expected a mapping (key: value pairs), found ${describe(entry)}`,
    });
    return undefined;
  }
  const body: JsonObject = { ...entry };
  for (const k of [...META_KEYS, ...(kind === "policy" ? POLICY_META : [])]) delete body[k];
  const name = kind === "settings" ? "settings" : body.name;
  if (typeof name !== "string") {
    issues.push({
      path: `${prefix}.name`,
      message: 'is required; write a name such as "l2tp-server"',
    });
    return undefined;
  }
  const state: { assigned?: boolean; persistent?: boolean; persistentOrder?: number } = {};
  if (kind === "policy") {
    for (const k of ["assigned", "persistent"] as const) {
      const v = entry[k];
      if (v === undefined) continue;
      if (typeof v !== "boolean")
        issues.push({
          path: `${prefix}.${k}`,
          message: `expected true or false, found ${describe(v)}`,
        });
      else state[k] = v;
    }
    const o = entry.persistentOrder;
    if (o !== undefined) {
      if (typeof o !== "number" || !Number.isInteger(o) || o < 0 || o > 1_000_000) {
        issues.push({
          path: `${prefix}.persistentOrder`,
          message: "is not a whole number in 0..1000000",
        });
      } else state.persistentOrder = o;
    }
  }
  const ov = entry.objectVersion;
  const ext = entry.extensions;
  if (
    ov !== undefined &&
    (typeof ov !== "number" || !Number.isInteger(ov) || ov < 1 || ov > 1_000_000)
  ) {
    issues.push({
      path: `${prefix}.objectVersion`,
      message: "is not a whole number >= 1; leave it out for objects of this version",
    });
    return undefined;
  }
  if (
    ext !== undefined &&
    (!isJsonObject(ext) || Object.keys(ext).some((k) => !k.startsWith("/")))
  ) {
    issues.push({
      path: `${prefix}.extensions`,
      message: 'must map JSON pointers ("/field/0/sub") to values, as an export writes it',
    });
    return undefined;
  }
  const version = typeof ov === "number" ? ov : OBJECT_VERSION;
  if (version !== OBJECT_VERSION || (ext !== undefined && Object.keys(ext).length > 0)) {
    if (version < OBJECT_VERSION) {
      issues.push({
        path: `${prefix}.objectVersion`,
        message: `object version ${version} is older than any this version writes; leave it out`,
      });
      return undefined;
    }
    return {
      kind,
      name,
      prefix,
      raw: { version, body, extensions: (ext ?? {}) as Record<string, Json> },
      ...state,
    };
  }
  // Secrets given as "<redacted>" come from the object of the same name in the store.
  const secretField = SECRET_FIELD[kind];
  if (secretField !== undefined && body[secretField] === REDACTED) {
    const existing = kind === "settings" ? undefined : store.getRaw(kind, name);
    const have = existing?.ok ? existing.value?.document[secretField] : undefined;
    if (have === undefined) {
      issues.push({
        path: `${prefix}.${secretField}`,
        message: `was exported without secrets and the store has no ${kind} '${name}' to take it from; write the ${kind === "user" ? "password (password: ...)" : "secret"} here, or export with secrets included`,
      });
      return undefined;
    }
    body[secretField] = have;
  }
  if (kind === "user" && body.password !== undefined) {
    if (typeof body.password !== "string" || body.password.length === 0) {
      issues.push({ path: `${prefix}.password`, message: "must be non-empty text" });
      return undefined;
    }
    if (body.credentials !== undefined) {
      issues.push({
        path: `${prefix}.password`,
        message: "give either password or credentials, not both",
      });
      return undefined;
    }
    const protocols = Array.isArray(body.protocols) ? body.protocols : [];
    const password = body.password;
    delete body.password;
    // Validate with stand-in credentials first: the slow scrypt runs only for valid documents.
    const standIn = {
      ...STAND_IN,
      ...(protocols.includes("chap-md5") ? { cleartext: password } : {}),
    };
    const checked = checkKind(kind, { ...body, credentials: standIn }, "strict", prefix);
    if (!checked.value) {
      issues.push(...checked.issues);
      return undefined;
    }
    return { kind, name, prefix, value: checked.value, password, ...state };
  }
  const checked = checkKind(kind, body, "strict", prefix);
  if (!checked.value) {
    issues.push(...checked.issues);
    return undefined;
  }
  return { kind, name, prefix, value: checked.value, ...state };
}

/** Imports a parsed document (see the file header). */
export function importDocument(
  store: PolicyStore,
  doc: unknown,
  opts: ImportOptions = {},
): Result<ImportSummary, StoreError> {
  if (!isJsonObject(doc)) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `not an Oakley policy-store document: expected a mapping, found ${describe(doc)}`,
      ),
    );
  }
  if (doc.format !== STORE_FORMAT) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `not an Oakley policy-store document: write "format: ${STORE_FORMAT}" at the top`,
      ),
    );
  }
  const fv = doc.formatVersion;
  if (typeof fv !== "number" || !Number.isInteger(fv) || fv < 1) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `formatVersion must be a whole number (this version writes ${EXPORT_FORMAT_VERSION})`,
      ),
    );
  }
  if (fv > EXPORT_FORMAT_VERSION) {
    return err(
      storeError(
        StoreErrorCode.ImportFormat,
        `the document was written by a newer Oakley (formatVersion ${fv}; this version reads ${EXPORT_FORMAT_VERSION}); import it with that version`,
      ),
    );
  }
  const issues: ValidationIssue[] = [];
  const known = ["format", "formatVersion", "settings", ...SECTIONS.map(([s]) => s)];
  for (const k of Object.keys(doc)) {
    if (!known.includes(k)) {
      const near = nearest(k, known);
      issues.push({
        path: k,
        message: `unknown section${near ? `; did you mean "${near}"?` : `; known: ${known.join(", ")}`}`,
      });
    }
  }
  const random = opts.random ?? ((n: number) => randomBytes(n));
  const plan: Planned[] = [];
  if (doc.settings !== undefined) {
    const p = planEntry(store, "settings", doc.settings, "settings", issues);
    if (p) plan.push(p);
  }
  for (const [section, kind] of SECTIONS) {
    const arr = doc[section];
    if (arr === undefined) continue;
    if (!Array.isArray(arr)) {
      issues.push({
        path: section,
        message: `expected a list of ${section}, found ${describe(arr)}`,
      });
      continue;
    }
    const seen = new Map<string, number>();
    arr.forEach((e, i) => {
      const p = planEntry(store, kind, e, `${section}[${i}]`, issues);
      if (!p) return;
      const prev = seen.get(p.name);
      if (prev !== undefined) {
        issues.push({
          path: `${section}[${i}].name`,
          message: `"${p.name}" is also the name of ${section}[${prev}]; names must be unique`,
        });
      }
      seen.set(p.name, i);
      plan.push(p);
    });
  }
  const assignedCount = plan.filter((p) => p.assigned === true).length;
  if (assignedCount > 1) {
    issues.push({
      path: "policies",
      message: `${assignedCount} policies say assigned: true; exactly one policy can be assigned`,
    });
  }
  if (issues.length > 0) {
    return err(
      storeError(
        StoreErrorCode.Invalid,
        `import refused, nothing changed: ${issues.length} problem${issues.length > 1 ? "s" : ""}; first: ${issues[0]!.path}: ${issues[0]!.message}`,
        {
          issues,
        },
      ),
    );
  }
  for (const [i, p] of plan.entries()) {
    if (p.password === undefined || p.kind !== "user") continue;
    const u = p.value as User;
    const credentials = makeCredentials(p.password, random, {
      allowChapMd5: u.protocols.includes("chap-md5"),
    });
    plan[i] = { ...p, value: { ...u, credentials } };
  }
  const mode = opts.mode ?? "merge";
  return store.transaction(`import ${plan.length} objects (${mode})`, () => {
    const counts = { created: 0, updated: 0, deleted: 0, unchanged: 0 };
    // Settings before PSKs: a document that allows weak keys (allowWeakPsk) may bring one.
    const order: Kind[] = ["certificate", "pool", "settings", "psk", "user", "policy"];
    for (const kind of order) {
      for (const p of plan.filter((x) => x.kind === kind)) {
        const before = store.db
          .prepare(`SELECT version, body, extensions FROM ${tableOf(kind)} WHERE name = ?`)
          .get(p.name) as { version: number; body: string; extensions: string } | undefined;
        if (p.raw) store.putRawInTxn(kind, p.name, p.raw.version, p.raw.body, p.raw.extensions);
        else store.putInTxn(kind, p.value, "upsert", undefined, p.prefix);
        const after = store.db
          .prepare(`SELECT version, body, extensions FROM ${tableOf(kind)} WHERE name = ?`)
          .get(p.name);
        if (!before) counts.created++;
        else if (JSON.stringify(before) === JSON.stringify(after)) counts.unchanged++;
        else counts.updated++;
      }
    }
    if (mode === "replace") {
      if (
        !plan.some((p) => p.kind === "settings") &&
        store.db.prepare("SELECT 1 FROM settings").get()
      ) {
        const row = store.rowOf("settings", "settings");
        store.assertEditable("settings", row, "reset the settings");
        store.db.prepare("DELETE FROM settings").run();
        counts.deleted++;
      }
      for (const kind of ["policy", "user", "pool", "psk", "certificate"] as const) {
        const keep = new Set(plan.filter((p) => p.kind === kind).map((p) => p.name));
        const names = (
          store.db.prepare(`SELECT name FROM ${tableOf(kind)}`).all() as { name: string }[]
        ).map((r) => r.name);
        for (const n of names) {
          if (keep.has(n)) continue;
          store.deleteInTxn(kind, n);
          counts.deleted++;
        }
      }
    }
    const policies = plan.filter((p) => p.kind === "policy");
    const toAssign = policies.find((p) => p.assigned === true);
    if (toAssign) store.assignInTxn(toAssign.name);
    else if (mode === "replace") store.assignInTxn(null);
    for (const p of policies) {
      if (p.persistent !== undefined || p.persistentOrder !== undefined || mode === "replace") {
        store.setPersistentInTxn(p.name, p.persistent ?? false, p.persistentOrder ?? 0);
      }
    }
    return counts;
  });
}

function tableOf(kind: Kind): string {
  return {
    policy: "policies",
    user: "users",
    psk: "psks",
    certificate: "certificates",
    pool: "pools",
    settings: "settings",
  }[kind];
}
