import assert from "node:assert/strict";
import { test } from "node:test";
import { own } from "./bytes.js";

test("own() copies into memory of its own, not into Buffer's shared pool slab", () => {
  const pooled = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(pooled.buffer.byteLength > pooled.length, "Buffer.from is pooled (premise)");
  const mine = own(pooled.subarray(2, 6));
  assert.deepEqual([...mine], [3, 4, 5, 6]);
  assert.equal(mine.buffer.byteLength, 4);
  pooled.fill(0);
  assert.deepEqual([...mine], [3, 4, 5, 6]);
});
