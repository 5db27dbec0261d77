/**
 * Deadlines and timers, below every layer: the `Clock` interface (monotonic `now`, calendar
 * `wallNow`, one re-armable alarm) and `TimerSet`, the deadline heap every driver keeps its
 * engines' timers in. The platform implements `Clock` with performance.now/setTimeout
 * (src/platform/clock.ts); tests implement it with a fake clock or the network simulator, so
 * the same `TimerSet` runs in the daemon, in tests and in the simulator.
 */

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

interface Entry<T> {
  deadline: number;
  seq: number;
  id: TimerId;
  item: T;
}

/**
 * Deadlines for the driver: `set(deadline, item)` returns an id for `cancel`; when the earliest
 * deadline passes, `onExpire(item)` is called for every due entry in deadline order (ties in
 * insertion order). One alarm is armed for the earliest deadline at any time.
 */
export class TimerSet<T> {
  private heap: Entry<T>[] = [];
  private readonly live = new Map<TimerId, Entry<T>>();
  private nextId = 1;
  private seq = 0;
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
    const e: Entry<T> = { deadline, seq: this.seq++, id, item };
    this.live.set(id, e);
    this.push(e);
    this.rearm();
    return id;
  }

  /** Cancels a timer; cancelling an expired or unknown id does nothing. */
  cancel(id: TimerId): void {
    this.live.delete(id); // lazily removed from the heap
    if (this.live.size === 0) {
      this.heap = [];
      this.alarm.disarm();
      this.armedFor = Number.POSITIVE_INFINITY;
    }
  }

  get size(): number {
    return this.live.size;
  }

  /** Earliest pending deadline, or undefined. */
  nextDeadline(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.deadline;
  }

  /** Fires every entry whose deadline is <= now (also called by the alarm). */
  runDue(): void {
    const now = this.clock.now();
    for (;;) {
      this.dropCancelled();
      const top = this.heap[0];
      if (!top || top.deadline > now) break;
      this.pop();
      this.live.delete(top.id);
      this.onExpire(top.item);
    }
    this.rearm();
  }

  close(): void {
    this.heap = [];
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

  private dropCancelled(): void {
    while (this.heap.length > 0 && !this.live.has(this.heap[0]!.id)) this.pop();
  }

  private less(a: Entry<T>, b: Entry<T>): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private push(e: Entry<T>): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (h.length === 0 || !last) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
