/**
 * `oakley pki init|issue|list|show|revoke|crl`: a small certificate authority for servers and
 * users who have none, kept in `pki/` next to the policy store (src/pki/store.ts). Devices get
 * their certificate as PKCS#12 through `oakley client-config USER --format p12`.
 */
import type { Command } from "commander";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Result } from "../../base/result.js";
import {
  DEFAULTS,
  type PkiEnv,
  type PkiError,
  parseDays,
  parseKeyType,
  parseReason,
  initCa,
  issueCert,
  listCerts,
  pkiDirFor,
  refreshCrl,
  revokeCert,
  showCert,
} from "../../pki/store.js";
import { KEY_TYPES, REVOKE_REASONS } from "../../pki/ca.js";
import {
  action,
  type CliIo,
  DEFAULT_STORE_PATH,
  fail,
  processIo,
  table,
  toJson,
  UsageError,
} from "./common.js";

export const systemPkiEnv: PkiEnv = {
  now: () => new Date(),
  random: (n) => randomBytes(n),
};

/** The CA directory the flags name: `pki/` beside --store / OAKLEY_STORE / the default store. */
export function pkiDirFromFlags(o: { store?: string }): string {
  return pkiDirFor(o.store ?? process.env.OAKLEY_STORE ?? DEFAULT_STORE_PATH);
}

function need<T>(r: Result<T, PkiError>): T {
  if (!r.ok) throw new PkiFailure(r.error);
  return r.value;
}

class PkiFailure extends Error {
  constructor(readonly error: PkiError) {
    super(error.message);
  }
}

function pkiAction<A extends unknown[]>(
  io: CliIo,
  fn: (...a: A) => Promise<void>,
): (...a: A) => Promise<void> {
  return action(io, async (...a: A) => {
    try {
      await fn(...a);
    } catch (e) {
      if (e instanceof PkiFailure) return fail(io, e.error);
      throw e;
    }
  });
}

const usage = <T>(r: Result<T, PkiError>): T => {
  if (!r.ok) throw new UsageError(r.error.message);
  return r.value;
};

const collect = (v: string, prev: string[]) => [...prev, v];
const storeHelp = `the policy store; the CA lives in pki/ beside it (default ${DEFAULT_STORE_PATH}, or OAKLEY_STORE)`;

export function register(
  program: Command,
  io: CliIo = processIo(),
  env: PkiEnv = systemPkiEnv,
): void {
  const pki = program
    .command("pki")
    .description("a small certificate authority: server and client certificates, revocation");

  pki
    .command("init")
    .description("create the CA: its key (0600), its certificate and an empty CRL")
    .option("--name <cn>", "the CA's common name (default: Oakley CA HOSTNAME)")
    .option("--key <type>", `key type: ${KEY_TYPES.join(", ")}`, DEFAULTS.caKey)
    .option("--days <n>", "how long the CA certificate is valid", String(DEFAULTS.caDays))
    .option("--force", "replace an existing CA (the old directory is kept aside, not deleted)")
    .option("--store <file>", storeHelp)
    .action(
      pkiAction(
        io,
        async (o: {
          name?: string;
          key: string;
          days: string;
          force?: boolean;
          store?: string;
        }) => {
          const dir = pkiDirFromFlags(o);
          const r = need(
            await initCa(
              dir,
              {
                commonName: o.name ?? `Oakley CA ${hostname()}`.slice(0, 64),
                keyType: usage(parseKeyType(o.key)),
                days: usage(parseDays(o.days)),
                force: o.force === true,
              },
              env,
            ),
          );
          if (r.replacedTo)
            io.err(`oakley: the previous CA was moved to ${r.replacedTo} (nothing was deleted)\n`);
          io.out(
            `created a CA in ${r.dir}\n` +
              `  certificate ${r.cert}  (what servers and clients trust)\n` +
              `  CRL         ${r.crl}\n` +
              `  key         ${dir}/ca.key  (0600: keep it secret, and back it up)\n` +
              `next: oakley pki issue SERVER-NAME --server-name vpn.example.org, then oakley pki issue USER\n`,
          );
        },
      ),
    );

  pki
    .command("issue")
    .description("issue a server certificate (with --server-name) or a client certificate")
    .argument(
      "<name>",
      "what to call it: a user, a device or the server (letters, digits, . _ @ + -)",
    )
    .option(
      "--server-name <dns-or-ip>",
      "a server certificate for this DNS name or IP address (repeat for more); without it, a client certificate",
      collect,
      [],
    )
    .option("--key <type>", `key type: ${KEY_TYPES.join(", ")}`, DEFAULTS.key)
    .option("--days <n>", "how long it is valid", String(DEFAULTS.days))
    .option("--store <file>", storeHelp)
    .action(
      pkiAction(
        io,
        async (
          name: string,
          o: { serverName: string[]; key: string; days: string; store?: string },
        ) => {
          const dir = pkiDirFromFlags(o);
          const r = need(
            await issueCert(
              dir,
              {
                name,
                serverNames: o.serverName,
                keyType: usage(parseKeyType(o.key)),
                days: usage(parseDays(o.days)),
              },
              env,
            ),
          );
          for (const w of r.warnings) io.err(`oakley: warning: ${w}\n`);
          const e = r.entry;
          io.out(
            `issued a ${e.kind} certificate '${e.name}' (serial ${e.serial}, valid until ${e.notAfter})\n` +
              `  subject CN=${e.commonName}${e.subjectAltNames.length ? `, ${e.subjectAltNames.join(", ")}` : ""}\n` +
              `  certificate ${r.certPath}\n` +
              `  key         ${r.keyPath}  (0600)\n` +
              `  CA          ${r.caPath}\n` +
              (e.kind === "client"
                ? `next: oakley client-config ${e.name} --format p12 -o ${e.name}.p12 (for Windows, macOS, Android)\n`
                : `use it as the server's certificate and key, with ${r.caPath} as the CA\n`),
          );
        },
      ),
    );

  pki
    .command("list")
    .description("the certificates issued, with their status")
    .option("--json", "machine-readable output")
    .option("--store <file>", storeHelp)
    .action(
      pkiAction(io, async (o: { json?: boolean; store?: string }) => {
        const s = need(listCerts(pkiDirFromFlags(o), env.now()));
        if (o.json) {
          io.out(toJson(s));
          return;
        }
        io.out(
          `CA '${s.ca.commonName}' (${s.ca.keyType}, until ${s.ca.notAfter}) in ${s.dir}; CRL number ${s.crl.number}${s.crl.nextUpdate ? `, next update ${s.crl.nextUpdate}` : ""}\n`,
        );
        if (s.crl.problem) io.err(`oakley: warning: ${s.crl.problem}\n`);
        else if (
          s.crl.nextUpdate &&
          Date.parse(s.crl.nextUpdate) < env.now().getTime() + 30 * 86_400_000
        )
          io.err(
            `oakley: warning: the CRL's next update is ${s.crl.nextUpdate}; servers may refuse every certificate after it: re-sign it with oakley pki crl\n`,
          );
        if (s.certs.length === 0) {
          io.out("no certificates issued yet (oakley pki issue NAME)\n");
          return;
        }
        io.out(
          table(
            ["NAME", "KIND", "STATUS", "SERIAL", "NOT-AFTER", "NAMES"],
            s.certs.map((c) => [
              c.name,
              c.kind,
              c.status,
              c.serial,
              c.notAfter,
              [`CN=${c.commonName}`, ...c.subjectAltNames].join(" "),
            ]),
          ),
        );
      }),
    );

  pki
    .command("show")
    .description("one certificate: names, dates, files, fingerprint")
    .argument("<name>", "the certificate's name (see oakley pki list)")
    .option("--json", "machine-readable output")
    .option("--store <file>", storeHelp)
    .action(
      pkiAction(io, async (name: string, o: { json?: boolean; store?: string }) => {
        const c = need(showCert(pkiDirFromFlags(o), name, env.now()));
        if (o.json) {
          io.out(toJson(c));
          return;
        }
        const rows: [string, string][] = [
          ["name", c.name],
          ["kind", c.kind],
          ["status", c.revoked ? `revoked ${c.revoked.at} (${c.revoked.reason})` : c.status],
          ["serial", c.serial],
          ["subject", c.subject],
          ["alt names", c.subjectAltNames.join(", ") || "-"],
          ["issuer", c.issuer],
          ["valid", `${c.notBefore} .. ${c.notAfter}`],
          ["key", c.keyType],
          ["sha256", c.sha256],
          ["certificate", c.certPath],
          ["private key", c.keyPath],
        ];
        io.out(rows.map(([k, v]) => `${`${k}:`.padEnd(13)}${v.replace(/\n/g, ", ")}\n`).join(""));
      }),
    );

  pki
    .command("revoke")
    .description("revoke a certificate: it goes on the CRL, which is re-signed")
    .argument("<name>", "the certificate's name (see oakley pki list)")
    .option("--reason <reason>", `one of ${Object.keys(REVOKE_REASONS).join(", ")}`, "unspecified")
    .option("--crl-days <n>", "how long the new CRL is valid", String(DEFAULTS.crlDays))
    .option("--store <file>", storeHelp)
    .action(
      pkiAction(
        io,
        async (name: string, o: { reason: string; crlDays: string; store?: string }) => {
          const r = need(
            await revokeCert(
              pkiDirFromFlags(o),
              name,
              {
                reason: usage(parseReason(o.reason)),
                crlDays: usage(parseDays(o.crlDays, "--crl-days")),
              },
              env,
            ),
          );
          io.out(
            `revoked '${name}' (serial ${r.entry.serial}); ${r.crlPath} is CRL number ${r.crlNumber} with ${r.revokedCount} revoked, valid until ${r.nextUpdate.toISOString()}\n` +
              "servers reading this CRL file refuse the certificate from their next reload\n",
          );
        },
      ),
    );

  pki
    .command("crl")
    .description("re-sign the CRL (run before it expires; see oakley pki list)")
    .option("--crl-days <n>", "how long the new CRL is valid", String(DEFAULTS.crlDays))
    .option("--store <file>", storeHelp)
    .action(
      pkiAction(io, async (o: { crlDays: string; store?: string }) => {
        const r = need(
          await refreshCrl(
            pkiDirFromFlags(o),
            { crlDays: usage(parseDays(o.crlDays, "--crl-days")) },
            env,
          ),
        );
        io.out(
          `${r.crlPath} is CRL number ${r.crlNumber} with ${r.revokedCount} revoked, valid until ${r.nextUpdate.toISOString()}\n`,
        );
      }),
    );
}
