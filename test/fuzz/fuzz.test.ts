/**
 * Smoke run of the deep fuzzer (test/fuzz/main.ts) so that the runner cannot rot: every target
 * takes a short run in-process, and the runner's own checks are shown to fire (a throw, a broken
 * round trip, a slow input, unbounded engine state) with the input and a reproduction command.
 * The long run is `npm run fuzz` (not part of `npm test`).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeFailure, parseArgs, runInWorker, table } from "./main.js";
import { FuzzFailure, type FuzzTarget, parserTarget, runTarget } from "./target.js";
import { allTargets, selectTargets } from "./targets.js";

/** YAML parsing dominates the policy-file targets: they get fewer inputs here. */
const SLOW = new Set(["policy:import-yaml", "control:policy-file"]);

describe("deep fuzzer smoke run (every target)", () => {
  for (const t of allTargets) {
    it(t.name, () => {
      const runs = SLOW.has(t.name) ? 300 : 2000;
      const r = runTarget(t, { runs, seed: 7, budgetMs: 5000 });
      assert.equal(r.failure, undefined, describeFailure(r, 7));
      assert.equal(r.inputs, runs);
      if (t.kind === "parser")
        assert.ok(
          r.accepted > 0 && r.accepted < runs,
          `${t.name}: ${r.accepted} of ${runs} accepted`,
        );
    });
  }
});

describe("deep fuzzer reports what breaks", () => {
  const seeds = () => [Buffer.from("0004aabb", "hex")];
  it("a parser that throws: target, index, hex and a replay command; the replay fails the same way", () => {
    const t = parserTarget({
      name: "test:throws",
      parse: (b) => {
        if (b.length > 4 && b[4] === 0x00) throw new RangeError("boom");
        return b.length >= 4 ? { ok: true, value: b } : { ok: false, error: "short" };
      },
      seeds,
    });
    const r = runTarget(t, { runs: 20_000, seed: 3, budgetMs: 1000 });
    assert.equal(r.failure?.kind, "throw");
    assert.match(r.failure?.message ?? "", /boom/);
    const text = describeFailure(r, 3);
    assert.match(text, /FAIL test:throws \(throw\) seed 3 input #\d+/);
    assert.match(text, new RegExp(`--parser test:throws --input ${r.failure?.hex}`));
    const again = runTarget(t, {
      runs: 1,
      seed: 3,
      budgetMs: 1000,
      input: Buffer.from(r.failure?.hex ?? "", "hex"),
    });
    assert.equal(again.failure?.kind, "throw");
  });

  it("a codec whose serializer drops a byte fails the round trip", () => {
    const t = parserTarget({
      name: "test:lossy",
      parse: (b) => ({ ok: true, value: b }),
      roundTrip: (v, b) => ({ got: v.subarray(0, 3), want: b }),
      seeds,
    });
    assert.equal(runTarget(t, { runs: 10, seed: 1, budgetMs: 1000 }).failure?.kind, "round-trip");
  });

  it("a parser that does not return a Result is caught", () => {
    const t = parserTarget({ name: "test:bare", parse: () => undefined as never, seeds });
    assert.equal(runTarget(t, { runs: 10, seed: 1, budgetMs: 1000 }).failure?.kind, "not-a-result");
  });

  it("an input over the time budget is a failure, and the slowest input is reported", () => {
    const t = parserTarget({
      name: "test:slow",
      parse: (b) => {
        if (b.length > 6) {
          const end = performance.now() + 30;
          while (performance.now() < end);
        }
        return { ok: true, value: b };
      },
      seeds,
    });
    const r = runTarget(t, { runs: 5000, seed: 1, budgetMs: 20 });
    assert.equal(r.failure?.kind, "slow");
    assert.ok(r.slowestMs >= 20);
  });

  it("an engine whose table grows without bound fails at the end of the run", () => {
    const t: FuzzTarget = {
      name: "test:leaky-engine",
      kind: "engine",
      seeds,
      start() {
        const table = new Map<number, Buffer>();
        return {
          feed(input, i) {
            table.set(i, input);
            return true;
          },
          finish() {
            if (table.size > 100) throw new FuzzFailure("unbounded", `${table.size} entries`);
          },
        };
      },
    };
    const r = runTarget(t, { runs: 1000, seed: 1, budgetMs: 1000 });
    assert.equal(r.failure?.kind, "unbounded");
    assert.match(describeFailure(r, 1), /--parser test:leaky-engine --seed 1 --runs 1000/);
  });

  it("the same seed gives the same inputs", () => {
    const seen: string[][] = [[], []];
    for (const k of [0, 1]) {
      const t = parserTarget({
        name: "test:record",
        parse: (b) => {
          seen[k]?.push(b.toString("hex"));
          return { ok: b.length > 2, value: b } as never;
        },
        seeds,
      });
      runTarget(t, { runs: 500, seed: 9, budgetMs: 1000 });
    }
    assert.deepEqual(seen[0], seen[1]);
    assert.ok(new Set(seen[0]).size > 100);
  });

  it("a real target runs in a worker and comes back with a table row", async () => {
    const r = await runInWorker({ name: "ppp:lcp", runs: 500, seed: 1, budgetMs: 5000 }, 30_000);
    assert.equal(r.failure, undefined);
    assert.equal(r.inputs, 500);
    assert.match(table([r]), /ppp:lcp\s+500/);
  });

  it("command line: options, groups and mistakes", () => {
    assert.deepEqual(parseArgs(["--runs", "10", "--parser", "isakmp", "--seed", "5"]), {
      runs: 10,
      targets: ["isakmp"],
      seed: 5,
      budgetMs: 1000,
      hangMs: 60_000,
    });
    assert.match(
      String((parseArgs(["--runs", "many"]) as { error: string }).error),
      /--runs needs a whole number/,
    );
    assert.match(
      String((parseArgs(["--bogus"]) as { error: string }).error),
      /unknown option --bogus/,
    );
    assert.ok(selectTargets(["isakmp"]).length >= 6);
    assert.ok(selectTargets(["engine"]).every((t) => t.kind === "engine"));
  });
});
