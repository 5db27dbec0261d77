import assert from "node:assert/strict";
import { test } from "node:test";
import { LogHub, MemorySink, secret } from "./log.js";

test("levels are per group and change at runtime", () => {
  const sink = new MemorySink();
  const hub = new LogHub(sink, "info", () => 0);
  const ike = hub.logger("ike", { sa: "abc" });
  ike.debug("hidden");
  ike.info("shown");
  hub.setLevel("ike", "off");
  ike.error("hidden too");
  hub.setLevel("ike", "debug");
  ike.debug("now shown");
  const recs = sink.records();
  assert.deepEqual(
    recs.map((r) => r.msg),
    ["shown", "now shown"],
  );
  assert.equal(recs[0]?.sa, "abc");
  assert.equal(recs[0]?.group, "ike");
});

test("secrets are redacted unless the group is at the private level", () => {
  const sink = new MemorySink();
  const hub = new LogHub(sink, "debug", () => 0);
  const log = hub.logger("ike");
  log.debug("keys", { skeyid: secret(Buffer.from("deadbeef", "hex")) });
  hub.setLevel("ike", "private");
  log.debug("keys", { skeyid: secret(Buffer.from("deadbeef", "hex")) });
  assert.equal(sink.records()[0]?.skeyid, "<redacted>");
  assert.ok(!sink.lines[0]?.includes("deadbeef"));
  assert.equal(sink.records()[1]?.skeyid, "deadbeef");
});
