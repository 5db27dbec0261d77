/**
 * Threat model: NAT rebinding on replayable evidence. Two clients A and B hold the same
 * pre-shared key (and, behind carrier-grade NAT, often the same private ID 10.0.0.2), each
 * behind its own NAT. B sees A's traffic (shared Wi-Fi, the CGNAT segment) but not A's keys.
 * Nothing B can replay from its own endpoint — A's DPD R-U-THERE, A's QM1 — may move A's IKE SA
 * or its child SAs to B, reset A's liveness, or be answered again. Only fresh evidence moves
 * an SA: ESP that passed ICV and anti-replay (`peerMoved`), or a DPD exchange with a fresh
 * sequence number (RFC 3706 §7). A move onto an endpoint another live IKE SA holds is refused,
 * and INITIAL-CONTACT deletes only older SAs of the same identity at the same endpoint.
 * Runs on the simulator (test/fakes/sim.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressSelector, type IkeSaInfo, type Phase1Offer } from "../../src/ike/index.js";
import { ExchangeType } from "../../src/wire/isakmp/index.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { PSK, SimIkePeer } from "../scenarios/ike-sim.js";

const SERVER = "198.51.100.2";
const NAT_A = "198.51.100.10";
const NAT_B = "198.51.100.20";
const PRIVATE = "10.0.0.2"; // the ID both clients present (CGNAT clients often share it)
const small: Phase1Offer[] = [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 19 }];
const L2TP = (a: string) => addressSelector(a, 17, 1701);

/** Offset of the exchange type in the ISAKMP header (RFC 2408 §3.1). */
const EXCHANGE_TYPE_AT = 18;

function world(seed: number, serverDpd = 0) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim);
  const natA = net.nat(NAT_A);
  const natB = net.nat(NAT_B);
  const server = new SimIkePeer(
    sim,
    net.host(SERVER),
    {
      psks: [{ secret: PSK }],
      dpd: { delaySeconds: serverDpd, retrySeconds: 2, maxRetries: 3 },
    },
    seed * 10 + 1,
    "debug",
  );
  const cfg = { psks: [{ secret: PSK }], phase1: { offers: small }, dpd: { delaySeconds: 20 } };
  const a = new SimIkePeer(sim, net.host(PRIVATE, natA.inside), cfg, seed * 10 + 2);
  const b = new SimIkePeer(sim, net.host(PRIVATE, natB.inside), cfg, seed * 10 + 3);
  connect(a);
  connect(b);
  assert.ok(
    sim.runUntilTrue(
      () => a.installed.size > 0 && b.installed.size > 0 && server.installed.size === 2,
      10_000,
    ),
    "A and B connected",
  );
  return { sim, net, natA, natB, server, a, b, cfg };
}

function connect(p: SimIkePeer, address = PRIVATE): void {
  p.initiate({
    peer: { address: SERVER, port: 500 },
    phase2: { mode: "transport", local: L2TP(address), remote: L2TP(SERVER) },
  });
}

function ikeSaOf(server: SimIkePeer, natAddress: string): IkeSaInfo | undefined {
  return server.engine.ikeSas().find((s) => s.peer.address === natAddress);
}

function childOf(server: SimIkePeer, natAddress: string) {
  return [...server.installed.values()].find((c) => c.remote === natAddress);
}

function moves(server: SimIkePeer, since = 0) {
  return {
    events: server.eventsOf("peer-moved"),
    updates: server.actions.filter((x) => x.t >= since && x.a.kind === "update-child-sa-peer"),
  };
}

/** What `p` sent of one exchange type (the ISAKMP message, without the non-ESP marker). */
function sentOfType(p: SimIkePeer, type: number) {
  return p.sent().filter((m) => m.data[EXCHANGE_TYPE_AT] === type);
}

/** `p`'s host sends `msg` from its UDP 4500 socket (through its own NAT) to the server. */
function sendFrom4500(p: SimIkePeer, msg: Buffer): void {
  p.host.send(4500, { address: SERVER, port: 4500 }, Buffer.concat([Buffer.alloc(4), msg]));
}

/** What the server sent after `t` to an endpoint on `address`. */
function serverSentTo(server: SimIkePeer, address: string, t: number) {
  return server.actions.flatMap((x) =>
    x.t > t && x.a.kind === "send" && x.a.to.address === address ? [x.a] : [],
  );
}

const drops = (p: SimIkePeer, reason: string) => p.counters.get(`ike_drop{reason="${reason}"}`);

describe("security: NAT rebinding is followed only on evidence that cannot be replayed", () => {
  it("B replays A's captured DPD R-U-THERE from B's endpoint: A's SAs are not moved", () => {
    const w = world(1);
    w.sim.runFor(25_000); // A's first R-U-THERE (idle 20 s), answered
    const ruThere = sentOfType(w.a, ExchangeType.INFORMATIONAL)[0];
    assert.ok(ruThere, "A sent an R-U-THERE");
    const aBefore = ikeSaOf(w.server, NAT_A)!;
    const t = w.sim.now();
    sendFrom4500(w.b, ruThere.data);
    w.sim.runFor(1_000);
    const m = moves(w.server);
    assert.equal(m.events.length, 0, "no peer-moved event");
    assert.equal(m.updates.length, 0, "no update-child-sa-peer action");
    assert.deepEqual(ikeSaOf(w.server, NAT_A)?.peer, aBefore.peer, "A's IKE SA stays at A");
    assert.equal(childOf(w.server, NAT_A)?.encap?.peer.address, NAT_A);
    assert.equal(serverSentTo(w.server, NAT_B, t).length, 0, "nothing answered towards B");
    assert.equal(drops(w.server, "dpd_replay"), 1n, "counted as a DPD replay");
    assert.ok(
      w.server.sink.records().some((r) => r.level === "debug" && /replay/.test(String(r.msg))),
      "logged at debug",
    );
  });

  it("B replays A's captured QM1 from B's endpoint: nothing moves and the server does not answer", () => {
    const w = world(2);
    const qm1 = sentOfType(w.a, ExchangeType.QUICK_MODE)[0];
    assert.ok(qm1, "A sent a QM1");
    for (const wait of [500, 60_000]) {
      // while A's Quick Mode is remembered (retransmission cache), and long after
      w.sim.runFor(wait);
      const t = w.sim.now();
      const qmBefore = sentOfType(w.server, ExchangeType.QUICK_MODE).length;
      sendFrom4500(w.b, qm1.data);
      w.sim.runFor(5_000);
      assert.equal(moves(w.server).events.length, 0, `no peer-moved (after ${wait} ms)`);
      assert.equal(moves(w.server).updates.length, 0);
      assert.equal(ikeSaOf(w.server, NAT_A)?.peer.address, NAT_A);
      assert.equal(
        sentOfType(w.server, ExchangeType.QUICK_MODE).length,
        qmBefore,
        `no QM2 sent again (after ${wait} ms)`,
      );
      assert.equal(serverSentTo(w.server, NAT_B, t).length, 0);
    }
    assert.equal(w.server.installed.size, 2, "no extra child SA");
    assert.equal(w.server.eventsOf("failed").length, 0, "no Quick Mode started by the replay");
  });

  it("a retransmitted QM1 from A's own endpoint still gets the stored QM2 again", () => {
    const w = world(3);
    const qm1 = sentOfType(w.a, ExchangeType.QUICK_MODE)[0]!;
    const before = sentOfType(w.server, ExchangeType.QUICK_MODE).length;
    sendFrom4500(w.a, qm1.data);
    w.sim.runFor(1_000);
    const again = sentOfType(w.server, ExchangeType.QUICK_MODE);
    assert.equal(again.length, before + 1, "QM2 re-sent (RFC 2408 retransmission)");
    assert.equal(again.at(-1)!.to.address, NAT_A);
  });

  it("a DPD R-U-THERE replayed with an old sequence number is dropped, even from A's endpoint", () => {
    const w = world(4);
    w.sim.runFor(45_000); // two R-U-THEREs from A, each answered
    const probes = sentOfType(w.a, ExchangeType.INFORMATIONAL);
    assert.ok(probes.length >= 2, `A probed twice: ${probes.length}`);
    const t = w.sim.now();
    sendFrom4500(w.a, probes[0]!.data);
    w.sim.runFor(500);
    assert.equal(drops(w.server, "dpd_replay"), 1n);
    assert.equal(
      serverSentTo(w.server, NAT_A, t).length,
      0,
      "no R-U-THERE-ACK for a replayed sequence number",
    );
  });

  it("a replayed R-U-THERE does not keep a dead peer alive", () => {
    const w = world(5, 10);
    w.sim.runFor(25_000);
    const ruThere = sentOfType(w.a, ExchangeType.INFORMATIONAL)[0]!;
    w.a.goOffline();
    // B keeps replaying A's probe; A's SA must still be declared dead by the server's DPD.
    for (let i = 0; i < 12; i++) {
      sendFrom4500(w.b, ruThere.data);
      w.sim.runFor(5_000);
    }
    assert.equal(ikeSaOf(w.server, NAT_A), undefined, "A's IKE SA declared dead and removed");
    assert.equal(childOf(w.server, NAT_A), undefined);
    assert.ok(ikeSaOf(w.server, NAT_B), "B unaffected");
  });

  it("a legitimate rebinding (A's NAT mapping changes, A sends a fresh R-U-THERE) is followed", () => {
    const w = world(6);
    const before = ikeSaOf(w.server, NAT_A)!.peer;
    w.natA.rebind();
    w.sim.runFor(30_000);
    const m = moves(w.server);
    assert.equal(m.events.length, 1);
    assert.deepEqual(m.events[0]!.from, before);
    assert.notEqual(m.events[0]!.to.port, before.port);
    assert.equal(m.updates.length, 1);
    assert.deepEqual(ikeSaOf(w.server, NAT_A)!.peer, m.events[0]!.to);
  });

  it("a legitimate rebinding shown by authenticated, non-replayed ESP (peerMoved) is followed", () => {
    const w = world(7);
    const spi = childOf(w.server, NAT_A)!.inbound.spi;
    const to = { address: NAT_A, port: 40999 };
    w.server.command(w.server.engine.peerMoved(spi, to, w.sim.now()));
    assert.equal(moves(w.server).events.length, 1);
    assert.deepEqual(ikeSaOf(w.server, NAT_A)!.peer, to);
    const upd = moves(w.server).updates[0]?.a;
    assert.ok(upd?.kind === "update-child-sa-peer" && upd.peer.port === 40999);
  });

  it("a move onto an endpoint another live IKE SA holds is refused and counted", () => {
    const w = world(8);
    const spi = childOf(w.server, NAT_A)!.inbound.spi;
    const bEndpoint = ikeSaOf(w.server, NAT_B)!.peer;
    const aBefore = ikeSaOf(w.server, NAT_A)!.peer;
    w.server.command(w.server.engine.peerMoved(spi, bEndpoint, w.sim.now()));
    assert.equal(moves(w.server).events.length, 0);
    assert.equal(moves(w.server).updates.length, 0);
    assert.deepEqual(ikeSaOf(w.server, NAT_A)!.peer, aBefore);
    assert.equal(w.server.counters.get("ike_peer_move_refused"), 1n);
  });

  it("CGNAT: a new client on the endpoint a dead client's IKE SA still holds gets its own SA; the old one is left to DPD", () => {
    const w = world(9, 10);
    const aSa = ikeSaOf(w.server, NAT_A)!;
    w.a.goOffline();
    // The NAT forgets A and hands the same outside ports to another subscriber C.
    w.natA.rebind();
    (w.natA as unknown as { nextPort: number }).nextPort = 40000;
    w.natA.inside.hosts.delete(PRIVATE);
    const c = new SimIkePeer(w.sim, w.net.host("10.0.0.3", w.natA.inside), w.cfg, 94);
    connect(c, "10.0.0.3");
    assert.ok(
      w.sim.runUntilTrue(() => c.installed.size > 0, 10_000),
      "C connected",
    );
    const cSa = w.server.engine.ikeSas().find((s) => s.peerId === "10.0.0.3")!;
    assert.notEqual(cSa.id, aSa.id, "C has its own IKE SA");
    assert.deepEqual(cSa.peer, aSa.peer, "on the very endpoint A's SA holds");
    const aNow = w.server.engine.ikeSas().find((s) => s.id === aSa.id);
    assert.ok(aNow, "A's old SA is not touched by C's arrival");
    assert.deepEqual(aNow.children, aSa.children);
    assert.equal(moves(w.server).events.length, 0);
    w.sim.runFor(60_000);
    assert.equal(
      w.server.engine.ikeSas().find((s) => s.id === aSa.id),
      undefined,
      "DPD removed A's SA",
    );
    assert.ok(
      w.server.engine.ikeSas().some((s) => s.id === cSa.id && s.children.length === 1),
      "C's SA and child SA survive",
    );
  });

  it("INITIAL-CONTACT from B with A's private ID does not delete A's SAs, even after B replayed A's DPD", () => {
    const w = world(10);
    const aSa = ikeSaOf(w.server, NAT_A)!;
    w.sim.runFor(25_000);
    const ruThere = sentOfType(w.a, ExchangeType.INFORMATIONAL)[0]!;
    sendFrom4500(w.b, ruThere.data); // would drag A's SA onto B's endpoint if followed
    w.sim.runFor(1_000);
    // B restarts and reconnects from its same endpoint, with INITIAL-CONTACT and ID 10.0.0.2.
    w.b.goOffline();
    w.natB.inside.hosts.delete(PRIVATE);
    const b2 = new SimIkePeer(w.sim, w.net.host(PRIVATE, w.natB.inside), w.cfg, 104);
    connect(b2);
    assert.ok(
      w.sim.runUntilTrue(() => b2.installed.size > 0, 10_000),
      "B reconnected",
    );
    w.sim.runFor(2_000);
    const deleted = w.server.eventsOf("deleted").filter((e) => e.what === "ike");
    assert.ok(
      deleted.every((e) => e.ikeSaId !== aSa.id),
      "A's IKE SA not deleted by B's INITIAL-CONTACT",
    );
    assert.ok(ikeSaOf(w.server, NAT_A), "A's IKE SA still there");
    assert.ok(childOf(w.server, NAT_A), "A's child SA still there");
    assert.equal(
      deleted.filter((e) => e.reason === "INITIAL-CONTACT").length,
      1,
      "B's own old SA was replaced",
    );
  });
});
