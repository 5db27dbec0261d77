/**
 * src/platform UDP sockets between network namespaces, across a NAT box (root).
 *
 *   client 192.0.2.2 --eth0/in0-- nat 192.0.2.1 | 198.51.100.1 --out0/eth0-- server 198.51.100.2
 *                                  (masquerade 192.0.2.0/24 out of out0)
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { type Namespace, Topology, interopSkipReason } from "./lib/netns.js";
import type { JsonLinesPeer, JsonObject } from "./lib/jsonl.js";
import { pattern } from "./lib/peers/platform-peer-pattern.js";
import { createHash } from "node:crypto";

const PEER = "test/interop/lib/peers/platform-peer.ts";
const skip = await interopSkipReason(["ip"], { nat: true });

const topo = new Topology(import.meta.filename);
let client: JsonLinesPeer;
let server: JsonLinesPeer;
let nsServer: Namespace;

before(async () => {
  if (skip) return;
  const c = await topo.namespace("client");
  const n = await topo.namespace("nat");
  nsServer = await topo.namespace("server");
  await topo.link(c, "eth0", n, "in0");
  await topo.link(n, "out0", nsServer, "eth0");
  await topo.address(c, "eth0", "192.0.2.2/24");
  await topo.address(n, "in0", "192.0.2.1/24");
  await topo.address(n, "out0", "198.51.100.1/24");
  await topo.address(nsServer, "eth0", "198.51.100.2/24");
  await topo.route(c, "default", { gateway: "192.0.2.1" });
  await topo.masquerade(n, "out0", "192.0.2.0/24");
  client = topo.spawnModule(c, PEER);
  server = topo.spawnModule(nsServer, PEER);
});

interface BindResult {
  ok: boolean;
  id: number;
  port: number;
  error?: { code: string; message: string; errnoName: string | null };
}
interface Rx {
  len: number;
  sha: string;
  head: string;
  from: string;
  port: number;
  local: string | null;
}

const bind = async (p: JsonLinesPeer, params: JsonObject): Promise<BindResult> =>
  (await p.request("udpBind", params)) as unknown as BindResult;

async function waitCount(p: JsonLinesPeer, id: number, n: number, ms = 5000): Promise<Rx[]> {
  const end = Date.now() + ms;
  for (;;) {
    const list = (await p.request("udpReceived", { id })) as unknown as Rx[];
    if (list.length >= n || Date.now() > end) return list;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex").slice(0, 16);

for (const impl of ["koffi", "dgram"] as const) {
  test(`${impl}: 1000 datagrams across the NAT arrive intact, from the NAT's outside address`, {
    skip,
  }, async () => {
    const srv = await bind(server, {
      impl,
      address: "0.0.0.0",
      port: 4500 + (impl === "koffi" ? 0 : 1),
      receiveBuffer: 8 << 20,
    });
    assert.ok(srv.ok, JSON.stringify(srv.error));
    const cli = await bind(client, { impl, address: "0.0.0.0", port: 0 });
    assert.ok(cli.ok);
    await client.request("udpSendPattern", {
      id: cli.id,
      count: 1000,
      size: 1200,
      to: "198.51.100.2",
      port: srv.port,
    });
    const got = await waitCount(server, srv.id, 1000);
    assert.equal(got.length, 1000, `received ${got.length}/1000`);
    const bySha = new Set(got.map((g) => g.sha));
    for (let i = 0; i < 1000; i++)
      assert.ok(bySha.has(sha(pattern(i, 1200))), `datagram ${i} missing or altered`);
    for (const g of got) {
      assert.equal(g.len, 1200);
      assert.equal(g.from, "198.51.100.1", "the server must see the NAT's outside address");
      // Bound to 0.0.0.0: koffi reports the local address via IP_PKTINFO; dgram cannot.
      assert.equal(g.local, impl === "koffi" ? "198.51.100.2" : null);
    }
    if (impl === "koffi") {
      // Batched: 1000 datagrams leave in about 1000/64 sendmmsg calls, not 1000 syscalls.
      const st = (await client.request("udpStats", { id: cli.id })) as unknown as {
        txBatches: number;
      };
      assert.ok(st.txBatches <= 32, `txBatches ${st.txBatches}`);
    }
    const ports = new Set(got.map((g) => g.port));
    assert.equal(ports.size, 1, "one NAT mapping for one client socket");
    await server.request("udpClose", { id: srv.id });
    await client.request("udpClose", { id: cli.id });
  });
}

test("one UDP 4500 socket carries IKE (non-ESP marker) and ESP-in-UDP (RFC 3948 section 2.2)", {
  skip,
}, async () => {
  const srv = await bind(server, { impl: "koffi", address: "0.0.0.0", port: 4500 });
  assert.ok(srv.ok);
  const cli = await bind(client, { impl: "koffi", address: "0.0.0.0", port: 4500 });
  assert.ok(cli.ok);
  // RFC 3948 2.2: IKE on 4500 starts with a 4-byte zero Non-ESP Marker; 2.1: ESP starts with a
  // non-zero SPI; 2.3: a NAT-keepalive is the single byte 0xFF.
  const ike = `00000000${"11".repeat(8)}${"22".repeat(8)}01100200${"00".repeat(4)}0000001c`;
  const espPkt = `0000100100000001${"ab".repeat(32)}`;
  const keepalive = "ff";
  await client.request("udpSendHex", {
    id: cli.id,
    to: "198.51.100.2",
    port: 4500,
    hex: [ike, espPkt, keepalive],
  });
  const got = await waitCount(server, srv.id, 3);
  assert.equal(got.length, 3);
  const classify = (head: string, len: number): string =>
    len === 1 && head === "ff" ? "keepalive" : head.startsWith("00000000") ? "ike" : "esp";
  assert.deepEqual(got.map((g) => classify(g.head, g.len)).sort(), ["esp", "ike", "keepalive"]);
  for (const g of got) {
    assert.equal(g.from, "198.51.100.1");
    assert.notEqual(g.port, 0);
  }
  await server.request("udpClose", { id: srv.id });
  await client.request("udpClose", { id: cli.id });
});

test("UDP 500 taken: both implementations return OAK_E_PLATFORM_ADDR_IN_USE naming the port", {
  skip,
}, async () => {
  const first = await bind(server, { impl: "dgram", address: "0.0.0.0", port: 500 });
  assert.ok(first.ok);
  for (const impl of ["koffi", "dgram"]) {
    const second = await bind(server, { impl, address: "198.51.100.2", port: 500 });
    assert.ok(!second.ok, `${impl} bound a taken port`);
    assert.equal(second.error?.code, "OAK_E_PLATFORM_ADDR_IN_USE");
    assert.equal(second.error?.errnoName, "EADDRINUSE");
    assert.match(second.error?.message ?? "", /^UDP 500 is in use by another process/);
  }
  await server.request("udpClose", { id: first.id });
});

test("teardown removes every namespace and process of this file", { skip }, async () => {
  await client.close();
  await server.close();
  await topo.teardown();
  assert.deepEqual(await topo.remaining(), []);
  void nsServer;
});
