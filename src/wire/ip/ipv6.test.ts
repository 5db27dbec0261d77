/**
 * IPv6 header and extension-header walk (RFC 8200 §4): Hop-by-Hop + Fragment + UDP, AH length
 * units (RFC 4302), non-first fragments, limits; fast-check round trip; fuzz.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { newPacketFields, readPacketFields } from "./packet.js";
import {
  type Ipv6Header,
  parseIpv6Header,
  parseIpv6Packet,
  serializeIpv6Header,
  serializeIpv6Packet,
} from "./ipv6.js";

const src = Buffer.from("20010db8000000000000000000000001", "hex");
const dst = Buffer.from("20010db8000000000000000000000002", "hex");

function packet(nextHeader: number, rest: Buffer): Buffer {
  return serializeIpv6Packet(
    {
      trafficClass: 0,
      flowLabel: 0x12345,
      payloadLength: rest.length,
      nextHeader,
      hopLimit: 64,
      src,
      dst,
    },
    rest,
  );
}

describe("IPv6", () => {
  it("walks Hop-by-Hop and Fragment headers to UDP", () => {
    const hbh = Buffer.from("2c00010400000000", "hex"); // next=44 (Fragment), len 0, PadN
    const frag = Buffer.from("1100000100000007", "hex"); // next=17, offset 0, M=1, id 7
    const udp = Buffer.from("1f4006a5000c0000deadbeef", "hex");
    const p = packet(0, Buffer.concat([hbh, frag, udp]));
    const r = parseIpv6Packet(p);
    assert.ok(r.ok);
    assert.equal(r.value.upperLayerProtocol, 17);
    assert.equal(r.value.upperLayerOffset, 56);
    assert.deepEqual(r.value.fragment, { offset: 0, more: true, identification: 7 });
    assert.equal(r.value.header.flowLabel, 0x12345);
    const f = newPacketFields();
    assert.ok(readPacketFields(p, f));
    assert.deepEqual([f.protocol, f.srcPort, f.dstPort], [17, 8000, 1701]);
  });

  it("AH length is in 4-octet units; a non-first fragment hides the ports", () => {
    const ah = Buffer.concat([Buffer.from([6, 4, 0, 0]), Buffer.alloc(20)]); // (4+2)*4 = 24 octets
    const r = parseIpv6Packet(packet(51, Buffer.concat([ah, Buffer.alloc(20)])));
    assert.ok(r.ok);
    assert.equal(r.value.upperLayerProtocol, 6);
    assert.equal(r.value.upperLayerOffset, 64);
    const frag = Buffer.from("0600002800000009", "hex"); // offset 5, not first
    const p = packet(44, Buffer.concat([frag, Buffer.alloc(16)]));
    const f = newPacketFields();
    assert.ok(readPacketFields(p, f));
    assert.deepEqual([f.protocol, f.srcPort], [6, -1]);
  });

  it("rejects truncation, bad version and long chains with typed errors", () => {
    assert.equal(parseIpv6Header(Buffer.alloc(39)).ok, false);
    const p = packet(17, Buffer.alloc(8));
    p[0] = 0x40;
    assert.equal(parseIpv6Header(p).ok, false);
    const chain = Buffer.concat(
      Array.from({ length: 20 }, () => Buffer.from("3c00000000000000", "hex")),
    );
    const r = parseIpv6Packet(packet(60, chain));
    assert.ok(!r.ok && r.error.code === "OAK_E_WIRE_TOO_MANY");
    const trunc = packet(17, Buffer.alloc(8)).subarray(0, 44);
    assert.equal(parseIpv6Packet(trunc).ok, false);
  });

  it("round-trips (fast-check)", () => {
    const arb: fc.Arbitrary<Ipv6Header> = fc.record({
      trafficClass: fc.integer({ min: 0, max: 255 }),
      flowLabel: fc.integer({ min: 0, max: 0xfffff }),
      payloadLength: fc.integer({ min: 0, max: 0xffff }),
      nextHeader: fc.integer({ min: 0, max: 255 }),
      hopLimit: fc.integer({ min: 0, max: 255 }),
      src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    });
    fc.assert(
      fc.property(arb, (h) => {
        const b = serializeIpv6Header(h);
        const r = parseIpv6Header(b);
        assert.ok(r.ok);
        assert.deepEqual(
          { ...r.value, src: Buffer.from(r.value.src), dst: Buffer.from(r.value.dst) },
          { ...h, src: Buffer.from(h.src), dst: Buffer.from(h.dst) },
        );
      }),
      { numRuns: 300 },
    );
  });

  it("fuzz: parseIpv6Packet / parseIpv6Header", () => {
    const seeds = [
      packet(
        0,
        Buffer.from(
          "2c000104000000001100000100000007 1f4006a5000c0000deadbeef".replace(/ /g, ""),
          "hex",
        ),
      ),
      packet(6, Buffer.alloc(20)),
    ];
    fuzzParser("parseIpv6Packet", parseIpv6Packet, seeds, { iterations: 40000 });
    fuzzParser("parseIpv6Header", parseIpv6Header, seeds, { iterations: 20000 });
  });
});
