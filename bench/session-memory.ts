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
 * With --by-owner, the same difference grouped by owner instead: each object's bytes go to the
 * nearest named object (class instance or named function) on its shortest path from the GC
 * roots, with the property path from there ("IkeSaRecord.keys.skeyid" style).
 *
 *   node --expose-gc --import tsx bench/session-memory.ts [--clients 200] [--by-type] [--by-owner]
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
const BY_OWNER = argv.includes("--by-owner");
const BY_TYPE = argv.includes("--by-type") || BY_OWNER;
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

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[]];
      edge_fields: string[];
      edge_types: [string[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

type Groups = Map<string, { count: number; bytes: number }>;

function add(out: Groups, key: string, bytes: number): void {
  const e = out.get(key) ?? { count: 0, bytes: 0 };
  e.count++;
  e.bytes += bytes;
  out.set(key, e);
}

/** Self sizes by node type and constructor name from a V8 heap snapshot. */
function byType(s: Snapshot): Groups {
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const [ti, ni, si] = [f.indexOf("type"), f.indexOf("name"), f.indexOf("self_size")];
  const types = s.snapshot.meta.node_types[0];
  const out: Groups = new Map();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + ti]!]!;
    const name = s.strings[s.nodes[i + ni]!]!;
    const key = ["object", "closure", "native"].includes(type)
      ? `${type} ${name.slice(0, 48)}`
      : type;
    add(out, key, s.nodes[i + si]!);
  }
  return out;
}

/** Constructor names that say nothing about who holds the object. */
const ANONYMOUS = new Set([
  "Object",
  "Array",
  "Map",
  "Set",
  "Buffer",
  "Uint8Array",
  "Uint32Array",
  "ArrayBuffer",
  "",
]);

/**
 * Self sizes grouped by owner: the nearest named object on each node's shortest path from the
 * roots (breadth-first over strong edges), with the edge names from it.
 */
function byOwner(s: Snapshot): Groups {
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const nw = nf.length;
  const ew = ef.length;
  const [ti, ni, si, eci] = ["type", "name", "self_size", "edge_count"].map((x) => nf.indexOf(x));
  const [eti, eni, eto] = ["type", "name_or_index", "to_node"].map((x) => ef.indexOf(x));
  const ntypes = s.snapshot.meta.node_types[0];
  const etypes = s.snapshot.meta.edge_types[0];
  const count = s.nodes.length / nw;
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0; n < count; n++) firstEdge[n + 1] = firstEdge[n]! + s.nodes[n * nw + eci!]! * ew;
  const parent = new Int32Array(count).fill(-1);
  const via = new Int32Array(count).fill(-1); // edge offset that reached the node
  const queue = new Uint32Array(count);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  parent[0] = 0;
  while (head < tail) {
    const n = queue[head++]!;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += ew) {
      if (etypes[s.edges[e + eti!]!] === "weak") continue;
      const to = s.edges[e + eto!]! / nw;
      if (parent[to] !== -1) continue;
      parent[to] = n;
      via[to] = e;
      queue[tail++] = to;
    }
  }
  const type = (n: number) => ntypes[s.nodes[n * nw + ti!]!]!;
  const name = (n: number) => s.strings[s.nodes[n * nw + ni!]!]!;
  const named = (n: number) =>
    (type(n) === "object" && !ANONYMOUS.has(name(n)) && !name(n).startsWith("system")) ||
    (type(n) === "closure" && name(n) !== "");
  const edgeName = (e: number) => {
    const t = etypes[s.edges[e + eti!]!];
    if (t === "element" || t === "hidden") return "[]";
    const label = String(s.strings[s.edges[e + eni!]!]);
    return /^\d+$/.test(label) ? "#" : label; // Map/Set table slots
  };
  const out: Groups = new Map();
  for (let n = 0; n < count; n++) {
    const path: string[] = [];
    let cur = n;
    let key: string | undefined;
    for (let depth = 0; depth < 14 && parent[cur] !== -1 && cur !== 0; depth++) {
      path.unshift(edgeName(via[cur]!));
      cur = parent[cur]!;
      if (named(cur)) {
        key = `${type(cur) === "closure" ? "fn " : ""}${name(cur).slice(0, 40)}.${path.join(".")}`;
        break;
      }
    }
    key ??= `(${parent[n] === -1 ? "unreachable" : "deep"}) ${type(n)} ${name(n).slice(0, 30)}`;
    add(out, `${key} :${type(n)}`, s.nodes[n * nw + si!]!);
  }
  return out;
}

function difference(a: Groups, b: Groups, n: number, top: number) {
  return [...new Set([...a.keys(), ...b.keys()])]
    .map((k) => ({
      type: k,
      bytes: ((b.get(k)?.bytes ?? 0) - (a.get(k)?.bytes ?? 0)) / n,
      count: ((b.get(k)?.count ?? 0) - (a.get(k)?.count ?? 0)) / n,
    }))
    .sort((x, y) => y.bytes - x.bytes)
    .slice(0, top);
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
  const a = JSON.parse(readFileSync(small.snapshot, "utf8")) as Snapshot;
  const b = JSON.parse(readFileSync(big.snapshot, "utf8")) as Snapshot;
  const n = CLIENTS - 10;
  const show = (title: string, rows: ReturnType<typeof difference>) => {
    console.log(title);
    for (const r of rows)
      console.log(
        `${r.bytes.toFixed(0).padStart(8)} B ${r.count.toFixed(1).padStart(7)}  ${r.type}`,
      );
  };
  show(
    "per client, by type (heap snapshot difference, bytes and objects):",
    difference(byType(a), byType(b), n, 25),
  );
  if (BY_OWNER)
    show(
      "per client, by owner (nearest named holder . path :type):",
      difference(byOwner(a), byOwner(b), n, Number(process.env.OWNER_TOP ?? 60)),
    );
  rmSync(small.snapshot, { force: true });
  rmSync(big.snapshot, { force: true });
}
