/**
 * The L2TP/IPsec product path end to end (not a test; root): `oakley serve` in the lab's server
 * namespace, `oakley connect` in its client namespace behind the MASQUERADE NAT
 * (test/interop/strongswan/lab.ts), both run from bin/oakley (dist/, so `npm run build` first)
 * as a new user would run them. Measured in the same run:
 *   - iperf3 TCP, one stream, each way (upload; download = -R) from the client to the server's
 *     PPP address (IKE + ESP-in-UDP 4500 + L2TP + PPP over TUN);
 *   - the same through Oakley's ESP-only tunnel (bench/esp-tunnel.ts' statically keyed SAs, no
 *     IKE/L2TP/PPP) with the ESP suite the product negotiated: the baseline;
 *   - idle ping RTT (median of --pings) through each tunnel, between the namespaces outside
 *     any tunnel (client -> NAT -> server), and through the latency floor: bench/ip-in-udp.ts,
 *     a bare IP-in-UDP tunnel on the same TUN/UDP platform code and event loop, crossing the
 *     same user-space hops with no protocol work (product minus floor = Oakley's processing);
 *   - CPU seconds (utime+stime from /proc/PID/stat, before/after each iperf3 run) of the
 *     Oakley processes (command "node") in the client and server namespaces, per Gbit moved.
 * Rounds alternate which tunnel goes first. Results: a table on stdout and
 * artifacts/bench-l2tp.json.
 *
 *   sudo npx tsx bench/l2tp.ts [--seconds 10] [--rounds 1] [--pings 50]
 *                              [--profile DIR]   (node --cpu-prof of serve and connect)
 * Run it under the interop lock (it builds network namespaces):
 *   flock /tmp/oakley-interop.lock npm run bench:l2tp
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { EspEncryption, EspIntegrity, EspSuite } from "../src/crypto/esp/index.js";
import { LAB_ADDR, type Lab, labUp, missingPackages } from "../test/interop/strongswan/lab.js";
import { type Daemon, nsDaemon, nsRun, sleep, waitFor } from "../test/interop/strongswan/proc.js";
import { endpointsCpu, iperf, median, oakleyEspOnly, pingRtts } from "./lab-tunnel.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const SECONDS = Number(opt("seconds") ?? "10");
const ROUNDS = Number(opt("rounds") ?? "1");
const PINGS = Number(opt("pings") ?? "50");
const PROFILE = opt("profile");
const ROOT = resolve(import.meta.dirname, "..");
const OAKLEY = join(ROOT, "bin", "oakley");
const PSK = "oak-bench-l2tp-psk-0123456789";
const USER = "bench";
const PASSWORD = "bench-pass-0123";

type Tunnel = "product" | "esp-only";
interface Run {
  readonly tunnel: Tunnel;
  readonly round: number;
  readonly direction: "upload" | "download";
  readonly gbps: number;
  readonly retransmits: number;
  /** CPU seconds of the Oakley processes in both namespaces during the iperf3 run. */
  readonly cpuS: number;
  readonly wallS: number;
  readonly gbit: number;
}
interface Rtt {
  readonly path: Tunnel | "no tunnel" | "floor";
  /** Seconds between pings: 0.1 (idle, the figure with a target) or 0.005 (busy, diagnostic). */
  readonly intervalS: number;
  /** Measured again after traffic went through (iperf3, or for the floor the busy pings), when
   * the code on the path has been compiled by the JIT: cold vs warm. */
  readonly afterTraffic: boolean;
  readonly round: number;
  readonly medianMs: number;
  readonly rttsMs: readonly number[];
}

const runs: Run[] = [];
const rtts: Rtt[] = [];

async function measureIperf(
  lab: Lab,
  tunnel: Tunnel,
  round: number,
  target: string,
  bind: string | undefined,
): Promise<void> {
  for (const direction of ["upload", "download"] as const) {
    const cpu0 = await endpointsCpu(lab, ["node"]);
    const t0 = performance.now();
    const r = await iperf(lab, target, {
      seconds: SECONDS,
      bind,
      reverse: direction === "download",
    });
    const wallS = (performance.now() - t0) / 1000;
    const cpuS = (await endpointsCpu(lab, ["node"])) - cpu0;
    const run: Run = { tunnel, round, direction, ...r, cpuS, wallS, gbit: r.gbps * SECONDS };
    runs.push(run);
    console.error(
      `  ${tunnel.padEnd(8)} ${direction.padEnd(8)} ${r.gbps.toFixed(3)} Gbit/s  retr ${r.retransmits}  Oakley CPU ${cpuS.toFixed(1)} s  (${(cpuS / run.gbit).toFixed(2)} CPU-s/Gbit)`,
    );
  }
}

async function measurePing(
  lab: Lab,
  path: Rtt["path"],
  round: number,
  target: string,
  source?: string,
  afterTraffic = false,
): Promise<void> {
  for (const intervalS of afterTraffic ? [0.1] : [0.1, 0.005]) {
    const xs = await pingRtts(lab.ns.client, target, PINGS, source, intervalS);
    const r = { path, intervalS, afterTraffic, round, medianMs: median(xs), rttsMs: xs };
    rtts.push(r);
    console.error(
      `  ${path.padEnd(9)} ping ${target} every ${intervalS} s${afterTraffic ? " (after traffic)" : ""}: median ${r.medianMs.toFixed(3)} ms (${xs.length} replies)`,
    );
  }
}

/** Maps the control socket's child-SA algorithm names to an ESP suite for the baseline. */
function suiteOf(a: { encryption: string; keyLength?: number; integrity: string }): EspSuite {
  const e = a.encryption.toLowerCase().replace(/[^a-z0-9]/g, "");
  const i = a.integrity.toLowerCase().replace(/[^a-z0-9]/g, "");
  const bits = a.keyLength ?? 128;
  let encryption: string;
  if (e.includes("gcm"))
    encryption = `aes${bits}-gcm${e.includes("12") && !e.includes("16") ? "12" : "16"}`;
  else if (e.includes("aes") && e.includes("cbc")) encryption = `aes${bits}-cbc`;
  else throw new Error(`no ESP-only baseline for encryption ${JSON.stringify(a)}`);
  let integrity: string;
  if (i === "" || i.includes("none")) integrity = "none";
  else if (i.includes("sha1")) integrity = "hmac-sha1-96";
  else if (i.includes("256")) integrity = "hmac-sha256-128";
  else if (i.includes("384")) integrity = "hmac-sha384-192";
  else if (i.includes("512")) integrity = "hmac-sha512-256";
  else throw new Error(`no ESP-only baseline for integrity ${JSON.stringify(a)}`);
  return { encryption: encryption as EspEncryption, integrity: integrity as EspIntegrity };
}

async function waitLog(d: Daemon, re: RegExp, what: string, ms = 60_000): Promise<RegExpExecArray> {
  return waitFor(
    what,
    () => {
      if (!d.running)
        throw new Error(`${d.name} exited (${d.exitCode}) before ${what}:\n${d.log()}`);
      return re.exec(d.log()) ?? undefined;
    },
    ms,
    100,
  );
}

let negotiated: EspSuite | undefined;

async function productRound(lab: Lab, round: number, dir: string): Promise<void> {
  const flags = (side: string): string[] => {
    if (PROFILE === undefined) return [];
    const d = resolve(PROFILE, `product-r${round}-${side}`);
    mkdirSync(d, { recursive: true });
    return ["--cpu-prof", `--cpu-prof-dir=${d}`];
  };
  const sock = join(dir, `serve-${round}.sock`);
  const server = nsDaemon(
    lab.ns.server,
    "oakley serve",
    process.execPath,
    [
      ...flags("serve"),
      OAKLEY,
      "serve",
      "--store",
      join(dir, `serve-${round}.db`),
      "--listen",
      LAB_ADDR.server,
      "--psk",
      PSK,
      "--user",
      `${USER}:${PASSWORD}`,
      "--status-file",
      join(dir, `serve-${round}.status.json`),
      "--control-socket",
      sock,
      "--log-format",
      "text",
    ],
    join(dir, `serve-${round}.log`),
  );
  let client: Daemon | undefined;
  try {
    await waitLog(server, /ready: listening/, "oakley serve ready", 30_000);
    client = nsDaemon(
      lab.ns.client,
      "oakley connect",
      process.execPath,
      [
        ...flags("connect"),
        OAKLEY,
        "connect",
        LAB_ADDR.server,
        "--psk",
        PSK,
        "--user",
        USER,
        "--password",
        PASSWORD,
        "--status-file",
        join(dir, `connect-${round}.status.json`),
        "--log-format",
        "text",
      ],
      join(dir, `connect-${round}.log`),
    );
    const m = await waitLog(
      client,
      /address assigned: (\d+\.\d+\.\d+\.\d+) \(server (\d+\.\d+\.\d+\.\d+)/,
      "the client's PPP address",
    );
    const local = m[1]!;
    const peer = m[2]!;
    console.error(`  product: client ${local} -> server PPP address ${peer}`);
    await nsRun(lab.ns.client, "ping", ["-c", "2", "-W", "2", peer]);
    const sa = await nsRun(lab.ns.server, process.execPath, [
      OAKLEY,
      "sa",
      "list",
      "--socket",
      sock,
      "--json",
    ]);
    const child = (
      JSON.parse(sa.stdout) as {
        child: Array<{ algorithms: { encryption: string; keyLength?: number; integrity: string } }>;
      }
    ).child[0];
    if (child === undefined) throw new Error(`no child SA on the server: ${sa.stdout}${sa.stderr}`);
    negotiated = suiteOf(child.algorithms);
    console.error(
      `  product: ESP ${JSON.stringify(child.algorithms)} -> baseline ${JSON.stringify(negotiated)}`,
    );
    await measurePing(lab, "product", round, peer);
    await measureIperf(lab, "product", round, peer, undefined);
    await measurePing(lab, "product", round, peer, undefined, true);
  } finally {
    await client?.stop("SIGINT", 10_000);
    await server.stop("SIGINT", 10_000);
  }
}

async function espOnlyRound(lab: Lab, round: number): Promise<void> {
  if (negotiated === undefined)
    throw new Error("the product round must run first (it names the suite)");
  const flags = (side: string): string[] => {
    if (PROFILE === undefined) return [];
    const d = resolve(PROFILE, `esp-only-r${round}-${side}`);
    mkdirSync(d, { recursive: true });
    return ["--cpu-prof", `--cpu-prof-dir=${d}`];
  };
  const t = await oakleyEspOnly(lab, negotiated, {}, flags);
  try {
    await measurePing(lab, "esp-only", round, LAB_ADDR.serverNet, LAB_ADDR.client);
    await measureIperf(lab, "esp-only", round, LAB_ADDR.serverNet, LAB_ADDR.client);
    await measurePing(lab, "esp-only", round, LAB_ADDR.serverNet, LAB_ADDR.client, true);
    for (const line of await t.stats()) console.error(`    ${line}`);
  } finally {
    await t.close();
  }
}

/** The latency floor: bench/ip-in-udp.ts in both namespaces, pinged like the tunnels. */
async function floorRound(lab: Lab, round: number, dir: string): Promise<void> {
  const script = join(ROOT, "bench", "ip-in-udp.ts");
  const inner = { client: "203.0.113.201", server: "203.0.113.202" };
  const side = (ns: string, name: string, args: string[]): Daemon =>
    nsDaemon(
      ns,
      name,
      process.execPath,
      ["--import", "tsx", script, "--tun", "oakfl0", ...args],
      join(dir, `${name}-${round}.log`),
    );
  const server = side(lab.ns.server, "floor-server", [
    "--address",
    `${inner.server}/${inner.client}`,
    "--bind",
    `${LAB_ADDR.server}:4600`,
  ]);
  let client: Daemon | undefined;
  try {
    await waitLog(server, /ready/, "the floor tunnel's server side", 30_000);
    client = side(lab.ns.client, "floor-client", [
      "--address",
      `${inner.client}/${inner.server}`,
      "--bind",
      `${LAB_ADDR.client}:4600`,
      "--peer",
      `${LAB_ADDR.server}:4600`,
    ]);
    await waitLog(client, /ready/, "the floor tunnel's client side", 30_000);
    const p = await nsRun(lab.ns.client, "ping", ["-c", "2", "-W", "2", inner.server]);
    if (p.code !== 0) throw new Error(`no ping through the floor tunnel: ${p.stdout}`);
    await measurePing(lab, "floor", round, inner.server);
    await measurePing(lab, "floor", round, inner.server, undefined, true);
  } finally {
    await client?.stop("SIGINT", 5000);
    await server.stop("SIGINT", 5000);
  }
}

function table(): { text: string; summary: Record<string, number> } {
  const g = (t: Tunnel, d: Run["direction"]): Run[] =>
    runs.filter((r) => r.tunnel === t && r.direction === d);
  const gbps = (t: Tunnel, d: Run["direction"]): number => median(g(t, d).map((r) => r.gbps));
  const cpuPerGbit = (t: Tunnel, d: Run["direction"]): number =>
    median(g(t, d).map((r) => r.cpuS / r.gbit));
  const rtt = (p: Rtt["path"], intervalS = 0.1, afterTraffic = false): number =>
    median(
      rtts
        .filter((r) => r.path === p && r.intervalS === intervalS && r.afterTraffic === afterTraffic)
        .map((r) => r.medianMs),
    );
  const s = {
    productUploadGbps: gbps("product", "upload"),
    productDownloadGbps: gbps("product", "download"),
    espOnlyUploadGbps: gbps("esp-only", "upload"),
    espOnlyDownloadGbps: gbps("esp-only", "download"),
    ratioUpload: gbps("product", "upload") / gbps("esp-only", "upload"),
    ratioDownload: gbps("product", "download") / gbps("esp-only", "download"),
    rttNoTunnelMs: rtt("no tunnel"),
    rttProductMs: rtt("product"),
    rttEspOnlyMs: rtt("esp-only"),
    rttAddedByProductMs: rtt("product") - rtt("no tunnel"),
    rttFloorMs: rtt("floor"),
    rttAddedByFloorMs: rtt("floor") - rtt("no tunnel"),
    rttAddedByProductOverFloorMs: rtt("product") - rtt("floor"),
    busyRttNoTunnelMs: rtt("no tunnel", 0.005),
    busyRttProductMs: rtt("product", 0.005),
    busyRttEspOnlyMs: rtt("esp-only", 0.005),
    busyRttFloorMs: rtt("floor", 0.005),
    warmRttProductMs: rtt("product", 0.1, true),
    warmRttEspOnlyMs: rtt("esp-only", 0.1, true),
    warmRttFloorMs: rtt("floor", 0.1, true),
    productCpuSPerGbitUpload: cpuPerGbit("product", "upload"),
    productCpuSPerGbitDownload: cpuPerGbit("product", "download"),
    espOnlyCpuSPerGbitUpload: cpuPerGbit("esp-only", "upload"),
    espOnlyCpuSPerGbitDownload: cpuPerGbit("esp-only", "download"),
  };
  const ok = (v: boolean): string => (v ? "yes" : "NO");
  const rows: string[][] = [
    ["measure", "product (L2TP/IPsec)", "ESP-only", "product/ESP-only", "target", "met"],
    [
      "upload Gbit/s",
      s.productUploadGbps.toFixed(3),
      s.espOnlyUploadGbps.toFixed(3),
      s.ratioUpload.toFixed(2),
      ">= 0.8",
      ok(s.ratioUpload >= 0.8),
    ],
    [
      "download Gbit/s",
      s.productDownloadGbps.toFixed(3),
      s.espOnlyDownloadGbps.toFixed(3),
      s.ratioDownload.toFixed(2),
      ">= 0.8",
      ok(s.ratioDownload >= 0.8),
    ],
    [
      "CPU-s/Gbit upload",
      s.productCpuSPerGbitUpload.toFixed(2),
      s.espOnlyCpuSPerGbitUpload.toFixed(2),
      (s.productCpuSPerGbitUpload / s.espOnlyCpuSPerGbitUpload).toFixed(2),
      "-",
      "-",
    ],
    [
      "CPU-s/Gbit download",
      s.productCpuSPerGbitDownload.toFixed(2),
      s.espOnlyCpuSPerGbitDownload.toFixed(2),
      (s.productCpuSPerGbitDownload / s.espOnlyCpuSPerGbitDownload).toFixed(2),
      "-",
      "-",
    ],
    ["ping RTT ms (median)", s.rttProductMs.toFixed(3), s.rttEspOnlyMs.toFixed(3), "-", "-", "-"],
    [
      "RTT added vs no tunnel",
      `${s.rttAddedByProductMs.toFixed(3)} (no tunnel ${s.rttNoTunnelMs.toFixed(3)})`,
      (s.rttEspOnlyMs - s.rttNoTunnelMs).toFixed(3),
      "-",
      "<= 0.3 ms",
      ok(s.rttAddedByProductMs <= 0.3),
    ],
    ["RTT added by the bare IP-in-UDP floor", s.rttAddedByFloorMs.toFixed(3), "-", "-", "-", "-"],
    [
      "RTT product minus floor",
      s.rttAddedByProductOverFloorMs.toFixed(3),
      (s.rttEspOnlyMs - s.rttFloorMs).toFixed(3),
      "-",
      "-",
      "-",
    ],
    [
      "RTT added, idle again after traffic",
      `${(s.warmRttProductMs - s.rttNoTunnelMs).toFixed(3)} (floor ${(s.warmRttFloorMs - s.rttNoTunnelMs).toFixed(3)})`,
      (s.warmRttEspOnlyMs - s.rttNoTunnelMs).toFixed(3),
      "-",
      "-",
      "-",
    ],
    [
      "diag: RTT ms, pings 5 ms apart",
      `${s.busyRttProductMs.toFixed(3)} (no tunnel ${s.busyRttNoTunnelMs.toFixed(3)})`,
      `${s.busyRttEspOnlyMs.toFixed(3)} (floor ${s.busyRttFloorMs.toFixed(3)})`,
      "-",
      "-",
      "-",
    ],
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  return {
    text: [
      line(rows[0]!),
      `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`,
      ...rows.slice(1).map(line),
    ].join("\n"),
    summary: s,
  };
}

async function main(): Promise<void> {
  // The lab without strongSwan: namespaces, the NAT, ping and iperf3.
  const missing = await missingPackages(["iproute2", "iptables", "iputils-ping", "iperf3"]);
  const why =
    process.getuid?.() !== 0
      ? "needs root (network namespaces)"
      : missing.length > 0
        ? `missing Debian packages: ${missing.join(" ")}`
        : undefined;
  if (why) {
    console.error(`bench/l2tp: cannot run here: ${why}`);
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), "oak-bench-l2tp-"));
  const lab = await labUp();
  let iperfd: Daemon | undefined;
  try {
    iperfd = nsDaemon(
      lab.ns.server,
      "iperf3",
      "iperf3",
      ["-s", "-p", "5201"],
      join(dir, "iperf3.log"),
    );
    await sleep(500);
    for (let round = 0; round < ROUNDS; round++) {
      console.error(`round ${round + 1}/${ROUNDS}`);
      await measurePing(lab, "no tunnel", round, LAB_ADDR.server);
      await floorRound(lab, round, dir);
      // The product names the suite, so round 0 runs it first; later rounds alternate.
      if (round % 2 === 0) {
        await productRound(lab, round, dir);
        await espOnlyRound(lab, round);
      } else {
        await espOnlyRound(lab, round);
        await productRound(lab, round, dir);
      }
    }
  } catch (e) {
    console.error(`bench/l2tp: failed; logs kept in ${dir}`);
    throw e;
  } finally {
    await iperfd?.stop();
    await lab.down();
  }
  const { text, summary } = table();
  console.log(
    `\nL2TP/IPsec product (oakley serve <- NAT <- oakley connect) vs Oakley ESP-only tunnel, same run.\n` +
      `iperf3 TCP, 1 stream, ${SECONDS} s each way, ${ROUNDS} round(s) (medians); ESP ${JSON.stringify(negotiated)};\n` +
      `ping: ${PINGS} idle pings 0.1 s apart, median (and, as a diagnostic, ${PINGS} pings 5 ms apart); CPU: utime+stime of the Oakley node processes in both namespaces.\n`,
  );
  console.log(text);
  mkdirSync(join(ROOT, "artifacts"), { recursive: true });
  const out = join(ROOT, "artifacts", "bench-l2tp.json");
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        bench: "l2tp",
        date: new Date().toISOString(),
        method: {
          seconds: SECONDS,
          rounds: ROUNDS,
          pings: PINGS,
          esp: negotiated,
          iperf: "iperf3 TCP -P 1, upload = client sends, download = -R",
          cpu: "utime+stime of the node processes in the client and server namespaces, before/after each iperf3 run",
        },
        summary,
        runs,
        rtts,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwritten ${out}`);
  rmSync(dir, { recursive: true, force: true });
}

await main();
