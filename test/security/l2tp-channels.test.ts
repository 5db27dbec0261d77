/**
 * Threat model: every user holds the group PSK, so any user can run IKE with the server. What
 * one user must never do to another: take over their traffic, inherit their session, inject
 * into their L2TP session, or send IP with their address (or the server's).
 *
 * The whole product runs in one process (test/fakes/product.ts): the server's stack from a
 * real SQLite store, clients' stacks behind simulated NATs. The oracles are what each side's
 * TUN receives and where the server's ESP goes on the simulated wire.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { writeUdpHead } from "../../src/wire/l2tp/data-view.js";
import { dataHeader, serializeL2tpPacket } from "../../src/wire/l2tp/header.js";
import { ALICE, ipv4, received, simClient, simServer } from "../fakes/product.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";

const SERVER = "203.0.113.5";
const BOB = { name: "bob", password: "another long password" };
/** No LCP echoes: the only messages after connecting are the ones a test makes. */
const QUIET = 3_600_000;

function twoUsers(seed: number) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim);
  const server = simServer(sim, net.host(SERVER), { users: [ALICE, BOB], echoIntervalMs: QUIET });
  const natA = net.nat("198.51.100.1");
  const natB = net.nat("198.51.100.2");
  const hostA = net.host("192.0.2.2", natA.inside);
  const hostB = net.host("192.0.2.2", natB.inside);
  const a = simClient(sim, hostA, SERVER, { user: ALICE, seed: 1, echoIntervalMs: QUIET });
  const b = simClient(sim, hostB, SERVER, { user: BOB, seed: 2, echoIntervalMs: QUIET });
  assert.ok(sim.runUntilTrue(() => a.up() && b.up(), 60_000));
  return { sim, net, server, a, b, hostA, hostB, natA, natB };
}

/** IKE messages (non-ESP marker) a client's NAT sent to the server's 4500 after time `t`. */
function ikeFrom(net: SimNetwork, natAddress: string, t: number): Buffer[] {
  return net.log
    .filter(
      (d) =>
        d.t >= t &&
        d.realm === "internet" &&
        d.from.address === natAddress &&
        d.to.port === 4500 &&
        d.data.length > 28 &&
        d.data.readUInt32BE(0) === 0,
    )
    .map((d) => d.data);
}

/** ESP datagrams the server sent after `t`, by destination endpoint. */
function espTo(net: SimNetwork, t: number): string[] {
  return net.log
    .filter(
      (d) =>
        d.t >= t &&
        d.realm === "internet" &&
        d.from.address === SERVER &&
        d.from.port === 4500 &&
        d.data.length > 8 &&
        d.data.readUInt32BE(0) !== 0,
    )
    .map((d) => `${d.to.address}:${d.to.port}`);
}

function endpointOf(net: SimNetwork, natAddress: string): string {
  const d = net.log.find((x) => x.from.address === natAddress && x.to.port === 4500);
  assert.ok(d);
  return `${d.from.address}:${d.from.port}`;
}

describe("security: channels belong to IKE SAs, never to addresses", () => {
  it("B replaying A's captured Quick Mode and DPD from B's own endpoint cannot take A's downstream traffic", () => {
    const { sim, net, server, a, b, hostB } = twoUsers(21);
    const t0 = 0;
    // A's Quick Mode 1 (and everything else A sent in IKE), captured on the Internet.
    sim.runFor(60_000); // idle: A probes the server with DPD R-U-THERE
    const captured = ikeFrom(net, "198.51.100.1", t0);
    assert.ok(captured.length >= 3, `captured ${captured.length} IKE messages of A`);
    const aEndpoint = endpointOf(net, "198.51.100.1");
    const bEndpoint = endpointOf(net, "198.51.100.2");
    // B replays every one of them from its own NAT-T endpoint.
    for (const m of captured) hostB.send(4500, { address: SERVER, port: 4500 }, m);
    sim.runFor(1000);
    // B also opens another Quick Mode of its own: its new child must stay B's.
    const bSa = [...b.stack.node.engine.sas.values()][0]!;
    b.stack.node.initiateQuickMode(bSa.id, {
      mode: "transport",
      local: { id: { kind: "ipv4", address: "192.0.2.2" }, protocol: 17, port: 1701 },
      remote: { id: { kind: "ipv4", address: SERVER }, protocol: 17, port: 1701 },
    });
    sim.runFor(5000);
    // The server sends to A: the ESP goes to A's endpoint, A receives it, B gets nothing.
    const t1 = sim.now();
    server.tun.inject(ipv4(server.address, a.address()!, "for-alice"));
    sim.runFor(200);
    assert.deepEqual(espTo(net, t1), [aEndpoint], `server ESP went to ${espTo(net, t1)}`);
    assert.ok(received(a.tun).some((p) => p.text === "for-alice"));
    assert.ok(!received(b.tun).some((p) => p.text === "for-alice"));
    assert.notEqual(aEndpoint, bEndpoint);
    // Each channel only ever holds its own IKE SA's children.
    for (const ch of server.stack.l2tp.channels.list())
      for (const c of ch.children.values()) assert.equal(c.ikeSaId, ch.ikeSaId);
    a.stop();
    b.stop();
    server.dispose();
  });

  it("behind a CGNAT, a new client inheriting a dead client's NAT mapping gets its own channel and session", () => {
    const sim = new Simulator(22);
    const net = new SimNetwork(sim);
    const server = simServer(sim, net.host(SERVER), { users: [ALICE, BOB] });
    const cgnat = net.nat("198.51.100.1");
    const hostA = net.host("192.0.2.2", cgnat.inside);
    const a = simClient(sim, hostA, SERVER, { user: ALICE, seed: 1 });
    assert.ok(sim.runUntilTrue(() => a.up(), 60_000));
    const aAddress = a.address()!;
    // A dies silently; the CGNAT gives A's mappings (500 and 4500) to B.
    a.stop();
    const hostB = net.host("192.0.2.3", cgnat.inside);
    cgnat.reassign("192.0.2.2", "192.0.2.3");
    const b = simClient(sim, hostB, SERVER, { user: BOB, seed: 2 });
    assert.ok(
      sim.runUntilTrue(() => b.up(), 60_000),
      "B connects",
    );
    assert.notEqual(b.address(), aAddress, "B does not get A's address");
    const sessions = server.stack.l2tp.list();
    const users = sessions.map((s) => s.user).sort();
    assert.ok(users.includes("bob"), "B has its own PPP session");
    const bSession = sessions.find((s) => s.user === "bob")!;
    const aSession = sessions.find((s) => s.user === "alice");
    if (aSession) assert.notEqual(aSession.channelId, bSession.channelId, "separate channels");
    // Traffic for A's address does not reach B.
    server.tun.inject(ipv4(server.address, aAddress, "for-dead-alice"));
    sim.runFor(200);
    assert.ok(!received(b.tun).some((p) => p.text === "for-dead-alice"));
    b.stop();
    server.dispose();
  });

  it("a user sending IP with another user's address or the server's is dropped and counted", () => {
    const { sim, server, a, b } = twoUsers(23);
    const aAddr = a.address()!;
    const bAddr = b.address()!;
    a.tun.inject(
      ipv4(bAddr, server.address, "spoof-b"),
      ipv4(server.address, bAddr, "spoof-server"),
      ipv4("192.0.2.99", server.address, "spoof-other"),
      ipv4(aAddr, server.address, "honest"),
    );
    sim.runFor(200);
    const got = received(server.tun).map((p) => p.text);
    assert.deepEqual(got, ["honest"]);
    const aSession = server.stack.l2tp.list().find((s) => s.user === "alice")!;
    assert.equal(aSession.stats.spoofedDrops, 3, "counted on A's session");
    assert.equal(server.stack.l2tp.dropCounts().get("spoofed_source"), 3);
    a.stop();
    b.stop();
    server.dispose();
  });

  it("the client drops packets from a (rogue) server that are not for the client's own address", () => {
    const { sim, server, a, b } = twoUsers(24);
    // The server's own routing never does this: play a rogue server that writes an L2TP data
    // message straight into A's session, addressed to B.
    const cs = a.stack.l2tp.list()[0]!;
    const send = (dst: string, text: string) => {
      const ip = ipv4(server.address, dst, text);
      const l2tp = serializeL2tpPacket({
        header: dataHeader(cs.tunnelId, cs.sessionId, { lengthBit: true }),
        body: Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ip]),
      });
      const udp = Buffer.alloc(8);
      writeUdpHead(udp, 1701, l2tp.length);
      const ch = server.stack.l2tp.channels
        .list()
        .find((c) => c.id === server.stack.l2tp.list().find((s) => s.user === "alice")!.channelId)!;
      assert.ok(server.stack.node.driver.sendPayload(ch.out!.outSa, 17, udp, l2tp));
      server.stack.node.driver.flush();
    };
    send(b.address()!, "not-for-a");
    send(a.address()!, "for-a");
    sim.runFor(200);
    assert.deepEqual(
      received(a.tun).map((p) => p.text),
      ["for-a"],
    );
    assert.equal(a.stack.l2tp.dropCounts().get("wrong_destination"), 1);
    assert.equal(a.stack.l2tp.list()[0]!.stats.spoofedDrops, 1);
    a.stop();
    b.stop();
    server.dispose();
  });

  it("B cannot inject into A's L2TP session by naming A's tunnel and session IDs on B's own SA", () => {
    const { sim, server, a, b } = twoUsers(25);
    const aSession = server.stack.l2tp.list().find((s) => s.user === "alice")!;
    // A data message for A's session (our IDs as the server knows them), carrying an IPv4
    // packet with A's own address as source, sent inside B's ESP.
    const ip = ipv4(a.address()!, server.address, "injected");
    const ppp = Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ip]);
    const l2tp = serializeL2tpPacket({
      header: dataHeader(aSession.tunnelId, aSession.sessionId, { lengthBit: true }),
      body: ppp,
    });
    const udp = Buffer.alloc(8);
    writeUdpHead(udp, 1701, l2tp.length);
    const out = [...b.stack.l2tp.channels.list()][0]!.out!;
    assert.ok(b.stack.node.driver.sendPayload(out.outSa, 17, udp, l2tp));
    b.stack.node.driver.flush();
    sim.runFor(200);
    assert.ok(!received(server.tun).some((p) => p.text === "injected"), "not delivered");
    assert.equal(server.stack.l2tp.dropCounts().get("wrong_channel"), 1);
    a.stop();
    b.stop();
    server.dispose();
  });
});
