/**
 * The whole product with certificates (test/fakes/product.ts): `oakley connect --cert --key
 * --ca` behind a simulated NAT and `oakley serve --cert --key --ca [--crl]` configured through a
 * real SQLite store (the flags stored as the assigned policy's certificate authentication, as
 * the daemon does), through Main Mode with signatures, Quick Mode, ESP, L2TP and PPP, to IP
 * packets on fake TUN devices. Certificates are made by the openssl CLI (test/helpers/pki.ts).
 *
 * Threat model: a client with a revoked certificate, or an expired one, must not get in, and the
 * server must say why in one log line; a server holding a certificate from the same CA but for
 * another name must not be accepted by the client; PSK clients keep working next to
 * certificate clients when the rule offers both, and are refused when it offers certificates
 * only.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { makeTestPki } from "../helpers/pki.js";
import type { MemorySink } from "../../src/obs/log.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import {
  ipv4,
  received,
  runUntilAsync,
  type SimCertificates,
  type SimClient,
  simClient,
  simServer,
} from "../fakes/product.js";

const SERVER = "203.0.113.5";
const pki = makeTestPki();
after(() => pki.dispose());
pki.ca("ca", "Oakley Test CA");
pki.ca("other-ca", "Other CA");
const leaf = (name: string, san: string, o: { key?: "ec-p256"; issuer?: string } = {}) =>
  pki.add({
    name,
    subj: `/O=Oakley Test/CN=${name}`,
    issuer: o.issuer ?? "ca",
    ...(o.key ? { key: o.key } : {}),
    ext: [`subjectAltName=${san}`, "keyUsage=digitalSignature"],
  });
leaf("server", `DNS:vpn.example,IP:${SERVER}`);
leaf("ec-server", `DNS:vpn.example,IP:${SERVER}`, { key: "ec-p256" });
leaf("other-server", "DNS:other.example");
leaf("alice", "email:alice@example.com");
leaf("ec-alice", "email:ec-alice@example.com", { key: "ec-p256" });
leaf("mallory", "email:mallory@example.com");
pki.add({
  name: "expired",
  subj: "/O=Oakley Test/CN=expired",
  issuer: "ca",
  ext: ["subjectAltName=email:expired@example.com", "keyUsage=digitalSignature"],
  validity: { start: "20200101000000Z", end: "20210101000000Z" },
});
const CA = pki.get("ca").cert;
/** Certificates are checked against real calendar time (the simulator's calendar is fixed). */
const wallClock = (): number => Date.now();
const certs = (name: string): SimCertificates => ({
  cert: pki.get(name).cert,
  key: pki.get(name).key,
  ca: CA,
});

function world(seed: number) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim);
  const serverHost = net.host(SERVER);
  const nat = net.nat("198.51.100.1");
  return { sim, net, serverHost, nat };
}

async function upOrFailed(sim: Simulator, c: SimClient): Promise<boolean> {
  await runUntilAsync(
    sim,
    () => c.up() || c.stack.node.engine.sas.size === 0 || c.logs.lines.length > 0,
    30_000,
  );
  sim.runFor(5_000);
  return c.up();
}

/** Every log line's fields as text (messages and their key=value fields). */
function logText(sink: MemorySink): string {
  return sink
    .records()
    .map((r) => Object.values(r).map(String).join(" "))
    .join("\n");
}

describe("the product with certificates (simulator)", () => {
  for (const [serverCert, clientCert, suite] of [
    ["server", "alice", /RSA signature/],
    ["ec-server", "ec-alice", /ECDSA-256 signature/],
  ] as const) {
    it(`connect --cert (${clientCert}) <-> serve --cert (${serverCert}) across NAT: IP flows through ESP`, async () => {
      const { sim, net, serverHost, nat } = world(11);
      const server = simServer(sim, serverHost, {
        wallClock,
        certificates: certs(serverCert),
        logLevel: "debug",
      });
      const client = simClient(sim, net.host("192.0.2.2", nat.inside), SERVER, {
        wallClock,
        certificates: certs(clientCert),
        serverName: "vpn.example",
        logLevel: "debug",
      });
      assert.ok(await runUntilAsync(sim, () => client.up(), 60_000), "client up");
      const up = server.stack.node.engine.sas.values().next().value;
      assert.ok(up);
      assert.match(up.suite?.auth ?? "", /rsa-sig|ecdsa-256/);
      const addr = client.address()!;
      client.tun.inject(ipv4(addr, server.address, "ping"));
      sim.runFor(100);
      assert.deepEqual(received(server.tun), [{ src: addr, dst: server.address, text: "ping" }]);
      server.tun.inject(ipv4(server.address, addr, "pong"));
      sim.runFor(100);
      assert.deepEqual(received(client.tun), [{ src: server.address, dst: addr, text: "pong" }]);
      // Nothing of L2TP in the clear on the Internet.
      assert.equal(
        net.log.filter(
          (d) => d.realm === "internet" && (d.to.port === 1701 || d.from.port === 1701),
        ).length,
        0,
      );
      assert.ok(suite.test(describeSuite(up.suite?.auth)));
      // Private keys never reach a log line (both sides logged at debug).
      for (const [sink, key] of [
        [server.logs, pki.get(serverCert).key],
        [client.logs, pki.get(clientCert).key],
      ] as const) {
        const text = sink.lines.join("\n");
        assert.ok(sink.lines.length > 0, "debug logging produced lines");
        for (const line of key.split("\n").filter((l) => l.length > 20))
          assert.ok(!text.includes(line), "a private key line appears in the log");
      }
      client.stop();
      server.dispose();
    });
  }

  it("a revoked client certificate (--crl) is refused with a log line naming it", async () => {
    const { sim, net, serverHost, nat } = world(12);
    const crl = pki.crl("ca", ["mallory"]);
    const server = simServer(sim, serverHost, {
      wallClock,
      certificates: { ...certs("server"), crl },
    });
    const bad = simClient(sim, net.host("192.0.2.3", nat.inside), SERVER, {
      wallClock,
      certificates: certs("mallory"),
    });
    assert.equal(await upOrFailed(sim, bad), false);
    const line = logText(server.logs);
    assert.match(
      line,
      /"O=Oakley Test, CN=mallory" \(serial [0-9a-f]+\) is revoked by the CRL of "O=Oakley Test, CN=Oakley Test CA"/,
    );
    assert.equal(server.stack.l2tp.channels.size, 0);
    // alice, not on the CRL, still connects to the same server.
    const good = simClient(sim, net.host("192.0.2.4", nat.inside), SERVER, {
      wallClock,
      certificates: certs("alice"),
    });
    assert.ok(await runUntilAsync(sim, () => good.up(), 60_000), "alice up");
    bad.stop();
    good.stop();
    server.dispose();
  });

  it("an expired client certificate is refused with a log line saying when it expired", async () => {
    const { sim, net, serverHost, nat } = world(13);
    const server = simServer(sim, serverHost, {
      wallClock,
      certificates: certs("server"),
    });
    const c = simClient(sim, net.host("192.0.2.5", nat.inside), SERVER, {
      wallClock,
      certificates: certs("expired"),
    });
    assert.equal(await upOrFailed(sim, c), false);
    assert.match(
      logText(server.logs),
      /peer certificate "[^"]*CN=expired[^"]*" expired 2021-01-01T00:00:00\.000Z.*OAK_E_CERT_EXPIRED/,
    );
    c.stop();
    server.dispose();
  });

  it("the client refuses a server whose certificate (same CA) is for another name", async () => {
    const { sim, net, serverHost, nat } = world(14);
    const server = simServer(sim, serverHost, {
      wallClock,
      certificates: certs("other-server"),
    });
    const c = simClient(sim, net.host("192.0.2.6", nat.inside), SERVER, {
      wallClock,
      certificates: certs("alice"),
      serverName: "vpn.example",
    });
    assert.equal(await upOrFailed(sim, c), false);
    assert.match(logText(c.logs), /does not name vpn\.example or 203\.0\.113\.5/);
    c.stop();
    server.dispose();
  });

  it("--auth both: PSK clients still connect; --auth certificate: they are refused", async () => {
    for (const [auth, pskUp] of [
      ["both", true],
      ["certificate", false],
    ] as const) {
      const { sim, net, serverHost, nat } = world(15);
      const server = simServer(sim, serverHost, {
        wallClock,
        certificates: { ...certs("server"), auth },
      });
      const psk = simClient(sim, net.host("192.0.2.7", nat.inside), SERVER);
      assert.equal(await upOrFailed(sim, psk), pskUp, `--auth ${auth}`);
      psk.stop();
      server.dispose();
    }
  });

  it("a client certificate from another CA is refused", async () => {
    leaf("stranger", "email:stranger@example.com", { issuer: "other-ca" });
    const { sim, net, serverHost, nat } = world(16);
    const server = simServer(sim, serverHost, {
      wallClock,
      certificates: certs("server"),
    });
    const c = simClient(sim, net.host("192.0.2.8", nat.inside), SERVER, {
      wallClock,
      certificates: { ...certs("stranger"), ca: CA },
    });
    assert.equal(await upOrFailed(sim, c), false);
    assert.match(logText(server.logs), /no configured CA issued "O=Oakley Test, CN=stranger"/);
    c.stop();
    server.dispose();
  });
});

function describeSuite(auth: string | undefined): string {
  return auth === "rsa-sig" ? "RSA signature" : auth === "ecdsa-256" ? "ECDSA-256 signature" : "";
}
