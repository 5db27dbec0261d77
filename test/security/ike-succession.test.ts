/**
 * Threat model: users behind one carrier-grade NAT share a public address (and often the same
 * private address as their phase-1 ID). When one user's IKE SA ends without its child SAs
 * (lifetime expiry, the peer's Delete of the ISAKMP SA), the engine may hand the children to the
 * IKE SA that succeeds it — but only to a successor of the same peer: same identity and same
 * endpoint (address and port). Never to another user's IKE SA behind the same NAT.
 *
 * Topology: two home routers (both with a client at 192.0.2.2) behind one CGNAT
 * (198.51.100.1), and the server on 203.0.113.5.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressSelector } from "../../src/ike/index.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { PSK, SimIkePeer } from "../scenarios/ike-sim.js";

const SERVER = "203.0.113.5";

function cgnatPair(opts: { aOffline?: boolean } = {}) {
  const sim = new Simulator(7);
  const net = new SimNetwork(sim);
  const cgnat = net.nat("198.51.100.1");
  const homeA = net.nat("100.64.0.10", cgnat.inside);
  const homeB = net.nat("100.64.0.11", cgnat.inside);
  // No DPD on the server: A's IKE SA ends by its lifetime, not by DPD (which takes the children).
  const server = new SimIkePeer(
    sim,
    net.host(SERVER),
    { psks: [{ secret: PSK }], dpd: { delaySeconds: 0 } },
    1,
  );
  // A's phase-1 lifetime is 600 s (the server keeps the shorter one); B keeps the default 8 h.
  const a = new SimIkePeer(
    sim,
    net.host("192.0.2.2", homeA.inside),
    { psks: [{ secret: PSK }], phase1: { lifeSeconds: 600 } },
    2,
  );
  const b = new SimIkePeer(
    sim,
    net.host("192.0.2.2", homeB.inside),
    { psks: [{ secret: PSK }] },
    3,
  );
  const request = {
    peer: { address: SERVER, port: 500 },
    phase2: {
      mode: "transport" as const,
      local: addressSelector("192.0.2.2", 17, 1701),
      remote: addressSelector(SERVER, 17, 1701),
    },
  };
  a.initiate(request);
  assert.ok(sim.runUntilTrue(() => a.installed.size === 1 && server.installed.size === 1, 20_000));
  b.initiate(request);
  assert.ok(sim.runUntilTrue(() => b.installed.size === 1 && server.installed.size === 2, 20_000));
  if (opts.aOffline) a.goOffline();
  const sas = [...server.engine.sas.values()];
  assert.equal(sas.length, 2);
  const [saA, saB] = sas as [(typeof sas)[0], (typeof sas)[0]];
  assert.equal(saA.peer.address, saB.peer.address, "both users share the CGNAT address");
  assert.notEqual(saA.peer.port, saB.peer.port);
  assert.equal(saA.peerIdText, saB.peerIdText, "and the same private ID");
  return { sim, server, a, b, saA, saB };
}

describe("security: IKE SA succession never crosses users", () => {
  it("user A's IKE SA expiring does not hand A's child SAs to user B behind the same CGNAT", () => {
    const { sim, server, saA, saB } = cgnatPair({ aOffline: true });
    const childA = [...saA.children][0]!;
    sim.runFor(601_000);
    assert.equal(saA.state, "DELETED", "A's IKE SA expired on the server");
    assert.ok(!saB.children.has(childA), "B's IKE SA must not adopt A's child SA");
    assert.equal(
      server.engine.childSas().find((c) => c.id === childA),
      undefined,
      "A's child SA goes with A's IKE SA",
    );
    assert.equal(server.eventsOf("children-adopted").length, 0, "no adoption across users");
  });

  it("a successor IKE SA of the same peer (same ID and endpoint) adopts the children and says so", () => {
    const { sim, server, saA, saB } = cgnatPair();
    const childA = [...saA.children][0]!;
    // A re-does Main Mode before its IKE SA ends (soft lifetime) and deletes the old one.
    sim.runFor(601_000);
    assert.equal(saA.state, "DELETED");
    const successor = [...server.engine.sas.values()].find(
      (s) => s !== saA && s !== saB && s.state === "ESTABLISHED",
    );
    assert.ok(successor, "A has a new IKE SA");
    assert.equal(successor.peer.port, saA.peer.port, "from A's endpoint");
    assert.ok(successor.children.has(childA), "A's successor adopts A's child SA");
    assert.ok(!saB.children.has(childA));
    const ev = server.eventsOf("children-adopted");
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.ikeSaId, successor.id);
    assert.equal(ev[0]!.from, saA.id);
    assert.deepEqual(ev[0]!.childIds, [childA]);
  });
});
