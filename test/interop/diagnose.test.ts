/**
 * `oakley diagnose` (client side) against real `oakley serve` processes in network namespaces,
 * one lab for six cases, each a verdict that must be right:
 *  (a) a healthy server, client behind a MASQUERADE NAT: every step passes, exit 0;
 *  (b) the NAT box drops UDP 4500: UDP 4500 fails, the PSK is not blamed, 809 likely;
 *  (c) no NAT, plain ESP (IP protocol 50) dropped: Quick Mode up, ESP fails (the classic 809);
 *  (d) a wrong pre-shared key: the PSK step fails (the server says AUTHENTICATION-FAILED);
 *  (e) a wrong password: PPP fails with 691;
 *  (f) a server behind a port-forward NAT: all pass, the server seen behind the port forward.
 *
 *   cl 192.0.2.2/26 --in0-- nat (MASQUERADE) out0 198.51.100.1 ---- srv 198.51.100.2
 *                                            out1 198.51.100.129 -- pfw 198.51.100.130 --DNAT 500/4500--> srv2 192.0.2.130
 * Case (c) runs diagnose in the NAT box itself (198.51.100.1, no NAT towards srv), first.
 * Needs root, iproute2, nft.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { DiagnoseReport, StepId } from "../../src/diagnose/verdict.js";
import { type Proc, spawnServe, stop } from "./lib/cli-process.js";
import { interopSkipReason, type Namespace, Topology } from "./lib/netns.js";

const skip = await interopSkipReason(["ip", "nft"], { nat: true });
const topo = new Topology(import.meta.filename);
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
const PSK = "oak-diag-psk-0123456789";

let cl: Namespace;
let nat: Namespace;
let srv: Namespace;
let pfw: Namespace;
let srv2: Namespace;

function serve(ns: Namespace, listen: string, tag: string): Proc {
  return spawnServe(topo, ns, tag, listen, [
    "--psk",
    PSK,
    "--user",
    "alice:alice-pass-1",
    "--pool",
    "203.0.113.0/24",
    "--control-socket",
    "off",
  ]);
}

/** Runs `oakley diagnose SERVER … --json` in `ns`; its exit code and report. */
async function diagnose(
  ns: Namespace,
  server: string,
  o: { psk?: string; user?: string; password?: string } = {},
): Promise<{ code: number | null; report: DiagnoseReport; stderr: string }> {
  const args = [server, "--json", "--timeout", "3"];
  if (o.psk !== undefined) {
    const f = join(topo.dir, `psk-${ns.short}-${o.psk.length}`);
    writeFileSync(f, `${o.psk}\n`, { mode: 0o600 });
    args.push("--psk-file", f);
  }
  if (o.user !== undefined) {
    const f = join(topo.dir, `pw-${ns.short}-${o.user}`);
    writeFileSync(f, `${o.password ?? ""}\n`, { mode: 0o600 });
    args.push("--user", o.user, "--password-file", f);
  }
  const child = topo.spawn(ns, [process.execPath, "--import", "tsx", CLI, "diagnose", ...args]);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  let report: DiagnoseReport;
  try {
    report = JSON.parse(out) as DiagnoseReport;
  } catch {
    throw new Error(`diagnose printed no JSON (exit ${code}):\n${out}\n${err}`);
  }
  return { code, report, stderr: err };
}

function statuses(r: DiagnoseReport): Record<StepId, string> {
  return Object.fromEntries(r.steps.map((s) => [s.id, s.status])) as Record<StepId, string>;
}

function stepOf(r: DiagnoseReport, id: StepId) {
  const s = r.steps.find((x) => x.id === id);
  assert.ok(s, id);
  return s;
}

function likely(r: DiagnoseReport): number[] {
  return r.windowsErrors.filter((e) => e.status === "likely").map((e) => e.code);
}

async function nft(ns: Namespace, commands: readonly string[]): Promise<void> {
  for (const c of commands) await topo.exec(ns, ["nft", c]);
}

describe("oakley diagnose against oakley serve (namespaces)", {
  skip,
  concurrency: false,
  timeout: 300_000,
}, () => {
  let server: Proc;
  let server2: Proc;

  before(async () => {
    cl = await topo.namespace("cl");
    nat = await topo.namespace("nat");
    srv = await topo.namespace("srv");
    pfw = await topo.namespace("pfw");
    srv2 = await topo.namespace("srv2");
    await topo.link(cl, "eth0", nat, "in0");
    await topo.link(nat, "out0", srv, "eth0");
    await topo.address(cl, "eth0", "192.0.2.2/26");
    await topo.address(nat, "in0", "192.0.2.1/26");
    await topo.address(nat, "out0", "198.51.100.1/25");
    await topo.address(srv, "eth0", "198.51.100.2/25");
    await topo.route(cl, "default", { gateway: "192.0.2.1" });
    await topo.masquerade(nat, "out0", "192.0.2.0/24");
    await topo.link(nat, "out1", pfw, "out0");
    await topo.address(nat, "out1", "198.51.100.129/25");
    await topo.address(pfw, "out0", "198.51.100.130/25");
    await topo.link(pfw, "in0", srv2, "eth0");
    await topo.address(pfw, "in0", "192.0.2.129/26");
    await topo.address(srv2, "eth0", "192.0.2.130/26");
    await topo.route(srv2, "default", { gateway: "192.0.2.129" });
    await topo.masquerade(nat, "out1", "192.0.2.0/24");
    await topo.portForward(pfw, "out0", "198.51.100.130", "192.0.2.130");
    server = serve(srv, "198.51.100.2", "srv");
    server2 = serve(srv2, "192.0.2.130", "srv2");
    await server.waitFor(/ready: listening/, 60_000);
    await server2.waitFor(/ready: listening/, 60_000);
  });

  // First: the NAT box's own UDP 500 must not meet a conntrack entry of a client it masqueraded
  // (source port 500 kept), or the kernel would move it to another port — a NAT after all.
  it("(c) no NAT, plain ESP dropped on the path: Quick Mode up, ESP fails (809)", async () => {
    await nft(nat, [
      "add table ip diagdrop",
      "add chain ip diagdrop dropesp { type filter hook output priority 0; }",
      "add rule ip diagdrop dropesp ip protocol esp drop",
    ]);
    try {
      const { code, report } = await diagnose(nat, "198.51.100.2", {
        psk: PSK,
        user: "alice",
        password: "alice-pass-1",
      });
      const s = statuses(report);
      assert.equal(s.nat, "pass");
      assert.equal(stepOf(report, "nat").data?.nattMethod, "none");
      assert.equal(s.psk, "pass");
      assert.equal(s.esp, "fail");
      assert.equal(stepOf(report, "esp").reason, "no-return");
      assert.equal(stepOf(report, "esp").data?.encapsulation, "esp");
      assert.equal(s.ppp, "skip");
      assert.equal(code, 1);
      assert.deepEqual(likely(report), [809]);
    } finally {
      await nft(nat, ["delete table ip diagdrop"]);
    }
  });

  it("(a) a healthy server, client behind NAT: every step passes, exit 0", async () => {
    const { code, report } = await diagnose(cl, "198.51.100.2", {
      psk: PSK,
      user: "alice",
      password: "alice-pass-1",
    });
    assert.deepEqual(statuses(report), {
      udp500: "pass",
      nat: "pass",
      udp4500: "pass",
      psk: "pass",
      esp: "pass",
      mtu: "pass",
      ppp: "pass",
    });
    assert.equal(code, 0);
    assert.equal(stepOf(report, "nat").data?.localBehindNat, true);
    assert.equal(stepOf(report, "nat").data?.peerBehindNat, false);
    assert.equal(stepOf(report, "esp").data?.encapsulation, "udp");
    assert.deepEqual(likely(report), []);
  });

  it("(b) the NAT box drops UDP 4500: UDP 4500 fails, the PSK is not blamed, 809 likely", async () => {
    await nft(nat, [
      "add table ip diagdrop",
      "add chain ip diagdrop drop4500 { type filter hook forward priority 0; }",
      "add rule ip diagdrop drop4500 udp dport 4500 drop",
    ]);
    try {
      const { code, report } = await diagnose(cl, "198.51.100.2", {
        psk: PSK,
        user: "alice",
        password: "alice-pass-1",
      });
      const s = statuses(report);
      assert.equal(s.udp500, "pass");
      assert.equal(s.nat, "pass");
      assert.equal(s.udp4500, "fail");
      assert.equal(stepOf(report, "udp4500").reason, "no-answer");
      assert.equal(s.psk, "skip");
      assert.equal(code, 1);
      assert.deepEqual(likely(report), [809]);
    } finally {
      await nft(nat, ["delete table ip diagdrop"]);
    }
  });

  it("(d) a wrong pre-shared key: the PSK step fails, 789/788 likely", async () => {
    const { code, report } = await diagnose(cl, "198.51.100.2", {
      psk: "not-the-servers-key-0123456789",
    });
    const s = statuses(report);
    assert.equal(s.udp4500, "pass");
    assert.equal(s.psk, "fail");
    assert.equal(stepOf(report, "psk").reason, "refused");
    assert.match(stepOf(report, "psk").summary, /AUTHENTICATION-FAILED/);
    assert.equal(code, 1);
    assert.deepEqual(likely(report).sort(), [788, 789]);
  });

  it("(e) a wrong password: PPP fails with 691", async () => {
    const { code, report } = await diagnose(cl, "198.51.100.2", {
      psk: PSK,
      user: "alice",
      password: "not-alices-password",
    });
    const s = statuses(report);
    assert.equal(s.esp, "pass");
    assert.equal(s.ppp, "fail");
    assert.match(stepOf(report, "ppp").summary, /error 691/);
    assert.equal(code, 1);
    assert.deepEqual(likely(report), [691]);
  });

  it("(f) a server behind a port-forward NAT: all pass, seen behind the port forward", async () => {
    const { code, report } = await diagnose(cl, "198.51.100.130", {
      psk: PSK,
      user: "alice",
      password: "alice-pass-1",
    });
    assert.ok(
      report.steps.every((x) => x.status === "pass"),
      JSON.stringify(report.steps, null, 1),
    );
    assert.equal(code, 0);
    const n = stepOf(report, "nat");
    assert.equal(n.data?.serverBehindPortForward, true);
    assert.match(n.summary, /identifies as 192\.0\.2\.130/);
    await stop(server);
    await stop(server2);
  });
});
