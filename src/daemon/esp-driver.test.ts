/**
 * EspDriver on real koffi UDP sockets over 127.0.0.1 (no root needed) with an in-memory TUN
 * port: TUN -> SPD -> ESP-in-UDP -> peer driver -> TUN, byte for byte; NAT-T demultiplexing of
 * one port (RFC 3948 §2: keepalive 0xFF, IKE behind the non-ESP marker, ESP); transport-mode
 * packets to a local handler instead of the TUN; MSS clamping in each direction with values
 * derived by hand from the RFC field sizes (see mssCases); keepalives and lifetimes from the
 * timer with a FakeClock; the send arena under a socket that holds every datagram unsent.
 * Namespaced end-to-end runs with real TUN devices are in test/interop/esp-tunnel.test.ts.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import type { EspSuite } from "../crypto/esp/index.js";
import {
  EspDataPlane,
  type EspEvent,
  type EspMode,
  compileSelector,
  type Selector,
} from "../esp/index.js";
import { Counters } from "../obs/counters.js";
import { nullLogger } from "../obs/log.js";
import {
  type Clock,
  type DatagramHandler,
  type DatagramSocket,
  type EspPacketHandler,
  FakeClock,
  KoffiDatagramSocket,
  type SocketStats,
  systemClock,
  type TunPacketsHandler,
} from "../platform/index.js";
import { fillIpv4HeaderChecksum } from "../wire/ip/ipv4.js";
import { asInboundSpi, asOutboundSpi } from "../wire/esp/esp.js";
import { fillTcpChecksum, findTcpMss, verifyTcpChecksum } from "../wire/ip/tcp.js";
import { buildNattIke } from "../wire/udpencap/udpencap.js";
import { EspDriver, type EspDriverPorts, type RawEspPort, type TunPort } from "./esp-driver.js";

const random = (b: Uint8Array): void => {
  b.set(randomBytes(b.length));
};

class MemTun implements TunPort {
  readonly name = "memtun";
  readonly written: Buffer[] = [];
  closed = false;
  private handler: TunPacketsHandler = () => {};
  onPackets(h: TunPacketsHandler): void {
    this.handler = h;
  }
  write(p: Uint8Array): boolean {
    this.written.push(Buffer.from(p));
    return true;
  }
  inject(packets: Buffer[]): void {
    this.handler(packets);
  }
  close(): void {
    this.closed = true;
  }
}

/** A socket whose buffer is "full": it keeps every datagram (by reference) and never sends. */
class HoldingSocket implements DatagramSocket {
  readonly implementation = "koffi" as const;
  readonly held: { data: Uint8Array; address: string; port: number }[] = [];
  bind(): never {
    throw new Error("not used");
  }
  local(): undefined {
    return undefined;
  }
  send(data: Uint8Array, address: string, port: number): void {
    this.held.push({ data, address, port });
  }
  flush(): void {}
  onDatagram(_h: DatagramHandler): void {}
  onError(): void {}
  stats(): SocketStats {
    throw new Error("not used");
  }
  close(): void {}
}

class HoldingRawEsp implements RawEspPort {
  readonly held: { data: Buffer; peer: string }[] = [];
  onPacket(_h: EspPacketHandler): void {}
  send(payload: Uint8Array, peer: string): void {
    this.held.push({ data: Buffer.from(payload), peer });
  }
  flush(): void {}
  close(): void {}
}

const GCM: EspSuite = { encryption: "aes128-gcm16", integrity: "none" };
const CBC_SHA1: EspSuite = { encryption: "aes128-cbc", integrity: "hmac-sha1-96" };

function keysFor(suite: EspSuite): { encryption: Buffer; integrity: Buffer } {
  return suite.integrity === "none"
    ? { encryption: randomBytes(20), integrity: Buffer.alloc(0) }
    : { encryption: randomBytes(16), integrity: randomBytes(20) };
}

function sel(s: Parameters<typeof compileSelector>[0]): Selector {
  const c = compileSelector(s);
  if (typeof c === "string") throw new Error(c);
  return c;
}

function ip4(s: string): number[] {
  return s.split(".").map(Number);
}

function ipv4Packet(src: string, dst: string, proto: number, payload: Uint8Array): Buffer {
  const p = Buffer.alloc(20 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[6] = 0x40;
  p[8] = 64;
  p[9] = proto;
  p.set(ip4(src), 12);
  p.set(ip4(dst), 16);
  p.set(payload, 20);
  fillIpv4HeaderChecksum(p.subarray(0, 20));
  return p;
}

function udpPacket(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  data: Uint8Array,
): Buffer {
  const u = Buffer.alloc(8 + data.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  u.set(data, 8);
  return ipv4Packet(src, dst, 17, u);
}

/** A TCP SYN (or SYN-ACK) with one MSS option (RFC 9293 §3.2 option kind 2, length 4). */
function tcpSyn(src: string, dst: string, mss: number, ack = false): Buffer {
  const t = Buffer.alloc(24);
  t.writeUInt16BE(40000, 0);
  t.writeUInt16BE(5001, 2);
  t.writeUInt32BE(0x01020304, 4);
  t[12] = 6 << 4;
  t[13] = ack ? 0x12 : 0x02;
  t.writeUInt16BE(64240, 14);
  t[20] = 2;
  t[21] = 4;
  t.writeUInt16BE(mss, 22);
  fillTcpChecksum(Buffer.from(ip4(src)), Buffer.from(ip4(dst)), t);
  return ipv4Packet(src, dst, 6, t);
}

function mssOf(p: Buffer): number {
  const seg = p.subarray(20);
  const at = findTcpMss(seg);
  return at < 0 ? -1 : seg.readUInt16BE(at);
}

async function waitUntil(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Side {
  dp: EspDataPlane;
  driver: EspDriver;
  tun: MemTun;
  udp: KoffiDatagramSocket;
  port: number;
  counters: Counters;
  events: EspEvent[];
  inner: string;
  outSa: number;
  inSa: number;
}

const open: Side[] = [];
after(() => {
  for (const s of open) s.driver.close();
});

async function side(
  inner: string,
  opts: { clock?: Clock; mssClamp?: "both" | "outbound" | "inbound" | "off" } = {},
): Promise<Side> {
  const counters = new Counters();
  const events: EspEvent[] = [];
  const dp = new EspDataPlane({
    counters,
    logger: nullLogger,
    random,
    onEvent: (e) => events.push(e),
  });
  const udp = new KoffiDatagramSocket({ zeroCopy: true });
  const b = await udp.bind("127.0.0.1", 0);
  assert.ok(b.ok);
  const tun = new MemTun();
  const driver = new EspDriver(
    {
      dp,
      clock: opts.clock ?? systemClock,
      logger: nullLogger,
      counters,
      ...(opts.mssClamp ? { mssClamp: opts.mssClamp } : {}),
    },
    { udp, tun },
  );
  const s: Side = {
    dp,
    driver,
    tun,
    udp,
    port: b.value.port,
    counters,
    events,
    inner,
    outSa: 0,
    inSa: 0,
  };
  open.push(s);
  return s;
}

/** Installs a statically keyed SA pair between a and b (a -> b on spiAB, b -> a on spiBA). */
function pair(
  a: Side,
  b: Side,
  o: {
    suite?: EspSuite;
    mode?: EspMode;
    spi?: number;
    peerPortOfA?: number;
    lifetimeS?: number;
  } = {},
): void {
  const suite = o.suite ?? GCM;
  const mode = o.mode ?? "tunnel";
  const kAB = keysFor(suite);
  const kBA = keysFor(suite);
  const spiAB = o.spi ?? 0x1000;
  const spiBA = spiAB + 1;
  const now = 0;
  const common = {
    mode,
    suite,
    local: "127.0.0.1",
    remote: "127.0.0.1",
    ...(o.lifetimeS === undefined ? {} : { lifetimes: { hard: { seconds: o.lifetimeS } } }),
  } as const;
  const enc = (port: number) => ({ encap: { peer: { address: "127.0.0.1", port } } });
  const out = (s: Side, spi: number, keys: typeof kAB, peerPort: number): number => {
    const r = s.dp.installSa(
      { ...common, spi: asOutboundSpi(spi), direction: "out", keys, ...enc(peerPort) },
      now,
    );
    assert.ok(r.ok);
    return r.sa;
  };
  const inb = (s: Side, spi: number, keys: typeof kAB, peerPort: number): number => {
    const r = s.dp.installSa(
      { ...common, spi: asInboundSpi(spi), direction: "in", keys, ...enc(peerPort) },
      now,
    );
    assert.ok(r.ok);
    return r.sa;
  };
  a.outSa = out(a, spiAB, kAB, b.port);
  b.inSa = inb(b, spiAB, kAB, o.peerPortOfA ?? a.port);
  b.outSa = out(b, spiBA, kBA, o.peerPortOfA ?? a.port);
  a.inSa = inb(a, spiBA, kBA, b.port);
  a.dp.spd.add({
    name: "ab",
    selector: sel({ local: [`${a.inner}/32`], remote: [`${b.inner}/32`] }),
    action: { kind: "protect", sa: a.outSa },
  });
  b.dp.spd.add({
    name: "ba",
    selector: sel({ local: [`${b.inner}/32`], remote: [`${a.inner}/32`] }),
    action: { kind: "protect", sa: b.outSa },
  });
}

describe("EspDriver", () => {
  it("carries TUN packets through ESP-in-UDP to the peer's TUN unchanged, both ways", async () => {
    const a = await side("203.0.113.1");
    const b = await side("203.0.113.2");
    pair(a, b);
    const ab = Array.from({ length: 100 }, (_, i) =>
      udpPacket("203.0.113.1", "203.0.113.2", 1000 + i, 7, randomBytes(1 + ((i * 37) % 1400))),
    );
    a.tun.inject(ab);
    await waitUntil("100 packets at b", () => b.tun.written.length === 100);
    assert.deepEqual(b.tun.written, ab);
    const ba = [udpPacket("203.0.113.2", "203.0.113.1", 7, 1000, Buffer.from("pong"))];
    b.tun.inject(ba);
    await waitUntil("reply at a", () => a.tun.written.length === 1);
    assert.deepEqual(a.tun.written, ba);
    assert.equal(a.driver.stats().txEsp, 100);
    assert.equal(b.driver.stats().rxToTun, 100);
    // Sent with sendmmsg batches: fewer batches than datagrams.
    assert.ok(a.udp.stats().txBatches < 100, `txBatches ${a.udp.stats().txBatches}`);
    b.driver.publish();
    assert.equal(b.counters.get("esp_driver_rx_to_tun"), 100n);
  });

  it("packets the SPD discards or that have no SA are dropped and counted", async () => {
    const a = await side("203.0.113.1");
    a.tun.inject([udpPacket("203.0.113.1", "198.51.100.9", 1, 2, Buffer.from("x"))]);
    assert.equal(a.driver.stats().txDropped, 1);
    assert.equal(a.counters.get('esp_tx_drop{reason="policy_discard"}'), 1n);
  });

  it("demultiplexes the NAT-T port: keepalive counted, IKE to onIke without marker, junk counted", async () => {
    const b = await side("203.0.113.2");
    const got: { ike: Buffer; from: string; local: string | undefined }[] = [];
    b.driver.onIke((ike, from, local) =>
      got.push({ ike, from: `${from.address}:${from.port}`, local }),
    );
    const s = new KoffiDatagramSocket();
    const bound = await s.bind("127.0.0.1", 0);
    assert.ok(bound.ok);
    // An IKE header (RFC 2408 §3.1, 28 octets): cookies, next payload, version 0x10, ...
    const ike = Buffer.alloc(28);
    randomBytes(8).copy(ike, 0);
    ike[16] = 1;
    ike[17] = 0x10;
    ike[18] = 2;
    ike.writeUInt32BE(28, 24);
    s.send(buildNattIke(ike), "127.0.0.1", b.port);
    s.send(Buffer.from([0xff]), "127.0.0.1", b.port);
    s.send(Buffer.from([0, 0]), "127.0.0.1", b.port);
    s.send(Buffer.from([0, 0, 0, 0, 1]), "127.0.0.1", b.port); // marker + truncated IKE
    s.flush();
    await waitUntil("4 datagrams", () => {
      const st = b.driver.stats();
      return st.rxIke + st.rxKeepalive + st.rxInvalid === 4;
    });
    s.close();
    const st = b.driver.stats();
    assert.equal(st.rxIke, 1);
    assert.equal(st.rxKeepalive, 1);
    assert.equal(st.rxInvalid, 2);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.ike, ike);
    assert.equal(got[0]!.from, `127.0.0.1:${bound.value.port}`);
    assert.equal(got[0]!.local, "127.0.0.1");
    assert.equal(b.tun.written.length, 0);
  });

  it("sendIke puts the non-ESP marker in front (RFC 3948 §2.2)", async () => {
    const a = await side("203.0.113.1");
    const s = new KoffiDatagramSocket();
    const bound = await s.bind("127.0.0.1", 0);
    assert.ok(bound.ok);
    const seen: Buffer[] = [];
    s.onDatagram((d) => seen.push(d));
    a.driver.sendIke(Buffer.from("0123456789abcdef0123456789ab"), {
      address: "127.0.0.1",
      port: bound.value.port,
    });
    a.driver.flush();
    await waitUntil("IKE datagram", () => seen.length === 1);
    s.close();
    assert.deepEqual(
      seen[0],
      Buffer.concat([Buffer.alloc(4), Buffer.from("0123456789abcdef0123456789ab")]),
    );
  });

  it("hands transport-mode packets to the local handler instead of the TUN when it takes them", async () => {
    const a = await side("127.0.0.1");
    const b = await side("127.0.0.1");
    pair(a, b, { mode: "transport" });
    const local: Buffer[] = [];
    b.driver.onTransportPacket((p, info) => {
      assert.equal(info.sa, b.inSa);
      const dport = (p[22]! << 8) | p[23]!;
      if (p[9] === 17 && dport === 1701) {
        local.push(Buffer.from(p));
        return true;
      }
      return false;
    });
    const l2tp = udpPacket(
      "127.0.0.1",
      "127.0.0.1",
      1701,
      1701,
      Buffer.from("c802000c0000000000000000", "hex"),
    );
    const other = udpPacket("127.0.0.1", "127.0.0.1", 5000, 5001, Buffer.from("other"));
    assert.ok(a.driver.protectAndSend(a.outSa, l2tp));
    assert.ok(a.driver.protectAndSend(a.outSa, other));
    a.driver.flush();
    await waitUntil("both packets", () => local.length + b.tun.written.length === 2);
    assert.equal(local.length, 1);
    assert.equal(b.tun.written.length, 1);
    // Transport mode rebuilds the IP header (TTL 64, DF) from the SA: compare the UDP part.
    assert.deepEqual(local[0]!.subarray(20), l2tp.subarray(20));
    assert.deepEqual(b.tun.written[0]!.subarray(20), other.subarray(20));
    assert.equal(b.driver.stats().rxToLocal, 1);
  });

  // MSS by hand from the field sizes, path MTU 1500, IPv4 (outer and inner):
  //  GCM-16 tunnel, ESP-in-UDP: outer IP 20 + UDP 8 (RFC 3948 §2.1) + SPI/Seq 8 (RFC 4303 §2)
  //    + IV 8 (RFC 4106 §3.1) + ICV 16 (RFC 4106 §6) = 60; payload+pad+2 a multiple of 4
  //    (RFC 4303 §2.4) and <= 1440 -> inner 1438 -> MSS 1438 - 40 = 1398.
  //  AES-CBC + HMAC-SHA1-96 tunnel, ESP-in-UDP: 20 + 8 + 8 + IV 16 (RFC 3602 §3) + ICV 12
  //    (RFC 2404 §3) = 64; payload+pad+2 a multiple of 16 and <= 1436 -> 1424 -> inner 1422
  //    -> MSS 1382.
  //  GCM-16 transport, ESP-in-UDP: the inner IP header stays (20) + 8 + 8 + 8 + 16; ESP
  //    payload = inner - 20, (inner - 20 + 2) a multiple of 4 and inner + 40 + pad + 2 <= 1500
  //    -> inner 1458 -> MSS 1418.
  const mssCases = [
    { name: "GCM-16 tunnel", suite: GCM, mode: "tunnel" as const, mss: 1398 },
    { name: "AES-CBC/HMAC-SHA1-96 tunnel", suite: CBC_SHA1, mode: "tunnel" as const, mss: 1382 },
    { name: "GCM-16 transport", suite: GCM, mode: "transport" as const, mss: 1418 },
  ];
  for (const c of mssCases) {
    it(`mssFor: ${c.name} over a 1500-octet path is ${c.mss}`, async () => {
      const a = await side("203.0.113.1");
      const b = await side("203.0.113.2");
      pair(a, b, { suite: c.suite, mode: c.mode });
      assert.equal(a.driver.mssFor(a.outSa), c.mss);
      assert.equal(b.driver.mssFor(b.inSa), c.mss);
    });
  }

  it("clamps the MSS of a SYN before encryption (outbound) and keeps the TCP checksum valid", async () => {
    const a = await side("203.0.113.1");
    const b = await side("203.0.113.2", { mssClamp: "off" });
    pair(a, b);
    a.tun.inject([tcpSyn("203.0.113.1", "203.0.113.2", 1460)]);
    await waitUntil("SYN at b", () => b.tun.written.length === 1);
    const syn = b.tun.written[0]!;
    assert.equal(mssOf(syn), 1398);
    assert.ok(verifyTcpChecksum(syn.subarray(12, 16), syn.subarray(16, 20), syn.subarray(20)));
    assert.equal(a.driver.stats().mssClampedOut, 1);
    // A small MSS is left alone.
    a.tun.inject([tcpSyn("203.0.113.1", "203.0.113.2", 536)]);
    await waitUntil("second SYN", () => b.tun.written.length === 2);
    assert.equal(mssOf(b.tun.written[1]!), 536);
  });

  it("clamps the MSS of a SYN-ACK after decryption (inbound) when the sender did not", async () => {
    const a = await side("203.0.113.1", { mssClamp: "inbound" });
    const b = await side("203.0.113.2", { mssClamp: "off" });
    pair(a, b);
    b.tun.inject([tcpSyn("203.0.113.2", "203.0.113.1", 1460, true)]);
    await waitUntil("SYN-ACK at a", () => a.tun.written.length === 1);
    const p = a.tun.written[0]!;
    assert.equal(mssOf(p), 1398);
    assert.ok(verifyTcpChecksum(p.subarray(12, 16), p.subarray(16, 20), p.subarray(20)));
    assert.equal(a.driver.stats().mssClampedIn, 1);
    assert.equal(b.driver.stats().mssClampedOut, 0);
  });

  it("reports a changed NAT mapping once per new endpoint", async () => {
    const a = await side("203.0.113.1");
    const b = await side("203.0.113.2");
    pair(a, b, { peerPortOfA: 4500 }); // b believes a is at :4500; a sends from its own port
    const moved: string[] = [];
    b.driver.onPeerChanged((sa, from) => {
      assert.equal(sa, b.inSa);
      moved.push(`${from.address}:${from.port}`);
    });
    const pk = Array.from({ length: 5 }, () =>
      udpPacket("203.0.113.1", "203.0.113.2", 1, 2, randomBytes(20)),
    );
    a.tun.inject(pk);
    await waitUntil("5 packets", () => b.tun.written.length === 5);
    assert.deepEqual(moved, [`127.0.0.1:${a.port}`]);
  });

  it("reports a new endpoint again after 5 s while IKE has not followed it (a refused move)", async () => {
    const clock = new FakeClock(0);
    const a = await side("203.0.113.1");
    const b = await side("203.0.113.2", { clock });
    pair(a, b, { peerPortOfA: 4500 });
    let reports = 0;
    b.driver.onPeerChanged(() => {
      reports++; // and IKE refuses: the SA's peer stays as it was
    });
    const send = async (n: number) => {
      a.tun.inject([udpPacket("203.0.113.1", "203.0.113.2", 1, 2, randomBytes(20))]);
      await waitUntil("packet", () => b.tun.written.length === n);
    };
    await send(1);
    await send(2);
    assert.equal(reports, 1, "once at first");
    clock.advance(5000);
    await send(3);
    assert.equal(reports, 2, "again after 5 s of still arriving from there");
  });

  it("ticks the data plane: an idle SA hard-expires on time", async () => {
    const clock = new FakeClock(0);
    const a = await side("203.0.113.1", { clock });
    const b = await side("203.0.113.2");
    pair(a, b, { lifetimeS: 3 });
    clock.advance(2_000);
    assert.equal(a.events.filter((e) => e.kind === "hard-expire").length, 0);
    clock.advance(1_000);
    const hard = a.events.filter((e) => e.kind === "hard-expire").map((e) => e.sa);
    assert.deepEqual(hard.sort(), [a.outSa, a.inSa].sort());
  });

  it("never rewrites queued ESP while the socket holds it (send arena under backpressure)", async () => {
    const counters = new Counters();
    const dp = new EspDataPlane({ counters, logger: nullLogger, random });
    const rx = new EspDataPlane({ counters: new Counters(), logger: nullLogger, random });
    const keys = keysFor(GCM);
    const spec = {
      mode: "tunnel" as const,
      suite: GCM,
      keys,
      local: "192.0.2.2",
      remote: "198.51.100.2",
      encap: { peer: { address: "198.51.100.2", port: 4500 } },
      replayWindow: 0,
    };
    const o = dp.installSa({ ...spec, spi: asOutboundSpi(0x4242), direction: "out" }, 0);
    const i = rx.installSa({ ...spec, spi: asInboundSpi(0x4242), direction: "in" }, 0);
    assert.ok(o.ok && i.ok);
    dp.spd.add({ name: "all", selector: sel({}), action: { kind: "protect", sa: o.sa } });
    const udp = new HoldingSocket();
    const tun = new MemTun();
    const ports: EspDriverPorts = { udp, tun };
    const d = new EspDriver({ dp, clock: systemClock, logger: nullLogger, counters }, ports);
    // 2000 x ~1400 octets: about 3 MB, several send arenas.
    const sent: Buffer[] = [];
    for (let batch = 0; batch < 2000 / 64 + 1; batch++) {
      const pk = Array.from({ length: 64 }, (_, k) =>
        udpPacket("192.0.2.2", "203.0.113.1", 1, batch * 64 + k, randomBytes(1372)),
      );
      sent.push(...pk);
      tun.inject(pk);
    }
    assert.equal(udp.held.length, sent.length);
    for (let k = 0; k < sent.length; k++) {
      const h = udp.held[k]!;
      assert.equal(h.port, 4500);
      const r = rx.inbound(h.data, { address: "198.51.100.2", port: 4500 }, 0);
      assert.ok(r.ok, `datagram ${k}: ${r.ok ? "" : r.reason}`);
      assert.deepEqual(Buffer.from(r.packet), sent[k]);
    }
    d.close();
    assert.ok(tun.closed);
  });

  it("SAs without UDP encapsulation go out as plain ESP on the raw socket", async () => {
    const counters = new Counters();
    const dp = new EspDataPlane({ counters, logger: nullLogger, random });
    const r = dp.installSa(
      {
        spi: asOutboundSpi(0x5555),
        direction: "out",
        mode: "tunnel",
        suite: GCM,
        keys: keysFor(GCM),
        local: "192.0.2.2",
        remote: "198.51.100.2",
      },
      0,
    );
    assert.ok(r.ok);
    dp.spd.add({ name: "all", selector: sel({}), action: { kind: "protect", sa: r.sa } });
    const raw = new HoldingRawEsp();
    const tun = new MemTun();
    const d = new EspDriver(
      { dp, clock: systemClock, logger: nullLogger, counters },
      { rawEsp: raw, tun },
    );
    tun.inject([udpPacket("192.0.2.2", "203.0.113.1", 1, 2, Buffer.from("hello"))]);
    assert.equal(raw.held.length, 1);
    assert.equal(raw.held[0]!.peer, "198.51.100.2");
    assert.equal(raw.held[0]!.data.readUInt32BE(0), 0x5555);
    d.close();
    assert.equal(
      d.sendPacket(udpPacket("192.0.2.2", "203.0.113.1", 1, 2, Buffer.from("late"))),
      false,
    );
  });
});
