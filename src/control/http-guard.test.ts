/**
 * Unit tests of the HTTP guards (Host check, bearer header, exposure warning). The end-to-end
 * threat model with real sockets is test/security/monitor.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bearerToken, exposureWarning, hostAllowed, hostName } from "./http-guard.js";

test("hostName: ports and brackets removed, case folded, junk refused", () => {
  assert.equal(hostName("Example.ORG:9600"), "example.org");
  assert.equal(hostName("[::1]:9600"), "::1");
  assert.equal(hostName("127.0.0.1"), "127.0.0.1");
  assert.equal(hostName("localhost."), "localhost");
  assert.equal(hostName("a b"), undefined);
  assert.equal(hostName("x@evil.example"), undefined);
});

test("hostAllowed: loopback, localhost names, the listen address, --allow-host; wildcard = own addresses", () => {
  const own = () => ["127.0.0.1", "198.51.100.7", "fe80::1"];
  const specific = { listenHost: "198.51.100.7", allowHosts: ["vpn.example.net"] };
  for (const h of [
    "127.0.0.1:1",
    "127.9.9.9",
    "localhost:1",
    "a.localhost",
    "[::1]:1",
    "198.51.100.7:9600",
    "VPN.example.net",
  ])
    assert.ok(hostAllowed(h, specific, own), h);
  for (const h of [
    undefined,
    "",
    "evil.example",
    "198.51.100.8",
    "localhost.evil.example",
    "127.0.0.1.evil.example",
  ])
    assert.ok(!hostAllowed(h, specific, own), String(h));
  const wild = { listenHost: "0.0.0.0" };
  assert.ok(hostAllowed("198.51.100.7:9600", wild, own));
  assert.ok(!hostAllowed("198.51.100.8:9600", wild, own), "not an address of this host");
  assert.ok(!hostAllowed("0.0.0.0:9600", wild, own));
  assert.ok(!hostAllowed("evil.example", wild, own));
});

test("bearerToken reads 'Bearer TOKEN' only", () => {
  assert.equal(bearerToken("Bearer oak1_abc"), "oak1_abc");
  assert.equal(bearerToken("bearer  oak1_abc"), "oak1_abc");
  assert.equal(bearerToken("Basic b2FrOng="), undefined);
  assert.equal(bearerToken(undefined), undefined);
});

test("exposureWarning: none on loopback; names the clear-text secret otherwise", () => {
  assert.equal(exposureWarning("x", "127.0.0.1", 1, { tls: false }), undefined);
  assert.equal(exposureWarning("x", "::1", 1, { tls: false }), undefined);
  assert.match(
    exposureWarning("the monitor", "::", 9600, { tls: false, secret: "the token" }) ?? "",
    /\[::\]:9600, not only on loopback.*the token and what it serves cross the network in the clear/,
  );
});
