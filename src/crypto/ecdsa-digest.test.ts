/**
 * ECDSA over a given digest, r | s encoding (ecdsa-digest.ts), as IKEv1 uses it (RFC 4754 §7,
 * strongSwan's SIGN_ECDSA_WITH_NULL). Oracles independent of this code: the RFC 6979 §A.2.5
 * P-256 test vector (fixed r, s), node:crypto's own ECDSA (EVP_DigestVerify over the message,
 * ieee-p1363 encoding), and `openssl pkeyutl -sign` over a raw digest.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ecCurveBytes, ecdsaSignDigest, ecdsaVerifyDigest } from "./ecdsa-digest.js";

// RFC 6979 §A.2.5 (ECDSA, 256 bits, prime field), key pair and the SHA-256 "sample" signature.
const RFC6979_P256 = {
  ux: "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6",
  uy: "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299",
  r: "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
  s: "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
};

function p256Public(x: string, y: string) {
  return createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: Buffer.from(x, "hex").toString("base64url"),
      y: Buffer.from(y, "hex").toString("base64url"),
    },
    format: "jwk",
  });
}

describe("ECDSA over a digest (RFC 4754 r | s)", () => {
  it('verifies the RFC 6979 A.2.5 P-256 signature of SHA-256("sample")', () => {
    const pub = p256Public(RFC6979_P256.ux, RFC6979_P256.uy);
    const digest = createHash("sha256").update("sample").digest();
    const rs = Buffer.from(RFC6979_P256.r + RFC6979_P256.s, "hex");
    // The vector is right for node:crypto's own ECDSA too (independent check of the oracle).
    assert.ok(verify("sha256", Buffer.from("sample"), { key: pub, dsaEncoding: "ieee-p1363" }, rs));
    assert.ok(ecdsaVerifyDigest(pub, digest, rs));
    const flipped = Buffer.from(rs);
    flipped[40]! ^= 1;
    assert.equal(ecdsaVerifyDigest(pub, digest, flipped), false);
    assert.equal(ecdsaVerifyDigest(pub, createHash("sha256").update("other").digest(), rs), false);
  });

  for (const [curve, hash, n] of [
    ["P-256", "sha256", 32],
    ["P-384", "sha384", 48],
    ["P-521", "sha512", 66],
  ] as const) {
    it(`${curve}: our r | s over H(m) verifies with node:crypto's ECDSA over m`, () => {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
      assert.equal(ecCurveBytes(privateKey), n);
      const m = Buffer.from(`IKE HASH_I stand-in for ${curve}`);
      const sig = ecdsaSignDigest(privateKey, createHash(hash).update(m).digest());
      assert.ok(sig);
      assert.equal(sig.length, 2 * n);
      assert.ok(verify(hash, m, { key: publicKey, dsaEncoding: "ieee-p1363" }, sig));
      // And node:crypto's signature verifies with ours.
      const theirs = sign(hash, m, { key: privateKey, dsaEncoding: "ieee-p1363" });
      assert.ok(ecdsaVerifyDigest(publicKey, createHash(hash).update(m).digest(), theirs));
    });
  }

  it("a raw-digest signature made by `openssl pkeyutl -sign` verifies", () => {
    const d = mkdtempSync(join(tmpdir(), "oak-ecdsa-"));
    try {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
      writeFileSync(join(d, "k.pem"), privateKey.export({ type: "pkcs8", format: "pem" }));
      const digest = createHash("sha384").update("x").digest();
      writeFileSync(join(d, "d.bin"), digest);
      const der = execFileSync("openssl", ["pkeyutl", "-sign", "-inkey", "k.pem", "-in", "d.bin"], {
        cwd: d,
      });
      // DER ECDSA-Sig-Value to r | s (48-octet halves) for the IKE encoding.
      const rs = derSigToRs(der, 48);
      assert.ok(ecdsaVerifyDigest(publicKey, digest, rs));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("refuses wrong lengths and non-EC keys without throwing", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    assert.equal(ecdsaVerifyDigest(publicKey, Buffer.alloc(32), Buffer.alloc(63)), false);
    assert.equal(ecdsaVerifyDigest(publicKey, Buffer.alloc(32), Buffer.alloc(64)), false);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    assert.equal(ecdsaSignDigest(rsa.privateKey, Buffer.alloc(32)), undefined);
  });
});

/** Test-side DER -> r | s, written independently of the product's converter. */
function derSigToRs(der: Buffer, n: number): Buffer {
  assert.equal(der[0], 0x30);
  let p = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const out = Buffer.alloc(2 * n);
  for (let i = 0; i < 2; i++) {
    assert.equal(der[p], 0x02);
    const len = der[p + 1]!;
    const v = der.subarray(p + 2, p + 2 + len);
    const t = v[0] === 0 ? v.subarray(1) : v;
    t.copy(out, (i + 1) * n - t.length);
    p += 2 + len;
  }
  return out;
}
