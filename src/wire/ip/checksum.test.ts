/**
 * Internet checksum against RFC 1071 §3 (numerical example) and RFC 1624 §4 (incremental
 * update example: HC 0xDD2F, field 0x5555 -> 0x3285, correct result 0x0000), plus a property:
 * an incremental update equals a full recomputation.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  checksumUpdate16,
  checksumUpdateBytes,
  fold,
  internetChecksum,
  onesSum,
} from "./checksum.js";

describe("Internet checksum", () => {
  it("RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (checksum 220d)", () => {
    const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    assert.equal(fold(onesSum(b)), 0xddf2);
    assert.equal(internetChecksum(b), 0x220d);
  });

  it("RFC 1624 §4: HC 0xDD2F, m 0x5555 -> m' 0x3285 gives 0x0000 (Eqn. 3)", () => {
    assert.equal(checksumUpdate16(0xdd2f, 0x5555, 0x3285), 0x0000);
  });

  it("IPv4 header example (Wikipedia 'IPv4 header checksum'): checksum b861", () => {
    const h = Buffer.from("450000730000400040110000c0a80001c0a800c7", "hex");
    assert.equal(internetChecksum(h), 0xb861);
  });

  it("incremental update equals recomputation (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 64 }),
        fc.nat(),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        (data, at, repl) => {
          const b = Buffer.from(data.subarray(0, data.length - (data.length % 2)));
          const pos = (at % Math.floor((b.length - 4) / 2)) * 2;
          const before = internetChecksum(b);
          const old = Buffer.from(b.subarray(pos, pos + 4));
          b.set(repl, pos);
          const after = internetChecksum(b);
          const inc = checksumUpdateBytes(before, old, repl);
          // 0x0000 and 0xFFFF are the same number in one's complement; recomputation gives the
          // canonical one unless the data are all zero.
          assert.equal(inc === 0xffff ? 0 : inc, after === 0xffff ? 0 : after);
        },
      ),
      { numRuns: 500 },
    );
  });
});
