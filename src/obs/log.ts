/**
 * Structured logging (DESIGN rule 7): JSON lines `{ts, level, group, sa, peer, msg, ...}`.
 * Each group (ike, natt, esp, l2tp, ppp, policy, ctl, daemon, radius) has its own level, changeable at
 * runtime (`oakley log ike debug`). Key material may only be passed through `secret()`, which
 * is printed as "<redacted>" unless the group's level is `private` — the lowest level, turned on
 * explicitly by an operator and never by default.
 */

export const LOG_GROUPS = [
  "ike",
  "natt",
  "esp",
  "l2tp",
  "ppp",
  "policy",
  "ctl",
  "daemon",
  "radius",
] as const;
export type LogGroup = (typeof LOG_GROUPS)[number];

/** Ordered from most to least verbose. `off` silences a group. */
export const LOG_LEVELS = ["private", "debug", "info", "warn", "error", "off"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const rank = (l: LogLevel): number => LOG_LEVELS.indexOf(l);

/** Marks a value as secret: shown only at the `private` level. */
export class Secret {
  constructor(readonly value: Uint8Array | string) {}
  /** Stray string conversions never reveal the value; only LogHub's replacer can. */
  toString(): string {
    return "<redacted>";
  }
}
export function secret(value: Uint8Array | string): Secret {
  return new Secret(value);
}

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields` (e.g. `{sa: "3f2a…", peer: "198.51.100.1:4500"}`). */
  child(fields: LogFields): Logger;
}

export interface LogSink {
  write(line: string): void;
}

/** Owns the per-group levels; hands out loggers that read the level on every call (live changes). */
export class LogHub {
  private readonly levels = new Map<LogGroup, LogLevel>();

  constructor(
    private readonly sink: LogSink,
    defaultLevel: LogLevel = "info",
    private readonly now: () => number = Date.now,
  ) {
    for (const g of LOG_GROUPS) this.levels.set(g, defaultLevel);
  }

  setLevel(group: LogGroup, level: LogLevel): void {
    this.levels.set(group, level);
  }

  level(group: LogGroup): LogLevel {
    return this.levels.get(group) ?? "info";
  }

  levelsSnapshot(): Record<LogGroup, LogLevel> {
    return Object.fromEntries(LOG_GROUPS.map((g) => [g, this.level(g)])) as Record<
      LogGroup,
      LogLevel
    >;
  }

  logger(group: LogGroup, fields: LogFields = {}): Logger {
    return new HubLogger(this, group, fields);
  }

  /** Writes one line if `level` is shown for `group` (HubLogger's only way out). */
  emit(
    group: LogGroup,
    fields: LogFields,
    level: Exclude<LogLevel, "private" | "off">,
    msg: string,
    extra?: LogFields,
  ): void {
    const current = this.level(group);
    if (rank(level) < rank(current)) return;
    const showSecrets = current === "private";
    const record = {
      ts: new Date(this.now()).toISOString(),
      level,
      group,
      ...fields,
      ...extra,
      msg,
    };
    this.sink.write(JSON.stringify(record, (_k, v) => replacer(v, showSecrets)));
  }
}

/**
 * A logger is three references (hub, group, fields), its methods on the prototype: every IKE SA,
 * PPP session and L2TP tunnel holds one, so per-logger closures would cost each client kilobytes.
 */
class HubLogger implements Logger {
  constructor(
    private readonly hub: LogHub,
    private readonly group: LogGroup,
    private readonly fields: LogFields,
  ) {}
  debug(msg: string, fields?: LogFields): void {
    this.hub.emit(this.group, this.fields, "debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.hub.emit(this.group, this.fields, "info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.hub.emit(this.group, this.fields, "warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.hub.emit(this.group, this.fields, "error", msg, fields);
  }
  child(fields: LogFields): Logger {
    return new HubLogger(this.hub, this.group, { ...this.fields, ...fields });
  }
}

function replacer(v: unknown, showSecrets: boolean): unknown {
  if (v instanceof Secret) {
    if (!showSecrets) return "<redacted>";
    return typeof v.value === "string" ? v.value : Buffer.from(v.value).toString("hex");
  }
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (v && typeof v === "object" && (v as { type?: unknown }).type === "Buffer") {
    const data = (v as { data?: unknown }).data;
    if (Array.isArray(data)) return Buffer.from(data as number[]).toString("hex");
  }
  return v;
}

/** A logger that drops everything: for engines under test that do not check logs. */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
};

/** Collects lines in memory; for tests that assert on logs. */
export class MemorySink implements LogSink {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
