/**
 * Runs the `nft` program (nftables 1.0, Debian package `nftables`) and turns its failures into
 * typed FirewallErrors. Ruleset text goes in on stdin (`nft -f -`), so one call is one netlink
 * batch: the kernel applies it all or nothing (nft(8), "-f": the file is one transaction).
 *
 * Optionally runs inside a named network namespace (`ip netns exec NS nft ...`): tests use
 * this to install the daemon's table in a namespace, never in the host's.
 *
 * Leaves out: speaking netlink directly (libnftables through FFI would save a fork per call;
 * the daemon calls nft a handful of times per start/stop, so the CLI is enough).
 */
import { spawn } from "node:child_process";
import { err, ok, type Result } from "../../base/result.js";
import { type FirewallError, FirewallErrorCode, firewallError } from "./errors.js";

export interface NftOptions {
  /** Path of the nft program; default "nft" (found on PATH). */
  readonly nftPath?: string;
  /** Run in this network namespace (`ip netns exec`); default: the caller's namespace. */
  readonly netns?: string;
  /** Give up after this many milliseconds (default 15 000). */
  readonly timeoutMs?: number;
}

export interface NftOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** nft's failure text, trimmed to what a person reads (first lines). */
function firstLines(s: string, n = 6): string {
  return s.trim().split("\n").slice(0, n).join("\n");
}

/** Maps a failed nft run to a typed error (stderr wording of nftables 0.9-1.0). */
export function classifyNftFailure(stderr: string, exit: number | null): FirewallError {
  const text = firstLines(stderr);
  if (/Operation not permitted|you must be root|Permission denied/i.test(stderr)) {
    return firewallError(
      FirewallErrorCode.PermissionDenied,
      "nftables refused the change: permission denied; run the daemon as root or give it CAP_NET_ADMIN",
      text,
    );
  }
  if (/No such file or directory/.test(stderr)) {
    return firewallError(
      FirewallErrorCode.Command,
      `nft: the table or chain does not exist${text ? `: ${text.split("\n")[1] ?? ""}` : ""}`,
      text,
    );
  }
  if (/syntax error|Error: (?!Could not process rule)/.test(stderr)) {
    return firewallError(
      FirewallErrorCode.Syntax,
      "nft rejected the generated ruleset (a bug in Oakley or an nft older than 0.9.7); report it with the nft error below",
      text,
    );
  }
  if (/Protocol not supported|Operation not supported|cache initialization failed/i.test(stderr)) {
    return firewallError(
      FirewallErrorCode.Unsupported,
      "the kernel refused the ruleset: nf_tables (or one of its expressions: fib, counter) is not available; load the nf_tables modules (modprobe nf_tables nft_fib_inet) or use a kernel with them",
      text,
    );
  }
  return firewallError(
    FirewallErrorCode.Command,
    `nft failed (exit ${exit === null ? "signal" : String(exit)})${text ? `: ${text.split("\n")[0]}` : ""}`,
    text,
  );
}

/** True when nft said the table/chain does not exist (list/delete of something absent). */
export function isNoSuchObject(e: FirewallError): boolean {
  return e.code === FirewallErrorCode.Command && /No such file or directory/.test(e.stderr ?? "");
}

/** Runs nft with `args`, feeding `input` on stdin when given. Never throws. */
export function runNft(
  args: readonly string[],
  input: string | undefined,
  opts: NftOptions = {},
): Promise<Result<NftOutput, FirewallError>> {
  const nft = opts.nftPath ?? "nft";
  const [cmd, argv] =
    opts.netns === undefined
      ? [nft, [...args]]
      : ["ip", ["netns", "exec", opts.netns, nft, ...args]];
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Result<NftOutput, FirewallError>): void => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let size = 0;
    const cap = 32 << 20;
    child.stdout.on("data", (b: Buffer) => {
      size += b.length;
      if (size <= cap) out.push(b);
    });
    child.stderr.on("data", (b: Buffer) => {
      if (errOut.length < 64) errOut.push(b);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      done(
        err(
          firewallError(
            FirewallErrorCode.Command,
            `nft did not finish within ${opts.timeoutMs ?? 15_000} ms (is another nft transaction stuck?)`,
          ),
        ),
      );
    }, opts.timeoutMs ?? 15_000);
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ENOENT") {
        done(
          err(
            opts.netns !== undefined && cmd === "ip"
              ? firewallError(
                  FirewallErrorCode.Command,
                  "the `ip` program is missing: install the Debian package iproute2",
                )
              : firewallError(
                  FirewallErrorCode.NftMissing,
                  `the nft program (${nft}) is not installed: install the Debian package nftables (apt-get install nftables)`,
                ),
          ),
        );
      } else if (e.code === "EACCES") {
        done(
          err(
            firewallError(
              FirewallErrorCode.PermissionDenied,
              `cannot run ${cmd}: permission denied; run the daemon as root`,
            ),
          ),
        );
      } else {
        done(err(firewallError(FirewallErrorCode.Command, `cannot run ${cmd}: ${e.message}`)));
      }
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(errOut).toString("utf8");
      if (size > cap) {
        done(err(firewallError(FirewallErrorCode.BadOutput, "nft printed more than 32 MiB")));
      } else if (code === 0) done(ok({ stdout, stderr }));
      else if (opts.netns !== undefined && /Cannot open network namespace/.test(stderr)) {
        done(
          err(
            firewallError(
              FirewallErrorCode.Command,
              `network namespace ${opts.netns} does not exist`,
              firstLines(stderr),
            ),
          ),
        );
      } else done(err(classifyNftFailure(stderr, code)));
    });
    child.stdin.on("error", () => {
      // nft exited before reading all input; the close handler reports its error.
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}
