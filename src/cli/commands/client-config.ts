/**
 * `oakley client-config USER --format windows|apple|networkmanager|oakley|text`: on the server,
 * writes what USER imports on their device, with the server's pre-shared key (from the store,
 * read-only) and the user's name. The password only with --include-password, and only when
 * it can be had: the store keeps hashes, so it comes from --password-file (checked against
 * the stored verifier) or from the cleartext a CHAP-MD5 user must keep.
 */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import {
  CLIENT_CONFIG_FORMATS,
  type ClientConfigFormat,
  renderClientConfig,
} from "../../daemon/client-config.js";
import { SERVE_DEFAULTS } from "../../daemon/config.js";
import { serverAddress } from "../../daemon/server-address.js";
import {
  effectivePolicy,
  openStore,
  type PolicyStore,
  StoreErrorCode,
  verifyPap,
} from "../../policy/index.js";
import {
  action,
  type CliIo,
  DEFAULT_STORE_PATH,
  EXIT,
  fail,
  processIo,
  UsageError,
} from "./common.js";
import { writePrivate } from "./profile.js";

interface Opts {
  server?: string;
  format?: string;
  output?: string;
  force?: boolean;
  includePassword?: boolean;
  passwordFile?: string;
  name?: string;
  store?: string;
  listen?: string;
  windowsNatFriendly?: boolean;
}

const DESCRIBE: Record<ClientConfigFormat, string> = {
  windows: "PowerShell script (Add-VpnConnection)",
  apple: "macOS/iOS configuration profile",
  networkmanager: "NetworkManager-l2tp connection",
  oakley: "Oakley client profile (oakley profile import)",
  text: "manual steps",
};

/** The PSK a client without a peer identity gets: the first one of the effective rules. */
function serverPsk(store: PolicyStore): { name: string; secret: string; rule: string } | string {
  const eff = effectivePolicy(store);
  if (!eff.ok) return `${eff.error.message} [${eff.error.code}]`;
  for (const r of eff.value.rules) {
    if (r.action.type !== "negotiate") continue;
    for (const a of r.authentication) {
      if (a.method === "psk" && a.peerId === undefined)
        return { name: a.name, secret: a.secret, rule: `${r.policy}/${r.rule}` };
    }
  }
  return "the effective policy has no pre-shared key for any client (only certificates, or keys bound to one peer); add one with oakley policy …";
}

export function register(program: Command, io: CliIo = processIo()): void {
  program
    .command("client-config")
    .description("write the VPN settings a user imports on their device (run on the server)")
    .argument("<user>", "the user (see oakley users list)")
    .requiredOption("--format <format>", `one of ${CLIENT_CONFIG_FORMATS.join(", ")}`)
    .option("--server <name-or-address>", "the address clients dial (default: detected)")
    .option("-o, --output <file>", "write to this file (created 0600) instead of standard output")
    .option("--force", "overwrite the output file")
    .option(
      "--include-password",
      "also put the user's password in (needs --password-file unless stored for CHAP-MD5)",
    )
    .option(
      "--password-file <file>",
      "the user's password, checked against the store (with --include-password)",
    )
    .option("--name <name>", "the connection's name on the device (default: Oakley SERVER)")
    .option("--store <file>", `the server's store (default ${DEFAULT_STORE_PATH})`)
    .option(
      "--listen <address>",
      "the server's --listen address, if not 0.0.0.0 (or OAKLEY_LISTEN)",
    )
    .option("--no-windows-nat-friendly", "the server runs with --no-windows-nat-friendly")
    .action(
      action(io, async (user: string, o: Opts) => {
        const format = o.format as ClientConfigFormat;
        if (!(CLIENT_CONFIG_FORMATS as readonly string[]).includes(format))
          throw new UsageError(
            `--format '${o.format}' is not one of ${CLIENT_CONFIG_FORMATS.join(", ")}`,
          );
        if (o.passwordFile !== undefined && !o.includePassword)
          throw new UsageError("--password-file goes with --include-password");
        const storePath = o.store ?? process.env.OAKLEY_STORE ?? DEFAULT_STORE_PATH;
        const s = openStore(storePath, { readOnly: true });
        if (!s.ok)
          return fail(io, {
            ...s.error,
            message: `${s.error.message} (name the server's store with --store FILE)`,
          });
        const store = s.value;
        try {
          const u = store.users.get(user);
          if (!u.ok) {
            if (u.error.code === StoreErrorCode.NotFound)
              return fail(io, {
                code: u.error.code,
                message: `there is no user '${user}' in ${storePath}; add one with oakley users add ${user}`,
              });
            return fail(io, u.error);
          }
          const userValue = u.value.value;
          if (!userValue) {
            return fail(io, {
              code: StoreErrorCode.NewerObject,
              message: `user '${user}' cannot be read by this version: ${u.value.readOnly ?? "unreadable"}`,
            });
          }
          if (!userValue.enabled)
            io.err(`oakley: warning: user '${user}' is disabled; enable it before they connect\n`);
          if (format !== "text" && !userValue.protocols.includes("mschapv2"))
            io.err(
              `oakley: warning: user '${user}' may not use MS-CHAPv2 (allowed: ${userValue.protocols.join(", ")}), which these clients use\n`,
            );
          const psk = serverPsk(store);
          if (typeof psk === "string")
            return fail(io, { code: StoreErrorCode.Unusable, message: psk });
          let password: string | undefined;
          if (o.includePassword) {
            if (o.passwordFile !== undefined) {
              let pw: string;
              try {
                pw = readFileSync(o.passwordFile, "utf8").replace(/\r?\n$/, "");
              } catch (e) {
                throw new UsageError(
                  `--password-file ${o.passwordFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
                );
              }
              if (!(await verifyPap(userValue.credentials, pw)))
                throw new UsageError(
                  `--password-file ${o.passwordFile}: this is not ${user}'s current password (checked against the store)`,
                );
              password = pw;
            } else if (userValue.credentials.cleartext !== undefined) {
              password = userValue.credentials.cleartext;
            } else {
              throw new UsageError(
                `the store keeps only hashes of ${user}'s password, so it cannot be put in the file; give it with --password-file FILE (it is checked against the store), or leave out --include-password (the device then asks for it)`,
              );
            }
          }
          const addr = await serverAddress({
            ...(o.server !== undefined ? { given: o.server } : {}),
            listen: o.listen ?? process.env.OAKLEY_LISTEN ?? SERVE_DEFAULTS.listen,
          });
          if (addr.source === "unknown")
            return fail(
              io,
              { code: "OAK_E_CLI_SERVER_ADDRESS", message: `${addr.note ?? "unknown address"}` },
              EXIT.usage,
            );
          if (addr.note) io.err(`oakley: server address ${addr.address}: ${addr.note}\n`);
          const out = renderClientConfig(format, {
            ...(o.name !== undefined ? { name: o.name } : {}),
            server: addr.address,
            user,
            psk: psk.secret,
            ...(password !== undefined ? { password } : {}),
            windowsNatFriendly: o.windowsNatFriendly !== false,
            ...(addr.note && addr.source !== "given" ? { serverAddressNote: addr.note } : {}),
          });
          if (!out.ok)
            return fail(io, { code: "OAK_E_CLI_CLIENT_CONFIG", message: out.error.message });
          for (const w of out.value.warnings) io.err(`oakley: warning: ${w}\n`);
          if (o.output === undefined) {
            io.out(out.value.text);
            return;
          }
          writePrivate(o.output, out.value.text, o.force === true);
          io.err(
            `wrote ${o.output}: ${DESCRIBE[format]} for ${user} on ${addr.address} (pre-shared key '${psk.name}'${password !== undefined ? ", password" : ""} inside: hand it over privately)\n`,
          );
        } finally {
          store.close();
        }
      }),
    );
}
