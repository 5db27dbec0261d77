import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { unwrap } from "../../base/result.js";
import { RadiusAttr, RadiusCode } from "../../registry/radius.js";
import {
  RFC2865_7_1_ACCESS_ACCEPT,
  RFC2865_7_1_ACCESS_REQUEST,
  RFC2865_7_2_ACCESS_ACCEPT,
  RFC2865_7_2_ACCESS_REQUEST,
  RFC2865_PASSWORD,
  RFC2865_SECRET,
} from "../../../test/vectors/radius/rfc2865-examples.js";
import {
  hideUserPassword,
  RadiusAuthErrorCode,
  revealUserPassword,
  signRequest,
  signResponse,
  verifyRequest,
  verifyResponse,
} from "./auth.js";
import { attr, findAttr, parseRadiusPacket } from "./packet.js";

const secret = Buffer.from(RFC2865_SECRET);

test("RFC 2865 §7.1: hiding 'arctangent' gives the User-Password of the example", () => {
  const req = unwrap(parseRadiusPacket(RFC2865_7_1_ACCESS_REQUEST));
  const hidden = unwrap(hideUserPassword(Buffer.from(RFC2865_PASSWORD), secret, req.authenticator));
  assert.deepEqual(Buffer.from(hidden), Buffer.from(findAttr(req, RadiusAttr.UserPassword) ?? []));
  const clear = unwrap(revealUserPassword(hidden, secret, req.authenticator));
  assert.equal(Buffer.from(clear).toString(), RFC2865_PASSWORD);
});

test("RFC 2865 §7: the examples' Response Authenticators verify with the shared secret", () => {
  for (const [rq, rs] of [
    [RFC2865_7_1_ACCESS_REQUEST, RFC2865_7_1_ACCESS_ACCEPT],
    [RFC2865_7_2_ACCESS_REQUEST, RFC2865_7_2_ACCESS_ACCEPT],
  ] as const) {
    const q = unwrap(parseRadiusPacket(rq));
    const r = unwrap(parseRadiusPacket(rs));
    const v = verifyResponse(rs, r, q.authenticator, secret);
    // The Response Authenticator is right: what fails is only the (then optional) Message-Authenticator.
    assert.equal(v.ok, false);
    if (!v.ok) assert.equal(v.error.code, RadiusAuthErrorCode.MissingMessageAuthenticator);
    const wrong = verifyResponse(rs, r, q.authenticator, Buffer.from("xyzzy5462"));
    assert.equal(wrong.ok, false);
    if (!wrong.ok) assert.equal(wrong.error.code, RadiusAuthErrorCode.BadResponseAuthenticator);
  }
});

test("Blast-RADIUS: an Access-Accept without Message-Authenticator is refused even with a valid Response Authenticator", () => {
  const q = unwrap(parseRadiusPacket(RFC2865_7_1_ACCESS_REQUEST));
  const r = unwrap(parseRadiusPacket(RFC2865_7_1_ACCESS_ACCEPT));
  const v = verifyResponse(RFC2865_7_1_ACCESS_ACCEPT, r, q.authenticator, secret);
  assert.deepEqual(
    v.ok ? "accepted" : v.error.code,
    RadiusAuthErrorCode.MissingMessageAuthenticator,
  );
});

test("signed request and reply verify; the Message-Authenticator comes first", () => {
  const ra = Buffer.alloc(16, 0x5a);
  const { bytes, authenticator } = signRequest(
    {
      code: RadiusCode.AccessRequest,
      identifier: 7,
      attributes: [attr(RadiusAttr.UserName, "alice")],
    },
    secret,
    ra,
  );
  assert.deepEqual(Buffer.from(authenticator), ra);
  const q = unwrap(parseRadiusPacket(bytes));
  assert.equal(q.attributes[0]?.type, RadiusAttr.MessageAuthenticator);
  assert.equal(verifyRequest(bytes, q, secret, true).ok, true);
  const reply = signResponse(
    {
      code: RadiusCode.AccessAccept,
      identifier: 7,
      attributes: [attr(RadiusAttr.ReplyMessage, "hi")],
    },
    authenticator,
    secret,
  );
  const p = unwrap(parseRadiusPacket(reply));
  assert.equal(p.attributes[0]?.type, RadiusAttr.MessageAuthenticator);
  assert.deepEqual(verifyResponse(reply, p, authenticator, secret), { ok: true, value: undefined });
});

test("a reply for another request (other Request Authenticator) is refused", () => {
  const reply = signResponse(
    { code: RadiusCode.AccessAccept, identifier: 7, attributes: [] },
    Buffer.alloc(16, 1),
    secret,
  );
  const p = unwrap(parseRadiusPacket(reply));
  assert.equal(verifyResponse(reply, p, Buffer.alloc(16, 2), secret).ok, false);
});

test("a reply with a tampered attribute or Message-Authenticator is refused", () => {
  const ra = Buffer.alloc(16, 3);
  const reply = signResponse(
    {
      code: RadiusCode.AccessAccept,
      identifier: 1,
      attributes: [attr(RadiusAttr.ReplyMessage, "x")],
    },
    ra,
    secret,
  );
  for (let i = 20; i < reply.length; i++) {
    const t = Buffer.from(reply);
    t[i] = (t[i] ?? 0) ^ 1;
    const p = parseRadiusPacket(t);
    if (p.ok) assert.equal(verifyResponse(t, p.value, ra, secret).ok, false, `byte ${i}`);
  }
});

test("a forger who fixes the Response Authenticator still fails on the Message-Authenticator", () => {
  // Models the Blast-RADIUS outcome: the attacker controls the MD5 Response Authenticator (here
  // by knowing the secret for the MD5 part) but cannot produce the HMAC.
  const ra = Buffer.alloc(16, 4);
  const reply = Buffer.from(
    signResponse({ code: RadiusCode.AccessReject, identifier: 1, attributes: [] }, ra, secret),
  );
  reply[0] = RadiusCode.AccessAccept;
  const resp = createHash("md5")
    .update(reply.subarray(0, 4))
    .update(ra)
    .update(reply.subarray(20))
    .update(secret)
    .digest();
  resp.copy(reply, 4);
  const p = unwrap(parseRadiusPacket(reply));
  const v = verifyResponse(reply, p, ra, secret);
  assert.deepEqual(v.ok ? "accepted" : v.error.code, RadiusAuthErrorCode.BadMessageAuthenticator);
});

test("Accounting-/Disconnect-Requests: computed Request Authenticator verifies; wrong secret does not", () => {
  for (const code of [
    RadiusCode.AccountingRequest,
    RadiusCode.DisconnectRequest,
    RadiusCode.CoaRequest,
  ]) {
    const { bytes } = signRequest(
      { code, identifier: 3, attributes: [attr(RadiusAttr.UserName, "bob")] },
      secret,
      Buffer.alloc(16, 9),
    );
    const p = unwrap(parseRadiusPacket(bytes));
    assert.equal(verifyRequest(bytes, p, secret, true).ok, true);
    const w = verifyRequest(bytes, p, Buffer.from("other"), true);
    assert.deepEqual(w.ok ? "accepted" : w.error.code, RadiusAuthErrorCode.BadRequestAuthenticator);
  }
});

test("User-Password hiding round-trips for every length up to 128 and refuses longer", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 128 }).map((b) => b.map((x) => x || 1)),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (pw, ra) => {
        const h = unwrap(hideUserPassword(pw, secret, ra));
        assert.equal(h.length % 16, 0);
        assert.deepEqual(Buffer.from(unwrap(revealUserPassword(h, secret, ra))), Buffer.from(pw));
      },
    ),
  );
  assert.equal(hideUserPassword(new Uint8Array(129), secret, new Uint8Array(16)).ok, false);
  assert.equal(revealUserPassword(new Uint8Array(17), secret, new Uint8Array(16)).ok, false);
});
