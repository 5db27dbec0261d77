import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runOakley } from "../../../test/helpers/cli.js";

describe("oakley diagnose (command line)", () => {
  it("--errors prints the Windows error table, every code with its causes and steps", async () => {
    const r = await runOakley(["diagnose", "--errors"]);
    assert.equal(r.code, 0);
    for (const code of [809, 789, 788, 691, 741, 768, 13801, 13806])
      assert.match(r.out, new RegExp(`^${code} `, "m"));
    assert.match(r.out, /\[step: udp4500\]/);
    const j = await runOakley(["diagnose", "--errors", "--json"]);
    const data = JSON.parse(j.out) as { windowsErrors: Array<{ code: number }> };
    assert.equal(data.windowsErrors.length, 8);
  });

  it("--peer / --recent (server side) ask the server's control channel; no daemon: exit 3, said plainly", async () => {
    for (const args of [["--peer", "192.0.2.7"], ["--recent"]]) {
      const r = await runOakley(["diagnose", ...args, "--socket", "/nonexistent/oakley.sock"]);
      assert.equal(r.code, 3, r.err);
      assert.match(r.err, /^oakley: .*\/nonexistent\/oakley\.sock/);
    }
    const both = await runOakley(["diagnose", "192.0.2.1", "--recent"]);
    assert.equal(both.code, 2);
    assert.match(both.err, /give no SERVER with them/);
  });

  it("usage mistakes name the flag and exit 2", async () => {
    const none = await runOakley(["diagnose"]);
    assert.equal(none.code, 2);
    assert.match(none.err, /diagnose needs SERVER/);
    const pw = await runOakley(["diagnose", "192.0.2.1", "--password-file", "/nonexistent"]);
    assert.equal(pw.code, 2);
    assert.match(pw.err, /--password\/--password-file need --user/);
    const nopw = await runOakley(["diagnose", "192.0.2.1", "--user", "alice"]);
    assert.equal(nopw.code, 2);
    assert.match(nopw.err, /--user alice needs --password-file/);
    const t = await runOakley(["diagnose", "192.0.2.1", "--timeout", "zero"]);
    assert.equal(t.code, 2);
    assert.match(t.err, /--timeout zero/);
    const f = await runOakley(["diagnose", "192.0.2.1", "--psk-file", "/nonexistent/psk"]);
    assert.equal(f.code, 2);
    assert.match(f.err, /--psk-file \/nonexistent\/psk: cannot read it/);
  });
});
