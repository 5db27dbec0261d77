import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createDefaultStore } from "../policy/index.js";
import { systemRandom } from "../platform/random.js";
import type { ServeConfig } from "./config.js";
import { applyFlags } from "./server.js";

function flags(users: { name: string; password: string }[]): ServeConfig {
  return { users, dns: [] } as unknown as ServeConfig;
}

test("a restart with the same --user/--users-file does not re-hash every password (2000 users started in minutes before)", () => {
  const dir = mkdtempSync(join(tmpdir(), "oak-flags-"));
  try {
    const opened = createDefaultStore(join(dir, "s.db"), (n) => systemRandom.bytes(n));
    assert.ok(opened.ok);
    const store = opened.value.store;
    const users = [
      { name: "alice", password: "alice-pass-1" },
      { name: "bob", password: "bob-pass-1" },
    ];
    assert.ok(applyFlags(store, flags(users), systemRandom).ok);
    const salt = (name: string) => {
      const u = store.users.get(name);
      assert.ok(u.ok && u.value.value);
      return u.value.value.credentials.pap.salt;
    };
    const [a1, b1] = [salt("alice"), salt("bob")];
    // Same flags again: nothing to do (a new salt would mean a new scrypt run).
    assert.ok(applyFlags(store, flags(users), systemRandom).ok);
    assert.equal(salt("alice"), a1);
    assert.equal(salt("bob"), b1);
    // A changed password is hashed again, and only that one.
    const changed = [users[0]!, { name: "bob", password: "bob-pass-2" }];
    assert.ok(applyFlags(store, flags(changed), systemRandom).ok);
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
