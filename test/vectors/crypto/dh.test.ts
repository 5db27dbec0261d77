/**
 * DH groups: RFC 5903 §8 ECDH known answers (groups 19/20/21), MODP primes rebuilt from the
 * RFC 2409 §6 / RFC 3526 defining formula (independent of OpenSSL), MODP round trips, and
 * rejection of hostile public values (RFC 6989 checks).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromHex, hex } from "../../../src/base/bytes.js";
import { unwrap } from "../../../src/base/result.js";
import { CryptoErrorCode, dhGroup, SUPPORTED_GROUPS } from "../../../src/crypto/index.js";
import { readVectors } from "./vectors.js";

function get(f: Readonly<Record<string, string>>, k: string): string {
  const v = f[k];
  if (v === undefined) throw new Error(`vector lacks ${k}`);
  return v;
}

test("ECP groups 19/20/21: RFC 5903 §8 public values and shared secret, both directions", () => {
  const recs = readVectors("rfc5903-ecdh.txt");
  assert.equal(recs.length, 3);
  for (const { group, fields: f } of recs) {
    const g = unwrap(dhGroup(Number(group.group)));
    const i = unwrap(g.fromPrivateKey(fromHex(get(f, "i"))));
    const r = unwrap(g.fromPrivateKey(fromHex(get(f, "r"))));
    assert.equal(hex(i.publicValue), get(f, "gix") + get(f, "giy"), `${g.name} g^i`);
    assert.equal(hex(r.publicValue), get(f, "grx") + get(f, "gry"), `${g.name} g^r`);
    assert.equal(hex(unwrap(i.computeShared(r.publicValue))), get(f, "girx"), `${g.name} g^ir`);
    assert.equal(hex(unwrap(r.computeShared(i.publicValue))), get(f, "girx"), `${g.name} g^ri`);
    assert.equal(g.publicLength, i.publicValue.length);
    assert.equal(g.sharedLength, get(f, "girx").length / 2);
  }
});

/** floor(pi * 2^bits), by Machin's formula pi = 16 atan(1/5) - 4 atan(1/239), with guard bits. */
function piScaled(bits: number): bigint {
  const guard = 64n;
  const one = 1n << (BigInt(bits) + guard);
  const atanInv = (x: bigint): bigint => {
    let sum = 0n;
    let term = one / x;
    const x2 = x * x;
    for (let k = 1n; term !== 0n; k += 2n) {
      sum += ((k - 1n) / 2n) % 2n === 0n ? term / k : -(term / k);
      term /= x2;
    }
    return sum;
  };
  return (16n * atanInv(5n) - 4n * atanInv(239n)) >> guard;
}

test("MODP groups 1, 2, 5, 14, 15, 16: primes equal the RFC 2409/3526 formula and RFC 3526 §4 text", () => {
  const recs = readVectors("modp-primes.txt");
  const pi = piScaled(4096);
  const rfc = recs.filter((r) => r.group.form === "rfc");
  assert.equal(rfc.length, 6);
  for (const { fields: f } of rfc) {
    const n = BigInt(get(f, "n"));
    const k = BigInt(get(f, "k"));
    const floorPi = pi >> (4096n - (n - 130n)); // [2^(n-130) pi]
    const p = (1n << n) - (1n << (n - 64n)) - 1n + (1n << 64n) * (floorPi + k);
    const g = unwrap(dhGroup(Number(get(f, "group"))));
    // Our group's prime, recovered from its behaviour: p - 1 is the largest public value
    // rejected as "p-1", and the KE length is the prime's byte length.
    assert.equal(g.publicLength, Number(n) / 8, `${g.name} length`);
    const pMinus1 = Buffer.from((p - 1n).toString(16).padStart(Number(n) / 4, "0"), "hex");
    const pMinus2 = Buffer.from((p - 2n).toString(16).padStart(Number(n) / 4, "0"), "hex");
    const bad = g.validatePublic(pMinus1);
    assert.equal(bad.ok, false, `${g.name} rejects p-1`);
    assert.ok(g.validatePublic(pMinus2).ok, `${g.name} accepts p-2: our p equals the RFC p`);
    // g^1 = 2, and 2^x computed by the group matches BigInt modpow for a small exponent
    const kp = unwrap(g.fromPrivateKey(Buffer.from([0x01, 0x01])));
    let want = 1n;
    for (let e = 0; e < 0x101; e++) want = (want * 2n) % p;
    assert.equal(BigInt(`0x${hex(kp.publicValue)}`), want, `${g.name} 2^257 mod p`);
    if (n === 3072n) {
      const text = recs.find((r) => r.group.form === "hex");
      assert.equal(p.toString(16).toUpperCase(), get(text?.fields ?? {}, "hex3072"));
    }
  }
});

test("MODP and ECP round trip: both sides get the same, fixed-length secret", () => {
  for (const id of SUPPORTED_GROUPS) {
    if (id === 16 || id === 15) continue; // slow key generation; covered by the formula test
    const g = unwrap(dhGroup(id));
    const a = g.generate();
    const b = g.generate();
    assert.equal(a.publicValue.length, g.publicLength);
    const s1 = unwrap(a.computeShared(b.publicValue));
    const s2 = unwrap(b.computeShared(a.publicValue));
    assert.deepEqual(s1, s2, g.name);
    assert.equal(s1.length, g.sharedLength);
  }
});

test("hostile MODP public values: 0, 1, p-1, p, >= p, wrong length are typed errors", () => {
  const g = unwrap(dhGroup(14));
  const kp = g.generate();
  const len = g.publicLength;
  const pHex = (BigInt(`0x${"ff".repeat(len)}`) ).toString(16);
  const code = (v: Uint8Array): string | undefined => {
    const r = kp.computeShared(v);
    return r.ok ? undefined : r.error.code;
  };
  assert.equal(code(Buffer.alloc(len)), CryptoErrorCode.BadPublicValue);
  const one = Buffer.alloc(len);
  one[len - 1] = 1;
  assert.equal(code(one), CryptoErrorCode.BadPublicValue);
  assert.equal(code(Buffer.from(pHex, "hex")), CryptoErrorCode.BadPublicValue); // > p
  assert.equal(code(Buffer.alloc(len - 1, 5)), CryptoErrorCode.BadPublicLength);
  assert.equal(code(Buffer.alloc(len + 1, 5)), CryptoErrorCode.BadPublicLength);
  assert.equal(code(Buffer.alloc(0)), CryptoErrorCode.BadPublicLength);
  const two = Buffer.alloc(len);
  two[len - 1] = 2;
  assert.equal(code(two), undefined);
});

test("hostile ECP public values: off-curve, wrong length, 0x04-prefixed are typed errors", () => {
  for (const id of [19, 20, 21]) {
    const g = unwrap(dhGroup(id));
    const kp = g.generate();
    const code = (v: Uint8Array): string | undefined => {
      const r = kp.computeShared(v);
      return r.ok ? undefined : r.error.code;
    };
    const off = Buffer.from(kp.publicValue);
    off[off.length - 1] = (off[off.length - 1] ?? 0) ^ 1;
    assert.equal(code(off), CryptoErrorCode.PointNotOnCurve, g.name);
    assert.equal(code(Buffer.alloc(g.publicLength)), CryptoErrorCode.PointNotOnCurve);
    assert.equal(code(Buffer.concat([Buffer.from([4]), kp.publicValue])), CryptoErrorCode.BadPublicLength);
    assert.equal(code(kp.publicValue.subarray(1)), CryptoErrorCode.BadPublicLength);
    assert.equal(g.fromPrivateKey(Buffer.alloc(g.sharedLength)).ok, false, "private 0");
  }
});

test("unsupported groups are a typed error", () => {
  for (const id of [0, 3, 4, 17, 22, 31, 65535]) {
    const r = dhGroup(id);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, CryptoErrorCode.Unsupported);
  }
});
