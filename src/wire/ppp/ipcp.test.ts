import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fromHex } from "../../base/bytes.js";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import {
  type IpcpOption,
  type IpcpPacket,
  type Ipv6cpOption,
  type Ipv6cpPacket,
  parseIpcpPacket,
  parseIpv6cpPacket,
  serializeIpcpPacket,
  serializeIpv6cpPacket,
} from "./ipcp.js";

function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x).toString("hex");
  if (Array.isArray(x)) return x.map(norm);
  if (x && typeof x === "object")
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)]));
  return x;
}

// Windows-style IPCP Configure-Request (RFC 1332 §3.2 VJ 0x002d max-slot 15 comp-slot 1,
// RFC 1332 §3.3 IP-Address 0.0.0.0, RFC 1877 DNS/NBNS 0.0.0.0), hand-built.
const windowsReq = fromHex(
  "0105002802060 02d0f01030600000000810600000000820600000000830600000000840600000000".replace(
    / /g,
    "",
  ),
);
const ipcpSeeds = [
  windowsReq,
  fromHex("0101000a03060a000001"),
  fromHex("0302001003 06cb00710a 8106c0000235".replace(/ /g, "")),
  fromHex(`${"0403000c020600 2d0f01".replace(/ /g, "")}00`),
  fromHex("0104000e010ac0000201c0000202"),
  fromHex("05060004"),
];
const ipv6cpSeeds = [
  fromHex("0101000e010a0123456789abcdef"),
  fromHex("0402000a020600 4f0000".replace(/ /g, "")),
];

test("IPCP: Windows Configure-Request decodes (RFC 1332 / RFC 1877 options)", () => {
  const r = parseIpcpPacket(windowsReq);
  assert.ok(r.ok && r.value.kind === "Configure-Request");
  if (!r.ok || r.value.kind !== "Configure-Request") return;
  assert.deepEqual(norm(r.value.options), [
    { kind: "ip-compression-protocol", protocol: 0x2d, data: "0f01" },
    { kind: "ip-address", address: "0.0.0.0" },
    { kind: "primary-dns", address: "0.0.0.0" },
    { kind: "primary-nbns", address: "0.0.0.0" },
    { kind: "secondary-dns", address: "0.0.0.0" },
    { kind: "secondary-nbns", address: "0.0.0.0" },
  ]);
});

test("IPCP: deprecated IP-Addresses (1) and codes beyond 7", () => {
  const r = parseIpcpPacket(fromHex("0104000e010ac0000201c0000202"));
  assert.ok(r.ok && r.value.kind === "Configure-Request");
  if (r.ok && r.value.kind === "Configure-Request") {
    assert.deepEqual(r.value.options, [
      { kind: "ip-addresses", source: "192.0.2.1", destination: "192.0.2.2" },
    ]);
  }
  const u = parseIpcpPacket(fromHex("09010008deadbeef"));
  assert.ok(u.ok && u.value.kind === "Unknown-Code");
});

test("IPV6CP: Interface-Identifier (RFC 5072 §4.1)", () => {
  const r = parseIpv6cpPacket(fromHex("0101000e010a0123456789abcdef"));
  assert.ok(r.ok && r.value.kind === "Configure-Request");
  if (r.ok && r.value.kind === "Configure-Request") {
    assert.deepEqual(norm(r.value.options), [
      { kind: "interface-identifier", identifier: "0123456789abcdef" },
    ]);
  }
});

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const ip = fc.ipV4();
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const padding = fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: undefined });
const withPad = <T extends object>(p: T, pad: Uint8Array | undefined): T =>
  pad ? { ...p, padding: pad } : p;

const ipcpOptionArb: fc.Arbitrary<IpcpOption> = fc.oneof(
  fc.record({
    kind: fc.constantFrom(
      "ip-address",
      "primary-dns",
      "primary-nbns",
      "secondary-dns",
      "secondary-nbns",
    ),
    address: ip,
  }),
  fc.record({ kind: fc.constant("ip-addresses" as const), source: ip, destination: ip }),
  fc.record({
    kind: fc.constant("ip-compression-protocol" as const),
    protocol: u16,
    data: bytes(8),
  }),
  fc.record({
    kind: fc.constant("raw" as const),
    type: u8.filter((t) => ![1, 2, 3, 129, 130, 131, 132].includes(t)),
    data: bytes(8),
  }),
);
const ipv6cpOptionArb: fc.Arbitrary<Ipv6cpOption> = fc.oneof(
  fc.record({
    kind: fc.constant("interface-identifier" as const),
    identifier: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant("ipv6-compression-protocol" as const),
    protocol: u16,
    data: bytes(8),
  }),
  fc.record({
    kind: fc.constant("raw" as const),
    type: u8.filter((t) => t !== 1 && t !== 2),
    data: bytes(8),
  }),
);

function ncpArb<O>(opt: fc.Arbitrary<O>) {
  return fc.oneof(
    fc
      .tuple(
        fc.constantFrom("Configure-Request", "Configure-Ack", "Configure-Nak", "Configure-Reject"),
        u8,
        fc.array(opt, { maxLength: 8 }),
        padding,
      )
      .map(([kind, identifier, options, pad]) => withPad({ kind, identifier, options }, pad)),
    fc
      .tuple(fc.constantFrom("Terminate-Request", "Terminate-Ack"), u8, bytes(16), padding)
      .map(([kind, identifier, data, pad]) => withPad({ kind, identifier, data }, pad)),
    fc
      .tuple(u8, bytes(16), padding)
      .map(([identifier, rejectedPacket, pad]) =>
        withPad({ kind: "Code-Reject" as const, identifier, rejectedPacket }, pad),
      ),
    fc
      .tuple(fc.integer({ min: 8, max: 255 }), u8, bytes(16), padding)
      .map(([code, identifier, data, pad]) =>
        withPad({ kind: "Unknown-Code" as const, code, identifier, data }, pad),
      ),
  );
}

test("IPCP: round trip (property)", () => {
  fc.assert(
    fc.property(ncpArb(ipcpOptionArb), (p) => {
      const b = serializeIpcpPacket(p as IpcpPacket);
      const r = parseIpcpPacket(b);
      assert.ok(r.ok);
      if (!r.ok) return;
      assert.deepEqual(norm(r.value), norm(p));
      assert.deepEqual(serializeIpcpPacket(r.value), b);
    }),
    { numRuns: 2000 },
  );
});

test("IPV6CP: round trip (property)", () => {
  fc.assert(
    fc.property(ncpArb(ipv6cpOptionArb), (p) => {
      const b = serializeIpv6cpPacket(p as Ipv6cpPacket);
      const r = parseIpv6cpPacket(b);
      assert.ok(r.ok);
      if (!r.ok) return;
      assert.deepEqual(norm(r.value), norm(p));
      assert.deepEqual(serializeIpv6cpPacket(r.value), b);
    }),
    { numRuns: 1000 },
  );
});

test("IPCP: fuzz parseIpcpPacket", () => {
  fuzzParser("parseIpcpPacket", parseIpcpPacket, ipcpSeeds);
});

test("IPV6CP: fuzz parseIpv6cpPacket", () => {
  fuzzParser("parseIpv6cpPacket", parseIpv6cpPacket, ipv6cpSeeds);
});
