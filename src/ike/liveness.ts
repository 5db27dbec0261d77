/**
 * Liveness and NAT rebinding of established IKE SAs: which authenticated messages prove the
 * peer alive, and which may move the SA (and its child SAs) to a new NAT mapping.
 *
 * IKEv1 Informational and Quick Mode messages carry no freshness of their own: another holder
 * of the pre-shared key who captured them can replay them from its own endpoint. So:
 *  - an SA follows a new endpoint only on evidence that cannot be replayed: ESP that passed
 *    ICV and anti-replay (the engine's `peerMoved`), or a DPD exchange with a fresh sequence
 *    number (RFC 3706 §7): an R-U-THERE numbered above the last one accepted from the peer, or
 *    an R-U-THERE-ACK echoing one of our R-U-THEREs not yet acknowledged;
 *  - replayed R-U-THEREs/ACKs are dropped (ike_drop{reason="dpd_replay"|"dpd_ack_stale"});
 *    the latest R-U-THERE repeated from the peer's current endpoint is answered again (a lost
 *    ACK) but proves nothing;
 *  - message IDs of the peer's Quick Modes and non-DPD informationals are remembered (the last
 *    MID_HISTORY of them per IKE SA) and a repeat is dropped (ike_drop{reason="qm_replay"|
 *    "info_replay"}); DPD messages are covered by their sequence numbers instead;
 *  - other authenticated messages count as liveness, never as a move;
 *  - a move onto an endpoint that another established IKE SA holds is refused
 *    (ike_peer_move_refused), unless that SA is a sibling of the same identity that already
 *    followed this peer from its current endpoint (e.g. an IKE SA and its phase-1 rekey).
 * Sequence numbers compare in serial-number arithmetic (RFC 1982), so a wrap is not a replay.
 * Left out: a cryptographic freshness proof for Quick Mode (IKEv1 has none); a replay of a
 * Quick Mode older than the last MID_HISTORY message IDs is answered with a QM2 but cannot
 * complete (QM3 needs the SA's keys) and moves nothing.
 */
import type { IsakmpMessageId } from "../wire/isakmp/index.js";
import type { EngineContext } from "./context.js";
import type { IkeSa } from "./ike-sa.js";
import { type Endpoint, endpointKey, sameEndpoint } from "./types.js";

/** Peer message IDs remembered per IKE SA (Quick Modes and non-DPD informationals). */
export const MID_HISTORY = 64;

/** a > b in 32-bit serial-number arithmetic (RFC 1982 §3.2). */
export function serialGreater(a: number, b: number): boolean {
  const d = (a - b) >>> 0;
  return d !== 0 && d < 0x80000000;
}

/** Was message ID `mid` already used by the peer on this SA (within the history)? */
export function midSeen(sa: IkeSa, mid: IsakmpMessageId): boolean {
  return sa.peerMids?.includes(mid) ?? false;
}

/** Remembers an authenticated peer message ID (oldest forgotten beyond MID_HISTORY). */
export function rememberMid(sa: IkeSa, mid: IsakmpMessageId): void {
  if (!sa.peerMids) sa.peerMids = [];
  if (sa.peerMids.includes(mid)) return;
  if (sa.peerMids.length >= MID_HISTORY) sa.peerMids.shift();
  sa.peerMids.push(mid);
}

/** A fresh authenticated message: the peer is alive. */
export function heard(ctx: EngineContext, sa: IkeSa): void {
  sa.lastHeard = ctx.now;
  sa.dpdOutstanding = 0;
}

export type RuThereVerdict = "fresh" | "repeat" | "replay";

/**
 * An authenticated R-U-THERE numbered `seq` from `from`: fresh (above the last accepted),
 * a repeat of the last one from the current endpoint (answer again, nothing else), or a replay.
 */
export function judgeRuThere(sa: IkeSa, seq: number, from: Endpoint): RuThereVerdict {
  const last = sa.dpdPeerSeq;
  if (last === undefined || serialGreater(seq, last)) return "fresh";
  if (seq === last && sameEndpoint(from, sa.peer)) return "repeat";
  return "replay";
}

export function acceptRuThere(sa: IkeSa, seq: number): void {
  sa.dpdPeerSeq = seq;
}

/** Does an R-U-THERE-ACK numbered `seq` answer one of our R-U-THEREs not yet acknowledged? */
export function freshAck(sa: IkeSa, seq: number): boolean {
  return serialGreater(seq, sa.dpdAckedSeq) && !serialGreater(seq, sa.dpdSeq);
}

export function acceptAck(sa: IkeSa, seq: number): void {
  sa.dpdAckedSeq = seq;
}

/** Counts and logs (debug) a dropped replay. */
export function dropReplay(ctx: EngineContext, sa: IkeSa, reason: string, from: Endpoint): void {
  ctx.counters.incLabeled("ike_drop", "reason", reason);
  sa.log.debug("replayed message dropped", { reason, from: endpointKey(from) });
}

/** Another established IKE SA that holds `to` (and is not a sibling that followed `sa`'s peer). */
function holderOf(ctx: EngineContext, sa: IkeSa, to: Endpoint): IkeSa | undefined {
  const here = endpointKey(sa.peer);
  for (const o of ctx.sas.values()) {
    if (o === sa || o.state !== "ESTABLISHED" || !sameEndpoint(o.peer, to)) continue;
    if (o.peerIdText === sa.peerIdText && o.movedFrom === here) continue;
    return o;
  }
  return undefined;
}

/**
 * Non-replayable evidence (fresh DPD, or ESP through ICV and anti-replay) that the peer now
 * sends from `to`, received on `local`: move the IKE SA and its child SAs there.
 */
export function followPeer(ctx: EngineContext, sa: IkeSa, local: Endpoint, to: Endpoint): void {
  if (sa.state !== "ESTABLISHED" || sameEndpoint(sa.peer, to)) return;
  if (local.port !== 4500 || !sa.nat.anyNat) {
    ctx.counters.incLabeled("ike_drop", "reason", "endpoint_change_without_natt");
    return;
  }
  const holder = holderOf(ctx, sa, to);
  if (holder) {
    ctx.counters.inc("ike_peer_move_refused");
    sa.log.warn("peer's NAT mapping changed to an endpoint another IKE SA holds: not following", {
      from: endpointKey(sa.peer),
      to: endpointKey(to),
      holder: holder.id,
    });
    return;
  }
  const from = sa.peer;
  sa.movedFrom = endpointKey(from);
  sa.peer = to;
  sa.local = local;
  sa.log.info("peer's NAT mapping changed: following it", {
    from: endpointKey(from),
    to: endpointKey(to),
  });
  ctx.emit({ type: "peer-moved", ikeSaId: sa.id, from, to });
  for (const cid of sa.children) {
    const c = ctx.children.get(cid);
    if (c) {
      ctx.action({
        kind: "update-child-sa-peer",
        childId: c.id,
        inboundSpi: c.inboundSpi,
        outboundSpi: c.outboundSpi,
        peer: to,
      });
    }
  }
}
