/**
 * Reads `nft -j list table inet NAME` (libnftables JSON schema 1, libnftables-json(5)) into the
 * little the daemon needs: does the table exist, which chains and hooks, and per rule its
 * comment, verdict and counter (packets/bytes) — `oakley status` shows "N packets blocked".
 *
 * Defensive: the text comes from another program; anything unexpected is a BadOutput value,
 * never a throw. Unknown object kinds and expressions are skipped (newer nft adds some).
 * Leaves out: rebuilding match expressions (we compare by comment, not by re-rendering).
 */
import { err, ok, type Result } from "../../base/result.js";
import { type FirewallError, FirewallErrorCode, firewallError } from "./errors.js";

export interface NftChainState {
  readonly name: string;
  readonly hook?: string;
  readonly priority?: number;
  readonly policy?: string;
}

export interface NftRuleState {
  readonly chain: string;
  readonly handle: number;
  readonly comment?: string;
  /** The rule's final verdict statement, when it has one ("accept", "drop", ...). */
  readonly verdict?: string;
  /** Counter values when the rule has a counter. */
  readonly packets?: bigint;
  readonly bytes?: bigint;
}

export interface NftTableState {
  readonly family: string;
  readonly name: string;
  readonly comment?: string;
  readonly chains: readonly NftChainState[];
  readonly rules: readonly NftRuleState[];
}

const MAX_TEXT = 32 << 20;
const MAX_OBJECTS = 100_000;

function bad(message: string): Result<never, FirewallError> {
  return err(firewallError(FirewallErrorCode.BadOutput, `cannot read nft -j output: ${message}`));
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const VERDICTS = ["accept", "drop", "reject", "continue", "return", "jump", "goto", "queue"];

function counterValue(v: unknown): bigint | undefined {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
}

/** Parses the JSON of one `list table`; `family`/`name` select the table (others are ignored). */
export function parseNftListJson(
  text: string,
  family: string,
  name: string,
): Result<NftTableState | null, FirewallError> {
  if (text.length > MAX_TEXT) return bad("more than 32 MiB");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return bad("not JSON");
  }
  if (!isObj(doc) || !Array.isArray(doc.nftables)) return bad('no "nftables" array');
  const items: unknown[] = doc.nftables;
  if (items.length > MAX_OBJECTS) return bad(`more than ${MAX_OBJECTS} objects`);
  let table: { family: string; name: string; comment?: string } | undefined;
  const chains: NftChainState[] = [];
  const rules: NftRuleState[] = [];
  const ours = (o: Record<string, unknown>): boolean =>
    o.family === family && (o.table === name || o.name === name);
  for (const item of items) {
    if (!isObj(item)) return bad("an entry is not an object");
    const t = item.table;
    if (isObj(t) && t.family === family && t.name === name) {
      table = { family, name, ...(typeof t.comment === "string" ? { comment: t.comment } : {}) };
      continue;
    }
    const c = item.chain;
    if (isObj(c) && c.family === family && c.table === name) {
      if (typeof c.name !== "string") return bad("a chain has no name");
      chains.push({
        name: c.name,
        ...(typeof c.hook === "string" ? { hook: c.hook } : {}),
        ...(typeof c.prio === "number" ? { priority: c.prio } : {}),
        ...(typeof c.policy === "string" ? { policy: c.policy } : {}),
      });
      continue;
    }
    const r = item.rule;
    if (isObj(r) && ours(r) && r.table === name) {
      if (typeof r.chain !== "string") return bad("a rule has no chain");
      if (typeof r.handle !== "number" || !Number.isSafeInteger(r.handle)) {
        return bad("a rule has no numeric handle");
      }
      const expr = r.expr;
      if (!Array.isArray(expr)) return bad("a rule has no expression list");
      let verdict: string | undefined;
      let packets: bigint | undefined;
      let bytes: bigint | undefined;
      for (const e of expr as unknown[]) {
        if (!isObj(e)) return bad("a rule expression is not an object");
        for (const v of VERDICTS) if (v in e) verdict = v;
        const ctr = e.counter;
        if (isObj(ctr)) {
          packets = counterValue(ctr.packets);
          bytes = counterValue(ctr.bytes);
          if (packets === undefined || bytes === undefined) return bad("a counter is not a count");
        }
      }
      rules.push({
        chain: r.chain,
        handle: r.handle,
        ...(typeof r.comment === "string" ? { comment: r.comment } : {}),
        ...(verdict !== undefined ? { verdict } : {}),
        ...(packets !== undefined && bytes !== undefined ? { packets, bytes } : {}),
      });
    }
  }
  if (!table) return ok(null);
  return ok({ ...table, chains, rules });
}
