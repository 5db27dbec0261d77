/**
 * Structure of the IKEv1 derivations that no published vector covers (Appendix B expansion,
 * KEYMAT chaining, Quick Mode hashes, IVs, NAT-D). Expected values are composed directly from
 * the RFC formulas with node's createHmac/createHash (a second, independent spelling of the
 * formula), never from the functions under test. SKEYID/SKEYID_d/_a/_e themselves are checked
 * against NIST ACVP vectors in test/vectors/crypto/ikev1-kdf.test.ts.
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { fromHex } from "../base/bytes.js";
import { unwrap } from "../base/result.js";
import { CryptoErrorCode } from "./errors.js";
import {
  expandEncKey,
  hashI,
  hashR,
  informationalHash,
  keymat,
  natdHash,
  nextIv,
  phase1Iv,
  phase2Iv,
  qmHash1,
  qmHash2,
  qmHash3,
} from "./ikev1-kdf.js";
import { hash, IkeHash, prf } from "./prf.js";

const sha1 = unwrap(prf(IkeHash.SHA));
const h1 = unwrap(hash(IkeHash.SHA));
const hm = (k: Uint8Array, ...m: Uint8Array[]): Buffer => {
  const x = createHmac("sha1", k);
  for (const p of m) x.update(p);
  return x.digest();
};
const b = (s: string): Buffer => fromHex(s);

test("Appendix B: SKEYID_e longer than the key is truncated; shorter is expanded K1 = prf(e, 0), K2 = prf(e, K1)", () => {
  const e = b("00112233445566778899aabbccddeeff00112233"); // 20 bytes (SHA-1)
  assert.deepEqual(unwrap(expandEncKey(sha1, e, 16)), e.subarray(0, 16));
  assert.deepEqual(unwrap(expandEncKey(sha1, e, 20)), e);
  const k1 = hm(e, b("00"));
  const k2 = hm(e, k1);
  assert.deepEqual(unwrap(expandEncKey(sha1, e, 24)), Buffer.concat([k1, k2]).subarray(0, 24)); // 3DES
  assert.deepEqual(unwrap(expandEncKey(sha1, e, 32)), Buffer.concat([k1, k2]).subarray(0, 32)); // AES-256
  for (const bad of [0, -1, 1.5, 100000]) {
    const r = expandEncKey(sha1, e, bad);
    assert.equal(r.ok ? undefined : r.error.code, CryptoErrorCode.BadLength);
  }
});

test("KEYMAT without and with PFS, expanded: K2 = prf(SKEYID_d, K1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)", () => {
  const d = b("0102030405060708090a0b0c0d0e0f1011121314");
  const spi = b("c0ffee01");
  const ni = b("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  const nr = b("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  const gqm = b("77".repeat(128));
  const tail = [b("03"), spi, ni, nr];
  const k1 = hm(d, ...tail);
  const k2 = hm(d, k1, ...tail);
  const k3 = hm(d, k2, ...tail);
  const km = unwrap(
    keymat({ prf: sha1, skeyidD: d, protocol: 3, spi, niB: ni, nrB: nr, length: 52 }),
  );
  assert.deepEqual(km, Buffer.concat([k1, k2, k3]).subarray(0, 52)); // AES-256 + HMAC-SHA1 key
  const p1 = hm(d, gqm, ...tail);
  const p2 = hm(d, p1, gqm, ...tail);
  const kp = unwrap(
    keymat({ prf: sha1, skeyidD: d, protocol: 3, spi, niB: ni, nrB: nr, gqmxy: gqm, length: 40 }),
  );
  assert.deepEqual(kp, Buffer.concat([p1, p2]));
  const bad = keymat({ prf: sha1, skeyidD: d, protocol: 3, spi, niB: ni, nrB: nr, length: 0 });
  assert.equal(bad.ok, false);
});

test("Quick Mode HASH(1)/(2)/(3) and informational HASH per RFC 2409 §5.5 / §5.7", () => {
  const a = b("0badc0de".repeat(5));
  const ni = b("11".repeat(16));
  const nr = b("22".repeat(16));
  const rest = b("0a0b0c0d0e");
  const mid = 0x01020304;
  const midB = b("01020304");
  assert.deepEqual(qmHash1(sha1, a, mid, rest), hm(a, midB, rest));
  assert.deepEqual(qmHash2(sha1, a, mid, ni, rest), hm(a, midB, ni, rest));
  assert.deepEqual(qmHash3(sha1, a, mid, ni, nr), hm(a, b("00"), midB, ni, nr));
  assert.deepEqual(informationalHash(sha1, a, mid, rest), hm(a, midB, rest));
  assert.throws(() => qmHash1(sha1, a, 2 ** 32, rest), RangeError);
});

test("HASH_I / HASH_R swap the KE values and cookies, not SAi_b (RFC 2409 §5)", () => {
  const input = {
    prf: sha1,
    skeyid: b("5e".repeat(20)),
    gxi: b("01".repeat(128)),
    gxr: b("02".repeat(128)),
    ckyI: b("1111111111111111"),
    ckyR: b("2222222222222222"),
    saiB: b("00000001000000010000002c"),
  };
  const id = b("01000000c0a80001");
  assert.deepEqual(
    hashI(input, id),
    hm(input.skeyid, input.gxi, input.gxr, input.ckyI, input.ckyR, input.saiB, id),
  );
  assert.deepEqual(
    hashR(input, id),
    hm(input.skeyid, input.gxr, input.gxi, input.ckyR, input.ckyI, input.saiB, id),
  );
});

test("IVs: phase 1 = hash(g^xi | g^xr), chaining = last block, phase 2 = hash(last block | M-ID)", () => {
  const gxi = b("0a".repeat(128));
  const gxr = b("0b".repeat(128));
  const full = createHash("sha1").update(gxi).update(gxr).digest();
  assert.deepEqual(phase1Iv(h1, gxi, gxr, 16), full.subarray(0, 16));
  assert.deepEqual(phase1Iv(h1, gxi, gxr, 8), full.subarray(0, 8));
  const ct = b("00112233445566778899aabbccddeeff0102030405060708090a0b0c0d0e0f10");
  assert.deepEqual(unwrap(nextIv(ct, 16)), ct.subarray(16));
  assert.equal(nextIv(ct.subarray(0, 15), 16).ok, false);
  const last = ct.subarray(16);
  const iv2 = createHash("sha1").update(last).update(b("deadbeef")).digest().subarray(0, 16);
  assert.deepEqual(phase2Iv(h1, last, 0xdeadbeef, 16), iv2);
});

test("NAT-D: HASH(CKY-I | CKY-R | IP | Port) for IPv4 and IPv6 (RFC 3947 §3.2); bad inputs are typed", () => {
  const ci = b("0102030405060708");
  const cr = b("1112131415161718");
  const v4 = b("c0000201");
  const v6 = b("20010db8000000000000000000000001");
  assert.deepEqual(
    unwrap(natdHash(h1, ci, cr, v4, 500)),
    createHash("sha1")
      .update(Buffer.concat([ci, cr, v4, b("01f4")]))
      .digest(),
  );
  const h256 = unwrap(hash(IkeHash.SHA2_256));
  assert.deepEqual(
    unwrap(natdHash(h256, ci, cr, v6, 4500)),
    createHash("sha256")
      .update(Buffer.concat([ci, cr, v6, b("1194")]))
      .digest(),
  );
  for (const [ip, port] of [
    [b("c00002"), 500],
    [b(""), 500],
    [v4, 65536],
    [v4, -1],
  ] as const) {
    const r = natdHash(h1, ci, cr, ip, port);
    assert.equal(r.ok ? undefined : r.error.code, CryptoErrorCode.BadAddress);
  }
});

test("property: KEYMAT of any length is a prefix of a longer KEYMAT, and never throws", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.integer({ min: 1, max: 300 }),
      (d, n) => {
        const base = { prf: sha1, skeyidD: d, protocol: 3, spi: b("01020304"), niB: d, nrB: d };
        const short = unwrap(keymat({ ...base, length: n }));
        const long = unwrap(keymat({ ...base, length: n + 37 }));
        assert.equal(short.length, n);
        assert.deepEqual(long.subarray(0, n), short);
      },
    ),
    { numRuns: 200 },
  );
});

test("what an SA keeps (keys, IVs, KEYMAT) owns its memory: no view into a shared pool slab or message", () => {
  const h = h1;
  const own = (b: Buffer) => b.buffer.byteLength === b.length;
  const e = Buffer.alloc(20, 7);
  assert.ok(own(unwrap(expandEncKey(sha1, e, 16))), "truncated encryption key");
  assert.ok(own(unwrap(expandEncKey(sha1, e, 32))), "expanded encryption key");
  assert.ok(own(phase1Iv(h, Buffer.alloc(128, 1), Buffer.alloc(128, 2), 16)));
  assert.ok(own(phase2Iv(h, Buffer.alloc(16, 3), 0x1234, 16)));
  const message = Buffer.alloc(96, 9);
  assert.ok(own(unwrap(nextIv(message.subarray(32), 16))));
  const km = keymat({
    prf: sha1,
    skeyidD: Buffer.alloc(20, 4),
    protocol: 3,
    spi: Buffer.from([1, 2, 3, 4]),
    niB: Buffer.alloc(32, 5),
    nrB: Buffer.alloc(32, 6),
    length: 36,
  });
  assert.ok(own(unwrap(km)));
});
