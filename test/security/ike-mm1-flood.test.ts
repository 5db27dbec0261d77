/**
 * Threat model: floods of spoofed Main Mode first messages (MM1). An attacker who cannot see
 * our answers sends MM1s from forged source addresses — from one prefix or from everywhere —
 * to fill the responder's half-open SA table and lock every real client out, and makes each
 * half-open SA as big as possible (64 KiB MM1s). Real clients must still get in: a flood from
 * one prefix is held to that prefix's budget; against a flood from every prefix, a half-open
 * SA that never saw MM3 (which needs our MM2, so a spoofer cannot send it) is evicted
 * oldest-first when the table is full, and above half the cap half-open SAs expire within
 * seconds. Each half-open SA keeps a digest of MM1 and the SA payload body (bounded), not the
 * message. Warnings come as one summary line per interval, not one per packet.
 * Runs on the simulator with its fake clock (test/fakes/sim.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressSelector, IkeEngine, ikeConfig, type Phase1Offer } from "../../src/ike/index.js";
import type { IkeSa } from "../../src/ike/ike-sa.js";
import {
  type Payload,
  PayloadType,
  parseIsakmpMessage,
  serializeIsakmpMessage,
} from "../../src/wire/isakmp/index.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { rng } from "../helpers/fuzz.js";
import { PSK, SimIkePeer, seededRandom } from "../scenarios/ike-sim.js";

const SERVER = "198.51.100.2";
const CLIENT_NAT = "198.51.100.1";
const small: Phase1Offer[] = [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 19 }];

/** A real MM1 (our initiator's default offers: 48 transforms, the usual VIDs). */
function mm1Template(): Buffer {
  const e = new IkeEngine(ikeConfig({ localAddress: "192.0.2.99", psks: [{ secret: PSK }] }), {
    random: seededRandom(99),
  });
  const send = e
    .initiate({ peer: { address: SERVER, port: 500 } }, 0)
    .find((a) => a.kind === "send");
  assert.ok(send?.kind === "send");
  return send.data;
}

function setup(seed: number) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim);
  const nat = net.nat(CLIENT_NAT);
  const server = new SimIkePeer(sim, net.host(SERVER), { psks: [{ secret: PSK }] }, seed * 10 + 1);
  const client = new SimIkePeer(
    sim,
    net.host("192.0.2.2", nat.inside),
    { psks: [{ secret: PSK }], phase1: { offers: small } },
    seed * 10 + 2,
  );
  const template = mm1Template();
  const next = rng(seed);
  let sent = 0;
  /**
   * One spoofed MM1 (fresh initiator cookie) from `address`:`port`, straight to the server.
   * Its answers would go to a forged address, so they are dropped here instead of routed.
   */
  const spoof = (address: string, port: number, data = template): void => {
    const m = Buffer.from(data);
    m.writeUInt32BE(next(), 0);
    m.writeUInt32BE(next(), 4);
    sent++;
    server.engine.handleDatagram(
      { data: m, local: { address: SERVER, port: 500 }, remote: { address, port } },
      sim.now(),
    );
  };
  /**
   * `perSecond` spoofed MM1s from `source()` until `until` (ms), in 1 ms batches; the server's
   * timers run every 50 ms meanwhile (its real traffic arms them exactly, as usual).
   */
  const flood = (perSecond: number, until: number, source: () => [string, number]): void => {
    let owed = 0;
    const tick = (): void => {
      owed += perSecond / 1000;
      for (; owed >= 1; owed--) spoof(...source());
      if (sim.now() % 50 === 0) server.perform(server.engine.handleTimer(sim.now()));
      if (sim.now() < until) sim.after(1, tick);
    };
    tick();
  };
  const connect = (): void =>
    client.initiate({
      peer: { address: SERVER, port: 500 },
      phase2: {
        mode: "transport",
        local: addressSelector("192.0.2.2", 17, 1701),
        remote: addressSelector(SERVER, 17, 1701),
      },
    });
  const up = () => client.installed.size > 0 && server.installed.size > 0;
  return { sim, server, client, spoof, flood, connect, up, next, sentCount: () => sent, template };
}

const octet = (n: number) => ((n >>> 0) % 254) + 1;

/** Buffers and strings an IKE SA record keeps (an oracle independent of the implementation). */
function storedBytes(sa: IkeSa): number {
  let n = 0;
  const walk = (o: object): void => {
    for (const v of Object.values(o)) {
      if (Buffer.isBuffer(v)) n += v.length;
      else if (typeof v === "string") n += v.length;
      else if (Array.isArray(v)) for (const x of v) n += typeof x === "string" ? x.length : 0;
    }
  };
  walk(sa);
  walk(sa.vids);
  return n;
}

describe("security: spoofed MM1 floods do not lock real clients out", () => {
  it("a flood of spoofed MM1s from one /24 does not stop a client from another prefix", () => {
    const s = setup(1);
    s.flood(3_000, 6_000, () => [`203.0.113.${octet(s.next())}`, 1024 + (s.next() % 60000)]);
    s.sim.runFor(2_000);
    s.connect();
    assert.ok(
      s.sim.runUntilTrue(s.up, 6_000),
      `client connected during the flood (half-open ${s.server.engine.table.halfOpenCount})`,
    );
    assert.ok(s.sim.now() < 6_000, "while the flood was still on");
    assert.ok(
      s.server.engine.table.halfOpenCount <= 600,
      `one prefix holds only its share: ${s.server.engine.table.halfOpenCount}`,
    );
  });

  it("a flood from random sources (every prefix) while a real client connects: the real client connects", () => {
    const s = setup(2);
    const source = (): [string, number] => {
      const a = s.next();
      return [
        `${octet(a >>> 24)}.${octet(a >>> 16)}.${octet(a >>> 8)}.${octet(a)}`,
        1024 + (s.next() % 60000),
      ];
    };
    s.flood(3_000, 12_000, source);
    s.sim.runFor(3_000);
    assert.ok(s.server.engine.table.halfOpenCount >= 2048, "the table is under pressure");
    s.connect();
    assert.ok(
      s.sim.runUntilTrue(s.up, 8_000),
      `client connected during the flood (half-open ${s.server.engine.table.halfOpenCount})`,
    );
    assert.ok(s.sim.now() < 12_000, "while the flood was still on");
    assert.ok(s.sentCount() > 9_000, `spoofed MM1s so far: ${s.sentCount()}`);
  });

  it("above half the cap, half-open SAs expire within seconds instead of a minute", () => {
    const s = setup(3);
    for (let i = 0; i < 3_000; i++) s.spoof(`10.${i >> 8}.${i & 255}.1`, 500);
    assert.equal(s.server.engine.table.halfOpenCount, 3_000);
    s.server.perform(s.server.engine.handleTimer(s.sim.now()));
    s.sim.runFor(10_000);
    assert.equal(s.server.engine.table.halfOpenCount, 0, "all expired after 10 s");
  });

  it("memory per half-open SA is bounded: a 60 KiB MM1 leaves a digest and the SA payload body", () => {
    const s = setup(4);
    const p = parseIsakmpMessage(s.template);
    assert.ok(p.ok && !p.value.encrypted);
    const junk: Payload[] = Array.from({ length: 10 }, (_, i) => ({
      type: PayloadType.VID,
      reserved: 0,
      data: Buffer.alloc(6000, i),
    }));
    const big = serializeIsakmpMessage(p.value.header, [...p.value.payloads, ...junk]);
    assert.ok(big.length > 60_000);
    s.spoof("203.0.113.7", 500, big);
    s.spoof("203.0.113.8", 500);
    const [bigSa, normal] = [...s.server.engine.sas.values()];
    assert.ok(bigSa && normal, "both MM1s got a half-open SA");
    const saBody = bigSa.saiB?.length ?? 0;
    assert.ok(saBody > 0 && saBody < 4096, `SA payload body kept: ${saBody}`);
    const stored = storedBytes(bigSa);
    assert.ok(stored <= saBody + 1536, `stored bytes for a 60 KiB MM1: ${stored}`);
    assert.ok(
      stored <= storedBytes(normal) + 1024,
      `not much more than for a normal MM1: ${stored} vs ${storedBytes(normal)}`,
    );
  });

  it("an MM1 whose SA payload is over the bound is refused without keeping state", () => {
    const s = setup(5);
    const p = parseIsakmpMessage(s.template);
    assert.ok(p.ok && !p.value.encrypted);
    const payloads = p.value.payloads.map((x): Payload => {
      if (x.type !== PayloadType.SA) return x;
      const prop = x.proposals[0]!;
      const t = prop.transforms[0]!;
      const transforms = Array.from({ length: 120 }, (_, i) => ({ ...t, number: i + 1 }));
      const proposals = [1, 2, 3].map((number) => ({ ...prop, number, transforms }));
      return { ...x, proposals };
    });
    const big = serializeIsakmpMessage(p.value.header, payloads);
    assert.ok(big.length > 10_000);
    s.spoof("203.0.113.7", 500, big);
    assert.equal(s.server.engine.sas.size, 0, "no half-open SA");
    assert.equal(s.server.counters.get('ike_drop{reason="mm1_sa_too_big"}'), 1n);
  });

  it("warnings are rate-limited: one summary line per interval with counts", () => {
    const s = setup(6);
    s.flood(500, 25_000, () => [`203.0.113.${octet(s.next())}`, 1024 + (s.next() % 60000)]);
    s.sim.runFor(26_000);
    const warns = s.server.sink.records().filter((r) => r.level === "warn");
    assert.ok(warns.length >= 1 && warns.length <= 4, `warning lines in 25 s: ${warns.length}`);
    const summary = warns.find((r) => /half-open/.test(String(r.msg)));
    assert.ok(summary, "a summary line");
    assert.ok(Number(summary.refused ?? 0) + Number(summary.evicted ?? 0) > 0, "with counts");
  });
});
