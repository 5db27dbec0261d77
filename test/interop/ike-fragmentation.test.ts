/**
 * Interop: IKEv1 fragmentation (Cisco/Microsoft scheme, payload 132) between Oakley's IKE
 * engine (test/peers/ike-driver.ts, responder in the lab's server namespace) and strongSwan
 * 5.9.8 (initiator behind the lab NAT), with certificate chains that do not fit one datagram:
 * a root CA (trusted), two intermediate CAs and a leaf per side, all 4096-bit RSA, made by the
 * openssl CLI (test/helpers/pki.ts); each side sends leaf + both intermediates, so MM5 and MM6
 * are over 4 kB. The NAT box drops every IP fragment (nftables, before conntrack's
 * defragmentation: first fragments with MF set and non-first fragments).
 *  - fragmentation on both sides (strongSwan fragmentation=yes, Oakley default): MM + QM
 *    established; strongSwan's log shows it split its MM5 and reassembled our MM6.
 *  - Oakley with fragmentation off: strongSwan sees no FRAGMENTATION VID and sends MM5 whole;
 *    the NAT drops its IP fragments; Oakley's failure says the MM5 never arrived complete and
 *    that fragmentation is off here.
 *  - strongSwan fragmentation=force against Oakley with it off: the fragments are dropped
 *    with a warning that names the setting.
 * Needs root, nft and the lab's Debian packages (skips with the reason otherwise). ~60 s.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, describe, it } from "node:test";
import { makeTestPki } from "../helpers/pki.js";
import { type Charon, startInitiator } from "./strongswan/charon.js";
import { type IkeConnConf, labTunnelInitiator, swanctlConf } from "./strongswan/conf.js";
import { checkStrongswanTunnel, IkeDriverPeer } from "./strongswan/ike-driver-peer.js";
import { LAB_ADDR, type Lab, labUnavailable, labUp } from "./strongswan/lab.js";
import { nsRunOk, waitFor } from "./strongswan/proc.js";

const skip =
  (await labUnavailable()) ??
  (existsSync("/usr/sbin/nft") ? undefined : "nft (nftables) is not installed");
after(() => IkeDriverPeer.removeLogs());

const BITS = 4096;
const pki = skip ? undefined : makeTestPki();
after(() => pki?.dispose());
if (pki) {
  pki.ca("root", "Oakley Fragment Root", "self", [], BITS);
  pki.ca("inter1", "Oakley Fragment Intermediate 1", "root", [], BITS);
  pki.ca("inter2", "Oakley Fragment Intermediate 2", "inter1", [], BITS);
  pki.add({
    name: "server",
    subj: "/O=Oakley Test/CN=oak-server.example",
    issuer: "inter2",
    ext: [
      `subjectAltName=IP:${LAB_ADDR.server},DNS:oak-server.example`,
      "keyUsage=digitalSignature",
    ],
    bits: BITS,
  });
  pki.add({
    name: "client",
    subj: "/O=Oakley Test/CN=oak-client.example",
    issuer: "inter2",
    ext: ["subjectAltName=DNS:oak-client.example", "keyUsage=digitalSignature"],
    bits: BITS,
  });
}
const SERVER_ID = "O=Oakley Test, CN=oak-server.example";
const CLIENT_ID = "O=Oakley Test, CN=oak-client.example";

/** nftables on the NAT box: drop IP fragments before conntrack reassembles them (-400). */
async function dropIpFragments(lab: Lab): Promise<() => Promise<number>> {
  const nft = (cmd: string) => nsRunOk(lab.ns.nat, "nft", [cmd]);
  await nft("add table ip oakfrag");
  await nft(
    "add chain ip oakfrag pre { type filter hook prerouting priority -450 ; policy accept ; }",
  );
  await nft("add rule ip oakfrag pre ip frag-off & 0x1fff != 0 counter drop");
  await nft("add rule ip oakfrag pre ip frag-off & 0x2000 != 0 counter drop");
  return async () => {
    const out = await nft("list chain ip oakfrag pre");
    return [...out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  };
}

function oakleyConfig(fragmentation: boolean) {
  const p = pki!;
  return {
    certificates: {
      certificate: p.get("server").cert + p.get("inter2").cert + p.get("inter1").cert,
      privateKey: p.get("server").key,
      trustedCas: [p.get("root").cert],
    },
    dpd: { delaySeconds: 0 },
    halfOpenTimeoutSeconds: 20,
    fragmentation: { enabled: fragmentation },
  };
}

function strongswanConf(fragmentation: NonNullable<IkeConnConf["fragmentation"]>): string {
  return swanctlConf([
    {
      ...labTunnelInitiator({
        proposals: ["aes256-sha256-modp2048"],
        espProposals: ["aes128-sha1"],
        auth: { kind: "cert", cert: "client.pem", id: CLIENT_ID, remoteId: SERVER_ID },
      }),
      fragmentation,
    },
  ]);
}

function clientFiles(): Record<string, string> {
  const p = pki!;
  return {
    "x509ca/root.pem": p.get("root").cert,
    "x509ca/inter1.pem": p.get("inter1").cert,
    "x509ca/inter2.pem": p.get("inter2").cert,
    "x509/client.pem": p.get("client").cert,
    "private/client.pem": p.get("client").key,
  };
}

async function scenario(
  oakFragmentation: boolean,
  ssFragmentation: NonNullable<IkeConnConf["fragmentation"]>,
  body: (o: {
    oak: IkeDriverPeer;
    cli: Charon;
    fragmentsDropped: () => Promise<number>;
  }) => Promise<void>,
): Promise<void> {
  let lab: Lab | undefined;
  let oak: IkeDriverPeer | undefined;
  let cli: Charon | undefined;
  try {
    lab = await labUp();
    const fragmentsDropped = await dropIpFragments(lab);
    oak = await IkeDriverPeer.start(lab.ns.server, LAB_ADDR.server, oakleyConfig(oakFragmentation));
    cli = await startInitiator({
      ns: lab.ns.client,
      files: clientFiles(),
      conf: strongswanConf(ssFragmentation),
      charonExtra: ["retransmit_tries = 2"],
    });
    await body({ oak, cli, fragmentsDropped });
  } finally {
    await oak?.stop();
    await cli?.stop();
    await lab?.down();
  }
}

describe("Oakley <-> strongSwan 5.9.8: IKEv1 fragmentation across a path that drops IP fragments", {
  skip,
}, () => {
  it("fragmentation on both sides: 4096-bit chains of 3 certificates, MM + QM established", async () => {
    await scenario(true, "yes", async ({ oak, cli, fragmentsDropped }) => {
      const r = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 30 });
      assert.equal(
        r.code,
        0,
        `swanctl --initiate: ${r.stdout}${r.stderr}\n--- Oakley:\n${oak.log()}\n--- charon:\n${cli.log().slice(-6000)}`,
      );
      await checkStrongswanTunnel(cli, SERVER_ID);
      const log = cli.log();
      const split = [
        ...log.matchAll(/splitting IKE message \((\d+) bytes\) into (\d+) fragments/g),
      ];
      assert.ok(split.length > 0, log.slice(-6000));
      const mm5 = Math.max(...split.map((m) => Number(m[1])));
      const joined = [...log.matchAll(/reassembled fragmented IKE message \((\d+) bytes\)/g)];
      assert.ok(joined.length > 0, log.slice(-6000));
      const mm6 = Math.max(...joined.map((m) => Number(m[1])));
      assert.ok(mm5 > 4096 && mm6 > 4096, `MM5 ${mm5} bytes, MM6 ${mm6} bytes`);
      process.stderr.write(
        `ike-fragmentation: strongSwan MM5 ${mm5} bytes in ${split[0]![2]} fragments, Oakley MM6 ${mm6} bytes; IP fragments dropped at the NAT: ${await fragmentsDropped()}\n`,
      );
      const p1 = oak.events("phase1-up")[0] as { peerId: string } | undefined;
      assert.equal(p1?.peerId, CLIENT_ID, oak.log());
      assert.ok(oak.events("phase2-up")[0], oak.log());
    });
  });

  it("fragmentation off at Oakley: MM5 is lost as IP fragments and Oakley says why", async () => {
    await scenario(false, "yes", async ({ oak, cli, fragmentsDropped }) => {
      const r = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 30 });
      assert.notEqual(r.code, 0);
      const failed = await waitFor(
        "Oakley's half-open SA to time out",
        () => oak.events("failed")[0] as { message: string } | undefined,
        40_000,
        500,
      );
      assert.match(failed.message, /timed out in R_MM4: the peer's MM5 never arrived complete/);
      assert.match(failed.message, /IKE fragmentation is off here: turn it on/);
      assert.ok((await fragmentsDropped()) > 0, "the NAT dropped IP fragments");
      assert.doesNotMatch(cli.log(), /splitting IKE message/);
    });
  });

  it("strongSwan forces fragments, Oakley has fragmentation off: dropped with a warning naming the setting", async () => {
    await scenario(false, "force", async ({ oak, cli }) => {
      await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 10 });
      await waitFor(
        "Oakley's warning",
        () => (/IKE fragmentation is off here/.test(oak.log()) ? true : undefined),
        20_000,
        500,
      );
      assert.match(oak.log(), /turn fragmentation on to accept it/);
      assert.equal(oak.events("phase1-up").length, 0);
    });
  });
});
