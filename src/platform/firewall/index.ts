/**
 * platform/firewall — nftables access for Oakley's own table.
 *
 * Public API:
 *   NftTable(family = "inet", name = "oakley", {nftPath?, netns?, timeoutMs?})
 *     .install(spec)   atomic whole-table replacement (add+delete+define in one nft batch)
 *     .check(spec)     nft -c: kernel-validated dry run
 *     .inspect()       -> NftTableState | null (chains; rules with comment, verdict, counters)
 *     .listText()      nft's text form, or null
 *     .remove()        -> true when the table existed
 *   Model + rendering  NftTableSpec { chains: NftChain { hook, priority, policy, rules: NftRule
 *                      { matches: NftMatch[], counter, verdict, comment } } }, renderTable,
 *                      renderReplaceTransaction, safeComment(text)
 *   Errors             FirewallError { code OAK_E_FIREWALL_*, message (names the fix), stderr? }:
 *                      NftMissing (install nftables), PermissionDenied (root/CAP_NET_ADMIN),
 *                      Syntax, Unsupported (kernel modules), Command, BadOutput, BadArgument
 *   Port owners        findUdpPortOwners(port, procRoot?) -> {pid, command}[] via /proc/net/udp{,6}
 *                      and /proc/PID/fd; parseProcNetUdp(text)
 * Every call returns a Result; nothing throws at run time.
 */
export { type FirewallError, FirewallErrorCode, firewallError } from "./errors.js";
export {
  type NftChainState,
  type NftRuleState,
  type NftTableState,
  parseNftListJson,
} from "./inspect.js";
export { classifyNftFailure, type NftOptions, type NftOutput, runNft } from "./nft.js";
export {
  findUdpPortOwners,
  type PortOwner,
  type ProcNetUdpEntry,
  parseProcNetUdp,
} from "./proc-net.js";
export {
  type AddressRange,
  type NftChain,
  type NftHook,
  type NftMatch,
  type NftRule,
  type NftTableSpec,
  type NftVerdict,
  type PortRange,
  renderReplaceTransaction,
  renderRule,
  renderTable,
  safeComment,
} from "./ruleset.js";
export { NftTable } from "./table.js";
