/**
 * A CLI process (`oakley serve`, `oakley connect`) under test: its output lines, waiting for a
 * line, its exit, and stopping it with Ctrl-C as a person would.
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Namespace, Topology } from "./netns.js";

/** The CLI run from source, as the interop tests start it. */
export const OAKLEY_CLI = join(import.meta.dirname, "..", "..", "..", "src", "cli", "main.ts");

/**
 * `oakley serve` from source in `ns`: its store and status file under the topology's folder,
 * named by `tag`, text logs; `args` are the test's own flags (PSK, users, pool, sockets...).
 */
export function spawnServe(
  topo: Topology,
  ns: Namespace,
  tag: string,
  listen: string,
  args: readonly string[],
): Proc {
  return watch(
    topo.spawn(ns, [
      process.execPath,
      "--import",
      "tsx",
      OAKLEY_CLI,
      "serve",
      "--store",
      join(topo.dir, `${tag}.db`),
      "--listen",
      listen,
      "--status-file",
      join(topo.dir, `${tag}.status.json`),
      "--log-format",
      "text",
      ...args,
    ]),
    `serve(${tag})`,
  );
}

export interface Proc {
  readonly child: ChildProcess;
  readonly out: string[];
  /** Resolves with the first line (seen so far or later) matching `re`. */
  waitFor(re: RegExp, ms: number, from?: number): Promise<string>;
  exited(): Promise<number | null>;
}

/** Collects a process's stdout+stderr lines and waits for lines matching a pattern. */
export function watch(child: ChildProcess, name: string): Proc {
  const out: string[] = [];
  const waiters: Array<{ re: RegExp; from: number; resolve: (l: string) => void }> = [];
  let partial = "";
  const onText = (buf: Buffer) => {
    const parts = (partial + buf.toString()).split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      if (!line) continue;
      out.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout?.on("data", onText);
  child.stderr?.on("data", onText);
  let code: number | null | undefined;
  const exit = new Promise<number | null>((r) =>
    child.once("exit", (c) => {
      code = c;
      r(c);
    }),
  );
  return {
    child,
    out,
    waitFor(re, ms, from = 0) {
      const seen = out.slice(from).find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(
              new Error(
                `${name}: no line matching ${re} within ${ms} ms; output:\n${out.slice(-40).join("\n")}`,
              ),
            ),
          ms,
        );
        waiters.push({
          re,
          from,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        void exit.then(() => {
          if (code !== undefined) {
            clearTimeout(t);
            reject(
              new Error(
                `${name} exited (${code}) before ${re}; output:\n${out.slice(-40).join("\n")}`,
              ),
            );
          }
        });
      });
    },
    exited: () => exit,
  };
}

/** Stops a CLI process with Ctrl-C (SIGINT), as a person would; returns its exit code. */
export async function stop(p: Proc): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill("SIGINT");
  const t = setTimeout(() => p.child.kill("SIGKILL"), 20_000);
  const code = await p.exited();
  clearTimeout(t);
  return code;
}
