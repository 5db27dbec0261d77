/**
 * IPv4 header codec: a published header (the inner packet of draft-mcgrew-gcm-test-01 page 9,
 * checksum 0x2690) verifies and round-trips; options; fast-check round trips; fuzzed parsers;
 * the hot-path `readPacketFields` agrees with the typed parser.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { newPacketFields, readPacketFields } from "./packet.js";
import {
  type Ipv4Header,
  parseIpv4Header,
  parseIpv4Packet,
  serializeIpv4Header,
  verifyIpv4HeaderChecksum,
  withIpv4Checksum,
} from "./ipv4.js";

// draft-mcgrew-gcm-test-01 page 9 plaintext: an IPv4 TCP SYN 192.168.1.2 -> 147.137.21.94.
const SYN = Buffer.from(
  "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee0000000007002400020bf0000020405b401010402",
  "hex",
);

describe("IPv4 header", () => {
  it("parses a published header and verifies its checksum", () => {
    const r = parseIpv4Packet(SYN);
    assert.ok(r.ok);
    const h = r.value.header;
    assert.equal(h.totalLength, 48);
    assert.equal(h.protocol, 6);
    assert.equal(h.ttl, 128);
    assert.equal(h.flags, 2);
    assert.equal(h.checksum, 0x2690);
    assert.ok(verifyIpv4HeaderChecksum(SYN));
    assert.deepEqual(serializeIpv4Header(h), SYN.subarray(0, 20));
    assert.equal(withIpv4Checksum({ ...h, checksum: 0 }).checksum, 0x2690);
    const f = newPacketFields();
    assert.ok(readPacketFields(SYN, f));
    assert.deepEqual(
      [f.protocol, f.l4Offset, f.srcPort, f.dstPort, f.length],
      [6, 20, 0x0a9e, 0x8b, 48],
    );
  });

  it("options: NOP, a record route, EOL and padding round-trip", () => {
    const h = Buffer.from(
      "4700002c00000000400100000102030405060708010704 0a0b000000".replace(/ /g, ""),
      "hex",
    );
    const r = parseIpv4Header(h);
    assert.ok(r.ok);
    assert.equal(r.value.headerLength, 28);
    assert.deepEqual(
      r.value.header.options.map((o) => o.type),
      [1, 7, 0],
    );
    assert.deepEqual(serializeIpv4Header(r.value.header), Buffer.from(h.subarray(0, 28)));
  });

  it("rejects bad version, IHL, lengths and options with typed errors", () => {
    assert.equal(parseIpv4Header(Buffer.alloc(19)).ok, false);
    const b = Buffer.from(SYN);
    b[0] = 0x65;
    assert.equal(parseIpv4Header(b).ok, false);
    b[0] = 0x44;
    assert.equal(parseIpv4Header(b).ok, false);
    const short = Buffer.from(SYN.subarray(0, 40));
    const r = parseIpv4Packet(short);
    assert.ok(!r.ok && r.error.code === "OAK_E_WIRE_TRUNCATED");
  });

  const headerArb: fc.Arbitrary<Ipv4Header> = fc.record({
    dscp: fc.integer({ min: 0, max: 63 }),
    ecn: fc.integer({ min: 0, max: 3 }),
    totalLength: fc.integer({ min: 0, max: 0xffff }),
    identification: fc.integer({ min: 0, max: 0xffff }),
    flags: fc.integer({ min: 0, max: 7 }),
    fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
    ttl: fc.integer({ min: 0, max: 255 }),
    protocol: fc.integer({ min: 0, max: 255 }),
    checksum: fc.integer({ min: 0, max: 0xffff }),
    src: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    dst: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    options: fc.array(
      fc.oneof(
        fc.constant({ type: 1 }),
        fc.record({
          type: fc.integer({ min: 2, max: 255 }),
          data: fc.uint8Array({ maxLength: 6 }),
        }),
      ),
      { maxLength: 4 },
    ),
    padding: fc.constant(new Uint8Array(0)),
  });

  it("round-trips (fast-check): parse(serialize(h)) == h", () => {
    fc.assert(
      fc.property(headerArb, (h) => {
        const b = serializeIpv4Header(h);
        const r = parseIpv4Header(b);
        assert.ok(r.ok);
        assert.deepEqual(serializeIpv4Header(r.value.header), b);
      }),
      { numRuns: 300 },
    );
  });

  it("fuzz: parseIpv4Header / parseIpv4Packet / readPacketFields never throw", () => {
    fuzzParser("parseIpv4Packet", parseIpv4Packet, [SYN], { iterations: 40000 });
    fuzzParser("parseIpv4Header", parseIpv4Header, [SYN.subarray(0, 20)], { iterations: 20000 });
    const f = newPacketFields();
    fuzzParser("readPacketFields", (b) => ({ ok: readPacketFields(b, f) }), [SYN], {
      iterations: 40000,
    });
  });
});
