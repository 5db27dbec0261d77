/**
 * Deadlines and timers, below every layer: the `Clock` interface (monotonic `now`, calendar
 * `wallNow`, one re-armable alarm) and `TimerSet`, the timers every driver keeps its engines'
 * deadlines in (on the shared `DeadlineHeap`). The platform implements `Clock` with performance.now/setTimeout
 * (src/platform/clock.ts); tests implement it with a fake clock or the network simulator, so
 * the same `TimerSet` runs in the daemon, in tests and in the simulator.
 */

import { type DeadlineHandle, DeadlineHeap } from "./deadline-heap.js";

export interface Alarm {
  /** (Re)arms the alarm for monotonic time `deadline`; a past deadline fires soon. */
  arm(deadline: number): void;
  disarm(): void;
}

export interface Clock {
  /** Monotonic milliseconds (fractional). */
  now(): number;
  /** Calendar time, milliseconds since the Unix epoch. */
  wallNow(): number;
  /** One re-armable alarm calling `fire` at its deadline. */
  alarm(fire: () => void): Alarm;
}

export type TimerId = number & { readonly __timerId: unique symbol };

/**
 * Deadlines for the driver: `set(deadline, item)` returns an id for `cancel`; when the earliest
 * deadline passes, `onExpire(item)` is called for every due entry in deadline order (ties in
 * insertion order). One alarm is armed for the earliest deadline at any time.
 */
export class TimerSet<T> {
  private readonly heap = new DeadlineHeap<{ readonly id: TimerId; readonly item: T }>();
  private readonly live = new Map<TimerId, DeadlineHandle>();
  private nextId = 1;
  private readonly alarm: Alarm;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly onExpire: (item: T) => void,
  ) {
    this.alarm = clock.alarm(() => {
      this.armedFor = Number.POSITIVE_INFINITY;
      this.runDue();
    });
  }

  set(deadline: number, item: T): TimerId {
    const id = this.nextId++ as TimerId;
    this.live.set(id, this.heap.push(deadline, { id, item }));
    this.rearm();
    return id;
  }

  /** Cancels a timer; cancelling an expired or unknown id does nothing. */
  cancel(id: TimerId): void {
    const h = this.live.get(id);
    if (!h) return;
    this.live.delete(id);
    this.heap.cancel(h);
    if (this.live.size === 0) {
      this.alarm.disarm();
      this.armedFor = Number.POSITIVE_INFINITY;
    }
  }

  get size(): number {
    return this.live.size;
  }

  /** Earliest pending deadline, or undefined. */
  nextDeadline(): number | undefined {
    return this.heap.peek();
  }

  /** Fires every entry whose deadline is <= now (also called by the alarm). */
  runDue(): void {
    const now = this.clock.now();
    for (;;) {
      const due = this.heap.popDue(now);
      if (!due) break;
      this.live.delete(due.item.id);
      this.onExpire(due.item.item);
    }
    this.rearm();
  }

  close(): void {
    this.heap.clear();
    this.live.clear();
    this.alarm.disarm();
  }

  private rearm(): void {
    const d = this.nextDeadline();
    if (d === undefined) {
      this.alarm.disarm();
      this.armedFor = Number.POSITIVE_INFINITY;
    } else if (d !== this.armedFor) {
      this.armedFor = d;
      this.alarm.arm(d);
    }
  }
}
