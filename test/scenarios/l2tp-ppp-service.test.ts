/**
 * The L2TP+PPP service of `oakley serve` (LNS) and `oakley connect` (LAC), whole, in one
 * process on the simulator: real engines, real timers (on simulated time), a lossy network.
 * The IPsec layer is left out here (bindings are plain UDP endpoints); it is covered by the
 * namespace and VM tests.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { L2tpPppService, type L2tpPppEvent } from "../../src/daemon/l2tp-ppp.js";
import { type PasswordVerifier, storePasswordVerifier } from "../../src/daemon/ppp-password.js";
import { nullLogger } from "../../src/obs/log.js";
import { AddressPool, type PppAuthMethod, type UserSecret } from "../../src/ppp/index.js";
import { type LinkProfile, SimNetwork, Simulator, simClock } from "../fakes/sim.js";

function ipv4Packet(src: string, dst: string, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = 17;
  Buffer.from(src.split(".").map(Number)).copy(h, 12);
  Buffer.from(dst.split(".").map(Number)).copy(h, 16);
  return Buffer.concat([h, payload]);
}

interface Setup {
  sim: Simulator;
  net: SimNetwork;
  server: L2tpPppService;
  clients: L2tpPppService[];
  serverEvents: L2tpPppEvent[];
  clientEvents: L2tpPppEvent[][];
  serverTun: Buffer[];
  clientTun: Buffer[][];
}

function setup(opts: {
  clients?: number;
  profile?: LinkProfile;
  method?: PppAuthMethod;
  password?: string;
  seed?: number;
  users?: (name: string) => string | UserSecret | undefined;
  verifier?: PasswordVerifier;
}): Setup {
  const sim = new Simulator(opts.seed ?? 1);
  const net = new SimNetwork(sim, opts.profile);
  const clock = simClock(sim);
  const nat = net.nat("198.51.100.1");
  const srvHost = net.host("198.51.100.2");
  const serverEvents: L2tpPppEvent[] = [];
  const serverTun: Buffer[] = [];
  const pool = new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] });
  const method = opts.method ?? "mschapv2";
  const server: L2tpPppService = new L2tpPppService({
    role: "lns",
    clock,
    random: randomBytes,
    l2tpLog: nullLogger,
    pppLog: nullLogger,
    server: {
      authMethods: [method],
      users: opts.users ?? ((n) => (n === "alice" ? "correct horse" : undefined)),
      // PAP in these scenarios: the cleartext users above, answered asynchronously.
      verifier: opts.verifier ?? {
        verify: async (n, pw) =>
          n === "alice" && pw === "correct horse"
            ? { ok: true }
            : { ok: false, reason: "wrong-password" },
      },
      pool,
      localAddress: "203.0.113.1",
      dns: ["192.0.2.53"],
    },
    send: (binding, bytes) => {
      const [address, port] = binding.split(":");
      srvHost.send(1701, { address: address!, port: Number(port) }, bytes);
    },
    deliverIp: (p) => serverTun.push(Buffer.from(p)),
    onEvent: (e) => serverEvents.push(e),
  });
  srvHost.bind(1701, (data, from) => server.receive(`${from.address}:${from.port}`, data));
  const clients: L2tpPppService[] = [];
  const clientEvents: L2tpPppEvent[][] = [];
  const clientTun: Buffer[][] = [];
  for (let i = 0; i < (opts.clients ?? 1); i++) {
    // Every client has the same private address and port: only the NAT mapping differs.
    const inner = net.nat(`192.0.2.${100 + i}`, nat.inside);
    const host = net.host("192.0.2.2", inner.inside);
    const events: L2tpPppEvent[] = [];
    const tun: Buffer[] = [];
    const c = new L2tpPppService({
      role: "lac",
      clock,
      random: randomBytes,
      l2tpLog: nullLogger,
      pppLog: nullLogger,
      client: { user: "alice", password: opts.password ?? "correct horse", authMethods: [method] },
      send: (_binding, bytes) => host.send(1701, { address: "198.51.100.2", port: 1701 }, bytes),
      deliverIp: (p) => tun.push(Buffer.from(p)),
      onEvent: (e) => events.push(e),
    });
    host.bind(1701, (data) => c.receive("server", data));
    clients.push(c);
    clientEvents.push(events);
    clientTun.push(tun);
  }
  return { sim, net, server, clients, serverEvents, clientEvents, serverTun, clientTun };
}

/** Runs the simulator while letting the event loop turn (PAP checks are asynchronous). */
async function runUntilAsync(
  sim: Simulator,
  cond: () => boolean,
  limitMs: number,
): Promise<boolean> {
  for (let t = 0; t < limitMs && !cond(); t += 50) {
    sim.runFor(50);
    await new Promise((r) => setTimeout(r, 1));
  }
  return cond();
}

for (const method of ["mschapv2", "chap-md5", "pap"] as const) {
  test(`LAC and LNS bring PPP up with ${method} and carry IP both ways`, async () => {
    const s = setup({ method });
    s.clients[0]!.connect("server");
    assert.ok(
      await runUntilAsync(s.sim, () => s.clientEvents[0]!.some((e) => e.type === "ip-up"), 30_000),
    );
    const up = s.clientEvents[0]!.find((e) => e.type === "ip-up");
    assert.ok(up && up.type === "ip-up");
    assert.equal(up.session.localAddress, "203.0.113.2");
    assert.deepEqual(up.session.dns, ["192.0.2.53"]);
    assert.ok(s.serverEvents.some((e) => e.type === "auth-ok" && e.session.user === "alice"));
    // client -> server
    assert.ok(s.clients[0]!.sendIp(ipv4Packet("203.0.113.2", "203.0.113.1", Buffer.from("ping"))));
    // server -> client, routed by destination address
    s.sim.runFor(100);
    assert.ok(s.server.sendIp(ipv4Packet("203.0.113.1", "203.0.113.2", Buffer.from("pong"))));
    assert.equal(
      s.server.sendIp(ipv4Packet("203.0.113.1", "203.0.113.77", Buffer.from("nobody"))),
      false,
    );
    s.sim.runFor(100);
    assert.equal(s.serverTun.length, 1);
    assert.equal(s.serverTun[0]!.subarray(20).toString(), "ping");
    assert.equal(s.clientTun[0]!.length, 1);
    assert.equal(s.clientTun[0]![0]!.subarray(20).toString(), "pong");
  });
}

test("wrong password: the client sees the failure, both sides tear down, no hang", () => {
  const s = setup({ password: "wrong" });
  s.clients[0]!.connect("server");
  assert.ok(
    s.sim.runUntilTrue(() => s.clientEvents[0]!.some((e) => e.type === "session-down"), 60_000),
  );
  const failed = s.clientEvents[0]!.find((e) => e.type === "auth-failed");
  assert.ok(failed && failed.type === "auth-failed");
  assert.equal(failed.code, 691);
  assert.ok(
    s.sim.runUntilTrue(() => s.serverEvents.some((e) => e.type === "session-down"), 60_000),
  );
  assert.equal(s.server.list().length, 0);
});

test("three clients with identical private address:port behind one NAT, lossy network", () => {
  const s = setup({
    clients: 3,
    profile: { latencyMs: 10, jitterMs: 30, loss: 0.1, duplicate: 0.05 },
    seed: 9,
  });
  for (const c of s.clients) c.connect("server");
  assert.ok(
    s.sim.runUntilTrue(
      () => s.clientEvents.every((ev) => ev.some((e) => e.type === "ip-up")),
      120_000,
    ),
    "every client got an address",
  );
  const addrs = s.clientEvents.map((ev) => {
    const e = ev.find((x) => x.type === "ip-up");
    return e && e.type === "ip-up" ? e.session.localAddress : null;
  });
  assert.equal(new Set(addrs).size, 3);
  // Each client's packets reach the server with its own source address; replies go back to it.
  s.clients.forEach((c, i) => {
    c.sendIp(ipv4Packet(addrs[i]!, "203.0.113.1", Buffer.from(`from-${i}`)));
  });
  s.sim.runFor(2000);
  for (let i = 0; i < 3; i++)
    s.server.sendIp(ipv4Packet("203.0.113.1", addrs[i]!, Buffer.from(`to-${i}`)));
  s.sim.runFor(2000);
  // With 10% loss, data packets (not retransmitted by L2TP) may be lost: check what arrived is right.
  for (const p of s.serverTun) {
    const i = Number(p.subarray(20).toString().split("-")[1]);
    assert.equal(`${p[12]}.${p[13]}.${p[14]}.${p[15]}`, addrs[i]);
  }
  s.clientTun.forEach((tun, i) => {
    for (const p of tun) assert.equal(p.subarray(20).toString(), `to-${i}`);
  });
});

test("the server authenticates from stored credentials (NT hash / scrypt), never the password", async () => {
  const { makeCredentials } = await import("../../src/policy/index.js");
  const { userSecret } = await import("../../src/daemon/users.js");
  const cheap = { n: 1024, r: 8, p: 1 };
  const stored = {
    name: "alice",
    enabled: true,
    protocols: ["mschapv2", "pap"] as const,
    credentials: makeCredentials("correct horse", randomBytes, { scrypt: cheap }),
  };
  assert.equal(stored.credentials.cleartext, undefined);
  for (const method of ["mschapv2", "pap", "chap-md5"] as const) {
    const s = setup({
      method,
      users: (n) =>
        n === "alice" ? userSecret({ ...stored, protocols: [...stored.protocols] }) : undefined,
      verifier: storePasswordVerifier((n) =>
        n === "alice" ? { ...stored, protocols: [...stored.protocols] } : undefined,
      ),
    });
    s.clients[0]!.connect("server");
    // The PAP check runs scrypt on the threadpool: let real time pass between simulated steps.
    await runUntilAsync(
      s.sim,
      () => s.clientEvents[0]!.some((e) => e.type === "ip-up" || e.type === "session-down"),
      60_000,
    );
    const ok = s.clientEvents[0]!.some((e) => e.type === "ip-up");
    // CHAP-MD5 needs the cleartext, which this user's store entry does not keep.
    assert.equal(ok, method !== "chap-md5", method);
  }
});
