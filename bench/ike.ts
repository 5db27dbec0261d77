/**
 * IKE benchmark (not a test): Main Mode + Quick Mode handshakes per CPU-second of the
 * RESPONDER, in process (initiator and responder engines wired back to back, no sockets), for
 * PSK with MODP-2048, ECP-256 and ECP-384; then the responder's heap per established IKE SA
 * (with its child SA) at N SAs.
 *
 *   node --expose-gc --import tsx bench/ike.ts [handshakes=200] [memorySAs=10000] [rounds=5]
 *
 * Only the responder's handleDatagram calls are timed (process.cpuUsage around each call);
 * the initiator's work is excluded. Each round runs `handshakes` handshakes per group against
 * a fresh responder, the groups interleaved, after a short warm-up; the figure reported is
 * the median over the rounds (with the spread), because the machine is shared and CPU time
 * per operation rises with the load. For orientation (task brief): strongSwan 5.9.8 measured
 * ~190 MM+QM/CPU-s with MODP-2048 or ECP-384, ~500 with ECP-256, ~14 kB per IKE SA; the
 * ratio to those figures is printed beside ours.
 */
import { IkeEngine, ikeConfig, type IkeAction, type Phase1Offer } from "../src/ike/index.js";

const PSK = "bench-psk-0123456789";
const SERVER = { address: "198.51.100.2", port: 500 };

function offers(group: number): Phase1Offer[] {
  return [{ encryption: "aes-cbc", keyBits: 128, hash: "sha2-256", group }];
}

let cpuMicros = 0;
function timed(fn: () => IkeAction[]): IkeAction[] {
  const t0 = process.cpuUsage();
  const out = fn();
  const d = process.cpuUsage(t0);
  cpuMicros += d.user + d.system;
  return out;
}

/** One client handshake against `server`; returns true when both child SAs are installed. */
function handshake(server: IkeEngine, group: number, clientIndex: number, now: number): boolean {
  const a = 10 + ((clientIndex >> 16) & 0xff);
  const client = new IkeEngine(
    ikeConfig({
      localAddress: `192.0.${a}.${(clientIndex >> 8) & 0xff}`,
      psks: [{ secret: PSK }],
      phase1: { offers: offers(group) },
      dpd: { delaySeconds: 0 },
    }),
  );
  // Distinct source endpoint per client (many clients behind one NAT address).
  const clientEp = { address: "198.51.100.1", port: 1024 + (clientIndex % 60000) };
  const srvLocal = (port: number) => ({ address: SERVER.address, port });
  let queue: { to: "s" | "c"; data: Buffer; port: number }[] = [];
  const push = (acts: IkeAction[], to: "s" | "c") => {
    for (const x of acts)
      if (x.kind === "send") queue.push({ to, data: x.data, port: x.from.port });
  };
  let installed = 0;
  const count = (acts: IkeAction[]) => {
    for (const x of acts) if (x.kind === "install-child-sa") installed++;
  };
  const first = client.initiate({ peer: SERVER, phase2: { mode: "transport" } }, now);
  push(first, "s");
  for (let steps = 0; queue.length > 0 && steps < 20; steps++) {
    const batch = queue;
    queue = [];
    for (const m of batch) {
      if (m.to === "s") {
        const out = timed(() =>
          server.handleDatagram(
            {
              data: m.data,
              local: srvLocal(m.port),
              remote: { ...clientEp, port: clientEp.port + (m.port === 4500 ? 30000 : 0) },
            },
            now,
          ),
        );
        count(out);
        push(out, "c");
      } else {
        const out = client.handleDatagram(
          {
            data: m.data,
            local: { address: "192.0.2.2", port: m.port },
            remote: { ...SERVER, port: m.port },
          },
          now,
        );
        count(out);
        push(out, "s");
      }
    }
  }
  return installed === 2;
}

function serverEngine(): IkeEngine {
  return new IkeEngine(ikeConfig({ psks: [{ secret: PSK }], dpd: { delaySeconds: 0 } }));
}

const n = Number(process.argv[2] ?? 200);
const memN = Number(process.argv[3] ?? 10000);
const rounds = Math.max(1, Number(process.argv[4] ?? 5));
const GROUPS = [
  { name: "MODP-2048", group: 14, strongswan: 190 },
  { name: "ECP-256", group: 19, strongswan: 500 },
  { name: "ECP-384", group: 20, strongswan: 190 },
] as const;

/** Handshakes per responder CPU-second for `count` handshakes against a fresh responder. */
function measure(group: number, count: number): { ok: number; rate: number } {
  const server = serverEngine();
  cpuMicros = 0;
  let ok = 0;
  for (let i = 0; i < count; i++) if (handshake(server, group, i, 1000 + i)) ok++;
  return { ok, rate: ok / (cpuMicros / 1e6) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

for (const g of GROUPS) measure(g.group, 20); // warm-up: JIT, group tables
const rates = new Map<number, number[]>(GROUPS.map((g) => [g.group, []]));
let failed = 0;
for (let r = 0; r < rounds; r++)
  for (const g of GROUPS) {
    const m = measure(g.group, n);
    failed += n - m.ok;
    rates.get(g.group)?.push(m.rate);
  }
console.log(`${rounds} rounds x ${n} MM+QM handshakes per group (PSK, AES-128, SHA2-256)`);
for (const g of GROUPS) {
  const xs = rates.get(g.group) ?? [];
  const med = median(xs);
  console.log(
    `${g.name.padEnd(10)} ${med.toFixed(0).padStart(5)} handshakes per responder CPU-second (median; ${Math.min(...xs).toFixed(0)}..${Math.max(...xs).toFixed(0)}), ${(med / g.strongswan).toFixed(2)}x strongSwan's ~${g.strongswan}`,
  );
}
if (failed > 0) console.log(`WARNING: ${failed} handshakes did not complete`);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.log("memory: run with node --expose-gc for the per-SA memory figure");
else {
  const server = serverEngine();
  gc();
  const before = process.memoryUsage().heapUsed;
  let ok = 0;
  for (let i = 0; i < memN; i++) if (handshake(server, 19, i, 1000)) ok++;
  gc();
  const after = process.memoryUsage().heapUsed;
  console.log(
    `memory: ${ok} established IKE SAs (+1 child SA each, ECP-256): ${((after - before) / ok / 1024).toFixed(1)} kB of responder heap per IKE SA (${server.ikeSas().length} in the table; strongSwan ~14 kB)`,
  );
}
