/**
 * The phase coordinator on its own: each test puts a session in a phase by hand, reports one
 * event the way LCP, authentication or IPCP would, and checks what the coordinator started or
 * stopped (RFC 1661 §3: Dead -> Establish -> Authenticate -> Network -> Terminate -> Dead).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { PppProtocol } from "../registry/ppp.js";
import { parsePppFrame } from "../wire/ppp/frame.js";
import { AddressPool } from "./address-pool.js";
import { Engine, resolveConfig } from "./engine.js";
import { adminClose, lowerDown, phaseEvent } from "./phases.js";
import { createPppState } from "./session.js";
import type { PppConfig, PppEvent } from "./types.js";

const CONFIGURE_REQUEST = 1;
const TERMINATE_REQUEST = 5;
const CHAP_CHALLENGE = 1;

function session(over: Partial<PppConfig> = {}) {
  const pool = new AddressPool({ cidr: "198.51.100.0/29", reserved: ["198.51.100.1"] });
  const config: PppConfig = {
    role: "server",
    sessionId: "s1",
    pool,
    localAddress: "198.51.100.1",
    users: () => "secret",
    random: (n) => new Uint8Array(n).fill(7),
    ...over,
  };
  const st = createPppState(config, 0);
  st.started = true;
  st.phase = "Establish";
  st.lcp.cp.state = "Opened"; // LCP has just come up
  const e = new Engine(resolveConfig(config), st, 1000, phaseEvent);
  return { e, st, pool };
}

/** Control codes of the frames sent for one protocol, in order. */
function codesSent(e: Engine, protocol: number): number[] {
  return e.actions.flatMap((a) => {
    if (a.type !== "send-frame" || a.protocol !== protocol) return [];
    const f = parsePppFrame(a.frame);
    return f.ok ? [f.value.information[0] ?? -1] : [];
  });
}

function events(e: Engine): PppEvent[] {
  return e.actions.flatMap((a) => (a.type === "event" ? [a.event] : []));
}

test("LCP up with an auth method: Authenticate phase, a Challenge, and no IPCP nor address yet", () => {
  const { e, st, pool } = session();
  phaseEvent(e, { type: "lcp-up", auth: "mschapv2" });
  assert.equal(st.phase, "Authenticate");
  assert.deepEqual(codesSent(e, PppProtocol.CHAP), [CHAP_CHALLENGE]);
  assert.deepEqual(codesSent(e, PppProtocol.IPCP), []);
  assert.equal(st.ipcp.cp.state, "Initial");
  assert.equal(pool.inUseCount(), 0);
});

test("auth succeeded: Network phase, the peer's address from the pool, IPCP Configure-Request", () => {
  const { e, st, pool } = session();
  phaseEvent(e, { type: "lcp-up", auth: "mschapv2" });
  phaseEvent(e, { type: "auth-succeeded" });
  assert.equal(st.phase, "Network");
  assert.equal(st.ipcp.peerAddress, "198.51.100.2");
  assert.equal(pool.inUseCount(), 1);
  assert.deepEqual(codesSent(e, PppProtocol.IPCP), [CONFIGURE_REQUEST]);
  assert.equal(st.ipcp.cp.state, "Req-Sent");
});

test("auth failed: the link closes with reason auth-failed (Terminate-Request), IPCP never starts", () => {
  const { e, st, pool } = session();
  phaseEvent(e, { type: "lcp-up", auth: "chap-md5" });
  phaseEvent(e, { type: "auth-failed", message: "CHAP-MD5: wrong password for bob" });
  assert.deepEqual(st.closeReason, {
    reason: "auth-failed",
    message: "CHAP-MD5: wrong password for bob",
  });
  assert.deepEqual(codesSent(e, PppProtocol.LCP), [TERMINATE_REQUEST]);
  assert.equal(st.lcp.cp.state, "Closing");
  assert.equal(st.phase, "Terminate");
  assert.equal(st.auth.deadline, null, "authentication stopped with LCP");
  assert.equal(st.ipcp.cp.state, "Initial");
  assert.equal(pool.inUseCount(), 0);
});

test("an auth verdict that arrives after LCP left Opened starts nothing", () => {
  const { e, st, pool } = session();
  phaseEvent(e, { type: "lcp-up", auth: "pap" });
  st.lcp.cp.state = "Closing";
  phaseEvent(e, { type: "auth-succeeded" });
  assert.equal(st.phase, "Authenticate");
  assert.deepEqual(codesSent(e, PppProtocol.IPCP), []);
  assert.equal(pool.inUseCount(), 0);
});

test("LCP up without authentication: a server with no methods goes straight to Network", () => {
  const { e, st, pool } = session({ authMethods: [] });
  phaseEvent(e, { type: "lcp-up", auth: null });
  assert.equal(st.phase, "Network");
  assert.equal(pool.inUseCount(), 1);
  assert.deepEqual(codesSent(e, PppProtocol.IPCP), [CONFIGURE_REQUEST]);
});

test("LCP up without authentication: a client that requires it closes with auth-refused", () => {
  const { e, st } = session({ role: "client", credentials: { user: "u", password: "p" } });
  phaseEvent(e, { type: "lcp-up", auth: null });
  assert.equal(st.closeReason?.reason, "auth-refused");
  assert.deepEqual(codesSent(e, PppProtocol.LCP), [TERMINATE_REQUEST]);
  assert.deepEqual(codesSent(e, PppProtocol.IPCP), []);
});

test("an empty pool at the Network phase closes the link with pool-exhausted", () => {
  const { e, st, pool } = session();
  for (let i = 0; pool.allocate(`other${i}`, `s${i}`).ok; i++);
  const taken = pool.inUseCount();
  phaseEvent(e, { type: "lcp-up", auth: "pap" });
  phaseEvent(e, { type: "auth-succeeded" });
  assert.equal(st.closeReason?.reason, "pool-exhausted");
  assert.deepEqual(codesSent(e, PppProtocol.IPCP), []);
  assert.deepEqual(codesSent(e, PppProtocol.LCP), [TERMINATE_REQUEST]);
  assert.equal(pool.inUseCount(), taken);
});

test("LCP down in the Network phase: IPCP goes down (ip-down), the address returns to the pool", () => {
  const { e, st, pool } = session({ authMethods: [] });
  phaseEvent(e, { type: "lcp-up", auth: null });
  st.ipcp.cp.state = "Opened";
  st.ipcp.up = true;
  phaseEvent(e, { type: "lcp-down" });
  assert.deepEqual(
    events(e).map((x) => x.type),
    ["ip-down"],
  );
  assert.equal(st.ipcp.up, false);
  assert.equal(st.ipcp.cp.state, "Starting");
  assert.equal(st.ipcp.peerAddress, null);
  assert.equal(pool.inUseCount(), 0);
  assert.equal(st.phase, "Establish", "no close reason: LCP renegotiates");
});

test("LCP down after a close was asked: the Terminate phase", () => {
  const { e, st } = session({ authMethods: [] });
  phaseEvent(e, { type: "lcp-up", auth: null });
  phaseEvent(e, { type: "close", reason: "echo-timeout", message: "no reply" });
  assert.equal(st.phase, "Terminate");
  assert.deepEqual(st.closeReason, { reason: "echo-timeout", message: "no reply" });
  assert.equal(st.ipcp.peerAddress, null);
});

test("the first close reason wins over later ones", () => {
  const { e, st } = session();
  phaseEvent(e, { type: "lcp-up", auth: "pap" });
  phaseEvent(e, { type: "auth-failed", message: "PAP: unknown user bob" });
  phaseEvent(e, { type: "close", reason: "negotiation-failed", message: "later" });
  assert.equal(st.closeReason?.reason, "auth-failed");
  assert.deepEqual(codesSent(e, PppProtocol.LCP), [TERMINATE_REQUEST]);
});

test("IPCP finished while LCP is Opened closes the link (nothing left to carry)", () => {
  const { e, st } = session({ authMethods: [] });
  phaseEvent(e, { type: "lcp-up", auth: null });
  phaseEvent(e, { type: "ipcp-finished" });
  assert.equal(st.closeReason?.reason, "ipcp-failed");
  assert.deepEqual(codesSent(e, PppProtocol.LCP), [TERMINATE_REQUEST]);
});

test("IPCP finished while LCP is already going down changes nothing", () => {
  const { e, st } = session();
  st.lcp.cp.state = "Closing";
  phaseEvent(e, { type: "ipcp-finished" });
  assert.equal(st.closeReason, null);
  assert.deepEqual(codesSent(e, PppProtocol.LCP), []);
});

test("the peer Protocol-Rejects IPCP: IPCP stops and the link closes with ipcp-failed", () => {
  const { e, st } = session({ authMethods: [] });
  phaseEvent(e, { type: "lcp-up", auth: null });
  phaseEvent(e, { type: "ipcp-rejected" });
  // RXJ- stops IPCP (Stopped), then LCP's going down takes it to Starting: not negotiating.
  assert.equal(st.ipcp.cp.state, "Starting");
  assert.deepEqual(st.closeReason, { reason: "ipcp-failed", message: "the peer rejected IPCP" });
  assert.deepEqual(codesSent(e, PppProtocol.LCP), [TERMINATE_REQUEST]);
});

test("LCP finished: one link-down with the reason, Dead, address released, no timer left", () => {
  const { e, st, pool } = session({ authMethods: [] });
  phaseEvent(e, { type: "lcp-up", auth: null });
  phaseEvent(e, { type: "close", reason: "admin-close", message: "bye" });
  phaseEvent(e, { type: "lcp-finished" });
  phaseEvent(e, { type: "lcp-finished" });
  const downs = events(e).filter((x) => x.type === "link-down");
  assert.deepEqual(downs, [{ type: "link-down", reason: "admin-close", message: "bye" }]);
  assert.equal(st.phase, "Dead");
  assert.equal(st.finished, true);
  assert.equal(pool.inUseCount(), 0);
  const deadlines = [st.lcp.cp.deadline, st.ipcp.cp.deadline, st.auth.deadline];
  assert.deepEqual([...deadlines, st.lcp.echo.deadline], [null, null, null, null]);
});

test("LCP finished without a reason: negotiation-failed", () => {
  const { e } = session();
  phaseEvent(e, { type: "lcp-finished" });
  assert.deepEqual(
    events(e).map((x) => x.type === "link-down" && x.reason),
    ["negotiation-failed"],
  );
});

test("close before start: link-down at once, nothing sent", () => {
  const { e, st } = session();
  st.started = false;
  st.lcp.cp.state = "Initial";
  adminClose(e, "not wanted");
  assert.deepEqual(events(e), [
    { type: "link-down", reason: "admin-close", message: "not wanted" },
  ]);
  assert.deepEqual(codesSent(e, PppProtocol.LCP), []);
});

test("lower layer down in the Network phase: ip-down, link-down, the address released", () => {
  const { e, st, pool } = session({ authMethods: [] });
  phaseEvent(e, { type: "lcp-up", auth: null });
  st.ipcp.cp.state = "Opened";
  st.ipcp.up = true;
  lowerDown(e);
  assert.deepEqual(
    events(e).map((x) => x.type),
    ["ip-down", "link-down"],
  );
  assert.equal(st.closeReason?.reason, "lower-down");
  assert.equal(pool.inUseCount(), 0);
  assert.deepEqual(codesSent(e, PppProtocol.LCP), [], "nothing can be sent any more");
});
