/**
 * `oakley serve` enters block mode when it cannot start:
 * the IKE port taken by another program, or a corrupt store. Then the nftables table that drops
 * protected traffic (L2TP, UDP 1701, in the clear) is in the kernel, the status file says
 * "cannot enter protected mode: …" naming the cause, and the process exits 1. A later clean
 * start reports the earlier block and a clean stop removes the table. (The SIGKILL-mid-transfer
 * capture proof is test/interop/fail-closed.test.ts.) Needs root, nft, socat.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { interopSkipReason, type Namespace, Topology } from "./lib/netns.js";

const skip = await interopSkipReason(["ip", "nft", "socat"]);
const topo = new Topology(import.meta.filename);
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
let srv: Namespace;
let peer: Namespace;

function serve(store: string, status: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("ip", [
      "netns",
      "exec",
      srv.name,
      process.execPath,
      "--import",
      "tsx",
      CLI,
      "serve",
      "--store",
      store,
      "--listen",
      "198.51.100.2",
      "--psk",
      "oak-block-psk-0123",
      "--status-file",
      status,
      "--log-format",
      "text",
    ]);
    let out = "";
    child.stdout.on("data", (d) => {
      out += String(d);
      if (out.includes("ready: listening")) child.kill("SIGINT");
    });
    child.stderr.on("data", (d) => {
      out += String(d);
    });
    child.on("exit", (code) => resolve({ code, out }));
  });
}

async function table(): Promise<string> {
  try {
    return (await topo.exec(srv, ["nft", "list", "table", "inet", "oakley"])).stdout;
  } catch {
    return "";
  }
}

describe("oakley serve: block mode when the service cannot start", {
  skip,
  concurrency: false,
  timeout: 300_000,
}, () => {
  before(async () => {
    srv = await topo.namespace("srv");
    peer = await topo.namespace("peer");
    await topo.link(srv, "eth0", peer, "eth0");
    await topo.address(srv, "eth0", "198.51.100.2/24");
    await topo.address(peer, "eth0", "198.51.100.9/24");
  });

  it("UDP 500 taken by another program: block mode naming the program; a later start recovers", async () => {
    const holder = topo.spawn(srv, [
      "socat",
      "-u",
      "UDP4-RECVFROM:500,bind=198.51.100.2,fork",
      "OPEN:/dev/null",
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const status = join(topo.dir, "status-port.json");
    const store = join(topo.dir, "port.db");
    const r = await serve(store, status);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /cannot enter protected mode: UDP 500 \(IKE\) is in use by socat \(pid \d+\)/,
    );
    const st = JSON.parse(readFileSync(status, "utf8")) as {
      mode: string;
      reason: string;
      enforced: boolean;
    };
    assert.equal(st.mode, "block");
    assert.equal(st.enforced, true);
    assert.match(st.reason, /UDP 500/);
    const t = await table();
    assert.match(
      t,
      /udp (sport|dport) 1701/,
      "the rule dropping L2TP in the clear is in the kernel",
    );
    assert.match(t, /drop/);
    // Proof on the wire: while blocked, L2TP in the clear does not leave; IKE still does.
    const cap = await topo.capture(peer, "eth0", "udp port 1701 or udp port 500", "blocked");
    for (const [port, sport] of [
      [1701, 1701],
      [500, 5000],
    ] as const) {
      await topo
        .exec(srv, [
          "sh",
          "-c",
          `for i in 1 2 3 4 5; do echo x | socat -u - UDP4-SENDTO:198.51.100.9:${port},sourceport=${sport}; done`,
        ])
        .catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 500));
    await cap.stop();
    const seen = await topo.readCapture(cap);
    assert.doesNotMatch(seen, /\.1701[ :>]/, "no L2TP left in the clear while in block mode");
    assert.match(seen, /198\.51\.100\.9\.500:/, "IKE stays reachable in block mode");
    holder.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    const again = await serve(store, status);
    assert.equal(again.code, 0, again.out);
    assert.match(
      again.out,
      /previous start failed \(cannot enter protected mode: UDP 500.*\); traffic was blocked since/,
    );
    assert.equal(await table(), "", "a clean stop removes the table");
  });

  it("a corrupt store: block mode with the store's error", async () => {
    const status = join(topo.dir, "status-store.json");
    const store = join(topo.dir, "corrupt.db");
    writeFileSync(
      store,
      Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(4096, 0x5a)]),
    );
    const r = await serve(store, status);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /cannot enter protected mode: the policy store cannot be used \(OAK_E_STORE_(CORRUPT|UNREADABLE)\)/,
    );
    const st = JSON.parse(readFileSync(status, "utf8")) as { mode: string };
    assert.equal(st.mode, "block");
    assert.match(await table(), /drop/);
    await topo.exec(srv, ["nft", "delete", "table", "inet", "oakley"]);
  });
});
