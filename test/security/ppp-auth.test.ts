/**
 * Threat model of PPP authentication (server and client), as tests.
 *
 * Server (PAP): a peer holding the group PSK must not be able to stall the event loop with
 * PAP frames (scrypt on the main thread), learn which user names exist from response times, or
 * guess passwords faster than a slow trickle per channel.
 * Client: a rogue server holding the group PSK must not be able to downgrade the client to a
 * method in which the server is never authenticated (CHAP-MD5, PAP, none) and so capture a
 * crackable response, or a password in the clear, and then all traffic; with MS-CHAPv2 the
 * server must prove it knows the password (RFC 2759 §5, the S= authenticator response).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { connectWarnings, formatIssues, loadConnectConfig } from "../../src/daemon/config.js";
import type { Clock } from "../../src/base/clock.js";
import {
  AuthAttemptLimiter,
  type PasswordVerifier,
  storePasswordVerifier,
} from "../../src/daemon/ppp-password.js";
import { makeCredentials, type PapKdf, scryptKdf, type User } from "../../src/policy/index.js";
import { AddressPool, type PppConfig, type PppEvent, type PppInput } from "../../src/ppp/index.js";
import { serializePapPacket } from "../../src/wire/ppp/auth.js";
import { makePppFrame } from "../../src/wire/ppp/frame.js";
import { simClient, simServer } from "../fakes/product.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { Link, seededRandom } from "../scenarios/ppp-harness.js";

const PAP = 0xc023;
const CHAP = 0xc223;
const LCP = 0xc021;

const users: Record<string, string> = { vmeuser: "vmepass" };

function serverConfig(over: Partial<PppConfig> = {}): PppConfig {
  return {
    role: "server",
    sessionId: "srv",
    users: (n) => users[n],
    pool: new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] }),
    localAddress: "203.0.113.1",
    dns: ["192.0.2.53"],
    random: seededRandom("server"),
    ...over,
  };
}

/** The client as `oakley connect` configures it: no authMethods unless --allow-auth says so. */
function clientConfig(over: Partial<PppConfig> = {}): PppConfig {
  return {
    role: "client",
    sessionId: "cli",
    credentials: { user: "vmeuser", password: "vmepass" },
    random: seededRandom("client"),
    ...over,
  };
}

function start(link: Link): void {
  link.feed("server", { type: "start" });
  link.feed("client", { type: "start" });
}

function papRequest(id: number, user: string, password: string): Buffer {
  return makePppFrame(
    PAP,
    serializePapPacket({
      kind: "Authenticate-Request",
      identifier: id,
      peerId: Buffer.from(user, "latin1"),
      password: Buffer.from(password, "utf8"),
    }),
    { acfc: false, pfc: false },
  );
}

/** PAP Ack/Nak frames (code 2/3) among `sent`, as [code, identifier]. */
function papVerdicts(sent: Link["sent"], from: "server" | "client" = "server"): number[][] {
  return sent
    .filter((s) => s.from === from && s.protocol === PAP && (s.frame[4] === 2 || s.frame[4] === 3))
    .map((s) => [s.frame[4] ?? 0, s.frame[5] ?? 0]);
}

function downOf(link: Link, side: "server" | "client"): Extract<PppEvent, { type: "link-down" }> {
  const d = link.eventsOf(side, "link-down")[0];
  assert.ok(d?.type === "link-down", `${side} link-down`);
  return d;
}

const cheap = { n: 1024, r: 8, p: 1 };

function storedUser(name: string, password: string, over: Partial<User> = {}): User {
  return {
    name,
    enabled: true,
    protocols: ["mschapv2", "pap"],
    credentials: makeCredentials(password, randomBytes, { scrypt: cheap }),
    ...over,
  } as User;
}

// ---- Item A: PAP on the server ----

test("a PAP flood on one session triggers one password check, and no verdict is sent before it completes", () => {
  const link = new Link(
    serverConfig({ authMethods: ["pap"] }),
    clientConfig({ authMethods: ["pap"] }),
  );
  link.checkPassword = undefined; // the driver is still working on it
  start(link);
  link.run(() => link.checks.length > 0, 10_000);
  assert.equal(link.checks.length, 1, "the first Authenticate-Request asks the driver once");
  assert.equal(link.checks[0]?.user, "vmeuser");
  const before = link.sent.length;
  for (let i = 0; i < 100; i++)
    link.feed("server", { type: "frame", frame: papRequest(i + 2, "vmeuser", `guess-${i}`) });
  assert.equal(link.checks.length, 1, "100 more requests while pending: no further check");
  assert.deepEqual(papVerdicts(link.sent.slice(before)), [], "no verdict before the check ends");
  assert.equal(link.sessions.server.state.counters.rx_pap_while_checking, 100);
  // The check ends: the verdict answers the latest request (the one the peer waits for).
  link.answer("server", link.checks[0]?.requestId ?? -1, true);
  assert.deepEqual(papVerdicts(link.sent.slice(before)), [[2, 101]]);
  assert.ok(
    link.run(() => link.bothUp(), 60_000),
    "the real client still gets in",
  );
  assert.equal(link.checks.length, 1);
});

test("a stale or forged check answer (wrong request id) does not log anyone in", () => {
  const link = new Link(
    serverConfig({ authMethods: ["pap"] }),
    clientConfig({ authMethods: ["pap"] }),
  );
  link.checkPassword = undefined;
  start(link);
  link.run(() => link.checks.length > 0, 10_000);
  const id = link.checks[0]?.requestId ?? 0;
  link.answer("server", id + 1, true);
  assert.equal(link.eventsOf("server", "auth-ok").length, 0);
  link.answer("server", id, false);
  assert.ok(link.run(() => link.bothDown(), 30_000));
  assert.equal(downOf(link, "server").reason, "auth-failed");
  assert.equal(link.eventsOf("server", "auth-ok").length, 0);
});

test("PAP requests after a successful login are not checked again and change nothing", () => {
  let lookups = 0;
  const link = new Link(
    serverConfig({
      authMethods: ["pap"],
      users: (n) => {
        lookups++;
        return users[n];
      },
    }),
    clientConfig({ authMethods: ["pap"] }),
  );
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  const checks = link.checks.length;
  const seen = lookups;
  const before = link.sent.length;
  for (let i = 0; i < 50; i++)
    link.feed("server", { type: "frame", frame: papRequest(i, "vmeuser", "wrong") });
  assert.equal(link.checks.length, checks, "no new password check");
  assert.equal(lookups, seen, "no user lookup either");
  assert.equal(link.sessions.server.state.counters.rx_pap_after_auth, 50);
  assert.equal(link.eventsOf("server", "link-down").length, 0, "the session stays up");
  assert.equal(link.eventsOf("server", "auth-failed").length, 0);
  // A lost Ack is repaired (RFC 1334 §2.2.1: the peer resends until answered), but only a few
  // times: the rest of the flood gets nothing.
  const acks = papVerdicts(link.sent.slice(before));
  assert.ok(acks.length <= 10, `${acks.length} Acks resent`);
  assert.ok(acks.every(([code]) => code === 2));
});

test("the event loop keeps turning while a PAP password is checked (scrypt off the main thread)", async () => {
  const alice = storedUser("alice", "correct horse", {
    credentials: makeCredentials("correct horse", randomBytes),
  });
  const v = storePasswordVerifier((n) => (n === "alice" ? alice : undefined));
  let immediate = false;
  setImmediate(() => {
    immediate = true;
  });
  const pending = v.verify("alice", "correct horse");
  const turnedBeforeResult = await pending.then(() => immediate);
  assert.equal(turnedBeforeResult, true, "a setImmediate callback ran before the verdict");
  assert.deepEqual(await pending, { ok: true });
  assert.deepEqual(await v.verify("alice", "correct horsf"), {
    ok: false,
    reason: "wrong-password",
  });
});

test("an unknown user name costs the same KDF as a real one (no user enumeration by timing)", async () => {
  const calls: { N: number; r: number; p: number; keylen: number }[] = [];
  const counting: PapKdf = (pw, salt, keylen, params) => {
    calls.push({ N: params.N, r: params.r, p: params.p, keylen });
    return scryptKdf(pw, salt, keylen, params);
  };
  const real = storedUser("alice", "correct horse", {
    credentials: makeCredentials("correct horse", randomBytes),
  });
  const table: Record<string, User> = {
    alice: real,
    bob: { ...real, name: "bob", enabled: false },
    carol: { ...real, name: "carol", protocols: ["mschapv2"] },
  };
  const v = storePasswordVerifier((n) => table[n], { kdf: counting });
  const cases = [
    ["alice", "wrong", "wrong-password"],
    ["mallory", "x", "unknown-user"],
    ["bob", "correct horse", "not-allowed"],
    ["carol", "correct horse", "not-allowed"],
  ] as const;
  for (const [user, pw, reason] of cases) {
    calls.length = 0;
    assert.deepEqual(await v.verify(user, pw), { ok: false, reason }, user);
    assert.equal(calls.length, 1, `${user}: one KDF run`);
    assert.deepEqual(
      calls[0],
      {
        N: real.credentials.pap.n,
        r: real.credentials.pap.r,
        p: real.credentials.pap.p,
        keylen: 32,
      },
      `${user}: same cost as a real user`,
    );
  }
});

test("a Windows DOMAIN\\user name is checked as the bare user, as for MS-CHAPv2", async () => {
  const alice = storedUser("alice", "correct horse");
  const v = storePasswordVerifier((n) => (n === "alice" ? alice : undefined));
  assert.deepEqual(await v.verify("CORP\\alice", "correct horse"), { ok: true });
});

test("a channel that keeps opening sessions gets few authentication attempts (rate limit)", () => {
  let now = 0;
  const clock = { now: () => now, wallNow: () => now, alarm: () => ({ arm() {}, disarm() {} }) };
  const l = new AuthAttemptLimiter(clock, { burst: 3, refillMs: 10_000 });
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => l.take("ch-1")),
    [true, true, true, false, false],
  );
  assert.equal(l.take("ch-2"), true, "another channel is not affected");
  now = 10_000;
  assert.equal(l.take("ch-1"), true, "one attempt back after refillMs");
  assert.equal(l.take("ch-1"), false);
  now = 1_000_000;
  assert.deepEqual(
    [1, 2, 3, 4].map(() => l.take("ch-1")),
    [true, true, true, false],
  );
});

/** The product's stacks (test/fakes/product.ts) with a PAP-only server and a given verifier. */
function product(opts: {
  verifier: PasswordVerifier;
  password?: string;
  limiter?: (clock: Clock) => AuthAttemptLimiter;
}) {
  const sim = new Simulator(7);
  const net = new SimNetwork(sim);
  const server = simServer(sim, net.host("198.51.100.2"), {
    ppp: (clock) => ({
      authMethods: ["pap"],
      verifier: opts.verifier,
      ...(opts.limiter ? { authLimiter: opts.limiter(clock) } : {}),
    }),
  });
  const client = simClient(sim, net.host("192.0.2.2"), "198.51.100.2", {
    user: { name: "alice", password: opts.password ?? "correct horse battery" },
    authMethods: ["mschapv2", "pap"],
  });
  return { sim, server, client };
}

test("the LNS checks a PAP password once per session, asynchronously, while the peer keeps resending", async () => {
  let calls = 0;
  let release: (ok: boolean) => void = () => {};
  const verifier: PasswordVerifier = {
    verify: () => {
      calls++;
      return new Promise((resolve) => {
        release = (ok) => resolve(ok ? { ok: true } : { ok: false, reason: "wrong-password" });
      });
    },
  };
  const s = product({ verifier });
  // 20 s of simulated time after PPP starts: the client resends its Authenticate-Request.
  assert.ok(
    s.sim.runUntilTrue(() => calls > 0, 30_000),
    "a check started",
  );
  s.sim.runFor(20_000);
  assert.equal(calls, 1, "one check for the session");
  assert.equal(s.client.up(), false);
  release(true);
  await new Promise((r) => setImmediate(r));
  assert.ok(s.sim.runUntilTrue(() => s.client.up(), 30_000));
  assert.equal(calls, 1);
  s.client.stop();
  s.server.dispose();
});

test("a client that redials again and again to guess passwords gets only a few checks per channel", async () => {
  let calls = 0;
  const verifier: PasswordVerifier = {
    verify: async () => {
      calls++;
      return { ok: false, reason: "wrong-password" };
    },
  };
  const s = product({
    verifier,
    password: "guess",
    limiter: (clock) => new AuthAttemptLimiter(clock, { burst: 3, refillMs: 600_000 }),
  });
  let redials = 0;
  for (let i = 0; i < 8; i++) {
    for (let k = 0; k < 40 && s.client.stack.l2tp.list().length > 0; k++) {
      s.sim.runFor(500);
      await new Promise((r) => setImmediate(r));
    }
    s.sim.runFor(500);
    await new Promise((r) => setImmediate(r));
    if (s.client.stack.l2tp.redial()) redials++;
  }
  assert.ok(redials >= 5, `${redials} redials on the one tunnel`);
  assert.ok(calls <= 3, `${calls} password checks for ${redials + 1} sessions`);
  const limited = s.server.events.filter(
    (e) => e.type === "session-down" && /too many authentication attempts/.test(e.reason),
  );
  assert.ok(
    limited.length >= redials + 1 - 3 - 1,
    `${limited.length} of ${redials + 1} sessions refused by the limit (${calls} checked)`,
  );
  s.client.stop();
  s.server.dispose();
});

// ---- Item B: the client is not downgraded ----

for (const [method, name, flag, proto] of [
  ["chap-md5", "CHAP-MD5", "chap", CHAP],
  ["pap", "PAP", "pap", PAP],
] as const) {
  test(`a rogue server offering only ${name} gets no response from the client by default`, () => {
    const link = new Link(serverConfig({ authMethods: [method] }), clientConfig());
    start(link);
    assert.ok(
      link.run(() => link.bothDown(), 60_000),
      "both sides give up, no hang",
    );
    assert.equal(
      link.sent.filter((s) => s.from === "client" && s.protocol === proto).length,
      0,
      `the client sent nothing of ${name} (no crackable response, no password)`,
    );
    // The client's LCP Configure-Nak names MS-CHAPv2 (03 05 c223 81).
    const nak = link.sent.find(
      (s) => s.from === "client" && s.protocol === LCP && s.frame[4] === 3,
    );
    assert.ok(nak?.frame.toString("hex").includes("0305c22381"), "Nak suggests MS-CHAPv2");
    const d = downOf(link, "client");
    assert.equal(d.reason, "auth-refused");
    assert.match(
      d.message,
      new RegExp(
        `the server offered only ${name}; it cannot prove it knows your password; use --allow-auth ${flag} to accept`,
      ),
    );
    assert.equal(link.eventsOf("client", "ip-up").length, 0);
  });

  test(`with --allow-auth ${flag} the client accepts a server offering only ${name}`, () => {
    const link = new Link(
      serverConfig({ authMethods: [method] }),
      clientConfig({ authMethods: ["mschapv2", method] }),
    );
    start(link);
    assert.ok(link.run(() => link.bothUp(), 10_000));
  });
}

test("a rogue server that insists on CHAP-MD5 after the client's Nak is refused with the reason", () => {
  // A scripted server: every Configure-Request proposes CHAP-MD5 again, with a new Identifier.
  const link = new Link(serverConfig(), clientConfig());
  const client = link.sessions.client;
  let acts = client.handle({ type: "start" }, 0);
  const out: PppEvent[] = [];
  const req = (id: number) =>
    Buffer.from(`ff03c02101${id.toString(16).padStart(2, "0")}000f0305c223050506cafef00d`, "hex");
  const naks: number[] = [];
  const collect = () => {
    for (const a of acts) {
      if (a.type === "event") out.push(a.event);
      if (a.type === "send-frame" && a.frame.readUInt16BE(2) === LCP && a.frame[4] === 3)
        naks.push(a.frame.toString("hex").includes("0305c22381") ? 1 : 0);
    }
  };
  for (let i = 1; i < 20 && client.state.closeReason === null; i++) {
    collect();
    acts = client.handle({ type: "frame", frame: req(i) }, i * 10);
  }
  // The client hangs up (Terminate-Request); the server never acknowledges: the timer ends it.
  for (let t = 1; t < 10 && !client.state.finished; t++) {
    collect();
    acts = client.handle({ type: "timer" }, t * 3000 + 200);
  }
  collect();
  assert.ok(
    naks.every((n) => n === 1),
    "each Nak suggests MS-CHAPv2",
  );
  assert.ok(naks.length >= 1 && naks.length < 5, `${naks.length} Naks, then the client gives up`);
  const down = out.find((e) => e.type === "link-down");
  assert.ok(down?.type === "link-down", "the client closes the link itself");
  assert.equal(down.reason, "auth-refused");
  assert.match(down.message, /offered only CHAP-MD5.*--allow-auth chap/);
});

test("a server that asks for no authentication at all is refused (it proves nothing)", () => {
  const link = new Link(serverConfig({ authMethods: [] }), clientConfig());
  start(link);
  assert.ok(link.run(() => link.bothDown(), 60_000));
  const d = downOf(link, "client");
  assert.equal(d.reason, "auth-refused");
  assert.match(d.message, /did not ask for authentication; it cannot prove it knows your password/);
  assert.equal(link.eventsOf("client", "ip-up").length, 0);
});

function rewriteSuccess(link: Link, f: (msg: string) => string): void {
  link.rewrite = (from, frame) => {
    if (from !== "server" || frame.readUInt16BE(2) !== CHAP || frame[4] !== 3) return frame;
    const msg = f(frame.subarray(8).toString("latin1"));
    const out = Buffer.concat([frame.subarray(0, 8), Buffer.from(msg, "latin1")]);
    out.writeUInt16BE(out.length - 4, 6);
    return out;
  };
}

for (const [what, change] of [
  ["a wrong", (m: string) => `S=${"0".repeat(40)}${m.slice(42)}`],
  ["no", (_m: string) => "M=Access granted"],
] as const) {
  test(`a rogue server answering MS-CHAPv2 with ${what} authenticator response (S=) gets no link`, () => {
    const link = new Link(serverConfig({ authMethods: ["mschapv2"] }), clientConfig());
    rewriteSuccess(link, change);
    start(link);
    assert.ok(link.run(() => link.eventsOf("client", "link-down").length > 0, 60_000));
    const f = link.eventsOf("client", "auth-failed")[0];
    assert.ok(f?.type === "auth-failed");
    assert.equal(f.serverNotAuthenticated, true);
    assert.match(
      f.message,
      what === "no"
        ? /server's Success carries no authenticator response \(S=\)/
        : /server's authenticator response \(S=\) is wrong/,
    );
    assert.match(f.message, /did not prove it knows your password/);
    assert.equal(link.eventsOf("client", "auth-ok").length, 0);
    assert.equal(link.eventsOf("client", "ip-up").length, 0);
  });
}

test("a genuine MS-CHAPv2 server (right S=) is accepted by the default client", () => {
  const link = new Link(serverConfig(), clientConfig());
  start(link);
  assert.ok(link.run(() => link.bothUp(), 10_000));
  const ok = link.eventsOf("client", "auth-ok")[0];
  assert.equal(ok?.type === "auth-ok" && ok.method, "mschapv2");
});

// Type-level guard: the driver's answer is an input of the engine.
const _answer: PppInput = {
  type: "credentials-verified",
  requestId: 1,
  verdict: { ok: false, reason: "wrong-password" },
};
void _answer;

// ---- Item B: configuration of `oakley connect` ----

const connectBase = { server: "198.51.100.2", psk: "p".repeat(16), user: "u", password: "pw" };

test("oakley connect allows only MS-CHAPv2 unless --allow-auth names weaker methods, and then warns why", () => {
  const d = loadConnectConfig(connectBase, {});
  assert.ok(d.ok);
  assert.deepEqual(d.value.authMethods, ["mschapv2"]);
  assert.deepEqual(connectWarnings(d.value), []);
  const both = loadConnectConfig({ ...connectBase, allowAuth: ["pap,chap"] }, {});
  assert.ok(both.ok);
  assert.deepEqual(both.value.authMethods, ["mschapv2", "chap-md5", "pap"], "strongest first");
  const w = connectWarnings(both.value);
  assert.equal(w.length, 1);
  assert.match(w[0] ?? "", /--allow-auth chap,pap/);
  assert.match(w[0] ?? "", /CHAP-MD5 and PAP do not let the server prove it knows your password/);
  assert.match(w[0] ?? "", /crack/);
  const env = loadConnectConfig(connectBase, { OAKLEY_ALLOW_AUTH: "pap" });
  assert.ok(env.ok);
  assert.deepEqual(env.value.authMethods, ["mschapv2", "pap"]);
  const repeated = loadConnectConfig({ ...connectBase, allowAuth: ["chap", "mschapv2"] }, {});
  assert.ok(repeated.ok);
  assert.deepEqual(repeated.value.authMethods, ["mschapv2", "chap-md5"]);
  const strong = loadConnectConfig({ ...connectBase, allowAuth: ["mschapv2"] }, {});
  assert.ok(strong.ok);
  assert.deepEqual(strong.value.authMethods, ["mschapv2"]);
  assert.deepEqual(connectWarnings(strong.value), []);
});

test("a mistyped --allow-auth value is refused with the flag and the accepted words named", () => {
  const r = loadConnectConfig({ ...connectBase, allowAuth: ["chap,md5"] }, {});
  assert.ok(!r.ok);
  assert.match(
    formatIssues(r.error),
    /allow-auth \(command line\): "md5" is not an authentication method: use mschapv2, chap or pap \(comma-separated\), e\.g\. --allow-auth chap/,
  );
  const empty = loadConnectConfig({ ...connectBase, allowAuth: [" , "] }, {});
  assert.ok(!empty.ok);
  assert.match(formatIssues(empty.error), /allow-auth \(command line\)/);
});

test("oakley connect --allow-auth with a bad value exits 2 naming the flag, before any network work", () => {
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(import.meta.dirname, "../../src/cli/main.ts"),
      "connect",
      "198.51.100.2",
      "--psk",
      "p".repeat(16),
      "--user",
      "u",
      "--password",
      "pw",
      "--allow-auth",
      "chap",
      "--allow-auth",
      "md5",
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /allow-auth \(command line\): "md5" is not an authentication method/);
});
