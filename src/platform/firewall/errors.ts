/**
 * Typed failures of the nftables boundary. Values, never throws: the daemon
 * decides what to do (it cannot enter protected mode without its table, so it reports the error
 * and the fix). Each message names the fix a person can apply.
 *
 * These codes live here (not in src/base/errors.ts) because base/ is another area's; they follow
 * the same rules: stable `OAK_E_FIREWALL_*` strings, never renamed or reused.
 */

export const FirewallErrorCode = {
  /** The `nft` program is not installed (or not on PATH). */
  NftMissing: "OAK_E_FIREWALL_NFT_MISSING",
  /** nft ran but the kernel refused: not root / no CAP_NET_ADMIN. */
  PermissionDenied: "OAK_E_FIREWALL_PERMISSION_DENIED",
  /** nft rejected the ruleset text (a bug in the generator, or an nft too old for a construct). */
  Syntax: "OAK_E_FIREWALL_SYNTAX",
  /** The kernel has no nf_tables (module missing) or refused an expression for a hook. */
  Unsupported: "OAK_E_FIREWALL_UNSUPPORTED",
  /** nft failed for another reason (see `stderr`). */
  Command: "OAK_E_FIREWALL_COMMAND",
  /** `nft -j` printed something this version cannot read. */
  BadOutput: "OAK_E_FIREWALL_BAD_OUTPUT",
  /** A ruleset value we refuse to render (bad interface name, address, port...): a caller bug. */
  BadArgument: "OAK_E_FIREWALL_BAD_ARGUMENT",
} as const;
export type FirewallErrorCode = (typeof FirewallErrorCode)[keyof typeof FirewallErrorCode];

export interface FirewallError {
  readonly code: FirewallErrorCode;
  /** One line a person can act on: what failed and the fix. */
  readonly message: string;
  /** nft's own error text (first lines), when there is one. */
  readonly stderr?: string;
}

export function firewallError(
  code: FirewallErrorCode,
  message: string,
  stderr?: string,
): FirewallError {
  return stderr === undefined ? { code, message } : { code, message, stderr };
}
