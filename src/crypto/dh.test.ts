/**
 * ECP groups on both implementations (libcrypto through koffi, node:crypto ECDH): the same
 * RFC 5903 §8 known answers, curve constants from FIPS 186-4 Appendix D.1.2 (= SEC 2 v2
 * §2.4.2, §2.5.1, §2.6.1), hostile public values (RFC 6989 §2.3) and private scalars, a fuzz
 * run of computeShared, and a property: both implementations agree on random scalars.
 * test/vectors/crypto/dh.test.ts checks what dhGroup() hands out; this file pins each
 * implementation separately so the fallback stays correct too.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { readVectors } from "../../test/vectors/crypto/vectors.js";
import { fromHex, hex } from "../base/bytes.js";
import { unwrap } from "../base/result.js";
import { type DhGroup, type EcpImpl, ecpGroupWith } from "./dh.js";
import { CryptoErrorCode } from "./errors.js";

/** FIPS 186-4 Appendix D.1.2.3 (P-256), D.1.2.4 (P-384), D.1.2.5 (P-521): p, n, G. */
const CURVES: Record<number, { p: bigint; n: string; gx: string; gy: string }> = {
  19: {
    // p = 2^256 - 2^224 + 2^192 + 2^96 - 1
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    n: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    gx: "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    gy: "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
  },
  20: {
    // p = 2^384 - 2^128 - 2^96 + 2^32 - 1
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    n: "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    gx: "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
    gy: "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
  },
  21: {
    // p = 2^521 - 1
    p: 2n ** 521n - 1n,
    n: "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    gx: "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
    gy: "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
  },
};

const IMPLS: readonly EcpImpl[] = ["native", "node"];

function groups(): { impl: EcpImpl; g: DhGroup }[] {
  const out: { impl: EcpImpl; g: DhGroup }[] = [];
  for (const impl of IMPLS)
    for (const id of [19, 20, 21]) {
      const g = ecpGroupWith(id, impl);
      if (g) out.push({ impl, g });
    }
  return out;
}

function fixed(v: bigint, len: number): Buffer {
  return Buffer.from(v.toString(16).padStart(2 * len, "0"), "hex");
}

test("the native (libcrypto) implementation loads on this machine", () => {
  // dhGroup() falls back to node:crypto silently; the speed of the IKE responder depends on this.
  for (const id of [19, 20, 21]) assert.ok(ecpGroupWith(id, "native"), `native ECP group ${id}`);
});

test("both implementations: RFC 5903 §8 public values and g^ir, both directions", () => {
  const recs = readVectors("rfc5903-ecdh.txt");
  for (const { impl, g } of groups()) {
    const f = recs.find((r) => Number(r.group.group) === g.id)?.fields;
    assert.ok(f, `vector for ${g.id}`);
    const field = (k: string): string => f[k] ?? assert.fail(`vector lacks ${k}`);
    const i = unwrap(g.fromPrivateKey(fromHex(field("i"))));
    const r = unwrap(g.fromPrivateKey(fromHex(field("r"))));
    const what = `${impl} ${g.name}`;
    assert.equal(hex(i.publicValue), field("gix") + field("giy"), `${what} g^i`);
    assert.equal(hex(r.publicValue), field("grx") + field("gry"), `${what} g^r`);
    assert.equal(hex(unwrap(i.computeShared(r.publicValue))), field("girx"), `${what} g^ir`);
    assert.equal(hex(unwrap(r.computeShared(i.publicValue))), field("girx"), `${what} g^ri`);
    assert.ok(g.validatePublic(i.publicValue).ok, what);
  }
});

test("both implementations: 1*G = G and (n-1)*G = -G (FIPS 186-4 D.1.2 constants)", () => {
  for (const { impl, g } of groups()) {
    const c = CURVES[g.id] ?? assert.fail("curve constants");
    const len = g.sharedLength;
    const one = unwrap(g.fromPrivateKey(fixed(1n, len)));
    assert.equal(hex(one.publicValue), c.gx + c.gy, `${impl} ${g.name} G`);
    const nm1 = unwrap(g.fromPrivateKey(fixed(BigInt(`0x${c.n}`) - 1n, len)));
    const negGy = fixed(c.p - BigInt(`0x${c.gy}`), len);
    assert.equal(hex(nm1.publicValue), c.gx + hex(negGy), `${impl} ${g.name} -G`);
    // x(d * G) for d = 1 with G as peer: the shared secret is Gx.
    assert.equal(hex(unwrap(one.computeShared(fromHex(c.gx + c.gy)))), c.gx);
  }
});

test("both implementations: hostile public values are typed errors, never throws", () => {
  for (const { impl, g } of groups()) {
    const c = CURVES[g.id] ?? assert.fail("curve constants");
    const len = g.sharedLength;
    const kp = g.generate();
    const what = `${impl} ${g.name}`;
    const code = (v: Uint8Array): string | undefined => {
      const r = kp.computeShared(v);
      const v2 = g.validatePublic(v);
      assert.equal(v2.ok, r.ok, `${what}: validatePublic agrees with computeShared`);
      return r.ok ? undefined : r.error.code;
    };
    const gx = fromHex(c.gx);
    const gy = fromHex(c.gy);
    const off = Buffer.from(kp.publicValue);
    off[off.length - 1] = (off[off.length - 1] ?? 0) ^ 1;
    assert.equal(code(off), CryptoErrorCode.PointNotOnCurve, `${what} off-curve`);
    assert.equal(code(Buffer.alloc(2 * len)), CryptoErrorCode.PointNotOnCurve, `${what} (0,0)`);
    // (x + p, y) would be G again modulo p: coordinates >= p must be refused. For P-256/384
    // x + p overflows the field size, so use x = p (== 0 mod p) and y = p + Gy's low bits.
    const pBytes = fixed(c.p, len);
    assert.equal(code(Buffer.concat([pBytes, gy])), CryptoErrorCode.PointNotOnCurve, `${what} x=p`);
    assert.equal(code(Buffer.concat([gx, pBytes])), CryptoErrorCode.PointNotOnCurve, `${what} y=p`);
    const ff = Buffer.alloc(len, 0xff);
    assert.equal(code(Buffer.concat([ff, ff])), CryptoErrorCode.PointNotOnCurve, `${what} all 1s`);
    // -G is on the curve and fine; G with y + 1 is not.
    assert.equal(code(Buffer.concat([gx, fixed(c.p - BigInt(`0x${c.gy}`), len)])), undefined);
    assert.equal(
      code(Buffer.concat([gx, fixed(BigInt(`0x${c.gy}`) + 1n, len)])),
      CryptoErrorCode.PointNotOnCurve,
    );
    const prefixed = Buffer.concat([Buffer.from([4]), kp.publicValue]);
    assert.equal(code(prefixed), CryptoErrorCode.BadPublicLength, `${what} 0x04 prefix`);
    assert.equal(code(kp.publicValue.subarray(1)), CryptoErrorCode.BadPublicLength);
    assert.equal(code(Buffer.alloc(0)), CryptoErrorCode.BadPublicLength);
    assert.equal(code(Buffer.from([0])), CryptoErrorCode.BadPublicLength, `${what} infinity`);
    // The key pair still works after all the refusals (no stale state, no error queue left).
    const other = g.generate();
    assert.deepEqual(
      unwrap(kp.computeShared(other.publicValue)),
      unwrap(other.computeShared(kp.publicValue)),
    );
  }
});

test("both implementations: private scalars 0 and >= n are refused, n-1 accepted", () => {
  for (const { impl, g } of groups()) {
    const c = CURVES[g.id] ?? assert.fail("curve constants");
    const len = g.sharedLength;
    const n = BigInt(`0x${c.n}`);
    const what = `${impl} ${g.name}`;
    assert.equal(g.fromPrivateKey(Buffer.alloc(len)).ok, false, `${what} 0`);
    assert.ok(g.fromPrivateKey(fixed(n - 1n, len)).ok, `${what} n-1`);
    assert.equal(g.fromPrivateKey(fixed(n, len)).ok, false, `${what} n`);
    assert.equal(g.fromPrivateKey(fixed(n + 1n, len)).ok, false, `${what} n+1`);
  }
});

test("native and node:crypto agree on random scalars (property)", () => {
  for (const id of [19, 20, 21]) {
    const a = ecpGroupWith(id, "native");
    const b = ecpGroupWith(id, "node");
    if (!a || !b) continue;
    const c = CURVES[id] ?? assert.fail("curve constants");
    const n = BigInt(`0x${c.n}`);
    const len = a.sharedLength;
    const scalar = fc.bigInt({ min: 1n, max: n - 1n }).map((v) => fixed(v, len));
    fc.assert(
      fc.property(scalar, scalar, (x, y) => {
        const ax = unwrap(a.fromPrivateKey(x));
        const by = unwrap(b.fromPrivateKey(y));
        assert.deepEqual(ax.publicValue, unwrap(b.fromPrivateKey(x)).publicValue);
        assert.deepEqual(
          unwrap(ax.computeShared(by.publicValue)),
          unwrap(by.computeShared(ax.publicValue)),
        );
      }),
      { numRuns: id === 19 ? 40 : 10 },
    );
    // Fresh native key pairs interoperate with node:crypto ones.
    const k1 = a.generate();
    const k2 = b.generate();
    assert.equal(k1.publicValue.length, 2 * len);
    assert.deepEqual(
      unwrap(k1.computeShared(k2.publicValue)),
      unwrap(k2.computeShared(k1.publicValue)),
    );
  }
});

test("fuzz: native computeShared on mutated public values returns Results", () => {
  for (const id of [19, 20, 21]) {
    const g = ecpGroupWith(id, "native");
    if (!g) continue;
    const kp = g.generate();
    const seeds = [g.generate().publicValue, g.generate().publicValue];
    const rep = fuzzParser(`ECP-${id} computeShared`, (b) => kp.computeShared(b), seeds, {
      iterations: 20_000,
      maxLength: 2 * g.publicLength,
    });
    assert.ok(rep.errCount > 0);
  }
});
