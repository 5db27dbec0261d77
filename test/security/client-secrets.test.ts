/**
 * Threat model of saved client profiles and generated client files: the pre-shared key and
 * passwords must not leak through output, file modes or leftovers in the store file, and
 * values that reach a script or document must not change its structure.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse as parsePlist } from "plist";
import { unwrap } from "../../src/base/result.js";
import { renderClientConfig } from "../../src/daemon/client-config.js";
import { openProfileStore } from "../../src/policy/index.js";
import { runOakley } from "../helpers/cli.js";

const PSK = "Sup3r-secret-PSK-value-XYZ";
const PW = "Pa55word-that-must-not-leak";

const oakley = (args: string[]) => runOakley(args);

test("profile secrets never appear in what add, show, list, edit, export, import or their errors print", async () => {
  const dir = mkdtempSync(join(tmpdir(), "oakley-sec-profile-"));
  const store = join(dir, "c.db");
  writeFileSync(join(dir, "psk"), PSK);
  writeFileSync(join(dir, "pw"), PW);
  writeFileSync(join(dir, "weak"), "Wk7qZ");
  const S = ["--profile-store", store];
  const add = ["--server", "198.51.100.7", "--user", "u"];
  const runs = [
    await oakley([
      "profile",
      "add",
      "p",
      ...S,
      ...add,
      "--psk-file",
      join(dir, "psk"),
      "--password-file",
      join(dir, "pw"),
    ]),
    await oakley(["profile", "add", "p", ...S, ...add, "--psk-file", join(dir, "psk")]),
    await oakley([
      "profile",
      "add",
      "q",
      ...S,
      "--server",
      "bad host",
      "--user",
      "u",
      "--psk-file",
      join(dir, "weak"),
    ]),
    await oakley(["profile", "show", "p", ...S]),
    await oakley(["profile", "show", "p", "--json", ...S]),
    await oakley(["profile", "list", "--json", ...S]),
    await oakley(["profile", "edit", "p", "--psk-file", join(dir, "weak"), ...S]),
    await oakley(["profile", "export", "p", ...S]),
  ];
  writeFileSync(
    join(dir, "bad.yaml"),
    `oakley-client-profile: 1\nname: r\nserver: x\nuser: u\npsk: ${PSK}\npassword: ${PW}\nbogus: 1\n`,
  );
  runs.push(await oakley(["profile", "import", join(dir, "bad.yaml"), ...S]));
  assert.equal(runs[0]?.code, 0, runs[0]?.err);
  for (const r of runs) {
    for (const secret of [PSK, PW, "Wk7qZ"]) {
      assert.equal(r.out.includes(secret), false, `stdout leaks: ${r.out}`);
      assert.equal(r.err.includes(secret), false, `stderr leaks: ${r.err}`);
    }
  }
});

test("files that hold secrets are created 0600 even under umask 000 (store, its WAL, exports)", async () => {
  const old = process.umask(0);
  try {
    const dir = mkdtempSync(join(tmpdir(), "oakley-sec-mode-"));
    const store = join(dir, "c.db");
    writeFileSync(join(dir, "psk"), PSK);
    const add = await oakley([
      "profile",
      "add",
      "p",
      "--profile-store",
      store,
      "--server",
      "198.51.100.7",
      "--psk-file",
      join(dir, "psk"),
      "--user",
      "u",
    ]);
    assert.equal(add.code, 0, add.err);
    const exp = join(dir, "p.yaml");
    const e = await oakley([
      "profile",
      "export",
      "p",
      "--include-secrets",
      "-o",
      exp,
      "--profile-store",
      store,
    ]);
    assert.equal(e.code, 0, e.err);
    // Keep a connection open so the WAL file exists while its mode is checked.
    const s = unwrap(openProfileStore(store));
    for (const f of [store, `${store}-wal`, exp]) {
      if (!existsSync(f)) continue;
      assert.equal(statSync(f).mode & 0o777, 0o600, f);
    }
    s.close();
  } finally {
    process.umask(old);
  }
});

test("a removed or replaced secret does not stay readable in the store file", () => {
  const dir = mkdtempSync(join(tmpdir(), "oakley-sec-delete-"));
  const store = join(dir, "c.db");
  const s = unwrap(openProfileStore(store));
  const base = {
    name: "p",
    server: "198.51.100.7",
    user: "u",
    natPolicy: 0 as const,
    defaultRoute: false,
    routes: [],
    usePeerDns: false,
    allowWeakPsk: false,
  };
  unwrap(s.add({ ...base, psk: PSK, password: PW }));
  unwrap(s.replace("p", { ...base, psk: "another-psk-0123456789" }));
  s.db.pragma("wal_checkpoint(TRUNCATE)");
  s.close();
  const bytes = readFileSync(store);
  assert.equal(bytes.includes(Buffer.from(PSK)), false);
  assert.equal(bytes.includes(Buffer.from(PW)), false);
});

test("a hostile user name cannot add lines to a NetworkManager keyfile or elements to a .mobileconfig", () => {
  const inject = "x\n[vpn]\nservice-type=org.evil";
  const r = renderClientConfig("networkmanager", {
    server: "198.51.100.7",
    user: inject,
    psk: PSK,
    windowsNatFriendly: true,
  });
  assert.equal(r.ok, false);
  const xml = "</string><key>VPNType</key><string>IKEv2";
  const a = unwrap(
    renderClientConfig("apple", {
      server: "198.51.100.7",
      user: xml,
      psk: PSK,
      windowsNatFriendly: true,
    }),
  );
  const doc = parsePlist(a.text) as {
    PayloadContent: { VPNType: string; PPP: { AuthName: string } }[];
  };
  assert.equal(doc.PayloadContent[0]?.VPNType, "L2TP");
  assert.equal(doc.PayloadContent[0]?.PPP.AuthName, xml);
});
