/**
 * Log sinks: JSON lines (for machines: journald, files, tests) and a short text form for a
 * person at a terminal ("06:40:01 info  ike    phase 1 up …  peer=198.51.100.1:4500").
 */
import type { LogSink } from "./log.js";

export function jsonSink(write: (s: string) => void): LogSink {
  return { write: (line) => write(`${line}\n`) };
}

export function textSink(write: (s: string) => void): LogSink {
  return {
    write(line) {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line) as Record<string, unknown>;
      } catch {
        write(`${line}\n`);
        return;
      }
      const { ts, level, group, msg, ...rest } = r;
      const time = typeof ts === "string" ? ts.slice(11, 19) : "";
      const extra = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      write(
        `${time} ${String(level).padEnd(5)} ${String(group).padEnd(6)} ${String(msg)}${extra ? `  ${extra}` : ""}\n`,
      );
    },
  };
}
