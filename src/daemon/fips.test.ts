import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  createDefaultStore,
  DEFAULT_PSK,
  effectivePolicy,
  type PolicyStore,
} from "../policy/index.js";
import { formatPolicyShow } from "../cli/commands/policy.js";
import { StorePolicyOps } from "../control/index.js";
import { formatIssues, loadConnectConfig, loadServeConfig } from "./config.js";
import { FIPS_OFF, fipsPolicyProblems, fipsStatusText, startFips } from "./fips.js";
import { ikeConfigFromPolicy } from "./policy-to-ike.js";

const PSK16 = "0123456789abcdef";
const connectBase = { server: "203.0.113.5", psk: PSK16, user: "alice", password: "pw" };

function tempStore(allowLegacyCrypto = false): { store: PolicyStore; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "oak-fips-"));
  let i = 0;
  const opened = createDefaultStore(
    join(dir, "s.db"),
    (n) => Buffer.alloc(n, ++i),
    allowLegacyCrypto ? { allowLegacyCrypto } : {},
  );
  if (!opened.ok) throw new Error(opened.error.message);
  const store = opened.value.store;
  const done = (): void => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { store, done };
}

describe("--fips on the command line", () => {
  it("bare --fips means the provider; policy-only and off are words; anything else names the field and the fix", () => {
    const a = loadServeConfig({ fips: true }, {});
    assert.ok(a.ok);
    assert.equal(a.value.fips, "provider");
    const b = loadServeConfig({ fips: "policy-only" }, {});
    assert.ok(b.ok);
    assert.equal(b.value.fips, "policy-only");
    const c = loadServeConfig({}, { OAKLEY_FIPS: "off" });
    assert.ok(c.ok);
    assert.equal(c.value.fips, "off");
    const none = loadServeConfig({}, {});
    assert.ok(none.ok);
    assert.equal(none.value.fips, undefined, "no flag: the store's setting decides");
    const bad = loadServeConfig({ fips: "strict" }, {});
    assert.ok(!bad.ok);
    assert.match(
      formatIssues(bad.error),
      /fips \(command line\): "strict" is not a FIPS mode: use --fips .*--fips=policy-only/,
    );
  });

  it("FIPS mode refuses --allow-legacy and a PSK under 14 bytes, even with --allow-weak-psk", () => {
    const r = loadServeConfig(
      { fips: "policy-only", allowLegacy: true, psk: "short-key-13b", allowWeakPsk: true },
      {},
    );
    assert.ok(!r.ok);
    const text = formatIssues(r.error);
    assert.match(text, /allow-legacy \(command line\): 3DES and MODP-1024 are not FIPS-approved/);
    assert.match(text, /psk \(command line\): is 13 bytes; FIPS mode needs at least 14 bytes/);
    // Without FIPS mode the same weak key is the person's choice.
    assert.ok(loadServeConfig({ psk: "short-key-13b", allowWeakPsk: true }, {}).ok);
  });

  it("connect --fips without --allow-auth pap is refused with the reason (MS-CHAPv2 needs MD4 and DES)", () => {
    const r = loadConnectConfig({ ...connectBase, fips: "policy-only" }, {});
    assert.ok(!r.ok);
    assert.match(
      formatIssues(r.error),
      /allow-auth \(command line\): FIPS mode cannot use MS-CHAPv2 \(MD4 and DES are not approved\).*--allow-auth pap/,
    );
    const chap = loadConnectConfig(
      { ...connectBase, fips: "policy-only", allowAuth: ["chap,pap"] },
      {},
    );
    assert.ok(!chap.ok);
    assert.match(formatIssues(chap.error), /chap cannot be used in FIPS mode/);
    const ok = loadConnectConfig({ ...connectBase, fips: "policy-only", allowAuth: ["pap"] }, {});
    assert.ok(ok.ok, ok.ok ? "" : formatIssues(ok.error));
    assert.deepEqual(ok.value.authMethods, ["pap"], "MS-CHAPv2 is not offered in FIPS mode");
    assert.equal(ok.value.fips, "policy-only");
    const legacy = loadConnectConfig(
      { ...connectBase, fips: true, allowAuth: ["pap"], allowLegacy: true },
      {},
    );
    assert.ok(!legacy.ok);
    assert.match(formatIssues(legacy.error), /allow-legacy/);
  });
});

describe("FIPS mode and the policy store", () => {
  it("the default policy's offers are filtered to approved suites, and the engine is told to refuse the rest", () => {
    const { store, done } = tempStore(true);
    try {
      const eff = effectivePolicy(store);
      assert.ok(eff.ok);
      const open = ikeConfigFromPolicy(eff.value, { windowsNatFriendly: true });
      assert.ok(open.phase1.offers.some((o) => o.encryption === "3des-cbc" || o.group === 2));
      const c = ikeConfigFromPolicy(eff.value, { windowsNatFriendly: true, fips: true });
      assert.equal(c.fips, true);
      assert.ok(c.phase1.offers.length > 0);
      for (const o of c.phase1.offers) {
        assert.equal(o.encryption, "aes-cbc");
        assert.ok([14, 15, 16, 19, 20, 21].includes(o.group), `group ${o.group}`);
        assert.notEqual(o.hash, "md5");
      }
      assert.ok(c.phase2.offers.length > 0);
      for (const o of c.phase2.offers) {
        assert.notEqual(o.cipher, "3des-cbc");
        assert.notEqual(o.integrity, "hmac-md5-96");
      }
    } finally {
      done();
    }
  });

  it("a stored PSK under 14 bytes is named (never shown) as the reason FIPS mode cannot start", () => {
    const { store, done } = tempStore();
    try {
      const secret = "shortsecret12";
      const u = store.transaction("weak key", () => {
        store.putInTxn("settings", { allowWeakPsk: true }, "update");
        store.putInTxn("psk", { name: DEFAULT_PSK, secret }, "update");
      });
      assert.ok(u.ok, u.ok ? "" : u.error.message);
      const eff = effectivePolicy(store);
      assert.ok(eff.ok);
      const p = fipsPolicyProblems(eff.value);
      assert.equal(p.errors.length, 1);
      assert.match(p.errors[0]!, new RegExp(`pre-shared key '${DEFAULT_PSK}' is 13 bytes`));
      assert.ok(!p.errors[0]!.includes(secret));
    } finally {
      done();
    }
  });

  it("the FIPS setting is stored, shown by `policy show`, and kept out of stores that never set it", () => {
    const { store, done } = tempStore();
    try {
      const before = store.settings();
      assert.ok(before.ok);
      assert.equal(before.value.value?.fips, undefined);
      const r = store.transaction("fips", () =>
        store.putInTxn("settings", { fips: "policy-only" }, "update"),
      );
      assert.ok(r.ok, r.ok ? "" : r.error.message);
      const eff = effectivePolicy(store);
      assert.ok(eff.ok);
      assert.equal(eff.value.settings.fips, "policy-only");
      const shown = new StorePolicyOps(store).show();
      assert.ok(shown.ok);
      assert.equal(shown.value.fips, "policy-only");
      assert.match(formatPolicyShow(shown.value), /^FIPS mode \(store setting.*\): policy-only$/m);
      const bad = store.transaction("fips", () =>
        store.putInTxn("settings", { fips: "maybe" }, "update"),
      );
      assert.ok(!bad.ok);
      assert.match(bad.error.message, /fips/);
    } finally {
      done();
    }
  });
});

describe("FIPS state for status", () => {
  it("says off, policy only (no validated module) or provider active", () => {
    assert.equal(fipsStatusText(FIPS_OFF), "off");
    const p = startFips("policy-only");
    assert.ok(p.ok);
    assert.match(
      fipsStatusText(p.value),
      /^policy only - approved algorithms only, WITHOUT a validated/,
    );
  });
});
