/**
 * Interop: Oakley's IKE engine (on real UDP 500/4500 through test/peers/ike-driver.ts) against
 * strongSwan 5.9.8 charon in the lab namespaces (test/interop/strongswan: client behind an
 * iptables MASQUERADE NAT, server public):
 *  - strongSwan initiator behind NAT -> Oakley responder: MM+QM, PSK, MODP-2048 and ECP-256;
 *  - Oakley initiator behind NAT -> strongSwan responder: likewise;
 *  - Oakley initiator, transport mode (L2TP-style UDP 1701) -> strongSwan responder: Quick
 *    Mode completes, then strongSwan deletes the SA because kernel-libipsec cannot install
 *    transport mode (expected: its user-space ESP supports tunnel mode only).
 * Oracles: swanctl --list-sas on the strongSwan side (IKE SA ESTABLISHED, CHILD_SA INSTALLED,
 * floated to 4500) and the events Oakley prints.
 * Needs root and the lab's Debian packages (skips with the reason otherwise). ~40 s.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type Charon, startInitiator, startResponder } from "./strongswan/charon.js";
import { labTunnelInitiator, labTunnelResponder, swanctlConf } from "./strongswan/conf.js";
import { checkStrongswanTunnel, IkeDriverPeer } from "./strongswan/ike-driver-peer.js";
import { LAB_ADDR, type Lab, labUnavailable, labUp } from "./strongswan/lab.js";
import { waitFor } from "./strongswan/proc.js";

const skip = await labUnavailable();
const PSK = "oak-interop-psk-0123456789";
after(() => IkeDriverPeer.removeLogs());

const psk = { kind: "psk" as const, secret: PSK };

const SUITES = [
  {
    name: "MODP-2048",
    ike: "aes128-sha1-modp2048",
    esp: "aes128-sha1",
    group: 14,
    hash: "sha1" as const,
  },
  {
    name: "ECP-256",
    ike: "aes128-sha256-ecp256",
    esp: "aes128gcm16",
    group: 19,
    hash: "sha2-256" as const,
  },
];

describe("Oakley IKE <-> strongSwan 5.9.8 across the lab NAT", { skip }, () => {
  for (const s of SUITES) {
    it(`strongSwan initiator behind NAT -> Oakley responder, PSK ${s.name}: MM+QM established`, async () => {
      let lab: Lab | undefined;
      let oak: IkeDriverPeer | undefined;
      let cli: Charon | undefined;
      try {
        lab = await labUp();
        oak = await IkeDriverPeer.start(lab.ns.server, LAB_ADDR.server, {
          psks: [{ secret: PSK }],
          dpd: { delaySeconds: 0 },
        });
        cli = await startInitiator({
          ns: lab.ns.client,
          conf: swanctlConf([
            labTunnelInitiator({ proposals: [s.ike], espProposals: [s.esp], auth: psk }),
          ]),
        });
        const r = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 20 });
        assert.equal(
          r.code,
          0,
          `swanctl --initiate: ${r.stdout}${r.stderr}\n--- Oakley:\n${oak.log()}`,
        );
        await checkStrongswanTunnel(cli);
        const p1 = oak.events("phase1-up")[0];
        assert.ok(p1, oak.log());
        assert.equal(
          (p1 as unknown as { peer: { address: string } }).peer.address,
          LAB_ADDR.natOutside,
        );
        const p2 = oak.events("phase2-up")[0];
        assert.ok(p2, oak.log());
        assert.equal(oak.events("failed").length, 0, oak.log());
      } finally {
        await oak?.stop();
        await cli?.stop();
        await lab?.down();
      }
    });

    it(`Oakley initiator behind NAT -> strongSwan responder, PSK ${s.name}: MM+QM established`, async () => {
      let lab: Lab | undefined;
      let oak: IkeDriverPeer | undefined;
      let srv: Charon | undefined;
      try {
        lab = await labUp();
        srv = await startResponder({
          ns: lab.ns.server,
          conf: swanctlConf([
            labTunnelResponder({ proposals: [s.ike], espProposals: [s.esp], auth: psk }),
          ]),
        });
        oak = await IkeDriverPeer.start(
          lab.ns.client,
          LAB_ADDR.client,
          {
            psks: [{ secret: PSK }],
            phase1: {
              offers: [{ encryption: "aes-cbc", keyBits: 128, hash: s.hash, group: s.group }],
            },
            // kernel-libipsec fakes its own NAT-D (lab README gotcha 3): the server looks NATed,
            // so a client needs nat-policy 2 (both behind NAT); policy 0 refuses, as it must.
            natt: { policy: 2 },
          },
          {
            peer: { address: LAB_ADDR.server, port: 500 },
            phase2: {
              mode: "tunnel",
              local: { id: { kind: "ipv4", address: LAB_ADDR.client }, protocol: 0, port: 0 },
              remote: { id: { kind: "ipv4", address: LAB_ADDR.serverNet }, protocol: 0, port: 0 },
            },
          },
        );
        await waitFor(
          "Oakley phase2-up",
          () => (oak?.events("phase2-up")[0] ? true : undefined),
          20_000,
        ).catch(() =>
          assert.fail(`no phase2-up:\n${oak?.log()}\n--- charon:\n${srv?.log().slice(-4000)}`),
        );
        await checkStrongswanTunnel(srv);
        const p1 = oak.events("phase1-up")[0] as unknown as { nat: { localBehindNat: boolean } };
        assert.equal(p1.nat.localBehindNat, true, "Oakley saw itself behind the lab NAT");
        assert.equal(oak.events("failed").length, 0, oak.log());
      } finally {
        await oak?.stop();
        await srv?.stop();
        await lab?.down();
      }
    });
  }

  it("Oakley initiator, transport mode (UDP 1701) -> strongSwan: Quick Mode completes, then strongSwan deletes it", async () => {
    let lab: Lab | undefined;
    let oak: IkeDriverPeer | undefined;
    let srv: Charon | undefined;
    try {
      lab = await labUp();
      srv = await startResponder({
        ns: lab.ns.server,
        conf: swanctlConf([
          {
            name: "oak-srv",
            localAddrs: LAB_ADDR.server,
            remoteAddrs: "%any",
            proposals: ["aes128-sha1-modp2048"],
            auth: psk,
            children: [
              {
                name: "l2tp",
                mode: "transport",
                localTs: "dynamic[udp/1701]",
                remoteTs: "dynamic[udp]",
                espProposals: ["aes128-sha1"],
              },
            ],
          },
        ]),
      });
      oak = await IkeDriverPeer.start(
        lab.ns.client,
        LAB_ADDR.client,
        {
          psks: [{ secret: PSK }],
          phase1: { offers: [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 14 }] },
          natt: { policy: 2 },
        },
        {
          peer: { address: LAB_ADDR.server, port: 500 },
          phase2: {
            mode: "transport",
            local: { id: { kind: "ipv4", address: LAB_ADDR.client }, protocol: 17, port: 1701 },
            remote: { id: { kind: "ipv4", address: LAB_ADDR.server }, protocol: 17, port: 1701 },
          },
        },
      );
      await waitFor(
        "Oakley child deleted by strongSwan",
        () => (oak?.events("deleted").some((e) => e.what === "child") ? true : undefined),
        20_000,
      ).catch(() => assert.fail(`${oak?.log()}\n--- charon:\n${srv?.log().slice(-4000)}`));
      const p2 = oak.events("phase2-up")[0] as { mode: string } | undefined;
      assert.equal(p2?.mode, "transport", "QM2 accepted and QM3 sent");
      assert.match(
        srv.log(),
        /unsupported mode|unable to install/,
        "strongSwan's libipsec refused transport",
      );
      const install = oak.lines().find((l) => l.install)?.install as {
        encap?: { natOa: { remote?: string } };
      };
      assert.ok(install?.encap, "UDP-encapsulated");
    } finally {
      await oak?.stop();
      await srv?.stop();
      await lab?.down();
    }
  });
});
