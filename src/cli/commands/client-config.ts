/**
 * `oakley client-config USER --format windows|apple|networkmanager|oakley|text`: on the server,
 * writes what USER imports on their device, with the server's pre-shared key (from the store,
 * read-only) and the user's name. The password only with --include-password, and only when
 * it can be had: the store keeps hashes, so it comes from --password-file (checked against
 * the stored verifier) or from the cleartext a CHAP-MD5 user must keep.
 *
 * `--format p12` instead writes USER's certificate from the built-in CA (`oakley pki issue
 * USER`), its key and the CA certificate as a password-protected PKCS#12 file (src/pki/ca.ts
 * says which encryption and why). The password comes from --p12-password-file or is generated
 * and printed once on stderr; it is never stored.
 */
import type { Command } from "commander";
import { randomInt } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
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
import { pkcs12For } from "../../pki/store.js";
import { pkiDirFromFlags, systemPkiEnv } from "./pki.js";
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
  p12PasswordFile?: string;
  p12Legacy?: boolean;
}

/** The formats --format takes: the text ones, and the binary PKCS#12 bundle. */
const FORMATS = [...CLIENT_CONFIG_FORMATS, "p12"] as const;

/** 20 characters from 32 unambiguous ones (100 bits), in groups of 4 to type on a phone. */
export function generateP12Password(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  let s = "";
  for (let i = 0; i < 20; i++) s += (i > 0 && i % 4 === 0 ? "-" : "") + alphabet[randomInt(32)];
  return s;
}

async function writeP12(io: CliIo, user: string, o: Opts): Promise<void> {
  let password: string;
  if (o.p12PasswordFile !== undefined) {
    try {
      password = readFileSync(o.p12PasswordFile, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new UsageError(
        `--p12-password-file ${o.p12PasswordFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      );
    }
    if (password === "")
      throw new UsageError(
        `--p12-password-file ${o.p12PasswordFile} is empty; devices refuse a PKCS#12 file without a password (leave the flag out to get a generated one)`,
      );
  } else {
    password = generateP12Password();
  }
  const out = o.output ?? `${user}.p12`;
  if (out === "-") throw new UsageError("a PKCS#12 file is binary: name a file with -o FILE");
  if (existsSync(out) && !o.force)
    throw new UsageError(`${out} already exists; give --force to overwrite it`);
  const r = await pkcs12For(
    pkiDirFromFlags(o),
    user,
    { password, profile: o.p12Legacy ? "legacy" : "modern" },
    systemPkiEnv,
  );
  if (!r.ok) return fail(io, r.error);
  for (const w of r.value.warnings) io.err(`oakley: warning: ${w}\n`);
  try {
    writeFileSync(out, r.value.bytes, { mode: 0o600, flag: o.force ? "w" : "wx" });
    chmodSync(out, 0o600);
  } catch (e) {
    throw new UsageError(`cannot write ${out} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  io.err(
    `wrote ${out}: PKCS#12 with ${user}'s certificate (serial ${r.value.entry.serial}), key and the CA, ${
      o.p12Legacy
        ? "3DES/SHA-1 (legacy, for old Android and macOS)"
        : "AES-256-CBC/PBKDF2/SHA-256 (add --p12-legacy for devices that call the password wrong)"
    }\n`,
  );
  if (o.p12PasswordFile === undefined)
    io.err(
      `oakley: the file's password (shown only now, stored nowhere; give it to ${user} separately): ${password}\n`,
    );
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
    .requiredOption("--format <format>", `one of ${FORMATS.join(", ")}`)
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
    .option(
      "--p12-password-file <file>",
      "with --format p12: the file's password (default: a generated one, printed once)",
    )
    .option(
      "--p12-legacy",
      "with --format p12: 3DES and SHA-1 instead of AES-256 and SHA-256, for older Android and macOS",
    )
    .action(
      action(io, async (user: string, o: Opts) => {
        if (o.format === "p12") return writeP12(io, user, o);
        if (o.p12PasswordFile !== undefined || o.p12Legacy)
          throw new UsageError(
            `--p12-password-file and --p12-legacy go with --format p12, not --format ${o.format}`,
          );
        const format = o.format as ClientConfigFormat;
        if (!(CLIENT_CONFIG_FORMATS as readonly string[]).includes(format))
          throw new UsageError(`--format '${o.format}' is not one of ${FORMATS.join(", ")}`);
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
