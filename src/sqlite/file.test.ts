import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { openSqliteFile, type SqliteFileOptions } from "./file.js";

const dir = mkdtempSync(join(tmpdir(), "oakley-sqlite-"));
let n = 0;
const tmp = () => join(dir, `f${n++}.db`);
const OPTS: SqliteFileOptions = { what: "test store", format: "oakley-test", latest: 1 };

/** What a caller's migration does: the meta table with its format, version 1. */
function initialise(db: Database.Database): void {
  db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  db.exec("INSERT INTO meta VALUES ('format', 'oakley-test')");
  db.pragma("user_version = 1");
}

test("a missing file is created 0600, in WAL mode, synchronous FULL, with a busy timeout", () => {
  const path = tmp();
  const r = openSqliteFile(path, { ...OPTS, secureDelete: true, foreignKeys: true });
  assert.ok(r.ok);
  const { db } = r.value;
  assert.equal(r.value.version, 0);
  assert.equal(r.value.readOnly, false);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(db.pragma("synchronous", { simple: true }), 2);
  assert.equal(db.pragma("busy_timeout", { simple: true }), 5000);
  assert.equal(db.pragma("secure_delete", { simple: true }), 1);
  assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
  initialise(db);
  assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600, "the WAL file too");
  db.close();
  const again = openSqliteFile(path, OPTS);
  assert.ok(again.ok);
  assert.equal(again.value.version, 1);
  assert.equal(again.value.db.pragma("secure_delete", { simple: true }), 0, "only when asked");
  again.value.db.close();
});

test("read-only or must-exist opens of a missing file create nothing", () => {
  for (const o of [{ readOnly: true }, { mustExist: true }]) {
    const path = tmp();
    const r = openSqliteFile(path, { ...OPTS, ...o, fix: { missing: "run setup first" } });
    assert.ok(!r.ok);
    assert.equal(r.error.kind, "missing");
    assert.equal(r.error.message, `test store ${path} does not exist; run setup first`);
    assert.equal(statSync(path, { throwIfNoEntry: false }), undefined);
  }
});

test("a directory, an uncreatable path and an unreadable file name the path (and the fix)", (t) => {
  const d = openSqliteFile(dir, OPTS);
  assert.ok(!d.ok);
  assert.equal(d.error.kind, "unreadable");
  assert.equal(d.error.message, `test store ${dir} is a directory, not a file`);
  const nowhere = join(dir, "no-such-dir", "x.db");
  const c = openSqliteFile(nowhere, { ...OPTS, fix: { create: "name another file" } });
  assert.ok(!c.ok);
  assert.equal(c.error.kind, "unreadable");
  assert.match(
    c.error.message,
    /^test store .*no-such-dir\/x\.db cannot be created \(.*\); name another file$/,
  );
  if (process.getuid?.() === 0) {
    t.diagnostic("running as root: file permissions do not stop reading");
    return;
  }
  const locked = tmp();
  const r = openSqliteFile(locked, OPTS);
  assert.ok(r.ok);
  r.value.db.close();
  chmodSync(locked, 0o000);
  const u = openSqliteFile(locked, OPTS);
  assert.ok(!u.ok);
  assert.equal(u.error.kind, "unreadable");
  assert.ok(u.error.message.startsWith(`test store ${locked} `), u.error.message);
});

test("not SQLite, damaged pages and another application's database are refused by name", () => {
  const junk = tmp();
  writeFileSync(junk, "this is not sqlite, just some bytes of text ".repeat(200));
  const j = openSqliteFile(junk, OPTS);
  assert.ok(!j.ok);
  assert.equal(j.error.kind, "corrupt");
  assert.ok(j.error.message.startsWith(`test store ${junk} is damaged`), j.error.message);

  const damaged = tmp();
  const w = openSqliteFile(damaged, OPTS);
  assert.ok(w.ok);
  initialise(w.value.db);
  w.value.db.exec("CREATE TABLE t (x TEXT)");
  const ins = w.value.db.prepare("INSERT INTO t VALUES (?)");
  for (let i = 0; i < 400; i++) ins.run(`row ${i} `.repeat(20));
  w.value.db.pragma("wal_checkpoint(TRUNCATE)");
  w.value.db.close();
  const bytes = readFileSync(damaged);
  for (let i = 4096; i < bytes.length; i += 7) bytes[i] = (bytes[i] ?? 0) ^ 0x5a;
  writeFileSync(damaged, bytes);
  const dmg = openSqliteFile(damaged, { ...OPTS, integrityCheck: true });
  assert.ok(!dmg.ok);
  assert.equal(dmg.error.kind, "corrupt");
  assert.ok(dmg.error.message.startsWith(`test store ${damaged} `), dmg.error.message);

  const other = tmp();
  const o = new Database(other);
  o.exec("CREATE TABLE t (x)");
  o.close();
  const f = openSqliteFile(other, { ...OPTS, fix: { foreign: "name another file" } });
  assert.ok(!f.ok);
  assert.equal(f.error.kind, "foreign");
  assert.equal(
    f.error.message,
    `test store ${other} is an SQLite database but not an Oakley test store; name another file`,
  );
  const tagged = tmp();
  const t2 = new Database(tagged);
  t2.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  t2.exec("INSERT INTO meta VALUES ('format', 'something-else')");
  t2.pragma("user_version = 1");
  t2.close();
  const g = openSqliteFile(tagged, OPTS);
  assert.equal(!g.ok && g.error.kind, "foreign");
});

test("a file from a newer schema opens read-only (nothing changes in it) or is refused", () => {
  const path = tmp();
  const r = openSqliteFile(path, OPTS);
  assert.ok(r.ok);
  initialise(r.value.db);
  r.value.db.exec("CREATE TABLE kept (x TEXT)");
  r.value.db.exec("INSERT INTO kept VALUES ('what the newer version stored')");
  r.value.db.pragma("user_version = 7");
  r.value.db.close();
  const before = readFileSync(path);
  const ro = openSqliteFile(path, OPTS);
  assert.ok(ro.ok);
  assert.equal(ro.value.newer, true);
  assert.equal(ro.value.readOnly, true);
  assert.equal(ro.value.version, 7);
  assert.throws(() => ro.value.db.exec("DELETE FROM kept"), /readonly/);
  ro.value.db.close();
  assert.deepEqual(readFileSync(path), before);
  const refused = openSqliteFile(path, { ...OPTS, newer: "refuse" });
  assert.ok(!refused.ok);
  assert.equal(refused.error.kind, "newer");
  assert.equal(
    refused.error.message,
    `test store ${path} was written by a newer Oakley (schema 7; this version knows 1)`,
  );
});
