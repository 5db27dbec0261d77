/**
 * Interop: IKEv1 Main Mode with RSA signatures and X.509 certificates (RFC 2409 §5.1) between
 * Oakley's IKE engine (src/daemon/ike-driver.ts on real UDP 500/4500) and strongSwan 5.9.8 in
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
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { certificateFiles } from "./strongswan/certs.js";
import { type Charon, startInitiator, startResponder } from "./strongswan/charon.js";
import { swanctlConf } from "./strongswan/conf.js";
import { LAB_ADDR, type Lab, labUnavailable, labUp } from "./strongswan/lab.js";
import { Daemon, waitFor } from "./strongswan/proc.js";
import { viciSec, viciStr } from "./strongswan/vici.js";

const skip = await labUnavailable();
const root = join(import.meta.dirname, "..", "..");
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface OakleyLine {
  readonly event?: { readonly type: string; readonly [k: string]: unknown };
  readonly ready?: unknown;
}

/** src/daemon/ike-driver.ts in a namespace; its stdout lines are JSON events. */
class Oakley {
  private constructor(
    private readonly d: Daemon,
    private readonly file: string,
  ) {}

  static async start(ns: string, address: string, config: object, initiate?: object) {
    const dir = mkdtempSync(join(tmpdir(), "oak-ike-cert-"));
    dirs.push(dir);
    const file = join(dir, "oakley.log");
    const args = [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--import",
      "tsx",
      join(root, "src/daemon/ike-driver.ts"),
      "--listen",
      address,
      "--config",
      JSON.stringify(config),
      ...(initiate ? ["--initiate", JSON.stringify(initiate)] : []),
    ];
    const o = new Oakley(
      Daemon.start("oakley-ike", "ip", args, file, { NODE_NO_WARNINGS: "1" }),
      file,
    );
    await waitFor(
      "Oakley ready",
      () => (o.lines().some((l) => l.ready) ? true : undefined),
      20_000,
    );
    return o;
  }

  lines(): OakleyLine[] {
    let text = "";
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .filter((l) => l.startsWith("{") && !l.includes('"level"'))
      .map((l) => JSON.parse(l) as OakleyLine);
  }

  events(type: string) {
    return this.lines().flatMap((l) => (l.event?.type === type ? [l.event] : []));
  }

  log(): string {
    return this.d.log();
  }

  stop(): Promise<void> {
    return this.d.stop();
  }
}

async function checkStrongswan(c: Charon, remoteId: string): Promise<void> {
  const sas = await c.listSas();
  const sa = sas.ikeSas[0]?.sa;
  assert.ok(sa, `strongSwan lists an IKE SA:\n${sas.raw}`);
  assert.equal(viciStr(sa, "version"), "1");
  assert.equal(viciStr(sa, "state"), "ESTABLISHED");
  assert.equal(viciStr(sa, "local-port"), "4500", "floated to 4500");
  assert.equal(viciStr(sa, "remote-id"), remoteId);
  const children = viciSec(sa, "child-sas");
  const child = viciSec(children, Object.keys(children)[0] ?? "");
  assert.equal(viciStr(child, "state"), "INSTALLED", sas.raw);
  assert.equal(viciStr(child, "mode"), "TUNNEL");
  assert.equal(viciStr(child, "encap"), "yes");
}

describe("Oakley <-> strongSwan 5.9.8: IKEv1 RSA signatures across the lab NAT", { skip }, () => {
  it("strongSwan initiator (certificate) behind NAT -> Oakley responder (certificate): MM+QM established", async () => {
    const pki = await certificateFiles();
    let lab: Lab | undefined;
    let oak: Oakley | undefined;
    let cli: Charon | undefined;
    try {
      lab = await labUp();
      oak = await Oakley.start(lab.ns.server, LAB_ADDR.server, {
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
          {
            name: "oak-cli",
            localAddrs: LAB_ADDR.client,
            remoteAddrs: LAB_ADDR.server,
            proposals: ["aes128-sha1-modp2048"],
            auth: { kind: "cert", cert: "client.pem", id: pki.clientId, remoteId: pki.serverId },
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
      const r = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 20 });
      assert.equal(
        r.code,
        0,
        `swanctl --initiate: ${r.stdout}${r.stderr}\n--- Oakley:\n${oak.log()}\n--- charon:\n${cli.log().slice(-4000)}`,
      );
      await checkStrongswan(cli, pki.serverId);
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
    let oak: Oakley | undefined;
    let srv: Charon | undefined;
    try {
      lab = await labUp();
      srv = await startResponder({
        ns: lab.ns.server,
        files: pki.server,
        conf: swanctlConf([
          {
            name: "oak-srv",
            localAddrs: LAB_ADDR.server,
            remoteAddrs: "%any",
            proposals: ["aes128-sha1-modp2048"],
            auth: { kind: "cert", cert: "server.pem", id: pki.serverId },
            children: [
              {
                name: "net",
                mode: "tunnel",
                localTs: `${LAB_ADDR.serverNet}/32`,
                remoteTs: LAB_ADDR.clientNet,
                espProposals: ["aes128-sha1"],
              },
            ],
          },
        ]),
      });
      oak = await Oakley.start(
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
      await checkStrongswan(srv, pki.clientId);
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
    let oak: Oakley | undefined;
    let cli: Charon | undefined;
    try {
      lab = await labUp();
      oak = await Oakley.start(lab.ns.server, LAB_ADDR.server, {
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
      await checkStrongswan(cli, LAB_ADDR.server);
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
