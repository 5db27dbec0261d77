import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fromHex } from "../../base/bytes.js";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { makePppFrame, parsePppFrame, serializePppFrame } from "./frame.js";

// Seeds: hand-built from RFC 1661 §2 / RFC 1662 §3 layouts (LCP with FF 03, IPv4 with PFC+ACFC).
const seeds = [
  fromHex("ff03c02101010004"),
  fromHex("21450000140000000040000000"),
  fromHex("ff0300214500001400000000"),
  fromHex("80210101000a030600000000"),
  fromHex("c0230101000e045573657204706173"),
];

test("frame: FF 03 + 2-octet protocol", () => {
  const r = parsePppFrame(fromHex("ff03c0210102"));
  assert.ok(r.ok);
  assert.equal(r.value.addressControl, true);
  assert.equal(r.value.protocolCompressed, false);
  assert.equal(r.value.protocol, 0xc021);
  assert.deepEqual([...r.value.information], [1, 2]);
});

test("frame: ACFC + PFC (IPv4 as one octet 0x21)", () => {
  const r = parsePppFrame(fromHex("2145"));
  assert.ok(r.ok);
  assert.equal(r.value.addressControl, false);
  assert.equal(r.value.protocolCompressed, true);
  assert.equal(r.value.protocol, 0x21);
  assert.equal(
    makePppFrame(0x21, fromHex("45"), { acfc: true, pfc: true }).toString("hex"),
    "2145",
  );
  assert.equal(
    makePppFrame(0xc021, fromHex("45"), { acfc: true, pfc: true }).toString("hex"),
    "c02145",
  );
  assert.equal(
    makePppFrame(0x21, fromHex("45"), { acfc: false, pfc: false }).toString("hex"),
    "ff03002145",
  );
});

test("frame: errors are typed", () => {
  const cases: [string, string][] = [
    ["", "OAK_E_WIRE_TRUNCATED"],
    ["ff", "OAK_E_WIRE_TRUNCATED"],
    ["ff04c021", "OAK_E_WIRE_BAD_VALUE"],
    ["ff03c0", "OAK_E_WIRE_TRUNCATED"],
    ["c020", "OAK_E_WIRE_BAD_VALUE"],
  ];
  for (const [h, code] of cases) {
    const r = parsePppFrame(fromHex(h));
    assert.ok(!r.ok, h);
    assert.equal(r.error.code, code, h);
  }
});

test("frame: round trip (property)", () => {
  const protocol = fc.oneof(
    fc.integer({ min: 0, max: 0x7f }).map((n) => n * 2 + 1),
    fc
      .tuple(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0, max: 0x7f }))
      .map(([h, l]) => ((h * 2) << 8) | (l * 2 + 1)),
  );
  fc.assert(
    fc.property(
      protocol,
      fc.boolean(),
      fc.boolean(),
      fc.uint8Array({ maxLength: 64 }),
      (p, ac, pc, info) => {
        const f = {
          addressControl: ac,
          // 0x00ff compressed without FF 03 would read as an Address field (see frame.ts).
          protocolCompressed: pc && p < 0x100 && (p !== 0xff || ac),
          protocol: p,
          information: info,
        };
        const bytes = serializePppFrame(f);
        const r = parsePppFrame(bytes);
        assert.ok(r.ok);
        assert.equal(r.value.protocol, p);
        assert.equal(r.value.addressControl, ac);
        assert.equal(r.value.protocolCompressed, f.protocolCompressed);
        assert.deepEqual(Buffer.from(r.value.information), Buffer.from(info));
        assert.deepEqual(serializePppFrame(r.value), bytes);
      },
    ),
  );
});

test("frame: fuzz parsePppFrame", () => {
  fuzzParser("parsePppFrame", parsePppFrame, seeds);
});
