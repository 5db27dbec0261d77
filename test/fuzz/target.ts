/**
 * What a deep-fuzz target is (test/fuzz/main.ts runs them) and the loop that runs one.
 *
 * A target has seeds (real captures where there are some), optionally a Shape for
 * structure-aware mutation, and `start()` which builds a fresh instance: a parser wrapped with
 * its checks (Result returned, round trip where the codec promises it), or an engine fed
 * hostile messages through its public API. An instance's `feed` throws a `FuzzFailure` (or any
 * error) when a property breaks; `finish` checks what must hold after the whole run (bounded
 * engine tables, state drained after idle time).
 */
import { type Rand, type Shape, mutate, rng } from "./mutate.js";

export interface FuzzInstance {
  /** Feeds one input; returns whether it was accepted (accepted inputs seed later mutations). */
  feed(input: Buffer, index: number): boolean;
  /** Checks after the run (bounded state); throws on a violation. */
  finish?(): void;
  /** What the run reached (engines: exchanges completed, peak table sizes), for the report. */
  stats?(): string;
}

export interface FuzzTarget {
  readonly name: string;
  readonly kind: "parser" | "engine";
  /** Inputs of a full run (default 1 000 000). */
  readonly defaultRuns?: number;
  readonly maxLength?: number;
  readonly shape?: Shape;
  /** Text input (YAML, JSON): token and line mutations. */
  readonly text?: boolean;
  seeds(): Buffer[];
  /**
   * A fresh instance. `random` is its own deterministic source; `mutateBytes` applies this
   * target's mutations (engines use it on messages in flight of legitimate exchanges).
   */
  start(random: Rand, mutateBytes: (b: Buffer, shape?: Shape) => Buffer): FuzzInstance;
}

/** A property violation; `kind` names it in the report. */
export class FuzzFailure extends Error {
  constructor(
    readonly kind: "throw" | "not-a-result" | "round-trip" | "slow" | "unbounded" | "invariant",
    message: string,
  ) {
    super(message);
  }
}

export interface RunOptions {
  readonly runs: number;
  readonly seed: number;
  /** One input slower than this is a failure ("slow"). */
  readonly budgetMs: number;
  /** Called before every input (the watchdog's view of the current input). */
  readonly onInput?: (index: number, input: Buffer) => void;
  /** Replay only this input (hex) instead of generating. */
  readonly input?: Buffer;
}

export interface RunResult {
  readonly name: string;
  readonly kind: "parser" | "engine";
  readonly inputs: number;
  readonly accepted: number;
  readonly ms: number;
  readonly slowestMs: number;
  readonly slowestIndex: number;
  readonly stats?: string;
  readonly failure?: {
    readonly kind: string;
    readonly message: string;
    readonly index: number;
    readonly hex: string;
  };
}

const POOL_MAX = 256;

export function runTarget(t: FuzzTarget, o: RunOptions): RunResult {
  const r = rng(o.seed);
  const seeds = t.seeds();
  const pool: Buffer[] = seeds.length > 0 ? [...seeds] : [Buffer.alloc(0)];
  const maxLength = t.maxLength ?? 2048;
  const other = () => pool[r() % pool.length] ?? Buffer.alloc(0);
  const ri = rng(o.seed ^ 0x5eed);
  const inst = t.start(ri, (b, shape) =>
    mutate(b, ri, { maxLength, ...((shape ?? t.shape) ? { shape: shape ?? t.shape } : {}) }, other),
  );
  let accepted = 0;
  let slowestMs = 0;
  let slowestIndex = -1;
  const t0 = performance.now();
  const fail = (kind: string, message: string, index: number, input: Buffer): RunResult => ({
    name: t.name,
    kind: t.kind,
    inputs: index + 1,
    accepted,
    ms: performance.now() - t0,
    slowestMs,
    slowestIndex,
    failure: { kind, message, index, hex: input.toString("hex") },
  });
  const runs = o.input ? 1 : o.runs;
  for (let i = 0; i < runs; i++) {
    // Seeds go in unchanged first: the real captures themselves must pass.
    const input = o.input
      ? o.input
      : i < seeds.length
        ? Buffer.from(seeds[i] as Buffer)
        : mutate(
            pool[r() % pool.length] as Buffer,
            r,
            {
              maxLength,
              ...(t.shape ? { shape: t.shape } : {}),
              ...(t.text ? { text: true } : {}),
            },
            other,
          );
    o.onInput?.(i, input);
    const c0 = performance.now();
    let ok: boolean;
    try {
      ok = inst.feed(input, i);
    } catch (e) {
      const kind = e instanceof FuzzFailure ? e.kind : "throw";
      return fail(kind, e instanceof Error ? (e.stack ?? e.message) : String(e), i, input);
    }
    let dt = performance.now() - c0;
    if (dt > o.budgetMs && t.kind === "parser") {
      // A pause of the machine (GC, other processes) is not the input's fault: a parser is
      // pure, so time it again and keep the fastest of up to three more runs.
      for (let k = 0; k < 3 && dt > o.budgetMs; k++) {
        const c1 = performance.now();
        inst.feed(input, i);
        dt = Math.min(dt, performance.now() - c1);
      }
    }
    if (dt > slowestMs) {
      slowestMs = dt;
      slowestIndex = i;
    }
    // Engines keep state (an input cannot be timed twice) and may run a whole exchange.
    const budget = t.kind === "parser" ? o.budgetMs : o.budgetMs * 10;
    if (dt > budget)
      return fail("slow", `${dt.toFixed(1)} ms for one input (budget ${budget} ms)`, i, input);
    if (ok) {
      accepted++;
      // Accepted mutations reach deeper states: keep some, replacing old ones once full.
      if (i >= seeds.length && r() % 8 === 0) {
        if (pool.length < POOL_MAX) pool.push(input);
        else pool[seeds.length + (r() % (POOL_MAX - seeds.length))] = input;
      }
    }
  }
  try {
    inst.finish?.();
  } catch (e) {
    const kind = e instanceof FuzzFailure ? e.kind : "throw";
    return fail(
      kind,
      e instanceof Error ? (e.stack ?? e.message) : String(e),
      runs - 1,
      Buffer.alloc(0),
    );
  }
  const stats = inst.stats?.();
  return {
    name: t.name,
    kind: t.kind,
    inputs: runs,
    accepted,
    ms: performance.now() - t0,
    slowestMs,
    slowestIndex,
    ...(stats !== undefined ? { stats } : {}),
  };
}

/** Wraps a `parse*`: a Result must come back; `roundTrip` (if given) checks accepted values. */
export function parserTarget<V>(spec: {
  readonly name: string;
  readonly parse: (
    b: Buffer,
  ) => { readonly ok: true; readonly value: V } | { readonly ok: false; readonly error: unknown };
  /** Bytes that must equal `input` (or the part of it the value covers) for an accepted input. */
  readonly roundTrip?: (
    value: V,
    input: Buffer,
  ) => { readonly got: Uint8Array; readonly want: Uint8Array };
  readonly seeds: () => Buffer[];
  readonly shape?: Shape;
  readonly text?: boolean;
  readonly maxLength?: number;
  readonly defaultRuns?: number;
}): FuzzTarget {
  return {
    name: spec.name,
    kind: "parser",
    seeds: spec.seeds,
    ...(spec.shape ? { shape: spec.shape } : {}),
    ...(spec.text ? { text: true } : {}),
    ...(spec.maxLength ? { maxLength: spec.maxLength } : {}),
    ...(spec.defaultRuns ? { defaultRuns: spec.defaultRuns } : {}),
    start: () => ({
      feed(input) {
        const r = spec.parse(input);
        if (typeof r !== "object" || r === null || typeof r.ok !== "boolean")
          throw new FuzzFailure("not-a-result", `${spec.name} did not return a Result`);
        if (r.ok && spec.roundTrip) {
          const { got, want } = spec.roundTrip(r.value, input);
          if (!Buffer.from(got).equals(Buffer.from(want)))
            throw new FuzzFailure(
              "round-trip",
              `serialize(parse(b)) != b\n  want ${Buffer.from(want).toString("hex")}\n  got  ${Buffer.from(got).toString("hex")}`,
            );
        }
        return r.ok;
      },
    }),
  };
}
