import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { formatIssues, loadConnectConfig, loadServeConfig } from "./config.js";

test("serve: defaults with no input", () => {
  const r = loadServeConfig({}, {});
  assert.ok(r.ok);
  assert.equal(r.value.listen, "0.0.0.0");
  assert.equal(r.value.windowsNatFriendly, true);
  assert.equal(r.value.negotiateDh2048, true);
  assert.equal(r.value.allowLegacy, false);
  assert.deepEqual(r.value.users, []);
});

test("serve: flags beat env beat file", () => {
  const dir = mkdtempSync(join(tmpdir(), "oak-cfg-"));
  const file = join(dir, "oakley.yaml");
  writeFileSync(
    file,
    "listen: 198.51.100.2\npool: 10.9.0.0/24\nnegotiate-dh2048: false\nmtu: 1300\ndns: [192.0.2.53]\n",
  );
  const r = loadServeConfig(
    { config: file, pool: "10.7.0.0/24" },
    { OAKLEY_MTU: "1280", OAKLEY_LISTEN: "203.0.113.5" },
  );
  assert.ok(r.ok, r.ok ? "" : formatIssues(r.error));
  assert.equal(r.value.pool, "10.7.0.0/24"); // flag
  assert.equal(r.value.mtu, 1280); // env over file
  assert.equal(r.value.listen, "203.0.113.5"); // env over file
  assert.equal(r.value.negotiateDh2048, false); // file
  assert.deepEqual(r.value.dns, ["192.0.2.53"]);
});

test("serve: every mistake is reported with field, source and fix", () => {
  const r = loadServeConfig(
    {
      listen: "nowhere",
      psk: "s3cr",
      pool: "10.0.0.0/33",
      user: ["alice"],
      dns: "1.2.3",
      tun: "this-name-is-too-long",
    },
    { OAKLEY_MTU: "9000", OAKLEY_NEGOTIATE_DH2048: "maybe" },
  );
  assert.ok(!r.ok);
  const fields = r.error.map((i) => i.field).sort();
  assert.deepEqual(fields, [
    "dns",
    "listen",
    "mtu",
    "negotiateDh2048",
    "pool",
    "psk",
    "tun",
    "user",
  ]);
  const text = formatIssues(r.error);
  assert.match(
    text,
    /pool \(command line\): "10\.0\.0\.0\/33" is not an IPv4 network.*10\.8\.0\.0\/24/,
  );
  assert.match(text, /mtu \(environment\): must be a whole number from 576 to 1500/);
  assert.match(text, /user \(command line\): .*NAME:PASSWORD/);
  assert.ok(!text.includes("s3cr"), "the PSK value itself is never echoed");
});

test("serve: unreadable and malformed config files name the problem", () => {
  const missing = loadServeConfig({ config: "/nonexistent/oakley.yaml" }, {});
  assert.ok(!missing.ok);
  assert.match(missing.error[0]!.message, /cannot read \/nonexistent\/oakley.yaml \(ENOENT\)/);
  const dir = mkdtempSync(join(tmpdir(), "oak-cfg-"));
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "listen: [unclosed\n");
  const r = loadServeConfig({ config: bad }, {});
  assert.ok(!r.ok);
  assert.match(r.error[0]!.message, /not valid YAML/);
  writeFileSync(bad, "- a\n- b\n");
  const list = loadServeConfig({ config: bad }, {});
  assert.ok(!list.ok);
  assert.match(list.error[0]!.message, /mapping of settings/);
});

test("connect: required fields and nat-policy", () => {
  const r = loadConnectConfig({}, {});
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => i.field).sort(), ["password", "psk", "server", "user"]);
  const bad = loadConnectConfig(
    { server: "198.51.100.2", psk: "p".repeat(16), user: "u", password: "pw", natPolicy: "3" },
    {},
  );
  assert.ok(!bad.ok);
  assert.match(
    formatIssues(bad.error),
    /nat-policy \(command line\): nat-policy must be 0, 1 or 2/,
  );
  const good = loadConnectConfig(
    { server: "198.51.100.2", user: "u" },
    { OAKLEY_PSK: "secret-psk-0123456789", OAKLEY_PASSWORD: "pw", OAKLEY_NAT_POLICY: "2" },
  );
  assert.ok(good.ok);
  assert.equal(good.value.natPolicy, 2);
});

test("serve: management connection limits from flags or env, range-checked", () => {
  const d = loadServeConfig({}, {});
  assert.ok(d.ok);
  assert.equal(d.value.controlMaxConnections, 64);
  assert.equal(d.value.controlMaxPerAddress, 8);
  const f = loadServeConfig(
    { controlMaxConnections: "16" },
    { OAKLEY_CONTROL_MAX_PER_ADDRESS: "2" },
  );
  assert.ok(f.ok);
  assert.equal(f.value.controlMaxConnections, 16);
  assert.equal(f.value.controlMaxPerAddress, 2);
  const bad = loadServeConfig({ controlMaxPerAddress: "0" }, {});
  assert.ok(!bad.ok);
  assert.match(formatIssues(bad.error), /1 to 4096/);
});

test("serve --auth-methods: the PPP methods offered, in order; mistakes name the flag and the words", () => {
  const r = loadServeConfig({ authMethods: "pap,chap" }, {});
  assert.ok(r.ok);
  assert.deepEqual(r.value.pppAuthMethods, ["pap", "chap-md5"]);
  const d = loadServeConfig({}, {});
  assert.ok(d.ok);
  assert.equal(d.value.pppAuthMethods, undefined, "default: the server's own order");
  const bad = loadServeConfig({ authMethods: "eap" }, {});
  assert.ok(!bad.ok);
  assert.match(
    formatIssues(bad.error),
    /auth-methods.*"eap" is not an authentication method.*mschapv2, chap or pap/,
  );
});
