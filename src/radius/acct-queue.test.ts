import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { unwrap } from "../base/result.js";
import { SeededRandom } from "../platform/random.js";
import { RadiusCode, RadiusAttr } from "../registry/radius.js";
import { signResponse } from "../wire/radius/auth.js";
import { findAttr, parseRadiusPacket, readU32 } from "../wire/radius/packet.js";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { AccountingPump } from "./acct-pump.js";
import { openAccountingQueue, recordFromJson, recordToJson } from "./acct-queue.js";
import { type AccountingRecord, type RadiusAction, RadiusClient } from "./client.js";

const dir = mkdtempSync(join(tmpdir(), "oakley-acct-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `q${n++}.db`);

const SECRET = Buffer.from("acct-secret");
const server = { address: "192.0.2.10", authPort: 1812, acctPort: 1813, secret: SECRET };

const stop: AccountingRecord = {
  status: "stop",
  sessionId: "s1",
  userName: "alice",
  eventTime: 1_700_000_000_000,
  framedIpAddress: "10.9.0.7",
  sessionTime: 60,
  inputOctets: (1n << 40n) + 3n,
  outputOctets: 9n,
  inputPackets: 1n,
  outputPackets: 2n,
  terminateCause: 1,
  classes: [Buffer.from([0, 1, 255])],
};

test("a record survives JSON exactly (bigint counters, binary Class)", () => {
  const back = recordFromJson(recordToJson(stop));
  assert.deepEqual(
    { ...back, classes: back?.classes?.map((c) => Buffer.from(c)) },
    { ...stop, classes: [Buffer.from([0, 1, 255])] },
  );
  for (const bad of [
    "",
    "null",
    "{}",
    '{"status":"x","sessionId":"a","userName":"b","eventTime":1}',
    "[1]",
  ]) {
    assert.equal(recordFromJson(bad), undefined, bad);
  }
});

test("the queue file is created 0600 and records survive closing and reopening (daemon restart)", () => {
  const path = fresh();
  const q = unwrap(openAccountingQueue(path));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  unwrap(q.enqueue({ ...stop, status: "start", sessionId: "a" }, 1));
  unwrap(q.enqueue(stop, 2));
  q.close();
  const q2 = unwrap(openAccountingQueue(path));
  assert.equal(q2.size(), 2);
  const h = q2.head();
  assert.equal(h?.record.sessionId, "a");
  if (h) q2.remove(h.seq);
  assert.deepEqual(q2.head()?.record.inputOctets, stop.inputOctets);
  q2.close();
});

test("a file that is not an accounting queue is refused with a message naming it", () => {
  const path = fresh();
  const db = new Database(path);
  db.exec("CREATE TABLE other (x)");
  db.close();
  const r = openAccountingQueue(path);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error.message, /not an Oakley RADIUS accounting queue/);
  const junk = fresh();
  writeFileSync(junk, "this is not sqlite at all, just text ".repeat(200));
  assert.equal(openAccountingQueue(junk).ok, false);
});

test("a newer schema is refused rather than misread", () => {
  const path = fresh();
  unwrap(openAccountingQueue(path)).close();
  const db = new Database(path);
  db.pragma("user_version = 99");
  db.close();
  const r = openAccountingQueue(path);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error.message, /newer Oakley/);
});

test("bounded: Interim-Updates are refused first when the queue is full, Start/Stop later", () => {
  const q = unwrap(openAccountingQueue(fresh(), { maxRecords: 2 }));
  unwrap(q.enqueue({ ...stop, status: "interim-update" }, 0));
  unwrap(q.enqueue({ ...stop, status: "interim-update" }, 0));
  assert.equal(q.enqueue({ ...stop, status: "interim-update" }, 0).ok, false);
  unwrap(q.enqueue(stop, 0));
  unwrap(q.enqueue(stop, 0));
  assert.equal(q.enqueue(stop, 0).ok, false);
  q.close();
});

test("an unreadable row does not block the queue", () => {
  const path = fresh();
  const q = unwrap(openAccountingQueue(path));
  const db = new Database(path);
  db.prepare(
    'INSERT INTO acct_queue (enqueued_at, record) VALUES (0, \'{"status":"bogus"}\')',
  ).run();
  db.close();
  unwrap(q.enqueue(stop, 0));
  assert.equal(q.head()?.record.sessionId, "s1");
  assert.equal(q.size(), 1);
  q.close();
});

/** Drives client + pump with a fake clock; `serverUp` decides whether the server answers. */
function harness(path: string) {
  const q = unwrap(openAccountingQueue(path));
  const client = new RadiusClient(
    { servers: [server], nasIdentifier: "nas", timeoutMs: 1000, retries: 1 },
    new SeededRandom("pump"),
  );
  const pump = new AccountingPump(q, client, { retryMinMs: 5000, retryMaxMs: 20_000 });
  const delivered: string[] = [];
  let now = 0;
  let serverUp = false;
  const run = (actions: RadiusAction[]) => {
    const work = [...actions];
    while (work.length > 0) {
      const a = work.shift();
      if (!a) break;
      if (a.kind === "send" && serverUp) {
        const p = unwrap(parseRadiusPacket(a.bytes));
        const status = readU32(findAttr(p, RadiusAttr.AcctStatusType) ?? new Uint8Array(4));
        delivered.push(
          `${Buffer.from(findAttr(p, RadiusAttr.AcctSessionId) ?? []).toString()}:${status}`,
        );
        const res = signResponse(
          { code: RadiusCode.AccountingResponse, identifier: p.identifier, attributes: [] },
          p.authenticator,
          SECRET,
        );
        work.push(...client.handleDatagram(a.to, res, now));
      } else if (a.kind === "acct-done") {
        work.push(...pump.onAcctDone(a.id, a.result, now, now));
      }
    }
  };
  const advance = (to: number) => {
    for (let i = 0; i < 1000; i++) {
      const d = [client.nextDeadline(), pump.nextDeadline()].filter(
        (x): x is number => x !== undefined,
      );
      const next = Math.min(...d);
      if (d.length === 0 || next > to) break;
      now = next;
      run(client.handleTimer(now));
      run(pump.handleTimer(now, now));
    }
    now = to;
  };
  return {
    q,
    pump,
    delivered,
    record: (r: AccountingRecord) => run(pump.record(r, now, now).actions),
    start: () => run(pump.pump(now, now)),
    advance,
    setUp: (up: boolean) => {
      serverUp = up;
    },
    now: () => now,
  };
}

test("RADIUS down: records stay queued in order, retried with back-off, delivered in order when it returns", () => {
  const h = harness(fresh());
  h.record({ ...stop, status: "start", sessionId: "s1" });
  h.record({ ...stop, status: "stop", sessionId: "s1" });
  h.advance(30_000);
  assert.deepEqual(h.delivered, []);
  assert.equal(h.q.size(), 2);
  assert.ok((h.q.head()?.attempts ?? 0) >= 2, "retried more than once");
  h.setUp(true);
  h.advance(60_000);
  assert.deepEqual(h.delivered, ["s1:1", "s1:2"]);
  assert.equal(h.q.size(), 0);
  assert.equal(h.pump.nextDeadline(), undefined);
  h.q.close();
});

test("records queued before a restart are delivered by the next daemon", () => {
  const path = fresh();
  const h1 = harness(path);
  h1.record({ ...stop, status: "start", sessionId: "r1" });
  h1.record({ ...stop, status: "stop", sessionId: "r1" });
  h1.advance(3_000);
  h1.q.close(); // the daemon stops (or dies) with the server down
  const h2 = harness(path);
  h2.setUp(true);
  h2.start();
  assert.deepEqual(h2.delivered, ["r1:1", "r1:2"]);
  assert.equal(h2.q.size(), 0);
  h2.q.close();
});

test("fuzz recordFromJson (rows of the queue file are input too)", () => {
  fuzzParser(
    "recordFromJson",
    (b) => {
      const r = recordFromJson(Buffer.from(b).toString("utf8"));
      return { ok: r !== undefined };
    },
    [
      Buffer.from(recordToJson(stop)),
      Buffer.from(recordToJson({ ...stop, status: "start", classes: [] })),
    ],
    { iterations: 20_000 },
  );
});
