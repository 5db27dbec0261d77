import assert from "node:assert/strict";
import { test } from "node:test";
import { checkNatPolicy, type NatPolicy, parseNatPolicy } from "./nat-policy.js";

// The expected table is Microsoft's (KB 818043 / KB 885407) meaning of the three values.
const cases: Array<[NatPolicy, boolean, boolean, boolean]> = [
  // policy, clientBehindNat, serverBehindNat, allowed
  [0, false, false, true],
  [0, true, false, true],
  [0, false, true, false],
  [0, true, true, false],
  [1, false, false, true],
  [1, true, false, true],
  [1, false, true, true],
  [1, true, true, false],
  [2, false, false, true],
  [2, true, false, true],
  [2, false, true, true],
  [2, true, true, true],
];

for (const [policy, local, peer, allowed] of cases) {
  test(`nat-policy ${policy}: client NAT=${local}, server NAT=${peer} -> ${allowed ? "allowed" : "refused"}`, () => {
    const r = checkNatPolicy(
      policy,
      { localBehindNat: local, peerBehindNat: peer },
      "198.51.100.2",
    );
    assert.equal(r.ok, allowed);
    if (!r.ok) {
      assert.equal(r.error.code, "OAK_E_NAT_POLICY");
      assert.match(r.error.message, new RegExp(`nat-policy ${policy}`));
      assert.match(r.error.message, /--nat-policy [12]/);
      assert.match(r.error.message, /198\.51\.100\.2/);
    }
  });
}

test("parseNatPolicy accepts 0/1/2 and names the values on error", () => {
  assert.deepEqual(parseNatPolicy("1"), { ok: true, value: 1 });
  assert.deepEqual(parseNatPolicy(2), { ok: true, value: 2 });
  const bad = parseNatPolicy("3");
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.error, /must be 0, 1 or 2/);
  assert.equal(parseNatPolicy("").ok, false);
  assert.equal(parseNatPolicy("1.5").ok, false);
});
