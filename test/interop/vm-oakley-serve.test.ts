/**
 * The product end to end with a real client: the stock Debian 12 L2TP/IPsec client VM
 * (strongSwan IKEv1 + kernel ESP transport mode, xl2tpd + pppd over kernel L2TP/PPP) behind a
 * MASQUERADE NAT dials `oakley serve` running in the server namespace at 198.51.100.2 — the
 * Microsoft's supported topology `Client -> NAT -> Internet -> Server`. PSK + MS-CHAPv2.
 *
 * Checks: MM+QM with NAT-T (float to 4500), TRANSPORT-in-UDP, L2TP + PPP up with an address from
 * Oakley's pool, pings through, 1 MiB of TCP each way to listeners on the server's PPP address,
 * and on the NAT's outside only IKE and ESP-in-UDP (no cleartext L2TP).
 * Cost: like vm-reference (~2 min image build once per machine, then ~60-90 s). Needs root.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ensureGuestImage, runClientVm, vmUnavailable } from "./vm/vm.js";

const skip = await vmUnavailable();

// The server command: `oakley serve` from the source tree, plus TCP listeners on the
// server's PPP address (vm/oakley-server.sh).
const serverCmd = `${join(import.meta.dirname, "vm", "oakley-server.sh")} --log-level debug`;

describe("real Linux L2TP/IPsec client VM -> NAT -> oakley serve", { skip }, () => {
  it("connects: MM+QM NAT-T, transport ESP-in-UDP, L2TP, PPP MS-CHAPv2, address, ping, TCP", {
    timeout: 30 * 60_000,
  }, async () => {
    await ensureGuestImage();
    const r = await runClientVm({
      serverCmd,
      auth: "mschapv2",
      psk: "oak-vm-psk-0123456789",
      user: "oakuser",
      password: "oak-vm-pass",
      tcpSendPort: 5001,
      tcpRecvPort: 5002,
      onProgress: (l) => console.error(l),
    });
    const c = r.client;
    assert.ok(c, `no result.json from the client VM: ${r.summaryLine}\n${r.log.slice(-3000)}`);
    assert.equal(r.exitCode, 0, `${r.summaryLine}\nerror: ${c.error}\n${r.log.slice(-4000)}`);
    assert.equal(c.stage, "done");
    assert.equal(c.nat_t, true, "client detected the NAT and floated to 4500");
    assert.equal(c.child_mode, "TRANSPORT-in-UDP");
    assert.match(c.assigned_ip, /^203\.0\.113\.\d+$/, "IPCP address from Oakley's pool");
    assert.equal(c.peer_ip, "203.0.113.1");
    assert.ok(c.ping_received >= 1, "pings through L2TP/PPP over ESP");
    assert.equal(c.tcp_send_ok, true);
    assert.equal(c.tcp_recv_ok, true);
    const out = r.outside;
    assert.ok(out, "summary.json with the outside counters");
    assert.ok(out.esp_udp4500 > 0, "ESP-in-UDP on 4500");
    assert.equal(out.clear_l2tp_or_esp50, 0, "no cleartext L2TP or raw ESP on the outside");
    if (r.runDir) rmSync(r.runDir, { recursive: true, force: true });
  });
});
