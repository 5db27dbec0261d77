/** Every deep-fuzz target, parsers first (names are what `npm run fuzz -- --parser NAME` takes). */
import { engineTargets } from "./engines.js";
import { parserTargets } from "./parsers.js";
import type { FuzzTarget } from "./target.js";

export const allTargets: FuzzTarget[] = [...parserTargets, ...engineTargets];

/** Targets whose name equals `sel` or starts with `sel:` (a group such as "isakmp"). */
export function selectTargets(sel: readonly string[]): FuzzTarget[] {
  if (sel.length === 0) return allTargets;
  return allTargets.filter((t) => sel.some((s) => t.name === s || t.name.startsWith(`${s}:`)));
}
