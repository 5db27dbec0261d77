import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type DeadlineHandle, DeadlineHeap } from "./deadline-heap.js";

// The model: a list sorted by (deadline, insertion order), cancelled entries removed.
test("DeadlineHeap pops in deadline order, ties in insertion order, for any pushes, cancels and pops", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("push" as const), d: fc.integer({ min: 0, max: 50 }) }),
          fc.record({ op: fc.constant("cancel" as const), k: fc.nat() }),
          fc.record({ op: fc.constant("pop" as const), now: fc.integer({ min: 0, max: 60 }) }),
        ),
        { maxLength: 120 },
      ),
      (ops) => {
        const heap = new DeadlineHeap<number>();
        const model: { d: number; i: number }[] = [];
        const handles: { h: DeadlineHandle; i: number }[] = [];
        let n = 0;
        for (const o of ops) {
          if (o.op === "push") {
            const i = n++;
            handles.push({ h: heap.push(o.d, i), i });
            model.push({ d: o.d, i });
            model.sort((a, b) => a.d - b.d || a.i - b.i);
          } else if (o.op === "cancel" && handles.length > 0) {
            const { h, i } = handles[o.k % handles.length]!;
            heap.cancel(h);
            const at = model.findIndex((m) => m.i === i);
            if (at >= 0) model.splice(at, 1);
          } else if (o.op === "pop") {
            const due = heap.popDue(o.now);
            const want = model[0] && model[0].d <= o.now ? model.shift() : undefined;
            assert.deepEqual(due && { d: due.deadline, i: due.item }, want);
          }
          assert.equal(heap.size, model.length);
          assert.equal(heap.peek(), model[0]?.d);
        }
      },
    ),
  );
});

test("a cancelled entry lets go of its item at once (no deleted SA kept alive by a timer)", () => {
  const heap = new DeadlineHeap<{ big: Buffer }>();
  const h = heap.push(10, { big: Buffer.alloc(1) });
  heap.push(20, { big: Buffer.alloc(1) });
  heap.cancel(h);
  assert.equal((h as unknown as { item: unknown }).item, undefined);
  assert.equal(heap.size, 1);
  assert.equal(heap.peek(), 20);
});
