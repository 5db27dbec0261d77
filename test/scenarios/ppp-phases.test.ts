/**
 * The order of the RFC 1661 §3 phases between two whole PPP peers (in-memory link, fake
 * clock): IPCP only once authentication succeeded, and an LCP renegotiation in the Network
 * phase takes IPCP down and gives the address back before anything starts again.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressPool, type PppConfig } from "../../src/ppp/index.js";
import { PppProtocol } from "../../src/registry/ppp.js";
import { parsePppFrame } from "../../src/wire/ppp/frame.js";
import { Link, type Sent, seededRandom } from "./ppp-harness.js";

function configs(method: "mschapv2" | "chap-md5" | "pap", pool: AddressPool) {
  const server: PppConfig = {
    role: "server",
    sessionId: "srv-1",
    authMethods: [method],
    users: (n) => (n === "vmeuser" ? "vmepass" : undefined),
    pool,
    localAddress: "203.0.113.1",
    random: seededRandom("server"),
  };
  const client: PppConfig = {
    role: "client",
    sessionId: "cli-1",
    authMethods: [method],
    credentials: { user: "vmeuser", password: "vmepass" },
    random: seededRandom("client"),
  };
  return { server, client };
}

const newPool = () => new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] });

const code = (s: Sent) => {
  const f = parsePppFrame(s.frame);
  return f.ok ? f.value.information[0] : undefined;
};

/** The server's PAP Authenticate-Ack (2) or CHAP Success (3). */
const isAuthSuccess = (s: Sent) =>
  s.from === "server" &&
  ((s.protocol === PppProtocol.PAP && code(s) === 2) ||
    (s.protocol === PppProtocol.CHAP && code(s) === 3));

for (const method of ["mschapv2", "chap-md5", "pap"] as const) {
  test(`${method}: no IPCP frame from either side before the server's authentication success`, () => {
    const { server, client } = configs(method, newPool());
    const link = new Link(server, client);
    link.feed("server", { type: "start" });
    link.feed("client", { type: "start" });
    assert.ok(link.run(() => link.bothUp(), 10_000));
    const success = link.sent.findIndex(isAuthSuccess);
    const firstIpcp = link.sent.findIndex((s) => s.protocol === PppProtocol.IPCP);
    assert.ok(success >= 0, "the server sent its success");
    assert.ok(firstIpcp > success, `first IPCP frame #${firstIpcp}, success #${success}`);
  });
}

test("a pending credentials check holds IPCP back; the verdict starts it", () => {
  const pool = newPool();
  const { server, client } = configs("pap", pool);
  const link = new Link(server, client);
  link.checkPassword = () => undefined; // the driver has not answered yet
  link.feed("server", { type: "start" });
  link.feed("client", { type: "start" });
  link.run(() => false, 5_000);
  assert.equal(link.checks.length, 1);
  assert.equal(link.sent.filter((s) => s.protocol === PppProtocol.IPCP).length, 0);
  assert.equal(pool.inUseCount(), 0, "no address before the verdict");
  link.answer("server", link.checks[0]?.requestId ?? -1, true);
  assert.ok(link.run(() => link.bothUp(), link.now + 10_000));
  assert.equal(pool.inUseCount(), 1);
});

test("LCP renegotiation in the Network phase: ip-down, the address back to the pool, then up again", () => {
  const pool = newPool();
  const { server, client } = configs("mschapv2", pool);
  const link = new Link(server, client);
  link.feed("server", { type: "start" });
  link.feed("client", { type: "start" });
  assert.ok(link.run(() => link.bothUp(), 10_000));
  // The client's Configure-Request once more: to an Opened LCP, a peer starting over.
  const request = link.sent.find(
    (s) => s.from === "client" && s.protocol === PppProtocol.LCP && code(s) === 1,
  );
  assert.ok(request);
  link.feed("server", { type: "frame", frame: request.frame });
  assert.equal(link.eventsOf("server", "ip-down").length, 1, "IPCP went down with LCP");
  assert.equal(pool.inUseCount(), 0, "the address went back at once");
  assert.ok(
    link.run(() => link.eventsOf("server", "ip-up").length === 2, link.now + 30_000),
    "authenticated and IP up again",
  );
  assert.equal(link.eventsOf("server", "auth-ok").length, 2);
  assert.equal(pool.inUseCount(), 1);
  assert.equal(link.eventsOf("server", "link-down").length, 0);
});
