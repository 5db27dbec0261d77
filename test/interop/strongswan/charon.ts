/**
 * One strongSwan charon (5.9.8, Debian) per lab namespace, driven through swanctl/vici: the
 * real IKEv1 peer for Oakley's interop tests. Initiator or responder, PSK or certificates.
 *
 * How two charons share one host: charon 5.9.8 hard-codes its PID file /run/charon.pid, so each
 * instance runs in a private mount namespace with its own state dir bind-mounted over /run;
 * the vici socket lives in the state dir so that swanctl (from any mount namespace) reaches it.
 * ESP is kernel-libipsec (userspace, ESP-in-UDP, tunnel mode only: it rejects transport mode
 * with "IPsec SA: unsupported mode", and always reports NAT so both sides float to 4500).
 *
 * Leaves out: IKEv2 helpers; starting charon outside a namespace.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type CharonLogLevels, strongswanConf } from "./conf.js";
import { Daemon, type RunResult, run, sleep, waitFor } from "./proc.js";
import { parseVici, type ViciSection } from "./vici.js";

export const CHARON_BIN = process.env.OAK_CHARON ?? "/usr/lib/ipsec/charon";
export const SWANCTL_BIN = process.env.OAK_SWANCTL ?? "/usr/sbin/swanctl";

export interface CharonOptions {
  /** Network namespace to run in. */
  readonly ns: string;
  /** Contents of swanctl.conf (see conf.ts swanctlConf). */
  readonly conf: string;
  /**
   * Extra files next to swanctl.conf, by relative path: "x509/server.pem", "x509ca/ca.pem",
   * "private/server.pem" (loaded by `swanctl --load-all`).
   */
  readonly files?: Readonly<Record<string, string>>;
  readonly logLevels?: CharonLogLevels;
  /** Extra strongswan.conf lines inside charon { }. */
  readonly charonExtra?: readonly string[];
  /** State dir (default: a fresh mkdtemp under $TMPDIR); removed by stop() unless keepDir. */
  readonly dir?: string;
  readonly keepDir?: boolean;
  /** Label for logs (default: the namespace). */
  readonly name?: string;
}

export interface SaListing {
  /** Raw `swanctl --list-sas --raw` output. */
  readonly raw: string;
  /** IKE SAs by connection name, as vici sections (keys as in vici: state, local-host, child-sas, ...). */
  readonly ikeSas: readonly { readonly name: string; readonly sa: ViciSection }[];
}

/** A running charon. */
export class Charon {
  private constructor(
    readonly name: string,
    readonly ns: string,
    readonly dir: string,
    private readonly daemon: Daemon,
    private readonly keepDir: boolean,
  ) {}

  get viciUri(): string {
    return `unix://${join(this.dir, "charon.vici")}`;
  }
  get logFile(): string {
    return join(this.dir, "charon.log");
  }
  get confFile(): string {
    return join(this.dir, "swanctl", "swanctl.conf");
  }
  get running(): boolean {
    return this.daemon.running;
  }

  /** charon's log so far (filelog, at the configured levels). */
  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  static async start(o: CharonOptions): Promise<Charon> {
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), "oak-ss-charon-"));
    const runDir = join(dir, "run");
    const swDir = join(dir, "swanctl");
    mkdirSync(runDir, { recursive: true });
    for (const d of ["x509", "x509ca", "private", "rsa", "ecdsa", "pkcs8"]) {
      mkdirSync(join(swDir, d), { recursive: true });
    }
    const vici = join(dir, "charon.vici");
    rmSync(vici, { force: true });
    rmSync(join(runDir, "charon.pid"), { force: true });
    writeFileSync(
      join(dir, "strongswan.conf"),
      strongswanConf({
        viciSocket: vici,
        logFile: join(dir, "charon.log"),
        ...(o.logLevels ? { logLevels: o.logLevels } : {}),
        ...(o.charonExtra ? { extra: o.charonExtra } : {}),
      }),
    );
    writeFileSync(join(swDir, "swanctl.conf"), o.conf);
    for (const [rel, text] of Object.entries(o.files ?? {})) {
      const p = join(swDir, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text, { mode: 0o600 });
    }
    writeFileSync(join(dir, "charon.log"), "");
    const daemon = Daemon.start(
      `charon@${o.ns}`,
      "ip",
      [
        "netns",
        "exec",
        o.ns,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        `mount --bind '${runDir}' /run && exec '${CHARON_BIN}'`,
      ],
      join(dir, "charon.stdout"),
      { STRONGSWAN_CONF: join(dir, "strongswan.conf") },
    );
    const c = new Charon(o.name ?? o.ns, o.ns, dir, daemon, o.keepDir ?? false);
    try {
      await waitFor(
        `${c.name}: charon vici socket`,
        async () => {
          if (!daemon.running) {
            throw new Error(
              `charon exited early: ${daemon.log().slice(-2000)}\n${c.log().slice(-2000)}`,
            );
          }
          const r = await c.swanctl(["--stats"], 5000);
          return r.code === 0 ? true : undefined;
        },
        30_000,
        200,
      );
      const load = await c.swanctl(["--load-all", "--noprompt", "--file", c.confFile], 30_000);
      if (
        load.code !== 0 ||
        /failed|invalid/i.test(load.stdout.replace(/opening directory[^\n]*\n?/g, ""))
      ) {
        throw new Error(`swanctl --load-all failed (${load.code}): ${load.stdout}${load.stderr}`);
      }
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  /** Runs swanctl against this instance's vici socket. */
  swanctl(args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    return run(SWANCTL_BIN, [...args, "--uri", this.viciUri], {
      timeoutMs,
      env: { STRONGSWAN_CONF: join(this.dir, "strongswan.conf") },
    });
  }

  /** `swanctl --initiate --ike IKE --child CHILD`; resolves with swanctl's result (code 0 = up). */
  initiate(o: { ike: string; child: string; timeoutS?: number }): Promise<RunResult> {
    const t = o.timeoutS ?? 30;
    return this.swanctl(
      ["--initiate", "--ike", o.ike, "--child", o.child, "--timeout", String(t)],
      (t + 10) * 1000,
    );
  }

  /** `swanctl --terminate --ike NAME`. */
  terminate(ike: string, timeoutS = 10): Promise<RunResult> {
    return this.swanctl(
      ["--terminate", "--ike", ike, "--timeout", String(timeoutS)],
      (timeoutS + 10) * 1000,
    );
  }

  /** Human-readable `swanctl --list-sas`. */
  async listSasText(): Promise<string> {
    const r = await this.swanctl(["--list-sas"]);
    return r.stdout;
  }

  /** Structured SA list (parsed from `swanctl --list-sas --raw`). */
  async listSas(): Promise<SaListing> {
    const r = await this.swanctl(["--list-sas", "--raw"]);
    const ikeSas: { name: string; sa: ViciSection }[] = [];
    for (const line of r.stdout.split("\n")) {
      const m = /^list-sa event \{(.*)\}\s*$/.exec(line.trim());
      if (!m?.[1]) continue;
      const sec = parseVici(m[1]);
      for (const [name, sa] of Object.entries(sec)) {
        if (typeof sa === "object" && !Array.isArray(sa))
          ikeSas.push({ name, sa: sa as ViciSection });
      }
    }
    return { raw: r.stdout, ikeSas };
  }

  /** Stops charon (SIGTERM to its process group, then SIGKILL) and removes the state dir. */
  async stop(): Promise<void> {
    await this.daemon.stop("SIGTERM", 5000);
    await sleep(50);
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts charon as IKE responder (it simply loads the config and waits). */
export function startResponder(o: CharonOptions): Promise<Charon> {
  return Charon.start({ name: `responder@${o.ns}`, ...o });
}

/** Starts charon as initiator; call `initiate({ike, child})` on the result. */
export function startInitiator(o: CharonOptions): Promise<Charon> {
  return Charon.start({ name: `initiator@${o.ns}`, ...o });
}
