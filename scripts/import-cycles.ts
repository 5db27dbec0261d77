/**
 * Finds import cycles among modules, for scripts/check-deps.ts.
 *
 * Edges are the imports that load a module when the importer is evaluated: `import ... from`,
 * `export ... from` and bare `import "x"`. Left out, on purpose:
 *  - `import type` / `export type`: erased by the compiler, they never load anything, so a
 *    cycle of types cannot leave a module half-initialised. (An inline `import { type A }` is
 *    NOT left out: with verbatimModuleSyntax it still compiles to `import {} from`, which loads.)
 *  - `import("x")`: loaded later, after every static import has finished evaluating.
 */

const staticImportRe = /^\s*(import|export)\s+(type\s+)?(?:[^;"']*?\sfrom\s*)?["']([^"']+)["']/gm;

/** The specifiers of the runtime static imports in one module's source text. */
export function runtimeImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(staticImportRe)) {
    const [, , typeOnly, spec] = m;
    if (typeOnly || spec === undefined) continue;
    out.push(spec);
  }
  return out;
}

export interface Cycle {
  /** One cycle through the first module (by name): it starts and ends there, e.g. [a, b, a]. */
  readonly path: readonly string[];
  /** Every module tangled with it (they all reach each other), sorted. */
  readonly modules: readonly string[];
}

/**
 * One Cycle per strongly connected component of more than one module, or a module importing
 * itself (Tarjan's algorithm). Edges to modules outside the graph are ignored.
 */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): Cycle[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  const edges = (n: string) => (graph.get(n) ?? []).filter((m) => graph.has(m));

  // Recursive: src/ has a few hundred modules, far from the stack limit.
  const visit = (n: string): void => {
    index.set(n, index.size);
    low.set(n, index.get(n) ?? 0);
    stack.push(n);
    onStack.add(n);
    for (const m of edges(n)) {
      if (!index.has(m)) {
        visit(m);
        low.set(n, Math.min(low.get(n) ?? 0, low.get(m) ?? 0));
      } else if (onStack.has(m)) {
        low.set(n, Math.min(low.get(n) ?? 0, index.get(m) ?? 0));
      }
    }
    if (low.get(n) !== index.get(n)) return;
    const c: string[] = [];
    for (let m = stack.pop(); m !== undefined; m = stack.pop()) {
      onStack.delete(m);
      c.push(m);
      if (m === n) break;
    }
    if (c.length > 1 || edges(n).includes(n)) components.push(c);
  };
  for (const n of graph.keys()) if (!index.has(n)) visit(n);
  return components.map((c) => {
    const modules = [...c].sort();
    return { path: cyclePath(modules, edges), modules };
  });
}

/** A shortest path from the component's first module back to itself (breadth-first). */
function cyclePath(component: readonly string[], edges: (n: string) => string[]): string[] {
  const inside = new Set(component);
  const start = component[0] ?? "";
  const from = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const n = queue[i] ?? "";
    for (const m of edges(n)) {
      if (!inside.has(m)) continue;
      if (m === start) {
        const path = [n];
        for (let p = from.get(n); p !== undefined; p = from.get(p)) path.push(p);
        return [...path.reverse(), start];
      }
      if (!from.has(m)) {
        from.set(m, n);
        queue.push(m);
      }
    }
  }
  return [start];
}
