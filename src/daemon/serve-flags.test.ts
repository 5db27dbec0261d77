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

function flags(users: { name: string; password: string }[]) {
  return { psk: undefined, users, pool: undefined, dns: [], allowLegacy: false };
}

test("a restart with the same --user/--users-file does not re-hash every password (2000 users started in minutes before)", () => {
  const dir = mkdtempSync(join(tmpdir(), "oak-flags-"));
  const random = new SeededRandom("users");
  try {
    const opened = createDefaultStore(join(dir, "s.db"), (n) => random.bytes(n));
    assert.ok(opened.ok);
    const store = opened.value.store;
    const users = [
      { name: "alice", password: "alice-pass-1" },
      { name: "bob", password: "bob-pass-1" },
    ];
    assert.ok(applyFlags(store, flags(users), random).ok);
    const salt = (name: string) => {
      const u = store.users.get(name);
      assert.ok(u.ok && u.value.value);
      return u.value.value.credentials.pap.salt;
    };
    const [a1, b1] = [salt("alice"), salt("bob")];
    // Same flags again: nothing to do (a new salt would mean a new scrypt run).
    assert.ok(applyFlags(store, flags(users), random).ok);
    assert.equal(salt("alice"), a1);
    assert.equal(salt("bob"), b1);
    // A changed password is hashed again, and only that one.
    const changed = [users[0]!, { name: "bob", password: "bob-pass-2" }];
    assert.ok(applyFlags(store, flags(changed), random).ok);
    assert.equal(salt("alice"), a1);
    assert.notEqual(salt("bob"), b1);
    const bob = store.users.get("bob");
    assert.ok(bob.ok && bob.value.value);
    assert.equal(bob.value.value.credentials.cleartext, "bob-pass-2");
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
