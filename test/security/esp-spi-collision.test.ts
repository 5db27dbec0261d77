/**
 * Threat model: outbound SPIs are the peers' choice. Each peer picks the SPI it receives on, so
 * the server's outbound SPIs are unique only per peer: an authenticated user can pick the same
 * SPI as another user's client (ESP headers are in the clear, so it can read it off the wire).
 * Nothing that happens to the attacker's own SA pair — its byte lifetime running out, a soft
 * expiry — may delete or rekey the other user's child SA. Inbound SPIs are the server's own
 * choice and stay unique.
 *
 * Runs the whole product in one process (test/fakes/product.ts). The two clients sit behind
 * different NATs with the same private address and seed, so they draw the same random octets
 * and therefore the same inbound SPI, as a deliberate attacker would choose it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { daemonTarget, type TargetState } from "../../src/daemon/control-target.js";
import { LogHub, MemorySink } from "../../src/obs/log.js";
import { ipv4, received, type SimServer, simClient, simServer } from "../fakes/product.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";

const SERVER = "203.0.113.5";
const PRIVATE = "192.0.2.2";
const LIFE_KB = 16;

/**
 * A victim client and an attacker client whose inbound SPI equals the victim's (so the server
 * sends to both with one SPI). `lifeKilobytes`: the attacker's offered byte lifetime.
 */
function world(lifeKilobytes = 0) {
  const sim = new Simulator(41);
  const net = new SimNetwork(sim);
  const server = simServer(sim, net.host(SERVER));
  const victim = simClient(sim, net.host(PRIVATE, net.nat("198.51.100.10").inside), SERVER, {
    seed: 7,
  });
  assert.ok(
    sim.runUntilTrue(() => victim.up(), 60_000),
    "victim up",
  );
  // Same seed and private address: the attacker's client draws the victim's SPIs.
  const attacker = simClient(sim, net.host(PRIVATE, net.nat("198.51.100.20").inside), SERVER, {
    seed: 7,
    ike: (c) => ({ ...c, phase2: { ...c.phase2, lifeKilobytes } }),
  });
  assert.ok(
    sim.runUntilTrue(() => attacker.up(), 60_000),
    "attacker up",
  );
  const children = server.stack.node.childList();
  assert.equal(children.length, 2, "one child SA per client");
  const outSpis = children.map((c) => server.stack.node.dp.info(c.outSa)?.spi);
  assert.equal(outSpis[0], outSpis[1], "precondition: both clients chose the same SPI");
  const victimChild = children.find((c) => c.remote === "198.51.100.10")!;
  const attackerChild = children.find((c) => c.remote === "198.51.100.20")!;
  return { sim, server, victim, attacker, victimChild, attackerChild };
}

function target(server: SimServer, now: () => number) {
  const state: TargetState = {
    software: "oakley test",
    role: "server",
    startedAt: 0,
    listen: SERVER,
    warnings: [],
    mode: "protected",
  };
  return daemonTarget({
    node: server.stack.node,
    logs: new LogHub(new MemorySink(), "warn"),
    counters: server.counters,
    wallNow: () => Date.now(),
    now,
    state,
  });
}

describe("ESP SPI collisions between peers", () => {
  it("a peer whose outbound SA runs out cannot get another peer's child SA with the same SPI deleted", () => {
    // The attacker offers a tiny byte lifetime: the server's outbound SA to it expires after
    // LIFE_KB KiB.
    const { sim, server, victim, attacker, victimChild, attackerChild } = world(LIFE_KB);

    // The server sends the attacker more than its SA's byte lifetime, in one burst (before a
    // rekey can move the traffic to a new SA pair).
    const attackerAddress = attacker.address()!;
    const burst = Array.from({ length: 40 }, () =>
      ipv4(server.address, attackerAddress, "x".repeat(1000)),
    );
    server.tun.inject(...burst);
    sim.runFor(2_000);

    const ids = server.stack.node.childList().map((c) => c.childId);
    assert.ok(ids.includes(victimChild.childId), "the victim's child SA is still installed");
    assert.ok(!ids.includes(attackerChild.childId), "the attacker's expired child SA is gone");
    const victimAddress = victim.address()!;
    server.tun.inject(ipv4(server.address, victimAddress, "still here"));
    sim.runFor(1_000);
    assert.ok(
      received(victim.tun).some((p) => p.text === "still here"),
      "the victim still receives traffic",
    );
    victim.stop();
    attacker.stop();
    server.dispose();
  });

  it("sa list shows each peer's own ESP traffic, not another peer's with the same SPI", async () => {
    const { sim, server, victim, attacker } = world();
    for (let i = 0; i < 5; i++)
      server.tun.inject(ipv4(server.address, attacker.address()!, `more-${i}`));
    sim.runFor(1_000);
    const list = await target(server, () => sim.now()).listSas();
    for (const rec of server.stack.node.childList()) {
      const shown = list.child.find(
        (c) => c.id === `qm-${rec.inboundSpi.toString(16).padStart(8, "0")}`,
      );
      const sent = server.stack.node.dp.info(rec.outSa)!.stats;
      assert.equal(shown?.traffic.packetsOut, BigInt(sent.packets), `packets out to ${rec.remote}`);
      assert.equal(shown?.traffic.bytesOut, BigInt(sent.bytes), `bytes out to ${rec.remote}`);
    }
    victim.stop();
    attacker.stop();
    server.dispose();
  });
});
