/**
 * `oakley users list|add|remove|passwd`: PPP users of the server, through the
 * running daemon or on the store file. Passwords come from --password-stdin (preferred: not
 * visible in the process list) or --password.
 */
import type { Command } from "commander";
import type { UserSummary } from "../../control/index.js";
import { pppAuthMethodName } from "../../registry/ppp.js";
import {
  action,
  type CliIo,
  type ConnOpts,
  connectionOptions,
  fail,
  type PolicyBackend,
  policyBackend,
  processIo,
  table,
  toJson,
  UsageError,
} from "./common.js";
import { readOnlyMarker } from "./policy.js";

type Opts = ConnOpts & {
  password?: string;
  passwordStdin?: boolean;
  protocol?: string[];
  pool?: string;
  staticAddress?: string;
};

export function formatUsers(l: readonly UserSummary[]): string {
  if (l.length === 0) return "no users\n";
  return table(
    ["NAME", "ENABLED", "PROTOCOLS", "ADDRESS", "FLAGS"],
    l.map((u) => [
      u.name,
      u.enabled ? "yes" : "no",
      u.protocols
        .map((p) =>
          p === "mschapv2" || p === "chap-md5" || p === "pap" ? pppAuthMethodName(p) : p,
        )
        .join(", "),
      u.staticAddress ?? (u.pool ? `pool ${u.pool}` : "default pool"),
      readOnlyMarker(u),
    ]),
  );
}

async function password(io: CliIo, o: Opts): Promise<string> {
  if (o.password !== undefined && o.passwordStdin)
    throw new UsageError("give either --password or --password-stdin, not both");
  if (o.password !== undefined) {
    io.err(
      "oakley users: --password puts the password in the process list (/proc/PID/cmdline), visible to every local user; use --password-stdin instead\n",
    );
    return o.password;
  }
  if (o.passwordStdin) return (await io.readStdin()).replace(/\r?\n$/, "");
  throw new UsageError("give the password with --password-stdin (recommended) or --password PW");
}

export function register(program: Command, io: CliIo = processIo()): void {
  const users = program.command("users").description("PPP users of the server");
  const withBackend = (fn: (b: PolicyBackend, o: Opts, name: string) => Promise<void>) =>
    action(io, async (...args: unknown[]) => {
      const name = args.find((a): a is string => typeof a === "string") ?? "";
      const o = args.find(
        (a) =>
          a !== null &&
          typeof a === "object" &&
          !Array.isArray(a) &&
          !("commands" in (a as object)),
      ) as Opts;
      const b = await policyBackend(o);
      if (!b.ok) return fail(io, b.error);
      try {
        await fn(b.value, o, name);
      } finally {
        await b.value.close();
      }
    });
  const sub = (n: string, d: string) =>
    connectionOptions(users.command(n).description(d), { store: true });

  sub("list", "list users")
    .option("--json", "machine-readable output")
    .action(
      withBackend(async (b, o) => {
        const r = await b.ops.usersList();
        if (!r.ok) return fail(io, r.error);
        io.out(o.json ? toJson(r.value) : formatUsers(r.value));
      }),
    );

  sub("add", "add a user")
    .argument("<name>")
    .option("--password <pw>", "password (visible in the process list; prefer --password-stdin)")
    .option("--password-stdin", "read the password from standard input")
    .option("--protocol <p...>", "allowed PPP authentication: mschapv2 (default), chap-md5, pap")
    .option("--pool <name>", "address pool (default: the store's default pool)")
    .option("--static-address <ip>", "a fixed address instead of a pool address")
    .option("--json", "machine-readable output")
    .action(
      withBackend(async (b, o, name) => {
        const pw = await password(io, o);
        const r = await b.ops.usersAdd(name, pw, {
          ...(o.protocol ? { protocols: o.protocol } : {}),
          ...(o.pool !== undefined ? { pool: o.pool } : {}),
          ...(o.staticAddress !== undefined ? { staticAddress: o.staticAddress } : {}),
        });
        if (!r.ok) return fail(io, r.error);
        io.out(o.json ? toJson(r.value) : `added user '${name}' in ${b.where}\n`);
      }),
    );

  sub("remove", "remove a user")
    .argument("<name>")
    .action(
      withBackend(async (b, _o, name) => {
        const r = await b.ops.usersRemove(name);
        if (!r.ok) return fail(io, r.error);
        io.out(`removed user '${name}' from ${b.where}\n`);
      }),
    );

  sub("passwd", "set a user's password")
    .argument("<name>")
    .option("--password <pw>", "password (visible in the process list; prefer --password-stdin)")
    .option("--password-stdin", "read the password from standard input")
    .action(
      withBackend(async (b, o, name) => {
        const r = await b.ops.usersPasswd(name, await password(io, o));
        if (!r.ok) return fail(io, r.error);
        io.out(`changed the password of '${name}' in ${b.where}\n`);
      }),
    );
}
