import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse as parsePlist } from "plist";
import { unwrap } from "../../base/result.js";
import { createDefaultStore, openProfileStore } from "../../policy/index.js";
import { oakleyBinPath, profileForConnect } from "./profile.js";
import { runOakley } from "../../../test/helpers/cli.js";

const oakley = runOakley;

const PSK = "psk-that-is-long-enough-0123";
const PASSWORD = "correct horse 'battery'";

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "oakley-profile-cli-"));
  const store = join(dir, "client.db");
  const pskFile = join(dir, "psk");
  const pwFile = join(dir, "pw");
  writeFileSync(pskFile, `${PSK}\n`);
  writeFileSync(pwFile, `${PASSWORD}\n`);
  const add = (name: string, ...extra: string[]) =>
    oakley([
      "profile",
      "add",
      name,
      "--profile-store",
      store,
      "--server",
      "vpn.example.com",
      "--psk-file",
      pskFile,
      "--user",
      "alice",
      "--password-file",
      pwFile,
      ...extra,
    ]);
  return { dir, store, pskFile, pwFile, add };
}

test("profile add/show/list: saved in a 0600 store; secrets are never printed back", async () => {
  const t = setup();
  const a = await t.add("office", "--nat-policy", "1", "--route", "10.20.0.0/16", "--use-peer-dns");
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /saved profile 'office'.*oakley connect office/);
  assert.equal(statSync(t.store).mode & 0o777, 0o600);
  const show = await oakley(["profile", "show", "office", "--profile-store", t.store]);
  assert.equal(show.code, 0, show.err);
  assert.match(show.out, /psk: +\(set\)/);
  assert.match(show.out, /password: +\(set\)/);
  assert.match(show.out, /nat-policy: +1 \(allow a server behind NAT\)/);
  const json = await oakley(["profile", "show", "office", "--json", "--profile-store", t.store]);
  const list = await oakley(["profile", "list", "--json", "--profile-store", t.store]);
  const table = await oakley(["profile", "list", "--profile-store", t.store]);
  for (const r of [show, json, list, table]) {
    assert.equal(r.out.includes(PSK), false);
    assert.equal(r.out.includes("horse"), false);
  }
  assert.equal((JSON.parse(json.out) as { psk: string }).psk, "(set)");
  assert.deepEqual(
    (JSON.parse(list.out) as { name: string; routes: string[] }[]).map((p) => [p.name, p.routes]),
    [["office", ["10.20.0.0/16"]]],
  );
  assert.match(table.out, /office +vpn\.example\.com +alice +10\.20\.0\.0\/16/);
});

test("profile add refuses a weak PSK with the shared message unless --allow-weak-psk", async () => {
  const t = setup();
  writeFileSync(t.pskFile, "tooshort\n");
  const r = await t.add("office");
  assert.equal(r.code, 2);
  assert.match(r.err, /psk: PSK is 8 characters; use at least 16 \(or --allow-weak-psk\)/);
  assert.equal(r.err.includes("tooshort"), false);
  const ok = await t.add("office", "--allow-weak-psk");
  assert.equal(ok.code, 0, ok.err);
});

test("profile add names each bad field; a duplicate name is refused and nothing changes", async () => {
  const t = setup();
  const bad = await t.add("office", "--nat-policy", "3", "--route", "10.0.0.0/4");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /nat-policy: must be 0, 1 or 2/);
  assert.match(bad.err, /routes\[0\]: "10\.0\.0\.0\/4" is not an IPv4 network/);
  assert.equal((await t.add("office")).code, 0);
  const dup = await t.add("office");
  assert.equal(dup.code, 1);
  assert.match(dup.err, /already exists.*oakley profile edit office/);
});

test("profile import: a file that fails validation changes nothing; --replace keeps secrets the file leaves out", async () => {
  const t = setup();
  assert.equal((await t.add("office", "--nat-policy", "1")).code, 0);
  const before = (await oakley(["profile", "show", "office", "--json", "--profile-store", t.store]))
    .out;
  const badFile = join(t.dir, "bad.yaml");
  writeFileSync(
    badFile,
    "oakley-client-profile: 1\nname: office\nserver: vpn.example.com\nuser: bob\nnat-polcy: 2\n",
  );
  const bad = await oakley(["profile", "import", badFile, "--replace", "--profile-store", t.store]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /not imported \(nothing changed\)/);
  assert.match(bad.err, /nat-polcy: unknown field; did you mean 'nat-policy'\?/);
  const after = (await oakley(["profile", "show", "office", "--json", "--profile-store", t.store]))
    .out;
  assert.equal(after, before);

  // An export without secrets, edited, goes back in with --replace; the secrets stay.
  const exp = await oakley(["profile", "export", "office", "--profile-store", t.store]);
  assert.equal(exp.code, 0, exp.err);
  assert.equal(exp.out.includes(PSK), false);
  const f = join(t.dir, "office.yaml");
  writeFileSync(f, exp.out.replace("user: alice", "user: bob"));
  const dup = await oakley(["profile", "import", f, "--profile-store", t.store]);
  assert.equal(dup.code, 1);
  assert.match(dup.err, /already exists.*--replace/);
  const rep = await oakley(["profile", "import", f, "--replace", "--profile-store", t.store]);
  assert.equal(rep.code, 0, rep.err);
  const s = unwrap(openProfileStore(t.store));
  const p = unwrap(s.get("office")).value;
  s.close();
  assert.equal(p?.user, "bob");
  assert.equal(p?.psk, PSK);
  assert.equal(p?.password, PASSWORD);
});

test("profile export --include-secrets -o FILE: 0600, refuses to overwrite, imports elsewhere equal", async () => {
  const t = setup();
  assert.equal((await t.add("office", "--default-route")).code, 0);
  const f = join(t.dir, "out.yaml");
  const r = await oakley([
    "profile",
    "export",
    "office",
    "--include-secrets",
    "-o",
    f,
    "--profile-store",
    t.store,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.equal(statSync(f).mode & 0o777, 0o600);
  assert.equal(r.out, "");
  const again = await oakley(["profile", "export", "office", "-o", f, "--profile-store", t.store]);
  assert.equal(again.code, 2);
  assert.match(again.err, /already exists; give --force/);
  const other = join(t.dir, "other.db");
  const imp = await oakley(["profile", "import", f, "--profile-store", other]);
  assert.equal(imp.code, 0, imp.err);
  const a = unwrap(openProfileStore(t.store));
  const b = unwrap(openProfileStore(other));
  assert.deepEqual(unwrap(b.get("office")).value, unwrap(a.get("office")).value);
  a.close();
  b.close();
});

test("profile edit changes only what is given; rename; --no-password; remove", async () => {
  const t = setup();
  assert.equal((await t.add("office", "--route", "10.1.0.0/16", "--use-peer-dns")).code, 0);
  const e = await oakley([
    "profile",
    "edit",
    "office",
    "--name",
    "work",
    "--nat-policy",
    "2",
    "--no-password",
    "--profile-store",
    t.store,
  ]);
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /changed profile 'work' \(was 'office'\)/);
  const s = unwrap(openProfileStore(t.store));
  const p = unwrap(s.get("work")).value;
  s.close();
  assert.equal(p?.natPolicy, 2);
  assert.equal(p?.password, undefined);
  assert.equal(p?.psk, PSK);
  assert.deepEqual(p?.routes, ["10.1.0.0/16"]);
  assert.equal(p?.usePeerDns, true);
  const bad = await oakley([
    "profile",
    "edit",
    "work",
    "--server",
    "not a host",
    "--profile-store",
    t.store,
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /server: "not a host" is neither an IPv4 address nor a host name/);
  const rm = await oakley(["profile", "remove", "work", "--profile-store", t.store]);
  assert.equal(rm.code, 0, rm.err);
  const gone = await oakley(["profile", "show", "work", "--profile-store", t.store]);
  assert.equal(gone.code, 1);
  assert.match(gone.err, /no profile named 'work'/);
});

test("oakley connect NAME: the profile fills the flags; given flags and OAKLEY_* override, and it says so", async () => {
  const t = setup();
  assert.equal((await t.add("office", "--nat-policy", "1", "--route", "10.20.0.0/16")).code, 0);
  const r = unwrap(
    profileForConnect(
      "office",
      { profileStore: t.store, natPolicy: "2" },
      { OAKLEY_PASSWORD: "from-env" },
    ),
  );
  assert.equal(r.flags.server, "vpn.example.com");
  assert.equal(r.flags.psk, PSK);
  assert.equal(r.flags.user, "alice");
  assert.equal(r.flags.natPolicy, "2");
  assert.equal(r.flags.password, undefined); // the environment's value is used by the config loader
  assert.deepEqual(r.flags.route, ["10.20.0.0/16"]);
  assert.match(
    r.message ?? "",
    /using profile 'office' from .*client\.db \(server vpn\.example\.com, user alice\); overridden by OAKLEY_PASSWORD, --nat-policy/,
  );
  assert.equal((r.message ?? "").includes(PSK), false);
  // Not a profile: the flags pass through unchanged, no message.
  const plain = unwrap(profileForConnect("198.51.100.7", { profileStore: t.store, psk: "x" }, {}));
  assert.deepEqual(plain, { flags: { profileStore: t.store, psk: "x" } });
  const none = unwrap(profileForConnect("elsewhere", { profileStore: t.store }, {}));
  assert.equal(none.message, undefined);
  // The default store unreadable: SERVER is taken as an address, and it says why.
  const junk = join(t.dir, "junk.db");
  writeFileSync(junk, "not a database ".repeat(100));
  const unreadable = profileForConnect("office", {}, { OAKLEY_PROFILE_STORE: "" }, junk);
  assert.ok(unreadable.ok);
  assert.match(unreadable.value.message ?? "", /junk\.db.*taking 'office' as the server's address/);
  assert.equal(unreadable.value.flags.server, undefined);
  // A store named explicitly that cannot be used is an error, not a silent fallback.
  assert.equal(profileForConnect("office", { profileStore: junk }, {}).ok, false);
  const missing = profileForConnect("office", { profileStore: join(t.dir, "nope.db") }, {});
  assert.equal(missing.ok, false);
});

test("profile install-service --unit-dir: the unit runs this oakley; a non-default store gets a drop-in", async () => {
  const t = setup();
  assert.equal((await t.add("office")).code, 0);
  const unitDir = join(t.dir, "units");
  const r = await oakley([
    "profile",
    "install-service",
    "office",
    "--unit-dir",
    unitDir,
    "--profile-store",
    t.store,
  ]);
  assert.equal(r.code, 0, r.err);
  const unit = readFileSync(join(unitDir, "oakley-connect@.service"), "utf8");
  assert.match(
    unit,
    new RegExp(
      `^ExecStart=${oakleyBinPath().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} connect %i --persist$`,
      "m",
    ),
  );
  const dropIn = readFileSync(
    join(unitDir, "oakley-connect@office.service.d", "profile-store.conf"),
    "utf8",
  );
  assert.match(dropIn, new RegExp(`Environment=OAKLEY_PROFILE_STORE=${t.store}`));
  assert.match(dropIn, new RegExp(`ReadWritePaths=${t.dir}`));
  assert.match(r.out, /not enabled \(--unit-dir was given\)/);
  assert.match(r.out, /systemctl enable oakley-connect@office\.service/);
  const missing = await oakley([
    "profile",
    "install-service",
    "nope",
    "--unit-dir",
    unitDir,
    "--profile-store",
    t.store,
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no profile named 'nope'/);
});

// ------------------------------------------------------------------ client-config (server side)

function serverStore(): { path: string; psk: string; user: string; password: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "oakley-client-config-"));
  const path = join(dir, "oakley.db");
  const r = unwrap(createDefaultStore(path, (n) => randomBytes(n)));
  r.store.close();
  const i = r.initial;
  assert.ok(i);
  return { path, psk: i.psk, user: i.user.name, password: i.user.password, dir };
}

test("client-config: each format carries the store's PSK and the user; no password unless asked", async () => {
  const s = serverStore();
  for (const format of ["windows", "apple", "networkmanager", "oakley", "text"]) {
    const r = await oakley([
      "client-config",
      s.user,
      "--format",
      format,
      "--server",
      "vpn.example.com",
      "--store",
      s.path,
    ]);
    assert.equal(r.code, 0, `${format}: ${r.err}`);
    assert.ok(format === "apple" || r.out.includes(s.psk), `${format} has the PSK`);
    assert.ok(r.out.includes(s.user), `${format} has the user`);
    assert.equal(r.out.includes(s.password), false, `${format} has no password`);
  }
  const apple = await oakley([
    "client-config",
    s.user,
    "--format",
    "apple",
    "--server",
    "vpn.example.com",
    "--store",
    s.path,
  ]);
  const doc = parsePlist(apple.out) as {
    PayloadContent: { IPSec: { SharedSecret: Uint8Array } }[];
  };
  assert.equal(Buffer.from(doc.PayloadContent[0]?.IPSec.SharedSecret ?? []).toString(), s.psk);
});

test("client-config --include-password: only from a --password-file that matches the stored hash", async () => {
  const s = serverStore();
  const base = [
    "client-config",
    s.user,
    "--format",
    "text",
    "--server",
    "198.51.100.7",
    "--store",
    s.path,
    "--include-password",
  ];
  const none = await oakley(base);
  assert.equal(none.code, 2);
  assert.match(none.err, /keeps only hashes.*--password-file FILE/);
  const wrong = join(s.dir, "wrong");
  writeFileSync(wrong, "not-the-password\n");
  const w = await oakley([...base, "--password-file", wrong]);
  assert.equal(w.code, 2);
  assert.match(w.err, /not vpnuser's current password/);
  const right = join(s.dir, "right");
  writeFileSync(right, `${s.password}\n`);
  const ok = await oakley([...base, "--password-file", right]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, new RegExp(`Password: +${s.password}`));
  const alone = await oakley([
    "client-config",
    s.user,
    "--format",
    "text",
    "--store",
    s.path,
    "--password-file",
    right,
  ]);
  assert.equal(alone.code, 2);
  assert.match(alone.err, /goes with --include-password/);
});

test("client-config: unknown user, unknown format, -o writes 0600 and names what is inside", async () => {
  const s = serverStore();
  const u = await oakley([
    "client-config",
    "nobody",
    "--format",
    "text",
    "--server",
    "x.example",
    "--store",
    s.path,
  ]);
  assert.equal(u.code, 1);
  assert.match(u.err, /no user 'nobody'.*oakley users add nobody/);
  const f = await oakley(["client-config", s.user, "--format", "pdf", "--store", s.path]);
  assert.equal(f.code, 2);
  assert.match(f.err, /--format 'pdf' is not one of windows, apple, networkmanager, oakley, text/);
  const out = join(s.dir, "vpn.ps1");
  const w = await oakley([
    "client-config",
    s.user,
    "--format",
    "windows",
    "--server",
    "vpn.example.com",
    "--store",
    s.path,
    "-o",
    out,
  ]);
  assert.equal(w.code, 0, w.err);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.match(w.err, /wrote .*vpn\.ps1: PowerShell script .*pre-shared key 'default' inside/);
  assert.equal(w.err.includes(s.psk), false);
});

test("client-config --format oakley imports with oakley profile import (round trip)", async () => {
  const s = serverStore();
  const f = join(s.dir, "p.yaml");
  const r = await oakley([
    "client-config",
    s.user,
    "--format",
    "oakley",
    "--server",
    "vpn.example.com",
    "--store",
    s.path,
    "-o",
    f,
  ]);
  assert.equal(r.code, 0, r.err);
  const store = join(s.dir, "client.db");
  const imp = await oakley(["profile", "import", f, "--profile-store", store]);
  assert.equal(imp.code, 0, imp.err);
  const use = unwrap(profileForConnect("vpn.example.com", { profileStore: store }, {}));
  assert.equal(use.flags.psk, s.psk);
  assert.equal(use.flags.user, s.user);
  assert.equal(use.flags.server, "vpn.example.com");
});

test("profile add --cert/--key/--ca: no PSK needed; connect NAME gets the files; export/import keep them", async () => {
  const t = setup();
  const files = ["laptop.pem", "laptop.key", "ca.pem"].map((f) => join(t.dir, f));
  const base = ["profile", "add", "work", "--profile-store", t.store, "--server", "vpn.example"];
  const half = await oakley([...base, "--user", "alice", "--cert", files[0]!]);
  assert.equal(half.code, 2);
  assert.match(half.err, /key: is missing: cert, key and ca go together/);
  const r = await oakley([
    ...base,
    "--user",
    "alice",
    "--cert",
    files[0]!,
    "--key",
    files[1]!,
    "--ca",
    files[2]!,
  ]);
  assert.equal(r.code, 0, r.err);
  const show = await oakley(["profile", "show", "work", "--profile-store", t.store]);
  assert.match(show.out, /certificate: +.*laptop\.pem/);
  assert.doesNotMatch(show.out, /psk:/);
  const use = unwrap(profileForConnect("work", { profileStore: t.store }, {}));
  assert.equal(use.flags.cert, files[0]);
  assert.equal(use.flags.key, files[1]);
  assert.equal(use.flags.ca, files[2]);
  assert.equal(use.flags.psk, undefined);
  // A flag given now overrides the profile's file.
  const over = unwrap(profileForConnect("work", { profileStore: t.store, key: "/other.key" }, {}));
  assert.equal(over.flags.key, "/other.key");
  const out = join(t.dir, "work.yaml");
  const e = await oakley([
    "profile",
    "export",
    "work",
    "--profile-store",
    t.store,
    "--output",
    out,
  ]);
  assert.equal(e.code, 0, e.err);
  const yaml = readFileSync(out, "utf8");
  assert.match(yaml, /cert: .*laptop\.pem/);
  const other = join(t.dir, "other.db");
  const i = await oakley(["profile", "import", out, "--profile-store", other]);
  assert.equal(i.code, 0, i.err);
  const again = unwrap(profileForConnect("work", { profileStore: other }, {}));
  assert.equal(again.flags.ca, files[2]);
});
