/**
 * Interop with xl2tpd (Debian 12's 1.3.18) — the L2TP control plane of RFC 2661 against a real
 * implementation, in two network namespaces of our own (oak-l2-x: xl2tpd, oak-l2-o: Oakley's
 * engine through test/interop/l2tp/driver.ts), veth 192.0.2.1 <-> 192.0.2.2.
 *   (a) xl2tpd LNS  <- our LAC (ephemeral source port: xl2tpd must answer where it came from)
 *   (b) xl2tpd LAC  -> our LNS
 * each without and with a tunnel secret (xl2tpd `challenge = yes`: Challenge/Response both ways;
 * our side then hides Assigned Session ID / Call Serial Number, which xl2tpd must unhide — if its
 * MD5 chain disagreed with ours, the session IDs it echoes in headers would be garbage and no
 * session would come up). SCCRQ..ICCN must complete; xl2tpd's pppd cannot run on this kernel
 * (no /dev/ppp), so xl2tpd then sends CDN, which our side must take cleanly (sessionDown by
 * peer); the LAC then closes the tunnel with StopCCN.
 *
 * Needs root and xl2tpd (`apt-get install -y xl2tpd`; .ci/run installs it); skips otherwise.
 * Namespaces and processes are removed in `finally`, also on failure. ~25 s.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

const NS_X = "oak-l2-x";
const NS_O = "oak-l2-o";
const ADDR_X = "192.0.2.1";
const ADDR_O = "192.0.2.2";
const confDir = join(import.meta.dirname, "l2tp");
const root = join(import.meta.dirname, "../..");

function unavailable(): string | false {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  if (!existsSync("/usr/sbin/xl2tpd")) return "xl2tpd is not installed (apt-get install -y xl2tpd)";
  return false;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
  } catch {
    // cleanup of something already gone
  }
}

function labDown(): void {
  for (const ns of [NS_X, NS_O]) quiet("ip", ["netns", "del", ns]);
}
function labUp(): void {
  labDown();
  sh("ip", ["netns", "add", NS_X]);
  sh("ip", ["netns", "add", NS_O]);
  sh("ip", [
    "link",
    "add",
    "oak-l2-vx",
    "netns",
    NS_X,
    "type",
    "veth",
    "peer",
    "name",
    "oak-l2-vo",
    "netns",
    NS_O,
  ]);
  for (const [ns, dev, addr] of [
    [NS_X, "oak-l2-vx", ADDR_X],
    [NS_O, "oak-l2-vo", ADDR_O],
  ] as const) {
    sh("ip", ["-n", ns, "addr", "add", `${addr}/24`, "dev", dev]);
    sh("ip", ["-n", ns, "link", "set", dev, "up"]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  }
}

function render(dir: string, secret: string | undefined): void {
  const vars: Record<string, string> = {
    "@DIR@": dir,
    "@CHALLENGE@": secret ? "yes" : "no",
    "@SECRET@": secret ?? "unused",
    "@LISTEN@": ADDR_X,
    "@LNS@": ADDR_O,
  };
  for (const f of ["lns.conf", "lac.conf", "l2tp-secrets", "options"]) {
    let text = readFileSync(join(confDir, f), "utf8");
    for (const [k, v] of Object.entries(vars)) text = text.replaceAll(k, v);
    writeFileSync(join(dir, f), text, { mode: 0o600 });
  }
}

interface Run {
  readonly events: Record<string, unknown>[];
  readonly xl2tpdLog: string;
}

function collect(p: ChildProcess, sink: string[]): Promise<void> {
  return new Promise((resolve) => {
    p.stdout?.on("data", (d: Buffer) => sink.push(d.toString()));
    p.stderr?.on("data", (d: Buffer) => sink.push(d.toString()));
    p.on("exit", () => resolve());
  });
}

async function runCase(xl2tpdRole: "lns" | "lac", secret: string | undefined): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "oak-l2-"));
  const procs: ChildProcess[] = [];
  const xlog: string[] = [];
  const out: string[] = [];
  try {
    labUp();
    render(dir, secret);
    const ours = xl2tpdRole === "lns" ? "lac" : "lns";
    const driverEnv = JSON.stringify({
      role: ours,
      local: ADDR_O,
      ...(ours === "lac" ? { peer: ADDR_X } : {}),
      ...(secret ? { secret } : {}),
      runMs: 12_000,
    });
    const startXl2tpd = () => {
      const x = spawn(
        "ip",
        [
          "netns",
          "exec",
          NS_X,
          "xl2tpd",
          "-D",
          "-c",
          join(dir, `${xl2tpdRole}.conf`),
          "-s",
          join(dir, "l2tp-secrets"),
          "-p",
          join(dir, "xl2tpd.pid"),
          "-C",
          join(dir, "xl2tpd.control"),
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      procs.push(x);
      void collect(x, xlog);
    };
    if (xl2tpdRole === "lns") startXl2tpd();
    const d = spawn(
      "ip",
      ["netns", "exec", NS_O, process.execPath, "--import", "tsx", join(confDir, "driver.ts")],
      {
        cwd: root,
        env: { ...process.env, OAK_L2TP_DRIVER: driverEnv },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    procs.push(d);
    const done = collect(d, out);
    if (xl2tpdRole === "lns") {
      // (xl2tpd LNS is already up)
    } else {
      await new Promise((r) => setTimeout(r, 1500)); // driver listening
      startXl2tpd();
    }
    await done;
    const events = out
      .join("")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { events, xl2tpdLog: xlog.join("") };
  } finally {
    for (const p of procs) {
      if (p.exitCode === null && p.pid !== undefined) {
        try {
          process.kill(p.pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
    }
    // xl2tpd runs under `ip netns exec`: make sure the daemon itself is gone (by its pid file)
    try {
      const pid = Number(readFileSync(join(dir, "xl2tpd.pid"), "utf8").trim());
      if (pid > 0) process.kill(pid, "SIGTERM");
    } catch {
      // no pid file / already gone
    }
    await new Promise((r) => setTimeout(r, 300));
    labDown();
    rmSync(dir, { recursive: true, force: true });
  }
}

function ev(r: Run, kind: string): Record<string, unknown>[] {
  return r.events.filter((e) => e.event === kind);
}
function explain(r: Run): string {
  return `\n--- driver ---\n${r.events.map((e) => JSON.stringify(e)).join("\n")}\n--- xl2tpd ---\n${r.xl2tpdLog.slice(-4000)}`;
}

const skip = unavailable();

describe("L2TP interop with xl2tpd", { skip, concurrency: 1 }, () => {
  for (const secret of [undefined, "oakley-interop-secret"]) {
    const label = secret
      ? "with tunnel secret (Challenge/Response, hidden AVPs)"
      : "without secret";
    it(`(a) xl2tpd LNS <- Oakley LAC, ${label}`, async () => {
      const r = await runCase("lns", secret);
      assert.equal(ev(r, "tunnelUp").length, 1, `tunnel up${explain(r)}`);
      // xl2tpd sends the system host name in its Host Name AVP (its `name` is for the auth file)
      assert.ok(String(ev(r, "tunnelUp")[0]?.peerHostName).length > 0);
      assert.equal(ev(r, "sessionUp").length, 1, `session up (SCCRQ..ICCN)${explain(r)}`);
      const down = ev(r, "sessionDown")[0];
      assert.equal(down?.by, "peer", `xl2tpd's CDN after pppd failed${explain(r)}`);
      assert.equal(typeof down?.resultCode, "number");
      // our StopCCN after the CDN, acknowledged by xl2tpd (state released => tunnelDown local)
      assert.equal(ev(r, "tunnelDown")[0]?.by, "local", explain(r));
      assert.match(r.xl2tpdLog, /Connection established/, explain(r));
      const exit = ev(r, "exit")[0]?.counters as Record<string, string> | undefined;
      assert.equal(exit?.l2tp_auth_failures, undefined, explain(r));
      // xl2tpd's "Call established ... Remote: N" must name our session ID: with a secret, N came
      // from our hidden Assigned Session ID AVP, so xl2tpd's decrypt_avp agrees with our §4.3 code
      const sid = ev(r, "sessionUp")[0]?.sessionId;
      assert.match(
        r.xl2tpdLog,
        new RegExp(`Call established with ${ADDR_O}, .*Remote: ${sid},`),
        explain(r),
      );
      if (secret) {
        assert.match(r.xl2tpdLog, /Challenge reply found/, "xl2tpd checked our Challenge Response");
        assert.match(r.xl2tpdLog, /Random Vector of 16 octets/, "xl2tpd saw our Random Vector");
      }
    });
    it(`(b) xl2tpd LAC -> Oakley LNS, ${label}`, async () => {
      const r = await runCase("lac", secret);
      const up = ev(r, "tunnelUp")[0];
      assert.ok(up, `tunnel up${explain(r)}`);
      assert.ok(String(up.peerHostName).length > 0);
      assert.equal(up.binding, `${ADDR_X}:1701`);
      assert.equal(ev(r, "sessionUp").length, 1, `session up (SCCRQ..ICCN)${explain(r)}`);
      assert.equal(
        ev(r, "sessionDown")[0]?.by,
        "peer",
        `xl2tpd's CDN after pppd failed${explain(r)}`,
      );
      assert.match(r.xl2tpdLog, /Connection established/, explain(r));
    });
  }
});
