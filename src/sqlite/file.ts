/**
 * Opening one of Oakley's SQLite files (the policy store, the client's profile store, the RADIUS
 * accounting queue): the part every one of them does the same way, so that each keeps the same
 * guarantees.
 *
 *  - A missing file is created 0600 (it holds secrets; SQLite gives -wal/-shm the same mode),
 *    unless the caller opens read-only or wants an existing file.
 *  - busy_timeout 5 s (the daemon and `oakley` commands share the file), WAL when writable,
 *    synchronous FULL; secure_delete and foreign_keys when asked.
 *  - Optionally PRAGMA quick_check before anything is read.
 *  - The file must be empty (user_version 0, no tables) or carry the caller's format tag in
 *    its `meta` table: another SQLite database is refused by name, never migrated.
 *  - A file written by a newer schema is reopened read-only (nothing in it can be changed or
 *    lost by mistake) or refused, as the caller says; migrations stay with the caller.
 *  - Every failure is a value naming the file, what it is, and what is wrong.
 */
import { closeSync, existsSync, openSync, statSync } from "node:fs";
import Database from "better-sqlite3";
import { err, ok, type Result } from "../base/result.js";

export interface SqliteFileOptions {
  /** What the file is, for messages: "policy store", "RADIUS accounting queue". */
  readonly what: string;
  /** The `format` value of the file's `meta` table (key 'format', value this). */
  readonly format: string;
  /** The schema version (PRAGMA user_version) this build understands. */
  readonly latest: number;
  /** A file of a higher version: open it read-only (default) or refuse it. */
  readonly newer?: "read-only" | "refuse";
  /** Open read-only (never creates the file). */
  readonly readOnly?: boolean;
  /** Fail with `missing` instead of creating the file. */
  readonly mustExist?: boolean;
  /** PRAGMA quick_check at open. Default false. */
  readonly integrityCheck?: boolean;
  /** PRAGMA secure_delete = ON: deleted rows are zeroed, not left in free pages. Default false. */
  readonly secureDelete?: boolean;
  /** PRAGMA foreign_keys = ON. Default false. */
  readonly foreignKeys?: boolean;
  /** Appended to the message of these failures: how to fix them (e.g. "name another file with …"). */
  readonly fix?: Partial<Record<SqliteFailureKind | "create", string>>;
}

/**
 * missing: no such file (and not to be created); unreadable: cannot be created, opened or read
 * (permissions, a directory, I/O); corrupt: damaged or not SQLite at all; foreign: an SQLite
 * database of something else; newer: a newer schema the caller refuses.
 */
export type SqliteFailureKind = "missing" | "unreadable" | "corrupt" | "foreign" | "newer";

export interface SqliteFailure {
  readonly kind: SqliteFailureKind;
  /** One line for a person, naming the file. */
  readonly message: string;
}

export interface SqliteFile {
  readonly db: Database.Database;
  /** PRAGMA user_version at open (0: a new, empty file). */
  readonly version: number;
  /** Open read-only: asked for, or because the file is newer than `latest` (then `newer` is set). */
  readonly readOnly: boolean;
  readonly newer: boolean;
}

/** Maps an exception from SQLite to damaged-or-not-SQLite versus cannot-be-read. */
export function sqliteFailure(e: unknown, what: string, path: string): SqliteFailure {
  const code = (e as { code?: unknown }).code;
  const msg = e instanceof Error ? e.message : String(e);
  if (code === "SQLITE_NOTADB" || (typeof code === "string" && code.startsWith("SQLITE_CORRUPT")))
    return { kind: "corrupt", message: `${what} ${path} is damaged or not a ${what} (${msg})` };
  return { kind: "unreadable", message: `${what} ${path} cannot be read (${msg})` };
}

export function openSqliteFile(
  path: string,
  o: SqliteFileOptions,
): Result<SqliteFile, SqliteFailure> {
  const fail = (kind: SqliteFailureKind, text: string, fix = o.fix?.[kind]) =>
    err({ kind, message: `${o.what} ${path} ${text}${fix ? `; ${fix}` : ""}` });
  let readOnly = o.readOnly === true;
  try {
    if (existsSync(path) && statSync(path).isDirectory())
      return fail("unreadable", "is a directory, not a file");
  } catch (e) {
    return err(sqliteFailure(e, o.what, path));
  }
  if (!existsSync(path)) {
    if (readOnly || o.mustExist) return fail("missing", "does not exist");
    try {
      // Created 0600: the file holds secrets; SQLite gives -wal/-shm the same mode.
      closeSync(openSync(path, "wx", 0o600));
    } catch (e) {
      return fail(
        "unreadable",
        `cannot be created (${e instanceof Error ? e.message : String(e)})`,
        o.fix?.create,
      );
    }
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { readonly: readOnly, fileMustExist: true });
      db.pragma("busy_timeout = 5000");
      if (!readOnly) db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      if (o.foreignKeys) db.pragma("foreign_keys = ON");
      if (o.secureDelete) db.pragma("secure_delete = ON");
      if (o.integrityCheck) {
        const qc = db.pragma("quick_check", { simple: true });
        if (qc !== "ok") {
          db.close();
          return fail("corrupt", `fails its integrity check (${String(qc)})`);
        }
      }
      const version = db.pragma("user_version", { simple: true }) as number;
      const foreign = () => {
        db?.close();
        return fail("foreign", `is an SQLite database but not an Oakley ${o.what}`);
      };
      if (version === 0) {
        const n = (db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number }).n;
        if (n > 0) return foreign();
      } else {
        const hasMeta = db
          .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
          .get();
        const fmt = hasMeta
          ? (db.prepare("SELECT value FROM meta WHERE key = 'format'").get() as
              | { value: string }
              | undefined)
          : undefined;
        if (fmt?.value !== o.format) return foreign();
      }
      if (version > o.latest) {
        if (o.newer === "refuse") {
          db.close();
          return fail(
            "newer",
            `was written by a newer Oakley (schema ${version}; this version knows ${o.latest})`,
          );
        }
        if (!readOnly) {
          // Reopen read-only so that nothing in the newer file can be changed by mistake.
          db.close();
          readOnly = true;
          continue;
        }
      }
      return ok({ db, version, readOnly, newer: version > o.latest });
    } catch (e) {
      try {
        db?.close();
      } catch {
        // already failing; the classified error below is what matters
      }
      return err(sqliteFailure(e, o.what, path));
    }
  }
  return fail("unreadable", "could not be opened");
}
