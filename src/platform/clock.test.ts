import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { SystemClock, TimerSet } from "./clock.js";
import { FakeClock } from "./fake-clock.js";

test("TimerSet fires due timers in deadline order, ties in insertion order", () => {
  const clock = new FakeClock(1000);
  const fired: string[] = [];
  const timers = new TimerSet<string>(clock, (x) => fired.push(`${x}@${clock.now()}`));
  timers.set(1500, "b");
  timers.set(1200, "a");
  timers.set(1500, "c");
  const d = timers.set(1300, "cancelled");
  timers.cancel(d);
  clock.advance(100);
  assert.deepEqual(fired, []);
  clock.advance(1000);
  assert.deepEqual(fired, ["a@1200", "b@1500", "c@1500"]);
  assert.equal(timers.size, 0);
  assert.equal(clock.nextDeadline(), undefined);
});

test("a timer armed from an expiry handler (retransmit back-off) plays out in one advance", () => {
  const clock = new FakeClock();
  const sends: number[] = [];
  let delay = 500;
  const timers = new TimerSet<"retransmit">(clock, () => {
    sends.push(clock.now());
    delay *= 2;
    if (sends.length < 4) timers.set(clock.now() + delay, "retransmit");
  });
  timers.set(delay, "retransmit");
  clock.advance(10_000);
  assert.deepEqual(sends, [500, 1500, 3500, 7500]);
});

test("TimerSet agrees with a sorted model for any schedule of sets and cancels", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.boolean()), { maxLength: 60 }),
      (ops) => {
        const clock = new FakeClock();
        const got: number[] = [];
        const timers = new TimerSet<number>(clock, (i) => got.push(i));
        const kept: { d: number; i: number }[] = [];
        ops.forEach(([d, cancel], i) => {
          const id = timers.set(d, i);
          if (cancel) timers.cancel(id);
          else kept.push({ d, i });
        });
        clock.advance(2000);
        kept.sort((a, b) => a.d - b.d || a.i - b.i);
        assert.deepEqual(
          got,
          kept.map((k) => k.i),
        );
      },
    ),
  );
});

test("SystemClock is monotonic and its alarm fires", async () => {
  const c = new SystemClock();
  const a = c.now();
  // Alarms are unref'd (they must not keep the daemon alive); a ref'd timer keeps this test's
  // event loop running until the alarm has fired.
  const keepAlive = setTimeout(() => {}, 5_000);
  const fired = await new Promise<number>((resolve) => {
    c.alarm(() => resolve(c.now())).arm(a + 20);
  });
  clearTimeout(keepAlive);
  assert.ok(fired >= a + 19, `alarm fired at ${fired - a} ms`);
  assert.ok(Math.abs(c.wallNow() - Date.now()) < 1000);
});

test("FakeClock refuses to go back in time", () => {
  const c = new FakeClock(10);
  assert.throws(() => c.advanceTo(5));
  assert.throws(() => c.advance(-1));
});
