/**
 * Round-trip properties (fast-check) for the L2TP header and every AVP of RFC 2661 §4.4, plus
 * hand-written edge cases whose expected bytes come from the RFC 2661 §3.1/§4.1 diagrams.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { WireErrorCode } from "../../base/errors.js";
import { fromHex } from "../../base/bytes.js";
import { unwrap } from "../../base/result.js";
import { AvpType } from "../../registry/l2tp.js";
import {
  type BytesAvpType,
  type L2tpAvp,
  type RawAvp,
  type U16AvpType,
  type U32AvpType,
  decodeAvp,
  encodeAvp,
  parseAvps,
  serializeAvps,
} from "./avp.js";
import { decodeControlMessage, encodeControlMessage } from "./control.js";
import {
  type L2tpHeader,
  L2TP_RESERVED_MASK,
  parseL2tpPacket,
  serializeL2tpPacket,
} from "./header.js";

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));

const reservedBits = fc.integer({ min: 0, max: 0xffff }).map((x) => x & L2TP_RESERVED_MASK);

const headerArb: fc.Arbitrary<L2tpHeader> = fc.oneof(
  // control: T=1 L=1 S=1 O=0 P=0
  fc.record({ r: reservedBits, t: u16, s: u16, ns: u16, nr: u16 }).map(
    ({ r, t, s, ns, nr }): L2tpHeader => ({
      isControl: true,
      lengthPresent: true,
      sequencePresent: true,
      offsetPresent: false,
      priority: false,
      reserved: r,
      tunnelId: t,
      sessionId: s,
      ns,
      nr,
    }),
  ),
  fc
    .record({
      r: reservedBits,
      l: fc.boolean(),
      seq: fc.boolean(),
      o: fc.boolean(),
      p: fc.boolean(),
      t: u16,
      s: u16,
      ns: u16,
      nr: u16,
      pad: bytes(0, 40),
    })
    .map(
      ({ r, l, seq, o, p, t, s, ns, nr, pad }): L2tpHeader => ({
        isControl: false,
        lengthPresent: l,
        sequencePresent: seq,
        offsetPresent: o,
        priority: p,
        reserved: r,
        tunnelId: t,
        sessionId: s,
        ...(seq ? { ns, nr } : {}),
        ...(o ? { offsetPad: pad } : {}),
      }),
    ),
);

test("header + body round-trips (property)", () => {
  fc.assert(
    fc.property(headerArb, bytes(0, 200), (header, body) => {
      const wire = serializeL2tpPacket({ header, body });
      const p = unwrap(parseL2tpPacket(wire));
      assert.deepEqual(p.header, header);
      assert.deepEqual(p.body, body);
      assert.deepEqual(serializeL2tpPacket(p), wire);
    }),
  );
});

test("header layout follows the RFC 2661 §3.1 diagram", () => {
  // T L . . S . O P | . . . . Ver=2 : data message with L, S, O and P set, 2 bytes of pad
  const wire = fromHex("4b02 0012 1234 5678 0001 0002 0002 aaaa ff03");
  const p = unwrap(parseL2tpPacket(wire));
  assert.equal(p.kind, "data");
  assert.deepEqual(
    [p.header.tunnelId, p.header.sessionId, p.header.ns, p.header.nr, p.header.priority],
    [0x1234, 0x5678, 1, 2, true],
  );
  assert.deepEqual(p.header.offsetPad, fromHex("aaaa"));
  assert.deepEqual(p.body, fromHex("ff03"));
  // minimal data header: no L, S, O
  const m = unwrap(parseL2tpPacket(fromHex("0002 0001 0002 ff03c021")));
  assert.deepEqual(m.body, fromHex("ff03c021"));
  // bytes after Length are kept as trailing
  const t = unwrap(parseL2tpPacket(fromHex("c802 000c 0001 0000 0000 0000 eeee")));
  assert.deepEqual(t.trailing, fromHex("eeee"));
  assert.deepEqual(serializeL2tpPacket(t), fromHex("c802 000c 0001 0000 0000 0000 eeee"));
});

test("header errors are typed", () => {
  const code = (h: string) => {
    const r = parseL2tpPacket(fromHex(h));
    return r.ok ? "ok" : r.error.code;
  };
  assert.equal(code("c803 000c 0001 0000 0000 0000"), WireErrorCode.BadValue); // version 3 (L2TPv3)
  assert.equal(code("c801 000c 0001 0000 0000 0000"), WireErrorCode.BadValue); // version 1 (L2F)
  assert.equal(code("8802 0001 0000 0000 0000"), WireErrorCode.BadValue); // control without L
  assert.equal(code("c002 000c 0001 0000 0000 0000"), WireErrorCode.BadValue); // control without S
  assert.equal(code("ca02 000e 0001 0000 0000 0000 0000"), WireErrorCode.BadValue); // control with O
  assert.equal(code("c802 0010 0001 0000 0000 0000"), WireErrorCode.Truncated); // Length > datagram
  assert.equal(code("c802 0008 0001 0000 0000 0000"), WireErrorCode.BadLength); // Length < header
  assert.equal(code("0202 0001 0002 0005 aa"), WireErrorCode.BadLength); // Offset Size beyond end
  assert.equal(code("0002 00"), WireErrorCode.Truncated);
});

const m = fc.boolean();
const u16Types: U16AvpType[] = [0, 6, 9, 10, 14, 29];
const u32Types: U32AvpType[] = [3, 4, 15, 16, 17, 18, 19, 24, 25, 38];
const bytesTypes: [BytesAvpType, number, number][] = [
  [5, 8, 8],
  [7, 1, 60],
  [8, 0, 60],
  [11, 1, 60],
  [13, 16, 16],
  [21, 0, 60],
  [22, 0, 60],
  [23, 0, 60],
  [26, 0, 60],
  [27, 0, 60],
  [28, 0, 60],
  [30, 0, 60],
  [31, 0, 60],
  [33, 0, 60],
  [36, 1, 60],
  [37, 0, 60],
];

/** Every typed AVP of RFC 2661 §4.4. */
const avpArb: fc.Arbitrary<L2tpAvp> = fc
  .oneof(
    fc.record({ mandatory: m, type: fc.constantFrom(...u16Types), value: u16 }),
    fc.record({ mandatory: m, type: fc.constantFrom(...u32Types), value: u32 }),
    fc
      .constantFrom(...bytesTypes)
      .chain(([type, min, max]) =>
        fc.record({ mandatory: m, type: fc.constant(type), value: bytes(min, max) }),
      ),
    fc.record({ mandatory: m, type: fc.constant(AvpType.ResultCode), resultCode: u16 }),
    fc.record({
      mandatory: m,
      type: fc.constant(AvpType.ResultCode),
      resultCode: u16,
      errorCode: u16,
    }),
    fc.record({
      mandatory: m,
      type: fc.constant(AvpType.ResultCode),
      resultCode: u16,
      errorCode: u16,
      errorMessage: bytes(1, 40),
    }),
    fc.record({
      mandatory: m,
      type: fc.constant(AvpType.ProtocolVersion),
      version: fc.integer({ min: 0, max: 255 }),
      revision: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({
      mandatory: m,
      type: fc.constant(AvpType.Q931CauseCode),
      causeCode: u16,
      causeMsg: fc.integer({ min: 0, max: 255 }),
      advisory: bytes(0, 40),
    }),
    fc.record({
      mandatory: m,
      type: fc.constant(AvpType.ProxyAuthenId),
      reserved: fc.integer({ min: 0, max: 255 }),
      id: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({
      mandatory: m,
      type: fc.constant(AvpType.CallErrors),
      reserved: u16,
      crcErrors: u32,
      framingErrors: u32,
      hardwareOverruns: u32,
      bufferOverruns: u32,
      timeoutErrors: u32,
      alignmentErrors: u32,
    }),
    fc.record({
      mandatory: m,
      type: fc.constant(AvpType.Accm),
      reserved: u16,
      sendAccm: u32,
      receiveAccm: u32,
    }),
    fc.record({ mandatory: m, type: fc.constant(AvpType.SequencingRequired) }),
  )
  .map((a) => ({ ...a })) as fc.Arbitrary<L2tpAvp>;

test("every typed AVP round-trips: typed -> raw -> bytes -> raw -> typed (property)", () => {
  fc.assert(
    fc.property(fc.array(avpArb, { maxLength: 12 }), (avps) => {
      const raws = avps.map(encodeAvp);
      const wire = serializeAvps(raws);
      const back = unwrap(parseAvps(wire));
      assert.deepEqual(back, raws);
      assert.deepEqual(
        back.map((r) => unwrap(decodeAvp(r))),
        avps,
      );
    }),
    { numRuns: 500 },
  );
});

const rawArb: fc.Arbitrary<RawAvp> = fc
  .record({
    mandatory: m,
    hidden: m,
    reserved: fc.integer({ min: 0, max: 15 }),
    vendorId: u16,
    attributeType: u16,
    value: bytes(0, 80),
  })
  .map((a) => ({ ...a }));

test("raw AVP lists (any flags, vendor, type) round-trip byte-exactly (property)", () => {
  fc.assert(
    fc.property(fc.array(rawArb, { maxLength: 10 }), (raws) => {
      const wire = serializeAvps(raws);
      assert.deepEqual(unwrap(parseAvps(wire)), raws);
    }),
  );
});

test("AVP header layout follows the RFC 2661 §4.1 diagram", () => {
  // M=1 H=0 rsvd=0 Length=8 Vendor 0 Type 0 (Message Type) value 1 (SCCRQ)
  const [a] = unwrap(parseAvps(fromHex("8008 0000 0000 0001")));
  assert.deepEqual(a, {
    mandatory: true,
    hidden: false,
    reserved: 0,
    vendorId: 0,
    attributeType: 0,
    value: fromHex("0001"),
  });
  // H=1, reserved bits 0b1010, vendor 311
  const [b] = unwrap(parseAvps(fromHex("6807 0137 0001 aa")));
  assert.deepEqual(b, {
    mandatory: false,
    hidden: true,
    reserved: 10,
    vendorId: 311,
    attributeType: 1,
    value: fromHex("aa"),
  });
  const bad = (h: string) => {
    const r = parseAvps(fromHex(h));
    return r.ok ? "ok" : r.error.code;
  };
  assert.equal(bad("8005 0000 0000"), WireErrorCode.BadLength); // Length < 6
  assert.equal(bad("8009 0000 0000 0001"), WireErrorCode.BadLength); // Length beyond body
  assert.equal(bad("8008 00"), WireErrorCode.Truncated);
});

test("typed decode rejects wrong value sizes with BadLength", () => {
  const raw = (type: number, value: string): RawAvp => ({
    mandatory: true,
    hidden: false,
    reserved: 0,
    vendorId: 0,
    attributeType: type,
    value: fromHex(value),
  });
  const code = (a: RawAvp) => {
    const r = decodeAvp(a);
    return r.ok ? "ok" : r.error.code;
  };
  assert.equal(code(raw(AvpType.MessageType, "01")), WireErrorCode.BadLength);
  assert.equal(code(raw(AvpType.ResultCode, "000100")), WireErrorCode.BadLength);
  assert.equal(code(raw(AvpType.TieBreaker, "0102")), WireErrorCode.BadLength);
  assert.equal(code(raw(AvpType.ChallengeResponse, "00")), WireErrorCode.BadLength);
  assert.equal(code(raw(AvpType.HostName, "")), WireErrorCode.BadLength);
  assert.equal(code(raw(AvpType.SequencingRequired, "00")), WireErrorCode.BadLength);
  assert.equal(code(raw(AvpType.CallErrors, "00".repeat(25))), WireErrorCode.BadLength);
  assert.equal(code(raw(20, "")), WireErrorCode.BadValue); // unassigned type 20
  assert.equal(code({ ...raw(AvpType.HostName, "61"), vendorId: 9 }), WireErrorCode.BadValue);
});

test("control message decode sorts unknown AVPs by M bit and never throws", () => {
  const avps = encodeControlMessage([
    { type: AvpType.MessageType, mandatory: true, value: 6 },
    { type: AvpType.HostName, mandatory: true, value: Buffer.from("h") },
  ]);
  const vendorOptional: RawAvp = {
    mandatory: false,
    hidden: false,
    reserved: 0,
    vendorId: 311,
    attributeType: 1,
    value: fromHex("01"),
  };
  const vendorMandatory: RawAvp = { ...vendorOptional, mandatory: true };
  const unassigned: RawAvp = { ...vendorOptional, vendorId: 0, attributeType: 20, mandatory: true };
  const reservedSet: RawAvp = { ...avps[1]!, reserved: 1 };
  const c = unwrap(
    decodeControlMessage([...avps, vendorOptional, vendorMandatory, unassigned, reservedSet]),
  );
  assert.equal(c.messageType, 6);
  assert.equal(c.avps.length, 2);
  assert.deepEqual(c.unknown, [vendorOptional]);
  assert.deepEqual(c.unknownMandatory, [vendorMandatory, unassigned, reservedSet]);
  // Message Type must be first
  assert.equal(decodeControlMessage([avps[1]!, avps[0]!]).ok, false);
  assert.equal(decodeControlMessage([]).ok, false);
});
