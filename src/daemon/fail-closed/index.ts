/**
 * daemon/fail-closed — "block mode".
 *
 * The guard keeps an nftables table (`inet oakley`, src/platform/firewall) in the kernel that
 * drops, with a counter per rule, protected traffic seen in the clear on any interface except the
 * tunnel devices (oak*), while loopback, IKE (UDP 500/4500 both directions) and ESP with the
 * set's IKE peers (client: its server; server: its listen address, or this host's own addresses
 * on 0.0.0.0), and optionally the management port stay open. It is installed BEFORE traffic
 * starts and removed only by a clean stop, so a crashed or SIGKILLed daemon still blocks.
 *
 * Public API:
 *   blockSetFromPolicy(effectivePolicy | null, role, resolver?) -> Result<BlockSet>
 *       role = {role:"server", listen?} | {role:"client", server, defaultRoute, routes};
 *       the set carries ikePeers (the IKE/ESP exemption's addresses; a client that re-resolves
 *       its server calls enterProtectedMode with the new set, an atomic table replacement)
 *       negotiate/block rules -> drop, permit rules (and clear fallback) -> accept, in policy order
 *   DEFAULT_BLOCK_SET (L2TP UDP 1701 from/to this host); parseBlockSet / serializeBlockSet
 *   blockRuleset(set, exemptions?) -> chains for NftTable.install (exemptions: DEFAULT_EXEMPTIONS
 *       {tunnelInterfaces ["oak*"], ikePorts [500, 4500], managementPort?})
 *   new FailClosedGuard({statusPath?, table?, exemptions?, now?, pid?})
 *     .begin()                     -> {tablePresent, previous?: "previous instance did not stop
 *                                     cleanly; traffic was blocked meanwhile", previousStatus}
 *     .enterProtectedMode(set)     install + save set + status "protected"; start traffic after
 *     .enterBlockMode(why, set?)   why = StartFailure | string; set defaults to the saved set,
 *                                  then DEFAULT_BLOCK_SET; status "block" with the reason
 *     .cleanStop({unblock?})       status "stopped" + remove the table (block mode keeps it
 *                                  unless unblock)
 *   readFailClosedStatus(path = "/run/oakley/status.json") -> Result<FailClosedStatus | null>
 *       FailClosedStatus {version 1, mode "protected"|"block"|"stopped", reason?, code?, since,
 *       pid, enforced, blockSet?, previous?}   — for `oakley status`
 *   blockedPackets(table?)         the counters without a guard (for `oakley status`)
 *   StartFailure + describeStartFailure: port-in-use (portInUse(port) names the holder via
 *       /proc), store (fromStoreError), crypto, tun, firewall, runtime; fromBindError maps a
 *       src/platform bind failure. Text: "cannot enter protected mode: UDP 500 (IKE) is in use
 *       by charon (pid 812); ..."
 *
 * Errors: FailClosedError {code OAK_E_FAILCLOSED_*, message, firewall?}.
 */
export {
  type AddressSelector,
  type BlockEntry,
  type BlockSet,
  blockSetFromPolicy,
  DEFAULT_BLOCK_SET,
  type IkePeers,
  parseBlockSet,
  type Role,
  serializeBlockSet,
  type TrafficSelector,
} from "./block-set.js";
export { type FailClosedError, FailClosedErrorCode } from "./errors.js";
export {
  describeStartFailure,
  failureCode,
  fromBindError,
  fromStoreError,
  portInUse,
  type StartFailure,
} from "./reasons.js";
export {
  BLOCK_COMMENT_PREFIX,
  blockRuleset,
  DEFAULT_EXEMPTIONS,
  describeSelector,
  type Exemptions,
} from "./rules.js";
export {
  blockSetPathFor,
  DEFAULT_STATUS_PATH,
  type FailClosedMode,
  type FailClosedStatus,
  parseFailClosedStatus,
  readFailClosedStatus,
  serializeFailClosedStatus,
} from "./status.js";
export {
  type BeginReport,
  blockedPackets,
  FailClosedGuard,
  type GuardOptions,
  type GuardState,
  previousRunNote,
  transition,
} from "./supervisor.js";
