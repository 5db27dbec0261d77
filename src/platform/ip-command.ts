/**
 * Runs iproute2's `ip` for the few operations with no ioctl (deleting a link). Failures become a
 * typed `OAK_E_PLATFORM_COMMAND` error carrying the command line, exit status and stderr.
 */
import { execFile } from "node:child_process";
import { type Result, err, ok } from "../base/result.js";
import { type PlatformError, PlatformErrorCode, platformError } from "./errors.js";

export function runIp(args: readonly string[]): Promise<Result<string, PlatformError>> {
  return new Promise((resolve) => {
    execFile("ip", [...args], { timeout: 10_000 }, (e, stdout, stderr) => {
      if (e) {
        const code = (e as { code?: unknown }).code;
        const why =
          code === "ENOENT"
            ? "the `ip` command (iproute2) is not installed"
            : `exit ${String(code)}: ${String(stderr).trim()}`;
        resolve(
          err(platformError(PlatformErrorCode.Command, `ip ${args.join(" ")} failed: ${why}`)),
        );
      } else {
        resolve(ok(String(stdout)));
      }
    });
  });
}
