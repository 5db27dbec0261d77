/**
 * Shared pieces of the tunnel benchmarks that run in the strongSwan NAT lab
 * (test/interop/strongswan/lab.ts): CPU time of the processes in a namespace, iperf3 through a
 * tunnel, ping RTT, and Oakley's ESP-only tunnel (statically keyed SAs, no IKE/L2TP/PPP) used by
 * bench/esp-tunnel.ts and, as the baseline, by bench/l2tp.ts.
 */
import { readFileSync } from "node:fs";
import type { EspSuite } from "../src/crypto/esp/index.js";
import { randomKeys, spawnEspPeer } from "../test/interop/esp/oakley-esp-peer.js";
import type { JsonLinesPeer } from "../test/interop/lib/jsonl.js";
import { LAB_ADDR, type Lab } from "../test/interop/strongswan/lab.js";
import { nsRun, run } from "../test/interop/strongswan/proc.js";

const CLK_TCK = 100;

/** utime+stime (seconds) of one process, from /proc/PID/stat; 0 if it has ended. */
export function pidCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** utime+stime (seconds) of the processes in `ns` whose command is one of `comms`. */
export async function cpuOf(ns: string, comms: readonly string[]): Promise<number> {
  const r = await run("ip", ["netns", "pids", ns]);
  let s = 0;
  for (const pid of r.stdout.split(/\s+/).filter(Boolean)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (comms.includes(comm)) s += pidCpu(Number(pid));
    } catch {
      // process ended
    }
  }
  return s;
}

/** CPU seconds of the `comms` processes in the lab's client and server namespaces. */
export async function endpointsCpu(lab: Lab, comms: readonly string[]): Promise<number> {
  return (await cpuOf(lab.ns.client, comms)) + (await cpuOf(lab.ns.server, comms));
}

export interface IperfResult {
  readonly gbps: number;
  readonly retransmits: number;
}

/**
 * iperf3 TCP, one stream, from the lab's client namespace to `target` (an iperf3 server must
 * listen there on 5201). `reverse`: the server sends (iperf3 -R, "download").
 */
export async function iperf(
  lab: Lab,
  target: string,
  opts: { seconds: number; bind?: string | undefined; reverse?: boolean },
): Promise<IperfResult> {
  const args = [
    "-c",
    target,
    "-t",
    String(opts.seconds),
    "-P",
    "1",
    "-J",
    ...(opts.bind ? ["-B", opts.bind] : []),
    ...(opts.reverse ? ["-R"] : []),
  ];
  const r = await nsRun(lab.ns.client, "iperf3", args, { timeoutMs: (opts.seconds + 30) * 1000 });
  if (r.code !== 0)
    throw new Error(`iperf3 failed (${r.code}): ${r.stderr || r.stdout.slice(0, 500)}`);
  const j = JSON.parse(r.stdout) as {
    end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } };
  };
  return {
    gbps: j.end.sum_received.bits_per_second / 1e9,
    retransmits: j.end.sum_sent.retransmits ?? 0,
  };
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** `count` pings `intervalS` apart (default 0.1 s: idle) from `ns` to `target`; the RTTs in ms. */
export async function pingRtts(
  ns: string,
  target: string,
  count: number,
  source?: string,
  intervalS = 0.1,
): Promise<number[]> {
  const r = await nsRun(
    ns,
    "ping",
    [
      "-n",
      "-c",
      String(count),
      "-i",
      String(intervalS),
      "-W",
      "2",
      ...(source ? ["-I", source] : []),
      target,
    ],
    { timeoutMs: count * 1000 + 10_000 },
  );
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length === 0) throw new Error(`no ping reply from ${target}: ${r.stdout}${r.stderr}`);
  return rtts;
}

export type StartOptions = Record<string, boolean | number | string>;

/** Oakley's ESP-only tunnel between the lab's client and server, up and pinged. */
export interface EspOnlyTunnel {
  readonly peers: readonly JsonLinesPeer[];
  /** Stats lines of both ends (driver, UDP and TUN counters). */
  stats(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Starts src/daemon/esp-driver.ts in the client and server namespaces with statically keyed
 * tunnel-mode SAs of `suite` (ESP-in-UDP 4500 across the NAT, TUN MTU 1400): client
 * 192.0.2.2 <-> 203.0.113.1 (the server's "inside" address). `nodeFlags(side)`: extra node flags.
 */
export async function oakleyEspOnly(
  lab: Lab,
  suite: EspSuite,
  extra: StartOptions = {},
  nodeFlags: (side: "client" | "server") => string[] = () => [],
): Promise<EspOnlyTunnel> {
  const peers: JsonLinesPeer[] = [];
  const close = async (): Promise<void> => {
    for (const peer of peers) {
      await peer.request("close").catch(() => undefined);
      await peer.close(5000);
    }
  };
  try {
    const c = spawnEspPeer(lab.ns.client, "oak-client", nodeFlags("client")).peer;
    peers.push(c);
    const v = spawnEspPeer(lab.ns.server, "oak-server", nodeFlags("server")).peer;
    peers.push(v);
    const start = (route: string) => ({
      ...extra,
      natt: { address: "0.0.0.0", port: 4500 },
      tun: { name: "oak0", mtu: 1400, routes: [{ destination: route, prefixLength: 32 }] },
    });
    await c.request("start", start(LAB_ADDR.serverNet), 30_000);
    await v.request("start", start(LAB_ADDR.client), 30_000);
    const kCS = randomKeys(suite);
    const kSC = randomKeys(suite);
    const s = { encryption: suite.encryption, integrity: suite.integrity };
    await c.request("installPair", {
      mode: "tunnel",
      suite: s,
      spiOut: 0xc5000001,
      spiIn: 0x5c000001,
      keysOut: kCS,
      keysIn: kSC,
      local: LAB_ADDR.client,
      remote: LAB_ADDR.server,
      peer: { address: LAB_ADDR.server, port: 4500 },
      policy: { local: [`${LAB_ADDR.client}/32`], remote: [`${LAB_ADDR.serverNet}/32`] },
    });
    await v.request("installPair", {
      mode: "tunnel",
      suite: s,
      spiOut: 0x5c000001,
      spiIn: 0xc5000001,
      keysOut: kSC,
      keysIn: kCS,
      local: LAB_ADDR.server,
      remote: LAB_ADDR.natOutside,
      peer: { address: LAB_ADDR.natOutside, port: 4500 },
      policy: { local: [`${LAB_ADDR.serverNet}/32`], remote: [`${LAB_ADDR.client}/32`] },
    });
    const p = await nsRun(lab.ns.client, "ping", [
      "-c",
      "1",
      "-W",
      "3",
      "-I",
      LAB_ADDR.client,
      LAB_ADDR.serverNet,
    ]);
    if (p.code !== 0) throw new Error(`no ping through the Oakley tunnel: ${p.stdout}`);
  } catch (e) {
    await close();
    throw e;
  }
  return {
    peers,
    close,
    async stats() {
      const out: string[] = [];
      for (const peer of peers) {
        const st = (await peer.request("stats")) as {
          driver: Record<string, number>;
          udp: Record<string, number> | null;
          tun: Record<string, number> | null;
        };
        out.push(
          `${peer.label}: rxEsp ${st.driver.rxEsp} rxDropped ${st.driver.rxDropped} txEsp ${st.driver.txEsp} txDropped ${st.driver.txDropped} tunWriteFailed ${st.driver.tunWriteFailed} udp rxBatches ${st.udp?.rxBatches} txBatches ${st.udp?.txBatches} txDropped ${st.udp?.txDropped} tun rx ${st.tun?.rxPackets}/${st.tun?.rxSuperPackets ?? "-"} tx ${st.tun?.txPackets}/${st.tun?.txSuperPackets ?? "-"}`,
        );
      }
      return out;
    },
  };
}
