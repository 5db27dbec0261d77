/**
 * Self-test of the strongSwan interop harness (test/interop/strongswan/): two real strongSwan
 * 5.9.8 charons, initiator behind the lab's MASQUERADE NAT, IKEv1 Main Mode + Quick Mode with
 * NAT-T (RFC 3947) and tunnel-mode ESP-in-UDP (RFC 3948, kernel-libipsec). It proves that the
 * lab, the charon wrapper, swanctl parsing and the captures work before other tests put Oakley
 * on one side: SAs established on both ends, both floated to 4500, pings cross the tunnel, and
 * the NAT's outside saw MM1-MM4 on 500, then only non-ESP-marked IKE and ESP on 4500.
 *
 * Needs root and the packages of .ci/run (skips with the reason otherwise). ~10 s.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { tsharkCount } from "./strongswan/capture.js";
import { certificateFiles } from "./strongswan/certs.js";
import { LAB_ADDR, labUnavailable } from "./strongswan/lab.js";
import { type PairResult, removePairOutput, runStrongswanPair } from "./strongswan/pair.js";
import { udpDatagrams } from "../helpers/pcap.js";
import { viciSec, viciStr } from "./strongswan/vici.js";

const skip = await labUnavailable();
const results: PairResult[] = [];
after(() => {
  for (const r of results) removePairOutput(r);
});

/** Assertions shared by every variant: SA state on both ends and what crossed the NAT. */
async function checkPair(r: PairResult): Promise<void> {
  assert.equal(r.initiate.code, 0, `swanctl --initiate: ${r.initiate.stdout}${r.initiate.stderr}`);
  const c = r.clientSas.ikeSas[0]?.sa;
  const s = r.serverSas.ikeSas[0]?.sa;
  assert.ok(c && s, `both ends list an IKE SA:\n${r.clientSasText}\n${r.serverSasText}`);
  assert.equal(viciStr(c, "version"), "1");
  assert.equal(viciStr(c, "state"), "ESTABLISHED");
  assert.equal(viciStr(s, "state"), "ESTABLISHED");
  // NAT-T: both floated to 4500, the server sees the client at the NAT's address
  assert.equal(viciStr(c, "local-port"), "4500");
  assert.equal(viciStr(c, "remote-port"), "4500");
  assert.equal(viciStr(s, "remote-host"), LAB_ADDR.natOutside);
  assert.equal(viciStr(s, "remote-port"), "4500");
  assert.equal(viciStr(c, "nat-local"), "yes", "client detected that it is behind a NAT");
  for (const sa of [c, s]) {
    const children = viciSec(sa, "child-sas");
    const child = viciSec(children, Object.keys(children)[0] ?? "");
    assert.equal(viciStr(child, "state"), "INSTALLED");
    assert.equal(viciStr(child, "mode"), "TUNNEL");
    assert.equal(viciStr(child, "encap"), "yes", "ESP in UDP");
  }
  assert.match(r.ping?.stdout ?? "", / 0% packet loss/, "pings through the tunnel");

  // the NAT's outside: our own classification (RFC 3948 section 2) ...
  const out = udpDatagrams(r.pcaps.natOutside);
  const on500 = out.filter((d) => d.srcPort === 500 || d.dstPort === 500);
  assert.equal(on500.length, 4, "exactly MM1-MM4 on port 500");
  assert.ok(
    out.every((d) => d.kind !== "udp"),
    "only IKE/ESP/keepalives on the outside",
  );
  const after4 = out.filter((d) => d.srcPort === 4500 || d.dstPort === 4500);
  assert.ok(
    after4.filter((d) => d.kind === "isakmp").length >= 5,
    "MM5, MM6, QM1-3 on 4500 with the non-ESP marker",
  );
  assert.ok(after4.filter((d) => d.kind === "esp-in-udp").length >= 6, "pings as ESP-in-UDP");
  // ... and Wireshark's (independent dissector): NAT-D in MM3/MM4, no cleartext ICMP or 1701
  assert.ok(
    (await tsharkCount(r.pcaps.natOutside, "isakmp.typepayload == 20")) >= 2,
    "NAT-D payloads",
  );
  assert.equal(
    await tsharkCount(r.pcaps.natOutside, "icmp || udp.port == 1701"),
    0,
    "no cleartext",
  );
  assert.ok(
    (await tsharkCount(r.pcaps.natOutside, "esp && udp.port == 4500")) >= 6,
    "tshark sees ESP-in-UDP",
  );
  assert.equal(
    await tsharkCount(r.pcaps.natOutside, "ip.addr == 192.0.2.2"),
    0,
    "private address not on the outside",
  );
}

describe("strongSwan <-> strongSwan across the lab NAT (harness self-test)", { skip }, () => {
  it("PSK, AES-CBC-128/SHA1/MODP-2048, ESP AES-CBC-128/HMAC-SHA1-96: MM+QM, float to 4500, ping", async () => {
    const r = await runStrongswanPair({});
    results.push(r);
    await checkPair(r);
  });

  it("PSK, AES-CBC-128/SHA2-256/ECP-256, ESP AES-GCM-16: MM+QM, float to 4500, ping", async () => {
    const r = await runStrongswanPair({
      ikeProposals: ["aes128-sha256-ecp256"],
      espProposals: ["aes128gcm16"],
    });
    results.push(r);
    await checkPair(r);
    assert.equal(viciStr(r.clientSas.ikeSas[0]?.sa, "dh-group"), "ECP_256");
  });

  it("RSA certificates (IKEv1 Main Mode signature auth): MM+QM, float to 4500, ping", async () => {
    const certs = await certificateFiles();
    const r = await runStrongswanPair({
      serverAuth: { kind: "cert", cert: "server.pem", id: certs.serverId },
      clientAuth: {
        kind: "cert",
        cert: "client.pem",
        id: certs.clientId,
        remoteId: certs.serverId,
      },
      serverFiles: certs.server,
      clientFiles: certs.client,
    });
    results.push(r);
    await checkPair(r);
  });
});
