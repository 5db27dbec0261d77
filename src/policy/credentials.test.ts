import assert from "node:assert/strict";
import { test } from "node:test";
import { makeCredentials, ntPasswordHash, verifyPap } from "./credentials.js";

test("NtPasswordHash matches RFC 2759 section 9.2 (password clientPass)", () => {
  // Source: RFC 2759 section 9.2: PasswordHash 44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE.
  assert.equal(ntPasswordHash("clientPass").toString("hex"), "44ebba8d5312b8d611474411f56989ae");
});

test("PAP verifier accepts the password and nothing else; cleartext only with CHAP-MD5", () => {
  let i = 0;
  const random = (n: number) => Buffer.alloc(n, ++i);
  const small = { n: 1024, r: 8, p: 1 };
  const c = makeCredentials("correct horse", random, { scrypt: small });
  assert.equal(verifyPap(c, "correct horse"), true);
  assert.equal(verifyPap(c, "correct horsf"), false);
  assert.equal(c.cleartext, undefined);
  const d = makeCredentials("correct horse", random, { scrypt: small, allowChapMd5: true });
  assert.equal(d.cleartext, "correct horse");
  assert.notEqual(c.pap.salt, d.pap.salt);
});
