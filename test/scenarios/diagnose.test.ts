/**
 * `oakley diagnose` (client side) against `oakley serve`'s stack in one process
 * (test/fakes/product.ts): the real runner (src/diagnose/run.ts) with the client stack, on
 * simulated hosts, NATs and time, and the verdicts it gives for a healthy server, a wrong PSK,
 * a wrong password, no PSK at all (nothing after MM4), a server behind a port forward, UDP 4500
 * not forwarded, and ESP dropped on a path without NAT.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LogHub, MemorySink } from "../../src/obs/log.js";
import { SeededRandom } from "../../src/platform/random.js";
import { type DiagnoseOptions, type RawProbe, runDiagnosis } from "../../src/diagnose/run.js";
import { type DiagnoseReport, report, type StepId } from "../../src/diagnose/verdict.js";
import type { IpsecPorts } from "../../src/daemon/ipsec-node.js";
import {
  ALICE,
  SIM_PSK,
  type SimServer,
  SimUdpSocket,
  simIpsecPorts,
  simServer,
} from "../fakes/product.js";
import { type SimHost, SimNetwork, Simulator, simClock } from "../fakes/sim.js";

const SERVER = "203.0.113.5";

/** A connected-UDP probe on the simulator: the first answer, or silence. */
function simProbe(sim: Simulator, host: SimHost, server: string, blackHoleAbove = Infinity) {
  let nextPort = 50_000;
  return (port: 500 | 4500, data: Buffer, timeoutMs: number) =>
    new Promise<RawProbe>((resolve) => {
      const s = new SimUdpSocket(host).bindNow(nextPort++);
      let done = false;
      const finish = (r: RawProbe) => {
        if (done) return;
        done = true;
        cancel();
        s.close();
        resolve(r);
      };
      s.onDatagram((d) => finish({ kind: "answered", data: Buffer.from(d) }));
      if (data.length <= blackHoleAbove) s.send(data, server, port);
      const cancel = sim.after(timeoutMs, () => finish({ kind: "no-answer", waitedMs: timeoutMs }));
    });
}

/** Runs the simulator until the promise settles (the runner waits on the simulated clock). */
async function drive<T>(sim: Simulator, p: Promise<T>, limitMs = 120_000): Promise<T> {
  let settled = false;
  void p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const end = sim.now() + limitMs;
  while (!settled && sim.now() < end) {
    sim.runFor(20);
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(settled, "diagnosis finished within the simulated limit");
  return p;
}

interface Case {
  readonly sim: Simulator;
  readonly client: SimHost;
  readonly server: SimServer;
  readonly target: string;
  readonly ports?: (host: SimHost) => IpsecPorts;
  /** The path loses UDP payloads larger than this without a word (a path-MTU black hole). */
  readonly blackHoleAbove?: number;
}

async function diagnose(c: Case, o: Partial<DiagnoseOptions> = {}): Promise<DiagnoseReport> {
  const logs = new LogHub(new MemorySink(), "warn", () => c.sim.now());
  const run = runDiagnosis(
    {
      server: c.target,
      local: c.client.address,
      timeoutMs: 5000,
      pppMtu: 1400,
      ...o,
    },
    {
      clock: simClock(c.sim),
      random: new SeededRandom(`diag-${c.client.address}`),
      logs,
      probe: simProbe(c.sim, c.client, c.target, c.blackHoleAbove),
      pathMtu: async () => ({ mtu: 1500, source: "simulated link" }),
      openPorts: async () => ({
        ok: true as const,
        value: c.ports ? c.ports(c.client) : simIpsecPorts(c.client),
      }),
    },
  );
  const r = await drive(c.sim, run);
  assert.equal(r.observations.setupError, undefined);
  return report(r.observations);
}

function status(r: DiagnoseReport): Record<StepId, string> {
  return Object.fromEntries(r.steps.map((s) => [s.id, s.status])) as Record<StepId, string>;
}

function stepOf(r: DiagnoseReport, id: StepId) {
  const s = r.steps.find((x) => x.id === id);
  assert.ok(s, id);
  return s;
}

/** Client behind a NAT, server on the Internet (Microsoft's supported layout). */
function natWorld(seed = 1, serverOpts: Parameters<typeof simServer>[2] = {}) {
  const sim = new Simulator(seed);
  const net = new SimNetwork(sim);
  const server = simServer(sim, net.host(SERVER), serverOpts);
  const nat = net.nat("198.51.100.1");
  const client = net.host("192.0.2.2", nat.inside);
  return { sim, net, server, client };
}

describe("oakley diagnose against oakley serve (simulator)", () => {
  it("a healthy server behind no NAT, client behind NAT: every step passes", async () => {
    const w = natWorld(1);
    const r = await diagnose(
      { ...w, target: SERVER },
      { psk: SIM_PSK, user: ALICE.name, password: ALICE.password },
    );
    assert.deepEqual(status(r), {
      udp500: "pass",
      nat: "pass",
      udp4500: "pass",
      psk: "pass",
      esp: "pass",
      mtu: "pass",
      ppp: "pass",
    });
    assert.equal(r.ok, true);
    const nat = stepOf(r, "nat");
    assert.equal(nat.data?.localBehindNat, true);
    assert.equal(nat.data?.peerBehindNat, false);
    assert.equal(nat.data?.windowsAssumeUdpEncapsulationContextOnSendRule, 0);
    assert.match(stepOf(r, "udp500").summary, /chose AES-CBC-\d+\/SHA/);
    assert.match(stepOf(r, "udp500").summary, /RFC 3947/);
    assert.equal(stepOf(r, "mtu").data?.exact, true);
    assert.match(stepOf(r, "mtu").summary, /a 1500-byte DF probe answered/);
    assert.ok(r.windowsErrors.every((e) => e.status !== "likely"));
    // Torn down: the server holds no IKE SA, channel or PPP session of ours afterwards.
    w.sim.runFor(2000);
    const established = [...w.server.stack.node.engine.sas.values()].filter(
      (s) => s.state === "ESTABLISHED",
    );
    assert.equal(established.length, 0, "server keeps no established IKE SA");
    assert.equal(w.server.stack.l2tp.channels.size, 0);
    w.server.dispose();
  });

  it("a wrong pre-shared key: the PSK step fails (AUTHENTICATION-FAILED), 789/788 likely", async () => {
    const w = natWorld(2);
    const r = await diagnose(
      { ...w, target: SERVER },
      { psk: "not-the-servers-key-0123456789", user: ALICE.name, password: ALICE.password },
    );
    const s = status(r);
    assert.equal(s.udp500, "pass");
    assert.equal(s.nat, "pass");
    assert.equal(s.udp4500, "pass");
    assert.equal(s.psk, "fail");
    assert.equal(s.esp, "skip");
    assert.equal(s.ppp, "skip");
    assert.match(stepOf(r, "psk").summary, /AUTHENTICATION-FAILED/);
    assert.equal(r.ok, false);
    const likely = r.windowsErrors.filter((e) => e.status === "likely").map((e) => e.code);
    assert.deepEqual(likely.sort(), [788, 789]);
    w.server.dispose();
  });

  it("a wrong password: PPP fails with 691, everything below passes", async () => {
    const w = natWorld(3);
    const r = await diagnose(
      { ...w, target: SERVER },
      { psk: SIM_PSK, user: ALICE.name, password: "not alice's password" },
    );
    const s = status(r);
    assert.equal(s.psk, "pass");
    assert.equal(s.esp, "pass");
    assert.equal(s.ppp, "fail");
    assert.match(stepOf(r, "ppp").summary, /error 691/);
    assert.deepEqual(
      r.windowsErrors.filter((e) => e.status === "likely").map((e) => e.code),
      [691],
    );
    w.server.dispose();
  });

  it("without a PSK: NAT found from MM1–MM4, nothing sent after MM4 (no failed login on the server)", async () => {
    const w = natWorld(4);
    const r = await diagnose({ ...w, target: SERVER });
    const s = status(r);
    assert.equal(s.udp500, "pass");
    assert.equal(s.nat, "pass");
    assert.equal(s.udp4500, "pass");
    assert.equal(s.psk, "skip");
    assert.equal(s.esp, "skip");
    assert.equal(s.ppp, "skip");
    assert.equal(stepOf(r, "mtu").data?.exact, false, "an estimate without an SA");
    assert.equal(r.ok, false, "skipped steps are not passes");
    // An encrypted ISAKMP message (flags bit 0, RFC 2408 §3.1) to the server would be MM5.
    const encrypted = w.net.log.filter((d) => {
      if (d.realm !== "internet" || d.to.address !== SERVER) return false;
      const off = d.to.port === 4500 ? 4 : 0;
      return d.data.length >= off + 28 && (d.data[off + 19]! & 1) === 1;
    });
    assert.equal(encrypted.length, 0, "no MM5 left the client");
    assert.equal(w.server.counters.get('ike_fail{reason="OAK_E_IKE_AUTH_FAILED"}'), 0n);
    w.server.dispose();
  });

  it("a server behind a port forward: seen from its identity; Windows needs no registry edit", async () => {
    const sim = new Simulator(5);
    const net = new SimNetwork(sim);
    const fwd = net.nat("198.51.100.130");
    const inside = net.host("192.0.2.130", fwd.inside);
    fwd.forward(500, { address: inside.address, port: 500 });
    fwd.forward(4500, { address: inside.address, port: 4500 });
    const server = simServer(sim, inside);
    const cnat = net.nat("198.51.100.1");
    const client = net.host("192.0.2.2", cnat.inside);
    const r = await diagnose(
      { sim, client, server, target: "198.51.100.130" },
      { psk: SIM_PSK, user: ALICE.name, password: ALICE.password },
    );
    assert.equal(r.ok, true, JSON.stringify(r.steps, null, 1));
    const nat = stepOf(r, "nat");
    assert.equal(nat.data?.serverBehindPortForward, true);
    assert.match(nat.summary, /identifies as 192\.0\.2\.130/);
    assert.equal(nat.data?.windowsAssumeUdpEncapsulationContextOnSendRule, 0);
    server.dispose();
  });

  it("UDP 4500 not forwarded to the server: UDP 4500 fails, the PSK is not blamed, 809 likely", async () => {
    const sim = new Simulator(6);
    const net = new SimNetwork(sim);
    const fwd = net.nat("198.51.100.130");
    const inside = net.host("192.0.2.130", fwd.inside);
    fwd.forward(500, { address: inside.address, port: 500 });
    const server = simServer(sim, inside);
    const cnat = net.nat("198.51.100.1");
    const client = net.host("192.0.2.2", cnat.inside);
    const r = await diagnose(
      { sim, client, server, target: "198.51.100.130" },
      { psk: SIM_PSK, user: ALICE.name, password: ALICE.password },
    );
    const s = status(r);
    assert.equal(s.udp500, "pass");
    assert.equal(s.nat, "pass");
    assert.equal(s.udp4500, "fail");
    assert.equal(s.psk, "skip");
    assert.equal(s.esp, "skip");
    assert.ok(r.windowsErrors.find((e) => e.code === 809)?.status === "likely");
    assert.ok(r.windowsErrors.find((e) => e.code === 789)?.status !== "likely");
    server.dispose();
  });

  it("plain ESP dropped on a path without NAT: Quick Mode up, L2TP unanswered — the classic 809", async () => {
    const sim = new Simulator(7);
    const net = new SimNetwork(sim);
    const server = simServer(sim, net.host(SERVER));
    const client = net.host("198.51.100.7");
    // The path drops IP protocol 50 (the simulator's raw ESP is port 0): nothing we send arrives.
    const ports = (h: SimHost): IpsecPorts => {
      const p = simIpsecPorts(h);
      const esp = p.rawEsp;
      return {
        ...p,
        ...(esp
          ? {
              rawEsp: {
                onPacket: (f: Parameters<typeof esp.onPacket>[0]) => esp.onPacket(f),
                send: () => {},
                flush: () => {},
                close: () => esp.close(),
              },
            }
          : {}),
      };
    };
    const r = await diagnose(
      { sim, client, server, target: SERVER, ports },
      { psk: SIM_PSK, user: ALICE.name, password: ALICE.password },
    );
    const s = status(r);
    assert.equal(s.nat, "pass");
    assert.equal(stepOf(r, "nat").data?.nattMethod, "none");
    assert.equal(s.psk, "pass");
    assert.equal(s.esp, "fail");
    assert.match(stepOf(r, "esp").summary, /plain ESP/);
    assert.match(stepOf(r, "esp").hint ?? "", /protocol 50/);
    assert.equal(s.ppp, "skip");
    assert.ok(r.windowsErrors.find((e) => e.code === 809)?.status === "likely");
    server.dispose();
  });

  it("a path-MTU black hole: the full-size probe vanishes, the MTU step says so", async () => {
    const w = natWorld(8);
    const r = await diagnose(
      { ...w, target: SERVER, blackHoleAbove: 1400 },
      { psk: SIM_PSK, user: ALICE.name, password: ALICE.password },
    );
    const m = stepOf(r, "mtu");
    assert.equal(m.status, "fail");
    assert.equal(m.reason, "black-hole");
    assert.equal(m.data?.packetSize, 1500);
    assert.equal(stepOf(r, "ppp").status, "pass", "the rest still runs");
    w.server.dispose();
  });
});
