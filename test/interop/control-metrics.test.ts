/**
 * The Prometheus endpoint checked by an independent implementation of the text format:
 * Prometheus's own `promtool check metrics` (Debian package `prometheus`) parses and lints a live
 * scrape. Our own parser is never the oracle here. Also parses the scrape into samples with a
 * small reader written to the format documentation, and checks the values that matter.
 *
 * The target is FakeControlTarget, for exact expected values and a hostile label value (quotes,
 * newline) that a real daemon does not produce on demand. A scrape of a REAL daemon's endpoint
 * from another namespace, linted by promtool and compared with `oakley sa list`, is in
 * manage-real.test.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { startMetricsServer } from "../../src/control/index.js";
import { FakeControlTarget } from "../../src/control/fake-target.js";

const promtool = spawnSync("sh", ["-c", "command -v promtool"]).status === 0;

/** name{labels} value lines -> map "name{labels}" -> number (comments skipped). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

test("a live scrape passes promtool check metrics and carries SAs, handshakes, failures, drops, bytes", {
  skip: promtool ? false : "promtool is not installed (Debian package prometheus)",
}, async () => {
  const t = new FakeControlTarget();
  t.counters.incLabeled("esp_rx_drop", "reason", 'bad "icv"\nmaybe');
  const m = await startMetricsServer(t, "127.0.0.1:0");
  try {
    const res = await fetch(`http://127.0.0.1:${m.port}/metrics`);
    const text = await res.text();
    const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
    const s = samples(text);
    assert.equal(s.get('oakley_sas{phase="main-mode",state="established"}'), 3);
    assert.equal(s.get('oakley_sas{phase="quick-mode",state="established"}'), 3);
    assert.equal(s.get("oakley_ike_sa_established_total"), 3);
    assert.equal(s.get('oakley_ike_fail_total{reason="no-proposal-chosen"}'), 2);
    assert.equal(s.get('oakley_esp_rx_drop_total{reason="replay"}'), 1);
    assert.equal(
      s.get('oakley_sa_bytes{phase="quick-mode",direction="in"}'),
      1_048_576 + 65_536 + 10_000,
    );
    // after an SA goes away and traffic flows the next scrape changes accordingly
    t.deleteSa(t.ike[0]?.id ?? "");
    const s2 = samples(await (await fetch(`http://127.0.0.1:${m.port}/metrics`)).text());
    assert.equal(s2.get('oakley_sas{phase="main-mode",state="established"}'), 2);
  } finally {
    await m.close();
  }
});
