/** `oakley serve` flags on a store that already exists (every start after the first). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SeededRandom } from "../platform/random.js";
import { createDefaultStore, effectivePolicy } from "../policy/index.js";
import { applyFlags } from "./server.js";

test("--allow-legacy on a later start allows the legacy offers (it is not only a first-start setting)", () => {
  const dir = mkdtempSync(join(tmpdir(), "oak-flags-"));
  const random = new SeededRandom("flags");
  try {
    const path = join(dir, "oakley.db");
    const first = createDefaultStore(path, (n) => random.bytes(n));
    assert.ok(first.ok);
    first.value.store.close();
    const again = createDefaultStore(path, (n) => random.bytes(n), { allowLegacyCrypto: true });
    assert.ok(again.ok);
    const store = again.value.store;
    const before = effectivePolicy(store);
    assert.ok(before.ok);
    assert.ok(
      !before.value.policies[0]?.mainModeOffers.some((o) => o.dhGroup === "modp1024"),
      "precondition: no MODP-1024 offer without --allow-legacy",
    );
    const r = applyFlags(
      store,
      { psk: undefined, users: [], pool: undefined, dns: [], allowLegacy: true },
      random,
    );
    assert.ok(r.ok);
    const after = effectivePolicy(store);
    assert.ok(after.ok);
    assert.equal(after.value.settings.allowLegacyCrypto, true);
    assert.ok(after.value.policies[0]?.mainModeOffers.some((o) => o.dhGroup === "modp1024"));
    // Without the flag, a setting made in the store is left alone.
    assert.ok(
      applyFlags(
        store,
        { psk: undefined, users: [], pool: undefined, dns: [], allowLegacy: false },
        random,
      ).ok,
    );
    const kept = effectivePolicy(store);
    assert.ok(kept.ok && kept.value.settings.allowLegacyCrypto);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
