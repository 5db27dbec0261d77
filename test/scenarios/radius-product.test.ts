/**
 * `oakley serve --radius` as a whole product in one process: Oakley's client stack behind a
 * NAT, the server stack with the real RADIUS service (client engine, durable accounting queue,
 * dynamic-authorization listener) on simulated UDP, and a RADIUS server (test/fakes/
 * radius-server.ts) that checks PAP, CHAP-MD5 and MS-CHAPv2 with the RFC algorithms.
 *
 * Oracles: the client's own verdicts (its MS-CHAPv2 check of the server's S= decides whether
 * the relay is right), the address and DNS the client got, what the RADIUS server received
 * (Access- and Accounting-Requests), and the server's tables afterwards.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AcctStatusType, MsAttr, RadiusAttr, VENDOR_MICROSOFT } from "../../src/registry/radius.js";
import { addressBytes, attr, attrU32, vendorAttr } from "../../src/wire/radius/packet.js";
import { FakeRadiusServer } from "../fakes/radius-server.js";
import {
  ipv4,
  type SimRadiusOptions,
  runUntilAsync,
  simClient,
  simServerWithRadius,
} from "../fakes/product.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";

const SERVER = "203.0.113.5";
const RADIUS = "203.0.113.10";
const SECRET = Buffer.from("radius-shared-secret");
const USER = { name: "carol", password: "radius password 1" };

const ip = (s: string) => addressBytes(s) ?? new Uint8Array(4);

async function world(
  opts: Partial<SimRadiusOptions> = {},
  reply: Parameters<FakeRadiusServer["users"]["set"]>[1]["reply"] = [],
  serverSecret: Uint8Array = SECRET,
) {
  const sim = new Simulator(3);
  const net = new SimNetwork(sim);
  const rad = new FakeRadiusServer(net.host(RADIUS), serverSecret);
  rad.users.set(USER.name, { password: USER.password, reply });
  const server = await simServerWithRadius(sim, net.host(SERVER), {
    // The store knows nobody: every login must go through RADIUS.
    users: [{ name: "local-only", password: "not used here at all" }],
    radius: { server: RADIUS, secret: SECRET, dae: true, timeoutMs: 1000, retries: 1, ...opts },
  });
  const nat = net.nat("198.51.100.1");
  const clientHost = net.host("192.0.2.2", nat.inside);
  return { sim, net, rad, server, clientHost };
}

describe("oakley serve --radius (simulator)", () => {
  for (const method of ["pap", "chap-md5", "mschapv2"] as const) {
    it(`${method}: the login is checked by RADIUS; accounting Start carries the address`, async () => {
      const w = await world();
      const client = simClient(w.sim, w.clientHost, SERVER, {
        user: USER,
        authMethods: [method],
      });
      assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000), "client up");
      assert.equal(w.rad.accessRequests.length, 1, "one Access-Request");
      const ok = client.events.find((e) => e.type === "auth-ok");
      assert.equal(ok?.type === "auth-ok" && ok.method, method);
      assert.ok(
        await runUntilAsync(w.sim, () => w.rad.records(AcctStatusType.Start).length === 1, 10_000),
      );
      const start = w.rad.records(AcctStatusType.Start)[0]!;
      assert.equal(start.user, USER.name);
      assert.equal(
        FakeRadiusServer.addressOf(start.attrs, RadiusAttr.FramedIpAddress),
        client.address(),
      );
      client.stop();
      w.server.dispose();
    });
  }

  it("mschapv2: a RADIUS server that does not know the password cannot pass the client's check", async () => {
    const w = await world();
    w.rad.users.set(USER.name, { password: "another password" });
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(
      await runUntilAsync(w.sim, () => client.events.some((e) => e.type === "auth-failed"), 60_000),
    );
    assert.equal(client.up(), false);
    client.stop();
    w.server.dispose();
  });

  it("Framed-IP-Address, MS DNS servers and Class: the client gets them; Class is echoed in accounting", async () => {
    const w = await world({}, [
      attr(RadiusAttr.FramedIpAddress, ip("10.8.0.77")),
      vendorAttr(VENDOR_MICROSOFT, MsAttr.PrimaryDnsServer, ip("192.0.2.53")),
      vendorAttr(VENDOR_MICROSOFT, MsAttr.SecondaryDnsServer, ip("192.0.2.54")),
      attr(RadiusAttr.Class, "gold-plan"),
    ]);
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    assert.equal(client.address(), "10.8.0.77");
    const up = client.events.findLast((e) => e.type === "ip-up");
    assert.deepEqual(up?.type === "ip-up" && up.session.dns, ["192.0.2.53", "192.0.2.54"]);
    assert.ok(
      await runUntilAsync(w.sim, () => w.rad.records(AcctStatusType.Start).length === 1, 10_000),
    );
    assert.deepEqual(FakeRadiusServer.classes(w.rad.records(AcctStatusType.Start)[0]!.attrs), [
      "gold-plan",
    ]);
    client.stop();
    w.server.dispose();
  });

  it("Session-Timeout ends the session; Stop says Session-Timeout with time, traffic and Class", async () => {
    const w = await world({}, [
      attrU32(RadiusAttr.SessionTimeout, 120),
      attr(RadiusAttr.Class, "c1"),
    ]);
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    const upAt = w.sim.now();
    assert.ok(
      await runUntilAsync(w.sim, () => w.rad.records(AcctStatusType.Stop).length === 1, 200_000),
      "Stop sent",
    );
    assert.ok(w.sim.now() - upAt >= 119_000, `ended after ${w.sim.now() - upAt} ms`);
    assert.equal(client.up(), false);
    const stop = w.rad.records(AcctStatusType.Stop)[0]!.attrs;
    assert.equal(FakeRadiusServer.u32Of(stop, RadiusAttr.AcctTerminateCause), 5);
    const time = FakeRadiusServer.u32Of(stop, RadiusAttr.AcctSessionTime) ?? 0;
    assert.ok(time >= 119 && time <= 125, `Acct-Session-Time ${time}`);
    assert.ok((FakeRadiusServer.u32Of(stop, RadiusAttr.AcctInputPackets) ?? -1) >= 0);
    assert.deepEqual(FakeRadiusServer.classes(stop), ["c1"]);
    assert.equal(w.server.stack.l2tp.poolInUse(), 0, "address given back");
    client.stop();
    w.server.dispose();
  });

  it("Session-Timeout 0 is no limit, not an immediate hang-up", async () => {
    const w = await world({}, [attrU32(RadiusAttr.SessionTimeout, 0)]);
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    await runUntilAsync(w.sim, () => false, 120_000, 5_000);
    assert.ok(client.up(), "still up after 120 s");
    client.stop();
    w.server.dispose();
  });

  it("Acct-Interim-Interval: Interim-Updates at that interval with the traffic so far", async () => {
    const w = await world({}, [attrU32(RadiusAttr.AcctInterimInterval, 60)]);
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    const addr = client.address()!;
    for (let i = 0; i < 3; i++) client.tun.inject(ipv4(addr, w.server.address, `hello ${i}`));
    assert.ok(
      await runUntilAsync(
        w.sim,
        () => w.rad.records(AcctStatusType.InterimUpdate).length >= 2,
        200_000,
      ),
    );
    const [first, second] = w.rad.records(AcctStatusType.InterimUpdate);
    const t1 = FakeRadiusServer.u32Of(first!.attrs, RadiusAttr.AcctSessionTime) ?? 0;
    const t2 = FakeRadiusServer.u32Of(second!.attrs, RadiusAttr.AcctSessionTime) ?? 0;
    assert.ok(t1 >= 59 && t1 <= 61 && t2 - t1 >= 59 && t2 - t1 <= 61, `${t1} s, ${t2} s`);
    const inPackets = FakeRadiusServer.u32Of(first!.attrs, RadiusAttr.AcctInputPackets) ?? 0;
    assert.ok(inPackets >= 3, `Acct-Input-Packets ${inPackets}`);
    assert.equal(first!.sessionId, w.rad.records(AcctStatusType.Start)[0]?.sessionId);
    client.stop();
    w.server.dispose();
  });

  it("Idle-Timeout ends a session with no traffic; Stop says Idle-Timeout", async () => {
    const w = await world({}, [attrU32(RadiusAttr.IdleTimeout, 60)]);
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    const upAt = w.sim.now();
    assert.ok(
      await runUntilAsync(w.sim, () => w.rad.records(AcctStatusType.Stop).length === 1, 300_000),
    );
    const took = w.sim.now() - upAt;
    assert.ok(took >= 60_000 && took <= 125_000, `ended ${took} ms after IP up`);
    const stop = w.rad.records(AcctStatusType.Stop)[0]!.attrs;
    assert.equal(FakeRadiusServer.u32Of(stop, RadiusAttr.AcctTerminateCause), 4);
    client.stop();
    w.server.dispose();
  });

  it("Disconnect-Request ends the PPP session, the L2TP session and the IPsec SAs", async () => {
    const w = await world();
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    w.rad.sendDae({ address: SERVER, port: 3799 }, "disconnect", [
      attr(RadiusAttr.UserName, USER.name),
    ]);
    assert.ok(await runUntilAsync(w.sim, () => w.rad.daeReplies.length === 1, 10_000));
    assert.equal(w.rad.daeReplies[0]?.code, 41, "Disconnect-ACK");
    assert.ok(await runUntilAsync(w.sim, () => !client.up(), 20_000), "client down");
    assert.ok(
      await runUntilAsync(w.sim, () => w.server.stack.node.engine.sas.size === 0, 20_000),
      "IKE SA deleted",
    );
    assert.equal(w.server.stack.node.childList().length, 0, "child SAs gone");
    assert.equal(w.server.stack.l2tp.list().length, 0);
    assert.ok(
      await runUntilAsync(w.sim, () => w.rad.records(AcctStatusType.Stop).length === 1, 10_000),
    );
    const stop = w.rad.records(AcctStatusType.Stop)[0]!.attrs;
    assert.equal(FakeRadiusServer.u32Of(stop, RadiusAttr.AcctTerminateCause), 6, "Admin-Reset");
    client.stop();
    w.server.dispose();
  });

  it("Disconnect-Request for nobody we carry is NAKed (Session-Context-Not-Found); a wrong secret is ignored", async () => {
    const w = await world();
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    w.rad.sendDae({ address: SERVER, port: 3799 }, "disconnect", [
      attr(RadiusAttr.UserName, "mallory"),
    ]);
    w.rad.sendDae(
      { address: SERVER, port: 3799 },
      "disconnect",
      [attr(RadiusAttr.UserName, USER.name)],
      Buffer.from("not the secret"),
    );
    w.sim.runFor(5000);
    await runUntilAsync(w.sim, () => false, 3000);
    assert.deepEqual(
      w.rad.daeReplies.map((r) => r.code),
      [42],
      "one NAK, nothing for the forged request",
    );
    assert.ok(client.up(), "the session stays");
    client.stop();
    w.server.dispose();
  });

  it("CoA with Session-Timeout changes the running session's limit", async () => {
    const w = await world();
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    const at = w.sim.now();
    w.rad.sendDae({ address: SERVER, port: 3799 }, "coa", [
      attr(RadiusAttr.UserName, USER.name),
      attrU32(RadiusAttr.SessionTimeout, 90),
    ]);
    assert.ok(await runUntilAsync(w.sim, () => w.rad.daeReplies.length === 1, 10_000));
    assert.equal(w.rad.daeReplies[0]?.code, 44, "CoA-ACK");
    assert.ok(await runUntilAsync(w.sim, () => !client.up(), 200_000));
    const took = w.sim.now() - at;
    assert.ok(took >= 85_000 && took < 100_000, `ended ${took} ms after the CoA`);
    client.stop();
    w.server.dispose();
  });

  it("RADIUS down: a clear PPP failure within the retry budget, and accounting is queued", async () => {
    const w = await world({ timeoutMs: 1000, retries: 1 });
    w.rad.mute = true;
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(
      await runUntilAsync(
        w.sim,
        () => w.server.events.some((e) => e.type === "auth-failed"),
        60_000,
      ),
    );
    const f = w.server.events.find((e) => e.type === "auth-failed");
    assert.match(f?.type === "auth-failed" ? f.message : "", /no answer from the RADIUS servers/);
    assert.equal(client.up(), false);
    assert.equal(
      w.server.radius.serverStatus()[0]?.state,
      "unreachable",
      "status shows the server down",
    );
    client.stop();
    w.server.dispose();
  });

  it("accounting survives an outage: Stop is queued while RADIUS is down and sent when it answers", async () => {
    const w = await world({}, [attrU32(RadiusAttr.SessionTimeout, 60)]);
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(await runUntilAsync(w.sim, () => client.up(), 60_000));
    assert.ok(
      await runUntilAsync(w.sim, () => w.rad.records(AcctStatusType.Start).length === 1, 10_000),
    );
    w.rad.mute = true;
    assert.ok(await runUntilAsync(w.sim, () => !client.up(), 100_000));
    await runUntilAsync(w.sim, () => false, 5000);
    assert.equal(w.server.radius.queued(), 1, "Stop waits in the queue");
    assert.equal(w.rad.records(AcctStatusType.Stop).length, 0);
    w.rad.mute = false;
    assert.ok(
      await runUntilAsync(w.sim, () => w.rad.records(AcctStatusType.Stop).length === 1, 120_000),
    );
    assert.equal(w.server.radius.queued(), 0);
    client.stop();
    w.server.dispose();
  });

  it("a wrong shared secret: replies fail verification, the login fails, status says so", async () => {
    const w = await world({}, [], Buffer.from("the server's other secret"));
    // The fake server answers requests whatever their Message-Authenticator, signed with its
    // own secret (as a misconfigured server would).
    w.rad.checkRequests = false;
    const client = simClient(w.sim, w.clientHost, SERVER, { user: USER });
    assert.ok(
      await runUntilAsync(
        w.sim,
        () => w.server.events.some((e) => e.type === "auth-failed"),
        60_000,
      ),
    );
    const f = w.server.events.find((e) => e.type === "auth-failed");
    assert.match(f?.type === "auth-failed" ? f.message : "", /secret/i);
    assert.equal(w.server.radius.serverStatus()[0]?.state, "bad-replies");
    assert.equal(client.up(), false);
    client.stop();
    w.server.dispose();
  });
});
