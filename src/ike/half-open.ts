/**
 * The responder's budget of half-open IKE SAs (phase 1 not complete) against floods of spoofed
 * MM1/AM1s. A spoofer never sees our MM2, so it cannot send the MM3 that echoes our cookie;
 * a real client sends MM3 one round trip after MM1. Hence:
 *  - budgets per source address (default 64: many honest clients behind one NAT address),
 *    per prefix (/24 for IPv4, /48 for IPv6; default 512) and in total (default 4096): a
 *    flood from one prefix fills only that prefix's share;
 *  - when a budget is full, the oldest half-open SA of that scope that never saw MM3 (nor AM3)
 *    is evicted for the newcomer: under a flood from every prefix the table turns over in
 *    (cap / flood rate) seconds, and a real client that answers within that time gets in;
 *    only when every half-open SA of the scope has progressed is the newcomer refused;
 *  - above half the total cap ("pressure") new half-open SAs live pressureTimeoutSeconds
 *    (default 5 s) instead of the configured timeout, and a sweep every second expires older
 *    ones that never saw MM3, until use falls to a quarter of the cap;
 *  - refusals, evictions and expiries of spoofable half-open SAs are counted
 *    (ike_half_open_refused{reason}, ike_half_open_evicted, ike_half_open_expired) and logged
 *    as one warning line per SUMMARY_INTERVAL_MS with the counts, never one per packet;
 *  - per SA the responder keeps a SHA-256 digest of the last request (duplicate detection),
 *    not its bytes, and SAi_b (needed for HASH_I/HASH_R) only up to MAX_SAI_B octets.
 * Initiator SAs (ours) count in the totals but are never evicted.
 */
import { createHash } from "node:crypto";
import type { EngineContext } from "./context.js";
import type { IkeSa } from "./ike-sa.js";
import type { Endpoint } from "./types.js";

/** Largest SA payload body (SAi_b) kept from an MM1/AM1 (about 200 transforms). */
export const MAX_SAI_B = 8192;
export const SUMMARY_INTERVAL_MS = 10_000;
const SWEEP_EVERY_MS = 1_000;

export interface HalfOpenLimits {
  readonly maxHalfOpen: number;
  readonly maxHalfOpenPerIp: number;
  readonly maxHalfOpenPerPrefix: number;
  /** Lifetime of a half-open SA while more than half the total cap is in use. */
  readonly pressureTimeoutSeconds: number;
}

export const DEFAULT_HALF_OPEN_LIMITS: HalfOpenLimits = {
  maxHalfOpen: 4096,
  maxHalfOpenPerIp: 64,
  maxHalfOpenPerPrefix: 512,
  pressureTimeoutSeconds: 5,
};

/** What the budget needs to know of a table entry. */
export interface HalfOpenEntry {
  readonly peerIp: string;
  readonly role?: "initiator" | "responder";
  readonly createdAt?: number;
}

export type HalfOpenRefusal = "half-open-total" | "half-open-per-ip" | "half-open-per-prefix";

export type AdmitResult<S> =
  | { readonly ok: true; readonly evict?: S }
  | { readonly ok: false; readonly reason: HalfOpenRefusal };

/**
 * Evictable entries (responders that have not seen MM3) in arrival order: an array with a head
 * index and lazy deletion (a Set iterated from its start would skip over every deleted entry).
 */
class Fifo<S> {
  private items: S[] = [];
  private head = 0;
  private readonly live = new Set<S>();

  add(s: S): void {
    this.live.add(s);
    this.items.push(s);
  }

  delete(s: S): void {
    if (!this.live.delete(s)) return;
    if (this.live.size === 0) {
      this.items = [];
      this.head = 0;
    }
  }

  first(): S | undefined {
    const it = this.items;
    while (this.head < it.length && !this.live.has(it[this.head]!)) this.head++;
    if (this.head > 1024 && this.head * 2 > it.length) {
      this.items = it.slice(this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }

  *values(): Generator<S> {
    for (let i = this.head; i < this.items.length; i++) {
      const s = this.items[i]!;
      if (this.live.has(s)) yield s;
    }
  }
}

interface Bucket<S> {
  count: number;
  readonly waiting: Fifo<S>;
}

/** The /24 (IPv4) or /48 (IPv6) an address belongs to. */
export function prefixOf(ip: string): string {
  if (!ip.includes(":")) {
    const i = ip.lastIndexOf(".");
    return i < 0 ? ip : ip.slice(0, i);
  }
  const [head = "", tail] = ip.split("::", 2);
  const h = head === "" ? [] : head.split(":");
  if (tail !== undefined) {
    const t = tail === "" ? [] : tail.split(":");
    while (h.length + t.length < 8) h.push("0");
    h.push(...t);
  }
  return h
    .slice(0, 3)
    .map((x) => x.toLowerCase().replace(/^0+(?=.)/, ""))
    .join(":");
}

export class HalfOpenBudget<S extends HalfOpenEntry> {
  readonly limits: HalfOpenLimits;
  private readonly all: Bucket<S> = { count: 0, waiting: new Fifo() };
  private readonly byIp = new Map<string, Bucket<S>>();
  private readonly byPrefix = new Map<string, Bucket<S>>();
  // Flood summary since the last warning line.
  readonly pending = { refused: new Map<string, number>(), evicted: 0, expired: 0 };
  summaryArmed = false;
  sweepArmed = false;

  constructor(limits: Partial<HalfOpenLimits> = {}) {
    this.limits = { ...DEFAULT_HALF_OPEN_LIMITS, ...limits };
  }

  get count(): number {
    return this.all.count;
  }

  /** More than half the total cap in use: new half-open SAs get the short lifetime. */
  get underPressure(): boolean {
    return this.all.count * 2 > this.limits.maxHalfOpen;
  }

  /** The sweep, once started, runs until use falls to a quarter of the cap (hysteresis). */
  get sweeping(): boolean {
    return this.all.count * 4 > this.limits.maxHalfOpen;
  }

  /** May a half-open SA from `ip` be created, and which one must make room for it? */
  admit(ip: string): AdmitResult<S> {
    const l = this.limits;
    const checks: [Bucket<S> | undefined, number, HalfOpenRefusal][] = [
      [this.byIp.get(ip), l.maxHalfOpenPerIp, "half-open-per-ip"],
      [this.byPrefix.get(prefixOf(ip)), l.maxHalfOpenPerPrefix, "half-open-per-prefix"],
      [this.all, l.maxHalfOpen, "half-open-total"],
    ];
    for (const [b, max, reason] of checks) {
      if (!b || b.count < max) continue;
      const victim = b.waiting.first();
      return victim ? { ok: true, evict: victim } : { ok: false, reason };
    }
    return { ok: true };
  }

  add(sa: S): void {
    const evictable = sa.role === "responder";
    for (const b of this.buckets(sa, true)) {
      b.count++;
      if (evictable) b.waiting.add(sa);
    }
  }

  /** The peer answered our MM2 (MM3 arrived): no longer a spoofing suspect. */
  progressed(sa: S): void {
    for (const b of this.buckets(sa, false)) b.waiting.delete(sa);
  }

  remove(sa: S): void {
    for (const b of this.buckets(sa, false)) {
      b.count--;
      b.waiting.delete(sa);
    }
    this.prune(this.byIp, sa.peerIp);
    this.prune(this.byPrefix, prefixOf(sa.peerIp));
  }

  /** Evictable entries created before `before` (ms), oldest first. */
  *staleWaiting(before: number): Generator<S> {
    for (const s of this.all.waiting.values()) {
      if ((s.createdAt ?? 0) >= before) return;
      yield s;
    }
  }

  private buckets(sa: S, create: boolean): Bucket<S>[] {
    const out: Bucket<S>[] = [this.all];
    for (const [map, key] of [
      [this.byIp, sa.peerIp],
      [this.byPrefix, prefixOf(sa.peerIp)],
    ] as const) {
      let b = map.get(key);
      if (!b && create) {
        b = { count: 0, waiting: new Fifo() };
        map.set(key, b);
      }
      if (b) out.push(b);
    }
    return out;
  }

  private prune(map: Map<string, Bucket<S>>, key: string): void {
    const b = map.get(key);
    if (b && b.count <= 0) map.delete(key);
  }
}

// ------------------------------------------------------------------------------------------
// Engine-side policy (EngineContext: timers, logs, counters, deleting SAs)

/** Admission of a first message from `remote`; false: refused (counted, summarised). */
export function admitHalfOpen(ctx: EngineContext, remote: Endpoint): boolean {
  const b = ctx.table.halfOpen;
  const r = b.admit(remote.address);
  if (!r.ok) {
    ctx.counters.incLabeled("ike_half_open_refused", "reason", r.reason);
    b.pending.refused.set(r.reason, (b.pending.refused.get(r.reason) ?? 0) + 1);
    armSummary(ctx);
    return false;
  }
  if (r.evict) {
    ctx.counters.inc("ike_half_open_evicted");
    b.pending.evicted++;
    armSummary(ctx);
    ctx.deleteIkeSa(r.evict, "evicted from the half-open table", false, true);
  }
  if (b.underPressure) armSweep(ctx);
  return true;
}

/** When a new half-open responder SA gives up: sooner under pressure. */
export function halfOpenDeadline(ctx: EngineContext): number {
  const b = ctx.table.halfOpen;
  const s = b.underPressure ? b.limits.pressureTimeoutSeconds : ctx.config.halfOpenTimeoutSeconds;
  return ctx.now + s * 1000;
}

/** A responder SA that never saw MM3 (or AM3): the peer may not even exist. */
export function awaitingProof(sa: IkeSa): boolean {
  return sa.role === "responder" && (sa.state === "R_MM2" || sa.state === "R_AM2");
}

/** Deletes a half-open SA that never saw MM3, quietly (counted and summarised). */
export function expireQuietly(ctx: EngineContext, sa: IkeSa): void {
  ctx.counters.inc("ike_half_open_expired");
  ctx.table.halfOpen.pending.expired++;
  armSummary(ctx);
  ctx.deleteIkeSa(sa, "half-open SA expired", false, true);
}

function armSweep(ctx: EngineContext): void {
  const b = ctx.table.halfOpen;
  if (b.sweepArmed) return;
  b.sweepArmed = true;
  ctx.schedule(ctx.now + SWEEP_EVERY_MS, () => {
    b.sweepArmed = false;
    if (!b.sweeping) return;
    const before = ctx.now - b.limits.pressureTimeoutSeconds * 1000;
    for (const sa of [...b.staleWaiting(before)]) expireQuietly(ctx, sa);
    if (b.sweeping) armSweep(ctx);
  });
}

function armSummary(ctx: EngineContext): void {
  const b = ctx.table.halfOpen;
  if (b.summaryArmed) return;
  b.summaryArmed = true;
  ctx.schedule(ctx.now + SUMMARY_INTERVAL_MS, () => {
    b.summaryArmed = false;
    const p = b.pending;
    const refused = Object.fromEntries(p.refused);
    const total = [...p.refused.values()].reduce((a, x) => a + x, 0);
    ctx.log.warn("half-open SA pressure (spoofed MM1 flood?)", {
      seconds: SUMMARY_INTERVAL_MS / 1000,
      refused: total,
      refusedBy: refused,
      evicted: p.evicted,
      expired: p.expired,
      halfOpen: b.count,
      max: b.limits.maxHalfOpen,
    });
    p.refused.clear();
    p.evicted = 0;
    p.expired = 0;
  });
}

/** SHA-256 of a request: what a responder keeps to recognise a retransmission. */
export function messageDigest(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}

/** Is `bytes` the request whose digest is `digest`? */
export function sameMessage(digest: Buffer | undefined, bytes: Uint8Array): boolean {
  return digest !== undefined && messageDigest(bytes).equals(digest);
}
