/**
 * Data plane behaviour: outbound then inbound returns the same inner packet for every suite,
 * both modes, IPv4 and IPv6, both backends (fast-check); every inbound failure is a counted,
 * logged value (unknown SPI, truncated, wrong ICV, bad padding, replayed, outside window,
 * policy mismatch); lifetimes (bytes/packets/seconds, soft then hard); sequence overflow;
 * SPD protect/bypass/discard; RFC 3948 §3.1.2 transport checksum fix; fuzzed inbound().
 */
import assert from "node:assert/strict";
import { randomBytes, randomFillSync } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import {
  ALL_ENCRYPTIONS,
  ALL_INTEGRITIES,
  availableBackends,
  type EspBackendName,
  type EspSuite,
  createEspTransform,
  ENCRYPTION,
  keyLengths,
} from "../crypto/esp/index.js";
import { Counters } from "../obs/counters.js";
import { LogHub, MemorySink } from "../obs/log.js";
import { IpProtocol } from "../registry/ip.js";
import { parseIpAddress } from "../wire/ip/address.js";
import { fillIpv4HeaderChecksum } from "../wire/ip/ipv4.js";
import { fillTcpChecksum, verifyTcpChecksum } from "../wire/ip/tcp.js";
import { fillUdpChecksum, verifyUdpChecksum } from "../wire/ip/udp.js";
import { asInboundSpi, asOutboundSpi } from "../wire/esp/esp.js";
import { EspDataPlane, type EspEvent, type SaSettings } from "./index.js";
import { compileSelector, type Selector } from "./spd.js";

const random = (b: Uint8Array): void => {
  randomFillSync(b);
};

export const ALL_SUITES: EspSuite[] = [
  ...ALL_ENCRYPTIONS.filter((e) => ENCRYPTION[e].kind === "aead").map((encryption) => ({
    encryption,
    integrity: "none" as const,
  })),
  ...ALL_ENCRYPTIONS.filter((e) => ENCRYPTION[e].kind !== "aead").flatMap((encryption) =>
    ALL_INTEGRITIES.map((integrity) => ({ encryption, integrity })),
  ),
];

function keysFor(suite: EspSuite): { encryption: Uint8Array; integrity: Uint8Array } {
  const l = keyLengths(suite);
  return { encryption: randomBytes(l.encryption), integrity: randomBytes(l.integrity) };
}

/** An IPv4 or IPv6 UDP packet with a correct checksum. */
export function udpPacket(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Buffer {
  const s = parseIpAddress(src)!;
  const d = parseIpAddress(dst)!;
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(udp.length, 4);
  udp.set(payload, 8);
  fillUdpChecksum(s, d, udp);
  if (s.length === 4) {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + udp.length, 2);
    h[8] = 64;
    h[9] = IpProtocol.UDP;
    h.set(s, 12);
    h.set(d, 16);
    fillIpv4HeaderChecksum(h);
    return Buffer.concat([h, udp]);
  }
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(udp.length, 4);
  h[6] = IpProtocol.UDP;
  h[7] = 64;
  h.set(s, 8);
  h.set(d, 24);
  return Buffer.concat([h, udp]);
}

function tcpPacket(src: string, dst: string, payload: Uint8Array): Buffer {
  const s = parseIpAddress(src)!;
  const d = parseIpAddress(dst)!;
  const tcp = Buffer.alloc(20 + payload.length);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(80, 2);
  tcp.writeUInt32BE(12345, 4);
  tcp[12] = 0x50;
  tcp[13] = 0x18;
  tcp.writeUInt16BE(65535, 14);
  tcp.set(payload, 20);
  fillTcpChecksum(s, d, tcp);
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + tcp.length, 2);
  h[8] = 64;
  h[9] = IpProtocol.TCP;
  h.set(s, 12);
  h.set(d, 16);
  fillIpv4HeaderChecksum(h);
  return Buffer.concat([h, tcp]);
}

interface Pair {
  tx: EspDataPlane;
  rx: EspDataPlane;
  out: number;
  inb: number;
  rxCounters: Counters;
  sink: MemorySink;
  events: EspEvent[];
}

function pair(
  base: Partial<SaSettings> & { suite: EspSuite; spi?: number },
  family: 4 | 6 = 4,
  backend?: EspBackendName,
): Pair {
  const [a, b] = family === 4 ? ["198.51.100.1", "203.0.113.2"] : ["2001:db8::1", "2001:db8:1::2"];
  const keys = base.keys ?? keysFor(base.suite);
  const events: EspEvent[] = [];
  const sink = new MemorySink();
  const hub = new LogHub(sink, "debug");
  const rxCounters = new Counters();
  const tx = new EspDataPlane({
    counters: new Counters(),
    logger: hub.logger("esp"),
    random,
    onEvent: (e) => events.push(e),
  });
  const rx = new EspDataPlane({
    counters: rxCounters,
    logger: hub.logger("esp"),
    random,
    onEvent: (e) => events.push(e),
  });
  const { spi = 0x1000, ...settings } = base;
  const spec = {
    mode: "tunnel" as const,
    ...settings,
    keys,
    ...(backend === undefined ? {} : { backend }),
  };
  // One SA seen from both ends: the sender's outbound SPI is the receiver's inbound SPI.
  const o = tx.installSa(
    { ...spec, spi: asOutboundSpi(spi), direction: "out", local: a!, remote: b! },
    0,
  );
  const i = rx.installSa(
    { ...spec, spi: asInboundSpi(spi), direction: "in", local: b!, remote: a! },
    0,
  );
  assert.ok(o.ok && i.ok, JSON.stringify([o, i]));
  return { tx, rx, out: o.sa, inb: i.sa, rxCounters, sink, events };
}

function send(p: Pair, packet: Uint8Array, now = 1): Uint8Array {
  const r = p.tx.protect(p.out, packet, now);
  assert.ok(r.ok && r.action === "send", JSON.stringify(r));
  return Buffer.from(r.data);
}

describe("outbound then inbound returns the same inner packet", () => {
  for (const backend of availableBackends()) {
    for (const suite of ALL_SUITES) {
      it(`${suite.encryption}/${suite.integrity} (${backend})`, () => {
        for (const mode of ["tunnel", "transport"] as const) {
          for (const family of [4, 6] as const) {
            const p = pair({ suite, mode, esn: family === 6 }, family, backend);
            const [inner, outer] =
              family === 4 ? ["10.1.0.5", "10.2.0.7"] : ["fd00::5", "fd00:1::7"];
            const [txAddr, rxAddr] =
              mode === "tunnel"
                ? [inner!, outer!]
                : family === 4
                  ? ["198.51.100.1", "203.0.113.2"]
                  : ["2001:db8::1", "2001:db8:1::2"];
            fc.assert(
              fc.property(fc.uint8Array({ maxLength: 1400 }), (payload) => {
                const pkt = udpPacket(txAddr, rxAddr, 1701, 1701, payload);
                const esp = send(p, pkt);
                const r = p.rx.inbound(esp, { address: "x" }, 2);
                assert.ok(r.ok, r.ok ? "" : r.reason);
                if (mode === "tunnel") assert.deepEqual(Buffer.from(r.packet), pkt);
                else {
                  // Transport mode rebuilds the header; the UDP segment is unchanged.
                  const hl = family === 4 ? 20 : 40;
                  assert.deepEqual(Buffer.from(r.packet.subarray(hl)), pkt.subarray(hl));
                  assert.equal(r.nextHeader, IpProtocol.UDP);
                }
              }),
              { numRuns: 8 },
            );
          }
        }
      });
    }
  }
});

describe("inbound failures are counted values", () => {
  const suite: EspSuite = { encryption: "aes128-cbc", integrity: "hmac-sha1-96" };
  const pkt = udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.from("hello"));

  it("unknown SPI, truncated, wrong ICV, replayed, outside window", () => {
    const p = pair({ suite, replayWindow: 32 });
    const esp = send(p, pkt);
    assert.deepEqual(p.rx.inbound(esp.subarray(0, 5), { address: "a" }, 2), {
      ok: false,
      reason: "truncated",
    });
    const other = Buffer.from(esp);
    other.writeUInt32BE(0xdead, 0);
    assert.deepEqual(p.rx.inbound(other, { address: "a" }, 2), {
      ok: false,
      reason: "unknown_spi",
      spi: 0xdead,
    });
    assert.deepEqual(p.rx.inbound(esp.subarray(0, 30), { address: "a" }, 2), {
      ok: false,
      reason: "truncated",
      spi: 0x1000,
    });
    const bad = Buffer.from(esp);
    bad[bad.length - 1]! ^= 0x80;
    assert.deepEqual(p.rx.inbound(bad, { address: "a" }, 2), {
      ok: false,
      reason: "bad_icv",
      spi: 0x1000,
    });
    assert.ok(p.rx.inbound(esp, { address: "a" }, 2).ok, "the ICV failure did not move the window");
    assert.deepEqual(p.rx.inbound(esp, { address: "a" }, 2), {
      ok: false,
      reason: "replayed",
      spi: 0x1000,
    });
    for (let k = 0; k < 40; k++) send(p, pkt);
    const late = send(p, pkt);
    for (let k = 0; k < 40; k++) assert.ok(p.rx.inbound(send(p, pkt), { address: "a" }, 2).ok);
    assert.deepEqual(p.rx.inbound(late, { address: "a" }, 2), {
      ok: false,
      reason: "outside_window",
      spi: 0x1000,
    });
    const c = p.rxCounters;
    for (const reason of ["truncated", "unknown_spi", "bad_icv", "replayed", "outside_window"]) {
      assert.ok(c.get(`esp_rx_drop{reason="${reason}"}`) >= 1n, reason);
    }
    assert.equal(c.get('esp_rx_drop{reason="truncated"}'), 2n);
    const logs = p.sink.records().filter((r) => r.msg === "esp inbound drop");
    assert.ok(logs.some((r) => r.reason === "bad_icv" && r.spi === "00001000" && r.peer === "a"));
  });

  it("bad padding is detected after a valid ICV (NULL encryption lets the test forge it)", () => {
    const p = pair({ suite: { encryption: "null", integrity: "hmac-sha256-128" } });
    const payload = udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.from("abc")); // 31 octets -> pad 3
    const esp = send(p, payload);
    // Re-seal with a broken padding octet using a second SA with the same keys.
    const keys = keysFor({ encryption: "null", integrity: "hmac-sha256-128" });
    const q = pair({
      suite: { encryption: "null", integrity: "hmac-sha256-128" },
      keys,
      spi: 0x2000,
    });
    const good = send(q, payload);
    assert.equal(good.length, esp.length);
    // Build the plaintext by hand: inner packet, padding 1,9,3 (wrong), pad length 3, next header 4.
    const inner = Buffer.concat([payload, Buffer.from([1, 9, 3, 3, 4])]);
    const t = createEspTransform(
      { suite: { encryption: "null", integrity: "hmac-sha256-128" }, keys, esn: false, random },
      "node",
    );
    const buf = Buffer.alloc(8 + inner.length + 16);
    buf.writeUInt32BE(0x2000, 0);
    buf.writeUInt32BE(7, 4);
    inner.copy(buf, 8);
    t.seal(buf, inner.length, 0, 7);
    assert.deepEqual(q.rx.inbound(buf, { address: "a" }, 2), {
      ok: false,
      reason: "bad_padding",
      spi: 0x2000,
    });
  });

  it("policy mismatch after decrypt", () => {
    const p = pair({ suite, selector: { remote: ["10.1.0.0/24"], protocol: IpProtocol.UDP } });
    assert.ok(p.rx.inbound(send(p, pkt), { address: "a" }, 2).ok);
    const other = udpPacket("10.9.0.5", "10.2.0.7", 1, 2, Buffer.from("x"));
    assert.deepEqual(p.rx.inbound(send(p, other), { address: "a" }, 2), {
      ok: false,
      reason: "policy_mismatch",
      spi: 0x1000,
    });
    assert.equal(p.rxCounters.get('esp_rx_drop{reason="policy_mismatch"}'), 1n);
  });

  it("fuzzed inbound() never throws", () => {
    const p = pair({
      suite: { encryption: "aes128-gcm16", integrity: "none" },
      replayWindow: 1024,
    });
    const q = pair({ suite, spi: 0x1000, replayWindow: 64 });
    const seeds = [
      send(p, pkt),
      send(p, pkt),
      send(p, udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.alloc(300))),
    ];
    fuzzParser(
      "EspDataPlane.inbound(gcm)",
      (b) => p.rx.inbound(b, { address: "a", port: 4500 }, 3),
      seeds,
      { iterations: 20000 },
    );
    fuzzParser(
      "EspDataPlane.inbound(cbc)",
      (b) => q.rx.inbound(b, { address: "a" }, 3),
      [send(q, pkt)],
      { iterations: 20000 },
    );
  });
});

describe("lifetimes and sequence numbers", () => {
  const suite: EspSuite = { encryption: "aes256-gcm16", integrity: "none" };
  const pkt = udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.alloc(100));

  it("packets: soft then hard, then the SA refuses traffic", () => {
    const p = pair({ suite, lifetimes: { soft: { packets: 3n }, hard: { packets: 5n } } });
    for (let k = 0; k < 5; k++) assert.ok(p.rx.inbound(send(p, pkt), { address: "a" }, 2).ok);
    const kinds = p.events.map((e) => `${e.kind}:${"reason" in e ? e.reason : ""}`);
    assert.deepEqual(kinds, [
      "soft-expire:packets",
      "soft-expire:packets",
      "hard-expire:packets",
      "hard-expire:packets",
    ]);
    assert.deepEqual(p.tx.protect(p.out, pkt, 3), { ok: false, reason: "sa_expired", spi: 0x1000 });
  });

  it("bytes: soft then hard", () => {
    const p = pair({ suite, lifetimes: { soft: { bytes: 250n }, hard: { bytes: 500n } } });
    const seen: string[] = [];
    for (let k = 0; k < 4; k++) {
      p.rx.inbound(send(p, pkt), { address: "a" }, 2);
      seen.push(p.events.map((e) => e.kind).join(","));
    }
    assert.equal(seen[0], "");
    assert.ok(seen[2]!.includes("soft-expire"));
    assert.ok(seen[3]!.includes("hard-expire"));
    // The packet that reaches the hard limit is the last one either side handles.
    assert.deepEqual(p.tx.protect(p.out, pkt, 3), { ok: false, reason: "sa_expired", spi: 0x1000 });
    assert.equal(p.rx.info(p.inb)?.expired, true);
  });

  it("seconds: tick() fires soft then hard on idle SAs", () => {
    const p = pair({ suite, lifetimes: { soft: { seconds: 10 }, hard: { seconds: 20 } } });
    p.rx.tick(9_999);
    assert.equal(p.events.length, 0);
    p.rx.tick(10_000);
    assert.deepEqual(
      p.events.map((e) => e.kind),
      ["soft-expire"],
    );
    p.rx.tick(20_000);
    assert.deepEqual(
      p.events.map((e) => e.kind),
      ["soft-expire", "hard-expire"],
    );
    assert.equal(p.rx.info(p.inb)?.expired, true);
  });

  it("sequence numbers: rekey warning, then refuses to wrap at 2^32-1", () => {
    const p = pair({ suite });
    const sa = (p.tx as unknown as { byId: Map<number, { seqLo: number }> }).byId.get(p.out)!;
    sa.seqLo = 0xffffffff - (1 << 20) - 2;
    send(p, pkt);
    assert.deepEqual(
      p.events.map((e) => e.kind),
      [],
    );
    send(p, pkt);
    assert.deepEqual(
      p.events.map((e) => e.kind),
      ["rekey-needed"],
    );
    sa.seqLo = 0xfffffffe;
    send(p, pkt); // uses 0xffffffff
    assert.deepEqual(p.tx.protect(p.out, pkt, 2), {
      ok: false,
      reason: "seq_overflow",
      spi: 0x1000,
    });
    assert.equal(p.events.at(-1)?.kind, "seq-overflow");
    p.tx.protect(p.out, pkt, 2);
    assert.equal(p.events.filter((e) => e.kind === "seq-overflow").length, 1, "reported once");
  });
});

describe("SPD and UDP encapsulation", () => {
  const suite: EspSuite = { encryption: "aes128-gcm16", integrity: "none" };

  it("protect / bypass / discard (default discard = fail-closed)", () => {
    const p = pair({ suite, encap: { peer: { address: "203.0.113.2", port: 4500 } } });
    const sel = (s: Parameters<typeof compileSelector>[0]): Selector =>
      compileSelector(s) as Selector;
    p.tx.spd.set([
      {
        name: "l2tp",
        selector: sel({ protocol: IpProtocol.UDP, localPort: 1701 }),
        action: { kind: "protect", sa: p.out },
      },
      {
        name: "dns",
        selector: sel({ protocol: IpProtocol.UDP, remotePort: 53 }),
        action: { kind: "bypass" },
      },
    ]);
    const l2tp = udpPacket("198.51.100.1", "203.0.113.2", 1701, 1701, Buffer.from("l2tp"));
    const r = p.tx.outbound(l2tp, 1);
    assert.ok(r.ok && r.action === "send");
    assert.equal(r.port, 4500);
    assert.equal(r.address, "203.0.113.2");
    const dns = p.tx.outbound(
      udpPacket("198.51.100.1", "192.0.2.53", 5000, 53, Buffer.from("q")),
      1,
    );
    assert.ok(dns.ok && dns.action === "bypass");
    assert.deepEqual(
      p.tx.outbound(udpPacket("198.51.100.1", "192.0.2.9", 5000, 80, Buffer.from("q")), 1),
      { ok: false, reason: "policy_discard" },
    );
    // updatePeer: the NAT mapping moved.
    p.tx.updatePeer(p.out, { address: "203.0.113.2", port: 61000 });
    const r2 = p.tx.outbound(l2tp, 1);
    assert.ok(r2.ok && r2.action === "send" && r2.port === 61000);
    const back = p.rx.inbound(r2.data, { address: "198.51.100.1", port: 4500 }, 2);
    assert.ok(back.ok);
  });

  it("peerChanged is reported for an authenticated packet from a new mapping", () => {
    const p = pair({ suite, encap: { peer: { address: "198.51.100.1", port: 4500 } } });
    const esp = send(p, udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.from("x")));
    const r = p.rx.inbound(esp, { address: "198.51.100.1", port: 1025 }, 2);
    assert.ok(r.ok && r.peerChanged);
  });

  // Threat: another client replays (or delays) a captured ESP packet of this peer from its own
  // NAT mapping to pull the SA towards itself. Only a packet that passed ICV and anti-replay
  // and is the newest seen may report a new endpoint.
  it("peerChanged is not reported for an out-of-order packet from another endpoint", () => {
    const p = pair({ suite, encap: { peer: { address: "198.51.100.1", port: 4500 } } });
    const older = send(p, udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.from("x")));
    const newer = send(p, udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.from("y")));
    assert.ok(p.rx.inbound(newer, { address: "198.51.100.1", port: 4500 }, 2).ok);
    const r = p.rx.inbound(older, { address: "198.51.100.9", port: 40000 }, 2);
    assert.ok(r.ok, "inside the window and not seen: delivered");
    assert.equal(r.peerChanged, false, "but an old sequence number moves nothing");
  });

  it("peerChanged is not reported when the SA has no anti-replay window", () => {
    const p = pair({
      suite,
      replayWindow: 0,
      encap: { peer: { address: "198.51.100.1", port: 4500 } },
    });
    const esp = send(p, udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.from("x")));
    assert.ok(p.rx.inbound(esp, { address: "198.51.100.1", port: 4500 }, 2).ok);
    const r = p.rx.inbound(esp, { address: "198.51.100.9", port: 40000 }, 2);
    assert.ok(r.ok, "without a window a replay is delivered");
    assert.equal(r.peerChanged, false, "but never taken as a new endpoint");
  });

  it("a replayed packet from another endpoint is dropped before any peer change", () => {
    const p = pair({ suite, encap: { peer: { address: "198.51.100.1", port: 4500 } } });
    const esp = send(p, udpPacket("10.1.0.5", "10.2.0.7", 1, 2, Buffer.from("x")));
    assert.ok(p.rx.inbound(esp, { address: "198.51.100.1", port: 4500 }, 2).ok);
    const r = p.rx.inbound(esp, { address: "198.51.100.9", port: 40000 }, 2);
    assert.ok(!r.ok && r.reason === "replayed");
  });

  for (const fix of ["incremental", "recompute"] as const) {
    it(`transport mode across NAT: TCP and UDP checksums fixed (${fix}, RFC 3948 §3.1.2)`, () => {
      // The client (private 10.0.0.2) computed checksums for 10.0.0.2 -> 203.0.113.2; the
      // server sees it as 198.51.100.1 (its NAT), NAT-OA tells the original address.
      const keys = keysFor(suite);
      const events: EspEvent[] = [];
      const tx = new EspDataPlane({
        counters: new Counters(),
        logger: new LogHub(new MemorySink()).logger("esp"),
        random,
      });
      const rx = new EspDataPlane({
        counters: new Counters(),
        logger: new LogHub(new MemorySink()).logger("esp"),
        random,
        onEvent: (e) => events.push(e),
      });
      const o = tx.installSa(
        {
          spi: asOutboundSpi(0x3000),
          direction: "out",
          mode: "transport",
          suite,
          keys,
          local: "10.0.0.2",
          remote: "203.0.113.2",
          encap: { peer: { address: "203.0.113.2", port: 4500 } },
        },
        0,
      );
      const i = rx.installSa(
        {
          spi: asInboundSpi(0x3000),
          direction: "in",
          mode: "transport",
          suite,
          keys,
          local: "203.0.113.2",
          remote: "198.51.100.1",
          encap: {
            peer: { address: "198.51.100.1", port: 4500 },
            natOa: { remote: "10.0.0.2", local: "203.0.113.2" },
            checksum: fix,
          },
        },
        0,
      );
      assert.ok(o.ok && i.ok);
      for (const pkt of [
        udpPacket("10.0.0.2", "203.0.113.2", 1701, 1701, Buffer.from("l2tp hello")),
        tcpPacket("10.0.0.2", "203.0.113.2", Buffer.from("GET /")),
      ]) {
        const r = tx.protect(o.sa, pkt, 1);
        assert.ok(r.ok && r.action === "send");
        const back = rx.inbound(r.data, { address: "198.51.100.1", port: 4500 }, 2);
        assert.ok(back.ok, back.ok ? "" : back.reason);
        const src = parseIpAddress("198.51.100.1")!;
        const dst = parseIpAddress("203.0.113.2")!;
        const seg = back.packet.subarray(20);
        const verify = back.nextHeader === IpProtocol.TCP ? verifyTcpChecksum : verifyUdpChecksum;
        assert.ok(
          verify(src, dst, seg),
          `${back.nextHeader} checksum verifies for the rebuilt header`,
        );
      }
    });
  }
});

describe("local transport SAs (L2TP over its SA): payloads without IP headers", () => {
  const suite: EspSuite = { encryption: "aes128-gcm16", integrity: "none" };
  it("protectPayload(head, body) decrypts, on a plain transport SA, to an IP packet carrying head+body", () => {
    // The oracle is the ordinary transport path: the peer (not a local-transport SA) rebuilds
    // the IP header around exactly the bytes we protected.
    const p = pair({ suite, mode: "transport", localTransport: true });
    const plain = new EspDataPlane({
      counters: new Counters(),
      logger: new LogHub(new MemorySink()).logger("esp"),
      random,
    });
    const keys = keysFor(suite);
    const o = p.tx.installSa(
      {
        spi: asOutboundSpi(0x2000),
        direction: "out",
        mode: "transport",
        suite,
        keys,
        local: "198.51.100.1",
        remote: "203.0.113.2",
        localTransport: true,
      },
      0,
    );
    const i = plain.installSa(
      {
        spi: asInboundSpi(0x2000),
        direction: "in",
        mode: "transport",
        suite,
        keys,
        local: "203.0.113.2",
        remote: "198.51.100.1",
      },
      0,
    );
    assert.ok(o.ok && i.ok);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), (body) => {
        const head = Buffer.from([0x06, 0xa5, 0x06, 0xa5, 0, 0, 0, 0]);
        head.writeUInt16BE(8 + body.length, 4);
        const r = p.tx.protectPayload(o.sa, IpProtocol.UDP, head, body, 1);
        assert.ok(r.ok && r.action === "send");
        const back = plain.inbound(Buffer.from(r.data), { address: "198.51.100.1" }, 2);
        assert.ok(back.ok && !back.payloadOnly);
        assert.equal(back.nextHeader, IpProtocol.UDP);
        assert.deepEqual(Buffer.from(back.packet.subarray(20)), Buffer.concat([head, body]));
      }),
      { numRuns: 50 },
    );
  });

  it("inbound on a local transport SA returns the upper-layer payload, no IP header", () => {
    const p = pair({ suite, mode: "transport", localTransport: true });
    const pkt = udpPacket("198.51.100.1", "203.0.113.2", 1701, 1701, Buffer.from("l2tp"));
    const r = p.rx.inbound(send(p, pkt), { address: "198.51.100.1" }, 2);
    assert.ok(r.ok && r.payloadOnly);
    assert.equal(r.nextHeader, IpProtocol.UDP);
    assert.deepEqual(Buffer.from(r.packet), pkt.subarray(20));
  });

  it("protectPayload refuses SAs that are not local transport (tunnel SAs carry IP packets)", () => {
    const p = pair({ suite, mode: "tunnel" });
    const r = p.tx.protectPayload(p.out, IpProtocol.UDP, Buffer.alloc(8), Buffer.alloc(4), 1);
    assert.ok(!r.ok);
  });
});

it("address octets are shared between SAs only up to a bound: peers' NAT-OA addresses cannot grow it", () => {
  const dp = new EspDataPlane({
    counters: new Counters(),
    logger: new LogHub(new MemorySink()).logger("esp"),
    random,
  });
  const suite: EspSuite = { encryption: "aes128-gcm16", integrity: "none" };
  for (let i = 0; i < 1100; i++) {
    const r = dp.installSa(
      {
        spi: asInboundSpi(0x5000 + i),
        direction: "in",
        mode: "transport",
        suite,
        keys: keysFor(suite),
        local: "203.0.113.5",
        remote: "198.51.100.1",
        encap: {
          peer: { address: "198.51.100.1", port: 4500 },
          natOa: { remote: `10.${i >> 8}.${i & 255}.2`, local: "203.0.113.5" },
        },
      },
      0,
    );
    assert.ok(r.ok);
  }
  const cache = (dp as unknown as { addresses: Map<string, Uint8Array> }).addresses;
  assert.equal(cache.size, 1024);
  assert.equal(dp.list().length, 1100);
});
