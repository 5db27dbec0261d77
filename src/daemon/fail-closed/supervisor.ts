/**
 * The fail-closed supervisor: a small state machine over the block table
 * and the status file. The decisions are pure functions (`transition`, `previousRunNote`); the
 * `FailClosedGuard` class performs them (nft, files).
 *
 *            begin()                enterProtectedMode(set)
 *   idle ───────────────> idle ─────────────────────────────> protected ──cleanStop()──> stopped
 *                          │                                      │  ▲
 *                          │ enterBlockMode(reason[, set])        │  │ enterProtectedMode (after a fix)
 *                          └───────────────────────────> block <──┘──┘ (runtime failure)
 *
 * Order of effects, so that no moment leaves protected traffic unguarded:
 *   protected: install the table (atomic replace) -> save the block set -> write status;
 *              the caller starts traffic only after this returns ok.
 *   block:     install the table (the given set, else the last saved one, else the default)
 *              -> write status with the reason.
 *   cleanStop: write status "stopped" -> remove the table (traffic has already stopped).
 * A clean stop from block mode keeps the table unless asked to unblock: block mode means the
 * policy could not be enforced, and only a person should decide to let traffic go in the clear.
 *
 * No watchdog process: the rules are in the kernel, so a SIGKILLed daemon leaves them in force;
 * the next begin() finds the table and reports "previous instance did not stop cleanly; traffic
 * was blocked meanwhile".
 */
import { existsSync, readFileSync } from "node:fs";
import { err, ok, type Result } from "../../base/result.js";
import { type FirewallError, NftTable } from "../../platform/firewall/index.js";
import { type BlockSet, DEFAULT_BLOCK_SET, parseBlockSet, serializeBlockSet } from "./block-set.js";
import { type FailClosedError, FailClosedErrorCode, failClosedError } from "./errors.js";
import { DEFAULT_STATUS_PATH, blockSetPathFor } from "./status.js";
import {
  type FailClosedMode,
  type FailClosedStatus,
  readFailClosedStatus,
  writeFailClosedStatus,
  writeFileAtomic,
} from "./status.js";
import {
  BLOCK_COMMENT_PREFIX,
  blockRuleset,
  DEFAULT_EXEMPTIONS,
  type Exemptions,
} from "./rules.js";
import { describeStartFailure, failureCode, type StartFailure } from "./reasons.js";

export type GuardState = "idle" | FailClosedMode;
export type GuardEvent = "protect" | "block" | "stop";

/** Allowed transitions; anything else is a caller bug reported as BadTransition. */
export function transition(from: GuardState, ev: GuardEvent): GuardState | undefined {
  switch (ev) {
    case "protect":
      return from === "stopped" ? undefined : "protected";
    case "block":
      return from === "stopped" ? undefined : "block";
    case "stop":
      return from === "protected" || from === "block" || from === "idle" ? "stopped" : undefined;
  }
}

/** What begin() tells the operator about the previous run. */
export function previousRunNote(
  tablePresent: boolean,
  previous: FailClosedStatus | null,
): string | undefined {
  if (tablePresent) {
    if (previous?.mode === "block") {
      return `previous start failed (${previous.reason ?? "no reason recorded"}); traffic was blocked since ${previous.since}`;
    }
    if (previous?.mode === "protected") {
      return `previous instance (pid ${previous.pid}, protected since ${previous.since}) did not stop cleanly; traffic was blocked meanwhile`;
    }
    return "previous instance did not stop cleanly; traffic was blocked meanwhile";
  }
  if (previous?.mode === "protected" || previous?.mode === "block") {
    return `previous instance (pid ${previous.pid}) did not stop cleanly and its block rules are gone (removed by hand or by a reboot): traffic may have left in the clear since then`;
  }
  return undefined;
}

export interface GuardOptions {
  /** Status file; the saved block set goes next to it. Default /run/oakley/status.json. */
  readonly statusPath?: string;
  /** The nft table (default `inet oakley` in this namespace). */
  readonly table?: NftTable;
  readonly exemptions?: Exemptions;
  /** Wall clock for `since` (injected; default Date.now). */
  readonly now?: () => number;
  readonly pid?: number;
}

export interface BeginReport {
  readonly tablePresent: boolean;
  readonly previous?: string;
  readonly previousStatus: FailClosedStatus | null;
}

export class FailClosedGuard {
  readonly statusPath: string;
  readonly table: NftTable;
  readonly exemptions: Exemptions;
  private readonly now: () => number;
  private readonly pid: number;
  private stateValue: GuardState = "idle";
  private previous: string | undefined;

  constructor(opts: GuardOptions = {}) {
    this.statusPath = opts.statusPath ?? DEFAULT_STATUS_PATH;
    this.table = opts.table ?? new NftTable();
    this.exemptions = opts.exemptions ?? DEFAULT_EXEMPTIONS;
    this.now = opts.now ?? Date.now;
    this.pid = opts.pid ?? process.pid;
  }

  get state(): GuardState {
    return this.stateValue;
  }

  /** Looks at what an earlier run left: our table in the kernel, its status file. */
  async begin(): Promise<Result<BeginReport, FailClosedError>> {
    const t = await this.table.inspect();
    if (!t.ok) return err(this.fwError(t.error));
    const st = readFailClosedStatus(this.statusPath);
    const previousStatus = st.ok ? st.value : null;
    const note = previousRunNote(t.value !== null, previousStatus);
    this.previous = note;
    return ok({
      tablePresent: t.value !== null,
      previousStatus,
      ...(note !== undefined ? { previous: note } : {}),
    });
  }

  /** The block set saved by the last successful start, if readable. */
  savedBlockSet(): Result<BlockSet | null, FailClosedError> {
    const p = blockSetPathFor(this.statusPath);
    if (!existsSync(p)) return ok(null);
    let text: string;
    try {
      text = readFileSync(p, "utf8");
    } catch (e) {
      return err(
        failClosedError(
          FailClosedErrorCode.BlockSetCorrupt,
          `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        ),
      );
    }
    return parseBlockSet(text);
  }

  /**
   * Installs the block table for `set` and records protected mode. Start traffic only after
   * this returns ok; on an error, call enterBlockMode with a "firewall" failure.
   */
  async enterProtectedMode(set: BlockSet): Promise<Result<void, FailClosedError>> {
    if (transition(this.stateValue, "protect") === undefined) return this.badTransition("protect");
    const r = await this.table.install(blockRuleset(set, this.exemptions));
    if (!r.ok) return err(this.fwError(r.error));
    const saved = writeFileAtomic(blockSetPathFor(this.statusPath), serializeBlockSet(set));
    if (!saved.ok) return saved;
    this.stateValue = "protected";
    return writeFailClosedStatus(this.statusPath, this.status("protected", true, set.origin));
  }

  /**
   * Enters block mode: installs `set`, else the last saved set, else the default (L2TP), and
   * records the reason. When nftables itself refuses, the status says so (`enforced: false`)
   * and the error is returned.
   */
  async enterBlockMode(
    why: StartFailure | string,
    set?: BlockSet,
  ): Promise<Result<FailClosedStatus, FailClosedError>> {
    if (transition(this.stateValue, "block") === undefined) return this.badTransition("block");
    const reason = typeof why === "string" ? why : describeStartFailure(why);
    const code = typeof why === "string" ? undefined : failureCode(why);
    let chosen = set;
    let origin = set?.origin;
    if (!chosen) {
      const saved = this.savedBlockSet();
      if (saved.ok && saved.value) {
        chosen = saved.value;
        origin = `saved by the last successful start: ${saved.value.origin}`;
      } else {
        chosen = DEFAULT_BLOCK_SET;
        origin = saved.ok
          ? DEFAULT_BLOCK_SET.origin
          : `${DEFAULT_BLOCK_SET.origin}; the saved set was unusable: ${saved.error.message}`;
      }
    }
    const r = await this.table.install(blockRuleset(chosen, this.exemptions));
    this.stateValue = "block";
    const fw = r.ok ? undefined : this.fwError(r.error);
    const st = this.status(
      "block",
      r.ok,
      origin ?? chosen.origin,
      fw ? `${reason}; and the block rules could not be installed: ${fw.message}` : reason,
      code,
    );
    const w = writeFailClosedStatus(this.statusPath, st);
    if (fw) return err(fw);
    if (!w.ok) return w;
    return ok(st);
  }

  /**
   * A clean stop: status "stopped", then the table is removed. From block mode the table stays
   * unless `unblock` is set.
   */
  async cleanStop(opts: { unblock?: boolean } = {}): Promise<Result<boolean, FailClosedError>> {
    if (transition(this.stateValue, "stop") === undefined) return this.badTransition("stop");
    if (this.stateValue === "block" && !opts.unblock) return ok(false);
    const w = writeFailClosedStatus(this.statusPath, this.status("stopped", false));
    const r = await this.table.remove();
    if (!r.ok) return err(this.fwError(r.error));
    this.stateValue = "stopped";
    if (!w.ok) return w;
    return ok(r.value);
  }

  private status(
    mode: FailClosedMode,
    enforced: boolean,
    blockSet?: string,
    reason?: string,
    code?: string,
  ): FailClosedStatus {
    return {
      version: 1,
      mode,
      since: new Date(this.now()).toISOString(),
      pid: this.pid,
      enforced,
      ...(reason !== undefined ? { reason } : {}),
      ...(code !== undefined ? { code } : {}),
      ...(blockSet !== undefined ? { blockSet } : {}),
      ...(this.previous !== undefined ? { previous: this.previous } : {}),
    };
  }

  private fwError(e: FirewallError): FailClosedError {
    return failClosedError(FailClosedErrorCode.Firewall, e.message, e);
  }

  private badTransition(ev: GuardEvent): Result<never, FailClosedError> {
    return err(
      failClosedError(
        FailClosedErrorCode.BadTransition,
        `fail-closed guard: "${ev}" is not allowed in state "${this.stateValue}"`,
      ),
    );
  }
}

/** Sum of the block rules' counters in `table` (0 when the table is absent). */
export async function blockedPackets(
  table: NftTable = new NftTable(),
): Promise<Result<bigint, FailClosedError>> {
  const t = await table.inspect();
  if (!t.ok) return err(failClosedError(FailClosedErrorCode.Firewall, t.error.message, t.error));
  let n = 0n;
  for (const r of t.value?.rules ?? []) {
    if (r.verdict === "drop" && r.comment?.startsWith(BLOCK_COMMENT_PREFIX)) n += r.packets ?? 0n;
  }
  return ok(n);
}
