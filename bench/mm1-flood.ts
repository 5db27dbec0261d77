/**
 * MM1 flood benchmark (not a test): a responder engine in process, with real crypto and the
 * real clock, receives `rate` spoofed MM1s per second from random source addresses for
 * `seconds` seconds, while a real initiator (behind a NAT address, 20 ms round trip) starts a
 * Main Mode + Quick Mode two seconds in. Reports whether and how fast the real client got its
 * child SA, the MM1 rate actually delivered (what the process cannot take in time is lost, as
 * in a full socket receive buffer; at most 5 ms of flood per turn), what the half-open
 * budget did (evicted / refused / expired), and the responder's heap growth per half-open SA
 * next to the bytes each half-open SA record keeps.
 *
 *   node --expose-gc --import tsx bench/mm1-flood.ts [seconds=10] [rate=10000]
 */
import { type IkeAction, IkeEngine, ikeConfig } from "../src/ike/index.js";
import type { IkeSa } from "../src/ike/ike-sa.js";
import { Counters } from "../src/obs/counters.js";

const PSK = "bench-psk-0123456789";
const SERVER = "198.51.100.2";
const CLIENT_NAT = "198.51.100.1";
const LATENCY_MS = 10;
const CLIENT_AT_MS = 2_000;

const seconds = Number(process.argv[2] ?? 10);
const rate = Number(process.argv[3] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;

let x = 0x2545f491;
const rnd = (): number => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
};

/** A real MM1 with our default offers (48 transforms, the usual VIDs): what a flood copies. */
function template(): Buffer {
  const e = new IkeEngine(ikeConfig({ localAddress: "192.0.2.99", psks: [{ secret: PSK }] }));
  const a = e.initiate({ peer: { address: SERVER, port: 500 } }, 0).find((y) => y.kind === "send");
  if (a?.kind !== "send") throw new Error("no MM1");
  return a.data;
}

/** Octets an IKE SA record keeps in buffers and strings (the half-open state). */
function storedBytes(sa: IkeSa): number {
  let n = 0;
  for (const o of [sa, sa.vids] as object[])
    for (const v of Object.values(o)) {
      if (Buffer.isBuffer(v)) n += v.length;
      else if (typeof v === "string") n += v.length;
      else if (Array.isArray(v)) for (const s of v) n += typeof s === "string" ? s.length : 0;
    }
  return n;
}

const mm1 = template();
const counters = new Counters();
const server = new IkeEngine(
  ikeConfig({ localAddress: SERVER, psks: [{ secret: PSK }], dpd: { delaySeconds: 0 } }),
  { counters },
);
const client = new IkeEngine(
  ikeConfig({
    localAddress: "192.0.2.2",
    psks: [{ secret: PSK }],
    phase1: { offers: [{ encryption: "aes-cbc", keyBits: 128, hash: "sha2-256", group: 19 }] },
    dpd: { delaySeconds: 0 },
  }),
);

// The client's NAT: its UDP 500 and 4500 appear as CLIENT_NAT:40000 / :40001.
const natPort = (p: number) => (p === 4500 ? 40001 : 40000);
interface InFlight {
  readonly at: number;
  readonly to: "server" | "client";
  readonly data: Buffer;
  readonly port: number;
}
let inFlight: InFlight[] = [];
let clientUpAt: number | undefined;
let serverUpAt: number | undefined;

const t0 = performance.now();
const now = () => performance.now() - t0;

function fromServer(acts: IkeAction[], t: number): void {
  for (const a of acts) {
    if (a.kind === "install-child-sa" && a.child.remote === CLIENT_NAT) serverUpAt ??= t;
    if (a.kind === "send" && a.to.address === CLIENT_NAT)
      inFlight.push({ at: t + LATENCY_MS, to: "client", data: a.data, port: a.from.port });
    // sends to spoofed addresses go nowhere
  }
}
function fromClient(acts: IkeAction[], t: number): void {
  for (const a of acts) {
    if (a.kind === "install-child-sa") clientUpAt ??= t;
    if (a.kind === "send")
      inFlight.push({ at: t + LATENCY_MS, to: "server", data: a.data, port: a.from.port });
  }
}

gc?.();
const heap0 = process.memoryUsage().heapUsed;
let injected = 0;
let lost = 0;
let owed = 0;
let last = 0;
let started = false;
let peakHalfOpen = 0;
let heapAtPeak = heap0;
let storedAtPeak = 0;
const end = seconds * 1000;
const cpu0 = process.cpuUsage();

while (now() < end) {
  const t = now();
  owed += ((t - last) * rate) / 1000;
  last = t;
  // What the process cannot take in time is lost, as in a full socket receive buffer: at
  // most 5 ms of flood per turn, so the real client's packets and the timers still get turns.
  const cap = Math.max(1, rate / 200);
  if (owed > cap) {
    lost += Math.floor(owed - cap);
    owed -= Math.floor(owed - cap);
  }
  for (; owed >= 1; owed--) {
    const m = Buffer.from(mm1);
    m.writeUInt32BE(rnd(), 0);
    m.writeUInt32BE(rnd(), 4);
    const r = rnd();
    const address = `${(r >>> 24) % 223 || 1}.${(r >>> 16) & 255}.${(r >>> 8) & 255}.${r & 255 || 1}`;
    server.handleDatagram(
      {
        data: m,
        local: { address: SERVER, port: 500 },
        remote: { address, port: 1024 + (rnd() % 60000) },
      },
      t,
    );
    injected++;
  }
  if (!started && t >= CLIENT_AT_MS) {
    started = true;
    fromClient(
      client.initiate(
        {
          peer: { address: SERVER, port: 500 },
          phase2: { mode: "transport" },
        },
        t,
      ),
      t,
    );
  }
  const due = inFlight.filter((m) => m.at <= t);
  if (due.length > 0) {
    inFlight = inFlight.filter((m) => m.at > t);
    for (const m of due) {
      if (m.to === "server")
        fromServer(
          server.handleDatagram(
            {
              data: m.data,
              local: { address: SERVER, port: m.port },
              remote: { address: CLIENT_NAT, port: natPort(m.port) },
            },
            t,
          ),
          t,
        );
      else
        fromClient(
          client.handleDatagram(
            {
              data: m.data,
              local: { address: "192.0.2.2", port: m.port },
              remote: { address: SERVER, port: m.port },
            },
            t,
          ),
          t,
        );
    }
  }
  const sd = server.nextDeadline();
  if (sd !== undefined && sd <= t) fromServer(server.handleTimer(t), t);
  const cd = client.nextDeadline();
  if (cd !== undefined && cd <= t) fromClient(client.handleTimer(t), t);
  const h = server.table.halfOpenCount;
  if (h > peakHalfOpen && (h % 512 === 0 || h === server.table.halfOpen.limits.maxHalfOpen)) {
    peakHalfOpen = h;
    gc?.();
    heapAtPeak = process.memoryUsage().heapUsed;
    let sum = 0;
    let k = 0;
    for (const sa of server.sas.values())
      if (sa.state === "R_MM2") {
        sum += storedBytes(sa);
        k++;
      }
    storedAtPeak = k > 0 ? sum / k : 0;
  }
}
const cpu = process.cpuUsage(cpu0);
if (clientUpAt === undefined)
  console.log(
    "client:",
    client.ikeSas().map((s) => s.state),
    "server view:",
    server
      .ikeSas()
      .filter((s) => s.peer.address === CLIENT_NAT)
      .map((s) => s.state),
  );
const wall = now();

const c = (name: string) => Number(counters.get(name));
const refused = Object.entries(counters.snapshot())
  .filter(([k]) => k.startsWith("ike_half_open_refused"))
  .reduce((a, [, v]) => a + Number(v), 0);
console.log(
  `flood: ${injected} spoofed MM1s in ${(wall / 1000).toFixed(1)} s = ${((injected / wall) * 1000).toFixed(0)}/s delivered (asked ${rate}/s; ${lost} lost as in a full socket buffer), CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, ${((cpu.user + cpu.system) / injected).toFixed(1)} us CPU per MM1`,
);
console.log(
  `real client (started at ${CLIENT_AT_MS / 1000} s, ${2 * LATENCY_MS} ms RTT): ${
    clientUpAt !== undefined && serverUpAt !== undefined
      ? `connected (child SA on both sides) ${(Math.max(clientUpAt, serverUpAt) - CLIENT_AT_MS).toFixed(0)} ms after starting`
      : "NOT connected"
  }`,
);
console.log(
  `half-open budget: ${server.table.halfOpenCount} half-open now (peak ${peakHalfOpen} of ${server.table.halfOpen.limits.maxHalfOpen}), evicted ${c("ike_half_open_evicted")}, refused ${refused}, expired ${c("ike_half_open_expired")}`,
);
if (!gc) console.log("memory: run with node --expose-gc for heap figures");
else if (peakHalfOpen > 0)
  console.log(
    `memory at ${peakHalfOpen} half-open SAs: heap +${((heapAtPeak - heap0) / 1024 / 1024).toFixed(1)} MiB = ${((heapAtPeak - heap0) / peakHalfOpen).toFixed(0)} B of heap per half-open SA; ${storedAtPeak.toFixed(0)} B kept in buffers/strings per SA record (MM1 is ${mm1.length} B)`,
  );
