/**
 * Anti-replay window edge cases, following RFC 4303 §3.4.3 and Appendix A (A1 for 32-bit,
 * A2 for ESN): first packet, window slide, exact window edge, duplicates, too old, jumps by more
 * than the window, 2^32-1 without ESN, and ESN high-half inference across the 2^32 boundary.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { REPLAY_DUPLICATE, REPLAY_OK, REPLAY_TOO_OLD, ReplayWindow } from "./replay.js";

function accept(w: ReplayWindow, seq: number): number {
  const v = w.check(seq);
  if (v === REPLAY_OK) w.update(w.seqHi, seq);
  return v;
}

describe("ReplayWindow (32-bit, RFC 4303 A1)", () => {
  it("accepts the first packet (seq 1) and rejects 0", () => {
    const w = new ReplayWindow(64, false);
    assert.equal(w.check(0), REPLAY_TOO_OLD);
    assert.equal(accept(w, 1), REPLAY_OK);
    assert.equal(w.top, 1n);
  });

  it("rejects duplicates, inside the window and at the top", () => {
    const w = new ReplayWindow(64, false);
    for (const s of [1, 2, 3, 10]) assert.equal(accept(w, s), REPLAY_OK);
    assert.equal(w.check(10), REPLAY_DUPLICATE);
    assert.equal(w.check(2), REPLAY_DUPLICATE);
    assert.equal(accept(w, 5), REPLAY_OK, "a late but unseen packet inside the window");
    assert.equal(w.check(5), REPLAY_DUPLICATE);
  });

  it("exact window edge: T-W+1 is inside, T-W is too old", () => {
    const w = new ReplayWindow(32, false);
    accept(w, 100);
    assert.equal(w.check(100 - 32 + 1), REPLAY_OK);
    assert.equal(w.check(100 - 32), REPLAY_TOO_OLD);
  });

  it("slides: after advancing, old slots are free again and stale bits do not leak", () => {
    const w = new ReplayWindow(32, false);
    for (let s = 1; s <= 32; s++) accept(w, s);
    assert.equal(accept(w, 40), REPLAY_OK);
    // 33..39 were never seen: the ring slots they reuse (1..7) must have been cleared.
    for (let s = 33; s < 40; s++) assert.equal(w.check(s), REPLAY_OK, `seq ${s}`);
    assert.equal(w.check(8), REPLAY_TOO_OLD);
    assert.equal(w.check(9), REPLAY_DUPLICATE);
  });

  it("jump by more than the window clears everything", () => {
    const w = new ReplayWindow(128, false);
    for (let s = 1; s <= 200; s++) accept(w, s);
    assert.equal(accept(w, 5000), REPLAY_OK);
    assert.equal(w.check(5000 - 127), REPLAY_OK);
    assert.equal(w.check(5000 - 128), REPLAY_TOO_OLD);
    assert.equal(w.check(200), REPLAY_TOO_OLD);
  });

  it("reaches 2^32-1 without ESN and never wraps", () => {
    const w = new ReplayWindow(64, false);
    assert.equal(accept(w, 0xffffffff), REPLAY_OK);
    assert.equal(w.check(0xffffffff), REPLAY_DUPLICATE);
    assert.equal(w.check(1), REPLAY_TOO_OLD);
    assert.equal(w.check(0xffffffff - 63), REPLAY_OK);
  });

  it("large windows (4096) behave like a model set", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20000 }), { maxLength: 300 }), (seqs) => {
        const W = 4096;
        const w = new ReplayWindow(W, false);
        const seen = new Set<number>();
        let top = 0;
        for (const s of seqs) {
          const expect = s + W <= top ? REPLAY_TOO_OLD : seen.has(s) ? REPLAY_DUPLICATE : REPLAY_OK;
          assert.equal(accept(w, s), expect, `seq ${s} top ${top}`);
          if (expect === REPLAY_OK) {
            seen.add(s);
            top = Math.max(top, s);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("ReplayWindow (ESN, RFC 4303 A2)", () => {
  it("infers the high half when the low half wraps", () => {
    const w = new ReplayWindow(64, true);
    w.reset(0xfffffff0n);
    assert.equal(w.check(5), REPLAY_OK);
    assert.equal(w.seqHi, 1, "seq 5 after 0xfffffff0 belongs to the next 2^32 subspace");
    w.update(w.seqHi, 5);
    assert.equal(w.top, 0x1_0000_0005n);
    // A late packet from the previous subspace, still inside the window (case B of A2.2).
    assert.equal(w.check(0xfffffff8), REPLAY_OK);
    assert.equal(w.seqHi, 0);
    w.update(0, 0xfffffff8);
    assert.equal(w.check(0xfffffff8), REPLAY_DUPLICATE);
    assert.equal(
      w.check(0xfffffff0 - 64),
      REPLAY_OK,
      "below the window: treated as the next subspace (A2.2)",
    );
    assert.equal(w.seqHi, 1);
  });

  it("seq 0 is valid in the second subspace", () => {
    const w = new ReplayWindow(64, true);
    w.reset(0xffffffffn);
    assert.equal(w.check(0), REPLAY_OK);
    assert.equal(w.seqHi, 1);
  });
});
