import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { unwrap } from "../base/result.js";
import { StoreErrorCode } from "./errors.js";
import {
  type ClientProfile,
  checkProfile,
  parseProfileDocument,
  profileToYaml,
  weakPskMessage,
} from "./profile.js";
import { openProfileStore, PROFILE_SCHEMA } from "./profile-store.js";
import { openStore } from "./store.js";

const tmp = (): string => join(mkdtempSync(join(tmpdir(), "oakley-profiles-")), "client.db");

const office: ClientProfile = {
  name: "office",
  server: "vpn.example.com",
  user: "alice",
  psk: "a-strong-shared-key-0123",
  password: "pa'ss\"word $(x) `y`",
  natPolicy: 1,
  defaultRoute: false,
  routes: ["10.20.0.0/16"],
  usePeerDns: true,
  allowWeakPsk: false,
};

test("a new profile store is 0600, WAL, synchronous FULL, secure_delete on, latest schema", () => {
  const path = tmp();
  const s = unwrap(openProfileStore(path));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(s.db.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(s.db.pragma("synchronous", { simple: true }), 2);
  assert.equal(s.db.pragma("secure_delete", { simple: true }), 1);
  assert.equal(s.schemaVersion, PROFILE_SCHEMA);
  assert.equal(s.db.pragma("user_version", { simple: true }), PROFILE_SCHEMA);
  s.close();
});

test("profiles survive a reopen exactly (secrets included), names are unique", () => {
  const path = tmp();
  const s = unwrap(openProfileStore(path));
  unwrap(s.add(office));
  const dup = s.add({ ...office, server: "198.51.100.9" });
  assert.equal(dup.ok, false);
  assert.equal(!dup.ok && dup.error.code, StoreErrorCode.Exists);
  assert.match(!dup.ok ? dup.error.message : "", /already exists.*oakley profile edit office/);
  s.close();
  const again = unwrap(openProfileStore(path));
  const got = unwrap(again.get("office"));
  assert.deepEqual(got.value, office);
  assert.equal(got.readOnly, undefined);
  again.close();
});

test("a removed profile's secret is overwritten in the file (secure_delete), not left in free pages", () => {
  const path = tmp();
  const s = unwrap(openProfileStore(path));
  const marker = "ZZsecret-marker-that-must-vanish-0123456789";
  unwrap(s.add({ ...office, psk: marker }));
  unwrap(s.remove("office"));
  s.db.pragma("wal_checkpoint(TRUNCATE)");
  s.close();
  assert.equal(readFileSync(path).includes(Buffer.from(marker)), false);
});

test("an add that fails validation changes nothing; the error names the field and the fix", () => {
  const path = tmp();
  const s = unwrap(openProfileStore(path));
  unwrap(s.add(office));
  const r = s.add({ ...office, name: "bad name!", routes: ["10.0.0.0/33"] });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, StoreErrorCode.Invalid);
  const paths = (r.error.issues ?? []).map((i) => i.path);
  assert.deepEqual(paths.sort(), ["name", "routes[0]"]);
  assert.equal(unwrap(s.list()).length, 1);
  s.close();
});

test("edit renames and replaces in one step; renaming onto another profile is refused", () => {
  const s = unwrap(openProfileStore(tmp()));
  unwrap(s.add(office));
  unwrap(s.add({ ...office, name: "home" }));
  const clash = s.replace("office", { ...office, name: "home" });
  assert.equal(!clash.ok && clash.error.code, StoreErrorCode.Exists);
  unwrap(s.replace("office", { ...office, name: "work", natPolicy: 2 }));
  assert.deepEqual(
    unwrap(s.list()).map((p) => p.name),
    ["home", "work"],
  );
  assert.equal(unwrap(s.get("work")).value?.natPolicy, 2);
  s.close();
});

test("weak PSKs are refused unless allowed, with the shared message", () => {
  const c = checkProfile({ name: "x", server: "198.51.100.1", user: "u", psk: "short-key" });
  assert.equal(c.value, undefined);
  assert.deepEqual(c.issues, [
    { path: "psk", message: "PSK is 9 characters; use at least 16 (or --allow-weak-psk)" },
  ]);
  assert.equal(weakPskMessage("x".repeat(16)), undefined);
  const allowed = checkProfile(
    { name: "x", server: "198.51.100.1", user: "u", psk: "short-key" },
    { allowWeakPsk: true },
  );
  assert.equal(allowed.value?.allowWeakPsk, true);
  // The choice is stored with the profile, so it still loads and exports later.
  const again = checkProfile({
    name: "x",
    server: "198.51.100.1",
    user: "u",
    psk: "short-key",
    "allow-weak-psk": true,
  });
  assert.equal(again.value?.psk, "short-key");
});

test("unknown fields in an import are errors with a did-you-mean hint", () => {
  const c = checkProfile({
    name: "x",
    server: "198.51.100.1",
    user: "u",
    psk: "0123456789abcdef",
    "nat-polcy": 1,
  });
  assert.deepEqual(c.issues, [
    { path: "nat-polcy", message: "unknown field; did you mean 'nat-policy'?" },
  ]);
});

test("YAML round trip keeps every field, including secrets with quotes and YAML specials", () => {
  const hostile: ClientProfile = {
    ...office,
    psk: "#: - ? {}[]'\"&*!|>%@`yes no 0x1F",
    password: "null",
  };
  const yaml = profileToYaml(hostile, { includeSecrets: true });
  const doc = unwrap(parseProfileDocument(yaml));
  assert.deepEqual(checkProfile(doc).value, hostile);
});

test("an export without secrets says so and leaves psk and password out", () => {
  const yaml = profileToYaml(office, { includeSecrets: false });
  assert.equal(yaml.includes(office.psk ?? "(no psk)"), false);
  assert.equal(yaml.includes("pa'ss"), false);
  const doc = unwrap(parseProfileDocument(yaml));
  assert.match(checkProfile(doc).issues[0]?.message ?? "", /pre-shared key is needed/);
});

test("documents that are not profiles are told apart from broken ones", () => {
  const cases: [string, RegExp][] = [
    ["- a\n- b\n", /not an Oakley client profile/],
    ["name: x\n", /oakley-client-profile: 1 is missing/],
    ["oakley-client-profile: 2\nname: x\n", /use a newer Oakley/],
    ["a: [\n", /not valid YAML/],
    ["a: &x [1]\nb: *x\n", /not valid YAML|alias/i],
  ];
  for (const [text, re] of cases) {
    const r = parseProfileDocument(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) {
      assert.equal(r.error.code, StoreErrorCode.ImportFormat);
      assert.match(r.error.message, re);
    }
  }
});

test("a row written by a newer Oakley is shown but never rewritten or removed", () => {
  const path = tmp();
  const s = unwrap(openProfileStore(path));
  unwrap(s.add(office));
  const body = JSON.parse(
    (s.db.prepare("SELECT body FROM profiles").get() as { body: string }).body,
  ) as Record<string, unknown>;
  s.db.prepare("UPDATE profiles SET body = ?").run(JSON.stringify({ ...body, "ike-version": 2 }));
  const got = unwrap(s.get("office"));
  assert.match(got.readOnly ?? "", /newer Oakley.*ike-version/);
  const ed = s.replace("office", office);
  assert.equal(!ed.ok && ed.error.code, StoreErrorCode.NewerObject);
  const rm = s.remove("office");
  assert.equal(!rm.ok && rm.error.code, StoreErrorCode.NewerObject);
  assert.match(
    (s.db.prepare("SELECT body FROM profiles").get() as { body: string }).body,
    /ike-version/,
  );
  s.close();
});

test("a store file with a newer schema opens read-only; writes say why", () => {
  const path = tmp();
  unwrap(openProfileStore(path)).close();
  const db = new Database(path);
  db.pragma(`user_version = ${PROFILE_SCHEMA + 1}`);
  db.close();
  const s = unwrap(openProfileStore(path));
  assert.match(s.readOnly ?? "", /newer Oakley/);
  const r = s.add(office);
  assert.equal(!r.ok && r.error.code, StoreErrorCode.ReadOnly);
  s.close();
});

test("the server's policy store, a random file and a directory are refused by name", () => {
  const policyPath = tmp();
  unwrap(openStore(policyPath)).close();
  const a = openProfileStore(policyPath);
  assert.equal(!a.ok && a.error.code, StoreErrorCode.Corrupt);
  assert.match(!a.ok ? a.error.message : "", /not an Oakley profile store.*--profile-store/);
  const junk = tmp();
  writeFileSync(junk, "this is not sqlite, just some bytes of text ".repeat(20));
  const b = openProfileStore(junk);
  assert.equal(!b.ok && b.error.code, StoreErrorCode.Corrupt);
  const c = openProfileStore(tmpdir());
  assert.equal(!c.ok && c.error.code, StoreErrorCode.Unreadable);
  const d = openProfileStore(tmp(), { mustExist: true });
  assert.equal(!d.ok && d.error.code, StoreErrorCode.NotFound);
});
