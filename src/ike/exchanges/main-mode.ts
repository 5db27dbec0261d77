/**
 * Main Mode (RFC 2409 §5, Identity Protection exchange of RFC 2408 §4.5) with pre-shared keys,
 * with NAT Traversal (RFC 3947: vendor IDs in MM1/MM2, NAT-D in MM3/MM4, float to UDP 4500
 * before MM5) — initiator and responder halves side by side:
 *
 *      Initiator                         Responder
 *   MM1 HDR, SA, VID*             -->                      responderMm1
 *       initiatorMm2              <--   MM2 HDR, SA, VID*
 *   MM3 HDR, KE, Ni, NAT-D, NAT-D -->                      responderMm3
 *       initiatorMm4              <--   MM4 HDR, KE, Nr, NAT-D, NAT-D
 *   MM5 HDR*, IDii, HASH_I [N]    -->   (UDP 4500 if NAT)  responderMm5
 *       (signatures: IDii, CERT, SIG_I)
 *       initiatorMm6              <--   MM6 HDR*, IDir, HASH_R  (or IDir, CERT, SIG_R)
 *
 * The initiator checks the client NAT policy after MM4 and refuses with a
 * message naming the setting. The responder picks the PSK by trying each candidate (config.ts)
 * until HASH_I verifies, and applies the Windows-friendly NAT-D when it is behind a NAT.
 * Retransmitted requests get the cached answer (the engine compares raw bytes first).
 *
 * Authentication (RFC 2409 §5): pre-shared keys (HASH_I/HASH_R), or RSA signatures (§5.1):
 * SKEYID = prf(Ni_b | Nr_b, g^xy); CERTREQ with our CAs' DNs in MM3/MM4; MM5/MM6 carry
 * ID, CERT (X.509, encoding 4) and SIG over HASH_I/HASH_R (exchanges/cert-auth.ts). A
 * certificate or signature failure is final (INVALID-CERTIFICATE / AUTHENTICATION-FAILED
 * notify), unlike a bad PSK hash in MM6, which may be a corrupted copy.
 *
 * Left out here: Aggressive Mode (aggressive-mode.ts); phase-1 RESPONDER-LIFETIME; DSS.
 */
import { own } from "../../base/bytes.js";
import {
  constantTimeEqual,
  deriveKeys,
  deriveSkeyidPsk,
  deriveSkeyidSig,
  hashI,
  hashR,
  phase1Iv,
} from "../../crypto/index.js";
import { detectNat, natdToSend } from "../../natt/nat-detect.js";
import { secret } from "../../obs/log.js";
import { checkNatPolicy } from "../../natt/nat-policy.js";
import {
  type CleartextIsakmpMessage,
  Doi,
  type EncryptedIsakmpMessage,
  ExchangeType,
  IsakmpTransformId,
  type IsakmpCookie,
  isakmpCookie,
  NotifyType,
  type Payload,
  PayloadType,
  ProtocolId,
  type SaPayload,
  Situation,
  serializeIsakmpMessage,
  serializePayloadBody,
  ZERO_COOKIE,
  NO_FLAGS,
} from "../../wire/isakmp/index.js";
import { type AuthMethod, authMethodsOf, type PskEntry } from "../config.js";
import type { EngineContext } from "../context.js";
import {
  admitHalfOpen,
  awaitingProof,
  expireQuietly,
  halfOpenDeadline,
  MAX_SAI_B,
  messageDigest,
} from "../half-open.js";
import { heard } from "../liveness.js";
import { IkeErrorCode, type IkeFailure, failure } from "../errors.js";
import {
  cleartext,
  type IkeSa,
  type Opened,
  openMessage,
  PHASE1_MESSAGE_ID,
  sealMessage,
} from "../ike-sa.js";
import {
  addressId,
  idPayload,
  idText,
  parseIdPayload,
  toAttribute,
  toDataAttribute,
} from "../identity.js";
import { selectPhase1, usablePhase1Offers } from "../proposals.js";
import { describePhase1Offer } from "../offer.js";
import {
  isSignatureAuth,
  type Phase1Suite,
  phase1SuiteFromAttributes,
  phase1SuiteToAttributes,
} from "../suites.js";
import { type Endpoint, endpointKey, type IkeDatagram, type IkeRole } from "../types.js";
import {
  cryptoFor,
  find,
  findAll,
  initiatorVids,
  natdHasher,
  natdPayloadType,
  notifyPayload,
  readVendorIds,
  responderVids,
  rules,
  vid,
} from "./common.js";
import {
  certAndSigPayloads,
  certRequestPayloads,
  certUsable,
  ourCertIdentity,
  verifyPeerSignature,
} from "./cert-auth.js";

const NONCE_LENGTH = 32;

export function newIkeSa(
  ctx: EngineContext,
  role: IkeRole,
  ckyI: IsakmpCookie,
  ckyR: IsakmpCookie,
  local: Endpoint,
  peer: Endpoint,
): IkeSa {
  const id = ctx.nextSaId();
  return {
    id,
    role,
    state: role === "initiator" ? "I_MM1" : "R_MM2",
    ckyI: ckyI.toString("hex"),
    ckyR: role === "responder" ? ckyR.toString("hex") : "",
    peerKey: endpointKey(peer),
    peerIp: peer.address,
    halfOpen: true,
    // Own copies: the cookies live as long as the SA, the message they came in does not.
    ckyIB: isakmpCookie(own(ckyI)),
    ckyRB: isakmpCookie(own(ckyR)),
    local,
    peer,
    log: ctx.log.child({ sa: `${ckyI.toString("hex")}`, peer: endpointKey(peer), role }),
    createdAt: ctx.now,
    vids: { names: [], dpd: false, windows: false, initialContact: false, natt: "none" },
    nat: { localBehindNat: false, peerBehindNat: false, anyNat: false },
    peerIdText: "",
    initialContact: false,
    quick: new Map(),
    children: new Set(),
    waiting: [],
    lastHeard: ctx.now,
    dpdSeq: 0,
    dpdAckedSeq: 0,
    dpdOutstanding: 0,
    cancelTimers: new Set(),
  };
}

function ourIdentity(ctx: EngineContext, sa: IkeSa) {
  if (ctx.config.identity) return ctx.config.identity;
  if (isSignatureAuth(sa.suite?.auth) && certUsable(ctx.certs)) return ourCertIdentity(ctx.certs);
  return addressId(sa.local.address);
}

/**
 * The configured authentication methods we can actually perform: a signature method needs our
 * credentials and becomes the one our key makes (RSA or ECDSA on its curve).
 */
export function usableAuth(ctx: EngineContext): AuthMethod[] {
  // FIPS mode: PSK only (IKEv1 signatures are not an approved scheme, see fips.ts).
  const out: AuthMethod[] = [];
  for (const m of authMethodsOf(ctx.config)) {
    const u =
      m === "psk"
        ? m
        : !ctx.config.fips && certUsable(ctx.certs)
          ? ctx.certs.local.method
          : undefined;
    if (u && !out.includes(u)) out.push(u);
  }
  return out;
}

function groupPolicy(ctx: EngineContext): { negotiateDh2048: boolean; fips: boolean } {
  return { negotiateDh2048: ctx.config.phase1.negotiateDh2048, fips: ctx.config.fips === true };
}

function offeredSaPayload(ctx: EngineContext): SaPayload {
  const c = ctx.config.phase1;
  const offers = usablePhase1Offers(c.offers, groupPolicy(ctx));
  const transforms = usableAuth(ctx)
    .flatMap((auth) => offers.map((o) => ({ o, auth })))
    .slice(0, 255)
    .map(({ o, auth }, i) => ({
      reserved: 0,
      number: i + 1,
      transformId: IsakmpTransformId.KEY_IKE,
      reserved2: 0,
      attributes: phase1SuiteToAttributes({
        ...o,
        auth,
        lifeSeconds: c.lifeSeconds,
        lifeKilobytes: 0,
      }).map(toDataAttribute),
    }));
  return {
    type: PayloadType.SA,
    reserved: 0,
    doi: Doi.IPSEC,
    situation: Situation.SIT_IDENTITY_ONLY,
    proposals: [
      {
        reserved: 0,
        number: 1,
        protocolId: ProtocolId.PROTO_ISAKMP,
        spi: Buffer.alloc(0),
        transforms,
      },
    ],
  };
}

/** PSK for a peer we connect to: by its address, else a wildcard entry. */
function initiatorPsk(ctx: EngineContext, peer: Endpoint): PskEntry | undefined {
  const ps = ctx.config.psks;
  return (
    ps.find((p) => p.address === peer.address) ??
    ps.find((p) => p.id === peer.address) ??
    ps.find((p) => p.address === undefined && p.id === undefined)
  );
}

/** Candidate PSKs for a responder, most specific first (see config.ts). */
function responderPsks(ctx: EngineContext, peer: Endpoint): PskEntry[] {
  const ps = ctx.config.psks;
  const out = [
    ...ps.filter((p) => p.address === peer.address),
    ...ps.filter((p) => p.address === undefined && p.id !== undefined),
    ...ps.filter((p) => p.address === undefined && p.id === undefined),
  ];
  return [...new Set(out)].slice(0, 32);
}

export function secretBytes(p: PskEntry): Buffer {
  return typeof p.secret === "string" ? Buffer.from(p.secret, "utf8") : Buffer.from(p.secret);
}

function nonce(ctx: EngineContext): Buffer {
  return ctx.random(NONCE_LENGTH);
}

/** Sends an unprotected notify (before phase-1 keys exist), RFC 2408 §4.8. */
export function sendClearNotify(
  ctx: EngineContext,
  ckyI: IsakmpCookie,
  ckyR: IsakmpCookie,
  from: Endpoint,
  to: Endpoint,
  notifyType: number,
): void {
  const bytes = serializeIsakmpMessage(
    {
      initiatorCookie: ckyI,
      responderCookie: ckyR,
      majorVersion: 1,
      minorVersion: 0,
      exchangeType: ExchangeType.INFORMATIONAL,
      flags: NO_FLAGS,
      messageId: PHASE1_MESSAGE_ID,
    },
    [notifyPayload(notifyType, ProtocolId.PROTO_ISAKMP, Buffer.concat([ckyI, ckyR]))],
  );
  ctx.sendFrom(from, to, bytes);
}

export function setSuite(sa: IkeSa, s: Phase1Suite, ctx: EngineContext): boolean {
  const c = cryptoFor(s);
  if (!c.ok) return false;
  sa.suite = s;
  sa.crypto = c.value;
  sa.log = sa.log.child({ suite: c.value.name });
  void ctx;
  return true;
}

/**
 * SKEYID (RFC 2409 §5): prf(pre-shared-key, Ni_b | Nr_b) with a PSK, prf(Ni_b | Nr_b, g^xy)
 * for signatures (psk undefined); then SKEYID_d/_a/_e, the cipher key and the first IV.
 */
export function deriveAll(sa: IkeSa, psk: Buffer | undefined): boolean {
  const c = sa.crypto;
  if (!c || !sa.ni || !sa.nr || !sa.gxy || !sa.gxi || !sa.gxr) return false;
  const skeyid = psk
    ? deriveSkeyidPsk(c.prf, psk, sa.ni, sa.nr)
    : deriveSkeyidSig(c.prf, sa.ni, sa.nr, sa.gxy);
  const k = deriveKeys({
    prf: c.prf,
    skeyid,
    gxy: sa.gxy,
    ckyI: sa.ckyIB,
    ckyR: sa.ckyRB,
    encKeyLength: c.cipher.keyLength,
  });
  if (!k.ok) return false;
  sa.keys = { skeyid, ...k.value };
  sa.iv = phase1Iv(c.hash, sa.gxi, sa.gxr, c.cipher.blockSize);
  return true;
}

export function hashInput(sa: IkeSa) {
  const c = sa.crypto!;
  return {
    prf: c.prf,
    skeyid: sa.keys!.skeyid!,
    gxi: sa.gxi!,
    gxr: sa.gxr!,
    ckyI: sa.ckyIB,
    ckyR: sa.ckyRB,
    saiB: sa.saiB!,
  };
}

/** HASH payload (pre-shared key) or CERT + SIG payloads (RSA signatures) over `h`. */
function authPayloads(ctx: EngineContext, sa: IkeSa, h: Buffer): Payload[] {
  if (isSignatureAuth(sa.suite?.auth) && certUsable(ctx.certs))
    return certAndSigPayloads(ctx.certs.local, h);
  return [{ type: PayloadType.HASH, reserved: 0, data: h }];
}

// ------------------------------------------------------------------------------------------
// Initiator

export function startMainMode(ctx: EngineContext, local: Endpoint, peer: Endpoint): IkeSa {
  const sa = newIkeSa(
    ctx,
    "initiator",
    isakmpCookie(ctx.random(8)),
    isakmpCookie(Buffer.from(ZERO_COOKIE)),
    local,
    peer,
  );
  const saPayload = offeredSaPayload(ctx);
  sa.saiB = serializePayloadBody(saPayload);
  ctx.registerSa(sa);
  const bytes = cleartext(sa, ExchangeType.IDENTITY_PROTECTION, [
    saPayload,
    ...(ctx.config.initiatorVendorIds?.map((b) => vid(b)) ??
      initiatorVids(ctx.config.natt.enabled, ctx.config.fragmentation?.enabled !== false)),
  ]);
  sa.log.info("Main Mode: sending MM1", { transforms: saPayload.proposals[0]?.transforms.length });
  ctx.send(sa, bytes);
  armRetransmit(ctx, sa, bytes);
  return sa;
}

function armRetransmit(ctx: EngineContext, sa: IkeSa, bytes: Buffer): void {
  sa.pending?.cancel();
  const r = ctx.retransmit(sa, bytes, () =>
    ctx.fail(
      "main-mode",
      sa.lastError ??
        failure(
          IkeErrorCode.Timeout,
          `no answer from ${endpointKey(sa.peer)} in Main Mode (${sa.state})${sa.state === "I_MM5" ? ctx.fragmentationHint(sa, bytes.length) : ""}`,
        ),
      sa.peer,
      sa,
    ),
  );
  sa.pending = { bytes, tries: r.tries, cancel: r.cancel };
}

/** A malformed or unexpected answer is dropped (a retransmission may still bring the right one). */
function ignore(ctx: EngineContext, sa: IkeSa, f: IkeFailure): void {
  ctx.counters.incLabeled("ike_drop", "reason", f.code);
  sa.log.warn(`ignored: ${f.message}`);
  sa.lastError = f;
}

export function initiatorMm2(
  ctx: EngineContext,
  sa: IkeSa,
  msg: CleartextIsakmpMessage,
  dg: IkeDatagram,
): void {
  const bad = rules("MM2", msg.payloads, false);
  if (bad) {
    ignore(ctx, sa, bad);
    return;
  }
  sa.lastIn = messageDigest(dg.data);
  const saP = find(msg.payloads, PayloadType.SA);
  const prop = saP?.proposals[0];
  const t = prop?.transforms[0];
  if (saP?.proposals.length !== 1 || !prop || prop.transforms.length !== 1 || !t) {
    ctx.fail(
      "main-mode",
      failure(
        IkeErrorCode.NoProposalChosen,
        "MM2 must carry exactly one proposal with one transform",
        16,
      ),
      sa.peer,
      sa,
    );
    return;
  }
  const s = phase1SuiteFromAttributes(t.attributes.map(toAttribute));
  const gp = groupPolicy(ctx);
  if (
    !s.ok ||
    selectPhase1([s.value], ctx.config.phase1.offers, gp) !== 0 ||
    !usableAuth(ctx).includes(s.value.auth)
  ) {
    ctx.fail(
      "main-mode",
      failure(
        IkeErrorCode.NoProposalChosen,
        "the responder chose a transform we did not offer",
        14,
      ),
      sa.peer,
      sa,
    );
    return;
  }
  if (!setSuite(sa, s.value, ctx)) {
    ctx.fail(
      "main-mode",
      failure(IkeErrorCode.NoProposalChosen, "unsupported suite", 14),
      sa.peer,
      sa,
    );
    return;
  }
  sa.vids = readVendorIds(msg.payloads, ctx.config.natt.enabled);
  ctx.table.setResponderCookie(sa, msg.header.responderCookie.toString("hex"));
  sa.ckyRB = isakmpCookie(own(msg.header.responderCookie));
  const dh = ctx.newDh(sa.crypto!.group);
  sa.dh = dh;
  sa.gxi = dh.publicValue;
  sa.ni = nonce(ctx);
  const payloads: Payload[] = [
    { type: PayloadType.KE, reserved: 0, data: sa.gxi },
    { type: PayloadType.NONCE, reserved: 0, data: sa.ni },
  ];
  if (sa.vids.natt !== "none") {
    const hashes = natdToSend(natdHasher(sa.crypto!, sa.ckyIB, sa.ckyRB), sa.peer, sa.local);
    for (const h of hashes)
      payloads.push({ type: natdPayloadType(sa.vids.natt), reserved: 0, hash: h });
  }
  if (isSignatureAuth(sa.suite?.auth) && ctx.certs)
    payloads.push(...certRequestPayloads(ctx.certs));
  sa.state = "I_MM3";
  sa.log.info("Main Mode: MM2 accepted, sending MM3", {
    natt: sa.vids.natt,
    vids: sa.vids.names,
    auth: sa.suite?.auth,
  });
  const bytes = cleartext(sa, ExchangeType.IDENTITY_PROTECTION, payloads);
  ctx.send(sa, bytes);
  armRetransmit(ctx, sa, bytes);
}

export function initiatorMm4(
  ctx: EngineContext,
  sa: IkeSa,
  msg: CleartextIsakmpMessage,
  dg: IkeDatagram,
): void {
  const bad = rules("MM4", msg.payloads, false);
  if (bad) {
    ignore(ctx, sa, bad);
    return;
  }
  sa.lastIn = messageDigest(dg.data);
  const ke = find(msg.payloads, PayloadType.KE)!;
  const nr = find(msg.payloads, PayloadType.NONCE)!;
  const gxy = sa.dh!.computeShared(ke.data);
  if (!gxy.ok) {
    ctx.fail("main-mode", failure(IkeErrorCode.BadKeyExchange, gxy.error.message, 17), sa.peer, sa);
    return;
  }
  sa.gxr = Buffer.from(ke.data);
  sa.nr = Buffer.from(nr.data);
  sa.gxy = gxy.value;
  sa.dh = undefined;
  if (sa.vids.natt !== "none") {
    const natd = [
      ...findAll(msg.payloads, PayloadType.NAT_D),
      ...findAll(msg.payloads, PayloadType.NAT_D_DRAFT),
    ];
    const det = detectNat(
      natd.map((p) => p.hash),
      natdHasher(sa.crypto!, sa.ckyIB, sa.ckyRB),
      sa.local,
      sa.peer,
    );
    if (det.ok) sa.nat = { ...det.value };
    else
      sa.log.warn("NAT-T negotiated but MM4 has no usable NAT-D; assuming no NAT", {
        why: det.error.message,
      });
    const policy = checkNatPolicy(ctx.config.natt.policy, sa.nat, sa.peer.address);
    if (!policy.ok) {
      ctx.fail("main-mode", failure(IkeErrorCode.NatPolicy, policy.error.message), sa.peer, sa);
      return;
    }
  }
  const sig = isSignatureAuth(sa.suite?.auth);
  const psk = sig ? undefined : initiatorPsk(ctx, sa.peer);
  if (!sig && !psk) {
    ctx.fail(
      "main-mode",
      failure(IkeErrorCode.NoPsk, `no pre-shared key configured for ${sa.peer.address}`),
      sa.peer,
      sa,
    );
    return;
  }
  if (psk) sa.psk = psk;
  if (!deriveAll(sa, psk ? secretBytes(psk) : undefined)) {
    ctx.fail("main-mode", failure(IkeErrorCode.Crypto, "key derivation failed"), sa.peer, sa);
    return;
  }
  sa.log.debug("phase-1 keys", {
    skeyidA: secret(sa.keys!.skeyidA),
    skeyidE: secret(sa.keys!.skeyidE!),
  });
  if (sa.nat.anyNat) {
    // RFC 3947 §4: the initiator floats to UDP 4500 before MM5.
    sa.local = { address: sa.local.address, port: 4500 };
    sa.peer = { address: sa.peer.address, port: 4500 };
    sa.log.info("NAT detected: floating to UDP 4500", { ...sa.nat });
  }
  const id = idPayload(ourIdentity(ctx, sa));
  const h = hashI(hashInput(sa), serializePayloadBody(id));
  const payloads: Payload[] = [id, ...authPayloads(ctx, sa, h)];
  const otherToPeer = [...ctx.sas.values()].some(
    (o) => o !== sa && o.state === "ESTABLISHED" && o.peer.address === sa.peer.address,
  );
  if (!otherToPeer) {
    payloads.push(
      notifyPayload(
        NotifyType.INITIAL_CONTACT,
        ProtocolId.PROTO_ISAKMP,
        Buffer.concat([sa.ckyIB, sa.ckyRB]),
      ),
    );
  }
  const sealed = sealMessage(
    sa,
    ExchangeType.IDENTITY_PROTECTION,
    PHASE1_MESSAGE_ID,
    payloads,
    sa.iv!,
  );
  if (!sealed.ok) {
    ctx.fail("main-mode", sealed.error, sa.peer, sa);
    return;
  }
  sa.iv = sealed.value.lastBlock;
  sa.state = "I_MM5";
  ctx.send(sa, sealed.value.bytes);
  armRetransmit(ctx, sa, sealed.value.bytes);
}

export function initiatorMm6(ctx: EngineContext, sa: IkeSa, msg: EncryptedIsakmpMessage): void {
  // A bad MM6 is dropped, not fatal: it may be a corrupted copy. If no good one comes, the
  // retransmission gives up with this reason (wrong pre-shared key, most likely).
  const o = openMessage(sa.crypto!, sa.keys!.encKey, msg, sa.iv!);
  if (!o.ok) {
    ignore(
      ctx,
      sa,
      failure(
        IkeErrorCode.AuthenticationFailed,
        `MM6 does not decrypt (wrong pre-shared key?): ${o.error.message}`,
        24,
      ),
    );
    return;
  }
  const bad = rules("MM6", o.value.payloads, true);
  if (bad) {
    ignore(ctx, sa, bad);
    return;
  }
  const id = find(o.value.payloads, PayloadType.ID)!;
  const want = hashR(hashInput(sa), serializePayloadBody(id));
  if (isSignatureAuth(sa.suite?.auth)) {
    // A certificate or signature failure is not a corrupted copy: fail now, tell the peer.
    const v = ctx.certs
      ? verifyPeerSignature(ctx.certs, o.value.payloads, id, want, ctx.wallNow())
      : undefined;
    if (!v?.ok) {
      const f = v?.error ?? failure(IkeErrorCode.CertificateInvalid, "no trusted CA configured");
      ctx.fail(
        "main-mode",
        { ...f, message: `MM6 from ${endpointKey(sa.peer)}: ${f.message}` },
        sa.peer,
        sa,
      );
      if (f.notify) sendClearNotify(ctx, sa.ckyIB, sa.ckyRB, sa.local, sa.peer, f.notify);
      return;
    }
    sa.peerCertSubject = v.value.subject;
    sa.iv = o.value.lastBlock;
    sa.peerId = v.value.id;
    sa.peerIdText = v.value.idText;
    sa.pending?.cancel();
    sa.pending = undefined;
    heard(ctx, sa);
    ctx.phase1Up(sa);
    return;
  }
  const hp = find(o.value.payloads, PayloadType.HASH);
  if (!hp || !constantTimeEqual(hp.data, want)) {
    ignore(
      ctx,
      sa,
      failure(
        IkeErrorCode.AuthenticationFailed,
        "HASH_R does not verify: wrong pre-shared key",
        24,
      ),
    );
    return;
  }
  sa.iv = o.value.lastBlock;
  const pid = parseIdPayload(id);
  if (pid) {
    sa.peerId = pid;
    sa.peerIdText = idText(pid);
  }
  sa.pending?.cancel();
  sa.pending = undefined;
  heard(ctx, sa);
  ctx.phase1Up(sa);
}

// ------------------------------------------------------------------------------------------
// Responder

/**
 * Responder's choice (RFC 2408 §4.2): the first transform, in the initiator's order, that our
 * offers and authentication methods `auths` accept; the reply SA carries just that transform.
 */
export function chooseProposal(
  ctx: EngineContext,
  saP: SaPayload,
  auths: readonly AuthMethod[],
):
  | { readonly ok: true; readonly suite: Phase1Suite; readonly reply: SaPayload }
  | { readonly ok: false; readonly offered: string } {
  const candidates: {
    prop: number;
    t: number;
    suite: Phase1Suite | undefined;
    why?: string;
  }[] = [];
  saP.proposals.forEach((p, pi) => {
    if (p.protocolId !== ProtocolId.PROTO_ISAKMP) return;
    p.transforms.forEach((t, ti) => {
      if (t.transformId !== IsakmpTransformId.KEY_IKE) return;
      const s = phase1SuiteFromAttributes(t.attributes.map(toAttribute));
      const usable =
        s.ok && auths.includes(s.value.auth) && cryptoFor(s.value).ok ? s.value : undefined;
      // Name an authentication method we do not do (e.g. ECDSA on another curve).
      const why =
        s.ok && !auths.includes(s.value.auth)
          ? `auth ${s.value.auth} (we do ${auths.join(", ") || "none"})`
          : undefined;
      candidates.push({ prop: pi, t: ti, suite: usable, ...(why ? { why } : {}) });
    });
  });
  const c = ctx.config.phase1;
  const idx =
    saP.doi === Doi.IPSEC
      ? selectPhase1(
          candidates.map((x) => x.suite),
          c.offers,
          groupPolicy(ctx),
        )
      : -1;
  const pick = candidates[idx];
  const prop = pick ? saP.proposals[pick.prop] : undefined;
  const t = pick ? prop?.transforms[pick.t] : undefined;
  if (!pick?.suite || !prop || !t) {
    const offered = candidates.map((x) =>
      x.suite
        ? `${x.suite.encryption}-${x.suite.keyBits}/${x.suite.hash}/${x.suite.group}`
        : (x.why ?? "unsupported"),
    );
    return { ok: false, offered: offered.slice(0, 12).join(", ") };
  }
  return {
    ok: true,
    suite: pick.suite,
    reply: { ...saP, proposals: [{ ...prop, transforms: [t] }] },
  };
}

export function responderMm1(
  ctx: EngineContext,
  msg: CleartextIsakmpMessage,
  dg: IkeDatagram,
): void {
  const bad = rules("MM1", msg.payloads, false);
  const ckyI = isakmpCookie(Buffer.from(msg.header.initiatorCookie));
  if (bad) {
    ctx.fail("main-mode", bad, dg.remote);
    return;
  }
  const saP = find(msg.payloads, PayloadType.SA)!;
  const saSpan = msg.spans[msg.payloads.indexOf(saP)]!;
  if (saSpan.end - saSpan.start - 4 > MAX_SAI_B) {
    ctx.counters.incLabeled("ike_drop", "reason", "mm1_sa_too_big");
    ctx.log.debug("MM1 with an oversized SA payload dropped", {
      from: endpointKey(dg.remote),
      octets: saSpan.end - saSpan.start,
    });
    return;
  }
  if (!admitHalfOpen(ctx, dg.remote)) return;
  const ckyR = isakmpCookie(ctx.random(8));
  const pick = chooseProposal(ctx, saP, usableAuth(ctx));
  if (!pick.ok) {
    ctx.fail(
      "main-mode",
      failure(
        IkeErrorCode.NoProposalChosen,
        `no acceptable phase-1 proposal from ${endpointKey(dg.remote)} (offered: ${pick.offered})`,
        NotifyType.NO_PROPOSAL_CHOSEN,
      ),
      dg.remote,
      undefined,
      {
        offer: {
          phase1: describePhase1Offer(saP),
          vendorIds: readVendorIds(msg.payloads, ctx.config.natt.enabled).names,
        },
      },
    );
    sendClearNotify(ctx, ckyI, ckyR, dg.local, dg.remote, NotifyType.NO_PROPOSAL_CHOSEN);
    return;
  }
  const sa = newIkeSa(ctx, "responder", ckyI, ckyR, dg.local, dg.remote);
  setSuite(sa, pick.suite, ctx);
  sa.vids = readVendorIds(msg.payloads, ctx.config.natt.enabled);
  sa.saiB = Buffer.from(dg.data.subarray(saSpan.start + 4, saSpan.end));
  ctx.registerSa(sa);
  const bytes = cleartext(sa, ExchangeType.IDENTITY_PROTECTION, [
    pick.reply,
    ...responderVids(sa.vids, ctx.config.fragmentation?.enabled !== false),
  ]);
  sa.lastIn = messageDigest(dg.data);
  sa.lastOut = bytes;
  // Debug, not info: one line per MM1 is a log flood when the MM1s are spoofed.
  sa.log.debug("Main Mode: MM1 accepted, sending MM2", {
    suite: sa.crypto!.name,
    natt: sa.vids.natt,
    vids: sa.vids.names,
  });
  ctx.send(sa, bytes);
  armHalfOpenTimeout(ctx, sa);
}

/** R_MM4 timed out: the peer's MM5 never arrived complete — maybe lost as IP fragments. */
function mm5Missing(ctx: EngineContext, sa: IkeSa): string {
  if (sa.state !== "R_MM4") return "";
  const hint = ctx.fragmentationHint(sa, undefined);
  return hint ? `: the peer's MM5 never arrived complete${hint}` : "";
}

export function armHalfOpenTimeout(ctx: EngineContext, sa: IkeSa): void {
  ctx.scheduleFor(sa, halfOpenDeadline(ctx), () => {
    // Never answered our MM2 (maybe spoofed): counted and summarised, not one warning each.
    if (awaitingProof(sa)) {
      expireQuietly(ctx, sa);
      return;
    }
    if (sa.state !== "ESTABLISHED" && sa.state !== "DELETED") {
      ctx.fail(
        "main-mode",
        failure(
          IkeErrorCode.Timeout,
          `half-open SA from ${endpointKey(sa.peer)} timed out in ${sa.state}${mm5Missing(ctx, sa)}`,
        ),
        sa.peer,
        sa,
      );
    }
  });
}

export function responderMm3(
  ctx: EngineContext,
  sa: IkeSa,
  msg: CleartextIsakmpMessage,
  dg: IkeDatagram,
): void {
  // MM3 echoes our cookie: the peer received MM2, so it is no spoofer (half-open.ts).
  ctx.table.halfOpen.progressed(sa);
  const bad = rules("MM3", msg.payloads, false);
  if (bad) {
    ctx.fail("main-mode", bad, sa.peer, sa);
    return;
  }
  const ke = find(msg.payloads, PayloadType.KE)!;
  const ni = find(msg.payloads, PayloadType.NONCE)!;
  const dh = ctx.newDh(sa.crypto!.group);
  const gxy = dh.computeShared(ke.data);
  if (!gxy.ok) {
    ctx.fail("main-mode", failure(IkeErrorCode.BadKeyExchange, gxy.error.message, 17), sa.peer, sa);
    sendClearNotify(
      ctx,
      sa.ckyIB,
      sa.ckyRB,
      dg.local,
      dg.remote,
      NotifyType.INVALID_KEY_INFORMATION,
    );
    return;
  }
  sa.gxi = Buffer.from(ke.data);
  sa.ni = Buffer.from(ni.data);
  sa.gxr = dh.publicValue;
  sa.nr = nonce(ctx);
  sa.gxy = gxy.value;
  const payloads: Payload[] = [
    { type: PayloadType.KE, reserved: 0, data: sa.gxr },
    { type: PayloadType.NONCE, reserved: 0, data: sa.nr },
  ];
  if (sa.vids.natt !== "none") {
    const hasher = natdHasher(sa.crypto!, sa.ckyIB, sa.ckyRB);
    const natd = [
      ...findAll(msg.payloads, PayloadType.NAT_D),
      ...findAll(msg.payloads, PayloadType.NAT_D_DRAFT),
    ];
    const received = natd.map((p) => p.hash);
    const det = detectNat(received, hasher, dg.local, dg.remote);
    let opts = {};
    if (det.ok) {
      sa.nat = { ...det.value };
      if (det.value.localBehindNat && ctx.config.natt.windowsFriendlyResponder) {
        // nat-detect.ts: the client sees itself NATed and us not (no registry edit on Windows).
        opts = {
          initiatorHashes: received,
          hideOwnNat: true,
          forcePeerNat: !det.value.peerBehindNat,
        };
        sa.log.info("we are behind a NAT: sending Windows-friendly NAT-D");
      }
    } else {
      sa.log.warn("NAT-T negotiated but MM3 has no usable NAT-D; assuming no NAT", {
        why: det.error.message,
      });
    }
    for (const h of natdToSend(hasher, dg.remote, dg.local, opts)) {
      payloads.push({ type: natdPayloadType(sa.vids.natt), reserved: 0, hash: h });
    }
  }
  if (isSignatureAuth(sa.suite?.auth) && ctx.certs)
    payloads.push(...certRequestPayloads(ctx.certs));
  const bytes = cleartext(sa, ExchangeType.IDENTITY_PROTECTION, payloads);
  sa.state = "R_MM4";
  sa.lastIn = messageDigest(dg.data);
  sa.lastOut = bytes;
  ctx.send(sa, bytes);
}

/** MM5 with RSA signatures: SKEYID from the nonces and g^xy, the peer's CERT chain and SIG. */
function responderMm5Sig(
  ctx: EngineContext,
  sa: IkeSa,
  msg: EncryptedIsakmpMessage,
  dg: IkeDatagram,
): Opened | undefined {
  const refuse = (f: IkeFailure) => {
    ctx.fail(
      "main-mode",
      { ...f, message: `authentication of ${endpointKey(dg.remote)} failed: ${f.message}` },
      dg.remote,
      sa,
    );
    sendClearNotify(
      ctx,
      sa.ckyIB,
      sa.ckyRB,
      dg.local,
      dg.remote,
      f.notify || NotifyType.AUTHENTICATION_FAILED,
    );
  };
  if (!certUsable(ctx.certs) || !deriveAll(sa, undefined)) {
    refuse(failure(IkeErrorCode.Crypto, "key derivation failed", NotifyType.AUTHENTICATION_FAILED));
    return undefined;
  }
  const o = openMessage(sa.crypto!, sa.keys!.encKey, msg, sa.iv!);
  if (!o.ok) {
    refuse(
      failure(
        IkeErrorCode.Decrypt,
        "MM5 does not decrypt to a payload chain",
        NotifyType.PAYLOAD_MALFORMED,
      ),
    );
    return undefined;
  }
  const bad = rules("MM5", o.value.payloads, true);
  if (bad) {
    refuse(bad);
    return undefined;
  }
  const id = find(o.value.payloads, PayloadType.ID)!;
  const h = hashI(hashInput(sa), serializePayloadBody(id));
  const v = verifyPeerSignature(ctx.certs, o.value.payloads, id, h, ctx.wallNow());
  if (!v.ok) {
    refuse(v.error);
    return undefined;
  }
  sa.peerId = v.value.id;
  sa.peerIdText = v.value.idText;
  sa.peerCertSubject = v.value.subject;
  return o.value;
}

export function responderMm5(
  ctx: EngineContext,
  sa: IkeSa,
  msg: EncryptedIsakmpMessage,
  dg: IkeDatagram,
): void {
  if (isSignatureAuth(sa.suite?.auth)) {
    const opened = responderMm5Sig(ctx, sa, msg, dg);
    if (opened) finishMm5(ctx, sa, opened.payloads, opened.lastBlock, dg);
    return;
  }
  const candidates = responderPsks(ctx, dg.remote);
  if (candidates.length === 0) {
    ctx.fail(
      "main-mode",
      failure(IkeErrorCode.NoPsk, `no pre-shared key configured for ${dg.remote.address}`, 24),
      dg.remote,
      sa,
    );
    return;
  }
  let accepted: { psk: PskEntry; payloads: readonly Payload[]; lastBlock: Buffer } | undefined;
  let why = "";
  for (const psk of candidates) {
    if (!deriveAll(sa, secretBytes(psk))) continue;
    const o = openMessage(sa.crypto!, sa.keys!.encKey, msg, sa.iv!);
    if (!o.ok) {
      why = "MM5 does not decrypt to a payload chain";
      continue;
    }
    const bad = rules("MM5", o.value.payloads, true);
    if (bad) {
      why = bad.message;
      continue;
    }
    const id = find(o.value.payloads, PayloadType.ID)!;
    const hp = find(o.value.payloads, PayloadType.HASH);
    if (!hp) {
      why = "MM5 without HASH_I (only pre-shared keys are served)";
      continue;
    }
    if (!constantTimeEqual(hp.data, hashI(hashInput(sa), serializePayloadBody(id)))) {
      why = "HASH_I does not verify";
      continue;
    }
    const pid = parseIdPayload(id);
    if (psk.id !== undefined && (!pid || idText(pid) !== psk.id)) {
      why = `identity ${pid ? idText(pid) : "?"} does not match the key's identity`;
      continue;
    }
    accepted = { psk, payloads: o.value.payloads, lastBlock: o.value.lastBlock };
    if (pid) {
      sa.peerId = pid;
      sa.peerIdText = idText(pid);
    }
    break;
  }
  if (!accepted) {
    ctx.fail(
      "main-mode",
      failure(
        IkeErrorCode.AuthenticationFailed,
        `authentication of ${endpointKey(dg.remote)} failed: ${why} (wrong pre-shared key?)`,
        NotifyType.AUTHENTICATION_FAILED,
      ),
      dg.remote,
      sa,
    );
    sendClearNotify(ctx, sa.ckyIB, sa.ckyRB, dg.local, dg.remote, NotifyType.AUTHENTICATION_FAILED);
    return;
  }
  sa.psk = accepted.psk;
  finishMm5(ctx, sa, accepted.payloads, accepted.lastBlock, dg);
}

/** MM5 authenticated: INITIAL-CONTACT, follow the peer's port, answer with MM6. */
function finishMm5(
  ctx: EngineContext,
  sa: IkeSa,
  payloads: readonly Payload[],
  lastBlock: Buffer,
  dg: IkeDatagram,
): void {
  sa.iv = lastBlock;
  if (
    payloads.some((p) => p.type === PayloadType.N && p.notifyType === NotifyType.INITIAL_CONTACT) ||
    sa.vids.initialContact
  ) {
    sa.initialContact = true;
  }
  // The responder answers where the request came from (UDP 4500 after the peer floated).
  sa.local = dg.local;
  sa.peer = dg.remote;
  const id = idPayload(ourIdentity(ctx, sa));
  const h = hashR(hashInput(sa), serializePayloadBody(id));
  const sealed = sealMessage(
    sa,
    ExchangeType.IDENTITY_PROTECTION,
    PHASE1_MESSAGE_ID,
    [id, ...authPayloads(ctx, sa, h)],
    sa.iv,
  );
  if (!sealed.ok) {
    ctx.fail("main-mode", sealed.error, sa.peer, sa);
    return;
  }
  sa.iv = sealed.value.lastBlock;
  sa.lastIn = messageDigest(dg.data);
  sa.lastOut = sealed.value.bytes;
  ctx.send(sa, sealed.value.bytes);
  sa.log.debug("phase-1 keys", {
    skeyidA: secret(sa.keys!.skeyidA),
    skeyidE: secret(sa.keys!.skeyidE!),
  });
  ctx.phase1Up(sa);
}
