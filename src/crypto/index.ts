/**
 * Public API of src/crypto — IKEv1 cryptography on node:crypto. The IKE engine, NAT-T and
 * ESP areas import from here only.
 *
 * Algorithms (numbers are the ISAKMP attribute values):
 *   prf(hashId) / hash(hashId)   HMAC / hash for Hash Algorithm 1 MD5, 2 SHA, 4/5/6 SHA2-256/384/512
 *   ikeCipher(encId, keyBits?)   phase-1 cipher: 5 3DES-CBC, 7 AES-CBC (128/192/256) →
 *                                {encrypt(key, iv, data), decrypt(...), blockSize, keyLength}
 *   dhGroup(groupId)             1, 2, 5, 14, 15, 16 (MODP), 19, 20, 21 (ECP) →
 *                                {generate() → {publicValue, computeShared(peer) → Result},
 *                                 fromPrivateKey(x), validatePublic(peer)}
 *   phase1Suite({encryption, keyLength, hash, group}) → {cipher, hash, prf, group, name}
 *
 * Phase-1 keys (RFC 2409 §5, Appendix B):
 *   deriveSkeyidPsk(prf, psk, Ni_b, Nr_b)     SKEYID = prf(psk, Ni_b | Nr_b)
 *   deriveSkeyidSig(prf, Ni_b, Nr_b, g^xy)    SKEYID = prf(Ni_b | Nr_b, g^xy)
 *   deriveSkeyidPke(prf, hash, Ni_b, Nr_b, CKY-I, CKY-R)
 *   deriveKeys({prf, skeyid, gxy, ckyI, ckyR, encKeyLength}) → Result<{skeyidD, skeyidA, skeyidE, encKey}>
 *   expandEncKey(prf, SKEYID_e, length)       Appendix B key expansion
 *   hashI(input, IDii_b) / hashR(input, IDir_b)   Main Mode HASH_I / HASH_R
 *   phase1Iv(hash, g^xi, g^xr, blockSize)     first phase-1 IV
 *   nextIv(ciphertext, blockSize)             CBC chaining: last ciphertext block
 *   phase2Iv(hash, lastPhase1Block, M-ID, blockSize)   Quick Mode / informational IV
 * Phase-2 (RFC 2409 §5.5, §5.7):
 *   qmHash1(prf, SKEYID_a, M-ID, rest) / qmHash2(prf, SKEYID_a, M-ID, Ni_b, rest) /
 *   qmHash3(prf, SKEYID_a, M-ID, Ni_b, Nr_b) / informationalHash(prf, SKEYID_a, M-ID, rest)
 *   keymat({prf, skeyidD, protocol, spi, niB, nrB, gqmxy?, length}) → Result<Buffer>
 * NAT-T (RFC 3947 §3.2):
 *   natdHash(hash, CKY-I, CKY-R, ip (4 or 16 bytes), port) → Result<Buffer>
 * L2TP and PPP authentication (legacy.ts, md4.ts):
 *   md5(...parts), sha1(...parts)   digests of the concatenation (CHAP-MD5, L2TP tunnel
 *                                   authentication, MS-CHAPv2)
 *   md4(data), desEncryptBlock(key8, block)   MS-CHAPv2 NtPasswordHash / DesEncrypt
 * Helpers:
 *   constantTimeEqual(a, b)   timingSafeEqual that treats a length mismatch as "not equal"
 * Errors: every failure on peer input is a Result with a CryptoError {code: OAK_E_CRYPTO_*}.
 */
export {
  type IkeCipher,
  type CipherDescriptor,
  CIPHERS,
  IkeEncryption,
  ikeCipher,
} from "./cipher.js";
export { constantTimeEqual } from "./ct.js";
export { type DhGroup, type DhKeyPair, dhGroup, IkeGroup, SUPPORTED_GROUPS } from "./dh.js";
export { type CryptoError, CryptoErrorCode, cryptoError } from "./errors.js";
export {
  type DeriveKeysInput,
  deriveKeys,
  deriveSkeyidPke,
  deriveSkeyidPsk,
  deriveSkeyidSig,
  expandEncKey,
  hashI,
  hashR,
  informationalHash,
  type KeymatInput,
  keymat,
  MAX_KEY_MATERIAL,
  type MainModeHashInput,
  natdHash,
  nextIv,
  type Phase1Keys,
  phase1Iv,
  phase2Iv,
  qmHash1,
  qmHash2,
  qmHash3,
} from "./ikev1-kdf.js";
export { desEncryptBlock, md5, sha1 } from "./legacy.js";
export { md4 } from "./md4.js";
export { type Hash, hash, IkeHash, type IkeHashId, isIkeHashId, type Prf, prf } from "./prf.js";
export {
  OakleyAttr,
  OakleyAuth,
  type Phase1Suite,
  type Phase1SuiteAttributes,
  phase1Suite,
} from "./suite.js";
