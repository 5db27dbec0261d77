import assert from "node:assert/strict";
import { test } from "node:test";
import { err, ok } from "../base/result.js";
import { PlatformErrorCode, platformError } from "../platform/errors.js";
import { isPublicIpv4, serverAddress, startupAddress, UNKNOWN_ADDRESS } from "./server-address.js";

const route = (source: string, device = "eth0") => ({
  defaultRoute: async () => ok({ source, device, gateway: "192.0.2.254" }),
});
const noRoute = {
  defaultRoute: async () => err(platformError(PlatformErrorCode.Command, "no default route")),
};

test("private, shared (CGNAT), loopback and link-local addresses are not public", () => {
  for (const a of [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",
    "127.0.0.1",
    "169.254.1.1",
    "0.0.0.0",
    "224.0.0.1",
  ])
    assert.equal(isPublicIpv4(a), false, a);
  for (const a of [
    "198.51.100.7",
    "203.0.113.1",
    "172.32.0.1",
    "100.128.0.1",
    "8.8.8.8",
    "192.0.2.1",
  ])
    assert.equal(isPublicIpv4(a), true, a);
  assert.equal(isPublicIpv4("vpn.example.com"), false);
});

test("--server wins; a public listen address is used as it is, without a note", async () => {
  assert.deepEqual(await serverAddress({ given: "vpn.example.com", listen: "10.0.0.1" }, noRoute), {
    address: "vpn.example.com",
    source: "given",
  });
  assert.deepEqual(await serverAddress({ listen: "198.51.100.2" }, noRoute), {
    address: "198.51.100.2",
    source: "listen",
  });
});

test("listening on all addresses: the default route's interface address; private ones say NAT", async () => {
  const pub = await serverAddress({ listen: "0.0.0.0" }, route("203.0.113.5"));
  assert.equal(pub.address, "203.0.113.5");
  assert.equal(pub.source, "detected");
  assert.doesNotMatch(pub.note ?? "", /NAT/);
  const priv = await serverAddress({ listen: "0.0.0.0" }, route("192.168.1.20", "wlan0"));
  assert.equal(priv.address, "192.168.1.20");
  assert.match(priv.note ?? "", /wlan0.*may be a NAT's inside address.*--server/);
  const privListen = await serverAddress({ listen: "10.0.0.5" }, route("203.0.113.5"));
  assert.equal(privListen.address, "10.0.0.5");
  assert.match(privListen.note ?? "", /NAT's inside address/);
});

test("no default route: a placeholder and a note asking for --server (start-up text too)", async () => {
  const a = await serverAddress({ listen: "0.0.0.0" }, noRoute);
  assert.equal(a.address, UNKNOWN_ADDRESS);
  assert.match(a.note ?? "", /could not be detected.*--server/);
  const s = await startupAddress("0.0.0.0", route("198.51.100.9"));
  assert.equal(s.serverAddress, "198.51.100.9");
});
