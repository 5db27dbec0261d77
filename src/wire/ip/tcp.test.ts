/**
 * TCP codec, checksum and MSS: the SYN inside draft-mcgrew-gcm-test-01 page 9 (192.168.1.2 ->
 * 147.137.21.94, checksum 0x20bf, MSS 1460) verifies; MSS clamping keeps the checksum valid
 * (RFC 1624 incremental update) at even and odd option offsets; round trip; fuzz.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import {
  clampTcpMss,
  findTcpMss,
  parseTcpSegment,
  serializeTcpSegment,
  type TcpHeader,
  tcpChecksum,
  verifyTcpChecksum,
} from "./tcp.js";

const SYN = Buffer.from(
  "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee0000000007002400020bf0000020405b401010402",
  "hex",
);
const src = SYN.subarray(12, 16);
const dst = SYN.subarray(16, 20);

describe("TCP", () => {
  it("parses a published SYN: options and checksum", () => {
    const seg = SYN.subarray(20);
    const r = parseTcpSegment(seg);
    assert.ok(r.ok);
    assert.equal(r.value.header.flags, 0x02);
    assert.equal(r.value.header.checksum, 0x20bf);
    assert.deepEqual(
      r.value.header.options.map((o) => o.kind),
      [2, 1, 1, 4],
    );
    assert.ok(verifyTcpChecksum(src, dst, seg));
    assert.equal(tcpChecksum(src, dst, seg), 0x20bf);
    assert.equal(findTcpMss(seg), 22);
    assert.deepEqual(serializeTcpSegment(r.value.header, r.value.payload), Buffer.from(seg));
  });

  it("clamps MSS and keeps the checksum valid", () => {
    const seg = Buffer.from(SYN.subarray(20));
    assert.equal(clampTcpMss(seg, 1600), false, "already below");
    assert.ok(clampTcpMss(seg, 1360));
    assert.equal(seg.readUInt16BE(22), 1360);
    assert.ok(verifyTcpChecksum(src, dst, seg));
    // Odd offset: a NOP before the MSS option.
    const h = parseTcpSegment(SYN.subarray(20));
    assert.ok(h.ok);
    const odd = serializeTcpSegment(
      {
        ...h.value.header,
        options: [{ kind: 1 }, { kind: 2, data: Buffer.from([0x05, 0xb4]) }, { kind: 0 }],
        padding: new Uint8Array(3),
      },
      Buffer.from("ab", "utf8"),
    );
    odd.writeUInt16BE(tcpChecksum(src, dst, odd), 16);
    assert.equal(findTcpMss(odd), 23);
    assert.ok(clampTcpMss(odd, 1200));
    assert.equal(odd.readUInt16BE(23), 1200);
    assert.ok(verifyTcpChecksum(src, dst, odd));
    const ack = Buffer.from(seg);
    ack[13] = 0x10;
    assert.equal(clampTcpMss(ack, 100), false, "only SYN segments are clamped");
  });

  it("round-trips (fast-check)", () => {
    const arb: fc.Arbitrary<TcpHeader> = fc.record({
      srcPort: fc.integer({ min: 0, max: 0xffff }),
      dstPort: fc.integer({ min: 0, max: 0xffff }),
      seq: fc.integer({ min: 0, max: 0xffffffff }),
      ack: fc.integer({ min: 0, max: 0xffffffff }),
      reserved: fc.integer({ min: 0, max: 15 }),
      flags: fc.integer({ min: 0, max: 255 }),
      window: fc.integer({ min: 0, max: 0xffff }),
      checksum: fc.integer({ min: 0, max: 0xffff }),
      urgentPointer: fc.integer({ min: 0, max: 0xffff }),
      options: fc.array(
        fc.oneof(
          fc.constant({ kind: 1 }),
          fc.record({
            kind: fc.integer({ min: 2, max: 255 }),
            data: fc.uint8Array({ maxLength: 8 }),
          }),
        ),
        { maxLength: 3 },
      ),
      padding: fc.constant(new Uint8Array(0)),
    });
    fc.assert(
      fc.property(arb, fc.uint8Array({ maxLength: 32 }), (h, payload) => {
        const b = serializeTcpSegment(h, payload);
        const r = parseTcpSegment(b);
        assert.ok(r.ok);
        assert.deepEqual(serializeTcpSegment(r.value.header, r.value.payload), b);
      }),
      { numRuns: 300 },
    );
  });

  it("fuzz: parseTcpSegment and findTcpMss", () => {
    fuzzParser("parseTcpSegment", parseTcpSegment, [SYN.subarray(20)], { iterations: 40000 });
    fuzzParser("findTcpMss", (b) => ({ ok: findTcpMss(b) >= 0 }), [SYN.subarray(20)], {
      iterations: 20000,
    });
  });
});
