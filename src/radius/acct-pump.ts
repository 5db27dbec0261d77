/**
 * Moves accounting records from the durable queue (acct-queue.ts) to the RADIUS client, one at
 * a time and in order: a session's Start is acknowledged before its Stop is sent, as servers
 * expect. When the client gives up on a record (every server timed out), the record stays at
 * the head and is retried after a back-off doubling from `retryMinMs` to `retryMaxMs`; nothing
 * is lost while the servers are down, and nothing is reordered.
 *
 * Sans-IO apart from the queue's SQLite file: time comes in as arguments, sends go out as
 * RadiusClient actions for the driver to perform. The driver passes every `acct-done` action
 * of the client to `onAcctDone` and calls `handleTimer` at `nextDeadline()`.
 */
import type { Logger } from "../obs/log.js";
import { nullLogger } from "../obs/log.js";
import type { Result } from "../base/result.js";
import type { AccountingQueue } from "./acct-queue.js";
import type { AccountingRecord, RadiusAction, RadiusClient, RadiusRequestId } from "./client.js";
import type { RadiusError } from "./errors.js";

export interface PumpOptions {
  /** Default 1000 ms. */
  readonly retryMinMs?: number;
  /** Default 60 000 ms. */
  readonly retryMaxMs?: number;
}

export class AccountingPump {
  private inFlight: { id: RadiusRequestId; seq: number } | undefined;
  private retryAt: number | undefined;
  private backoff: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  constructor(
    private readonly queue: AccountingQueue,
    private readonly client: RadiusClient,
    opts: PumpOptions = {},
    private readonly log: Logger = nullLogger,
  ) {
    this.retryMinMs = opts.retryMinMs ?? 1000;
    this.retryMaxMs = opts.retryMaxMs ?? 60_000;
    this.backoff = this.retryMinMs;
  }

  /** Queues a record durably, then sends the head if nothing is in flight. */
  record(
    rec: AccountingRecord,
    now: number,
    wallNow: number,
  ): { result: Result<number, RadiusError>; actions: RadiusAction[] } {
    const result = this.queue.enqueue(rec, wallNow);
    return { result, actions: this.pump(now, wallNow) };
  }

  /** Sends the head of the queue when idle and not backing off (also: at start-up). */
  pump(now: number, wallNow: number): RadiusAction[] {
    if (this.inFlight || (this.retryAt !== undefined && now < this.retryAt)) return [];
    this.retryAt = undefined;
    const head = this.queue.head();
    if (!head) return [];
    const { id, actions } = this.client.account(head.record, now, wallNow);
    this.inFlight = { id, seq: head.seq };
    // The client may finish at once (e.g. Busy): feed that back in.
    return this.absorb(actions, now, wallNow);
  }

  /** True when `id` is one of this pump's requests. */
  owns(id: RadiusRequestId): boolean {
    return this.inFlight?.id === id;
  }

  onAcctDone(
    id: RadiusRequestId,
    result: Result<void, RadiusError>,
    now: number,
    wallNow: number,
  ): RadiusAction[] {
    if (!this.inFlight || this.inFlight.id !== id) return [];
    const { seq } = this.inFlight;
    this.inFlight = undefined;
    if (result.ok) {
      this.queue.remove(seq);
      this.backoff = this.retryMinMs;
      return this.pump(now, wallNow);
    }
    this.queue.noteFailure(seq, result.error.message);
    this.retryAt = now + this.backoff;
    this.log.warn("RADIUS accounting not delivered; kept in the queue", {
      code: result.error.code,
      queued: this.queue.size(),
      retryInMs: this.backoff,
    });
    this.backoff = Math.min(this.retryMaxMs, this.backoff * 2);
    return [];
  }

  nextDeadline(): number | undefined {
    return this.inFlight ? undefined : this.retryAt;
  }

  handleTimer(now: number, wallNow: number): RadiusAction[] {
    if (this.retryAt !== undefined && now >= this.retryAt) return this.pump(now, wallNow);
    return [];
  }

  private absorb(actions: RadiusAction[], now: number, wallNow: number): RadiusAction[] {
    const out: RadiusAction[] = [];
    for (const a of actions) {
      if (a.kind === "acct-done" && this.owns(a.id))
        out.push(...this.onAcctDone(a.id, a.result, now, wallNow));
      else out.push(a);
    }
    return out;
  }
}
