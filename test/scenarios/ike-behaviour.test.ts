/**
 * Scenario tests of the IKE engine's behaviour over time (simulator, fake clock): loss,
 * duplication and reordering; retransmission back-off and giving up; NAT rebinding mid-SA;
 * child SA rekeying without a gap; dead-peer detection (RFC 3706); two clients behind one NAT
 * with identical private addresses and identities, and INITIAL-CONTACT from one of them;
 * Windows-like and Apple-like clients (proposal lists and vendor IDs from
 * what those clients are documented to send); a wrong pre-shared key; deletes; key material in logs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressSelector, IkeErrorCode, type Phase1Offer } from "../../src/ike/index.js";
import { asSpi } from "../../src/wire/esp/esp.js";
import { vendorIdBytes } from "../../src/wire/isakmp/index.js";
import { type LinkProfile, SimNetwork, Simulator } from "../fakes/sim.js";
import { childPairMatches, PSK, SimIkePeer } from "./ike-sim.js";

const SERVER = "198.51.100.2";
const L2TP = (address: string, port = 1701) => addressSelector(address, 17, port);
const small: Phase1Offer[] = [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 19 }];

function natted(seed: number, profile?: LinkProfile, clientCfg = {}, serverCfg = {}) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim, profile);
  const nat = net.nat("198.51.100.1");
  const server = new SimIkePeer(
    sim,
    net.host(SERVER),
    { psks: [{ secret: PSK }], ...serverCfg },
    seed * 10 + 1,
  );
  const client = new SimIkePeer(
    sim,
    net.host("192.0.2.2", nat.inside),
    { psks: [{ secret: PSK }], phase1: { offers: small }, ...clientCfg },
    seed * 10 + 2,
  );
  return { sim, net, nat, server, client };
}

const up = (c: SimIkePeer, s: SimIkePeer) => c.installed.size > 0 && s.installed.size > 0;

function l2tp(client: SimIkePeer) {
  client.initiate({
    peer: { address: SERVER, port: 500 },
    phase2: { mode: "transport", local: L2TP("192.0.2.2"), remote: L2TP(SERVER) },
  });
}

describe("IKE engine behaviour (simulator)", () => {
  it("loss 20 %, duplication 20 %, reordering: MM+QM completes by retransmission, duplicates get cached answers", () => {
    let answered = 0n;
    for (const seed of [5, 6, 7, 8]) {
      const r = natted(seed, { latencyMs: 20, jitterMs: 60, loss: 0.2, duplicate: 0.2 });
      l2tp(r.client);
      assert.ok(
        r.sim.runUntilTrue(() => up(r.client, r.server), 120_000),
        `seed ${seed}`,
      );
      r.sim.runFor(5_000);
      const [c] = [...r.client.installed.values()];
      const [s] = [...r.server.installed.values()];
      assert.ok(c && s && childPairMatches(c, s), `seed ${seed}: one consistent child pair`);
      assert.equal(r.server.installed.size, 1, `seed ${seed}: duplicates did not create extra SAs`);
      assert.equal(r.server.engine.ikeSas().length, 1);
      answered += r.server.counters.get("ike_retransmit_answered");
    }
    assert.ok(answered > 0n, "some duplicated requests were answered from the cache");
  });

  it("retransmits MM1 after 1, 2, 4, 8, 16 s, then gives up with a timeout", () => {
    const r = natted(9);
    r.server.goOffline();
    l2tp(r.client);
    r.sim.runFor(120_000);
    const times = r.client.actions.filter((x) => x.a.kind === "send").map((x) => x.t);
    assert.deepEqual(times, [0, 1000, 3000, 7000, 15000, 31000]);
    const f = r.client.eventsOf("failed");
    assert.equal(f.length, 1);
    assert.equal(f[0]!.code, IkeErrorCode.Timeout);
    assert.equal(r.client.engine.ikeSas().length, 0);
    assert.equal(r.client.engine.nextDeadline(), undefined, "no timers left");
  });

  it("NAT rebinding mid-SA: a fresh DPD R-U-THERE from the new mapping moves the SA", () => {
    const r = natted(10, undefined, { dpd: { delaySeconds: 20 } }, { dpd: { delaySeconds: 0 } });
    l2tp(r.client);
    assert.ok(r.sim.runUntilTrue(() => up(r.client, r.server), 10_000));
    const before = [...r.server.installed.values()][0]!.encap!.peer;
    r.nat.rebind();
    r.sim.runFor(30_000); // the client's DPD R-U-THERE leaves through a new mapping
    const moved = r.server.eventsOf("peer-moved");
    assert.equal(moved.length, 1);
    assert.deepEqual(moved[0]!.from, before);
    assert.notEqual(moved[0]!.to.port, before.port);
    const upd = r.server.actions.flatMap((x) => (x.a.kind === "update-child-sa-peer" ? [x.a] : []));
    assert.equal(upd.length, 1);
    assert.deepEqual(upd[0]!.peer, moved[0]!.to);
    // the server reaches the client at its new mapping: a delete arrives
    const id = r.server.engine.ikeSas()[0]!.id;
    r.server.command(r.server.engine.deleteIkeSaCommand(id, r.sim.now()));
    r.sim.runFor(1_000);
    assert.equal(r.client.installed.size, 0, "client removed the child after the server's Delete");
    assert.equal(r.client.engine.ikeSas().length, 0);
  });

  it("rekey: the initiator replaces its child SA before expiry, new SA installed before the old is removed", () => {
    const r = natted(11, undefined, { phase2: { lifeSeconds: 60 } });
    l2tp(r.client);
    assert.ok(r.sim.runUntilTrue(() => up(r.client, r.server), 10_000));
    r.sim.runFor(200_000);
    for (const peer of [r.client, r.server]) {
      let live = 0;
      let minAfterFirst = Number.POSITIVE_INFINITY;
      for (const x of peer.actions) {
        if (x.a.kind === "install-child-sa") live++;
        if (x.a.kind === "remove-child-sa") {
          live--;
          minAfterFirst = Math.min(minAfterFirst, live);
        }
      }
      assert.ok(minAfterFirst >= 1, "never without an SA once the first was up");
      assert.equal(peer.installed.size, 1);
    }
    const rekeys = r.client.eventsOf("phase2-up").filter((e) => e.rekey);
    assert.ok(rekeys.length >= 3, `rekeys in 200 s with a 60 s lifetime: ${rekeys.length}`);
    const [c] = [...r.client.installed.values()];
    const [s] = [...r.server.installed.values()];
    assert.ok(c && s && childPairMatches(c, s));
    assert.equal(r.client.eventsOf("failed").length + r.server.eventsOf("failed").length, 0);
  });

  it("phase-1 rekey: a new Main Mode before the IKE SA expires; child SAs move to it and keep working", () => {
    const r = natted(19, undefined, { phase1: { offers: small, lifeSeconds: 120 } });
    l2tp(r.client);
    assert.ok(r.sim.runUntilTrue(() => up(r.client, r.server), 10_000));
    const child = [...r.server.installed.values()][0]!;
    r.sim.runFor(400_000);
    assert.ok(r.client.eventsOf("phase1-up").length >= 4, "a new IKE SA every ~108 s");
    for (const p of [r.client, r.server]) {
      assert.equal(p.engine.ikeSas().length, 1, "old IKE SAs deleted");
      assert.equal(p.installed.size, 1, "the child SA survived every phase-1 rekey");
      assert.equal(
        p.engine.childSas()[0]!.ikeSaId,
        p.engine.ikeSas()[0]!.id,
        "and belongs to the new IKE SA",
      );
    }
    assert.ok(r.server.installed.has(child.childId));
    assert.equal(r.client.eventsOf("failed").length + r.server.eventsOf("failed").length, 0);
    // the moved child is still usable: a delete over the newest IKE SA reaches the server
    const cid = r.client.engine.childSas()[0]!.id;
    r.client.command(r.client.engine.deleteChildSaCommand(cid, r.sim.now()));
    r.sim.runFor(1_000);
    assert.equal(r.server.installed.size, 0);
  });

  it("DPD: a peer that stops answering R-U-THERE is declared dead and its SAs are removed", () => {
    const r = natted(
      12,
      undefined,
      {},
      { dpd: { delaySeconds: 10, retrySeconds: 2, maxRetries: 3 } },
    );
    l2tp(r.client);
    assert.ok(r.sim.runUntilTrue(() => up(r.client, r.server), 10_000));
    r.sim.runFor(15_000);
    assert.equal(r.server.eventsOf("failed").length, 0, "a live peer answers R-U-THERE");
    r.client.goOffline();
    r.sim.runFor(30_000);
    const f = r.server.eventsOf("failed");
    assert.equal(f.length, 1);
    assert.equal(f[0]!.stage, "dpd");
    assert.equal(f[0]!.code, IkeErrorCode.DeadPeer);
    assert.equal(r.server.installed.size, 0);
    assert.equal(r.server.engine.ikeSas().length, 0);
  });

  it("two clients behind one NAT with the same private address and ID are independent; INITIAL-CONTACT kills only its own", () => {
    const sim = new Simulator(13);
    const net = new SimNetwork(sim);
    const outer = net.nat("198.51.100.1");
    const natA = net.nat("10.1.0.1", outer.inside);
    const natB = net.nat("10.2.0.1", outer.inside);
    const server = new SimIkePeer(sim, net.host(SERVER), { psks: [{ secret: PSK }] }, 131);
    const cfg = { psks: [{ secret: PSK }], phase1: { offers: small } };
    const a = new SimIkePeer(sim, net.host("192.0.2.2", natA.inside), cfg, 132);
    const b = new SimIkePeer(sim, net.host("192.0.2.2", natB.inside), cfg, 133);
    l2tp(a);
    l2tp(b);
    assert.ok(
      sim.runUntilTrue(() => up(a, server) && up(b, a) && server.installed.size === 2, 10_000),
    );
    const sas = server.engine.ikeSas();
    assert.equal(sas.length, 2);
    assert.deepEqual(
      sas.map((s) => s.peerId),
      ["192.0.2.2", "192.0.2.2"],
    );
    assert.notEqual(sas[0]!.peer.port, sas[1]!.peer.port, "told apart by the NAT's ports");
    const spis = [...server.installed.values()].map((c) => c.inbound.spi);
    assert.equal(new Set(spis).size, 2);
    // A "reboots" and reconnects from the same inner endpoint (same outer mapping): its
    // INITIAL-CONTACT deletes its old SA, not B's.
    a.goOffline();
    natA.inside.hosts.delete("192.0.2.2");
    const a2 = new SimIkePeer(sim, net.host("192.0.2.2", natA.inside), cfg, 134);
    l2tp(a2);
    assert.ok(
      sim.runUntilTrue(
        () => up(a2, server) && server.installed.size >= 2 && server.eventsOf("deleted").length > 0,
        10_000,
      ),
    );
    sim.runFor(2_000);
    const after = server.engine.ikeSas();
    assert.equal(after.length, 2, "A's new SA and B's SA");
    const deleted = server.eventsOf("deleted").filter((e) => e.what === "ike");
    assert.equal(deleted.length, 1);
    assert.equal(deleted[0]!.reason, "INITIAL-CONTACT");
    assert.equal(server.installed.size, 2, "B's child SA survived, A's old one was removed");
    const bChild = [...b.installed.values()][0]!;
    assert.ok(
      [...server.installed.values()].some((s) => childPairMatches(bChild, s)),
      "B still paired",
    );
  });

  it("Windows-like client: ECP-384 first, MS VIDs and no DPD VID, private ID, transport UDP 1701 with NAT-OA, no PFS", () => {
    const ms = Buffer.concat([
      vendorIdBytes("MS_NT5_ISAKMPOAKLEY"),
      Buffer.from("00000009", "hex"),
    ]);
    const windowsVids = [
      ms,
      vendorIdBytes("RFC3947"),
      vendorIdBytes("NATT_DRAFT_02N"),
      vendorIdBytes("FRAGMENTATION"),
      vendorIdBytes("MS_NEGOTIATION_DISCOVERY_CAPABLE"),
      vendorIdBytes("MS_VID_INITIAL_CONTACT"),
      vendorIdBytes("MS_IKE_CGA_V1"),
    ];
    const windowsP1: Phase1Offer[] = [
      { encryption: "aes-cbc", keyBits: 256, hash: "sha1", group: 20 },
      { encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 19 },
      { encryption: "aes-cbc", keyBits: 256, hash: "sha1", group: 14 },
      { encryption: "3des-cbc", keyBits: 192, hash: "sha1", group: 14 },
      { encryption: "aes-cbc", keyBits: 256, hash: "sha1", group: 2 },
      { encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 2 },
      { encryption: "3des-cbc", keyBits: 192, hash: "sha1", group: 2 },
    ];
    const r = natted(
      14,
      undefined,
      {
        initiatorVendorIds: windowsVids,
        dpd: { delaySeconds: 0 }, // Windows does not do DPD
        phase1: { offers: windowsP1, lifeSeconds: 28800 },
        phase2: {
          offers: [
            { cipher: "aes-cbc", keyBits: 256, integrity: "hmac-sha1-96" },
            { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-sha1-96" },
            { cipher: "3des-cbc", keyBits: 192, integrity: "hmac-sha1-96" },
          ],
          pfsGroup: 0,
        },
      },
      { dpd: { delaySeconds: 10 } },
    );
    l2tp(r.client);
    assert.ok(r.sim.runUntilTrue(() => up(r.client, r.server), 10_000));
    const p1 = r.server.eventsOf("phase1-up")[0]!;
    assert.match(p1.suite, /AES-CBC-256\/SHA.*ECP-384/);
    assert.equal(p1.peerId, "192.0.2.2", "ID_IPV4_ADDR with the private address");
    assert.equal(p1.dpd, false);
    assert.ok(p1.peerVendorIds.includes("MS NT5 ISAKMPOAKLEY v9"));
    assert.equal(r.server.engine.ikeSas()[0]!.peerRekeys, true, "Windows rekeys itself");
    const s = [...r.server.installed.values()][0]!;
    assert.equal(s.espEncryption, "aes256-cbc");
    assert.equal(s.espIntegrity, "hmac-sha1-96");
    assert.equal(s.suite.pfsGroup, 0);
    assert.equal(s.encap?.natOa.remote, "192.0.2.2");
    assert.equal(s.selectors.remote.port, 1701);
    // No DPD VID from Windows: the server never probes it (only the client's keepalives flow).
    const sentBefore = r.server.sent().length;
    r.sim.runFor(300_000);
    assert.equal(r.server.sent().length, sentBefore, "no R-U-THERE towards Windows");
  });

  it("Apple-like client: 14 proposals, 3600 s, L2TP from an ephemeral source port", () => {
    const appleP1: Phase1Offer[] = [];
    for (const g of [14, 5, 2])
      for (const hsh of ["sha2-256", "sha1", "md5", "sha2-512"] as const)
        if (!(g !== 14 && hsh === "sha2-512"))
          appleP1.push({ encryption: "aes-cbc", keyBits: 256, hash: hsh, group: g });
    for (const hsh of ["sha1", "md5"] as const)
      appleP1.push({ encryption: "aes-cbc", keyBits: 128, hash: hsh, group: 2 });
    const r = natted(15, undefined, {
      phase1: { offers: appleP1, lifeSeconds: 3600 },
      phase2: {
        offers: [
          { cipher: "aes-cbc", keyBits: 256, integrity: "hmac-sha2-256-128" },
          { cipher: "aes-cbc", keyBits: 256, integrity: "hmac-sha1-96" },
          { cipher: "aes-cbc", keyBits: 256, integrity: "hmac-md5-96" },
          { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-sha1-96" },
          { cipher: "3des-cbc", keyBits: 192, integrity: "hmac-sha1-96" },
        ],
        lifeSeconds: 3600,
      },
    });
    r.client.initiate({
      peer: { address: SERVER, port: 500 },
      phase2: { mode: "transport", local: L2TP("192.0.2.2", 56322), remote: L2TP(SERVER) },
    });
    assert.ok(r.sim.runUntilTrue(() => up(r.client, r.server), 10_000));
    const p1 = r.server.eventsOf("phase1-up")[0]!;
    assert.match(p1.suite, /AES-CBC-256\/SHA2-256\/MODP-2048/);
    const s = [...r.server.installed.values()][0]!;
    assert.equal(s.selectors.remote.port, 56322, "ephemeral L2TP source port accepted");
    assert.equal(s.selectors.local.port, 1701);
    assert.equal(s.espIntegrity, "hmac-sha256-128");
    assert.equal(s.lifetimes.hardSeconds, 3600);
  });

  it("wrong pre-shared key fails cleanly on both sides", () => {
    const r = natted(16, undefined, { psks: [{ secret: "not-the-key" }] });
    l2tp(r.client);
    r.sim.runFor(60_000);
    const sf = r.server.eventsOf("failed");
    assert.equal(sf.length, 1);
    assert.equal(sf[0]!.code, IkeErrorCode.AuthenticationFailed);
    const cf = r.client.eventsOf("failed");
    assert.equal(cf.length, 1);
    assert.equal(cf[0]!.code, IkeErrorCode.PeerNotify);
    assert.match(cf[0]!.message, /AUTHENTICATION-FAILED/);
    for (const p of [r.client, r.server]) {
      assert.equal(p.engine.ikeSas().length, 0);
      assert.equal(p.installed.size, 0);
      assert.equal(p.engine.nextDeadline(), undefined);
    }
    assert.equal(
      r.server.counters.get(`ike_fail{reason="${IkeErrorCode.AuthenticationFailed}"}`),
      1n,
    );
  });

  it("the initiator's delete removes both IKE and child SAs on the responder", () => {
    const r = natted(17);
    l2tp(r.client);
    assert.ok(r.sim.runUntilTrue(() => up(r.client, r.server), 10_000));
    const id = r.client.engine.ikeSas()[0]!.id;
    r.client.command(r.client.engine.deleteIkeSaCommand(id, r.sim.now()));
    r.sim.runFor(1_000);
    assert.equal(r.server.installed.size, 0);
    assert.equal(r.server.engine.ikeSas().length, 0);
    assert.deepEqual(
      r.server.eventsOf("deleted").map((e) => `${e.what}:${e.reason}`),
      ["child:deleted by the peer", "ike:deleted by the peer"],
    );
  });

  it("ESP with an unknown SPI gets a protected INVALID-SPI notify (rate-limited)", () => {
    const r = natted(20);
    l2tp(r.client);
    assert.ok(r.sim.runUntilTrue(() => up(r.client, r.server), 10_000));
    const peer = r.server.engine.ikeSas()[0]!.peer;
    const n0 = r.server.sent().length;
    r.server.command(r.server.engine.espUnknownSpi(asSpi(0xdeadbeef), peer, r.sim.now()));
    r.server.command(r.server.engine.espUnknownSpi(asSpi(0xdeadbeef), peer, r.sim.now() + 1));
    assert.equal(r.server.sent().length, n0 + 1, "one notify, the second is rate-limited");
    r.sim.runFor(1_000);
    assert.ok(
      r.client.sink.lines.some((l) => l.includes("INVALID-SPI")),
      "the client verified and read the notify",
    );
    assert.equal(r.client.counters.get('ike_drop{reason="info_bad_hash"}'), 0n);
  });

  it("key material is logged only at the private level", () => {
    for (const level of ["debug", "private"] as const) {
      const sim = new Simulator(18);
      const net = new SimNetwork(sim);
      const server = new SimIkePeer(sim, net.host(SERVER), { psks: [{ secret: PSK }] }, 181, level);
      const client = new SimIkePeer(
        sim,
        net.host("203.0.113.9"),
        { psks: [{ secret: PSK }], phase1: { offers: small } },
        182,
        level,
      );
      client.initiate({ peer: { address: SERVER, port: 500 }, phase2: { mode: "tunnel" } });
      assert.ok(sim.runUntilTrue(() => up(client, server), 10_000));
      const logs = [...server.sink.lines, ...client.sink.lines].join("\n");
      const keys = [...server.installed.values()].flatMap((c) => [
        c.inbound.keys.encryption.toString("hex"),
        c.outbound.keys.encryption.toString("hex"),
        c.inbound.keys.integrity.toString("hex"),
      ]);
      assert.ok(logs.length > 1000, "there are debug logs");
      assert.ok(!logs.includes(PSK), "the PSK is never logged");
      const shown = keys.filter((k) => logs.includes(k));
      if (level === "debug") assert.deepEqual(shown, [], "no key at debug level");
      else assert.equal(shown.length, keys.length, "keys visible at the private level");
    }
  });
});
