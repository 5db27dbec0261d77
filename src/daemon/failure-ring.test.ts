/**
 * The failure ring stays bounded under floods: peers and records per peer are capped, repeats
 * fold into one record, spoofable first-message failures are forgotten before real clients', and
 * every eviction is counted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Counters } from "../obs/counters.js";
import { type FailureEntry, FailureRing } from "./failure-ring.js";

const entry = (address: string, o: Partial<FailureEntry> = {}): FailureEntry => ({
  at: 1_700_000_000_000,
  peer: { address, port: 500 },
  step: "phase1",
  code: "OAK_E_IKE_NO_PROPOSAL_CHOSEN",
  reason: "no acceptable phase-1 proposal",
  offered: ["AES-CBC-256/SHA/MODP-1024 (group 2)/pre-shared key"],
  vendorIds: ["RFC 3947"],
  explanation: "offered only MODP-1024 (group 2)",
  verified: false,
  ...o,
});

test("a client retrying the same offer is one record with a count", () => {
  const r = new FailureRing();
  for (let i = 0; i < 50; i++) r.record(entry("192.0.2.7", { at: 1_700_000_000_000 + i * 1000 }));
  const rep = r.report();
  assert.equal(rep.peers.length, 1);
  const f = rep.peers[0]?.failures;
  assert.equal(f?.length, 1);
  assert.equal(f?.[0]?.count, 50);
  assert.equal(f?.[0]?.firstAt, new Date(1_700_000_000_000).toISOString());
  assert.equal(f?.[0]?.at, new Date(1_700_000_049_000).toISOString());
});

test("records per peer are capped, oldest dropped and counted", () => {
  const counters = new Counters();
  const r = new FailureRing({ perPeer: 3, counters });
  for (let i = 0; i < 10; i++) r.record(entry("192.0.2.7", { reason: `reason ${i}` }));
  const rep = r.report({ peer: "192.0.2.7" });
  assert.deepEqual(
    rep.peers[0]?.failures.map((f) => f.reason),
    ["reason 7", "reason 8", "reason 9"],
  );
  assert.equal(rep.evicted.records, 7);
  assert.equal(counters.snapshot()['diag_failures_evicted{what="record"}'], 7n);
});

test("a flood of spoofed MM1 failures from many addresses keeps the peer count bounded and real clients' records", () => {
  const r = new FailureRing({ maxPeers: 32, perPeer: 4 });
  r.record(entry("198.51.100.1", { verified: true, code: "OAK_E_IKE_AUTH_FAILED" }));
  for (let i = 0; i < 20_000; i++) {
    r.record(
      entry(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, { reason: "x".repeat(10_000) }),
    );
  }
  assert.equal(r.size, 32);
  const rep = r.report();
  assert.equal(rep.peers.length, 32);
  assert.ok(
    rep.peers.some((p) => p.address === "198.51.100.1"),
    "the verified client's record survives",
  );
  assert.equal(rep.evicted.peers, 20_000 + 1 - 32);
  // Every string is cut to a bounded size.
  assert.ok(rep.peers.every((p) => p.failures.every((f) => f.reason.length <= 400)));
});

test("when every peer is verified, the least recently heard goes", () => {
  const r = new FailureRing({ maxPeers: 2 });
  r.record(entry("192.0.2.1", { verified: true }));
  r.record(entry("192.0.2.2", { verified: true }));
  r.record(entry("192.0.2.1", { verified: true, reason: "again" }));
  r.record(entry("192.0.2.3", { verified: true }));
  assert.deepEqual(
    r.report().peers.map((p) => p.address),
    ["192.0.2.3", "192.0.2.1"],
  );
});

test("hostile sizes: long lists and names are cut", () => {
  const r = new FailureRing();
  r.record(
    entry("192.0.2.9", {
      offered: Array.from({ length: 1000 }, (_, i) => `offer ${i} ${"y".repeat(500)}`),
      vendorIds: Array.from({ length: 1000 }, () => `unknown-vid-${"ab".repeat(300)}`),
    }),
  );
  const f = r.report().peers[0]?.failures[0];
  assert.equal(f?.offered.length, 16);
  assert.equal(f?.vendorIds.length, 16);
  assert.ok(f?.offered.every((x) => x.length <= 120));
});

test("a hostile PPP user name cannot put terminal escapes into `oakley diagnose` output", () => {
  const r = new FailureRing();
  const user = "alice\u001b]0;owned\u0007\u001b[2J";
  r.record(
    entry("192.0.2.10", { step: "ppp", user, reason: `MS-CHAP-v2: wrong password for ${user}` }),
  );
  const f = r.report().peers[0]?.failures[0];
  assert.equal(f?.user, "alice?]0;owned??[2J");
  assert.equal(f?.reason, "MS-CHAP-v2: wrong password for alice?]0;owned??[2J");
});
