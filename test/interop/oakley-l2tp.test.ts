/**
 * The products end to end in network namespaces (issue "L2TP and PPP, and the product"):
 * `oakley connect` behind a MASQUERADE NAT -> `oakley serve`, Microsoft's supported topology
 * `Client -> NAT -> Internet -> Server`, then the server behind a port-forwarding NAT, then two
 * clients behind the same NAT at once. Each client pings the server's PPP address and sends a
 * TCP stream whose SHA-256 must arrive intact; a capture on the NAT's outside must show only
 * IKE and ESP-in-UDP. Ctrl-C on a client must remove its TUN and exit 0.
 *
 *   c1 192.0.2.2/26 --in0--\                       /-- srv 198.51.100.2 (oakley serve)
 *                           nat (MASQUERADE) out0 198.51.100.1
 *   c2 192.0.2.66/26 --in1-/                       \-- pfw 198.51.100.3 --DNAT 500/4500--> srv2 192.0.2.130
 * PPP pool 203.0.113.0/24 (server PPP address 203.0.113.1). Needs root, iproute2, nft/iptables,
 * tcpdump, socat.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { type Proc, spawnServe, stop, watch } from "./lib/cli-process.js";
import { interopSkipReason, type Namespace, Topology } from "./lib/netns.js";

const skip = await interopSkipReason(["ip", "tcpdump", "socat"], { nat: true });
const topo = new Topology(import.meta.filename);
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
const PSK = "oak-ns-psk-0123456789";

let c1: Namespace;
let c2: Namespace;
let nat: Namespace;
let srv: Namespace;
let pfw: Namespace;
let srv2: Namespace;

/** Runs an `oakley` management command in `ns` and returns its standard output. */
async function oakley(ns: Namespace, args: string[]): Promise<string> {
  return (await topo.exec(ns, [process.execPath, "--import", "tsx", CLI, ...args], 30_000)).stdout;
}

function serve(ns: Namespace, listen: string, tag: string): Proc {
  return spawnServe(topo, ns, tag, listen, [
    "--psk",
    PSK,
    "--user",
    "alice:alice-pass-1",
    "--user",
    "bob:bob-pass-2",
    "--pool",
    "203.0.113.0/24",
    "--dns",
    "192.0.2.53",
    "--control-socket",
    join(topo.dir, `${tag}.sock`),
  ]);
}

function connect(
  ns: Namespace,
  server: string,
  user: string,
  password: string,
  extra: string[] = [],
): Proc {
  return watch(
    topo.spawn(ns, [
      process.execPath,
      "--import",
      "tsx",
      CLI,
      "connect",
      server,
      "--psk",
      PSK,
      "--user",
      user,
      "--password",
      password,
      "--log-format",
      "text",
      ...extra,
    ]),
    `connect(${ns.short},${user})`,
  );
}

/** Sends `bytes` over TCP from `from` to 203.0.113.1:port in `server`; returns the received SHA-256. */
async function tcpThrough(
  from: Namespace,
  server: Namespace,
  port: number,
  bytes: number,
): Promise<[string, string]> {
  const data = randomBytes(bytes);
  const src = join(topo.dir, `src-${from.short}-${port}.bin`);
  const dst = join(topo.dir, `dst-${from.short}-${port}.bin`);
  writeFileSync(src, data);
  const sink = topo.spawn(server, [
    "socat",
    "-u",
    `TCP-LISTEN:${port},bind=203.0.113.1,reuseaddr`,
    `CREATE:${dst}`,
  ]);
  const sinkDone = new Promise((r) => sink.once("exit", r));
  await new Promise((r) => setTimeout(r, 300));
  await topo.exec(
    from,
    ["socat", "-u", `OPEN:${src}`, `TCP:203.0.113.1:${port},connect-timeout=10`],
    60_000,
  );
  await sinkDone;
  const h = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  return [h(data), h(readFileSync(dst))];
}

describe("oakley connect -> NAT -> oakley serve (namespaces)", {
  skip,
  concurrency: false,
  timeout: 600_000,
}, () => {
  before(async () => {
    c1 = await topo.namespace("c1");
    c2 = await topo.namespace("c2");
    nat = await topo.namespace("nat");
    srv = await topo.namespace("srv");
    pfw = await topo.namespace("pfw");
    srv2 = await topo.namespace("srv2");
    await topo.link(c1, "eth0", nat, "in0");
    await topo.link(c2, "eth0", nat, "in1");
    await topo.link(nat, "out0", srv, "eth0");
    await topo.address(c1, "eth0", "192.0.2.2/26");
    await topo.address(nat, "in0", "192.0.2.1/26");
    await topo.address(c2, "eth0", "192.0.2.66/26");
    await topo.address(nat, "in1", "192.0.2.65/26");
    await topo.address(nat, "out0", "198.51.100.1/24");
    await topo.address(srv, "eth0", "198.51.100.2/24");
    await topo.route(c1, "default", { gateway: "192.0.2.1" });
    await topo.route(c2, "default", { gateway: "192.0.2.65" });
    await topo.masquerade(nat, "out0", "192.0.2.0/24");
    // The port-forwarding NAT in front of srv2 sits on the same "Internet" segment: a bridge
    // in srv's namespace would complicate things, so it gets its own link to the client NAT.
    await topo.link(nat, "out1", pfw, "out0");
    await topo.address(nat, "out1", "198.51.100.129/25");
    await topo.address(pfw, "out0", "198.51.100.130/25");
    await topo.link(pfw, "in0", srv2, "eth0");
    await topo.address(pfw, "in0", "192.0.2.129/26");
    await topo.address(srv2, "eth0", "192.0.2.130/26");
    await topo.route(srv2, "default", { gateway: "192.0.2.129" });
    await topo.masquerade(nat, "out1", "192.0.2.0/24");
    await topo.portForward(pfw, "out0", "198.51.100.130", "192.0.2.130");
  });

  it("a client behind NAT gets an address, pings, moves TCP intact; only IKE/ESP-in-UDP outside; Ctrl-C cleans up", async () => {
    const server = serve(srv, "198.51.100.2", "srv");
    try {
      await server.waitFor(/ready: listening/, 30_000);
      const cap = await topo.capture(nat, "out0", "ip");
      // `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf.
      const nsEtc = join("/etc/netns", c1.name);
      mkdirSync(nsEtc, { recursive: true });
      writeFileSync(join(nsEtc, "resolv.conf"), "nameserver 198.51.100.53\n");
      const client = connect(c1, "198.51.100.2", "alice", "alice-pass-1", ["--use-peer-dns"]);
      await client.waitFor(/phase 1 up/, 30_000);
      await client.waitFor(/phase 2 up/, 30_000);
      await client.waitFor(/L2TP tunnel up/, 30_000);
      await client.waitFor(/PPP authenticated as alice/, 30_000);
      const addr = await client.waitFor(/address assigned: 203\.0\.113\.\d+/, 30_000);
      assert.match(addr, /server 203\.0\.113\.1, DNS 192\.0\.2\.53 in use/);
      assert.match(readFileSync(join(nsEtc, "resolv.conf"), "utf8"), /^nameserver 192\.0\.2\.53$/m);
      await topo.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "203.0.113.1"]);
      const [sent, got] = await tcpThrough(c1, srv, 5001, 2 << 20);
      assert.equal(got, sent, "TCP stream through L2TP/PPP/ESP arrived intact");

      // The management tool against the live daemon: status, SAs with algorithm
      // names and NAT-T state, IKE logging switched on at runtime, a user added live.
      const sock = join(topo.dir, "srv.sock");
      const st = JSON.parse(await oakley(srv, ["status", "--socket", sock, "--json"])) as {
        mode: string;
        ikeSas: number;
        assignedPolicy: string;
      };
      assert.equal(st.mode, "protected");
      assert.equal(st.ikeSas, 1);
      assert.equal(st.assignedPolicy, "l2tp-ipsec-server");
      const sas = JSON.parse(await oakley(srv, ["sa", "list", "--socket", sock, "--json"])) as {
        ike: Array<{
          algorithms: { encryption: string; dhGroup: string };
          natt: { behindNat: string; floated: boolean };
        }>;
        child: Array<{
          encapsulation: string;
          algorithms: { encryption: string };
          traffic: { bytesIn: string };
        }>;
      };
      assert.equal(sas.ike.length, 1);
      assert.match(
        sas.ike[0]!.algorithms.dhGroup,
        /MODP-2048|ECP/,
        "DH group by name, never a raw number",
      );
      assert.equal(sas.ike[0]!.natt.behindNat, "remote");
      assert.equal(sas.ike[0]!.natt.floated, true);
      assert.equal(sas.child.length, 1);
      assert.match(sas.child[0]!.encapsulation, /UDP-Encapsulated-Transport/);
      assert.ok(BigInt(sas.child[0]!.traffic.bytesIn) > 2_000_000n, "per-SA traffic counted");
      const human = await oakley(srv, ["sa", "list", "--socket", sock]);
      assert.doesNotMatch(human, /268435457/);
      await oakley(srv, ["log", "ike", "on", "--socket", sock]);
      await server.waitFor(/debug/, 10_000).catch(() => "");
      await oakley(srv, ["users", "add", "carol", "--password", "carol-pass-3", "--socket", sock]);
      const carol = connect(c2, "198.51.100.2", "carol", "carol-pass-3");
      await carol.waitFor(/address assigned/, 60_000);
      assert.equal(
        await stop(carol),
        0,
        "a user added through the daemon logs in without a restart",
      );

      // A policy-store change through the daemon (new PSK via export/import) is used by the
      // next client at once, without a restart.
      const doc = join(topo.dir, "export.yaml");
      await oakley(srv, [
        "policy",
        "export",
        "--include-secrets",
        "--output",
        doc,
        "--socket",
        sock,
      ]);
      const yaml = readFileSync(doc, "utf8");
      assert.ok(yaml.includes(PSK), "the export with secrets holds the PSK");
      writeFileSync(doc, yaml.replaceAll(PSK, "oak-ns-psk-ROTATED-42"));
      await oakley(srv, ["policy", "import", doc, "--socket", sock]);
      await server.waitFor(/policy change applied/, 10_000);
      const rotated = watch(
        topo.spawn(c2, [
          process.execPath,
          "--import",
          "tsx",
          CLI,
          "connect",
          "198.51.100.2",
          "--psk",
          "oak-ns-psk-ROTATED-42",
          "--user",
          "bob",
          "--password",
          "bob-pass-2",
          "--log-format",
          "text",
        ]),
        "connect(rotated)",
      );
      await rotated.waitFor(/address assigned/, 60_000);
      assert.equal(await stop(rotated), 0, "the rotated PSK works without a restart");
      assert.equal(await stop(client), 0, "Ctrl-C ends the client cleanly");
      const links = await topo.exec(c1, ["ip", "-o", "link"]);
      assert.ok(!links.stdout.includes("oakc0"), "the client's TUN is gone after Ctrl-C");
      assert.equal(
        readFileSync(join(nsEtc, "resolv.conf"), "utf8"),
        "nameserver 198.51.100.53\n",
        "DNS restored",
      );
      rmSync(nsEtc, { recursive: true, force: true });
      await cap.stop();
      const text = await topo.readCapture(cap);
      const lines = text.split("\n").filter((l) => l.trim() !== "");
      assert.ok(lines.length > 20, "traffic was captured");
      const other = lines.filter((l) => !/\.(500|4500)[ :>]/.test(l));
      assert.deepEqual(other, [], "nothing but UDP 500/4500 crossed the NAT's outside");
      assert.ok(
        lines.some((l) => /UDP-encap: ESP|ESP\(spi/.test(l)),
        "ESP-in-UDP seen",
      );
      assert.equal(await stop(server), 0, "the server stops cleanly on Ctrl-C");
    } finally {
      await stop(server);
    }
  });

  it("two clients behind the same NAT at once, both working", async () => {
    const server = serve(srv, "198.51.100.2", "srv-two");
    const a = connect(c1, "198.51.100.2", "alice", "alice-pass-1");
    const b = connect(c2, "198.51.100.2", "bob", "bob-pass-2");
    try {
      await server.waitFor(/ready: listening/, 30_000);
      const [la, lb] = await Promise.all([
        a.waitFor(/address assigned: 203\.0\.113\.\d+/, 60_000),
        b.waitFor(/address assigned: 203\.0\.113\.\d+/, 60_000),
      ]);
      assert.notEqual(/203\.0\.113\.\d+/.exec(la)?.[0], /203\.0\.113\.\d+/.exec(lb)?.[0]);
      await Promise.all([
        topo.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "203.0.113.1"]),
        topo.exec(c2, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "203.0.113.1"]),
      ]);
      const [r1, r2] = await Promise.all([
        tcpThrough(c1, srv, 5011, 1 << 20),
        tcpThrough(c2, srv, 5012, 1 << 20),
      ]);
      assert.equal(r1[1], r1[0]);
      assert.equal(r2[1], r2[0]);
      assert.deepEqual(await Promise.all([stop(a), stop(b)]), [0, 0]);
    } finally {
      await Promise.all([stop(a), stop(b)]);
      await stop(server);
    }
  });

  it("server behind a port-forwarding NAT: the client (nat-policy 0) connects without any registry-style setting", async () => {
    const server = serve(srv2, "192.0.2.130", "srv2");
    let client: Proc | undefined;
    try {
      await server.waitFor(/ready: listening/, 30_000);
      client = connect(c1, "198.51.100.130", "alice", "alice-pass-1");
      await client.waitFor(/address assigned: 203\.0\.113\.\d+/, 60_000);
      await topo.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "203.0.113.1"]);
      const [sent, got] = await tcpThrough(c1, srv2, 5021, 1 << 20);
      assert.equal(got, sent);
      const p1 = client.out.find((l) => /phase 1 up/.test(l)) ?? "";
      assert.match(p1, /this client is behind NAT/);
      assert.doesNotMatch(
        p1,
        /server is behind NAT/,
        "the Windows-friendly NAT-D hides the server's NAT",
      );
      assert.equal(await stop(client), 0);
    } finally {
      if (client) await stop(client);
      await stop(server);
    }
  });
  it("a wrong password ends the client with the server's error 691 and exit code 1", async () => {
    const server = serve(srv, "198.51.100.2", "srv-badpw");
    let client: Proc | undefined;
    try {
      await server.waitFor(/ready: listening/, 30_000);
      client = connect(c1, "198.51.100.2", "alice", "not-the-password");
      const line = await client.waitFor(/refused user alice/, 60_000);
      assert.match(line, /error 691/);
      assert.equal(await client.exited(), 1);
      await server.waitFor(/authentication failed/, 10_000);
    } finally {
      if (client) await stop(client);
      await stop(server);
    }
  });

  it("nat-policy 0 and 1 refuse when client and server are both behind NAT, naming the setting; 2 connects", async () => {
    // --no-windows-nat-friendly: the server presents honest NAT-D, so the client sees it NATed.
    const server = watch(
      topo.spawn(srv2, [
        process.execPath,
        "--import",
        "tsx",
        CLI,
        "serve",
        "--store",
        join(topo.dir, "srv2-honest.db"),
        "--listen",
        "192.0.2.130",
        "--psk",
        PSK,
        "--user",
        "alice:alice-pass-1",
        "--pool",
        "203.0.113.0/24",
        "--no-windows-nat-friendly",
        "--status-file",
        join(topo.dir, "honest.status.json"),
        "--control-socket",
        join(topo.dir, "honest.sock"),
        "--log-format",
        "text",
      ]),
      "serve(honest)",
    );
    let refused: Proc | undefined;
    let allowed: Proc | undefined;
    try {
      await server.waitFor(/ready: listening/, 30_000);
      refused = connect(c1, "198.51.100.130", "alice", "alice-pass-1");
      const line = await refused.waitFor(/refusing the SA/, 60_000);
      assert.match(line, /both this client and the server are behind NAT/);
      assert.match(line, /nat-policy 0 does not allow that/);
      assert.match(line, /AssumeUDPEncapsulationContextOnSendRule=0/);
      assert.match(line, /--nat-policy 2/);
      assert.equal(await refused.exited(), 1);
      const one = connect(c1, "198.51.100.130", "alice", "alice-pass-1", ["--nat-policy", "1"]);
      assert.match(
        await one.waitFor(/refusing the SA/, 60_000),
        /nat-policy 1 does not allow that/,
      );
      assert.equal(await one.exited(), 1);
      allowed = connect(c1, "198.51.100.130", "alice", "alice-pass-1", ["--nat-policy", "2"]);
      const up = await allowed.waitFor(/phase 1 up/, 60_000);
      assert.match(up, /the server is behind NAT/);
      await allowed.waitFor(/address assigned/, 60_000);
      assert.equal(await stop(allowed), 0);
    } finally {
      if (refused) await stop(refused);
      if (allowed) await stop(allowed);
      await stop(server);
    }
  });
  it("fail-closed client: SIGKILL mid-transfer with --default-route, nothing leaves in the clear", async () => {
    await topo
      .exec(srv, ["ip", "addr", "add", "198.51.100.77/32", "dev", "lo"])
      .catch(() => undefined);
    const server = serve(srv, "198.51.100.2", "srv-kill");
    const status = join(topo.dir, "client-kill.status.json");
    let client: Proc | undefined;
    let again: Proc | undefined;
    try {
      await server.waitFor(/ready: listening/, 30_000);
      client = connect(c1, "198.51.100.2", "alice", "alice-pass-1", [
        "--default-route",
        "--status-file",
        status,
      ]);
      await client.waitFor(/address assigned/, 60_000);
      // Through the tunnel while it is up.
      await topo.exec(c1, ["ping", "-c", "2", "-W", "2", "198.51.100.77"]);
      const cap = await topo.capture(nat, "out0", "ip", "kill-out0");
      const pinger = topo.spawn(c1, ["ping", "-i", "0.05", "-W", "1", "198.51.100.77"]);
      await new Promise((r) => setTimeout(r, 1500));
      client.child.kill("SIGKILL");
      await client.exited();
      await new Promise((r) => setTimeout(r, 2500));
      pinger.kill("SIGINT");
      await cap.stop();
      const lines = (await topo.readCapture(cap)).split("\n").filter((l) => l.trim() !== "");
      assert.ok(
        lines.some((l) => /UDP-encap: ESP|ESP\(spi/.test(l)),
        "the pings went through ESP before the kill",
      );
      const clear = lines.filter((l) => !/\.(500|4500)[ :>]/.test(l));
      assert.deepEqual(clear, [], "after SIGKILL nothing left the client's NAT in the clear");
      const t = await topo.exec(c1, ["nft", "list", "table", "inet", "oakley"]);
      const drops = [...t.stdout.matchAll(/counter packets (\d+) bytes \d+ drop/g)].reduce(
        (a, m) => a + Number(m[1]),
        0,
      );
      assert.ok(drops > 5, `the kernel rules dropped the pings (${drops} packets)`);
      // The next start notices and takes over; a clean stop removes the rules.
      again = connect(c1, "198.51.100.2", "alice", "alice-pass-1", [
        "--default-route",
        "--status-file",
        status,
      ]);
      await again.waitFor(/did not stop cleanly/, 30_000);
      await again.waitFor(/address assigned/, 60_000);
      assert.equal(await stop(again), 0);
      await assert.rejects(
        topo.exec(c1, ["nft", "list", "table", "inet", "oakley"]),
        "a clean disconnect removes the table",
      );
    } finally {
      if (client) await stop(client);
      if (again) await stop(again);
      await topo.exec(c1, ["nft", "delete", "table", "inet", "oakley"]).catch(() => undefined);
      await stop(server);
    }
  });
});
