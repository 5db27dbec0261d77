/**
 * Stable error codes of the crypto layer (DESIGN rule 6). Kept here rather than in
 * src/base/errors.ts so that this area owns its codes; the values follow the `OAK_E_*`
 * convention and are never renamed or reused.
 */
export const CryptoErrorCode = {
  /** A hash, PRF, cipher or DH group identifier we do not implement. */
  Unsupported: "OAK_E_CRYPTO_UNSUPPORTED",
  /** A key of the wrong length for the selected cipher. */
  BadKeyLength: "OAK_E_CRYPTO_BAD_KEY_LENGTH",
  /** An IV of the wrong length for the selected cipher. */
  BadIvLength: "OAK_E_CRYPTO_BAD_IV_LENGTH",
  /** Data to encrypt/decrypt is not a whole number of cipher blocks. */
  NotBlockAligned: "OAK_E_CRYPTO_NOT_BLOCK_ALIGNED",
  /** A peer's DH public value (KE payload) has the wrong length for the group. */
  BadPublicLength: "OAK_E_CRYPTO_BAD_PUBLIC_LENGTH",
  /** A peer's MODP public value is 0, 1, p-1 or >= p (RFC 2409 groups; see also RFC 6989 §2.1). */
  BadPublicValue: "OAK_E_CRYPTO_BAD_PUBLIC_VALUE",
  /** A peer's ECP public value is not a point on the curve (RFC 5903, RFC 6989 §2.3). */
  PointNotOnCurve: "OAK_E_CRYPTO_POINT_NOT_ON_CURVE",
  /** A derivation input is out of range (e.g. key material length 0 or absurdly large). */
  BadLength: "OAK_E_CRYPTO_BAD_LENGTH",
  /** An address that is neither IPv4 (4 bytes) nor IPv6 (16 bytes), or a port outside 0..65535. */
  BadAddress: "OAK_E_CRYPTO_BAD_ADDRESS",
} as const;
export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

/** An expected crypto failure; `message` never contains key material. */
export interface CryptoError {
  readonly code: CryptoErrorCode;
  readonly message: string;
}

export function cryptoError(code: CryptoErrorCode, message: string): CryptoError {
  return { code, message };
}
