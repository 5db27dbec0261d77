/**
 * Threat model: the secrets of a VPN server (pre-shared keys, user password hashes, first-start
 * secrets, management tokens) leaking to other local users or into places that outlive them:
 *   - /proc/PID/cmdline is readable by every local user: secrets on the command line are
 *     warned about, and each one has a file or environment form;
 *   - a short PSK falls to an offline dictionary attack on one captured Main/Aggressive Mode
 *     exchange: refused through every path that sets one (flags, environment, config file, the
 *     policy store, import, the control protocol) unless explicitly allowed;
 *   - the SQLite file keeps deleted rows in free pages: secure_delete zeroes them, and the
 *     write-ahead log is checkpointed after a secret changes;
 *   - the runtime directory (status, saved block set, control socket) is 0700;
 *   - first-start secrets printed to a non-terminal stdout end up in journald: they go to a
 *     0600 file instead, never overwritten, whose path is printed.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Command } from "commander";
import { registerManagementCommands } from "../../src/cli/commands/index.js";
import { type CliIo, endpointFromFlags } from "../../src/cli/commands/common.js";
import { ControlClient, ControlServer, StorePolicyOps } from "../../src/control/index.js";
import { FakeControlTarget } from "../../src/control/fake-target.js";
import {
  commandLineSecretWarnings,
  formatIssues,
  loadConnectConfig,
  loadServeConfig,
} from "../../src/daemon/config.js";
import { DEFAULT_BLOCK_SET, FailClosedGuard } from "../../src/daemon/fail-closed/index.js";
import { initialSecretsInfo, startupText } from "../../src/daemon/instructions.js";
import { NftTable } from "../../src/platform/firewall/index.js";
import {
  createDefaultStore,
  effectivePolicy,
  importYaml,
  makeCredentials,
  openStore,
  StoreErrorCode,
} from "../../src/policy/index.js";

const dir = mkdtempSync(join(tmpdir(), "oak-sec-secrets-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const FAST_SCRYPT = { n: 1024, r: 8, p: 1 };
const random = (n: number) => randomBytes(n);
const STRONG = "k7Qp-2mVx-9TzR-4wLb"; // 19 characters
const WEAK = "s3cret-psk"; // 10 characters
let seq = 0;
const fresh = (name: string) => join(dir, `${name}-${++seq}`);

function fileBytes(path: string): Buffer {
  const parts = [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p));
  return Buffer.concat(parts);
}

describe("command-line secrets: visible in /proc/PID/cmdline to every local user", () => {
  test("a PSK, password or user password on the command line is warned about, naming the safer flag", () => {
    const serve = commandLineSecretWarnings("serve", {
      psk: STRONG,
      user: ["alice:correct-horse-battery"],
    });
    assert.equal(serve.length, 2);
    assert.match(
      serve[0] ?? "",
      /--psk .*visible to every local user.*--psk-file FILE or OAKLEY_PSK/,
    );
    assert.match(serve[1] ?? "", /--user NAME:PASSWORD .*--users-file FILE/);
    const connect = commandLineSecretWarnings("connect", { psk: STRONG, password: "pw-123456" });
    assert.match(connect.join("\n"), /--psk .*--psk-file FILE/);
    assert.match(connect.join("\n"), /--password .*--password-file FILE or OAKLEY_PASSWORD/);
    for (const w of [...serve, ...connect]) {
      assert.ok(!w.includes(STRONG) && !w.includes("correct-horse") && !w.includes("pw-123456"));
      assert.ok(!w.includes("\n"), "one line each");
    }
    assert.deepEqual(
      commandLineSecretWarnings("serve", { pskFile: "/etc/oakley/psk", usersFile: "/etc/u" }),
      [],
    );
    assert.deepEqual(commandLineSecretWarnings("serve", { user: ["alice:@/etc/alice"] }), []);
  });

  test("serve reads the PSK and users from files (flags, environment or config file)", () => {
    const d = fresh("files");
    mkdirSync(d);
    writeFileSync(join(d, "psk"), `${STRONG}\n`, { mode: 0o600 });
    writeFileSync(
      join(d, "users"),
      "# name:password, one a line\nalice:correct-horse-battery\n\nbob:b0b-password:with-colon\n",
      { mode: 0o600 },
    );
    writeFileSync(join(d, "carol"), "carol-password-1\n", { mode: 0o600 });
    const r = loadServeConfig(
      { pskFile: join(d, "psk"), user: [`carol:@${join(d, "carol")}`] },
      { OAKLEY_USERS_FILE: join(d, "users") },
    );
    assert.ok(r.ok, r.ok ? "" : formatIssues(r.error));
    assert.equal(r.value.psk, STRONG);
    assert.deepEqual(r.value.users, [
      { name: "carol", password: "carol-password-1" },
      { name: "alice", password: "correct-horse-battery" },
      { name: "bob", password: "b0b-password:with-colon" },
    ]);
    const cfg = join(d, "oakley.yaml");
    writeFileSync(cfg, `psk-file: ${join(d, "psk")}\n`);
    const f = loadServeConfig({ config: cfg }, {});
    assert.ok(f.ok && f.value.psk === STRONG);
  });

  test("connect reads the PSK and password from files or the environment", () => {
    const d = fresh("cfiles");
    mkdirSync(d);
    writeFileSync(join(d, "psk"), `${STRONG}\r\n`);
    writeFileSync(join(d, "pw"), "my password\n");
    const r = loadConnectConfig(
      { server: "198.51.100.2", user: "alice", pskFile: join(d, "psk") },
      { OAKLEY_PASSWORD_FILE: join(d, "pw") },
    );
    assert.ok(r.ok, r.ok ? "" : formatIssues(r.error));
    assert.equal(r.value.psk, STRONG);
    assert.equal(r.value.password, "my password");
    const env = loadConnectConfig(
      { server: "198.51.100.2", user: "alice" },
      { OAKLEY_PSK: STRONG, OAKLEY_PASSWORD: "pw" },
    );
    assert.ok(env.ok && env.value.psk === STRONG);
  });

  test("an unreadable secret file, or a secret given twice, names the field and the fix", () => {
    const r = loadConnectConfig(
      { server: "198.51.100.2", user: "a", psk: STRONG, pskFile: "/nonexistent/psk" },
      { OAKLEY_PASSWORD_FILE: "/nonexistent/pw" },
    );
    assert.ok(!r.ok);
    const text = formatIssues(r.error);
    assert.match(text, /psk \(command line\): give either --psk or --psk-file, not both/);
    assert.match(text, /password-file \(environment\): cannot read \/nonexistent\/pw \(ENOENT\)/);
    const s = loadServeConfig({ user: ["dave:@/nonexistent/dave"] }, {});
    assert.ok(!s.ok);
    assert.match(
      formatIssues(s.error),
      /user \(command line\): cannot read \/nonexistent\/dave \(ENOENT\)/,
    );
  });
});

describe("management secrets on the command line", () => {
  test("--token is warned about; OAKLEY_TOKEN carries the token without it", () => {
    const lines: string[] = [];
    const ep = endpointFromFlags({ host: "198.51.100.1", token: "tok-visible" }, {}, (l) =>
      lines.push(l),
    );
    assert.ok(ep.kind === "tls" && ep.token === "tok-visible");
    assert.equal(lines.length, 1);
    assert.match(
      lines[0] ?? "",
      /--token .*visible to every local user.*--token-file FILE or OAKLEY_TOKEN/,
    );
    assert.ok(!lines[0]?.includes("tok-visible"));
    const env = endpointFromFlags({ host: "198.51.100.1" }, { OAKLEY_TOKEN: "tok-env\n" }, () =>
      assert.fail("no warning without --token"),
    );
    assert.ok(env.kind === "tls" && env.token === "tok-env");
  });

  test("users add --password is warned about, naming --password-stdin", async () => {
    const path = fresh("store.db");
    const s = createDefaultStore(path, random);
    assert.ok(s.ok);
    s.value.store.close();
    const r = { out: "", err: "", code: 0 };
    const io: CliIo = {
      out: (t) => {
        r.out += t;
      },
      err: (t) => {
        r.err += t;
      },
      setExitCode: (c) => {
        r.code = c;
      },
      readStdin: async () => "",
    };
    const program = new Command("oakley").exitOverride();
    registerManagementCommands(program, io);
    await program.parseAsync(
      [
        "users",
        "add",
        "erin",
        "--password",
        "erin-password-1",
        "--store",
        path,
        "--socket",
        join(dir, "none.sock"),
      ],
      { from: "user" },
    );
    assert.match(r.err, /--password .*visible to every local user.*--password-stdin/);
    assert.ok(!r.err.includes("erin-password-1"));
  });
});

describe("weak PSKs (offline dictionary attack on one captured exchange) are refused everywhere", () => {
  test("serve and connect: flag, environment and config file", () => {
    const cfg = fresh("weak.yaml");
    writeFileSync(cfg, `psk: ${WEAK}\n`);
    const cases = [
      loadServeConfig({ psk: WEAK }, {}),
      loadServeConfig({}, { OAKLEY_PSK: WEAK }),
      loadServeConfig({ config: cfg }, {}),
      loadConnectConfig({ server: "198.51.100.2", user: "a", password: "p", psk: WEAK }, {}),
      loadConnectConfig({ server: "198.51.100.2", user: "a", password: "p", config: cfg }, {}),
    ];
    for (const r of cases) {
      assert.ok(!r.ok, "a 10-character PSK is refused");
      const text = formatIssues(r.error);
      assert.match(text, /psk \(.*\): is 10 characters; use at least 16/);
      assert.match(text, /--allow-weak-psk/);
      assert.ok(!text.includes(WEAK), "the PSK itself is never echoed");
    }
  });

  test("--allow-weak-psk (or OAKLEY_ALLOW_WEAK_PSK) lets an operator keep an old short key", () => {
    const s = loadServeConfig({ psk: WEAK, allowWeakPsk: true }, {});
    assert.ok(s.ok && s.value.allowWeakPsk);
    const c = loadConnectConfig(
      { server: "198.51.100.2", user: "a", password: "p", psk: WEAK },
      { OAKLEY_ALLOW_WEAK_PSK: "1" },
    );
    assert.ok(c.ok);
  });

  test("the policy store refuses a short PSK on create, update and import", () => {
    const s = createDefaultStore(fresh("store.db"), random);
    assert.ok(s.ok);
    const store = s.value.store;
    const c = store.psks.create({ name: "k1", secret: WEAK });
    assert.ok(!c.ok);
    assert.equal(c.error.code, StoreErrorCode.WeakPsk);
    assert.match(
      c.error.message,
      /pre-shared key 'k1': the secret is 10 characters; use at least 16/,
    );
    assert.match(c.error.message, /allowWeakPsk/);
    assert.ok(!c.error.message.includes(WEAK));
    const u = store.psks.update("default", { name: "default", secret: WEAK });
    assert.ok(!u.ok && u.error.code === StoreErrorCode.WeakPsk);
    const i = importYaml(
      store,
      `format: oakley-policy-store\nformatVersion: 1\npsks: [{name: k2, secret: "${WEAK}"}]\n`,
      { mode: "merge", random },
    );
    assert.ok(!i.ok);
    assert.equal(i.error.code, StoreErrorCode.WeakPsk);
    assert.ok(store.psks.create({ name: "k3", secret: STRONG }).ok);
    store.close();
  });

  test("the store setting allowWeakPsk (or the daemon's --allow-weak-psk) lets them in", () => {
    const s = createDefaultStore(fresh("store.db"), random);
    assert.ok(s.ok);
    const store = s.value.store;
    // One import that allows weak keys and brings one: settings are applied before the keys.
    const i = importYaml(
      store,
      `format: oakley-policy-store\nformatVersion: 1\nsettings: {allowWeakPsk: true, defaultPool: default}\npsks: [{name: k2, secret: "${WEAK}"}]\n`,
      { mode: "merge", random },
    );
    assert.ok(i.ok, JSON.stringify(!i.ok && i.error));
    const settings = store.settings();
    assert.ok(settings.ok);
    assert.equal(settings.value.value?.allowWeakPsk, true);
    store.close();
    const path = fresh("store.db");
    const t = createDefaultStore(path, random, { allowWeakPsk: true });
    assert.ok(t.ok);
    assert.ok(t.value.store.psks.create({ name: "k1", secret: WEAK }).ok);
    t.value.store.close();
    const again = openStore(path);
    assert.ok(again.ok);
    const w = again.value.psks.create({ name: "k9", secret: WEAK });
    assert.ok(!w.ok, "the open option does not stick to the file");
    again.value.close();
  });

  test("a short PSK stored before the rule keeps working, with a warning at every start", () => {
    const s = createDefaultStore(fresh("store.db"), random);
    assert.ok(s.ok);
    const store = s.value.store;
    // As an older Oakley wrote it: straight into the table.
    store.db
      .prepare("UPDATE psks SET body = ? WHERE name = 'default'")
      .run(JSON.stringify({ name: "default", secret: WEAK }));
    const eff = effectivePolicy(store);
    assert.ok(eff.ok);
    assert.ok(eff.value.rules[0]?.authentication.some((a) => a.method === "psk"));
    assert.ok(
      eff.value.warnings.some((w) =>
        /pre-shared key 'default' is shorter than 16 characters; replace it/.test(w),
      ),
      eff.value.warnings.join("; "),
    );
    // Writing it back unchanged (a re-import of a redacted export) is not a new weak key.
    assert.ok(store.psks.update("default", { name: "default", secret: WEAK }).ok);
    store.close();
  });

  test("the control protocol's policy import is refused with the store's message", async () => {
    const s = createDefaultStore(fresh("store.db"), random);
    assert.ok(s.ok);
    const store = s.value.store;
    const sock = join(fresh("run"), "control.sock");
    const server = await ControlServer.start({
      target: new FakeControlTarget({ policy: new StorePolicyOps(store, { scrypt: FAST_SCRYPT }) }),
      software: "oakley test",
      unix: { path: sock },
    });
    try {
      const c = await ControlClient.connect({ kind: "unix", path: sock }, { timeoutMs: 5000 });
      assert.ok(c.ok);
      const r = await c.value
        .policyOps()
        .importText(
          `format: oakley-policy-store\nformatVersion: 1\npsks: [{name: k2, secret: "${WEAK}"}]\n`,
          "yaml",
          "merge",
        );
      assert.ok(!r.ok);
      assert.equal(r.error.code, StoreErrorCode.WeakPsk);
      assert.match(r.error.message, /use at least 16/);
      await c.value.close();
    } finally {
      await server.close();
      store.close();
    }
  });
});

describe("the store file does not keep secrets that were deleted or replaced", () => {
  const user = (name: string, password: string) => ({
    name,
    enabled: true,
    protocols: ["mschapv2" as const, "pap" as const],
    credentials: makeCredentials(password, random, { scrypt: FAST_SCRYPT }),
  });

  test("a deleted user's password hashes are gone from the file after delete + checkpoint", () => {
    const path = fresh("store.db");
    const s = createDefaultStore(path, random);
    assert.ok(s.ok);
    const store = s.value.store;
    const u = user("mallory", "correct-horse-battery-staple");
    assert.ok(store.users.create(u).ok);
    store.db.pragma("wal_checkpoint(TRUNCATE)");
    const nt = Buffer.from(u.credentials.ntHash);
    const pap = Buffer.from(u.credentials.pap.hash);
    assert.ok(fileBytes(path).includes(nt), "the hash is in the file while the user exists");
    assert.ok(store.users.delete("mallory").ok);
    store.db.pragma("wal_checkpoint(TRUNCATE)");
    const bytes = fileBytes(path);
    assert.ok(!bytes.includes(nt), "the NT hash of the deleted user is not in the file");
    assert.ok(!bytes.includes(pap), "nor its scrypt verifier");
    store.close();
  });

  test("a replaced password's old hash and a deleted PSK are gone, also from the write-ahead log", () => {
    const path = fresh("store.db");
    const s = createDefaultStore(path, random);
    assert.ok(s.ok);
    const store = s.value.store;
    const u = user("trent", "first-password-000");
    assert.ok(store.users.create(u).ok);
    assert.ok(store.psks.create({ name: "old", secret: STRONG }).ok);
    assert.ok(fileBytes(path).includes(Buffer.from(u.credentials.ntHash)));
    assert.ok(store.users.update("trent", user("trent", "second-password-111")).ok);
    assert.ok(store.psks.delete("old").ok);
    // No explicit checkpoint: the store checkpoints after a secret changes.
    const bytes = fileBytes(path);
    assert.ok(!bytes.includes(Buffer.from(u.credentials.ntHash)), "old NT hash gone");
    assert.ok(!bytes.includes(Buffer.from(STRONG)), "deleted PSK gone");
    store.close();
  });
});

describe("the runtime directory is private (0700)", () => {
  test("the status file's directory, made by the fail-closed guard, is 0700", async () => {
    const run = join(fresh("run"), "oakley");
    const missing = new NftTable("inet", "oakley", { nftPath: "/nonexistent/nft" });
    const g = new FailClosedGuard({ statusPath: join(run, "status.json"), table: missing });
    await g.enterBlockMode("test", DEFAULT_BLOCK_SET);
    assert.ok(existsSync(join(run, "status.json")));
    assert.equal(statSync(run).mode & 0o777, 0o700);
  });

  test("the control socket's directory is 0700 and the socket 0600", async () => {
    const run = join(fresh("run"), "oakley");
    const server = await ControlServer.start({
      target: new FakeControlTarget(),
      software: "oakley test",
      unix: { path: join(run, "control.sock") },
    });
    try {
      assert.equal(statSync(run).mode & 0o777, 0o700);
      assert.equal(statSync(join(run, "control.sock")).mode & 0o777, 0o600);
    } finally {
      await server.close();
    }
  });
});

describe("first-start secrets do not end up in logs (journald keeps stdout)", () => {
  const generated = { psk: "Xy3k9PqZ7wLm2Vt5Rn8s", user: "vpnuser", password: "Tq8mZk2pW9xN" };

  test("on a terminal they are shown once, and not written anywhere", () => {
    const storePath = join(fresh("lib"), "oakley.db");
    mkdirSync(join(storePath, ".."), { recursive: true });
    const info = initialSecretsInfo(generated, { storePath, isTTY: true });
    const text = startupText({
      serverAddress: "198.51.100.2",
      pool: "10.8.0.0/24",
      dns: [],
      storePath,
      windowsNatFriendly: true,
      ...info,
    });
    assert.match(text, new RegExp(`Pre-shared key.*${generated.psk}`));
    assert.match(text, new RegExp(`Password:.*${generated.password}`));
    assert.ok(!existsSync(join(storePath, "..", "initial-secrets.txt")));
  });

  test("not on a terminal they go to a 0600 file next to the store, and only its path is printed", () => {
    const lib = fresh("lib");
    mkdirSync(lib, { mode: 0o700 });
    const storePath = join(lib, "oakley.db");
    const info = initialSecretsInfo(generated, { storePath, isTTY: false });
    const text = startupText({
      serverAddress: "198.51.100.2",
      pool: "10.8.0.0/24",
      dns: [],
      storePath,
      windowsNatFriendly: true,
      ...info,
    });
    const file = join(lib, "initial-secrets.txt");
    for (const s of [generated.psk, generated.password]) assert.ok(!text.includes(s));
    assert.ok(text.includes(file), "the path is printed");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const body = readFileSync(file, "utf8");
    assert.ok(body.includes(generated.psk) && body.includes(generated.password));
  });

  test("an existing secrets file is never overwritten", () => {
    const lib = fresh("lib");
    mkdirSync(lib, { mode: 0o700 });
    const storePath = join(lib, "oakley.db");
    const first = join(lib, "initial-secrets.txt");
    writeFileSync(first, "kept\n", { mode: 0o600 });
    chmodSync(first, 0o600);
    const info = initialSecretsInfo(generated, { storePath, isTTY: false });
    assert.equal(readFileSync(first, "utf8"), "kept\n");
    assert.ok("secretsFile" in info && info.secretsFile !== first);
    const other = "secretsFile" in info ? (info.secretsFile ?? "") : "";
    assert.equal(statSync(other).mode & 0o777, 0o600);
    assert.ok(readFileSync(other, "utf8").includes(generated.psk));
  });

  test("when no file can be written the secrets are not printed either; the text says how to set new ones", () => {
    const info = initialSecretsInfo(generated, {
      storePath: "/nonexistent/dir/oakley.db",
      isTTY: false,
    });
    const text = startupText({
      serverAddress: "198.51.100.2",
      pool: "10.8.0.0/24",
      dns: [],
      storePath: "/nonexistent/dir/oakley.db",
      windowsNatFriendly: true,
      ...info,
    });
    assert.ok(!text.includes(generated.psk) && !text.includes(generated.password));
    assert.match(text, /could not be written.*oakley users passwd/s);
  });
});
