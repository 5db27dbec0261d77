import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { unwrap } from "../base/result.js";
import { openProfileStore } from "../policy/index.js";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

/** Runs `oakley connect …` as a process (the real main.ts wiring); settings errors exit before any I/O. */
function connect(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; err: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      ["--import", "tsx", MAIN, "connect", ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (e, _out, stderr) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, err: stderr }),
    ),
  );
}

test("oakley connect NAME says which profile it used and what overrode it; secrets stay out", async () => {
  const dir = mkdtempSync(join(tmpdir(), "oakley-connect-profile-"));
  const store = join(dir, "client.db");
  const s = unwrap(openProfileStore(store));
  unwrap(
    s.add({
      name: "office",
      server: "vpn.example.com",
      user: "alice",
      psk: "psk-that-is-long-enough-0123",
      natPolicy: 1,
      defaultRoute: false,
      routes: ["10.20.0.0/16"],
      usePeerDns: false,
      allowWeakPsk: false,
    }),
  );
  s.close();
  // No password stored and none given: the settings check stops it (exit 2) after the profile
  // was applied, before anything touches the network.
  const r = await connect([
    "office",
    "--profile-store",
    store,
    "--nat-policy",
    "2",
    "--route",
    "10.0.0.0/4",
  ]);
  assert.equal(r.code, 2, r.err);
  assert.match(
    r.err,
    /using profile 'office' from .*client\.db \(server vpn\.example\.com, user alice\); overridden by --nat-policy, --route/,
  );
  assert.match(r.err, /password \(command line\): is required/);
  assert.match(r.err, /route \(command line\): "10\.0\.0\.0\/4" is not an IPv4 network/);
  assert.equal(r.err.includes("psk-that-is-long-enough"), false);
  // The same store named by the environment.
  const e = await connect(["office"], { OAKLEY_PROFILE_STORE: store });
  assert.match(e.err, /using profile 'office'/);
  // A name that is no profile is taken as the server (no message); a missing store named
  // explicitly is an error.
  const m = await connect(["office", "--profile-store", join(dir, "none.db")]);
  assert.equal(m.code, 2);
  assert.match(m.err, /profile store .*none\.db does not exist/);
});
