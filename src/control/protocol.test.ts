/**
 * Unit tests of the management protocol codec, framing, negotiation and token handling.
 * Vectors: SHA-256("abc") from FIPS 180-2 Appendix B.1 (NIST); the rest are properties.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { checkToken, generateToken, hashToken, parseTokenFile } from "./auth.js";
import { ControlErrorCode } from "./errors.js";
import {
  encodeLine,
  LineSplitter,
  negotiate,
  parseHelloParams,
  parseRequest,
  parseResponse,
} from "./protocol.js";

const enc = (s: string) => Buffer.from(s, "utf8");

test("LineSplitter joins lines split across chunks and refuses an over-long line", () => {
  const s = new LineSplitter(16);
  const a = s.push(enc('{"a":'));
  assert.deepEqual(a.ok && a.value, []);
  const b = s.push(enc('1}\n{"b":2}\n{"c"'));
  assert.ok(b.ok);
  assert.deepEqual(
    b.value.map((x) => x.toString()),
    ['{"a":1}', '{"b":2}'],
  );
  const c = s.push(enc(":3333333333333333333"));
  assert.ok(!c.ok);
  assert.equal(c.error.code, ControlErrorCode.TooLarge);
  // stays failed
  const d = s.push(enc("\n"));
  assert.ok(!d.ok);
});

test("LineSplitter: a line of exactly maxLine bytes passes, one more byte fails", () => {
  const ok = new LineSplitter(8).push(enc("12345678\n"));
  assert.ok(ok.ok && ok.value.length === 1);
  const bad = new LineSplitter(8).push(enc("123456789\n"));
  assert.ok(!bad.ok);
});

test("LineSplitter: the first line has its own, smaller limit; later lines the normal one", () => {
  const s = new LineSplitter(64, 8);
  assert.equal(s.limit, 8);
  const a = s.push(enc("12345678\n"));
  assert.ok(a.ok && a.value.length === 1);
  assert.equal(s.limit, 64);
  const b = s.push(enc(`${"x".repeat(60)}\n`));
  assert.ok(b.ok && b.value.length === 1);
  const c = new LineSplitter(64, 8).push(enc("123456789"));
  assert.ok(!c.ok);
  assert.match(c.error.message, /longer than 8 bytes/);
});

test("parseRequest accepts protocol requests and names what is wrong otherwise", () => {
  const r = parseRequest(enc('{"v":1,"id":3,"method":"sa.list","params":{}}'));
  assert.ok(r.ok);
  assert.deepEqual(r.value, { v: 1, id: 3, method: "sa.list", params: {} });
  const cases: [string, RegExp][] = [
    ["not json", /not JSON/],
    ["[1,2]", /not a JSON object/],
    ['{"id":1,"method":"x"}', /protocol version/],
    ['{"v":1,"method":"x"}', /'id'/],
    ['{"v":1,"id":1,"method":"DROP TABLE"}', /method/],
    ['{"v":1,"id":1,"method":"x","params":[1]}', /params/],
  ];
  for (const [line, re] of cases) {
    const e = parseRequest(enc(line));
    assert.ok(!e.ok, line);
    assert.equal(e.error.code, ControlErrorCode.BadMessage);
    assert.match(e.error.message, re);
  }
  const bad = parseRequest(Buffer.from([0x7b, 0xff, 0x7d]));
  assert.ok(!bad.ok && /UTF-8/.test(bad.error.message));
});

test("parseResponse: result, error with issues, and malformed errors", () => {
  const r = parseResponse(enc('{"v":1,"id":1,"result":{"x":"18446744073709551615"}}'));
  assert.ok(r.ok && "result" in r.value);
  const e = parseResponse(
    enc(
      '{"v":1,"id":2,"error":{"code":"OAK_E_POLICY_INVALID","message":"m","issues":[{"path":"a","message":"b"},7]}}',
    ),
  );
  assert.ok(e.ok && "error" in e.value);
  assert.deepEqual(e.value.error.issues, [{ path: "a", message: "b" }]);
  assert.ok(!parseResponse(enc('{"v":1,"id":2,"error":"boom"}')).ok);
  assert.ok(!parseResponse(enc('{"v":1,"id":2}')).ok);
});

test("fuzz: parseRequest never throws", () => {
  const seeds = [
    '{"v":1,"id":1,"method":"hello","params":{"min":1,"max":1,"client":"oakley 0.1.0","token":"oak1_x"}}',
    '{"v":1,"id":"a","method":"policy.add","params":{"document":{"name":"p","rules":[]},"persistent":true}}',
  ].map(enc);
  fuzzParser("parseRequest", parseRequest, seeds, { iterations: 50_000, maxLength: 512 });
});

test("fuzz: parseResponse never throws", () => {
  const seeds = [
    '{"v":1,"id":1,"result":{"version":1,"min":1,"max":1,"daemon":"oakley 0.1.0","identity":"unix-socket"}}',
    '{"v":1,"id":null,"error":{"code":"OAK_E_CTL_VERSION","message":"x","issues":[{"path":"p","message":"m"}],"extensions":["/x"]}}',
  ].map(enc);
  fuzzParser("parseResponse", parseResponse, seeds, { iterations: 50_000, maxLength: 512 });
});

test("property: encodeLine then parseRequest gives the request back", () => {
  const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<unknown>;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 65535 }),
      fc.oneof(fc.nat(), fc.string({ minLength: 1, maxLength: 64 })),
      fc.constantFrom("hello", "sa.list", "policy.show", "users.add", "log.set"),
      fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 4 }),
      (v, id, method, params) => {
        const line = encodeLine({ v, id, method, params: params as Record<string, never> });
        assert.ok(line.endsWith("\n") && line.indexOf("\n") === line.length - 1);
        const r = parseRequest(enc(line.slice(0, -1)));
        assert.ok(r.ok);
        // JSON normalises -0 to 0; compare through JSON as the peer would see it.
        assert.deepEqual(r.value, JSON.parse(JSON.stringify({ v, id, method, params })));
      },
    ),
    { numRuns: 500 },
  );
});

test("encodeLine writes bigint counters as decimal strings", () => {
  assert.equal(
    encodeLine({ v: 1, id: 1, result: { n: 2n ** 64n - 1n } } as never),
    '{"v":1,"id":1,"result":{"n":"18446744073709551615"}}\n',
  );
});

test("negotiate picks the highest common version", () => {
  const r = negotiate({ min: 1, max: 3 }, { min: 2, max: 5 }, "c", "d");
  assert.deepEqual(r, { ok: true, value: 3 });
});

test("negotiate: an old client is told to upgrade the client, naming both versions", () => {
  const r = negotiate({ min: 1, max: 1 }, { min: 2, max: 2 }, "oakley 0.1.0", "oakley 0.9.0");
  assert.ok(!r.ok);
  assert.equal(r.error.code, ControlErrorCode.Version);
  assert.match(r.error.message, /client \(oakley 0\.1\.0\) speaks version 1/);
  assert.match(r.error.message, /daemon \(oakley 0\.9\.0\) speaks version 2/);
  assert.match(r.error.message, /upgrade the management client/);
});

test("negotiate: a new client against an old daemon is told to upgrade the daemon", () => {
  const r = negotiate({ min: 2, max: 3 }, { min: 1, max: 1 }, "oakley 0.9.0", "oakley 0.1.0");
  assert.ok(!r.ok);
  assert.match(r.error.message, /versions 2\.\.3/);
  assert.match(r.error.message, /upgrade the daemon \(oakley 0\.1\.0\)/);
});

test("parseHelloParams: an old client with only v gets min = max = v", () => {
  const r = parseHelloParams({ v: 0, id: 1, method: "hello", params: {} });
  assert.deepEqual(r.ok && [r.value.min, r.value.max], [0, 0]);
  assert.ok(!parseHelloParams({ v: 1, id: 1, method: "hello", params: { min: 3, max: 2 } }).ok);
});

test("hashToken is SHA-256 (FIPS 180-2 Appendix B.1: SHA-256('abc'))", () => {
  assert.equal(
    hashToken("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

test("tokens: generated tokens check, others do not; file parsing reports bad lines", () => {
  const bytes = Buffer.alloc(32, 7);
  const { token, record } = generateToken("ops", () => bytes);
  assert.match(token, /^oak1_[A-Za-z0-9_-]{43}$/);
  assert.equal(record.sha256, hashToken(token));
  assert.equal(checkToken(token, [record]), "ops");
  assert.equal(checkToken(`${token.slice(0, -1)}A`, [record]), undefined);
  assert.equal(checkToken("", [record]), undefined);
  const f = parseTokenFile(`# comment\n${JSON.stringify(record)}\n\n`);
  assert.ok(f.ok && f.value.length === 1);
  const bad = parseTokenFile('{"name":"x","sha256":"zz"}');
  assert.ok(!bad.ok && /line 1/.test(bad.error.message));
});
