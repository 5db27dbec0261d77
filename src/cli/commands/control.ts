/**
 * `oakley control token NAME` — makes a bearer token for remote management. The token is printed once; only its SHA-256 is appended to the token
 * file the daemon reads (created 0600). `oakley control token --list` shows names and dates.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { generateToken, parseTokenFile } from "../../control/index.js";
import { action, type CliIo, fail, processIo, toJson, UsageError } from "./common.js";

export const DEFAULT_TOKEN_FILE = "/etc/oakley/control-tokens";

export function register(program: Command, io: CliIo = processIo()): void {
  const control = program.command("control").description("remote management access");
  control
    .command("token")
    .description("create a bearer token for --host access (printed once; only its hash is stored)")
    .argument("[name]", "who or what the token is for (shown in the daemon's log)")
    .option("--tokens-file <file>", `token file the daemon reads (default ${DEFAULT_TOKEN_FILE})`)
    .option("--list", "list the names of existing tokens")
    .option("--json", "machine-readable output")
    .action(
      action(
        io,
        async (
          name: string | undefined,
          o: { tokensFile?: string; list?: boolean; json?: boolean },
        ) => {
          const file = o.tokensFile ?? DEFAULT_TOKEN_FILE;
          const existing = existsSync(file)
            ? parseTokenFile(readFileSync(file, "utf8"))
            : { ok: true as const, value: [] };
          if (!existing.ok) return fail(io, existing.error);
          if (o.list) {
            if (o.json)
              io.out(toJson(existing.value.map((r) => ({ name: r.name, created: r.created }))));
            else for (const r of existing.value) io.out(`${r.name}  ${r.created}\n`);
            return;
          }
          if (name === undefined || !/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) {
            throw new UsageError(
              "give the token a NAME (letters, digits, _ . @ -; up to 64): 'oakley control token ops-laptop'",
            );
          }
          if (existing.value.some((r) => r.name === name))
            throw new UsageError(
              `a token named '${name}' exists already in ${file}; pick another NAME`,
            );
          const { token, record } = generateToken(name);
          appendFileSync(file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
          if (o.json) io.out(toJson({ name, token, tokensFile: file }));
          else io.out(`${token}\n`);
          io.err(
            `token '${name}' added to ${file}; it is shown only now. Use it with: oakley status --host HOST --token-file FILE --ca CA.pem\n`,
          );
        },
      ),
    );
}
