/**
 * Fail-closed "block mode" end to end, in two network namespaces:
 *
 *   A: oak-fc-<pid>-a   a0 198.51.100.1/24 ──veth── b0 198.51.100.2/24   B: oak-fc-<pid>-b
 *      "the daemon": FailClosedGuard + a toy tunnel      the peer: toy tunnel, sinks,
 *      (TUN oakfc0 192.0.2.1, route 203.0.113.0/24)       lo 203.0.113.1, capture on b0
 *      fallback route 203.0.113.0/24 via 198.51.100.2 metric 100 (the "TUN-less path")
 *
 * The toy tunnel carries IP packets from the TUN inside ESP-shaped packets (IP protocol 50,
 * SPI + sequence + packet, no crypto): what a capture sees of a real Oakley data path. When the
 * daemon is SIGKILLed its TUN disappears, the kernel falls back to the clear route, and only
 * the nftables table it left in the kernel stands between the applications and the wire.
 *
 * The tests prove, with tcpdump on B's interface read back by tshark (an independent dissector):
 *  - a control run without the guard does leak (UDP 1701 in the clear): the capture can fail;
 *  - with the guard installed (protected: UDP 1701 to B, and everything to B and 203.0.113.0/24
 *    except IKE/ESP), while a UDP 1701 loop and a TCP transfer run through the tunnel, and after
 *    the daemon is SIGKILLed mid-transfer, no protected packet leaves A in the clear, the nft
 *    drop counters keep growing after the kill (the applications kept trying), and UDP 500,
 *    UDP 4500 and ESP still pass; loopback is not blocked;
 *  - the next start reports "previous instance ... did not stop cleanly; traffic was blocked
 *    meanwhile", and a clean stop removes the table;
 *  - in block mode (a client of B with a default route: everything protected) UDP 500/4500 and
 *    ESP to a third address on the link are dropped, while B, the configured server, still gets
 *    IKE, NAT-T and ESP (the exemptions name the peer, not just the port);
 *  - UDP 500 held by another process (socat) -> block mode, the status names port, process, pid;
 *  - a corrupt store (garbage in the SQLite file, opened with src/policy openStore ->
 *    OAK_E_STORE_CORRUPT) -> block mode with that reason and the block set saved by the last
 *    successful start; with nothing saved, the default L2TP set.
 *
 * Needs root, iproute2, nftables, tcpdump, tshark, socat; otherwise each test is skipped with
 * the reason. Namespaces and processes are always torn down (after hook + exit hook).
 *
 * The same file is also the child programs (role in OAK_FC_ROLE): "daemon", "udp-loop",
 * "tcp-send"; they run inside a namespace through `ip netns exec`.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { unwrap } from "../../src/base/result.js";
import {
  type BlockSet,
  blockSetFromPolicy,
  DEFAULT_BLOCK_SET,
  FailClosedGuard,
  fromBindError,
  fromStoreError,
  parseBlockSet,
  readFailClosedStatus,
  serializeBlockSet,
} from "../../src/daemon/fail-closed/index.js";
import { NftTable, parseProcNetUdp } from "../../src/platform/firewall/index.js";
import { createDatagramSocket, RawEspSocket, TunDevice } from "../../src/platform/index.js";
import { effectivePolicy, openStore, StoreErrorCode } from "../../src/policy/index.js";

const ROOT = resolve(import.meta.dirname, "../..");
const SELF = import.meta.filename;
const A_ADDR = "198.51.100.1";
const B_ADDR = "198.51.100.2";
const A_TUN = "192.0.2.1";
const B_TUN = "192.0.2.2";
const B_INNER = "203.0.113.1";
const ESP_SPI = 0xfc01;

// ------------------------------------------------------------------------------------------
// Child programs
// ------------------------------------------------------------------------------------------

interface TunnelConfig {
  readonly name: string;
  readonly address: string;
  /** CIDRs routed into the tunnel. */
  readonly routes: readonly string[];
  /** The ESP peer. */
  readonly remote: string;
}

interface DaemonConfig {
  readonly statusPath?: string;
  /** A policy store to open (server role); else `blockSet`. */
  readonly store?: string;
  readonly blockSet?: string;
  /** Bind UDP 500 and 4500 like the IKE daemon. */
  readonly bindIke: boolean;
  readonly tunnel?: TunnelConfig;
}

function emit(o: object): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function startTunnel(t: TunnelConfig): void {
  const dev = unwrap(TunDevice.open({ name: t.name }));
  unwrap(dev.setAddress({ local: t.address, prefixLength: 32 }));
  unwrap(dev.setMtu(1400));
  unwrap(dev.setUp(true));
  for (const r of t.routes) {
    const [destination = "", len = "32"] = r.split("/");
    unwrap(dev.addRoute({ destination, prefixLength: Number(len) }));
  }
  const esp = unwrap(RawEspSocket.open());
  let seq = 0;
  dev.onPackets((packets) => {
    for (const p of packets) {
      const h = Buffer.alloc(8);
      h.writeUInt32BE(ESP_SPI, 0);
      h.writeUInt32BE(++seq >>> 0, 4);
      esp.send(Buffer.concat([h, p]), t.remote);
    }
    esp.flush();
  });
  esp.onPacket((payload, info) => {
    if (info.source === t.remote && payload.length > 8 && payload.readUInt32BE(0) === ESP_SPI) {
      dev.write(payload.subarray(8));
    }
  });
}

async function daemonMain(cfg: DaemonConfig): Promise<void> {
  if (!cfg.statusPath) {
    // the peer: a tunnel and nothing else
    if (cfg.tunnel) startTunnel(cfg.tunnel);
    emit({ event: "ready" });
    return;
  }
  const guard = new FailClosedGuard({ statusPath: cfg.statusPath });
  const begin = await guard.begin();
  emit({ event: "begin", report: begin.ok ? begin.value : begin.error });
  const block = async (why: Parameters<FailClosedGuard["enterBlockMode"]>[0], set?: BlockSet) => {
    const st = await guard.enterBlockMode(why, set);
    emit({ event: "block", status: st.ok ? st.value : st.error });
    process.exit(3);
  };
  let set: BlockSet;
  if (cfg.store !== undefined) {
    const s = openStore(cfg.store);
    if (!s.ok) return block(fromStoreError(s.error));
    const eff = effectivePolicy(s.value);
    if (!eff.ok) return block(fromStoreError(eff.error));
    set = unwrap(blockSetFromPolicy(eff.value, { role: "server" }));
  } else {
    set = unwrap(parseBlockSet(cfg.blockSet ?? ""));
  }
  if (cfg.bindIke) {
    for (const port of [500, 4500]) {
      const sock = createDatagramSocket("dgram");
      const b = await sock.bind("0.0.0.0", port);
      if (!b.ok) return block(fromBindError(b.error, port), set);
    }
  }
  const p = await guard.enterProtectedMode(set);
  if (!p.ok) return block({ kind: "runtime", message: p.error.message }, set);
  if (cfg.tunnel) startTunnel(cfg.tunnel);
  process.on("SIGTERM", () => {
    void guard.cleanStop().then((r) => {
      emit({ event: "stopped", removed: r.ok ? r.value : r.error });
      process.exit(0);
    });
  });
  emit({ event: "ready" });
}

function udpLoopMain(): void {
  // L2TP-like datagrams from port 1701: to the inner address (through the tunnel while it
  // exists) and to B's public address (never allowed in the clear).
  const s = createSocket({ type: "udp4", reuseAddr: true });
  s.on("error", () => {});
  s.bind(1701, () => {
    let n = 0;
    setInterval(() => {
      const msg = Buffer.from(`l2tp-${n++}`);
      s.send(msg, 1701, B_INNER, () => {});
      s.send(msg, 1701, B_ADDR, () => {});
    }, 20);
  });
}

function tcpSendMain(): void {
  const chunk = Buffer.alloc(1024, 0x61);
  const go = (): void => {
    const c = connect({ host: B_INNER, port: 5001 });
    let timer: NodeJS.Timeout | undefined;
    c.on("connect", () => {
      emit({ event: "connected" });
      timer = setInterval(() => c.write(chunk), 10);
    });
    c.on("error", () => {});
    c.on("close", () => {
      if (timer) clearInterval(timer);
      setTimeout(go, 200);
    });
  };
  go();
}

// ------------------------------------------------------------------------------------------
// Test harness
// ------------------------------------------------------------------------------------------

function run(argv: readonly string[], timeoutMs = 20_000): Promise<string> {
  const [cmd = "", ...args] = argv;
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      if (e) rej(new Error(`${argv.join(" ")} failed: ${String(stderr).trim() || e.message}`));
      else res(String(stdout));
    });
  });
}

/** One datagram from namespace `ns` with socat (`addr` is a socat address such as UDP4-SENDTO:...). */
function probe(ns: string, addr: string): Promise<string> {
  return run(["ip", "netns", "exec", ns, "sh", "-c", `echo probe | socat -u - ${addr}`], 5000);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, nftables)";
  const missing = ["ip", "nft", "tcpdump", "tshark", "socat"].filter(
    (c) => spawnSync("sh", ["-c", `command -v ${c}`]).status !== 0,
  );
  if (missing.length > 0) {
    return `missing programs: ${missing.join(", ")} (Debian packages iproute2 nftables tcpdump tshark socat)`;
  }
  return undefined;
}

interface Proc {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  /** Raw stdout text. */
  readonly out: string[];
  readonly stderr: string[];
  waitFor(event: string, ms?: number): Promise<Record<string, unknown>>;
  exited(): Promise<number | null>;
}

const procs: ChildProcess[] = [];

function nsSpawn(ns: string, argv: readonly string[], env: Record<string, string> = {}): Proc {
  const child = spawn("ip", ["netns", "exec", ns, ...argv], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  procs.push(child);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const out: string[] = [];
  const waiters: (() => void)[] = [];
  let buf = "";
  child.stdout?.on("data", (b: Buffer) => {
    out.push(b.toString());
    buf += b.toString();
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not ours
      }
      for (const w of waiters.splice(0)) w();
    }
  });
  child.stderr?.on("data", (b: Buffer) => {
    stderr.push(b.toString());
    for (const w of waiters.splice(0)) w();
  });
  const exit = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  return {
    child,
    lines,
    out,
    stderr,
    exited: () => exit,
    async waitFor(event, ms = 20_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const l = lines.find((x) => x.event === event);
        if (l) return l;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(
            `no "${event}" from ${argv.join(" ")} (exit ${child.exitCode}): ${JSON.stringify(lines)} ${stderr.join("")}`,
          );
        }
        await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(200)]);
      }
    },
  };
}

function nodeChild(ns: string, role: string, config?: object): Proc {
  return nsSpawn(ns, [process.execPath, "--import", "tsx", SELF], {
    OAK_FC_ROLE: role,
    ...(config ? { OAK_FC_CONFIG: JSON.stringify(config) } : {}),
  });
}

function killAll(): void {
  for (const c of procs.splice(0)) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
}

/** Kills every child and waits until each has exited (its sockets are then closed). */
async function killAllAndWait(): Promise<void> {
  const live = procs.filter((c) => c.exitCode === null && c.signalCode === null);
  const exits = live.map((c) => new Promise<void>((res) => c.once("exit", () => res())));
  killAll();
  await Promise.race([Promise.all(exits), sleep(10_000)]);
}

class Lab {
  readonly a: string;
  readonly b: string;
  readonly dir: string;
  readonly nftA: NftTable;

  constructor() {
    this.a = `oak-fc-${process.pid}-a`;
    this.b = `oak-fc-${process.pid}-b`;
    this.dir = mkdtempSync(join(tmpdir(), "oak-fc-"));
    this.nftA = new NftTable("inet", "oakley", { netns: this.a });
  }

  static async cleanupStale(): Promise<void> {
    const out = await run(["ip", "netns", "list"]);
    for (const m of out.matchAll(/^oak-fc-(\d+)-[ab]\b/gm)) {
      const pid = Number(m[1]);
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (!alive) await run(["ip", "netns", "del", m[0]]).catch(() => {});
    }
  }

  async up(): Promise<void> {
    await Lab.cleanupStale();
    const { a, b } = this;
    for (const ns of [a, b]) {
      await run(["ip", "netns", "add", ns]);
      await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
      await run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"]);
      await run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0"]);
    }
    await run([
      "ip",
      "-n",
      a,
      "link",
      "add",
      "a0",
      "type",
      "veth",
      "peer",
      "name",
      "b0",
      "netns",
      b,
    ]);
    await run(["ip", "-n", a, "addr", "add", `${A_ADDR}/24`, "dev", "a0"]);
    await run(["ip", "-n", b, "addr", "add", `${B_ADDR}/24`, "dev", "b0"]);
    await run(["ip", "-n", b, "addr", "add", `${B_INNER}/32`, "dev", "lo"]);
    await run(["ip", "-n", a, "link", "set", "a0", "up"]);
    await run(["ip", "-n", b, "link", "set", "b0", "up"]);
    // The clear path that remains when the tunnel is gone.
    await run([
      "ip",
      "-n",
      a,
      "route",
      "add",
      "203.0.113.0/24",
      "via",
      B_ADDR,
      "dev",
      "a0",
      "metric",
      "100",
    ]);
    await run(["ip", "netns", "exec", a, "ping", "-c1", "-W2", B_ADDR]);
  }

  async down(): Promise<void> {
    killAll();
    for (const ns of [this.a, this.b]) {
      // kill whatever still runs in the namespace, then delete it (its table goes with it)
      const pids = await run(["ip", "netns", "pids", ns]).catch(() => "");
      for (const p of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {
          // gone
        }
      }
      await run(["ip", "netns", "del", ns]).catch(() => {});
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Packet {
  readonly t: number;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport?: number;
  readonly dport?: number;
  /** ICMP type, for ICMP packets. */
  readonly icmpType?: number;
}

/** Reads a capture with tshark (first value of each field: the outer header). */
async function readCapture(file: string): Promise<Packet[]> {
  const out = await run(
    [
      "tshark",
      "-r",
      file,
      "-n",
      "-T",
      "fields",
      "-E",
      "separator=|",
      "-Y",
      "ip",
      "-e",
      "frame.time_epoch",
      "-e",
      "ip.src",
      "-e",
      "ip.dst",
      "-e",
      "ip.proto",
      "-e",
      "udp.srcport",
      "-e",
      "udp.dstport",
      "-e",
      "tcp.srcport",
      "-e",
      "tcp.dstport",
      "-e",
      "icmp.type",
    ],
    60_000,
  );
  const first = (s: string | undefined) => (s ?? "").split(",")[0] ?? "";
  const num = (s: string | undefined) => (first(s) === "" ? undefined : Number(first(s)));
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const f = l.split("|");
      const sport = num(f[4]) ?? num(f[6]);
      const dport = num(f[5]) ?? num(f[7]);
      const icmpType = num(f[8]);
      return {
        t: Number(f[0]) * 1000,
        src: first(f[1]),
        dst: first(f[2]),
        proto: Number(first(f[3])),
        ...(sport !== undefined ? { sport } : {}),
        ...(dport !== undefined ? { dport } : {}),
        ...(icmpType !== undefined ? { icmpType } : {}),
      };
    });
}

class Capture {
  private constructor(
    private readonly p: Proc,
    readonly file: string,
  ) {}

  static async start(ns: string, iface: string, file: string): Promise<Capture> {
    const p = nsSpawn(ns, ["tcpdump", "-i", iface, "-n", "-U", "-w", file]);
    const deadline = Date.now() + 10_000;
    while (!p.stderr.join("").includes("listening on")) {
      if (Date.now() > deadline || p.child.exitCode !== null) {
        throw new Error(`tcpdump did not start: ${p.stderr.join("")}`);
      }
      await sleep(50);
    }
    return new Capture(p, file);
  }

  async stop(): Promise<Packet[]> {
    await sleep(300);
    this.p.child.kill("SIGINT");
    await this.p.exited();
    return readCapture(this.file);
  }
}

/** Protected traffic in the clear from A: anything to B or 203.0.113.0/24 except IKE and ESP, and any UDP 1701. */
/** ICMPv4 error types (RFC 792): exempt by design, they carry no payload of ours. */
const ICMP_ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

function isProtectedClear(p: Packet): boolean {
  if (p.src !== A_ADDR && p.src !== A_TUN) return false;
  if (p.proto === 50) return false;
  if (p.proto === 1 && p.icmpType !== undefined && ICMP_ERROR_TYPES.has(p.icmpType)) return false;
  const ike = p.proto === 17 && [500, 4500].some((x) => x === p.sport || x === p.dport);
  if (ike) return false;
  if (p.proto === 17 && (p.sport === 1701 || p.dport === 1701)) return true;
  return p.dst === B_ADDR || p.dst.startsWith("203.0.113.");
}

async function blockCounters(t: NftTable): Promise<{ blocked: bigint; ike: bigint; esp: bigint }> {
  const s = unwrap(await t.inspect());
  assert.ok(s, "the fail-closed table is in the kernel");
  let blocked = 0n;
  let ike = 0n;
  let esp = 0n;
  for (const r of s.rules) {
    if (r.verdict === "drop" && r.comment?.startsWith("block:")) blocked += r.packets ?? 0n;
    if (r.comment?.startsWith("exempt: IKE")) ike += r.packets ?? 0n;
    if (r.comment === "exempt: ESP") esp += r.packets ?? 0n;
  }
  return { blocked, ike, esp };
}

function clientSet(): BlockSet {
  // "UDP 1701 from A to B" and the client-style "everything to B (and its inner network)".
  return unwrap(
    blockSetFromPolicy(null, {
      role: "client",
      server: B_ADDR,
      defaultRoute: false,
      routes: [`${B_ADDR}/32`, "203.0.113.0/24"],
    }),
  );
}

function tests(): void {
  const skip = unavailable();
  describe("fail-closed block mode (namespaces)", { skip }, () => {
    const lab = new Lab();
    const onExit = () => {
      killAll();
      for (const ns of [lab.a, lab.b]) spawnSync("ip", ["netns", "del", ns]);
    };
    before(async () => {
      process.on("exit", onExit);
      await lab.up();
    });
    after(async () => {
      await lab.down();
      process.off("exit", onExit);
    });

    test("SIGKILL mid-transfer: nothing protected leaves A in the clear; IKE, ESP and loopback pass", async () => {
      const statusPath = join(lab.dir, "run", "status.json");
      const peer = nodeChild(lab.b, "daemon", {
        bindIke: false,
        tunnel: { name: "oakfcb0", address: B_TUN, routes: ["192.0.2.0/24"], remote: A_ADDR },
      } satisfies DaemonConfig);
      await peer.waitFor("ready");
      nsSpawn(lab.b, ["socat", "-u", "UDP4-RECV:1701", "OPEN:/dev/null"]);
      nsSpawn(lab.b, ["socat", "-u", "TCP-LISTEN:5001,reuseaddr,fork", "OPEN:/dev/null"]);
      await sleep(300);
      const cap = await Capture.start(lab.b, "b0", join(lab.dir, "b0.pcap"));

      // Control: without the guard, the clear path leaks (the capture can see a failure).
      for (let i = 0; i < 3; i++) {
        await probe(lab.a, `UDP4-SENDTO:${B_INNER}:1701,sourceport=1701`).catch(() => {});
      }
      await sleep(200);

      const daemon = nodeChild(lab.a, "daemon", {
        statusPath,
        blockSet: serializeBlockSet(clientSet()),
        bindIke: true,
        tunnel: { name: "oakfc0", address: A_TUN, routes: ["203.0.113.0/24"], remote: B_ADDR },
      } satisfies DaemonConfig);
      await daemon.waitFor("ready");
      const tProtected = Date.now();
      const st = unwrap(readFailClosedStatus(statusPath));
      assert.equal(st?.mode, "protected");
      assert.equal(st?.enforced, true);

      nodeChild(lab.a, "udp-loop");
      const tcp = nodeChild(lab.a, "tcp-send");
      await tcp.waitFor("connected");
      await sleep(1500);

      // Kill the daemon mid-transfer.
      const tKill = Date.now();
      assert.ok(daemon.child.pid);
      process.kill(daemon.child.pid, "SIGKILL");
      await daemon.exited();
      const atKill = await blockCounters(lab.nftA);
      const route = await run(["ip", "-n", lab.a, "route", "get", B_INNER]);
      assert.match(
        route,
        /dev a0/,
        "after the kill the TUN is gone and traffic takes the clear path",
      );
      await sleep(1500);

      // After the kill: IKE (500, 4500) and ESP still pass; loopback is not blocked.
      const send = (addr: string) => probe(lab.a, addr);
      await send(`UDP4-SENDTO:${B_ADDR}:500`);
      await send(`UDP4-SENDTO:${B_ADDR}:4500`);
      await send(`UDP4-SENDTO:${B_ADDR}:500,sourceport=500`);
      await send(`IP4-SENDTO:${B_ADDR}:50`);
      const lo = nsSpawn(lab.a, [
        "socat",
        "-u",
        "UDP4-RECV:1701,bind=127.0.0.1,reuseaddr",
        "STDOUT",
      ]);
      await sleep(300);
      await run([
        "ip",
        "netns",
        "exec",
        lab.a,
        "sh",
        "-c",
        "echo loopback-ok | socat -u - UDP4-SENDTO:127.0.0.1:1701",
      ]);
      await sleep(300);
      const end = await blockCounters(lab.nftA);
      const packets = await cap.stop();

      assert.match(lo.out.join(""), /loopback-ok/, "loopback UDP 1701 is not blocked");
      const control = packets.filter((p) => p.t < tProtected && isProtectedClear(p));
      assert.ok(
        control.length >= 3,
        `control run: the clear path leaks without the guard (${control.length})`,
      );
      const leaks = packets.filter((p) => p.t >= tProtected && isProtectedClear(p));
      assert.deepEqual(
        leaks,
        [],
        "no protected packet in the clear once protected mode was entered",
      );
      const espBefore = packets.filter(
        (p) => p.t >= tProtected && p.t < tKill && p.proto === 50 && p.src === A_ADDR,
      );
      assert.ok(
        espBefore.length > 50,
        `the transfer ran through the tunnel before the kill (${espBefore.length} ESP)`,
      );
      const afterKill = packets.filter((p) => p.t > tKill + 100 && p.src === A_ADDR);
      assert.ok(
        afterKill.some((p) => p.proto === 17 && p.dport === 500),
        "IKE UDP 500 passes after the kill",
      );
      assert.ok(
        afterKill.some((p) => p.proto === 17 && p.dport === 4500),
        "NAT-T UDP 4500 passes after the kill",
      );
      assert.ok(
        afterKill.some((p) => p.proto === 50),
        "ESP passes after the kill",
      );
      assert.ok(
        end.blocked > atKill.blocked + 20n,
        `applications kept sending after the kill and were blocked (${atKill.blocked} -> ${end.blocked})`,
      );
      assert.ok(
        end.ike >= atKill.ike + 3n && end.esp > atKill.esp,
        "IKE and ESP exemptions counted",
      );

      // The next start sees the table and says so; a clean stop removes it.
      await killAllAndWait();
      const again = nodeChild(lab.a, "daemon", {
        statusPath,
        blockSet: serializeBlockSet(clientSet()),
        bindIke: true,
      } satisfies DaemonConfig);
      const begin = (await again.waitFor("begin")).report as {
        tablePresent: boolean;
        previous?: string;
      };
      assert.equal(begin.tablePresent, true);
      assert.match(begin.previous ?? "", /did not stop cleanly; traffic was blocked meanwhile/);
      await again.waitFor("ready");
      assert.match(
        unwrap(readFailClosedStatus(statusPath))?.previous ?? "",
        /did not stop cleanly/,
      );
      again.child.kill("SIGTERM");
      const stopped = await again.waitFor("stopped");
      assert.equal(stopped.removed, true);
      assert.equal(unwrap(await lab.nftA.inspect()), null, "a clean stop removes the table");
      assert.equal(unwrap(readFailClosedStatus(statusPath))?.mode, "stopped");
    });

    test("block mode: a UDP 500 packet to a third address is dropped; the configured server still gets IKE", async () => {
      await killAllAndWait();
      // A third host on A's link (an extra address of B, so that ARP resolves and a packet let
      // through would really reach the wire where the capture sees it).
      const third = "198.51.100.3";
      await run(["ip", "-n", lab.b, "addr", "add", `${third}/32`, "dev", "b0"]);
      try {
        const statusPath = join(lab.dir, "third", "status.json");
        const g = new FailClosedGuard({ statusPath, table: lab.nftA });
        const everything = unwrap(
          blockSetFromPolicy(null, {
            role: "client",
            server: B_ADDR,
            defaultRoute: true,
            routes: [],
          }),
        );
        unwrap(await g.enterBlockMode("test: the VPN is down", everything));
        const cap = await Capture.start(lab.b, "b0", join(lab.dir, "third.pcap"));
        const before0 = await blockCounters(lab.nftA);
        const tStart = Date.now();
        for (const port of [500, 4500]) {
          await probe(lab.a, `UDP4-SENDTO:${third}:${port},sourceport=${port}`).catch(() => {});
          await probe(lab.a, `UDP4-SENDTO:${third}:1701,sourceport=${port}`).catch(() => {});
          await probe(lab.a, `UDP4-SENDTO:${B_ADDR}:${port},sourceport=${port}`);
        }
        await probe(lab.a, `IP4-SENDTO:${third}:50`).catch(() => {});
        await probe(lab.a, `IP4-SENDTO:${B_ADDR}:50`);
        const after0 = await blockCounters(lab.nftA);
        await sleep(500);
        const packets = (await cap.stop()).filter((p) => p.t >= tStart && p.src === A_ADDR);
        const toThird = packets.filter((p) => p.dst === third);
        assert.deepEqual(toThird, [], "nothing reaches the third address through the exemptions");
        assert.equal(after0.blocked, before0.blocked + 5n, "the five packets to it were dropped");
        for (const port of [500, 4500]) {
          assert.ok(
            packets.some((p) => p.dst === B_ADDR && p.proto === 17 && p.dport === port),
            `the configured server gets UDP ${port} in block mode`,
          );
        }
        assert.ok(
          packets.some((p) => p.dst === B_ADDR && p.proto === 50),
          `ESP to it passes: ${JSON.stringify(packets)} ${before0.esp} -> ${after0.esp}, blocked ${before0.blocked} -> ${after0.blocked}`,
        );
        assert.ok(after0.ike >= before0.ike + 2n && after0.esp > before0.esp);
      } finally {
        unwrap(await lab.nftA.remove());
        await run(["ip", "-n", lab.b, "addr", "del", `${third}/32`, "dev", "b0"]).catch(() => {});
      }
    });

    test("UDP 500 held by another process: block mode names the port and the process", async () => {
      await killAllAndWait();
      const statusPath = join(lab.dir, "port", "status.json");
      const holder = nsSpawn(lab.a, ["socat", "-u", "UDP4-RECV:500", "OPEN:/dev/null"]);
      for (let i = 0; ; i++) {
        const table = unwrap(
          parseProcNetUdp(await run(["ip", "netns", "exec", lab.a, "cat", "/proc/net/udp"])),
        );
        assert.equal(
          holder.child.exitCode,
          null,
          `socat could not bind UDP 500: ${holder.stderr.join("")}`,
        );
        if (table.some((e) => e.localPort === 500)) break;
        assert.ok(i < 100, "socat did not bind UDP 500");
        await sleep(100);
      }
      const d = nodeChild(lab.a, "daemon", {
        statusPath,
        blockSet: serializeBlockSet(clientSet()),
        bindIke: true,
      } satisfies DaemonConfig);
      await d.waitFor("block");
      assert.equal(await d.exited(), 3);
      const st = unwrap(readFailClosedStatus(statusPath));
      assert.ok(st);
      assert.equal(st.mode, "block");
      assert.equal(st.enforced, true);
      assert.equal(st.code, "OAK_E_PLATFORM_ADDR_IN_USE");
      assert.equal(
        st.reason,
        `cannot enter protected mode: UDP 500 (IKE) is in use by socat (pid ${holder.child.pid}); stop it or free the port, then restart oakley`,
      );
      // The rules are in force: UDP 1701 to B is dropped; IKE passes (and the ICMP port
      // unreachable B answers it with is an exempt ICMP error, not a blocked packet).
      const before0 = await blockCounters(lab.nftA);
      await probe(lab.a, `UDP4-SENDTO:${B_ADDR}:1701`).catch(() => {});
      await probe(lab.a, `UDP4-SENDTO:${B_ADDR}:500,sourceport=4500`);
      const after0 = await blockCounters(lab.nftA);
      assert.equal(after0.blocked, before0.blocked + 1n);
      assert.ok(after0.ike > before0.ike, "IKE passes");
      unwrap(await lab.nftA.remove());
    });

    test("corrupt store: block mode with the store error and the last saved block set", async () => {
      await killAllAndWait();
      const store = join(lab.dir, "corrupt.db");
      writeFileSync(store, Buffer.alloc(8192, "garbage!"));
      const opened = openStore(store);
      assert.ok(!opened.ok);
      assert.equal(opened.error.code, StoreErrorCode.Corrupt);

      // A previous successful start saved the client set next to this status file.
      const statusPath = join(lab.dir, "corrupt", "status.json");
      const g = new FailClosedGuard({
        statusPath,
        table: new NftTable("inet", "oakley", { netns: lab.a }),
      });
      unwrap(await g.enterProtectedMode(clientSet()));
      unwrap(await g.cleanStop());

      const d = nodeChild(lab.a, "daemon", {
        statusPath,
        store,
        bindIke: true,
      } satisfies DaemonConfig);
      await d.waitFor("block");
      const st = unwrap(readFailClosedStatus(statusPath));
      assert.ok(st);
      assert.equal(st.mode, "block");
      assert.equal(st.code, "OAK_E_STORE_CORRUPT");
      assert.match(
        st.reason ?? "",
        /^cannot enter protected mode: the policy store cannot be used \(OAK_E_STORE_CORRUPT\): /,
      );
      assert.equal(st.blockSet, `saved by the last successful start: ${clientSet().origin}`);
      const t = unwrap(await lab.nftA.inspect());
      assert.ok(
        t?.rules.some((r) => r.comment === "block: client route 203.0.113.0/24 through the VPN"),
      );

      // Nothing saved: the default L2TP set.
      const fresh = join(lab.dir, "fresh", "status.json");
      const d2 = nodeChild(lab.a, "daemon", {
        statusPath: fresh,
        store,
        bindIke: true,
      } satisfies DaemonConfig);
      await d2.waitFor("block");
      const st2 = unwrap(readFailClosedStatus(fresh));
      assert.equal(st2?.blockSet, DEFAULT_BLOCK_SET.origin);
      assert.match(st2?.previous ?? "", /did not stop cleanly; traffic was blocked meanwhile/);
      const t2 = unwrap(await lab.nftA.inspect());
      assert.ok(t2?.rules.some((r) => r.comment === "block: default L2TP UDP 1701 from this host"));
      assert.ok(!t2?.rules.some((r) => r.comment?.includes("203.0.113.0/24")));
      unwrap(await lab.nftA.remove());
      assert.equal(readFileSync(store).subarray(0, 8).toString(), "garbage!");
    });
  });
}

// Dispatch last: the classes above must be initialised before tests() runs.
const role = process.env.OAK_FC_ROLE;
if (role === "daemon") {
  void daemonMain(JSON.parse(process.env.OAK_FC_CONFIG ?? "{}") as DaemonConfig);
} else if (role === "udp-loop") {
  udpLoopMain();
} else if (role === "tcp-send") {
  tcpSendMain();
} else {
  tests();
}
