/**
 * IKEv1 SKEYID / SKEYID_d / SKEYID_a / SKEYID_e against NIST ACVP SP 800-135 IKEv1 KDF
 * vectors (test/vectors/crypto/ikev1-kdf-acvp.txt names the exact source and selection).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromHex, hex } from "../../../src/base/bytes.js";
import { unwrap } from "../../../src/base/result.js";
import {
  deriveKeys,
  deriveSkeyidPsk,
  deriveSkeyidSig,
  IkeHash,
  type Prf,
  prf,
} from "../../../src/crypto/index.js";
import { readVectors } from "./vectors.js";

const HASHES: Record<string, number> = {
  "SHA-1": IkeHash.SHA,
  "SHA2-256": IkeHash.SHA2_256,
  "SHA2-384": IkeHash.SHA2_384,
  "SHA2-512": IkeHash.SHA2_512,
};

const records = readVectors("ikev1-kdf-acvp.txt");

function field(f: Readonly<Record<string, string>>, k: string): Buffer {
  const v = f[k];
  if (v === undefined) throw new Error(`vector lacks ${k}`);
  return fromHex(v);
}

test("vector file has full-mode and from-skeyid vectors for SHA-1 and SHA2-256, dsa and psk", () => {
  const kinds = new Set(records.map((r) => `${r.group.hashAlg}/${r.group.auth}/${r.group.mode}`));
  for (const k of [
    "SHA2-256/dsa/full",
    "SHA2-256/psk/full",
    "SHA-1/dsa/from-skeyid",
    "SHA-1/psk/from-skeyid",
    "SHA2-256/dsa/from-skeyid",
  ]) {
    assert.ok(kinds.has(k), k);
  }
  assert.ok(records.length >= 11);
});

for (const r of records) {
  const { hashAlg = "", auth = "", mode = "" } = r.group;
  test(`ACVP IKEv1 tcId ${r.fields.tcId} (${hashAlg}, ${auth}, ${mode})`, () => {
    const hashId = HASHES[hashAlg];
    assert.ok(hashId !== undefined, hashAlg);
    const p: Prf = unwrap(prf(hashId));
    const f = r.fields;
    const expected = field(f, "sKeyId");
    let skeyid: Buffer;
    if (mode === "full") {
      skeyid =
        auth === "psk"
          ? deriveSkeyidPsk(p, field(f, "preSharedKey"), field(f, "nInit"), field(f, "nResp"))
          : deriveSkeyidSig(p, field(f, "nInit"), field(f, "nResp"), field(f, "gxy"));
      assert.equal(hex(skeyid), hex(expected), "SKEYID");
    } else {
      assert.equal(mode, "from-skeyid");
      skeyid = expected;
    }
    const keys = unwrap(
      deriveKeys({
        prf: p,
        skeyid,
        gxy: field(f, "gxy"),
        ckyI: field(f, "ckyInit"),
        ckyR: field(f, "ckyResp"),
        encKeyLength: 16,
      }),
    );
    assert.equal(hex(keys.skeyidD), hex(field(f, "sKeyIdD")), "SKEYID_d");
    assert.equal(hex(keys.skeyidA), hex(field(f, "sKeyIdA")), "SKEYID_a");
    assert.equal(hex(keys.skeyidE), hex(field(f, "sKeyIdE")), "SKEYID_e");
  });
}
