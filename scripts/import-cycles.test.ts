import assert from "node:assert/strict";
import { test } from "node:test";
import { findCycles, runtimeImports } from "./import-cycles.js";

const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges));

test("a graph without a cycle has none, even where two paths meet (a diamond)", () => {
  const g = graph({ a: ["b", "c"], b: ["d"], c: ["d"], d: ["outside"] });
  assert.deepEqual(findCycles(g), []);
});

test("a cycle is reported as a path from its first module back to it", () => {
  const g = graph({ top: ["lcp"], lcp: ["auth", "cp"], auth: ["lcp"], cp: [] });
  assert.deepEqual(findCycles(g), [{ path: ["auth", "lcp", "auth"], modules: ["auth", "lcp"] }]);
});

test("a tangle of three names the shortest cycle and every module in it", () => {
  const g = graph({ lcp: ["auth", "ipcp"], auth: ["lcp"], ipcp: ["lcp"] });
  assert.deepEqual(findCycles(g), [
    { path: ["auth", "lcp", "auth"], modules: ["auth", "ipcp", "lcp"] },
  ]);
});

test("a long cycle is followed all the way round; separate cycles are reported apart", () => {
  const g = graph({ a: ["b"], b: ["c"], c: ["d"], d: ["a"], x: ["y"], y: ["x"], z: ["z"] });
  assert.deepEqual(
    findCycles(g).map((c) => c.path),
    [
      ["a", "b", "c", "d", "a"],
      ["x", "y", "x"],
      ["z", "z"],
    ],
  );
});

test("runtime imports: type-only statements and dynamic imports are not edges", () => {
  const text = [
    'import { a } from "./a.js";',
    'import type { B } from "./b.js";',
    'import { type C } from "./c.js"; // still loads ./c.js (verbatimModuleSyntax)',
    "import {",
    "  d,",
    "  type D,",
    '} from "./d.js";',
    'import "./e.js";',
    'export * from "./f.js";',
    'export { g } from "./g.js";',
    'export type { H } from "./h.js";',
    'const i = await import("./i.js");',
    ' * import { j } from "./j.js"; (in a comment)',
    'const k = "import x from \\"./k.js\\"";',
  ].join("\n");
  assert.deepEqual(runtimeImports(text), [
    "./a.js",
    "./c.js",
    "./d.js",
    "./e.js",
    "./f.js",
    "./g.js",
  ]);
});
