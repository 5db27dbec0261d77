import assert from "node:assert/strict";
import { test } from "node:test";
import { fromHex } from "../base/bytes.js";
import { desEncryptBlock, md5, sha1 } from "./legacy.js";

// Source: RFC 1321 Appendix A.5 (MD5 test suite).
test("md5: RFC 1321 test suite, also when the input comes in parts", () => {
  assert.equal(md5().toString("hex"), "d41d8cd98f00b204e9800998ecf8427e");
  assert.equal(md5(Buffer.from("abc")).toString("hex"), "900150983cd24fb0d6963f7d28e17f72");
  assert.equal(
    md5(Buffer.from("message "), Buffer.from("digest")).toString("hex"),
    "f96b697d7cb7938d525a2f31aaf161d0",
  );
});

// Source: FIPS 180-2 Appendix A.1 (SHA-1 of "abc") and A.2 (the 448-bit message).
test("sha1: FIPS 180-2 examples, also when the input comes in parts", () => {
  assert.equal(
    sha1(Buffer.from("abc")).toString("hex"),
    "a9993e364706816aba3e25717850c26c9cd0d89d",
  );
  assert.equal(
    sha1(
      Buffer.from("abcdbcdecdefdefgefghfghighijhijk"),
      Buffer.from("ijkljklmklmnlmnomnopnopq"),
    ).toString("hex"),
    "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
  );
});

// Source: FIPS 81 / NBS "Now is the time for all" example: key 0123456789ABCDEF,
// plaintext 4E6F772069732074 ("Now is t") -> 3FA40E8A984D4815.
test("desEncryptBlock: single-DES known answer; wrong sizes are refused", () => {
  assert.equal(
    desEncryptBlock(fromHex("0123456789ABCDEF"), fromHex("4E6F772069732074")).toString("hex"),
    "3fa40e8a984d4815",
  );
  assert.throws(() => desEncryptBlock(Buffer.alloc(7), Buffer.alloc(8)));
  assert.throws(() => desEncryptBlock(Buffer.alloc(8), Buffer.alloc(9)));
});
