/**
 * Runs one target in a worker thread for test/fuzz/main.ts. Before each input it publishes the
 * input index and bytes in shared memory, so the main thread can name the input when the worker
 * hangs (and must be terminated) or dies.
 */
import { parentPort, workerData } from "node:worker_threads";
import { runTarget } from "./target.js";
import { allTargets } from "./targets.js";

export interface WorkerJob {
  readonly name: string;
  readonly runs: number;
  readonly seed: number;
  readonly budgetMs: number;
  readonly inputHex?: string;
  /** [index, length] */
  readonly progress: SharedArrayBuffer;
  readonly current: SharedArrayBuffer;
}

const job = workerData as WorkerJob;
const target = allTargets.find((t) => t.name === job.name);
if (!target) throw new Error(`no target ${job.name}`);
const progress = new Int32Array(job.progress);
const current = new Uint8Array(job.current);
const result = runTarget(target, {
  runs: job.runs,
  seed: job.seed,
  budgetMs: job.budgetMs,
  ...(job.inputHex !== undefined ? { input: Buffer.from(job.inputHex, "hex") } : {}),
  onInput(i, input) {
    const n = Math.min(input.length, current.length);
    current.set(input.subarray(0, n));
    Atomics.store(progress, 1, n);
    Atomics.store(progress, 0, i);
  },
});
parentPort?.postMessage(result);
