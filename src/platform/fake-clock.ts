/**
 * A deterministic Clock for tests of engines and drivers: time moves only when the test calls
 * advance()/advanceTo(); alarms fire synchronously inside those calls, in deadline order, and
 * may re-arm (a retransmit schedule with back-off plays out in one advance()).
 */
import type { Alarm, Clock } from "./clock.js";

interface FakeAlarm {
  deadline: number | undefined;
  seq: number;
  fire: () => void;
}

export class FakeClock implements Clock {
  private t: number;
  private readonly alarms = new Set<FakeAlarm>();
  private seq = 0;

  /** `start`: initial monotonic time; `wallOffset`: epoch ms at monotonic 0. */
  constructor(
    start = 0,
    private readonly wallOffset = Date.UTC(2025, 0, 1),
  ) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return this.wallOffset + this.t;
  }

  alarm(fire: () => void): Alarm {
    const a: FakeAlarm = { deadline: undefined, seq: 0, fire };
    this.alarms.add(a);
    return {
      arm: (deadline) => {
        a.deadline = deadline;
        a.seq = this.seq++;
      },
      disarm: () => {
        a.deadline = undefined;
      },
    };
  }

  /** Moves time forward by `ms`, firing due alarms at their own deadlines along the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new Error(`FakeClock.advance: negative or NaN step ${ms}`);
    this.advanceTo(this.t + ms);
  }

  advanceTo(target: number): void {
    if (target < this.t)
      throw new Error(`FakeClock.advanceTo: time cannot go back (${target} < ${this.t})`);
    for (let guard = 0; ; guard++) {
      if (guard > 1_000_000)
        throw new Error("FakeClock: alarms keep re-arming at the same instant");
      const next = this.earliest();
      if (!next || next.deadline === undefined || next.deadline > target) break;
      this.t = Math.max(this.t, next.deadline);
      next.deadline = undefined;
      next.fire();
    }
    this.t = target;
  }

  /** Earliest armed deadline, or undefined when nothing is armed. */
  nextDeadline(): number | undefined {
    return this.earliest()?.deadline;
  }

  /** Advances to each next deadline until nothing is armed (at most `maxSteps` firings). */
  runAll(maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps; i++) {
      const d = this.nextDeadline();
      if (d === undefined) return;
      this.advanceTo(Math.max(d, this.t));
    }
    throw new Error(`FakeClock.runAll: still armed after ${maxSteps} steps`);
  }

  private earliest(): FakeAlarm | undefined {
    let best: FakeAlarm | undefined;
    for (const a of this.alarms) {
      if (a.deadline === undefined) continue;
      if (
        !best ||
        a.deadline < best.deadline! ||
        (a.deadline === best.deadline && a.seq < best.seq)
      )
        best = a;
    }
    return best;
  }
}
