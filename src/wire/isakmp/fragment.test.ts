import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromHex } from "../../base/bytes.js";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import {
  ExchangeType,
  NO_FLAGS,
  PayloadType,
  isFragmentCarrier,
  isakmpCookie,
  isakmpMessageId,
  parseIkeFragment,
  serializeEncryptedIsakmpMessage,
  serializeIkeFragment,
  splitIntoFragments,
} from "./index.js";

// Hand-assembled from the layout in strongSwan's src/libcharon/encoding/payloads/fragment_payload.c
// (encoding rules: next payload, reserved, length, fragment ID u16, number u8, flags u8, data) and
// message.c create_fragment (Identity Protection, Message ID 0): fragment 2 (last) of ID 1.
const VECTOR = fromHex(
  "0102030405060708" + // initiator cookie
    "1112131415161718" + // responder cookie
    "84" + // next payload 132
    "10" + // version 1.0
    "02" + // Identity Protection
    "00" + // flags
    "00000000" + // message ID 0
    "00000029" + // length 41
    "00" + // next payload none
    "00" + // reserved
    "000d" + // payload length 13
    "0001" + // fragment ID 1
    "02" + // fragment number 2
    "01" + // flags: LAST
    "aabbccddee", // data
);

const big = serializeEncryptedIsakmpMessage(
  {
    initiatorCookie: isakmpCookie(fromHex("0102030405060708")),
    responderCookie: isakmpCookie(fromHex("1112131415161718")),
    nextPayload: PayloadType.ID,
    majorVersion: 1,
    minorVersion: 0,
    exchangeType: ExchangeType.IDENTITY_PROTECTION,
    flags: { ...NO_FLAGS, encryption: true },
    messageId: isakmpMessageId(0),
  },
  Buffer.alloc(4000, 0x5a),
);

describe("IKEv1 fragment payload (132)", () => {
  it("parses the hand-assembled vector and serializes it back byte for byte", () => {
    assert.ok(isFragmentCarrier(VECTOR));
    const r = parseIkeFragment(VECTOR);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    assert.equal(r.value.fragmentId, 1);
    assert.equal(r.value.fragmentNumber, 2);
    assert.equal(r.value.last, true);
    assert.equal(r.value.header.exchangeType, ExchangeType.IDENTITY_PROTECTION);
    assert.deepEqual(r.value.data, fromHex("aabbccddee"));
    assert.ok(serializeIkeFragment(r.value).equals(VECTOR));
  });

  it("tolerates the E flag racoon sets on fragments", () => {
    const b = Buffer.from(VECTOR);
    b[19] = 0x01;
    const r = parseIkeFragment(b);
    assert.ok(r.ok);
    assert.ok(serializeIkeFragment(r.value).equals(b));
  });

  it("refuses number 0, empty data, a second payload and a length that disagrees", () => {
    const cases: [string, (b: Buffer) => void][] = [
      ["number 0", (b) => (b[34] = 0)],
      ["next payload", (b) => (b[28] = PayloadType.VID)],
      ["payload length", (b) => b.writeUInt16BE(12, 30)],
    ];
    for (const [what, mutate] of cases) {
      const b = Buffer.from(VECTOR);
      mutate(b);
      assert.equal(parseIkeFragment(b).ok, false, what);
    }
    const empty = Buffer.from(VECTOR.subarray(0, 36));
    empty.writeUInt32BE(36, 24);
    empty.writeUInt16BE(8, 30);
    assert.equal(parseIkeFragment(empty).ok, false, "empty data");
    assert.equal(parseIkeFragment(VECTOR.subarray(0, 33)).ok, false, "truncated");
  });

  it("splits a message into numbered carriers, LAST on the final one, that concatenate back", () => {
    const parts = splitIntoFragments(big, 7, 1212);
    assert.equal(parts.length, Math.ceil(big.length / 1212));
    const pieces = parts.map((p) => {
      const r = parseIkeFragment(p);
      assert.ok(r.ok);
      return r.value;
    });
    pieces.forEach((f, i) => {
      assert.equal(f.fragmentNumber, i + 1);
      assert.equal(f.fragmentId, 7);
      assert.equal(f.last, i === pieces.length - 1);
      assert.equal(f.header.messageId, 0);
      assert.equal(f.header.flags.encryption, false);
      assert.ok(f.header.initiatorCookie.equals(big.subarray(0, 8)));
      assert.ok(f.header.responderCookie.equals(big.subarray(8, 16)));
      assert.ok(f.data.length <= 1212);
    });
    assert.ok(Buffer.concat(pieces.map((f) => f.data)).equals(big));
    assert.ok(parts.every((p) => p.length <= 28 + 8 + 1212));
  });

  it("refuses (as a bug) to cut a message into more than 255 pieces", () => {
    assert.throws(() => splitIntoFragments(big, 1, 10));
  });

  it("fuzz: parseIkeFragment never throws and round-trips what it accepts", () => {
    const seeds = [VECTOR, ...splitIntoFragments(big, 3, 500)];
    const report = fuzzParser(
      "parseIkeFragment",
      (input) => {
        const r = parseIkeFragment(input);
        if (r.ok) {
          const again = serializeIkeFragment(r.value);
          assert.ok(again.equals(Buffer.from(input).subarray(0, r.value.header.length)));
          assert.ok(r.value.fragmentNumber >= 1 && r.value.data.length > 0);
        }
        return r;
      },
      seeds,
    );
    assert.ok(report.okCount > 100 && report.errCount > 100, JSON.stringify(report));
  });
});
