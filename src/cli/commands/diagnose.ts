/**
 * `oakley diagnose SERVER [--psk-file F] [--user U --password-file F] [--json]`: checks the path
 * to an L2TP/IPsec server step by step (src/diagnose) and prints one line per step (✓ / ✗ / –)
 * with what to do, then the Windows error table against those results. Exit code 0 only when
 * every step passed, 1 otherwise, 2 for usage mistakes. `oakley diagnose --errors` prints the
 * Windows error table alone.
 *
 * `--peer ADDRESS` / `--recent [--json]` explain the failures a running `oakley serve` recorded
 * (diagnose-server.ts), from the local control socket or a remote daemon (`--host`, token or
 * certificate flags as for `oakley status`).
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import {
  diagnoseServer,
  formatReport,
  formatWindowsErrors,
  WINDOWS_ERRORS,
} from "../../diagnose/index.js";
import { LogHub } from "../../obs/log.js";
import { jsonSink } from "../../obs/sinks.js";
import type { PppAuthMethod } from "../../ppp/index.js";
import { action, type CliIo, EXIT, processIo, toJson, UsageError } from "./common.js";
import { runServerDiagnose } from "./diagnose-server.js";

export interface DiagnoseFlags {
  psk?: string;
  pskFile?: string;
  user?: string;
  password?: string;
  passwordFile?: string;
  allowLegacy?: boolean;
  allowAuth?: string[];
  timeout?: string;
  mtu?: string;
  json?: boolean;
  errors?: boolean;
  peer?: string;
  recent?: boolean;
  /** Where the server's control channel is, for --peer/--recent (as in ConnOpts). */
  socket?: string;
  host?: string;
  token?: string;
  tokenFile?: string;
  cert?: string;
  key?: string;
  ca?: string;
  servername?: string;
  logLevel?: string;
  ikePort?: string;
  nattPort?: string;
}

function readSecret(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (e) {
    throw new UsageError(
      `${flag} ${path}: cannot read it (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

/** A secret from --X, --X-file, OAKLEY_X or OAKLEY_X_FILE (in that order). */
function secret(
  value: string | undefined,
  file: string | undefined,
  env: string,
  flag: string,
): string | undefined {
  if (value !== undefined) return value;
  if (file !== undefined) return readSecret(`--${flag}-file`, file);
  const v = process.env[`OAKLEY_${env}`];
  if (v !== undefined && v !== "") return v;
  const f = process.env[`OAKLEY_${env}_FILE`];
  if (f !== undefined && f !== "") return readSecret(`OAKLEY_${env}_FILE`, f);
  return undefined;
}

function positiveNumber(flag: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min)
    throw new UsageError(`${flag} ${v}: expected a number of at least ${min}`);
  return n;
}

function port(flag: string, v: string | undefined, dflt: number): number {
  const n = positiveNumber(flag, v, dflt, 1);
  if (!Number.isInteger(n) || n > 65535) throw new UsageError(`${flag} ${v}: expected a UDP port`);
  return n;
}

const AUTH_WORDS: Record<string, PppAuthMethod> = { chap: "chap-md5", pap: "pap" };

export async function runDiagnoseCommand(
  server: string | undefined,
  f: DiagnoseFlags,
  io: CliIo,
): Promise<void> {
  if (f.errors) {
    io.out(f.json ? toJson({ windowsErrors: WINDOWS_ERRORS }) : formatWindowsErrors());
    io.setExitCode(EXIT.ok);
    return;
  }
  // The server side: failure records of a running `oakley serve` (diagnose-server.ts).
  if (f.peer !== undefined || f.recent) {
    if (server !== undefined)
      throw new UsageError(
        "--peer/--recent ask the local (or --host) server: give no SERVER with them",
      );
    const { timeout: _seconds, ...conn } = f;
    await runServerDiagnose(io, conn);
    return;
  }
  if (server === undefined)
    throw new UsageError(
      "diagnose needs SERVER (address or host name), or --errors for the Windows error table",
    );
  if (f.user === undefined && (f.password !== undefined || f.passwordFile !== undefined))
    throw new UsageError("--password/--password-file need --user NAME");
  const psk = secret(f.psk, f.pskFile, "PSK", "psk");
  const password =
    f.user !== undefined ? secret(f.password, f.passwordFile, "PASSWORD", "password") : undefined;
  if (f.user !== undefined && password === undefined)
    throw new UsageError(`--user ${f.user} needs --password-file FILE (or OAKLEY_PASSWORD)`);
  if (f.psk !== undefined)
    io.err("oakley diagnose: --psk is visible in the process list; use --psk-file or OAKLEY_PSK\n");
  if (f.password !== undefined)
    io.err(
      "oakley diagnose: --password is visible in the process list; use --password-file or OAKLEY_PASSWORD\n",
    );
  const authMethods: PppAuthMethod[] = ["mschapv2"];
  for (const w of (f.allowAuth ?? []).flatMap((a) => a.split(","))) {
    const m = AUTH_WORDS[w.trim()];
    if (!m) throw new UsageError(`--allow-auth ${w}: use chap or pap`);
    authMethods.push(m);
  }
  const timeoutMs = positiveNumber("--timeout", f.timeout, 10, 0.5) * 1000;
  const pppMtu = positiveNumber("--mtu", f.mtu, 1400, 576);
  const ports = {
    ike: port("--ike-port", f.ikePort, 500),
    natt: port("--natt-port", f.nattPort, 4500),
  };
  // The stack's own log lines go to stderr as JSON (warnings and up unless --log-level).
  const logs = new LogHub(
    jsonSink((s) => io.err(s)),
    (f.logLevel ?? "off") as ConstructorParameters<typeof LogHub>[1],
  );
  const r = await diagnoseServer({
    server,
    ...(psk !== undefined ? { psk } : {}),
    ...(f.user !== undefined ? { user: f.user } : {}),
    ...(password !== undefined ? { password } : {}),
    authMethods,
    allowLegacy: f.allowLegacy === true,
    timeoutMs,
    pppMtu,
    logs,
    ports,
    ...(f.json ? {} : { onProgress: (t: string) => io.err(`  … ${t}\n`) }),
  });
  if (!r.ok) {
    io.err(`oakley diagnose: ${r.error}\n`);
    io.setExitCode(EXIT.failed);
    return;
  }
  io.out(f.json ? toJson(r.value) : formatReport(r.value));
  io.setExitCode(r.value.ok ? EXIT.ok : EXIT.failed);
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function register(program: Command, given?: CliIo): void {
  const io = given ?? processIo();
  program
    .command("diagnose")
    .description(
      "check the path to an L2TP/IPsec server step by step (UDP 500/4500, NAT, PSK, ESP, MTU, PPP) and explain Windows errors 809/789/788/691/741/768/13801/13806",
    )
    .argument("[server]", "server address or host name")
    .option("--psk <secret>", "the server's pre-shared key (visible in the process list)")
    .option("--psk-file <file>", "file holding the pre-shared key (or OAKLEY_PSK_FILE)")
    .option("--user <name>", "also test PPP authentication as this user")
    .option("--password <password>", "the user's password (visible in the process list)")
    .option("--password-file <file>", "file holding the password (or OAKLEY_PASSWORD_FILE)")
    .option("--allow-legacy", "also offer 3DES and MODP-1024 (old servers)")
    .option("--allow-auth <methods>", "also accept chap, pap (comma-separated)", collect)
    .option("--timeout <seconds>", "longest wait of each step (default 10)")
    .option(
      "--mtu <bytes>",
      "the PPP MTU to check against the path (default 1400, as oakley connect)",
    )
    .option(
      "--ike-port <port>",
      "local UDP port for IKE (default 500; another port makes NAT-D show this host behind NAT)",
    )
    .option("--natt-port <port>", "local UDP port for NAT-T (default 4500)")
    .option("--json", "the same results as data")
    .option("--errors", "print the Windows error table and exit")
    .option("--peer <address>", "(server side) explain a peer's recent failures")
    .option("--recent", "(server side) explain recent failures")
    .option("--socket <path>", "(server side) control socket of the local daemon")
    .option("--host <host[:port]>", "(server side) a remote daemon over TLS")
    .option(
      "--token <token>",
      "(server side) bearer token for --host (visible in the process list)",
    )
    .option("--token-file <file>", "(server side) file holding the bearer token for --host")
    .option("--cert <file>", "(server side) client certificate (PEM) for --host")
    .option("--key <file>", "(server side) client private key (PEM) for --host")
    .option("--ca <file>", "(server side) CA (PEM) of the remote daemon's certificate")
    .option("--servername <name>", "(server side) name to check in the remote daemon's certificate")
    .option("--log-level <level>", "also log the stack's messages to stderr (debug, info, warn)")
    .action(
      action(io, async (server: string | undefined, f: DiagnoseFlags) => {
        await runDiagnoseCommand(server, f, io);
        // As a process: leave now rather than wait for the last socket or timer to let go.
        if (given === undefined) process.exit(process.exitCode ?? 0);
      }),
    );
}
