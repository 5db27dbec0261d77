/**
 * Certificates through the policy store (what `oakley policy import` and `oakley serve --cert`
 * write) reach the IKE engine's configuration: our certificate and key, the rules' CAs, the
 * methods in the rules' order, CRLs from the daemon. A real SQLite store; PEMs by the openssl
 * CLI. Threat: a rule naming "our" certificate that has no private key (or none at all) is
 * accepted silently and the server runs without the authentication the operator asked for.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { unwrap } from "../base/result.js";
import { makeTestPki } from "../../test/helpers/pki.js";
import { createDefaultStore, DEFAULT_POLICY, effectivePolicy } from "../policy/index.js";
import { ikeConfigFromPolicy } from "./policy-to-ike.js";

const pki = makeTestPki();
const dir = mkdtempSync(join(tmpdir(), "oak-p2i-"));
after(() => {
  pki.dispose();
  rmSync(dir, { recursive: true, force: true });
});
pki.ca("ca", "Corp CA");
pki.add({ name: "gw", subj: "/O=Corp/CN=gw", issuer: "ca", ext: ["keyUsage=digitalSignature"] });

function storeWith(auth: unknown[]) {
  const s = unwrap(
    createDefaultStore(join(dir, `${Math.random().toString(36).slice(2)}.db`), (n) =>
      Buffer.alloc(n, 7),
    ),
  ).store;
  unwrap(s.certificates.create({ name: "corp-ca", pem: pki.get("ca").cert, isCa: true }));
  unwrap(
    s.certificates.create({
      name: "gw",
      pem: pki.get("gw").cert,
      isCa: false,
      privateKey: pki.get("gw").key,
    }),
  );
  unwrap(s.certificates.create({ name: "no-key", pem: pki.get("gw").cert, isCa: false }));
  const p = unwrap(s.policies.get(DEFAULT_POLICY)).value!;
  const r = s.policies.update(DEFAULT_POLICY, {
    ...p,
    rules: p.rules.map((x) => ({ ...x, authentication: auth as typeof x.authentication })),
  });
  return { s, r };
}

describe("policy store certificates -> IKE engine configuration", () => {
  it("PSK and certificate in one rule: both offered in that order; our certificate, key and CA", () => {
    const { s, r } = storeWith([
      { method: "psk", psk: "default" },
      { method: "certificate", ca: "corp-ca", certificate: "gw" },
    ]);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    const ike = ikeConfigFromPolicy(unwrap(effectivePolicy(s)), {
      windowsNatFriendly: true,
      crls: ["(crl bytes)"],
    });
    assert.deepEqual(ike.authMethods, ["psk", "rsa-sig"]);
    assert.equal(ike.certificates?.certificate, pki.get("gw").cert);
    assert.equal(ike.certificates?.privateKey, pki.get("gw").key);
    assert.deepEqual(ike.certificates?.trustedCas, [pki.get("ca").cert]);
    assert.deepEqual(ike.certificates?.crls, ["(crl bytes)"]);
    assert.equal(ike.psks.length, 1);
    s.close();
  });

  it("certificate only, ours not named: the one certificate holding a key is used", () => {
    const { s, r } = storeWith([{ method: "certificate", ca: "corp-ca" }]);
    assert.ok(r.ok);
    const ike = ikeConfigFromPolicy(unwrap(effectivePolicy(s)), { windowsNatFriendly: true });
    assert.deepEqual(ike.authMethods, ["rsa-sig"]);
    assert.equal(ike.certificates?.certificate, pki.get("gw").cert);
    s.close();
  });

  it("PSK only: no certificate context (the engine's default)", () => {
    const { s } = storeWith([{ method: "psk", psk: "default" }]);
    const ike = ikeConfigFromPolicy(unwrap(effectivePolicy(s)), { windowsNatFriendly: true });
    assert.equal(ike.certificates, undefined);
    assert.equal(ike.authMethods, undefined);
    s.close();
  });

  it("a rule naming our certificate without a private key, or a missing one, is refused", () => {
    for (const [name, re] of [
      ["no-key", /certificate 'no-key' has no privateKey; import it with its private key/],
      ["ghost", /there is no certificate named 'ghost'/],
    ] as const) {
      const { s, r } = storeWith([{ method: "certificate", ca: "corp-ca", certificate: name }]);
      assert.ok(!r.ok, name);
      assert.match(JSON.stringify(r.error), re);
      s.close();
    }
  });

  it("a PSK rule may not name a certificate", () => {
    const { s, r } = storeWith([{ method: "psk", psk: "default", certificate: "gw" }]);
    assert.ok(!r.ok);
    assert.match(JSON.stringify(r.error), /only method \\"certificate\\" names our certificate/);
    s.close();
  });
});
