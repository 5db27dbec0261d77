/**
 * PPP with an external authenticator (authBackend "external", the daemon's RADIUS glue): the
 * server engine hands every method's credentials to the driver and relays its verdict. The
 * "authentication server" here is a test function that holds the password and computes what a
 * RADIUS server computes (RFC 1994 CHAP-MD5, RFC 2759 §8 NT-Response and authenticator
 * response), so the client engine's own checks decide whether the relay is right.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressPool, type PppAuthVerdict, type PppConfig } from "../../src/ppp/index.js";
import {
  chapMd5Response,
  generateAuthenticatorResponse,
  generateNtResponse,
} from "../../src/ppp/mschapv2.js";
import type { PppCredentials } from "../../src/ppp/types.js";
import { Link, seededRandom } from "./ppp-harness.js";

const PASSWORD = "vmepass";

function serverConfig(over: Partial<PppConfig> = {}): PppConfig {
  return {
    role: "server",
    sessionId: "srv-1",
    authBackend: "external",
    // No local users at all: every verdict must come from the authenticator.
    users: () => undefined,
    pool: new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] }),
    localAddress: "203.0.113.1",
    dns: ["192.0.2.53"],
    random: seededRandom("server"),
    ...over,
  };
}
function clientConfig(over: Partial<PppConfig> = {}): PppConfig {
  return {
    role: "client",
    sessionId: "cli-1",
    credentials: { user: "vmeuser", password: PASSWORD },
    authMethods: ["mschapv2", "chap-md5", "pap"],
    random: seededRandom("client"),
    ...over,
  };
}
function start(link: Link): void {
  link.feed("server", { type: "start" });
  link.feed("client", { type: "start" });
}

/** What a RADIUS server holding `password` answers. */
function radiusLike(
  password: string,
  accept: Omit<Extract<PppAuthVerdict, { ok: true }>, "ok"> = {},
): (user: string, c: PppCredentials) => PppAuthVerdict {
  return (user, c) => {
    const refuse: PppAuthVerdict = { ok: false, reason: "wrong-password", message: "no" };
    if (c.method === "pap")
      return Buffer.from(c.password).toString("utf8") === password
        ? { ok: true, ...accept }
        : refuse;
    if (c.method === "chap-md5") {
      const want = chapMd5Response(c.identifier, Buffer.from(password, "utf8"), c.challenge);
      return Buffer.from(want).equals(Buffer.from(c.response)) ? { ok: true, ...accept } : refuse;
    }
    const nt = generateNtResponse(c.authenticatorChallenge, c.peerChallenge, user, password);
    if (!Buffer.from(nt).equals(Buffer.from(c.ntResponse))) return refuse;
    const s = generateAuthenticatorResponse(
      password,
      nt,
      c.peerChallenge,
      c.authenticatorChallenge,
      user,
    );
    return {
      ok: true,
      authenticatorResponse: `S=${Buffer.from(s).toString("hex").toUpperCase()}`,
      ...accept,
    };
  };
}

for (const method of ["pap", "chap-md5", "mschapv2"] as const) {
  test(`${method}: the external verdict is relayed and the client reaches IP up`, () => {
    const link = new Link(
      serverConfig({ authMethods: [method] }),
      clientConfig({ authMethods: [method] }),
    );
    link.verify = radiusLike(PASSWORD);
    start(link);
    assert.ok(link.run(() => link.bothUp(), 10_000));
    assert.equal(link.credentials.length, 1, "one check");
    assert.equal(link.credentials[0]?.method, method);
    const ok = link.eventsOf("client", "auth-ok")[0];
    assert.equal(ok?.type === "auth-ok" && ok.method, method);
  });

  test(`${method}: an external reject fails the login and is asked once`, () => {
    const link = new Link(
      serverConfig({ authMethods: [method] }),
      clientConfig({ authMethods: [method], credentials: { user: "vmeuser", password: "bad" } }),
    );
    link.verify = radiusLike(PASSWORD);
    start(link);
    assert.ok(link.run(() => link.bothDown(), 60_000));
    assert.equal(link.credentials.length, 1);
    assert.equal(link.eventsOf("server", "ip-up").length, 0);
    const f = link.eventsOf("server", "auth-failed")[0];
    assert.match(f?.type === "auth-failed" ? f.message : "", /wrong password for vmeuser \(no\)/);
    assert.equal(link.eventsOf("client", "auth-failed").length, 1);
  });
}

test("mschapv2: the client checks the relayed authenticator response; a wrong S= fails it", () => {
  const link = new Link(
    serverConfig({ authMethods: ["mschapv2"] }),
    clientConfig({ authMethods: ["mschapv2"] }),
  );
  const genuine = radiusLike(PASSWORD);
  // A server that accepts without knowing the password invents an S=: the client must notice.
  link.verify = (u, c) => {
    const v = genuine(u, c);
    return v.ok ? { ...v, authenticatorResponse: `S=${"0".repeat(40)}` } : v;
  };
  start(link);
  assert.ok(link.run(() => link.bothDown(), 60_000));
  const f = link.eventsOf("client", "auth-failed")[0];
  assert.equal(f?.type === "auth-failed" && f.serverNotAuthenticated, true);
  assert.equal(link.eventsOf("client", "ip-up").length, 0);
});

test("mschapv2: an accept without an authenticator response is turned into a Failure", () => {
  const link = new Link(
    serverConfig({ authMethods: ["mschapv2"] }),
    clientConfig({ authMethods: ["mschapv2"] }),
  );
  link.verify = () => ({ ok: true });
  start(link);
  assert.ok(link.run(() => link.bothDown(), 60_000));
  assert.equal(link.eventsOf("server", "auth-ok").length, 0);
  const f = link.eventsOf("server", "auth-failed")[0];
  assert.match(f?.type === "auth-failed" ? f.message : "", /no usable MS-CHAPv2 authenticator/);
  assert.equal(link.eventsOf("client", "ip-up").length, 0);
});

test("the grant's address and DNS servers go into IPCP instead of the pool's", () => {
  const link = new Link(serverConfig(), clientConfig());
  link.verify = radiusLike(PASSWORD, { grant: { address: "198.51.100.77", dns: ["192.0.2.99"] } });
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  const up = link.eventsOf("client", "ip-up")[0];
  assert.equal(up?.type === "ip-up" && up.localAddress, "198.51.100.77");
  assert.deepEqual(up?.type === "ip-up" && up.dns, ["192.0.2.99"]);
});

test("a granted address another session holds is refused (no duplicates)", () => {
  const pool = new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] });
  assert.ok(pool.claim("203.0.113.50", "other-session").ok);
  const link = new Link(serverConfig({ pool }), clientConfig());
  link.verify = radiusLike(PASSWORD, { grant: { address: "203.0.113.50" } });
  start(link);
  assert.ok(link.run(() => link.bothDown(), 60_000));
  const down = link.eventsOf("server", "link-down")[0];
  assert.equal(down?.type === "link-down" && down.reason, "pool-exhausted");
  assert.match(down?.type === "link-down" ? down.message : "", /already in use/);
  assert.equal(link.eventsOf("client", "ip-up").length, 0);
  pool.release("203.0.113.50", "other-session");
  assert.equal(pool.inUseCount(), 0, "the refused session took nothing");
});

test("a verdict that never comes ends the link at the auth timeout (no hang)", () => {
  for (const method of ["pap", "mschapv2"] as const) {
    const link = new Link(
      serverConfig({ authMethods: [method], authTimeoutMs: 20_000 }),
      clientConfig({ authMethods: [method] }),
    );
    link.verify = () => undefined;
    start(link);
    assert.ok(
      link.run(() => link.bothDown(), 120_000),
      method,
    );
    const down = link.eventsOf("server", "link-down")[0];
    assert.equal(down?.type === "link-down" && down.reason, "auth-timeout", method);
    assert.equal(link.credentials.length, 1, `${method}: resends are not checked again`);
    assert.ok(link.now <= 25_000, `${method}: ended at ${link.now} ms`);
  }
});

test("a late verdict after the link ended is dropped", () => {
  const link = new Link(
    serverConfig({ authMethods: ["pap"], authTimeoutMs: 5_000 }),
    clientConfig({ authMethods: ["pap"] }),
  );
  link.verify = () => undefined;
  start(link);
  assert.ok(link.run(() => link.bothDown(), 60_000));
  link.answer("server", 1, true);
  assert.equal(link.eventsOf("server", "auth-ok").length, 0);
});
