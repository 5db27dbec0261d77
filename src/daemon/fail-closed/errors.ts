/**
 * Stable error codes of the fail-closed guard. Kept here because
 * src/base/errors.ts belongs to another area; same rules: `OAK_E_*`, never renamed or reused.
 */
import type { FirewallError } from "../../platform/firewall/index.js";

export const FailClosedErrorCode = {
  /** The status file exists but cannot be read (permissions, is a directory...). */
  StatusUnreadable: "OAK_E_FAILCLOSED_STATUS_UNREADABLE",
  /** The status file is not a status document of this version. */
  StatusCorrupt: "OAK_E_FAILCLOSED_STATUS_CORRUPT",
  /** The saved block set is not a block-set document. */
  BlockSetCorrupt: "OAK_E_FAILCLOSED_BLOCKSET_CORRUPT",
  /** Writing the status file or the saved block set failed. */
  WriteFailed: "OAK_E_FAILCLOSED_WRITE_FAILED",
  /** nftables refused (see `firewall`): the guard cannot enforce anything. */
  Firewall: "OAK_E_FAILCLOSED_FIREWALL",
  /** The requested transition is not allowed from the current mode (a caller bug). */
  BadTransition: "OAK_E_FAILCLOSED_BAD_TRANSITION",
} as const;
export type FailClosedErrorCode = (typeof FailClosedErrorCode)[keyof typeof FailClosedErrorCode];

export interface FailClosedError {
  readonly code: FailClosedErrorCode;
  /** One line for a person: what failed and the fix. */
  readonly message: string;
  readonly firewall?: FirewallError;
}

export function failClosedError(
  code: FailClosedErrorCode,
  message: string,
  firewall?: FirewallError,
): FailClosedError {
  return firewall === undefined ? { code, message } : { code, message, firewall };
}
