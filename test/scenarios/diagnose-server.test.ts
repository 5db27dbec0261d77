/**
 * Server-side diagnostics (`oakley diagnose --recent/--peer`) of the whole product (test/fakes/product.ts): misconfigured clients
 * (MODP-1024 only, a wrong pre-shared key, tunnel mode, a selector the server does not serve, a
 * wrong password) fail against `oakley serve`'s stack, and the server's failure records say why —
 * in its warn log line at the moment of failure, and through the control protocol
 * (`diagnose.failures`, a real ControlServer on a Unix socket with the daemon's target) to
 * `oakley diagnose --recent | --peer ADDRESS`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  ControlClient,
  ControlServer,
  type FailureRecord,
  type FailureReport,
} from "../../src/control/index.js";
import { daemonTarget } from "../../src/daemon/control-target.js";
import { addressSelector, phase1Offers } from "../../src/ike/index.js";
import { vendorIdBytes } from "../../src/registry/vendor-ids.js";
import { LogHub, MemorySink } from "../../src/obs/log.js";
import { runOakley } from "../helpers/cli.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { ALICE, runUntilAsync, type SimClient, simClient, simServer } from "../fakes/product.js";

const SERVER = "203.0.113.5";
const WINDOWS_VIDS = [
  Buffer.concat([vendorIdBytes("MS_NT5_ISAKMPOAKLEY"), Buffer.from("00000009", "hex")]),
  vendorIdBytes("RFC3947"),
  vendorIdBytes("NATT_DRAFT_02N"),
  vendorIdBytes("FRAGMENTATION"),
];

/** A misbehaving client at its own address (behind a NAT with that public address, if asked). */
function scenario(
  sim: Simulator,
  net: SimNetwork,
  address: string,
  o: Parameters<typeof simClient>[3],
  behindNat = false,
): SimClient {
  const host = behindNat ? net.host("192.168.1.20", net.nat(address).inside) : net.host(address);
  return simClient(sim, host, SERVER, o);
}

const only = (r: FailureReport, address: string): readonly FailureRecord[] =>
  r.peers.find((p) => p.address === address)?.failures ?? [];

describe("server-side diagnostics (whole product, simulator)", () => {
  const dir = mkdtempSync(join(tmpdir(), "oak-diag-"));
  const sock = join(dir, "control.sock");
  const sim = new Simulator(7);
  const net = new SimNetwork(sim);
  const server = simServer(sim, net.host(SERVER));
  const clients: SimClient[] = [];
  let ctl: ControlServer;

  before(async () => {
    // MODP-1024 only (Android ≤ 11's default), from behind a NAT.
    clients.push(
      scenario(
        sim,
        net,
        "198.51.100.10",
        {
          ike: (c) => ({
            ...c,
            phase1: {
              ...c.phase1,
              offers: phase1Offers(
                [
                  { encryption: "aes-cbc", keyBits: 256 },
                  { encryption: "3des-cbc", keyBits: 192 },
                ],
                ["sha1"],
                [2],
              ),
            },
          }),
        },
        true,
      ),
    );
    // A Windows client with a wrong pre-shared key.
    clients.push(
      scenario(sim, net, "198.51.100.11", {
        psk: "not-the-servers-key-at-all-0000",
        ike: (c) => ({ ...c, initiatorVendorIds: WINDOWS_VIDS }),
      }),
    );
    // Tunnel mode, as a plain IPsec VPN client asks.
    clients.push(
      scenario(sim, net, "198.51.100.12", {
        request: (r) => ({
          ...r,
          phase2: {
            mode: "tunnel",
            local: addressSelector("10.99.0.0", 0, 0),
            remote: addressSelector("0.0.0.0", 0, 0),
          },
        }),
      }),
    );
    // Transport mode but SSH instead of L2TP: a selector the server does not serve.
    clients.push(
      scenario(sim, net, "198.51.100.13", {
        request: (r) => ({
          ...r,
          phase2: {
            mode: "transport",
            local: addressSelector("198.51.100.13", 6, 0),
            remote: addressSelector(SERVER, 6, 22),
          },
        }),
      }),
    );
    // IPsec and L2TP fine, the password wrong.
    clients.push(
      scenario(sim, net, "198.51.100.14", {
        user: { name: ALICE.name, password: "not alice's password" },
      }),
    );
    const want = [
      "198.51.100.10",
      "198.51.100.11",
      "198.51.100.12",
      "198.51.100.13",
      "198.51.100.14",
    ];
    const done = await runUntilAsync(
      sim,
      () => {
        const r = server.failures.ring.report();
        return want.every((a) => only(r, a).length > 0);
      },
      120_000,
    );
    assert.ok(
      done,
      `failures recorded: ${JSON.stringify(server.failures.ring.report().peers.map((p) => p.address))}`,
    );
    sim.runFor(30_000); // retransmissions fold into the same records
    const state = {
      software: "oakley test",
      role: "server" as const,
      startedAt: 0,
      listen: SERVER,
      warnings: [],
      mode: "protected" as const,
    };
    ctl = await ControlServer.start({
      target: daemonTarget({
        node: server.stack.node,
        logs: new LogHub(new MemorySink(), "warn"),
        counters: server.counters,
        wallNow: () => Date.now(),
        now: () => sim.now(),
        state,
        store: server.store,
        l2tp: server.stack.l2tp,
        failures: server.failures.ring,
      }),
      software: "oakley test",
      unix: { path: sock },
    });
  });

  after(async () => {
    await ctl?.close();
    for (const c of clients) c.stop();
    server.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function report(peer?: string): Promise<FailureReport> {
    const c = await ControlClient.connect({ kind: "unix", path: sock });
    assert.ok(c.ok, c.ok ? "" : c.error.message);
    const r = await c.value.failures(peer);
    await c.value.close();
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    return r.value;
  }

  it("MODP-1024 only: explained with the group, the typical clients and --allow-legacy; offered and VIDs decoded", async () => {
    const [f] = only(await report("198.51.100.10"), "198.51.100.10");
    assert.ok(f);
    assert.equal(f.step, "phase1");
    assert.equal(f.code, "OAK_E_IKE_NO_PROPOSAL_CHOSEN");
    assert.match(
      f.explanation,
      /^offered only MODP-1024 \(group 2\) — typical of Android ≤ 11 and old macOS\/iOS; enable `--allow-legacy` or ask for a newer client$/,
    );
    assert.deepEqual(f.offered, [
      "AES-CBC-256/SHA/MODP-1024 (group 2)/pre-shared key",
      "3DES-CBC/SHA/MODP-1024 (group 2)/pre-shared key",
    ]);
    assert.ok(f.vendorIds.includes("RFC 3947"), f.vendorIds.join());
    assert.ok(f.count >= 1);
    // The warn line at the moment of failure carries the same hint.
    const line = server.logs.lines.find(
      (l) => l.includes("198.51.100.10") && l.includes("offered only MODP-1024"),
    );
    assert.ok(line, "warn line with the hint");
    assert.equal(JSON.parse(line).level, "warn");
  });

  it("wrong PSK: HASH_I did not verify — the key differs; Windows recognised from its VID", async () => {
    const [f] = only(await report("198.51.100.11"), "198.51.100.11");
    assert.ok(f);
    assert.equal(f.code, "OAK_E_IKE_AUTH_FAILED");
    assert.match(f.explanation, /pre-shared key differs/);
    assert.match(
      f.explanation,
      /^(HASH_I did not verify with any configured PSK|MM5 did not decrypt with any configured pre-shared key)/,
    );
    assert.equal(f.client, "Windows 8/10/11 built-in client (MS NT5 ISAKMPOAKLEY VID)");
    assert.ok(f.vendorIds.includes("MS NT5 ISAKMPOAKLEY v9"));
  });

  it("tunnel mode request: Quick Mode refused, tunnel mode named", async () => {
    const [f] = only(await report("198.51.100.12"), "198.51.100.12");
    assert.ok(f);
    assert.equal(f.step, "phase2");
    assert.match(
      f.explanation,
      /^Quick Mode refused: client asked for tunnel mode \(client 10\.99\.0\.0, server 0\.0\.0\.0\) — L2TP\/IPsec uses transport mode/,
    );
    assert.ok(
      f.offered.some((o) => /Tunnel/.test(o)),
      f.offered.join(),
    );
  });

  it("selector mismatch: the selectors the client asked for are named", async () => {
    const [f] = only(await report("198.51.100.13"), "198.51.100.13");
    assert.ok(f);
    assert.equal(f.step, "phase2");
    assert.match(
      f.explanation,
      /^Quick Mode refused: client asked for a selector we do not serve \(client 198\.51\.100\.13\[6\/\*\], server 203\.0\.113\.5\[6\/22\]\)/,
    );
  });

  it("wrong password: PPP 691 for the user, peer found through its IKE SA", async () => {
    const [f] = only(await report("198.51.100.14"), "198.51.100.14");
    assert.ok(f);
    assert.equal(f.step, "ppp");
    assert.equal(f.user, "alice");
    assert.match(
      f.explanation,
      /691: wrong user name or password\): wrong password for user 'alice'/,
    );
  });

  it("oakley diagnose --recent and --peer read the same records (text and --json)", async () => {
    const recent = await runOakley(["diagnose", "--recent", "--socket", sock]);
    assert.equal(recent.code, 0, recent.err);
    assert.match(recent.out, /198\.51\.100\.10: \d+ failure record/);
    assert.match(recent.out, /why: +offered only MODP-1024 \(group 2\)/);
    assert.match(recent.out, /client: +probably Windows 8\/10\/11/);
    const one = await runOakley([
      "diagnose",
      "--peer",
      "198.51.100.11",
      "--json",
      "--socket",
      sock,
    ]);
    assert.equal(one.code, 0, one.err);
    const j = JSON.parse(one.out) as FailureReport;
    assert.deepEqual(
      j.peers.map((p) => p.address),
      ["198.51.100.11"],
    );
    const none = await runOakley(["diagnose", "--peer", "192.0.2.99", "--socket", sock]);
    assert.match(none.out, /No failures recorded for 192\.0\.2\.99/);
    const bad = await runOakley(["diagnose", "--peer", "not-an-address", "--socket", sock]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--peer not-an-address: not an IP address/);
    const neither = await runOakley(["diagnose", "--socket", sock]);
    assert.equal(neither.code, 2);
  });

  it("oakley status shows the daemon process' memory (resident, JS heap, native buffers)", async () => {
    const r = await runOakley(["status", "--socket", sock]);
    assert.equal(r.code, 0, r.err);
    const m =
      /^Memory: +([\d.]+) MB resident \(JS heap ([\d.]+) MB, native buffers ([\d.]+) MB\)$/m.exec(
        r.out,
      );
    assert.ok(m, r.out);
    const [rss, heap] = [Number(m[1]), Number(m[2])];
    assert.ok(rss > heap && heap > 1, `resident ${rss} MB, heap ${heap} MB`);
  });
});
