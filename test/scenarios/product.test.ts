/**
 * The whole product in one process (test/fakes/product.ts): `oakley connect`'s stack behind a
 * simulated NAT and `oakley serve`'s stack (configured from a real SQLite store), through IKE
 * Main Mode and Quick Mode, NAT-T, ESP, L2TP and PPP, to IP packets on fake TUN devices.
 * Deterministic (seeded), on simulated time, with loss, reordering, rebinding and restarts.
 *
 * Oracles: what arrives on the other side's TUN (the bytes sent), what the wire shows (nothing
 * in the clear), and the servers' tables (channels, sessions, pool addresses) afterwards.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuthAttemptLimiter } from "../../src/daemon/ppp-password.js";
import { type LinkProfile, SimNetwork, Simulator } from "../fakes/sim.js";
import {
  ALICE,
  ipv4,
  received,
  restartSimServer,
  runUntilAsync,
  type SimClient,
  simClient,
  simServer,
} from "../fakes/product.js";

const SERVER = "203.0.113.5";

function world(seed = 1, profile?: LinkProfile) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim, profile);
  const serverHost = net.host(SERVER);
  return { sim, net, serverHost };
}

function waitUp(sim: Simulator, clients: readonly SimClient[], limitMs = 60_000): void {
  assert.ok(
    sim.runUntilTrue(() => clients.every((c) => c.up()), limitMs),
    `clients up: ${clients.map((c) => c.up())}`,
  );
}

/** No L2TP (UDP 1701) or PPP crosses the Internet outside ESP. */
function assertNothingInClear(net: SimNetwork): void {
  const clear = net.log.filter(
    (d) => d.realm === "internet" && (d.to.port === 1701 || d.from.port === 1701),
  );
  assert.equal(clear.length, 0, "L2TP in the clear on the Internet");
}

describe("the product in one process (simulator)", () => {
  it("connect: client behind NAT gets an address; IP flows both ways through ESP only", () => {
    const { sim, net, serverHost } = world(1);
    const server = simServer(sim, serverHost);
    const nat = net.nat("198.51.100.1");
    const client = simClient(sim, net.host("192.0.2.2", nat.inside), SERVER);
    waitUp(sim, [client]);
    const addr = client.address()!;
    assert.match(addr, /^10\.8\.0\./);
    client.tun.inject(ipv4(addr, server.address, "ping"));
    sim.runFor(100);
    assert.deepEqual(received(server.tun), [{ src: addr, dst: server.address, text: "ping" }]);
    server.tun.inject(ipv4(server.address, addr, "pong"));
    sim.runFor(100);
    assert.deepEqual(received(client.tun), [{ src: server.address, dst: addr, text: "pong" }]);
    assertNothingInClear(net);
    assert.equal(server.stack.l2tp.channels.size, 1);
    client.stop();
    server.dispose();
  });

  for (const method of ["mschapv2", "chap-md5", "pap"] as const) {
    it(`PPP authentication with ${method}, from the store's credentials`, async () => {
      const { sim, net, serverHost } = world(2);
      // The server offers only this method; the client allows it (--allow-auth for the weak ones).
      const server = simServer(sim, serverHost, { ppp: () => ({ authMethods: [method] }) });
      const client = simClient(sim, net.host("198.51.100.7"), SERVER, {
        authMethods: ["mschapv2", method],
      });
      // PAP's password check runs off the event loop: give it real time.
      assert.ok(await runUntilAsync(sim, () => client.up(), 60_000), "client up");
      const ok = server.events.find((e) => e.type === "auth-ok");
      assert.ok(ok?.type === "auth-ok" && ok.method.toLowerCase().includes(method.split("-")[0]!));
      client.stop();
      server.dispose();
    });
  }

  it("wrong password: error 691 at the client, both sides tear down, the address is not taken", () => {
    const { sim, net, serverHost } = world(3);
    const server = simServer(sim, serverHost);
    const client = simClient(sim, net.host("198.51.100.7"), SERVER, {
      user: { name: "alice", password: "wrong" },
    });
    assert.ok(sim.runUntilTrue(() => client.events.some((e) => e.type === "session-down"), 60_000));
    const failed = client.events.find((e) => e.type === "auth-failed");
    assert.ok(failed?.type === "auth-failed");
    assert.equal(failed.code, 691);
    assert.ok(sim.runUntilTrue(() => server.stack.l2tp.list().length === 0, 60_000));
    client.stop();
    server.dispose();
  });

  it("three clients with the same private address and port behind one NAT, on a lossy network", () => {
    const { sim, net, serverHost } = world(9, {
      latencyMs: 10,
      jitterMs: 30,
      loss: 0.05,
      duplicate: 0.02,
    });
    const server = simServer(sim, serverHost);
    const cgnat = net.nat("198.51.100.1");
    const clients = [0, 1, 2].map((i) => {
      const home = net.nat(`100.64.0.${10 + i}`, cgnat.inside);
      return simClient(sim, net.host("192.0.2.2", home.inside), SERVER, { seed: 10 + i });
    });
    waitUp(sim, clients, 180_000);
    const addrs = clients.map((c) => c.address()!);
    assert.equal(new Set(addrs).size, 3, "three different addresses");
    assert.equal(server.stack.l2tp.channels.size, 3, "three channels");
    // Each client's packets reach the server with its own address; replies reach only it.
    for (let round = 0; round < 5; round++) {
      clients.forEach((c, i) => {
        c.tun.inject(ipv4(addrs[i]!, server.address, `from-${i}`));
      });
      addrs.forEach((a, i) => {
        server.tun.inject(ipv4(server.address, a, `to-${i}`));
      });
      sim.runFor(500);
    }
    for (const p of received(server.tun)) {
      const i = Number(p.text.split("-")[1]);
      assert.equal(p.src, addrs[i]);
    }
    clients.forEach((c, i) => {
      const got = received(c.tun);
      assert.ok(got.length > 0, `client ${i} got replies`);
      for (const p of got) assert.equal(p.text, `to-${i}`);
    });
    assertNothingInClear(net);
    for (const c of clients) c.stop();
    server.dispose();
  });

  it("Quick Mode rekeys under traffic: no packet lost, still one channel and one session", () => {
    const { sim, net, serverHost } = world(4);
    // The client's child SAs live 120 s and it rekeys them before they end.
    const server = simServer(sim, serverHost);
    const nat = net.nat("198.51.100.1");
    const client = simClient(sim, net.host("192.0.2.2", nat.inside), SERVER, {
      phase2LifeSeconds: 120,
    });
    waitUp(sim, [client]);
    const addr = client.address()!;
    let sent = 0;
    const t0 = sim.now();
    while (sim.now() - t0 < 400_000) {
      client.tun.inject(ipv4(addr, server.address, `up-${sent}`));
      server.tun.inject(ipv4(server.address, addr, `down-${sent}`));
      sent++;
      sim.runFor(1000);
    }
    sim.runFor(1000);
    const newest = Math.max(...server.stack.node.engine.childSas().map((c) => c.id));
    assert.ok(newest >= 3, `at least two rekeys (newest child id ${newest})`);
    assert.equal(received(server.tun).length, sent, "every packet up arrived");
    assert.equal(received(client.tun).length, sent, "every packet down arrived");
    assert.equal(server.stack.l2tp.channels.size, 1);
    assert.equal(server.stack.l2tp.list().length, 1);
    client.stop();
    server.dispose();
  });

  it("DPD: a client that vanishes is declared dead; its session, channel and address go", () => {
    const { sim, net, serverHost } = world(5);
    const server = simServer(sim, serverHost, {
      ike: { dpd: { delaySeconds: 10, retrySeconds: 5, maxRetries: 3, probeWithoutVid: true } },
    });
    const nat = net.nat("198.51.100.1");
    const host = net.host("192.0.2.2", nat.inside);
    const client = simClient(sim, host, SERVER);
    waitUp(sim, [client]);
    const addr = client.address()!;
    client.stop(); // gone without a word: no Delete, no CDN
    host.unbind(500);
    assert.ok(
      sim.runUntilTrue(() => server.stack.l2tp.channels.size === 0, 120_000),
      "channel gone",
    );
    assert.equal(server.stack.l2tp.list().length, 0, "session gone");
    assert.ok(server.events.some((e) => e.type === "session-down"));
    // The address went back to the pool.
    const pool = server.stack.l2tp.poolInUse();
    assert.equal(pool, 0, `addresses still taken after ${addr}'s client died: ${pool}`);
    server.dispose();
  });

  it("a channel that goes leaves no authentication-attempt record behind (churn does not grow it)", () => {
    const { sim, net, serverHost } = world(5);
    let limiter: AuthAttemptLimiter | undefined;
    const server = simServer(sim, serverHost, {
      ike: { dpd: { delaySeconds: 10, retrySeconds: 5, maxRetries: 3, probeWithoutVid: true } },
      ppp: (clock) => {
        limiter = new AuthAttemptLimiter(clock);
        return { authLimiter: limiter };
      },
    });
    const nat = net.nat("198.51.100.1");
    for (let round = 0; round < 3; round++) {
      const host = net.host(`192.0.2.${2 + round}`, nat.inside);
      const client = simClient(sim, host, SERVER);
      waitUp(sim, [client]);
      assert.equal(limiter?.channels(), 1, "one channel authenticating");
      client.stop();
      host.unbind(500);
      assert.ok(sim.runUntilTrue(() => server.stack.l2tp.channels.size === 0, 120_000));
      assert.equal(limiter?.channels(), 0, `round ${round}: the gone channel's bucket is kept`);
    }
    server.dispose();
  });

  it("a channel whose IPsec SA goes: its L2TP tunnel goes at once, nothing is sent into it", () => {
    const { sim, net, serverHost } = world(5);
    const server = simServer(sim, serverHost, {
      ike: { dpd: { delaySeconds: 10, retrySeconds: 5, maxRetries: 3, probeWithoutVid: true } },
    });
    const nat = net.nat("198.51.100.1");
    const host = net.host("192.0.2.2", nat.inside);
    const client = simClient(sim, host, SERVER);
    waitUp(sim, [client]);
    client.stop();
    host.unbind(500);
    assert.ok(sim.runUntilTrue(() => server.stack.l2tp.channels.size === 0, 120_000));
    const down = server.events.filter((e) => e.type === "tunnel-down");
    assert.equal(down.length, 1);
    assert.match(down[0]?.type === "tunnel-down" ? down[0].reason : "", /IPsec SA gone/);
    sim.runFor(60_000);
    assert.equal(
      server.stack.l2tp.dropCounts().get("tx_control_no_sa") ?? 0,
      0,
      "no StopCCN or retransmission toward the dead channel",
    );
    server.dispose();
  });

  it("server restart with a client connected: the client notices, a new connection works", () => {
    const { sim, net, serverHost } = world(6);
    let server = simServer(sim, serverHost);
    const nat = net.nat("198.51.100.1");
    const host = net.host("192.0.2.2", nat.inside);
    const first = simClient(sim, host, SERVER);
    waitUp(sim, [first]);
    server = restartSimServer(sim, serverHost, server);
    // The old client's traffic now hits SPIs the new server does not know (INVALID-SPI), and
    // L2TP keepalives go unanswered: the client's session ends.
    const addr = first.address()!;
    for (let i = 0; i < 10; i++) {
      first.tun.inject(ipv4(addr, "10.8.0.1", `lost-${i}`));
      sim.runFor(1000);
    }
    assert.ok(
      sim.runUntilTrue(
        () => first.events.some((e) => e.type === "session-down" || e.type === "channel-down"),
        600_000,
      ),
      "the client saw the connection end",
    );
    first.stop();
    // Reconnect from the same host (a new NAT mapping may or may not be used).
    const again = simClient(sim, host, SERVER, { seed: 99 });
    waitUp(sim, [again]);
    again.tun.inject(ipv4(again.address()!, server.address, "back"));
    sim.runFor(100);
    assert.ok(received(server.tun).some((p) => p.text === "back"));
    again.stop();
    server.dispose();
  });

  it("server restart: a client whose server vanished notices within 20 s, so --persist can dial again soon", () => {
    const { sim, net, serverHost } = world(7);
    let server = simServer(sim, serverHost);
    const nat = net.nat("198.51.100.1");
    const host = net.host("192.0.2.2", nat.inside);
    const client = simClient(sim, host, SERVER);
    waitUp(sim, [client]);
    // Steady traffic (a ping a second) that the new server cannot decrypt.
    server = restartSimServer(sim, serverHost, server);
    const restartedAt = sim.now();
    const addr = client.address()!;
    const down = () =>
      client.events.some((e) => e.type === "session-down" || e.type === "channel-down") ||
      client.ikeEvents.some((e) => e.type === "failed");
    for (let i = 0; i < 40 && !down(); i++) {
      client.tun.inject(ipv4(addr, "10.8.0.1", `ping-${i}`));
      sim.runFor(500);
    }
    assert.ok(down(), "the client saw the connection end");
    const took = (sim.now() - restartedAt) / 1000;
    assert.ok(took <= 20, `noticed after ${took} s`);
    client.stop();
    server.dispose();
  });

  it("one connection, one L2TP tunnel: a second child SA (the server's own Quick Mode) opens none", () => {
    const { sim, net, serverHost } = world(7);
    const server = simServer(sim, serverHost);
    const nat = net.nat("198.51.100.1");
    const client = simClient(sim, net.host("192.0.2.2", nat.inside), SERVER);
    waitUp(sim, [client]);
    // The server starts a Quick Mode of its own on the client's IKE SA (RFC 2409 lets it).
    const sa = [...server.stack.node.engine.sas.values()][0]!;
    server.stack.node.initiateQuickMode(sa.id, {
      mode: "transport",
      local: { id: { kind: "ipv4", address: SERVER }, protocol: 17, port: 1701 },
      remote: { id: { kind: "ipv4", address: "192.0.2.2" }, protocol: 17, port: 1701 },
    });
    assert.ok(
      sim.runUntilTrue(() => client.stack.node.childList().length === 2, 30_000),
      "the client has a second child SA",
    );
    sim.runFor(30_000);
    const tunnels = client.events.filter((e) => e.type === "tunnel-up").length;
    assert.equal(tunnels, 1, "exactly one L2TP tunnel");
    assert.equal(client.stack.l2tp.list().length, 1, "exactly one session");
    assert.equal(server.stack.l2tp.list().length, 1);
    // Traffic still flows, now on the newest child SA.
    client.tun.inject(ipv4(client.address()!, server.address, "after"));
    sim.runFor(100);
    assert.ok(received(server.tun).some((p) => p.text === "after"));
    client.stop();
    server.dispose();
  });

  it("NAT rebinding: the client's mapping changes, its ESP moves the server's SA, traffic continues", () => {
    const { sim, net, serverHost } = world(8);
    const server = simServer(sim, serverHost);
    const nat = net.nat("198.51.100.1");
    const client = simClient(sim, net.host("192.0.2.2", nat.inside), SERVER, { user: ALICE });
    waitUp(sim, [client]);
    const addr = client.address()!;
    nat.rebind();
    client.tun.inject(ipv4(addr, server.address, "after-rebind"));
    sim.runFor(200);
    server.tun.inject(ipv4(server.address, addr, "reply"));
    sim.runFor(200);
    assert.ok(received(server.tun).some((p) => p.text === "after-rebind"));
    assert.ok(
      received(client.tun).some((p) => p.text === "reply"),
      "the reply followed the mapping",
    );
    client.stop();
    server.dispose();
  });

  it("clients on other local UDP ports than 500/4500 (many on one host) connect", () => {
    const { sim, net, serverHost } = world(12);
    const server = simServer(sim, serverHost);
    const host = net.host("198.51.100.50");
    const clients = [0, 1, 2].map((i) =>
      simClient(sim, host, SERVER, {
        seed: 40 + i,
        ports: { ike: 20000 + 2 * i, natt: 20001 + 2 * i },
      }),
    );
    waitUp(sim, clients, 60_000);
    assert.equal(new Set(clients.map((c) => c.address())).size, 3);
    for (const c of clients) c.stop();
    server.dispose();
  });
});
