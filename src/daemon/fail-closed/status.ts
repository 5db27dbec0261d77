/**
 * The fail-closed status file (default /run/oakley/status.json): what `oakley status` prints.
 *   {"version":1,"mode":"block","reason":"cannot enter protected mode: UDP 500 is in use by
 *    charon (pid 812)","code":"OAK_E_PLATFORM_ADDR_IN_USE","since":"2024-...Z","pid":4242,
 *    "enforced":true,"blockSet":"policy l2tp-ipsec-server","previous":"..."}
 * mode: "protected" (rules installed, daemon carrying traffic), "block" (rules installed, the
 * daemon could not start or failed), "stopped" (clean stop; rules removed).
 * `enforced` is false only when nftables itself refused: then nothing is blocked and the reason
 * says why — status never claims a protection that is not in the kernel.
 *
 * Written atomically (temporary file + rename in the same directory), so a reader never sees half
 * a document, even when the daemon is SIGKILLed while writing.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { err, ok, type Result } from "../../base/result.js";
import { type FailClosedError, FailClosedErrorCode, failClosedError } from "./errors.js";

export type FailClosedMode = "protected" | "block" | "stopped";

export interface FailClosedStatus {
  readonly version: 1;
  readonly mode: FailClosedMode;
  /** For block mode: "cannot enter protected mode: ..." (or the runtime failure). */
  readonly reason?: string;
  /** The stable OAK_E_* code of the cause, when there is one. */
  readonly code?: string;
  /** ISO 8601 time the mode was entered. */
  readonly since: string;
  /** The daemon process that wrote this. */
  readonly pid: number;
  /** Whether the block rules are in the kernel. */
  readonly enforced: boolean;
  /** Which block set is installed ("policy x", "saved at ... from policy x", "default ..."). */
  readonly blockSet?: string;
  /** What the start found of an earlier run ("previous instance did not stop cleanly; ..."). */
  readonly previous?: string;
}

export const DEFAULT_STATUS_PATH = "/run/oakley/status.json";

/** The saved block set lives next to the status file. */
export function blockSetPathFor(statusPath: string): string {
  return join(dirname(statusPath), "blockset.json");
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const MODES: readonly string[] = ["protected", "block", "stopped"];

function bad(message: string): Result<never, FailClosedError> {
  return err(failClosedError(FailClosedErrorCode.StatusCorrupt, `status file: ${message}`));
}

function optString(o: Record<string, unknown>, k: string): string | undefined | null {
  const v = o[k];
  if (v === undefined) return undefined;
  return typeof v === "string" && v.length <= 4000 ? v : null;
}

/** Parses the status document (JSON text). */
export function parseFailClosedStatus(text: string): Result<FailClosedStatus, FailClosedError> {
  if (text.length > 1 << 20) return bad("larger than 1 MiB");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return bad("not JSON (written by something else, or truncated)");
  }
  if (!isObj(doc) || doc.version !== 1) return bad("not a version-1 status document");
  if (typeof doc.mode !== "string" || !MODES.includes(doc.mode)) return bad("no valid mode");
  const since = doc.since;
  if (typeof since !== "string" || Number.isNaN(Date.parse(since)) || since.length > 64) {
    return bad("no valid since time");
  }
  if (typeof doc.pid !== "number" || !Number.isSafeInteger(doc.pid) || doc.pid < 0) {
    return bad("no valid pid");
  }
  if (typeof doc.enforced !== "boolean") return bad("no enforced flag");
  const out: {
    -readonly [K in keyof FailClosedStatus]: FailClosedStatus[K];
  } = {
    version: 1,
    mode: doc.mode as FailClosedMode,
    since,
    pid: doc.pid,
    enforced: doc.enforced,
  };
  for (const k of ["reason", "code", "blockSet", "previous"] as const) {
    const v = optString(doc, k);
    if (v === null) return bad(`${k} is not a string`);
    if (v !== undefined) out[k] = v;
  }
  if (out.mode === "block" && out.reason === undefined) return bad("block mode without a reason");
  return ok(out);
}

export function serializeFailClosedStatus(s: FailClosedStatus): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

/**
 * Reads the status file: null when there is none (never started, or /run was cleared by a
 * reboot); a typed error when it is unreadable or not a status document. For `oakley status`.
 */
export function readFailClosedStatus(
  path: string = DEFAULT_STATUS_PATH,
): Result<FailClosedStatus | null, FailClosedError> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return ok(null);
    return err(
      failClosedError(
        FailClosedErrorCode.StatusUnreadable,
        `cannot read the status file ${path}: ${code ?? String(e)}${code === "EACCES" ? " (run as root)" : ""}`,
      ),
    );
  }
  return parseFailClosedStatus(text);
}

/** Writes `text` to `path` atomically (tmp + rename), creating the directory. */
export function writeFileAtomic(path: string, text: string): Result<void, FailClosedError> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    // 0700: the runtime directory also holds the control socket; other users have no business
    // listing it or planting files in it.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, path);
    return ok(undefined);
  } catch (e) {
    return err(
      failClosedError(
        FailClosedErrorCode.WriteFailed,
        `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; check that its directory is writable by the daemon`,
      ),
    );
  }
}

export function writeFailClosedStatus(
  path: string,
  s: FailClosedStatus,
): Result<void, FailClosedError> {
  return writeFileAtomic(path, serializeFailClosedStatus(s));
}
