/**
 * Shared fuzz harness for every `parse*` (DESIGN rule 11). Feeds a parser mutated copies of
 * real seed inputs (bit flips, byte sets, truncation, extension, length-field bumps, splices)
 * and purely random buffers, and asserts what the brief demands of every parser:
 *  - no exception escapes (a parser returns a Result; throwing is a bug),
 *  - no hang (each call is timed; the whole run has a wall-clock budget),
 *  - no unbounded allocation (heap growth stays bounded over the run).
 * It is deterministic for a given seed, and the failing input is printed as hex to reproduce.
 */
import assert from "node:assert/strict";

export interface FuzzOptions {
  /** Number of generated inputs (default 100 000, or OAKLEY_FUZZ_ITERATIONS). */
  readonly iterations?: number;
  /** PRNG seed for reproducibility. */
  readonly seed?: number;
  /** Largest random input (bytes). */
  readonly maxLength?: number;
  /** A single call slower than this (ms) is reported as a hang. */
  readonly maxCallMs?: number;
  /** Heap growth over the run above this many bytes fails the test. */
  readonly maxHeapGrowth?: number;
}

export interface FuzzReport {
  readonly iterations: number;
  readonly okCount: number;
  readonly errCount: number;
}

/** xorshift32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function mutate(seed: Uint8Array, next: () => number, maxLength: number): Uint8Array {
  const r = next() % 8;
  const b = Buffer.from(seed);
  if (b.length === 0 || r === 7) {
    const len = next() % (maxLength + 1);
    const out = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) out[i] = next() & 0xff;
    return out;
  }
  switch (r) {
    case 0: {
      // flip a few bits
      const n = 1 + (next() % 4);
      for (let i = 0; i < n; i++) {
        const pos = next() % b.length;
        b[pos] = (b[pos] ?? 0) ^ (1 << (next() % 8));
      }
      return b;
    }
    case 1: {
      // set bytes to interesting values
      const interesting = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x20, 0x40];
      const n = 1 + (next() % 4);
      for (let i = 0; i < n; i++)
        b[next() % b.length] = interesting[next() % interesting.length] ?? 0;
      return b;
    }
    case 2:
      // truncate
      return b.subarray(0, next() % b.length);
    case 3: {
      // extend with random bytes
      const extra = Buffer.allocUnsafe(1 + (next() % 64));
      for (let i = 0; i < extra.length; i++) extra[i] = next() & 0xff;
      return Buffer.concat([b, extra]);
    }
    case 4: {
      // bump a 16-bit big-endian field (most length fields are 16-bit)
      if (b.length < 2) return b;
      const pos = next() % (b.length - 1);
      const deltas = [1, -1, 4, -4, 0x100, 0x7fff, 0xffff];
      const v = (b.readUInt16BE(pos) + (deltas[next() % deltas.length] ?? 1)) & 0xffff;
      b.writeUInt16BE(v, pos);
      return b;
    }
    case 5: {
      // bump a 32-bit field
      if (b.length < 4) return b;
      const pos = next() % (b.length - 3);
      b.writeUInt32BE((b.readUInt32BE(pos) + 1 + (next() % 0xffff)) >>> 0, pos);
      return b;
    }
    default: {
      // splice: duplicate a random chunk somewhere
      const start = next() % b.length;
      const end = start + (next() % (b.length - start + 1));
      const at = next() % (b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(start, end), b.subarray(at)]);
    }
  }
}

/**
 * Runs `parse` over mutated seeds and random inputs. `parse` must return an object with a
 * boolean `ok` (a Result); anything else, or a throw, fails with the input in hex.
 */
export function fuzzParser(
  name: string,
  parse: (input: Uint8Array) => { readonly ok: boolean },
  seeds: readonly Uint8Array[],
  opts: FuzzOptions = {},
): FuzzReport {
  const iterations = opts.iterations ?? Number(process.env.OAKLEY_FUZZ_ITERATIONS ?? 100_000);
  const next = rng(opts.seed ?? 0x0a4c1e7);
  const maxLength = opts.maxLength ?? 2048;
  const maxCallMs = opts.maxCallMs ?? 2000; // generous: CI machines are shared; a hang is forever
  const maxHeapGrowth = opts.maxHeapGrowth ?? 256 * 1024 * 1024;
  const heap0 = process.memoryUsage().heapUsed;
  let okCount = 0;
  let errCount = 0;
  const pool: Uint8Array[] = seeds.length > 0 ? [...seeds] : [new Uint8Array(0)];
  for (let i = 0; i < iterations; i++) {
    const base = pool[next() % pool.length] ?? new Uint8Array(0);
    const input = mutate(base, next, maxLength);
    const t0 = performance.now();
    let result: { readonly ok: boolean };
    try {
      result = parse(input);
    } catch (e) {
      assert.fail(`${name}: threw on input ${Buffer.from(input).toString("hex")}: ${String(e)}`);
    }
    const dt = performance.now() - t0;
    if (dt > maxCallMs) {
      assert.fail(`${name}: ${dt.toFixed(1)} ms on input ${Buffer.from(input).toString("hex")}`);
    }
    if (typeof result !== "object" || result === null || typeof result.ok !== "boolean") {
      assert.fail(`${name}: did not return a Result for ${Buffer.from(input).toString("hex")}`);
    }
    if (result.ok) okCount++;
    else errCount++;
    // Mutations of mutations reach deeper states; keep the pool small.
    if (result.ok && pool.length < 64 && next() % 16 === 0) pool.push(input);
  }
  const growth = process.memoryUsage().heapUsed - heap0;
  assert.ok(
    growth < maxHeapGrowth,
    `${name}: heap grew by ${growth} bytes over ${iterations} inputs`,
  );
  return { iterations, okCount, errCount };
}
