/**
 * Oakley <-> Oakley ESP through real TUN devices and sockets in network namespaces (root):
 * src/daemon/esp-driver.ts on both ends (test/interop/esp/oakley-esp-peer.ts), statically keyed
 * SAs (manual keying: the test hands both ends the same SPIs and keys; IKE is not involved).
 *
 *   lan ------------- a ================= nat ================= b
 *   203.0.113.66/27   lan0 203.0.113.65/27  in0 192.0.2.1       eth0 198.51.100.2/24
 *   (MSS test only)   eth0 192.0.2.2/24     out0 198.51.100.1   (no route to 192.0.2.0/24)
 *                     TUN oakA              MASQUERADE 192.0.2.0/24 -o out0; capture on out0
 *                                                                TUN oakB
 *
 * 1. Tunnel mode, ESP-in-UDP 4500 (RFC 3948) through the NAT, AES-128-GCM-16: inner addresses
 *    203.0.113.1 (a's TUN) <-> 203.0.113.2 (b's TUN). b learns a's NAT mapping from the first
 *    authenticated packet (the peer's followPeer = what IKE does after RFC 3947 checks).
 * 2. Transport mode, ESP-in-UDP 4500 through the NAT: the hosts' own addresses are protected
 *    (a 192.0.2.2 <-> b 198.51.100.2; b sees a as 198.51.100.1, NAT-OA fixes checksums per
 *    RFC 3948 §3.1.2). Routing: traffic to the peer's address goes into the TUN by policy
 *    routing (`ip rule to <peer> lookup 100`, table 100: default dev TUN), except the ESP-in-UDP
 *    datagrams themselves, which would otherwise loop into the TUN: a higher-priority rule
 *    `ipproto udp sport 4500 lookup main` sends them out of the real interface. (An fwmark on
 *    the socket would do the same; the platform socket sets none, and a port rule needs no
 *    socket option.)
 * 3. MSS clamping: a host on a's LAN (veth MTU 1500, so its SYN says MSS 1460) connects to b
 *    through the tunnel; the SYN that b's TUN receives carries MSS 1398 (AES-GCM-16 tunnel in
 *    UDP over a 1500-octet path: 1500 - 20 - 8 - 8 - 8 - 16 - 2 = 1438 inner, less 40), as
 *    tcpdump (an independent dissector) shows.
 * 4. Plain ESP (IP protocol 50, no NAT), tunnel mode, AES-128-CBC + HMAC-SHA1-96: the NAT box
 *    forwards ESP without translation (an `ip protocol esp accept` before MASQUERADE), b routes
 *    192.0.2.0/24 back through it.
 * Each variant: ping, then 20 MiB over TCP (socat) with the SHA-256 of what was sent and what
 * arrived compared ("checksum verified"); tcpdump on the NAT's outside must show nothing but
 * ESP-in-UDP on 4500 (variants 1-3) or ESP (variant 4): no cleartext crossed. Closing a peer
 * removes its TUN device.
 */
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import type { EspSuite } from "../../src/crypto/esp/index.js";
import { readPcap } from "../helpers/pcap.js";
import { randomKeys } from "./esp/oakley-esp-peer.js";
import type { JsonLinesPeer, JsonObject } from "./lib/jsonl.js";
import { type Namespace, Topology, interopSkipReason } from "./lib/netns.js";

const PEER = "test/interop/esp/oakley-esp-peer.ts";
const skip = await interopSkipReason(["ip", "ping", "socat", "tcpdump"], { nat: true });
const topo = new Topology(import.meta.filename);
const TRANSFER = 20 << 20;
const GCM: EspSuite = { encryption: "aes128-gcm16", integrity: "none" };
const CBC_SHA1: EspSuite = { encryption: "aes128-cbc", integrity: "hmac-sha1-96" };

let a: Namespace;
let nat: Namespace;
let b: Namespace;
let lan: Namespace;
let payloadFile: string;
let payloadSha: string;

before(async () => {
  if (skip) return;
  a = await topo.namespace("a");
  nat = await topo.namespace("nat");
  b = await topo.namespace("b");
  lan = await topo.namespace("lan");
  await topo.link(a, "eth0", nat, "in0");
  await topo.link(nat, "out0", b, "eth0");
  await topo.link(lan, "eth0", a, "lan0");
  await topo.address(a, "eth0", "192.0.2.2/24");
  await topo.address(nat, "in0", "192.0.2.1/24");
  await topo.address(nat, "out0", "198.51.100.1/24");
  await topo.address(b, "eth0", "198.51.100.2/24");
  await topo.address(a, "lan0", "203.0.113.65/27");
  await topo.address(lan, "eth0", "203.0.113.66/27");
  await topo.route(a, "default", { gateway: "192.0.2.1" });
  await topo.route(lan, "default", { gateway: "203.0.113.65" });
  await topo.masquerade(nat, "out0", "192.0.2.0/24");
  await topo.forwarding(a);
  const data = Buffer.alloc(TRANSFER);
  randomFillSync(data);
  payloadFile = join(topo.dir, "payload.bin");
  writeFileSync(payloadFile, data);
  payloadSha = createHash("sha256").update(data).digest("hex");
});

interface Ends {
  pa: JsonLinesPeer;
  pb: JsonLinesPeer;
}

async function startPeers(
  tunA: JsonObject,
  tunB: JsonObject,
  transport: { natt: boolean; rawEsp: boolean },
): Promise<Ends> {
  const pa = topo.spawnModule(a, PEER);
  const pb = topo.spawnModule(b, PEER);
  const start = (tun: JsonObject): JsonObject => ({
    tun,
    ...(transport.natt ? { natt: { address: "0.0.0.0", port: 4500 } } : {}),
    rawEsp: transport.rawEsp,
  });
  await pa.request("start", start(tunA), 20_000);
  await pb.request("start", start(tunB), 20_000);
  return { pa, pb };
}

async function stopPeers(e: Ends, tunNames: readonly [string, string]): Promise<void> {
  await e.pa.request("close");
  await e.pb.request("close");
  await e.pa.close();
  await e.pb.close();
  const la = (await topo.exec(a, ["ip", "-o", "link", "show"])).stdout;
  const lb = (await topo.exec(b, ["ip", "-o", "link", "show"])).stdout;
  assert.ok(!la.includes(`${tunNames[0]}:`), `TUN ${tunNames[0]} still present after close`);
  assert.ok(!lb.includes(`${tunNames[1]}:`), `TUN ${tunNames[1]} still present after close`);
}

/** Installs a statically keyed SA pair on both ends. */
async function installPair(
  e: Ends,
  o: {
    mode: "tunnel" | "transport";
    suite: EspSuite;
    a: { local: string; remote: string; peer?: JsonObject; natOa?: JsonObject; policy: JsonObject };
    b: { local: string; remote: string; peer?: JsonObject; natOa?: JsonObject; policy: JsonObject };
  },
): Promise<void> {
  const kAB = randomKeys(o.suite);
  const kBA = randomKeys(o.suite);
  const suite = { encryption: o.suite.encryption, integrity: o.suite.integrity };
  await e.pa.request("installPair", {
    mode: o.mode,
    suite,
    spiOut: 0x0a0b0001,
    spiIn: 0x0b0a0001,
    keysOut: kAB,
    keysIn: kBA,
    ...o.a,
  });
  await e.pb.request("installPair", {
    mode: o.mode,
    suite,
    spiOut: 0x0b0a0001,
    spiIn: 0x0a0b0001,
    keysOut: kBA,
    keysIn: kAB,
    ...o.b,
  });
}

async function ping(ns: Namespace, target: string, count = 3): Promise<void> {
  const out = (
    await topo.exec(ns, ["ping", "-c", String(count), "-i", "0.2", "-W", "3", target], 30_000)
  ).stdout;
  assert.match(out, new RegExp(`${count} received`), out);
}

/** 20 MiB from `from` to `to`'s listener at addr:port; returns the SHA-256 that arrived. */
async function transfer(
  from: Namespace,
  to: Namespace,
  addr: string,
  port: number,
): Promise<string> {
  const listen = topo.exec(
    to,
    ["sh", "-c", `socat -u TCP-LISTEN:${port},bind=${addr},reuseaddr - | sha256sum`],
    180_000,
  );
  await topo.exec(
    from,
    ["socat", "-u", `FILE:${payloadFile}`, `TCP:${addr}:${port},retry=100,interval=0.1`],
    180_000,
  );
  return (await listen).stdout.split(/\s/)[0] ?? "";
}

interface OutsideCapture {
  readonly file: string;
  /** Stops tcpdump; resolves with the number of packets it reports as dropped by the kernel. */
  stop(): Promise<number>;
}

/**
 * tcpdump on the NAT's outside with a large buffer (-B) and a short snap length (headers and
 * the SPI are all the checks need), so that a 20 MiB transfer is captured without kernel drops.
 */
async function captureOutside(name: string): Promise<OutsideCapture> {
  const file = join(topo.dir, `${name}.pcap`);
  const child = topo.spawn(nat, [
    "tcpdump",
    "-i",
    "out0",
    "-n",
    "-U",
    "--immediate-mode",
    "-B",
    "65536",
    "-s",
    "128",
    "-w",
    file,
  ]);
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`tcpdump did not start: ${err}`)), 10_000);
    const poll = setInterval(() => {
      if (err.includes("listening on")) {
        clearTimeout(t);
        clearInterval(poll);
        res();
      }
    }, 20);
    child.once("exit", (code) => {
      clearTimeout(t);
      clearInterval(poll);
      rej(new Error(`tcpdump exited (${code}): ${err}`));
    });
  });
  return {
    file,
    stop: () =>
      new Promise<number>((res) => {
        const done = (): void =>
          res(Number(/(\d+) packets? dropped by kernel/.exec(err)?.[1] ?? 0));
        if (child.exitCode !== null) return done();
        child.once("exit", done);
        child.kill("SIGINT");
      }),
  };
}

/** tcpdump's own reading of the capture with a BPF filter: number of matching packets. */
async function countMatching(file: string, filter: string): Promise<{ n: number; text: string }> {
  const { stdout } = await topo.exec(nat, ["tcpdump", "-n", "-r", file, filter], 60_000);
  const lines = stdout.split("\n").filter((l) => l.trim().length > 0);
  return { n: lines.length, text: lines.slice(0, 10).join("\n") };
}

/**
 * Octets of IP payload (beyond the outer IPv4 header) of the frames matching `filter`: tcpdump
 * writes the matching frames to a new file and we add up their original lengths from the pcap
 * record headers (pcap file format: 24-octet file header, 16-octet record headers whose last
 * field is orig_len; Ethernet link type, 14-octet header). A UDP GSO frame (several ESP
 * datagrams the kernel has not split yet on a veth) counts with all its octets.
 */
async function octetsMatching(file: string, filter: string): Promise<number> {
  const out = `${file}.match.pcap`;
  await topo.exec(nat, ["tcpdump", "-n", "-r", file, "-w", out, filter], 60_000);
  const b = readFileSync(out);
  rmSync(out, { force: true });
  let octets = 0;
  for (const r of readPcap(b)) octets += Math.max(0, r.origLen - 14 - 20);
  return octets;
}

/** ESP-in-UDP: UDP 4500 whose first 4 payload octets (SPI) are not zero (RFC 3948 §2.1). */
const ESP_IN_UDP = "udp port 4500 and udp[8:4] != 0";

async function assertOnlyEspOutside(
  cap: OutsideCapture,
  kind: "udp" | "plain",
  minOctets: number,
): Promise<void> {
  const dropped = await cap.stop();
  assert.equal(dropped, 0, "tcpdump lost packets: the capture cannot prove what crossed");
  const espFilter = kind === "udp" ? ESP_IN_UDP : "ip proto 50";
  const other = await countMatching(cap.file, `ip and not (${espFilter})`);
  assert.equal(
    other.n,
    0,
    `cleartext or non-ESP packets crossed the NAT's outside:\n${other.text}`,
  );
  // Octets, not packets: with UDP GSO one captured frame can carry many ESP datagrams.
  const octets = await octetsMatching(cap.file, espFilter);
  assert.ok(
    octets >= minOctets,
    `only ${octets} octets of ESP on the NAT's outside (expected >= ${minOctets})`,
  );
  rmSync(cap.file, { force: true });
}

// The transfer alone puts at least this many octets of ESP on the outside.
const MIN_ESP = TRANSFER;

test("tunnel mode, ESP-in-UDP through a NAT (AES-128-GCM-16): ping, 20 MiB TCP checksum verified, only ESP outside; forwarded SYN leaves with clamped MSS", {
  skip,
  timeout: 300_000,
}, async () => {
  const cap = await captureOutside("tunnel-udp");
  const e = await startPeers(
    { name: "oakA", mtu: 1400, address: { local: "203.0.113.1", peer: "203.0.113.2" } },
    {
      name: "oakB",
      mtu: 1400,
      address: { local: "203.0.113.2", peer: "203.0.113.1" },
      routes: [{ destination: "203.0.113.64", prefixLength: 27 }],
    },
    { natt: true, rawEsp: false },
  );
  await installPair(e, {
    mode: "tunnel",
    suite: GCM,
    a: {
      local: "192.0.2.2",
      remote: "198.51.100.2",
      peer: { address: "198.51.100.2", port: 4500 },
      policy: { local: ["203.0.113.1/32", "203.0.113.64/27"], remote: ["203.0.113.2/32"] },
    },
    b: {
      local: "198.51.100.2",
      remote: "198.51.100.1",
      // a's NAT mapping is learned from its first authenticated packet (followPeer).
      peer: { address: "198.51.100.1", port: 4500 },
      policy: { local: ["203.0.113.2/32"], remote: ["203.0.113.1/32", "203.0.113.64/27"] },
    },
  });
  await ping(a, "203.0.113.2");
  assert.equal(await transfer(a, b, "203.0.113.2", 5001), payloadSha, "SHA-256 of received data");
  // Reverse direction, smaller: b -> a.
  await ping(b, "203.0.113.1");

  // MSS clamping of a forwarded SYN: lan (MTU 1500, MSS 1460) -> a (forwards into its TUN).
  const synCap = await topo.capture(b, "oakB", "tcp[tcpflags] & tcp-syn != 0", "syn-oakB");
  const lanCap = await topo.capture(lan, "eth0", "tcp[tcpflags] & tcp-syn != 0", "syn-lan");
  const listen = topo.exec(
    b,
    ["socat", "-u", "TCP-LISTEN:5003,bind=203.0.113.2,reuseaddr", "-"],
    60_000,
  );
  await topo.exec(
    lan,
    ["sh", "-c", "echo hello | socat -u - TCP:203.0.113.2:5003,retry=50,interval=0.1"],
    60_000,
  );
  assert.equal((await listen).stdout, "hello\n");
  await synCap.stop();
  await lanCap.stop();
  const seenAtB = (await topo.exec(b, ["tcpdump", "-n", "-r", synCap.file])).stdout;
  const seenAtLan = (await topo.exec(lan, ["tcpdump", "-n", "-r", lanCap.file])).stdout;
  const synAtB = seenAtB
    .split("\n")
    .find((l) => l.includes("203.0.113.66") && l.includes("Flags [S]"));
  const synAtLan = seenAtLan
    .split("\n")
    .find((l) => l.includes("> 203.0.113.2.5003") && l.includes("Flags [S]"));
  assert.ok(synAtLan, seenAtLan);
  assert.match(synAtLan, /mss 1460/, "the LAN host asked for 1460");
  assert.ok(synAtB, seenAtB);
  assert.match(synAtB, /mss 1398[,\]]/, "the SYN came out of b's TUN clamped to 1398");
  const stA = ((await e.pa.request("stats")) as { driver: { mssClampedOut: number } }).driver;
  assert.ok(stA.mssClampedOut >= 1);

  const stB = (await e.pb.request("stats")) as {
    driver: { rxToTun: number };
    sas: { peer: string | null }[];
  };
  assert.ok(
    stB.driver.rxToTun >= TRANSFER / 1400,
    `b wrote ${stB.driver.rxToTun} packets to its TUN`,
  );
  await stopPeers(e, ["oakA", "oakB"]);
  await assertOnlyEspOutside(cap, "udp", MIN_ESP);
});

test("transport mode, ESP-in-UDP through a NAT (AES-128-GCM-16): the hosts' own addresses protected via policy routing; ping, 20 MiB TCP checksum verified, only ESP outside", {
  skip,
  timeout: 300_000,
}, async () => {
  const cap = await captureOutside("transport-udp");
  const e = await startPeers(
    { name: "oakA", mtu: 1400 },
    { name: "oakB", mtu: 1400 },
    { natt: true, rawEsp: false },
  );
  const policyRouting = async (
    ns: Namespace,
    dev: string,
    peer: string,
    src: string,
  ): Promise<void> => {
    await topo.exec(ns, [
      "ip",
      "rule",
      "add",
      "pref",
      "100",
      "ipproto",
      "udp",
      "sport",
      "4500",
      "lookup",
      "main",
    ]);
    await topo.exec(ns, ["ip", "rule", "add", "pref", "200", "to", peer, "lookup", "100"]);
    await topo.exec(ns, ["ip", "route", "add", "default", "dev", dev, "src", src, "table", "100"]);
  };
  await policyRouting(a, "oakA", "198.51.100.2", "192.0.2.2");
  await policyRouting(b, "oakB", "198.51.100.1", "198.51.100.2");
  try {
    await installPair(e, {
      mode: "transport",
      suite: GCM,
      a: {
        local: "192.0.2.2",
        remote: "198.51.100.2",
        peer: { address: "198.51.100.2", port: 4500 },
        // NAT-OA (RFC 3947 §5.2): how b knows itself, and how b sees us.
        natOa: { remote: "198.51.100.2", local: "198.51.100.1" },
        policy: { local: ["192.0.2.2/32"], remote: ["198.51.100.2/32"] },
      },
      b: {
        local: "198.51.100.2",
        remote: "198.51.100.1",
        peer: { address: "198.51.100.1", port: 4500 },
        natOa: { remote: "192.0.2.2", local: "198.51.100.2" },
        policy: { local: ["198.51.100.2/32"], remote: ["198.51.100.1/32"] },
      },
    });
    await ping(a, "198.51.100.2");
    assert.equal(
      await transfer(a, b, "198.51.100.2", 5002),
      payloadSha,
      "SHA-256 of received data",
    );
    await ping(b, "198.51.100.1");
    const st = (await e.pb.request("stats")) as { driver: { rxToTun: number; txEsp: number } };
    assert.ok(
      st.driver.rxToTun >= TRANSFER / 1400,
      `b wrote ${st.driver.rxToTun} packets to its TUN`,
    );
    assert.ok(st.driver.txEsp > 0);
  } finally {
    await stopPeers(e, ["oakA", "oakB"]);
    for (const ns of [a, b]) {
      await topo.exec(ns, ["ip", "rule", "del", "pref", "100"]).catch(() => undefined);
      await topo.exec(ns, ["ip", "rule", "del", "pref", "200"]).catch(() => undefined);
    }
  }
  await assertOnlyEspOutside(cap, "udp", MIN_ESP);
});

test("tunnel mode, plain ESP (IP protocol 50, no NAT; AES-128-CBC + HMAC-SHA1-96): ping, 20 MiB TCP checksum verified, only ESP outside", {
  skip,
  timeout: 300_000,
}, async () => {
  // The middle box routes ESP untranslated; b reaches 192.0.2.0/24 through it.
  await topo.exec(nat, ["nft", "insert rule ip oaknat post ip protocol esp accept"]);
  await topo.route(b, "192.0.2.0/24", { gateway: "198.51.100.1" });
  const cap = await captureOutside("plain-esp");
  const e = await startPeers(
    { name: "oakA", mtu: 1400, address: { local: "203.0.113.1", peer: "203.0.113.2" } },
    { name: "oakB", mtu: 1400, address: { local: "203.0.113.2", peer: "203.0.113.1" } },
    { natt: false, rawEsp: true },
  );
  await installPair(e, {
    mode: "tunnel",
    suite: CBC_SHA1,
    a: {
      local: "192.0.2.2",
      remote: "198.51.100.2",
      policy: { local: ["203.0.113.1/32"], remote: ["203.0.113.2/32"] },
    },
    b: {
      local: "198.51.100.2",
      remote: "192.0.2.2",
      policy: { local: ["203.0.113.2/32"], remote: ["203.0.113.1/32"] },
    },
  });
  await ping(a, "203.0.113.2");
  assert.equal(await transfer(a, b, "203.0.113.2", 5004), payloadSha, "SHA-256 of received data");
  await ping(b, "203.0.113.1");
  const st = (await e.pb.request("stats")) as { raw: { rxDatagrams: number } | null };
  assert.ok((st.raw?.rxDatagrams ?? 0) >= TRANSFER / 1400);
  await stopPeers(e, ["oakA", "oakB"]);
  await assertOnlyEspOutside(cap, "plain", MIN_ESP);
});

test("teardown removes every namespace and process of this file", { skip }, async () => {
  await topo.teardown();
  assert.deepEqual(await topo.remaining(), []);
});
