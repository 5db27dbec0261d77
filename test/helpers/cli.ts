/**
 * Runs the `oakley` management commands in this process (tests): what they print, and the exit
 * code they set or commander's exit code on a usage error.
 */
import { Command } from "commander";
import type { CliIo } from "../../src/cli/commands/common.js";
import { registerManagementCommands } from "../../src/cli/commands/index.js";

export interface CliRun {
  out: string;
  err: string;
  code: number;
}

export async function runOakley(args: readonly string[], stdin = ""): Promise<CliRun> {
  const r: CliRun = { out: "", err: "", code: 0 };
  const io: CliIo = {
    out: (t) => {
      r.out += t;
    },
    err: (t) => {
      r.err += t;
    },
    setExitCode: (c) => {
      r.code = c;
    },
    readStdin: async () => stdin,
  };
  const program = new Command("oakley").exitOverride();
  program.configureOutput({ writeOut: io.out, writeErr: io.err });
  registerManagementCommands(program, io);
  try {
    await program.parseAsync([...args], { from: "user" });
  } catch (e) {
    r.code = (e as { exitCode?: number }).exitCode ?? 99;
  }
  return r;
}
