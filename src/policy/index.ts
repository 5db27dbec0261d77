/**
 * Public API of the policy store. Other areas import from here only.
 *
 *   const s = openStore("/var/lib/oakley/store.db");          // Result<PolicyStore, StoreError>
 *   s.value.policies.create(policy); s.value.assign("name");   // CRUD per kind, one assigned
 *   effectivePolicy(s.value);                                   // persistent first, then assigned
 *   s.value.subscribe((changes) => ...); s.value.poll();        // live changes, other processes
 *   exportYaml(s.value, {includeSecrets: false}); importYaml(s.value, text, {mode: "replace"});
 *   createDefaultStore(path, random)                            // seeded server store + secrets once
 *
 * Errors are values (StoreError with a stable OAK_E_* code). The daemon enters block mode on
 * OAK_E_STORE_CORRUPT / OAK_E_STORE_UNREADABLE from openStore and on OAK_E_POLICY_UNUSABLE from
 * effectivePolicy.
 */
export {
  type AddressSpec,
  DYNAMIC_FILTERS,
  type DynamicFilter,
  type DynamicResolver,
  formatIp,
  type IpAddress,
  parseAddressSpec,
  parseIp,
  parsePortSpec,
} from "./address.js";
export type { Json, JsonObject } from "./check.js";
export {
  DUMMY_PAP_CREDENTIALS,
  makeCredentials,
  ntPasswordHash,
  type PapKdf,
  type RandomBytes,
  scryptKdf,
  verifyPap,
} from "./credentials.js";
export {
  createDefaultStore,
  DEFAULT_POLICY,
  DEFAULT_POOL,
  DEFAULT_PSK,
  DEFAULT_USER,
  defaultServerPolicy,
  type InitialSecrets,
} from "./defaults.js";
export { formatIssues, type StoreError, StoreErrorCode, type ValidationIssue } from "./errors.js";
export {
  type CompiledFilter,
  type EffectivePolicy,
  type EffectiveRule,
  effectivePolicy,
  type PacketSelector,
  type ResolvedAuth,
  selectRule,
} from "./evaluator.js";
export {
  type ExportOptions,
  exportDocument,
  exportJson,
  exportYaml,
  type ImportOptions,
  type ImportSummary,
  importDocument,
  importJson,
  importYaml,
  REDACTED,
} from "./exchange.js";
export * from "./model.js";
export * from "./names.js";
export { LATEST_SCHEMA } from "./schema.js";
export {
  Collection,
  type ObjectKind,
  type OpenOptions,
  openStore,
  PolicyStore,
  type StoreChange,
  type StoredObject,
  type StoredPolicy,
  type StoreListener,
} from "./store.js";
export {
  type CheckedProfile,
  type ClientProfile,
  checkProfile,
  checkRoute,
  isProfileName,
  MIN_PSK_LENGTH,
  parseProfileDocument,
  PROFILE_DOC_KEY,
  profileNameFor,
  profileToDoc,
  profileToYaml,
  weakPskMessage,
} from "./profile.js";
export {
  DEFAULT_PROFILE_STORE,
  openProfileStore,
  PROFILE_SCHEMA,
  ProfileStore,
  type StoredProfile,
} from "./profile-store.js";
