/**
 * The server's memory of recent connection failures: per peer address, the last few failures
 * (step, code, reason, what the peer offered, its vendor IDs, the explanation), for
 * `oakley diagnose --recent | --peer ADDRESS` and the monitor.
 *
 * Bounded whatever the peers send: at most `maxPeers` addresses and `perPeer` records each,
 * every string and list cut to a fixed size (control characters replaced), and identical failures in a row folded into one
 * record with a count (a client retrying the same offer every few seconds fills nothing). When
 * full, the peer heard from least recently goes first — preferring one whose failures all came
 * from a first message (an MM1 with no SA behind it, whose source address may be spoofed) over
 * one that got further, so a flood of spoofed MM1s does not push out real clients' records.
 * Evictions are counted (`evicted`, and `diag_failures_evicted{what=…}`).
 */
import type { FailureRecord, FailureReport, FailureStep } from "../control/index.js";
import type { Counters } from "../obs/counters.js";

export interface FailureEntry {
  /** Wall-clock ms. */
  readonly at: number;
  readonly peer: { readonly address: string; readonly port: number };
  readonly step: FailureStep;
  readonly code: string;
  readonly reason: string;
  readonly offered: readonly string[];
  readonly vendorIds: readonly string[];
  readonly client?: string;
  readonly user?: string;
  readonly explanation: string;
  /** The peer proved it receives at its address (it answered us: an SA existed). */
  readonly verified: boolean;
}

interface Stored extends FailureEntry {
  firstAt: number;
  lastAt: number;
  count: number;
}

interface PeerSlot {
  readonly records: Stored[];
  verified: boolean;
}

export interface FailureRingOptions {
  readonly maxPeers?: number;
  readonly perPeer?: number;
  readonly counters?: Counters;
}

export const DEFAULT_MAX_PEERS = 256;
export const DEFAULT_PER_PEER = 8;
const MAX_TEXT = 400;
const MAX_ITEM = 120;
const MAX_ITEMS = 16;

// Peer-chosen text (PPP user names, in reasons too) must not carry terminal escapes to
// `oakley diagnose`: control characters become "?".
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const cut = (s: string, n: number): string => {
  const t = s.replace(CONTROL, "?");
  return t.length <= n ? t : `${t.slice(0, n - 1)}…`;
};
const cutList = (xs: readonly string[]): string[] =>
  xs.slice(0, MAX_ITEMS).map((x) => cut(x, MAX_ITEM));

export class FailureRing {
  readonly maxPeers: number;
  readonly perPeer: number;
  /** Insertion order = least recently heard first (a peer is re-inserted when it fails again). */
  private readonly peers = new Map<string, PeerSlot>();
  private evictedPeers = 0;
  private evictedRecords = 0;

  constructor(private readonly o: FailureRingOptions = {}) {
    this.maxPeers = Math.max(1, o.maxPeers ?? DEFAULT_MAX_PEERS);
    this.perPeer = Math.max(1, o.perPeer ?? DEFAULT_PER_PEER);
  }

  get size(): number {
    return this.peers.size;
  }

  record(e: FailureEntry): void {
    const address = cut(e.peer.address, 64);
    let slot = this.peers.get(address);
    if (slot) {
      this.peers.delete(address);
    } else {
      if (this.peers.size >= this.maxPeers) this.evictOne();
      slot = { records: [], verified: false };
    }
    this.peers.set(address, slot);
    slot.verified ||= e.verified;
    const last = slot.records[slot.records.length - 1];
    const entry: FailureEntry = {
      ...e,
      peer: { address, port: e.peer.port },
      code: cut(e.code, 64),
      reason: cut(e.reason, MAX_TEXT),
      offered: cutList(e.offered),
      vendorIds: cutList(e.vendorIds),
      ...(e.client !== undefined ? { client: cut(e.client, MAX_ITEM) } : {}),
      ...(e.user !== undefined ? { user: cut(e.user, 64) } : {}),
      explanation: cut(e.explanation, MAX_TEXT),
    };
    if (last && sameFailure(last, entry)) {
      last.count++;
      last.lastAt = e.at;
      return;
    }
    slot.records.push({ ...entry, firstAt: e.at, lastAt: e.at, count: 1 });
    if (slot.records.length > this.perPeer) {
      slot.records.shift();
      this.evicted("record");
    }
  }

  /** Newest peers first; `peer` limits it to one address. */
  report(query: { readonly peer?: string } = {}): FailureReport {
    const iso = (ms: number) => new Date(ms).toISOString();
    const out: { address: string; failures: FailureRecord[] }[] = [];
    for (const [address, slot] of this.peers) {
      if (query.peer !== undefined && address !== query.peer) continue;
      out.push({
        address,
        failures: slot.records.map((r) => ({
          at: iso(r.lastAt),
          firstAt: iso(r.firstAt),
          count: r.count,
          peer: r.peer,
          step: r.step,
          code: r.code,
          reason: r.reason,
          offered: r.offered,
          vendorIds: r.vendorIds,
          ...(r.client !== undefined ? { client: r.client } : {}),
          ...(r.user !== undefined ? { user: r.user } : {}),
          explanation: r.explanation,
        })),
      });
    }
    out.reverse();
    return {
      peers: out,
      limits: { peers: this.maxPeers, perPeer: this.perPeer },
      evicted: { peers: this.evictedPeers, records: this.evictedRecords },
    };
  }

  private evictOne(): void {
    // The least recently heard unverified peer among the oldest few, else the oldest peer.
    let victim: string | undefined;
    let first: string | undefined;
    let scanned = 0;
    for (const [address, slot] of this.peers) {
      first ??= address;
      if (!slot.verified) {
        victim = address;
        break;
      }
      if (++scanned >= 64) break;
    }
    victim ??= first;
    if (victim === undefined) return;
    const slot = this.peers.get(victim);
    this.peers.delete(victim);
    this.evicted("peer");
    for (const _ of slot?.records ?? []) this.evicted("record");
  }

  private evicted(what: "peer" | "record"): void {
    if (what === "peer") this.evictedPeers++;
    else this.evictedRecords++;
    this.o.counters?.incLabeled("diag_failures_evicted", "what", what);
  }
}

function sameFailure(a: FailureEntry, b: FailureEntry): boolean {
  return (
    a.step === b.step &&
    a.code === b.code &&
    a.reason === b.reason &&
    a.explanation === b.explanation &&
    a.peer.port === b.peer.port &&
    a.offered.length === b.offered.length &&
    a.offered.every((x, i) => x === b.offered[i])
  );
}
