/**
 * Fuzz tests (test/helpers/fuzz.ts) for every ISAKMP parse entry point, seeded with the real
 * strongSwan datagrams of test/vectors/captures and with synthetic messages carrying every
 * payload type. Besides "no throw / no hang / bounded heap", each accepted input must
 * re-serialize to exactly the bytes that were parsed (round-trip on arbitrary accepted input).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fromHex } from "../../base/bytes.js";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { isakmpDatagrams } from "../../../test/helpers/pcap.js";
import {
  DEFAULT_LIMITS,
  ExchangeType,
  IdType,
  NO_FLAGS,
  type Payload,
  PayloadType,
  attr,
  isakmpCookie,
  isakmpMessageId,
  parseDataAttributeList,
  parseIdentificationData,
  parseIsakmpHeader,
  parseIsakmpMessage,
  parsePayloadChain,
  parseSaPayloadBody,
  serializeDataAttributes,
  serializeEncryptedIsakmpMessage,
  serializeIdentificationData,
  serializeIsakmpHeader,
  serializeIsakmpMessage,
  serializeParsedIsakmpMessage,
  serializePayloadBody,
  serializePayloadChain,
  serializeSaBody,
} from "./index.js";

const captures = join(import.meta.dirname, "../../../test/vectors/captures");
const captured = ["evidence-ikev1-natt-transport.pcap", "evidence-ikev1-natt-tunnel.pcap"].flatMap(
  (f) => isakmpDatagrams(readFileSync(join(captures, f))).map((d) => d.payload),
);

const header = {
  initiatorCookie: isakmpCookie(fromHex("0102030405060708")),
  responderCookie: isakmpCookie(fromHex("1112131415161718")),
  majorVersion: 1,
  minorVersion: 0,
  exchangeType: ExchangeType.QUICK_MODE,
  flags: NO_FLAGS,
  messageId: isakmpMessageId(0x01020304),
};

const phase2Sa: Payload = {
  type: PayloadType.SA,
  reserved: 0,
  doi: 1,
  situation: 1,
  proposals: [
    {
      reserved: 0,
      number: 1,
      protocolId: 3,
      spi: fromHex("c0ffee01"),
      transforms: [
        {
          reserved: 0,
          number: 1,
          transformId: 12,
          reserved2: 0,
          attributes: [
            attr(1, 1),
            attr(2, 3600),
            attr(4, 61444),
            attr(5, 2),
            attr(6, 256),
            attr(2, 0x1_0000_0000n),
          ],
        },
        {
          reserved: 0,
          number: 2,
          transformId: 3,
          reserved2: 0,
          attributes: [attr(4, 2), attr(5, 1)],
        },
      ],
    },
    { reserved: 0, number: 2, protocolId: 4, spi: fromHex("1234"), transforms: [] },
  ],
};

const everyPayload: Payload[] = [
  { type: PayloadType.HASH, reserved: 0, data: Buffer.alloc(20, 1) },
  phase2Sa,
  { type: PayloadType.NONCE, reserved: 0, data: Buffer.alloc(16, 2) },
  { type: PayloadType.KE, reserved: 0, data: Buffer.alloc(32, 3) },
  {
    type: PayloadType.ID,
    reserved: 0,
    idType: IdType.ID_IPV4_ADDR,
    protocolId: 17,
    port: 1701,
    data: fromHex("c0000202"),
  },
  {
    type: PayloadType.ID,
    reserved: 0,
    idType: IdType.ID_FQDN,
    protocolId: 0,
    port: 0,
    data: Buffer.from("vpn.example"),
  },
  { type: PayloadType.CERT, reserved: 0, encoding: 4, data: Buffer.alloc(10, 4) },
  { type: PayloadType.CR, reserved: 0, encoding: 4, authority: Buffer.alloc(6, 5) },
  { type: PayloadType.SIG, reserved: 0, data: Buffer.alloc(12, 6) },
  {
    type: PayloadType.N,
    reserved: 0,
    doi: 1,
    protocolId: 1,
    spi: Buffer.alloc(16, 7),
    notifyType: 36136,
    data: fromHex("0000002a"),
  },
  {
    type: PayloadType.D,
    reserved: 0,
    doi: 1,
    protocolId: 3,
    spiSize: 4,
    spis: [fromHex("aabbccdd"), fromHex("01020304")],
  },
  { type: PayloadType.VID, reserved: 0, data: fromHex("4a131c81070358455c5728f20e95452f") },
  {
    type: PayloadType.ATTR,
    reserved: 0,
    cfgType: 1,
    reserved2: 0,
    identifier: 7,
    attributes: [attr(16520, 0), attr(16521, Buffer.from("user"))],
  },
  { type: PayloadType.NAT_D, reserved: 0, hash: Buffer.alloc(20, 8) },
  { type: PayloadType.NAT_D_DRAFT, reserved: 0, hash: Buffer.alloc(16, 9) },
  {
    type: PayloadType.NAT_OA,
    reserved: 0,
    idType: IdType.ID_IPV4_ADDR,
    reserved24: 0,
    address: fromHex("c0000202"),
  },
  {
    type: PayloadType.NAT_OA_DRAFT,
    reserved: 0,
    idType: IdType.ID_IPV6_ADDR,
    reserved24: 0,
    address: Buffer.alloc(16, 10),
  },
  { type: "unknown", reserved: 0, payloadType: 132, body: Buffer.alloc(8, 11) },
];

const syntheticMessages = [
  serializeIsakmpMessage(header, everyPayload),
  serializeIsakmpMessage(header, everyPayload.slice(0, 4)),
  serializeEncryptedIsakmpMessage(
    { ...header, nextPayload: PayloadType.HASH },
    Buffer.alloc(48, 0x5a),
  ),
];

const plainChain = serializePayloadChain(everyPayload);

describe("ISAKMP fuzz (seeds: strongSwan captures + synthetic messages)", () => {
  it("parseIsakmpMessage", () => {
    const report = fuzzParser(
      "parseIsakmpMessage",
      (input) => {
        const r = parseIsakmpMessage(input);
        if (r.ok) {
          const again = serializeParsedIsakmpMessage(r.value);
          assert.ok(
            again.equals(Buffer.from(input).subarray(0, r.value.header.length)),
            "round trip",
          );
        }
        return r;
      },
      [...captured, ...syntheticMessages],
    );
    assert.ok(report.okCount > 100 && report.errCount > 100, JSON.stringify(report));
  });

  it("parseIsakmpHeader", () => {
    const report = fuzzParser(
      "parseIsakmpHeader",
      (input) => {
        const r = parseIsakmpHeader(input);
        if (r.ok) {
          assert.ok(serializeIsakmpHeader(r.value).equals(Buffer.from(input).subarray(0, 28)));
          assert.ok(r.value.length >= 28 && r.value.length <= input.length);
        }
        return r;
      },
      [...captured, ...syntheticMessages],
    );
    assert.ok(report.okCount > 100 && report.errCount > 100, JSON.stringify(report));
  });

  it("parsePayloadChain (decrypted bodies, padding allowed)", () => {
    const seeds = [
      plainChain.bytes,
      Buffer.concat([plainChain.bytes, Buffer.alloc(7)]),
      ...captured.map((b) => b.subarray(28)),
    ];
    const report = fuzzParser(
      "parsePayloadChain",
      (input) => {
        // First octet picks the first payload type so that the fuzzer reaches every body parser.
        const first = input[0] ?? 0;
        const body = input.subarray(1);
        const r = parsePayloadChain(first, body, { allowTrailingPadding: true });
        if (r.ok) {
          const s = serializePayloadChain(r.value.payloads);
          assert.ok(
            s.bytes.equals(Buffer.from(body).subarray(0, body.length - r.value.paddingLength)),
          );
        }
        return r;
      },
      seeds.map((s, i) =>
        Buffer.concat([
          Buffer.of(i === 0 || i === 1 ? PayloadType.HASH : (captured[i - 2]?.[16] ?? 0)),
          s,
        ]),
      ),
    );
    assert.ok(report.okCount > 100, JSON.stringify(report));
  });

  it("SA payload body (proposals, transforms, attributes)", () => {
    const saBodies = captured.flatMap((b) => {
      const r = parseIsakmpMessage(b);
      if (!r.ok || r.value.encrypted) return [];
      return r.value.payloads.filter((p) => p.type === PayloadType.SA).map(serializePayloadBody);
    });
    const report = fuzzParser(
      "parseSaPayloadBody",
      (input) => {
        const r = parseSaPayloadBody(input, DEFAULT_LIMITS);
        if (r.ok) assert.ok(serializeSaBody(r.value).equals(Buffer.from(input)), "round trip");
        return r;
      },
      [...saBodies, serializePayloadBody(phase2Sa)],
    );
    assert.ok(report.okCount > 100, JSON.stringify(report));
  });

  it("data attribute lists", () => {
    const report = fuzzParser(
      "parseDataAttributeList",
      (input) => {
        const r = parseDataAttributeList(input);
        if (r.ok)
          assert.ok(serializeDataAttributes(r.value).equals(Buffer.from(input)), "round trip");
        return r;
      },
      [
        serializeDataAttributes([
          attr(1, 7),
          attr(14, 128),
          attr(12, 0x1_0000_0000n),
          attr(6, Buffer.alloc(9)),
        ]),
      ],
    );
    assert.ok(report.okCount > 100, JSON.stringify(report));
  });

  it("identification data (first octet = ID type)", () => {
    const typed = [
      serializeIdentificationData({ kind: "fqdn", name: "vpn.example.com" }),
      serializeIdentificationData({
        kind: "ipv6-range",
        start: "2001:db8::1",
        end: "2001:db8::ff",
      }),
      serializeIdentificationData({ kind: "key-id", keyId: fromHex("0102") }),
    ];
    const report = fuzzParser(
      "parseIdentificationData",
      (input) => {
        const r = parseIdentificationData(input[0] ?? 0, Buffer.from(input).subarray(1));
        if (r.ok) {
          const back = serializeIdentificationData(r.value);
          assert.equal(back.idType, input[0]);
          assert.ok(back.data.equals(Buffer.from(input).subarray(1)), "round trip");
        }
        return r;
      },
      [
        fromHex("01c0000202"), // ID_IPV4_ADDR 192.0.2.2
        fromHex("04c0000200ffffff00"), // ID_IPV4_ADDR_SUBNET 192.0.2.0/255.255.255.0
        fromHex("0520010db8000000000000000000000001"), // ID_IPV6_ADDR 2001:db8::1
        ...typed.map((t) => Buffer.concat([Buffer.of(t.idType), t.data])),
      ],
    );
    assert.ok(report.okCount > 100, JSON.stringify(report));
  });
});
