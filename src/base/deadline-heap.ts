/**
 * The one deadline queue of the project: a binary min-heap of items keyed by deadline, ties in
 * insertion order. The drivers' `TimerSet` (src/base/clock.ts), the IKE engine's timers and the
 * test network simulator all keep their deadlines in it, so they order events the same way.
 *
 * Cancellation is lazy: `cancel(handle)` marks the entry and drops its item at once (a
 * cancelled timer must not keep, say, a deleted SA alive until its deadline surfaces); the
 * entry leaves the heap when it reaches the top.
 */

export interface DeadlineHandle {
  readonly deadline: number;
  readonly cancelled: boolean;
}

interface Entry<T> extends DeadlineHandle {
  readonly deadline: number;
  readonly seq: number;
  item: T | undefined;
  cancelled: boolean;
}

export class DeadlineHeap<T> {
  private heap: Entry<T>[] = [];
  private seq = 0;
  private liveCount = 0;

  /** Queues `item` at `deadline`; the handle cancels it. */
  push(deadline: number, item: T): DeadlineHandle {
    const e: Entry<T> = { deadline, seq: this.seq++, item, cancelled: false };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
    this.liveCount++;
    return e;
  }

  /** Cancels an entry; cancelling twice or after it was popped does nothing. */
  cancel(handle: DeadlineHandle): void {
    const e = handle as Entry<T>;
    if (e.cancelled) return;
    e.cancelled = true;
    e.item = undefined;
    this.liveCount--;
    if (this.liveCount === 0) this.heap = [];
  }

  /** Entries not cancelled nor popped. */
  get size(): number {
    return this.liveCount;
  }

  /** Earliest live deadline, or undefined. */
  peek(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.deadline;
  }

  /** Removes and returns the earliest live entry if its deadline is <= `now`. */
  popDue(now: number): { deadline: number; item: T } | undefined {
    this.dropCancelled();
    const top = this.heap[0];
    if (!top || top.deadline > now) return undefined;
    this.removeTop();
    const item = top.item as T;
    // Popped entries count as done: a later cancel() through the handle is a no-op.
    top.cancelled = true;
    top.item = undefined;
    this.liveCount--;
    return { deadline: top.deadline, item };
  }

  clear(): void {
    for (const e of this.heap) {
      e.cancelled = true;
      e.item = undefined;
    }
    this.heap = [];
    this.liveCount = 0;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.removeTop();
  }

  private removeTop(): void {
    const h = this.heap;
    const last = h.pop();
    if (h.length === 0 || !last) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && less(h[l]!, h[m]!)) m = l;
      if (r < h.length && less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

function less<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}
