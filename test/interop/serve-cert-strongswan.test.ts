/**
 * Interop: strongSwan 5.9.8 (IKEv1, certificate authentication, ESP transport mode for
 * UDP/1701, as an L2TP/IPsec client configures it) behind the lab's MASQUERADE NAT, initiating
 * to the real `oakley serve --cert --key --ca --crl --auth certificate` (src/cli/main.ts, in
 * the lab's server namespace). Certificates and the CRL are made by the openssl CLI
 * (test/helpers/pki.ts: `openssl ca` for the expired certificate and the CRL).
 *  - a valid client certificate: Main Mode and Quick Mode complete (Oakley logs phase 1 up with
 *    the client's DN and RSA signature, then phase 2 up in transport mode; charon logs that it
 *    authenticated Oakley's certificate);
 *  - a client certificate on the CRL, and an expired one: refused, with one log line of the
 *    server naming the certificate and why (revoked by the CA's CRL / expired on DATE).
 * The lab's strongSwan has userspace ESP (kernel-libipsec), which cannot install transport-mode
 * SAs: after Quick Mode it logs "unsupported mode" and deletes the child. That is strongSwan's
 * data plane; the negotiation, which is what this test checks, is complete by then.
 * Needs root and the lab's Debian packages (skips with the reason otherwise). ~40 s.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { unwrap } from "../../src/base/result.js";
import { certificatesFromPem } from "../../src/crypto/cert.js";
import { makeTestPki } from "../helpers/pki.js";
import { type Charon, startInitiator } from "./strongswan/charon.js";
import { swanctlConf } from "./strongswan/conf.js";
import { LAB_ADDR, type Lab, labUnavailable, labUp } from "./strongswan/lab.js";
import { type Daemon, nsDaemon, sleep, waitFor } from "./strongswan/proc.js";

const skip = await labUnavailable();
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");

const subject = (pem: string): string => unwrap(certificatesFromPem(pem))[0]!.subjectText;

describe("strongSwan (certificate, transport udp/1701) behind NAT -> oakley serve --cert", {
  skip,
  timeout: 300_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "oak-serve-cert-"));
  const pki = makeTestPki();
  after(() => {
    pki.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("valid certificate: MM+QM complete; revoked and expired certificates refused with a clear log line", async () => {
    pki.ca("ca", "Oakley Test CA");
    const leaf = (name: string, san: string, validity?: { start: string; end: string }) =>
      pki.add({
        name,
        subj: `/O=Oakley Test/CN=${name}`,
        issuer: "ca",
        ext: [`subjectAltName=${san}`, "keyUsage=digitalSignature"],
        ...(validity ? { validity } : {}),
      });
    leaf("server", `IP:${LAB_ADDR.server},DNS:vpn.example`);
    leaf("laptop", "email:laptop@example.com");
    leaf("stolen", "email:stolen@example.com");
    leaf("old", "email:old@example.com", { start: "20200101000000Z", end: "20210101000000Z" });
    const crl = pki.crl("ca", ["stolen"]);
    const file = (n: string, t: string) => {
      const p = join(dir, n);
      writeFileSync(p, t, { mode: 0o600 });
      return p;
    };
    const args = [
      "--import",
      "tsx",
      CLI,
      "serve",
      "--store",
      join(dir, "oakley.db"),
      "--listen",
      LAB_ADDR.server,
      "--cert",
      file("server.pem", pki.get("server").cert),
      "--key",
      file("server.key", pki.get("server").key),
      "--ca",
      file("ca.pem", pki.get("ca").cert),
      "--crl",
      file("ca.crl", crl),
      "--auth",
      "certificate",
      "--no-fail-closed",
      "--control-socket",
      "off",
      "--metrics-listen",
      "off",
      "--status-file",
      join(dir, "status.json"),
      "--tun",
      "oakcert0",
      "--log-format",
      "text",
    ];
    let lab: Lab | undefined;
    let serve: Daemon | undefined;
    let cli: Charon | undefined;
    const serverId = subject(pki.get("server").cert);
    const dial = async (name: string): Promise<{ code: number; charon: string }> => {
      const item = pki.get(name);
      cli = await startInitiator({
        ns: lab!.ns.client,
        files: {
          "x509ca/ca.pem": pki.get("ca").cert,
          "x509/client.pem": item.cert,
          "private/client.pem": item.key,
        },
        conf: swanctlConf([
          {
            name: "l2tp",
            localAddrs: LAB_ADDR.client,
            remoteAddrs: LAB_ADDR.server,
            proposals: ["aes256-sha256-modp2048"],
            auth: { kind: "cert", cert: "client.pem", id: subject(item.cert), remoteId: serverId },
            children: [
              {
                name: "l2tp",
                mode: "transport",
                localTs: `${LAB_ADDR.client}/32[udp/1701]`,
                remoteTs: `${LAB_ADDR.server}/32[udp/1701]`,
                espProposals: ["aes128-sha1"],
              },
            ],
          },
        ]),
      });
      const r = await cli.initiate({ ike: "l2tp", child: "l2tp", timeoutS: 20 });
      await sleep(500);
      const charon = cli.log();
      await cli.stop();
      cli = undefined;
      return { code: r.code, charon };
    };
    try {
      lab = await labUp();
      serve = nsDaemon(
        lab.ns.server,
        "oakley-serve",
        process.execPath,
        args,
        join(dir, "serve.log"),
      );
      await waitFor(
        "oakley serve ready",
        () => (/ready: listening/.test(serve!.log()) ? true : undefined),
        30_000,
      ).catch(() => assert.fail(`oakley serve did not start:\n${serve?.log()}`));
      assert.match(
        serve.log(),
        /certificate authentication: our certificate "O=Oakley Test, CN=server"/,
      );

      const good = await dial("laptop");
      const log1 = serve.log();
      assert.match(
        log1,
        /phase 1 up with 198\.51\.100\.1:\d+ \(ID O=Oakley Test, CN=laptop\): .*RSA signature; NAT: client behind NAT/,
        `${log1}\n--- charon:\n${good.charon.slice(-4000)}`,
      );
      // Quick Mode for L2TP: QM1 accepted, QM2 with our transport-mode SA sent; charon accepts
      // it and then cannot install a transport-mode SA in its userspace ESP (see the header).
      assert.match(
        log1,
        /Quick Mode: QM1 accepted, sending QM2 .*mode=transport local=198\.51\.100\.2\[17\/1701\] remote=192\.0\.2\.2\[17\/1701\]/,
        log1,
      );
      assert.match(good.charon, /unsupported mode/, `charon:\n${good.charon.slice(-6000)}`);
      assert.match(
        good.charon,
        /authentication of 'O=Oakley Test, CN=server' with RSA_EMSA_PKCS1_NULL successful/,
      );

      const revoked = await dial("stolen");
      assert.notEqual(revoked.code, 0, "revoked: swanctl --initiate fails");
      assert.match(
        serve.log(),
        /failed: peer certificate "O=Oakley Test, CN=stolen" is revoked|certificate "O=Oakley Test, CN=stolen" \(serial [0-9a-f]+\) is revoked by the CRL of "O=Oakley Test, CN=Oakley Test CA" \[OAK_E_CERT_REVOKED\]/,
        serve.log(),
      );
      const expired = await dial("old");
      assert.notEqual(expired.code, 0, "expired: swanctl --initiate fails");
      assert.match(
        serve.log(),
        /peer certificate "[^"]*CN=old[^"]*" expired 2021-01-01T00:00:00\.000Z .*\[OAK_E_CERT_EXPIRED\]/,
        serve.log(),
      );
      // Only the valid client got to Quick Mode.
      assert.equal((serve.log().match(/QM1 accepted/g) ?? []).length, 1, serve.log());
    } finally {
      await cli?.stop();
      await serve?.stop("SIGTERM", 8000);
      await lab?.down();
    }
  });
});
