/**
 * UDP throughput of the two DatagramSocket implementations between two network namespaces
 * (root): node:dgram vs koffi recvmmsg/sendmmsg, 64- and 1400-byte datagrams. Each case runs a
 * sender process and a receiver process (test/interop/lib/peers/platform-peer.ts) over a veth
 * pair; the sender sends bursts for the duration, the receiver counts. Reported: received
 * datagrams per second and loss, and koffi as a ratio to dgram measured in the same run (the
 * machine is shared and noisy: compare ratios, not absolute numbers).
 *
 *   npx tsx bench/udp.ts [--seconds 3] [--rounds 3] [--json]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Topology } from "../test/interop/lib/netns.js";

const PEER = "test/interop/lib/peers/platform-peer.ts";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  return Number.isFinite(v) && v > 0 ? v : def;
}
const seconds = arg("seconds", 3);
const rounds = arg("rounds", 3);
const asJson = process.argv.includes("--json");

if (process.getuid?.() !== 0) {
  console.error("bench/udp.ts needs root (network namespaces)");
  process.exit(2);
}

interface Case {
  impl: "dgram" | "koffi";
  size: number;
}
interface Sample extends Case {
  sent: number;
  received: number;
  pps: number;
  loss: number;
}

const topo = new Topology("bench-udp.ts", false);
try {
  const a = await topo.namespace("tx");
  const b = await topo.namespace("rx");
  await topo.link(a, "eth0", b, "eth0");
  await topo.address(a, "eth0", "198.51.100.1/24");
  await topo.address(b, "eth0", "198.51.100.2/24");
  const tx = topo.spawnModule(a, PEER);
  const rx = topo.spawnModule(b, PEER);
  const samples: Sample[] = [];
  let port = 40000;
  for (let r = 0; r < rounds; r++) {
    for (const size of [64, 1400]) {
      for (const impl of ["dgram", "koffi"] as const) {
        port++;
        const rb = (await rx.request("udpBind", {
          impl,
          address: "198.51.100.2",
          port,
          countOnly: true,
          receiveBuffer: 4 << 20,
        })) as { ok: boolean; id: number };
        const tb = (await tx.request("udpBind", { impl, address: "198.51.100.1", port: 0 })) as {
          ok: boolean;
          id: number;
        };
        if (!rb.ok || !tb.ok) throw new Error("bind failed");
        const res = (await tx.request(
          "udpBlast",
          { id: tb.id, size, to: "198.51.100.2", port, durationMs: seconds * 1000, burst: 256 },
          seconds * 1000 + 30_000,
        )) as { sent: number };
        await sleep(300);
        const received = (await rx.request("udpCount", { id: rb.id })) as number;
        await rx.request("udpClose", { id: rb.id });
        await tx.request("udpClose", { id: tb.id });
        const s: Sample = {
          impl,
          size,
          sent: res.sent,
          received,
          pps: received / seconds,
          loss: res.sent > 0 ? 1 - received / res.sent : 0,
        };
        samples.push(s);
        if (!asJson) {
          console.error(
            `round ${r + 1} ${impl.padEnd(5)} ${String(size).padStart(4)} B: ${Math.round(s.pps)} pps, loss ${(s.loss * 100).toFixed(1)} %`,
          );
        }
      }
    }
  }
  const median = (xs: number[]): number => {
    const v = [...xs].sort((x, y) => x - y);
    return v[Math.floor(v.length / 2)] ?? 0;
  };
  const summary = [64, 1400].map((size) => {
    const pick = (impl: string): Sample[] =>
      samples.filter((s) => s.size === size && s.impl === impl);
    const d = median(pick("dgram").map((s) => s.pps));
    const k = median(pick("koffi").map((s) => s.pps));
    return {
      size,
      dgramPps: Math.round(d),
      koffiPps: Math.round(k),
      ratio: d > 0 ? k / d : 0,
      dgramLoss: median(pick("dgram").map((s) => s.loss)),
      koffiLoss: median(pick("koffi").map((s) => s.loss)),
    };
  });
  if (asJson) console.log(JSON.stringify({ seconds, rounds, summary, samples }, null, 2));
  else {
    console.log(`UDP between two namespaces, ${seconds} s per case, median of ${rounds} rounds`);
    console.log("size   dgram pps   koffi pps   koffi/dgram   loss dgram / koffi");
    for (const s of summary) {
      console.log(
        `${String(s.size).padStart(4)}   ${String(s.dgramPps).padStart(9)}   ${String(s.koffiPps).padStart(9)}   ${s.ratio.toFixed(2).padStart(11)}   ${(s.dgramLoss * 100).toFixed(1)} % / ${(s.koffiLoss * 100).toFixed(1)} %`,
      );
    }
  }
  await tx.close();
  await rx.close();
} finally {
  await topo.teardown();
}
