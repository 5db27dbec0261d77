/**
 * Informational exchange (RFC 2408 §4.8, RFC 2409 §5.7) and Dead Peer Detection (RFC 3706):
 *  - protected after phase 1: HDR*, HASH(1), N/D with HASH(1) = prf(SKEYID_a, M-ID | N/D);
 *    a fresh IV per message ID (RFC 2409 Appendix B);
 *  - Delete (RFC 2408 §3.15): ISAKMP (the cookie pair) and ESP SPIs;
 *  - notifies: INITIAL-CONTACT (RFC 2407 §4.6.3.3), error notifies that end a pending Quick
 *    Mode, R-U-THERE / R-U-THERE-ACK (RFC 3706 §5) both ways;
 *  - before phase-1 keys exist, an unprotected error notify that carries our cookies from the
 *    peer's address ends the Main Mode attempt (e.g. NO-PROPOSAL-CHOSEN, AUTHENTICATION-FAILED);
 *    after phase 1 unprotected informationals are dropped (RFC 2408 §4.8 makes protection the
 *    norm once keys exist).
 * Replays (liveness.ts): R-U-THERE / R-U-THERE-ACK must carry a fresh sequence number
 * (RFC 3706 §7), other informationals a message ID the peer has not used on this SA; only a
 * fresh DPD exchange may move the SA to a new NAT mapping.
 */
import { constantTimeEqual, informationalHash } from "../../crypto/index.js";
import { NOTIFY_TYPES as NOTIFY_TYPES_TABLE } from "../../registry/ike.js";
import {
  type IsakmpMessage,
  name,
  NotifyType,
  type Payload,
  PayloadType,
  ProtocolId,
} from "../../wire/isakmp/index.js";
import { asSpi, type InboundSpi } from "../../wire/esp/esp.js";
import type { EngineContext } from "../context.js";
import { IkeErrorCode, failure } from "../errors.js";
import {
  acceptAck,
  acceptRuThere,
  dropReplay,
  followPeer,
  freshAck,
  heard,
  judgeRuThere,
  midSeen,
  rememberMid,
} from "../liveness.js";
import {
  type IkeSa,
  openMessage,
  phase2IvFor,
  restAfterHash,
  sealInformational,
} from "../ike-sa.js";
import type { IkeDatagram } from "../types.js";
import { notifyPayload, rules, spiBytes } from "./common.js";

function cookies(sa: IkeSa): Buffer {
  return Buffer.concat([sa.ckyIB, sa.ckyRB]);
}

function sendInfo(ctx: EngineContext, sa: IkeSa, payloads: readonly Payload[]): void {
  if (!sa.keys || !sa.iv || sa.state !== "ESTABLISHED") return;
  const mid = ctx.newMessageId(sa);
  const r = sealInformational(sa, mid, payloads);
  if (r.ok) ctx.send(sa, r.value);
}

export function sendProtectedNotify(
  ctx: EngineContext,
  sa: IkeSa,
  notifyType: number,
  protocolId: number = ProtocolId.PROTO_ISAKMP,
  spi?: Buffer,
  data?: Buffer,
): void {
  if (notifyType === 0) return;
  const s = spi ?? (protocolId === ProtocolId.PROTO_ISAKMP ? cookies(sa) : Buffer.alloc(0));
  sendInfo(ctx, sa, [notifyPayload(notifyType, protocolId, s, data ?? Buffer.alloc(0))]);
}

export function sendDeleteIke(ctx: EngineContext, sa: IkeSa): void {
  sendInfo(ctx, sa, [
    {
      type: PayloadType.D,
      reserved: 0,
      doi: 1,
      protocolId: ProtocolId.PROTO_ISAKMP,
      spiSize: 16,
      spis: [cookies(sa)],
    },
  ]);
}

/** Deletes our child SAs at the peer: we name them by the SPIs we receive on (RFC 2408 §3.15). */
export function sendDeleteEsp(
  ctx: EngineContext,
  sa: IkeSa,
  inboundSpis: readonly InboundSpi[],
): void {
  if (inboundSpis.length === 0) return;
  const spis = inboundSpis.map(spiBytes);
  sendInfo(ctx, sa, [
    {
      type: PayloadType.D,
      reserved: 0,
      doi: 1,
      protocolId: ProtocolId.PROTO_IPSEC_ESP,
      spiSize: 4,
      spis,
    },
  ]);
}

/** RFC 3706 §5: R-U-THERE with the next sequence number. */
export function sendRuThere(ctx: EngineContext, sa: IkeSa): void {
  sa.dpdSeq = (sa.dpdSeq + 1) >>> 0;
  const seq = Buffer.alloc(4);
  seq.writeUInt32BE(sa.dpdSeq);
  sa.dpdOutstanding++;
  sendProtectedNotify(ctx, sa, NotifyType.R_U_THERE, ProtocolId.PROTO_ISAKMP, cookies(sa), seq);
}

function unprotected(
  ctx: EngineContext,
  sa: IkeSa,
  msg: IsakmpMessage & { encrypted: false },
  dg: IkeDatagram,
): void {
  if (sa.state === "ESTABLISHED" || dg.remote.address !== sa.peer.address) {
    ctx.counters.incLabeled("ike_drop", "reason", "info_unprotected");
    return;
  }
  const n = msg.payloads.find((p) => p.type === PayloadType.N && p.notifyType < 16384);
  if (n?.type !== PayloadType.N) return;
  ctx.fail(
    "main-mode",
    failure(
      IkeErrorCode.PeerNotify,
      `${dg.remote.address} refused the Main Mode: ${name(NOTIFY_TYPES_TABLE, n.notifyType)}`,
    ),
    sa.peer,
    sa,
  );
}

export function handleInformational(
  ctx: EngineContext,
  sa: IkeSa,
  msg: IsakmpMessage,
  dg: IkeDatagram,
): void {
  if (!msg.encrypted) {
    unprotected(ctx, sa, msg, dg);
    return;
  }
  if (sa.state !== "ESTABLISHED" || !sa.crypto || !sa.keys) {
    ctx.counters.incLabeled("ike_drop", "reason", "info_before_phase1");
    return;
  }
  const mid = msg.header.messageId;
  if (midSeen(sa, mid)) {
    dropReplay(ctx, sa, "info_replay", dg.remote);
    return;
  }
  const o = openMessage(sa.crypto, sa.keys.encKey, msg, phase2IvFor(sa, mid));
  if (!o.ok) {
    ctx.counters.incLabeled("ike_drop", "reason", "info_decrypt");
    return;
  }
  const hp = o.value.payloads[0];
  const bad = rules("INFO", o.value.payloads, true);
  if (
    bad ||
    hp?.type !== PayloadType.HASH ||
    !constantTimeEqual(
      hp.data,
      informationalHash(sa.crypto.prf, sa.keys.skeyidA, mid, restAfterHash(o.value)),
    )
  ) {
    ctx.counters.incLabeled("ike_drop", "reason", "info_bad_hash");
    sa.log.warn("informational message with a bad or missing HASH: dropped");
    return;
  }
  const rest = o.value.payloads.slice(1);
  const dpd = rest.length > 0 && rest.every(isDpd);
  if (dpd) {
    // DPD messages are judged by their sequence numbers (handleDpd), not remembered.
    for (const p of rest) if (p.type === PayloadType.N) handleDpd(ctx, sa, p, dg);
    return;
  }
  rememberMid(sa, mid);
  heard(ctx, sa);
  for (const p of rest) {
    if ((sa.state as string) === "DELETED") return;
    if (p.type === PayloadType.N) handleNotify(ctx, sa, p, dg);
    else if (p.type === PayloadType.D) handleDelete(ctx, sa, p);
  }
}

function isDpd(p: Payload): boolean {
  return (
    p.type === PayloadType.N &&
    (p.notifyType === NotifyType.R_U_THERE || p.notifyType === NotifyType.R_U_THERE_ACK)
  );
}

/**
 * RFC 3706 §5/§7: a fresh R-U-THERE is answered and proves the peer alive at `dg.remote` (the
 * SA follows it there); a fresh ACK echoes one of our outstanding R-U-THEREs. Replays: dropped.
 */
function handleDpd(
  ctx: EngineContext,
  sa: IkeSa,
  n: Extract<Payload, { type: 11 }>,
  dg: IkeDatagram,
): void {
  if (n.data.length !== 4) {
    ctx.counters.incLabeled("ike_drop", "reason", "dpd_malformed");
    return;
  }
  const seq = n.data.readUInt32BE(0);
  if (n.notifyType === NotifyType.R_U_THERE) {
    const v = judgeRuThere(sa, seq, dg.remote);
    if (v === "replay") {
      dropReplay(ctx, sa, "dpd_replay", dg.remote);
      return;
    }
    if (v === "fresh") {
      acceptRuThere(sa, seq);
      heard(ctx, sa);
      followPeer(ctx, sa, dg.local, dg.remote);
    } else {
      ctx.counters.inc("ike_retransmit_answered");
    }
    sendProtectedNotify(
      ctx,
      sa,
      NotifyType.R_U_THERE_ACK,
      ProtocolId.PROTO_ISAKMP,
      cookies(sa),
      n.data,
    );
    return;
  }
  if (!freshAck(sa, seq)) {
    dropReplay(ctx, sa, "dpd_ack_stale", dg.remote);
    return;
  }
  acceptAck(sa, seq);
  heard(ctx, sa);
  followPeer(ctx, sa, dg.local, dg.remote);
}

function handleNotify(
  ctx: EngineContext,
  sa: IkeSa,
  n: Extract<Payload, { type: 11 }>,
  dg: IkeDatagram,
): void {
  switch (n.notifyType) {
    case NotifyType.R_U_THERE:
    case NotifyType.R_U_THERE_ACK:
      handleDpd(ctx, sa, n, dg);
      return;
    case NotifyType.INITIAL_CONTACT:
      sa.initialContact = true;
      ctx.initialContact(sa);
      return;
    default: {
      const text = name(NOTIFY_TYPES_TABLE, n.notifyType);
      if (n.notifyType >= 16384) {
        sa.log.info("peer status notify", { notify: text });
        return;
      }
      // An error about one of our Quick Modes: end it.
      const spi = n.spi.length === 4 ? asSpi(n.spi.readUInt32BE(0)) : undefined;
      const pending = [...sa.quick.values()].filter(
        (q) => q.role === "initiator" && q.state === "QM1_SENT",
      );
      const ex =
        pending.find((q) => q.ourSpi === spi) ?? (pending.length === 1 ? pending[0] : undefined);
      if (ex) {
        ex.pending?.cancel();
        sa.quick.delete(ex.mid);
        ctx.fail(
          "quick-mode",
          failure(IkeErrorCode.PeerNotify, `${sa.peer.address} refused the Quick Mode: ${text}`),
          sa.peer,
          sa,
          { keepSa: true },
        );
      } else {
        sa.log.warn("peer error notify", { notify: text });
      }
    }
  }
}

function handleDelete(ctx: EngineContext, sa: IkeSa, d: Extract<Payload, { type: 12 }>): void {
  if (d.protocolId === ProtocolId.PROTO_ISAKMP) {
    if (d.spis.some((s) => s.length === 16 && constantTimeEqual(s, cookies(sa)))) {
      ctx.deleteIkeSa(sa, "deleted by the peer", false, false);
    }
    return;
  }
  if (d.protocolId !== ProtocolId.PROTO_IPSEC_ESP) return;
  for (const s of d.spis) {
    if (s.length !== 4) continue;
    // The peer names the SAs it receives on (our outbound SPI); some name ours: both are
    // accepted, among this IKE SA's children only.
    const spi = asSpi(s.readUInt32BE(0));
    for (const cid of sa.children) {
      const c = ctx.children.get(cid);
      if (c && (c.outboundSpi === spi || c.inboundSpi === spi)) {
        ctx.deleteChild(c, "deleted by the peer", false);
        break;
      }
    }
  }
}
