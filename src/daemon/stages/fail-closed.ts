/**
 * Stage "guard" of both daemons: the fail-closed rules (fail-closed/, "block mode").
 *
 *   beginFailClosed   before anything else: notes what an earlier run left (a crashed instance's
 *                     table still blocks); nothing is installed yet
 *   protect           protected mode: the block table for this run is installed BEFORE any
 *                     traffic flows, and outlives the process
 *   enterBlockMode    a start failure once the guard is up: block mode with the reason, one
 *                     log line, the error the command prints (both daemons)
 *   (on stop)         the caller's clean stop removes the table, or keeps blocking
 */
import { err, ok, type Result } from "../../base/result.js";
import type { Logger } from "../../obs/log.js";
import {
  type BlockSet,
  describeStartFailure,
  type FailClosedError,
  failureCode,
  FailClosedGuard,
  type StartFailure,
} from "../fail-closed/index.js";
import type { StageError } from "./errors.js";
import type { StartHost } from "./host.js";

/** How the error messages name the way out ("run with" for serve, "use" for connect). */
export interface FailClosedSetting {
  readonly failClosed: boolean;
  readonly statusFile: string;
  readonly optOut: string;
}

/** The guard (undefined with --no-fail-closed), begun. */
export async function beginFailClosed(
  s: FailClosedSetting,
  host: StartHost,
  log: Logger,
): Promise<Result<FailClosedGuard | undefined, StageError>> {
  if (!s.failClosed) return ok(undefined);
  const guard = new FailClosedGuard({ statusPath: s.statusFile, table: host.firewall() });
  const b = await guard.begin();
  if (!b.ok)
    return err({
      code: b.error.code,
      message: `fail-closed: ${b.error.message} (or ${s.optOut} --no-fail-closed)`,
    });
  if (b.value.previous) log.warn(b.value.previous);
  return ok(guard);
}

/** Protected mode with this run's block set (from blockSetFromPolicy); returns the set. */
export async function protect(
  guard: FailClosedGuard,
  set: Result<BlockSet, FailClosedError>,
  optOut: string,
): Promise<Result<BlockSet, StageError>> {
  if (!set.ok) return err({ code: set.error.code, message: set.error.message });
  const p = await guard.enterProtectedMode(set.value);
  if (!p.ok)
    return err({
      code: p.error.code,
      message: `fail-closed: ${p.error.message} (or ${optOut} --no-fail-closed)`,
    });
  return ok(set.value);
}

/**
 * A start failure once the guard is up: block mode with the reason in the status file and the
 * log (or, when nftables refuses even that, a log line saying so); the error the command prints
 * and exits 1 with (`fallbackCode` when the failure has none). `set` is the run's block set
 * (default: the saved one).
 */
export async function enterBlockMode(
  guard: FailClosedGuard,
  f: StartFailure,
  log: Logger,
  o: { readonly fallbackCode: string; readonly set?: BlockSet | undefined },
): Promise<StageError> {
  const message = describeStartFailure(f);
  const r = await guard.enterBlockMode(f, o.set);
  if (!r.ok) log.error(`${message}; block mode could not be entered: ${r.error.message}`);
  else log.error(`${message}; traffic the policy protects is blocked (block mode)`);
  return { code: failureCode(f) ?? o.fallbackCode, message };
}
