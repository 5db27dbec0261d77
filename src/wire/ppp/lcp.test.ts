import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fromHex } from "../../base/bytes.js";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import {
  type LcpOption,
  type LcpPacket,
  chapAlgorithmOf,
  parseLcpPacket,
  serializeLcpPacket,
} from "./lcp.js";

/** Uint8Array -> hex, recursively, so parsed and generated values compare structurally. */
function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x).toString("hex");
  if (Array.isArray(x)) return x.map(norm);
  if (x && typeof x === "object")
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)]));
  return x;
}

// Seeds hand-built from the layouts of RFC 1661 §5-§6 and the option sets that pppd 2.4.9
// (MRU 1280, ACCM 0, magic, PFC, ACFC) and Windows (MRU 1400, magic, PFC, ACFC, Callback 13)
// put in their first Configure-Request.
const pppdConfReq = fromHex("010100180104050002060000000005061234567807020802");
const serverConfReq = fromHex("010100130104057803 05c2238105 06abcdef01".replace(/ /g, ""));
const windowsConfReq = fromHex("0102001501040578050600c0ffee070208020d0306");
const seeds = [
  pppdConfReq,
  serverConfReq,
  windowsConfReq,
  fromHex("0203000803 04c023".replace(/ /g, "")),
  fromHex("0904000812345678"),
  fromHex("0a0400100badf00d6869206d6f6d2121"),
  fromHex("0805000c80570101000a01 0a".replace(/ /g, "")),
  fromHex("07060008 0e010004".replace(/ /g, "")),
  fromHex("0c07000c12345678 6f616b6c".replace(/ /g, "")),
  fromHex("0d080010123456780000012c6f616b6c"),
  fromHex("050900066869"),
  fromHex("060900040000"),
];

test("LCP: pppd's Configure-Request decodes to its options", () => {
  const r = parseLcpPacket(pppdConfReq);
  assert.ok(r.ok);
  assert.equal(r.value.kind, "Configure-Request");
  assert.equal(r.value.identifier, 1);
  if (r.value.kind !== "Configure-Request") return;
  assert.deepEqual(norm(r.value.options), [
    { kind: "mru", mru: 1280 },
    { kind: "accm", accm: 0 },
    { kind: "magic-number", magic: 0x12345678 },
    { kind: "pfc" },
    { kind: "acfc" },
  ]);
});

test("LCP: Authentication-Protocol CHAP with algorithm 0x81 (RFC 2759 §2)", () => {
  const r = parseLcpPacket(serverConfReq);
  assert.ok(r.ok && r.value.kind === "Configure-Request");
  if (!r.ok || r.value.kind !== "Configure-Request") return;
  const auth = r.value.options[1];
  assert.ok(auth && auth.kind === "auth-protocol");
  if (auth?.kind !== "auth-protocol") return;
  assert.equal(auth.protocol, 0xc223);
  assert.equal(chapAlgorithmOf(auth), 0x81);
  assert.equal(chapAlgorithmOf({ protocol: 0xc023, data: new Uint8Array() }), undefined);
});

test("LCP: unknown option (Windows Callback 13) and malformed MRU stay raw", () => {
  const r = parseLcpPacket(windowsConfReq);
  assert.ok(r.ok && r.value.kind === "Configure-Request");
  if (!r.ok || r.value.kind !== "Configure-Request") return;
  assert.deepEqual(norm(r.value.options[4]), { kind: "raw", type: 13, data: "06" });
  const m = parseLcpPacket(fromHex("0101000701030a"));
  assert.ok(m.ok && m.value.kind === "Configure-Request");
  if (m.ok && m.value.kind === "Configure-Request")
    assert.deepEqual(norm(m.value.options), [{ kind: "raw", type: 1, data: "0a" }]);
});

test("LCP: padding after Length is kept and round-trips", () => {
  const b = fromHex("0904000812345678000000");
  const r = parseLcpPacket(b);
  assert.ok(r.ok);
  if (r.ok) assert.deepEqual(serializeLcpPacket(r.value), b);
});

test("LCP: typed errors", () => {
  const cases: [string, string][] = [
    ["0101", "OAK_E_WIRE_TRUNCATED"],
    ["01010003", "OAK_E_WIRE_BAD_LENGTH"],
    ["01010010", "OAK_E_WIRE_TRUNCATED"],
    ["010100060101", "OAK_E_WIRE_BAD_LENGTH"],
    ["0101000601", "OAK_E_WIRE_TRUNCATED"],
    ["01010006010a", "OAK_E_WIRE_TRUNCATED"],
    ["080100050a", "OAK_E_WIRE_TRUNCATED"],
    ["09010006ffff", "OAK_E_WIRE_TRUNCATED"],
    ["0d01000a1234567800", "OAK_E_WIRE_TRUNCATED"],
  ];
  for (const [h, code] of cases) {
    const r = parseLcpPacket(fromHex(h));
    assert.ok(!r.ok, h);
    if (!r.ok) assert.equal(r.error.code, code, h);
  }
});

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const padding = fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: undefined });

export const lcpOptionArb: fc.Arbitrary<LcpOption> = fc.oneof(
  u16.map((mru) => ({ kind: "mru" as const, mru })),
  u32.map((accm) => ({ kind: "accm" as const, accm })),
  fc.record({ kind: fc.constant("auth-protocol" as const), protocol: u16, data: bytes(8) }),
  fc.record({ kind: fc.constant("quality-protocol" as const), protocol: u16, data: bytes(8) }),
  u32.map((magic) => ({ kind: "magic-number" as const, magic })),
  fc.constant({ kind: "pfc" as const }),
  fc.constant({ kind: "acfc" as const }),
  fc.record({
    kind: fc.constant("raw" as const),
    type: u8.filter((t) => ![1, 2, 3, 4, 5, 7, 8].includes(t)),
    data: bytes(16),
  }),
);

function withPad<T extends object>(p: T, pad: Uint8Array | undefined): T {
  return pad ? { ...p, padding: pad } : p;
}

const lcpPacketArb: fc.Arbitrary<LcpPacket> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom("Configure-Request", "Configure-Ack", "Configure-Nak", "Configure-Reject"),
      u8,
      fc.array(lcpOptionArb, { maxLength: 8 }),
      padding,
    )
    .map(
      ([kind, identifier, options, pad]) =>
        withPad({ kind, identifier, options }, pad) as LcpPacket,
    ),
  fc
    .tuple(fc.constantFrom("Terminate-Request", "Terminate-Ack"), u8, bytes(16), padding)
    .map(([kind, identifier, data, pad]) => withPad({ kind, identifier, data }, pad) as LcpPacket),
  fc
    .tuple(u8, bytes(32), padding)
    .map(([identifier, rejectedPacket, pad]) =>
      withPad({ kind: "Code-Reject" as const, identifier, rejectedPacket }, pad),
    ),
  fc
    .tuple(u8, u16, bytes(32), padding)
    .map(([identifier, rejectedProtocol, rejectedInformation, pad]) =>
      withPad(
        { kind: "Protocol-Reject" as const, identifier, rejectedProtocol, rejectedInformation },
        pad,
      ),
    ),
  fc
    .tuple(
      fc.constantFrom("Echo-Request", "Echo-Reply", "Discard-Request"),
      u8,
      u32,
      bytes(16),
      padding,
    )
    .map(
      ([kind, identifier, magic, data, pad]) =>
        withPad({ kind, identifier, magic, data }, pad) as LcpPacket,
    ),
  fc
    .tuple(u8, u32, bytes(16), padding)
    .map(([identifier, magic, message, pad]) =>
      withPad({ kind: "Identification" as const, identifier, magic, message }, pad),
    ),
  fc
    .tuple(u8, u32, u32, bytes(16), padding)
    .map(([identifier, magic, secondsRemaining, message, pad]) =>
      withPad(
        { kind: "Time-Remaining" as const, identifier, magic, secondsRemaining, message },
        pad,
      ),
    ),
  fc
    .tuple(
      fc.integer({ min: 14, max: 255 }).chain((c) => fc.constantFrom(0, c)),
      u8,
      bytes(16),
      padding,
    )
    .map(([code, identifier, data, pad]) =>
      withPad({ kind: "Unknown-Code" as const, code, identifier, data }, pad),
    ),
);

test("LCP: every packet kind and option round-trips (property)", () => {
  fc.assert(
    fc.property(lcpPacketArb, (p) => {
      const b = serializeLcpPacket(p);
      const r = parseLcpPacket(b);
      assert.ok(r.ok, JSON.stringify(r));
      if (!r.ok) return;
      assert.deepEqual(norm(r.value), norm(p));
      assert.deepEqual(serializeLcpPacket(r.value), b);
    }),
    { numRuns: 2000 },
  );
});

test("LCP: fuzz parseLcpPacket", () => {
  fuzzParser("parseLcpPacket", parseLcpPacket, seeds);
});
