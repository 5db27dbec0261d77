/**
 * FIPS mode's module (src/crypto/fips-provider.ts) as a threat model: Oakley must never claim
 * "provider active" unless OpenSSL's FIPS provider really serves its crypto. Each case runs in a
 * child process (test/helpers/fips-child.ts, and the real `oakley serve` command), because
 * loading providers and setting default properties changes the whole process.
 *
 * On this machine class (Debian 12, OpenSSL 3.0 from Debian) no package ships fips.so, so the
 * real attempt fails; the provider-active path is asserted only where a fips.so is installed.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const CHILD = join(import.meta.dirname, "../helpers/fips-child.ts");
const MAIN = join(import.meta.dirname, "../../src/cli/main.ts");
const SYSTEM_MODULES = "/usr/lib/x86_64-linux-gnu/ossl-modules";

interface ChildResult {
  result: { ok: boolean; value?: { detail: string }; error?: { code: string; message: string } };
  md5: boolean;
}

async function child(env: Record<string, string> = {}): Promise<ChildResult> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", CHILD], {
    env: { ...process.env, ...env },
  });
  return JSON.parse(stdout.trim()) as ChildResult;
}

describe("FIPS mode: OpenSSL's FIPS provider or nothing", () => {
  it("the real load is attempted on this machine; without fips.so FIPS mode is refused, naming the directory and --fips=policy-only", async () => {
    const r = await child();
    if (existsSync(join(SYSTEM_MODULES, "fips.so"))) {
      // A machine with a FIPS provider installed: it must verify, and MD5 must be gone.
      assert.ok(r.result.ok, r.result.error?.message);
      assert.equal(r.md5, false);
      return;
    }
    assert.equal(r.result.ok, false);
    assert.equal(r.result.error?.code, "OAK_E_FIPS_PROVIDER_ABSENT");
    assert.match(
      r.result.error!.message,
      /no fips\.so in \/usr\/lib\/x86_64-linux-gnu\/ossl-modules/,
    );
    assert.match(r.result.error!.message, /--fips=policy-only/);
    assert.equal(r.md5, true, "a refused load changes nothing else");
  });

  it("OPENSSL_MODULES pointing at a directory without fips.so: refused, that directory named", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oak-fips-none-"));
    try {
      const r = await child({ OPENSSL_MODULES: dir });
      assert.equal(r.result.error?.code, "OAK_E_FIPS_PROVIDER_ABSENT");
      assert.ok(r.result.error!.message.includes(`no fips.so in ${dir}`));
      assert.match(r.result.error!.message, /from OPENSSL_MODULES/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a module that is merely named fips.so (here OpenSSL's legacy provider) is not accepted as the FIPS provider", async () => {
    const legacy = join(SYSTEM_MODULES, "legacy.so");
    if (!existsSync(legacy)) return; // nothing to disguise on this machine
    const dir = mkdtempSync(join(tmpdir(), "oak-fips-fake-"));
    try {
      copyFileSync(legacy, join(dir, "fips.so"));
      const r = await child({ OPENSSL_MODULES: dir });
      assert.equal(r.result.ok, false);
      assert.equal(r.result.error?.code, "OAK_E_FIPS_PROVIDER_UNVERIFIED");
      assert.match(r.result.error!.message, /ESP path .* not from "fips"/);
      // Left fail-closed: with fips=yes and no real provider nothing is computed at all.
      assert.equal(r.md5, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("`oakley serve --fips` refuses to start with the reason and exit code 1, before touching the store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oak-fips-serve-"));
    const store = join(dir, "oakley.db");
    try {
      const r = await run(
        process.execPath,
        [
          "--import",
          "tsx",
          MAIN,
          "serve",
          "--fips",
          "--store",
          store,
          "--no-fail-closed",
          "--control-socket",
          "off",
          "--metrics-listen",
          "off",
        ],
        { env: { ...process.env, OPENSSL_MODULES: dir } },
      ).then(
        () => ({ code: 0, stderr: "" }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /oakley serve: cannot start: .*--fips: OpenSSL's FIPS provider is not installed: no fips\.so in .*--fips=policy-only .*\[OAK_E_FIPS_PROVIDER_ABSENT\]/,
      );
      assert.equal(existsSync(store), false, "no store created");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
