/**
 * The store's SQLite schema and its ordered migrations.
 *
 * The schema version is SQLite's `PRAGMA user_version`. Migrations run at open, in order, each
 * in its own transaction together with the user_version bump, so a crash leaves the file at
 * either the old or the new version. Migration 1 is the initial schema.
 *
 * Contract for future migrations (what lets an OLDER Oakley open a NEWER file read-only): only
 * add tables, columns with defaults, indexes and triggers; never rename or drop what an older
 * version reads; keep every object a row (id, kind, name, version, body JSON, extensions JSON).
 *
 * Objects are JSON documents in one table per kind so that fields a newer Oakley writes survive
 * an older one: the older one never rewrites a row it does not fully understand (store.ts).
 * References between objects (rule -> PSK, rule -> CA certificate, user -> pool,
 * settings -> default pool) are mirrored into link tables with foreign keys, so SQLite itself
 * refuses to delete a referenced object.
 */
import type Database from "better-sqlite3";

export const STORE_FORMAT = "oakley-policy-store";

/** Tables holding objects, by kind. */
export const TABLE = {
  policy: "policies",
  user: "users",
  psk: "psks",
  certificate: "certificates",
  pool: "pools",
  settings: "settings",
} as const;

const objectTable = (table: string, kind: string, extra = ""): string => `
CREATE TABLE ${table} (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL DEFAULT '${kind}' CHECK (kind = '${kind}'),
  name TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL CHECK (version >= 1),
  body TEXT NOT NULL CHECK (json_valid(body) AND json_type(body) = 'object'),
  extensions TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extensions) AND json_type(extensions) = 'object')${extra}
);`;

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "initial schema: object tables, assigned/persistent policy state, reference links",
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('format', '${STORE_FORMAT}');
${objectTable(
  "policies",
  "policy",
  `,
  assigned INTEGER NOT NULL DEFAULT 0 CHECK (assigned IN (0, 1)),
  persistent INTEGER NOT NULL DEFAULT 0 CHECK (persistent IN (0, 1)),
  persistent_order INTEGER NOT NULL DEFAULT 0`,
)}
-- At most one assigned policy, enforced by SQLite itself.
CREATE UNIQUE INDEX policies_one_assigned ON policies (assigned) WHERE assigned = 1;
${objectTable("users", "user")}
${objectTable("psks", "psk")}
${objectTable("certificates", "certificate")}
${objectTable("pools", "pool")}
${objectTable("settings", "settings").replace("id INTEGER PRIMARY KEY", "id INTEGER PRIMARY KEY CHECK (id = 1)")}
CREATE TABLE policy_psk (
  policy_id INTEGER NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
  psk_id INTEGER NOT NULL REFERENCES psks (id) ON DELETE RESTRICT,
  PRIMARY KEY (policy_id, psk_id)
);
CREATE TABLE policy_ca (
  policy_id INTEGER NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
  certificate_id INTEGER NOT NULL REFERENCES certificates (id) ON DELETE RESTRICT,
  PRIMARY KEY (policy_id, certificate_id)
);
CREATE TABLE user_pool (
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  pool_id INTEGER NOT NULL REFERENCES pools (id) ON DELETE RESTRICT,
  PRIMARY KEY (user_id, pool_id)
);
CREATE TABLE settings_pool (
  settings_id INTEGER NOT NULL REFERENCES settings (id) ON DELETE CASCADE,
  pool_id INTEGER NOT NULL REFERENCES pools (id) ON DELETE RESTRICT,
  PRIMARY KEY (settings_id, pool_id)
);
CREATE INDEX policy_psk_psk ON policy_psk (psk_id);
CREATE INDEX policy_ca_cert ON policy_ca (certificate_id);
CREATE INDEX user_pool_pool ON user_pool (pool_id);
CREATE INDEX settings_pool_pool ON settings_pool (pool_id);
`,
  },
  {
    version: 2,
    description:
      "change journal: triggers record every object change so another process using the file notices what changed",
    sql: `
CREATE TABLE changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete'))
);
${Object.entries(TABLE)
  .map(
    ([kind, t]) => `
CREATE TRIGGER ${t}_ins AFTER INSERT ON ${t} BEGIN
  INSERT INTO changes (kind, name, op) VALUES ('${kind}', NEW.name, 'create');
END;
CREATE TRIGGER ${t}_upd AFTER UPDATE ON ${t} BEGIN
  INSERT INTO changes (kind, name, op) VALUES ('${kind}', NEW.name, 'update');
END;
CREATE TRIGGER ${t}_del AFTER DELETE ON ${t} BEGIN
  INSERT INTO changes (kind, name, op) VALUES ('${kind}', OLD.name, 'delete');
END;`,
  )
  .join("\n")}
`,
  },
];

export const LATEST_SCHEMA = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function schemaVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Applies migrations above the file's version, up to `upTo` (default: all). Each in one transaction. */
export function migrate(db: Database.Database, upTo: number = LATEST_SCHEMA): number[] {
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (m.version > upTo) break;
    if (m.version <= schemaVersion(db)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
    applied.push(m.version);
  }
  return applied;
}
