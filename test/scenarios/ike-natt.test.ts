/**
 * Scenario tests: two Oakley IKE engines (initiator = client, responder = server) in one
 * process on the deterministic simulator (test/fakes/sim.ts), across the NAT topologies of
 * no NAT, client behind NAT, server behind a port-forward NAT (with and
 * without the Windows-friendly NAT-D), both behind NAT, and the client NAT policy 0/1/2.
 * Oracles: the RFC 3947 rules (who floats to 4500, which encapsulation mode numbers), the
 * KEYMAT symmetry of RFC 2409 §5.5 (each side's outbound keys are the other's inbound keys
 * for the same SPI), and what each side's NAT-D told it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressSelector, IkeErrorCode } from "../../src/ike/index.js";
import type { NatPolicy } from "../../src/natt/nat-policy.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { childPairMatches, PSK, SimIkePeer } from "./ike-sim.js";

const SERVER_PUBLIC = "198.51.100.2";
const L2TP = (address: string) => addressSelector(address, 17, 1701);

function l2tpRequest(client: string, server: string) {
  return { mode: "transport" as const, local: L2TP(client), remote: L2TP(server) };
}

function established(c: SimIkePeer, s: SimIkePeer): boolean {
  return c.installed.size > 0 && s.installed.size > 0;
}

describe("IKE across NAT topologies (simulator)", () => {
  it("no NAT: MM+QM on UDP 500, plain ESP (modes 1/2), keys agree", () => {
    const sim = new Simulator(1);
    const net = new SimNetwork(sim);
    const server = new SimIkePeer(sim, net.host(SERVER_PUBLIC), { psks: [{ secret: PSK }] }, 11);
    const client = new SimIkePeer(
      sim,
      net.host("203.0.113.9"),
      {
        psks: [{ secret: PSK }],
        phase1: { offers: [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 14 }] },
      },
      12,
    );
    client.initiate({
      peer: { address: SERVER_PUBLIC, port: 500 },
      phase2: l2tpRequest("203.0.113.9", SERVER_PUBLIC),
    });
    assert.ok(sim.runUntilTrue(() => established(client, server), 10_000));
    const [c] = [...client.installed.values()];
    const [s] = [...server.installed.values()];
    assert.ok(c && s && childPairMatches(c, s), "KEYMAT per direction agrees");
    assert.equal(c.encap, undefined, "no UDP encapsulation without NAT");
    assert.equal(c.mode, "transport");
    assert.equal(c.espEncryption, "aes256-cbc", "first of our default ESP offers");
    assert.ok(
      client.sent().every((m) => m.from.port === 500 && m.to.port === 500),
      "never floated",
    );
    const up = server.eventsOf("phase1-up")[0]!;
    assert.equal(up.peerId, "203.0.113.9");
    assert.deepEqual(up.nat, { method: "rfc3947", localBehindNat: false, peerBehindNat: false });
    assert.equal(s.selectors.remote.port, 1701);
    assert.equal(s.selectors.remote.protocol, 17);
  });

  it("client behind NAT: floats to 4500 after MM4, UDP-encap transport (mode 4), NAT-OA = private address", () => {
    const sim = new Simulator(2);
    const net = new SimNetwork(sim);
    const nat = net.nat("198.51.100.1");
    const server = new SimIkePeer(sim, net.host(SERVER_PUBLIC), { psks: [{ secret: PSK }] }, 21);
    const client = new SimIkePeer(
      sim,
      net.host("192.0.2.2", nat.inside),
      { psks: [{ secret: PSK }] },
      22,
    );
    client.initiate({
      peer: { address: SERVER_PUBLIC, port: 500 },
      phase2: l2tpRequest("192.0.2.2", SERVER_PUBLIC),
    });
    assert.ok(sim.runUntilTrue(() => established(client, server), 10_000));
    const sent = client.sent();
    assert.equal(sent.filter((m) => m.from.port === 500).length, 2, "MM1, MM3 on 500");
    assert.ok(
      sent.slice(2).every((m) => m.from.port === 4500 && m.to.port === 4500),
      "MM5 onwards on 4500",
    );
    const s = [...server.installed.values()][0]!;
    const c = [...client.installed.values()][0]!;
    assert.ok(childPairMatches(c, s));
    assert.equal(s.remote, "198.51.100.1", "the SA's peer is the observed (NAT) address");
    assert.equal(s.encap?.peer.address, "198.51.100.1");
    assert.equal(s.encap?.peer.port, 40001, "the NAT mapping of the client's 4500");
    assert.equal(s.encap?.natOa.remote, "192.0.2.2", "NAT-OA: the client's original address");
    assert.equal(s.suite.mode, "transport");
    assert.equal(c.encap?.natOa.remote, SERVER_PUBLIC);
    const cup = client.eventsOf("phase1-up")[0]!;
    assert.deepEqual(cup.nat, { method: "rfc3947", localBehindNat: true, peerBehindNat: false });
    assert.equal(
      server.eventsOf("phase1-up")[0]!.peerId,
      "192.0.2.2",
      "Windows-style private ID accepted",
    );
    // keepalives from the NATed client (RFC 3948 §2.3), none from the public server
    sim.runFor(61_000);
    assert.ok(client.keepalivesSent >= 3, `client keepalives: ${client.keepalivesSent}`);
    assert.equal(server.keepalivesSent, 0);
    // hours of keepalives and DPD do not pile up timers on an SA
    sim.runFor(3_600_000);
    for (const p of [client, server]) {
      const sa = [...p.engine.sas.values()][0]!;
      assert.ok(sa.cancelTimers.size <= 6, `pending timers on the SA: ${sa.cancelTimers.size}`);
    }
  });

  function serverBehindForward(friendly: boolean, policy: NatPolicy, clientNated = false) {
    const sim = new Simulator(3);
    const net = new SimNetwork(sim);
    const sNat = net.nat("198.51.100.9");
    sNat.forward(500, { address: "10.0.0.2", port: 500 });
    sNat.forward(4500, { address: "10.0.0.2", port: 4500 });
    const server = new SimIkePeer(
      sim,
      net.host("10.0.0.2", sNat.inside),
      { psks: [{ secret: PSK }], natt: { windowsFriendlyResponder: friendly } },
      31,
    );
    const cRealm = clientNated ? net.nat("198.51.100.1").inside : net.internet;
    const cAddr = clientNated ? "192.0.2.2" : "203.0.113.7";
    const client = new SimIkePeer(
      sim,
      net.host(cAddr, cRealm),
      { psks: [{ secret: PSK }], natt: { policy } },
      32,
    );
    client.initiate({
      peer: { address: "198.51.100.9", port: 500 },
      phase2: l2tpRequest(cAddr, "198.51.100.9"),
    });
    sim.runUntilTrue(
      () => established(client, server) || client.eventsOf("failed").length > 0,
      20_000,
    );
    return { sim, server, client };
  }

  it("server behind a port forward, Windows-friendly NAT-D on: a policy-0 client connects and encapsulates", () => {
    const { client, server } = serverBehindForward(true, 0);
    assert.ok(established(client, server), JSON.stringify(client.eventsOf("failed")));
    const cup = client.eventsOf("phase1-up")[0]!;
    assert.deepEqual(
      cup.nat,
      { method: "rfc3947", localBehindNat: true, peerBehindNat: false },
      "client sees itself NATed",
    );
    const sup = server.eventsOf("phase1-up")[0]!;
    assert.equal(sup.nat.localBehindNat, true, "the server knows it is behind NAT");
    const c = [...client.installed.values()][0]!;
    assert.ok(c.encap, "UDP-encapsulated ESP through the port forward");
    assert.equal(c.encap.peer.port, 4500);
  });

  it("server behind a port forward, Windows-friendly off: policy 0 refuses naming the setting, 1 and 2 connect", () => {
    const r0 = serverBehindForward(false, 0);
    const f = r0.client.eventsOf("failed")[0];
    assert.ok(f, "refused");
    assert.equal(f.code, IkeErrorCode.NatPolicy);
    assert.match(f.message, /AssumeUDPEncapsulationContextOnSendRule=0/);
    assert.match(f.message, /server is behind a NAT/);
    assert.equal(r0.client.engine.ikeSas().length, 0, "nothing left behind on the client");
    for (const policy of [1, 2] as const) {
      const r = serverBehindForward(false, policy);
      assert.ok(established(r.client, r.server), `policy ${policy}`);
      assert.deepEqual(r.client.eventsOf("phase1-up")[0]!.nat, {
        method: "rfc3947",
        localBehindNat: false,
        peerBehindNat: true,
      });
    }
  });

  it("both behind NAT: policy 2 needed without the Windows-friendly NAT-D; with it, policy 0 connects", () => {
    for (const policy of [0, 1] as const) {
      const r = serverBehindForward(false, policy, true);
      assert.equal(
        r.client.eventsOf("failed")[0]?.code,
        IkeErrorCode.NatPolicy,
        `policy ${policy}`,
      );
      assert.match(
        r.client.eventsOf("failed")[0]!.message,
        /both this client and the server are behind NAT/,
      );
    }
    const r2 = serverBehindForward(false, 2, true);
    assert.ok(established(r2.client, r2.server));
    const friendly = serverBehindForward(true, 0, true);
    assert.ok(established(friendly.client, friendly.server));
    const s = [...friendly.server.installed.values()][0]!;
    assert.equal(s.encap?.peer.address, "198.51.100.1");
    assert.equal(s.encap?.natOa.remote, "192.0.2.2");
  });

  it("tunnel mode with PFS (ECP-256) and the draft-02 NAT-T method (modes 61443)", () => {
    const sim = new Simulator(4);
    const net = new SimNetwork(sim);
    const nat = net.nat("198.51.100.1");
    const server = new SimIkePeer(sim, net.host(SERVER_PUBLIC), { psks: [{ secret: PSK }] }, 41);
    const draftVids = [
      Buffer.from("90cb80913ebb696e086381b5ec427b1f", "hex"), // draft-ietf-ipsec-nat-t-ike-02\n
      Buffer.from("afcad71368a1f1c96b8696fc77570100", "hex"), // RFC 3706 DPD
    ];
    const client = new SimIkePeer(
      sim,
      net.host("192.0.2.2", nat.inside),
      { psks: [{ secret: PSK }], initiatorVendorIds: draftVids, phase2: { pfsGroup: 19 } },
      42,
    );
    client.initiate({
      peer: { address: SERVER_PUBLIC, port: 500 },
      phase2: {
        mode: "tunnel",
        local: {
          id: { kind: "ipv4-subnet", address: "192.0.2.0", mask: "255.255.255.0" },
          protocol: 0,
          port: 0,
        },
        remote: { id: { kind: "ipv4", address: "203.0.113.1" }, protocol: 0, port: 0 },
      },
    });
    assert.ok(sim.runUntilTrue(() => established(client, server), 10_000));
    const s = [...server.installed.values()][0]!;
    const c = [...client.installed.values()][0]!;
    assert.ok(childPairMatches(c, s), "KEYMAT with g(qm)^xy agrees");
    assert.equal(s.suite.pfsGroup, 19);
    assert.equal(s.mode, "tunnel");
    assert.equal(s.encap?.method, "draft");
    assert.equal(server.eventsOf("phase1-up")[0]!.nat.method, "draft");
    assert.equal(s.selectors.remote.id.kind, "ipv4-subnet");
    // NAT-D went as payload 130 (draft numbering) in MM3
    const mm3 = client.sent()[1]!.data;
    assert.ok(mm3.includes(Buffer.from([130])), "draft NAT-D payload type present");
  });
});
