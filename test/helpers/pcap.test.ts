/**
 * pcap reader tests. Oracle: tshark 4.0.17 on the lab captures (frame numbers, addresses,
 * ports, payload lengths as `tshark -r FILE -T fields -e frame.number -e ip.src -e udp.length`
 * prints them), plus hand-built files for the link types the captures lack (SLL, SLL2,
 * little-endian/nanosecond headers; times and original lengths per `-e frame.time_epoch -e
 * frame.len`).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isakmpDatagrams, readPcap, udpDatagrams, writePcap } from "./pcap.js";

const captures = join(import.meta.dirname, "../vectors/captures");

/** A one-record pcap with the given link type and frame, little- or big-endian. */
function pcapFile(linkType: number, frame: Buffer, le: boolean, nano = false): Buffer {
  const g = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, o: number) =>
    le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o);
  w32(g, nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  (le ? g.writeUInt16LE.bind(g) : g.writeUInt16BE.bind(g))(2, 4);
  (le ? g.writeUInt16LE.bind(g) : g.writeUInt16BE.bind(g))(4, 6);
  w32(g, 65535, 16);
  w32(g, linkType, 20);
  const r = Buffer.alloc(16);
  w32(r, frame.length, 8);
  w32(r, frame.length, 12);
  return Buffer.concat([g, r, frame]);
}

/** IPv4/UDP packet 192.0.2.1:sport -> 198.51.100.2:dport (checksums zero: not verified). */
function ipUdp(sport: number, dport: number, payload: Buffer): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(28 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  Buffer.from([192, 0, 2, 1]).copy(ip, 12);
  Buffer.from([198, 51, 100, 2]).copy(ip, 16);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([ip, udp, payload]);
}

describe("pcap helper", () => {
  it("Ethernet capture: 25 frames, ISAKMP on 500/4500 with the marker stripped (tshark: frames 1-9)", () => {
    const file = readFileSync(join(captures, "evidence-ikev1-natt-tunnel.pcap"));
    assert.equal(readPcap(file).length, 25);
    const ike = isakmpDatagrams(file);
    assert.deepEqual(
      ike.map((d) => d.frame),
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    // tshark: frame 1 UDP payload 180 bytes; frame 5 on 4500 carries 112 = 4 marker + 108 ISAKMP.
    assert.equal(ike[0]?.payload.length, 180);
    assert.equal(ike[0]?.src, "198.51.100.1");
    assert.equal(ike[0]?.dst, "198.51.100.2");
    assert.equal(ike[4]?.srcPort, 4500);
    assert.equal(ike[4]?.payload.length, 108);
    assert.equal(ike[4]?.udpPayload.length, 112);
    assert.equal(ike[4]?.marker, true);
    assert.equal(ike[0]?.marker, false);
  });

  it("record times and original lengths (tshark -e frame.time_epoch -e frame.len, frames 1-3)", () => {
    const recs = readPcap(readFileSync(join(captures, "evidence-ikev1-natt-tunnel.pcap")));
    assert.deepEqual(
      recs.slice(0, 3).map((r) => [r.timeUs, r.origLen]),
      [
        [1795752391016091, 222],
        [1795752391019359, 202],
        [1795752391025700, 414],
      ],
    );
  });

  it("writePcap: a little-endian µs file the reader takes back (tshark reads it in esp-tshark.test.ts)", () => {
    const frame = ipUdp(500, 500, Buffer.alloc(28, 7));
    const file = writePcap(228, [frame, frame], 1_700_000_000);
    assert.equal(file.readUInt32LE(0), 0xa1b2c3d4);
    const recs = readPcap(file);
    assert.deepEqual(
      recs.map((r) => [r.frame, r.linkType, r.timeUs, r.origLen]),
      [
        [1, 228, 1_700_000_000_000_000, 56],
        [2, 228, 1_700_000_001_000_000, 56],
      ],
    );
    assert.equal(udpDatagrams(file)[1]?.kind, "isakmp");
  });

  it("raw-IPv4 capture (L2TP inside the tunnel): 11 UDP/1701 datagrams, tshark frame 1 = SCCRQ 127-28 bytes", () => {
    const d = udpDatagrams(readFileSync(join(captures, "evidence-l2tp-inner-tunnel.pcap")));
    assert.equal(d.length, 11);
    assert.ok(d.every((x) => x.srcPort === 1701 && x.dstPort === 1701 && x.kind === "udp"));
    assert.equal(d[0]?.src, "192.0.2.2");
    assert.equal(d[0]?.payload.length, 127 - 28);
  });

  it("Linux cooked SLL/SLL2, little-endian and nanosecond headers, NAT keepalive and ESP on 4500", () => {
    const ike = Buffer.concat([Buffer.alloc(4), Buffer.alloc(28, 1)]);
    const sll = Buffer.concat([
      Buffer.alloc(14),
      Buffer.from([0x08, 0x00]),
      ipUdp(4500, 4500, ike),
    ]);
    const sll2 = Buffer.concat([
      Buffer.from([0x08, 0x00]),
      Buffer.alloc(18),
      ipUdp(4500, 4500, Buffer.of(0xff)),
    ]);
    const [a] = udpDatagrams(pcapFile(113, sll, true));
    assert.equal(a?.kind, "isakmp");
    assert.equal(a?.payload.length, 28);
    const [b] = udpDatagrams(pcapFile(276, sll2, false, true));
    assert.equal(b?.kind, "nat-keepalive");
    const [c] = udpDatagrams(
      pcapFile(101, ipUdp(4500, 4500, Buffer.from("c0ffee0100000001", "hex")), true),
    );
    assert.equal(c?.kind, "esp-in-udp");
    assert.throws(() => readPcap(Buffer.alloc(24)), /bad magic/);
  });
});
