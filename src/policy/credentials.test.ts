import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DUMMY_PAP_CREDENTIALS,
  makeCredentials,
  ntPasswordHash,
  type PapKdf,
  scryptKdf,
  verifyPap,
} from "./credentials.js";

test("NtPasswordHash matches RFC 2759 section 9.2 (password clientPass)", () => {
  // Source: RFC 2759 section 9.2: PasswordHash 44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE.
  assert.equal(ntPasswordHash("clientPass").toString("hex"), "44ebba8d5312b8d611474411f56989ae");
});

test("PAP verifier accepts the password and nothing else; cleartext only with CHAP-MD5", async () => {
  let i = 0;
  const random = (n: number) => Buffer.alloc(n, ++i);
  const small = { n: 1024, r: 8, p: 1 };
  const c = makeCredentials("correct horse", random, { scrypt: small });
  assert.equal(await verifyPap(c, "correct horse"), true);
  assert.equal(await verifyPap(c, "correct horsf"), false);
  assert.equal(c.cleartext, undefined);
  const d = makeCredentials("correct horse", random, { scrypt: small, allowChapMd5: true });
  assert.equal(d.cleartext, "correct horse");
  assert.notEqual(c.pap.salt, d.pap.salt);
});

test("the dummy PAP record costs a default scrypt run and matches no password", async () => {
  const runs: number[] = [];
  const kdf: PapKdf = (pw, salt, keylen, params) => {
    runs.push(params.N);
    return scryptKdf(pw, salt, keylen, params);
  };
  assert.equal(await verifyPap(DUMMY_PAP_CREDENTIALS, "", kdf), false);
  assert.equal(await verifyPap(DUMMY_PAP_CREDENTIALS, "password", kdf), false);
  assert.deepEqual(runs, [2 ** 15, 2 ** 15]);
});
