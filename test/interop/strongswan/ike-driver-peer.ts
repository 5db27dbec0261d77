/**
 * Oakley's IKE engine as an interop peer: test/peers/ike-driver.ts (real UDP 500/4500) started
 * in a lab namespace, its stdout JSON lines read back as events; and the swanctl-side check that
 * strongSwan holds one established, floated IKEv1 SA with an installed UDP-encapsulated child.
 * Used by ike-strongswan.test.ts and ike-strongswan-cert.test.ts. Test tooling (root only).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Charon } from "./charon.js";
import { Daemon, waitFor } from "./proc.js";
import { viciSec, viciStr } from "./vici.js";

const root = join(import.meta.dirname, "..", "..", "..");
const dirs: string[] = [];

export interface IkeDriverLine {
  readonly event?: { readonly type: string; readonly [k: string]: unknown };
  readonly install?: { readonly mode: string; readonly [k: string]: unknown };
  readonly "remove-child-sa"?: unknown;
  readonly ready?: unknown;
}

/** test/peers/ike-driver.ts in a namespace; its stdout lines are JSON events. */
export class IkeDriverPeer {
  private constructor(
    private readonly d: Daemon,
    private readonly file: string,
  ) {}

  /** Starts the driver (listening on `address`, initiating when `initiate` is given). */
  static async start(
    ns: string,
    address: string,
    config: object,
    initiate?: object,
  ): Promise<IkeDriverPeer> {
    const dir = mkdtempSync(join(tmpdir(), "oak-ike-"));
    dirs.push(dir);
    const file = join(dir, "oakley.log");
    const args = [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--import",
      "tsx",
      join(root, "test/peers/ike-driver.ts"),
      "--listen",
      address,
      "--config",
      JSON.stringify(config),
      ...(initiate ? ["--initiate", JSON.stringify(initiate)] : []),
    ];
    const d = Daemon.start("oakley-ike", "ip", args, file, { NODE_NO_WARNINGS: "1" });
    const o = new IkeDriverPeer(d, file);
    await waitFor(
      "Oakley ready",
      () => (o.lines().some((l) => l.ready) ? true : undefined),
      20_000,
    );
    return o;
  }

  /** Removes the log directories of every peer started so far (call from `after`). */
  static removeLogs(): void {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }

  lines(): IkeDriverLine[] {
    let text = "";
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .filter((l) => l.startsWith("{") && !l.includes('"level"'))
      .map((l) => JSON.parse(l) as IkeDriverLine);
  }

  events(type: string) {
    return this.lines().flatMap((l) => (l.event?.type === type ? [l.event] : []));
  }

  log(): string {
    return this.d.log();
  }

  stop(): Promise<void> {
    return this.d.stop();
  }
}

/**
 * `swanctl --list-sas` on `c`: one IKEv1 SA, ESTABLISHED, floated to 4500 (with `remoteId` as
 * the peer's identity when given), and its child INSTALLED in tunnel mode, UDP-encapsulated.
 */
export async function checkStrongswanTunnel(c: Charon, remoteId?: string): Promise<void> {
  const sas = await c.listSas();
  const sa = sas.ikeSas[0]?.sa;
  assert.ok(sa, `strongSwan lists an IKE SA:\n${sas.raw}`);
  assert.equal(viciStr(sa, "version"), "1");
  assert.equal(viciStr(sa, "state"), "ESTABLISHED");
  assert.equal(viciStr(sa, "local-port"), "4500", "floated to 4500");
  if (remoteId !== undefined) assert.equal(viciStr(sa, "remote-id"), remoteId);
  const children = viciSec(sa, "child-sas");
  const child = viciSec(children, Object.keys(children)[0] ?? "");
  assert.equal(viciStr(child, "state"), "INSTALLED", sas.raw);
  assert.equal(viciStr(child, "mode"), "TUNNEL");
  assert.equal(viciStr(child, "encap"), "yes");
}
