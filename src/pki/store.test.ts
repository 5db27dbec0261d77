/**
 * The CA directory on real files in a temporary directory: modes, no overwriting, the index
 * and the CRL after revocations (read back by `openssl crl`), the clock for expiry.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { PkiErrorCode } from "../base/errors.js";
import {
  caFiles,
  initCa,
  issueCert,
  listCerts,
  parseIndex,
  type PkiEnv,
  pkcs12For,
  pkiDirFor,
  refreshCrl,
  revokeCert,
  showCert,
} from "./store.js";

const DAY = 86_400_000;

function env(at = new Date()): PkiEnv & { set(d: Date): void } {
  let now = at;
  return {
    now: () => now,
    random: (n) => randomBytes(n),
    set: (d) => {
      now = d;
    },
  };
}

function fresh(): string {
  return pkiDirFor(join(mkdtempSync(join(tmpdir(), "oakley-pki-store-")), "oakley.db"));
}

const mode = (p: string) => statSync(p).mode & 0o777;
const INIT = { commonName: "Test CA", keyType: "ecdsa-p256", days: 3650, force: false } as const;

function crlText(dir: string): string {
  const r = spawnSync("openssl", [
    "crl",
    "-in",
    caFiles(dir).crl,
    "-noout",
    "-text",
    "-CAfile",
    caFiles(dir).cert,
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
  return `${r.stdout}${r.stderr}`;
}

test("the CA directory is pki/ beside the policy store", () => {
  assert.equal(pkiDirFor("/var/lib/oakley/oakley.db"), "/var/lib/oakley/pki");
});

test("init writes the CA key 0600 in a 0700 directory, the certificate, an empty CRL number 1, and refuses to overwrite", async () => {
  const dir = fresh();
  const e = env();
  const r = await initCa(dir, INIT, e);
  assert.ok(r.ok, JSON.stringify(r));
  const f = caFiles(dir);
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(f.key), 0o600);
  assert.equal(mode(f.index), 0o600);
  assert.equal(mode(f.cert), 0o644);
  assert.ok(!existsSync(f.lock));
  const ca = new X509Certificate(readFileSync(f.cert));
  assert.equal(ca.subject, "CN=Test CA");
  assert.ok(ca.ca);
  assert.match(crlText(dir), /X509v3 CRL Number: \n\s+1\n[\s\S]*No Revoked Certificates/);

  const keyBefore = readFileSync(f.key);
  const again = await initCa(dir, INIT, e);
  assert.ok(!again.ok);
  assert.equal(again.error.code, PkiErrorCode.Exists);
  assert.match(again.error.message, /--force/);
  assert.deepEqual(readFileSync(f.key), keyBefore);
});

test("init --force keeps the old CA, its issued certificates and keys in pki.replaced-TIMESTAMP", async () => {
  const dir = fresh();
  const e = env();
  assert.ok((await initCa(dir, INIT, e)).ok);
  const alice = await issueCert(
    dir,
    { name: "alice", serverNames: [], keyType: "ecdsa-p256", days: 30 },
    e,
  );
  assert.ok(alice.ok);
  const oldKey = readFileSync(caFiles(dir).key);
  const aliceKey = readFileSync(alice.value.keyPath);
  const r = await initCa(dir, { ...INIT, force: true }, e);
  assert.ok(r.ok, JSON.stringify(r));
  assert.ok(r.value.replacedTo);
  assert.deepEqual(readFileSync(join(r.value.replacedTo, "ca.key")), oldKey);
  assert.deepEqual(readFileSync(join(r.value.replacedTo, alice.value.entry.key)), aliceKey);
  assert.notDeepEqual(readFileSync(caFiles(dir).key), oldKey);
  const l = listCerts(dir, e.now());
  assert.ok(l.ok);
  assert.equal(l.value.certs.length, 0);
});

test("issue: server and client certificates verify with openssl against ca.pem; keys 0600; names become SANs", async () => {
  const dir = fresh();
  const e = env();
  assert.ok((await initCa(dir, INIT, e)).ok);
  const srv = await issueCert(
    dir,
    {
      name: "vpn",
      serverNames: ["VPN.Example.org", "198.51.100.7", "2001:db8::1:0:0:1", "::ffff:192.0.2.1"],
      keyType: "rsa-2048",
      days: 825,
    },
    e,
  );
  assert.ok(srv.ok, JSON.stringify(srv));
  assert.equal(srv.value.entry.kind, "server");
  assert.equal(mode(srv.value.keyPath), 0o600);
  assert.equal(mode(join(dir, "private")), 0o700);
  const x = new X509Certificate(readFileSync(srv.value.certPath));
  assert.equal(
    x.subjectAltName,
    "DNS:vpn.example.org, IP Address:198.51.100.7, IP Address:2001:DB8:0:0:1:0:0:1, IP Address:0:0:0:0:0:FFFF:C000:201",
  );
  assert.equal(x.serialNumber, srv.value.entry.serial);
  const clients = [
    ["alice", "", "CN=alice"],
    ["bob@example.org", "email:bob@example.org", "CN=bob@example.org"],
    ["laptop.example.org", "DNS:laptop.example.org", "CN=laptop.example.org"],
  ] as const;
  for (const [name, san, subject] of clients) {
    const c = await issueCert(dir, { name, serverNames: [], keyType: "ecdsa-p256", days: 30 }, e);
    assert.ok(c.ok, JSON.stringify(c));
    assert.equal(c.value.entry.kind, "client");
    const cx = new X509Certificate(readFileSync(c.value.certPath));
    assert.equal(cx.subject, subject);
    assert.equal(cx.subjectAltName, san === "" ? undefined : san);
    const v = spawnSync("openssl", [
      "verify",
      "-purpose",
      "sslclient",
      "-CAfile",
      caFiles(dir).cert,
      c.value.certPath,
    ]);
    assert.equal(v.status, 0, `${v.stdout}${v.stderr}`);
  }
  const v = spawnSync("openssl", [
    "verify",
    "-purpose",
    "sslserver",
    "-CAfile",
    caFiles(dir).cert,
    srv.value.certPath,
  ]);
  assert.equal(v.status, 0, `${v.stdout}${v.stderr}`);
  const l = listCerts(dir, e.now());
  assert.ok(l.ok);
  assert.deepEqual(
    l.value.certs.map((c) => [c.name, c.kind, c.status]),
    [
      ["vpn", "server", "valid"],
      ["alice", "client", "valid"],
      ["bob@example.org", "client", "valid"],
      ["laptop.example.org", "client", "valid"],
    ],
  );
});

test("issue refuses a second valid certificate under one name, bad server names, and a missing CA, naming the fix", async () => {
  const dir = fresh();
  const e = env();
  const none = await issueCert(
    dir,
    { name: "a", serverNames: [], keyType: "ecdsa-p256", days: 1 },
    e,
  );
  assert.ok(!none.ok);
  assert.equal(none.error.code, PkiErrorCode.NoCa);
  assert.match(none.error.message, /oakley pki init/);
  assert.ok(!existsSync(dir), "a failed issue creates nothing");
  assert.ok((await initCa(dir, INIT, e)).ok);
  assert.ok(
    (await issueCert(dir, { name: "a", serverNames: [], keyType: "ecdsa-p256", days: 1 }, e)).ok,
  );
  const dup = await issueCert(
    dir,
    { name: "a", serverNames: [], keyType: "ecdsa-p256", days: 1 },
    e,
  );
  assert.ok(!dup.ok);
  assert.equal(dup.error.code, PkiErrorCode.Exists);
  assert.match(dup.error.message, /oakley pki revoke a/);
  for (const bad of ["vpn_example", "a..b", "-x.example", "198.51.100.256", "a b"]) {
    const r = await issueCert(
      dir,
      { name: "s", serverNames: [bad], keyType: "ecdsa-p256", days: 1 },
      e,
    );
    assert.ok(!r.ok, bad);
    assert.equal(r.error.code, PkiErrorCode.BadInput);
    assert.match(r.error.message, /--server-name/);
  }
  // After it expires, the name can be issued again.
  e.set(new Date(Date.now() + 2 * DAY));
  assert.ok(
    (await issueCert(dir, { name: "a", serverNames: [], keyType: "ecdsa-p256", days: 1 }, e)).ok,
  );
});

test("a leaf never outlives the CA: its end is cut to the CA's, with a warning", async () => {
  const dir = fresh();
  const e = env();
  assert.ok((await initCa(dir, { ...INIT, days: 10 }, e)).ok);
  const r = await issueCert(
    dir,
    { name: "a", serverNames: [], keyType: "ecdsa-p256", days: 825 },
    e,
  );
  assert.ok(r.ok);
  assert.match(r.value.warnings.join(), /ends with the CA/);
  const ca = new X509Certificate(readFileSync(caFiles(dir).cert));
  const leaf = new X509Certificate(readFileSync(r.value.certPath));
  assert.equal(leaf.validTo, ca.validTo);
});

test("revoke: the serial goes on the re-signed CRL, the CRL number goes up by one each time, the files stay", async () => {
  const dir = fresh();
  const e = env();
  assert.ok((await initCa(dir, INIT, e)).ok);
  const a = await issueCert(
    dir,
    { name: "alice", serverNames: [], keyType: "ecdsa-p256", days: 30 },
    e,
  );
  const b = await issueCert(
    dir,
    { name: "bob", serverNames: [], keyType: "ecdsa-p256", days: 30 },
    e,
  );
  assert.ok(a.ok && b.ok);
  const r1 = await revokeCert(dir, "alice", { reason: "keyCompromise", crlDays: 7 }, e);
  assert.ok(r1.ok, r1.ok ? "" : r1.error.message);
  assert.equal(r1.value.crlNumber, 2n);
  let t = crlText(dir);
  assert.match(t, new RegExp(`Serial Number: ${a.value.entry.serial}`));
  assert.match(t, /Key Compromise/);
  assert.match(t, /X509v3 CRL Number: \n\s+2\n/);
  assert.doesNotMatch(t, new RegExp(b.value.entry.serial));
  const r2 = await revokeCert(dir, "bob", { reason: "unspecified", crlDays: 7 }, e);
  assert.ok(r2.ok);
  assert.equal(r2.value.crlNumber, 3n);
  t = crlText(dir);
  assert.match(t, new RegExp(`Serial Number: ${a.value.entry.serial}`));
  assert.match(t, new RegExp(`Serial Number: ${b.value.entry.serial}`));
  assert.match(t, /X509v3 CRL Number: \n\s+3\n/);
  const chk = spawnSync("openssl", [
    "verify",
    "-crl_check",
    "-CAfile",
    caFiles(dir).cert,
    "-CRLfile",
    caFiles(dir).crl,
    a.value.certPath,
  ]);
  assert.notEqual(chk.status, 0);
  assert.match(`${chk.stdout}${chk.stderr}`, /certificate revoked/);
  assert.ok(existsSync(a.value.certPath) && existsSync(a.value.keyPath));

  const again = await revokeCert(dir, "alice", { reason: "unspecified", crlDays: 7 }, e);
  assert.ok(!again.ok);
  assert.match(again.error.message, /already revoked/);
  const unknown = await revokeCert(dir, "nobody", { reason: "unspecified", crlDays: 7 }, e);
  assert.ok(!unknown.ok);
  assert.equal(unknown.error.code, PkiErrorCode.UnknownName);
  assert.match(unknown.error.message, /oakley pki list/);

  const s = showCert(dir, "alice", e.now());
  assert.ok(s.ok);
  assert.equal(s.value.status, "revoked");
  assert.equal(s.value.revoked?.reason, "keyCompromise");
  // A revoked name can be issued again; the new certificate is valid, the old stays listed.
  assert.ok(
    (await issueCert(dir, { name: "alice", serverNames: [], keyType: "ecdsa-p256", days: 30 }, e))
      .ok,
  );
  const l = listCerts(dir, e.now());
  assert.ok(l.ok);
  assert.deepEqual(
    l.value.certs.filter((c) => c.name === "alice").map((c) => c.status),
    ["revoked", "valid"],
  );
  const crl = await refreshCrl(dir, { crlDays: 30 }, e);
  assert.ok(crl.ok);
  assert.equal(crl.value.crlNumber, 4n);
  assert.equal(crl.value.revokedCount, 2);
});

test("a second command while one holds the lock is refused, and nothing is written", async () => {
  const dir = fresh();
  const e = env();
  assert.ok((await initCa(dir, INIT, e)).ok);
  writeFileSync(caFiles(dir).lock, "");
  const r = await issueCert(dir, { name: "a", serverNames: [], keyType: "ecdsa-p256", days: 1 }, e);
  assert.ok(!r.ok);
  assert.equal(r.error.code, PkiErrorCode.Busy);
  assert.match(r.error.message, /remove .*\.lock/);
  assert.ok(!existsSync(join(dir, "issued")));
});

test("pkcs12For: the current valid certificate only; revoked, expired and unknown names are refused with the fix", async () => {
  const dir = fresh();
  const e = env();
  assert.ok((await initCa(dir, INIT, e)).ok);
  assert.ok(
    (await issueCert(dir, { name: "a", serverNames: [], keyType: "ecdsa-p256", days: 5 }, e)).ok,
  );
  const p = await pkcs12For(dir, "a", { password: "pw-123456", profile: "modern" }, e);
  assert.ok(p.ok);
  assert.ok(p.value.bytes.length > 500);
  const unknown = await pkcs12For(dir, "zz", { password: "x", profile: "modern" }, e);
  assert.ok(!unknown.ok);
  assert.match(unknown.error.message, /oakley pki issue zz/);
  e.set(new Date(Date.now() + 6 * DAY));
  const expired = await pkcs12For(dir, "a", { password: "x", profile: "modern" }, e);
  assert.ok(!expired.ok);
  assert.equal(expired.error.code, PkiErrorCode.Unusable);
  assert.match(expired.error.message, /expired/);
  e.set(new Date());
  assert.ok((await revokeCert(dir, "a", { reason: "superseded", crlDays: 1 }, e)).ok);
  const revoked = await pkcs12For(dir, "a", { password: "x", profile: "modern" }, e);
  assert.ok(!revoked.ok);
  assert.match(revoked.error.message, /revoked/);
  assert.deepEqual(readdirSync(join(dir, "private")).length, 1);
});

test("a damaged index.json is a clear error naming the file, never a crash; entries cannot point outside the directory", async () => {
  const dir = fresh();
  const e = env();
  assert.ok((await initCa(dir, INIT, e)).ok);
  assert.ok(
    (await issueCert(dir, { name: "a", serverNames: [], keyType: "ecdsa-p256", days: 5 }, e)).ok,
  );
  assert.ok((await revokeCert(dir, "a", { reason: "superseded", crlDays: 1 }, e)).ok);
  const good = readFileSync(caFiles(dir).index, "utf8");
  assert.ok(parseIndex(good).ok);
  const idx = JSON.parse(good);
  const damaged: [string, unknown][] = [
    ["crlNumber", { ...idx, crlNumber: "abc" }],
    ["certs[0].cert", { ...idx, certs: [{ ...idx.certs[0], cert: "../../../etc/shadow" }] }],
    ["certs[0].key", { ...idx, certs: [{ ...idx.certs[0], key: "/etc/shadow" }] }],
    ["certs[0].name", { ...idx, certs: [{ ...idx.certs[0], name: "../x" }] }],
    ["certs[0].revoked", { ...idx, certs: [{ ...idx.certs[0], revoked: { at: "x" } }] }],
    ["certs[0] is not an object", { ...idx, certs: [null] }],
    ["version", { ...idx, version: 2 }],
  ];
  for (const [what, v] of damaged) {
    const r = parseIndex(JSON.stringify(v));
    assert.ok(!r.ok, what);
    assert.match(r.error.message, new RegExp(what.replace(/[[\].]/g, "\\$&")));
  }
  writeFileSync(caFiles(dir).index, JSON.stringify(damaged[0]?.[1]));
  for (const r of [
    listCerts(dir, e.now()),
    showCert(dir, "a", e.now()),
    await revokeCert(dir, "a", { reason: "superseded", crlDays: 1 }, e),
    await refreshCrl(dir, { crlDays: 1 }, e),
  ]) {
    assert.ok(!r.ok);
    assert.equal(r.error.code, PkiErrorCode.Io);
    assert.match(
      r.error.message,
      /index\.json is damaged \(bad crlNumber\); restore it from a backup/,
    );
  }
  const rep = fuzzParser(
    "parseIndex",
    (b) => parseIndex(Buffer.from(b).toString("utf8")),
    [Buffer.from(good)],
    {
      iterations: 20_000,
      maxLength: 4096,
    },
  );
  assert.ok(rep.okCount + rep.errCount === rep.iterations);
});
