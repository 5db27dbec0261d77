/**
 * Shared plumbing of the management commands: connection flags, choosing the
 * daemon or the store file, output (tables for people, --json for scripts), error reporting that
 * names the flag and the fix.
 *
 * Target selection:
 *   --host HOST[:PORT] (+ --token-file/OAKLEY_TOKEN/--token or --cert/--key, --ca)
 *                                                                     a remote daemon over TLS
 *   --socket PATH (default /run/oakley/control.sock)                   the local daemon
 *   store commands (policy, users) with no daemon running work on --store FILE directly.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { Result } from "../../base/result.js";
import {
  type AsyncPolicyOps,
  asyncOps,
  ControlClient,
  type ControlEndpoint,
  type ControlError,
  ControlErrorCode,
  DEFAULT_SOCKET_PATH,
  DEFAULT_TLS_PORT,
  StorePolicyOps,
} from "../../control/index.js";
import { openStore, type PolicyStore } from "../../policy/index.js";

/** Where a command writes; tests pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  setExitCode(code: number): void;
  readStdin(): Promise<string>;
}

export function processIo(): CliIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    setExitCode: (c) => {
      process.exitCode = c;
    },
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}

/** Exit codes: 0 done, 1 failed, 2 bad usage, 3 the daemon is not running. */
export const EXIT = { ok: 0, failed: 1, usage: 2, notRunning: 3 } as const;

export const DEFAULT_STORE_PATH = "/var/lib/oakley/oakley.db";

/** Where `oakley connect` listens for `oakley status`: one socket per profile (or server). */
export const CLIENT_SOCKET_DIR = "/run/oakley";
export function clientSocketPath(name: string, dir = CLIENT_SOCKET_DIR): string {
  return `${dir}/connect-${name.replace(/[^A-Za-z0-9._-]/g, "_")}.sock`;
}

export interface ConnOpts {
  socket?: string;
  host?: string;
  token?: string;
  tokenFile?: string;
  cert?: string;
  key?: string;
  ca?: string;
  servername?: string;
  store?: string;
  timeout?: string;
  json?: boolean;
}

/** Adds the connection flags to a command. */
export function connectionOptions(cmd: Command, opts: { store?: boolean } = {}): Command {
  cmd
    .option(
      "--socket <path>",
      `control socket of the local daemon (default ${DEFAULT_SOCKET_PATH})`,
    )
    .option(
      "--host <host[:port]>",
      `manage a remote daemon over TLS (port default ${DEFAULT_TLS_PORT})`,
    )
    .option(
      "--token <token>",
      "bearer token for --host (visible in the process list; prefer --token-file or OAKLEY_TOKEN)",
    )
    .option("--token-file <file>", "file holding the bearer token for --host")
    .option("--cert <file>", "client certificate (PEM) for --host")
    .option("--key <file>", "client private key (PEM) for --host")
    .option("--ca <file>", "CA (PEM) that signed the remote daemon's certificate")
    .option("--servername <name>", "name to check in the remote daemon's certificate")
    .option("--timeout <ms>", "how long to wait for the daemon", "10000");
  if (opts.store) {
    cmd.option(
      "--store <file>",
      `policy store file, used when no daemon runs (default ${DEFAULT_STORE_PATH})`,
    );
  }
  return cmd;
}

export class UsageError extends Error {}

function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(
      `${flag} ${path}: cannot read it (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

/** Parses "host", "host:port", "[v6]:port", "v6". */
export function parseHost(s: string): { host: string; port: number } {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(s);
  const plain = /^([^:[\]\s]+)(?::(\d{1,5}))?$/.exec(s);
  const bareV6 = /^[0-9a-fA-F]*:[0-9a-fA-F:.]*$/.test(s) && s.split(":").length > 2;
  const m = v6 ?? (bareV6 ? null : plain);
  if (bareV6) return { host: s, port: DEFAULT_TLS_PORT };
  const port = m?.[2] === undefined ? DEFAULT_TLS_PORT : Number(m[2]);
  if (!m?.[1] || port < 1 || port > 65535) {
    throw new UsageError(
      `--host '${s}' is not HOST[:PORT] (e.g. --host 198.51.100.1:${DEFAULT_TLS_PORT} or --host [2001:db8::1]:${DEFAULT_TLS_PORT})`,
    );
  }
  return { host: m[1], port };
}

let tokenWarned = false;

/**
 * The endpoint the flags name (the token may also come from OAKLEY_TOKEN). Throws UsageError
 * naming the flag on a mistake. `--token` on the command line is warned about once (stderr).
 */
export function endpointFromFlags(
  o: ConnOpts,
  env: NodeJS.ProcessEnv = process.env,
  warn: (line: string) => void = (l) => void process.stderr.write(`${l}\n`),
): ControlEndpoint {
  if (o.token !== undefined && !tokenWarned) {
    tokenWarned = true;
    warn(
      "oakley: --token puts a secret in the process list (/proc/PID/cmdline), visible to every local user; use --token-file FILE or OAKLEY_TOKEN instead",
    );
  }
  if (o.host === undefined) {
    for (const f of ["token", "tokenFile", "cert", "key", "ca", "servername"] as const) {
      if (o[f] !== undefined) {
        throw new UsageError(
          `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for a remote daemon: give --host HOST[:PORT] too`,
        );
      }
    }
    return { kind: "unix", path: o.socket ?? DEFAULT_SOCKET_PATH };
  }
  if (o.socket !== undefined)
    throw new UsageError("give either --socket (local daemon) or --host (remote daemon), not both");
  const { host, port } = parseHost(o.host);
  if (o.token !== undefined && o.tokenFile !== undefined)
    throw new UsageError("give either --token or --token-file, not both");
  if ((o.cert === undefined) !== (o.key === undefined))
    throw new UsageError("--cert and --key go together: give both");
  const envToken = env.OAKLEY_TOKEN?.trim() || undefined;
  const token =
    o.token ??
    (o.tokenFile !== undefined ? readFlagFile("--token-file", o.tokenFile).trim() : envToken);
  if (token === undefined && o.cert === undefined) {
    throw new UsageError(
      "a remote daemon needs authentication: give --token TOKEN, --token-file FILE, or --cert FILE --key FILE (or set OAKLEY_TOKEN)",
    );
  }
  return {
    kind: "tls",
    host,
    port,
    ...(o.servername !== undefined ? { servername: o.servername } : {}),
    ...(o.ca !== undefined ? { ca: readFlagFile("--ca", o.ca) } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(o.cert !== undefined ? { cert: readFlagFile("--cert", o.cert) } : {}),
    ...(o.key !== undefined ? { key: readFlagFile("--key", o.key) } : {}),
  };
}

function timeoutOf(o: ConnOpts): number {
  const t = Number(o.timeout ?? "10000");
  if (!Number.isInteger(t) || t < 100 || t > 600_000)
    throw new UsageError(`--timeout '${o.timeout}' must be milliseconds in 100..600000`);
  return t;
}

export async function connect(o: ConnOpts): Promise<Result<ControlClient, ControlError>> {
  const ep = endpointFromFlags(o);
  return ControlClient.connect(ep, { client: `oakley ${cliVersion()}`, timeoutMs: timeoutOf(o) });
}

let version: string | undefined;
export function cliVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(
        readFileSync(new URL("../../../package.json", import.meta.url), "utf8"),
      ) as { version?: string };
      version = pkg.version ?? "0.0.0";
    } catch {
      version = "0.0.0";
    }
  }
  return version;
}

/** True when the error means "no daemon here" (as opposed to a refusal by a running one). */
export function isNotRunning(e: ControlError, ep: ControlEndpoint): boolean {
  return (
    ep.kind === "unix" && e.code === ControlErrorCode.Unavailable && /not running/.test(e.message)
  );
}

/** Policy operations: through the daemon when it runs (changes apply live), else on the store file. */
export interface PolicyBackend {
  readonly ops: AsyncPolicyOps;
  /** "daemon at unix:/run/oakley/control.sock" or "store /var/lib/oakley/oakley.db". */
  readonly where: string;
  close(): Promise<void>;
}

export async function policyBackend(o: ConnOpts): Promise<Result<PolicyBackend, ControlError>> {
  const ep = endpointFromFlags(o);
  if (o.store !== undefined && o.host === undefined && o.socket === undefined) {
    return openStoreBackend(o.store);
  }
  const c = await ControlClient.connect(ep, {
    client: `oakley ${cliVersion()}`,
    timeoutMs: timeoutOf(o),
  });
  if (c.ok) {
    return {
      ok: true,
      value: {
        ops: c.value.policyOps(),
        where: `daemon at ${ep.kind === "unix" ? `unix:${ep.path}` : `${ep.host}:${ep.port}`}`,
        close: () => c.value.close(),
      },
    };
  }
  if (isNotRunning(c.error, ep)) return openStoreBackend(o.store ?? DEFAULT_STORE_PATH);
  return c;
}

function openStoreBackend(path: string): Result<PolicyBackend, ControlError> {
  const s = openStore(path);
  if (!s.ok) {
    return {
      ok: false,
      error: {
        code: s.error.code,
        message: `${s.error.message} (no daemon is running, so the store file is used; name it with --store FILE)`,
      },
    };
  }
  const store: PolicyStore = s.value;
  return {
    ok: true,
    value: {
      ops: asyncOps(new StorePolicyOps(store)),
      where: `store ${path}`,
      close: async () => store.close(),
    },
  };
}

// ------------------------------------------------------------------ output

/** JSON for scripts: bigint as decimal strings, 2-space indent. */
export function toJson(v: unknown): string {
  return `${JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x), 2)}\n`;
}

/** A plain-text table: columns padded to the widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: readonly string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[fmt(headers), ...rows.map(fmt)].join("\n")}\n`;
}

export function bytes(n: bigint): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Prints a ControlError (with issues, one per line) and sets the exit code. */
export function fail(io: CliIo, e: ControlError, code: number = EXIT.failed): void {
  io.err(`oakley: ${e.message} [${e.code}]\n`);
  for (const i of e.issues ?? []) io.err(`  ${i.path}: ${i.message}\n`);
  io.setExitCode(code);
}

/** Runs a command body, turning UsageError into exit 2 with its message. */
export function action<A extends unknown[]>(
  io: CliIo,
  fn: (...a: A) => Promise<void>,
): (...a: A) => Promise<void> {
  return async (...a: A) => {
    try {
      await fn(...a);
    } catch (e) {
      if (e instanceof UsageError) {
        io.err(`oakley: ${e.message}\n`);
        io.setExitCode(EXIT.usage);
        return;
      }
      throw e;
    }
  };
}
