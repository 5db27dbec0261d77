/**
 * The hot-path view codec against the full codecs as oracles: for any bytes, `readL2tpData`
 * accepts exactly the data messages `parseL2tpPacket` accepts and finds the same IDs and PPP
 * frame; `pppIpv4Offset` agrees with `parsePppFrame` on IPv4; the written head parses back with
 * `parseL2tpPacket` / `parsePppFrame`. Plus hostile bytes (fuzz) never throw.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { ok } from "../../base/result.js";
import { parsePppFrame } from "../ppp/frame.js";
import {
  IPV4_HEAD_LENGTH,
  newL2tpDataView,
  pppIpv4Offset,
  readL2tpData,
  writeIpv4Head,
} from "./data-view.js";
import { dataHeader, parseL2tpPacket, serializeL2tpPacket } from "./header.js";

/** Data messages in every flag combination, plus their mutations. */
const dataMessage = fc
  .record({
    lengthBit: fc.boolean(),
    seq: fc.boolean(),
    tunnel: fc.integer({ min: 0, max: 0xffff }),
    session: fc.integer({ min: 0, max: 0xffff }),
    offset: fc.option(fc.uint8Array({ maxLength: 6 }), { nil: undefined }),
    body: fc.uint8Array({ maxLength: 64 }),
  })
  .map((r) => {
    const h = dataHeader(r.tunnel, r.session, {
      lengthBit: r.lengthBit,
      ...(r.seq ? { ns: 1, nr: 2 } : {}),
    });
    const header = r.offset ? { ...h, offsetPresent: true, offsetPad: Buffer.from(r.offset) } : h;
    return serializeL2tpPacket({ header, body: Buffer.from(r.body) });
  });

const anyBytes = fc.oneof(
  dataMessage,
  dataMessage.chain((b) =>
    fc.tuple(fc.nat(b.length), fc.integer({ min: 0, max: 255 })).map(([i, x]) => {
      const c = Buffer.from(b);
      if (i < c.length) c[i] = x;
      return c;
    }),
  ),
  dataMessage.chain((b) => fc.nat(b.length).map((n) => b.subarray(0, n))),
  fc.uint8Array({ maxLength: 40 }),
);

describe("L2TP data view agrees with the full codec", () => {
  it("readL2tpData accepts what parseL2tpPacket accepts as data, with the same fields", () => {
    const v = newL2tpDataView();
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        const full = parseL2tpPacket(bytes);
        const fast = readL2tpData(bytes, v);
        const isData = full.ok && full.value.kind === "data";
        assert.equal(fast, isData, `view ${fast}, codec ${JSON.stringify(full.ok || full.error)}`);
        if (full.ok && full.value.kind === "data") {
          assert.equal(v.tunnelId, full.value.header.tunnelId);
          assert.equal(v.sessionId, full.value.header.sessionId);
          assert.equal(v.sequenced, full.value.header.sequencePresent);
          assert.deepEqual(Buffer.from(bytes.subarray(v.frameStart, v.frameEnd)), full.value.body);
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it("pppIpv4Offset finds IPv4 exactly where parsePppFrame says the protocol is 0x0021", () => {
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 8 }),
      fc
        .uint8Array({ maxLength: 8 })
        .map((x) => Buffer.concat([Buffer.from([0xff, 0x03, 0, 0x21]), x])),
      fc.uint8Array({ maxLength: 8 }).map((x) => Buffer.concat([Buffer.from([0x21]), x])),
      fc
        .uint8Array({ maxLength: 8 })
        .map((x) => Buffer.concat([Buffer.from([0xff, 0x03, 0x21]), x])),
    );
    fc.assert(
      fc.property(frame, (f) => {
        const p = parsePppFrame(f);
        const at = pppIpv4Offset(f, 0, f.length);
        if (p.ok && p.value.protocol === 0x21) {
          assert.equal(at, f.length - p.value.information.length);
        } else {
          assert.equal(at, -1);
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it("the written head parses as UDP 1701 -> port, an L2TP data message and a PPP IPv4 frame", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ minLength: 20, maxLength: 200 }),
        (port, tunnel, session, ip) => {
          const head = Buffer.alloc(IPV4_HEAD_LENGTH);
          writeIpv4Head(head, port, tunnel, session, ip.length);
          const dgram = Buffer.concat([head, ip]);
          assert.equal(dgram.readUInt16BE(0), 1701);
          assert.equal(dgram.readUInt16BE(2), port);
          assert.equal(dgram.readUInt16BE(4), dgram.length);
          const l2tp = parseL2tpPacket(dgram.subarray(8));
          assert.ok(l2tp.ok && l2tp.value.kind === "data");
          assert.equal(l2tp.value.header.tunnelId, tunnel);
          assert.equal(l2tp.value.header.sessionId, session);
          assert.equal(l2tp.value.trailing.length, 0);
          const ppp = parsePppFrame(l2tp.value.body);
          assert.ok(ppp.ok);
          assert.equal(ppp.value.protocol, 0x21);
          assert.deepEqual(Buffer.from(ppp.value.information), Buffer.from(ip));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("hostile bytes never throw", () => {
    const v = newL2tpDataView();
    fuzzParser(
      "readL2tpData",
      (b) => {
        if (readL2tpData(b, v)) pppIpv4Offset(b, v.frameStart, v.frameEnd);
        return ok(undefined);
      },
      [Buffer.from("4002000c0001000200ff0321", "hex")],
      { iterations: 50_000 },
    );
  });
});
