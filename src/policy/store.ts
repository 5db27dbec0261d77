/**
 * The persistent policy store: one SQLite file (better-sqlite3), WAL mode,
 * foreign keys on, every write in one IMMEDIATE transaction, schema migrations at open
 * (schema.ts), exactly one assigned policy, persistent policies, the unknown-extension guard
 * and change notification.
 *
 * Secrets at rest: `secure_delete = ON` zeroes deleted and overwritten rows, and a commit that
 * changes or deletes a user, PSK or certificate checkpoints and truncates the write-ahead log,
 * so that old password hashes and keys do not remain in the file or its -wal.
 *
 * Durability: `synchronous = FULL`. In WAL mode NORMAL is already safe against a process crash
 * (the kill test), but may lose the last commits on power loss; policy writes are rare and an
 * operator who was told "policy assigned" must find it assigned after a power cut, so we pay the
 * extra fsync per commit.
 *
 * Unknown-extension guard (as Windows' IPsec policy snap-in turns read-only on objects with
 * extensions it does not understand, so they are never deleted by mistake): a row whose body
 * holds fields this version does not know, whose `extensions` column is not empty, or whose
 * object version is above OBJECT_VERSION, is shown but never rewritten or deleted here; writes
 * to it return OAK_E_POLICY_NEWER_OBJECT naming the extension. Other rows are written with
 * single-row statements, so unknown data elsewhere is never touched. A file whose schema is
 * newer than ours opens read-only as a whole (OAK_E_STORE_READ_ONLY on writes).
 *
 * Notification: listeners registered with subscribe() hear about this connection's commits
 * right after commit; poll() notices commits by other connections or processes
 * (`PRAGMA data_version`) and replays them from the change journal (migration 2).
 *
 * Deviation: ids are SQLite rowids, local to one file; documents refer to objects by name.
 */
import type Database from "better-sqlite3";
import { openSqliteFile, type SqliteFailure, sqliteFailure } from "../sqlite/file.js";
import { nullLogger, type Logger } from "../obs/log.js";
import { type Json, type JsonObject, isJsonObject, parsePointer, setAtPointer } from "./check.js";
import { type StoreError, StoreErrorCode, type ValidationIssue, storeError } from "./errors.js";
import {
  checkKind,
  DEFAULT_SETTINGS,
  MIN_PSK_LENGTH,
  type Kind,
  type ModelOf,
  OBJECT_VERSION,
  type Policy,
  referencesOf,
  type Settings,
} from "./model.js";
import { err, ok, type Result } from "../base/result.js";
import { LATEST_SCHEMA, migrate, STORE_FORMAT, schemaVersion, TABLE } from "./schema.js";

export type ObjectKind = Exclude<Kind, "settings">;

export interface StoredObject<K extends Kind> {
  readonly id: number;
  readonly kind: K;
  readonly name: string;
  /** Object format version it was written with. */
  readonly version: number;
  /** The typed value, when this version understands the object's known fields. */
  readonly value: ModelOf[K] | undefined;
  /** The object as written (known fields plus extensions), for display. */
  readonly document: JsonObject;
  /** JSON pointer -> value of every field this version does not understand. */
  readonly extensions: Readonly<Record<string, Json>>;
  /** Why this object may not be edited here (absent: editable). */
  readonly readOnly?: string;
  /** Problems with known fields (an object that does not validate; editing replaces it). */
  readonly issues: readonly ValidationIssue[];
}

export interface StoredPolicy extends StoredObject<"policy"> {
  readonly assigned: boolean;
  readonly persistent: boolean;
  readonly persistentOrder: number;
}

export type StoredOf<K extends Kind> = K extends "policy" ? StoredPolicy : StoredObject<K>;

export interface StoreChange {
  readonly kind: Kind;
  readonly name: string;
  readonly op: "create" | "update" | "delete" | "resync";
  /** "local": this connection wrote it; "external": another connection or process did. */
  readonly source: "local" | "external";
}
export type StoreListener = (changes: readonly StoreChange[]) => void;

export interface OpenOptions {
  readonly readOnly?: boolean;
  readonly logger?: Logger;
  /**
   * Accept pre-shared keys shorter than MIN_PSK_LENGTH through this connection (the daemon's
   * --allow-weak-psk); otherwise only when settings.allowWeakPsk is true.
   */
  readonly allowWeakPsk?: boolean;
}

/** Thrown inside a transaction to roll it back with an expected error; never escapes the store. */
class Abort extends Error {
  constructor(readonly error: StoreError) {
    super(error.message);
  }
}

interface Row {
  id: number;
  name: string;
  version: number;
  body: string;
  extensions: string;
  assigned?: number;
  persistent?: number;
  persistent_order?: number;
}

/** Kinds whose objects hold secrets (NT hashes, PSKs, private keys). */
const SECRET_KINDS: ReadonlySet<Kind> = new Set(["user", "psk", "certificate"]);

const KIND_LABEL: Record<Kind, string> = {
  policy: "policy",
  user: "user",
  psk: "pre-shared key",
  certificate: "certificate",
  pool: "address pool",
  settings: "settings",
};

/** JSON with object keys sorted, for comparing documents regardless of key order. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
      : x,
  );
}

function displayPointer(ptr: string): string {
  const segs = parsePointer(ptr) ?? [ptr];
  return segs.reduce<string>(
    (s, x) => (typeof x === "number" ? `${s}[${x}]` : s === "" ? x : `${s}.${x}`),
    "",
  );
}

/** Maps an exception from SQLite to a typed store error. */
export function classifySqliteError(e: unknown, path: string, what = "policy store"): StoreError {
  const f = sqliteFailure(e, what, path);
  return storeError(
    f.kind === "corrupt" ? StoreErrorCode.Corrupt : StoreErrorCode.Unreadable,
    f.message,
  );
}

export class PolicyStore {
  readonly policies: Collection<"policy">;
  readonly users: Collection<"user">;
  readonly psks: Collection<"psk">;
  readonly certificates: Collection<"certificate">;
  readonly pools: Collection<"pool">;
  private readonly listeners = new Set<StoreListener>();
  private lastSeq = 0;
  private dataVersion = 0;
  private closed = false;

  /** Use openStore(). */
  constructor(
    readonly db: Database.Database,
    readonly path: string,
    /** Why the whole store is read-only (absent: writable). */
    readonly readOnly: string | undefined,
    readonly schemaVersion: number,
    private readonly log: Logger,
    private readonly allowWeakPsk = false,
  ) {
    this.policies = new Collection(this, "policy");
    this.users = new Collection(this, "user");
    this.psks = new Collection(this, "psk");
    this.certificates = new Collection(this, "certificate");
    this.pools = new Collection(this, "pool");
    this.lastSeq = this.maxSeq();
    this.dataVersion = this.db.pragma("data_version", { simple: true }) as number;
  }

  collection<K extends ObjectKind>(kind: K): Collection<K> {
    const m = {
      policy: this.policies,
      user: this.users,
      psk: this.psks,
      certificate: this.certificates,
      pool: this.pools,
    } as const;
    return m[kind] as unknown as Collection<K>;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.db.close();
  }

  // ------------------------------------------------------------------ reading

  /** Reads every row of a kind, ordered by name. A damaged file gives OAK_E_STORE_CORRUPT. */
  listRaw<K extends Kind>(kind: K): Result<StoredOf<K>[], StoreError> {
    return this.guardRead(() => {
      const rows = this.db.prepare(`SELECT * FROM ${TABLE[kind]} ORDER BY name`).all() as Row[];
      return rows.map((r) => this.decode(kind, r));
    });
  }

  getRaw<K extends Kind>(kind: K, name: string): Result<StoredOf<K> | undefined, StoreError> {
    return this.guardRead(() => {
      const row = this.db.prepare(`SELECT * FROM ${TABLE[kind]} WHERE name = ?`).get(name) as
        | Row
        | undefined;
      return row ? this.decode(kind, row) : undefined;
    });
  }

  private guardRead<T>(fn: () => T): Result<T, StoreError> {
    if (this.closed)
      return err(storeError(StoreErrorCode.Unreadable, `policy store ${this.path} is closed`));
    try {
      return ok(fn());
    } catch (e) {
      if (e instanceof Abort) return err(e.error);
      return err(classifySqliteError(e, this.path));
    }
  }

  private decode<K extends Kind>(kind: K, row: Row): StoredOf<K> {
    let body: unknown;
    let ext: unknown;
    try {
      body = JSON.parse(row.body);
      ext = JSON.parse(row.extensions);
    } catch {
      throw new Abort(
        storeError(
          StoreErrorCode.Corrupt,
          `${KIND_LABEL[kind]} '${row.name}' holds text that is not JSON`,
        ),
      );
    }
    if (!isJsonObject(body) || !isJsonObject(ext)) {
      throw new Abort(
        storeError(
          StoreErrorCode.Corrupt,
          `${KIND_LABEL[kind]} '${row.name}' is not a JSON object`,
        ),
      );
    }
    const checked = checkKind(kind, body, "preserve");
    const extensions: Record<string, Json> = { ...checked.extensions, ...ext };
    const document = structuredClone(body);
    for (const [ptr, v] of Object.entries(ext)) setAtPointer(document, ptr, v);
    const extNames = Object.keys(extensions).map(displayPointer);
    let readOnly: string | undefined;
    const label = `${KIND_LABEL[kind]} '${row.name}'`;
    if (row.version > OBJECT_VERSION || extNames.length > 0) {
      const why =
        extNames.length > 0
          ? `extension${extNames.length > 1 ? "s" : ""} ${extNames.map((n) => `'${n}'`).join(", ")}`
          : `object version ${row.version}; this version understands ${OBJECT_VERSION}`;
      readOnly = `${label} was written by a newer Oakley (${why}); it is read-only in this version so that nothing is lost`;
    }
    const base = {
      id: row.id,
      kind,
      name: row.name,
      version: row.version,
      value: checked.value,
      document,
      extensions,
      ...(readOnly !== undefined ? { readOnly } : {}),
      issues: checked.issues,
    };
    if (kind === "policy") {
      return {
        ...base,
        assigned: row.assigned === 1,
        persistent: row.persistent === 1,
        persistentOrder: row.persistent_order ?? 0,
      } as unknown as StoredOf<K>;
    }
    return base as unknown as StoredOf<K>;
  }

  /** Global settings (defaults when never set). */
  settings(): Result<StoredObject<"settings">, StoreError> {
    const r = this.getRaw("settings", "settings");
    if (!r.ok) return r;
    if (r.value) return ok(r.value);
    return ok({
      id: 0,
      kind: "settings",
      name: "settings",
      version: OBJECT_VERSION,
      value: DEFAULT_SETTINGS,
      document: { ...DEFAULT_SETTINGS } as unknown as JsonObject,
      extensions: {},
      issues: [],
    });
  }

  /** The assigned policy, if any. */
  assigned(): Result<StoredPolicy | undefined, StoreError> {
    return this.guardRead(() => {
      const row = this.db.prepare("SELECT * FROM policies WHERE assigned = 1").get() as
        | Row
        | undefined;
      return row ? this.decode("policy", row) : undefined;
    });
  }

  /** Persistent policies in application order (persistentOrder, then name). */
  persistent(): Result<StoredPolicy[], StoreError> {
    return this.guardRead(() =>
      (
        this.db
          .prepare("SELECT * FROM policies WHERE persistent = 1 ORDER BY persistent_order, name")
          .all() as Row[]
      ).map((r) => this.decode("policy", r)),
    );
  }

  // ------------------------------------------------------------------ writing

  /**
   * Runs `fn` in one IMMEDIATE transaction; an Abort inside rolls back and becomes the result.
   * Listeners hear about the changes after commit.
   */
  write<T>(what: string, fn: () => T): Result<T, StoreError> {
    if (this.closed)
      return err(storeError(StoreErrorCode.Unreadable, `policy store ${this.path} is closed`));
    if (this.readOnly !== undefined) {
      return err(storeError(StoreErrorCode.ReadOnly, `cannot ${what}: ${this.readOnly}`));
    }
    let local: StoreChange[] = [];
    let external: StoreChange[] = [];
    let value: T;
    try {
      value = this.db
        .transaction(() => {
          const before = this.maxSeq();
          external = before > this.lastSeq ? this.changesSince(this.lastSeq, "external") : [];
          const v = fn();
          local = this.changesSince(before, "local");
          this.lastSeq = this.maxSeq();
          // Keep the journal bounded; pollers that fell further behind get a "resync".
          if (this.schemaVersion >= 2)
            this.db.prepare("DELETE FROM changes WHERE seq <= ?").run(this.lastSeq - 10000);
          return v;
        })
        .immediate();
    } catch (e) {
      if (e instanceof Abort) return err(e.error);
      const code = (e as { code?: unknown }).code;
      if (code === "SQLITE_READONLY") {
        return err(
          storeError(
            StoreErrorCode.ReadOnly,
            `cannot ${what}: policy store ${this.path} is not writable`,
          ),
        );
      }
      const se = classifySqliteError(e, this.path);
      this.log.error("policy store write failed", { what, code: se.code, error: se.message });
      return err(se);
    }
    this.dataVersion = this.db.pragma("data_version", { simple: true }) as number;
    if (local.some((c) => SECRET_KINDS.has(c.kind) && c.op !== "create")) this.flushWal();
    this.log.info("policy store changed", { what });
    this.emit([...external, ...local]);
    return ok(value);
  }

  /**
   * Copies the write-ahead log into the file and truncates it, so that the old versions of a
   * changed or deleted secret do not stay in the -wal file (secure_delete zeroes them in the
   * main file). Best effort: a reader in another process can keep the log from being reset.
   */
  private flushWal(): void {
    try {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } catch (e) {
      this.log.warn("policy store checkpoint failed", {
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  private maxSeq(): number {
    if (this.schemaVersion < 2) return 0;
    const r = this.db.prepare("SELECT coalesce(max(seq), 0) AS s FROM changes").get() as {
      s: number;
    };
    return r.s;
  }

  private changesSince(seq: number, source: "local" | "external"): StoreChange[] {
    if (this.schemaVersion < 2) return [];
    const min = (
      this.db.prepare("SELECT coalesce(min(seq), 0) AS s FROM changes").get() as { s: number }
    ).s;
    if (source === "external" && min > seq + 1) {
      return [{ kind: "settings", name: "*", op: "resync", source }];
    }
    const rows = this.db
      .prepare("SELECT kind, name, op FROM changes WHERE seq > ? ORDER BY seq")
      .all(seq) as {
      kind: Kind;
      name: string;
      op: "create" | "update" | "delete";
    }[];
    return rows.map((r) => ({ ...r, source }));
  }

  private emit(changes: StoreChange[]): void {
    if (changes.length === 0) return;
    for (const l of [...this.listeners]) {
      try {
        l(changes);
      } catch (e) {
        this.log.error("policy store listener threw", {
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }

  /** Registers a listener; returns the function that unregisters it. */
  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Notices commits by other connections/processes (call it on a timer, e.g. every second).
   * Returns the changes it reported to listeners.
   */
  poll(): StoreChange[] {
    if (this.closed) return [];
    try {
      const dv = this.db.pragma("data_version", { simple: true }) as number;
      if (dv === this.dataVersion) return [];
      this.dataVersion = dv;
      let changes = this.changesSince(this.lastSeq, "external");
      if (this.schemaVersion < 2)
        changes = [{ kind: "settings", name: "*", op: "resync", source: "external" }];
      this.lastSeq = this.maxSeq();
      this.emit(changes);
      return changes;
    } catch (e) {
      const se = classifySqliteError(e, this.path);
      this.log.error("policy store poll failed", { code: se.code, error: se.message });
      return [];
    }
  }

  /** Inside write(): the row of an object, or Abort(NotFound). */
  rowOf(kind: Kind, name: string): Row {
    const row = this.db.prepare(`SELECT * FROM ${TABLE[kind]} WHERE name = ?`).get(name) as
      | Row
      | undefined;
    if (!row) {
      throw new Abort(
        storeError(StoreErrorCode.NotFound, `there is no ${KIND_LABEL[kind]} named '${name}'`),
      );
    }
    return row;
  }

  /** Inside write(): refuses if the object was written by a newer Oakley. */
  assertEditable(kind: Kind, row: Row, what: string): void {
    const stored = this.decode(kind, row);
    if (stored.readOnly !== undefined) {
      throw new Abort(
        storeError(StoreErrorCode.NewerObject, `cannot ${what}: ${stored.readOnly}`, {
          extensions: Object.keys(stored.extensions),
        }),
      );
    }
  }

  /** Inside write(): validates and stores one object (create or replace), with its reference links. */
  putInTxn<K extends Kind>(
    kind: K,
    value: unknown,
    mode: "create" | "update" | "upsert",
    oldName?: string,
    prefix = "",
  ): number {
    const checked = checkKind(kind, value, "strict", prefix);
    if (!checked.value) {
      const first = checked.issues[0];
      throw new Abort(
        storeError(
          StoreErrorCode.Invalid,
          `${KIND_LABEL[kind]} is not valid${first ? `: ${first.path}: ${first.message}` : ""}${checked.issues.length > 1 ? ` (and ${checked.issues.length - 1} more)` : ""}`,
          { issues: checked.issues },
        ),
      );
    }
    const v = checked.value as ModelOf[K];
    const name = kind === "settings" ? "settings" : (v as { name: string }).name;
    if (kind === "psk") this.assertStrongPsk(name, (v as { secret: string }).secret);
    const table = TABLE[kind];
    const existingName = oldName ?? name;
    const existing = this.db.prepare(`SELECT * FROM ${table} WHERE name = ?`).get(existingName) as
      | Row
      | undefined;
    if (mode === "create" && existing) {
      throw new Abort(
        storeError(StoreErrorCode.Exists, `a ${KIND_LABEL[kind]} named '${name}' already exists`),
      );
    }
    if (mode === "update" && !existing) {
      throw new Abort(
        storeError(
          StoreErrorCode.NotFound,
          `there is no ${KIND_LABEL[kind]} named '${existingName}'`,
        ),
      );
    }
    const refIssues = this.checkReferences(kind, v, prefix);
    if (refIssues.length > 0) {
      throw new Abort(
        storeError(
          StoreErrorCode.DanglingReference,
          `${KIND_LABEL[kind]} '${name}': ${refIssues[0]!.path}: ${refIssues[0]!.message}`,
          {
            issues: refIssues,
          },
        ),
      );
    }
    const body = JSON.stringify(v);
    let id: number;
    if (existing) {
      this.assertEditable(kind, existing, `change ${KIND_LABEL[kind]} '${existing.name}'`);
      if (existing.name === name && existing.body === body && existing.version === OBJECT_VERSION)
        return existing.id;
      if (name !== existing.name) {
        const clash = this.db.prepare(`SELECT 1 FROM ${table} WHERE name = ?`).get(name);
        if (clash)
          throw new Abort(
            storeError(
              StoreErrorCode.Exists,
              `a ${KIND_LABEL[kind]} named '${name}' already exists`,
            ),
          );
        const users = this.referrers(kind, existing.id);
        if (users.length > 0) {
          throw new Abort(
            storeError(
              StoreErrorCode.InUse,
              `cannot rename ${KIND_LABEL[kind]} '${existing.name}': ${users.join(", ")} refer${users.length === 1 ? "s" : ""} to it by name; change ${users.length === 1 ? "that" : "those"} first`,
            ),
          );
        }
      }
      this.db
        .prepare(
          `UPDATE ${table} SET name = ?, version = ?, body = ?, extensions = '{}' WHERE id = ?`,
        )
        .run(name, OBJECT_VERSION, body, existing.id);
      id = existing.id;
    } else {
      const r =
        kind === "settings"
          ? this.db
              .prepare(`INSERT INTO ${table} (id, name, version, body) VALUES (1, ?, ?, ?)`)
              .run(name, OBJECT_VERSION, body)
          : this.db
              .prepare(`INSERT INTO ${table} (name, version, body) VALUES (?, ?, ?)`)
              .run(name, OBJECT_VERSION, body);
      id = Number(r.lastInsertRowid);
    }
    this.writeLinks(kind, id, v);
    return id;
  }

  /**
   * Inside write(): refuses a PSK shorter than MIN_PSK_LENGTH unless this connection or the
   * stored settings allow weak keys. The message never holds the secret.
   */
  private assertStrongPsk(name: string, secret: string): void {
    if (secret.length >= MIN_PSK_LENGTH || this.allowWeakPsk) return;
    // A key stored before this rule, written back unchanged (a re-import of a redacted export).
    const cur = this.db.prepare("SELECT body FROM psks WHERE name = ?").get(name) as
      | { body: string }
      | undefined;
    if (cur && (JSON.parse(cur.body) as { secret?: unknown }).secret === secret) return;
    const row = this.db.prepare("SELECT body FROM settings WHERE id = 1").get() as
      | { body: string }
      | undefined;
    if (row && (JSON.parse(row.body) as { allowWeakPsk?: unknown }).allowWeakPsk === true) return;
    throw new Abort(
      storeError(
        StoreErrorCode.WeakPsk,
        `pre-shared key '${name}': the secret is ${secret.length} characters; use at least ${MIN_PSK_LENGTH} (a short key falls to an offline guess from one captured exchange; e.g. \`openssl rand -base64 18\`), or set allowWeakPsk: true in the store's settings to keep an old one`,
        { issues: [{ path: "secret", message: `use at least ${MIN_PSK_LENGTH} characters` }] },
      ),
    );
  }

  /**
   * Inside write(): stores an object exactly as given (import of an object written by a newer
   * Oakley). Reference links are written for the references this version can see.
   */
  putRawInTxn(
    kind: Kind,
    name: string,
    version: number,
    body: JsonObject,
    extensions: Record<string, Json>,
  ): void {
    const table = TABLE[kind];
    const existing = this.db.prepare(`SELECT * FROM ${table} WHERE name = ?`).get(name) as
      | Row
      | undefined;
    if (kind === "psk" && typeof body.secret === "string") this.assertStrongPsk(name, body.secret);
    const b = JSON.stringify(body);
    const x = JSON.stringify(extensions);
    let id: number;
    if (existing) {
      if (existing.body === b && existing.extensions === x && existing.version === version) return;
      // The same object written differently (fields inline vs. in the extensions column): no change.
      const view = this.decode(kind, existing);
      const incoming = structuredClone(body);
      for (const [ptr, v] of Object.entries(extensions)) setAtPointer(incoming, ptr, v);
      if (view.version === version && stableJson(view.document) === stableJson(incoming)) return;
      this.assertEditable(kind, existing, `replace ${KIND_LABEL[kind]} '${name}'`);
      this.db
        .prepare(`UPDATE ${table} SET version = ?, body = ?, extensions = ? WHERE id = ?`)
        .run(version, b, x, existing.id);
      id = existing.id;
    } else {
      const r =
        kind === "settings"
          ? this.db
              .prepare(
                `INSERT INTO ${table} (id, name, version, body, extensions) VALUES (1, ?, ?, ?, ?)`,
              )
              .run(name, version, b, x)
          : this.db
              .prepare(`INSERT INTO ${table} (name, version, body, extensions) VALUES (?, ?, ?, ?)`)
              .run(name, version, b, x);
      id = Number(r.lastInsertRowid);
    }
    const checked = checkKind(kind, body, "preserve");
    if (checked.value) this.writeLinks(kind, id, checked.value);
  }

  private checkReferences<K extends Kind>(
    kind: K,
    v: ModelOf[K],
    prefix: string,
  ): ValidationIssue[] {
    const issues: ValidationIssue[] = [];
    const at = (p: string): string => (prefix === "" ? p : `${prefix}.${p}`);
    if (kind === "policy") {
      (v as Policy).rules.forEach((r, i) => {
        r.authentication.forEach((a, j) => {
          const path = at(`rules[${i}].authentication[${j}]`);
          if (a.method === "psk") {
            if (!this.db.prepare("SELECT 1 FROM psks WHERE name = ?").get(a.psk)) {
              issues.push({
                path: `${path}.psk`,
                message: `there is no pre-shared key named '${a.psk}'; create it first or name an existing one`,
              });
            }
          } else {
            const row = this.db.prepare("SELECT body FROM certificates WHERE name = ?").get(a.ca) as
              | { body: string }
              | undefined;
            if (!row) {
              issues.push({
                path: `${path}.ca`,
                message: `there is no certificate named '${a.ca}'; import the CA certificate first`,
              });
            } else if ((JSON.parse(row.body) as { isCa?: unknown }).isCa !== true) {
              issues.push({
                path: `${path}.ca`,
                message: `certificate '${a.ca}' is not marked as a CA (isCa: true); name a CA certificate`,
              });
            }
            if (a.certificate !== undefined) {
              const own = this.db
                .prepare("SELECT body FROM certificates WHERE name = ?")
                .get(a.certificate) as { body: string } | undefined;
              const body = own ? (JSON.parse(own.body) as { privateKey?: unknown }) : undefined;
              if (!body)
                issues.push({
                  path: `${path}.certificate`,
                  message: `there is no certificate named '${a.certificate}'; import our certificate (with privateKey) first`,
                });
              else if (typeof body.privateKey !== "string")
                issues.push({
                  path: `${path}.certificate`,
                  message: `certificate '${a.certificate}' has no privateKey; import it with its private key`,
                });
            }
          }
        });
      });
    } else if (kind === "user" || kind === "settings") {
      const pool = kind === "user" ? (v as ModelOf["user"]).pool : (v as Settings).defaultPool;
      if (pool !== undefined && !this.db.prepare("SELECT 1 FROM pools WHERE name = ?").get(pool)) {
        issues.push({
          path: at(kind === "user" ? "pool" : "defaultPool"),
          message: `there is no address pool named '${pool}'; create it first`,
        });
      }
    }
    return issues;
  }

  private writeLinks<K extends Kind>(kind: K, id: number, v: ModelOf[K]): void {
    const refs = referencesOf(kind, v);
    const link = (
      table: string,
      col: string,
      targetTable: string,
      tcol: string,
      names: string[],
    ): void => {
      this.db.prepare(`DELETE FROM ${table} WHERE ${col} = ?`).run(id);
      const ins = this.db.prepare(
        `INSERT INTO ${table} (${col}, ${tcol}) SELECT ?, id FROM ${targetTable} WHERE name = ?`,
      );
      for (const n of names) ins.run(id, n);
    };
    if (kind === "policy") {
      link("policy_psk", "policy_id", "psks", "psk_id", refs.psk);
      link("policy_ca", "policy_id", "certificates", "certificate_id", refs.certificate);
    } else if (kind === "user") {
      link("user_pool", "user_id", "pools", "pool_id", refs.pool);
    } else if (kind === "settings") {
      link("settings_pool", "settings_id", "pools", "pool_id", refs.pool);
    }
  }

  /** Names of objects referring to an object ("policy 'x'"), from the link tables. */
  referrers(kind: Kind, id: number): string[] {
    const q = (sql: string, label: string): string[] =>
      (this.db.prepare(sql).all(id) as { name: string }[]).map((r) => `${label} '${r.name}'`);
    switch (kind) {
      case "psk":
        return q(
          "SELECT p.name FROM policy_psk l JOIN policies p ON p.id = l.policy_id WHERE l.psk_id = ? ORDER BY p.name",
          "policy",
        );
      case "certificate":
        return q(
          "SELECT p.name FROM policy_ca l JOIN policies p ON p.id = l.policy_id WHERE l.certificate_id = ? ORDER BY p.name",
          "policy",
        );
      case "pool":
        return [
          ...q(
            "SELECT u.name FROM user_pool l JOIN users u ON u.id = l.user_id WHERE l.pool_id = ? ORDER BY u.name",
            "user",
          ),
          ...q("SELECT 'settings' AS name FROM settings_pool WHERE pool_id = ?", "settings").map(
            () => "the settings (defaultPool)",
          ),
        ];
      default:
        return [];
    }
  }

  deleteInTxn(kind: ObjectKind, name: string): void {
    const row = this.rowOf(kind, name);
    this.assertEditable(kind, row, `delete ${KIND_LABEL[kind]} '${name}'`);
    const users = this.referrers(kind, row.id);
    if (users.length > 0) {
      throw new Abort(
        storeError(
          StoreErrorCode.InUse,
          `cannot delete ${KIND_LABEL[kind]} '${name}': ${users.join(", ")} still refer${users.length === 1 ? "s" : ""} to it`,
        ),
      );
    }
    this.db.prepare(`DELETE FROM ${TABLE[kind]} WHERE id = ?`).run(row.id);
  }

  /** Inside write(): assigns `name` (or none), unassigning the previous one. */
  assignInTxn(name: string | null): void {
    if (name !== null) this.rowOf("policy", name);
    this.db
      .prepare("UPDATE policies SET assigned = 0 WHERE assigned = 1 AND name IS NOT ?")
      .run(name);
    if (name !== null)
      this.db.prepare("UPDATE policies SET assigned = 1 WHERE name = ? AND assigned = 0").run(name);
  }

  setPersistentInTxn(name: string, persistent: boolean, order: number): void {
    this.rowOf("policy", name);
    this.db
      .prepare("UPDATE policies SET persistent = ?, persistent_order = ? WHERE name = ?")
      .run(persistent ? 1 : 0, persistent ? order : 0, name);
  }

  // ------------------------------------------------------------------ public writes

  /** Makes `name` the one assigned policy (atomically unassigning the previous one); null: none. */
  assign(name: string | null): Result<void, StoreError> {
    return this.write(name === null ? "unassign the policy" : `assign policy '${name}'`, () =>
      this.assignInTxn(name),
    );
  }

  /** Marks a policy persistent (applied before the assigned one, in `order`) or not. */
  setPersistent(name: string, persistent: boolean, order = 0): Result<void, StoreError> {
    if (!Number.isInteger(order) || order < 0 || order > 1_000_000) {
      return err(
        storeError(
          StoreErrorCode.Invalid,
          `persistent order ${order} is not a whole number in 0..1000000`,
          {
            issues: [{ path: "persistentOrder", message: "write a whole number 0..1000000" }],
          },
        ),
      );
    }
    return this.write(`${persistent ? "make" : "unmake"} policy '${name}' persistent`, () =>
      this.setPersistentInTxn(name, persistent, order),
    );
  }

  setSettings(s: Settings): Result<void, StoreError> {
    return this.write("change the settings", () => {
      this.putInTxn("settings", s, "upsert");
    });
  }

  /** For import and tests: runs several changes as one transaction. */
  transaction<T>(what: string, fn: () => T): Result<T, StoreError> {
    return this.write(what, fn);
  }
}

/** create/read/update/delete for one kind of object. */
export class Collection<K extends ObjectKind> {
  constructor(
    private readonly store: PolicyStore,
    readonly kind: K,
  ) {}

  list(): Result<StoredOf<K>[], StoreError> {
    return this.store.listRaw(this.kind);
  }

  get(name: string): Result<StoredOf<K>, StoreError> {
    const r = this.store.getRaw(this.kind, name);
    if (!r.ok) return r;
    if (!r.value)
      return err(
        storeError(StoreErrorCode.NotFound, `there is no ${KIND_LABEL[this.kind]} named '${name}'`),
      );
    return ok(r.value);
  }

  create(value: ModelOf[K]): Result<void, StoreError> {
    return this.store.write(
      `create ${KIND_LABEL[this.kind]} '${(value as { name?: string }).name}'`,
      () => {
        this.store.putInTxn(this.kind, value, "create");
      },
    );
  }

  /** Replaces object `name` with `value` (a different value.name renames it). */
  update(name: string, value: ModelOf[K]): Result<void, StoreError> {
    return this.store.write(`change ${KIND_LABEL[this.kind]} '${name}'`, () => {
      this.store.putInTxn(this.kind, value, "update", name);
    });
  }

  delete(name: string): Result<void, StoreError> {
    return this.store.write(`delete ${KIND_LABEL[this.kind]} '${name}'`, () =>
      this.store.deleteInTxn(this.kind, name),
    );
  }
}

export { Abort as StoreAbort };

/**
 * Opens (creating if needed) the store at `path`, runs pending migrations, and checks
 * integrity. A damaged file gives OAK_E_STORE_CORRUPT, an unreadable one
 * OAK_E_STORE_UNREADABLE: the daemon enters block mode on either.
 */
export function openStore(path: string, opts: OpenOptions = {}): Result<PolicyStore, StoreError> {
  const log = opts.logger ?? nullLogger;
  const opened = openSqliteFile(path, {
    what: "policy store",
    format: STORE_FORMAT,
    latest: LATEST_SCHEMA,
    newer: "read-only",
    ...(opts.readOnly ? { readOnly: true } : {}),
    integrityCheck: true,
    foreignKeys: true,
    // Deleted and overwritten rows are zeroed, not left in free pages: a removed user's NT
    // hash (password-equivalent for MS-CHAPv2) or a replaced PSK must not stay in the file.
    secureDelete: true,
  });
  if (!opened.ok) return err(storeErrorOf(opened.error));
  const { db } = opened.value;
  try {
    let version = opened.value.version;
    let readOnly: string | undefined = opened.value.readOnly
      ? `policy store ${path} was opened read-only`
      : undefined;
    if (opened.value.newer) {
      readOnly = `policy store ${path} was written by a newer Oakley (schema version ${version}; this version understands ${LATEST_SCHEMA}); it is open read-only so that nothing is lost`;
      log.warn("policy store is newer than this version; read-only", {
        path,
        schema: version,
        known: LATEST_SCHEMA,
      });
    } else if (version < LATEST_SCHEMA && !opened.value.readOnly) {
      const applied = migrate(db);
      log.info("policy store migrated", { path, from: version, to: LATEST_SCHEMA, applied });
      version = schemaVersion(db);
    }
    return ok(new PolicyStore(db, path, readOnly, version, log, opts.allowWeakPsk === true));
  } catch (e) {
    try {
      db.close();
    } catch {
      // already failing; the classified error below is what matters
    }
    return err(classifySqliteError(e, path));
  }
}

/** The shared opener's failure as a policy-store error (the daemon blocks on either). */
function storeErrorOf(f: SqliteFailure): StoreError {
  return storeError(
    f.kind === "corrupt" || f.kind === "foreign"
      ? StoreErrorCode.Corrupt
      : StoreErrorCode.Unreadable,
    f.message,
  );
}
