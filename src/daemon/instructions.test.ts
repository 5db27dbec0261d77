/** The first-start instructions say which clients need `--allow-legacy`, true to the settings. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { connectSteps, startupText } from "./instructions.js";

const info = {
  serverAddress: "vpn.example.com",
  pool: "10.8.0.0/24",
  dns: [],
  storePath: "/var/lib/oakley/oakley.db",
  windowsNatFriendly: true,
};

test("without --allow-legacy: Android ≤ 11's default proposals (MODP-1024 only) are refused, and the flag is named", () => {
  const t = startupText({ ...info, allowLegacy: false });
  assert.match(t, /Android \(up to 11\)[\s\S]*offers only MODP-1024 \(DH group 2\)[\s\S]*REFUSES/);
  assert.match(t, /--allow-legacy/);
  assert.match(t, /Windows 10\/11, current macOS\/iOS and Linux need no --allow-legacy/);
});

test("with --allow-legacy: the same clients are said to be accepted", () => {
  const t = startupText({ ...info, allowLegacy: true });
  assert.match(t, /MODP-1024 \(DH group 2\)[\s\S]*accepted: this server runs with --allow-legacy/);
  assert.doesNotMatch(t, /REFUSES/);
});

test("client-config text (the server's setting unknown): says the server needs --allow-legacy for them", () => {
  const t = connectSteps({ serverAddress: "vpn.example.com", windowsNatFriendly: true }).join("\n");
  assert.match(t, /refused unless the server runs with --allow-legacy/);
});
