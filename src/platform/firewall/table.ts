/**
 * One nftables table owned by Oakley (default `inet oakley`): install (atomic whole-table
 * replacement), check (nft -c: parsed and validated by the kernel, then aborted), inspect
 * (rules with counters), remove. Rules live in the kernel, so they outlive the process that
 * installed them, including a SIGKILL — that is what the fail-closed guard relies on.
 *
 * Never touches other tables: every command names ours.
 */
import { err, ok, type Result } from "../../base/result.js";
import type { FirewallError } from "./errors.js";
import { type NftTableState, parseNftListJson } from "./inspect.js";
import { isNoSuchObject, type NftOptions, runNft } from "./nft.js";
import { type NftTableSpec, renderReplaceTransaction } from "./ruleset.js";

export class NftTable {
  constructor(
    readonly family: "inet" = "inet",
    readonly name = "oakley",
    private readonly opts: NftOptions = {},
  ) {}

  /** Renders `spec` (whose family/name must be ours) as the atomic replacement text. */
  transaction(spec: Omit<NftTableSpec, "family" | "name">): Result<string, FirewallError> {
    return renderReplaceTransaction({ ...spec, family: this.family, name: this.name });
  }

  /** Replaces the whole table with `spec` in one kernel transaction. */
  async install(spec: Omit<NftTableSpec, "family" | "name">): Promise<Result<void, FirewallError>> {
    const text = this.transaction(spec);
    if (!text.ok) return text;
    const r = await runNft(["-f", "-"], text.value, this.opts);
    return r.ok ? ok(undefined) : r;
  }

  /** Validates `spec` with nft's check mode (the kernel sees the batch, nothing is applied). */
  async check(spec: Omit<NftTableSpec, "family" | "name">): Promise<Result<void, FirewallError>> {
    const text = this.transaction(spec);
    if (!text.ok) return text;
    const r = await runNft(["-c", "-f", "-"], text.value, this.opts);
    return r.ok ? ok(undefined) : r;
  }

  /** The table as the kernel has it now, or null when it does not exist. */
  async inspect(): Promise<Result<NftTableState | null, FirewallError>> {
    const r = await runNft(["-j", "list", "table", this.family, this.name], undefined, this.opts);
    if (!r.ok) return isNoSuchObject(r.error) ? ok(null) : r;
    return parseNftListJson(r.value.stdout, this.family, this.name);
  }

  /** The table in nft's own text form (for people and golden comparisons), or null. */
  async listText(): Promise<Result<string | null, FirewallError>> {
    const r = await runNft(["list", "table", this.family, this.name], undefined, this.opts);
    if (!r.ok) return isNoSuchObject(r.error) ? ok(null) : r;
    return ok(r.value.stdout);
  }

  /** Deletes the table; true when it existed. */
  async remove(): Promise<Result<boolean, FirewallError>> {
    const r = await runNft(["delete", "table", this.family, this.name], undefined, this.opts);
    if (r.ok) return ok(true);
    return isNoSuchObject(r.error) ? ok(false) : err(r.error);
  }
}
