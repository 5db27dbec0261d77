/**
 * End-to-end ESP tunnel throughput (not a test; root): iperf3 TCP, one stream, through
 *   - no IPsec (baseline: client -> NAT -> server, plain forwarding and MASQUERADE),
 *   - strongSwan <-> strongSwan userspace ESP (charon with kernel-libipsec, IKEv1 PSK),
 *   - Oakley <-> Oakley (src/daemon/esp-driver.ts, statically keyed SAs),
 * each with AES-128-GCM-16 and AES-128-CBC + HMAC-SHA1-96, tunnel mode, ESP-in-UDP 4500 across
 * the NAT, in the same three namespaces of the strongSwan lab (test/interop/strongswan/lab.ts)
 * in the same run: client 192.0.2.2 -> 203.0.113.1 (the server's "inside" address), TUN MTU
 * 1400 on both implementations (kernel-libipsec's default).
 *
 * Besides Gbit/s it reports the CPU time the two ESP endpoints (charon / node processes in the
 * namespaces) used during the run, read from /proc/PID/stat: on a shared 2-core machine Gbit
 * per endpoint CPU-second is the steadier figure. Rounds alternate the order of the configs.
 *
 *   sudo npx tsx bench/esp-tunnel.ts [--seconds 10] [--rounds 1] [--only oakley|strongswan]
 *                                    [--profile DIR]   (--cpu-prof of both Oakley peers)
 *                                    [--suites gcm|cbc] [--no-baseline]
 *                                    [--variants '{"label": {start options}, ...}']
 * --variants runs Oakley once per variant in each round (e.g. with and without an offload:
 * '{"plain": {"udpOffload": false}, "gso": {}}'), so a change and its baseline are measured back
 * to back under the same load; the start options are those of test/interop/esp/oakley-esp-peer.ts.
 */
import { mkdirSync, readFileSync } from "node:fs";
import type { EspSuite } from "../src/crypto/esp/index.js";
import { type Charon, startInitiator, startResponder } from "../test/interop/strongswan/charon.js";
import { swanctlConf } from "../test/interop/strongswan/conf.js";
import { LAB_ADDR, type Lab, labUnavailable, labUp } from "../test/interop/strongswan/lab.js";
import { type Daemon, nsDaemon, nsRun, sleep } from "../test/interop/strongswan/proc.js";
import {
  endpointsCpu,
  iperf as labIperf,
  median,
  oakleyEspOnly,
  type StartOptions,
} from "./lab-tunnel.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const SECONDS = Number(opt("seconds") ?? "10");
const ROUNDS = Number(opt("rounds") ?? "1");
const ONLY = opt("only");
const PROFILE = opt("profile");
const SUITE_FILTER = opt("suites");
const NO_BASELINE = argv.includes("--no-baseline");
const VARIANTS: Record<string, StartOptions> = JSON.parse(opt("variants") ?? '{"": {}}') as Record<
  string,
  StartOptions
>;

interface SuiteDef {
  readonly label: string;
  readonly oakley: EspSuite;
  readonly strongswan: string;
}
const ALL_SUITES: readonly SuiteDef[] = [
  {
    label: "AES-128-GCM-16",
    oakley: { encryption: "aes128-gcm16", integrity: "none" },
    strongswan: "aes128gcm16",
  },
  {
    label: "AES-128-CBC/HMAC-SHA1-96",
    oakley: { encryption: "aes128-cbc", integrity: "hmac-sha1-96" },
    strongswan: "aes128-sha1",
  },
];
const SUITES = ALL_SUITES.filter(
  (s) => SUITE_FILTER === undefined || s.label.toLowerCase().includes(SUITE_FILTER),
);

interface Result {
  readonly config: string;
  readonly impl: string;
  readonly suite: string;
  readonly gbps: number;
  readonly retransmits: number;
  /** CPU seconds of the two ESP endpoints during the iperf3 run. */
  readonly cpuS: number;
  readonly wallS: number;
  /** 1-minute load average at the end of the run (/proc/loadavg). */
  readonly load: number;
}

const loadAvg = (): number => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

async function iperf(
  lab: Lab,
  target: string,
  bind?: string,
): Promise<{ gbps: number; retransmits: number }> {
  return labIperf(lab, target, { seconds: SECONDS, bind });
}

async function measure(
  lab: Lab,
  impl: Result["impl"],
  suite: string,
  target: string,
  bind: string | undefined,
  comms: readonly string[],
): Promise<Result> {
  const cpu0 = await endpointsCpu(lab, comms);
  const t0 = performance.now();
  const r = await iperf(lab, target, bind);
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = (await endpointsCpu(lab, comms)) - cpu0;
  const res = { config: `${impl} ${suite}`, impl, suite, ...r, cpuS, wallS, load: loadAvg() };
  console.error(
    `  ${res.config.padEnd(40)} ${res.gbps.toFixed(3)} Gbit/s  retr ${res.retransmits}  endpoint CPU ${cpuS.toFixed(1)} s  load ${res.load.toFixed(1)}`,
  );
  return res;
}

// ------------------------------------------------------------------ strongSwan

const PSK = "oak-bench-psk-0123456789";

async function strongswanRun(lab: Lab, s: SuiteDef): Promise<Result> {
  let srv: Charon | undefined;
  let cli: Charon | undefined;
  try {
    const child = (localTs: string, remoteTs: string) => [
      { name: "net", mode: "tunnel" as const, localTs, remoteTs, espProposals: [s.strongswan] },
    ];
    srv = await startResponder({
      ns: lab.ns.server,
      conf: swanctlConf([
        {
          name: "b-srv",
          localAddrs: LAB_ADDR.server,
          remoteAddrs: "%any",
          proposals: ["aes128-sha1-modp2048"],
          auth: { kind: "psk", secret: PSK },
          children: child(`${LAB_ADDR.serverNet}/32`, `${LAB_ADDR.client}/32`),
        },
      ]),
    });
    cli = await startInitiator({
      ns: lab.ns.client,
      conf: swanctlConf([
        {
          name: "b-cli",
          localAddrs: LAB_ADDR.client,
          remoteAddrs: LAB_ADDR.server,
          remoteId: LAB_ADDR.server,
          proposals: ["aes128-sha1-modp2048"],
          auth: { kind: "psk", secret: PSK },
          children: child(`${LAB_ADDR.client}/32`, `${LAB_ADDR.serverNet}/32`),
        },
      ]),
    });
    const init = await cli.initiate({ ike: "b-cli", child: "net", timeoutS: 60 });
    if (init.code !== 0)
      throw new Error(`strongSwan initiate failed: ${init.stderr || init.stdout}`);
    const p = await nsRun(lab.ns.client, "ping", [
      "-c",
      "1",
      "-W",
      "3",
      "-I",
      LAB_ADDR.client,
      LAB_ADDR.serverNet,
    ]);
    if (p.code !== 0) throw new Error(`no ping through the strongSwan tunnel: ${p.stdout}`);
    return await measure(lab, "strongswan", s.label, LAB_ADDR.serverNet, LAB_ADDR.client, [
      "charon",
    ]);
  } finally {
    await cli?.stop();
    await srv?.stop();
  }
}

// ------------------------------------------------------------------ Oakley

async function oakleyRun(
  lab: Lab,
  s: SuiteDef,
  round: number,
  variant: string,
  extra: StartOptions,
): Promise<Result> {
  const impl = variant === "" ? "oakley" : `oakley:${variant}`;
  const flags = (side: string): string[] => {
    if (PROFILE === undefined) return [];
    const dir = `${PROFILE}/${s.oakley.encryption}${variant === "" ? "" : `-${variant}`}-r${round}-${side}`;
    mkdirSync(dir, { recursive: true });
    return ["--cpu-prof", `--cpu-prof-dir=${dir}`];
  };
  const t = await oakleyEspOnly(lab, s.oakley, extra, flags);
  try {
    const r = await measure(lab, impl, s.label, LAB_ADDR.serverNet, LAB_ADDR.client, ["node"]);
    for (const line of await t.stats()) console.error(`    ${line}`);
    return r;
  } finally {
    await t.close();
  }
}

// ------------------------------------------------------------------ main

function table(results: readonly Result[]): string {
  const by = (impl: Result["impl"], suite: string): Result[] =>
    results.filter((r) => r.impl === impl && r.suite === suite);
  const base = median(by("baseline", "-").map((r) => r.gbps));
  const rows: string[][] = [
    [
      "config",
      "Gbit/s (median)",
      "runs",
      "endpoint CPU s",
      "Gbit/CPU-s",
      "CPU-s/Gbit",
      "vs strongSwan",
      "vs no IPsec",
      "load (1 min)",
    ],
  ];
  const add = (impl: string, suite: string): void => {
    const rs = by(impl, suite);
    if (rs.length === 0) return;
    const g = median(rs.map((r) => r.gbps));
    const cpu = median(rs.map((r) => r.cpuS));
    const perCpu = median(rs.map((r) => (r.cpuS > 0 ? (r.gbps * r.wallS) / r.cpuS : Number.NaN)));
    const ss = median(by("strongswan", suite).map((r) => r.gbps));
    rows.push([
      impl === "baseline" ? "no IPsec" : `${impl} ${suite}`,
      g.toFixed(3),
      rs.map((r) => r.gbps.toFixed(2)).join(" "),
      impl === "baseline" ? "-" : cpu.toFixed(1),
      impl === "baseline" ? "-" : perCpu.toFixed(3),
      impl === "baseline" ? "-" : (1 / perCpu).toFixed(2),
      impl.startsWith("oakley") && Number.isFinite(ss) ? `${(g / ss).toFixed(2)}x` : "-",
      Number.isFinite(base) && impl !== "baseline" ? `${(g / base).toFixed(2)}x` : "-",
      median(rs.map((r) => r.load)).toFixed(1),
    ]);
  };
  add("baseline", "-");
  for (const s of SUITES) {
    add("strongswan", s.label);
    for (const v of Object.keys(VARIANTS)) add(v === "" ? "oakley" : `oakley:${v}`, s.label);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  return [
    line(rows[0]!),
    `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`,
    ...rows.slice(1).map(line),
  ].join("\n");
}

async function main(): Promise<void> {
  const why = await labUnavailable();
  if (why) {
    console.error(`bench/esp-tunnel: cannot run here: ${why}`);
    process.exit(2);
  }
  const lab = await labUp();
  let iperfd: Daemon | undefined;
  const results: Result[] = [];
  try {
    iperfd = nsDaemon(
      lab.ns.server,
      "iperf3",
      "iperf3",
      ["-s", "-p", "5201"],
      `/tmp/oak-bench-iperf3-${process.pid}.log`,
    );
    await sleep(500);
    for (let round = 0; round < ROUNDS; round++) {
      console.error(`round ${round + 1}/${ROUNDS}`);
      const jobs: (() => Promise<Result>)[] = NO_BASELINE
        ? []
        : [() => measure(lab, "baseline", "-", LAB_ADDR.server, undefined, [])];
      for (const s of SUITES) {
        const ss = () => strongswanRun(lab, s);
        if (ONLY !== "oakley") jobs.push(ss);
        if (ONLY !== "strongswan") {
          for (const [v, extra] of Object.entries(VARIANTS))
            jobs.push(() => oakleyRun(lab, s, round, v, extra));
        }
      }
      if (round % 2 === 1) jobs.reverse();
      for (const j of jobs) results.push(await j());
    }
  } finally {
    await iperfd?.stop();
    await lab.down();
  }
  console.log(
    `\niperf3 TCP, 1 stream, ${SECONDS} s, ${ROUNDS} round(s); tunnel mode, ESP-in-UDP 4500 across a MASQUERADE NAT; TUN MTU 1400\n`,
  );
  console.log(table(results));
}

await main();
