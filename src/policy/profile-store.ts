/**
 * The client's profile store: one SQLite file (default /var/lib/oakley/client.db) beside, not
 * inside, the server's policy store, because a client machine has no server policy and a
 * server operator's `policy import` must never touch what a client saved.
 *
 * Same conventions as the policy store (store.ts): created mode 0600 (it holds PSKs and
 * passwords), WAL, synchronous FULL, `secure_delete` on (a removed or replaced secret is
 * overwritten in the file, not left in free pages), versioned migrations in `user_version`
 * each in its own transaction, integrity check at open, a file written by a newer Oakley
 * opens read-only, and a row with fields this version does not know is shown but never
 * rewritten or removed. Every write is one IMMEDIATE transaction that validates first, so a
 * failing add, edit or import changes nothing.
 */
import type Database from "better-sqlite3";
import { err, ok, type Result } from "../base/result.js";
import { type StoreError, StoreErrorCode, storeError } from "./errors.js";
import { type ClientProfile, checkProfile, profileToDoc } from "./profile.js";
import { openSqliteFile } from "../sqlite/file.js";
import { classifySqliteError } from "./store.js";

export const PROFILE_STORE_FORMAT = "oakley-client-store";
export const DEFAULT_PROFILE_STORE = "/var/lib/oakley/client.db";

interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** Only add (tables, columns with defaults, indexes): an older Oakley must still read the file. */
export const PROFILE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "initial schema: meta, profiles (one JSON document a row)",
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('format', '${PROFILE_STORE_FORMAT}');
CREATE TABLE profiles (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL CHECK (json_valid(body) AND json_type(body) = 'object'),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
`,
  },
];
export const PROFILE_SCHEMA = PROFILE_MIGRATIONS[PROFILE_MIGRATIONS.length - 1]!.version;

export interface StoredProfile {
  readonly name: string;
  /** The typed profile, when this version understands the row. */
  readonly value: ClientProfile | undefined;
  /** Why it may not be changed here (absent: editable). */
  readonly readOnly?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface Row {
  name: string;
  body: string;
  created_at: string;
  updated_at: string;
}

/** Thrown inside a transaction to roll it back with an expected error. */
class Abort extends Error {
  constructor(readonly error: StoreError) {
    super(error.message);
  }
}

export class ProfileStore {
  private closed = false;

  /** Use openProfileStore(). */
  constructor(
    readonly db: Database.Database,
    readonly path: string,
    /** Why the whole store is read-only (absent: writable). */
    readonly readOnly: string | undefined,
    readonly schemaVersion: number,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private decode(r: Row): StoredProfile {
    const base = { name: r.name, createdAt: r.created_at, updatedAt: r.updated_at };
    let doc: unknown;
    try {
      doc = JSON.parse(r.body);
    } catch {
      return { ...base, value: undefined, readOnly: "its stored document is not readable" };
    }
    const c = checkProfile(doc, { stored: true });
    if (c.unknownKeys.length > 0) {
      return {
        ...base,
        value: c.value,
        readOnly: `it was written by a newer Oakley (fields ${c.unknownKeys.join(", ")}); use that version to change it`,
      };
    }
    return c.value ? { ...base, value: c.value } : { ...base, value: undefined };
  }

  private guardRead<T>(fn: () => T): Result<T, StoreError> {
    try {
      return ok(fn());
    } catch (e) {
      return err(classifySqliteError(e, this.path, "profile store"));
    }
  }

  list(): Result<StoredProfile[], StoreError> {
    return this.guardRead(() =>
      (this.db.prepare("SELECT * FROM profiles ORDER BY name").all() as Row[]).map((r) =>
        this.decode(r),
      ),
    );
  }

  get(name: string): Result<StoredProfile, StoreError> {
    const r = this.guardRead(
      () => this.db.prepare("SELECT * FROM profiles WHERE name = ?").get(name) as Row | undefined,
    );
    if (!r.ok) return r;
    if (!r.value) return err(notFound(name, this.path));
    return ok(this.decode(r.value));
  }

  /** Adds a new profile; a profile of that name already there is an error (nothing changes). */
  add(p: ClientProfile): Result<StoredProfile, StoreError> {
    return this.write(() => {
      const exists = this.db.prepare("SELECT 1 FROM profiles WHERE name = ?").get(p.name);
      if (exists) {
        throw new Abort(
          storeError(
            StoreErrorCode.Exists,
            `a profile named '${p.name}' already exists in ${this.path}; choose another name, or change it with oakley profile edit ${p.name}`,
          ),
        );
      }
      this.db
        .prepare("INSERT INTO profiles (name, body) VALUES (?, ?)")
        .run(p.name, JSON.stringify(this.validated(p)));
      return p.name;
    });
  }

  /**
   * Replaces profile `name` with `p` (which may carry a new name). Refused when the row is
   * read-only here or the new name is taken by another profile.
   */
  replace(name: string, p: ClientProfile): Result<StoredProfile, StoreError> {
    return this.write(() => {
      const cur = this.db.prepare("SELECT * FROM profiles WHERE name = ?").get(name) as
        | Row
        | undefined;
      if (!cur) throw new Abort(notFound(name, this.path));
      const d = this.decode(cur);
      if (d.readOnly) throw new Abort(newer(name, d.readOnly));
      if (p.name !== name && this.db.prepare("SELECT 1 FROM profiles WHERE name = ?").get(p.name)) {
        throw new Abort(
          storeError(
            StoreErrorCode.Exists,
            `cannot rename '${name}' to '${p.name}': a profile named '${p.name}' already exists`,
          ),
        );
      }
      this.db
        .prepare(
          "UPDATE profiles SET name = ?, body = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE name = ?",
        )
        .run(p.name, JSON.stringify(this.validated(p)), name);
      return p.name;
    });
  }

  remove(name: string): Result<void, StoreError> {
    const r = this.write(() => {
      const cur = this.db.prepare("SELECT * FROM profiles WHERE name = ?").get(name) as
        | Row
        | undefined;
      if (!cur) throw new Abort(notFound(name, this.path));
      const d = this.decode(cur);
      if (d.readOnly) throw new Abort(newer(name, d.readOnly));
      this.db.prepare("DELETE FROM profiles WHERE name = ?").run(name);
      return undefined;
    });
    return r.ok ? ok(undefined) : r;
  }

  /** The document to store, checked again: only valid profiles reach the file. */
  private validated(p: ClientProfile): Record<string, unknown> {
    const doc = profileToDoc(p, { includeSecrets: true });
    const c = checkProfile(doc);
    if (!c.value) {
      throw new Abort(
        storeError(StoreErrorCode.Invalid, `profile '${p.name}' is not valid`, {
          issues: c.issues,
        }),
      );
    }
    return doc;
  }

  private write(fn: () => string | undefined): Result<StoredProfile, StoreError> {
    if (this.readOnly) return err(storeError(StoreErrorCode.ReadOnly, this.readOnly));
    let name: string | undefined;
    try {
      name = this.db.transaction(fn).immediate();
    } catch (e) {
      if (e instanceof Abort) return err(e.error);
      return err(classifySqliteError(e, this.path, "profile store"));
    }
    if (name === undefined) {
      return ok({ name: "", value: undefined, createdAt: "", updatedAt: "" });
    }
    return this.get(name);
  }
}

function notFound(name: string, path: string): StoreError {
  return storeError(
    StoreErrorCode.NotFound,
    `no profile named '${name}' in ${path}; see oakley profile list (or add it with oakley profile add ${name} …)`,
  );
}

function newer(name: string, why: string): StoreError {
  return storeError(StoreErrorCode.NewerObject, `profile '${name}' cannot be changed here: ${why}`);
}

function schemaVersionOf(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Applies the migrations above the file's version (up to `upTo`), each in one transaction. */
export function migrateProfiles(db: Database.Database, upTo: number = PROFILE_SCHEMA): number[] {
  const applied: number[] = [];
  for (const m of PROFILE_MIGRATIONS) {
    if (m.version > upTo) break;
    if (m.version <= schemaVersionOf(db)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
    applied.push(m.version);
  }
  return applied;
}

export interface OpenProfileStoreOptions {
  readonly readOnly?: boolean;
  /** Fail with NotFound instead of creating a missing file (used by `oakley connect NAME`). */
  readonly mustExist?: boolean;
}

/** Opens (creating 0600 if needed) the profile store at `path`. */
export function openProfileStore(
  path: string,
  opts: OpenProfileStoreOptions = {},
): Result<ProfileStore, StoreError> {
  const opened = openSqliteFile(path, {
    what: "profile store",
    format: PROFILE_STORE_FORMAT,
    latest: PROFILE_SCHEMA,
    newer: "read-only",
    ...(opts.readOnly ? { readOnly: true } : {}),
    ...(opts.mustExist ? { mustExist: true } : {}),
    integrityCheck: true,
    secureDelete: true,
    fix: {
      missing: "oakley profile add creates it",
      create: "name another file with --profile-store FILE or OAKLEY_PROFILE_STORE",
      foreign: "name another file with --profile-store FILE",
    },
  });
  if (!opened.ok) {
    const f = opened.error;
    const code =
      f.kind === "missing"
        ? StoreErrorCode.NotFound
        : f.kind === "corrupt" || f.kind === "foreign"
          ? StoreErrorCode.Corrupt
          : StoreErrorCode.Unreadable;
    return err(storeError(code, f.message));
  }
  const { db } = opened.value;
  try {
    let version = opened.value.version;
    let readOnly: string | undefined = opened.value.readOnly
      ? `profile store ${path} was opened read-only`
      : undefined;
    if (opened.value.newer) {
      readOnly = `profile store ${path} was written by a newer Oakley (schema version ${version}; this version understands ${PROFILE_SCHEMA}); it is open read-only so that nothing is lost`;
    } else if (version < PROFILE_SCHEMA && !opened.value.readOnly) {
      migrateProfiles(db);
      version = schemaVersionOf(db);
    }
    return ok(new ProfileStore(db, path, readOnly, version));
  } catch (e) {
    try {
      db.close();
    } catch {
      // already failing; the classified error is what matters
    }
    return err(classifySqliteError(e, path, "profile store"));
  }
}
