/**
 * ESP header/trailer codec (RFC 4303 §2): views agree with records, default padding check
 * (§2.4), reserved SPIs (§2.1), round trips and fuzz. The plaintext of draft-mcgrew-gcm-test-01
 * page 7 ends in padding 01 02, Pad Length 2, Next Header 1.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import {
  asSpi,
  espPadLength,
  espSeq,
  espSpi,
  parseEspPacket,
  parseEspPlaintext,
  serializeEspPacket,
  serializeEspPlaintext,
} from "./esp.js";

const PACKET = Buffer.from("00004321000000004956ed7e3b244cfefecf537e729d5b07", "hex");

describe("ESP wire format", () => {
  it("views read SPI and sequence number in place", () => {
    assert.equal(espSpi(PACKET), 0x4321);
    assert.equal(espSeq(PACKET), 0);
    const r = parseEspPacket(PACKET);
    assert.ok(r.ok);
    assert.equal(r.value.spi, 0x4321);
    assert.deepEqual(serializeEspPacket(r.value), PACKET);
  });

  it("rejects reserved SPIs 0..255 and short packets", () => {
    assert.equal(parseEspPacket(Buffer.from("0000000000000001", "hex")).ok, false);
    assert.equal(parseEspPacket(Buffer.from("000000ff00000001", "hex")).ok, false);
    assert.equal(parseEspPacket(Buffer.alloc(7)).ok, false);
  });

  it("trailer: published plaintext, and bad padding", () => {
    const tail = Buffer.from("0021000101020201", "hex");
    const r = parseEspPlaintext(tail);
    assert.ok(r.ok);
    assert.equal(r.value.nextHeader, 1);
    assert.deepEqual([...r.value.padding], [1, 2]);
    assert.equal(Buffer.from(r.value.payload).toString("hex"), "00210001");
    const bad = parseEspPlaintext(Buffer.from("0021000101030201", "hex"));
    assert.ok(!bad.ok && bad.error.code === "OAK_E_WIRE_BAD_VALUE");
    assert.equal(
      parseEspPlaintext(Buffer.from("0105", "hex")).ok,
      false,
      "pad length beyond the data",
    );
    assert.ok(
      parseEspPlaintext(Buffer.from("0021000101030201", "hex"), { checkPadding: false }).ok,
    );
  });

  it("pad length aligns payload + 2 to the block (at least 4)", () => {
    assert.equal(espPadLength(62, 4), 0);
    assert.equal(espPadLength(60, 16), 2);
    assert.equal(espPadLength(14, 16), 0);
    assert.equal(espPadLength(0, 8), 6);
  });

  it("round-trips (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 256, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ maxLength: 64 }),
        (spi, seq, body) => {
          const b = serializeEspPacket({ spi: asSpi(spi), seq, body });
          const r = parseEspPacket(b);
          assert.ok(r.ok);
          assert.deepEqual(serializeEspPacket(r.value), b);
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        (payload, padLen, nh) => {
          const padding = Uint8Array.from({ length: padLen }, (_, i) => i + 1);
          const b = serializeEspPlaintext({ payload, padding, nextHeader: nh });
          const r = parseEspPlaintext(b);
          assert.ok(r.ok);
          assert.deepEqual(serializeEspPlaintext(r.value), b);
        },
      ),
    );
  });

  it("fuzz: parseEspPacket / parseEspPlaintext", () => {
    fuzzParser("parseEspPacket", parseEspPacket, [PACKET], { iterations: 30000 });
    fuzzParser("parseEspPlaintext", parseEspPlaintext, [Buffer.from("0021000101020201", "hex")], {
      iterations: 30000,
    });
  });
});
