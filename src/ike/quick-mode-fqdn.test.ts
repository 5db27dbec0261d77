/**
 * Quick Mode with an ID_FQDN client identity (IDci), as Windows XP/2000 with KB 818043 sends
 * (Libreswan programs/pluto/ikev1_quick.c treats it as the peer's host
 * address): Oakley's responder accepts it as the peer's address instead of refusing with
 * INVALID-ID-INFORMATION, keeps the protocol/port, and echoes the ID payloads unchanged.
 * Two Oakley engines on the simulator; the client is made to send ID_FQDN in IDci.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ChildProposal, addressSelector } from "./index.js";
import { parseIsakmpMessage } from "../wire/isakmp/index.js";
import { SimNetwork, Simulator } from "../../test/fakes/sim.js";
import { childPairMatches, PSK, SimIkePeer } from "../../test/scenarios/ike-sim.js";

const SERVER = "198.51.100.2";

function run(nat: boolean) {
  const sim = new Simulator(9);
  const net = new SimNetwork(sim);
  const seen: ChildProposal[] = [];
  const server = new SimIkePeer(
    sim,
    net.host(SERVER),
    {
      psks: [{ secret: PSK }],
      childPolicy: (p) => {
        seen.push(p);
        return { accept: true };
      },
    },
    91,
  );
  const cAddr = nat ? "192.0.2.2" : "203.0.113.9";
  const client = new SimIkePeer(
    sim,
    net.host(cAddr, nat ? net.nat("198.51.100.1").inside : net.internet),
    { psks: [{ secret: PSK }] },
    92,
  );
  client.initiate({
    peer: { address: SERVER, port: 500 },
    phase2: {
      mode: "transport",
      local: { id: { kind: "fqdn", name: "xp-client.example" }, protocol: 17, port: 1701 },
      remote: addressSelector(SERVER, 17, 1701),
    },
  });
  sim.runUntilTrue(() => client.installed.size > 0 && server.installed.size > 0, 20_000);
  return { server, client, seen };
}

describe("Quick Mode ID_FQDN in IDci (KB 818043 clients)", () => {
  it("no NAT: taken as the peer's address, protocol/port kept, SA installed", () => {
    const { server, client, seen } = run(false);
    const s = [...server.installed.values()][0];
    const c = [...client.installed.values()][0];
    assert.ok(s && c && childPairMatches(c, s), JSON.stringify(server.eventsOf("failed")));
    assert.deepEqual(s.selectors.remote, addressSelector("203.0.113.9", 17, 1701));
    assert.deepEqual(seen[0]?.remote, addressSelector("203.0.113.9", 17, 1701));
    assert.equal(server.counters.get("ike_qm_fqdn_id"), 1n);
    // QM2 echoes IDci as sent (ID_FQDN = 2), so the client's view is unchanged
    assert.equal(client.eventsOf("failed").length, 0);
  });

  it("client behind NAT: an address selector of the client (NAT-OA or observed), UDP-encap transport", () => {
    const { server, seen } = run(true);
    const s = [...server.installed.values()][0];
    assert.ok(s, JSON.stringify(server.eventsOf("failed")));
    assert.equal(s.selectors.remote.id.kind, "ipv4");
    assert.ok(["192.0.2.2", "198.51.100.1"].includes(selectorAddr(s.selectors.remote.id)));
    assert.equal(s.selectors.remote.port, 1701);
    assert.ok(s.encap);
    assert.equal(seen.length, 1);
  });

  it("other non-address IDs (ID_USER_FQDN) are still refused (INVALID-ID-INFORMATION)", () => {
    const sim = new Simulator(10);
    const net = new SimNetwork(sim);
    const server = new SimIkePeer(sim, net.host(SERVER), { psks: [{ secret: PSK }] }, 93);
    const client = new SimIkePeer(sim, net.host("203.0.113.9"), { psks: [{ secret: PSK }] }, 94);
    client.initiate({
      peer: { address: SERVER, port: 500 },
      phase2: {
        mode: "transport",
        local: { id: { kind: "user-fqdn", name: "xp@client.example" }, protocol: 17, port: 1701 },
        remote: addressSelector(SERVER, 17, 1701),
      },
    });
    sim.runFor(20_000);
    assert.equal(server.installed.size, 0);
    assert.equal(server.eventsOf("failed")[0]?.code, "OAK_E_IKE_ID_REFUSED");
    const qm1 = client.sent().find((m) => {
      const p = parseIsakmpMessage(m.data);
      return p.ok && p.value.header.exchangeType === 32;
    });
    assert.ok(qm1, "a QM1 was sent");
  });
});

function selectorAddr(id: { kind: string; address?: string }): string {
  return id.address ?? "";
}
