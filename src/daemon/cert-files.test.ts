/**
 * `--cert/--key/--ca[/--crl]` mistakes are caught before start with one message naming the flag
 * and the fix (loadServeConfig / loadConnectConfig over cert-files.ts), on files made by the
 * openssl CLI. Threat: a message or log line that prints the private key.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeTestPki } from "../../test/helpers/pki.js";
import { formatIssues, loadConnectConfig, loadServeConfig } from "./config.js";

const pki = makeTestPki();
const dir = mkdtempSync(join(tmpdir(), "oak-certflags-"));
after(() => {
  pki.dispose();
  rmSync(dir, { recursive: true, force: true });
});
pki.ca("ca", "Oakley Test CA");
pki.ca("other-ca", "Other CA");
for (const n of ["server", "client"])
  pki.add({
    name: n,
    subj: `/O=Oakley Test/CN=${n}`,
    issuer: "ca",
    ext: ["keyUsage=digitalSignature"],
  });
pki.add({
  name: "old",
  subj: "/O=Oakley Test/CN=old",
  issuer: "ca",
  ext: ["keyUsage=digitalSignature"],
  validity: { start: "20200101000000Z", end: "20210101000000Z" },
});
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const f = {
  cert: file("server.pem", pki.get("server").cert),
  key: file("server.key", pki.get("server").key),
  clientKey: file("client.key", pki.get("client").key),
  ca: file("ca.pem", pki.get("ca").cert),
  otherCa: file("other-ca.pem", pki.get("other-ca").cert),
  old: file("old.pem", pki.get("old").cert),
  oldKey: file("old.key", pki.get("old").key),
  crl: file("ca.crl", pki.crl("ca", ["client"])),
  otherCrl: file("other.crl", pki.crl("other-ca", [])),
  junk: file("junk.txt", "hello\n"),
};

function serveIssues(flags: Record<string, unknown>): string {
  const r = loadServeConfig(flags, {});
  assert.ok(!r.ok, "refused");
  const text = formatIssues(r.error);
  // Never the key: not its PEM armour, not a line of its base64.
  for (const k of [pki.get("server").key, pki.get("client").key, pki.get("old").key])
    for (const line of k.split("\n").filter((l) => l.length > 20))
      assert.ok(!text.includes(line), `message leaks key material: ${text}`);
  return text;
}

describe("serve/connect --cert --key --ca [--crl]: checked before start", () => {
  it("good files: the setting holds the PEM texts and our subject", () => {
    const r = loadServeConfig({ cert: f.cert, key: f.key, ca: f.ca, crl: f.crl }, {});
    assert.ok(r.ok, r.ok ? "" : formatIssues(r.error));
    assert.equal(r.value.certificates?.material.subject, "O=Oakley Test, CN=server");
    assert.ok(r.value.certificates?.material.crl);
  });

  it("an unreadable file names the flag and the path", () => {
    assert.match(
      serveIssues({ cert: join(dir, "missing.pem"), key: f.key, ca: f.ca }),
      /cert \(command line\): cannot read .*missing\.pem \(ENOENT\); give the PEM file of our certificate/,
    );
  });

  it("the three go together", () => {
    assert.match(
      serveIssues({ cert: f.cert }),
      /key \(command line\): --cert, --key and --ca go together; add --key FILE/,
    );
  });

  it("a key that is not the certificate's", () => {
    assert.match(
      serveIssues({ cert: f.cert, key: f.clientKey, ca: f.ca }),
      /key \(command line\): .*client\.key is not the private key of .*server\.pem \("O=Oakley Test, CN=server"\); give the key the certificate was issued for/,
    );
  });

  it("a certificate expired at start", () => {
    assert.match(
      serveIssues({ cert: f.old, key: f.oldKey, ca: f.ca }),
      /cert \(command line\): .*old\.pem \("[^"]*CN=old[^"]*"\) expired 2021-01-01T00:00:00\.000Z; renew it/,
    );
  });

  it("a CA that did not issue the certificate", () => {
    assert.match(
      serveIssues({ cert: f.cert, key: f.key, ca: f.otherCa }),
      /ca \(command line\): .*server\.pem does not chain to .*other-ca\.pem/,
    );
  });

  it("--ca that is not a CA certificate, --cert that is not PEM", () => {
    assert.match(
      serveIssues({ cert: f.cert, key: f.key, ca: f.cert }),
      /"O=Oakley Test, CN=server" is not a CA certificate/,
    );
    assert.match(
      serveIssues({ cert: f.junk, key: f.key, ca: f.ca }),
      /junk\.txt is not a PEM certificate/,
    );
  });

  it("--key that is not a key does not echo the file", () => {
    assert.match(
      serveIssues({ cert: f.cert, key: f.cert, ca: f.ca }),
      /key \(command line\): .*server\.pem: private key: .*give a PEM private key/,
    );
  });

  it("--crl that is not a CRL, or another CA's", () => {
    assert.match(
      serveIssues({ cert: f.cert, key: f.key, ca: f.ca, crl: f.junk }),
      /crl \(command line\): .*junk\.txt is not a CRL/,
    );
    assert.match(
      serveIssues({ cert: f.cert, key: f.key, ca: f.ca, crl: f.otherCrl }),
      /the CRL of "O=Oakley Test, CN=Other CA" is not signed by the CA in/,
    );
  });

  it("--auth: only psk, certificate or both, and certificate needs --cert", () => {
    assert.match(
      serveIssues({ auth: "cert" }),
      /auth \(command line\): "cert" is not psk, certificate or both/,
    );
    assert.match(
      serveIssues({ auth: "certificate" }),
      /--auth certificate needs our certificate: add --cert FILE --key FILE --ca FILE/,
    );
  });

  it("connect: a certificate replaces the PSK; a PSK or a certificate is required", () => {
    const base = { server: "vpn.example", user: "alice", password: "pw" };
    const r = loadConnectConfig({ ...base, cert: f.cert, key: f.key, ca: f.ca }, {});
    assert.ok(r.ok, r.ok ? "" : formatIssues(r.error));
    assert.equal(r.value.psk, "");
    const none = loadConnectConfig(base, {});
    assert.ok(!none.ok);
    assert.match(formatIssues(none.error), /psk .*or a certificate \(--cert, --key, --ca\)/);
  });
});
