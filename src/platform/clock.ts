/**
 * Time for the daemon (DESIGN rule 5: only platform/ reads clocks or arms timers).
 *
 * - `Clock.now()` is monotonic milliseconds (performance.now based: never jumps with NTP or
 *   the operator changing the date), used for every protocol deadline (retransmits, DPD,
 *   lifetimes). `wallNow()` is calendar time, only for logs and certificate validity.
 * - Engines never arm timers themselves: they return deadlines. The driver keeps them in a
 *   `TimerSet` (a binary heap keyed by deadline) which owns one platform alarm for the earliest
 *   deadline. With a FakeClock (fake-clock.ts) tests move time by hand, deterministically.
 */

import type { Alarm, Clock } from "../base/clock.js";

export { type Alarm, type Clock, type TimerId, TimerSet } from "../base/clock.js";

/** The real clock: performance.now() and setTimeout. Alarms do not keep the process alive. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  wallNow(): number {
    return Date.now();
  }

  alarm(fire: () => void): Alarm {
    let t: NodeJS.Timeout | undefined;
    return {
      arm: (deadline) => {
        if (t) clearTimeout(t);
        const delay = Math.max(0, Math.ceil(deadline - performance.now()));
        t = setTimeout(() => {
          t = undefined;
          fire();
        }, delay);
        t.unref();
      },
      disarm: () => {
        if (t) clearTimeout(t);
        t = undefined;
      },
    };
  }
}

export const systemClock: Clock = new SystemClock();
