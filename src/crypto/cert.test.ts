/**
 * Certificate parsing and chain checks (cert-der.ts, cert.ts) on a PKI made by the openssl
 * CLI (test/helpers/pki.ts): our DER view is cross-checked against `openssl x509` and node:crypto's
 * X509Certificate (independent parsers); the IKEv1 RSA signature against `openssl pkeyutl -sign`
 * (PKCS#1 v1.5 type 1 over the raw input, no DigestInfo: what RFC 2409 §5.1 / strongSwan's
 * SIGN_RSA_EMSA_PKCS1_NULL mean). Negative cases: expired, not yet valid, wrong CA, self-signed
 * leaf, CA:FALSE intermediate, forged issuer (same DN, other key), keyUsage without
 * digitalSignature, identity mismatch. Fuzz of both parsers; fast-check on DN parsing.
 */
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { unwrap } from "../base/result.js";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import {
  dnEqual,
  dnText,
  KeyUsage,
  parseCertificateDer,
  parseDistinguishedName,
} from "./cert-der.js";
import {
  CertErrorCode,
  certificateMatchesId,
  certificatesFromPem,
  ikeSign,
  ikeVerify,
  localCredentials,
  subjectId,
  verifyChain,
} from "./cert.js";
import { makeTestPki } from "../../test/helpers/pki.js";

const pki = makeTestPki();
after(() => pki.dispose());

pki.ca("ca", "Oakley Test CA");
pki.ca("other-ca", "Other CA");
pki.ca("inter", "Oakley Intermediate", "ca");
pki.add({
  name: "notca",
  subj: "/O=Oakley Test/CN=Not A CA",
  issuer: "ca",
  ext: ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,keyCertSign,digitalSignature"],
});
const LEAF_EXT = [
  "subjectAltName=DNS:vpn.example,IP:198.51.100.2,email:ops@vpn.example",
  "keyUsage=digitalSignature",
];
pki.add({ name: "leaf", subj: "/O=Oakley Test/CN=vpn.example", issuer: "ca", ext: LEAF_EXT });
pki.add({
  name: "leaf2",
  subj: "/O=Oakley Test/CN=deep.example",
  issuer: "inter",
  ext: ["subjectAltName=DNS:deep.example"],
});
pki.add({
  name: "under-notca",
  subj: "/O=Oakley Test/CN=under.example",
  issuer: "notca",
  ext: ["subjectAltName=DNS:under.example"],
});
pki.add({
  name: "self",
  subj: "/O=Oakley Test/CN=self.example",
  issuer: "self",
  ext: ["subjectAltName=DNS:self.example"],
});
pki.add({
  name: "enc-only",
  subj: "/O=Oakley Test/CN=enc.example",
  issuer: "ca",
  ext: ["keyUsage=keyEncipherment"],
});
// a second "CA" with the very same subject DN as "ca" but its own key: its leaves must not verify
pki.add({
  name: "fake-ca",
  subj: "/O=Oakley Test/CN=Oakley Test CA",
  issuer: "self",
  ext: ["basicConstraints=critical,CA:TRUE"],
});
pki.add({
  name: "forged",
  subj: "/O=Oakley Test/CN=forged.example",
  issuer: "fake-ca",
  ext: ["subjectAltName=DNS:forged.example"],
});

const cert = (n: string) => unwrap(certificatesFromPem(pki.get(n).cert))[0]!;
const NOW = Date.now();

describe("cert-der: X.509 fields (cross-checked with openssl x509 and node:crypto)", () => {
  it("validity, subject, issuer, SANs, basicConstraints, keyUsage agree with the other parsers", () => {
    const c = cert("leaf");
    const x = new X509Certificate(pki.get("leaf").cert);
    // openssl: notBefore=Jan  1 00:00:00 2024 GMT
    const dates = pki.inspect("leaf", ["-startdate", "-enddate"]);
    const nb = /notBefore=(.*)/.exec(dates)?.[1] ?? "";
    const na = /notAfter=(.*)/.exec(dates)?.[1] ?? "";
    assert.equal(c.fields.notBefore, Date.parse(nb));
    assert.equal(c.fields.notAfter, Date.parse(na));
    assert.equal(c.fields.notAfter, Date.parse(x.validTo));
    assert.equal(dnText(c.fields.subject), "O=Oakley Test, CN=vpn.example");
    assert.equal(x.subject, "O=Oakley Test\nCN=vpn.example");
    assert.equal(dnText(c.fields.issuer), "O=Oakley Test, CN=Oakley Test CA");
    assert.equal(
      x.subjectAltName,
      "DNS:vpn.example, IP Address:198.51.100.2, email:ops@vpn.example",
    );
    assert.deepEqual(
      c.fields.subjectAltNames.map((g) =>
        g.kind === "ip"
          ? g.octets.toString("hex")
          : g.kind === "dns" || g.kind === "email"
            ? g.value
            : g.kind,
      ),
      ["vpn.example", "c6336402", "ops@vpn.example"],
    );
    assert.equal(c.fields.keyUsage, KeyUsage.digitalSignature);
    assert.equal(c.fields.basicConstraints, undefined);
    assert.equal(c.fields.version, 3);
    assert.equal(
      c.fields.serial.toString("hex").toUpperCase().replace(/^0+/, ""),
      x.serialNumber.replace(/^0+/, ""),
    );
    const ca = cert("ca");
    assert.deepEqual(ca.fields.basicConstraints, { ca: true });
    assert.equal(new X509Certificate(pki.get("ca").cert).ca, true);
    assert.equal(ca.fields.keyUsage, KeyUsage.keyCertSign | KeyUsage.cRLSign);
    assert.ok(pki.inspect("ca", ["-ext", "keyUsage"]).includes("Certificate Sign, CRL Sign"));
  });

  it("DN comparison ignores the string type and case (RFC 5280 §7.1)", () => {
    const leaf = cert("leaf");
    // the same DN with PrintableString values and other case, hand-encoded (X.690)
    const ava = (oid: number[], s: string) => {
      const o = Buffer.from([0x06, oid.length, ...oid]);
      const v = Buffer.concat([Buffer.from([0x13, s.length]), Buffer.from(s, "ascii")]);
      const seq = Buffer.concat([Buffer.from([0x30, o.length + v.length]), o, v]);
      return Buffer.concat([Buffer.from([0x31, seq.length]), seq]);
    };
    const body = Buffer.concat([
      ava([0x55, 0x04, 0x0a], "OAKLEY  test"),
      ava([0x55, 0x04, 0x03], "VPN.example"),
    ]);
    const der = Buffer.concat([Buffer.from([0x30, body.length]), body]);
    const dn = unwrap(parseDistinguishedName(der));
    assert.ok(dnEqual(dn, leaf.fields.subject));
    assert.ok(certificateMatchesId(leaf, { kind: "der-asn1-dn", der }).ok);
    const other = Buffer.concat([
      ava([0x55, 0x04, 0x0a], "Oakley Test"),
      ava([0x55, 0x04, 0x03], "vpn2.example"),
    ]);
    const der2 = Buffer.concat([Buffer.from([0x30, other.length]), other]);
    assert.equal(certificateMatchesId(leaf, { kind: "der-asn1-dn", der: der2 }).ok, false);
  });
});

describe("cert: chain verification at a given wall-clock time", () => {
  const cas = [cert("ca")];
  const code = (r: ReturnType<typeof verifyChain>) => (r.ok ? "ok" : r.error.code);

  it("leaf issued by the configured CA verifies; path leaf -> CA", () => {
    const r = unwrap(verifyChain(cert("leaf"), [], cas, NOW));
    assert.equal(r.path.length, 2);
    assert.equal(r.anchor.subjectText, "O=Oakley Test, CN=Oakley Test CA");
  });

  it("leaf under an intermediate verifies when the peer sends the intermediate, not otherwise", () => {
    assert.equal(unwrap(verifyChain(cert("leaf2"), [cert("inter")], cas, NOW)).path.length, 3);
    assert.equal(code(verifyChain(cert("leaf2"), [], cas, NOW)), CertErrorCode.Untrusted);
  });

  it("expired and not yet valid, by the wall clock passed in", () => {
    const c = cert("leaf");
    assert.equal(code(verifyChain(c, [], cas, c.fields.notAfter + 1000)), CertErrorCode.Expired);
    assert.equal(
      code(verifyChain(c, [], cas, c.fields.notBefore - 1000)),
      CertErrorCode.NotYetValid,
    );
    const r = verifyChain(c, [], cas, c.fields.notAfter + 86_400_000);
    assert.ok(!r.ok && /expired/.test(r.error.message));
  });

  it("wrong CA, self-signed leaf, forged issuer with the CA's name", () => {
    assert.equal(
      code(verifyChain(cert("leaf"), [], [cert("other-ca")], NOW)),
      CertErrorCode.Untrusted,
    );
    const s = verifyChain(cert("self"), [], cas, NOW);
    assert.ok(
      !s.ok && s.error.code === CertErrorCode.Untrusted && /self-signed/.test(s.error.message),
    );
    assert.equal(code(verifyChain(cert("forged"), [], cas, NOW)), CertErrorCode.BadSignature);
    assert.equal(
      code(verifyChain(cert("forged"), [cert("fake-ca")], cas, NOW)),
      CertErrorCode.BadSignature,
    );
  });

  it("an intermediate with CA:FALSE may not issue; a CA certificate is not an end entity", () => {
    assert.equal(
      code(verifyChain(cert("under-notca"), [cert("notca")], cas, NOW)),
      CertErrorCode.NotCa,
    );
    assert.equal(verifyChain(cert("ca"), [], cas, NOW).ok, false, "the CA presented as a peer");
  });

  it("keyUsage without digitalSignature/nonRepudiation cannot authenticate", () => {
    assert.equal(code(verifyChain(cert("enc-only"), [], cas, NOW)), CertErrorCode.KeyUsage);
  });
});

describe("cert: identities", () => {
  const leaf = cert("leaf");
  it("FQDN, IPv4, USER_FQDN from subjectAltName; DN from the subject", () => {
    assert.ok(certificateMatchesId(leaf, { kind: "fqdn", name: "VPN.example" }).ok);
    assert.ok(certificateMatchesId(leaf, { kind: "ipv4", address: "198.51.100.2" }).ok);
    assert.ok(certificateMatchesId(leaf, { kind: "user-fqdn", name: "ops@vpn.example" }).ok);
    assert.ok(certificateMatchesId(leaf, subjectId(leaf)).ok);
  });
  it("mismatches are IdMismatch", () => {
    for (const id of [
      { kind: "fqdn", name: "other.example" },
      { kind: "ipv4", address: "198.51.100.3" },
      { kind: "user-fqdn", name: "vpn.example" },
      { kind: "key-id", keyId: Buffer.from("01", "hex") },
      subjectId(cert("leaf2")),
    ] as const) {
      const r = certificateMatchesId(leaf, id);
      assert.ok(!r.ok && r.error.code === CertErrorCode.IdMismatch, JSON.stringify(id));
    }
  });
});

describe("cert: IKEv1 RSA signature (RFC 2409 §5.1)", () => {
  it("equals openssl pkeyutl -sign (PKCS#1 v1.5 type 1, no DigestInfo) and verifies", () => {
    const creds = unwrap(localCredentials(pki.get("leaf").cert, pki.get("leaf").key));
    const hash = createHash("sha1").update("HASH_I input").digest();
    const sig = ikeSign(creds.key, hash);
    assert.deepEqual(sig, pki.rawSign("leaf", hash));
    assert.ok(ikeVerify(creds.certificate, hash, sig).ok);
    const bad = Buffer.from(sig);
    bad[10] = (bad[10] ?? 0) ^ 1;
    assert.equal(ikeVerify(creds.certificate, hash, bad).ok, false);
    assert.equal(ikeVerify(cert("leaf2"), hash, sig).ok, false, "someone else's key");
    const h2 = Buffer.from(hash);
    h2[0] = (h2[0] ?? 0) ^ 1;
    assert.equal(ikeVerify(creds.certificate, h2, sig).ok, false);
  });
  it("a key that does not belong to the certificate is refused", () => {
    const r = localCredentials(pki.get("leaf").cert, pki.get("leaf2").key);
    assert.ok(!r.ok && r.error.code === CertErrorCode.UnsupportedKey);
  });
});

describe("cert-der: hostile input", () => {
  const seeds = ["leaf", "leaf2", "ca", "notca"].map((n) => cert(n).fields.der);
  it("fuzz parseCertificateDer (typed errors, no throw/hang)", () => {
    fuzzParser("parseCertificateDer", parseCertificateDer, seeds, {
      iterations: 30_000,
      maxLength: 4096,
    });
  });
  it("fuzz parseDistinguishedName", () => {
    fuzzParser(
      "parseDistinguishedName",
      parseDistinguishedName,
      seeds.map((d) => unwrap(parseCertificateDer(d)).subject.der),
      {
        iterations: 100_000,
      },
    );
  });
  it("property: any DN of printable strings parses back to its values (X.690 short form)", () => {
    const printable = fc.stringMatching(/^[A-Za-z0-9 .-]{1,40}$/);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(3, 6, 10, 11), printable), {
          minLength: 1,
          maxLength: 6,
        }),
        (rdns) => {
          const parts = rdns.map(([attr, s]) => {
            const v = Buffer.concat([Buffer.from([0x0c, s.length]), Buffer.from(s)]);
            const o = Buffer.from([0x06, 3, 0x55, 0x04, attr]);
            const seq = Buffer.concat([Buffer.from([0x30, o.length + v.length]), o, v]);
            return Buffer.concat([Buffer.from([0x31, seq.length]), seq]);
          });
          const body = Buffer.concat(parts);
          if (body.length > 127) return;
          const der = Buffer.concat([Buffer.from([0x30, body.length]), body]);
          const dn = unwrap(parseDistinguishedName(der));
          assert.deepEqual(dn.der, der);
          assert.deepEqual(
            dn.rdns.map((r) => [r[0]!.oid, r[0]!.value.toString()]),
            rdns.map(([a, s]) => [`2.5.4.${a}`, s]),
          );
        },
      ),
    );
  });
});
