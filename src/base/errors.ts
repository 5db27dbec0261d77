/**
 * Stable error codes (DESIGN rule 6). Every expected failure carries one of these codes; docs
 * and logs name them, tests match on them. Add codes here, never rename or reuse one.
 */
export const WireErrorCode = {
  /** Fewer bytes than a header or a declared length needs. */
  Truncated: "OAK_E_WIRE_TRUNCATED",
  /** A length field is smaller than its own header or larger than the enclosing container. */
  BadLength: "OAK_E_WIRE_BAD_LENGTH",
  /** A field holds a value the codec cannot represent (wrong version, reserved bits set...). */
  BadValue: "OAK_E_WIRE_BAD_VALUE",
  /** Structures nested in a way the RFC forbids (e.g. a Transform outside a Proposal). */
  BadNesting: "OAK_E_WIRE_BAD_NESTING",
  /** An unknown payload/option with the critical/mandatory bit set. */
  UnsupportedCritical: "OAK_E_WIRE_UNSUPPORTED_CRITICAL",
  /** Structural limit exceeded (too many payloads/attributes): defends against resource abuse. */
  TooMany: "OAK_E_WIRE_TOO_MANY",
  /** Checksum mismatch. */
  BadChecksum: "OAK_E_WIRE_BAD_CHECKSUM",
} as const;
export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

/** A parse failure: what went wrong, where (byte offset in the input) and in which structure. */
export interface WireError {
  readonly code: WireErrorCode;
  /** Human-readable, names the structure and field, never contains secret material. */
  readonly message: string;
  /** Byte offset into the parsed buffer at which the problem was found. */
  readonly offset: number;
}

export function wireError(code: WireErrorCode, message: string, offset: number): WireError {
  return { code, message, offset };
}

/** `oakley pki` (the built-in certificate authority) failures. */
export const PkiErrorCode = {
  /** No CA in the directory yet (`oakley pki init` makes one). */
  NoCa: "OAK_E_PKI_NO_CA",
  /** Would overwrite a CA or an issued certificate that exists. */
  Exists: "OAK_E_PKI_EXISTS",
  /** No certificate by that name. */
  UnknownName: "OAK_E_PKI_UNKNOWN_NAME",
  /** A name, server name, lifetime or key type that cannot be used. */
  BadInput: "OAK_E_PKI_BAD_INPUT",
  /** Another `oakley pki` command holds the directory's lock. */
  Busy: "OAK_E_PKI_BUSY",
  /** Reading or writing the CA directory failed, or a file in it is damaged. */
  Io: "OAK_E_PKI_IO",
  /** The certificate is revoked or expired. */
  Unusable: "OAK_E_PKI_UNUSABLE",
} as const;
export type PkiErrorCode = (typeof PkiErrorCode)[keyof typeof PkiErrorCode];
