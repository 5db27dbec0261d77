/**
 * Interop, tunnel mode end to end: Oakley's IPsec node (src/daemon/ipsec-node.ts via
 * test/peers/tunnel-peer.ts: IKE engine + user-space ESP + TUN + SPD + routes) against
 * strongSwan 5.9.8 charon (kernel-libipsec userspace ESP, tunnel mode only) in the lab's
 * namespaces (test/interop/strongswan/lab.ts: client 192.0.2.2 behind a MASQUERADE NAT,
 * server 198.51.100.2 with 203.0.113.1 on lo as "the network behind the server").
 *
 *  (a) strongSwan initiator behind the NAT -> Oakley responder (server namespace, TUN; routes
 *      192.0.2.2/32 into it from the child's remote selector);
 *  (b) Oakley initiator behind the NAT -> strongSwan responder (client namespace, TUN; routes
 *      203.0.113.1/32 into it); kernel-libipsec fakes its own NAT-D (lab README: it always
 *      forces UDP encapsulation), so Oakley sees "both behind NAT" and needs nat-policy 2;
 *  (c) Oakley initiator rekeys its child (24 s lifetime, rekey at half) while 180 pings at 0.1 s
 *      cross the tunnel: a second phase2-up with rekey, the one SPD policy now points at the new
 *      outbound SA, and no ping is lost (the policy moves before the old child goes);
 *  (d) the same with nat-policy 0: Oakley refuses after MM4 with OAK_E_NAT_POLICY and a message
 *      that names the setting, and strongSwan gets no CHILD_SA.
 * Each of (a)/(b) for PSK + MODP-2048 + ESP AES-CBC-128/HMAC-SHA1-96 and PSK + ECP-256 + ESP
 * AES-GCM-16 (128-bit key): 3 pings each way between 192.0.2.2 (the strongSwan/Oakley client's
 * inner address) and 203.0.113.1 (behind the server), then 4 MiB over TCP each way (socat), the
 * SHA-256 of what arrived compared with what was sent.
 * Oracles, independent of Oakley: ping/socat/sha256sum; `swanctl --list-sas` (CHILD_SA
 * INSTALLED, TUNNEL, encap, byte counters); tcpdump's own reading of the capture on the NAT's
 * outside: nothing but UDP 500/4500 crossed, ESP-in-UDP (non-zero SPI, RFC 3948 §2.1) carried
 * the data. Oakley's own counters (ESP out, decrypted packets to the TUN) show that its data
 * plane, not something else, carried the traffic.
 * Needs root and the lab's Debian packages (skips with the reason otherwise). ~2-3 min.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type JsonObject, JsonLinesPeer } from "./lib/jsonl.js";
import { Capture } from "./strongswan/capture.js";
import { type Charon, startInitiator, startResponder } from "./strongswan/charon.js";
import { labTunnelInitiator, labTunnelResponder, swanctlConf } from "./strongswan/conf.js";
import { LAB_ADDR, LAB_IF, type Lab, labUnavailable, labUp } from "./strongswan/lab.js";
import { nsRun, nsRunOk } from "./strongswan/proc.js";
import { viciSec, viciStr } from "./strongswan/vici.js";

const skip = await labUnavailable();
const PSK = "oak-interop-tunnel-psk-0123456789";
const ROOT = join(import.meta.dirname, "..", "..");
const PEER = join(ROOT, "test/peers/tunnel-peer.ts");
const TRANSFER = 4 << 20;
const psk = { kind: "psk" as const, secret: PSK };

let dir = "";
let payloadFile = "";
let payloadSha = "";
before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "oak-tunnel-"));
  const data = Buffer.alloc(TRANSFER);
  randomFillSync(data);
  payloadFile = join(dir, "payload.bin");
  writeFileSync(payloadFile, data);
  payloadSha = createHash("sha256").update(data).digest("hex");
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Suite {
  readonly name: string;
  readonly ike: string;
  readonly esp: string;
  readonly group: number;
  readonly hash: "sha1" | "sha2-256";
  readonly phase2: { cipher: "aes-cbc" | "aes-gcm-16"; keyBits: number; integrity: string };
}

const SUITES: readonly Suite[] = [
  {
    name: "MODP-2048, ESP AES-CBC-128/HMAC-SHA1-96",
    ike: "aes128-sha1-modp2048",
    esp: "aes128-sha1",
    group: 14,
    hash: "sha1",
    phase2: { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-sha1-96" },
  },
  {
    name: "ECP-256, ESP AES-GCM-16 (128)",
    ike: "aes128-sha256-ecp256",
    esp: "aes128gcm16",
    group: 19,
    hash: "sha2-256",
    phase2: { cipher: "aes-gcm-16", keyBits: 128, integrity: "none" },
  },
];

/** tunnel-peer.ts in a lab namespace, driven over JSON lines (exits when stdin closes). */
function startOakley(ns: string, listen: string, config: object, tunnel: object): JsonLinesPeer {
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--import",
      "tsx",
      PEER,
      "--listen",
      listen,
      "--config",
      JSON.stringify(config),
      "--tunnel",
      JSON.stringify(tunnel),
      "--control",
      "--log",
      "info",
    ],
    { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NODE_NO_WARNINGS: "1" } },
  );
  return new JsonLinesPeer(child, `oakley@${ns}`);
}

interface OakStats {
  readonly driver: { readonly txEsp: number; readonly rxToTun: number; readonly rxEsp: number };
  readonly policies: readonly {
    readonly local: string[];
    readonly remote: string[];
    readonly outSa: number;
  }[];
  readonly routes: readonly string[];
}

async function oakStats(o: JsonLinesPeer): Promise<OakStats> {
  return (await o.request("stats")) as unknown as OakStats;
}

async function ping(ns: string, from: string, to: string): Promise<void> {
  const r = await nsRun(ns, "ping", ["-c", "3", "-i", "0.3", "-W", "3", "-I", from, to], {
    timeoutMs: 30_000,
  });
  assert.match(r.stdout, / 3 received/, `ping ${from} -> ${to}:\n${r.stdout}${r.stderr}`);
}

/** TRANSFER octets from `fromNs` (bound to `fromAddr`) to a listener at `toAddr:port` in `toNs`. */
async function transfer(
  fromNs: string,
  fromAddr: string,
  toNs: string,
  toAddr: string,
  port: number,
): Promise<string> {
  const listen = nsRun(
    toNs,
    "sh",
    ["-c", `socat -u TCP-LISTEN:${port},bind=${toAddr},reuseaddr - | sha256sum`],
    { timeoutMs: 120_000 },
  );
  await nsRunOk(
    fromNs,
    "socat",
    ["-u", `FILE:${payloadFile}`, `TCP:${toAddr}:${port},bind=${fromAddr},retry=100,interval=0.1`],
    { timeoutMs: 120_000 },
  );
  return (await listen).stdout.split(/\s/)[0] ?? "";
}

/** Pings and TCP both ways between 192.0.2.2 (client) and 203.0.113.1 (behind the server). */
async function traffic(lab: Lab): Promise<void> {
  await ping(lab.ns.client, LAB_ADDR.client, LAB_ADDR.serverNet);
  await ping(lab.ns.server, LAB_ADDR.serverNet, LAB_ADDR.client);
  const up = await transfer(
    lab.ns.client,
    LAB_ADDR.client,
    lab.ns.server,
    LAB_ADDR.serverNet,
    5101,
  );
  assert.equal(up, payloadSha, "client -> server: checksum verified");
  const down = await transfer(
    lab.ns.server,
    LAB_ADDR.serverNet,
    lab.ns.client,
    LAB_ADDR.client,
    5102,
  );
  assert.equal(down, payloadSha, "server -> client: checksum verified");
}

/**
 * tcpdump on the NAT's outside with a large buffer (-B) and a short snap length (headers and SPI
 * are all the checks need), so that the transfers are captured without kernel drops.
 */
function captureOutside(lab: Lab, name: string): Promise<Capture> {
  return Capture.start({
    ns: lab.ns.nat,
    iface: LAB_IF.natOutside,
    file: join(dir, `${name}.pcap`),
    filter: "ip",
    snaplen: 128,
    bufferKiB: 65536,
    immediate: true,
  });
}

/** tcpdump's reading of the capture with a BPF filter: the matching packets' lines. */
async function pcapLines(lab: Lab, file: string, filter: string): Promise<string[]> {
  const r = await nsRunOk(lab.ns.nat, "tcpdump", ["-n", "-r", file, filter], {
    timeoutMs: 60_000,
  });
  return r.split("\n").filter((l) => l.trim().length > 0);
}

/** Only IKE (500/4500) and ESP-in-UDP crossed the NAT's outside, and ESP carried the data. */
async function assertOnlyIkeAndEspOutside(lab: Lab, cap: Capture): Promise<void> {
  await cap.stop();
  const dropped = cap.droppedByKernel();
  assert.equal(dropped, 0, "tcpdump lost packets (or did not say): the capture proves nothing");
  const other = await pcapLines(lab, cap.file, "ip and not (udp port 500 or udp port 4500)");
  assert.equal(
    other.length,
    0,
    `other packets on the NAT's outside:\n${other.slice(0, 10).join("\n")}`,
  );
  // ESP-in-UDP: UDP 4500 with a non-zero SPI where the non-ESP marker would be (RFC 3948 §2.1).
  const esp = await pcapLines(lab, cap.file, "udp port 4500 and udp[8:4] != 0");
  // tcpdump prints "UDP-encap: ESP(spi=...,seq=...), length N": N octets of ESP per packet.
  let octets = 0;
  for (const l of esp) octets += Number(/length (\d+)\s*$/.exec(l)?.[1] ?? 0);
  assert.ok(octets > 2 * TRANSFER, `ESP-in-UDP octets on the NAT's outside: ${octets}`);
  const inner = await pcapLines(lab, cap.file, "icmp or tcp");
  assert.equal(
    inner.length,
    0,
    `cleartext inner traffic outside:\n${inner.slice(0, 5).join("\n")}`,
  );
}

async function checkStrongswanChild(c: Charon): Promise<void> {
  const sas = await c.listSas();
  const sa = sas.ikeSas[0]?.sa;
  assert.ok(sa, `strongSwan lists an IKE SA:\n${sas.raw}`);
  assert.equal(viciStr(sa, "state"), "ESTABLISHED");
  const children = viciSec(sa, "child-sas");
  const child = viciSec(children, Object.keys(children)[0] ?? "");
  assert.equal(viciStr(child, "state"), "INSTALLED", sas.raw);
  assert.equal(viciStr(child, "mode"), "TUNNEL");
  assert.equal(viciStr(child, "encap"), "yes");
  const bytesIn = Number(viciStr(child, "bytes-in"));
  const bytesOut = Number(viciStr(child, "bytes-out"));
  assert.ok(bytesIn >= TRANSFER && bytesOut >= TRANSFER, `strongSwan's child bytes: ${sas.raw}`);
}

/** Oakley's data plane carried it: ESP sent, decrypted packets written to its TUN. */
function checkOakleyCarried(before: OakStats, after: OakStats): void {
  const out = after.driver.txEsp - before.driver.txEsp;
  const toTun = after.driver.rxToTun - before.driver.rxToTun;
  assert.ok(out > TRANSFER / 1500, `Oakley ESP packets sent: ${out}`);
  assert.ok(toTun > TRANSFER / 1500, `Oakley decrypted packets to its TUN: ${toTun}`);
}

function phase2Config(s: Suite): object {
  return {
    phase1: {
      offers: [{ encryption: "aes-cbc", keyBits: 128, hash: s.hash, group: s.group }],
    },
    phase2: { offers: [s.phase2] },
  };
}

describe("Oakley tunnel mode <-> strongSwan 5.9.8 across the lab NAT", { skip }, () => {
  for (const s of SUITES) {
    it(`strongSwan initiator behind NAT -> Oakley responder, PSK ${s.name}: ping + TCP both ways`, async () => {
      let lab: Lab | undefined;
      let oak: JsonLinesPeer | undefined;
      let cli: Charon | undefined;
      let cap: Capture | undefined;
      try {
        lab = await labUp();
        oak = startOakley(
          lab.ns.server,
          LAB_ADDR.server,
          { psks: [{ secret: PSK }], dpd: { delaySeconds: 0 }, ...phase2Config(s) },
          { tun: { name: "oakt0", mtu: 1400 } },
        );
        const ready = await oak.nextEvent("ready", 30_000);
        assert.equal(ready.tun, "oakt0");
        cli = await startInitiator({
          ns: lab.ns.client,
          conf: swanctlConf([
            labTunnelInitiator({ proposals: [s.ike], espProposals: [s.esp], auth: psk }),
          ]),
        });
        cap = await captureOutside(lab, `a-${s.group}`);
        const r = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 30 });
        assert.equal(r.code, 0, `swanctl --initiate: ${r.stdout}${r.stderr}\n${oak.stderrText()}`);
        const p2 = await oak.nextEvent("phase2-up", 10_000);
        assert.equal(p2.mode, "tunnel");
        const st0 = await oakStats(oak);
        assert.deepEqual(st0.routes, [`${LAB_ADDR.client}/32`], "route from the remote selector");
        assert.deepEqual(
          st0.policies.map((p) => [p.local, p.remote]),
          [[[LAB_ADDR.serverNet], [LAB_ADDR.client]]],
          "SPD policy from the negotiated selectors",
        );
        await traffic(lab);
        checkOakleyCarried(st0, await oakStats(oak));
        await checkStrongswanChild(cli);
        await assertOnlyIkeAndEspOutside(lab, cap);
        cap = undefined;
        assert.equal((await failedEvents(oak)).length, 0, oak.stderrText());
      } finally {
        await cap?.stop().catch(() => undefined);
        await oak?.close(5000);
        await cli?.stop();
        await lab?.down();
      }
    });

    it(`Oakley initiator behind NAT -> strongSwan responder, PSK ${s.name}: ping + TCP both ways`, async () => {
      let lab: Lab | undefined;
      let oak: JsonLinesPeer | undefined;
      let srv: Charon | undefined;
      let cap: Capture | undefined;
      try {
        lab = await labUp();
        srv = await startResponder({
          ns: lab.ns.server,
          conf: swanctlConf([
            labTunnelResponder({ proposals: [s.ike], espProposals: [s.esp], auth: psk }),
          ]),
        });
        oak = startOakley(
          lab.ns.client,
          LAB_ADDR.client,
          {
            psks: [{ secret: PSK }],
            dpd: { delaySeconds: 0 },
            // kernel-libipsec fakes its own NAT-D (lab README gotcha 3): the server looks NATed
            // too, so this client needs nat-policy 2 (both sides behind NAT).
            natt: { policy: 2 },
            ...phase2Config(s),
          },
          { tun: { name: "oakt0", mtu: 1400 } },
        );
        await oak.nextEvent("ready", 30_000);
        cap = await captureOutside(lab, `b-${s.group}`);
        await oak.request("initiate", {
          peer: { address: LAB_ADDR.server, port: 500 },
          local: LAB_ADDR.client,
          remote: `${LAB_ADDR.serverNet}/32`,
        });
        const p2 = await oak.nextEvent("phase2-up", 30_000).catch((e: unknown) => {
          throw new Error(`${String(e)}\n--- charon:\n${srv?.log().slice(-4000)}`);
        });
        assert.equal(p2.mode, "tunnel");
        await checkStrongswanChildUp(srv);
        const st0 = await oakStats(oak);
        assert.deepEqual(st0.routes, [`${LAB_ADDR.serverNet}/32`]);
        await traffic(lab);
        checkOakleyCarried(st0, await oakStats(oak));
        await checkStrongswanChild(srv);
        await assertOnlyIkeAndEspOutside(lab, cap);
        cap = undefined;
        assert.equal((await failedEvents(oak)).length, 0, oak.stderrText());
      } finally {
        await cap?.stop().catch(() => undefined);
        await oak?.close(5000);
        await srv?.stop();
        await lab?.down();
      }
    });
  }

  it("Oakley initiator rekeys the tunnel child (Quick Mode) while pings flow: the SPD moves to the new SA, no ping lost", async () => {
    let lab: Lab | undefined;
    let oak: JsonLinesPeer | undefined;
    let srv: Charon | undefined;
    try {
      lab = await labUp();
      srv = await startResponder({
        ns: lab.ns.server,
        conf: swanctlConf([
          labTunnelResponder({
            proposals: ["aes128-sha1-modp2048"],
            espProposals: ["aes128-sha1"],
            auth: psk,
          }),
        ]),
      });
      oak = startOakley(
        lab.ns.client,
        LAB_ADDR.client,
        {
          psks: [{ secret: PSK }],
          dpd: { delaySeconds: 0 },
          natt: { policy: 2 },
          ...phase2Config(SUITES[0]!),
          // 24 s child lifetime, rekey at half of it: one rekey inside the ping window.
          phase2: { offers: [SUITES[0]!.phase2], lifeSeconds: 24, rekeyMargin: 0.5 },
        },
        { tun: { name: "oakt0", mtu: 1400 } },
      );
      await oak.nextEvent("ready", 30_000);
      await oak.request("initiate", {
        peer: { address: LAB_ADDR.server, port: 500 },
        local: LAB_ADDR.client,
        remote: `${LAB_ADDR.serverNet}/32`,
      });
      await oak.nextEvent("phase2-up", 30_000);
      const before = await oakStats(oak);
      // 18 s of pings every 0.1 s across the rekey at ~12 s.
      const pings = nsRun(
        lab.ns.client,
        "ping",
        ["-c", "180", "-i", "0.1", "-W", "2", "-I", LAB_ADDR.client, LAB_ADDR.serverNet],
        { timeoutMs: 60_000 },
      );
      const rekeyed = await oak.nextEvent("phase2-up", 20_000);
      assert.equal(rekeyed.rekey, true);
      const r = await pings;
      assert.match(r.stdout, / 180 received/, `pings across the rekey:\n${r.stdout.slice(-400)}`);
      // The old child stays a few seconds next to the new one (in-flight packets), then leaves
      // with its policy.
      let after = await oakStats(oak);
      for (let i = 0; i < 40 && after.policies.length > 1; i++) {
        await new Promise((res) => setTimeout(res, 250));
        after = await oakStats(oak);
      }
      assert.equal(after.policies.length, 1, "the old policy left with the old child");
      assert.notEqual(
        after.policies[0]?.outSa,
        before.policies[0]?.outSa,
        "the policy points at the new outbound SA",
      );
      await checkStrongswanChildUp(srv);
      assert.equal((await failedEvents(oak)).length, 0, oak.stderrText());
    } finally {
      await oak?.close(5000);
      await srv?.stop();
      await lab?.down();
    }
  });

  it("Oakley initiator with nat-policy 0 -> strongSwan (which looks NATed): refused, naming the setting", async () => {
    let lab: Lab | undefined;
    let oak: JsonLinesPeer | undefined;
    let srv: Charon | undefined;
    try {
      lab = await labUp();
      srv = await startResponder({
        ns: lab.ns.server,
        conf: swanctlConf([
          labTunnelResponder({
            proposals: ["aes128-sha1-modp2048"],
            espProposals: ["aes128-sha1"],
            auth: psk,
          }),
        ]),
      });
      oak = startOakley(
        lab.ns.client,
        LAB_ADDR.client,
        {
          psks: [{ secret: PSK }],
          dpd: { delaySeconds: 0 },
          natt: { policy: 0 },
          ...phase2Config(SUITES[0]!),
        },
        { tun: { name: "oakt0", mtu: 1400 } },
      );
      await oak.nextEvent("ready", 30_000);
      await oak.request("initiate", {
        peer: { address: LAB_ADDR.server, port: 500 },
        local: LAB_ADDR.client,
        remote: `${LAB_ADDR.serverNet}/32`,
      });
      const failed = await oak.nextEvent("failed", 30_000);
      assert.equal(failed.code, "OAK_E_NAT_POLICY");
      assert.equal(failed.stage, "main-mode");
      const msg = String(failed.message);
      assert.match(msg, /nat-policy 0/, msg);
      assert.match(msg, /AssumeUDPEncapsulationContextOnSendRule=0/, msg);
      assert.match(msg, /--nat-policy 2/, "the message says which setting allows it");
      const st = await oakStats(oak);
      assert.deepEqual(st.policies, [], "no SPD policy installed");
      const sas = await srv.listSas();
      const children = sas.ikeSas.flatMap((x) => Object.keys(viciSec(x.sa, "child-sas")));
      assert.deepEqual(children, [], `strongSwan has no CHILD_SA:\n${sas.raw}`);
    } finally {
      await oak?.close(5000);
      await srv?.stop();
      await lab?.down();
    }
  });
});

async function checkStrongswanChildUp(c: Charon): Promise<void> {
  const sas = await c.listSas();
  const sa = sas.ikeSas[0]?.sa;
  assert.ok(sa, sas.raw);
  assert.equal(viciStr(sa, "local-port"), "4500", "floated to 4500");
  const children = viciSec(sa, "child-sas");
  const child = viciSec(children, Object.keys(children)[0] ?? "");
  assert.equal(viciStr(child, "state"), "INSTALLED", sas.raw);
}

/** `failed` events so far (non-blocking). */
async function failedEvents(o: JsonLinesPeer): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  for (;;) {
    const e = await o.nextEvent("failed", 1).catch(() => undefined);
    if (!e) return out;
    out.push(e);
  }
}
