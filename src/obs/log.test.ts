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

test("a child logger carries its parent's fields and follows the group's level", () => {
  const sink = new MemorySink();
  const hub = new LogHub(sink, "warn", () => 0);
  const sa = hub.logger("ike", { sa: "abc" }).child({ peer: "192.0.2.1:500" });
  const suite = sa.child({ suite: "aes128", peer: "192.0.2.1:4500" });
  suite.info("hidden");
  hub.setLevel("ike", "info");
  suite.info("shown", { mid: 7 });
  sa.warn("parent");
  assert.deepEqual(
    sink.records().map(({ ts: _ts, ...r }) => r),
    [
      {
        level: "info",
        group: "ike",
        sa: "abc",
        peer: "192.0.2.1:4500",
        suite: "aes128",
        mid: 7,
        msg: "shown",
      },
      { level: "warn", group: "ike", sa: "abc", peer: "192.0.2.1:500", msg: "parent" },
    ],
  );
});
