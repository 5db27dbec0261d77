/** phase1Suite: lookup from Oakley attribute numbers (RFC 2409 App. A, RFC 3602, RFC 3526, RFC 5903). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { unwrap } from "../base/result.js";
import { CryptoErrorCode } from "./errors.js";
import { OakleyAttr, phase1Suite } from "./suite.js";

test("suites clients propose resolve to the right parts", () => {
  const s = unwrap(phase1Suite({ encryption: 7, keyLength: 256, hash: 4, group: 14 }));
  assert.equal(s.name, "AES-CBC-256/SHA2-256/MODP-2048");
  assert.equal(s.cipher.keyLength, 32);
  assert.equal(s.prf.outLen, 32);
  assert.equal(s.group.publicLength, 256);
  assert.equal(
    unwrap(phase1Suite({ encryption: 5, hash: 2, group: 2 })).name,
    "3DES-CBC/SHA/MODP-1024",
  );
  assert.equal(OakleyAttr.KEY_LENGTH, 14);
});

test("an unsupported part anywhere gives OAK_E_CRYPTO_UNSUPPORTED", () => {
  for (const a of [
    { encryption: 7, hash: 2, group: 14 },
    { encryption: 7, keyLength: 128, hash: 3, group: 14 },
    { encryption: 7, keyLength: 128, hash: 2, group: 18 },
    { encryption: 1, hash: 2, group: 2 },
  ]) {
    const r = phase1Suite(a);
    assert.equal(r.ok ? undefined : r.error.code, CryptoErrorCode.Unsupported, JSON.stringify(a));
  }
});
