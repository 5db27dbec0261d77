/**
 * Interop: IKEv1 Main Mode with RSA signatures and X.509 certificates (RFC 2409 §5.1) between
 * Oakley's IKE engine (test/peers/ike-driver.ts on real UDP 500/4500) and strongSwan 5.9.8 in
 * the lab namespaces (client behind the lab's MASQUERADE NAT, server public), with the
 * harness's test PKI (test/interop/strongswan/certs.ts: one CA, server and client certificates
 * made by the openssl CLI):
 *  - strongSwan initiator behind NAT -> Oakley responder;
 *  - Oakley initiator behind NAT -> strongSwan responder.
 * And (same harness, the other phase-1 feature of this change) Aggressive Mode with a PSK:
 *  - strongSwan Aggressive Mode initiator behind NAT (FQDN identity) -> Oakley responder with
 *    aggressiveMode on: AM1-AM3 with NAT-D, float to 4500, Quick Mode, child INSTALLED.
 * Oracles: swanctl --list-sas on the strongSwan side (IKE SA ESTABLISHED with the peer's DN as
 * remote-id, CHILD_SA INSTALLED, floated to 4500), charon's log ("authentication of '…' with
 * RSA_EMSA_PKCS1_NULL successful": strongSwan verified our SIG), Oakley's events.
 * Needs root and the lab's Debian packages (skips with the reason otherwise). ~30 s.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { certificateFiles } from "./strongswan/certs.js";
import { type Charon, startInitiator, startResponder } from "./strongswan/charon.js";
import { labTunnelInitiator, labTunnelResponder, swanctlConf } from "./strongswan/conf.js";
import { checkStrongswanTunnel, IkeDriverPeer } from "./strongswan/ike-driver-peer.js";
import { LAB_ADDR, type Lab, labUnavailable, labUp } from "./strongswan/lab.js";
import { waitFor } from "./strongswan/proc.js";

const skip = await labUnavailable();
after(() => IkeDriverPeer.removeLogs());

describe("Oakley <-> strongSwan 5.9.8: IKEv1 RSA signatures across the lab NAT", { skip }, () => {
  it("strongSwan initiator (certificate) behind NAT -> Oakley responder (certificate): MM+QM established", async () => {
    const pki = await certificateFiles();
    let lab: Lab | undefined;
    let oak: IkeDriverPeer | undefined;
    let cli: Charon | undefined;
    try {
      lab = await labUp();
      oak = await IkeDriverPeer.start(lab.ns.server, LAB_ADDR.server, {
        certificates: {
          certificate: pki.pem.serverCert,
          privateKey: pki.pem.serverKey,
          trustedCas: [pki.caPem],
        },
        dpd: { delaySeconds: 0 },
      });
      cli = await startInitiator({
        ns: lab.ns.client,
        files: pki.client,
        conf: swanctlConf([
          labTunnelInitiator({
            proposals: ["aes128-sha1-modp2048"],
            espProposals: ["aes128-sha1"],
            auth: { kind: "cert", cert: "client.pem", id: pki.clientId, remoteId: pki.serverId },
          }),
        ]),
      });
      const r = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 20 });
      assert.equal(
        r.code,
        0,
        `swanctl --initiate: ${r.stdout}${r.stderr}\n--- Oakley:\n${oak.log()}\n--- charon:\n${cli.log().slice(-4000)}`,
      );
      await checkStrongswanTunnel(cli, pki.serverId);
      assert.match(
        cli.log(),
        /authentication of 'O=Oakley Test, CN=oak-server.example' with RSA_EMSA_PKCS1_NULL successful/,
      );
      const p1 = oak.events("phase1-up")[0] as
        | { peerId: string; peerCertificate: string; suite: string; peer: { address: string } }
        | undefined;
      assert.ok(p1, oak.log());
      assert.equal(p1.peerId, pki.clientId);
      assert.equal(p1.peerCertificate, pki.clientId);
      assert.match(p1.suite, /RSA signature/);
      assert.equal(p1.peer.address, LAB_ADDR.natOutside);
      assert.ok(oak.events("phase2-up")[0], oak.log());
      assert.equal(oak.events("failed").length, 0, oak.log());
    } finally {
      await oak?.stop();
      await cli?.stop();
      await lab?.down();
    }
  });

  it("Oakley initiator (certificate) behind NAT -> strongSwan responder (certificate): MM+QM established", async () => {
    const pki = await certificateFiles();
    let lab: Lab | undefined;
    let oak: IkeDriverPeer | undefined;
    let srv: Charon | undefined;
    try {
      lab = await labUp();
      srv = await startResponder({
        ns: lab.ns.server,
        files: pki.server,
        conf: swanctlConf([
          labTunnelResponder({
            proposals: ["aes128-sha1-modp2048"],
            espProposals: ["aes128-sha1"],
            auth: { kind: "cert", cert: "server.pem", id: pki.serverId },
          }),
        ]),
      });
      oak = await IkeDriverPeer.start(
        lab.ns.client,
        LAB_ADDR.client,
        {
          certificates: {
            certificate: pki.pem.clientCert,
            privateKey: pki.pem.clientKey,
            trustedCas: [pki.caPem],
          },
          phase1: { offers: [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 14 }] },
          // kernel-libipsec fakes its own NAT-D (lab README): the server looks NATed too
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
      await checkStrongswanTunnel(srv, pki.clientId);
      assert.match(
        srv.log(),
        /authentication of 'O=Oakley Test, CN=oak-client.example' with RSA_EMSA_PKCS1_NULL successful/,
      );
      const p1 = oak.events("phase1-up")[0] as
        | { peerId: string; nat: { localBehindNat: boolean } }
        | undefined;
      assert.equal(p1?.peerId, pki.serverId);
      assert.equal(p1?.nat.localBehindNat, true, "Oakley saw itself behind the lab NAT");
      assert.equal(oak.events("failed").length, 0, oak.log());
    } finally {
      await oak?.stop();
      await srv?.stop();
      await lab?.down();
    }
  });

  it("strongSwan Aggressive Mode initiator (PSK, FQDN id) behind NAT -> Oakley responder: AM+QM established", async () => {
    const psk = "oak-aggressive-psk-0123456789";
    let lab: Lab | undefined;
    let oak: IkeDriverPeer | undefined;
    let cli: Charon | undefined;
    try {
      lab = await labUp();
      oak = await IkeDriverPeer.start(lab.ns.server, LAB_ADDR.server, {
        psks: [{ secret: psk, id: "android.example" }],
        aggressiveMode: true,
        dpd: { delaySeconds: 0 },
      });
      cli = await startInitiator({
        ns: lab.ns.client,
        conf: swanctlConf([
          {
            name: "oak-am",
            localAddrs: LAB_ADDR.client,
            remoteAddrs: LAB_ADDR.server,
            proposals: ["aes128-sha1-modp2048"],
            aggressive: true,
            localId: "android.example",
            remoteId: LAB_ADDR.server,
            auth: { kind: "psk", secret: psk },
            children: [
              {
                name: "net",
                mode: "tunnel",
                localTs: `${LAB_ADDR.client}/32`,
                remoteTs: `${LAB_ADDR.serverNet}/32`,
                espProposals: ["aes128-sha1"],
              },
            ],
          },
        ]),
      });
      const r = await cli.initiate({ ike: "oak-am", child: "net", timeoutS: 20 });
      assert.equal(
        r.code,
        0,
        `swanctl --initiate: ${r.stdout}${r.stderr}\n--- Oakley:\n${oak.log()}\n--- charon:\n${cli.log().slice(-4000)}`,
      );
      await checkStrongswanTunnel(cli, LAB_ADDR.server);
      assert.match(cli.log(), /AGGRESSIVE/);
      const p1 = oak.events("phase1-up")[0] as
        | { peerId: string; suite: string; nat: { peerBehindNat: boolean }; peer: { port: number } }
        | undefined;
      assert.ok(p1, oak.log());
      assert.equal(p1.peerId, "android.example");
      assert.match(p1.suite, /Aggressive Mode/);
      assert.equal(p1.nat.peerBehindNat, true);
      assert.notEqual(p1.peer.port, 500, "followed the initiator to its 4500 mapping");
      assert.ok(oak.events("phase2-up")[0], oak.log());
      assert.equal(oak.events("failed").length, 0, oak.log());
      assert.match(oak.log(), /Aggressive Mode is enabled/, "the start-up warning is logged");
    } finally {
      await oak?.stop();
      await cli?.stop();
      await lab?.down();
    }
  });
});
