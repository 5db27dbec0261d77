/** HMAC known answers: RFC 2202 §2/§3 (HMAC-MD5, HMAC-SHA-1) and RFC 4231 §4 (HMAC-SHA-2). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromHex, hex } from "../base/bytes.js";
import { unwrap } from "../base/result.js";
import { CryptoErrorCode } from "./errors.js";
import { hash, IkeHash, prf } from "./prf.js";

const rep = (b: number, n: number): Buffer => Buffer.alloc(n, b);
const txt = (s: string): Buffer => Buffer.from(s, "ascii");
const bigKeyMsg = txt("Test Using Larger Than Block-Size Key - Hash Key First");

test("HMAC-MD5: RFC 2202 §2 test cases 1, 2, 3, 6", () => {
  const p = unwrap(prf(IkeHash.MD5));
  assert.equal(hex(p.compute(rep(0x0b, 16), txt("Hi There"))), "9294727a3638bb1c13f48ef8158bfc9d");
  assert.equal(
    hex(p.compute(txt("Jefe"), txt("what do ya want for nothing?"))),
    "750c783e6ab0b503eaa86e310a5db738",
  );
  assert.equal(hex(p.compute(rep(0xaa, 16), rep(0xdd, 50))), "56be34521d144c88dbb8c733f0e8b3f6");
  assert.equal(hex(p.compute(rep(0xaa, 80), bigKeyMsg)), "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd");
});

test("HMAC-SHA1: RFC 2202 §3 test cases 1, 2, 3, 6", () => {
  const p = unwrap(prf(IkeHash.SHA));
  assert.equal(
    hex(p.compute(rep(0x0b, 20), txt("Hi There"))),
    "b617318655057264e28bc0b6fb378c8ef146be00",
  );
  assert.equal(
    hex(p.compute(txt("Jefe"), txt("what do ya want for nothing?"))),
    "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
  );
  assert.equal(
    hex(p.compute(rep(0xaa, 20), rep(0xdd, 50))),
    "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
  );
  assert.equal(
    hex(p.compute(rep(0xaa, 80), bigKeyMsg)),
    "aa4ae5e15272d00e95705637ce8a3b55ed402112",
  );
});

test("HMAC-SHA2-256/384/512: RFC 4231 §4.2, §4.3, §4.7 (test cases 1, 2, 6)", () => {
  const cases: [number, string, string, string][] = [
    [
      IkeHash.SHA2_256,
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ],
    [
      IkeHash.SHA2_384,
      "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
      "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
      "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
    ],
    [
      IkeHash.SHA2_512,
      "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
      "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
      "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
    ],
  ];
  for (const [id, tc1, tc2, tc6] of cases) {
    const p = unwrap(prf(id));
    assert.equal(hex(p.compute(rep(0x0b, 20), txt("Hi There"))), tc1, `${p.name} case 1`);
    assert.equal(
      hex(p.compute(txt("Jefe"), txt("what do ya want for nothing?"))),
      tc2,
      `${p.name} case 2`,
    );
    assert.equal(hex(p.compute(rep(0xaa, 131), bigKeyMsg)), tc6, `${p.name} case 6`);
    assert.equal(p.outLen, tc1.length / 2);
  }
});

test("compute() over several parts equals compute() over their concatenation", () => {
  const p = unwrap(prf(IkeHash.SHA2_256));
  const k = fromHex("00112233");
  assert.deepEqual(p.compute(k, txt("Hi "), txt("There")), p.compute(k, txt("Hi There")));
});

test("hash(): FIPS 180 'abc' digests (SHA-1 and SHA-256, FIPS 180-2 Appendix A/B)", () => {
  assert.equal(
    hex(unwrap(hash(IkeHash.SHA)).digest(txt("abc"))),
    "a9993e364706816aba3e25717850c26c9cd0d89d",
  );
  assert.equal(
    hex(unwrap(hash(IkeHash.SHA2_256)).digest(txt("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

test("unknown hash ids are a typed error", () => {
  for (const id of [0, 3, 7, 65535, -1, 2.5]) {
    const r = prf(id);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, CryptoErrorCode.Unsupported);
    assert.equal(hash(id).ok, false);
  }
});
