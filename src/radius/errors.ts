/**
 * Stable error codes of the RADIUS client, accounting queue and dynamic-authorization server
 * (DESIGN rule 6). The authenticator codes come from wire/radius/auth.ts.
 */
import { RadiusAuthErrorCode } from "../wire/radius/auth.js";

export const RadiusErrorCode = {
  ...RadiusAuthErrorCode,
  /** No valid reply from any server after every retry. */
  Timeout: "OAK_E_RADIUS_TIMEOUT",
  /**
   * Replies came, but none passed the authenticator checks: the shared secret differs from the
   * server's (or someone forges replies). Reported instead of Timeout when it is the cause.
   */
  BadSecret: "OAK_E_RADIUS_BAD_SECRET",
  /** The request cannot be encoded (user name or password too long, packet over 4096 octets). */
  BadRequest: "OAK_E_RADIUS_BAD_REQUEST",
  /** All 256 Identifiers towards every server are in use. */
  Busy: "OAK_E_RADIUS_BUSY",
  /** The request was cancelled by its owner (e.g. the PPP session went away). */
  Cancelled: "OAK_E_RADIUS_CANCELLED",
  /** A reply was accepted by the authenticators but is unusable (e.g. MS-CHAP2-Success malformed). */
  BadReply: "OAK_E_RADIUS_BAD_REPLY",
  /** The accounting queue file cannot be opened or written. */
  QueueUnavailable: "OAK_E_RADIUS_QUEUE_UNAVAILABLE",
  /** RADIUS configuration mistake (names the field). */
  BadConfig: "OAK_E_RADIUS_BAD_CONFIG",
} as const;
export type RadiusErrorCode = (typeof RadiusErrorCode)[keyof typeof RadiusErrorCode];

export interface RadiusError {
  readonly code: RadiusErrorCode;
  /** For a person: names the server(s) and what to check; never contains a secret. */
  readonly message: string;
}

export function radiusError(code: RadiusErrorCode, message: string): RadiusError {
  return { code, message };
}
