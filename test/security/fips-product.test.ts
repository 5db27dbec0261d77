/**
 * FIPS mode in the whole product (test/fakes/product.ts: `oakley serve`'s stack from a real
 * SQLite store, `oakley connect`'s IKE settings, simulated network): what a FIPS-mode server
 * gives a client, and what it refuses. The threat: a client (or a downgrade in the path) gets
 * an SA or a PPP login on a non-approved algorithm — 3DES, MODP-1024, MS-CHAPv2's MD4/DES.
 * The OpenSSL FIPS provider is not loaded here (policy-only rules); fips-provider.test.ts
 * covers the module.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { runUntilAsync, simClient, simServer } from "../fakes/product.js";

const SERVER = "203.0.113.5";

function world(seed: number) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim);
  return { sim, net, serverHost: net.host(SERVER) };
}

describe("FIPS mode in the product (simulator)", () => {
  it("a FIPS client and a FIPS server connect on approved suites, PPP authenticated with PAP inside ESP", async () => {
    const { sim, net, serverHost } = world(41);
    const server = simServer(sim, serverHost, { fips: true });
    const client = simClient(sim, net.host("198.51.100.7"), SERVER, {
      fips: true,
      authMethods: ["pap"],
    });
    assert.ok(await runUntilAsync(sim, () => client.up(), 60_000), "client up");
    const ok = server.events.find((e) => e.type === "auth-ok");
    assert.ok(ok?.type === "auth-ok");
    assert.match(ok.method, /pap/i);
    const [mm] = [...server.stack.node.engine.sas.values()];
    assert.ok(mm?.suite);
    assert.equal(mm.suite.encryption, "aes-cbc");
    assert.ok([14, 15, 16, 19, 20, 21].includes(mm.suite.group), `group ${mm.suite.group}`);
    assert.ok(mm.suite.hash !== "md5");
    // L2TP (and so PAP's password) crossed the network only inside ESP.
    const clear = net.log.filter((d) => d.to.port === 1701 || d.from.port === 1701);
    assert.equal(clear.length, 0, "L2TP in the clear");
    client.stop();
    server.dispose();
  });

  it("a FIPS server does not offer MS-CHAPv2: a client that insists on it gets no PPP login", () => {
    const { sim, net, serverHost } = world(42);
    const server = simServer(sim, serverHost, { fips: true });
    const client = simClient(sim, net.host("198.51.100.7"), SERVER, {
      authMethods: ["mschapv2"],
    });
    sim.runFor(60_000);
    assert.equal(client.up(), false);
    assert.equal(
      server.events.some((e) => e.type === "auth-ok"),
      false,
      "no login over MS-CHAPv2",
    );
    client.stop();
    server.dispose();
  });

  it("a FIPS server does not agree to MS-CHAPv2 or CHAP-MD5 even when the stored user allows them", () => {
    const { sim, net, serverHost } = world(43);
    const server = simServer(sim, serverHost, { fips: true });
    for (const method of ["mschapv2", "chap-md5"] as const) {
      const client = simClient(
        sim,
        net.host(`198.51.100.${method === "mschapv2" ? 8 : 9}`),
        SERVER,
        {
          authMethods: [method],
        },
      );
      sim.runFor(60_000);
      assert.equal(client.up(), false, method);
      client.stop();
    }
    assert.equal(server.events.filter((e) => e.type === "auth-ok").length, 0);
    server.dispose();
  });

  it("a client that also offers 3DES and MODP-1024 ends on an approved suite with a FIPS server", async () => {
    const { sim, net, serverHost } = world(44);
    const server = simServer(sim, serverHost, { fips: true });
    const client = simClient(sim, net.host("198.51.100.7"), SERVER, {
      allowLegacy: true,
      authMethods: ["mschapv2", "pap"],
    });
    assert.ok(await runUntilAsync(sim, () => client.up(), 60_000), "client up");
    assert.ok(server.stack.node.engine.sas.size > 0);
    for (const sa of server.stack.node.engine.sas.values()) {
      assert.notEqual(sa.suite?.encryption, "3des-cbc");
      assert.notEqual(sa.suite?.group, 2);
    }
    client.stop();
    server.dispose();
  });
});
