/**
 * SPIs 0-255 are reserved (RFC 4303 section 2.1: 1-255 reserved by IANA, 0 for local use and
 * never sent). A Quick Mode peer that offers one must be refused in the negotiation: the data
 * plane will not install such an SA, so accepting it would report a child SA "up" that never
 * carries a packet. Two Oakley engines on the simulator; the initiator is made to offer a
 * reserved SPI.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressSelector } from "../../src/ike/index.js";
import { asInboundSpi } from "../../src/wire/esp/esp.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { PSK, SimIkePeer } from "../scenarios/ike-sim.js";

const SERVER = "198.51.100.2";

describe("reserved SPIs in Quick Mode", () => {
  for (const spi of [0, 1, 255]) {
    it(`a peer offering SPI ${spi} gets NO-PROPOSAL-CHOSEN; nothing is installed or reported up`, () => {
      const sim = new Simulator(11);
      const net = new SimNetwork(sim);
      const server = new SimIkePeer(sim, net.host(SERVER), { psks: [{ secret: PSK }] }, 95);
      const client = new SimIkePeer(sim, net.host("203.0.113.9"), { psks: [{ secret: PSK }] }, 96);
      client.engine.newSpi = () => asInboundSpi(spi);
      client.initiate({
        peer: { address: SERVER, port: 500 },
        phase2: {
          mode: "transport",
          local: addressSelector("203.0.113.9", 17, 1701),
          remote: addressSelector(SERVER, 17, 1701),
        },
      });
      sim.runFor(20_000);
      assert.equal(server.installed.size, 0);
      assert.equal(server.eventsOf("phase2-up").length, 0, "no child reported up");
      assert.equal(server.eventsOf("failed")[0]?.code, "OAK_E_IKE_NO_PROPOSAL_CHOSEN");
    });
  }

  it("a responder answering with a reserved SPI: the initiator fails the exchange, installs nothing", () => {
    const sim = new Simulator(12);
    const net = new SimNetwork(sim);
    const server = new SimIkePeer(sim, net.host(SERVER), { psks: [{ secret: PSK }] }, 97);
    const client = new SimIkePeer(sim, net.host("203.0.113.9"), { psks: [{ secret: PSK }] }, 98);
    server.engine.newSpi = () => asInboundSpi(7);
    client.initiate({
      peer: { address: SERVER, port: 500 },
      phase2: {
        mode: "transport",
        local: addressSelector("203.0.113.9", 17, 1701),
        remote: addressSelector(SERVER, 17, 1701),
      },
    });
    sim.runFor(20_000);
    assert.equal(client.installed.size, 0);
    assert.equal(client.eventsOf("phase2-up").length, 0);
    assert.match(JSON.stringify(client.eventsOf("failed")), /reserved SPI/);
  });
});
