/**
 * Interop: FIPS mode's algorithm rules against a real peer. Oakley's IKE engine (real UDP
 * 500/4500 through test/peers/ike-driver.ts) runs the engine configuration `oakley serve
 * --fips=policy-only` builds (serverPlan from a real SQLite store whose settings allow legacy
 * crypto, so that without FIPS mode 3DES/MD5/MODP-1024 would be accepted); strongSwan 5.9.8
 * charon initiates from behind the lab NAT (test/interop/strongswan):
 *  - offering only 3DES with MD5 or SHA-1 and MODP-1024 (ESP 3DES/HMAC-MD5 or SHA-1): refused
 *    with NO-PROPOSAL-CHOSEN; the same peer against the same store without FIPS mode connects
 *    (on the store's legacy 3DES/SHA-1/MODP-1024 offer), so the refusal is FIPS mode's;
 *  - offering AES-256/SHA-256/MODP-2048 (ESP AES-128/HMAC-SHA-256): established.
 * Oracles: swanctl --initiate's result and --list-sas, and Oakley's events.
 * Tunnel-mode children (kernel-libipsec in the lab cannot install transport mode), so the
 * L2TP child policy is left out of the driver's configuration; the algorithm rules are the same.
 * Needs root and the lab's Debian packages (skips with the reason otherwise).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { serverPlan } from "../../src/daemon/server.js";
import { systemClock } from "../../src/platform/index.js";
import { createDefaultStore, DEFAULT_PSK, effectivePolicy } from "../../src/policy/index.js";
import { type Charon, startInitiator } from "./strongswan/charon.js";
import { labTunnelInitiator, swanctlConf } from "./strongswan/conf.js";
import { checkStrongswanTunnel, IkeDriverPeer } from "./strongswan/ike-driver-peer.js";
import { LAB_ADDR, type Lab, labUnavailable, labUp } from "./strongswan/lab.js";

const skip = await labUnavailable();
const PSK = "oak-fips-interop-psk-0123456789";
const psk = { kind: "psk" as const, secret: PSK };
const dirs: string[] = [];
after(() => {
  IkeDriverPeer.removeLogs();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The IKE settings `oakley serve` runs with, from a fresh store that allows legacy crypto. */
function serveIkeConfig(fips: boolean): object {
  const dir = mkdtempSync(join(tmpdir(), "oak-fips-store-"));
  dirs.push(dir);
  const opened = createDefaultStore(join(dir, "oakley.db"), (n) => Buffer.alloc(n, 7), {
    allowLegacyCrypto: true,
  });
  if (!opened.ok) throw new Error(opened.error.message);
  const store = opened.value.store;
  try {
    const u = store.psks.update(DEFAULT_PSK, { name: DEFAULT_PSK, secret: PSK });
    if (!u.ok) throw new Error(u.error.message);
    const eff = effectivePolicy(store);
    if (!eff.ok) throw new Error(eff.error.message);
    const plan = serverPlan(
      store,
      eff.value,
      { windowsNatFriendly: true, negotiateDh2048: true },
      { clock: systemClock, ...(fips ? { fips: true } : {}) },
    );
    if (!plan.ok) throw new Error(plan.error.message);
    const { childPolicy: _l2tpOnly, ...ike } = plan.value.ike;
    return { ...ike, dpd: { ...ike.dpd, delaySeconds: 0 } };
  } finally {
    store.close();
  }
}

async function attempt(o: { fips: boolean; ike: string[]; esp: string[] }) {
  let lab: Lab | undefined;
  let oak: IkeDriverPeer | undefined;
  let cli: Charon | undefined;
  try {
    lab = await labUp();
    oak = await IkeDriverPeer.start(lab.ns.server, LAB_ADDR.server, serveIkeConfig(o.fips));
    cli = await startInitiator({
      ns: lab.ns.client,
      conf: swanctlConf([labTunnelInitiator({ proposals: o.ike, espProposals: o.esp, auth: psk })]),
    });
    const r = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 20 });
    let tunnel = false;
    if (r.code === 0) {
      await checkStrongswanTunnel(cli);
      tunnel = true;
    }
    return {
      code: r.code,
      tunnel,
      out: `${r.stdout}${r.stderr}`,
      failed: oak.events("failed"),
      phase1: oak.events("phase1-up"),
      log: oak.log(),
    };
  } finally {
    await oak?.stop();
    await cli?.stop();
    await lab?.down();
  }
}

describe("FIPS mode (policy-only) <-> strongSwan 5.9.8 across the lab NAT", { skip }, () => {
  it("a strongSwan peer offering only 3DES (with MD5 or SHA-1) and MODP-1024 is refused; without FIPS mode the same peer connects", async () => {
    // 3DES/SHA-1/MODP-1024 is the store's legacy offer: the control run shows it is accepted
    // when FIPS mode is off, so the refusal below is FIPS mode's.
    const legacy = {
      ike: ["3des-md5-modp1024", "3des-sha1-modp1024"],
      esp: ["3des-md5", "3des-sha1"],
    };
    const refused = await attempt({ fips: true, ...legacy });
    assert.notEqual(refused.code, 0, `strongSwan must not establish:\n${refused.out}`);
    assert.equal(refused.phase1.length, 0, refused.log);
    assert.ok(
      refused.failed.some((e) => String(e.code).includes("NO_PROPOSAL")),
      `Oakley refused with NO-PROPOSAL-CHOSEN:\n${refused.log}`,
    );
    assert.match(refused.out, /NO_PROPOSAL_CHOSEN|no proposal/i);
    const open = await attempt({ fips: false, ...legacy });
    assert.equal(
      open.code,
      0,
      `control: without FIPS mode the legacy peer connects\n${open.out}\n${open.log}`,
    );
    assert.ok(open.tunnel);
  });

  it("a strongSwan peer offering AES/SHA-256/MODP-2048 connects to FIPS mode", async () => {
    const r = await attempt({
      fips: true,
      ike: ["aes256-sha256-modp2048"],
      esp: ["aes128-sha256"],
    });
    assert.equal(r.code, 0, `swanctl --initiate:\n${r.out}\n--- Oakley:\n${r.log}`);
    assert.ok(r.tunnel);
    assert.equal(r.phase1.length, 1, r.log);
    assert.match(String(r.phase1[0]!.suite), /AES-CBC-256.*SHA2-256.*2048/i);
    assert.equal(r.failed.length, 0, r.log);
  });
});
