/**
 * IKE benchmark (not a test): Main Mode + Quick Mode handshakes per CPU-second of the
 * RESPONDER, in process (initiator and responder engines wired back to back, no sockets), for
 * PSK with MODP-2048, ECP-256 and ECP-384; then the responder's heap per established IKE SA
 * (with its child SA) at N SAs.
 *
 *   node --expose-gc --import tsx bench/ike.ts [handshakes=300] [memorySAs=10000]
 *
 * Only the responder's handleDatagram calls are timed (process.cpuUsage around each call);
 * the initiator's work is excluded. For orientation (task brief): strongSwan 5.9.8 measured
 * ~190 MM+QM/CPU-s with MODP-2048 or ECP-384, ~500 with ECP-256, ~14 kB per IKE SA.
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

const n = Number(process.argv[2] ?? 300);
const memN = Number(process.argv[3] ?? 10000);
for (const [name, group] of [
  ["MODP-2048", 14],
  ["ECP-256", 19],
  ["ECP-384", 20],
] as const) {
  const server = serverEngine();
  cpuMicros = 0;
  let ok = 0;
  for (let i = 0; i < n; i++) if (handshake(server, group, i, 1000 + i)) ok++;
  const rate = ok / (cpuMicros / 1e6);
  console.log(
    `${name.padEnd(10)} ${ok}/${n} MM+QM handshakes, responder CPU ${(cpuMicros / 1000).toFixed(0)} ms: ${rate.toFixed(0)} handshakes per responder CPU-second`,
  );
}

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
    `memory: ${ok} established IKE SAs (+1 child SA each, ECP-256): ${((after - before) / ok / 1024).toFixed(1)} kB of responder heap per IKE SA (${server.ikeSas().length} in the table)`,
  );
}
