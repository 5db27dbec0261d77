/**
 * `oakley log ike on|off` and `oakley log GROUP LEVEL`, `oakley log` shows the levels. Needs a running daemon.
 *
 * `on` sets the group to debug (full negotiation detail); `off` returns it to info (errors,
 * warnings and SA events stay logged), so turning diagnostics off never hides failures. To
 * silence a group entirely say `oakley log GROUP silent` (LogHub's level "off"); `oakley log ike
 * error` keeps errors only.
 */
import type { Command } from "commander";
import { LOG_GROUPS, LOG_LEVELS, type LogGroup, type LogLevel } from "../../obs/log.js";
import {
  action,
  type CliIo,
  type ConnOpts,
  connect,
  connectionOptions,
  fail,
  processIo,
  toJson,
  UsageError,
} from "./common.js";

/** Maps the words a person types to a level. */
export function levelFromWord(word: string): LogLevel {
  if (word === "on") return "debug";
  if (word === "off") return "info";
  if (word === "silent") return "off";
  if ((LOG_LEVELS as readonly string[]).includes(word)) return word as LogLevel;
  throw new UsageError(
    `log level '${word}' is unknown; use on, off, silent, or one of ${LOG_LEVELS.filter((l) => l !== "off").join(", ")}`,
  );
}

export function register(program: Command, io: CliIo = processIo()): void {
  const cmd = program
    .command("log")
    .description(
      `change a log group's level at runtime: 'oakley log ike on|off', 'oakley log GROUP LEVEL' (groups: ${LOG_GROUPS.join(", ")}; levels: ${LOG_LEVELS.join(", ")}); no arguments shows the levels`,
    )
    .argument("[group]", "log group")
    .argument("[level]", "on (=debug), off (=info), silent, or a level")
    .option("--json", "machine-readable output");
  connectionOptions(cmd).action(
    action(io, async (group: string | undefined, word: string | undefined, o: ConnOpts) => {
      let change: { group: LogGroup; level: LogLevel } | undefined;
      if (group !== undefined) {
        if (!(LOG_GROUPS as readonly string[]).includes(group)) {
          throw new UsageError(
            `log group '${group}' is unknown; use one of ${LOG_GROUPS.join(", ")}`,
          );
        }
        if (word === undefined)
          throw new UsageError(`give a level: 'oakley log ${group} on|off|LEVEL'`);
        change = { group: group as LogGroup, level: levelFromWord(word) };
      }
      const c = await connect(o);
      if (!c.ok) return fail(io, c.error);
      try {
        const r = change
          ? await c.value.setLogLevel(change.group, change.level)
          : await c.value.logLevels();
        if (!r.ok) return fail(io, r.error);
        if (o.json) io.out(toJson(r.value));
        else if (change) {
          io.out(
            `${change.group} logging is now at level ${r.value[change.group]} (effective immediately, no restart)\n`,
          );
        } else {
          for (const g of LOG_GROUPS) io.out(`${g.padEnd(8)} ${r.value[g] ?? "?"}\n`);
        }
      } finally {
        await c.value.close();
      }
    }),
  );
}
