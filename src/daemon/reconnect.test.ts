/**
 * `oakley connect --persist`: the back-off between reconnect attempts doubles from 1 s to the
 * cap, and the jitter keeps it within ±20 % (so clients cut off together spread out).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { reconnectDelayMs } from "./client.js";

test("reconnect back-off: 1, 2, 4 ... s up to 60 s, ±20 % jitter", () => {
  const mid = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((a) => reconnectDelayMs(a, 0.5));
  assert.deepEqual(mid, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  for (const attempt of [1, 3, 10]) {
    const base = reconnectDelayMs(attempt, 0.5);
    assert.equal(reconnectDelayMs(attempt, 0), Math.round(base * 0.8));
    assert.ok(reconnectDelayMs(attempt, 0.999999) <= Math.round(base * 1.2));
  }
});
