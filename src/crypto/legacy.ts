/**
 * The older primitives that L2TP and PPP authentication are defined with, for the engines in
 * src/l2tp and src/ppp (which do no hashing of their own):
 *   md5(...parts)       MD5 of the concatenation (CHAP-MD5, RFC 1994 §4.1; L2TP tunnel
 *                       authentication, RFC 2661 §4.2 / §5.1.1)
 *   sha1(...parts)      SHA-1 of the concatenation (MS-CHAPv2, RFC 2759 §8.2, §8.7)
 *   desEncryptBlock(key8, block)   one single-DES ECB block (MS-CHAPv2 DesEncrypt, RFC 2759 §8.6)
 * MD4 (MS-CHAPv2 NtPasswordHash) is md4.ts. None of these is fit for new designs; use them only
 * where a protocol requires it.
 *
 * DES: OpenSSL 3 refuses single DES ("des-ecb" needs the legacy provider), so a block is
 * computed as 3DES-EDE with K1 = K2 = K3 (E(K) D(K) E(K) = E(K)), which OpenSSL 3 allows.
 */
import { createCipheriv, createHash } from "node:crypto";

function digest(algorithm: string, parts: readonly Uint8Array[]): Buffer {
  const h = createHash(algorithm);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MD5 of the concatenated parts (16 octets). */
export function md5(...parts: readonly Uint8Array[]): Buffer {
  return digest("md5", parts);
}

/** SHA-1 of the concatenated parts (20 octets). */
export function sha1(...parts: readonly Uint8Array[]): Buffer {
  return digest("sha1", parts);
}

/** One DES-ECB block (8 octets) under an 8-octet key (parity bits ignored). */
export function desEncryptBlock(key8: Uint8Array, block: Uint8Array): Buffer {
  if (key8.length !== 8 || block.length !== 8)
    throw new Error("desEncryptBlock: needs 8-octet key and block");
  const c = createCipheriv("des-ede3-ecb", Buffer.concat([key8, key8, key8]), null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}
