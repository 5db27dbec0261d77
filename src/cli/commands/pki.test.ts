/**
 * `oakley pki …` and `oakley client-config USER --format p12` as a person runs them: messages
 * that name the fix, list/show output, and PKCS#12 files that `openssl pkcs12` opens with the
 * password (and not with another).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runOakley } from "../../../test/helpers/cli.js";

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "oakley-cli-pki-"));
  const S = ["--store", join(dir, "oakley.db")];
  return { dir, S, pki: join(dir, "pki") };
}

function p12Info(file: string, pass: string) {
  const r = spawnSync("openssl", [
    "pkcs12",
    "-info",
    "-in",
    file,
    "-passin",
    `pass:${pass}`,
    "-nodes",
  ]);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test("pki without a CA says to run oakley pki init; a bad --key or --days names the choices", async () => {
  const { S } = setup();
  for (const args of [
    ["issue", "alice"],
    ["list"],
    ["show", "alice"],
    ["revoke", "alice"],
    ["crl"],
  ]) {
    const r = await runOakley(["pki", ...args, ...S]);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(
      r.err,
      /there is no CA in .*pki; create one with oakley pki init .*\[OAK_E_PKI_NO_CA\]/,
    );
  }
  const k = await runOakley(["pki", "init", "--key", "rsa-1024", ...S]);
  assert.equal(k.code, 2);
  assert.match(
    k.err,
    /--key 'rsa-1024' is not one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384/,
  );
  const n = await runOakley(["pki", "init", "--name", "Evil\nCA", ...S]);
  assert.equal(n.code, 1);
  assert.match(n.err, /--name must be 1-64 characters, without control characters/);
  const d = await runOakley(["pki", "init", "--days", "ten", ...S]);
  assert.equal(d.code, 2);
  assert.match(d.err, /--days 'ten' must be a whole number of days/);
});

test("pki init, issue, list, show, revoke: what they print, and list --json for scripts", async () => {
  const { S, pki } = setup();
  const init = await runOakley([
    "pki",
    "init",
    "--name",
    "Example VPN CA",
    "--key",
    "ecdsa-p256",
    ...S,
  ]);
  assert.equal(init.code, 0, init.err);
  assert.match(init.out, new RegExp(`created a CA in ${pki}`));
  const again = await runOakley(["pki", "init", ...S]);
  assert.equal(again.code, 1);
  assert.match(again.err, /already holds a CA.*Give --force/);

  const srv = await runOakley([
    "pki",
    "issue",
    "vpn",
    "--server-name",
    "vpn.example.org",
    "--server-name",
    "198.51.100.7",
    "--key",
    "ecdsa-p256",
    ...S,
  ]);
  assert.equal(srv.code, 0, srv.err);
  assert.match(srv.out, /issued a server certificate 'vpn'/);
  assert.match(srv.out, /DNS:vpn\.example\.org, IP:198\.51\.100\.7/);
  const cli = await runOakley([
    "pki",
    "issue",
    "alice",
    "--key",
    "ecdsa-p256",
    "--days",
    "30",
    ...S,
  ]);
  assert.equal(cli.code, 0, cli.err);
  assert.match(cli.out, /issued a client certificate 'alice'/);
  assert.match(cli.out, /next: oakley client-config alice --format p12/);

  const list = await runOakley(["pki", "list", ...S]);
  assert.equal(list.code, 0);
  assert.match(list.out, /CA 'Example VPN CA' \(ecdsa-p256/);
  assert.match(list.out, /^vpn\s+server\s+valid\s+[0-9A-F]{32}/m);
  assert.match(list.out, /^alice\s+client\s+valid/m);
  const json = JSON.parse((await runOakley(["pki", "list", "--json", ...S])).out) as {
    certs: { name: string; status: string; serial: string }[];
    crl: { number: string };
  };
  assert.deepEqual(
    json.certs.map((c) => [c.name, c.status]),
    [
      ["vpn", "valid"],
      ["alice", "valid"],
    ],
  );
  assert.equal(json.crl.number, "1");

  const show = await runOakley(["pki", "show", "alice", ...S]);
  assert.equal(show.code, 0);
  assert.match(show.out, /subject:\s+CN=alice/);
  assert.match(show.out, /issuer:\s+CN=Example VPN CA/);
  assert.match(show.out, /sha256:\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/);

  const unknown = await runOakley(["pki", "show", "mallory", ...S]);
  assert.equal(unknown.code, 1);
  assert.match(
    unknown.err,
    /no certificate named 'mallory' .*see oakley pki list.*\[OAK_E_PKI_UNKNOWN_NAME\]/,
  );
  const reason = await runOakley(["pki", "revoke", "alice", "--reason", "stolen", ...S]);
  assert.equal(reason.code, 2);
  assert.match(reason.err, /--reason 'stolen' is not one of unspecified, keyCompromise/);

  const rev = await runOakley(["pki", "revoke", "alice", "--reason", "keyCompromise", ...S]);
  assert.equal(rev.code, 0, rev.err);
  assert.match(rev.out, /revoked 'alice' .*CRL number 2 with 1 revoked/);
  const crl = spawnSync("openssl", [
    "crl",
    "-in",
    join(pki, "crl.pem"),
    "-noout",
    "-text",
  ]).stdout.toString();
  assert.match(crl, new RegExp(`Serial Number: ${json.certs[1]?.serial}`));
  const after = JSON.parse((await runOakley(["pki", "list", "--json", ...S])).out) as typeof json;
  assert.equal(after.certs[1]?.status, "revoked");
  assert.equal(after.crl.number, "2");

  // A CRL about to lapse, and a crl.pem that is not the one the index names, are pointed out.
  const soon = await runOakley(["pki", "crl", "--crl-days", "3", ...S]);
  assert.equal(soon.code, 0, soon.err);
  assert.match(soon.out, /CRL number 3 with 1 revoked/);
  const warn = await runOakley(["pki", "list", ...S]);
  assert.match(warn.out, /CRL number 3, next update /);
  assert.match(warn.err, /warning: the CRL's next update is .*re-sign it with oakley pki crl/);
  writeFileSync(join(pki, "crl.pem"), "garbage");
  const broken = await runOakley(["pki", "list", ...S]);
  assert.equal(broken.code, 0);
  assert.match(broken.err, /cannot read .*crl\.pem .*re-sign it with oakley pki crl/);
});

test("client-config --format p12 with --p12-password-file: openssl opens it with that password only; 0600; no overwrite without --force", async () => {
  const { dir, S } = setup();
  assert.equal((await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S])).code, 0);
  assert.equal((await runOakley(["pki", "issue", "alice", "--key", "rsa-2048", ...S])).code, 0);
  const pw = join(dir, "pw");
  writeFileSync(pw, "Tr0ub4dor&3-horse\n");
  const out = join(dir, "alice.p12");
  const r = await runOakley([
    "client-config",
    "alice",
    "--format",
    "p12",
    "-o",
    out,
    "--p12-password-file",
    pw,
    ...S,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /wrote .*alice\.p12: PKCS#12 .*AES-256-CBC\/PBKDF2\/SHA-256/);
  assert.doesNotMatch(`${r.out}${r.err}`, /Tr0ub4dor/);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const ok = p12Info(out, "Tr0ub4dor&3-horse");
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /subject=CN = alice\n/);
  assert.match(ok.out, /-----BEGIN PRIVATE KEY-----/);
  const bad = p12Info(out, "Tr0ub4dor&3-horse\n");
  assert.notEqual(bad.code, 0);
  assert.match(bad.out, /Mac verify error/);

  const before = readFileSync(out);
  const again = await runOakley([
    "client-config",
    "alice",
    "--format",
    "p12",
    "-o",
    out,
    "--p12-password-file",
    pw,
    ...S,
  ]);
  assert.equal(again.code, 2);
  assert.match(again.err, /already exists; give --force/);
  assert.deepEqual(readFileSync(out), before);

  const legacy = await runOakley([
    "client-config",
    "alice",
    "--format",
    "p12",
    "-o",
    out,
    "--force",
    "--p12-legacy",
    "--p12-password-file",
    pw,
    ...S,
  ]);
  assert.equal(legacy.code, 0, legacy.err);
  const l = p12Info(out, "Tr0ub4dor&3-horse");
  assert.equal(l.code, 0, l.out);
  assert.match(l.out, /pbeWithSHA1And3-KeyTripleDES-CBC/);
  assert.match(l.out, /MAC: sha1/);
});

test("client-config --format p12 without a password file prints a generated password once, on stderr, and it opens the file", async () => {
  const { dir, S } = setup();
  assert.equal((await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S])).code, 0);
  assert.equal((await runOakley(["pki", "issue", "bob", "--key", "ecdsa-p256", ...S])).code, 0);
  const out = join(dir, "bob.p12");
  const r = await runOakley(["client-config", "bob", "--format", "p12", "-o", out, ...S]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, "");
  const m = r.err.match(
    /stored nowhere; give it to bob separately\): ([a-z2-9]{4}(?:-[a-z2-9]{4}){4})\n/g,
  );
  assert.equal(m?.length, 1, r.err);
  const password = /: ([a-z2-9-]{24})\n$/.exec(m?.[0] ?? "")?.[1] ?? "";
  assert.equal(p12Info(out, password).code, 0);
  assert.notEqual(p12Info(out, `${password}x`).code, 0);
});

test("client-config --format p12 mistakes: no certificate for the user, empty password file, p12 flags with another format", async () => {
  const { dir, S } = setup();
  const none = await runOakley([
    "client-config",
    "carol",
    "--format",
    "p12",
    "-o",
    join(dir, "c.p12"),
    ...S,
  ]);
  assert.equal(none.code, 1);
  assert.match(none.err, /oakley pki init/);
  assert.equal((await runOakley(["pki", "init", "--key", "ecdsa-p256", ...S])).code, 0);
  const unknown = await runOakley([
    "client-config",
    "carol",
    "--format",
    "p12",
    "-o",
    join(dir, "c.p12"),
    ...S,
  ]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /no certificate named 'carol'.*issue one with oakley pki issue carol/);
  writeFileSync(join(dir, "empty"), "\n");
  const empty = await runOakley([
    "client-config",
    "carol",
    "--format",
    "p12",
    "--p12-password-file",
    join(dir, "empty"),
    ...S,
  ]);
  assert.equal(empty.code, 2);
  assert.match(empty.err, /--p12-password-file .* is empty/);
  const mixed = await runOakley([
    "client-config",
    "carol",
    "--format",
    "windows",
    "--p12-legacy",
    ...S,
  ]);
  assert.equal(mixed.code, 2);
  assert.match(mixed.err, /--p12-legacy go with --format p12/);
  const fmt = await runOakley(["client-config", "carol", "--format", "pfx", ...S]);
  assert.equal(fmt.code, 2);
  assert.match(fmt.err, /one of windows, apple, networkmanager, oakley, text, p12/);
});
