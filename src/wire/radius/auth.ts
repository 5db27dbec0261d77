/**
 * RADIUS authenticators and User-Password hiding:
 *  - User-Password hiding, RFC 2865 §5.2: c1 = p1 xor MD5(S + RA), ci = pi xor MD5(S + c(i-1)),
 *    the password padded with NULs to a multiple of 16 octets (at most 128).
 *  - Response Authenticator, RFC 2865 §3: MD5(Code + ID + Length + RequestAuth + Attributes + S).
 *  - Request Authenticator of Accounting-Request (RFC 2866 §3) and of CoA-/Disconnect-Request
 *    (RFC 5176 §3.5): the same MD5 with 16 zero octets in place of RequestAuth.
 *  - Message-Authenticator, RFC 3579 §3.2 (and RFC 5176 §3.5): HMAC-MD5 keyed with S over the
 *    whole packet with the attribute's own value zeroed; the Authenticator field holds the
 *    Request Authenticator for Access-Request and for replies (the request's), and 16 zero
 *    octets for Accounting-, CoA- and Disconnect-Requests, whose Request Authenticator is then
 *    computed over the packet including the finished Message-Authenticator.
 *
 * Blast-RADIUS (CVE-2024-3596): the MD5 Response Authenticator alone can be forged by a
 * chosen-prefix collision. Oakley therefore puts a Message-Authenticator FIRST in every packet
 * it builds and, on Access-Accept/Reject/Challenge, treats a missing one as a failure.
 *
 * Pure functions (no I/O, no clock, no randomness: the Request Authenticator comes in).
 * Comparisons of MACs are constant-time.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { err, ok, type Result } from "../../base/result.js";
import { RadiusAttr, RadiusCode } from "../../registry/radius.js";
import {
  RADIUS_HEADER_LENGTH,
  type RadiusAttribute,
  type RadiusPacket,
  serializeRadiusPacket,
} from "./packet.js";

export const RadiusAuthErrorCode = {
  /** The reply's Response Authenticator does not match: wrong shared secret or forged reply. */
  BadResponseAuthenticator: "OAK_E_RADIUS_BAD_RESPONSE_AUTHENTICATOR",
  /** A request's Request Authenticator does not match (Accounting/CoA/Disconnect). */
  BadRequestAuthenticator: "OAK_E_RADIUS_BAD_REQUEST_AUTHENTICATOR",
  /** Message-Authenticator required (Blast-RADIUS) but absent. */
  MissingMessageAuthenticator: "OAK_E_RADIUS_MISSING_MESSAGE_AUTHENTICATOR",
  /** Message-Authenticator present but wrong. */
  BadMessageAuthenticator: "OAK_E_RADIUS_BAD_MESSAGE_AUTHENTICATOR",
  /** A password longer than User-Password can carry (128 octets). */
  PasswordTooLong: "OAK_E_RADIUS_PASSWORD_TOO_LONG",
  /** A hidden User-Password whose length is not a multiple of 16 in 16..128. */
  BadHiddenPassword: "OAK_E_RADIUS_BAD_HIDDEN_PASSWORD",
} as const;
export type RadiusAuthErrorCode = (typeof RadiusAuthErrorCode)[keyof typeof RadiusAuthErrorCode];

export interface RadiusAuthError {
  readonly code: RadiusAuthErrorCode;
  readonly message: string;
}

const authError = (code: RadiusAuthErrorCode, message: string) => err({ code, message });

function md5(...parts: Uint8Array[]): Buffer {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest();
}

const ZERO16 = new Uint8Array(16);

/** RFC 2865 §5.2 User-Password hiding. */
export function hideUserPassword(
  password: Uint8Array,
  secret: Uint8Array,
  requestAuthenticator: Uint8Array,
): Result<Uint8Array, RadiusAuthError> {
  if (password.length > 128) {
    return authError(RadiusAuthErrorCode.PasswordTooLong, "password is longer than 128 octets");
  }
  const len = Math.max(16, Math.ceil(password.length / 16) * 16);
  const out = new Uint8Array(len);
  let prev: Uint8Array = requestAuthenticator;
  for (let off = 0; off < len; off += 16) {
    const b = md5(secret, prev);
    for (let i = 0; i < 16; i++) out[off + i] = (password[off + i] ?? 0) ^ (b[i] ?? 0);
    prev = out.subarray(off, off + 16);
  }
  return ok(out);
}

/** Inverse of hideUserPassword; trailing NUL padding is removed. */
export function revealUserPassword(
  hidden: Uint8Array,
  secret: Uint8Array,
  requestAuthenticator: Uint8Array,
): Result<Uint8Array, RadiusAuthError> {
  if (hidden.length < 16 || hidden.length > 128 || hidden.length % 16 !== 0) {
    return authError(
      RadiusAuthErrorCode.BadHiddenPassword,
      `hidden User-Password of ${hidden.length} octets is not a multiple of 16 in 16..128`,
    );
  }
  const out = new Uint8Array(hidden.length);
  let prev: Uint8Array = requestAuthenticator;
  for (let off = 0; off < hidden.length; off += 16) {
    const b = md5(secret, prev);
    for (let i = 0; i < 16; i++) out[off + i] = (hidden[off + i] ?? 0) ^ (b[i] ?? 0);
    prev = hidden.subarray(off, off + 16);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return ok(out.slice(0, end));
}

/** Offset of the Message-Authenticator value in a serialized packet, or -1. */
function messageAuthenticatorOffset(bytes: Uint8Array): number {
  const length = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  let off = RADIUS_HEADER_LENGTH;
  while (off + 2 <= length) {
    const alen = bytes[off + 1] ?? 0;
    if (alen < 2) return -1;
    if (bytes[off] === RadiusAttr.MessageAuthenticator && alen === 18) return off + 2;
    off += alen;
  }
  return -1;
}

/** HMAC-MD5 over `bytes` with `authField` in the Authenticator and the MA value zeroed. */
function hmacWith(bytes: Uint8Array, authField: Uint8Array, maOffset: number, secret: Uint8Array) {
  const length = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  const copy = Buffer.from(bytes.subarray(0, length));
  copy.set(authField, 4);
  copy.fill(0, maOffset, maOffset + 16);
  return createHmac("md5", secret).update(copy).digest();
}

/** Codes whose Request Authenticator is computed (not random): RFC 2866 §3, RFC 5176 §3.5. */
export function hasComputedRequestAuthenticator(code: number): boolean {
  return (
    code === RadiusCode.AccountingRequest ||
    code === RadiusCode.DisconnectRequest ||
    code === RadiusCode.CoaRequest
  );
}

function withMessageAuthenticatorFirst(attrs: readonly RadiusAttribute[]): RadiusAttribute[] {
  return [
    { type: RadiusAttr.MessageAuthenticator, value: new Uint8Array(16) },
    ...attrs.filter((a) => a.type !== RadiusAttr.MessageAuthenticator),
  ];
}

export interface RequestToSign {
  readonly code: number;
  readonly identifier: number;
  readonly attributes: readonly RadiusAttribute[];
}

/**
 * Builds a signed request: Message-Authenticator first; for Access-Request the given random
 * `requestAuthenticator` (16 octets), for Accounting/CoA/Disconnect the computed one.
 * Returns the bytes and the Request Authenticator used (to check the reply against).
 */
export function signRequest(
  req: RequestToSign,
  secret: Uint8Array,
  requestAuthenticator: Uint8Array,
): { readonly bytes: Uint8Array; readonly authenticator: Uint8Array } {
  const computed = hasComputedRequestAuthenticator(req.code);
  const bytes = serializeRadiusPacket({
    code: req.code,
    identifier: req.identifier,
    authenticator: computed ? ZERO16 : requestAuthenticator,
    attributes: withMessageAuthenticatorFirst(req.attributes),
  });
  const ma = RADIUS_HEADER_LENGTH + 2;
  bytes.set(hmacWith(bytes, computed ? ZERO16 : requestAuthenticator, ma, secret), ma);
  if (computed) {
    const ra = md5(bytes, secret);
    bytes.set(ra, 4);
    return { bytes, authenticator: ra };
  }
  return { bytes, authenticator: requestAuthenticator.slice() };
}

/** Builds a signed reply (Access-*, Accounting-Response, CoA-/Disconnect-ACK/NAK). */
export function signResponse(
  res: RequestToSign,
  requestAuthenticator: Uint8Array,
  secret: Uint8Array,
): Uint8Array {
  const bytes = serializeRadiusPacket({
    code: res.code,
    identifier: res.identifier,
    authenticator: requestAuthenticator,
    attributes: withMessageAuthenticatorFirst(res.attributes),
  });
  const ma = RADIUS_HEADER_LENGTH + 2;
  bytes.set(hmacWith(bytes, requestAuthenticator, ma, secret), ma);
  bytes.set(md5(bytes, secret), 4);
  return bytes;
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Codes of replies to an Access-Request: Message-Authenticator mandatory on them. */
function isAccessReply(code: number): boolean {
  return (
    code === RadiusCode.AccessAccept ||
    code === RadiusCode.AccessReject ||
    code === RadiusCode.AccessChallenge
  );
}

/**
 * Verifies a reply (`bytes` as received, already parsed into `p`) against the request's
 * authenticator: Response Authenticator always; Message-Authenticator always when present and
 * required on Access-Accept/Reject/Challenge (Blast-RADIUS).
 */
export function verifyResponse(
  bytes: Uint8Array,
  p: RadiusPacket,
  requestAuthenticator: Uint8Array,
  secret: Uint8Array,
): Result<void, RadiusAuthError> {
  const length = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  const expect = md5(
    bytes.subarray(0, 4),
    requestAuthenticator,
    bytes.subarray(RADIUS_HEADER_LENGTH, length),
    secret,
  );
  if (!sameMac(expect, p.authenticator)) {
    return authError(
      RadiusAuthErrorCode.BadResponseAuthenticator,
      "RADIUS reply fails its Response Authenticator check (wrong shared secret?)",
    );
  }
  return checkMessageAuthenticator(bytes, requestAuthenticator, secret, isAccessReply(p.code));
}

function checkMessageAuthenticator(
  bytes: Uint8Array,
  authField: Uint8Array,
  secret: Uint8Array,
  required: boolean,
): Result<void, RadiusAuthError> {
  const ma = messageAuthenticatorOffset(bytes);
  if (ma < 0) {
    return required
      ? authError(
          RadiusAuthErrorCode.MissingMessageAuthenticator,
          "RADIUS packet has no Message-Authenticator (required against Blast-RADIUS, CVE-2024-3596)",
        )
      : ok(undefined);
  }
  const expect = hmacWith(bytes, authField, ma, secret);
  if (!sameMac(expect, bytes.subarray(ma, ma + 16))) {
    return authError(
      RadiusAuthErrorCode.BadMessageAuthenticator,
      "RADIUS Message-Authenticator is wrong (wrong shared secret?)",
    );
  }
  return ok(undefined);
}

/**
 * Verifies an Accounting-, CoA- or Disconnect-Request as received: the computed Request
 * Authenticator, and the Message-Authenticator (required when `requireMessageAuthenticator`).
 * Access-Requests carry a random authenticator; only their Message-Authenticator is checked.
 */
export function verifyRequest(
  bytes: Uint8Array,
  p: RadiusPacket,
  secret: Uint8Array,
  requireMessageAuthenticator: boolean,
): Result<void, RadiusAuthError> {
  if (!hasComputedRequestAuthenticator(p.code)) {
    return checkMessageAuthenticator(bytes, p.authenticator, secret, requireMessageAuthenticator);
  }
  const length = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  const expect = md5(
    bytes.subarray(0, 4),
    ZERO16,
    bytes.subarray(RADIUS_HEADER_LENGTH, length),
    secret,
  );
  if (!sameMac(expect, p.authenticator)) {
    return authError(
      RadiusAuthErrorCode.BadRequestAuthenticator,
      "RADIUS request fails its Request Authenticator check (wrong shared secret?)",
    );
  }
  return checkMessageAuthenticator(bytes, ZERO16, secret, requireMessageAuthenticator);
}
