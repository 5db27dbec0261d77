/**
 * Small pieces shared by the exchanges: vendor IDs we send and how we read the peer's
 * (RFC 3947 §3.1 NAT-T method: the RFC VID wins over the drafts; RFC 3706 DPD; Windows'
 * MS NT5 ISAKMPOAKLEY and Vid-Initial-Contact), notify and NAT-D payload builders, the
 * translation of negotiated names to crypto/ algorithm numbers, payload-rule checks.
 */
import { err, ok, type Result } from "../../base/result.js";
import {
  type Phase1Suite as CryptoSuite,
  natdHash,
  phase1Suite as cryptoPhase1Suite,
} from "../../crypto/index.js";
import type { NatdHasher } from "../../natt/nat-detect.js";
import type { Spi } from "../../wire/esp/esp.js";
import {
  classifyVendorId,
  Doi,
  type NotifyPayload,
  type Payload,
  PayloadType,
  parseIpAddress,
  payloadTypeOf,
  ProtocolId,
  type VendorIdPayload,
  vendorIdBytes,
  vendorIdName,
} from "../../wire/isakmp/index.js";
import { IkeErrorCode, type IkeFailure, failure } from "../errors.js";
import type { PeerVendorIds } from "../ike-sa.js";
import { checkPayloads, type MessageKind } from "../payload-rules.js";
import {
  IKE_ENCRYPTION_NUMBER,
  IKE_HASH_NUMBER,
  type NattMethod,
  type Phase1Suite,
} from "../suites.js";
import type { Endpoint } from "../types.js";

export function vid(bytes: Buffer): VendorIdPayload {
  return { type: PayloadType.VID, reserved: 0, data: bytes };
}

/**
 * The FRAGMENTATION VID as strongSwan and racoon send it: MD5("FRAGMENTATION") + capabilities
 * 0x80000000 (fragments of Main and Aggressive Mode messages).
 */
export function fragmentationVid(): VendorIdPayload {
  return vid(Buffer.concat([vendorIdBytes("FRAGMENTATION"), Buffer.from("80000000", "hex")]));
}

/** Initiator MM1: every NAT-T method we speak (RFC first), DPD, and fragmentation when on. */
export function initiatorVids(natt: boolean, fragmentation = false): VendorIdPayload[] {
  const out: VendorIdPayload[] = [];
  if (natt) {
    out.push(vid(vendorIdBytes("RFC3947")));
    out.push(vid(vendorIdBytes("NATT_DRAFT_03")));
    out.push(vid(vendorIdBytes("NATT_DRAFT_02N")));
    out.push(vid(vendorIdBytes("NATT_DRAFT_02")));
  }
  out.push(vid(vendorIdBytes("DPD")));
  if (fragmentation) out.push(fragmentationVid());
  return out;
}

/**
 * Responder MM2: the NAT-T method chosen (echoing the peer's draft VID), DPD, and
 * fragmentation when on and the peer announced it (as strongSwan answers).
 */
export function responderVids(v: PeerVendorIds, fragmentation = false): VendorIdPayload[] {
  const out: VendorIdPayload[] = [];
  if (v.natt === "rfc3947") out.push(vid(vendorIdBytes("RFC3947")));
  else if (v.natt === "draft" && v.nattDraftVid) out.push(vid(Buffer.from(v.nattDraftVid)));
  out.push(vid(vendorIdBytes("DPD")));
  if (fragmentation && v.fragmentation) out.push(fragmentationVid());
  return out;
}

const DRAFT_ORDER = ["NATT_DRAFT_03", "NATT_DRAFT_02N", "NATT_DRAFT_02"] as const;

/**
 * VID payload body (hex) -> its name and known id. Clients send a handful of distinct VIDs, so
 * every MM1 would otherwise walk the VID table twice per VID; bounded against peers that send
 * random ones (cleared when full; long bodies are not cached).
 */
const VID_CACHE = new Map<string, { readonly name: string; readonly id: string | undefined }>();
const VID_CACHE_MAX = 256;
const VID_CACHE_MAX_BYTES = 64;

function vidInfo(data: Buffer): { readonly name: string; readonly id: string | undefined } {
  if (data.length > VID_CACHE_MAX_BYTES)
    return { name: vendorIdName(data), id: classifyVendorId(data)?.entry.id };
  const key = data.toString("hex");
  let c = VID_CACHE.get(key);
  if (!c) {
    if (VID_CACHE.size >= VID_CACHE_MAX) VID_CACHE.clear();
    c = { name: vendorIdName(data), id: classifyVendorId(data)?.entry.id };
    VID_CACHE.set(key, c);
  }
  return c;
}

/** Vendor-ID names kept per SA (for logs and the monitor), and their length. */
const MAX_VID_NAMES = 16;
const MAX_VID_NAME_LENGTH = 80;

export function readVendorIds(payloads: readonly Payload[], nattEnabled: boolean): PeerVendorIds {
  const v: PeerVendorIds = {
    names: [],
    dpd: false,
    windows: false,
    initialContact: false,
    natt: "none",
  };
  let rfc = false;
  let draft: Buffer | undefined;
  let draftRank: number = DRAFT_ORDER.length;
  for (const p of payloads) {
    if (p.type !== PayloadType.VID) continue;
    const m = vidInfo(p.data);
    // Bounded: an MM1 full of long unknown VIDs must not grow every half-open SA.
    if (v.names.length < MAX_VID_NAMES) v.names.push(m.name.slice(0, MAX_VID_NAME_LENGTH));
    if (m.id === undefined) continue;
    switch (m.id) {
      case "RFC3947":
        rfc = true;
        break;
      case "DPD":
        v.dpd = true;
        break;
      case "MS_NT5_ISAKMPOAKLEY":
        v.windows = true;
        break;
      case "MS_VID_INITIAL_CONTACT":
        v.initialContact = true;
        break;
      case "FRAGMENTATION":
        // Windows sends the bare hash; others add capabilities, of which 0x80000000 means
        // "fragments of Main/Aggressive Mode messages" (strongSwan isakmp_vendor.c reads it so).
        v.fragmentation =
          p.data.length === 16 ||
          (p.data.length === 20 && (p.data.readUInt32BE(16) & 0x80000000) !== 0);
        break;
      default: {
        const rank = (DRAFT_ORDER as readonly string[]).indexOf(m.id);
        if (rank >= 0 && rank < draftRank) {
          draftRank = rank;
          draft = Buffer.from(p.data);
        }
      }
    }
  }
  if (nattEnabled) {
    if (rfc) v.natt = "rfc3947";
    else if (draft) {
      v.natt = "draft";
      v.nattDraftVid = draft;
    }
  }
  return v;
}

/** An ESP SPI as the 4 octets of a proposal, notify, Delete or KEYMAT input. */
export function spiBytes(spi: Spi): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(spi);
  return b;
}

export function notifyPayload(
  notifyType: number,
  protocolId: number = ProtocolId.PROTO_ISAKMP,
  spi: Buffer = Buffer.alloc(0),
  data: Buffer = Buffer.alloc(0),
): NotifyPayload {
  return { type: PayloadType.N, reserved: 0, doi: Doi.IPSEC, protocolId, spi, notifyType, data };
}

export function natdPayloadType(m: NattMethod): 20 | 130 {
  return m === "draft" ? PayloadType.NAT_D_DRAFT : PayloadType.NAT_D;
}

export function natoaPayloadType(m: NattMethod): 21 | 131 {
  return m === "draft" ? PayloadType.NAT_OA_DRAFT : PayloadType.NAT_OA;
}

export function natdHasher(c: CryptoSuite, ckyI: Buffer, ckyR: Buffer): NatdHasher {
  return (ep: Endpoint) => {
    const ip = parseIpAddress(ep.address) ?? Buffer.alloc(4);
    const r = natdHash(c.hash, ckyI, ckyR, ip, ep.port);
    return r.ok ? r.value : Buffer.alloc(c.hash.outLen);
  };
}

/**
 * Negotiated phase-1 suite -> crypto/ objects (stateless: cipher, hash, PRF, DH group), built
 * once per distinct suite rather than for every offered transform of every MM1. Bounded: the
 * key length and group come from the peer.
 */
const CRYPTO_CACHE = new Map<string, Result<CryptoSuite, IkeFailure>>();
const CRYPTO_CACHE_MAX = 256;

export function cryptoFor(s: Phase1Suite): Result<CryptoSuite, IkeFailure> {
  const key = `${s.encryption}/${s.keyBits}/${s.hash}/${s.group}`;
  let r = CRYPTO_CACHE.get(key);
  if (!r) {
    if (CRYPTO_CACHE.size >= CRYPTO_CACHE_MAX) CRYPTO_CACHE.clear();
    r = buildCrypto(s);
    CRYPTO_CACHE.set(key, r);
  }
  return r;
}

function buildCrypto(s: Phase1Suite): Result<CryptoSuite, IkeFailure> {
  const r = cryptoPhase1Suite({
    encryption: IKE_ENCRYPTION_NUMBER[s.encryption],
    ...(s.encryption === "aes-cbc" ? { keyLength: s.keyBits } : {}),
    hash: IKE_HASH_NUMBER[s.hash],
    group: s.group,
  });
  return r.ok ? ok(r.value) : err(failure(IkeErrorCode.NoProposalChosen, r.error.message, 14));
}

export function rules(
  kind: MessageKind,
  payloads: readonly Payload[],
  encrypted: boolean,
): IkeFailure | undefined {
  const v = checkPayloads(kind, payloads.map(payloadTypeOf), encrypted);
  return v ? failure(IkeErrorCode.Payloads, v.message, v.notify) : undefined;
}

export function find<T extends Payload["type"]>(
  payloads: readonly Payload[],
  type: T,
): Extract<Payload, { type: T }> | undefined {
  return payloads.find((p) => p.type === type) as Extract<Payload, { type: T }> | undefined;
}

export function findAll<T extends Payload["type"]>(
  payloads: readonly Payload[],
  type: T,
): Extract<Payload, { type: T }>[] {
  return payloads.filter((p) => p.type === type) as Extract<Payload, { type: T }>[];
}
