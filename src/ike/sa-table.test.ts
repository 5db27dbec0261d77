import assert from "node:assert/strict";
import { test } from "node:test";
import { SaTable, type TableEntry } from "./sa-table.js";

function entry(i: number, ip = "198.51.100.1", port = 500 + i): TableEntry {
  return {
    ckyI: i.toString(16).padStart(16, "0"),
    ckyR: "",
    peerKey: `${ip}:${port}`,
    peerIp: ip,
    halfOpen: true,
  };
}

test("half-open cap per IP is generous: 40 clients behind one NAT address all get in", () => {
  const t = new SaTable<TableEntry>({ maxHalfOpen: 1000, maxHalfOpenPerIp: 64 });
  for (let i = 0; i < 40; i++) {
    assert.deepEqual(t.halfOpen.admit("198.51.100.1"), { ok: true });
    t.add(entry(i));
  }
  assert.equal(t.halfOpenCount, 40);
});

test("half-open caps refuse floods, and establishing frees the slot", () => {
  const t = new SaTable<TableEntry>({ maxHalfOpen: 10, maxHalfOpenPerIp: 3 });
  const sas = [0, 1, 2].map((i) => entry(i));
  for (const s of sas) t.add(s);
  assert.deepEqual(t.halfOpen.admit("198.51.100.1"), { ok: false, reason: "half-open-per-ip" });
  assert.deepEqual(t.halfOpen.admit("198.51.100.9"), { ok: true });
  t.markEstablished(sas[0]!);
  assert.deepEqual(t.halfOpen.admit("198.51.100.1"), { ok: true });
  for (let i = 10; i < 18; i++) t.add(entry(i, `203.0.113.${i}`));
  assert.equal(t.halfOpenCount, 10);
  assert.deepEqual(t.halfOpen.admit("203.0.113.99"), { ok: false, reason: "half-open-total" });
  t.remove(sas[1]!);
  assert.equal(t.halfOpenCount, 9);
});

test("same initiator cookie from two peers behind one NAT stays apart; cookie pair lookup", () => {
  const t = new SaTable<TableEntry>();
  const a = { ...entry(1, "198.51.100.1", 4500) };
  const b = { ...entry(1, "198.51.100.1", 4501) };
  t.add(a);
  t.add(b);
  assert.equal(t.byInitiatorCookie(a.ckyI, "198.51.100.1:4500"), a);
  assert.equal(t.byInitiatorCookie(a.ckyI, "198.51.100.1:4501"), b);
  t.setResponderCookie(a, "aaaaaaaaaaaaaaaa");
  t.setResponderCookie(b, "bbbbbbbbbbbbbbbb");
  assert.equal(t.byCookiePair(a.ckyI, "aaaaaaaaaaaaaaaa"), a);
  assert.equal(t.byCookiePair(a.ckyI, "bbbbbbbbbbbbbbbb"), b);
  t.remove(a);
  assert.equal(t.byCookiePair(a.ckyI, "aaaaaaaaaaaaaaaa"), undefined);
  assert.equal(t.size, 1);
});

test("lookups stay fast with 50 000 SAs", () => {
  const t = new SaTable<TableEntry>({ maxHalfOpen: 100_000, maxHalfOpenPerIp: 100_000 });
  const all: TableEntry[] = [];
  for (let i = 0; i < 50_000; i++) {
    const e = entry(i, `198.51.100.${i % 250}`, 1024 + (i % 60000));
    t.add(e);
    t.setResponderCookie(e, (i + 1).toString(16).padStart(16, "f"));
    all.push(e);
  }
  for (const e of all) assert.equal(t.byCookiePair(e.ckyI, e.ckyR), e);
});
