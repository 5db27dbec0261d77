/**
 * CRLs (crl.ts) and revocation of a verified chain (cert.ts checkRevocation), on CRLs made by
 * `openssl ca -gencrl` (test/helpers/pki.ts): an independent implementation wrote every CRL.
 * Threats: a revoked client certificate is let in; a CRL forged by someone else (other CA's key,
 * same issuer name) revokes or un-revokes; hostile CRL bytes crash the parser.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { unwrap } from "../base/result.js";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { makeTestPki } from "../../test/helpers/pki.js";
import { CertErrorCode, certificatesFromPem, checkRevocation, verifyChain } from "./cert.js";
import { crlSignedBy, parseCrlDer, parseCrls } from "./crl.js";

const pki = makeTestPki();
after(() => pki.dispose());
pki.ca("ca", "Oakley Test CA");
pki.add({ name: "alice", subj: "/O=Oakley Test/CN=alice", issuer: "ca", ext: [] });
pki.add({ name: "bob", subj: "/O=Oakley Test/CN=bob", issuer: "ca", ext: [] });
// Same subject DN as "ca", another key: a CRL it signs must not count for "ca".
pki.add({
  name: "fake-ca",
  subj: "/O=Oakley Test/CN=Oakley Test CA",
  issuer: "self",
  ext: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"],
});

const cert = (n: string) => unwrap(certificatesFromPem(pki.get(n).cert))[0]!;
const NOW = Date.now();

describe("CRL (RFC 5280 §5)", () => {
  const crlPem = pki.crl("ca", ["alice"]);
  const [crl] = unwrap(parseCrls(crlPem));

  it("parses issuer, dates and the revoked serial like `openssl crl -text` shows them", () => {
    assert.ok(crl);
    assert.equal(crl.issuerText, "O=Oakley Test, CN=Oakley Test CA");
    assert.ok(crl.thisUpdate <= NOW + 60_000 && crl.nextUpdate! > NOW);
    assert.deepEqual([...crl.revoked], [cert("alice").fields.serial.toString("hex")]);
  });

  it("is signed by its CA; not by another CA with the same name", () => {
    assert.ok(crlSignedBy(crl!, cert("ca")));
    assert.equal(crlSignedBy(crl!, cert("fake-ca")), false);
  });

  it("a revoked client certificate is refused with OAK_E_CERT_REVOKED naming it", () => {
    const chain = unwrap(verifyChain(cert("alice"), [], [cert("ca")], NOW));
    const r = checkRevocation(chain.path, [crl!]);
    assert.ok(!r.ok);
    assert.equal(r.error.code, CertErrorCode.Revoked);
    assert.match(
      r.error.message,
      /"O=Oakley Test, CN=alice".*revoked by the CRL of "O=Oakley Test, CN=Oakley Test CA"/,
    );
  });

  it("a certificate not on the list passes", () => {
    const chain = unwrap(verifyChain(cert("bob"), [], [cert("ca")], NOW));
    assert.ok(checkRevocation(chain.path, [crl!]).ok);
  });

  it("a CRL forged with another key under the CA's name revokes nothing", () => {
    const forged = unwrap(parseCrls(pki.crl("fake-ca", [])));
    // Put alice's serial on a list the fake CA signs: the issuer check must refuse it.
    const tampered = { ...forged[0]!, revoked: new Set(crl!.revoked) };
    const chain = unwrap(verifyChain(cert("alice"), [], [cert("ca")], NOW));
    assert.ok(checkRevocation(chain.path, [tampered]).ok);
  });

  it("an empty CRL (no revokedCertificates) parses", () => {
    const [empty] = unwrap(parseCrls(pki.crl("ca", [])));
    assert.equal(empty!.revoked.size, 0);
  });

  it("DER input works like PEM", () => {
    assert.deepEqual([...unwrap(parseCrls(crl!.der))[0]!.revoked], [...crl!.revoked]);
  });

  it("text that is not a CRL is a typed error", () => {
    const r = parseCrls("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert.ok(!r.ok);
  });

  it("hostile bytes: typed errors, never a throw", () => {
    fuzzParser("parseCrlDer", parseCrlDer, [crl!.der], { iterations: 20_000 });
  });
});
