/**
 * Remote monitoring acceptance (REQUIREMENTS R7: the monitor watches the local machine and remote
 * machines over an authenticated channel): two daemons in two network namespaces, a monitor in a
 * third that reaches them only over veth links, over TLS with a token (gw-a) and with a client
 * certificate (gw-b). Then one daemon stops and the monitor must say it is unreachable and why.
 *
 *   oak-ctl-a-<pid> (192.0.2.2)  --veth--  oak-ctl-m-<pid> (192.0.2.1, 198.51.100.1)  --veth--  oak-ctl-b-<pid> (198.51.100.2)
 *
 * The processes in the namespaces are this same file started with OAK_CTL_ROLE=daemon|monitor
 * (JSON lines over stdio). The daemons serve FakeControlTarget until the daemon lands: the lead
 * swaps in the real daemon (`oakley serve` with remote control enabled) in `startDaemon`.
 * Addresses only from RFC 5737; namespaces are deleted in `finally` (and stale ones of dead runs
 * at start).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";

const ROLE = process.env.OAK_CTL_ROLE;

// ------------------------------------------------------------------ roles inside namespaces

async function daemonRole(): Promise<void> {
  const { ControlServer, parseTokenFile } = await import("../../src/control/index.js");
  const { FakeControlTarget } = await import("../../src/control/fake-target.js");
  const dir = process.env.OAK_CTL_DIR ?? "";
  const addr = process.env.OAK_CTL_ADDR ?? "";
  const tokens = parseTokenFile(readFileSync(join(dir, "tokens.jsonl"), "utf8"));
  if (!tokens.ok) throw new Error(tokens.error.message);
  const target = new FakeControlTarget({
    serverAddress: addr,
    software: `oakley 0.1.0 (${process.env.OAK_CTL_NAME})`,
  });
  const s = await ControlServer.start({
    target,
    software: "oakley 0.1.0",
    tls: {
      host: addr,
      port: 9501,
      key: readFileSync(join(dir, "srv.key")),
      cert: readFileSync(join(dir, "srv.pem")),
      clientCa: readFileSync(join(dir, "ca.pem")),
      tokens: tokens.value,
    },
  });
  process.stdout.write(`${JSON.stringify({ ready: true, port: s.tlsAddress?.port })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => void s.close().then(() => process.exit(0)));
}

async function monitorRole(): Promise<void> {
  const { Monitor, parseDaemonSpec } = await import("../../src/monitor/index.js");
  const dir = process.env.OAK_CTL_DIR ?? "";
  const specs = [
    `gw-a=tls://192.0.2.2:9501?token-file=${join(dir, "mon.token")}&ca=${join(dir, "ca.pem")}`,
    `gw-b=tls://198.51.100.2:9501?cert=${join(dir, "mon.pem")}&key=${join(dir, "mon.key")}&ca=${join(dir, "ca.pem")}`,
  ].map((x) => {
    const d = parseDaemonSpec(x);
    if (typeof d === "string") throw new Error(d);
    return d;
  });
  const m = new Monitor({ daemons: specs, host: "127.0.0.1", port: 0, pollMs: 300 });
  await m.start();
  const rl = createInterface({ input: process.stdin });
  process.stdout.write(`${JSON.stringify({ ready: true, port: m.port })}\n`);
  for await (const line of rl) {
    if (line === "state") {
      await m.pollOnce();
      // through HTTP, as a browser would get it
      const r = await fetch(`http://127.0.0.1:${m.port}/api/state`);
      process.stdout.write(`${await r.text()}\n`);
    }
  }
  await m.close();
  process.exit(0);
}

// ------------------------------------------------------------------ the test

function sh(...argv: string[]): string {
  const [cmd, ...args] = argv;
  return execFileSync(cmd ?? "false", args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  for (const c of ["ip", "openssl"]) {
    if (spawnSync("sh", ["-c", `command -v ${c}`]).status !== 0) return `${c} is not installed`;
  }
  return false;
}

/** Deletes oak-ctl-*-<pid> namespaces whose pid is gone (a crashed earlier run). */
function cleanupStale(): void {
  for (const line of sh("ip", "netns", "list").split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = /^oak-ctl-[a-z]-(\d+)$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) spawnSync("ip", ["netns", "del", name]);
  }
}

interface Peer {
  proc: ChildProcess;
  lines: AsyncIterator<string>;
}

function startRole(ns: string, role: string, env: Record<string, string>): Peer {
  const proc = spawn(
    "ip",
    ["netns", "exec", ns, process.execPath, "--import", "tsx", import.meta.filename],
    {
      env: { ...process.env, ...env, OAK_CTL_ROLE: role },
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const rl = createInterface({ input: proc.stdout as NonNullable<typeof proc.stdout> });
  return { proc, lines: rl[Symbol.asyncIterator]() };
}

async function nextJson<T>(p: Peer, what: string): Promise<T> {
  const t = new Promise<never>((_, rej) =>
    setTimeout(() => rej(new Error(`${what}: no answer in 30 s`)), 30_000).unref(),
  );
  const r = await Promise.race([p.lines.next(), t]);
  if (r.done) throw new Error(`${what}: process ended`);
  return JSON.parse(r.value) as T;
}

interface State {
  daemons: {
    name: string;
    reachable: boolean;
    error?: { code: string; message: string };
    sas?: {
      ike: { algorithms: { dhGroup: string }; addresses: { local: { address: string } } }[];
      child: unknown[];
    };
  }[];
}

if (ROLE === "daemon") await daemonRole();
else if (ROLE === "monitor") await monitorRole();
else
  test("monitor in one namespace watches daemons in two others over TLS (token and client certificate)", {
    skip: skipReason(),
    timeout: 120_000,
  }, async () => {
    cleanupStale();
    const pid = process.pid;
    const ns = { a: `oak-ctl-a-${pid}`, b: `oak-ctl-b-${pid}`, m: `oak-ctl-m-${pid}` };
    const dir = mkdtempSync(join(tmpdir(), "oak-ctl-ns-"));
    const peers: Peer[] = [];
    try {
      // PKI: CA, daemon certificate for both addresses, monitor client certificate
      const ossl = (...a: string[]) =>
        execFileSync("openssl", a, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
      const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
      ossl(
        "req",
        "-x509",
        ...ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=oak-ctl-ca",
      );
      for (const [n, ext] of [
        ["srv", "subjectAltName=IP:192.0.2.2,IP:198.51.100.2\nextendedKeyUsage=serverAuth\n"],
        ["mon", "extendedKeyUsage=clientAuth\n"],
      ] as const) {
        ossl("req", ...ec, "-keyout", `${n}.key`, "-out", `${n}.csr`, "-subj", `/CN=${n}`);
        writeFileSync(join(dir, `${n}.ext`), ext);
        ossl(
          "x509",
          "-req",
          "-in",
          `${n}.csr`,
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca.key",
          "-CAcreateserial",
          "-out",
          `${n}.pem`,
          "-days",
          "2",
          "-extfile",
          `${n}.ext`,
        );
      }
      const { generateToken } = await import("../../src/control/index.js");
      const tok = generateToken("monitor");
      writeFileSync(join(dir, "mon.token"), tok.token);
      writeFileSync(join(dir, "tokens.jsonl"), `${JSON.stringify(tok.record)}\n`);

      // namespaces and links
      for (const n of Object.values(ns)) sh("ip", "netns", "add", n);
      sh(
        "ip",
        "-n",
        ns.m,
        "link",
        "add",
        "to-a",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns.a,
      );
      sh(
        "ip",
        "-n",
        ns.m,
        "link",
        "add",
        "to-b",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns.b,
      );
      sh("ip", "-n", ns.m, "addr", "add", "192.0.2.1/24", "dev", "to-a");
      sh("ip", "-n", ns.m, "addr", "add", "198.51.100.1/24", "dev", "to-b");
      sh("ip", "-n", ns.a, "addr", "add", "192.0.2.2/24", "dev", "eth0");
      sh("ip", "-n", ns.b, "addr", "add", "198.51.100.2/24", "dev", "eth0");
      for (const [n, dev] of [
        [ns.m, "to-a"],
        [ns.m, "to-b"],
        [ns.a, "eth0"],
        [ns.b, "eth0"],
        [ns.m, "lo"],
        [ns.a, "lo"],
        [ns.b, "lo"],
      ] as const) {
        sh("ip", "-n", n, "link", "set", dev, "up");
      }

      const env = { OAK_CTL_DIR: dir };
      const da = startRole(ns.a, "daemon", {
        ...env,
        OAK_CTL_ADDR: "192.0.2.2",
        OAK_CTL_NAME: "gw-a",
      });
      const db = startRole(ns.b, "daemon", {
        ...env,
        OAK_CTL_ADDR: "198.51.100.2",
        OAK_CTL_NAME: "gw-b",
      });
      peers.push(da, db);
      assert.equal((await nextJson<{ port: number }>(da, "daemon a")).port, 9501);
      assert.equal((await nextJson<{ port: number }>(db, "daemon b")).port, 9501);
      const mon = startRole(ns.m, "monitor", env);
      peers.push(mon);
      await nextJson(mon, "monitor");

      const state = async (): Promise<State> => {
        mon.proc.stdin?.write("state\n");
        return nextJson<State>(mon, "monitor state");
      };
      let s = await state();
      const by = (n: string) => s.daemons.find((d) => d.name === n);
      for (const [n, addr] of [
        ["gw-a", "192.0.2.2"],
        ["gw-b", "198.51.100.2"],
      ] as const) {
        const d = by(n);
        assert.ok(d?.reachable, `${n}: ${JSON.stringify(d?.error)}`);
        assert.equal(d.sas?.ike.length, 3);
        assert.equal(d.sas?.child.length, 3);
        assert.equal(d.sas?.ike[0]?.addresses.local.address, addr);
        assert.match(d.sas?.ike[0]?.algorithms.dhGroup ?? "", /^MODP-2048/);
      }

      // gw-b goes away: the monitor says it is unreachable and why, gw-a stays fine
      db.proc.stdin?.end();
      await new Promise<void>((r) => db.proc.once("exit", () => r()));
      for (let i = 0; i < 20; i++) {
        s = await state();
        if (by("gw-b")?.reachable === false) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(by("gw-b")?.reachable, false);
      assert.match(
        by("gw-b")?.error?.message ?? "",
        /nothing listens on 198\.51\.100\.2:9501|closed the connection/,
      );
      assert.ok(by("gw-a")?.reachable);
    } finally {
      for (const p of peers) {
        p.proc.stdin?.end();
        if (p.proc.exitCode === null) {
          const t = setTimeout(() => p.proc.kill("SIGKILL"), 3000);
          await new Promise<void>((r) =>
            p.proc.exitCode !== null ? r() : p.proc.once("exit", () => r()),
          );
          clearTimeout(t);
        }
      }
      for (const n of Object.values(ns)) {
        // anything still running in our namespaces is ours: end it by pid, then delete
        const pids = spawnSync("ip", ["netns", "pids", n], { encoding: "utf8" }).stdout ?? "";
        for (const p of pids.split("\n").filter(Boolean)) {
          try {
            process.kill(Number(p), "SIGKILL");
          } catch {
            // already gone
          }
        }
        spawnSync("ip", ["netns", "del", n]);
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
