/**
 * Stable error codes of the management (control) protocol (DESIGN rule 6).
 *
 * Kept here rather than in src/base/errors.ts because base/ belongs to another area; same rules:
 * stable `OAK_E_*` strings, never renamed or reused. Errors from the policy store
 * (`OAK_E_STORE_*`, `OAK_E_POLICY_*`) travel through the protocol unchanged, with their issues.
 */

export const ControlErrorCode = {
  /** Client and daemon speak no common protocol version; the message names both and the fix. */
  Version: "OAK_E_CTL_VERSION",
  /** Missing, wrong or expired token; client certificate not signed by the configured CA. */
  Auth: "OAK_E_CTL_AUTH",
  /** A line that is not JSON, or not a request/response object of this protocol. */
  BadMessage: "OAK_E_CTL_BAD_MESSAGE",
  /** A line longer than the configured maximum. */
  TooLarge: "OAK_E_CTL_TOO_LARGE",
  /** A request before the hello, or a second hello. */
  Sequence: "OAK_E_CTL_SEQUENCE",
  /** The method does not exist in the negotiated protocol version. */
  UnknownMethod: "OAK_E_CTL_UNKNOWN_METHOD",
  /** Parameters of a known method are missing or of the wrong type; message names the field. */
  BadParams: "OAK_E_CTL_BAD_PARAMS",
  /** The SA (or other runtime object) named does not exist. */
  NotFound: "OAK_E_CTL_NOT_FOUND",
  /** The daemon cannot be reached (no socket, refused, TLS failure, closed early). */
  Unavailable: "OAK_E_CTL_UNAVAILABLE",
  /** No answer in time. */
  Timeout: "OAK_E_CTL_TIMEOUT",
  /** Too many connections, or the server is shutting down. */
  Busy: "OAK_E_CTL_BUSY",
  /** The daemon hit a bug while serving the request (logged there; the connection survives). */
  Internal: "OAK_E_CTL_INTERNAL",
  /** The operation is not available on this target (e.g. a client-role daemon has no users). */
  Unsupported: "OAK_E_CTL_UNSUPPORTED",
} as const;
export type ControlErrorCode = (typeof ControlErrorCode)[keyof typeof ControlErrorCode];

export interface ControlIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * An error as it travels on the wire and as the client returns it. `code` is a ControlErrorCode
 * or a policy-store code (OAK_E_STORE_* / OAK_E_POLICY_*), kept as a string so that codes added
 * by newer daemons still reach the person.
 */
export interface ControlError {
  readonly code: string;
  /** One line for a person: what happened and what to do. Never secret material. */
  readonly message: string;
  readonly issues?: readonly ControlIssue[];
  /** For OAK_E_POLICY_NEWER_OBJECT: the unknown extension paths. */
  readonly extensions?: readonly string[];
}

export function controlError(
  code: string,
  message: string,
  extra: { issues?: readonly ControlIssue[]; extensions?: readonly string[] } = {},
): ControlError {
  return {
    code,
    message,
    ...(extra.issues ? { issues: extra.issues } : {}),
    ...(extra.extensions ? { extensions: extra.extensions } : {}),
  };
}
