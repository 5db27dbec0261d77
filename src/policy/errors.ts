/**
 * Stable error codes of the policy store (DESIGN rule 6).
 *
 * These live here rather than in src/base/errors.ts because base/ belongs to another area; they
 * follow the same rules (stable `OAK_E_*` strings, never renamed or reused) and can be moved to
 * base/ unchanged. The daemon enters block mode on `OAK_E_STORE_CORRUPT` and
 * `OAK_E_STORE_UNREADABLE`.
 */

export const StoreErrorCode = {
  /** The file exists but is not a valid store: not an SQLite database, or fails integrity checks. */
  Corrupt: "OAK_E_STORE_CORRUPT",
  /** The file (or its directory) cannot be opened or read: permissions, missing, is a directory. */
  Unreadable: "OAK_E_STORE_UNREADABLE",
  /** A write was attempted on a store opened read-only (by request, or schema newer than ours). */
  ReadOnly: "OAK_E_STORE_READ_ONLY",
  /** A write to one object written by a newer Oakley (unknown extensions / newer object version). */
  NewerObject: "OAK_E_POLICY_NEWER_OBJECT",
  /** A value does not satisfy the model; `issues` names each field path and the fix. */
  Invalid: "OAK_E_POLICY_INVALID",
  /** No object of that kind and name. */
  NotFound: "OAK_E_POLICY_NOT_FOUND",
  /** An object of that kind and name already exists. */
  Exists: "OAK_E_POLICY_EXISTS",
  /** The object is referenced by another object (e.g. a PSK named by a policy rule). */
  InUse: "OAK_E_POLICY_IN_USE",
  /** A reference names an object that does not exist (e.g. rule names PSK 'x', there is none). */
  DanglingReference: "OAK_E_POLICY_DANGLING_REFERENCE",
  /** The assigned policy cannot be used (no policy assigned, or it does not validate). */
  Unusable: "OAK_E_POLICY_UNUSABLE",
  /** A pre-shared key shorter than MIN_PSK_LENGTH, and the store does not allow weak keys. */
  WeakPsk: "OAK_E_POLICY_WEAK_PSK",
  /** Import text is not YAML/JSON or not an Oakley policy-store document. */
  ImportFormat: "OAK_E_POLICY_IMPORT_FORMAT",
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

/** One validation problem: where (field path such as `policies[0].rules[1].filters[0].ports`) and how to fix it. */
export interface ValidationIssue {
  readonly path: string;
  /** Says what is wrong and what to write instead. Never contains secret values. */
  readonly message: string;
}

export interface StoreError {
  readonly code: StoreErrorCode;
  /** One line for a person: what happened and why; never contains secret values. */
  readonly message: string;
  readonly issues?: readonly ValidationIssue[];
  /** For NewerObject: the extension paths (JSON pointers) this version does not understand. */
  readonly extensions?: readonly string[];
}

export function storeError(
  code: StoreErrorCode,
  message: string,
  extra: { issues?: readonly ValidationIssue[]; extensions?: readonly string[] } = {},
): StoreError {
  return { code, message, ...extra };
}

/** Formats issues one per line, as the CLI prints them. */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join("\n");
}
