/**
 * The IKE SA table: constant-time lookups by cookie pair (Map), tens of thousands of SAs.
 * Keys are hex strings of the 8-byte cookies. Before MM2 a responder knows only the
 * initiator cookie, and an initiator does not yet know the responder cookie, so a second
 * index maps (initiator cookie, peer endpoint) to the SA: retransmitted MM1s find their SA
 * and two peers behind one NAT that happened to pick the same cookie stay apart.
 *
 * Half-open SAs (phase 1 not complete) are capped in total against floods of spoofed MM1s,
 * and per source IP with a generous default (64): dozens of honest clients behind one NAT
 * address arriving together must all get in, so a per-IP limit of "a few" is not used.
 */
export interface TableEntry {
  readonly ckyI: string;
  /** Empty until known. */
  ckyR: string;
  readonly peerKey: string; // "address:port" of the peer as first seen
  readonly peerIp: string;
  halfOpen: boolean;
}

export interface SaTableLimits {
  readonly maxHalfOpen: number;
  readonly maxHalfOpenPerIp: number;
}

export const DEFAULT_SA_TABLE_LIMITS: SaTableLimits = { maxHalfOpen: 4096, maxHalfOpenPerIp: 64 };

export type AdmitResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "half-open-total" | "half-open-per-ip" };

export class SaTable<S extends TableEntry> {
  private readonly byCookies = new Map<string, S>();
  private readonly byInitiator = new Map<string, S>();
  private readonly halfOpenPerIp = new Map<string, number>();
  private halfOpenTotal = 0;

  constructor(private readonly limits: SaTableLimits = DEFAULT_SA_TABLE_LIMITS) {}

  get size(): number {
    return this.byInitiator.size;
  }

  get halfOpenCount(): number {
    return this.halfOpenTotal;
  }

  /** May a new half-open SA from `ip` be created? */
  admit(ip: string): AdmitResult {
    if (this.halfOpenTotal >= this.limits.maxHalfOpen)
      return { ok: false, reason: "half-open-total" };
    if ((this.halfOpenPerIp.get(ip) ?? 0) >= this.limits.maxHalfOpenPerIp) {
      return { ok: false, reason: "half-open-per-ip" };
    }
    return { ok: true };
  }

  add(sa: S): void {
    this.byInitiator.set(initiatorKey(sa.ckyI, sa.peerKey), sa);
    if (sa.ckyR) this.byCookies.set(sa.ckyI + sa.ckyR, sa);
    if (sa.halfOpen) this.countHalfOpen(sa.peerIp, +1);
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
    this.countHalfOpen(sa.peerIp, -1);
  }

  byCookiePair(ckyI: string, ckyR: string): S | undefined {
    return this.byCookies.get(ckyI + ckyR);
  }

  byInitiatorCookie(ckyI: string, peerKey: string): S | undefined {
    return this.byInitiator.get(initiatorKey(ckyI, peerKey));
  }

  /** Follows a peer whose NAT mapping changed: re-keys the initiator-cookie index. */
  movePeer(sa: S & { peerKey: string }, newPeerKey: string, mutate: (sa: S) => void): void {
    this.byInitiator.delete(initiatorKey(sa.ckyI, sa.peerKey));
    mutate(sa);
    this.byInitiator.set(initiatorKey(sa.ckyI, newPeerKey), sa);
  }

  remove(sa: S): void {
    this.byInitiator.delete(initiatorKey(sa.ckyI, sa.peerKey));
    if (sa.ckyR) this.byCookies.delete(sa.ckyI + sa.ckyR);
    if (sa.halfOpen) {
      sa.halfOpen = false;
      this.countHalfOpen(sa.peerIp, -1);
    }
  }

  values(): IterableIterator<S> {
    return this.byInitiator.values();
  }

  private countHalfOpen(ip: string, d: number): void {
    this.halfOpenTotal += d;
    const n = (this.halfOpenPerIp.get(ip) ?? 0) + d;
    if (n <= 0) this.halfOpenPerIp.delete(ip);
    else this.halfOpenPerIp.set(ip, n);
  }
}

function initiatorKey(ckyI: string, peerKey: string): string {
  return `${ckyI}@${peerKey}`;
}
