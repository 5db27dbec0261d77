/**
 * The durable RADIUS accounting queue: every Accounting-Request is written here before it is
 * sent and removed only when an Accounting-Response acknowledged it, so Start/Interim/Stop
 * records survive a RADIUS outage and a daemon restart (or crash) and are resent in order.
 *
 * Its own SQLite file (default beside the policy store, `radius-accounting.db`), not a table of
 * the policy store, because:
 *  - the write pattern differs: a few writes per session for the whole uptime, against rare
 *    policy edits; the policy store's change journal, notification and newer-object guard are
 *    meant for operator-edited objects and would only add work per record;
 *  - a busy or growing queue (a long outage) must not slow or lock policy transactions, nor be
 *    exported/imported with the policy;
 *  - it is disposable: deleting the file loses unsent accounting but no configuration.
 * Conventions follow policy/store.ts: created 0600 (records hold user names and addresses),
 * WAL, `synchronous = FULL` (a Stop the daemon has accepted must survive a power cut: it is
 * billing data), versioned migrations via `PRAGMA user_version`, a `meta` format marker.
 *
 * Bounds: above `maxRecords` Interim-Updates are refused (a later Interim or the Stop carries
 * the totals anyway); Start and Stop are kept up to twice that, then refused too. Each refusal
 * is counted and logged.
 */
import type Database from "better-sqlite3";
import { err, ok, type Result } from "../base/result.js";
import type { Counters } from "../obs/counters.js";
import { type Logger, nullLogger } from "../obs/log.js";
import type { AccountingRecord } from "./client.js";
import { openSqliteFile } from "../sqlite/file.js";
import { type RadiusError, RadiusErrorCode, radiusError } from "./errors.js";

export const QUEUE_FORMAT = "oakley-radius-accounting-queue";

const MIGRATIONS: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('format', '${QUEUE_FORMAT}');
CREATE TABLE acct_queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  enqueued_at INTEGER NOT NULL,
  record TEXT NOT NULL CHECK (json_valid(record)),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
);`,
  },
];
export const LATEST_QUEUE_SCHEMA = MIGRATIONS.length;

export interface QueuedRecord {
  readonly seq: number;
  readonly record: AccountingRecord;
  readonly attempts: number;
}

export interface QueueOptions {
  readonly logger?: Logger;
  readonly counters?: Counters;
  /** Default 100 000. */
  readonly maxRecords?: number;
}

/** JSON form: bigint counters as decimal strings, Class values as hex. */
export function recordToJson(r: AccountingRecord): string {
  return JSON.stringify({
    ...r,
    inputOctets: r.inputOctets?.toString(),
    outputOctets: r.outputOctets?.toString(),
    inputPackets: r.inputPackets?.toString(),
    outputPackets: r.outputPackets?.toString(),
    classes: r.classes?.map((c) => Buffer.from(c).toString("hex")),
  });
}

export function recordFromJson(s: string): AccountingRecord | undefined {
  let j: unknown;
  try {
    j = JSON.parse(s);
  } catch {
    return undefined;
  }
  if (typeof j !== "object" || j === null) return undefined;
  const o = j as Record<string, unknown>;
  const status = o.status;
  if (status !== "start" && status !== "interim-update" && status !== "stop") return undefined;
  if (typeof o.sessionId !== "string" || typeof o.userName !== "string") return undefined;
  if (typeof o.eventTime !== "number") return undefined;
  const big = (v: unknown) =>
    typeof v === "string" && /^\d{1,20}$/.test(v) ? BigInt(v) : undefined;
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const fields: Record<string, unknown> = {
    framedIpAddress: str(o.framedIpAddress),
    callingStationId: str(o.callingStationId),
    nasPort: num(o.nasPort),
    sessionTime: num(o.sessionTime),
    inputOctets: big(o.inputOctets),
    outputOctets: big(o.outputOctets),
    inputPackets: big(o.inputPackets),
    outputPackets: big(o.outputPackets),
    terminateCause: num(o.terminateCause),
    classes: Array.isArray(o.classes)
      ? o.classes
          .filter((c): c is string => typeof c === "string" && /^([0-9a-f]{2})*$/.test(c))
          .map((c) => Buffer.from(c, "hex"))
      : undefined,
  };
  const rec: Record<string, unknown> = {
    status,
    sessionId: o.sessionId,
    userName: o.userName,
    eventTime: o.eventTime,
  };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) rec[k] = v;
  return rec as unknown as AccountingRecord;
}

export class AccountingQueue {
  private readonly log: Logger;
  private readonly maxRecords: number;
  private readonly st: {
    insert: Database.Statement;
    head: Database.Statement;
    remove: Database.Statement;
    attempt: Database.Statement;
    count: Database.Statement;
  };

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
    private readonly opts: QueueOptions,
  ) {
    this.log = opts.logger ?? nullLogger;
    this.maxRecords = opts.maxRecords ?? 100_000;
    this.st = {
      insert: db.prepare("INSERT INTO acct_queue (enqueued_at, record) VALUES (?, ?)"),
      head: db.prepare("SELECT seq, record, attempts FROM acct_queue ORDER BY seq LIMIT 1"),
      remove: db.prepare("DELETE FROM acct_queue WHERE seq = ?"),
      attempt: db.prepare(
        "UPDATE acct_queue SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
      ),
      count: db.prepare("SELECT count(*) AS n FROM acct_queue"),
    };
  }

  size(): number {
    return (this.st.count.get() as { n: number }).n;
  }

  /** Stores a record durably (committed before this returns). */
  enqueue(rec: AccountingRecord, wallNow: number): Result<number, RadiusError> {
    const n = this.size();
    const limit = rec.status === "interim-update" ? this.maxRecords : 2 * this.maxRecords;
    if (n >= limit) {
      this.opts.counters?.incLabeled("radius_acct_dropped", "status", rec.status);
      this.log.error("RADIUS accounting queue full; record dropped", {
        status: rec.status,
        session: rec.sessionId,
        queued: n,
      });
      return err(
        radiusError(
          RadiusErrorCode.QueueUnavailable,
          `accounting queue ${this.path} holds ${n} unsent records; the RADIUS accounting server has been unreachable too long`,
        ),
      );
    }
    try {
      const r = this.st.insert.run(wallNow, recordToJson(rec));
      return ok(Number(r.lastInsertRowid));
    } catch (e) {
      return err(
        radiusError(
          RadiusErrorCode.QueueUnavailable,
          `accounting queue ${this.path}: ${e instanceof Error ? e.message : String(e)}`,
        ),
      );
    }
  }

  /**
   * The oldest record. A row this version cannot read (hand-edited, or from a newer Oakley with
   * other fields) is logged and skipped over by deleting it, so it cannot block the queue.
   */
  head(): QueuedRecord | undefined {
    for (;;) {
      const row = this.st.head.get() as
        | { seq: number; record: string; attempts: number }
        | undefined;
      if (!row) return undefined;
      const record = recordFromJson(row.record);
      if (record) return { seq: row.seq, record, attempts: row.attempts };
      this.log.error("RADIUS accounting queue: unreadable record removed", { seq: row.seq });
      this.opts.counters?.incLabeled("radius_acct_dropped", "status", "unreadable");
      this.st.remove.run(row.seq);
    }
  }

  /** Acknowledged by the server: forget it. */
  remove(seq: number): void {
    this.st.remove.run(seq);
  }

  noteFailure(seq: number, error: string): void {
    this.st.attempt.run(error, seq);
  }

  close(): void {
    this.db.close();
  }
}

/** Opens (creating 0600 if needed) and migrates the queue file. */
export function openAccountingQueue(
  path: string,
  opts: QueueOptions = {},
): Result<AccountingQueue, RadiusError> {
  const opened = openSqliteFile(path, {
    what: "RADIUS accounting queue",
    format: QUEUE_FORMAT,
    latest: LATEST_QUEUE_SCHEMA,
    newer: "refuse",
  });
  if (!opened.ok) return err(radiusError(RadiusErrorCode.QueueUnavailable, opened.error.message));
  const d = opened.value.db;
  try {
    for (const m of MIGRATIONS) {
      if (m.version <= (d.pragma("user_version", { simple: true }) as number)) continue;
      d.transaction(() => {
        d.exec(m.sql);
        d.pragma(`user_version = ${m.version}`);
      }).immediate();
    }
    return ok(new AccountingQueue(d, path, opts));
  } catch (e) {
    try {
      d.close();
    } catch {
      // already failing; the error below is what matters
    }
    return err(
      radiusError(
        RadiusErrorCode.QueueUnavailable,
        `RADIUS accounting queue ${path} cannot be opened (${e instanceof Error ? e.message : String(e)})`,
      ),
    );
  }
}
