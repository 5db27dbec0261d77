/**
 * The products with certificates, end to end in network namespaces: `oakley connect --cert
 * --key --ca` behind a MASQUERADE NAT -> `oakley serve --cert --key --ca --crl --auth
 * certificate`. Main Mode with RSA signatures, Quick Mode, ESP-in-UDP, L2TP, PPP; the client
 * pings the server's PPP address and sends a TCP stream whose SHA-256 must arrive intact.
 * Then the CRL file is replaced by one revoking the client's certificate: the running server
 * re-reads it, and the same client's next connection is refused with a log line naming the
 * certificate. Certificates by the openssl CLI (test/helpers/pki.ts).
 *
 *   c1 192.0.2.2/24 --in0-- nat (MASQUERADE) out0 198.51.100.1 ---- srv 198.51.100.2
 * PPP pool 203.0.113.0/24. Needs root, iproute2, nft/iptables, socat.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { makeTestPki } from "../helpers/pki.js";
import { type Proc, stop, watch } from "./lib/cli-process.js";
import { interopSkipReason, type Namespace, Topology } from "./lib/netns.js";

const skip = await interopSkipReason(["ip", "socat"], { nat: true });
const topo = new Topology(import.meta.filename);
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
const pki = makeTestPki();

let c1: Namespace;
let nat: Namespace;
let srv: Namespace;

function file(name: string, text: string): string {
  const p = join(topo.dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

describe("oakley connect --cert -> NAT -> oakley serve --cert (namespaces)", {
  skip,
  concurrency: false,
  timeout: 300_000,
}, () => {
  before(async () => {
    c1 = await topo.namespace("c1");
    nat = await topo.namespace("nat");
    srv = await topo.namespace("srv");
    await topo.link(c1, "eth0", nat, "in0");
    await topo.link(nat, "out0", srv, "eth0");
    await topo.address(c1, "eth0", "192.0.2.2/24");
    await topo.address(nat, "in0", "192.0.2.1/24");
    await topo.address(nat, "out0", "198.51.100.1/24");
    await topo.address(srv, "eth0", "198.51.100.2/24");
    await topo.route(c1, "default", { gateway: "192.0.2.1" });
    await topo.masquerade(nat, "out0", "192.0.2.0/24");
  });

  it("carries IP through L2TP/PPP with certificates; a CRL revoking the client, re-read live, refuses it", async () => {
    pki.ca("ca", "Oakley Test CA");
    for (const [name, san] of [
      ["server", "IP:198.51.100.2,DNS:vpn.example"],
      ["laptop", "email:laptop@example.com"],
    ])
      pki.add({
        name: name!,
        subj: `/O=Oakley Test/CN=${name}`,
        issuer: "ca",
        ext: [`subjectAltName=${san}`, "keyUsage=digitalSignature"],
      });
    const ca = file("ca.pem", pki.get("ca").cert);
    const crl = file("ca.crl", pki.crl("ca", []));
    const server = watch(
      topo.spawn(srv, [
        process.execPath,
        "--import",
        "tsx",
        CLI,
        "serve",
        "--store",
        join(topo.dir, "srv.db"),
        "--listen",
        "198.51.100.2",
        "--cert",
        file("server.pem", pki.get("server").cert),
        "--key",
        file("server.key", pki.get("server").key),
        "--ca",
        ca,
        "--crl",
        crl,
        "--auth",
        "certificate",
        "--user",
        "alice:alice-pass-1",
        "--pool",
        "203.0.113.0/24",
        "--no-fail-closed",
        "--status-file",
        join(topo.dir, "srv.status.json"),
        "--control-socket",
        "off",
        "--metrics-listen",
        "off",
        "--log-format",
        "text",
      ]),
      "serve(cert)",
    );
    const connect = (): Proc =>
      watch(
        topo.spawn(c1, [
          process.execPath,
          "--import",
          "tsx",
          CLI,
          "connect",
          "198.51.100.2",
          "--cert",
          file("laptop.pem", pki.get("laptop").cert),
          "--key",
          file("laptop.key", pki.get("laptop").key),
          "--ca",
          ca,
          "--user",
          "alice",
          "--password-file",
          file("alice.pw", "alice-pass-1\n"),
          "--no-fail-closed",
          "--log-format",
          "text",
        ]),
        "connect(cert)",
      );
    try {
      await server.waitFor(/ready: listening/, 30_000);
      const client = connect();
      await client.waitFor(/phase 1 up/, 30_000);
      const p1 = await server.waitFor(/phase 1 up with/, 5_000);
      assert.match(p1, /\(ID O=Oakley Test, CN=laptop\): .*RSA signature; NAT: client behind NAT/);
      await client.waitFor(/PPP authenticated as alice/, 30_000);
      await client.waitFor(/address assigned: 203\.0\.113\.\d+/, 30_000);
      await topo.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "203.0.113.1"]);
      const data = randomBytes(1 << 20);
      const src = file("src.bin", "");
      writeFileSync(src, data);
      const dst = join(topo.dir, "dst.bin");
      const sink = topo.spawn(srv, [
        "socat",
        "-u",
        "TCP-LISTEN:5001,bind=203.0.113.1,reuseaddr",
        `CREATE:${dst}`,
      ]);
      const sinkDone = new Promise((r) => sink.once("exit", r));
      await new Promise((r) => setTimeout(r, 300));
      await topo.exec(
        c1,
        ["socat", "-u", `OPEN:${src}`, "TCP:203.0.113.1:5001,connect-timeout=10"],
        60_000,
      );
      await sinkDone;
      const h = (b: Buffer) => createHash("sha256").update(b).digest("hex");
      assert.equal(h(readFileSync(dst)), h(data), "TCP stream through L2TP/PPP/ESP intact");
      assert.equal(await stop(client), 0, "Ctrl-C ends the client cleanly");

      // Revoke the laptop: the running server re-reads the CRL file and refuses it next time.
      writeFileSync(crl, pki.crl("ca", ["laptop"]));
      await server.waitFor(/--crl .* changed: CRL reloaded/, 15_000);
      const again = connect();
      const refused = await server.waitFor(/is revoked by the CRL/, 30_000);
      assert.match(
        refused,
        /certificate "O=Oakley Test, CN=laptop" \(serial [0-9a-f]+\) is revoked by the CRL of "O=Oakley Test, CN=Oakley Test CA" \[OAK_E_CERT_REVOKED\]/,
      );
      const down = await again.waitFor(/failed|refused|INVALID-CERTIFICATE/, 30_000);
      assert.match(down, /INVALID-CERTIFICATE|main-mode/);
      await stop(again);
      assert.equal(await stop(server), 0, "the server stops cleanly");
    } finally {
      await stop(server);
      pki.dispose();
    }
  });
});
