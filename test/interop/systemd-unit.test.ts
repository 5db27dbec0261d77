/**
 * The shipped systemd unit, as `oakley profile install-service` installs it, passes
 * `systemd-analyze verify` (Debian package systemd): every directive known and well-formed,
 * ExecStart executable. No root or namespaces needed; it skips without systemd-analyze.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Command } from "commander";
import type { CliIo } from "../../src/cli/commands/common.js";
import { registerManagementCommands } from "../../src/cli/commands/index.js";
import { oakleyBinPath } from "../../src/cli/commands/profile.js";
import { hasCommand } from "./lib/netns.js";

const skip = (await hasCommand("systemd-analyze"))
  ? undefined
  : "systemd-analyze is not installed (Debian package systemd)";

async function oakley(args: string[]): Promise<{ out: string; err: string; code: number }> {
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
  await program.parseAsync(args, { from: "user" });
  return r;
}

function verify(unitPath: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) =>
    execFile("systemd-analyze", ["verify", unitPath], { timeout: 60_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    ),
  );
}

/** Lines of verify's output about our unit (it also comments on unrelated units of the host). */
const about = (output: string, dir: string): string[] =>
  output.split("\n").filter((l) => l.includes(dir) || l.includes("oakley-connect@"));

test("the installed oakley-connect@ unit passes systemd-analyze verify", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "oakley-unit-"));
  const psk = join(dir, "psk");
  writeFileSync(psk, "psk-that-is-long-enough-0123\n");
  const store = join(dir, "client.db");
  const add = await oakley([
    "profile",
    "add",
    "office",
    "--profile-store",
    store,
    "--server",
    "vpn.example.com",
    "--psk-file",
    psk,
    "--user",
    "alice",
    "--password-file",
    psk,
  ]);
  assert.equal(add.code, 0, add.err);
  const units = join(dir, "units");
  const inst = await oakley([
    "profile",
    "install-service",
    "office",
    "--unit-dir",
    units,
    "--profile-store",
    store,
  ]);
  assert.equal(inst.code, 0, inst.err);
  const unitPath = join(units, "oakley-connect@.service");
  const unit = readFileSync(unitPath, "utf8");
  assert.ok(unit.split("\n").includes(`ExecStart=${oakleyBinPath()} connect %i --persist`));
  for (const line of [
    "ProtectSystem=strict",
    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
    "Restart=on-failure",
    "KillSignal=SIGTERM",
    "StateDirectory=oakley",
  ])
    assert.ok(unit.split("\n").includes(line), line);

  const r = await verify(join(units, "oakley-connect@office.service"));
  assert.deepEqual(about(r.output, units), [], r.output);
  assert.equal(r.code, 0, r.output);

  // Control: the same check does see a mistake in the unit.
  const bad = join(dir, "bad");
  await oakley([
    "profile",
    "install-service",
    "office",
    "--unit-dir",
    bad,
    "--profile-store",
    store,
  ]);
  writeFileSync(
    join(bad, "oakley-connect@.service"),
    readFileSync(join(bad, "oakley-connect@.service"), "utf8").replace(
      "ProtectSystem=strict",
      "ProtectSystem=strickt",
    ),
  );
  const b = await verify(join(bad, "oakley-connect@office.service"));
  assert.notDeepEqual(about(b.output, bad), []);
});

test("the oakley-serve unit, installed as the README says, passes systemd-analyze verify", {
  skip,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "oakley-unit-"));
  const source = readFileSync(
    join(import.meta.dirname, "../../packaging/systemd/oakley-serve.service"),
    "utf8",
  );
  // The README's install line: ExecStart points at this checkout's bin/oakley.
  const unit = source.replaceAll("/usr/local/bin/oakley", oakleyBinPath());
  const unitPath = join(dir, "oakley-serve.service");
  writeFileSync(unitPath, unit);
  const lines = unit.split("\n");
  for (const line of [
    `ExecStart=${oakleyBinPath()} serve`,
    "ProtectSystem=strict",
    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
    "StateDirectory=oakley",
    "Environment=OAKLEY_LOG_FORMAT=text",
  ])
    assert.ok(lines.includes(line), line);
  const r = await verify(unitPath);
  assert.deepEqual(
    r.output.split("\n").filter((l) => l.includes(dir) || l.includes("oakley-serve")),
    [],
    r.output,
  );
  assert.equal(r.code, 0, r.output);
});
