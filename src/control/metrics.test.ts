/**
 * Prometheus rendering. The expected text shapes follow the Prometheus "Exposition formats"
 * documentation (text format 0.0.4: `# HELP`, `# TYPE`, `name{label="value"} value`, label
 * values escape backslash, double quote and newline). The interop test
 * test/interop/control-metrics.test.ts additionally checks a live scrape with promtool.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeControlTarget } from "./fake-target.js";
import {
  escapeLabelValue,
  parseListen,
  renderMetrics,
  splitCounterKey,
  startMetricsServer,
} from "./metrics.js";

test("splitCounterKey reads obs/Counters keys", () => {
  assert.deepEqual(splitCounterKey("ike_rx"), { name: "ike_rx", labels: [] });
  assert.deepEqual(splitCounterKey('ike_fail{reason="no-proposal-chosen"}'), {
    name: "ike_fail",
    labels: [["reason", "no-proposal-chosen"]],
  });
  assert.deepEqual(splitCounterKey('x{a="1",b="q\\"r"}'), {
    name: "x",
    labels: [
      ["a", "1"],
      ["b", 'q\\"r'],
    ],
  });
  // An unescaped quote inside a value (incLabeled does not escape) still yields one label.
  assert.deepEqual(splitCounterKey('x{reason="say "hi""}'), {
    name: "x",
    labels: [["reason", 'say "hi"']],
  });
});

test("escapeLabelValue escapes backslash, quote and newline (exposition format 0.0.4)", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

test("renderMetrics: families, types, SA gauges and counters with labels", () => {
  const t = new FakeControlTarget();
  t.counters.incLabeled("esp_rx_drop", "reason", 'we"ird\nreason');
  const text = renderMetrics(t.status(), t.listSas(), t.metrics());
  const lines = text.trimEnd().split("\n");
  assert.ok(text.endsWith("\n"));
  assert.ok(lines.includes("# TYPE oakley_sas gauge"));
  assert.ok(lines.includes('oakley_sas{phase="main-mode",state="established"} 3'));
  assert.ok(lines.includes('oakley_sas{phase="quick-mode",state="established"} 3'));
  assert.ok(lines.includes('oakley_sa_bytes{phase="quick-mode",direction="in"} 1124112'));
  assert.ok(lines.includes("# TYPE oakley_ike_sa_established_total counter"));
  assert.ok(lines.includes("oakley_ike_sa_established_total 3"));
  assert.ok(lines.includes('oakley_ike_fail_total{reason="no-proposal-chosen"} 2'));
  assert.ok(lines.includes('oakley_esp_rx_drop_total{reason="we\\"ird\\nreason"} 1'));
  assert.ok(lines.includes("oakley_block_mode 0"));
  // every family has exactly one TYPE line and its samples follow it contiguously
  const types = lines.filter((l) => l.startsWith("# TYPE "));
  assert.equal(new Set(types).size, types.length);
  let current = "";
  const seen = new Set<string>();
  for (const l of lines) {
    if (l.startsWith("# TYPE ")) {
      current = l.split(" ")[2] ?? "";
      assert.ok(!seen.has(current));
      seen.add(current);
    } else if (!l.startsWith("#")) {
      assert.ok(l.startsWith(current), `${l} outside its family ${current}`);
      assert.match(l, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [0-9]+$/);
    }
  }
});

test("parseListen names the flag on a mistake", () => {
  assert.deepEqual(parseListen("127.0.0.1:9500"), { host: "127.0.0.1", port: 9500 });
  assert.deepEqual(parseListen("[::1]:9"), { host: "::1", port: 9 });
  assert.match(String(parseListen("localhost")), /--metrics-listen 'localhost' is not HOST:PORT/);
});

test("startMetricsServer serves /metrics over HTTP with the 0.0.4 content type", async () => {
  const t = new FakeControlTarget();
  const m = await startMetricsServer(t, "127.0.0.1:0");
  try {
    const r = await fetch(`http://127.0.0.1:${m.port}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const body = await r.text();
    assert.match(body, /^oakley_up 1$/m);
    t.counters.inc("ike_sa_established");
    const again = await (await fetch(`http://127.0.0.1:${m.port}/metrics`)).text();
    assert.match(again, /^oakley_ike_sa_established_total 4$/m);
  } finally {
    await m.close();
  }
});
