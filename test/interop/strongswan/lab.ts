/**
 * The three-namespace NAT lab used by the strongSwan interop tests (RFC 3947/3948 NAT-T
 * scenarios): a client behind a MASQUERADE NAT, and a server on the "outside".
 *
 *   <p>-client                  <p>-nat                                <p>-server
 *   c0 192.0.2.2/24  <--veth-->  n0 192.0.2.1/24
 *   default via 192.0.2.1        n1 198.51.100.1/24  <--veth-->  s0 198.51.100.2/24
 *                                MASQUERADE -s 192.0.2.0/24 -o n1      lo: 203.0.113.1/32
 *                                (capture point: n1 = NAT outside)     (no route to 192.0.2.0/24)
 *
 * <p> = "oak-ss-<tag>" (tag defaults to the test process' PID, so parallel runs of different
 * engineers do not collide and stale labs of dead processes can be found). Only RFC 5737
 * documentation addresses are used; nothing is created in the root namespace (the veths are
 * created inside the namespaces). IPv6 is off in the lab namespaces (clean captures).
 *
 * Leaves out: IPv6 topologies; more than one client.
 */
import {
  deleteNetnsSync,
  nsRun,
  nsRunOk,
  onProcessExit,
  run,
  runOk,
  sleep,
  waitFor,
} from "./proc.js";

export const NS_PREFIX = "oak-ss-";

/** Addresses of the lab (fixed; every lab lives in its own namespaces). */
export const LAB_ADDR = {
  client: "192.0.2.2",
  natInside: "192.0.2.1",
  natOutside: "198.51.100.1",
  server: "198.51.100.2",
  /** On the server's lo: the "network behind the server", target of tunnel-mode tests. */
  serverNet: "203.0.113.1",
  clientNet: "192.0.2.0/24",
} as const;

/** Interface names inside the namespaces. */
export const LAB_IF = {
  client: "c0",
  natInside: "n0",
  /** The NAT's outside interface: where "the Internet" sees the traffic. */
  natOutside: "n1",
  server: "s0",
} as const;

/** Debian 12 packages the strongSwan harness needs (see test/interop/README.md). */
export const REQUIRED_PACKAGES = [
  "strongswan-charon",
  "strongswan-swanctl",
  "libcharon-extra-plugins", // kernel-libipsec (userspace ESP)
  "libstrongswan-extra-plugins",
  "libstrongswan-standard-plugins", // openssl (ECP groups), gcm (AES-GCM ESP)
  "iproute2",
  "iptables",
  "iputils-ping",
  "tcpdump",
  "tshark",
  "socat",
] as const;

/** Returns the packages (of `names`) that are not installed. */
export async function missingPackages(
  names: readonly string[] = REQUIRED_PACKAGES,
): Promise<string[]> {
  const missing: string[] = [];
  for (const p of names) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
    const r = await run("dpkg-query", ["-W", "-f=${Status}", p]);
    if (!r.stdout.includes("install ok installed")) missing.push(p);
  }
  return missing;
}

/**
 * Why the lab cannot run here (not root, packages missing), or undefined if it can. Tests use
 * it as `{ skip: await labUnavailable() }` so a developer machine without root skips them
 * with a reason; CI (root, packages from .ci/run) runs them.
 */
export async function labUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  const missing = await missingPackages();
  if (missing.length > 0) return `missing Debian packages: ${missing.join(" ")}`;
  return undefined;
}

export interface Lab {
  readonly tag: string;
  readonly ns: { readonly client: string; readonly nat: string; readonly server: string };
  /** Deletes the namespaces (and everything in them). Idempotent. */
  down(): Promise<void>;
}

function nsNames(tag: string): Lab["ns"] {
  return {
    client: `${NS_PREFIX}${tag}-client`,
    nat: `${NS_PREFIX}${tag}-nat`,
    server: `${NS_PREFIX}${tag}-server`,
  };
}

async function netnsList(): Promise<string[]> {
  const r = await run("ip", ["netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.length > 0);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Kills every process still inside `ns` (all were started by a harness) and deletes it. */
export async function destroyNetns(ns: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const r = await run("ip", ["netns", "pids", ns]);
    const pids = r.stdout
      .split("\n")
      .map((s) => Number.parseInt(s, 10))
      .filter((n) => Number.isInteger(n) && n > 1);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, round === 0 ? "SIGTERM" : "SIGKILL");
      } catch {
        /* gone */
      }
    }
    await sleep(round === 0 ? 1000 : 300);
  }
  await run("ip", ["netns", "del", ns]);
}

/**
 * Deletes `oak-ss-<pid>-*` namespaces whose owning test process is dead (left behind by a
 * crash or kill -9). Labs of live processes (other engineers' runs) are left alone.
 */
export async function cleanupStaleLabs(prefix = NS_PREFIX): Promise<string[]> {
  const removed: string[] = [];
  const re = new RegExp(`^${prefix}(\\d+)-(?:client|nat|server)$`);
  for (const ns of await netnsList()) {
    const m = re.exec(ns);
    if (!m?.[1]) continue;
    if (pidAlive(Number(m[1]))) continue;
    await destroyNetns(ns);
    removed.push(ns);
  }
  return removed;
}

export interface LabOptions {
  /** Namespace tag; default: this process' PID. */
  readonly tag?: string;
  /** Verify that the server sees the NAT's outside address (default true). */
  readonly selfCheck?: boolean;
}

/** Builds the topology. On any failure it removes what it created and throws. */
export async function labUp(opts: LabOptions = {}): Promise<Lab> {
  const tag = opts.tag ?? String(process.pid);
  const ns = nsNames(tag);
  await cleanupStaleLabs();
  const existing = await netnsList();
  for (const n of Object.values(ns)) if (existing.includes(n)) await destroyNetns(n);

  let isDown = false;
  const removeHook = onProcessExit(() => {
    for (const n of Object.values(ns)) deleteNetnsSync(n);
  });
  const lab: Lab = {
    tag,
    ns,
    async down() {
      if (isDown) return;
      isDown = true;
      for (const n of Object.values(ns)) await destroyNetns(n);
      removeHook();
    },
  };
  try {
    const A = LAB_ADDR;
    const I = LAB_IF;
    for (const n of Object.values(ns)) {
      await runOk("ip", ["netns", "add", n]);
      await runOk("ip", ["-n", n, "link", "set", "lo", "up"]);
      await nsRunOk(n, "sysctl", [
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
      ]);
    }
    const ip = (n: string, ...args: string[]): Promise<string> => runOk("ip", ["-n", n, ...args]);
    await ip(
      ns.client,
      "link",
      "add",
      I.client,
      "type",
      "veth",
      "peer",
      "name",
      I.natInside,
      "netns",
      ns.nat,
    );
    await ip(
      ns.nat,
      "link",
      "add",
      I.natOutside,
      "type",
      "veth",
      "peer",
      "name",
      I.server,
      "netns",
      ns.server,
    );
    await ip(ns.client, "addr", "add", `${A.client}/24`, "dev", I.client);
    await ip(ns.client, "link", "set", I.client, "up");
    await ip(ns.client, "route", "add", "default", "via", A.natInside);
    await ip(ns.nat, "addr", "add", `${A.natInside}/24`, "dev", I.natInside);
    await ip(ns.nat, "addr", "add", `${A.natOutside}/24`, "dev", I.natOutside);
    await ip(ns.nat, "link", "set", I.natInside, "up");
    await ip(ns.nat, "link", "set", I.natOutside, "up");
    await nsRunOk(ns.nat, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    await nsRunOk(ns.nat, "iptables", [
      "-t",
      "nat",
      "-A",
      "POSTROUTING",
      "-s",
      A.clientNet,
      "-o",
      I.natOutside,
      "-j",
      "MASQUERADE",
    ]);
    await ip(ns.server, "addr", "add", `${A.server}/24`, "dev", I.server);
    await ip(ns.server, "addr", "add", `${A.serverNet}/32`, "dev", "lo");
    await ip(ns.server, "link", "set", I.server, "up");
    if (opts.selfCheck ?? true) await selfCheck(lab);
    return lab;
  } catch (e) {
    await lab.down();
    throw e;
  }
}

/**
 * ping client -> server through the NAT. The server has no route to 192.0.2.0/24, so a reply
 * proves that the server saw the NAT's outside address (MASQUERADE works).
 */
async function selfCheck(lab: Lab): Promise<void> {
  await waitFor(
    "ping client -> server through the NAT",
    async () => {
      const r = await nsRun(lab.ns.client, "ping", ["-c", "1", "-W", "1", LAB_ADDR.server]);
      return r.code === 0 ? true : undefined;
    },
    5000,
    200,
  );
}
