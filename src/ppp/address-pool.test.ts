import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressPool } from "./address-pool.js";

test("pool: skips network, broadcast and reserved addresses; exhaustion is an error value", () => {
  const pool = new AddressPool({ cidr: "203.0.113.0/29", reserved: ["203.0.113.1"] });
  const got: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = pool.allocate(`u${i}`, `s${i}`);
    assert.ok(r.ok);
    if (r.ok) got.push(r.value);
  }
  assert.deepEqual(got, [
    "203.0.113.2",
    "203.0.113.3",
    "203.0.113.4",
    "203.0.113.5",
    "203.0.113.6",
  ]);
  const full = pool.allocate("u9", "s9");
  assert.ok(!full.ok);
  if (!full.ok) assert.equal(full.error.code, "OAK_E_PPP_POOL_EXHAUSTED");
  pool.release("203.0.113.4", "s2");
  const again = pool.allocate("u9", "s9");
  assert.ok(again.ok && again.value === "203.0.113.4");
});

test("pool: release only by the owner", () => {
  const pool = new AddressPool({ cidr: "198.51.100.8/30" });
  const a = pool.allocate("x", "s1");
  assert.ok(a.ok);
  if (!a.ok) return;
  pool.release(a.value, "someone-else");
  assert.equal(pool.inUseCount(), 1);
  pool.release(a.value, "s1");
  assert.equal(pool.inUseCount(), 0);
});

test("pool: static per-user addresses are kept out of the dynamic range", () => {
  const pool = new AddressPool({ cidr: "192.0.2.0/30", staticAddresses: { alice: "192.0.2.1" } });
  const b = pool.allocate("bob", "s1");
  assert.ok(b.ok && b.value === "192.0.2.2");
  const c = pool.allocate("carol", "s2");
  assert.ok(!c.ok);
  const a = pool.allocate("alice", "s3");
  assert.ok(a.ok && a.value === "192.0.2.1");
  const a2 = pool.allocate("alice", "s4");
  assert.ok(!a2.ok);
  if (!a2.ok) assert.equal(a2.error.code, "OAK_E_PPP_STATIC_ADDRESS_IN_USE");
});
