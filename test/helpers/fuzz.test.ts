import assert from "node:assert/strict";
import { test } from "node:test";
import { fuzzParser } from "./fuzz.js";

// The harness itself must be able to fail: a parser that throws on some input is caught.
test("fuzz harness catches a throwing parser", () => {
  assert.throws(
    () =>
      fuzzParser(
        "throws-on-short",
        (b) => {
          if (b.length < 3) throw new RangeError("short");
          return { ok: true };
        },
        [Buffer.from("hello")],
        { iterations: 2000 },
      ),
    /threw on input/,
  );
});

test("fuzz harness passes a total parser", () => {
  const r = fuzzParser("total", (b) => ({ ok: b.length > 4 }), [Buffer.from("hello world")], {
    iterations: 5000,
  });
  assert.equal(r.okCount + r.errCount, 5000);
  assert.ok(r.okCount > 0 && r.errCount > 0);
});
