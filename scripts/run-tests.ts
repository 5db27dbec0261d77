/**
 * Finds test files and runs them with node's built-in test runner (through tsx).
 *   run-tests.ts [unit|interop|all] [filter...]
 * unit    = {src,scripts}/**\/*.test.ts, test/{helpers,fakes,vectors,scenarios,security,fuzz}/**\/*.test.ts (no root, no network)
 * interop = test/interop/**\/*.test.ts (root, namespaces, Debian packages installed by .ci/run)
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
function* walk(dir: string): Generator<string> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith(".test.ts")) yield p;
  }
}

const [kind = "all", ...filters] = process.argv.slice(2);
const unitDirs = [
  "src",
  "scripts",
  "test/helpers",
  "test/fakes",
  "test/vectors",
  "test/scenarios",
  "test/security",
  "test/fuzz",
];
const dirs =
  kind === "unit"
    ? unitDirs
    : kind === "interop"
      ? ["test/interop"]
      : [...unitDirs, "test/interop"];
let files = dirs.flatMap((d) => [...walk(join(root, d))]);
// Filters match the path inside the repository, not the checkout's own folder name.
if (filters.length > 0)
  files = files.filter((f) => filters.some((x) => relative(root, f).includes(x)));
files.sort();
if (files.length === 0) {
  console.error(`no test files for ${kind} ${filters.join(" ")}`);
  process.exit(kind === "interop" && filters.length === 0 ? 0 : 1);
}
console.log(`running ${files.length} test files (${kind})`);
// Interop tests share namespaces and ports: they run one file at a time.
const concurrency = kind === "interop" ? "1" : "2";
// Interop tests skip (with the reason) on a developer machine without root or packages. In CI
// (.ci/run sets OAKLEY_INTEROP_REQUIRED=1) a skip means a missing install step: it fails the run.
const required = process.env.OAKLEY_INTEROP_REQUIRED === "1";
// Output is streamed as it comes (a long interop run shows progress) and its tail kept for the
// skip count in the final summary.
const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    `--test-concurrency=${concurrency}`,
    ...files.map((f) => relative(root, f)),
  ],
  { cwd: root, stdio: ["inherit", "pipe", "inherit"] },
);
let tail = "";
child.stdout.on("data", (d: Buffer) => {
  process.stdout.write(d);
  tail = (tail + d.toString()).slice(-8192);
});
const status: number | null = await new Promise((r) => child.on("close", (code) => r(code)));
const skipped = Number(/(?:#|\u2139) skipped (\d+)/.exec(tail)?.[1] ?? "0");
if (required && skipped > 0) {
  console.error(
    `\n${skipped} test(s) skipped while OAKLEY_INTEROP_REQUIRED=1: see the skip reasons above`,
  );
  process.exit(1);
}
process.exit(status ?? 1);
