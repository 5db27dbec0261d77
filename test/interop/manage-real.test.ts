/**
 * Every management command against a REAL remote daemon (issue "Policy store, fail-closed block
 * mode, the management tool and the monitor"): `oakley serve` in its own
 * namespace with TLS management (token and client certificate) and Prometheus metrics, a real
 * `oakley connect` client behind a NAT, and the `oakley` command run from a third namespace with
 * `--host` — the way an operator manages a gateway from another machine:
 *
 *   status, sa list --json (algorithm names, NAT-T state, addresses before/after NAT, counters that
 *   grow with a ping), sa delete (the client sees the Delete and ends with exit 1), policy show,
 *   policy add --persistent (listed persistent, enforced before the assigned policy by the
 *   fail-closed rules, and still so after a restart on the same store), users add (a new user logs
 *   in without a restart), log ike on|off (the daemon's output switches to ike debug lines and back
 *   at runtime), the metrics endpoint linted by promtool; unauthenticated access (no token, wrong
 *   token, untrusted client certificate, plain TCP) is refused and leaks nothing; a management
 *   client of an incompatible protocol version is refused with a message naming both versions.
 *
 * Topology: manage-real-lab.ts (one gateway, gw-a 198.51.100.2). Needs root, iproute2, nft or
 * iptables, openssl, ping; promtool (Debian package prometheus) for the metrics check.
 *
 * The file also runs as a probe inside the monitor's namespace (`--probe JSON`): a management
 * client built from src/control that can do what the CLI deliberately cannot (omit
 * authentication, speak another protocol version, send raw bytes).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { FailureReport } from "../../src/control/index.js";
import { interopSkipReason, Topology } from "./lib/netns.js";
import {
  buildLab,
  CONTROL_PORT,
  connect,
  type Gateway,
  type Lab,
  logRecord,
  METRICS_PORT,
  makePki,
  oakley,
  oakleyOk,
  type Pki,
  type Proc,
  serve,
  stop,
} from "./manage-real-lab.js";

// ------------------------------------------------------------------ the probe role

type ProbeRequest =
  | {
      op: "client";
      host: string;
      port: number;
      ca: string;
      token?: string;
      cert?: string;
      key?: string;
      versions?: { min: number; max: number };
      client?: string;
    }
  | { op: "raw-tls"; host: string; port: number; ca: string; text: string }
  | { op: "plain-tcp"; host: string; port: number; text: string }
  | { op: "tcp-connect"; host: string; port: number; timeoutMs: number }
  | { op: "http-get"; url: string; headers?: Record<string, string> };

interface ProbeAnswer {
  ok: boolean;
  code?: string;
  message?: string;
  sas?: number;
  /** raw-tls / plain-tcp: everything the daemon sent, and whether it closed the connection. */
  received?: string;
  closed?: boolean;
  /** tcp-connect: "refused" (RST), "timeout" (dropped), "connected", or an error code. */
  connect?: string;
  /** http-get */
  status?: number;
  contentType?: string;
  body?: string;
}

async function probe(req: ProbeRequest): Promise<ProbeAnswer> {
  const { readFileSync } = await import("node:fs");
  if (req.op === "client") {
    const { ControlClient } = await import("../../src/control/index.js");
    const c = await ControlClient.connect(
      {
        kind: "tls",
        host: req.host,
        port: req.port,
        ca: readFileSync(req.ca),
        ...(req.token !== undefined ? { token: req.token } : {}),
        ...(req.cert !== undefined ? { cert: readFileSync(req.cert) } : {}),
        ...(req.key !== undefined ? { key: readFileSync(req.key) } : {}),
      },
      {
        ...(req.versions ? { versions: req.versions } : {}),
        ...(req.client ? { client: req.client } : {}),
      },
    );
    if (!c.ok) return { ok: false, code: c.error.code, message: c.error.message };
    const l = await c.value.listSas();
    await c.value.close();
    return l.ok ? { ok: true, sas: l.value.ike.length } : { ok: false, ...l.error };
  }
  if (req.op === "http-get") {
    const r = await fetch(req.url, {
      signal: AbortSignal.timeout(20_000),
      ...(req.headers ? { headers: req.headers } : {}),
    });
    return {
      ok: true,
      status: r.status,
      contentType: r.headers.get("content-type") ?? "",
      body: await r.text(),
    };
  }
  const net = await import("node:net");
  if (req.op === "tcp-connect") {
    return new Promise((resolve) => {
      const s = net.connect({ host: req.host, port: req.port });
      const t = setTimeout(() => {
        s.destroy();
        resolve({ ok: true, connect: "timeout" });
      }, req.timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        s.destroy();
        resolve({ ok: true, connect: "connected" });
      });
      s.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(t);
        resolve({ ok: true, connect: e.code === "ECONNREFUSED" ? "refused" : (e.code ?? "error") });
      });
    });
  }
  const tls = await import("node:tls");
  return new Promise((resolve) => {
    let received = "";
    const s =
      req.op === "raw-tls"
        ? tls.connect({ host: req.host, port: req.port, ca: readFileSync(req.ca) }, () =>
            s.write(req.text),
          )
        : net.connect({ host: req.host, port: req.port }, () => s.write(req.text));
    const t = setTimeout(() => {
      s.destroy();
      resolve({ ok: true, received, closed: false });
    }, 10_000);
    s.on("data", (d: Buffer) => {
      received += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      resolve({ ok: true, received, closed: true });
    });
  });
}

// ------------------------------------------------------------------ the tests

const PROBE = process.argv[2] === "--probe";
if (PROBE) {
  process.stdout.write(`${JSON.stringify(await probe(JSON.parse(process.argv[3] ?? "{}")))}\n`);
}

const skip = PROBE
  ? "probe role"
  : await interopSkipReason(["ip", "openssl", "ping"], { nat: true });
const topo = PROBE ? undefined : new Topology(import.meta.filename);
const promtool = spawnSync("sh", ["-c", "command -v promtool"]).status === 0;

let lab: Lab;
let pki: Pki;
let gw: Gateway;
let daemon: Proc;
let alice: Proc | undefined;
let token: string;
const files = {
  store: "",
  tokens: "",
  tokenFile: "",
  status: "",
  socket: "",
  policy: "",
};
/** `--host` and token flags (run in the monitor's namespace). */
let viaToken: string[];
/** `--host` and client-certificate flags. */
let viaCert: string[];

function T(): Topology {
  if (!topo) throw new Error("no topology in the probe role");
  return topo;
}

async function runProbe(req: ProbeRequest): Promise<ProbeAnswer> {
  const r = await T().exec(
    lab.mon,
    [process.execPath, "--import", "tsx", import.meta.filename, "--probe", JSON.stringify(req)],
    60_000,
  );
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as ProbeAnswer;
}

function startDaemon(): Proc {
  return serve(T(), {
    gw,
    store: files.store,
    pki,
    tokens: files.tokens,
    clientCa: true,
    statusFile: files.status,
    socket: files.socket,
  });
}

async function connectAlice(): Promise<Proc> {
  const c = connect(T(), lab.ca, gw.addr, "alice", "alice-pass-1");
  await c.waitFor(/address assigned: 203\.0\.113\.\d+/, 90_000);
  return c;
}

interface SaListJson {
  ike: Array<{
    id: string;
    state: string;
    role: string;
    addresses: {
      local: { address: string; port: number };
      remote: { address: string; port: number };
      remoteBeforeNat?: { address: string };
    };
    natt: { variant: string; behindNat: string; floated: boolean; udpEncapsulation: boolean };
    algorithms: Record<string, string | number>;
  }>;
  child: Array<{
    id: string;
    ikeSa?: string;
    encapsulation: string;
    addresses: { remote: { address: string }; remoteBeforeNat?: { address: string } };
    natt: { behindNat: string; udpEncapsulation: boolean };
    algorithms: Record<string, string | number>;
    traffic: { bytesIn: string; bytesOut: string; packetsIn: string; packetsOut: string };
    drops: string;
  }>;
}

async function saList(): Promise<SaListJson> {
  return JSON.parse(await oakleyOk(lab.mon, ["sa", "list", "--json", ...viaToken])) as SaListJson;
}

/** Daemon log records (JSON lines) from output index `from` on. */
function records(from = 0) {
  return daemon.out
    .slice(from)
    .map(logRecord)
    .filter((r) => r !== undefined);
}

/** TCP to the telnet port: "refused" (RST: nothing listens), "timeout" (dropped), or other. */
async function telnetProbe(): Promise<string> {
  const r = await runProbe({ op: "tcp-connect", host: gw.addr, port: 23, timeoutMs: 3000 });
  return r.connect ?? "no answer";
}

/** Order of the fail-closed rules of each policy in the daemon's nftables input chain. */
async function nftPolicyOrder(): Promise<string[]> {
  const r = await T().exec(gw.ns, ["nft", "list", "chain", "inet", "oakley", "input"]);
  const names: string[] = [];
  for (const m of r.stdout.matchAll(/comment "block: policy ([a-z0-9-]+) rule/g)) {
    const n = m[1] ?? "";
    if (names.at(-1) !== n) names.push(n);
  }
  return names;
}

if (!PROBE)
  describe("the management tool against a real remote daemon (--host over TLS)", {
    skip,
    concurrency: false,
    timeout: 900_000,
  }, () => {
    before(async () => {
      const t = T();
      lab = await buildLab(t, 1);
      gw = lab.gws[0] as Gateway;
      pki = makePki(t.dir, [gw.addr]);
      files.store = join(t.dir, "gwa.db");
      files.tokens = join(t.dir, "gwa.tokens");
      files.tokenFile = join(t.dir, "admin.token");
      files.status = join(t.dir, "gwa.status.json");
      files.socket = join(t.dir, "gwa.sock");
      files.policy = join(t.dir, "mgmt-guard.yaml");
      // The operator makes a token on the gateway; only its hash stays there.
      const made = await oakley(gw.ns, [
        "control",
        "token",
        "admin",
        "--tokens-file",
        files.tokens,
      ]);
      assert.equal(made.code, 0, made.stderr);
      token = made.stdout.trim();
      assert.match(token, /^oak1_[A-Za-z0-9_-]{43}$/);
      writeFileSync(files.tokenFile, `${token}\n`, { mode: 0o600 });
      const listed = await oakleyOk(gw.ns, [
        "control",
        "token",
        "--list",
        "--json",
        "--tokens-file",
        files.tokens,
      ]);
      assert.equal((JSON.parse(listed) as { name: string }[])[0]?.name, "admin");
      const host = `${gw.addr}:${CONTROL_PORT}`;
      viaToken = ["--host", host, "--token-file", files.tokenFile, "--ca", pki.ca];
      viaCert = ["--host", host, "--cert", pki.monCert, "--key", pki.monKey, "--ca", pki.ca];
      daemon = startDaemon();
      await daemon.waitFor(/ready: listening/, 60_000);
      alice = await connectAlice();
    });

    it("status and sa list --json: names, NAT-T, addresses before/after NAT, counters that grow", async () => {
      const st = JSON.parse(await oakleyOk(lab.mon, ["status", "--json", ...viaToken])) as {
        running: boolean;
        protocol: number;
        identity: string;
        mode: string;
        role: string;
        assignedPolicy: string;
        ikeSas: number;
        childSas: number;
        ports: { name: string; state: string }[];
      };
      assert.equal(st.running, true);
      assert.equal(st.protocol, 1);
      assert.equal(st.identity, "token:admin");
      assert.equal(st.mode, "protected");
      assert.equal(st.role, "server");
      assert.equal(st.assignedPolicy, "l2tp-ipsec-server");
      assert.equal(st.ikeSas, 1);
      assert.equal(st.childSas, 1);
      assert.deepEqual(
        st.ports.map((p) => `${p.name}:${p.state}`),
        ["IKE:listening", "NAT-T:listening", "ESP:listening"],
      );
      const human = await oakleyOk(lab.mon, ["status", ...viaCert]);
      assert.match(human, /via 198\.51\.100\.2:9501 as certificate:mon/);
      assert.match(human, /Mode: +protected/);
      assert.match(human, /SAs: +1 main mode, 1 quick mode/);

      const l1 = await saList();
      assert.equal(l1.ike.length, 1);
      assert.equal(l1.child.length, 1);
      const mm = l1.ike[0];
      const qm = l1.child[0];
      assert.ok(mm && qm);
      assert.equal(mm.state, "established");
      assert.equal(mm.role, "responder");
      assert.equal(mm.algorithms.encryption, "AES-CBC");
      assert.match(String(mm.algorithms.hash), /^SHA/);
      assert.match(String(mm.algorithms.dhGroup), /^(MODP-2048|ECP-256|ECP-384) \(group \d+\)$/);
      assert.equal(mm.algorithms.authentication, "pre-shared key");
      assert.deepEqual(mm.natt, {
        variant: "rfc3947",
        behindNat: "remote",
        floated: true,
        udpEncapsulation: true,
      });
      // after NAT: the NAT box's outside address; before NAT: the client's own address (NAT-OA/ID)
      assert.deepEqual(mm.addresses.local, { address: gw.addr, port: 4500 });
      assert.equal(mm.addresses.remote.address, "198.51.100.1");
      assert.equal(mm.addresses.remote.port, 4500);
      assert.equal(mm.addresses.remoteBeforeNat?.address, "192.0.2.2");
      assert.equal(qm.ikeSa, mm.id);
      assert.equal(qm.encapsulation, "UDP-Encapsulated-Transport");
      assert.match(String(qm.algorithms.encryption), /^ESP_AES-(GCM_16|CBC)$/);
      assert.equal(qm.addresses.remoteBeforeNat?.address, "192.0.2.2");
      assert.equal(qm.natt.udpEncapsulation, true);
      for (const v of [...Object.values(mm.algorithms), ...Object.values(qm.algorithms)]) {
        // names, never bare numbers (key lengths are the only numbers, and they are bits)
        if (typeof v === "number") assert.ok([128, 192, 256].includes(v), `key length ${v}`);
        else assert.match(v, /[A-Za-z]/, `algorithm shown as '${v}'`);
      }

      // counters: a ping through the tunnel moves the Quick Mode SA's counters
      await T().exec(lab.ca, ["ping", "-c", "5", "-i", "0.2", "-W", "2", "203.0.113.1"], 30_000);
      const l2 = await saList();
      const q2 = l2.child.find((c) => c.id === qm.id);
      assert.ok(q2, "same Quick Mode SA after the ping");
      assert.ok(BigInt(q2.traffic.packetsIn) >= BigInt(qm.traffic.packetsIn) + 5n);
      assert.ok(BigInt(q2.traffic.bytesIn) >= BigInt(qm.traffic.bytesIn) + 5n * 84n);
      assert.ok(BigInt(q2.traffic.packetsOut) >= BigInt(qm.traffic.packetsOut) + 5n);
      assert.equal(q2.drops, "0");

      const table = await oakleyOk(lab.mon, ["sa", "list", ...viaToken]);
      assert.match(table, /Main Mode SAs \(1\)/);
      assert.match(table, /198\.51\.100\.1:4500 \(before NAT 192\.0\.2\.2\)/);
      assert.match(table, /rfc3947, peer behind NAT, port 4500, UDP-encap/);
      assert.match(table, /UDP-Encapsulated-Transport/);
      assert.doesNotMatch(table, /268435457/);
    });

    it("log ike on|off switches the daemon's ike debug lines at runtime; users add: a new user logs in without a restart", async () => {
      const ikeDebug = (from: number) =>
        records(from).filter((r) => r.group === "ike" && r.level === "debug");
      assert.deepEqual(ikeDebug(0), [], "no ike debug lines at the default level");
      const levels0 = JSON.parse(await oakleyOk(lab.mon, ["log", "--json", ...viaToken])) as Record<
        string,
        string
      >;
      assert.equal(levels0.ike, "info");

      assert.match(
        await oakleyOk(lab.mon, ["log", "ike", "on", ...viaToken]),
        /ike logging is now at level debug \(effective immediately, no restart\)/,
      );
      const levels1 = JSON.parse(await oakleyOk(lab.mon, ["log", "--json", ...viaCert])) as Record<
        string,
        string
      >;
      assert.equal(levels1.ike, "debug");
      assert.equal(levels1.ppp, "info", "only the ike group changed");

      // a user added through the remote daemon
      const added = await oakley(
        lab.mon,
        ["users", "add", "carol", "--password-stdin", ...viaToken],
        "carol-pass-3\n",
      );
      assert.equal(added.code, 0, added.stderr);
      const users = JSON.parse(
        await oakleyOk(lab.mon, ["users", "list", "--json", ...viaToken]),
      ) as {
        name: string;
        enabled: boolean;
      }[];
      assert.ok(users.some((u) => u.name === "carol" && u.enabled));

      const mark = daemon.out.length;
      const pid = daemon.child.pid;
      const carol = connect(T(), lab.cb, gw.addr, "carol", "carol-pass-3");
      await carol.waitFor(/address assigned: 203\.0\.113\.\d+/, 90_000);
      await daemon.waitFor(/PPP authenticated: user carol/, 10_000, mark);
      assert.equal(daemon.child.pid, pid);
      assert.equal(daemon.child.exitCode, null, "the daemon was not restarted");
      assert.equal(daemon.out.filter((l) => /ready: listening/.test(l)).length, 1);
      const dbg = ikeDebug(mark);
      assert.ok(dbg.length > 0, "ike debug lines while a client negotiates with ike logging on");
      assert.ok(
        dbg.some((r) => /phase-1 keys/.test(r.msg)),
        dbg.map((r) => r.msg).join("; "),
      );
      assert.equal(await stop(carol), 0);

      assert.match(
        await oakleyOk(lab.mon, ["log", "ike", "off", ...viaToken]),
        /ike logging is now at level info/,
      );
      const mark2 = daemon.out.length;
      const bob = connect(T(), lab.cb, gw.addr, "bob", "bob-pass-2");
      await bob.waitFor(/address assigned/, 90_000);
      await daemon.waitFor(/PPP authenticated: user bob/, 10_000, mark2);
      assert.ok(
        records(mark2).some((r) => r.group === "ike" && r.level === "info"),
        "ike info lines still logged",
      );
      assert.deepEqual(ikeDebug(mark2), [], "no ike debug lines after 'log ike off'");
      assert.equal(await stop(bob), 0);
    });

    it("oakley diagnose --recent over --host: a real client's wrong password is recorded and explained (PPP 691)", async () => {
      const mark = daemon.out.length;
      const bad = connect(T(), lab.cb, gw.addr, "bob", "not-bobs-password");
      // The warn line at the moment of failure carries the explanation.
      await daemon.waitFor(
        /PPP authentication failed: .*wrong password for bob — PPP authentication failed \(691: wrong user name or password\)/,
        90_000,
        mark,
      );
      await stop(bad);
      const rep = JSON.parse(
        await oakleyOk(lab.mon, ["diagnose", "--recent", "--json", ...viaToken]),
      ) as FailureReport;
      const f = rep.peers
        .flatMap((p) => p.failures)
        .find((x) => x.step === "ppp" && x.user === "bob");
      assert.ok(f, JSON.stringify(rep));
      assert.match(
        f.explanation,
        /691: wrong user name or password\): wrong password for user 'bob'/,
      );
      assert.ok(f.vendorIds.includes("RFC 3947"), "the client's VIDs, from its IKE SA");
      const one = await oakleyOk(lab.mon, ["diagnose", "--peer", f.peer.address, ...viaToken]);
      assert.match(one, /why: +PPP authentication failed \(691/);
    });

    it("policy show; policy add --persistent: listed persistent, enforced first, and still so after a restart", async () => {
      const show0 = JSON.parse(
        await oakleyOk(lab.mon, ["policy", "show", "--json", ...viaToken]),
      ) as {
        persistent: { name: string }[];
        assigned?: { name: string };
        rules: { policy: string; source: string; rule: string; action: string }[];
      };
      assert.deepEqual(show0.persistent, []);
      assert.equal(show0.assigned?.name, "l2tp-ipsec-server");
      assert.deepEqual(
        show0.rules.map((r) => `${r.policy}/${r.rule} ${r.source}`),
        ["l2tp-ipsec-server/l2tp assigned"],
      );
      const human = await oakleyOk(lab.mon, ["policy", "show", ...viaCert]);
      assert.match(human, /Assigned policy:/);
      assert.match(human, /main mode offer: AES-CBC-256 \/ SHA2-256 \/ MODP-2048 \(group 14\)/);
      assert.equal(await telnetProbe(), "refused", "nothing blocks TCP 23 yet (RST from the host)");

      writeFileSync(
        files.policy,
        [
          "name: mgmt-guard",
          "description: applied before the assigned policy; no telnet to this gateway",
          "mainMode:",
          "  offers:",
          "    - {encryption: aes-cbc, keyLength: 256, hash: sha2-256, dhGroup: modp2048, lifetimeSeconds: 28800}",
          "rules:",
          "  - name: no-telnet",
          "    filters:",
          '      - {source: any, destination: me, protocol: tcp, sourcePort: any, destinationPort: "23", mirrored: false}',
          "    action: {type: block}",
          "",
        ].join("\n"),
      );
      const mark = daemon.out.length;
      const added = await oakleyOk(lab.mon, [
        "policy",
        "add",
        "--file",
        files.policy,
        "--persistent",
        ...viaToken,
      ]);
      assert.match(
        added,
        /added policy 'mgmt-guard' \(persistent, order 0\) in daemon at 198\.51\.100\.2:9501/,
      );
      const applied = await daemon.waitFor(/policy change applied/, 15_000, mark);
      assert.match(
        applied,
        /mgmt-guard, l2tp-ipsec-server/,
        "persistent first in the applied order",
      );

      const checkInForce = async (when: string) => {
        const list = JSON.parse(
          await oakleyOk(lab.mon, ["policy", "list", "--json", ...viaToken]),
        ) as { name: string; persistent: boolean; assigned: boolean }[];
        const g = list.find((p) => p.name === "mgmt-guard");
        assert.equal(g?.persistent, true, `${when}: mgmt-guard listed persistent`);
        assert.equal(g?.assigned, false);
        assert.match(
          await oakleyOk(lab.mon, ["policy", "list", ...viaToken]),
          /mgmt-guard +yes \(order 0\)/,
        );
        const show = JSON.parse(
          await oakleyOk(lab.mon, ["policy", "show", "--json", ...viaToken]),
        ) as typeof show0;
        assert.deepEqual(
          show.rules.map((r) => `${r.policy}/${r.rule} ${r.source} ${r.action}`),
          ["mgmt-guard/no-telnet persistent block", "l2tp-ipsec-server/l2tp assigned negotiate"],
          `${when}: the persistent policy's rules come first`,
        );
        const st = JSON.parse(await oakleyOk(lab.mon, ["status", "--json", ...viaToken])) as {
          persistentPolicies: string[];
        };
        assert.deepEqual(st.persistentPolicies, ["mgmt-guard"]);
        assert.deepEqual(
          await nftPolicyOrder(),
          ["mgmt-guard", "l2tp-ipsec-server"],
          `${when}: fail-closed rules, persistent policy first`,
        );
        assert.equal(await telnetProbe(), "timeout", `${when}: TCP 23 is blocked (dropped)`);
      };
      await checkInForce("live");

      // restart the daemon on the same store: the persistent policy applies from the start
      if (alice) {
        assert.equal(await stop(daemon), 0, "the daemon stops cleanly");
        const aliceCode = await alice.exited();
        assert.equal(aliceCode, 1, "the client notices its server going away");
        alice = undefined;
      }
      daemon = startDaemon();
      await daemon.waitFor(/ready: listening/, 60_000);
      await checkInForce("after restart");
      alice = await connectAlice();
    });

    it("sa delete: a Quick Mode SA, then a Main Mode SA with its children; the client sees the Delete and ends", async () => {
      const bad = await oakley(lab.mon, ["sa", "delete", "qm-00000000", ...viaToken]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /no SA qm-00000000; see `oakley sa list` \[OAK_E_CTL_NOT_FOUND\]/);

      const l = await saList();
      assert.equal(l.child.length, 1);
      const qm = l.child[0]?.id ?? "";
      const out = await oakleyOk(lab.mon, ["sa", "delete", qm, ...viaToken]);
      assert.equal(out, `deleted Quick Mode SA ${qm}\n`);
      assert.ok(alice);
      // The client hears the Delete, its L2TP session and PPP go down with the SA, and
      // `oakley connect` ends with exit 1 naming the cause (it does not redial by itself).
      await alice.waitFor(/child SA deleted .*reason=deleted by the peer/, 30_000);
      await alice.waitFor(/oakley connect: .*\[OAK_E_CONNECT_DOWN\]/, 30_000);
      assert.equal(await alice.exited(), 1, "oakley connect ends with exit 1 (it does not redial)");
      // the client tears down its side too: its Main Mode SA goes away as well
      let after = await saList();
      for (let i = 0; i < 20 && (after.ike.length > 0 || after.child.length > 0); i++) {
        await new Promise((r) => setTimeout(r, 500));
        after = await saList();
      }
      assert.deepEqual([after.ike.length, after.child.length], [0, 0]);

      alice = await connectAlice();
      const l2 = await saList();
      const mm = l2.ike[0]?.id ?? "";
      const child = l2.child[0]?.id ?? "";
      const res = JSON.parse(
        await oakleyOk(lab.mon, ["sa", "delete", mm, "--json", ...viaCert]),
      ) as { id: string; phase: string; alsoDeleted: string[] };
      assert.deepEqual(res, { id: mm, phase: "main-mode", alsoDeleted: [child] });
      await alice.waitFor(/(IKE|child) SA deleted .*reason=deleted by the peer/, 30_000);
      await alice.waitFor(/oakley connect: .*\[OAK_E_CONNECT_DOWN\]/, 30_000);
      assert.equal(await alice.exited(), 1);
      alice = undefined;
      const l3 = await saList();
      assert.deepEqual([l3.ike.length, l3.child.length], [0, 0]);
    });

    it("unauthenticated access to the TLS port is refused: no token, wrong token, untrusted certificate, plain TCP", async () => {
      alice = await connectAlice();
      const host = `${gw.addr}:${CONTROL_PORT}`;
      // the CLI itself refuses to go without credentials
      const none = await oakley(lab.mon, ["status", "--host", host, "--ca", pki.ca]);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /a remote daemon needs authentication/);
      // ... and the daemon refuses a client that tries anyway
      const noAuth = await runProbe({
        op: "client",
        host: gw.addr,
        port: CONTROL_PORT,
        ca: pki.ca,
      });
      assert.equal(noAuth.ok, false);
      assert.equal(noAuth.code, "OAK_E_CTL_AUTH");
      assert.match(noAuth.message ?? "", /authentication required/);
      const wrong = await oakley(lab.mon, [
        "sa",
        "list",
        "--host",
        host,
        "--token",
        `oak1_${"A".repeat(43)}`,
        "--ca",
        pki.ca,
      ]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /token not accepted.*\[OAK_E_CTL_AUTH\]/);
      assert.equal(wrong.stdout, "");
      const stranger = await oakley(lab.mon, [
        "sa",
        "list",
        "--host",
        host,
        "--cert",
        pki.strangerCert,
        "--key",
        pki.strangerKey,
        "--ca",
        pki.ca,
      ]);
      assert.equal(stranger.code, 1);
      assert.match(stranger.stderr, /client certificate not accepted.*\[OAK_E_CTL_AUTH\]/);
      assert.equal(stranger.stdout, "");

      // raw TLS: a hello without credentials followed at once by a request; only the refusal comes back
      const hello = `${JSON.stringify({ v: 1, id: 1, method: "hello", params: { min: 1, max: 1, client: "probe" } })}\n`;
      const list = `${JSON.stringify({ v: 1, id: 2, method: "sa.list", params: {} })}\n`;
      const raw = await runProbe({
        op: "raw-tls",
        host: gw.addr,
        port: CONTROL_PORT,
        ca: pki.ca,
        text: hello + list,
      });
      assert.equal(raw.closed, true, "the daemon closes the connection");
      const lines = (raw.received ?? "").split("\n").filter(Boolean);
      assert.equal(lines.length, 1, raw.received);
      const refusal = JSON.parse(lines[0] ?? "{}") as { id: number; error?: { code: string } };
      assert.equal(refusal.id, 1);
      assert.equal(refusal.error?.code, "OAK_E_CTL_AUTH");
      assert.doesNotMatch(raw.received ?? "", /"result"|mm-|qm-/);
      assert.doesNotMatch(raw.received ?? "", /oakley \d/, "nor the daemon's software version");

      // plain TCP to the TLS port: no protocol answer at all, and the connection is closed
      const plain = await runProbe({
        op: "plain-tcp",
        host: gw.addr,
        port: CONTROL_PORT,
        text: hello.replace("probe", "plain") + list,
      });
      assert.equal(plain.closed, true, "the daemon closes a plain TCP connection");
      assert.doesNotMatch(plain.received ?? "", /"result"|"error"|mm-|qm-|oakley/);

      const refused = records().filter((r) => r.msg === "control connection refused");
      assert.ok(refused.filter((r) => r.reason === "auth").length >= 3, JSON.stringify(refused));
      assert.ok(
        records().some((r) => r.msg === "control TLS handshake failed"),
        "plain TCP logged as a failed TLS handshake",
      );
      // the genuine credentials still work
      const ok = await runProbe({
        op: "client",
        host: gw.addr,
        port: CONTROL_PORT,
        ca: pki.ca,
        token,
      });
      assert.deepEqual(ok, { ok: true, sas: 1 });
    });

    it("a management client of an incompatible protocol version is refused with a clear message", async () => {
      const newer = await runProbe({
        op: "client",
        host: gw.addr,
        port: CONTROL_PORT,
        ca: pki.ca,
        token,
        versions: { min: 2, max: 3 },
        client: "oakley 9.0.0",
      });
      assert.equal(newer.ok, false);
      assert.equal(newer.code, "OAK_E_CTL_VERSION");
      assert.equal(
        newer.message,
        "management protocol mismatch: the client (oakley 9.0.0) speaks versions 2..3, the daemon (oakley 0.1.0) speaks version 1; upgrade the daemon (oakley 0.1.0) to a release that speaks protocol version 2, or use a management client that speaks version 1",
      );
      const older = await runProbe({
        op: "client",
        host: gw.addr,
        port: CONTROL_PORT,
        ca: pki.ca,
        cert: pki.monCert,
        key: pki.monKey,
        versions: { min: 0, max: 0 },
        client: "oakley 0.0.1",
      });
      assert.equal(older.code, "OAK_E_CTL_VERSION");
      assert.match(
        older.message ?? "",
        /the client \(oakley 0\.0\.1\) speaks version 0, the daemon \(oakley 0\.1\.0\) speaks version 1; upgrade the management client \(oakley 0\.0\.1\) to oakley 0\.1\.0 or newer/,
      );
      // without credentials a mismatched client is refused for that, and learns no version
      const anonymous = await runProbe({
        op: "client",
        host: gw.addr,
        port: CONTROL_PORT,
        ca: pki.ca,
        versions: { min: 2, max: 3 },
        client: "oakley 9.0.0",
      });
      assert.equal(anonymous.code, "OAK_E_CTL_AUTH");
      assert.doesNotMatch(anonymous.message ?? "", /oakley 0\.1\.0|version/);
      // a client from before the hello existed: told to upgrade, nothing served
      const noHello = await runProbe({
        op: "raw-tls",
        host: gw.addr,
        port: CONTROL_PORT,
        ca: pki.ca,
        text: `${JSON.stringify({ v: 1, id: 9, method: "sa.list", params: {} })}\n`,
      });
      const e = JSON.parse((noHello.received ?? "").split("\n")[0] ?? "{}") as {
        error?: { code: string; message: string };
      };
      assert.equal(e.error?.code, "OAK_E_CTL_SEQUENCE");
      assert.match(e.error?.message ?? "", /expects a hello first.*upgrade the management client/);
      assert.doesNotMatch(
        e.error?.message ?? "",
        /oakley 0\.1\.0/,
        "no version before authentication",
      );
      assert.equal(noHello.closed, true);
      assert.ok(
        records().filter((r) => r.msg === "control connection refused" && r.reason === "version")
          .length >= 2,
      );
    });

    it("the Prometheus endpoint, scraped from another namespace, passes promtool and agrees with sa list", {
      skip: promtool ? false : "promtool is not installed (Debian package prometheus)",
    }, async () => {
      // the daemon has a token file, so a scrape without one of its tokens gets nothing
      const anonymous = await runProbe({
        op: "http-get",
        url: `http://${gw.addr}:${METRICS_PORT}/metrics`,
      });
      assert.equal(anonymous.status, 401);
      assert.doesNotMatch(anonymous.body ?? "", /oakley_/);
      const scrape = await runProbe({
        op: "http-get",
        url: `http://${gw.addr}:${METRICS_PORT}/metrics`,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(scrape.status, 200);
      assert.match(scrape.contentType ?? "", /^text\/plain; version=0\.0\.4/);
      const body = scrape.body ?? "";
      const lint = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
      assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
      const s = new Map<string, number>();
      for (const line of body.split("\n")) {
        if (line === "" || line.startsWith("#")) continue;
        const i = line.lastIndexOf(" ");
        s.set(line.slice(0, i), Number(line.slice(i + 1)));
      }
      const l = await saList();
      assert.equal(s.get('oakley_sas{phase="main-mode",state="established"}'), l.ike.length);
      assert.equal(s.get('oakley_sas{phase="quick-mode",state="established"}'), l.child.length);
      assert.equal(s.get("oakley_up"), 1);
      assert.equal(s.get("oakley_block_mode"), 0);
      // every Main Mode handshake since the restart, as the daemon logged them
      const established = records().filter(
        (r) => r.group === "ike" && r.msg === "IKE SA established",
      ).length;
      assert.ok(
        established >= 3,
        `alice connected 3 times since the restart, logged ${established}`,
      );
      assert.equal(s.get("oakley_ike_sa_established_total"), established);
      assert.ok((s.get('oakley_ctl_reject_total{reason="auth"}') ?? 0) >= 3);
      assert.ok((s.get('oakley_ctl_reject_total{reason="version"}') ?? 0) >= 2);
      assert.ok((s.get('oakley_ctl_reject_total{reason="tls"}') ?? 0) >= 1);
      assert.ok((s.get('oakley_ctl_connection_total{transport="tls"}') ?? 0) > 5);
      assert.ok((s.get('oakley_sa_bytes{phase="quick-mode",direction="in"}') ?? 0) > 0);
      assert.doesNotMatch(body, /268435457/);
      if (alice) assert.equal(await stop(alice), 0);
      alice = undefined;
      assert.equal(await stop(daemon), 0);
    });
  });
