/**
 * Negotiated algorithm suites of both phases, as typed values (not attribute numbers), and
 * their conversion from/to ISAKMP data attributes:
 *  - phase 1: RFC 2409 Appendix A attribute classes (Encryption, Hash, Auth method, Group,
 *    Life type/duration, Key length);
 *  - phase 2: RFC 2407 §4.5 IPsec attributes (SA life, Group, Encapsulation mode, Auth
 *    algorithm, Key length) on an ESP transform ID (RFC 2407 §4.4.4, RFC 4106 for GCM).
 * Encapsulation mode numbers follow the NAT-T method: RFC 3947 uses 3/4, the drafts 61443/61444.
 */
import { err, ok, type Result } from "../base/result.js";
import {
  EncapsulationMode,
  EspTransformId,
  IkeAttr,
  IkeAuthMethod,
  IkeEncryption as IkeEncryptionId,
  IkeHash as IkeHashId,
  IpsecAttr,
  IpsecAuthAlgorithm,
  LifeType,
} from "../registry/ike.js";

/** One data attribute as the wire codec gives it: TV values are numbers, TLV values bytes. */
export interface Attribute {
  readonly type: number;
  readonly value: number | Uint8Array;
}

export type IkeEncryption = "des-cbc" | "3des-cbc" | "aes-cbc";
export type IkeHash = "md5" | "sha1" | "sha2-256" | "sha2-384" | "sha2-512";
/** Phase-1 authentication: pre-shared key, RSA signatures, ECDSA signatures (RFC 4754). */
export type IkeAuth = "psk" | "rsa-sig" | "ecdsa-256" | "ecdsa-384" | "ecdsa-521";

/** Authentication by signature with a certificate (every method but psk). */
export function isSignatureAuth(a: IkeAuth | undefined): boolean {
  return a !== undefined && a !== "psk";
}

export interface Phase1Suite {
  readonly encryption: IkeEncryption;
  /** Key length in bits (AES 128/192/256; 3DES 192; DES 64). */
  readonly keyBits: number;
  readonly hash: IkeHash;
  readonly auth: IkeAuth;
  readonly group: number;
  readonly lifeSeconds: number;
  /** 0 = no kilobyte lifetime. */
  readonly lifeKilobytes: number;
}

export type EspCipher = "3des-cbc" | "aes-cbc" | "aes-gcm-8" | "aes-gcm-12" | "aes-gcm-16" | "null";
export type EspIntegrity =
  | "none"
  | "hmac-md5-96"
  | "hmac-sha1-96"
  | "hmac-sha2-256-128"
  | "hmac-sha2-384-192"
  | "hmac-sha2-512-256";
export type EspMode = "transport" | "tunnel";
export type NattMethod = "none" | "rfc3947" | "draft";

export interface Phase2Suite {
  readonly cipher: EspCipher;
  readonly keyBits: number;
  readonly integrity: EspIntegrity;
  readonly mode: EspMode;
  /** 0 = no PFS. */
  readonly pfsGroup: number;
  readonly lifeSeconds: number;
  readonly lifeKilobytes: number;
}

// RFC 2409 Appendix A (numbers from registry/ike.ts).
export const IKE_ATTR = {
  encryption: IkeAttr.ENCRYPTION_ALGORITHM,
  hash: IkeAttr.HASH_ALGORITHM,
  authMethod: IkeAttr.AUTHENTICATION_METHOD,
  groupDescription: IkeAttr.GROUP_DESCRIPTION,
  lifeType: IkeAttr.LIFE_TYPE,
  lifeDuration: IkeAttr.LIFE_DURATION,
  keyLength: IkeAttr.KEY_LENGTH,
} as const;
/** Phase-1 encryption name -> IKE Encryption Algorithm value. */
export const IKE_ENCRYPTION_NUMBER: Readonly<Record<IkeEncryption, number>> = {
  "des-cbc": IkeEncryptionId.DES_CBC,
  "3des-cbc": IkeEncryptionId.TRIPLE_DES_CBC,
  "aes-cbc": IkeEncryptionId.AES_CBC,
};
/** Phase-1 hash name -> IKE Hash Algorithm value. */
export const IKE_HASH_NUMBER: Readonly<Record<IkeHash, number>> = {
  md5: IkeHashId.MD5,
  sha1: IkeHashId.SHA,
  "sha2-256": IkeHashId.SHA2_256,
  "sha2-384": IkeHashId.SHA2_384,
  "sha2-512": IkeHashId.SHA2_512,
};
/** The inverse of a name -> number table. */
function byNumber<T extends string>(m: Readonly<Record<T, number>>): Record<number, T> {
  const out: Record<number, T> = {};
  for (const [k, v] of Object.entries(m) as [T, number][]) out[v] = k;
  return out;
}
const IKE_ENC = byNumber(IKE_ENCRYPTION_NUMBER);
const IKE_HASH = byNumber(IKE_HASH_NUMBER);
const IKE_AUTH: Record<number, IkeAuth> = {
  [IkeAuthMethod.PRE_SHARED_KEY]: "psk",
  [IkeAuthMethod.RSA_SIGNATURES]: "rsa-sig",
  [IkeAuthMethod.ECDSA_SHA256_P256]: "ecdsa-256",
  [IkeAuthMethod.ECDSA_SHA384_P384]: "ecdsa-384",
  [IkeAuthMethod.ECDSA_SHA512_P521]: "ecdsa-521",
};
const LIFE_SECONDS = LifeType.SECONDS;
const LIFE_KILOBYTES = LifeType.KILOBYTES;

// RFC 2407 §4.5.
export const IPSEC_ATTR = {
  lifeType: IpsecAttr.SA_LIFE_TYPE,
  lifeDuration: IpsecAttr.SA_LIFE_DURATION,
  groupDescription: IpsecAttr.GROUP_DESCRIPTION,
  encapsulationMode: IpsecAttr.ENCAPSULATION_MODE,
  authAlgorithm: IpsecAttr.AUTHENTICATION_ALGORITHM,
  keyLength: IpsecAttr.KEY_LENGTH,
} as const;
// RFC 2407 §4.4.4, RFC 4106 §8 (transform IDs 18/19/20), RFC 2410 (NULL).
export const ESP_TRANSFORM: Record<number, EspCipher> = {
  [EspTransformId.ESP_3DES]: "3des-cbc",
  [EspTransformId.ESP_NULL]: "null",
  [EspTransformId.ESP_AES_CBC]: "aes-cbc",
  [EspTransformId.ESP_AES_GCM_8]: "aes-gcm-8",
  [EspTransformId.ESP_AES_GCM_12]: "aes-gcm-12",
  [EspTransformId.ESP_AES_GCM_16]: "aes-gcm-16",
};
const ESP_AUTH: Record<number, EspIntegrity> = {
  [IpsecAuthAlgorithm.HMAC_MD5]: "hmac-md5-96",
  [IpsecAuthAlgorithm.HMAC_SHA]: "hmac-sha1-96",
  [IpsecAuthAlgorithm.HMAC_SHA2_256]: "hmac-sha2-256-128",
  [IpsecAuthAlgorithm.HMAC_SHA2_384]: "hmac-sha2-384-192",
  [IpsecAuthAlgorithm.HMAC_SHA2_512]: "hmac-sha2-512-256",
};
/** Encapsulation modes by NAT-T method: [tunnel, transport]. */
export const ENCAP_MODE = {
  none: { tunnel: EncapsulationMode.TUNNEL, transport: EncapsulationMode.TRANSPORT },
  rfc3947: {
    tunnel: EncapsulationMode.UDP_ENCAPSULATED_TUNNEL,
    transport: EncapsulationMode.UDP_ENCAPSULATED_TRANSPORT,
  },
  draft: {
    tunnel: EncapsulationMode.UDP_ENCAPSULATED_TUNNEL_DRAFT,
    transport: EncapsulationMode.UDP_ENCAPSULATED_TRANSPORT_DRAFT,
  },
} as const;

function num(v: number | Uint8Array): number {
  if (typeof v === "number") return v;
  // Variable-length values (life durations) may exceed 32 bits; clamp to the safe range.
  let n = 0;
  for (const b of v) n = n * 256 + b;
  return Math.min(n, Number.MAX_SAFE_INTEGER);
}

function invert<T extends string>(m: Record<number, T>, v: T): number {
  for (const [k, x] of Object.entries(m)) if (x === v) return Number(k);
  throw new Error(`no attribute value for ${v}`);
}

export interface SuiteError {
  readonly code: "OAK_E_IKE_BAD_TRANSFORM";
  readonly message: string;
}
const bad = (message: string): Result<never, SuiteError> =>
  err({ code: "OAK_E_IKE_BAD_TRANSFORM", message });

/** Reads lifetimes as RFC 2407/2409 pair them: each Life Type is followed by its Duration. */
function lifetimes(
  attrs: readonly Attribute[],
  typeAttr: number,
  durAttr: number,
): { s: number; kb: number } {
  let s = 0;
  let kb = 0;
  let current = 0;
  for (const a of attrs) {
    if (a.type === typeAttr) current = num(a.value);
    else if (a.type === durAttr) {
      if (current === LIFE_SECONDS) s = num(a.value);
      else if (current === LIFE_KILOBYTES) kb = num(a.value);
    }
  }
  return { s, kb };
}

/** A phase-1 transform's attributes (transform ID KEY_IKE) to a suite. */
export function phase1SuiteFromAttributes(
  attrs: readonly Attribute[],
): Result<Phase1Suite, SuiteError> {
  const get = (t: number): number | undefined => {
    const a = attrs.find((x) => x.type === t);
    return a ? num(a.value) : undefined;
  };
  const encId = get(IKE_ATTR.encryption);
  const hashId = get(IKE_ATTR.hash);
  const authId = get(IKE_ATTR.authMethod);
  const group = get(IKE_ATTR.groupDescription);
  const encryption = encId === undefined ? undefined : IKE_ENC[encId];
  const hash = hashId === undefined ? undefined : IKE_HASH[hashId];
  const auth = authId === undefined ? undefined : IKE_AUTH[authId];
  if (!encryption) return bad(`unsupported or missing encryption algorithm ${encId ?? "(none)"}`);
  if (!hash) return bad(`unsupported or missing hash algorithm ${hashId ?? "(none)"}`);
  if (!auth) return bad(`unsupported or missing authentication method ${authId ?? "(none)"}`);
  if (group === undefined) return bad("missing group description");
  let keyBits = get(IKE_ATTR.keyLength);
  if (encryption === "aes-cbc") {
    if (keyBits === undefined) keyBits = 128; // RFC 3602 §5.3 leaves it mandatory; clients omit it rarely
    if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256)
      return bad(`invalid AES key length ${keyBits}`);
  } else {
    keyBits = encryption === "3des-cbc" ? 192 : 64;
  }
  const life = lifetimes(attrs, IKE_ATTR.lifeType, IKE_ATTR.lifeDuration);
  return ok({
    encryption,
    keyBits,
    hash,
    auth,
    group,
    lifeSeconds: life.s || 28800,
    lifeKilobytes: life.kb,
  });
}

export function phase1SuiteToAttributes(s: Phase1Suite): Attribute[] {
  const attrs: Attribute[] = [
    { type: IKE_ATTR.encryption, value: invert(IKE_ENC, s.encryption) },
    { type: IKE_ATTR.hash, value: invert(IKE_HASH, s.hash) },
    { type: IKE_ATTR.authMethod, value: invert(IKE_AUTH, s.auth) },
    { type: IKE_ATTR.groupDescription, value: s.group },
  ];
  if (s.encryption === "aes-cbc") attrs.push({ type: IKE_ATTR.keyLength, value: s.keyBits });
  attrs.push(
    ...lifeAttrs(IKE_ATTR.lifeType, IKE_ATTR.lifeDuration, s.lifeSeconds, s.lifeKilobytes),
  );
  return attrs;
}

function lifeAttrs(typeAttr: number, durAttr: number, seconds: number, kb: number): Attribute[] {
  const out: Attribute[] = [];
  const dur = (v: number): number | Uint8Array => {
    if (v <= 0xffff) return v;
    const b = Buffer.alloc(4);
    b.writeUInt32BE(Math.min(v, 0xffffffff));
    return b;
  };
  if (seconds > 0)
    out.push({ type: typeAttr, value: LIFE_SECONDS }, { type: durAttr, value: dur(seconds) });
  if (kb > 0)
    out.push({ type: typeAttr, value: LIFE_KILOBYTES }, { type: durAttr, value: dur(kb) });
  return out;
}

export interface Phase2Transform {
  readonly suite: Phase2Suite;
  /** The NAT-T method its encapsulation mode number implies. */
  readonly natt: NattMethod;
}

/** An ESP transform (ID + RFC 2407 attributes) to a suite. */
export function phase2SuiteFromTransform(
  transformId: number,
  attrs: readonly Attribute[],
): Result<Phase2Transform, SuiteError> {
  const cipher = ESP_TRANSFORM[transformId];
  if (!cipher) return bad(`unsupported ESP transform ${transformId}`);
  const get = (t: number): number | undefined => {
    const a = attrs.find((x) => x.type === t);
    return a ? num(a.value) : undefined;
  };
  const authId = get(IPSEC_ATTR.authAlgorithm);
  const integrity: EspIntegrity | undefined = authId === undefined ? "none" : ESP_AUTH[authId];
  if (!integrity) return bad(`unsupported ESP authentication algorithm ${authId}`);
  const aead = cipher.startsWith("aes-gcm");
  if (aead && integrity !== "none")
    return bad("AES-GCM must not carry an authentication algorithm (RFC 4106 §8)");
  if (!aead && integrity === "none")
    return bad("ESP without AEAD needs an authentication algorithm");
  let keyBits = get(IPSEC_ATTR.keyLength);
  if (cipher === "aes-cbc" || aead) {
    keyBits ??= 128;
    if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256)
      return bad(`invalid AES key length ${keyBits}`);
  } else keyBits = cipher === "3des-cbc" ? 192 : 0;
  const modeId = get(IPSEC_ATTR.encapsulationMode) ?? ENCAP_MODE.none.tunnel; // RFC 2407 §4.5 default
  let mode: EspMode | undefined;
  let natt: NattMethod = "none";
  for (const [method, m] of Object.entries(ENCAP_MODE) as Array<
    [NattMethod, { tunnel: number; transport: number }]
  >) {
    if (m.tunnel === modeId) mode = "tunnel";
    else if (m.transport === modeId) mode = "transport";
    else continue;
    natt = method;
    break;
  }
  if (!mode) return bad(`unsupported encapsulation mode ${modeId}`);
  const life = lifetimes(attrs, IPSEC_ATTR.lifeType, IPSEC_ATTR.lifeDuration);
  return ok({
    suite: {
      cipher,
      keyBits,
      integrity,
      mode,
      pfsGroup: get(IPSEC_ATTR.groupDescription) ?? 0,
      lifeSeconds: life.s || 28800,
      lifeKilobytes: life.kb,
    },
    natt,
  });
}

export function phase2SuiteToTransform(
  s: Phase2Suite,
  natt: NattMethod,
): { transformId: number; attributes: Attribute[] } {
  const attrs: Attribute[] = [
    ...lifeAttrs(IPSEC_ATTR.lifeType, IPSEC_ATTR.lifeDuration, s.lifeSeconds, s.lifeKilobytes),
  ];
  if (s.pfsGroup) attrs.push({ type: IPSEC_ATTR.groupDescription, value: s.pfsGroup });
  attrs.push({ type: IPSEC_ATTR.encapsulationMode, value: ENCAP_MODE[natt][s.mode] });
  if (s.integrity !== "none")
    attrs.push({ type: IPSEC_ATTR.authAlgorithm, value: invert(ESP_AUTH, s.integrity) });
  if (s.cipher === "aes-cbc" || s.cipher.startsWith("aes-gcm"))
    attrs.push({ type: IPSEC_ATTR.keyLength, value: s.keyBits });
  return { transformId: invert(ESP_TRANSFORM, s.cipher), attributes: attrs };
}
