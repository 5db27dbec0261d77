/**
 * Cipher known answers: NIST SP 800-38A Appendix F.2.1-F.2.6 (CBC-AES128/192/256 encrypt and
 * decrypt), NIST SP 800-20 / CAVP TCBCvartext COUNT=0 (TDEA, keying option 3 with equal keys)
 * and NIST SP 800-67 Rev.1 Appendix B example (first block; CBC with a zero IV equals ECB).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromHex, hex } from "../base/bytes.js";
import { unwrap } from "../base/result.js";
import { CIPHERS, IkeEncryption, ikeCipher } from "./cipher.js";
import { CryptoErrorCode } from "./errors.js";

const IV = fromHex("000102030405060708090a0b0c0d0e0f");
const PT = fromHex(
  "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710",
);

const AES: [number, string, string][] = [
  [
    128,
    "2b7e151628aed2a6abf7158809cf4f3c",
    "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
  ],
  [
    192,
    "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
    "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd",
  ],
  [
    256,
    "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
    "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
  ],
];

test("AES-CBC 128/192/256: NIST SP 800-38A F.2.1-F.2.6", () => {
  for (const [bits, key, ct] of AES) {
    const c = unwrap(ikeCipher(IkeEncryption.AES_CBC, bits));
    assert.equal(c.blockSize, 16);
    assert.equal(c.keyLength, bits / 8);
    assert.equal(hex(unwrap(c.encrypt(fromHex(key), IV, PT))), ct, `${c.name} encrypt`);
    assert.deepEqual(unwrap(c.decrypt(fromHex(key), IV, fromHex(ct))), PT, `${c.name} decrypt`);
  }
});

test("3DES-CBC: CAVP TCBCvartext COUNT=0 and SP 800-67 Appendix B first block", () => {
  const c = unwrap(ikeCipher(IkeEncryption.TRIPLE_DES_CBC));
  assert.equal(c.blockSize, 8);
  const k1 = fromHex("010101010101010101010101010101010101010101010101");
  const iv0 = Buffer.alloc(8);
  assert.equal(hex(unwrap(c.encrypt(k1, iv0, fromHex("8000000000000000")))), "95f8a5e5dd31d900");
  const k3 = fromHex("0123456789abcdef23456789abcdef01456789abcdef0123");
  const ct = unwrap(c.encrypt(k3, iv0, Buffer.from("The qufc", "ascii")));
  assert.equal(hex(ct), "a826fd8ce53b855f");
  assert.deepEqual(unwrap(c.decrypt(k3, iv0, ct)), Buffer.from("The qufc", "ascii"));
});

test("no padding is added or removed: length in == length out, round trip on every table entry", () => {
  for (const d of CIPHERS) {
    const c = unwrap(ikeCipher(d.id, d.variableKeyLength ? d.keyBits : undefined));
    const key = Buffer.alloc(d.keyLength, 0x42);
    const iv = Buffer.alloc(d.blockSize, 7);
    for (const n of [d.blockSize, 3 * d.blockSize]) {
      const data = Buffer.alloc(n, 0x10);
      const ct = unwrap(c.encrypt(key, iv, data));
      assert.equal(ct.length, n);
      assert.deepEqual(unwrap(c.decrypt(key, iv, ct)), data);
    }
  }
});

test("bad key, IV, data lengths and unknown algorithms are typed errors", () => {
  const c = unwrap(ikeCipher(IkeEncryption.AES_CBC, 128));
  const key = Buffer.alloc(16);
  const iv = Buffer.alloc(16);
  const code = (r: { ok: boolean; error?: { code: string } }): string | undefined => r.error?.code;
  assert.equal(
    code(c.encrypt(Buffer.alloc(15), iv, Buffer.alloc(16))),
    CryptoErrorCode.BadKeyLength,
  );
  assert.equal(
    code(c.decrypt(key, Buffer.alloc(8), Buffer.alloc(16))),
    CryptoErrorCode.BadIvLength,
  );
  assert.equal(code(c.decrypt(key, iv, Buffer.alloc(17))), CryptoErrorCode.NotBlockAligned);
  assert.equal(code(c.decrypt(key, iv, Buffer.alloc(0))), undefined);
  for (const [id, kl] of [
    [7, undefined],
    [7, 64],
    [5, 128],
    [1, undefined],
    [99, 128],
  ] as const) {
    const r = ikeCipher(id, kl);
    assert.equal(r.ok, false, `${id}/${kl}`);
    if (!r.ok) assert.equal(r.error.code, CryptoErrorCode.Unsupported);
  }
  assert.equal(unwrap(ikeCipher(5, 192)).name, "3DES-CBC");
});
