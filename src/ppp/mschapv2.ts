/**
 * MS-CHAPv2 and CHAP-MD5 computations.
 *  - CHAP-MD5 (RFC 1994 §4.1): Response = MD5(Identifier || secret || Challenge).
 *  - MS-CHAPv2 (RFC 2759 §8): GenerateNTResponse, ChallengeHash, NtPasswordHash,
 *    HashNtPasswordHash, ChallengeResponse, DesEncrypt, GenerateAuthenticatorResponse,
 *    CheckAuthenticatorResponse.
 * The primitives (MD5, SHA-1, MD4, single-DES) come from src/crypto.
 * Passwords are encoded as UTF-16LE (RFC 2759 §8.3 "Unicode"); the UserName in ChallengeHash
 * is the ASCII name with any "DOMAIN\" prefix stripped (RFC 2759 §8.2, as pppd does).
 * Left out: MPPE key derivation (RFC 3079) — no MPPE/CCP in this server.
 */
// the leaf modules, not crypto/index.ts: PPP needs none of the IKE machinery (native ECP)
import { constantTimeEqual } from "../crypto/ct.js";
import { desEncryptBlock, md5, sha1 } from "../crypto/legacy.js";
import { md4 } from "../crypto/md4.js";

export { desEncryptBlock };

export function chapMd5Response(
  identifier: number,
  secret: Uint8Array,
  challenge: Uint8Array,
): Buffer {
  return md5(Buffer.from([identifier & 0xff]), secret, challenge);
}

/** RFC 2759 §8.2: first 8 octets of SHA1(PeerChallenge || AuthenticatorChallenge || UserName). */
export function challengeHash(
  peerChallenge: Uint8Array,
  authenticatorChallenge: Uint8Array,
  userName: string,
): Buffer {
  return sha1(
    peerChallenge,
    authenticatorChallenge,
    Buffer.from(stripDomain(userName), "latin1"),
  ).subarray(0, 8);
}

/** The user name without a leading "DOMAIN\" (RFC 2759 §8.2 note). */
export function stripDomain(userName: string): string {
  const i = userName.lastIndexOf("\\");
  return i >= 0 ? userName.slice(i + 1) : userName;
}

/** RFC 2759 §8.3: MD4 of the UTF-16LE password. */
export function ntPasswordHash(password: string): Buffer {
  return md4(Buffer.from(password, "utf16le"));
}

/** RFC 2759 §8.4: MD4 of the password hash. */
export function hashNtPasswordHash(passwordHash: Uint8Array): Buffer {
  return md4(passwordHash);
}

/** Expands a 56-bit key (7 octets) into a DES key (8 octets, parity bits set to odd parity). */
export function desKeyFrom7(key7: Uint8Array): Buffer {
  const k = Buffer.alloc(8);
  const b = (i: number) => key7[i] ?? 0;
  k[0] = b(0) >> 1;
  k[1] = ((b(0) & 0x01) << 6) | (b(1) >> 2);
  k[2] = ((b(1) & 0x03) << 5) | (b(2) >> 3);
  k[3] = ((b(2) & 0x07) << 4) | (b(3) >> 4);
  k[4] = ((b(3) & 0x0f) << 3) | (b(4) >> 5);
  k[5] = ((b(4) & 0x1f) << 2) | (b(5) >> 6);
  k[6] = ((b(5) & 0x3f) << 1) | (b(6) >> 7);
  k[7] = b(6) & 0x7f;
  for (let i = 0; i < 8; i++) {
    let v = ((k[i] ?? 0) << 1) & 0xfe;
    let ones = 0;
    for (let j = 1; j < 8; j++) ones += (v >> j) & 1;
    if (ones % 2 === 0) v |= 1;
    k[i] = v;
  }
  return k;
}

/** RFC 2759 §8.6 DesEncrypt(Clear, Key7). */
export function desEncrypt(clear: Uint8Array, key7: Uint8Array): Buffer {
  return desEncryptBlock(desKeyFrom7(key7), clear);
}

/** RFC 2759 §8.5: 24-octet response from the 8-octet challenge and the 16-octet hash. */
export function challengeResponse(challenge: Uint8Array, passwordHash: Uint8Array): Buffer {
  const z = Buffer.alloc(21);
  z.set(passwordHash.subarray(0, 16));
  return Buffer.concat([
    desEncrypt(challenge, z.subarray(0, 7)),
    desEncrypt(challenge, z.subarray(7, 14)),
    desEncrypt(challenge, z.subarray(14, 21)),
  ]);
}

/** RFC 2759 §8.1 GenerateNTResponse. */
export function generateNtResponse(
  authenticatorChallenge: Uint8Array,
  peerChallenge: Uint8Array,
  userName: string,
  password: string,
): Buffer {
  return generateNtResponseFromHash(
    authenticatorChallenge,
    peerChallenge,
    userName,
    ntPasswordHash(password),
  );
}

/** GenerateNTResponse from the stored NtPasswordHash (a server need not keep the password). */
export function generateNtResponseFromHash(
  authenticatorChallenge: Uint8Array,
  peerChallenge: Uint8Array,
  userName: string,
  passwordHash: Uint8Array,
): Buffer {
  return challengeResponse(
    challengeHash(peerChallenge, authenticatorChallenge, userName),
    passwordHash,
  );
}

// RFC 2759 §8.7: "Magic server to client signing constant" and "Pad to make it do more than
// one iteration", as ASCII.
const magic1 = Buffer.from("Magic server to client signing constant", "ascii");
const magic2 = Buffer.from("Pad to make it do more than one iteration", "ascii");

/** RFC 2759 §8.7 GenerateAuthenticatorResponse: the 20 octets behind "S=". */
export function generateAuthenticatorResponse(
  password: string,
  ntResponse: Uint8Array,
  peerChallenge: Uint8Array,
  authenticatorChallenge: Uint8Array,
  userName: string,
): Buffer {
  return generateAuthenticatorResponseFromHash(
    ntPasswordHash(password),
    ntResponse,
    peerChallenge,
    authenticatorChallenge,
    userName,
  );
}

/** GenerateAuthenticatorResponse from the stored NtPasswordHash. */
export function generateAuthenticatorResponseFromHash(
  passwordHash: Uint8Array,
  ntResponse: Uint8Array,
  peerChallenge: Uint8Array,
  authenticatorChallenge: Uint8Array,
  userName: string,
): Buffer {
  const passwordHashHash = hashNtPasswordHash(passwordHash);
  const digest = sha1(passwordHashHash, ntResponse, magic1);
  const challenge = challengeHash(peerChallenge, authenticatorChallenge, userName);
  return sha1(digest, challenge, magic2);
}

/** Constant-time equality of two byte strings (false when the lengths differ). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return constantTimeEqual(a, b);
}
