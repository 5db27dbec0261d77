/**
 * src/platform RawEspSocket between two namespaces (root): ESP payloads (IP protocol 50, RFC
 * 4303 section 2 layout: SPI, sequence number, opaque rest) sent both ways arrive intact with the
 * right IP source/destination; tcpdump on the link is the independent oracle that they went out
 * as IP protocol 50 (not UDP). Also: without CAP_NET_RAW the typed permission error.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import type { JsonLinesPeer } from "./lib/jsonl.js";
import { type Namespace, Topology, hasCommand, interopSkipReason, run } from "./lib/netns.js";

const PEER = "test/interop/lib/peers/platform-peer.ts";
const skip = await interopSkipReason(["ip", "tcpdump"]);
const topo = new Topology(import.meta.filename);
let a: Namespace;
let b: Namespace;
let pa: JsonLinesPeer;
let pb: JsonLinesPeer;

before(async () => {
  if (skip) return;
  a = await topo.namespace("a");
  b = await topo.namespace("b");
  await topo.link(a, "eth0", b, "eth0");
  await topo.address(a, "eth0", "203.0.113.10/24");
  await topo.address(b, "eth0", "203.0.113.20/24");
  pa = topo.spawnModule(a, PEER);
  pb = topo.spawnModule(b, PEER);
});

interface EspRx {
  hex: string;
  source: string;
  destination: string;
}

async function waitEsp(p: JsonLinesPeer, n: number): Promise<EspRx[]> {
  const end = Date.now() + 5000;
  for (;;) {
    const got = (await p.request("espReceived")) as unknown as EspRx[];
    if (got.length >= n || Date.now() > end) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("raw ESP: payloads cross between namespaces as IP protocol 50, both ways", {
  skip,
}, async () => {
  for (const p of [pa, pb]) {
    const r = (await p.request("espOpen")) as { ok: boolean; error?: unknown };
    assert.ok(r.ok, JSON.stringify(r.error));
  }
  const cap = await topo.capture(b, "eth0", "ip proto 50");
  const toB = `c0ffee01${"00000001"}${"5a".repeat(48)}`;
  const toA = `0badf00d${"00000001"}${"a5".repeat(64)}`;
  await pa.request("espSend", { to: "203.0.113.20", hex: toB });
  const gotB = await waitEsp(pb, 1);
  assert.deepEqual(gotB, [{ hex: toB, source: "203.0.113.10", destination: "203.0.113.20" }]);
  await pb.request("espSend", { to: "203.0.113.10", hex: toA });
  const gotA = await waitEsp(pa, 1);
  assert.deepEqual(gotA, [{ hex: toA, source: "203.0.113.20", destination: "203.0.113.10" }]);
  await cap.stop();
  const text = await topo.readCapture(cap);
  // tcpdump's own ESP dissector names the SPIs: an independent view of what went on the wire.
  assert.match(text, /203\.0\.113\.10 > 203\.0\.113\.20: ESP\(spi=0xc0ffee01,seq=0x1\)/);
  assert.match(text, /203\.0\.113\.20 > 203\.0\.113\.10: ESP\(spi=0x0badf00d,seq=0x1\)/);
});

const setpriv = (await hasCommand("setpriv")) ? undefined : "setpriv (util-linux) is not installed";

test("raw ESP without CAP_NET_RAW: OAK_E_PLATFORM_PERMISSION_DENIED telling what to do", {
  skip: skip ?? setpriv,
}, async () => {
  // Run a one-off script as user nobody with no capabilities.
  const script = [
    "import { RawEspSocket } from './src/platform/index.js';",
    "const r = RawEspSocket.open();",
    "console.log(JSON.stringify(r.ok ? { ok: true } : r.error));",
    "process.exit(0);",
  ].join("\n");
  const { stdout } = await run([
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
    process.execPath,
    "--import",
    "tsx",
    "--input-type=module",
    "-e",
    script,
  ]).catch((e: unknown) => ({ stdout: String(e) }));
  const line = stdout.trim().split("\n").pop() ?? "";
  const e = JSON.parse(line) as {
    code: string;
    message: string;
    errnoName: string;
    syscall: string;
  };
  assert.equal(e.code, "OAK_E_PLATFORM_PERMISSION_DENIED");
  assert.equal(e.errnoName, "EPERM");
  assert.match(e.syscall, /SOCK_RAW/);
  assert.match(e.message, /run the daemon as root/);
  assert.match(e.message, /force UDP encapsulation/);
});

test("teardown removes every namespace and process of this file", { skip }, async () => {
  await pa.close();
  await pb.close();
  await topo.teardown();
  assert.deepEqual(await topo.remaining(), []);
});
