/**
 * Aggressive Mode (RFC 2409 §5, §5.4 with pre-shared keys), responder only, with NAT-T
 * (RFC 3947 §3.2, §4: NAT-D in AM2 and AM3, the initiator floats to UDP 4500 for AM3):
 *
 *      Initiator                              Responder
 *   AM1 HDR, SA, KE, Ni, IDii, VID*      -->                        responderAm1
 *                                        <--  AM2 HDR, SA, KE, Nr, IDir, HASH_R, VID*,
 *                                                 NAT-D, NAT-D
 *   AM3 HDR[*], HASH_I, [NAT-D, NAT-D]   -->  (UDP 4500 if NAT)     responderAm3
 *
 * Off by default (config.aggressiveMode): AM2 carries HASH_R, a function of the pre-shared key,
 * to anyone who sends one AM1 with an identity we know — offline dictionary attacks on the PSK
 * become possible, which is why the engine prints AGGRESSIVE_MODE_WARNING at start. Older
 * Android (racoon) uses Aggressive Mode when an "IPsec identifier" is set.
 *
 * The PSK must be chosen before we answer (AM2 is already authenticated): an entry bound to
 * the identity in IDii first, then one bound to the peer's address, then a wildcard entry.
 * AM3 may come encrypted (RFC 2409 §5: "HDR*" is allowed) or not; phase-2 IVs start from the
 * last AM3 ciphertext block, or from the first phase-1 IV when AM3 was in the clear.
 * NAT-D of AM3 is checked against the addresses of AM1 (the exchange the hashes describe);
 * AM3 arriving on UDP 4500 means the initiator saw a NAT.
 *
 * Left out: Aggressive Mode as initiator; signatures in Aggressive Mode (PSK only); the
 * commit bit.
 */
import { describePhase1Offer } from "../offer.js";
import { constantTimeEqual, hashI, hashR } from "../../crypto/index.js";
import { detectNat, natdToSend } from "../../natt/nat-detect.js";
import {
  type CleartextIsakmpMessage,
  ExchangeType,
  type IsakmpMessage,
  isakmpCookie,
  NotifyType,
  type Payload,
  PayloadType,
  serializePayloadBody,
} from "../../wire/isakmp/index.js";
import type { PskEntry } from "../config.js";
import type { EngineContext } from "../context.js";
import { admitHalfOpen, MAX_SAI_B, messageDigest } from "../half-open.js";
import { IkeErrorCode, failure } from "../errors.js";
import { type IkeSa, cleartext, openMessage } from "../ike-sa.js";
import { addressId, idPayload, idText, parseIdPayload } from "../identity.js";
import { endpointKey, type IkeDatagram } from "../types.js";
import {
  find,
  findAll,
  natdHasher,
  natdPayloadType,
  readVendorIds,
  responderVids,
  rules,
} from "./common.js";
import {
  armHalfOpenTimeout,
  chooseProposal,
  deriveAll,
  hashInput,
  newIkeSa,
  secretBytes,
  sendClearNotify,
  setSuite,
} from "./main-mode.js";

const NONCE_LENGTH = 32;

/** The PSK for an Aggressive Mode peer: by its identity, its address, else a wildcard. */
function aggressivePsk(ctx: EngineContext, id: string, address: string): PskEntry | undefined {
  const ps = ctx.config.psks;
  return (
    ps.find((p) => p.id !== undefined && p.id === id) ??
    ps.find((p) => p.address === address && p.id === undefined) ??
    ps.find((p) => p.address === undefined && p.id === undefined)
  );
}

export function responderAm1(
  ctx: EngineContext,
  msg: CleartextIsakmpMessage,
  dg: IkeDatagram,
): void {
  const ckyI = isakmpCookie(Buffer.from(msg.header.initiatorCookie));
  const bad = rules("AM1", msg.payloads, false);
  if (bad) {
    ctx.fail("main-mode", bad, dg.remote);
    return;
  }
  const saSpanOf = msg.spans[msg.payloads.indexOf(find(msg.payloads, PayloadType.SA)!)]!;
  if (saSpanOf.end - saSpanOf.start - 4 > MAX_SAI_B) {
    ctx.counters.incLabeled("ike_drop", "reason", "am1_sa_too_big");
    return;
  }
  if (!admitHalfOpen(ctx, dg.remote)) return;
  const ckyR = isakmpCookie(ctx.random(8));
  const refuse = (code: IkeErrorCode, message: string, notify: number) => {
    ctx.fail(
      "main-mode",
      failure(code, `Aggressive Mode from ${endpointKey(dg.remote)}: ${message}`, notify),
      dg.remote,
      undefined,
      {
        offer: {
          phase1: describePhase1Offer(find(msg.payloads, PayloadType.SA)!),
          vendorIds: readVendorIds(msg.payloads, ctx.config.natt.enabled).names,
        },
      },
    );
    sendClearNotify(ctx, ckyI, ckyR, dg.local, dg.remote, notify);
  };
  const saP = find(msg.payloads, PayloadType.SA)!;
  const pick = chooseProposal(ctx, saP, ["psk"]);
  if (!pick.ok) {
    refuse(
      IkeErrorCode.NoProposalChosen,
      `no acceptable phase-1 proposal (offered: ${pick.offered})`,
      NotifyType.NO_PROPOSAL_CHOSEN,
    );
    return;
  }
  const idP = find(msg.payloads, PayloadType.ID)!;
  const peerId = parseIdPayload(idP);
  if (!peerId) {
    refuse(IkeErrorCode.Payloads, "malformed IDii", NotifyType.INVALID_ID_INFORMATION);
    return;
  }
  const psk = aggressivePsk(ctx, idText(peerId), dg.remote.address);
  if (!psk) {
    refuse(
      IkeErrorCode.NoPsk,
      `no pre-shared key for identity ${idText(peerId)}`,
      NotifyType.AUTHENTICATION_FAILED,
    );
    return;
  }
  const sa = newIkeSa(ctx, "responder", ckyI, ckyR, dg.local, dg.remote);
  sa.state = "R_AM2";
  sa.aggressive = true;
  if (!setSuite(sa, pick.suite, ctx)) {
    refuse(IkeErrorCode.NoProposalChosen, "unsupported suite", NotifyType.NO_PROPOSAL_CHOSEN);
    return;
  }
  const ke = find(msg.payloads, PayloadType.KE)!;
  const ni = find(msg.payloads, PayloadType.NONCE)!;
  const dh = ctx.newDh(sa.crypto!.group);
  const gxy = dh.computeShared(ke.data);
  if (!gxy.ok) {
    refuse(IkeErrorCode.BadKeyExchange, gxy.error.message, NotifyType.INVALID_KEY_INFORMATION);
    return;
  }
  sa.vids = readVendorIds(msg.payloads, ctx.config.natt.enabled);
  const saSpan = msg.spans[msg.payloads.indexOf(saP)]!;
  sa.saiB = Buffer.from(dg.data.subarray(saSpan.start + 4, saSpan.end));
  sa.idiB = serializePayloadBody(idP);
  sa.peerId = peerId;
  sa.peerIdText = idText(peerId);
  sa.gxi = Buffer.from(ke.data);
  sa.ni = Buffer.from(ni.data);
  sa.gxr = dh.publicValue;
  sa.nr = ctx.random(NONCE_LENGTH);
  sa.gxy = gxy.value;
  sa.psk = psk;
  if (!deriveAll(sa, secretBytes(psk))) {
    refuse(IkeErrorCode.Crypto, "key derivation failed", NotifyType.AUTHENTICATION_FAILED);
    return;
  }
  ctx.registerSa(sa);
  const id = idPayload(ctx.config.identity ?? addressId(dg.local.address));
  const h = hashR(hashInput(sa), serializePayloadBody(id));
  const payloads: Payload[] = [
    pick.reply,
    { type: PayloadType.KE, reserved: 0, data: sa.gxr },
    { type: PayloadType.NONCE, reserved: 0, data: sa.nr },
    id,
    { type: PayloadType.HASH, reserved: 0, data: h },
    ...responderVids(sa.vids),
  ];
  if (sa.vids.natt !== "none") {
    // RFC 3947 §3.2: the initiator's NAT-D comes only in AM3, so no Windows-style hiding here.
    for (const hash of natdToSend(natdHasher(sa.crypto!, sa.ckyIB, sa.ckyRB), dg.remote, dg.local))
      payloads.push({ type: natdPayloadType(sa.vids.natt), reserved: 0, hash });
  }
  const bytes = cleartext(sa, ExchangeType.AGGRESSIVE, payloads);
  sa.lastIn = messageDigest(dg.data);
  sa.lastOut = bytes;
  ctx.counters.inc("ike_aggressive_mode");
  sa.log.warn("Aggressive Mode: AM1 accepted, sending AM2 (HASH_R exposed to offline cracking)", {
    peerId: sa.peerIdText,
    psk: psk.name ?? "",
    suite: sa.crypto!.name,
    natt: sa.vids.natt,
  });
  ctx.send(sa, bytes);
  armHalfOpenTimeout(ctx, sa);
}

export function responderAm3(
  ctx: EngineContext,
  sa: IkeSa,
  msg: IsakmpMessage,
  dg: IkeDatagram,
): void {
  let payloads: readonly Payload[];
  if (msg.encrypted) {
    const o = openMessage(sa.crypto!, sa.keys!.encKey, msg, sa.iv!);
    if (!o.ok) {
      authFailed(ctx, sa, dg, "AM3 does not decrypt (wrong pre-shared key?)");
      return;
    }
    payloads = o.value.payloads;
    sa.iv = o.value.lastBlock;
  } else payloads = msg.payloads;
  const bad = rules("AM3", payloads, msg.encrypted);
  if (bad) {
    ctx.fail("main-mode", bad, dg.remote, sa);
    return;
  }
  const hp = find(payloads, PayloadType.HASH);
  if (!hp || !constantTimeEqual(hp.data, hashI(hashInput(sa), sa.idiB!))) {
    authFailed(ctx, sa, dg, "HASH_I does not verify (wrong pre-shared key?)");
    return;
  }
  if (sa.vids.natt !== "none") {
    const natd = [
      ...findAll(payloads, PayloadType.NAT_D),
      ...findAll(payloads, PayloadType.NAT_D_DRAFT),
    ].map((p) => p.hash);
    // sa.local / sa.peer are still AM1's endpoints (UDP 500)
    const det = detectNat(natd, natdHasher(sa.crypto!, sa.ckyIB, sa.ckyRB), sa.local, sa.peer);
    if (det.ok) sa.nat = { ...det.value };
    else sa.log.warn("NAT-T negotiated but AM3 has no usable NAT-D", { why: det.error.message });
    if (dg.local.port === 4500 && !sa.nat.anyNat) {
      // The initiator floated: it saw a NAT our view of the hashes did not show.
      sa.nat = { ...sa.nat, peerBehindNat: true, anyNat: true };
    }
  }
  // RFC 3947 §4: follow the initiator to UDP 4500.
  sa.local = dg.local;
  sa.peer = dg.remote;
  sa.lastIn = messageDigest(dg.data);
  sa.lastOut = undefined;
  ctx.phase1Up(sa);
}

function authFailed(ctx: EngineContext, sa: IkeSa, dg: IkeDatagram, why: string): void {
  ctx.fail(
    "main-mode",
    failure(
      IkeErrorCode.AuthenticationFailed,
      `Aggressive Mode authentication of ${endpointKey(dg.remote)} failed: ${why}`,
      NotifyType.AUTHENTICATION_FAILED,
    ),
    dg.remote,
    sa,
  );
  sendClearNotify(ctx, sa.ckyIB, sa.ckyRB, dg.local, dg.remote, NotifyType.AUTHENTICATION_FAILED);
}
