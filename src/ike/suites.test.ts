import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { unwrap } from "../base/result.js";
import { selectPhase1 } from "./proposals.js";
import {
  type NattMethod,
  type Phase1Suite,
  type Phase2Suite,
  phase1SuiteFromAttributes,
  phase1SuiteToAttributes,
  phase2SuiteFromTransform,
  phase2SuiteToTransform,
} from "./suites.js";

// Attribute numbers below are read from RFC 2409 Appendix A and RFC 2407 §4.5 directly, not
// from suites.ts, so that a wrong table there fails these tests.
test("phase 1: Windows' AES-256/SHA1/MODP2048 transform decodes (RFC 2409 App. A numbers)", () => {
  const s = unwrap(
    phase1SuiteFromAttributes([
      { type: 1, value: 7 }, // Encryption = AES-CBC
      { type: 14, value: 256 }, // Key Length
      { type: 2, value: 2 }, // Hash = SHA
      { type: 4, value: 14 }, // Group = MODP 2048
      { type: 3, value: 1 }, // Auth = pre-shared key
      { type: 11, value: 1 }, // Life Type = seconds
      { type: 12, value: Buffer.from([0x00, 0x00, 0x70, 0x80]) }, // 28800 as a 4-byte TLV
    ]),
  );
  assert.deepEqual(s, {
    encryption: "aes-cbc",
    keyBits: 256,
    hash: "sha1",
    auth: "psk",
    group: 14,
    lifeSeconds: 28800,
    lifeKilobytes: 0,
  });
});

test("phase 2: ESP AES-CBC-128 HMAC-SHA1 UDP-encapsulated transport, RFC and draft numbers", () => {
  const rfc = unwrap(
    phase2SuiteFromTransform(12, [
      { type: 4, value: 4 }, // Encapsulation Mode = UDP-Encapsulated-Transport (RFC 3947)
      { type: 5, value: 2 }, // Auth = HMAC-SHA
      { type: 6, value: 128 },
      { type: 1, value: 1 },
      { type: 2, value: 3600 },
    ]),
  );
  assert.equal(rfc.natt, "rfc3947");
  assert.equal(rfc.suite.mode, "transport");
  assert.equal(rfc.suite.integrity, "hmac-sha1-96");
  assert.equal(rfc.suite.lifeSeconds, 3600);
  const draft = unwrap(
    phase2SuiteFromTransform(3, [
      { type: 4, value: 61443 },
      { type: 5, value: 1 },
    ]),
  );
  assert.equal(draft.natt, "draft");
  assert.equal(draft.suite.mode, "tunnel");
  assert.equal(draft.suite.cipher, "3des-cbc");
  assert.equal(draft.suite.integrity, "hmac-md5-96");
});

test("phase 2: bad combinations are typed errors", () => {
  assert.equal(phase2SuiteFromTransform(20, [{ type: 5, value: 2 }]).ok, false); // GCM + HMAC
  assert.equal(phase2SuiteFromTransform(12, [{ type: 4, value: 2 }]).ok, false); // CBC without auth
  assert.equal(phase2SuiteFromTransform(99, []).ok, false);
  assert.equal(
    phase2SuiteFromTransform(12, [
      { type: 5, value: 2 },
      { type: 6, value: 100 },
    ]).ok,
    false,
  );
  assert.equal(
    phase2SuiteFromTransform(12, [
      { type: 5, value: 2 },
      { type: 4, value: 77 },
    ]).ok,
    false,
  );
});

const p1 = fc.record<Phase1Suite>({
  encryption: fc.constantFrom("aes-cbc", "3des-cbc"),
  keyBits: fc.constantFrom(128, 192, 256),
  hash: fc.constantFrom("md5", "sha1", "sha2-256", "sha2-384", "sha2-512"),
  auth: fc.constantFrom("psk", "rsa-sig"),
  group: fc.constantFrom(1, 2, 5, 14, 15, 16, 19, 20, 21),
  lifeSeconds: fc.integer({ min: 1, max: 0xffffffff }),
  lifeKilobytes: fc.integer({ min: 0, max: 0xffffffff }),
});

test("phase 1 suites round-trip through attributes", () => {
  fc.assert(
    fc.property(p1, (s) => {
      const norm = { ...s, keyBits: s.encryption === "3des-cbc" ? 192 : s.keyBits };
      assert.deepEqual(unwrap(phase1SuiteFromAttributes(phase1SuiteToAttributes(norm))), norm);
    }),
  );
});

test("phase 2 suites round-trip through transforms", () => {
  const p2 = fc
    .record({
      cipher: fc.constantFrom(
        "3des-cbc",
        "aes-cbc",
        "aes-gcm-8",
        "aes-gcm-12",
        "aes-gcm-16",
        "null",
      ),
      keyBits: fc.constantFrom(128, 192, 256),
      integrity: fc.constantFrom(
        "hmac-md5-96",
        "hmac-sha1-96",
        "hmac-sha2-256-128",
        "hmac-sha2-384-192",
        "hmac-sha2-512-256",
      ),
      mode: fc.constantFrom("transport", "tunnel"),
      pfsGroup: fc.constantFrom(0, 2, 14, 19),
      lifeSeconds: fc.integer({ min: 1, max: 0xffffffff }),
      lifeKilobytes: fc.integer({ min: 0, max: 0xffffffff }),
    })
    .map((s): Phase2Suite => {
      const aead = s.cipher.startsWith("aes-gcm");
      return {
        ...s,
        integrity: aead ? "none" : s.integrity,
        keyBits: s.cipher === "3des-cbc" ? 192 : s.cipher === "null" ? 0 : s.keyBits,
      } as Phase2Suite;
    });
  fc.assert(
    fc.property(p2, fc.constantFrom<NattMethod>("none", "rfc3947", "draft"), (s, natt) => {
      const t = phase2SuiteToTransform(s, natt);
      const back = unwrap(phase2SuiteFromTransform(t.transformId, t.attributes));
      assert.deepEqual(back, { suite: s, natt });
    }),
  );
});

test("selectPhase1 honours peer order and the NegotiateDH2048 switch", () => {
  const win = [
    {
      encryption: "aes-cbc",
      keyBits: 256,
      hash: "sha1",
      auth: "psk",
      group: 20,
      lifeSeconds: 28800,
      lifeKilobytes: 0,
    },
    {
      encryption: "aes-cbc",
      keyBits: 256,
      hash: "sha1",
      auth: "psk",
      group: 14,
      lifeSeconds: 28800,
      lifeKilobytes: 0,
    },
    {
      encryption: "3des-cbc",
      keyBits: 192,
      hash: "sha1",
      auth: "psk",
      group: 2,
      lifeSeconds: 28800,
      lifeKilobytes: 0,
    },
  ] as const;
  const ours = [
    { encryption: "aes-cbc", keyBits: 256, hash: "sha1", group: 14 },
    { encryption: "3des-cbc", keyBits: 192, hash: "sha1", group: 2 },
  ] as const;
  assert.equal(selectPhase1(win, ours, { negotiateDh2048: true }), 1);
  assert.equal(selectPhase1(win, ours, { negotiateDh2048: false }), 2);
  assert.equal(selectPhase1(win.slice(0, 1), ours, { negotiateDh2048: true }), -1);
});
