import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { unwrap } from "../base/result.js";
import { makeCredentials } from "./credentials.js";
import { createDefaultStore, DEFAULT_POLICY, defaultServerPolicy } from "./defaults.js";
import { StoreErrorCode } from "./errors.js";
import { effectivePolicy, selectRule } from "./evaluator.js";
import { exportDocument, exportYaml, importYaml, REDACTED } from "./exchange.js";
import type { Policy } from "./model.js";
import { LATEST_SCHEMA, migrate } from "./schema.js";
import { openStore, type PolicyStore, type StoreChange } from "./store.js";
import { parseIp } from "./address.js";

const tmp = (): string => join(mkdtempSync(join(tmpdir(), "oakley-policy-")), "store.db");
let counter = 0;
const random = (n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (++counter * 131 + i * 7) & 0xff;
  return b;
};
const fastCreds = (pw: string) => makeCredentials(pw, random, { scrypt: { n: 1024, r: 8, p: 1 } });

function seeded(path = tmp()): PolicyStore {
  const s = unwrap(openStore(path));
  unwrap(s.psks.create({ name: "k1", secret: "s3cret-psk-0123456789" }));
  unwrap(s.policies.create({ ...defaultServerPolicy(), name: "a", rules: rulesWith("k1") }));
  unwrap(s.policies.create({ ...defaultServerPolicy(), name: "b", rules: rulesWith("k1") }));
  unwrap(s.policies.create({ ...defaultServerPolicy(), name: "p1", rules: rulesWith("k1") }));
  unwrap(s.policies.create({ ...defaultServerPolicy(), name: "p2", rules: rulesWith("k1") }));
  return s;
}
function rulesWith(psk: string): Policy["rules"] {
  return defaultServerPolicy().rules.map((r) => ({
    ...r,
    authentication: [{ method: "psk" as const, psk }],
  }));
}

test("a fresh store is created at the latest schema, WAL mode, synchronous FULL, foreign keys on", () => {
  const s = unwrap(openStore(tmp()));
  assert.equal(s.schemaVersion, LATEST_SCHEMA);
  assert.equal(s.db.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(s.db.pragma("synchronous", { simple: true }), 2);
  assert.equal(s.db.pragma("foreign_keys", { simple: true }), 1);
  assert.equal(s.readOnly, undefined);
  s.close();
});

test("validation errors name the field path and the fix (API write)", () => {
  const s = unwrap(openStore(tmp()));
  unwrap(s.psks.create({ name: "k1", secret: "x-psk-0123456789ab" }));
  const p = defaultServerPolicy();
  const bad = {
    ...p,
    rules: [
      {
        ...p.rules[0]!,
        authentication: [{ method: "psk", psk: "k1" }],
        filters: [{ ...p.rules[0]!.filters[0]!, destinationPort: "80-x" }],
      },
    ],
  } as Policy;
  const r = s.policies.create(bad);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, StoreErrorCode.Invalid);
  const issue = r.error.issues?.find((i) => i.path === "rules[0].filters[0].destinationPort");
  assert.ok(issue, JSON.stringify(r.error.issues));
  assert.match(issue.message, /"80-x" is not a port or range; write e\.g\. "1701" or "1000-2000"/);
  s.close();
});

test("import validation reports every problem with its document path, and changes nothing", () => {
  const s = seeded();
  const before = unwrap(exportYaml(s, { includeSecrets: true }));
  const yaml = `
format: oakley-policy-store
formatVersion: 1
policies:
  - name: x
    mainMode:
      offers:
        - {encryption: aes-cbc, keyLength: 256, hash: sha2-256, dhGroup: modp2049}
    rules:
      - name: r0
        filters: [{source: me}]
        action: {type: permit}
      - name: r1
        filters:
          - {source: me, protocol: udp, destinationPort: "80-x"}
          - {source: "10.0.0.1/8", protocl: udp}
        action: {type: negotiate, offers: [{encryption: aes-gcm-16, keyLength: 256, integrity: sha1}]}
`;
  const r = importYaml(s, yaml);
  assert.equal(r.ok, false);
  if (r.ok) return;
  const byPath = new Map(r.error.issues?.map((i) => [i.path, i.message]));
  assert.match(
    byPath.get("policies[0].rules[1].filters[0].destinationPort") ?? "",
    /"80-x" is not a port or range; write e\.g\. "1701"/,
  );
  assert.match(
    byPath.get("policies[0].mainMode.offers[0].dhGroup") ?? "",
    /did you mean "modp2048"/,
  );
  assert.match(
    byPath.get("policies[0].rules[1].filters[1].protocl") ?? "",
    /unknown field; did you mean "protocol"/,
  );
  assert.match(byPath.get("policies[0].rules[1].filters[1].source") ?? "", /host bits/);
  assert.match(
    byPath.get("policies[0].rules[1].action.offers[0].integrity") ?? "",
    /aes-gcm-16 carries its own integrity check; write "none"/,
  );
  assert.match(
    byPath.get("policies[0].rules[1].authentication") ?? "",
    /needs at least one method/,
  );
  assert.equal(unwrap(exportYaml(s, { includeSecrets: true })), before);
  s.close();
});

test("migrations: a version-1 file with data is migrated to the latest schema at open", () => {
  const path = tmp();
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  migrate(db, 1);
  assert.equal(db.pragma("user_version", { simple: true }), 1);
  db.prepare("INSERT INTO psks (name, version, body) VALUES ('old', 1, ?)").run(
    JSON.stringify({ name: "old", secret: "abc" }),
  );
  db.close();
  const s = unwrap(openStore(path));
  assert.equal(s.schemaVersion, LATEST_SCHEMA);
  assert.equal(unwrap(s.psks.get("old")).value?.secret, "abc");
  // Migration 2's journal now records changes.
  unwrap(s.psks.update("old", { name: "old", secret: "def-psk-0123456789" }));
  const journal = s.db.prepare("SELECT kind, name, op FROM changes").all();
  assert.deepEqual(journal, [{ kind: "psk", name: "old", op: "update" }]);
  s.close();
});

test("a file with a newer schema opens read-only with a clear message; writes are refused", () => {
  const path = tmp();
  const s0 = seeded(path);
  s0.db.pragma(`user_version = ${LATEST_SCHEMA + 1}`);
  s0.close();
  const s = unwrap(openStore(path));
  assert.match(
    s.readOnly ?? "",
    /written by a newer Oakley \(schema version 3; this version understands 2\); it is open read-only so that nothing is lost/,
  );
  assert.equal(unwrap(s.policies.list()).length, 4);
  const r = s.assign("a");
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.code, StoreErrorCode.ReadOnly);
    assert.match(r.error.message, /cannot assign policy 'a': .*newer Oakley/);
  }
  s.close();
});

test("exactly one policy is assigned; assigning another unassigns the first, atomically, across restarts", () => {
  const path = tmp();
  const s = seeded(path);
  unwrap(s.assign("a"));
  unwrap(s.assign("b"));
  const assigned = unwrap(s.policies.list())
    .filter((p) => p.assigned)
    .map((p) => p.name);
  assert.deepEqual(assigned, ["b"]);
  // SQLite itself refuses a second assigned row.
  assert.throws(
    () => s.db.prepare("UPDATE policies SET assigned = 1 WHERE name = 'a'").run(),
    /UNIQUE/,
  );
  const nf = s.assign("nope");
  assert.equal(!nf.ok && nf.error.code, StoreErrorCode.NotFound);
  assert.equal(unwrap(s.assigned())?.name, "b");
  s.close();
  const s2 = unwrap(openStore(path));
  assert.equal(unwrap(s2.assigned())?.name, "b");
  s2.close();
});

test("effective policy: persistent policies first in their order, then the assigned one", () => {
  const path = tmp();
  const s = seeded(path);
  unwrap(s.assign("a"));
  unwrap(s.setPersistent("p2", true, 1));
  unwrap(s.setPersistent("p1", true, 2));
  let eff = unwrap(effectivePolicy(s));
  assert.deepEqual(
    eff.policies.map((p) => [p.name, p.source]),
    [
      ["p2", "persistent"],
      ["p1", "persistent"],
      ["a", "assigned"],
    ],
  );
  assert.deepEqual(
    eff.rules.map((r) => r.policy),
    ["p2", "p1", "a"],
  );
  s.close();
  const s2 = unwrap(openStore(path));
  eff = unwrap(effectivePolicy(s2));
  assert.deepEqual(
    eff.policies.map((p) => p.name),
    ["p2", "p1", "a"],
  );
  unwrap(s2.setPersistent("p2", false));
  eff = unwrap(effectivePolicy(s2));
  assert.deepEqual(
    eff.policies.map((p) => p.name),
    ["p1", "a"],
  );
  s2.close();
});

/** A row as a newer Oakley would write it: extra fields in the body and a higher object version. */
function craftNewer(s: PolicyStore): void {
  const body = structuredClone(defaultServerPolicy()) as unknown as Record<string, unknown>;
  body.name = "newer";
  body.certificateMapping = { enabled: true, store: "ad" };
  const rules = body.rules as Record<string, unknown>[];
  rules[0] = { ...rules[0], authentication: [{ method: "psk", psk: "k1" }], geoFence: ["JP"] };
  s.db
    .prepare("INSERT INTO policies (name, version, body, extensions) VALUES ('newer', 2, ?, ?)")
    .run(JSON.stringify(body), JSON.stringify({ "/mainMode/dhGroupPreference": "strongest" }));
}

test("unknown-extension guard: a newer object is shown, refuses edits with a reason, and survives other writes", () => {
  const s = seeded();
  craftNewer(s);
  const row0 = s.db
    .prepare("SELECT version, body, extensions FROM policies WHERE name = 'newer'")
    .get();
  const got = unwrap(s.policies.get("newer"));
  assert.ok(got.readOnly);
  assert.match(
    got.readOnly,
    /^policy 'newer' was written by a newer Oakley \(extensions '.*certificateMapping.*'\); it is read-only in this version so that nothing is lost$/,
  );
  assert.deepEqual(Object.keys(got.extensions).sort(), [
    "/certificateMapping",
    "/mainMode/dhGroupPreference",
    "/rules/0/geoFence",
  ]);
  assert.deepEqual((got.document as { certificateMapping?: unknown }).certificateMapping, {
    enabled: true,
    store: "ad",
  });
  assert.equal(got.value?.rules[0]?.name, "l2tp", "the known fields are still readable");

  const upd = s.policies.update("newer", {
    ...defaultServerPolicy(),
    name: "newer",
    rules: rulesWith("k1"),
  });
  assert.equal(upd.ok, false);
  if (!upd.ok) {
    assert.equal(upd.error.code, StoreErrorCode.NewerObject);
    assert.match(
      upd.error.message,
      /cannot change policy 'newer': policy 'newer' was written by a newer Oakley \(extensions '/,
    );
  }
  const del = s.policies.delete("newer");
  assert.equal(!del.ok && del.error.code, StoreErrorCode.NewerObject);
  // Editing other objects (even ones it references) never drops its unknown data.
  unwrap(
    s.policies.update("a", {
      ...defaultServerPolicy(),
      name: "a",
      rules: rulesWith("k1"),
      description: "changed",
    }),
  );
  unwrap(s.psks.update("k1", { name: "k1", secret: "rotated-psk-0123456789" }));
  unwrap(s.assign("newer"));
  unwrap(s.assign("a"));
  const imp = importYaml(s, unwrap(exportYaml(s, { includeSecrets: true })), { mode: "replace" });
  assert.ok(imp.ok, JSON.stringify(imp));
  assert.deepEqual(
    s.db.prepare("SELECT version, body, extensions FROM policies WHERE name = 'newer'").get(),
    row0,
  );
  // An object version above ours alone is enough.
  s.db
    .prepare("INSERT INTO psks (name, version, body) VALUES ('k9', 7, ?)")
    .run(JSON.stringify({ name: "k9", secret: "z" }));
  assert.match(
    unwrap(s.psks.get("k9")).readOnly ?? "",
    /pre-shared key 'k9' was written by a newer Oakley \(object version 7; this version understands 1\)/,
  );
  s.close();
});

test("effective policy uses a newer policy's known fields and warns about the ignored extensions", () => {
  const s = seeded();
  craftNewer(s);
  unwrap(s.assign("newer"));
  const eff = unwrap(effectivePolicy(s));
  assert.equal(eff.policies[0]?.name, "newer");
  assert.ok(eff.warnings.some((w) => w.includes("/certificateMapping")));
  s.close();
});

test("export keeps extensions; a store built from it exports the same document", () => {
  const s = seeded();
  craftNewer(s);
  unwrap(s.assign("b"));
  const text = unwrap(exportYaml(s, { includeSecrets: true }));
  assert.match(text, /objectVersion: 2/);
  assert.match(text, /\/rules\/0\/geoFence/);
  const t = unwrap(openStore(tmp()));
  unwrap(importYaml(t, text, { mode: "replace" }));
  assert.equal(unwrap(exportYaml(t, { includeSecrets: true })), text);
  assert.ok(unwrap(t.policies.get("newer")).readOnly);
  s.close();
  t.close();
});

test("secrets are left out of exports unless asked; a redacted export re-imports keeping the secrets", () => {
  const s = seeded();
  unwrap(
    s.users.create({
      name: "alice",
      enabled: true,
      protocols: ["mschapv2"],
      credentials: fastCreds("pw-alice"),
    }),
  );
  const redacted = unwrap(exportYaml(s));
  assert.ok(!redacted.includes("s3cret-psk-0123456789"));
  assert.ok(!redacted.includes(unwrap(s.users.get("alice")).value!.credentials.ntHash));
  assert.ok(redacted.includes(REDACTED));
  const full = unwrap(exportYaml(s, { includeSecrets: true }));
  assert.ok(full.includes("s3cret-psk-0123456789"));
  // Same store: redacted values are taken from the existing objects.
  unwrap(importYaml(s, redacted, { mode: "replace" }));
  assert.equal(unwrap(exportYaml(s, { includeSecrets: true })), full);
  // A store without those objects refuses, naming the field.
  const t = unwrap(openStore(tmp()));
  const r = importYaml(t, redacted);
  assert.equal(r.ok, false);
  if (!r.ok)
    assert.ok(
      r.error.issues?.some(
        (i) => i.path === "psks[0].secret" && /exported without secrets/.test(i.message),
      ),
    );
  assert.equal(unwrap(t.psks.list()).length, 0);
  t.close();
  s.close();
});

test("a user may be imported with a password; credentials are derived", () => {
  const s = unwrap(openStore(tmp()));
  unwrap(
    importYaml(
      s,
      "format: oakley-policy-store\nformatVersion: 1\nusers:\n  - name: bob\n    password: clientPass\n    protocols: [mschapv2, chap-md5]\n",
      {
        random,
      },
    ),
  );
  const u = unwrap(s.users.get("bob")).value!;
  // NtPasswordHash of "clientPass": RFC 2759 section 9.2.
  assert.equal(u.credentials.ntHash, "44ebba8d5312b8d611474411f56989ae");
  assert.equal(u.credentials.cleartext, "clientPass");
  s.close();
});

test("references: a PSK in use cannot be deleted or renamed; dangling references are refused", () => {
  const s = seeded();
  const d = s.psks.delete("k1");
  assert.equal(!d.ok && d.error.code, StoreErrorCode.InUse);
  assert.match(
    !d.ok ? d.error.message : "",
    /policy 'a', policy 'b', policy 'p1', policy 'p2' still refer to it/,
  );
  const rn = s.psks.update("k1", { name: "k2", secret: "x-psk-0123456789ab" });
  assert.equal(!rn.ok && rn.error.code, StoreErrorCode.InUse);
  const dang = s.policies.create({
    ...defaultServerPolicy(),
    name: "c",
    rules: rulesWith("missing"),
  });
  assert.equal(!dang.ok && dang.error.code, StoreErrorCode.DanglingReference);
  assert.equal(!dang.ok && dang.error.issues?.[0]?.path, "rules[0].authentication[0].psk");
  // Foreign keys back this up below the API.
  assert.throws(() => s.db.prepare("DELETE FROM psks WHERE name = 'k1'").run(), /FOREIGN KEY/);
  for (const p of ["a", "b", "p1", "p2"]) unwrap(s.policies.delete(p));
  unwrap(s.psks.delete("k1"));
  s.close();
});

test("listeners hear local commits; a second connection notices them through poll()", () => {
  const path = tmp();
  const s = seeded(path);
  const other = unwrap(openStore(path));
  const local: StoreChange[] = [];
  const seen: StoreChange[] = [];
  s.subscribe((c) => local.push(...c));
  const unsub = other.subscribe((c) => seen.push(...c));
  unwrap(s.assign("b"));
  assert.deepEqual(local, [{ kind: "policy", name: "b", op: "update", source: "local" }]);
  assert.deepEqual(other.poll(), [{ kind: "policy", name: "b", op: "update", source: "external" }]);
  assert.deepEqual(
    seen.map((c) => c.name),
    ["b"],
  );
  assert.deepEqual(other.poll(), [], "nothing new");
  assert.equal(unwrap(other.assigned())?.name, "b");
  // The other connection's own write is local to it and external to us.
  unwrap(other.psks.create({ name: "k2", secret: "zz-psk-0123456789ab" }));
  assert.deepEqual(
    s.poll().map((c) => [c.kind, c.name, c.op, c.source]),
    [["psk", "k2", "create", "external"]],
  );
  unsub();
  s.close();
  other.close();
});

test("corrupt and unreadable files give typed errors", () => {
  const garbage = tmp();
  writeFileSync(garbage, Buffer.alloc(8192, 0x41));
  const g = openStore(garbage);
  assert.equal(!g.ok && g.error.code, StoreErrorCode.Corrupt);

  // A real store whose pages are damaged after the header.
  const path = tmp();
  const s = seeded(path);
  s.db.pragma("wal_checkpoint(TRUNCATE)");
  s.close();
  const bytes = readFileSync(path);
  for (let i = 4096; i < bytes.length; i += 7) bytes[i] = (bytes[i] ?? 0) ^ 0x5a;
  writeFileSync(path, bytes);
  const d = openStore(path);
  assert.equal(!d.ok && d.error.code, StoreErrorCode.Corrupt, JSON.stringify(d));

  const dir = mkdtempSync(join(tmpdir(), "oakley-dir-"));
  const u = openStore(dir);
  assert.equal(!u.ok && u.error.code, StoreErrorCode.Unreadable);
  const missing = openStore(join(dir, "nope.db"), { readOnly: true });
  assert.equal(!missing.ok && missing.error.code, StoreErrorCode.Unreadable);

  const foreign = tmp();
  const fdb = new Database(foreign);
  fdb.exec("CREATE TABLE t (x)");
  fdb.close();
  const f = openStore(foreign);
  assert.equal(!f.ok && f.error.code, StoreErrorCode.Corrupt);
  assert.match(!f.ok ? f.error.message : "", /not an Oakley policy store/);
});

test("default store: server policy assigned, PSK and first user returned once, legacy offers filtered", () => {
  const path = tmp();
  const r = unwrap(createDefaultStore(path, random));
  assert.ok(r.initial);
  assert.ok(r.initial.psk.length >= 24);
  assert.equal(unwrap(r.store.psks.get("default")).value?.secret, r.initial.psk);
  assert.equal(unwrap(r.store.assigned())?.name, DEFAULT_POLICY);
  const eff = unwrap(effectivePolicy(r.store));
  const mm = eff.policies[0]!.mainModeOffers.map(
    (o) => `${o.encryption}${o.keyLength ?? ""}/${o.hash}/${o.dhGroup}`,
  );
  assert.deepEqual(mm, [
    "aes-cbc256/sha2-256/ecp384",
    "aes-cbc256/sha2-256/ecp256",
    "aes-cbc256/sha2-256/modp2048",
    "aes-cbc256/sha1/modp2048",
    "aes-cbc128/sha1/modp2048",
  ]);
  const rule = eff.rules[0]!;
  assert.ok(
    rule.action.type === "negotiate" &&
      rule.action.offers.every((o) => o.encryption !== "3des-cbc"),
  );
  assert.deepEqual(
    rule.authentication.map((a) => a.method === "psk" && a.secret),
    [r.initial.psk],
  );
  // NegotiateDH2048 off removes MODP 2048 offers.
  const st = unwrap(r.store.settings()).value!;
  unwrap(r.store.setSettings({ ...st, negotiateDh2048: false, allowLegacyCrypto: true }));
  const eff2 = unwrap(effectivePolicy(r.store));
  assert.ok(eff2.policies[0]!.mainModeOffers.every((o) => o.dhGroup !== "modp2048"));
  assert.ok(eff2.policies[0]!.mainModeOffers.some((o) => o.dhGroup === "modp1024"));
  // The rule selects L2TP to/from this host (mirrored), nothing else.
  const me = parseIp("203.0.113.5")!;
  const peer = parseIp("198.51.100.9")!;
  const resolver = { me: () => [me], dynamic: () => [] };
  assert.equal(
    selectRule(
      eff,
      { source: me, destination: peer, protocol: 17, sourcePort: 1701, destinationPort: 51000 },
      resolver,
    )?.rule.rule,
    "l2tp",
  );
  assert.equal(
    selectRule(
      eff,
      { source: peer, destination: me, protocol: 17, sourcePort: 51000, destinationPort: 1701 },
      resolver,
    )?.rule.rule,
    "l2tp",
  );
  assert.equal(
    selectRule(
      eff,
      { source: peer, destination: me, protocol: 6, sourcePort: 51000, destinationPort: 1701 },
      resolver,
    ),
    undefined,
  );
  r.store.close();
  const again = unwrap(createDefaultStore(path, random));
  assert.equal(again.initial, undefined, "secrets are shown only once");
  again.store.close();
});

test("dynamic filters resolve through the injected resolver", () => {
  const s = unwrap(openStore(tmp()));
  unwrap(
    s.policies.create({
      name: "dyn",
      mainMode: defaultServerPolicy().mainMode,
      rules: [
        {
          name: "dns-clear",
          enabled: true,
          filters: [
            {
              source: "me",
              destination: "dns",
              protocol: "udp",
              sourcePort: "any",
              destinationPort: "53",
              mirrored: true,
            },
          ],
          action: { type: "permit" },
          authentication: [],
          tunnel: { mode: "transport" },
        },
      ],
    }),
  );
  unwrap(s.assign("dyn"));
  const eff = unwrap(effectivePolicy(s));
  const me = parseIp("192.0.2.1")!;
  const dns = parseIp("192.0.2.53")!;
  const pkt = {
    source: me,
    destination: dns,
    protocol: 17,
    sourcePort: 40000,
    destinationPort: 53,
  };
  assert.equal(
    selectRule(eff, pkt, { me: () => [me], dynamic: (w) => (w === "dns" ? [dns] : []) })?.rule.rule,
    "dns-clear",
  );
  assert.equal(selectRule(eff, pkt, { me: () => [me], dynamic: () => [] }), undefined);
  assert.equal(unwrap(exportDocument(s)).format, "oakley-policy-store");
  s.close();
});

// Generated once with OpenSSL 3 (`openssl req -x509 -newkey ec ... -addext basicConstraints=critical,CA:TRUE`
// and `CA:FALSE`), not by Oakley.
const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUWBdz4gpXYtXwdNyO7Xm+9qOJb5swCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOT2FrbGV5IFRlc3QgQ0EwHhcNMjYxMTI3MDYyNTU0WhcNMzYx
MTI0MDYyNTU0WjAZMRcwFQYDVQQDDA5PYWtsZXkgVGVzdCBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABL4THyujmWOOLr/ZcZpiKKcxm93n2fAGnAoSC9VGKudW
3JjVyCdKYpO9Wz0rv6uKn2DhM6GIXLlv+KIldx2xqE+jUzBRMB0GA1UdDgQWBBQD
eW3WdvQ8GqP5IJuJNCccfc4AmTAfBgNVHSMEGDAWgBQDeW3WdvQ8GqP5IJuJNCcc
fc4AmTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIANFTRI6OE0q
h3KH1gGKb7MocyAZMEUySRKhBAT2Ra39AiEAmQnxNOX8Y2motRo+xXILr+Nu36th
tHENAyuyUiPDxpQ=
-----END CERTIFICATE-----\n`;
const LEAF_PEM = `-----BEGIN CERTIFICATE-----
MIIBcTCCARagAwIBAgIUVNhRzscqn9t64WrubDfmO6Np1mMwCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEbGVhZjAeFw0yNjExMjcwNjI1NTRaFw0zNjExMjQwNjI1NTRa
MA8xDTALBgNVBAMMBGxlYWYwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR6WFOJ
ajcjpDOHdq8xbDbEiDGlY6tHcYr24ORaZLy1uEWLzWYMPUxZaF3rAgCUqUwBm4GO
XPnXpX/u3dpFmT9Bo1AwTjAdBgNVHQ4EFgQUSUIyN5Bt7YLRiM6hW8NpLfCn4OYw
HwYDVR0jBBgwFoAUSUIyN5Bt7YLRiM6hW8NpLfCn4OYwDAYDVR0TAQH/BAIwADAK
BggqhkjOPQQDAgNJADBGAiEAuP95vK58utY4O5p/MAsXD9GT3TcVS7vmq1XtHTiK
d9QCIQCgLkhEJm2S3S5jMXUTeKDE2iw3pWgZcwYBk5xKjolWeQ==
-----END CERTIFICATE-----\n`;

test("certificates: PEM is parsed, isCa must match basicConstraints, rules may name only CAs", () => {
  const s = unwrap(openStore(tmp()));
  unwrap(s.certificates.create({ name: "ca", pem: CA_PEM, isCa: true }));
  const notCa = s.certificates.create({ name: "leaf", pem: LEAF_PEM, isCa: true });
  assert.equal(!notCa.ok && notCa.error.issues?.[0]?.path, "isCa");
  unwrap(s.certificates.create({ name: "leaf", pem: LEAF_PEM, isCa: false }));
  const garbage = s.certificates.create({
    name: "g",
    pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    isCa: false,
  });
  assert.equal(!garbage.ok && garbage.error.issues?.[0]?.path, "pem");
  const rules = (ca: string): Policy["rules"] =>
    defaultServerPolicy().rules.map((r) => ({
      ...r,
      authentication: [{ method: "certificate" as const, ca }],
    }));
  const bad = s.policies.create({ ...defaultServerPolicy(), rules: rules("leaf") });
  assert.match(
    !bad.ok ? (bad.error.issues?.[0]?.message ?? "") : "",
    /certificate 'leaf' is not marked as a CA/,
  );
  unwrap(s.policies.create({ ...defaultServerPolicy(), rules: rules("ca") }));
  const del = s.certificates.delete("ca");
  assert.equal(!del.ok && del.error.code, StoreErrorCode.InUse);
  s.close();
});
