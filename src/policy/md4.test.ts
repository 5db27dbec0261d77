import assert from "node:assert/strict";
import { test } from "node:test";
import { makeCredentials, ntPasswordHash, verifyPap } from "./credentials.js";
import { md4 } from "./md4.js";

// Source: RFC 1320 Appendix A.5 (MD4 test suite).
const RFC1320: [string, string][] = [
  ["", "31d6cfe0d16ae931b73c59d7e0c089c0"],
  ["a", "bde52cb31de33e46245e05fbdbd6fb24"],
  ["abc", "a448017aaf21d8525fc10ae87aa6729d"],
  ["message digest", "d9130a8164549fe818874806e1c7014b"],
  ["abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"],
  [
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "043f8582f241db351ce627e153e7f0e4",
  ],
  [
    "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
    "e33b4ddc9c38f2199c3e7b164fcc0536",
  ],
];

test("md4 matches the RFC 1320 A.5 test suite", () => {
  for (const [input, want] of RFC1320)
    assert.equal(md4(Buffer.from(input, "latin1")).toString("hex"), want, input);
});

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
