import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fromHex } from "../../base/bytes.js";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import {
  type ChapPacket,
  type MsChapV2Failure,
  type PapPacket,
  parseChapPacket,
  parseMsChapV2Failure,
  parseMsChapV2ResponseValue,
  parseMsChapV2Success,
  parsePapPacket,
  serializeChapPacket,
  serializeMsChapV2Failure,
  serializeMsChapV2ResponseValue,
  serializeMsChapV2Success,
  serializePapPacket,
} from "./auth.js";

function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x).toString("hex");
  if (Array.isArray(x)) return x.map(norm);
  if (x && typeof x === "object")
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)]));
  return x;
}

// RFC 2759 §9.2 values, laid out in the packet formats of RFC 2759 §3-§5 (hand-built).
const authChallenge = "5b5d7c7d7b3f2f3e3c2c602132262628";
const peerChallenge = "21402324255e262a28295f2b3a337c7e";
const ntResponse = "82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df";
const responseValue = `${peerChallenge}0000000000000000${ntResponse}00`;
const chapChallenge = fromHex(`0101001510${authChallenge}6f616b`);
const msResponse = fromHex(`0201003a31${responseValue}55736572`);
const successMsg = Buffer.from(
  "S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted",
  "latin1",
);
const failureMsg = Buffer.from(
  "E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Authentication failed",
  "latin1",
);
const chapSeeds = [
  chapChallenge,
  msResponse,
  Buffer.concat([
    fromHex(`0301${(4 + successMsg.length).toString(16).padStart(4, "0")}`),
    successMsg,
  ]),
  Buffer.concat([
    fromHex(`0401${(4 + failureMsg.length).toString(16).padStart(4, "0")}`),
    failureMsg,
  ]),
];
const papSeeds = [
  fromHex("0101000e04557365720470617373"),
  fromHex("02010009044f4b2121"),
  fromHex("0301000500"),
];

test("PAP: Authenticate-Request (RFC 1334 §2.2.1)", () => {
  const r = parsePapPacket(fromHex("0101000e04557365720470617373"));
  assert.ok(r.ok && r.value.kind === "Authenticate-Request");
  if (r.ok && r.value.kind === "Authenticate-Request") {
    assert.equal(Buffer.from(r.value.peerId).toString(), "User");
    assert.equal(Buffer.from(r.value.password).toString(), "pass");
  }
  const bad = parsePapPacket(fromHex("0101000d045573657204706173"));
  assert.ok(!bad.ok);
});

test("CHAP: MS-CHAPv2 Response value layout (RFC 2759 §4)", () => {
  const r = parseChapPacket(msResponse);
  assert.ok(r.ok && r.value.kind === "Response");
  if (!r.ok || r.value.kind !== "Response") return;
  assert.equal(Buffer.from(r.value.name).toString(), "User");
  const v = parseMsChapV2ResponseValue(r.value.value);
  assert.ok(v.ok);
  if (!v.ok) return;
  assert.equal(Buffer.from(v.value.peerChallenge).toString("hex"), peerChallenge);
  assert.equal(Buffer.from(v.value.ntResponse).toString("hex"), ntResponse);
  assert.equal(v.value.flags, 0);
  assert.deepEqual(serializeMsChapV2ResponseValue(v.value), fromHex(responseValue));
  assert.ok(!parseMsChapV2ResponseValue(new Uint8Array(48)).ok);
});

test("MS-CHAPv2 Success message S=<hex> M=<msg> (RFC 2759 §5)", () => {
  const r = parseMsChapV2Success(successMsg);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(
    Buffer.from(r.value.authenticatorResponse).toString("hex"),
    "407a5589115fd0d6209f510fe9c04566932cda56",
  );
  assert.equal(r.value.message, "Access granted");
  assert.deepEqual(serializeMsChapV2Success(r.value), successMsg);
  const bare = Buffer.from("S=407A5589115FD0D6209F510FE9C04566932CDA56");
  const rb = parseMsChapV2Success(bare);
  assert.ok(rb.ok && rb.value.message === undefined);
  assert.ok(
    !parseMsChapV2Success(Buffer.from("S=407a5589115fd0d6209f510fe9c04566932cda56")).ok,
    "lowercase",
  );
  assert.ok(!parseMsChapV2Success(Buffer.from("S=407A5589115FD0D6209F510FE9C04566932CDA56M=x")).ok);
});

test("MS-CHAPv2 Failure message E=691 R=0 C= V=3 M= (RFC 2759 §6)", () => {
  const r = parseMsChapV2Failure(failureMsg);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.error, 691);
  assert.equal(r.value.retry, false);
  assert.equal(Buffer.from(r.value.challenge ?? []).toString("hex"), authChallenge);
  assert.equal(r.value.version, 3);
  assert.equal(r.value.message, "Authentication failed");
  assert.deepEqual(serializeMsChapV2Failure(r.value), failureMsg);
  // pppd's own authenticator sends "E=691 R=1 C=... V=0" and no M=.
  const p = parseMsChapV2Failure(Buffer.from("E=691 R=1 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=0"));
  assert.ok(p.ok && p.value.retry === true && p.value.message === undefined);
  for (const bad of ["", "E=", "E=0691", "E=691 R=2", "E=691 C=12", "E=691  R=0", "X=1"]) {
    assert.ok(!parseMsChapV2Failure(Buffer.from(bad)).ok, bad);
  }
});

const u8 = fc.integer({ min: 0, max: 255 });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const padding = fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: undefined });
const withPad = <T extends object>(p: T, pad: Uint8Array | undefined): T =>
  pad ? { ...p, padding: pad } : p;

test("PAP: round trip (property)", () => {
  const arb: fc.Arbitrary<PapPacket> = fc.oneof(
    fc
      .tuple(u8, bytes(40), bytes(40), padding)
      .map(([identifier, peerId, password, pad]) =>
        withPad({ kind: "Authenticate-Request" as const, identifier, peerId, password }, pad),
      ),
    fc
      .tuple(
        fc.constantFrom("Authenticate-Ack" as const, "Authenticate-Nak" as const),
        u8,
        bytes(40),
        padding,
      )
      .map(([kind, identifier, message, pad]) => withPad({ kind, identifier, message }, pad)),
    fc
      .tuple(fc.integer({ min: 4, max: 255 }), u8, bytes(16), padding)
      .map(([code, identifier, data, pad]) =>
        withPad({ kind: "Unknown-Code" as const, code, identifier, data }, pad),
      ),
  );
  fc.assert(
    fc.property(arb, (p) => {
      const b = serializePapPacket(p);
      const r = parsePapPacket(b);
      assert.ok(r.ok);
      if (r.ok) {
        assert.deepEqual(norm(r.value), norm(p));
        assert.deepEqual(serializePapPacket(r.value), b);
      }
    }),
  );
});

test("CHAP: round trip (property)", () => {
  const arb: fc.Arbitrary<ChapPacket> = fc.oneof(
    fc
      .tuple(
        fc.constantFrom("Challenge" as const, "Response" as const),
        u8,
        bytes(64),
        bytes(32),
        padding,
      )
      .map(([kind, identifier, value, name, pad]) =>
        withPad({ kind, identifier, value, name }, pad),
      ),
    fc
      .tuple(fc.constantFrom("Success" as const, "Failure" as const), u8, bytes(64), padding)
      .map(([kind, identifier, message, pad]) => withPad({ kind, identifier, message }, pad)),
    fc
      .tuple(fc.integer({ min: 5, max: 255 }), u8, bytes(16), padding)
      .map(([code, identifier, data, pad]) =>
        withPad({ kind: "Unknown-Code" as const, code, identifier, data }, pad),
      ),
  );
  fc.assert(
    fc.property(arb, (p) => {
      const b = serializeChapPacket(p);
      const r = parseChapPacket(b);
      assert.ok(r.ok);
      if (r.ok) {
        assert.deepEqual(norm(r.value), norm(p));
        assert.deepEqual(serializeChapPacket(r.value), b);
      }
    }),
  );
});

test("MS-CHAPv2 messages: round trip (property)", () => {
  const text = fc.string({ maxLength: 30 }).map((s) => Buffer.from(s, "utf8").toString("latin1"));
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 20, maxLength: 20 }),
      fc.option(text, { nil: undefined }),
      (ar, m) => {
        const v =
          m === undefined
            ? { authenticatorResponse: ar }
            : { authenticatorResponse: ar, message: m };
        const b = serializeMsChapV2Success(v);
        const r = parseMsChapV2Success(b);
        assert.ok(r.ok);
        if (r.ok) assert.deepEqual(norm(r.value), norm(v));
      },
    ),
  );
  const failureArb = fc
    .record(
      {
        error: fc.integer({ min: 0, max: 0xffffffff }),
        retry: fc.boolean(),
        challenge: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        version: fc.integer({ min: 0, max: 0xffffffff }),
        message: text,
      },
      { requiredKeys: ["error"] },
    )
    .map((f) => f as MsChapV2Failure);
  fc.assert(
    fc.property(failureArb, (f) => {
      const b = serializeMsChapV2Failure(f);
      const r = parseMsChapV2Failure(b);
      assert.ok(r.ok, b.toString("latin1"));
      if (r.ok) assert.deepEqual(norm(r.value), norm(f));
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 49, maxLength: 49 }), (v) => {
      const r = parseMsChapV2ResponseValue(v);
      assert.ok(r.ok);
      if (r.ok) assert.deepEqual(serializeMsChapV2ResponseValue(r.value), Buffer.from(v));
    }),
  );
});

test("fuzz parsePapPacket", () => {
  fuzzParser("parsePapPacket", parsePapPacket, papSeeds);
});
test("fuzz parseChapPacket", () => {
  fuzzParser("parseChapPacket", parseChapPacket, chapSeeds);
});
test("fuzz parseMsChapV2Success / Failure / ResponseValue", () => {
  fuzzParser("parseMsChapV2Success", parseMsChapV2Success, [successMsg], { iterations: 30_000 });
  fuzzParser("parseMsChapV2Failure", parseMsChapV2Failure, [failureMsg], { iterations: 30_000 });
  fuzzParser("parseMsChapV2ResponseValue", parseMsChapV2ResponseValue, [fromHex(responseValue)], {
    iterations: 20_000,
  });
});
