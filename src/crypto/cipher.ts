/**
 * Phase-1 (ISAKMP) ciphers: 3DES-CBC and AES-CBC-128/192/256 (RFC 2409 Appendix A,
 * RFC 3602 for AES-CBC in IKE). IKE does its own padding (RFC 2409 Appendix B: the payload
 * is padded to the block size by the sender), so OpenSSL padding is off and the data must be
 * a whole number of blocks.
 *
 * Left out: DES-CBC (Encryption Algorithm 1) — OpenSSL 3 only has it in the legacy provider,
 * which Node does not load; no peer in our target set still needs it. IDEA, Blowfish, RC5,
 * CAST: not offered by any current client.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { err, ok, type Result } from "../base/result.js";
import { IkeEncryption as RegistryEncryption } from "../registry/ike.js";
import { type CryptoError, CryptoErrorCode, cryptoError } from "./errors.js";

/** The Encryption Algorithm values known here (numbers from src/registry/ike.ts). */
export const IkeEncryption = {
  DES_CBC: RegistryEncryption.DES_CBC,
  TRIPLE_DES_CBC: RegistryEncryption.TRIPLE_DES_CBC,
  AES_CBC: RegistryEncryption.AES_CBC,
} as const;
export type IkeEncryptionId = (typeof IkeEncryption)[keyof typeof IkeEncryption];

/** One row of the cipher table. */
export interface CipherDescriptor {
  readonly id: IkeEncryptionId;
  /** Key length in bits as carried in the Key Length attribute (or the fixed length). */
  readonly keyBits: number;
  /** Key length in bytes. */
  readonly keyLength: number;
  readonly blockSize: number;
  /** Registry name, e.g. "AES-CBC-256". */
  readonly name: string;
  /** node:crypto cipher name. */
  readonly node: string;
  /** Whether the Key Length attribute is required (AES) or forbidden (3DES, fixed length). */
  readonly variableKeyLength: boolean;
}

export const CIPHERS: readonly CipherDescriptor[] = [
  {
    id: 5,
    keyBits: 192,
    keyLength: 24,
    blockSize: 8,
    name: "3DES-CBC",
    node: "des-ede3-cbc",
    variableKeyLength: false,
  },
  {
    id: 7,
    keyBits: 128,
    keyLength: 16,
    blockSize: 16,
    name: "AES-CBC-128",
    node: "aes-128-cbc",
    variableKeyLength: true,
  },
  {
    id: 7,
    keyBits: 192,
    keyLength: 24,
    blockSize: 16,
    name: "AES-CBC-192",
    node: "aes-192-cbc",
    variableKeyLength: true,
  },
  {
    id: 7,
    keyBits: 256,
    keyLength: 32,
    blockSize: 16,
    name: "AES-CBC-256",
    node: "aes-256-cbc",
    variableKeyLength: true,
  },
];

export interface IkeCipher extends CipherDescriptor {
  encrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Result<Buffer, CryptoError>;
  decrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Result<Buffer, CryptoError>;
}

/**
 * The cipher for a negotiated Encryption Algorithm and Key Length attribute (bits).
 * For 3DES the Key Length attribute must be absent (pass undefined) or 192.
 */
export function ikeCipher(id: number, keyBits?: number): Result<IkeCipher, CryptoError> {
  const d = CIPHERS.find(
    (c) => c.id === id && (keyBits === undefined ? !c.variableKeyLength : c.keyBits === keyBits),
  );
  if (!d) {
    const kl = keyBits === undefined ? "no key length" : `key length ${keyBits}`;
    return err(cryptoError(CryptoErrorCode.Unsupported, `encryption algorithm ${id} with ${kl}`));
  }
  return ok(bind(d));
}

function check(
  d: CipherDescriptor,
  key: Uint8Array,
  iv: Uint8Array,
  data: Uint8Array,
): CryptoError | undefined {
  if (key.byteLength !== d.keyLength) {
    return cryptoError(CryptoErrorCode.BadKeyLength, `${d.name} needs a ${d.keyLength}-byte key`);
  }
  if (iv.byteLength !== d.blockSize) {
    return cryptoError(CryptoErrorCode.BadIvLength, `${d.name} needs a ${d.blockSize}-byte IV`);
  }
  if (data.byteLength % d.blockSize !== 0) {
    return cryptoError(
      CryptoErrorCode.NotBlockAligned,
      `${data.byteLength} bytes is not a multiple of the ${d.name} block size`,
    );
  }
  return undefined;
}

function bind(d: CipherDescriptor): IkeCipher {
  return {
    ...d,
    encrypt(key, iv, data) {
      const bad = check(d, key, iv, data);
      if (bad) return err(bad);
      const c = createCipheriv(d.node, key, iv).setAutoPadding(false);
      return ok(Buffer.concat([c.update(data), c.final()]));
    },
    decrypt(key, iv, data) {
      const bad = check(d, key, iv, data);
      if (bad) return err(bad);
      const c = createDecipheriv(d.node, key, iv).setAutoPadding(false);
      return ok(Buffer.concat([c.update(data), c.final()]));
    },
  };
}
