/**
 * `oakley connect [--persist]` as a process (keeper.ts) with a fake dialler, clock and timers:
 * without --persist the first failure ends it; with it every down leaves the block rules in
 * force, says why and when it tries again, backs off, and starts afresh after a minute up; the
 * status shows profile, state, uptime, attempts and the last failure.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { err, ok } from "../base/result.js";
import { Counters } from "../obs/counters.js";
import { LogHub, MemorySink } from "../obs/log.js";
import type { ClientError, RunningClient } from "./client.js";
import { ConnectionKeeper, type KeeperHooks } from "./keeper.js";

function fakeClient(stops: Array<{ keepBlocked?: string }>): RunningClient {
  const node = {
    engine: { sas: new Map(), children: new Map() },
    dp: { list: () => [] },
    childList: () => [],
  };
  const l2tp = { tunnelCount: () => 1, list: () => [{}], poolInUse: () => 0 };
  return {
    node,
    l2tp,
    counters: new Counters(),
    ready: Promise.resolve({ address: "203.0.113.2", peer: "203.0.113.1", dns: [] }),
    async stop(o = {}) {
      stops.push(o);
    },
  } as unknown as RunningClient;
}

function rig(persist: boolean, results: Array<"ok" | ClientError> = []) {
  let wall = Date.parse("2026-12-07T16:00:00Z");
  const sink = new MemorySink();
  const logs = new LogHub(sink, "info", () => wall);
  const stops: Array<{ keepBlocked?: string }> = [];
  const timers: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  const exits: Array<{ code: number; why: ClientError }> = [];
  let hooks: KeeperHooks | undefined;
  let dials = 0;
  const keeper = new ConnectionKeeper({
    dial: async (h) => {
      hooks = h;
      const r = results[dials++] ?? "ok";
      return r === "ok" ? ok(fakeClient(stops)) : err(r);
    },
    persist,
    log: logs.logger("daemon"),
    logs,
    profile: "office",
    server: "198.51.100.2",
    software: "oakley test",
    clock: { now: () => wall, wallNow: () => wall },
    failClosed: true,
    random: () => 0.5,
    setTimer: (fn, ms) => {
      const t = { fn, ms, cancelled: false };
      timers.push(t);
      return {
        cancel: () => {
          t.cancelled = true;
        },
      };
    },
    exit: (code, why) => void exits.push({ code, why }),
  });
  const flush = () => new Promise((r) => setImmediate(r));
  return {
    keeper,
    sink,
    stops,
    timers,
    exits,
    hooks: () => hooks!,
    dials: () => dials,
    advance: (ms: number) => {
      wall += ms;
    },
    flush,
    /** Fires the pending retry timer and lets the attempt run. */
    async retry() {
      const t = timers.at(-1)!;
      assert.ok(!t.cancelled);
      wall += t.ms;
      t.fn();
      await flush();
    },
  };
}

const DEAD: ClientError = {
  code: "OAK_E_IKE_DEAD_PEER",
  message: "dpd failed: peer declared dead",
};
const up = (h: KeeperHooks) =>
  h.onProgress({ stage: "address", text: "address assigned", address: "203.0.113.2", dns: [] });

describe("oakley connect without --persist", () => {
  test("the first failure ends the process with exit 1 and the reason; rules removed (plain stop)", async () => {
    const r = rig(false);
    await r.keeper.start();
    up(r.hooks());
    r.hooks().onDown(DEAD);
    await r.flush();
    assert.deepEqual(r.exits, [{ code: 1, why: DEAD }]);
    assert.deepEqual(r.stops, [{}], "a plain stop: no keepBlocked");
    assert.equal(r.timers.length, 0, "no second attempt");
  });

  test("a start that fails says 'cannot start' and exits 1", async () => {
    const r = rig(false, [{ code: "OAK_E_ROUTE", message: "no route to the server" }]);
    await r.keeper.start();
    assert.equal(r.exits[0]?.code, 1);
    assert.match(r.exits[0]?.why.message ?? "", /^cannot start: no route/);
  });
});

describe("oakley connect --persist", () => {
  test("a down keeps the block rules, says why and when, and dials again after the back-off", async () => {
    const r = rig(true);
    await r.keeper.start();
    up(r.hooks());
    r.advance(5000);
    r.hooks().onDown(DEAD);
    await r.flush();
    assert.deepEqual(r.stops, [{ keepBlocked: "reconnecting: dpd failed: peer declared dead" }]);
    const down = r.sink.records().find((x) => x.event === "down");
    assert.ok(down, "one down record");
    assert.match(
      String(down.msg),
      /^connection down: dpd failed: peer declared dead \[OAK_E_IKE_DEAD_PEER\]; reconnecting in 1\.0 s \(at 16:00:06, attempt 1\)/,
    );
    assert.equal(down.retryInMs, 1000);
    assert.equal(r.exits.length, 0);
    const st = r.keeper.connection();
    assert.equal(st.state, "waiting");
    assert.equal(st.nextAttemptAt, "2026-12-07T16:00:06.000Z");
    assert.equal(st.lastFailure?.code, "OAK_E_IKE_DEAD_PEER");
    await r.retry();
    assert.equal(r.dials(), 2);
    assert.equal(r.keeper.connection().state, "connecting");
  });

  test("failed attempts back off 1, 2, 4 s; a connection up for over a minute starts afresh", async () => {
    const noRoute = { code: "OAK_E_ROUTE", message: "no route" };
    const r = rig(true, ["ok", noRoute, noRoute, "ok"]);
    await r.keeper.start();
    up(r.hooks());
    r.hooks().onDown(DEAD);
    await r.flush();
    await r.retry(); // attempt 1 fails at start
    await r.retry(); // attempt 2 fails at start
    assert.deepEqual(
      r.timers.map((t) => t.ms),
      [1000, 2000, 4000],
    );
    await r.retry(); // attempt 3 connects
    up(r.hooks());
    r.advance(61_000);
    assert.equal(r.keeper.connection().uptimeSeconds, 61);
    r.hooks().onDown(DEAD);
    await r.flush();
    assert.equal(r.timers.at(-1)?.ms, 1000, "after a minute up the back-off starts again at 1 s");
  });

  test("Ctrl-C while waiting: no more attempts, and the rules go with a plain stop", async () => {
    const r = rig(true);
    await r.keeper.start();
    up(r.hooks());
    await r.keeper.stop();
    assert.deepEqual(r.stops, [{}]);
    assert.equal(r.keeper.connection().state, "stopped");
    const r2 = rig(true);
    await r2.keeper.start();
    r2.hooks().onDown(DEAD);
    await r2.flush();
    await r2.keeper.stop();
    assert.ok(r2.timers.at(-1)?.cancelled, "the pending attempt is cancelled");
  });

  test("status: profile, server, state, uptime, attempts, last failure; block mode while down", async () => {
    const r = rig(true);
    await r.keeper.start();
    up(r.hooks());
    r.advance(42_000);
    const t = r.keeper.controlTarget();
    const s1 = await t.status();
    assert.equal(s1.role, "client");
    assert.equal(s1.mode, "protected");
    assert.equal(s1.connection?.profile, "office");
    assert.equal(s1.connection?.server, "198.51.100.2");
    assert.equal(s1.connection?.state, "up");
    assert.equal(s1.connection?.uptimeSeconds, 42);
    assert.equal(s1.connection?.address, "203.0.113.2");
    assert.equal(s1.connection?.lastFailure, undefined);
    r.hooks().onDown(DEAD);
    await r.flush();
    const s2 = await t.status();
    assert.equal(s2.mode, "block");
    assert.match(s2.blockReason ?? "", /reconnecting: dpd failed/);
    assert.equal(s2.connection?.state, "waiting");
    assert.equal(s2.connection?.uptimeSeconds, undefined);
    assert.equal(s2.connection?.attempts, 1);
    assert.equal(s2.connection?.lastFailure?.message, DEAD.message);
  });
});
