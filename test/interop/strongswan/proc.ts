/**
 * Process helpers for the interop harnesses (test/interop/strongswan, test/interop/vm): run a
 * command with a time limit, run one inside a network namespace, and start long-running daemons
 * in their own process group so that they can be stopped reliably by PID (never by name).
 *
 * Leaves out: anything a production daemon would need (this is test tooling, root only).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Kill the command after this many milliseconds (default 30 000). */
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
  readonly input?: string;
  readonly cwd?: string;
}

/** Runs a command to completion; never throws for a non-zero exit (the code is returned). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: [opts.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n[proc] killed after ${opts.timeoutMs ?? 30_000} ms`;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}${e.message}` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (child.stdin) {
      child.stdin.on("error", () => {
        /* the command did not read its input: not our concern */
      });
      child.stdin.end(opts.input);
    }
  });
}

/** Like `run`, but a non-zero exit is an error (harness set-up steps that must not fail). */
export async function runOk(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return r.stdout;
}

/** `ip netns exec NS cmd args...` */
export function nsRun(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return run("ip", ["netns", "exec", ns, cmd, ...args], opts);
}

export async function nsRunOk(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<string> {
  return runOk("ip", ["netns", "exec", ns, cmd, ...args], opts);
}

/** The kernel's start time of a process (field 22 of /proc/PID/stat), to detect PID reuse. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the command name (field 2) may contain spaces; fields after the last ')' are fixed
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

/**
 * A daemon started in its own session/process group, stdout+stderr into a file. `stop()`
 * signals the whole group (by PGID = the PID we started), waits, then SIGKILLs it.
 */
export class Daemon {
  private exited = false;
  exitCode: number | null = null;
  private readonly startTime: string | undefined;

  private constructor(
    readonly name: string,
    child: ChildProcess,
    readonly pid: number,
    readonly logFile: string,
  ) {
    this.startTime = processStartTime(pid);
    child.on("exit", (code, signal) => {
      this.exited = true;
      this.exitCode = code ?? (signal ? 128 : 1);
    });
  }

  static start(
    name: string,
    cmd: string,
    args: readonly string[],
    logFile: string,
    env: Readonly<Record<string, string>> = {},
  ): Daemon {
    const fd = openSync(logFile, "a");
    const child = spawn(cmd, args, {
      detached: true, // setsid(): own process group, survives nothing but us
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...env },
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
    const d = new Daemon(name, child, child.pid, logFile);
    liveDaemons.add(d);
    return d;
  }

  get running(): boolean {
    return !this.exited;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  private sameProcess(): boolean {
    return !this.exited && processStartTime(this.pid) === this.startTime;
  }

  private signalGroup(sig: NodeJS.Signals): void {
    if (!this.sameProcess()) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** Stop the process group: `sig` (default TERM), wait up to `graceMs`, then KILL. */
  async stop(sig: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
    this.signalGroup(sig);
    const end = Date.now() + graceMs;
    while (!this.exited && Date.now() < end) await sleep(50);
    if (!this.exited) {
      this.signalGroup("SIGKILL");
      const end2 = Date.now() + 2000;
      while (!this.exited && Date.now() < end2) await sleep(50);
    }
    liveDaemons.delete(this);
  }

  /** Synchronous last-resort kill (process exit hook). */
  killNow(): void {
    this.signalGroup("SIGKILL");
    liveDaemons.delete(this);
  }
}

const liveDaemons = new Set<Daemon>();
const exitHooks: Array<() => void> = [];
let hooked = false;

/** Registers a synchronous cleanup that runs if the test process exits without tearing down. */
export function onProcessExit(fn: () => void): () => void {
  exitHooks.push(fn);
  if (!hooked) {
    hooked = true;
    const all = (): void => {
      for (const d of [...liveDaemons]) d.killNow();
      for (const h of exitHooks.splice(0)) {
        try {
          h();
        } catch {
          /* best effort */
        }
      }
    };
    process.on("exit", all);
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      process.once(sig, () => {
        all();
        process.exit(130);
      });
    }
  }
  return () => {
    const i = exitHooks.indexOf(fn);
    if (i >= 0) exitHooks.splice(i, 1);
  };
}

/** Synchronous `ip netns del`, for exit hooks. */
export function deleteNetnsSync(ns: string): void {
  spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `everyMs` until it returns a value other than undefined, or times out. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Starts a long-running process inside a network namespace (e.g. Oakley's client in the lab's
 * client namespace), output to `logFile`; `stop()` signals its whole process group.
 */
export function nsDaemon(
  ns: string,
  name: string,
  cmd: string,
  args: readonly string[],
  logFile: string,
  env: Readonly<Record<string, string>> = {},
): Daemon {
  return Daemon.start(name, "ip", ["netns", "exec", ns, cmd, ...args], logFile, env);
}
