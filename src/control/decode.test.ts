/**
 * Client-side decoders: real records round-trip through JSON; hostile answers give typed errors.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { decodeMetrics, decodeSaList, decodeStatus } from "./decode.js";
import { ControlErrorCode } from "./errors.js";
import { FakeControlTarget } from "./fake-target.js";
import { encodeLine, type Json } from "./protocol.js";

const wire = (v: unknown): Json => JSON.parse(encodeLine(v as never)) as Json;

test("decodeSaList gives back the records the target produced (bigints included)", () => {
  const t = new FakeControlTarget();
  const r = decodeSaList(wire(t.listSas()));
  assert.ok(r.ok);
  assert.deepEqual(r.value, t.listSas());
  assert.equal(typeof r.value.child[0]?.traffic.bytesIn, "bigint");
});

test("decodeStatus and decodeMetrics round-trip", () => {
  const t = new FakeControlTarget({
    mode: "block",
    blockReason: "cannot enter protected mode: udp 500 in use",
  });
  const s = decodeStatus(wire(t.status()));
  assert.ok(s.ok);
  assert.deepEqual(s.value, t.status());
  const m = decodeMetrics(wire(t.metrics()));
  assert.ok(m.ok);
  assert.deepEqual(m.value, t.metrics());
});

test("decodeStatus carries the L2TP counts when a daemon gives them, and refuses bad ones", () => {
  const t = new FakeControlTarget();
  const status = { ...t.status(), l2tpTunnels: 3, pppSessions: 2, addressesInUse: 2 };
  const s = decodeStatus(wire(status));
  assert.ok(s.ok);
  assert.deepEqual(s.value, status);
  const bad = decodeStatus(wire({ ...status, pppSessions: "two" }));
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /pppSessions/);
});

const CLIENT_CONNECTION = {
  profile: "office",
  server: "198.51.100.2",
  persist: true,
  state: "waiting" as const,
  since: "2026-12-07T16:00:05.000Z",
  attempts: 3,
  nextAttemptAt: "2026-12-07T16:00:09.000Z",
  bytesIn: 0n,
  bytesOut: 0n,
  totalBytesIn: 18_446_744_073_709_551_615n,
  totalBytesOut: 5n,
  lastFailure: {
    at: "2026-12-07T16:00:05.000Z",
    code: "OAK_E_IKE_DEAD_PEER",
    message: "dpd failed: peer declared dead",
  },
};

test("decodeStatus carries a client's connection (oakley connect), and names a bad field", () => {
  const t = new FakeControlTarget();
  const status = { ...t.status(), role: "client" as const, connection: CLIENT_CONNECTION };
  const s = decodeStatus(wire(status));
  assert.ok(s.ok);
  assert.deepEqual(s.value, status);
  const bad = decodeStatus(
    wire({ ...status, connection: { ...CLIENT_CONNECTION, state: "gone" } }),
  );
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /connection\.state/);
  const badFailure = decodeStatus(
    wire({ ...status, connection: { ...CLIENT_CONNECTION, lastFailure: { at: 1 } } }),
  );
  assert.ok(!badFailure.ok);
  assert.match(badFailure.error.message, /lastFailure/);
});

test("decodeStatus carries RADIUS servers' reachability and the accounting queue, and refuses bad ones", () => {
  const t = new FakeControlTarget();
  const status = {
    ...t.status(),
    radius: {
      servers: [
        { server: "192.0.2.10:1812", state: "reachable" as const, lastReplyAgoMs: 1200 },
        { server: "192.0.2.11:1812", state: "untested" as const },
      ],
      accountingQueued: 3,
    },
  };
  const s = decodeStatus(wire(status));
  assert.ok(s.ok);
  assert.deepEqual(s.value, status);
  const bad = decodeStatus(
    wire({ ...status, radius: { ...status.radius, servers: [{ server: "x", state: "asleep" }] } }),
  );
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /radius\.servers\[0\]/);
});

test("malformed answers name the field", () => {
  const t = new FakeControlTarget();
  const l = wire(t.listSas()) as { ike: { natt: { behindNat: string } }[] };
  if (l.ike[0]) l.ike[0].natt.behindNat = "sideways";
  const r = decodeSaList(l as unknown as Json);
  assert.ok(!r.ok);
  assert.equal(r.error.code, ControlErrorCode.BadMessage);
  assert.match(r.error.message, /ike\[0\]\.natt\.behindNat/);
  assert.ok(!decodeMetrics({ counters: { x: "-1" } }).ok);
});

test("fuzz: decoders never throw on mutated daemon answers", () => {
  const t = new FakeControlTarget();
  const seeds = [
    encodeLine(t.listSas() as never),
    encodeLine(t.status() as never),
    encodeLine({ ...t.status(), role: "client", connection: CLIENT_CONNECTION } as never),
  ].map((s) => Buffer.from(s));
  const parse = (b: Uint8Array) => {
    let v: Json;
    try {
      v = JSON.parse(Buffer.from(b).toString("utf8")) as Json;
    } catch {
      return { ok: false };
    }
    const a = decodeSaList(v);
    const s = decodeStatus(v);
    return { ok: a.ok || s.ok };
  };
  fuzzParser("decodeSaList/decodeStatus", parse, seeds, { iterations: 20_000, maxLength: 4096 });
});

test("decodeStatus carries the FIPS mode; `oakley status` shows it (off when a daemon says nothing)", async () => {
  const { formatStatus } = await import("../cli/commands/status.js");
  const t = new FakeControlTarget();
  const fips = { mode: "policy-only" as const, text: "policy only - approved algorithms only" };
  const status = { ...t.status(), fips };
  const s = decodeStatus(wire(status));
  assert.ok(s.ok);
  assert.deepEqual(s.value, status);
  assert.match(formatStatus(s.value, "test"), /^FIPS: +policy only - approved algorithms only$/m);
  assert.match(formatStatus(t.status(), "test"), /^FIPS: +off$/m);
  const bad = decodeStatus(wire({ ...status, fips: { mode: "maybe", text: "x" } }));
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /mode/);
});

test("decodeStatus carries the daemon's memory; `oakley status` shows it; a malformed one is refused by name", async () => {
  const { formatStatus } = await import("../cli/commands/status.js");
  const t = new FakeControlTarget();
  const memory = { rssBytes: 73_400_320, heapUsedBytes: 31_457_280, externalBytes: 5_242_880 };
  const status = { ...t.status(), memory };
  const s = decodeStatus(wire(status));
  assert.ok(s.ok);
  assert.deepEqual(s.value, status);
  assert.match(
    formatStatus(s.value, "test"),
    /^Memory: +70\.0 MB resident \(JS heap 30\.0 MB, native buffers 5\.0 MB\)$/m,
  );
  assert.doesNotMatch(formatStatus(t.status(), "test"), /^Memory:/m);
  const bad = decodeStatus(wire({ ...status, memory: { ...memory, rssBytes: "lots" } }));
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /memory.*rssBytes|rssBytes/);
});
