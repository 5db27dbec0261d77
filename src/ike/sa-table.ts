/**
 * The IKE SA table: constant-time lookups by cookie pair (Map), tens of thousands of SAs.
 * Keys are hex strings of the 8-byte cookies. Before MM2 a responder knows only the
 * initiator cookie, and an initiator does not yet know the responder cookie, so a second
 * index maps (initiator cookie, peer endpoint) to the SA: retransmitted MM1s find their SA
 * and two peers behind one NAT that happened to pick the same cookie stay apart.
 *
 * Half-open SAs (phase 1 not complete) are budgeted by half-open.ts (per address, per prefix,
 * in total, with eviction of spoofable ones); the table keeps the budget in step with its
 * entries.
 */
import { HalfOpenBudget, type HalfOpenLimits } from "./half-open.js";

export interface TableEntry {
  readonly ckyI: string;
  /** Empty until known. */
  ckyR: string;
  readonly peerKey: string; // "address:port" of the peer as first seen
  readonly peerIp: string;
  halfOpen: boolean;
  readonly role?: "initiator" | "responder";
  readonly createdAt?: number;
}

export type SaTableLimits = Partial<HalfOpenLimits>;

export class SaTable<S extends TableEntry> {
  private readonly byCookies = new Map<string, S>();
  private readonly byInitiator = new Map<string, S>();
  readonly halfOpen: HalfOpenBudget<S>;

  constructor(limits: SaTableLimits = {}) {
    this.halfOpen = new HalfOpenBudget<S>(limits);
  }

  get size(): number {
    return this.byInitiator.size;
  }

  get halfOpenCount(): number {
    return this.halfOpen.count;
  }

  add(sa: S): void {
    this.byInitiator.set(initiatorKey(sa.ckyI, sa.peerKey), sa);
    if (sa.ckyR) this.byCookies.set(sa.ckyI + sa.ckyR, sa);
    if (sa.halfOpen) this.halfOpen.add(sa);
  }

  /** Records the responder cookie once it is known (initiator side, on MM2). */
  setResponderCookie(sa: S, ckyR: string): void {
    if (sa.ckyR) this.byCookies.delete(sa.ckyI + sa.ckyR);
    sa.ckyR = ckyR;
    this.byCookies.set(sa.ckyI + ckyR, sa);
  }

  markEstablished(sa: S): void {
    if (!sa.halfOpen) return;
    sa.halfOpen = false;
    this.halfOpen.remove(sa);
  }

  byCookiePair(ckyI: string, ckyR: string): S | undefined {
    return this.byCookies.get(ckyI + ckyR);
  }

  byInitiatorCookie(ckyI: string, peerKey: string): S | undefined {
    return this.byInitiator.get(initiatorKey(ckyI, peerKey));
  }

  remove(sa: S): void {
    this.byInitiator.delete(initiatorKey(sa.ckyI, sa.peerKey));
    if (sa.ckyR) this.byCookies.delete(sa.ckyI + sa.ckyR);
    if (sa.halfOpen) {
      sa.halfOpen = false;
      this.halfOpen.remove(sa);
    }
  }
}

function initiatorKey(ckyI: string, peerKey: string): string {
  return `${ckyI}@${peerKey}`;
}
