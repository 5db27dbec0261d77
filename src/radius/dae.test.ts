import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { unwrap } from "../base/result.js";
import { Counters } from "../obs/counters.js";
import { ErrorCause, RadiusAttr, RadiusCode } from "../registry/radius.js";
import { signRequest, verifyResponse } from "../wire/radius/auth.js";
import {
  addressBytes,
  attr,
  attrU32,
  findAllAttrs,
  findAttr,
  parseRadiusPacket,
  type RadiusAttribute,
  readU32,
  serializeRadiusPacket,
} from "../wire/radius/packet.js";
import { DaeServer } from "./dae.js";
import { fuzzParser } from "../../test/helpers/fuzz.js";

const SECRET = Buffer.from("dae-secret");
const DAC = { address: "192.0.2.10", port: 40000 };

function server(counters?: Counters) {
  return new DaeServer(
    {
      clients: [{ address: DAC.address, secret: SECRET }],
      nasIdentifier: "oakley-nas",
      nasIpAddress: "192.0.2.1",
    },
    undefined,
    counters,
  );
}

function request(code: number, attributes: RadiusAttribute[], secret = SECRET, id = 5) {
  return signRequest({ code, identifier: id, attributes }, secret, new Uint8Array(16));
}

function checkReply(bytes: Uint8Array, req: { authenticator: Uint8Array }) {
  const p = unwrap(parseRadiusPacket(bytes));
  assert.equal(
    verifyResponse(bytes, p, req.authenticator, SECRET).ok,
    true,
    "reply verifies at the DAC",
  );
  assert.equal(p.attributes[0]?.type, RadiusAttr.MessageAuthenticator);
  return p;
}

test("Disconnect-Request by User-Name: reported to the daemon, ACK signed for the DAC, Proxy-State echoed", () => {
  const s = server();
  const req = request(RadiusCode.DisconnectRequest, [
    attr(RadiusAttr.UserName, "alice"),
    attr(RadiusAttr.AcctSessionId, "sess-9"),
    attr(RadiusAttr.FramedIpAddress, addressBytes("10.9.0.7") ?? new Uint8Array()),
    attr(RadiusAttr.NasIdentifier, "oakley-nas"),
    attr(RadiusAttr.ProxyState, "ps1"),
  ]);
  const out = s.handleDatagram(DAC, req.bytes, 0);
  assert.equal(out.kind, "request");
  if (out.kind !== "request") return;
  assert.deepEqual(out.request, {
    kind: "disconnect",
    from: DAC,
    classes: [],
    userName: "alice",
    acctSessionId: "sess-9",
    framedIpAddress: "10.9.0.7",
  });
  const p = checkReply(out.answer({ ack: true }, 1), req);
  assert.equal(p.code, RadiusCode.DisconnectAck);
  assert.equal(p.identifier, 5);
  assert.deepEqual(
    findAllAttrs(p, RadiusAttr.ProxyState).map((x) => Buffer.from(x).toString()),
    ["ps1"],
  );
});

test("no such session: the daemon's NAK carries Error-Cause 503", () => {
  const s = server();
  const req = request(RadiusCode.DisconnectRequest, [attr(RadiusAttr.UserName, "nobody")]);
  const out = s.handleDatagram(DAC, req.bytes, 0);
  assert.equal(out.kind, "request");
  if (out.kind !== "request") return;
  const p = checkReply(
    out.answer({ ack: false, errorCause: ErrorCause.SessionContextNotFound }, 0),
    req,
  );
  assert.equal(p.code, RadiusCode.DisconnectNak);
  assert.equal(readU32(findAttr(p, RadiusAttr.ErrorCause) ?? new Uint8Array(4)), 503);
});

test("CoA-Request with Session-Timeout is reported with the new limit", () => {
  const s = server();
  const req = request(RadiusCode.CoaRequest, [
    attr(RadiusAttr.UserName, "bob"),
    attrU32(RadiusAttr.SessionTimeout, 120),
  ]);
  const out = s.handleDatagram(DAC, req.bytes, 0);
  assert.equal(out.kind === "request" && out.request.kind, "coa");
  assert.equal(out.kind === "request" && out.request.sessionTimeout, 120);
  if (out.kind === "request")
    assert.equal(checkReply(out.answer({ ack: true }, 0), req).code, RadiusCode.CoaAck);
});

test("NAKs without involving the daemon: wrong NAS, unsupported attribute, no identification", () => {
  const cases: [RadiusAttribute[], number][] = [
    [
      [attr(RadiusAttr.UserName, "a"), attr(RadiusAttr.NasIdentifier, "other-nas")],
      ErrorCause.NasIdentificationMismatch,
    ],
    [
      [
        attr(RadiusAttr.UserName, "a"),
        attr(RadiusAttr.NasIpAddress, addressBytes("192.0.2.99") ?? new Uint8Array()),
      ],
      ErrorCause.NasIdentificationMismatch,
    ],
    [
      [attr(RadiusAttr.UserName, "a"), attrU32(RadiusAttr.SessionTimeout, 5)],
      ErrorCause.UnsupportedAttribute,
    ],
    [[attr(RadiusAttr.NasIdentifier, "oakley-nas")], ErrorCause.MissingAttribute],
  ];
  for (const [attrs, cause] of cases) {
    const req = request(RadiusCode.DisconnectRequest, attrs);
    const out = server().handleDatagram(DAC, req.bytes, 0);
    assert.equal(out.kind, "reply", String(cause));
    if (out.kind !== "reply") continue;
    const p = checkReply(out.bytes, req);
    assert.equal(p.code, RadiusCode.DisconnectNak);
    assert.equal(readU32(findAttr(p, RadiusAttr.ErrorCause) ?? new Uint8Array(4)), cause);
  }
});

test("a retransmitted request gets the same reply and is not reported twice", () => {
  const s = server();
  const req = request(RadiusCode.DisconnectRequest, [attr(RadiusAttr.UserName, "alice")]);
  const out = s.handleDatagram(DAC, req.bytes, 0);
  assert.equal(out.kind, "request");
  if (out.kind !== "request") return;
  assert.deepEqual(
    s.handleDatagram(DAC, req.bytes, 10),
    { kind: "drop", reason: "duplicate" },
    "while being handled",
  );
  const ack = out.answer({ ack: true }, 20);
  assert.deepEqual(s.handleDatagram(DAC, req.bytes, 30), { kind: "reply", to: DAC, bytes: ack });
  // after the window it is a new request again
  assert.equal(s.handleDatagram(DAC, req.bytes, 60_000).kind, "request");
});

test("threat: Disconnect-Requests from an unknown address, with a wrong secret, or without Message-Authenticator are silently dropped", () => {
  const counters = new Counters();
  const s = server(counters);
  const good = request(RadiusCode.DisconnectRequest, [attr(RadiusAttr.UserName, "alice")]);
  assert.deepEqual(s.handleDatagram({ address: "203.0.113.5", port: 3799 }, good.bytes, 0), {
    kind: "drop",
    reason: "unknown_client",
  });
  const wrong = request(
    RadiusCode.DisconnectRequest,
    [attr(RadiusAttr.UserName, "alice")],
    Buffer.from("guess"),
  );
  assert.deepEqual(s.handleDatagram(DAC, wrong.bytes, 0), {
    kind: "drop",
    reason: "bad_authenticator",
  });
  // RFC 5176 Request Authenticator right, but no Message-Authenticator at all
  const bare = Buffer.from(
    serializeRadiusPacket({
      code: RadiusCode.DisconnectRequest,
      identifier: 1,
      authenticator: new Uint8Array(16),
      attributes: [attr(RadiusAttr.UserName, "alice")],
    }),
  );
  createHash("md5").update(bare).update(SECRET).digest().copy(bare, 4);
  assert.deepEqual(s.handleDatagram(DAC, bare, 0), { kind: "drop", reason: "bad_authenticator" });
  // an Access-Request sent to the DAE port is not a DAE request
  const access = signRequest(
    { code: RadiusCode.AccessRequest, identifier: 2, attributes: [] },
    SECRET,
    Buffer.alloc(16, 1),
  );
  assert.deepEqual(s.handleDatagram(DAC, access.bytes, 0), { kind: "drop", reason: "wrong_code" });
  assert.equal(counters.get('radius_dae_drop{reason="bad_authenticator"}'), 2n);
});

test("hostile datagrams on the DAE port never throw", () => {
  const s = server();
  const seeds = [
    request(RadiusCode.DisconnectRequest, [
      attr(RadiusAttr.UserName, "alice"),
      attr(RadiusAttr.ProxyState, "x"),
    ]).bytes,
    request(RadiusCode.CoaRequest, [
      attr(RadiusAttr.UserName, "bob"),
      attrU32(RadiusAttr.SessionTimeout, 1),
    ]).bytes,
  ];
  let t = 0;
  fuzzParser(
    "DaeServer.handleDatagram",
    (b) => {
      const out = s.handleDatagram(DAC, b, t++);
      if (out.kind === "request") out.answer({ ack: true }, t);
      return { ok: out.kind !== "drop" };
    },
    seeds,
    { iterations: 20_000 },
  );
});
