import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { formatIssues, loadServeConfig } from "./config.js";
import { radiusFromStore, radiusServiceOptions } from "./radius-config.js";

const dir = mkdtempSync(join(tmpdir(), "oakley-radcfg-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const secretFile = join(dir, "secret");
writeFileSync(secretFile, "s3cret-value\n", { mode: 0o600 });

function load(flags: Record<string, unknown>) {
  return loadServeConfig({ store: join(dir, "oakley.db"), ...flags }, {});
}

test("--radius (repeatable) with a secret file: servers in order, accounting on port+1, queue beside the store", () => {
  const r = load({
    radius: ["192.0.2.10", "192.0.2.11:11812"],
    radiusSecretFile: secretFile,
    radiusNasIdentifier: "vpn-1",
    radiusDaeListen: "0.0.0.0",
  });
  assert.ok(r.ok, r.ok ? "" : formatIssues(r.error));
  const s = r.value.radius;
  assert.ok(s);
  assert.deepEqual(s.servers, [
    { address: "192.0.2.10", authPort: 1812, acctPort: 1813 },
    { address: "192.0.2.11", authPort: 11812, acctPort: 11813 },
  ]);
  assert.equal(s.secret.toString(), "s3cret-value");
  assert.equal(s.nasIdentifier, "vpn-1");
  assert.deepEqual(s.daeListen, { address: "0.0.0.0", port: 3799 });
  assert.equal(s.queuePath, join(dir, "radius-accounting.db"));
  const o = radiusServiceOptions(s);
  assert.equal(o.client.servers.length, 2);
  assert.equal(o.client.nasIpAddress, undefined);
  // NAS-IP-Address is the address serve listens on (SQL accounting keys its rows on it).
  assert.equal(radiusServiceOptions(s, "198.51.100.2").client.nasIpAddress, "198.51.100.2");
  assert.equal(radiusServiceOptions(s, "0.0.0.0").client.nasIpAddress, undefined);
  assert.deepEqual(
    o.dae?.clients.map((c) => c.address),
    ["192.0.2.10", "192.0.2.11"],
  );
});

test("no --radius: RADIUS is off", () => {
  const r = load({});
  assert.ok(r.ok);
  assert.equal(r.value.radius, undefined);
});

test("mistakes name the field and the fix; the secret never appears in a message", () => {
  const loose = join(dir, "loose");
  writeFileSync(loose, "s3cret-value\n");
  chmodSync(loose, 0o644);
  const empty = join(dir, "empty");
  writeFileSync(empty, "\n", { mode: 0o600 });
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ radius: ["192.0.2.10"] }, "radius-secret-file", /is required/],
    [{ radius: ["radius.example"], radiusSecretFile: secretFile }, "radius", /not an IPv4 address/],
    [{ radius: ["192.0.2.10:0"], radiusSecretFile: secretFile }, "radius", /port/],
    [{ radius: ["192.0.2.10"], radiusSecretFile: loose }, "radius-secret-file", /chmod 600/],
    [{ radius: ["192.0.2.10"], radiusSecretFile: empty }, "radius-secret-file", /empty/],
    [
      { radius: ["192.0.2.10"], radiusSecretFile: join(dir, "nope") },
      "radius-secret-file",
      /ENOENT/,
    ],
    [{ radiusSecretFile: secretFile }, "radius", /without a server/],
    [
      { radius: ["192.0.2.10"], radiusSecretFile: secretFile, radiusDaeListen: "x" },
      "radius-dae-listen",
      /IPv4/,
    ],
  ];
  for (const [flags, field, message] of cases) {
    const r = load(flags);
    assert.equal(r.ok, false, JSON.stringify(flags));
    if (r.ok) continue;
    const issue = r.error.find((i) => i.field === field);
    assert.ok(issue, `${JSON.stringify(flags)} → ${formatIssues(r.error)}`);
    assert.match(issue.message, message);
    assert.doesNotMatch(formatIssues(r.error), /s3cret-value/);
  }
});

test("settings also come from the environment and the config file", () => {
  const r = loadServeConfig(
    { store: join(dir, "oakley.db") },
    { OAKLEY_RADIUS: "192.0.2.20, 192.0.2.21", OAKLEY_RADIUS_SECRET_FILE: secretFile },
  );
  assert.ok(r.ok, r.ok ? "" : formatIssues(r.error));
  assert.deepEqual(
    r.value.radius?.servers.map((s) => s.address),
    ["192.0.2.20", "192.0.2.21"],
  );
  const file = join(dir, "cfg.yaml");
  writeFileSync(
    file,
    `radius:\n  - 192.0.2.30\nradius-secret-file: ${secretFile}\nradius-nas-identifier: from-file\n`,
  );
  const f = loadServeConfig({ store: join(dir, "oakley.db"), config: file }, {});
  assert.ok(f.ok, f.ok ? "" : formatIssues(f.error));
  assert.equal(f.value.radius?.nasIdentifier, "from-file");
});

test("the store's RADIUS setting (oakley policy radius) becomes serve's settings, checked like the flags", () => {
  const store = join(dir, "oakley.db");
  const r = radiusFromStore(
    { servers: ["192.0.2.10", "192.0.2.11:11812"], secretFile, interimInterval: 300 },
    store,
  );
  assert.ok(r.ok, r.ok ? "" : r.error);
  assert.deepEqual(
    r.value.servers.map((s) => `${s.address}:${s.authPort}/${s.acctPort}`),
    ["192.0.2.10:1812/1813", "192.0.2.11:11812/11813"],
  );
  assert.equal(r.value.secret.toString(), "s3cret-value");
  assert.equal(r.value.interimIntervalS, 300);
  assert.equal(r.value.queuePath, join(dir, "radius-accounting.db"));
  // A setting serve cannot use: the message names it and the command that changes it.
  const bad = radiusFromStore(
    { servers: ["radius.example"], secretFile: join(dir, "nope") },
    store,
  );
  assert.ok(!bad.ok);
  assert.match(bad.error, /radius: "radius\.example" is not an IPv4 address/);
  assert.match(bad.error, /radius-secret-file: cannot read .*nope \(ENOENT\)/);
  assert.match(bad.error, /oakley policy radius off/);
  assert.ok(!bad.error.includes("s3cret"));
});
