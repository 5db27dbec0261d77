/**
 * What one connected client costs the server, in memory, measured without root or network
 * namespaces: the whole product in one process (test/fakes/product.ts), N clients behind
 * simulated NATs (250 behind each) connecting to one server stack (IKE, ESP, L2TP, PPP up to an address), then the
 * clients are cut off without a word (their stacks closed, the network dropping everything) so
 * that only the server's state for them is left. Reported, per client, after a full GC:
 * JS heap used and ArrayBuffer memory (server only), and with --by-type the heap snapshot
 * difference against a 10-client run grouped by object type (where the bytes are).
 *
 * The server RSS per client of a real `oakley serve` is measured by bench:sessions; this one
 * shows where the heap part of it goes.
 *
 *   node --expose-gc --import tsx bench/session-memory.ts [--clients 200] [--by-type]
 */
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { type SimClient, type SimUser, simClient, simServer } from "../test/fakes/product.js";
import { SimNetwork, Simulator } from "../test/fakes/sim.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const CLIENTS = Number(opt("clients") ?? "200");
const BY_TYPE = argv.includes("--by-type");
const SERVER = "203.0.113.5";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error("bench/session-memory: run with node --expose-gc --import tsx");
  process.exit(2);
}

interface Run {
  readonly heapPerClient: number;
  readonly arrayBuffersPerClient: number;
  readonly snapshot?: string;
}

function measure(n: number, snapshot: boolean): Run {
  const sim = new Simulator(1);
  const net = new SimNetwork(sim);
  const users: SimUser[] = Array.from({ length: n }, (_, i) => ({
    name: `u${i}`,
    password: `pw-${i}-xyz`,
    protocols: ["mschapv2"],
  }));
  const server = simServer(sim, net.host(SERVER), { users, pool: "10.64.0.0/16" });
  let nat = net.nat("198.51.100.1");
  sim.runFor(1000);
  const settle = () => {
    net.log.length = 0; // the simulator keeps every datagram for test oracles
    gc!();
    gc!();
    return process.memoryUsage();
  };
  const before = settle();
  const clients: SimClient[] = [];
  for (let i = 0; i < n; i++) {
    // Twenty at a time, as a NAT full of users reconnecting would (the half-open budget per
    // address is 64: a thousand MM1s in the same millisecond would evict each other).
    if (i % 20 === 0) sim.runFor(3000);
    // 250 hosts behind each NAT (a new NAT every 250 clients), one client per host.
    if (i > 0 && i % 250 === 0) nat = net.nat(`198.51.100.${1 + i / 250}`);
    const host = net.host(`192.0.2.${(i % 250) + 2}`, nat.inside);
    clients.push(
      simClient(sim, host, SERVER, {
        user: users[i]!,
        seed: i + 7,
        ports: { ike: 20_000 + 2 * i, natt: 20_001 + 2 * i },
      }),
    );
  }
  if (!sim.runUntilTrue(() => clients.every((c) => c.up()), 600_000))
    throw new Error(`only ${clients.filter((c) => c.up()).length} of ${n} clients came up`);
  if (server.stack.l2tp.tunnelCount() !== n) throw new Error("server tunnel count is off");
  // Cut the clients off: nothing more reaches the server, their stacks are gone.
  net.profile = { latencyMs: 5, jitterMs: 0, loss: 1, duplicate: 0 };
  for (const c of clients) c.stop();
  clients.length = 0;
  sim.runFor(1000);
  const after = settle();
  const file = snapshot
    ? writeHeapSnapshot(join(tmpdir(), `oak-session-memory-${n}.heapsnapshot`))
    : undefined;
  const run: Run = {
    heapPerClient: (after.heapUsed - before.heapUsed) / n,
    arrayBuffersPerClient: (after.arrayBuffers - before.arrayBuffers) / n,
    ...(file ? { snapshot: file } : {}),
  };
  server.dispose();
  return run;
}

/** Self sizes by node type and constructor name from a V8 heap snapshot. */
function byType(file: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const [ti, ni, si] = [f.indexOf("type"), f.indexOf("name"), f.indexOf("self_size")];
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + ti]!]!;
    const name = s.strings[s.nodes[i + ni]!]!;
    const key = ["object", "closure", "native"].includes(type)
      ? `${type} ${name.slice(0, 48)}`
      : type;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + si]!;
    out.set(key, e);
  }
  return out;
}

const small = BY_TYPE ? measure(10, true) : undefined;
const big = measure(CLIENTS, BY_TYPE);
const kb = (b: number) => Number((b / 1024).toFixed(1));
console.log(
  JSON.stringify({
    clients: CLIENTS,
    serverHeapKbPerClient: kb(big.heapPerClient),
    serverArrayBuffersKbPerClient: kb(big.arrayBuffersPerClient),
  }),
);
if (small?.snapshot && big.snapshot) {
  const a = byType(small.snapshot);
  const b = byType(big.snapshot);
  const n = CLIENTS - 10;
  const rows = [...new Set([...a.keys(), ...b.keys()])]
    .map((k) => ({
      type: k,
      bytes: ((b.get(k)?.bytes ?? 0) - (a.get(k)?.bytes ?? 0)) / n,
      count: ((b.get(k)?.count ?? 0) - (a.get(k)?.count ?? 0)) / n,
    }))
    .sort((x, y) => y.bytes - x.bytes)
    .slice(0, 25);
  console.log("per client, by type (heap snapshot difference, bytes and objects):");
  for (const r of rows)
    console.log(`${r.bytes.toFixed(0).padStart(8)} B ${r.count.toFixed(1).padStart(7)}  ${r.type}`);
  rmSync(small.snapshot, { force: true });
  rmSync(big.snapshot, { force: true });
}
