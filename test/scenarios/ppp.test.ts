/**
 * Whole PPP peers in one process (server and client engines over an in-memory link, fake
 * clock). Expected behaviour comes from RFC 1661 (LCP, automaton, keepalive), RFC 1334 (PAP),
 * RFC 1994 (CHAP), RFC 2759 (MS-CHAPv2), RFC 1332/1877 (IPCP) and from what pppd 2.4.9 does.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AddressPool,
  type PppAuthMethod,
  type PppConfig,
  type PppEvent,
} from "../../src/ppp/index.js";
import { Link, seededRandom } from "./ppp-harness.js";

const users: Record<string, string> = { vmeuser: "vmepass", alice: "wonderland" };

function serverConfig(
  over: Partial<PppConfig> = {},
  pool = new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] }),
): PppConfig {
  return {
    role: "server",
    sessionId: "srv-1",
    users: (n) => users[n],
    pool,
    localAddress: "203.0.113.1",
    dns: ["192.0.2.53", "192.0.2.54"],
    random: seededRandom("server"),
    ...over,
  };
}
function clientConfig(over: Partial<PppConfig> = {}): PppConfig {
  return {
    role: "client",
    sessionId: "cli-1",
    credentials: { user: "vmeuser", password: "vmepass" },
    authMethods: ["mschapv2", "chap-md5", "pap"],
    random: seededRandom("client"),
    ...over,
  };
}

function start(link: Link): void {
  link.feed("server", { type: "start" });
  link.feed("client", { type: "start" });
}

const ipPacket = Buffer.from("4500001c000100004001f7cbcb007102cb0071010800f7ff00000000", "hex");

for (const method of ["mschapv2", "chap-md5", "pap"] as const) {
  test(`${method}: full negotiation to IP up, IPv4 both ways, orderly hang-up`, () => {
    const pool = new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] });
    const link = new Link(
      serverConfig({ authMethods: [method] }, pool),
      clientConfig({ authMethods: [method] }),
    );
    start(link);
    assert.ok(
      link.run(() => link.bothUp(), 10_000),
      "both sides reach ip-up",
    );
    const sAuth = link.eventsOf("server", "auth-ok")[0];
    assert.deepEqual(sAuth, { type: "auth-ok", method, user: "vmeuser" });
    assert.deepEqual(link.eventsOf("client", "auth-ok")[0], {
      type: "auth-ok",
      method,
      user: "vmeuser",
    });
    const cUp = link.eventsOf("client", "ip-up")[0];
    assert.deepEqual(cUp, {
      type: "ip-up",
      localAddress: "203.0.113.2",
      peerAddress: "203.0.113.1",
      dns: ["192.0.2.53", "192.0.2.54"],
      nbns: [],
    });
    const sUp = link.eventsOf("server", "ip-up")[0];
    assert.equal(sUp?.type === "ip-up" && sUp.peerAddress, "203.0.113.2");
    assert.ok(link.now < 1000, `no restart timer needed (took ${link.now} ms)`);
    link.feed("client", { type: "send-ip", packet: ipPacket });
    link.feed("server", { type: "send-ip", packet: ipPacket });
    link.run(
      () => link.delivered.server.length > 0 && link.delivered.client.length > 0,
      link.now + 100,
    );
    assert.deepEqual(Buffer.from(link.delivered.server[0] ?? []), ipPacket);
    assert.deepEqual(Buffer.from(link.delivered.client[0] ?? []), ipPacket);
    link.feed("client", { type: "close" });
    assert.ok(link.run(() => link.bothDown(), link.now + 10_000));
    const cDown = link.eventsOf("client", "link-down")[0];
    const sDown = link.eventsOf("server", "link-down")[0];
    assert.equal(cDown?.type === "link-down" && cDown.reason, "admin-close");
    assert.equal(sDown?.type === "link-down" && sDown.reason, "peer-terminated");
    assert.equal(pool.inUseCount(), 0, "the address went back to the pool");
  });

  test(`${method}: wrong password -> the client sees the failure, both sides tear down, no hang`, () => {
    const pool = new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] });
    const link = new Link(
      serverConfig({ authMethods: [method] }, pool),
      clientConfig({ authMethods: [method], credentials: { user: "vmeuser", password: "wrong" } }),
    );
    start(link);
    assert.ok(
      link.run(() => link.bothDown(), 30_000),
      "both sides reach link-down",
    );
    const cFail = link.eventsOf("client", "auth-failed")[0];
    const sFail = link.eventsOf("server", "auth-failed")[0];
    assert.ok(cFail && cFail.type === "auth-failed");
    assert.ok(sFail && sFail.type === "auth-failed");
    if (method === "mschapv2") {
      assert.equal(cFail.type === "auth-failed" && cFail.code, 691);
      assert.match(
        cFail.type === "auth-failed" ? cFail.message : "",
        /ERROR_AUTHENTICATION_FAILURE \(691\): Access denied/,
      );
    }
    for (const side of ["server", "client"] as const) {
      const d = link.eventsOf(side, "link-down")[0];
      assert.ok(d?.type === "link-down");
      if (side === "server") assert.equal(d?.type === "link-down" && d.reason, "auth-failed");
    }
    assert.equal(link.eventsOf("client", "ip-up").length, 0);
    assert.equal(pool.inUseCount(), 0);
    assert.ok(link.now < 10_000, `teardown took ${link.now} ms`);
  });
}

test("MS-CHAPv2 failure text is exactly E=691 R=0 C=<32 hex> V=3 M=Access denied", () => {
  const link = new Link(
    serverConfig({ authMethods: ["mschapv2"] }),
    clientConfig({ credentials: { user: "vmeuser", password: "nope" } }),
  );
  start(link);
  link.run(() => link.bothDown(), 30_000);
  const failure = link.sent.find(
    (s) => s.from === "server" && s.protocol === 0xc223 && s.frame[4] === 4,
  );
  assert.ok(failure);
  const msg = failure?.frame.subarray(8).toString("latin1") ?? "";
  assert.match(msg, /^E=691 R=0 C=[0-9A-F]{32} V=3 M=Access denied$/);
});

test("unknown user is refused like a wrong password", () => {
  const link = new Link(
    serverConfig(),
    clientConfig({ credentials: { user: "mallory", password: "x" } }),
  );
  start(link);
  assert.ok(link.run(() => link.bothDown(), 30_000));
  assert.equal(link.eventsOf("client", "auth-failed").length, 1);
});

test("server offers MS-CHAPv2 first; a PAP-only client Naks and the server falls back", () => {
  const link = new Link(serverConfig(), clientConfig({ authMethods: ["pap"] }));
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  assert.deepEqual(link.eventsOf("server", "auth-ok")[0], {
    type: "auth-ok",
    method: "pap",
    user: "vmeuser",
  });
});

test("client that allows nothing the server offers: link-down auth-refused, no hang", () => {
  const link = new Link(
    serverConfig({ authMethods: ["mschapv2"] }),
    clientConfig({ authMethods: ["pap"] }),
  );
  start(link);
  assert.ok(link.run(() => link.bothDown(), 60_000));
  const d = link.eventsOf("server", "link-down")[0];
  assert.equal(d?.type === "link-down" && d.reason, "auth-refused");
});

test("echo timeout: a peer that goes silent is declared dead after echoFailures intervals", () => {
  const link = new Link(
    serverConfig({ echoIntervalMs: 10_000, echoFailures: 3 }),
    clientConfig({ echoIntervalMs: 0 }),
  );
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  const upAt = link.now;
  // From now on the client hears nothing and says nothing (cable pulled).
  link.drop = () => true;
  assert.ok(link.run(() => link.eventsOf("server", "link-down").length > 0, upAt + 120_000));
  const d = link.eventsOf("server", "link-down")[0];
  assert.equal(d?.type === "link-down" && d.reason, "echo-timeout");
  const deadAt = link.firstAt("server", "link-down") ?? 0;
  // 3 unanswered requests at +10, +20, +30 s; declared dead at +40 s; Terminate x2 (3 s each).
  assert.ok(deadAt - upAt >= 40_000 && deadAt - upAt <= 50_000, `dead after ${deadAt - upAt} ms`);
  const echoes = link.sent.filter(
    (s) => s.from === "server" && s.protocol === 0xc021 && s.frame[4] === 9,
  );
  assert.equal(echoes.length, 3);
});

test("echo keepalive on a healthy link: requests answered, link stays up", () => {
  const link = new Link(
    serverConfig({ echoIntervalMs: 5_000 }),
    clientConfig({ echoIntervalMs: 7_000 }),
  );
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  link.advanceTo(link.now + 60_000);
  assert.equal(link.eventsOf("server", "link-down").length, 0);
  assert.equal(link.eventsOf("client", "link-down").length, 0);
  const replies = link.sent.filter((s) => s.protocol === 0xc021 && s.frame[4] === 10);
  assert.ok(replies.length >= 15, `${replies.length} Echo-Replies`);
});

test("pool exhaustion: the second client gets link-down pool-exhausted, the first keeps its address", () => {
  const pool = new AddressPool({ cidr: "203.0.113.0/30", reserved: ["203.0.113.1"] });
  const a = new Link(serverConfig({ sessionId: "s-a" }, pool), clientConfig());
  start(a);
  assert.ok(a.run(() => a.bothUp(), 10_000));
  const b = new Link(
    serverConfig({ sessionId: "s-b" }, pool),
    clientConfig({ credentials: { user: "alice", password: "wonderland" } }),
  );
  start(b);
  assert.ok(b.run(() => b.bothDown(), 30_000));
  const d = b.eventsOf("server", "link-down")[0];
  assert.equal(d?.type === "link-down" && d.reason, "pool-exhausted");
  assert.equal(b.eventsOf("client", "ip-up").length, 0);
  assert.equal(pool.inUseCount(), 1);
});

test("client's Configure-Request arriving before the server is started is answered, not lost", () => {
  const link = new Link(serverConfig(), clientConfig());
  link.feed("client", { type: "start" }); // its ConfReq reaches a server that is not started yet
  link.run(() => false, 0);
  link.now = 200;
  link.feed("server", { type: "start" });
  assert.ok(link.run(() => link.bothUp(), 10_000));
  assert.ok(link.now < 3000, `up at ${link.now} ms, without waiting for a restart timer`);
});

test("server's first Configure-Request lost (client not listening yet): resent on the client's first request", () => {
  const run = (resend: boolean) => {
    const link = new Link(serverConfig({ resendRequestOnPeerStart: resend }), clientConfig());
    link.drop = (from, _f, n) => from === "server" && n === 0;
    link.feed("server", { type: "start" });
    link.now = 300;
    link.feed("client", { type: "start" });
    assert.ok(link.run(() => link.bothUp(), 20_000));
    return link.firstAt("client", "ip-up") ?? Number.POSITIVE_INFINITY;
  };
  const withResend = run(true);
  const without = run(false);
  assert.ok(withResend < 1000, `with resend: up at ${withResend} ms`);
  assert.ok(without >= 3000, `without resend (RFC timer only): up at ${without} ms`);
});

test("lossy link: every third frame lost during set-up still reaches IP up (restart timers)", () => {
  for (const method of ["mschapv2", "chap-md5", "pap"] as PppAuthMethod[]) {
    const link = new Link(
      serverConfig({ authMethods: [method] }),
      clientConfig({ authMethods: [method] }),
    );
    link.drop = (_from, _f, n) => n % 3 === 1 && n < 12;
    start(link);
    assert.ok(
      link.run(() => link.bothUp(), 60_000),
      `${method}: up despite loss`,
    );
  }
});

test("loss of the MS-CHAPv2 Success: the client's resent Response gets the same Success", () => {
  const link = new Link(serverConfig({ authMethods: ["mschapv2"] }), clientConfig());
  link.drop = (from, f) =>
    from === "server" && f.readUInt16BE(2) === 0xc223 && f[4] === 3 && link.now < 1;
  start(link);
  assert.ok(link.run(() => link.bothUp(), 30_000));
  assert.ok(
    link.sent.some((x) => x.dropped),
    "the Success was lost once",
  );
  assert.equal(link.eventsOf("client", "auth-ok").length, 1);
});

test("IPV6CP and unknown protocols get an LCP Protocol-Reject once IPCP runs; IPV6CP is not negotiated", () => {
  const link = new Link(serverConfig(), clientConfig());
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  const before = link.sent.length;
  // IPV6CP Configure-Request with an Interface-Identifier, then a frame of protocol 0x1234+1.
  link.feed("server", {
    type: "frame",
    frame: Buffer.from("ff0380570101000e010a0123456789abcdef", "hex"),
  });
  link.feed("server", { type: "frame", frame: Buffer.from("ff031235dead", "hex") });
  const rejects = link.sent.slice(before).filter((s) => s.from === "server" && s.frame[4] === 8);
  assert.equal(rejects.length, 2);
  assert.equal(rejects[0]?.frame.readUInt16BE(8), 0x8057);
  assert.equal(rejects[1]?.frame.readUInt16BE(8), 0x1235);
  assert.equal(link.eventsOf("server", "link-down").length, 0);
});

test("a looped-back link (our frames come back to us) is detected by Magic-Number", () => {
  const s = new Link(serverConfig({ authMethods: [] }), clientConfig());
  const session = s.sessions.server;
  let actions = session.handle({ type: "start" }, 0);
  const events: PppEvent[] = [];
  for (let i = 0; i < 200 && !session.state.finished; i++) {
    const frames = actions
      .filter((a) => a.type === "send-frame")
      .map((a) => (a.type === "send-frame" ? a.frame : Buffer.alloc(0)));
    for (const a of actions) if (a.type === "event") events.push(a.event);
    actions =
      frames.length > 0
        ? frames.flatMap((f) => session.handle({ type: "frame", frame: f }, i))
        : session.handle({ type: "timer" }, i * 3000 + 3000);
  }
  for (const a of actions) if (a.type === "event") events.push(a.event);
  const down = events.find((e) => e.type === "link-down");
  assert.equal(down?.type === "link-down" && down.reason, "loopback");
});

test("input after link-down is ignored; a close before start finishes at once", () => {
  const link = new Link(serverConfig(), clientConfig());
  link.feed("server", { type: "close" });
  assert.equal(link.eventsOf("server", "link-down").length, 1);
  link.feed("server", { type: "start" });
  assert.equal(link.sent.length, 0);
});

test("lower-down: immediate link-down with the address released", () => {
  const pool = new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] });
  const link = new Link(serverConfig({}, pool), clientConfig());
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  link.feed("server", { type: "lower-down" });
  const d = link.eventsOf("server", "link-down")[0];
  assert.equal(d?.type === "link-down" && d.reason, "lower-down");
  assert.equal(pool.inUseCount(), 0);
});

test("pppd-like client options (MRU 1280, ACCM 0, PFC, ACFC): IPv4 goes as 21 <packet> after IP up", () => {
  const link = new Link(
    serverConfig(),
    clientConfig({ mru: 1280, accm: 0, requestPfc: true, requestAcfc: true }),
  );
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  const lu = link.eventsOf("server", "link-up")[0];
  assert.equal(lu?.type === "link-up" && lu.peerMru, 1280);
  link.feed("server", { type: "send-ip", packet: ipPacket });
  const last = link.sent[link.sent.length - 1];
  assert.equal(last?.frame.toString("hex"), `21${ipPacket.toString("hex")}`);
  link.run(() => link.delivered.client.length > 0, link.now + 10);
  assert.deepEqual(Buffer.from(link.delivered.client[0] ?? []), ipPacket);
  // LCP itself is never compressed (RFC 1661 §6.6).
  link.feed("client", { type: "close" });
  const term = link.sent[link.sent.length - 1];
  assert.equal(term?.frame.subarray(0, 5).toString("hex"), "ff03c02105");
});
