import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HalfOpenBudget, prefixOf } from "./half-open.js";

interface E {
  readonly peerIp: string;
  readonly role: "initiator" | "responder";
  readonly createdAt: number;
}
const e = (peerIp: string, createdAt = 0, role: E["role"] = "responder"): E => ({
  peerIp,
  role,
  createdAt,
});

describe("half-open budget", () => {
  it("prefixes: /24 for IPv4, /48 for IPv6 (with :: expanded)", () => {
    assert.equal(prefixOf("203.0.113.77"), "203.0.113");
    assert.equal(prefixOf("2001:db8:1::5"), "2001:db8:1");
    assert.equal(prefixOf("2001:DB8::1"), "2001:db8:0");
    assert.equal(prefixOf("::1"), "0:0:0");
  });

  it("a full prefix evicts its own oldest waiting entry, not another prefix's", () => {
    const b = new HalfOpenBudget<E>({ maxHalfOpen: 100, maxHalfOpenPerPrefix: 3 });
    const other = e("198.51.100.1");
    b.add(other);
    const mine = [e("203.0.113.1", 1), e("203.0.113.2", 2), e("203.0.113.3", 3)];
    for (const x of mine) b.add(x);
    const r = b.admit("203.0.113.9");
    assert.ok(r.ok && r.evict === mine[0]);
    assert.deepEqual(b.admit("198.51.100.7"), { ok: true });
  });

  it("entries that progressed (saw MM3) or are ours are never evicted: then the newcomer is refused", () => {
    const b = new HalfOpenBudget<E>({ maxHalfOpen: 2 });
    const a = e("192.0.2.1");
    const mine = e("192.0.2.2", 0, "initiator");
    b.add(a);
    b.add(mine);
    b.progressed(a);
    assert.deepEqual(b.admit("203.0.113.5"), { ok: false, reason: "half-open-total" });
    b.remove(a);
    assert.equal(b.count, 1);
    assert.deepEqual(b.admit("203.0.113.5"), { ok: true });
  });

  it("pressure above half the cap; stale waiting entries listed oldest first", () => {
    const b = new HalfOpenBudget<E>({ maxHalfOpen: 4 });
    const xs = [e("192.0.2.1", 0), e("192.0.2.2", 10), e("192.0.2.3", 20)];
    for (const x of xs) b.add(x);
    assert.equal(b.underPressure, true);
    assert.deepEqual([...b.staleWaiting(15)], xs.slice(0, 2));
  });
});
