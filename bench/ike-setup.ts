/**
 * IKEv1 setup latency (not a test; root): Main Mode + Quick Mode (RFC 2409 §5 + §5.5, PSK,
 * NAT-T RFC 3947, tunnel-mode child) across the strongSwan lab's namespace NAT
 * (test/interop/strongswan/lab.ts: client 192.0.2.2 -> MASQUERADE -> server 198.51.100.2), in
 * the same run:
 *   - Oakley initiator -> Oakley responder (test/peers/tunnel-peer.ts on both ends: the IKE
 *     engine + ESP data plane + TUN, as a tunnel-mode deployment runs it);
 *   - strongSwan 5.9.8 initiator -> strongSwan responder (charon with kernel-libipsec).
 * Both with the same suites (default aes128-sha1-modp2048 + ESP aes128-sha1; `--suite ecp`:
 * aes128-sha256-ecp256 + ESP aes128gcm16), the same selectors (192.0.2.2 <-> 203.0.113.1).
 *
 * Measured the same way for both, on the wire: tcpdump on the NAT's outside, from MM1 (the
 * initiator's first Main Mode message, responder cookie zero) to QM3 (the initiator's second
 * Quick Mode message of the exchange, same message ID as QM1), per IKE SA (by CKY-I). That
 * covers every computation of both ends (DH, SKEYID, hashes, QM keys, SA install on the
 * initiator side before QM3) and is blind to how each implementation is driven. Also printed:
 * the driver's view (Oakley: initiate request -> phase2-up event over the control pipe;
 * strongSwan: the wall time of `swanctl --initiate`, which includes starting swanctl).
 * Each setup is torn down (Delete) before the next; the first `--warmup` setups (default 1) per
 * implementation are not counted. Median and p90 of N setups (default 20), and the ratio Oakley/strongSwan.
 *
 *   sudo npx tsx bench/ike-setup.ts [--n 20] [--warmup 1] [--suite modp|ecp] [--out DIR] [--only oakley|strongswan]
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { JsonLinesPeer } from "../test/interop/lib/jsonl.js";
import { type Charon, startInitiator, startResponder } from "../test/interop/strongswan/charon.js";
import {
  labTunnelInitiator,
  labTunnelResponder,
  swanctlConf,
} from "../test/interop/strongswan/conf.js";
import {
  LAB_ADDR,
  LAB_IF,
  type Lab,
  labUnavailable,
  labUp,
} from "../test/interop/strongswan/lab.js";
import { udpDatagrams } from "../test/helpers/pcap.js";
import { sleep, waitFor } from "../test/interop/strongswan/proc.js";
import { Capture } from "../test/interop/strongswan/capture.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const N = Number(opt("n") ?? "20");
const WARMUP = Number(opt("warmup") ?? "1");
const SUITE = opt("suite") ?? "modp";
const ONLY = opt("only");
const OUT = opt("out");
const ROOT = resolve(import.meta.dirname, "..");
const PEER = join(ROOT, "test/peers/tunnel-peer.ts");
const PSK = "oak-bench-ike-setup-psk-0123456789";

const SUITES = {
  modp: {
    label: "PSK AES-CBC-128/SHA1/MODP-2048, ESP AES-CBC-128/HMAC-SHA1-96",
    ike: "aes128-sha1-modp2048",
    esp: "aes128-sha1",
    phase1: { encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 14 },
    phase2: { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-sha1-96" },
  },
  ecp: {
    label: "PSK AES-CBC-128/SHA2-256/ECP-256, ESP AES-GCM-16 (128)",
    ike: "aes128-sha256-ecp256",
    esp: "aes128gcm16",
    phase1: { encryption: "aes-cbc", keyBits: 128, hash: "sha2-256", group: 19 },
    phase2: { cipher: "aes-gcm-16", keyBits: 128, integrity: "none" },
  },
} as const;

type Suite = (typeof SUITES)[keyof typeof SUITES];

interface Series {
  readonly impl: "oakley" | "strongswan";
  /** MM1 -> QM3 on the wire, ms, per measured setup. */
  readonly wire: number[];
  /** The driver's view, ms. */
  readonly driver: number[];
  readonly driverLabel: string;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i]!;
}

/** tcpdump on the NAT's outside (IKE only: UDP 500, and UDP 4500 with the non-ESP marker). */
function capture(lab: Lab, file: string): Promise<Capture> {
  return Capture.start({
    ns: lab.ns.nat,
    iface: LAB_IF.natOutside,
    file,
    filter: "udp",
    immediate: true,
  });
}

/**
 * MM1 -> QM3 per IKE SA from a capture: the initiator is the side that sent MM1 (exchange type
 * 2, responder cookie zero). ISAKMP header (RFC 2408 §3.1): CKY-I 0-7, CKY-R 8-15, exchange
 * type at 18, message ID 20-23. Returns setups in the order they started.
 */
function wireSetups(file: string): number[] {
  const setups = new Map<
    string,
    { start: number; initiator: string; qm?: { id: number; seen: number }; end?: number }
  >();
  for (const d of udpDatagrams(file)) {
    if (d.kind !== "isakmp" || d.payload.length < 28) continue;
    const h = d.payload;
    const ckyI = h.subarray(0, 8).toString("hex");
    const exchange = h[18];
    const zeroR = h.subarray(8, 16).every((b) => b === 0);
    let s = setups.get(ckyI);
    if (!s) {
      if (exchange !== 2 || !zeroR) continue;
      s = { start: d.timeUs, initiator: d.src };
      setups.set(ckyI, s);
      continue;
    }
    if (exchange !== 32 || d.src !== s.initiator || s.end !== undefined) continue;
    const id = h.readUInt32BE(20);
    if (s.qm === undefined) s.qm = { id, seen: 1 };
    else if (s.qm.id === id && ++s.qm.seen === 2) s.end = d.timeUs;
  }
  return [...setups.values()]
    .filter((s) => s.end !== undefined)
    .sort((a, b) => a.start - b.start)
    .map((s) => ((s.end ?? 0) - s.start) / 1000);
}

function startOakley(ns: string, listen: string, config: object): JsonLinesPeer {
  const child = spawn(
    "ip",
    [
      ...["netns", "exec", ns, process.execPath, "--import", "tsx", PEER],
      ...["--listen", listen, "--config", JSON.stringify(config)],
      ...["--tunnel", JSON.stringify({ tun: { name: "oakt0", mtu: 1400 } }), "--control"],
    ],
    { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NODE_NO_WARNINGS: "1" } },
  );
  return new JsonLinesPeer(child, `oakley@${ns}`);
}

async function benchOakley(lab: Lab, dir: string, suite: Suite): Promise<Series> {
  const ike = {
    psks: [{ secret: PSK }],
    dpd: { delaySeconds: 0 },
    phase1: { offers: [suite.phase1] },
    phase2: { offers: [suite.phase2] },
  };
  const srv = startOakley(lab.ns.server, LAB_ADDR.server, ike);
  const cli = startOakley(lab.ns.client, LAB_ADDR.client, ike);
  const file = join(dir, "oakley.pcap");
  const driver: number[] = [];
  try {
    await srv.nextEvent("ready", 30_000);
    await cli.nextEvent("ready", 30_000);
    const cap = await capture(lab, file);
    for (let i = 0; i < WARMUP + N; i++) {
      const t0 = performance.now();
      await cli.request("initiate", {
        peer: { address: LAB_ADDR.server, port: 500 },
        local: LAB_ADDR.client,
        remote: `${LAB_ADDR.serverNet}/32`,
      });
      await cli.nextEvent("phase2-up", 30_000);
      const t1 = performance.now();
      await srv.nextEvent("phase2-up", 30_000);
      if (i >= WARMUP) driver.push(t1 - t0);
      await cli.request("deleteAll");
      await srv.nextEvent("deleted", 10_000, (e) => e.what === "ike");
      await sleep(100);
    }
    await cap.stop();
  } finally {
    await cli.close(5000);
    await srv.close(5000);
  }
  return {
    impl: "oakley",
    wire: wireSetups(file).slice(WARMUP),
    driver,
    driverLabel: "initiate -> phase2-up event",
  };
}

async function benchStrongswan(lab: Lab, dir: string, suite: Suite): Promise<Series> {
  const psk = { kind: "psk" as const, secret: PSK };
  let srv: Charon | undefined;
  let cli: Charon | undefined;
  const file = join(dir, "strongswan.pcap");
  const driver: number[] = [];
  try {
    srv = await startResponder({
      ns: lab.ns.server,
      conf: swanctlConf([
        labTunnelResponder({ proposals: [suite.ike], espProposals: [suite.esp], auth: psk }),
      ]),
    });
    cli = await startInitiator({
      ns: lab.ns.client,
      conf: swanctlConf([
        labTunnelInitiator({ proposals: [suite.ike], espProposals: [suite.esp], auth: psk }),
      ]),
    });
    const cap = await capture(lab, file);
    for (let i = 0; i < WARMUP + N; i++) {
      const t0 = performance.now();
      const r = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 30 });
      const t1 = performance.now();
      if (r.code !== 0) throw new Error(`swanctl --initiate failed: ${r.stdout}${r.stderr}`);
      if (i >= WARMUP) driver.push(t1 - t0);
      await cli.terminate("oak-cli");
      const s = srv;
      await waitFor(
        "strongSwan responder without SAs",
        async () => ((await s.listSas()).ikeSas.length === 0 ? true : undefined),
        10_000,
      );
      await sleep(100);
    }
    await cap.stop();
  } finally {
    await cli?.stop();
    await srv?.stop();
  }
  return {
    impl: "strongswan",
    wire: wireSetups(file).slice(WARMUP),
    driver,
    driverLabel: "swanctl --initiate wall time",
  };
}

const f1 = (x: number): string => x.toFixed(1);

async function main(): Promise<void> {
  const why = await labUnavailable();
  if (why) {
    console.error(`ike-setup bench: ${why}`);
    process.exit(2);
  }
  const suite = SUITES[SUITE === "ecp" ? "ecp" : "modp"];
  const dir = OUT ?? mkdtempSync(join(tmpdir(), "oak-ike-setup-"));
  mkdirSync(dir, { recursive: true });
  const results: Series[] = [];
  let lab: Lab | undefined;
  try {
    lab = await labUp();
    if (ONLY !== "strongswan") results.push(await benchOakley(lab, dir, suite));
    if (ONLY !== "oakley") results.push(await benchStrongswan(lab, dir, suite));
  } finally {
    await lab?.down();
  }
  console.log(`IKEv1 MM+QM setup latency across the lab NAT, ${suite.label}, N=${N} each`);
  console.log(`(wire: MM1 -> QM3 on the NAT's outside; captures in ${dir})`);
  console.log("impl        setups  wire median  wire p90   driver median  driver p90  (driver)");
  for (const r of results) {
    console.log(
      `${r.impl.padEnd(11)} ${String(r.wire.length).padStart(6)}  ${f1(quantile(r.wire, 0.5)).padStart(8)} ms ${f1(quantile(r.wire, 0.9)).padStart(7)} ms ${f1(quantile(r.driver, 0.5)).padStart(10)} ms ${f1(quantile(r.driver, 0.9)).padStart(8)} ms  ${r.driverLabel}`,
    );
  }
  const o = results.find((r) => r.impl === "oakley");
  const s = results.find((r) => r.impl === "strongswan");
  if (o && s) {
    console.log(
      `ratio Oakley/strongSwan (wire): median ${f1(quantile(o.wire, 0.5) / quantile(s.wire, 0.5))}x, p90 ${f1(quantile(o.wire, 0.9) / quantile(s.wire, 0.9))}x`,
    );
  }
  console.log(
    JSON.stringify({
      suite: suite.label,
      n: N,
      results: results.map((r) => ({
        impl: r.impl,
        wireMs: r.wire.map((x) => Math.round(x * 100) / 100),
        driverMs: r.driver.map((x) => Math.round(x * 100) / 100),
      })),
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
