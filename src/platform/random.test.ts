import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { SeededRandom, randomBytes, systemRandom } from "./random.js";

test("systemRandom returns fresh buffers of the asked length", () => {
  const a = systemRandom.bytes(32);
  const b = randomBytes(32);
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
  assert.equal(systemRandom.bytes(0).length, 0);
});

test("SeededRandom is the SHA-256(seed || counter) stream, independent of read sizes", () => {
  // Oracle: the definition computed directly with node:crypto.
  const block = (i: number): Buffer => {
    const c = Buffer.alloc(8);
    c.writeBigUInt64BE(BigInt(i));
    return createHash("sha256").update("seed").update(c).digest();
  };
  const expected = Buffer.concat([block(0), block(1), block(2)]).subarray(0, 80);
  const r1 = new SeededRandom("seed");
  const r2 = new SeededRandom("seed");
  assert.deepEqual(r1.bytes(80), expected);
  assert.deepEqual(Buffer.concat([r2.bytes(7), r2.bytes(40), r2.bytes(33)]), expected);
});
