/**
 * Threat model of the built-in CA (`oakley pki`, `client-config --format p12`): private keys
 * and PKCS#12 passwords must not leak through file modes, output or the CA directory; a
 * certificate name must not write outside the CA directory; nothing the operator stored is
 * destroyed; and what the CA issues is accepted by the IKE engine's own certificate checks
 * exactly when it should be.
 */
import assert from "node:assert/strict";
import { createPrivateKey, randomBytes } from "node:crypto";
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
import { certificateFromDer, certificateMatchesId, verifyChain } from "../../src/crypto/cert.js";
import { fromPem } from "../../src/pki/ca.js";
import { caFiles, initCa, issueCert, type PkiEnv, revokeCert } from "../../src/pki/store.js";
import { runOakley } from "../helpers/cli.js";

const env: PkiEnv = { now: () => new Date(), random: (n) => randomBytes(n) };

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "oakley-sec-pki-"));
  return { dir, S: ["--store", join(dir, "oakley.db")], pki: join(dir, "pki") };
}

function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
  );
}

test("a certificate name cannot place files outside the CA directory or hide them (../, /, leading dot, control characters)", async () => {
  const { dir, S, pki } = setup();
  assert.equal((await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S])).code, 0);
  const before = walk(dir).sort();
  for (const name of ["../evil", "..", "a/b", "/etc/x", ".hidden", "x\ny", "_x", "a".repeat(129)]) {
    const r = await runOakley(["pki", "issue", name, "--key", "ecdsa-p256", ...S]);
    assert.notEqual(r.code, 0, name);
    assert.match(r.err, /cannot be a certificate name/);
  }
  assert.deepEqual(walk(dir).sort(), before);
  assert.ok(!existsSync(join(pki, "..", "evil")));
});

test("CA key, issued keys, the index and PKCS#12 files are 0600 (directories 0700) even under umask 000", async () => {
  const old = process.umask(0);
  try {
    const { dir, S, pki } = setup();
    assert.equal((await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S])).code, 0);
    assert.equal((await runOakley(["pki", "issue", "alice", "--key", "ecdsa-p256", ...S])).code, 0);
    writeFileSync(join(dir, "pw"), "some-password");
    const out = join(dir, "a.p12");
    const r = await runOakley([
      "client-config",
      "alice",
      "--format",
      "p12",
      "-o",
      out,
      "--p12-password-file",
      join(dir, "pw"),
      ...S,
    ]);
    assert.equal(r.code, 0, r.err);
    const mode = (p: string) => statSync(p).mode & 0o777;
    assert.equal(mode(pki), 0o700);
    assert.equal(mode(join(pki, "private")), 0o700);
    assert.equal(mode(caFiles(pki).key), 0o600);
    assert.equal(mode(caFiles(pki).index), 0o600);
    for (const f of readdirSync(join(pki, "private")))
      assert.equal(mode(join(pki, "private", f)), 0o600);
    assert.equal(mode(out), 0o600);
    // Nothing group- or world-writable anywhere in the CA directory.
    for (const f of walk(pki)) assert.equal(mode(f) & 0o022, 0, f);
  } finally {
    process.umask(old);
  }
});

test("no private key and no PKCS#12 password appears in what pki and client-config print (text and --json)", async () => {
  const { dir, S, pki } = setup();
  const pw = "Very-Secret-P12-Password-42";
  writeFileSync(join(dir, "pw"), pw);
  const runs = [
    await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S]),
    await runOakley(["pki", "issue", "alice", "--key", "ecdsa-p256", ...S]),
    await runOakley([
      "pki",
      "issue",
      "vpn",
      "--server-name",
      "vpn.example.org",
      "--key",
      "ecdsa-p256",
      ...S,
    ]),
    await runOakley(["pki", "list", ...S]),
    await runOakley(["pki", "list", "--json", ...S]),
    await runOakley(["pki", "show", "alice", ...S]),
    await runOakley(["pki", "show", "alice", "--json", ...S]),
    await runOakley([
      "client-config",
      "alice",
      "--format",
      "p12",
      "-o",
      join(dir, "a.p12"),
      "--p12-password-file",
      join(dir, "pw"),
      ...S,
    ]),
    await runOakley(["pki", "revoke", "alice", ...S]),
  ];
  const keys = walk(pki)
    .filter((f) => f.endsWith(".key"))
    .map((f) => readFileSync(f, "utf8"));
  assert.equal(keys.length, 3);
  const keyBodies = keys.map((k) => k.split("\n")[1] ?? "");
  for (const r of runs) {
    assert.equal(r.code, 0, r.err);
    const all = `${r.out}${r.err}`;
    assert.doesNotMatch(all, /PRIVATE KEY/);
    for (const b of keyBodies) assert.equal(all.includes(b), false);
    assert.equal(all.includes(pw), false);
  }
});

test("the PKCS#12 file does not carry the private key in clear, and a generated password is stored nowhere", async () => {
  const { dir, S, pki } = setup();
  assert.equal((await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S])).code, 0);
  assert.equal((await runOakley(["pki", "issue", "bob", "--key", "rsa-2048", ...S])).code, 0);
  const out = join(dir, "b.p12");
  const r = await runOakley(["client-config", "bob", "--format", "p12", "-o", out, ...S]);
  assert.equal(r.code, 0, r.err);
  const password = /separately\): (\S+)\n/.exec(r.err)?.[1];
  assert.ok(password);
  const p12 = readFileSync(out);
  const keyFile = walk(pki).find((f) => f.includes("/private/bob-"));
  assert.ok(keyFile);
  const jwk = createPrivateKey(readFileSync(keyFile)).export({ format: "jwk" });
  // The private parts (exponent d, primes p and q): any 32-byte window of them would show.
  for (const part of [jwk.d, jwk.p, jwk.q]) {
    const b = Buffer.from(part ?? "", "base64url");
    assert.ok(b.length >= 128);
    for (let i = 0; i + 32 <= b.length; i += 32)
      assert.equal(p12.includes(b.subarray(i, i + 32)), false, `key bytes at ${i} in clear`);
  }
  for (const f of walk(dir))
    assert.equal(readFileSync(f).includes(Buffer.from(password)), false, f);
});

test("init --force and a failed init never lose the CA the operator has", async () => {
  const { S, pki } = setup();
  assert.equal((await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S])).code, 0);
  const key = readFileSync(caFiles(pki).key);
  const refused = await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S]);
  assert.equal(refused.code, 1);
  assert.deepEqual(readFileSync(caFiles(pki).key), key);
  const forced = await runOakley(["pki", "init", "--force", "--key", "ecdsa-p256", ...S]);
  assert.equal(forced.code, 0, forced.err);
  const moved = /moved to (\S+) \(nothing was deleted\)/.exec(forced.err)?.[1];
  assert.ok(moved);
  assert.deepEqual(readFileSync(join(moved, "ca.key")), key);
});

test("the IKE engine's certificate checks accept what the CA issues for the right identity only, and refuse another CA's", async () => {
  const d = setup();
  assert.ok(
    (
      await initCa(
        d.pki,
        { commonName: "Lab CA", keyType: "rsa-2048", days: 30, force: false },
        env,
      )
    ).ok,
  );
  const srv = await issueCert(
    d.pki,
    {
      name: "vpn",
      serverNames: ["vpn.example.org", "198.51.100.7"],
      keyType: "rsa-2048",
      days: 10,
    },
    env,
  );
  const cli = await issueCert(
    d.pki,
    { name: "alice@example.org", serverNames: [], keyType: "rsa-2048", days: 10 },
    env,
  );
  assert.ok(srv.ok && cli.ok);
  const load = (p: string) => {
    const c = certificateFromDer(fromPem("CERTIFICATE", readFileSync(p, "utf8")));
    assert.ok(c.ok, c.ok ? "" : c.error.message);
    return c.value;
  };
  const ca = load(caFiles(d.pki).cert);
  const s = load(srv.value.certPath);
  const c = load(cli.value.certPath);
  const now = Date.now();
  assert.ok(verifyChain(s, [], [ca], now).ok);
  assert.ok(verifyChain(c, [], [ca], now).ok);
  assert.ok(certificateMatchesId(s, { kind: "fqdn", name: "vpn.example.org" }).ok);
  assert.ok(certificateMatchesId(s, { kind: "ipv4", address: "198.51.100.7" }).ok);
  assert.ok(!certificateMatchesId(s, { kind: "fqdn", name: "other.example.org" }).ok);
  assert.ok(certificateMatchesId(c, { kind: "user-fqdn", name: "alice@example.org" }).ok);
  assert.ok(!certificateMatchesId(c, { kind: "user-fqdn", name: "bob@example.org" }).ok);
  // After the end of its validity, and under another CA, the same certificate is refused.
  assert.ok(!verifyChain(s, [], [ca], now + 11 * 86_400_000).ok);
  const other = setup();
  assert.ok(
    (
      await initCa(
        other.pki,
        { commonName: "Lab CA", keyType: "rsa-2048", days: 30, force: false },
        env,
      )
    ).ok,
  );
  assert.ok(!verifyChain(s, [], [load(caFiles(other.pki).cert)], now).ok);
  // Revocation is the CRL's job (checked with openssl in src/pki): the index records it.
  assert.ok(
    (await revokeCert(d.pki, "alice@example.org", { reason: "keyCompromise", crlDays: 1 }, env)).ok,
  );
});
