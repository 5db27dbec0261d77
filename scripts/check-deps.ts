/**
 * Checks the one-way dependency rule (scripts/layers.ts) over every import in src/, and that
 * no modules of src/ import each other in a cycle (scripts/import-cycles.ts: a cycle loads a
 * module before the one it imports has finished evaluating, and hides which one is the lower
 * level). Exit code 1 with one line per violation; run by `npm run check`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { findCycles, runtimeImports } from "./import-cycles.js";
import { ALLOWED } from "./layers.js";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const src = join(root, "src");

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith(".ts")) yield p;
  }
}

const importRe =
  /(?:import|export)\s[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
const problems: string[] = [];
/** Module -> the modules of src/ it loads at run time (paths relative to src/). */
const graph = new Map<string, string[]>();
for (const file of walk(src)) {
  const rel = relative(src, file);
  const layer = rel.split(sep)[0] ?? "";
  const allowed = ALLOWED[layer];
  if (!allowed) {
    problems.push(`${rel}: folder src/${layer} is not in scripts/layers.ts; add it there`);
    continue;
  }
  if (file.endsWith(".test.ts")) continue; // tests may reach across layers to build fixtures
  const text = readFileSync(file, "utf8");
  graph.set(
    rel,
    runtimeImports(text)
      .filter((spec) => spec.startsWith("."))
      .map((spec) => relative(src, resolve(dirname(file), spec)).replace(/\.js$/, ".ts")),
  );
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? "";
    if (!spec.startsWith(".")) continue;
    const target = relative(src, resolve(dirname(file), spec));
    if (target.startsWith("..")) {
      problems.push(`${rel}: imports ${spec} from outside src/`);
      continue;
    }
    const tl = target.split(sep)[0] ?? "";
    if (tl !== layer && !allowed.includes(tl)) {
      problems.push(`${rel}: ${layer}/ may not import ${tl}/ (${spec}); see scripts/layers.ts`);
    }
  }
}
for (const c of findCycles(graph)) {
  const also = c.modules.filter((m) => !c.path.includes(m));
  problems.push(
    `import cycle: ${c.path.join(" -> ")}${also.length > 0 ? ` (also tangled: ${also.join(", ")})` : ""}`,
  );
}
if (problems.length > 0) {
  console.error(`dependency rule violated (${problems.length}):\n${problems.join("\n")}`);
  process.exit(1);
}
console.log("dependency rule and import cycles: ok");
