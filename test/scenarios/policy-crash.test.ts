/**
 * Crash safety of the policy store: a child process rewrites hundreds of
 * objects per transaction in a loop and is killed with SIGKILL at random moments; after each
 * kill the file must open cleanly (no OAK_E_STORE_CORRUPT), hold exactly one generation (the old
 * or the new state of the interrupted transaction, never a mix), and keep every generation the
 * child reported as committed.
 *
 * The same file runs as the child when OAKLEY_POLICY_CRASH_CHILD names a store path.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { unwrap } from "../../src/base/result.js";
import { openStore } from "../../src/policy/index.js";

const OBJECTS = 400;
const childPath = process.env.OAKLEY_POLICY_CRASH_CHILD;

function generationOf(secret: string | undefined): number {
  return secret === undefined ? 0 : Number(secret.split(":")[0]);
}

if (childPath) {
  const store = unwrap(openStore(childPath));
  const first = store.psks.get("k0");
  let gen = first.ok ? generationOf(first.value.value?.secret) : 0;
  const pad = "x".repeat(900);
  for (;;) {
    gen++;
    writeSync(1, `begin ${gen}\n`);
    unwrap(
      store.transaction(`generation ${gen}`, () => {
        for (let i = 0; i < OBJECTS; i++)
          store.putInTxn("psk", { name: `k${i}`, secret: `${gen}:${pad}` }, "upsert");
        store.putInTxn(
          "settings",
          {
            natPolicy: gen % 3,
            negotiateDh2048: true,
            allowLegacyCrypto: false,
            windowsNatCompat: true,
          },
          "upsert",
        );
      }),
    );
    writeSync(1, `committed ${gen}\n`);
  }
} else {
  test("SIGKILL during big transactions never corrupts the store or loses a commit", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "oakley-crash-")), "store.db");
    const self = fileURLToPath(import.meta.url);
    let lastCommitted = 0;
    let killedInside = 0;
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ["--import", "tsx", self], {
        env: { ...process.env, OAKLEY_POLICY_CRASH_CHILD: path },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      let seenThisRound = 0;
      let lastBegin = 0;
      const firstCommit = new Promise<void>((resolve) => {
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          for (const m of out.matchAll(/committed (\d+)/g)) {
            lastCommitted = Math.max(lastCommitted, Number(m[1]));
            seenThisRound++;
          }
          for (const m of out.matchAll(/begin (\d+)/g))
            lastBegin = Math.max(lastBegin, Number(m[1]));
          out = out.slice(out.lastIndexOf("\n") + 1);
          if (seenThisRound > 0) resolve();
        });
      });
      const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
      await Promise.race([
        firstCommit,
        exited.then(() => {
          if (seenThisRound === 0)
            throw new Error(`round ${round}: the writer exited before its first commit`);
        }),
      ]);
      // Kill at a varying point inside the next transactions.
      await new Promise((r) => setTimeout(r, 20 + ((round * 37) % 90)));
      child.kill("SIGKILL");
      await exited;
      if (lastBegin > lastCommitted) killedInside++;

      const s = openStore(path);
      assert.ok(s.ok, `round ${round}: store did not reopen: ${JSON.stringify(!s.ok && s.error)}`);
      const store = s.value;
      assert.equal(store.db.pragma("integrity_check", { simple: true }), "ok");
      const gens = new Set(unwrap(store.psks.list()).map((p) => generationOf(p.value?.secret)));
      assert.equal(gens.size, 1, `round ${round}: a mix of generations ${[...gens].join(",")}`);
      const g = [...gens][0]!;
      assert.equal(unwrap(store.psks.list()).length, OBJECTS);
      assert.ok(
        g >= lastCommitted,
        `round ${round}: generation ${g} lost the reported commit ${lastCommitted}`,
      );
      assert.ok(
        g <= lastCommitted + 1,
        `round ${round}: generation ${g} is ahead of anything written`,
      );
      assert.equal(
        unwrap(store.settings()).value?.natPolicy,
        g % 3,
        "settings belong to the same transaction",
      );
      lastCommitted = g;
      store.close();
    }
    // The kills must have hit open transactions, or this test proved nothing.
    assert.ok(killedInside >= 1, "no kill landed inside a transaction");
  });
}
