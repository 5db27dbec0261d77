/**
 * Network-namespace topologies for interop tests (root required; needs iproute2, tcpdump, and
 * nftables or iptables for NAT boxes).
 *
 *   const topo = new Topology(import.meta.filename);   // top level: registers after(teardown)
 *   const c = await topo.namespace("client"), n = await topo.namespace("nat");
 *   await topo.link(c, "eth0", n, "in0");                        // veth pair, both ends up
 *   await topo.address(c, "eth0", "192.0.2.2/24");  ... await topo.route(c, "default", "192.0.2.1");
 *   await topo.masquerade(n, "out0", "192.0.2.0/24");
 *   const peer = topo.spawnModule(c, "test/interop/peers/foo.ts");   // JSON lines over stdio
 *
 * Names: namespaces are `oakt-<tag>-<pid>-<name>`, where tag is derived from the test file
 * name, so parallel files and a crashed earlier run never collide; interfaces live inside the
 * namespaces (created with `ip -n`), so their names only need to be unique per namespace (and
 * are checked to be at most 15 bytes). Addresses are confined to the documentation ranges
 * 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (RFC 5737): anything else is refused.
 *
 * teardown() kills every process we started and every process left in our namespaces, then
 * deletes the namespaces; it runs from node:test's `after` even when a test failed.
 * cleanupStale() removes namespaces of earlier runs whose pid no longer exists.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { after } from "node:test";
import { JsonLinesPeer } from "./jsonl.js";

const PREFIX = "oakt-";
const ROOT = resolve(import.meta.dirname, "../../..");

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** Runs argv (no shell) and rejects with the command, exit code and stderr on failure. */
export function run(argv: readonly string[], timeoutMs = 20_000): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error("run: empty command"));
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      if (e) {
        rej(
          new Error(
            `command failed: ${argv.join(" ")}\n  exit: ${String((e as { code?: unknown }).code)}\n  stderr: ${String(stderr).trim()}`,
          ),
        );
      } else res({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export async function hasCommand(cmd: string): Promise<boolean> {
  try {
    await run(["sh", "-c", `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Reason to skip an interop test on this machine, or undefined when it can run. */
export async function interopSkipReason(
  needs: readonly string[] = ["ip"],
  opts: { nat?: boolean } = {},
): Promise<string | undefined> {
  if (!isRoot()) return "interop tests need root (network namespaces)";
  for (const c of needs) if (!(await hasCommand(c))) return `${c} is not installed`;
  if (opts.nat && !(await hasCommand("nft")) && !(await hasCommand("iptables"))) {
    return "a NAT box needs nft (nftables) or iptables";
  }
  return undefined;
}

const DOC_NETS = [0xc0000200, 0xc6336400, 0xcb007100]; // 192.0.2/24, 198.51.100/24, 203.0.113/24

function ipv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((a, p) => a * 256 + p, 0) >>> 0;
}

/** Throws unless `addr` (optionally with /len) lies in one of the RFC 5737 ranges. */
export function assertDocAddress(addr: string): void {
  const [a, len] = addr.split("/");
  const v = a === undefined ? undefined : ipv4(a);
  const l = len === undefined ? 32 : Number(len);
  if (
    v === undefined ||
    !Number.isInteger(l) ||
    l < 24 ||
    l > 32 ||
    !DOC_NETS.includes((v & 0xffffff00) >>> 0)
  ) {
    throw new Error(
      `netns: address ${addr} is outside 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (RFC 5737): refused`,
    );
  }
}

function checkIfName(name: string): void {
  if (Buffer.byteLength(name) > 15 || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new Error(`netns: interface name "${name}" must be 1-15 characters [A-Za-z0-9_.-]`);
  }
}

export interface Namespace {
  /** Full namespace name (`ip netns exec <name>`). */
  readonly name: string;
  /** The short name given to namespace(). */
  readonly short: string;
}

export interface Capture {
  readonly file: string;
  /** Stops tcpdump (flushing the file) and resolves when it has exited. */
  stop(): Promise<void>;
}

async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run(["ip", "netns", "list"]);
  return stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.length > 0);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

async function killNamespacePids(ns: string): Promise<void> {
  let pids: number[] = [];
  try {
    const { stdout } = await run(["ip", "netns", "pids", ns]);
    pids = stdout.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function deleteNamespace(ns: string): Promise<void> {
  await killNamespacePids(ns);
  for (let i = 0; i < 20; i++) {
    try {
      await run(["ip", "netns", "delete", ns]);
      return;
    } catch {
      if (!(await listNamespaces()).includes(ns)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Removes namespaces left by earlier runs (their pid is dead). Returns the names removed. */
export async function cleanupStale(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNamespaces()) {
    if (!ns.startsWith(PREFIX)) continue;
    const pid = Number(ns.split("-")[2]);
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) continue;
    await deleteNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

export class Topology {
  readonly prefix: string;
  readonly dir: string;
  private readonly namespaces: Namespace[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly captures: Capture[] = [];
  private tornDown = false;

  private staleChecked = false;

  /**
   * A topology for one test file; `testFile` (import.meta.filename) gives the tag. Call it at
   * the top level of the test file: it registers teardown with node:test's `after` there, so
   * teardown runs when the file's tests are done, also after failures. (Registering `after`
   * inside a `before` hook would run it right after that hook.) Pass `registerAfter: false` to
   * call teardown() yourself, e.g. in a finally block.
   */
  constructor(testFile: string, registerAfter = true) {
    const base = basename(testFile).replace(/\.test\.ts$|\.ts$/, "");
    const tag = `${base.replace(/[^a-z0-9]/gi, "").slice(0, 6)}${createHash("sha256").update(base).digest("hex").slice(0, 4)}`;
    this.prefix = `${PREFIX}${tag}-${process.pid}-`;
    this.dir = mkdtempSync(join(tmpdir(), `${PREFIX}${tag}-`));
    if (registerAfter) after(() => this.teardown());
  }

  /** Creates `<prefix><short>` with lo up, IPv6 off (quiet captures) and rp_filter off. */
  async namespace(short: string): Promise<Namespace> {
    if (!this.staleChecked) {
      this.staleChecked = true;
      await cleanupStale();
    }
    const name = `${this.prefix}${short}`;
    await run(["ip", "netns", "add", name]);
    const ns = { name, short };
    this.namespaces.push(ns);
    await run(["ip", "-n", name, "link", "set", "lo", "up"]);
    await this.exec(ns, [
      "sysctl",
      "-qw",
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
      "net.ipv4.conf.all.rp_filter=0",
      "net.ipv4.conf.default.rp_filter=0",
    ]);
    return ns;
  }

  /** A veth pair: `ifA` in `a`, `ifB` in `b`, both up. */
  async link(a: Namespace, ifA: string, b: Namespace, ifB: string, mtu?: number): Promise<void> {
    checkIfName(ifA);
    checkIfName(ifB);
    await run([
      "ip",
      "-n",
      a.name,
      "link",
      "add",
      ifA,
      "type",
      "veth",
      "peer",
      "name",
      ifB,
      "netns",
      b.name,
    ]);
    if (mtu !== undefined) {
      await run(["ip", "-n", a.name, "link", "set", ifA, "mtu", String(mtu)]);
      await run(["ip", "-n", b.name, "link", "set", ifB, "mtu", String(mtu)]);
    }
    await run(["ip", "-n", a.name, "link", "set", ifA, "up"]);
    await run(["ip", "-n", b.name, "link", "set", ifB, "up"]);
  }

  /** Adds `cidr` (e.g. "192.0.2.2/24") to `iface` (may be "lo"). */
  async address(ns: Namespace, iface: string, cidr: string): Promise<void> {
    assertDocAddress(cidr);
    await run(["ip", "-n", ns.name, "addr", "add", cidr, "dev", iface]);
  }

  /** `ip route add <dest> via <gateway>` ("default" or a CIDR); `dev` instead of a gateway. */
  async route(
    ns: Namespace,
    dest: string,
    via: { gateway: string } | { dev: string },
  ): Promise<void> {
    if (dest !== "default") assertDocAddress(dest);
    const tail = "gateway" in via ? ["via", via.gateway] : ["dev", via.dev];
    if ("gateway" in via) assertDocAddress(via.gateway);
    await run(["ip", "-n", ns.name, "route", "add", dest, ...tail]);
  }

  async forwarding(ns: Namespace, on = true): Promise<void> {
    await this.exec(ns, ["sysctl", "-qw", `net.ipv4.ip_forward=${on ? 1 : 0}`]);
  }

  /**
   * Source NAT box: packets from `srcCidr` leaving `outIface` get `outIface`'s address.
   * `randomPorts`: every new mapping gets a random source port (as a carrier-grade NAT does)
   * instead of keeping the inside port, so a flushed mapping comes back as a different one.
   */
  async masquerade(
    ns: Namespace,
    outIface: string,
    srcCidr: string,
    opts: { randomPorts?: boolean } = {},
  ): Promise<void> {
    assertDocAddress(srcCidr);
    await this.forwarding(ns);
    if (await hasCommand("nft")) {
      await this.nft(ns, [
        "add table ip oaknat",
        "add chain ip oaknat post { type nat hook postrouting priority srcnat; }",
        `add rule ip oaknat post ip saddr ${srcCidr} oifname "${outIface}" masquerade${opts.randomPorts ? " random" : ""}`,
      ]);
    } else {
      await this.exec(ns, [
        "iptables",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        srcCidr,
        "-o",
        outIface,
        "-j",
        "MASQUERADE",
        ...(opts.randomPorts ? ["--random"] : []),
      ]);
    }
  }

  /**
   * Port-forwarding NAT box in front of a server: UDP `ports` arriving at `publicAddr` on
   * `outsideIface` go to `insideAddr` (same port), e.g. a server behind NAT with 500/4500 forwarded.
   */
  async portForward(
    ns: Namespace,
    outsideIface: string,
    publicAddr: string,
    insideAddr: string,
    ports: readonly number[] = [500, 4500],
  ): Promise<void> {
    assertDocAddress(publicAddr);
    assertDocAddress(insideAddr);
    await this.forwarding(ns);
    if (await hasCommand("nft")) {
      const set = ports.join(", ");
      await this.nft(ns, [
        "add table ip oakdnat",
        "add chain ip oakdnat pre { type nat hook prerouting priority dstnat; }",
        `add rule ip oakdnat pre iifname "${outsideIface}" ip daddr ${publicAddr} udp dport { ${set} } dnat to ${insideAddr}`,
      ]);
    } else {
      for (const p of ports) {
        await this.exec(ns, [
          "iptables",
          "-t",
          "nat",
          "-A",
          "PREROUTING",
          "-i",
          outsideIface,
          "-d",
          publicAddr,
          "-p",
          "udp",
          "--dport",
          String(p),
          "-j",
          "DNAT",
          "--to-destination",
          insideAddr,
        ]);
      }
    }
  }

  private async nft(ns: Namespace, commands: readonly string[]): Promise<void> {
    for (const c of commands) await this.exec(ns, ["nft", c]);
  }

  /** Runs argv inside `ns` and returns its output; rejects on non-zero exit. */
  exec(ns: Namespace, argv: readonly string[], timeoutMs = 20_000): Promise<ExecResult> {
    return run(["ip", "netns", "exec", ns.name, ...argv], timeoutMs);
  }

  /** Starts a long-running process in `ns`; killed in teardown. */
  spawn(ns: Namespace, argv: readonly string[]): ChildProcess {
    const child = spawn("ip", ["netns", "exec", ns.name, ...argv], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /**
   * Starts `node --import tsx <module> ...args` in `ns` and talks to it in JSON lines over
   * stdio (see jsonl.ts; the module uses serveJsonLines from child.ts).
   */
  spawnModule(ns: Namespace, modulePath: string, args: readonly string[] = []): JsonLinesPeer {
    const abs = resolve(ROOT, modulePath);
    const child = this.spawn(ns, [process.execPath, "--import", "tsx", abs, ...args]);
    return new JsonLinesPeer(child, `${ns.short}:${basename(modulePath)}`);
  }

  /** tcpdump on `iface` in `ns` writing a pcap; resolves once tcpdump is listening. */
  async capture(
    ns: Namespace,
    iface: string,
    filter = "",
    name = `${ns.short}-${iface}`,
  ): Promise<Capture> {
    const file = join(this.dir, `${name}.pcap`);
    // --immediate-mode: without it packets wait in the kernel ring for the buffer timeout, and a
    // SIGINT before that loses them.
    const argv = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-s", "0", "-w", file];
    if (filter) argv.push(filter);
    const child = this.spawn(ns, argv);
    await new Promise<void>((res, rej) => {
      let err = "";
      const t = setTimeout(() => rej(new Error(`tcpdump did not start: ${err}`)), 10_000);
      child.stderr?.on("data", (d: Buffer) => {
        err += d.toString();
        if (err.includes("listening on")) {
          clearTimeout(t);
          res();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(t);
        rej(new Error(`tcpdump exited (${code}): ${err}`));
      });
    });
    const cap: Capture = {
      file,
      stop: () =>
        new Promise<void>((res) => {
          if (child.exitCode !== null) return res();
          child.once("exit", () => res());
          child.kill("SIGINT");
        }),
    };
    this.captures.push(cap);
    return cap;
  }

  /** Reads a capture back as text with tshark/tcpdump (for assertions). */
  async readCapture(cap: Capture): Promise<string> {
    const { stdout } = await run(["tcpdump", "-n", "-r", cap.file]);
    return stdout;
  }

  readCaptureBytes(cap: Capture): Buffer {
    return readFileSync(cap.file);
  }

  /** Names of this topology's namespaces that still exist. */
  async remaining(): Promise<string[]> {
    return (await listNamespaces()).filter((n) => n.startsWith(this.prefix));
  }

  /** Kills our processes and deletes our namespaces. Safe to call twice; never rejects. */
  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const c of this.captures) await c.stop().catch(() => {});
    for (const child of this.children) {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }
    for (const ns of [...this.namespaces].reverse()) await deleteNamespace(ns.name).catch(() => {});
  }
}
