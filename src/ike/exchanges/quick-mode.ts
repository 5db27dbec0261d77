/**
 * Quick Mode (RFC 2409 §5.5) for ESP, initiator and responder halves side by side:
 *
 *      Initiator                                   Responder
 *   QM1 HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]  -->  responderQm1
 *       initiatorQm2  <--  QM2 HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, NAT-OA..] [, N(RESPONDER-LIFETIME)]
 *   QM3 HDR*, HASH(3)                                              -->  responderQm3
 *
 * Transport and tunnel mode, with and without PFS; encapsulation modes follow the NAT-T method
 * (RFC 3947 §5.1: 3/4; drafts: 61443/61444) when a NAT was detected, else 1/2. NAT-OA
 * (RFC 3947 §5.2) in transport mode: the initiator's original address (Windows sends its
 * private address as IDci and NAT-OAi) is kept for checksum fix-up, the observed address is
 * the SA's peer. Lifetimes: the responder answers the transform as proposed and announces a
 * shorter lifetime of its own with RESPONDER-LIFETIME (RFC 2407 §4.6.3.1); the initiator
 * applies a RESPONDER-LIFETIME it receives. KEYMAT per direction with the SPI of that
 * direction (RFC 2409 §5.5: ours for inbound, the peer's for outbound).
 * The commit bit (RFC 2408 §3.1) is tolerated: we install after QM3 and send no CONNECTED.
 *
 * Left out: AH and IPComp proposals (skipped: a proposal group with any protocol other than
 * ESP is not chosen); ID types other than addresses/subnets/ranges in Quick Mode (refused with
 * INVALID-ID-INFORMATION) — except ID_FQDN, which KB 818043 clients send as IDci and which the
 * responder takes as the peer's host address; lifetimes in kilobytes are carried but only enforced by src/esp.
 */
import { constantTimeEqual, dhGroup, qmHash1, qmHash2, qmHash3 } from "../../crypto/index.js";
import {
  attr,
  Doi,
  type EncryptedIsakmpMessage,
  ExchangeType,
  type IdPayload,
  IdType,
  IpsecAttr,
  type IsakmpMessage,
  LifeType,
  type NatOaPayload,
  NotifyType,
  type Payload,
  PayloadType,
  parseDataAttributeList,
  parseIpAddress,
  ProtocolId,
  type SaPayload,
  Situation,
  serializeDataAttributes,
  serializePayloadChain,
  decodeIpsecAttributes,
} from "../../wire/isakmp/index.js";
import { asOutboundSpi } from "../../wire/esp/esp.js";
import type { EngineContext } from "../context.js";
import { dropReplay, heard, midSeen, rememberMid } from "../liveness.js";
import { messageDigest, sameMessage } from "../half-open.js";
import { IkeErrorCode, failure, type IkeFailure } from "../errors.js";
import {
  type IkeSa,
  type Opened,
  openMessage,
  phase2IvFor,
  type QuickExchange,
  restAfterHash,
  sealMessage,
} from "../ike-sa.js";
import {
  addressSelector,
  natOaAddress,
  selectorAddress,
  selectorFromPayload,
  selectorPayload,
  selectorText,
  toAttribute,
  toDataAttribute,
} from "../identity.js";
import { fipsPhase2 } from "../fips.js";
import { effectiveLifetime, phase2Acceptable } from "../proposals.js";
import { type Phase2Suite, phase2SuiteFromTransform, phase2SuiteToTransform } from "../suites.js";
import {
  type ChildRequest,
  type IkeDatagram,
  type PeerOffer,
  sameEndpoint,
  type TrafficSelector,
} from "../types.js";
import { describePhase2Offer } from "../offer.js";
import { find, findAll, natoaPayloadType, notifyPayload, rules, spiBytes } from "./common.js";
import { sendProtectedNotify } from "./informational.js";

const NONCE_LENGTH = 32;

/** An ID_FQDN client identity as an address selector for `address` (protocol/port kept). */
function fqdnAsAddress(p: IdPayload, address: string): TrafficSelector | undefined {
  return p.idType === IdType.ID_FQDN ? addressSelector(address, p.protocolId, p.port) : undefined;
}
/** How long a finished exchange is kept to answer retransmissions (ms). */
const LINGER_MS = 60_000;

function natOaPayload(sa: IkeSa, address: string): NatOaPayload | undefined {
  const b = parseIpAddress(address);
  if (!b) return undefined;
  return {
    type: natoaPayloadType(sa.vids.natt),
    reserved: 0,
    idType: b.length === 4 ? IdType.ID_IPV4_ADDR : IdType.ID_IPV6_ADDR,
    reserved24: 0,
    address: b,
  };
}

function natOas(payloads: readonly Payload[]): string[] {
  return [
    ...findAll(payloads, PayloadType.NAT_OA),
    ...findAll(payloads, PayloadType.NAT_OA_DRAFT),
  ].flatMap((p) => {
    const a = natOaAddress(p.address);
    return a ? [a] : [];
  });
}

function hashPayload(data: Buffer): Payload {
  return { type: PayloadType.HASH, reserved: 0, data };
}

function qmFail(ctx: EngineContext, sa: IkeSa, f: IkeFailure, offer?: PeerOffer): void {
  ctx.fail("quick-mode", f, sa.peer, sa, { keepSa: true, ...(offer ? { offer } : {}) });
}

/** Names of the Quick Mode identities a QM1 asked for (diagnostics). */
function requestedSelectors(
  ids: readonly Payload[],
  sa: IkeSa,
): { readonly remote: string; readonly local: string } {
  const text = (p: Payload | undefined, dflt: string): string => {
    if (p?.type !== PayloadType.ID) return dflt;
    const s = selectorFromPayload(p);
    return s ? selectorText(s) : `unsupported ID type ${p.idType}`;
  };
  return {
    remote: text(ids[0], `${sa.peer.address} (no IDs sent)`),
    local: text(ids[1], `${sa.local.address} (no IDs sent)`),
  };
}

/**
 * A finished exchange lingers only to answer retransmissions (digest of the last message in, our
 * last message out): the nonces, PFS secret and DH key that made the child's KEYMAT go now,
 * not a minute later.
 */
export function settleQuick(ex: QuickExchange): void {
  ex.ni = undefined;
  ex.nr = undefined;
  ex.gqmxy = undefined;
  ex.dh = undefined;
  ex.natOa = undefined;
}

function linger(ctx: EngineContext, sa: IkeSa, ex: QuickExchange): void {
  ctx.scheduleFor(sa, ctx.now + LINGER_MS, () => {
    if (sa.quick.get(ex.mid) === ex) sa.quick.delete(ex.mid);
  });
}

/** Keeps a received notify's lifetime attributes (RESPONDER-LIFETIME) as seconds / kilobytes. */
function responderLifetime(payloads: readonly Payload[]): { s?: number; kb?: number } {
  const n = findAll(payloads, PayloadType.N).find(
    (x) => x.notifyType === NotifyType.RESPONDER_LIFETIME,
  );
  if (!n) return {};
  const attrs = parseDataAttributeList(n.data);
  if (!attrs.ok) return {};
  const d = decodeIpsecAttributes(attrs.value);
  if (!d.ok) return {};
  const out: { s?: number; kb?: number } = {};
  for (const l of d.value.lifetimes) {
    const v = Number(
      l.duration > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : l.duration,
    );
    if (l.lifeType === LifeType.SECONDS) out.s = v;
    else if (l.lifeType === LifeType.KILOBYTES) out.kb = v;
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Initiator

export function startQuick(
  ctx: EngineContext,
  sa: IkeSa,
  request: ChildRequest,
  rekeyOf?: number,
): void {
  const mid = ctx.newMessageId(sa);
  const ourSpi = ctx.newSpi();
  const p2 = ctx.config.phase2;
  const natt = sa.nat.anyNat ? sa.vids.natt : "none";
  const offers = ctx.config.fips
    ? p2.offers.filter((o) => fipsPhase2({ ...o, pfsGroup: p2.pfsGroup }))
    : p2.offers;
  const transforms = offers.slice(0, 255).map((o, i) => {
    const t = phase2SuiteToTransform(
      {
        cipher: o.cipher,
        keyBits: o.keyBits,
        integrity: o.integrity,
        mode: request.mode,
        pfsGroup: p2.pfsGroup,
        lifeSeconds: p2.lifeSeconds,
        lifeKilobytes: p2.lifeKilobytes,
      },
      natt,
    );
    return {
      reserved: 0,
      number: i + 1,
      transformId: t.transformId,
      reserved2: 0,
      attributes: t.attributes.map(toDataAttribute),
    };
  });
  const saPayload: SaPayload = {
    type: PayloadType.SA,
    reserved: 0,
    doi: Doi.IPSEC,
    situation: Situation.SIT_IDENTITY_ONLY,
    proposals: [
      {
        reserved: 0,
        number: 1,
        protocolId: ProtocolId.PROTO_IPSEC_ESP,
        spi: spiBytes(ourSpi),
        transforms,
      },
    ],
  };
  const ni = ctx.random(NONCE_LENGTH);
  const rest: Payload[] = [saPayload, { type: PayloadType.NONCE, reserved: 0, data: ni }];
  const ex: QuickExchange = {
    mid,
    role: "initiator",
    state: "QM1_SENT",
    iv: Buffer.alloc(0),
    ni,
    ourSpi,
    request,
    ...(rekeyOf !== undefined ? { rekeyOf } : {}),
    startedAt: ctx.now,
  };
  if (p2.pfsGroup !== 0) {
    const g = dhGroup(p2.pfsGroup);
    if (!g.ok) {
      qmFail(
        ctx,
        sa,
        failure(IkeErrorCode.BadRequest, `PFS group ${p2.pfsGroup}: ${g.error.message}`),
      );
      return;
    }
    ex.dh = ctx.newDh(g.value);
    rest.push({ type: PayloadType.KE, reserved: 0, data: ex.dh.publicValue });
  }
  const local = request.local ?? addressSelector(sa.local.address);
  const remote = request.remote ?? addressSelector(sa.peer.address);
  ex.selectors = { local, remote };
  if (!request.omitIds) rest.push(selectorPayload(local), selectorPayload(remote));
  if (request.mode === "transport" && sa.nat.anyNat) {
    const oai = natOaPayload(sa, sa.local.address);
    const oar = natOaPayload(sa, sa.peer.address);
    if (oai && oar) rest.push(oai, oar);
    ex.natOa = { local: sa.local.address };
  }
  const c = sa.crypto!;
  const h = qmHash1(c.prf, sa.keys!.skeyidA, mid, serializePayloadChain(rest).bytes);
  const sealed = sealMessage(
    sa,
    ExchangeType.QUICK_MODE,
    mid,
    [hashPayload(h), ...rest],
    phase2IvFor(sa, mid),
  );
  if (!sealed.ok) {
    qmFail(ctx, sa, sealed.error);
    return;
  }
  ex.iv = sealed.value.lastBlock;
  sa.quick.set(mid, ex);
  sa.log.info("Quick Mode: sending QM1", {
    mid,
    mode: request.mode,
    local: selectorText(local),
    remote: selectorText(remote),
    rekeyOf,
  });
  ctx.send(sa, sealed.value.bytes);
  const r = ctx.retransmit(sa, sealed.value.bytes, () => {
    sa.quick.delete(mid);
    qmFail(ctx, sa, failure(IkeErrorCode.Timeout, `no answer to Quick Mode ${mid.toString(16)}`));
  });
  ex.pending = { bytes: sealed.value.bytes, tries: r.tries, cancel: r.cancel };
}

function initiatorQm2(
  ctx: EngineContext,
  sa: IkeSa,
  ex: QuickExchange,
  o: Opened,
  dg: IkeDatagram,
): void {
  const c = sa.crypto!;
  const hp = o.payloads[0];
  if (
    hp?.type !== PayloadType.HASH ||
    !constantTimeEqual(hp.data, qmHash2(c.prf, sa.keys!.skeyidA, ex.mid, ex.ni!, restAfterHash(o)))
  ) {
    ctx.counters.incLabeled("ike_drop", "reason", "qm2_bad_hash");
    sa.log.warn("QM2 with a bad HASH(2): dropped");
    return;
  }
  heard(ctx, sa);
  const bad = rules("QM2", o.payloads, true);
  if (bad) {
    endInitiator(ctx, sa, ex, bad);
    return;
  }
  const saP = find(o.payloads, PayloadType.SA)!;
  const prop = saP.proposals[0];
  const t = prop?.transforms[0];
  if (
    saP.proposals.length !== 1 ||
    !prop ||
    prop.transforms.length !== 1 ||
    !t ||
    prop.spi.length !== 4 ||
    prop.protocolId !== ProtocolId.PROTO_IPSEC_ESP
  ) {
    endInitiator(
      ctx,
      sa,
      ex,
      failure(
        IkeErrorCode.NoProposalChosen,
        "QM2 must carry one ESP proposal with one transform",
        14,
      ),
    );
    return;
  }
  if (!usableSpi(prop.spi)) {
    endInitiator(
      ctx,
      sa,
      ex,
      failure(IkeErrorCode.NoProposalChosen, "QM2 names a reserved SPI (0-255)", 14),
    );
    return;
  }
  const s = phase2SuiteFromTransform(t.transformId, t.attributes.map(toAttribute));
  if (
    !s.ok ||
    !phase2Acceptable(s.value.suite, ctx.config.phase2.offers, ctx.config.fips) ||
    s.value.suite.mode !== ex.request?.mode
  ) {
    endInitiator(
      ctx,
      sa,
      ex,
      failure(
        IkeErrorCode.NoProposalChosen,
        "the responder chose an ESP transform we did not offer",
        14,
      ),
    );
    return;
  }
  const nr = find(o.payloads, PayloadType.NONCE)!;
  ex.nr = Buffer.from(nr.data);
  if (ex.dh) {
    const ke = find(o.payloads, PayloadType.KE);
    const g = ke ? ex.dh.computeShared(ke.data) : undefined;
    if (!g?.ok) {
      endInitiator(
        ctx,
        sa,
        ex,
        failure(IkeErrorCode.BadKeyExchange, "QM2 without a valid KE for PFS", 17),
      );
      return;
    }
    ex.gqmxy = g.value;
    ex.dh = undefined;
  }
  ex.peerSpi = asOutboundSpi(prop.spi.readUInt32BE(0));
  const rl = responderLifetime(o.payloads);
  let suite: Phase2Suite = s.value.suite;
  if (rl.s !== undefined)
    suite = { ...suite, lifeSeconds: effectiveLifetime(rl.s, suite.lifeSeconds) };
  if (rl.kb !== undefined)
    suite = { ...suite, lifeKilobytes: effectiveLifetime(rl.kb, suite.lifeKilobytes) };
  ex.suite = suite;
  if (suite.mode === "transport" && sa.nat.anyNat) {
    const oa = natOas(o.payloads);
    const remoteOa = oa[1];
    ex.natOa = { local: sa.local.address, ...(remoteOa ? { remote: remoteOa } : {}) };
  }
  const h3 = qmHash3(c.prf, sa.keys!.skeyidA, ex.mid, ex.ni!, ex.nr);
  const sealed = sealMessage(sa, ExchangeType.QUICK_MODE, ex.mid, [hashPayload(h3)], o.lastBlock);
  if (!sealed.ok) {
    endInitiator(ctx, sa, ex, sealed.error);
    return;
  }
  ex.pending?.cancel();
  ex.pending = undefined;
  ex.state = "DONE";
  ex.lastIn = messageDigest(dg.data);
  ex.lastOut = sealed.value.bytes;
  ctx.send(sa, sealed.value.bytes);
  ctx.installChild(sa, ex);
  settleQuick(ex);
  linger(ctx, sa, ex);
}

function endInitiator(ctx: EngineContext, sa: IkeSa, ex: QuickExchange, f: IkeFailure): void {
  ex.pending?.cancel();
  sa.quick.delete(ex.mid);
  if (f.notify)
    sendProtectedNotify(ctx, sa, f.notify, ProtocolId.PROTO_IPSEC_ESP, spiBytes(ex.ourSpi));
  qmFail(ctx, sa, f);
}

// ------------------------------------------------------------------------------------------
// Responder

interface Choice {
  readonly proposalIndex: number;
  readonly transformIndex: number;
  readonly suite: Phase2Suite;
}

/** A 4-octet SPI outside 0-255, which RFC 4303 reserves (the data plane refuses those). */
function usableSpi(spi: Buffer): boolean {
  return spi.length === 4 && spi.readUInt32BE(0) >= 256;
}

function choose(ctx: EngineContext, sa: IkeSa, saP: SaPayload, hasKe: boolean): Choice | undefined {
  const byNumber = new Map<number, number[]>();
  saP.proposals.forEach((p, i) => {
    byNumber.set(p.number, [...(byNumber.get(p.number) ?? []), i]);
  });
  for (const [, group] of byNumber) {
    if (group.length !== 1) continue; // bundles (ESP+IPComp, AH+ESP) are not served
    const pi = group[0]!;
    const p = saP.proposals[pi]!;
    if (p.protocolId !== ProtocolId.PROTO_IPSEC_ESP || !usableSpi(p.spi)) continue;
    for (let ti = 0; ti < p.transforms.length; ti++) {
      const t = p.transforms[ti]!;
      const s = phase2SuiteFromTransform(t.transformId, t.attributes.map(toAttribute));
      if (!s.ok) continue;
      const encapOk = sa.nat.anyNat ? s.value.natt !== "none" : s.value.natt === "none";
      if (!encapOk) continue;
      if (!phase2Acceptable(s.value.suite, ctx.config.phase2.offers, ctx.config.fips)) continue;
      const pfs = s.value.suite.pfsGroup;
      if (pfs !== 0 && (!hasKe || !dhGroup(pfs).ok)) continue;
      if (pfs === 0 && hasKe) continue;
      return { proposalIndex: pi, transformIndex: ti, suite: s.value.suite };
    }
  }
  return undefined;
}

function responderQm1(
  ctx: EngineContext,
  sa: IkeSa,
  msg: EncryptedIsakmpMessage,
  dg: IkeDatagram,
): void {
  const mid = msg.header.messageId;
  const c = sa.crypto!;
  const o = openMessage(c, sa.keys!.encKey, msg, phase2IvFor(sa, mid));
  if (!o.ok) {
    ctx.counters.incLabeled("ike_drop", "reason", "qm1_decrypt");
    sa.log.warn("QM1 does not decrypt: dropped", { why: o.error.message });
    return;
  }
  const hp = o.value.payloads[0];
  if (
    hp?.type !== PayloadType.HASH ||
    !constantTimeEqual(hp.data, qmHash1(c.prf, sa.keys!.skeyidA, mid, restAfterHash(o.value)))
  ) {
    ctx.counters.incLabeled("ike_drop", "reason", "qm1_bad_hash");
    sa.log.warn("QM1 with a bad HASH(1): dropped");
    return;
  }
  // Authenticated but not fresh by itself (IKEv1 has no freshness in QM1): liveness, no move.
  rememberMid(sa, mid);
  heard(ctx, sa);
  // A peer that protects a QM1 with the phase-1 keys has our last phase-1 message: a copy of it
  // for retransmitted MM5/AM3s is no longer needed.
  if (sa.role === "responder") sa.lastOut = undefined;
  const ps = o.value.payloads;
  const bad = rules("QM1", ps, true);
  if (bad) {
    sendProtectedNotify(ctx, sa, bad.notify);
    qmFail(ctx, sa, bad);
    return;
  }
  if (msg.header.flags.commit)
    sa.log.debug("QM1 has the commit bit set: tolerated, no CONNECTED sent");
  const saP = find(ps, PayloadType.SA)!;
  const ke = find(ps, PayloadType.KE);
  const ch = choose(ctx, sa, saP, ke !== undefined);
  const prop = ch ? saP.proposals[ch.proposalIndex] : saP.proposals[0];
  const peerSpiB = prop?.spi.length === 4 ? prop.spi : Buffer.alloc(4);
  if (!ch || !prop) {
    sendProtectedNotify(
      ctx,
      sa,
      NotifyType.NO_PROPOSAL_CHOSEN,
      ProtocolId.PROTO_IPSEC_ESP,
      peerSpiB,
    );
    qmFail(
      ctx,
      sa,
      failure(
        IkeErrorCode.NoProposalChosen,
        `no acceptable Quick Mode proposal from ${sa.peerIdText || sa.peer.address} (NAT ${sa.nat.anyNat ? "detected" : "not detected"})`,
        NotifyType.NO_PROPOSAL_CHOSEN,
      ),
      {
        phase2: describePhase2Offer(saP),
        selectors: requestedSelectors(findAll(ps, PayloadType.ID), sa),
      },
    );
    return;
  }
  const ids = findAll(ps, PayloadType.ID);
  let remoteSel: TrafficSelector | undefined = addressSelector(sa.peer.address);
  let localSel: TrafficSelector | undefined = addressSelector(sa.local.address);
  const oa = natOas(ps);
  let remoteFqdn = false;
  if (ids.length === 2) {
    // KB 818043 clients (Windows XP/2000 NAT-T) may send ID_FQDN as IDci: it stands for the
    // peer's host address (as Libreswan treats it) — its NAT-OA original address if it sent
    // one, else the address we see. An FQDN IDcr stands for our address. The ID payloads are
    // echoed unchanged in QM2.
    remoteSel = fqdnAsAddress(ids[0]!, oa[0] ?? sa.peer.address) ?? selectorFromPayload(ids[0]!);
    localSel = fqdnAsAddress(ids[1]!, sa.local.address) ?? selectorFromPayload(ids[1]!);
    remoteFqdn = ids[0]!.idType === IdType.ID_FQDN;
    if (remoteFqdn || ids[1]!.idType === IdType.ID_FQDN) {
      ctx.counters.inc("ike_qm_fqdn_id");
      sa.log.info("Quick Mode ID_FQDN taken as the host address", {
        remote: remoteSel ? selectorText(remoteSel) : "",
        local: localSel ? selectorText(localSel) : "",
      });
    }
  }
  const mode = ch.suite.mode;
  let peerOriginal = oa[0];
  if (mode === "transport" && sa.nat.anyNat && !peerOriginal && remoteSel && !remoteFqdn)
    peerOriginal = selectorAddress(remoteSel);
  const decision =
    remoteSel && localSel
      ? (ctx.config.childPolicy?.({
          peer: sa.peer,
          peerId: sa.peerIdText,
          mode,
          remote: remoteSel,
          local: localSel,
          ...(peerOriginal ? { peerOriginalAddress: peerOriginal } : {}),
        }) ?? { accept: true as const })
      : { accept: false as const, reason: "unsupported ID type in Quick Mode" };
  if (!decision.accept || !remoteSel || !localSel) {
    sendProtectedNotify(
      ctx,
      sa,
      NotifyType.INVALID_ID_INFORMATION,
      ProtocolId.PROTO_IPSEC_ESP,
      peerSpiB,
    );
    qmFail(
      ctx,
      sa,
      failure(
        IkeErrorCode.IdRefused,
        `Quick Mode identities refused: ${decision.accept ? "" : decision.reason}`,
        18,
      ),
      { phase2: describePhase2Offer(saP), selectors: requestedSelectors(ids, sa) },
    );
    return;
  }
  const p2 = ctx.config.phase2;
  let suite = ch.suite;
  const rest: Payload[] = [];
  const lifeNotify: Payload[] = [];
  if (
    suite.lifeSeconds > p2.lifeSeconds ||
    (p2.lifeKilobytes > 0 && (suite.lifeKilobytes === 0 || suite.lifeKilobytes > p2.lifeKilobytes))
  ) {
    const attrs = [
      attr(IpsecAttr.SA_LIFE_TYPE, LifeType.SECONDS),
      attr(IpsecAttr.SA_LIFE_DURATION, Math.min(suite.lifeSeconds, p2.lifeSeconds)),
    ];
    if (p2.lifeKilobytes > 0) {
      attrs.push(
        attr(IpsecAttr.SA_LIFE_TYPE, LifeType.KILOBYTES),
        attr(IpsecAttr.SA_LIFE_DURATION, effectiveLifetime(suite.lifeKilobytes, p2.lifeKilobytes)),
      );
    }
    lifeNotify.push(
      notifyPayload(
        NotifyType.RESPONDER_LIFETIME,
        ProtocolId.PROTO_IPSEC_ESP,
        Buffer.from(peerSpiB),
        serializeDataAttributes(attrs),
      ),
    );
    suite = {
      ...suite,
      lifeSeconds: effectiveLifetime(suite.lifeSeconds, p2.lifeSeconds),
      lifeKilobytes: effectiveLifetime(suite.lifeKilobytes, p2.lifeKilobytes),
    };
  }
  const ni = find(ps, PayloadType.NONCE)!;
  const ex: QuickExchange = {
    mid,
    role: "responder",
    state: "QM2_SENT",
    iv: Buffer.alloc(0),
    ni: Buffer.from(ni.data),
    nr: ctx.random(NONCE_LENGTH),
    ourSpi: ctx.newSpi(),
    peerSpi: asOutboundSpi(peerSpiB.readUInt32BE(0)),
    suite,
    request: { mode, local: localSel, remote: remoteSel },
    selectors: { local: localSel, remote: remoteSel },
    startedAt: ctx.now,
  };
  if (mode === "transport" && sa.nat.anyNat) {
    ex.natOa = {
      ...(peerOriginal ? { remote: peerOriginal } : {}),
      ...(oa[1] ? { local: oa[1] } : {}),
    };
  }
  const t = prop.transforms[ch.transformIndex]!;
  rest.push(
    { ...saP, proposals: [{ ...prop, spi: spiBytes(ex.ourSpi), transforms: [t] }] },
    { type: PayloadType.NONCE, reserved: 0, data: ex.nr! },
  );
  if (suite.pfsGroup !== 0 && ke) {
    const g = dhGroup(suite.pfsGroup);
    const dh = g.ok ? ctx.newDh(g.value) : undefined;
    const shared = dh?.computeShared(ke.data);
    if (!dh || !shared?.ok) {
      sendProtectedNotify(
        ctx,
        sa,
        NotifyType.INVALID_KEY_INFORMATION,
        ProtocolId.PROTO_IPSEC_ESP,
        peerSpiB,
      );
      qmFail(ctx, sa, failure(IkeErrorCode.BadKeyExchange, "invalid PFS KE in QM1", 17));
      return;
    }
    ex.gqmxy = shared.value;
    rest.push({ type: PayloadType.KE, reserved: 0, data: dh.publicValue });
  }
  if (ids.length === 2) rest.push(ids[0] as IdPayload, ids[1] as IdPayload);
  if (mode === "transport" && sa.nat.anyNat && oa.length > 0) {
    const oai = natOaPayload(sa, sa.peer.address);
    const oar = natOaPayload(sa, sa.local.address);
    if (oai && oar) rest.push(oai, oar);
  }
  rest.push(...lifeNotify);
  const h2 = qmHash2(c.prf, sa.keys!.skeyidA, mid, ex.ni!, serializePayloadChain(rest).bytes);
  const sealed = sealMessage(
    sa,
    ExchangeType.QUICK_MODE,
    mid,
    [hashPayload(h2), ...rest],
    o.value.lastBlock,
  );
  if (!sealed.ok) {
    qmFail(ctx, sa, sealed.error);
    return;
  }
  ex.iv = sealed.value.lastBlock;
  ex.lastIn = messageDigest(dg.data);
  ex.lastOut = sealed.value.bytes;
  sa.quick.set(mid, ex);
  sa.log.info("Quick Mode: QM1 accepted, sending QM2", {
    mid,
    mode,
    local: selectorText(localSel),
    remote: selectorText(remoteSel),
    peerOriginal,
    lifeSeconds: suite.lifeSeconds,
  });
  ctx.send(sa, sealed.value.bytes);
  // QM3 may be lost: repeat QM2 so the initiator repeats QM3 (it answers a duplicate QM2).
  const r = ctx.retransmit(sa, sealed.value.bytes, () => {
    sa.quick.delete(mid);
    qmFail(ctx, sa, failure(IkeErrorCode.Timeout, `no QM3 for Quick Mode ${mid.toString(16)}`));
  });
  ex.pending = { bytes: sealed.value.bytes, tries: r.tries, cancel: r.cancel };
}

function responderQm3(ctx: EngineContext, sa: IkeSa, ex: QuickExchange, o: Opened): void {
  const c = sa.crypto!;
  const hp = o.payloads[0];
  const bad = rules("QM3", o.payloads, true);
  if (
    bad ||
    hp?.type !== PayloadType.HASH ||
    !constantTimeEqual(hp.data, qmHash3(c.prf, sa.keys!.skeyidA, ex.mid, ex.ni!, ex.nr!))
  ) {
    ctx.counters.incLabeled("ike_drop", "reason", "qm3_bad_hash");
    sa.log.warn("QM3 with a bad HASH(3): dropped");
    return;
  }
  heard(ctx, sa);
  ex.pending?.cancel();
  ex.pending = undefined;
  ex.state = "DONE";
  ctx.installChild(sa, ex);
  settleQuick(ex);
  linger(ctx, sa, ex);
}

/** Entry point for every Quick Mode message of an established IKE SA. */
export function handleQuickMode(
  ctx: EngineContext,
  sa: IkeSa,
  msg: IsakmpMessage,
  dg: IkeDatagram,
): void {
  if (!msg.encrypted) {
    ctx.counters.incLabeled("ike_drop", "reason", "qm_cleartext");
    return;
  }
  const mid = msg.header.messageId;
  const ex = sa.quick.get(mid);
  if (ex) {
    if (sameMessage(ex.lastIn, dg.data)) {
      // A retransmission gets our stored answer again, but only from the peer's endpoint: the
      // same bytes from elsewhere are a replay by someone else.
      if (!sameEndpoint(dg.remote, sa.peer)) {
        dropReplay(ctx, sa, "qm_replay", dg.remote);
        return;
      }
      if (ex.lastOut) ctx.send(sa, ex.lastOut);
      return;
    }
    if (ex.role === "responder" && ex.state === "DONE") return;
    const o = openMessage(sa.crypto!, sa.keys!.encKey, msg, ex.iv);
    if (!o.ok) {
      ctx.counters.incLabeled("ike_drop", "reason", "qm_decrypt");
      return;
    }
    if (ex.role === "initiator" && ex.state === "QM1_SENT") {
      initiatorQm2(ctx, sa, ex, o.value, dg);
      return;
    }
    if (ex.role === "responder" && ex.state === "QM2_SENT") {
      responderQm3(ctx, sa, ex, o.value);
      return;
    }
    ctx.counters.incLabeled("ike_drop", "reason", "qm_unexpected");
    return;
  }
  if (mid === 0) {
    ctx.counters.incLabeled("ike_drop", "reason", "qm_mid_zero");
    return;
  }
  if (midSeen(sa, mid)) {
    dropReplay(ctx, sa, "qm_replay", dg.remote);
    return;
  }
  responderQm1(ctx, sa, msg, dg);
}
