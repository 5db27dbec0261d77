/**
 * src/platform TunDevice in a namespace (root): the peer process creates `oaktun0`
 * (203.0.113.1 peer 203.0.113.2, MTU 1400, route 198.51.100.0/24 via the device) and answers
 * ICMP echo requests it reads by writing echo replies; `ping` in the same namespace must get
 * them. `ip` output is the independent oracle for address, MTU and route.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import type { JsonLinesPeer } from "./lib/jsonl.js";
import { type Namespace, Topology, interopSkipReason } from "./lib/netns.js";

const PEER = "test/interop/lib/peers/platform-peer.ts";
const skip = await interopSkipReason(["ip", "ping"]);
const topo = new Topology(import.meta.filename);
let ns: Namespace;
let peer: JsonLinesPeer;

interface Seen {
  proto: number;
  src: string;
  dst: string;
  icmpType: number;
  len: number;
}

before(async () => {
  if (skip) return;
  ns = await topo.namespace("tun");
  peer = topo.spawnModule(ns, PEER);
});

test("TUN: created, configured, ping reaches our reader and our echo reply reaches ping", {
  skip,
}, async () => {
  const r = (await peer.request("tunOpen", {
    name: "oaktun0",
    local: "203.0.113.1",
    peer: "203.0.113.2",
    mtu: 1400,
    route: "198.51.100.0/24",
  })) as { ok: boolean; error?: unknown };
  assert.ok(r.ok, JSON.stringify(r.error));

  const link = (await topo.exec(ns, ["ip", "-o", "link", "show", "dev", "oaktun0"])).stdout;
  assert.match(link, /mtu 1400/);
  assert.match(link, /<POINTOPOINT,[^>]*UP/);
  const addr = (await topo.exec(ns, ["ip", "-o", "-4", "addr", "show", "dev", "oaktun0"])).stdout;
  assert.match(addr, /inet 203\.0\.113\.1 peer 203\.0\.113\.2\/32/);
  const routes = (await topo.exec(ns, ["ip", "-4", "route", "show", "dev", "oaktun0"])).stdout;
  assert.match(routes, /^198\.51\.100\.0\/24 /m);

  // Through the peer address and through the added route.
  for (const target of ["203.0.113.2", "198.51.100.7"]) {
    const out = (
      await topo.exec(ns, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", "1000", target])
    ).stdout;
    assert.match(out, /3 received/, out);
  }
  const seen = (await peer.request("tunSeen")) as unknown as Seen[];
  const requests = seen.filter((s) => s.proto === 1 && s.icmpType === 8);
  assert.equal(requests.filter((s) => s.dst === "203.0.113.2").length, 3);
  assert.equal(requests.filter((s) => s.dst === "198.51.100.7").length, 3);
  for (const s of requests) {
    assert.equal(s.src, "203.0.113.1");
    assert.equal(s.len, 20 + 8 + 1000);
  }
});

test("TUN: closing removes the device; cleanupStale removes a leftover persistent one", {
  skip,
}, async () => {
  await peer.request("tunClose");
  const links = (await topo.exec(ns, ["ip", "-o", "link", "show"])).stdout;
  assert.doesNotMatch(links, /oaktun0/);
  const none = (await peer.request("tunCleanupStale", { name: "oaktun0" })) as {
    removed?: boolean;
  };
  assert.equal(none.removed, false);
  // A persistent TUN left behind (as after a crash of a tool that set TUNSETPERSIST).
  await topo.exec(ns, ["ip", "tuntap", "add", "dev", "oakstale0", "mode", "tun"]);
  const r = (await peer.request("tunCleanupStale", { name: "oakstale0" })) as { removed?: boolean };
  assert.equal(r.removed, true);
  const after = (await topo.exec(ns, ["ip", "-o", "link", "show"])).stdout;
  assert.doesNotMatch(after, /oakstale0/);
});

test("teardown removes every namespace and process of this file", { skip }, async () => {
  await peer.close();
  await topo.teardown();
  assert.deepEqual(await topo.remaining(), []);
});
