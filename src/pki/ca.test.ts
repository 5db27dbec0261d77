/**
 * ca.ts checked by an independent implementation: the `openssl` command line tool (OpenSSL 3)
 * verifies the certificates and CRLs, reads the PKCS#12 files, and computes the RFC 7292
 * appendix B key derivation (its PKCS12KDF); node:crypto's X509Certificate parses the
 * certificates as well.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject, randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  crlInfo,
  type KeyType,
  keyTypeOf,
  makePkcs12,
  pkcs12Kdf,
  serialFrom,
  signCertificate,
  signCrl,
  toPem,
} from "./ca.js";

const dir = mkdtempSync(join(tmpdir(), "oakley-pki-ca-"));
const NOW = new Date();
const YEAR = new Date(NOW.getTime() + 365 * 86_400_000);

function openssl(args: readonly string[], input?: Buffer): { code: number; out: string } {
  const r = spawnSync("openssl", args, { cwd: dir, ...(input ? { input } : {}) });
  return { code: r.status ?? -1, out: `${r.stdout.toString()}${r.stderr.toString()}` };
}

function keyOf(t: KeyType): KeyObject {
  if (t.startsWith("rsa"))
    return generateKeyPairSync("rsa", { modulusLength: Number(t.slice(4)) }).privateKey;
  return generateKeyPairSync("ec", { namedCurve: t === "ecdsa-p256" ? "P-256" : "P-384" })
    .privateKey;
}

async function makeCa(t: KeyType) {
  const key = keyOf(t);
  const cert = await signCertificate(
    {
      kind: "ca",
      commonName: `Test CA ${t}`,
      subjectAltNames: [],
      subjectKey: key,
      serial: serialFrom(randomBytes(16)),
      notBefore: NOW,
      notAfter: YEAR,
    },
    { key },
  );
  return { key, cert };
}

test("PKCS#12 key derivation equals OpenSSL's PKCS12KDF (RFC 7292 appendix B) for key, IV and MAC ids", () => {
  // Password "smeg", salt 0A58CF64530D823F: the vector of OpenSSL's and Bouncy Castle's PKCS#12
  // tests; the expected bytes are computed here by `openssl kdf` rather than copied.
  const cases: [string, string, 1 | 2 | 3, number, number][] = [
    ["smeg", "0A58CF64530D823F", 1, 1, 24],
    ["smeg", "0A58CF64530D823F", 2, 1, 8],
    ["queeg", "1682C0FC5B3F7EC5", 1, 1000, 24],
    ["queeg", "1682C0FC5B3F7EC5", 3, 1000, 20],
    ["a-much-longer-password-than-64-bytes-to-cross-a-block-of-the-kdf!!", "00", 1, 3, 45],
  ];
  for (const [pw, salt, id, iter, len] of cases) {
    const bmp = Buffer.concat([Buffer.from(pw, "utf16le").swap16(), Buffer.alloc(2)]);
    const expected = execFileSync("openssl", [
      "kdf",
      "-binary",
      "-keylen",
      String(len),
      "-kdfopt",
      "digest:SHA1",
      "-kdfopt",
      `hexpass:${bmp.toString("hex")}`,
      "-kdfopt",
      `hexsalt:${salt}`,
      "-kdfopt",
      `iter:${iter}`,
      "-kdfopt",
      `id:${id}`,
      "PKCS12KDF",
    ]);
    const got = pkcs12Kdf(pw, Buffer.from(salt, "hex"), id, iter, len);
    assert.equal(Buffer.from(got).toString("hex"), expected.toString("hex"), `${pw} id ${id}`);
  }
  // The published value of the first case, as a second source.
  assert.equal(
    Buffer.from(pkcs12Kdf("smeg", Buffer.from("0A58CF64530D823F", "hex"), 1, 1, 24)).toString(
      "hex",
    ),
    "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3",
  );
});

test("serial numbers are positive, 16 bytes, without a leading zero byte", () => {
  for (const first of [0x00, 0x7f, 0x80, 0xff]) {
    const r = Buffer.alloc(16, 0xaa);
    r[0] = first;
    const s = serialFrom(r);
    assert.equal(s.length, 16);
    assert.ok((s[0] ?? 0) >= 0x40 && (s[0] ?? 0) < 0x80);
  }
});

for (const t of ["rsa-2048", "ecdsa-p256", "ecdsa-p384"] as const) {
  test(`${t}: openssl verifies server and client certificates against the CA, with the profile's extensions`, async () => {
    const ca = await makeCa(t);
    assert.equal(keyTypeOf(ca.key), t);
    writeFileSync(join(dir, `ca-${t}.pem`), toPem("CERTIFICATE", ca.cert));
    const srvKey = keyOf(t);
    const srv = await signCertificate(
      {
        kind: "server",
        commonName: "vpn.example.org",
        subjectAltNames: [
          { type: "dns", value: "vpn.example.org" },
          { type: "ip", value: Uint8Array.from([198, 51, 100, 7]) },
        ],
        subjectKey: srvKey,
        serial: serialFrom(randomBytes(16)),
        notBefore: NOW,
        notAfter: YEAR,
      },
      ca,
    );
    const cli = await signCertificate(
      {
        kind: "client",
        commonName: "alice@example.org",
        subjectAltNames: [{ type: "email", value: "alice@example.org" }],
        subjectKey: keyOf(t),
        serial: serialFrom(randomBytes(16)),
        notBefore: NOW,
        notAfter: YEAR,
      },
      ca,
    );
    writeFileSync(join(dir, `srv-${t}.pem`), toPem("CERTIFICATE", srv));
    writeFileSync(join(dir, `cli-${t}.pem`), toPem("CERTIFICATE", cli));
    for (const [f, purpose] of [
      [`srv-${t}.pem`, "sslserver"],
      [`cli-${t}.pem`, "sslclient"],
    ] as const) {
      const v = openssl(["verify", "-purpose", purpose, "-CAfile", `ca-${t}.pem`, f]);
      assert.equal(v.code, 0, v.out);
      assert.match(v.out, /: OK/);
    }
    // A certificate from another CA does not verify: the check above can fail.
    const other = await makeCa(t);
    writeFileSync(join(dir, `other-${t}.pem`), toPem("CERTIFICATE", other.cert));
    assert.notEqual(openssl(["verify", "-CAfile", `other-${t}.pem`, `srv-${t}.pem`]).code, 0);

    const text = openssl(["x509", "-in", `srv-${t}.pem`, "-noout", "-text"]).out;
    assert.match(
      text,
      /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, 1\.3\.6\.1\.5\.5\.8\.2\.2/,
    );
    assert.match(text, /DNS:vpn\.example\.org, IP Address:198\.51\.100\.7/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature/);
    assert.match(text, /CA:FALSE/);
    assert.match(text, /Authority Key Identifier/);
    const catext = openssl(["x509", "-in", `ca-${t}.pem`, "-noout", "-text"]).out;
    assert.match(catext, /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0/);
    assert.match(catext, /Certificate Sign, CRL Sign/);
    assert.match(
      catext,
      t === "ecdsa-p384"
        ? /ecdsa-with-SHA384/
        : t === "ecdsa-p256"
          ? /ecdsa-with-SHA256/
          : /sha256WithRSAEncryption/,
    );

    const x = new X509Certificate(cli);
    assert.equal(x.subject, "CN=alice@example.org");
    assert.equal(x.subjectAltName, "email:alice@example.org");
    assert.ok(x.verify(new X509Certificate(ca.cert).publicKey));
    assert.ok(x.checkIssued(new X509Certificate(ca.cert)));
    assert.ok(new X509Certificate(srv).checkIP("198.51.100.7"));
    assert.equal(new X509Certificate(srv).checkHost("vpn.example.org"), "vpn.example.org");
  });
}

test("CRL: openssl verifies its signature and lists the revoked serial, reason and CRL number; verify -crl_check refuses the revoked certificate only", async () => {
  const ca = await makeCa("ecdsa-p256");
  const mk = async (cn: string) => {
    const serial = serialFrom(randomBytes(16));
    const der = await signCertificate(
      {
        kind: "client",
        commonName: cn,
        subjectAltNames: [],
        subjectKey: keyOf("ecdsa-p256"),
        serial,
        notBefore: NOW,
        notAfter: YEAR,
      },
      ca,
    );
    return { serial: Buffer.from(serial).toString("hex").toUpperCase(), der, serialBytes: serial };
  };
  const bad = await mk("mallory");
  const good = await mk("bob");
  const crl = await signCrl(
    {
      number: 300n,
      thisUpdate: NOW,
      nextUpdate: YEAR,
      revoked: [{ serial: bad.serialBytes, revokedAt: NOW, reason: "keyCompromise" }],
    },
    ca,
  );
  writeFileSync(join(dir, "crl-ca.pem"), toPem("CERTIFICATE", ca.cert));
  writeFileSync(join(dir, "crl.pem"), toPem("X509 CRL", crl));
  writeFileSync(join(dir, "bad.pem"), toPem("CERTIFICATE", bad.der));
  writeFileSync(join(dir, "good.pem"), toPem("CERTIFICATE", good.der));
  const info = crlInfo(crl);
  assert.equal(info.number, 300n);
  assert.deepEqual(info.revoked, [bad.serial]);
  assert.equal(
    info.nextUpdate?.toISOString(),
    new Date(Math.floor(YEAR.getTime() / 1000) * 1000).toISOString(),
  );
  const t = openssl(["crl", "-in", "crl.pem", "-noout", "-text", "-CAfile", "crl-ca.pem"]);
  assert.equal(t.code, 0, t.out);
  assert.match(t.out, /verify OK/);
  assert.match(t.out, new RegExp(`Serial Number: ${bad.serial}`));
  assert.match(t.out, /Key Compromise/);
  assert.match(t.out, /X509v3 CRL Number: \n\s+300/);
  assert.doesNotMatch(t.out, new RegExp(good.serial));
  const chk = (f: string) =>
    openssl(["verify", "-crl_check", "-CAfile", "crl-ca.pem", "-CRLfile", "crl.pem", f]);
  assert.equal(chk("good.pem").code, 0, chk("good.pem").out);
  const r = chk("bad.pem");
  assert.notEqual(r.code, 0);
  assert.match(r.out, /certificate revoked/);

  // An empty CRL omits the list (RFC 5280 5.1.2.6) and still verifies.
  const empty = await signCrl({ number: 1n, thisUpdate: NOW, nextUpdate: YEAR, revoked: [] }, ca);
  writeFileSync(join(dir, "empty.pem"), toPem("X509 CRL", empty));
  const e = openssl(["crl", "-in", "empty.pem", "-noout", "-text", "-CAfile", "crl-ca.pem"]);
  assert.equal(e.code, 0, e.out);
  assert.match(e.out, /No Revoked Certificates/);
});

for (const profile of ["modern", "legacy"] as const) {
  test(`PKCS#12 (${profile}): openssl reads it with the password, gets the same key and both certificates, and refuses a wrong password`, async () => {
    const ca = await makeCa("rsa-2048");
    const key = keyOf("rsa-2048");
    const cert = await signCertificate(
      {
        kind: "client",
        commonName: "carol",
        subjectAltNames: [],
        subjectKey: key,
        serial: serialFrom(randomBytes(16)),
        notBefore: NOW,
        notAfter: YEAR,
      },
      ca,
    );
    const password = "correct horse ünïcode";
    const p12 = await makePkcs12({
      cert,
      key,
      caCerts: [ca.cert],
      password,
      friendlyName: "carol",
      profile,
      random: (n) => randomBytes(n),
    });
    const f = `carol-${profile}.p12`;
    writeFileSync(join(dir, f), p12);
    const info = openssl(["pkcs12", "-info", "-in", f, "-passin", `pass:${password}`, "-nodes"]);
    assert.equal(info.code, 0, info.out);
    if (profile === "modern") {
      assert.match(info.out, /MAC: sha256, Iteration 2048/);
      assert.match(
        info.out,
        /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/,
      );
    } else {
      assert.match(info.out, /MAC: sha1, Iteration 2048/);
      assert.match(info.out, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
    }
    assert.equal(info.out.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2);
    assert.match(info.out, /friendlyName: carol/);
    assert.match(info.out, /localKeyID:/);
    const keyPem = /-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----/.exec(info.out)?.[0];
    assert.ok(keyPem);
    assert.equal(key.export({ type: "pkcs8", format: "pem" }).toString().trim(), keyPem.trim());
    const wrong = openssl([
      "pkcs12",
      "-info",
      "-in",
      f,
      "-passin",
      "pass:correct horse unicode",
      "-nodes",
    ]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.out, /Mac verify error/);
    assert.doesNotMatch(wrong.out, /BEGIN PRIVATE KEY/);
  });
}
