/**
 * ESP transforms against independent vectors, on every available backend:
 *  - HMAC truncations through NULL encryption (the ICV input is SPI||seq||payload, so an
 *    8-octet packet "Hi There" is exactly the RFC's data): RFC 2202 §2/§3 test case 1
 *    (HMAC-MD5, HMAC-SHA-1), RFC 4868 §2.7.2.1–3 AUTH256-1 / AUTH384-1 / AUTH512-1;
 *  - AES-CBC: RFC 3602 §4 case #1 and #2 (IV injected through the random source);
 *  - ESN: the high half enters the HMAC input after the payload (RFC 4303 §2.2.1).
 * GCM is covered by test/vectors/esp (draft-mcgrew-gcm-test-01).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { fromHex } from "../../base/bytes.js";
import { availableBackends, createEspTransform, type EspIntegrity } from "./index.js";

const hiThere = Buffer.from("Hi There");

const HMAC_VECTORS: {
  integrity: Exclude<EspIntegrity, "none">;
  keyLen: number;
  icv: string;
  source: string;
}[] = [
  {
    integrity: "hmac-md5-96",
    keyLen: 16,
    icv: "9294727a3638bb1c13f48ef8",
    source: "RFC 2202 §2 test_case 1",
  },
  {
    integrity: "hmac-sha1-96",
    keyLen: 20,
    icv: "b617318655057264e28bc0b6",
    source: "RFC 2202 §3 test_case 1",
  },
  {
    integrity: "hmac-sha256-128",
    keyLen: 32,
    icv: "198a607eb44bfbc69903a0f1cf2bbdc5",
    source: "RFC 4868 §2.7.2.1 AUTH256-1",
  },
  {
    integrity: "hmac-sha384-192",
    keyLen: 48,
    icv: "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973",
    source: "RFC 4868 §2.7.2.2 AUTH384-1",
  },
  {
    integrity: "hmac-sha512-256",
    keyLen: 64,
    icv: "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8",
    source: "RFC 4868 §2.7.2.3 AUTH512-1",
  },
];

const noRandom = (): void => {
  throw new Error("no IV expected");
};

for (const backend of availableBackends()) {
  describe(`ESP transforms (${backend})`, () => {
    for (const v of HMAC_VECTORS) {
      it(`${v.integrity}: ${v.source}`, () => {
        const t = createEspTransform(
          {
            suite: { encryption: "null", integrity: v.integrity },
            keys: { encryption: new Uint8Array(0), integrity: Buffer.alloc(v.keyLen, 0x0b) },
            esn: false,
            random: noRandom,
          },
          backend,
        );
        const pkt = Buffer.alloc(8 + t.icvLength);
        hiThere.copy(pkt, 0);
        assert.equal(t.seal(pkt, 0, 0, pkt.readUInt32BE(4)), 8 + t.icvLength);
        assert.equal(pkt.subarray(8).toString("hex"), v.icv);
        const out = Buffer.alloc(16);
        assert.equal(t.open(pkt, 0, out, 0), 0);
        pkt[pkt.length - 1]! ^= 1;
        assert.equal(t.open(pkt, 0, out, 0), -1, "a flipped ICV bit fails");
        t.dispose();
      });
    }

    for (const c of [
      {
        name: "RFC 3602 case #1",
        key: "06a9214036b8a15b512e03d534120006",
        iv: "3dafba429d9eb430b422da802c9fac41",
        pt: Buffer.from("Single block msg").toString("hex"),
        ct: "e353779c1079aeb82708942dbe77181a",
      },
      {
        name: "RFC 3602 case #2",
        key: "c286696d887c9aa0611bbb3e2025a45a",
        iv: "562e17996d093d28ddb3ba695a2e6f58",
        pt: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ct: "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
      },
    ]) {
      it(`aes128-cbc: ${c.name} (IV from the injected random source)`, () => {
        const iv = fromHex(c.iv);
        const integ = Buffer.alloc(20, 0x42);
        const t = createEspTransform(
          {
            suite: { encryption: "aes128-cbc", integrity: "hmac-sha1-96" },
            keys: { encryption: fromHex(c.key), integrity: integ },
            esn: false,
            random: (b) => {
              for (let i = 0; i < b.length; i++) b[i] = iv[i % 16]!;
            },
          },
          backend,
        );
        const pt = fromHex(c.pt);
        const pkt = Buffer.alloc(8 + 16 + pt.length + 12);
        pkt.writeUInt32BE(0x1234, 0);
        pkt.writeUInt32BE(1, 4);
        pt.copy(pkt, 24);
        t.seal(pkt, pt.length, 0, 1);
        assert.equal(pkt.subarray(8, 24).toString("hex"), c.iv);
        assert.equal(pkt.subarray(24, 24 + pt.length).toString("hex"), c.ct);
        // ICV = HMAC-SHA1(SPI || seq || IV || ciphertext) truncated (RFC 2404), checked with node:crypto directly.
        const icv = createHmac("sha1", integ)
          .update(pkt.subarray(0, 24 + pt.length))
          .digest()
          .subarray(0, 12);
        assert.deepEqual(pkt.subarray(24 + pt.length), icv);
        const out = Buffer.alloc(pt.length);
        assert.equal(t.open(pkt, 0, out, 0), pt.length);
        assert.deepEqual(out, pt);
        t.dispose();
      });
    }

    it("ESN: the high half of the sequence number is authenticated but not sent", () => {
      const key = Buffer.alloc(32, 7);
      const t = createEspTransform(
        {
          suite: { encryption: "null", integrity: "hmac-sha256-128" },
          keys: { encryption: new Uint8Array(0), integrity: key },
          esn: true,
          random: noRandom,
        },
        backend,
      );
      const pkt = Buffer.alloc(8 + 4 + 16);
      pkt.writeUInt32BE(0x1234, 0);
      pkt.writeUInt32BE(5, 4);
      pkt.set([1, 2, 2, 4], 8);
      t.seal(pkt, 4, 3, 5);
      const expect = createHmac("sha256", key)
        .update(Buffer.concat([pkt.subarray(0, 12), Buffer.from([0, 0, 0, 3])]))
        .digest()
        .subarray(0, 16);
      assert.deepEqual(pkt.subarray(12), expect);
      const out = Buffer.alloc(4);
      assert.equal(t.open(pkt, 3, out, 0), 4);
      assert.equal(t.open(pkt, 2, out, 0), -1, "wrong inferred high half fails the ICV");
      t.dispose();
    });

    for (const suite of [
      { encryption: "aes256-gcm16", integrity: "none", keyLen: 36, intLen: 0 },
      { encryption: "aes256-cbc", integrity: "hmac-sha256-128", keyLen: 32, intLen: 32 },
    ] as const) {
      it(`${suite.encryption}: keeps its own copy of the keys (the caller may wipe its buffers) and makes each direction's context on first use`, () => {
        const make = () => ({
          suite: { encryption: suite.encryption, integrity: suite.integrity },
          keys: {
            encryption: Buffer.alloc(suite.keyLen, 0x5a),
            integrity: Buffer.alloc(suite.intLen, 0x3c),
          },
          esn: false,
          random: (b: Uint8Array) => b.fill(7),
        });
        const spec = make();
        const sender = createEspTransform(spec, backend);
        spec.keys.encryption.fill(0);
        spec.keys.integrity.fill(0);
        const receiver = createEspTransform(make(), backend);
        const pt = Buffer.from("sixteen octets!!");
        const pkt = Buffer.alloc(8 + sender.ivLength + pt.length + sender.icvLength);
        pkt.writeUInt32BE(0x1234, 0);
        pkt.writeUInt32BE(9, 4);
        pt.copy(pkt, 8 + sender.ivLength);
        sender.seal(pkt, pt.length, 0, 9);
        const out = Buffer.alloc(pt.length);
        assert.equal(receiver.open(pkt, 0, out, 0), pt.length);
        assert.deepEqual(out, pt);
        sender.dispose();
        receiver.dispose();
      });
    }

    it("rejects ciphertext that is not a whole number of blocks", () => {
      const t = createEspTransform(
        {
          suite: { encryption: "3des-cbc", integrity: "hmac-md5-96" },
          keys: { encryption: Buffer.alloc(24, 1), integrity: Buffer.alloc(16, 2) },
          esn: false,
          random: (b) => b.fill(9),
        },
        backend,
      );
      const pkt = Buffer.alloc(8 + 8 + 12 + 12);
      const out = Buffer.alloc(64);
      assert.equal(t.open(pkt, 0, out, 0), -1);
      t.dispose();
    });
  });
}

describe("ESP transform factory", () => {
  it("refuses wrong key lengths and illegal combinations (programming errors)", () => {
    assert.throws(() =>
      createEspTransform({
        suite: { encryption: "aes128-gcm16", integrity: "none" },
        keys: { encryption: Buffer.alloc(16), integrity: Buffer.alloc(0) },
        esn: false,
        random: noRandom,
      }),
    );
    assert.throws(() =>
      createEspTransform({
        suite: { encryption: "aes128-cbc", integrity: "none" },
        keys: { encryption: Buffer.alloc(16), integrity: Buffer.alloc(0) },
        esn: false,
        random: noRandom,
      }),
    );
  });
});
