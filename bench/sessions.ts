/**
 * Many complete L2TP/IPsec clients against one `oakley serve` (not a test; root): IKE (Main +
 * Quick Mode, PSK), ESP-in-UDP across the lab's MASQUERADE NAT, L2TP, PPP (MS-CHAPv2) up to an
 * assigned address. The clients are Oakley's own client stack (src/daemon/stack.ts `buildStack`,
 * role "lac", `clientIkeConfig`, `l2tpRequest`), N of them in ONE load process in the lab's
 * client namespace, each on its own real UDP port pair (`openIpsecPorts` with {ike, natt}), so
 * the NAT gives each its own mapping. No TUN on the client side: PPP's IP packets are dropped.
 * The server is `oakley serve` from bin/oakley (`npm run build` first) with N users (put in its
 * store beforehand, see provisionUsers) and a /16 pool. Reported:
 *   - connects per second (all N started with --parallel in flight), p50/p99 time from
 *     initiate to the client's PPP address;
 *   - server RSS (VmRSS of /proc/PID/status) idle vs with N up: (up - idle) / N;
 *   - server CPU seconds (utime+stime) per connect;
 *   - with --churn M: M more connect/disconnect cycles, then `oakley status --json` and
 *     `oakley sa list --json` on the server's control socket must show nothing left over, and
 *     RSS is compared with the RSS after the first min(1000, M) cycles; RSS, JS heap and native
 *     buffers of the server are sampled every 1000 cycles (memoryCurve).
 *
 *   sudo npx tsx bench/sessions.ts [--clients 200] [--parallel 20] [--churn 0]
 * Run it under the interop lock (network namespaces):
 *   flock /tmp/oakley-interop.lock npm run bench:sessions
 *
 * Each client's sockets use their own port pair; IpsecNode maps them to the engine's logical
 * 500/4500 (tested in test/scenarios/product.test.ts). Runs at 2000 clients (--clients 2000).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync, mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { clientIkeConfig, l2tpRequest } from "../src/daemon/client.js";
import { openIpsecPorts } from "../src/daemon/ipsec-node.js";
import { buildStack, type Stack } from "../src/daemon/stack.js";
import { Counters } from "../src/obs/counters.js";
import { LogHub } from "../src/obs/log.js";
import { createDefaultStore, makeCredentials } from "../src/policy/index.js";
import { systemClock, systemRandom } from "../src/platform/index.js";
import { LAB_ADDR, labUp, missingPackages } from "../test/interop/strongswan/lab.js";
import { type Daemon, nsDaemon, nsRun, waitFor } from "../test/interop/strongswan/proc.js";
import { pidCpu } from "./lab-tunnel.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const CLIENTS = Number(opt("clients") ?? "200");
const PARALLEL = Number(opt("parallel") ?? "20");
const CHURN = Number(opt("churn") ?? "0");
const ROOT = resolve(import.meta.dirname, "..");
const OAKLEY = join(ROOT, "bin", "oakley");
const SELF = resolve(import.meta.filename);
const PSK = "oak-bench-sessions-psk-0123456789";
const BASE_PORT = 20_000;
const user = (i: number): string => `bench${i}`;
const password = (i: number): string => `bench-pass-${i}-xyz`;

// ------------------------------------------------------------------ load process (client ns)

interface Client {
  stack: Stack;
  up: Promise<number>;
}

async function connectOne(slot: number, local: string, server: string): Promise<Client> {
  const ports = { ike: BASE_PORT + 2 * slot, natt: BASE_PORT + 2 * slot + 1 };
  const p = await openIpsecPorts({ listen: local, ports, rawEsp: false });
  if (!p.ok) throw new Error(`slot ${slot}: ports ${ports.ike}/${ports.natt}: ${p.error.message}`);
  const logs = new LogHub({ write: () => undefined }, "error");
  let settle!: { ok: (ms: number) => void; fail: (e: Error) => void };
  const up = new Promise<number>((ok, fail) => {
    settle = { ok, fail };
  });
  up.catch(() => undefined);
  const t0 = performance.now();
  const stack = buildStack(
    {
      role: "lac",
      listen: local,
      ike: clientIkeConfig({ psk: PSK, natPolicy: 0 }, local, server, false),
      clock: systemClock,
      random: systemRandom,
      logs,
      counters: new Counters(),
      mtu: 1400,
      ports,
      client: { user: user(slot), password: password(slot), authMethods: ["mschapv2"] },
      onIkeEvent: (e) => {
        if (e.type === "failed") settle.fail(new Error(`slot ${slot}: ${e.stage}: ${e.message}`));
      },
      onEvent: (e) => {
        if (e.type === "ip-up") settle.ok(performance.now() - t0);
        else if (e.type === "auth-failed" || e.type === "session-down" || e.type === "tunnel-down")
          settle.fail(new Error(`slot ${slot}: ${e.type}`));
      },
    },
    { ipsec: p.value, tun: { write: () => true } },
  );
  stack.node.initiate(l2tpRequest(local, server, 500));
  return { stack, up };
}

async function disconnect(c: Client): Promise<void> {
  c.stack.l2tp.close();
  await new Promise((r) => setTimeout(r, 300)); // PPP Terminate, CDN, StopCCN inside ESP
  c.stack.node.deleteAll();
  await new Promise((r) => setTimeout(r, 100));
  c.stack.l2tp.dispose();
  c.stack.node.close();
}

const emitLine = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

/** Connects `slots` with at most PARALLEL in flight; returns the clients and their times. */
async function connectAll(
  slots: readonly number[],
  local: string,
  server: string,
): Promise<{ clients: Map<number, Client>; times: number[]; failed: string[] }> {
  const clients = new Map<number, Client>();
  const times: number[] = [];
  const failed: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < slots.length) {
      const slot = slots[next++]!;
      try {
        const c = await connectOne(slot, local, server);
        clients.set(slot, c);
        const ms = await Promise.race([
          c.up,
          new Promise<number>((_, fail) =>
            setTimeout(() => fail(new Error(`slot ${slot}: no address in 60 s`)), 60_000),
          ),
        ]);
        times.push(ms);
      } catch (e) {
        failed.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, slots.length) }, worker));
  return { clients, times, failed };
}

async function loadMain(): Promise<void> {
  const local = LAB_ADDR.client;
  const server = LAB_ADDR.server;
  const slots = Array.from({ length: CLIENTS }, (_, i) => i);
  const rl = createInterface({ input: process.stdin });
  const commands: string[] = [];
  let wake: (() => void) | undefined;
  rl.on("line", (l) => {
    commands.push(l.trim());
    wake?.();
  });
  const command = async (): Promise<string> => {
    while (commands.length === 0) await new Promise<void>((r) => (wake = r));
    return commands.shift()!;
  };
  for (;;) {
    const cmd = await command();
    if (cmd === "up") {
      const t0 = performance.now();
      const r = await connectAll(slots, local, server);
      emitLine({
        type: "up",
        wallMs: performance.now() - t0,
        times: r.times,
        failed: r.failed,
      });
      await command(); // "down"
      await Promise.all([...r.clients.values()].map(disconnect));
      emitLine({ type: "down" });
    } else if (cmd.startsWith("churn ")) {
      // cycles: connect one slot, disconnect it; PARALLEL slots at a time
      const cycles = Number(cmd.slice(6));
      let done = 0;
      const times: number[] = [];
      const failed: string[] = [];
      let next = 0;
      const worker = async (w: number): Promise<void> => {
        while (next < cycles) {
          next++;
          const r = await connectAll([w], local, server);
          times.push(...r.times);
          failed.push(...r.failed);
          await Promise.all([...r.clients.values()].map(disconnect));
          done++;
          if (done % 100 === 0) emitLine({ type: "progress", done });
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL, cycles) }, (_, w) => worker(w)));
      emitLine({
        type: "churned",
        cycles: done,
        times,
        failed: failed.slice(0, 20),
        failures: failed.length,
      });
    } else if (cmd === "exit") {
      process.exit(0);
    }
  }
}

// ------------------------------------------------------------------ driver (root ns)

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? Number.NaN);
}

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/**
 * The N users go into the server's store through the store API (as `oakley users add` would),
 * with a cheap scrypt for their PAP verifier: the clients authenticate with MS-CHAPv2, which
 * never runs scrypt, and N production-cost scrypt runs (~0.1 s each) would make a 2000-client
 * run spend minutes provisioning instead of connecting.
 */
function provisionUsers(path: string): void {
  const opened = createDefaultStore(path, (n) => randomBytes(n));
  if (!opened.ok) throw new Error(opened.error.message);
  const store = opened.value.store;
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const r = store.users.create({
        name: user(i),
        enabled: true,
        protocols: ["mschapv2"],
        credentials: makeCredentials(password(i), (n) => randomBytes(n), {
          scrypt: { n: 1024, r: 8, p: 1 },
        }),
      });
      if (!r.ok) throw new Error(r.error.message);
    }
  } finally {
    store.close();
  }
}

async function driverMain(): Promise<void> {
  const missing = await missingPackages(["iproute2", "iptables"]);
  if (process.getuid?.() !== 0 || missing.length > 0) {
    console.error(
      `bench/sessions: cannot run here: ${missing.length ? `missing ${missing.join(" ")}` : "needs root"}`,
    );
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), "oak-bench-sessions-"));
  provisionUsers(join(dir, "serve.db"));
  const lab = await labUp();
  let server: Daemon | undefined;
  const sock = join(dir, "serve.sock");
  const out: Record<string, unknown> = { clients: CLIENTS, parallel: PARALLEL, churn: CHURN };
  try {
    server = nsDaemon(
      lab.ns.server,
      "oakley serve",
      process.execPath,
      [
        OAKLEY,
        "serve",
        "--store",
        join(dir, "serve.db"),
        "--listen",
        LAB_ADDR.server,
        "--psk",
        PSK,
        "--pool",
        "10.64.0.0/16",
        "--status-file",
        join(dir, "serve.status.json"),
        "--control-socket",
        sock,
        "--log-level",
        "warn",
        "--log-format",
        "text",
      ],
      join(dir, "serve.log"),
    );
    const srv = server;
    await waitFor(
      "oakley serve ready",
      () => {
        if (!srv.running) throw new Error(`oakley serve exited:\n${srv.log()}`);
        return existsSock(sock) ? true : undefined;
      },
      120_000,
      200,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdle = rssKb(srv.pid);
    const load = spawn(
      "ip",
      [
        "netns",
        "exec",
        lab.ns.client,
        process.execPath,
        "--import",
        "tsx",
        SELF,
        "--load",
        "--clients",
        String(CLIENTS),
        "--parallel",
        String(PARALLEL),
      ],
      { stdio: ["pipe", "pipe", "inherit"], cwd: ROOT },
    );
    const lines = createInterface({ input: load.stdout! });
    const queue: Record<string, unknown>[] = [];
    let wake: (() => void) | undefined;
    lines.on("line", (l) => {
      try {
        queue.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        console.error(`load: ${l}`);
      }
      wake?.();
    });
    const next = async (type: string): Promise<Record<string, unknown>> => {
      for (;;) {
        const i = queue.findIndex((m) => m.type === type);
        if (i >= 0) return queue.splice(i, 1)[0]!;
        if (load.exitCode !== null) throw new Error(`load process exited ${load.exitCode}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 1000);
        });
      }
    };
    const cpu0 = pidCpu(srv.pid);
    load.stdin!.write("up\n");
    const up = await next("up");
    const cpuUp = pidCpu(srv.pid) - cpu0;
    const times = up.times as number[];
    const failed = up.failed as string[];
    await new Promise((r) => setTimeout(r, 1000));
    const rssUp = rssKb(srv.pid);
    const status = await control(lab.ns.server, sock, ["status"]);
    out.up = {
      connected: times.length,
      failed: failed.length,
      firstFailures: failed.slice(0, 5),
      wallS: (up.wallMs as number) / 1000,
      connectsPerS: times.length / ((up.wallMs as number) / 1000),
      timeToAddressMs: { p50: pct(times, 50), p99: pct(times, 99), max: pct(times, 100) },
      serverRssKb: {
        idle: rssIdle,
        up: rssUp,
        perClient: (rssUp - rssIdle) / Math.max(1, times.length),
      },
      serverCpuS: cpuUp,
      serverCpuMsPerConnect: (1000 * cpuUp) / Math.max(1, times.length),
      statusWithAllUp: status,
    };
    console.error(JSON.stringify(out.up, null, 2));
    load.stdin!.write("down\n");
    await next("down");
    await new Promise((r) => setTimeout(r, 2000));
    out.afterDown = await leftovers(lab.ns.server, sock);
    out.rssAfterDownKb = rssKb(srv.pid);
    if (CHURN > 0) {
      // In steps of 1000 cycles, so the server's memory is seen as a curve: a leak climbs
      // steadily, allocator and V8 high-water marks level off.
      const c0 = pidCpu(srv.pid);
      const t0 = performance.now();
      const times: number[] = [];
      const firstFailed: unknown[] = [];
      let failures = 0;
      const curve: Array<{
        cycles: number;
        rssKb: number;
        heapUsedKb: number;
        externalKb: number;
      }> = [];
      for (let done = 0; done < CHURN; ) {
        const step = Math.min(1000, CHURN - done);
        load.stdin!.write(`churn ${step}\n`);
        const r = await next("churned");
        done += step;
        times.push(...(r.times as number[]));
        failures += r.failures as number;
        if (firstFailed.length < 5) firstFailed.push(...(r.failed as unknown[]));
        await new Promise((res) => setTimeout(res, 2000));
        const st = (await control(lab.ns.server, sock, ["status"])) as {
          memory?: { heapUsedBytes: number; externalBytes: number };
        };
        curve.push({
          cycles: done,
          rssKb: rssKb(srv.pid),
          heapUsedKb: Math.round((st.memory?.heapUsedBytes ?? 0) / 1024),
          externalKb: Math.round((st.memory?.externalBytes ?? 0) / 1024),
        });
        console.error(`  churn ${done}/${CHURN}: ${JSON.stringify(curve.at(-1))}`);
      }
      const wallS = (performance.now() - t0) / 1000;
      const rssFirst = curve[0]!.rssKb;
      const rssEnd = curve.at(-1)!.rssKb;
      out.churn = {
        cycles: CHURN,
        failures,
        firstFailures: firstFailed.slice(0, 5),
        cyclesPerS: CHURN / wallS,
        timeToAddressMs: { p50: pct(times, 50), p99: pct(times, 99) },
        serverCpuMsPerCycle: (1000 * (pidCpu(srv.pid) - c0)) / CHURN,
        rssKb: { afterFirst: rssFirst, end: rssEnd, growth: (rssEnd - rssFirst) / rssFirst },
        memoryCurve: curve,
        leftovers: await leftovers(lab.ns.server, sock),
      };
      console.error(JSON.stringify(out.churn, null, 2));
    }
    load.stdin!.write("exit\n");
  } catch (e) {
    console.error(`bench/sessions: failed; logs kept in ${dir}`);
    throw e;
  } finally {
    await server?.stop("SIGINT", 10_000);
    await lab.down();
  }
  report(out);
  mkdirSync(join(ROOT, "artifacts"), { recursive: true });
  writeFileSync(
    join(ROOT, "artifacts", "bench-sessions.json"),
    `${JSON.stringify(out, null, 2)}\n`,
  );
  rmSync(dir, { recursive: true, force: true });
}

function existsSock(p: string): boolean {
  try {
    readFileSync(p);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

async function control(ns: string, sock: string, args: string[]): Promise<unknown> {
  const r = await nsRun(ns, process.execPath, [OAKLEY, ...args, "--socket", sock, "--json"], {
    timeoutMs: 30_000,
  });
  if (r.code !== 0) throw new Error(`oakley ${args.join(" ")}: ${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout);
}

async function leftovers(ns: string, sock: string): Promise<unknown> {
  const status = await control(ns, sock, ["status"]);
  const sas = (await control(ns, sock, ["sa", "list"])) as { ike: unknown[]; child: unknown[] };
  return { status, ikeSas: sas.ike.length, childSas: sas.child.length };
}

function report(o: Record<string, unknown>): void {
  const up = o.up as {
    connected: number;
    failed: number;
    wallS: number;
    connectsPerS: number;
    timeToAddressMs: { p50: number; p99: number };
    serverRssKb: { idle: number; up: number; perClient: number };
    serverCpuS: number;
    serverCpuMsPerConnect: number;
  };
  console.log(
    `\n${CLIENTS} clients (IKE+ESP+L2TP+PPP) from one load process behind the lab NAT, ${PARALLEL} connecting at once, against one oakley serve`,
  );
  console.log(
    `connected ${up.connected}/${CLIENTS} (failed ${up.failed}) in ${up.wallS.toFixed(1)} s: ${up.connectsPerS.toFixed(1)} connects/s`,
  );
  console.log(
    `time to address: p50 ${up.timeToAddressMs.p50.toFixed(0)} ms, p99 ${up.timeToAddressMs.p99.toFixed(0)} ms`,
  );
  console.log(
    `server RSS: idle ${up.serverRssKb.idle} kB, ${up.connected} up ${up.serverRssKb.up} kB -> ${up.serverRssKb.perClient.toFixed(1)} kB per client (target <= 50)`,
  );
  console.log(
    `server CPU: ${up.serverCpuS.toFixed(2)} s for the connects, ${up.serverCpuMsPerConnect.toFixed(1)} ms per connect`,
  );
  console.log(`after all disconnected: ${JSON.stringify(o.afterDown)}`);
  if (o.churn) console.log(`churn: ${JSON.stringify(o.churn)}`);
}

if (argv.includes("--load")) await loadMain();
else await driverMain();
