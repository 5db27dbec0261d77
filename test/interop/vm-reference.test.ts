/**
 * Known-good baseline of the real-client VM harness (test/interop/vm/): the stock Debian 12
 * L2TP/IPsec client VM (strongSwan IKEv1 + kernel ESP transport mode, xl2tpd + pppd) behind a
 * MASQUERADE NAT dials the reference server VM (strongSwan + xl2tpd + pppd, MS-CHAPv2). This
 * proves the harness (image, topology, NAT, capture, result collection) works, so that a
 * failure with `oakley serve` as server command is Oakley's, not the harness'.
 *
 * Checks: IKEv1 MM+QM with NAT-T (client saw the NAT, floated to 4500), TRANSPORT-in-UDP SA,
 * L2TP + PPP up (IPCP address from the pool), pings through, 1 MiB TCP each way, and on the
 * NAT's outside only IKE on 500/4500 and ESP-in-UDP: no cleartext L2TP, no raw ESP.
 *
 * Cost: guest image build once per machine (~2 min, cached in $OAKLEY_VM_DIR, default
 * /var/cache/oakley-vm), then ~80-100 s (two TCG guests on 2 shared cores). Needs root.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { describe, it } from "node:test";
import { ensureGuestImage, runClientVm, vmUnavailable } from "./vm/vm.js";

const skip = await vmUnavailable();

describe("real Linux L2TP/IPsec client VM vs. the reference server VM", { skip }, () => {
  it("connects through the NAT: MM+QM NAT-T, transport ESP-in-UDP, L2TP, PPP MS-CHAPv2, ping, TCP", {
    timeout: 30 * 60_000,
  }, async () => {
    await ensureGuestImage();
    const r = await runClientVm({
      reference: true,
      auth: "mschapv2",
      psk: "oak-ref-psk-0123456789",
      user: "oakuser",
      password: "oak-ref-pass",
      onProgress: (l) => console.error(l),
    });
    const c = r.client;
    assert.ok(c, `no result.json from the client VM: ${r.summaryLine}\n${r.log.slice(-3000)}`);
    assert.equal(r.exitCode, 0, `${r.summaryLine}\nerror: ${c.error}`);
    assert.equal(c.stage, "done");
    assert.equal(c.nat_t, true, "client detected the NAT and floated to 4500");
    assert.equal(c.child_mode, "TRANSPORT-in-UDP");
    assert.match(c.ike_proposal, /^IKE:/);
    assert.match(c.assigned_ip, /^203\.0\.113\.(1\d|20)$/, "IPCP address from the reference pool");
    assert.equal(c.peer_ip, "203.0.113.1");
    assert.ok(c.ping_received >= 1, "pings through L2TP/PPP over ESP");
    assert.equal(c.tcp_send_ok, true);
    assert.equal(c.tcp_recv_ok, true);
    const out = r.outside;
    assert.ok(out, "summary.json with the outside counters");
    assert.ok(out.ike500 >= 4, "Main Mode MM1-MM4 on UDP 500");
    assert.ok(out.ike4500 >= 5, "MM5/MM6 + Quick Mode on 4500 with the non-ESP marker");
    assert.ok(out.esp_udp4500 > 0, "ESP-in-UDP on 4500");
    assert.equal(out.clear_l2tp_or_esp50, 0, "no cleartext L2TP or raw ESP on the outside");
    assert.equal(out.other, 0, "nothing else crossed the NAT");
    // passed: drop the run's captures and logs (a failed run keeps them for diagnosis)
    if (r.runDir) rmSync(r.runDir, { recursive: true, force: true });
  });
});
