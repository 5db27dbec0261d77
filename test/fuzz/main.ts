/**
 * The deep fuzzer: `npm run fuzz -- [--runs N] [--parser NAME]... [--seed S]`.
 *
 * Runs every target of targets.ts (each `parse*` codec, the policy import, the management
 * protocol, and the IKE / L2TP / PPP engines fed hostile messages) one after the other, each in
 * a worker thread watched by this thread: a throw, a non-Result, a broken round trip, an input
 * over the per-input budget, an engine table over its bound, or a worker that stops making
 * progress (a hang, terminated after --hang-ms) is a failure. A failure prints the target, the
 * seed, the input index, the input in hex and a command that reproduces it; the exit status is
 * then 1. At the end a table gives inputs, wall time, inputs/s, the slowest input and failures.
 *
 * Options:
 *   --runs N        inputs per target (default: each target's own, 1 000 000 for parsers)
 *   --parser NAME   only this target, or a group ("isakmp", "engine"); repeatable
 *   --seed S        PRNG seed (default 1)
 *   --input HEX     feed this one input to the selected target(s) (reproduces a parser failure)
 *   --budget-ms MS  per-input time budget (default 1000)
 *   --hang-ms MS    no progress for this long = hang (default 60000)
 *   --list          print the target names
 * Meant to run long (`nice -n 10 npm run fuzz`); `npm test` runs only the short fuzz tests and a
 * smoke run of this runner (fuzz.test.ts).
 */
import { Worker } from "node:worker_threads";
import type { RunResult } from "./target.js";
import { allTargets, selectTargets } from "./targets.js";
import type { WorkerJob } from "./worker.js";

export interface MainOptions {
  readonly runs?: number;
  readonly targets: readonly string[];
  readonly seed: number;
  readonly inputHex?: string;
  readonly budgetMs: number;
  readonly hangMs: number;
}

export function parseArgs(
  argv: readonly string[],
): MainOptions | { list: true } | { error: string } {
  const targets: string[] = [];
  let runs: number | undefined;
  let seed = 1;
  let inputHex: string | undefined;
  let budgetMs = 1000;
  let hangMs = 60_000;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const num = (name: string): number | { error: string } => {
      i++;
      const n = Number(v);
      return v !== undefined && Number.isSafeInteger(n) && n >= 0
        ? n
        : { error: `${name} needs a whole number, got ${v}` };
    };
    let n: number | { error: string };
    switch (a) {
      case "--list":
        return { list: true };
      case "--runs":
        n = num(a);
        if (typeof n !== "number") return n;
        runs = n;
        break;
      case "--seed":
        n = num(a);
        if (typeof n !== "number") return n;
        seed = n;
        break;
      case "--budget-ms":
        n = num(a);
        if (typeof n !== "number") return n;
        budgetMs = n;
        break;
      case "--hang-ms":
        n = num(a);
        if (typeof n !== "number") return n;
        hangMs = n;
        break;
      case "--parser":
        if (v === undefined) return { error: "--parser needs a name (see --list)" };
        targets.push(v);
        i++;
        break;
      case "--input":
        if (v === undefined || !/^([0-9a-f]{2})*$/i.test(v)) return { error: "--input needs hex" };
        inputHex = v;
        i++;
        break;
      default:
        return {
          error: `unknown option ${a} (options: --runs N --parser NAME --seed S --input HEX --budget-ms MS --hang-ms MS --list)`,
        };
    }
  }
  return {
    ...(runs !== undefined ? { runs } : {}),
    targets,
    seed,
    ...(inputHex !== undefined ? { inputHex } : {}),
    budgetMs,
    hangMs,
  };
}

const CURRENT_MAX = 1 << 20;
/** Loading a target (module compile, seed exchanges) on a busy machine; not a hang. */
const STARTUP_MS = 600_000;

/** Runs one target in a worker; a hang or a dead worker becomes a failure naming the input. */
export function runInWorker(
  job: Omit<WorkerJob, "progress" | "current">,
  hangMs: number,
): Promise<RunResult> {
  const progress = new SharedArrayBuffer(8);
  const current = new SharedArrayBuffer(CURRENT_MAX);
  const p = new Int32Array(progress);
  Atomics.store(p, 0, -1);
  const boot = `import("tsx/esm/api").then((a) => { a.register(); return import(${JSON.stringify(new URL("./worker.ts", import.meta.url).href)}); });`;
  const worker = new Worker(boot, {
    eval: true,
    workerData: { ...job, progress, current } satisfies WorkerJob,
  });
  const t0 = performance.now();
  const lost = (kind: string, message: string): RunResult => {
    const index = Atomics.load(p, 0);
    const len = Atomics.load(p, 1);
    return {
      name: job.name,
      kind: allTargets.find((t) => t.name === job.name)?.kind ?? "parser",
      inputs: index + 1,
      accepted: 0,
      ms: performance.now() - t0,
      slowestMs: 0,
      slowestIndex: -1,
      failure: { kind, message, index, hex: Buffer.from(current, 0, len).toString("hex") },
    };
  };
  return new Promise((resolve) => {
    let last = -2;
    let lastChange = performance.now();
    let done = false;
    const finish = (r: RunResult) => {
      if (done) return;
      done = true;
      clearInterval(watch);
      resolve(r);
    };
    let lastReport = performance.now();
    const watch = setInterval(() => {
      const i = Atomics.load(p, 0);
      if (performance.now() - lastReport > 60_000) {
        lastReport = performance.now();
        const s = (lastReport - t0) / 1000;
        process.stderr.write(`  ... ${job.name}: ${fmtInt(i + 1)} inputs in ${s.toFixed(0)} s\n`);
      }
      if (i !== last) {
        last = i;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > (i < 0 ? STARTUP_MS : hangMs)) {
        const r = lost(
          "hang",
          i < 0
            ? `did not start within ${STARTUP_MS} ms`
            : `no progress for ${hangMs} ms on this input`,
        );
        void worker.terminate();
        finish(r);
      }
    }, 250);
    worker.on("message", (r: RunResult) => {
      finish(r);
      void worker.terminate();
    });
    worker.on("error", (e) => finish(lost("crash", e.stack ?? String(e))));
    worker.on("exit", (code) => finish(lost("crash", `worker exited with code ${code}`)));
  });
}

function fmtInt(n: number): string {
  return n.toLocaleString("en-US");
}

export function table(rows: readonly RunResult[]): string {
  const head = ["target", "inputs", "wall time", "inputs/s", "slowest", "failures"];
  const body = rows.map((r) => [
    r.name,
    fmtInt(r.inputs),
    `${(r.ms / 1000).toFixed(1)} s`,
    fmtInt(Math.round(r.inputs / Math.max(r.ms / 1000, 1e-9))),
    r.slowestIndex >= 0 ? `${r.slowestMs.toFixed(1)} ms (#${r.slowestIndex})` : "-",
    r.failure ? `1 (${r.failure.kind})` : "0",
  ]);
  const total = rows.reduce((s, r) => s + r.ms, 0);
  body.push([
    "total",
    fmtInt(rows.reduce((s, r) => s + r.inputs, 0)),
    `${(total / 1000).toFixed(1)} s`,
    "",
    "",
    String(rows.filter((r) => r.failure).length),
  ]);
  const w = head.map((h, c) => Math.max(h.length, ...body.map((row) => (row[c] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((x, c) => (c === 0 ? x.padEnd(w[c] ?? 0) : x.padStart(w[c] ?? 0))).join("  ");
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...body.map(line)].join("\n");
}

export function describeFailure(r: RunResult, seed: number): string {
  const f = r.failure;
  if (!f) return "";
  const hex = f.hex.length > 8192 ? `${f.hex.slice(0, 8192)}… (${f.hex.length / 2} octets)` : f.hex;
  const replay =
    r.kind === "parser" && f.hex.length > 0 && f.hex.length <= 8192
      ? `npm run fuzz -- --parser ${r.name} --input ${f.hex}`
      : `npm run fuzz -- --parser ${r.name} --seed ${seed} --runs ${f.index + 1}`;
  return [
    `FAIL ${r.name} (${f.kind}) seed ${seed} input #${f.index}`,
    `  input: ${hex || "(none: after the run)"}`,
    `  ${f.message.split("\n").join("\n  ")}`,
    `  reproduce: ${replay}`,
  ].join("\n");
}

export async function main(argv: readonly string[]): Promise<number> {
  const o = parseArgs(argv);
  if ("error" in o) {
    console.error(`fuzz: ${o.error}`);
    return 2;
  }
  if ("list" in o) {
    for (const t of allTargets)
      console.log(
        `${t.name}  (${t.kind}, ${fmtInt(t.defaultRuns ?? 1_000_000)} inputs by default)`,
      );
    return 0;
  }
  const targets = selectTargets(o.targets);
  if (targets.length === 0) {
    console.error(`fuzz: no target matches ${o.targets.join(", ")} (see --list)`);
    return 2;
  }
  const rows: RunResult[] = [];
  for (const t of targets) {
    const runs = o.runs ?? t.defaultRuns ?? 1_000_000;
    const r = await runInWorker(
      {
        name: t.name,
        runs,
        seed: o.seed,
        budgetMs: o.budgetMs,
        ...(o.inputHex !== undefined ? { inputHex: o.inputHex } : {}),
      },
      o.hangMs,
    );
    rows.push(r);
    const rate = Math.round(r.inputs / Math.max(r.ms / 1000, 1e-9));
    console.log(
      `${r.failure ? "FAIL" : "ok  "} ${t.name}: ${fmtInt(r.inputs)} inputs in ${(r.ms / 1000).toFixed(1)} s (${fmtInt(rate)}/s), ${fmtInt(r.accepted)} accepted, slowest ${r.slowestMs.toFixed(1)} ms`,
    );
    if (r.stats) console.log(`     ${r.stats}`);
    if (r.failure) console.log(describeFailure(r, o.seed));
  }
  console.log(`\n${table(rows)}`);
  const failed = rows.filter((r) => r.failure);
  if (failed.length > 0) {
    console.log(`\n${failed.length} target(s) failed:`);
    for (const r of failed) console.log(describeFailure(r, o.seed));
    return 1;
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`)
  process.exitCode = await main(process.argv.slice(2));
