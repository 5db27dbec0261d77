/**
 * Handing the VPN's DNS servers to the system (`oakley connect --use-peer-dns`), and giving the
 * previous setting back on disconnect. With systemd-resolved (resolvectl present and its stub
 * running) the servers are set on the TUN link with the routing domain "~." (all names);
 * otherwise /etc/resolv.conf is replaced and its previous content restored on undo. A crash
 * leaves the backup in /run/oakley/resolv.conf.<device>.backup for the next start to restore.
 * (Content is copied, not renamed: /etc/resolv.conf may be a bind mount, e.g. in a netns.)
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { err, ok, type Result } from "../base/result.js";
import { type PlatformError, PlatformErrorCode, platformError } from "./errors.js";

const RESOLV = "/etc/resolv.conf";
const BACKUP_DIR = "/run/oakley";
const backupFor = (device: string) => `${BACKUP_DIR}/resolv.conf.${device}.backup`;

function run(cmd: string, args: readonly string[]): Promise<boolean> {
  return new Promise((r) => execFile(cmd, [...args], { timeout: 10_000 }, (e) => r(!e)));
}

/** Restores a resolv.conf left behind by a crashed earlier run on `device`. */
export function restoreStaleDns(device: string): void {
  const b = backupFor(device);
  if (!existsSync(b)) return;
  writeFileSync(RESOLV, readFileSync(b));
  unlinkSync(b);
}

export async function applyDns(
  device: string,
  servers: readonly string[],
): Promise<Result<() => Promise<void>, PlatformError>> {
  if (servers.length === 0) return ok(async () => {});
  if (
    existsSync("/run/systemd/resolve/stub-resolv.conf") &&
    (await run("resolvectl", ["dns", device, ...servers]))
  ) {
    await run("resolvectl", ["domain", device, "~."]);
    return ok(async () => {
      await run("resolvectl", ["revert", device]);
    });
  }
  try {
    restoreStaleDns(device);
    const previous = existsSync(RESOLV) ? readFileSync(RESOLV, "utf8") : undefined;
    mkdirSync(BACKUP_DIR, { recursive: true, mode: 0o700 });
    const backup = backupFor(device);
    if (previous !== undefined) writeFileSync(backup, previous);
    writeFileSync(
      RESOLV,
      `# written by oakley connect (${device}); restored on disconnect\n${servers.map((s) => `nameserver ${s}`).join("\n")}\n`,
    );
    return ok(async () => {
      if (previous !== undefined) writeFileSync(RESOLV, previous);
      if (existsSync(backup)) unlinkSync(backup);
    });
  } catch (e) {
    return err(
      platformError(
        PlatformErrorCode.Command,
        `cannot set DNS in ${RESOLV}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      ),
    );
  }
}
