/**
 * FIPS mode's algorithm rules for IKEv1 and ESP: which negotiated suites are approved, and the
 * shortest pre-shared key. One table, used by the engine (offers made and proposals accepted)
 * and by the daemon (offers built from the policy, settings checked at start).
 *
 * Approved here (NIST SP 800-131A Rev. 2, which sets 112 bits as the minimum security strength):
 *  - encryption: AES-CBC and AES-GCM (FIPS 197, SP 800-38A, SP 800-38D), 128/192/256-bit keys;
 *  - integrity and PRF: HMAC with SHA-1 or SHA-2 (FIPS 198-1, FIPS 180-4). SHA-1 only ever
 *    appears keyed (the IKEv1 PRF and HASH_I/HASH_R, HMAC-SHA-1-96 in ESP), which SP 800-131A
 *    Rev. 2 §9 keeps acceptable for non-signature uses;
 *  - key exchange: MODP groups of 2048 bits and more (14, 15, 16) and the NIST curves P-256,
 *    P-384, P-521 (groups 19, 20, 21) (SP 800-56A Rev. 3);
 *  - the IKEv1 key derivation itself is the one SP 800-135 Rev. 1 §4.1 names.
 * Not approved: DES, 3DES (withdrawn by SP 800-131A Rev. 2 for encryption after 2023), MD5,
 * MODP-768/1024/1536, ESP NULL encryption.
 *
 * Authentication: pre-shared keys only. IKEv1 RSA signatures (RFC 2409 §5.1) sign HASH_I with
 * PKCS#1 v1.5 padding but no DigestInfo, which is not a FIPS 186-5 signature scheme.
 *
 * Pre-shared key length: at least 14 bytes (112 bits). The PSK is the HMAC key of SKEYID
 * (RFC 2409 §5.4); SP 800-107 Rev. 1 §5.3.4 bounds an HMAC's security strength by its key's, and
 * SP 800-131A Rev. 2 asks for 112 bits. Length is necessary, not sufficient: 14 random bytes
 * carry 112 bits, 14 typed characters far fewer; the daemon's own default (16 characters)
 * stays in force on top of this rule.
 */
import type { Phase1Offer, Phase2Offer } from "./proposals.js";
import type { IkeHash, Phase1Suite, Phase2Suite } from "./suites.js";

/** Groups of at least 112-bit strength: MODP 2048/3072/4096, ECP P-256/P-384/P-521. */
export const FIPS_GROUPS: ReadonlySet<number> = new Set([14, 15, 16, 19, 20, 21]);

/** Hashes allowed as the IKEv1 PRF (HMAC only). */
const FIPS_IKE_HASHES: ReadonlySet<IkeHash> = new Set(["sha1", "sha2-256", "sha2-384", "sha2-512"]);

/** Shortest pre-shared key in FIPS mode, in bytes (112 bits). */
export const FIPS_MIN_PSK_BYTES = 14;

const AES_BITS = new Set([128, 192, 256]);

/** A DH group number (phase 1 or PFS) usable in FIPS mode. */
export function fipsGroup(group: number): boolean {
  return FIPS_GROUPS.has(group);
}

/** A phase-1 suite or offer usable in FIPS mode. */
export function fipsPhase1(
  s: Pick<Phase1Offer, "encryption" | "keyBits" | "hash" | "group"> & {
    readonly auth?: Phase1Suite["auth"];
  },
): boolean {
  return (
    s.encryption === "aes-cbc" &&
    AES_BITS.has(s.keyBits) &&
    FIPS_IKE_HASHES.has(s.hash) &&
    fipsGroup(s.group) &&
    (s.auth === undefined || s.auth === "psk")
  );
}

/** A phase-2 (ESP) suite or offer usable in FIPS mode; a PFS group must be approved too. */
export function fipsPhase2(
  s: Pick<Phase2Offer, "cipher" | "keyBits" | "integrity"> & {
    readonly pfsGroup?: Phase2Suite["pfsGroup"];
  },
): boolean {
  const aead = s.cipher.startsWith("aes-gcm");
  const cipherOk = (s.cipher === "aes-cbc" || aead) && AES_BITS.has(s.keyBits);
  const integrityOk = aead
    ? s.integrity === "none"
    : s.integrity !== "none" && s.integrity !== "hmac-md5-96";
  const pfsOk = s.pfsGroup === undefined || s.pfsGroup === 0 || fipsGroup(s.pfsGroup);
  return cipherOk && integrityOk && pfsOk;
}

/** Why a pre-shared key cannot be used in FIPS mode, or undefined when it can. */
export function fipsPskProblem(secret: string | Uint8Array): string | undefined {
  const n = typeof secret === "string" ? Buffer.byteLength(secret, "utf8") : secret.byteLength;
  if (n >= FIPS_MIN_PSK_BYTES) return undefined;
  return `is ${n} bytes; FIPS mode needs at least ${FIPS_MIN_PSK_BYTES} bytes (112 bits, SP 800-131A Rev. 2), e.g. \`openssl rand -base64 18\``;
}
