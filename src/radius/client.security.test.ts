/**
 * Threat model of the RADIUS client: an attacker on the path between Oakley and its RADIUS
 * server who can see, drop and inject UDP datagrams but does not know the shared secret.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { unwrap } from "../base/result.js";
import { Counters } from "../obs/counters.js";
import { SeededRandom } from "../platform/random.js";
import { RadiusAttr, RadiusCode } from "../registry/radius.js";
import { signResponse } from "../wire/radius/auth.js";
import { parseRadiusPacket, serializeRadiusPacket } from "../wire/radius/packet.js";
import { RadiusClient } from "./client.js";

const SECRET = Buffer.from("s3cret-shared");
const server = { address: "192.0.2.10", authPort: 1812, acctPort: 1813, secret: SECRET };
const from = { address: server.address, port: 1812 };

function start(counters = new Counters()) {
  const c = new RadiusClient(
    { servers: [server], nasIdentifier: "nas" },
    new SeededRandom("sec"),
    undefined,
    counters,
  );
  const { actions } = c.authenticate(
    { userName: "mallory", credentials: { method: "pap", password: Buffer.from("guess") } },
    0,
  );
  const s = actions[0];
  assert.ok(s && s.kind === "send");
  return { c, req: unwrap(parseRadiusPacket(s.bytes)), counters };
}

test("an injected Access-Accept without Message-Authenticator (Blast-RADIUS shape) does not log the user in", () => {
  const { c, req, counters } = start();
  // Response Authenticator right (as a chosen-prefix MD5 collision would make it), no MA.
  const body = serializeRadiusPacket({
    code: RadiusCode.AccessAccept,
    identifier: req.identifier,
    authenticator: new Uint8Array(16),
    attributes: [],
  });
  const ra = createHash("md5")
    .update(body.subarray(0, 4))
    .update(req.authenticator)
    .update(SECRET)
    .digest();
  const forged = Buffer.from(body);
  ra.copy(forged, 4);
  assert.deepEqual(c.handleDatagram(from, forged, 1), []);
  assert.equal(counters.get('radius_rx_drop{reason="bad_authenticator"}'), 1n);
  assert.equal(c.inFlight(), 1, "still waiting for the real answer");
});

test("an Access-Reject turned into an Accept on the path is refused", () => {
  const { c, req } = start();
  const real = Buffer.from(
    signResponse(
      { code: RadiusCode.AccessReject, identifier: req.identifier, attributes: [] },
      req.authenticator,
      SECRET,
    ),
  );
  real[0] = RadiusCode.AccessAccept;
  assert.deepEqual(c.handleDatagram(from, real, 1), []);
});

test("a valid reply from another address or port is not taken as the server's", () => {
  const { c, req } = start();
  const good = signResponse(
    { code: RadiusCode.AccessAccept, identifier: req.identifier, attributes: [] },
    req.authenticator,
    SECRET,
  );
  assert.deepEqual(c.handleDatagram({ address: "203.0.113.66", port: 1812 }, good, 1), []);
  assert.deepEqual(c.handleDatagram({ address: server.address, port: 1813 }, good, 1), []);
  assert.equal(c.handleDatagram(from, good, 2)[0]?.kind, "auth-done");
});

test("an Accounting-Response cannot answer an Access-Request (code confusion)", () => {
  const { c, req } = start();
  const acct = signResponse(
    { code: RadiusCode.AccountingResponse, identifier: req.identifier, attributes: [] },
    req.authenticator,
    SECRET,
  );
  assert.deepEqual(c.handleDatagram(from, acct, 1), []);
});

test("hostile datagrams on the client socket never throw and never end the request", () => {
  const { c, req } = start();
  const seed = signResponse(
    {
      code: RadiusCode.AccessAccept,
      identifier: req.identifier,
      attributes: [{ type: RadiusAttr.Class, value: Buffer.from("x") }],
    },
    req.authenticator,
    SECRET,
  );
  fuzzParser(
    "RadiusClient.handleDatagram",
    (b) => {
      const out = c.handleDatagram(from, b, 1);
      // Only the exact signed reply may complete it; mutations must not.
      if (out.length > 0)
        assert.deepEqual(Buffer.from(b.subarray(0, seed.length)), Buffer.from(seed));
      return { ok: out.length > 0 };
    },
    [seed],
    { iterations: 20_000 },
  );
});
