/**
 * Proposal selection (RFC 2408 §4.2): the responder walks the initiator's transforms in the
 * initiator's order and takes the first one its own configuration accepts; the initiator
 * builds its SA payload from its offers. Lifetimes: a responder in IKEv1 must answer with
 * the transform as proposed, so peer lifetimes are accepted and our own maximum is applied
 * locally (we rekey or expire earlier; phase 2 also tells the peer via RESPONDER-LIFETIME).
 * Windows' DH2048 switch (NegotiateDH2048) filters MODP-2048 out of accepted groups.
 * FIPS mode (fips.ts) filters both directions: nothing unapproved is offered, and a peer's
 * unapproved transform is never chosen, even if an offer in the configuration would match it.
 */
import { fipsGroup, fipsPhase1, fipsPhase2 } from "./fips.js";
import type {
  EspCipher,
  EspIntegrity,
  IkeEncryption,
  IkeHash,
  Phase1Suite,
  Phase2Suite,
} from "./suites.js";

export interface Phase1Offer {
  readonly encryption: IkeEncryption;
  readonly keyBits: number;
  readonly hash: IkeHash;
  readonly group: number;
}

export interface Phase2Offer {
  readonly cipher: EspCipher;
  readonly keyBits: number;
  readonly integrity: EspIntegrity;
}

export interface GroupPolicy {
  /** Windows' NegotiateDH2048: offer and accept MODP-2048 (group 14). */
  readonly negotiateDh2048: boolean;
  /** FIPS mode: only approved suites (fips.ts) are offered and accepted. */
  readonly fips?: boolean;
}

export function acceptedGroups(offers: readonly { group: number }[], gp: GroupPolicy): Set<number> {
  const s = new Set(offers.map((o) => o.group));
  if (!gp.negotiateDh2048) s.delete(14);
  if (gp.fips) for (const g of s) if (!fipsGroup(g)) s.delete(g);
  return s;
}

/** Our phase-1 offers that may go on the wire (or be accepted) under the group policy. */
export function usablePhase1Offers(offers: readonly Phase1Offer[], gp: GroupPolicy): Phase1Offer[] {
  const groups = acceptedGroups(offers, gp);
  return offers.filter((o) => groups.has(o.group) && (!gp.fips || fipsPhase1(o)));
}

export function phase1Matches(s: Phase1Suite, o: Phase1Offer): boolean {
  return (
    s.encryption === o.encryption &&
    s.keyBits === o.keyBits &&
    s.hash === o.hash &&
    s.group === o.group
  );
}

/** Index of the first offered suite (peer order) acceptable to us, or -1. */
export function selectPhase1(
  offered: readonly (Phase1Suite | undefined)[],
  ours: readonly Phase1Offer[],
  gp: GroupPolicy,
): number {
  const usable = usablePhase1Offers(ours, gp);
  return offered.findIndex(
    (s) =>
      s !== undefined && (!gp.fips || fipsPhase1(s)) && usable.some((o) => phase1Matches(s, o)),
  );
}

export function phase2Matches(s: Phase2Suite, o: Phase2Offer): boolean {
  return s.cipher === o.cipher && s.keyBits === o.keyBits && s.integrity === o.integrity;
}

/** A peer's (or chosen) ESP suite we accept: one of our offers, and approved in FIPS mode. */
export function phase2Acceptable(
  s: Phase2Suite,
  ours: readonly Phase2Offer[],
  fips: boolean | undefined,
): boolean {
  if (fips && !fipsPhase2(s)) return false;
  return ours.some((o) => phase2Matches(s, o) && (!fips || fipsPhase2(o)));
}

/** Clamp a peer's lifetime to our maximum; 0 on either side means "no limit of this kind". */
export function effectiveLifetime(peer: number, ourMax: number): number {
  if (peer === 0) return ourMax;
  if (ourMax === 0) return peer;
  return Math.min(peer, ourMax);
}
