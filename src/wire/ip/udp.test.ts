/**
 * UDP codec and checksum: the DNS query inside draft-mcgrew-gcm-test-01 page 8 (192.168.1.2 ->
 * 192.168.1.1, checksum 0x2343) verifies; IPv6 pseudo-header; round trip; fuzz.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import {
  parseUdpDatagram,
  parseUdpHeader,
  serializeUdpDatagram,
  udpChecksum,
  verifyUdpChecksum,
} from "./udp.js";

const PKT = Buffer.from(
  "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d001000001000000000000037369700963796265726369747902646b0000010001",
  "hex",
);

describe("UDP", () => {
  it("verifies a published datagram's checksum (IPv4 pseudo-header)", () => {
    const seg = PKT.subarray(20);
    const r = parseUdpDatagram(seg);
    assert.ok(r.ok);
    assert.deepEqual(r.value.header, {
      srcPort: 0x0a98,
      dstPort: 53,
      length: 42,
      checksum: 0x2343,
    });
    assert.ok(verifyUdpChecksum(PKT.subarray(12, 16), PKT.subarray(16, 20), seg));
    assert.equal(udpChecksum(PKT.subarray(12, 16), PKT.subarray(16, 20), seg), 0x2343);
    const bad = Buffer.from(seg);
    bad[10]! ^= 1;
    assert.equal(verifyUdpChecksum(PKT.subarray(12, 16), PKT.subarray(16, 20), bad), false);
  });

  it("zero checksum: allowed on IPv4, not on IPv6", () => {
    const seg = Buffer.from("00010002000a0000abcd", "hex");
    assert.ok(verifyUdpChecksum(Buffer.alloc(4), Buffer.alloc(4), seg));
    assert.equal(verifyUdpChecksum(Buffer.alloc(16), Buffer.alloc(16), seg), false);
  });

  it("rejects bad Length fields", () => {
    assert.equal(parseUdpDatagram(Buffer.from("0001000200050000", "hex")).ok, false);
    assert.equal(parseUdpDatagram(Buffer.from("0001000200200000", "hex")).ok, false);
  });

  it("round-trips (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 64 }),
        (sp, dp, ck, payload) => {
          const b = serializeUdpDatagram(
            { srcPort: sp, dstPort: dp, length: 8 + payload.length, checksum: ck },
            payload,
          );
          const r = parseUdpDatagram(b);
          assert.ok(r.ok);
          assert.deepEqual(serializeUdpDatagram(r.value.header, r.value.payload), b);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("fuzz: parseUdpDatagram / parseUdpHeader", () => {
    fuzzParser("parseUdpDatagram", parseUdpDatagram, [PKT.subarray(20)], { iterations: 30000 });
    fuzzParser("parseUdpHeader", parseUdpHeader, [PKT.subarray(20)], { iterations: 20000 });
  });
});
