/**
 * ESP cipher suites Oakley implements, as data: key, IV, block and ICV sizes, and the names
 * each backend knows them by.
 *  - AES-GCM with 16/12/8-octet ICV (RFC 4106): key = AES key || 4-octet salt (RFC 4106 §8.1),
 *    8-octet explicit IV, AAD = SPI || Sequence Number (SPI || ESN high || ESN low with ESN, §5).
 *  - AES-CBC (RFC 3602), 3DES-CBC (RFC 2451) with HMAC-SHA1-96 (RFC 2404), HMAC-MD5-96
 *    (RFC 2403), HMAC-SHA-256-128 / -384-192 / -512-256 (RFC 4868).
 *  - NULL encryption (RFC 2410) with an integrity algorithm, for tests and debugging.
 * IKE maps its transform IDs (registry/) to these names; this file holds no protocol numbers.
 * Leaves out: AES-CTR, AES-CCM, ChaCha20-Poly1305, GMAC-only (RFC 4543).
 */

export type EspEncryption =
  | "aes128-gcm16"
  | "aes192-gcm16"
  | "aes256-gcm16"
  | "aes128-gcm12"
  | "aes192-gcm12"
  | "aes256-gcm12"
  | "aes128-gcm8"
  | "aes192-gcm8"
  | "aes256-gcm8"
  | "aes128-cbc"
  | "aes192-cbc"
  | "aes256-cbc"
  | "3des-cbc"
  | "null";

export type EspIntegrity =
  | "hmac-sha1-96"
  | "hmac-md5-96"
  | "hmac-sha256-128"
  | "hmac-sha384-192"
  | "hmac-sha512-256"
  | "none";

export interface EspSuite {
  readonly encryption: EspEncryption;
  /** "none" exactly when `encryption` is a combined mode (GCM). */
  readonly integrity: EspIntegrity;
}

export interface EncryptionInfo {
  readonly kind: "aead" | "cbc" | "null";
  /** Cipher key length in octets (for GCM without the salt). */
  readonly keyLength: number;
  /** Salt octets appended to the key in KEYMAT (GCM: 4). */
  readonly saltLength: number;
  /** IV octets carried in each packet. */
  readonly ivLength: number;
  /** Payload + trailer alignment (at least 4, RFC 4303 §2.4). */
  readonly blockSize: number;
  /** AEAD tag length (the ICV for GCM). */
  readonly tagLength: number;
  /** OpenSSL / node:crypto cipher name. */
  readonly cipherName: string;
}

export interface IntegrityInfo {
  readonly keyLength: number;
  readonly icvLength: number;
  /** Digest name for OpenSSL and node:crypto. */
  readonly digest: string;
}

function gcm(bits: 128 | 192 | 256, tag: 16 | 12 | 8): EncryptionInfo {
  return {
    kind: "aead",
    keyLength: bits / 8,
    saltLength: 4,
    ivLength: 8,
    blockSize: 4,
    tagLength: tag,
    cipherName: `aes-${bits}-gcm`,
  };
}
function cbc(keyLength: number, block: number, cipherName: string): EncryptionInfo {
  return {
    kind: "cbc",
    keyLength,
    saltLength: 0,
    ivLength: block,
    blockSize: block,
    tagLength: 0,
    cipherName,
  };
}

export const ENCRYPTION: Readonly<Record<EspEncryption, EncryptionInfo>> = {
  "aes128-gcm16": gcm(128, 16),
  "aes192-gcm16": gcm(192, 16),
  "aes256-gcm16": gcm(256, 16),
  "aes128-gcm12": gcm(128, 12),
  "aes192-gcm12": gcm(192, 12),
  "aes256-gcm12": gcm(256, 12),
  "aes128-gcm8": gcm(128, 8),
  "aes192-gcm8": gcm(192, 8),
  "aes256-gcm8": gcm(256, 8),
  "aes128-cbc": cbc(16, 16, "aes-128-cbc"),
  "aes192-cbc": cbc(24, 16, "aes-192-cbc"),
  "aes256-cbc": cbc(32, 16, "aes-256-cbc"),
  "3des-cbc": cbc(24, 8, "des-ede3-cbc"),
  null: {
    kind: "null",
    keyLength: 0,
    saltLength: 0,
    ivLength: 0,
    blockSize: 4,
    tagLength: 0,
    cipherName: "null",
  },
};

export const INTEGRITY: Readonly<Record<Exclude<EspIntegrity, "none">, IntegrityInfo>> = {
  "hmac-sha1-96": { keyLength: 20, icvLength: 12, digest: "sha1" },
  "hmac-md5-96": { keyLength: 16, icvLength: 12, digest: "md5" },
  "hmac-sha256-128": { keyLength: 32, icvLength: 16, digest: "sha256" },
  "hmac-sha384-192": { keyLength: 48, icvLength: 24, digest: "sha384" },
  "hmac-sha512-256": { keyLength: 64, icvLength: 32, digest: "sha512" },
};

export const ALL_ENCRYPTIONS = Object.keys(ENCRYPTION) as EspEncryption[];
export const ALL_INTEGRITIES = Object.keys(INTEGRITY) as Exclude<EspIntegrity, "none">[];

/** Checks a suite is a legal combination (AEAD without integrity, others with one). */
export function validateSuite(s: EspSuite): string | undefined {
  const e = ENCRYPTION[s.encryption];
  if (e === undefined) return `unknown ESP encryption ${String(s.encryption)}`;
  if (e.kind === "aead" && s.integrity !== "none")
    return `${s.encryption} is combined mode: integrity must be none`;
  if (e.kind !== "aead" && s.integrity === "none")
    return `${s.encryption} needs an integrity algorithm`;
  if (s.integrity !== "none" && INTEGRITY[s.integrity] === undefined)
    return `unknown ESP integrity ${String(s.integrity)}`;
  return undefined;
}

/** KEYMAT lengths (RFC 2409 §5.5 takes encryption key first, then integrity key). */
export function keyLengths(s: EspSuite): { encryption: number; integrity: number } {
  const e = ENCRYPTION[s.encryption];
  return {
    encryption: e.keyLength + e.saltLength,
    integrity: s.integrity === "none" ? 0 : INTEGRITY[s.integrity].keyLength,
  };
}

export function suiteName(s: EspSuite): string {
  return s.integrity === "none" ? s.encryption : `${s.encryption}/${s.integrity}`;
}

export function icvLength(s: EspSuite): number {
  const e = ENCRYPTION[s.encryption];
  return e.kind === "aead"
    ? e.tagLength
    : s.integrity === "none"
      ? 0
      : INTEGRITY[s.integrity].icvLength;
}
