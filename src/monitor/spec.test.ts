/** `--daemon` spec parsing: good forms, and mistakes named with the flag and the fix. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDaemonSpec } from "./spec.js";

const files: Record<string, string> = {
  "/t": "oak1_token\n",
  "/ca": "CA",
  "/c": "CERT",
  "/k": "KEY",
};
const read = (p: string) => {
  const v = files[p];
  if (v === undefined) throw new Error("ENOENT: no such file");
  return v;
};

test("unix and tls specs", () => {
  assert.deepEqual(parseDaemonSpec("unix:/run/oakley/control.sock", read), {
    name: "local /run/oakley/control.sock",
    endpoint: { kind: "unix", path: "/run/oakley/control.sock" },
  });
  assert.deepEqual(parseDaemonSpec("gw2=tls://198.51.100.1:9501?token-file=/t&ca=/ca", read), {
    name: "gw2",
    endpoint: { kind: "tls", host: "198.51.100.1", port: 9501, ca: "CA", token: "oak1_token" },
  });
  const v6 = parseDaemonSpec("tls://[2001:db8::1]:9501?cert=/c&key=/k", read);
  assert.ok(
    typeof v6 !== "string" && v6.endpoint.kind === "tls" && v6.endpoint.host === "2001:db8::1",
  );
});

test("mistakes name the flag and the fix", () => {
  assert.match(
    String(parseDaemonSpec("unix:relative.sock", read)),
    /^--daemon 'unix:relative.sock': .*absolute/,
  );
  assert.match(String(parseDaemonSpec("tls://198.51.100.1", read)), /give the port/);
  assert.match(String(parseDaemonSpec("tls://198.51.100.1:9501", read)), /needs token-file=FILE/);
  assert.match(
    String(parseDaemonSpec("tls://198.51.100.1:9501?cert=/c", read)),
    /cert= and key= go together/,
  );
  assert.match(
    String(parseDaemonSpec("tls://198.51.100.1:9501?tokenfile=/t", read)),
    /unknown option 'tokenfile'/,
  );
  assert.match(
    String(parseDaemonSpec("tls://198.51.100.1:9501?token-file=/missing", read)),
    /token-file=\/missing: cannot read it/,
  );
  assert.match(String(parseDaemonSpec("http://x:1", read)), /expected unix:PATH or tls:/);
});
