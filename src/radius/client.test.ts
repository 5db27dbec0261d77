import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { SeededRandom } from "../platform/random.js";
import { Counters } from "../obs/counters.js";
import { unwrap } from "../base/result.js";
import {
  AcctTerminateCause,
  MsAttr,
  RadiusAttr,
  RadiusCode,
  VENDOR_MICROSOFT,
} from "../registry/radius.js";
import { revealUserPassword, signResponse, verifyRequest } from "../wire/radius/auth.js";
import {
  addressBytes,
  attr,
  attrU32,
  findAllAttrs,
  findAttr,
  findVendorAttr,
  parseRadiusPacket,
  type RadiusAttribute,
  type RadiusPacket,
  readU32,
  serializeRadiusPacket,
  vendorAttr,
} from "../wire/radius/packet.js";
import {
  type AuthOutcome,
  RadiusClient,
  type RadiusAction,
  type RadiusClientOptions,
} from "./client.js";
import { RadiusErrorCode } from "./errors.js";

const S1 = Buffer.from("secret-one");
const S2 = Buffer.from("secret-two");
const A = { address: "192.0.2.10", authPort: 1812, acctPort: 1813, secret: S1 };
const B = { address: "192.0.2.11", authPort: 1812, acctPort: 1813, secret: S2 };

function client(opts: Partial<RadiusClientOptions> = {}, counters?: Counters): RadiusClient {
  return new RadiusClient(
    { servers: [A], nasIdentifier: "oakley-test", timeoutMs: 1000, retries: 2, ...opts },
    new SeededRandom("radius-client-test"),
    undefined,
    counters,
  );
}

function sends(actions: readonly RadiusAction[]) {
  return actions.flatMap((a) => (a.kind === "send" ? [a] : []));
}
function authDone(actions: readonly RadiusAction[]) {
  const d = actions.find((a) => a.kind === "auth-done");
  assert.ok(d && d.kind === "auth-done", "no auth-done action");
  return d.result;
}

/** A fake server: parses and verifies the request, signs a reply. */
function reply(
  req: Uint8Array,
  secret: Uint8Array,
  code: number,
  attributes: RadiusAttribute[],
): { parsed: RadiusPacket; bytes: Uint8Array } {
  const parsed = unwrap(parseRadiusPacket(req));
  assert.equal(parsed.attributes[0]?.type, RadiusAttr.MessageAuthenticator, "MA first");
  assert.equal(verifyRequest(req, parsed, secret, true).ok, true, "request MA verifies");
  const bytes = signResponse(
    { code, identifier: parsed.identifier, attributes },
    parsed.authenticator,
    secret,
  );
  return { parsed, bytes };
}

const fromA = { address: A.address, port: A.authPort };

test("PAP: User-Password hidden with the server's secret; Accept decoded into an authorization", () => {
  const c = client();
  const { id, actions } = c.authenticate(
    {
      userName: "alice",
      credentials: { method: "pap", password: Buffer.from("wonderland") },
      callingStationId: "198.51.100.7",
    },
    0,
  );
  const [s] = sends(actions);
  assert.ok(s);
  assert.deepEqual(s.to, fromA);
  const { parsed, bytes } = reply(s.bytes, S1, RadiusCode.AccessAccept, [
    attr(RadiusAttr.FramedIpAddress, addressBytes("10.9.0.7") ?? new Uint8Array()),
    attr(RadiusAttr.FramedIpNetmask, addressBytes("255.255.255.255") ?? new Uint8Array()),
    attrU32(RadiusAttr.SessionTimeout, 3600),
    attrU32(RadiusAttr.IdleTimeout, 600),
    vendorAttr(
      VENDOR_MICROSOFT,
      MsAttr.PrimaryDnsServer,
      addressBytes("198.51.100.53") ?? new Uint8Array(),
    ),
    vendorAttr(
      VENDOR_MICROSOFT,
      MsAttr.SecondaryDnsServer,
      addressBytes("198.51.100.54") ?? new Uint8Array(),
    ),
    attr(RadiusAttr.Class, "cls-1"),
    attr(RadiusAttr.ReplyMessage, "welcome"),
  ]);
  const pw = unwrap(
    revealUserPassword(
      findAttr(parsed, RadiusAttr.UserPassword) ?? new Uint8Array(),
      S1,
      parsed.authenticator,
    ),
  );
  assert.equal(Buffer.from(pw).toString(), "wonderland");
  assert.equal(Buffer.from(findAttr(parsed, RadiusAttr.UserName) ?? []).toString(), "alice");
  assert.equal(
    Buffer.from(findAttr(parsed, RadiusAttr.NasIdentifier) ?? []).toString(),
    "oakley-test",
  );
  assert.equal(
    Buffer.from(findAttr(parsed, RadiusAttr.CallingStationId) ?? []).toString(),
    "198.51.100.7",
  );
  const done = c.handleDatagram(fromA, bytes, 5);
  const r = unwrap(authDone(done));
  assert.deepEqual(
    { ...r, classes: r.kind === "accept" ? r.classes.map((x) => Buffer.from(x).toString()) : [] },
    {
      kind: "accept",
      server: "192.0.2.10:1812",
      framedIpAddress: "10.9.0.7",
      framedIpNetmask: "255.255.255.255",
      sessionTimeout: 3600,
      idleTimeout: 600,
      dnsServers: ["198.51.100.53", "198.51.100.54"],
      classes: ["cls-1"],
      replyMessage: "welcome",
    },
  );
  assert.equal(done[0]?.kind === "auth-done" && done[0].id, id);
  assert.equal(c.inFlight(), 0);
  assert.equal(c.nextDeadline(), undefined);
});

test("CHAP-MD5: CHAP-Password is Ident + response, CHAP-Challenge carries the challenge", () => {
  const c = client();
  const challenge = Buffer.alloc(16, 0xc4);
  const response = Buffer.alloc(16, 0x52);
  const [s] = sends(
    c.authenticate(
      {
        userName: "bob",
        credentials: { method: "chap-md5", identifier: 0x2a, challenge, response },
      },
      0,
    ).actions,
  );
  assert.ok(s);
  const p = unwrap(parseRadiusPacket(s.bytes));
  assert.deepEqual(
    Buffer.from(findAttr(p, RadiusAttr.ChapPassword) ?? []),
    Buffer.concat([Buffer.from([0x2a]), response]),
  );
  assert.deepEqual(Buffer.from(findAttr(p, RadiusAttr.ChapChallenge) ?? []), challenge);
  assert.equal(findAttr(p, RadiusAttr.UserPassword), undefined);
  const r = unwrap(
    authDone(
      c.handleDatagram(
        fromA,
        reply(s.bytes, S1, RadiusCode.AccessReject, [attr(RadiusAttr.ReplyMessage, "no")]).bytes,
        1,
      ),
    ),
  );
  assert.deepEqual(r, { kind: "reject", server: "192.0.2.10:1812", replyMessage: "no" });
});

function mschapRequest(c: RadiusClient, ident = 7) {
  const { actions } = c.authenticate(
    {
      userName: "carol",
      credentials: {
        method: "mschapv2",
        identifier: ident,
        authenticatorChallenge: Buffer.alloc(16, 1),
        peerChallenge: Buffer.alloc(16, 2),
        ntResponse: Buffer.alloc(24, 3),
      },
    },
    0,
  );
  const [s] = sends(actions);
  assert.ok(s);
  return s.bytes;
}

test("MS-CHAPv2: RFC 2548 attributes out, MS-CHAP2-Success back to the caller", () => {
  const c = client();
  const req = mschapRequest(c);
  const p = unwrap(parseRadiusPacket(req));
  assert.deepEqual(
    Buffer.from(findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.ChapChallenge) ?? []),
    Buffer.alloc(16, 1),
  );
  const r = Buffer.from(findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.Chap2Response) ?? []);
  assert.equal(r.length, 50);
  assert.equal(r[0], 7);
  assert.equal(r[1], 0);
  assert.deepEqual(r.subarray(2, 18), Buffer.alloc(16, 2));
  assert.deepEqual(r.subarray(18, 26), Buffer.alloc(8));
  assert.deepEqual(r.subarray(26), Buffer.alloc(24, 3));
  const auth = `S=${"0123456789ABCDEF".repeat(3).slice(0, 40)}`;
  const ok = reply(req, S1, RadiusCode.AccessAccept, [
    vendorAttr(
      VENDOR_MICROSOFT,
      MsAttr.Chap2Success,
      Buffer.concat([Buffer.from([7]), Buffer.from(auth)]),
    ),
  ]);
  const out = unwrap(authDone(c.handleDatagram(fromA, ok.bytes, 1)));
  assert.equal(out.kind, "accept");
  assert.deepEqual(out.kind === "accept" && out.mschap2Success, {
    identifier: 7,
    authenticatorResponse: auth,
  });
});

test("MS-CHAPv2: an Accept without (or with a wrong) MS-CHAP2-Success is refused — the client could not verify the server", () => {
  for (const attrs of [
    [],
    [
      vendorAttr(
        VENDOR_MICROSOFT,
        MsAttr.Chap2Success,
        Buffer.concat([Buffer.from([8]), Buffer.from(`S=${"A".repeat(40)}`)]),
      ),
    ],
    [
      vendorAttr(
        VENDOR_MICROSOFT,
        MsAttr.Chap2Success,
        Buffer.concat([Buffer.from([7]), Buffer.from(`S=${"Z".repeat(40)}`)]),
      ),
    ],
  ]) {
    const c = client();
    const req = mschapRequest(c);
    const r = authDone(
      c.handleDatagram(fromA, reply(req, S1, RadiusCode.AccessAccept, attrs).bytes, 1),
    );
    assert.deepEqual(r.ok ? "accepted" : r.error.code, RadiusErrorCode.BadReply);
  }
});

test("MS-CHAPv2 reject carries MS-CHAP-Error for the PPP Failure packet", () => {
  const c = client();
  const req = mschapRequest(c);
  const e = "E=691 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failed";
  const r = unwrap(
    authDone(
      c.handleDatagram(
        fromA,
        reply(req, S1, RadiusCode.AccessReject, [
          vendorAttr(
            VENDOR_MICROSOFT,
            MsAttr.ChapError,
            Buffer.concat([Buffer.from([7]), Buffer.from(e)]),
          ),
        ]).bytes,
        1,
      ),
    ),
  );
  assert.deepEqual(r, { kind: "reject", server: "192.0.2.10:1812", mschapError: e });
});

test("retransmits identical bytes, fails over to the next server with its own secret, then times out", () => {
  const c = client({ servers: [A, B] });
  let acts = c.authenticate(
    { userName: "dave", credentials: { method: "pap", password: Buffer.from("pw") } },
    0,
  ).actions;
  const first = sends(acts)[0];
  assert.ok(first);
  const log: string[] = [`${first.to.address}`];
  let now = 0;
  let result: AuthOutcome | string | undefined;
  const seenB: Uint8Array[] = [];
  for (let i = 0; i < 20 && result === undefined; i++) {
    now = c.nextDeadline() ?? now;
    acts = c.handleTimer(now);
    for (const a of acts) {
      if (a.kind === "send") {
        log.push(a.to.address);
        if (a.to.address === B.address) seenB.push(a.bytes);
        if (a.to.address === A.address)
          assert.deepEqual(a.bytes, first.bytes, "same bytes on retransmit");
      }
      if (a.kind === "auth-done") result = a.result.ok ? a.result.value : a.result.error.code;
    }
  }
  assert.deepEqual(log, [
    "192.0.2.10",
    "192.0.2.10",
    "192.0.2.10",
    "192.0.2.11",
    "192.0.2.11",
    "192.0.2.11",
  ]);
  assert.equal(result, RadiusErrorCode.Timeout);
  assert.equal(now, 6000, "three tries of 1 s on each of two servers");
  const pb = unwrap(parseRadiusPacket(seenB[0] ?? new Uint8Array()));
  assert.equal(
    verifyRequest(seenB[0] ?? new Uint8Array(), pb, S2, true).ok,
    true,
    "signed with B's secret",
  );
  assert.equal(c.inFlight(), 0);
  assert.equal(c.nextDeadline(), undefined);
});

test("a server that timed out is skipped by the next request; a late reply from it is ignored", () => {
  const c = client({ servers: [A, B], retries: 0 });
  const first = c.authenticate(
    { userName: "e", credentials: { method: "pap", password: Buffer.from("x") } },
    0,
  );
  const toA = sends(first.actions)[0];
  assert.ok(toA);
  const moved = c.handleTimer(1000);
  assert.deepEqual(
    sends(moved).map((s) => s.to.address),
    [B.address],
  );
  // the late reply from A to the first try is no longer expected
  const late = reply(toA.bytes, S1, RadiusCode.AccessAccept, []);
  assert.deepEqual(c.handleDatagram(fromA, late.bytes, 1001), []);
  const second = c.authenticate(
    { userName: "f", credentials: { method: "pap", password: Buffer.from("x") } },
    1500,
  );
  assert.deepEqual(
    sends(second.actions).map((s) => s.to.address),
    [B.address],
  );
});

test("wrong shared secret: replies are dropped and the request ends with OAK_E_RADIUS_BAD_SECRET naming the cause", () => {
  const counters = new Counters();
  const c = client({ retries: 1 }, counters);
  const s = sends(
    c.authenticate({ userName: "g", credentials: { method: "pap", password: Buffer.from("x") } }, 0)
      .actions,
  )[0];
  assert.ok(s);
  const p = unwrap(parseRadiusPacket(s.bytes));
  const bad = signResponse(
    { code: RadiusCode.AccessAccept, identifier: p.identifier, attributes: [] },
    p.authenticator,
    Buffer.from("not-the-secret"),
  );
  assert.deepEqual(c.handleDatagram(fromA, bad, 10), []);
  assert.equal(counters.get('radius_rx_drop{reason="bad_authenticator"}'), 1n);
  c.handleTimer(1000);
  const r = authDone(c.handleTimer(2000));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.code, RadiusErrorCode.BadSecret);
    assert.match(r.error.message, /shared secret/);
    assert.doesNotMatch(r.error.message, /secret-one|not-the-secret/);
  }
});

test("256 requests in flight to one server exhaust the Identifier space: the 257th is Busy", () => {
  const c = client();
  const ids = new Set<number>();
  for (let i = 0; i < 256; i++) {
    const s = sends(
      c.authenticate(
        { userName: `u${i}`, credentials: { method: "pap", password: Buffer.from("x") } },
        0,
      ).actions,
    )[0];
    assert.ok(s);
    ids.add(s.bytes[1] ?? -1);
  }
  assert.equal(ids.size, 256);
  const r = authDone(
    c.authenticate({ userName: "x", credentials: { method: "pap", password: Buffer.from("x") } }, 0)
      .actions,
  );
  assert.deepEqual(r.ok ? "sent" : r.error.code, RadiusErrorCode.Busy);
});

test("bad requests are refused before anything is sent", () => {
  const c = client();
  for (const req of [
    {
      userName: "u".repeat(254),
      credentials: { method: "pap" as const, password: Buffer.from("x") },
    },
    { userName: "", credentials: { method: "pap" as const, password: Buffer.from("x") } },
    { userName: "u", credentials: { method: "pap" as const, password: Buffer.alloc(129, 0x41) } },
    {
      userName: "u",
      credentials: {
        method: "chap-md5" as const,
        identifier: 1,
        challenge: Buffer.alloc(16),
        response: Buffer.alloc(15),
      },
    },
  ]) {
    const { actions } = c.authenticate(req, 0);
    assert.equal(sends(actions).length, 0);
    const r = authDone(actions);
    assert.deepEqual(r.ok ? "sent" : r.error.code, RadiusErrorCode.BadRequest);
  }
  assert.equal(c.inFlight(), 0);
});

test("Accounting-Request Stop: 64-bit octets split into Gigawords, Class echoed, delay from the event time", () => {
  const c = client();
  const eventTime = 1_700_000_000_000;
  const { id, actions } = c.account(
    {
      status: "stop",
      sessionId: "sess-1",
      userName: "alice",
      eventTime,
      framedIpAddress: "10.9.0.7",
      sessionTime: 125,
      inputOctets: (5n << 32n) + 17n,
      outputOctets: 4096n,
      inputPackets: 10n,
      outputPackets: 11n,
      terminateCause: AcctTerminateCause.UserRequest,
      classes: [Buffer.from("cls-1"), Buffer.from("cls-2")],
    },
    1000,
    eventTime + 7_500,
  );
  const s = sends(actions)[0];
  assert.ok(s);
  assert.deepEqual(s.to, { address: A.address, port: 1813 });
  const p = unwrap(parseRadiusPacket(s.bytes));
  assert.equal(p.code, RadiusCode.AccountingRequest);
  assert.equal(verifyRequest(s.bytes, p, S1, true).ok, true);
  const n = (t: number) => readU32(findAttr(p, t) ?? new Uint8Array(4));
  assert.equal(n(RadiusAttr.AcctStatusType), 2);
  assert.equal(n(RadiusAttr.AcctInputOctets), 17);
  assert.equal(n(RadiusAttr.AcctInputGigawords), 5);
  assert.equal(n(RadiusAttr.AcctOutputOctets), 4096);
  assert.equal(n(RadiusAttr.AcctOutputGigawords), 0);
  assert.equal(n(RadiusAttr.AcctInputPackets), 10);
  assert.equal(n(RadiusAttr.AcctOutputPackets), 11);
  assert.equal(n(RadiusAttr.AcctSessionTime), 125);
  assert.equal(n(RadiusAttr.AcctTerminateCause), 1);
  assert.equal(n(RadiusAttr.AcctDelayTime), 7);
  assert.equal(n(RadiusAttr.EventTimestamp), eventTime / 1000);
  assert.deepEqual(
    findAllAttrs(p, RadiusAttr.Class).map((x) => Buffer.from(x).toString()),
    ["cls-1", "cls-2"],
  );
  // an Accounting-Response with a wrong authenticator is dropped; the right one completes
  const good = signResponse(
    { code: RadiusCode.AccountingResponse, identifier: p.identifier, attributes: [] },
    p.authenticator,
    S1,
  );
  const wrong = signResponse(
    { code: RadiusCode.AccountingResponse, identifier: p.identifier, attributes: [] },
    Buffer.alloc(16),
    S1,
  );
  const fromAcct = { address: A.address, port: 1813 };
  assert.deepEqual(c.handleDatagram(fromAcct, wrong, 2), []);
  assert.deepEqual(c.handleDatagram(fromAcct, good, 3), [
    { kind: "acct-done", id, result: { ok: true, value: undefined } },
  ]);
});

test("Accounting Start carries no counters; Interim-Update does", () => {
  const c = client();
  const start = unwrap(
    parseRadiusPacket(
      sends(
        c.account({ status: "start", sessionId: "s", userName: "u", eventTime: 0 }, 0, 0).actions,
      )[0]?.bytes ?? new Uint8Array(),
    ),
  );
  assert.equal(readU32(findAttr(start, RadiusAttr.AcctStatusType) ?? new Uint8Array(4)), 1);
  assert.equal(findAttr(start, RadiusAttr.AcctInputOctets), undefined);
  const interim = unwrap(
    parseRadiusPacket(
      sends(
        c.account(
          {
            status: "interim-update",
            sessionId: "s",
            userName: "u",
            eventTime: 0,
            inputOctets: 1n,
          },
          0,
          0,
        ).actions,
      )[0]?.bytes ?? new Uint8Array(),
    ),
  );
  assert.equal(readU32(findAttr(interim, RadiusAttr.AcctStatusType) ?? new Uint8Array(4)), 3);
  assert.equal(readU32(findAttr(interim, RadiusAttr.AcctInputOctets) ?? new Uint8Array(4)), 1);
});

test("a server that answers without Message-Authenticator gets its own clear error (Blast-RADIUS), not a timeout", () => {
  const c = client({ retries: 0 });
  const s = sends(
    c.authenticate({ userName: "h", credentials: { method: "pap", password: Buffer.from("x") } }, 0)
      .actions,
  )[0];
  assert.ok(s);
  const p = unwrap(parseRadiusPacket(s.bytes));
  // A correct Response Authenticator, but no Message-Authenticator (an unpatched server).
  const body = Buffer.from(
    serializeRadiusPacket({
      code: RadiusCode.AccessAccept,
      identifier: p.identifier,
      authenticator: new Uint8Array(16),
      attributes: [],
    }),
  );
  createHash("md5")
    .update(body.subarray(0, 4))
    .update(p.authenticator)
    .update(S1)
    .digest()
    .copy(body, 4);
  assert.deepEqual(c.handleDatagram(fromA, body, 1), []);
  const r = authDone(c.handleTimer(1000));
  assert.deepEqual(r.ok ? "accepted" : r.error.code, RadiusErrorCode.MissingMessageAuthenticator);
  if (!r.ok) assert.match(r.error.message, /Blast-RADIUS/);
});

test("serverStatus: each server's reachability, ages in whole milliseconds (what the control protocol carries)", () => {
  const c = client();
  assert.equal(c.serverStatus(0)[0]?.state, "untested");
  const { actions } = c.authenticate(
    { userName: "alice", credentials: { method: "pap", password: Buffer.from("x") } },
    0.25,
  );
  const [s] = sends(actions);
  assert.ok(s);
  const { bytes } = reply(s.bytes, S1, RadiusCode.AccessAccept, []);
  c.handleDatagram(fromA, bytes, 10.7);
  const st = c.serverStatus(1000.2)[0];
  assert.equal(st?.state, "reachable");
  assert.equal(st?.lastReplyAgoMs, 990);
});
