/**
 * Scenario: Oakley <-> Oakley Main Mode with RSA signatures (RFC 2409 §5.1) on the
 * deterministic simulator, with a PKI made by the openssl CLI (test/helpers/pki.ts; an
 * independent implementation made every certificate). Checks: CERTREQ with the CA's DER DN in
 * MM3/MM4 (RFC 2408 §3.10; strongSwan sends them there too), CERT (encoding 4) and SIG in
 * MM5/MM6 (parsed back from the bytes on the wire), ID_DER_ASN1_DN and ID_FQDN identities,
 * across a NAT (float to 4500), KEYMAT symmetry. Negative: untrusted CA (both directions),
 * ID not in the certificate, expired by the wall clock, CA:FALSE intermediate, no common auth
 * method; PSK still served next to certificates.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { makeTestPki } from "../helpers/pki.js";
import { IkeErrorCode, type IkeConfigInput, addressSelector } from "../../src/ike/index.js";
import {
  CertEncoding,
  NotifyType,
  PayloadType,
  parseIsakmpMessage,
} from "../../src/wire/isakmp/index.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { childPairMatches, PSK, SimIkePeer } from "./ike-sim.js";

const pki = makeTestPki();
after(() => pki.dispose());
pki.ca("ca", "Oakley Test CA");
pki.ca("other-ca", "Other CA");
pki.add({
  name: "notca",
  subj: "/O=Oakley Test/CN=Not A CA",
  issuer: "ca",
  ext: ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,keyCertSign,digitalSignature"],
});
pki.add({
  name: "server",
  subj: "/O=Oakley Test/CN=vpn.example",
  issuer: "ca",
  ext: ["subjectAltName=DNS:vpn.example,IP:198.51.100.2", "keyUsage=digitalSignature"],
});
pki.add({
  name: "client",
  subj: "/O=Oakley Test/CN=client.example",
  issuer: "ca",
  ext: ["subjectAltName=DNS:client.example", "keyUsage=digitalSignature"],
});
pki.add({
  name: "rogue",
  subj: "/O=Oakley Test/CN=client.example",
  issuer: "other-ca",
  ext: ["subjectAltName=DNS:client.example"],
});
for (const [name, key] of [
  ["ec-server", "ec-p256"],
  ["ec-client", "ec-p384"],
] as const)
  pki.add({
    name,
    subj: `/O=Oakley Test/CN=${name}.example`,
    issuer: "ca",
    key,
    ext: [`subjectAltName=DNS:${name}.example`, "keyUsage=digitalSignature"],
  });
pki.add({
  name: "revoked-client",
  subj: "/O=Oakley Test/CN=revoked.example",
  issuer: "ca",
  ext: ["subjectAltName=DNS:revoked.example", "keyUsage=digitalSignature"],
});
pki.add({
  name: "under-notca",
  subj: "/O=Oakley Test/CN=under.example",
  issuer: "notca",
  ext: ["subjectAltName=DNS:under.example"],
});

const SERVER = "198.51.100.2";
const CA = pki.get("ca").cert;
const creds = (name: string, cas = [CA], chain = "") => ({
  certificates: {
    certificate: pki.get(name).cert + chain,
    privateKey: pki.get(name).key,
    trustedCas: cas,
  },
});
const L2TP = (a: string) => addressSelector(a, 17, 1701);
const TWENTY_YEARS = 20 * 365 * 86_400_000;

function run(
  serverCfg: IkeConfigInput,
  clientCfg: IkeConfigInput,
  opts: { clientNat?: boolean } = {},
) {
  const sim = new Simulator(7);
  const net = new SimNetwork(sim);
  const server = new SimIkePeer(sim, net.host(SERVER), serverCfg, 71);
  const cAddr = opts.clientNat ? "192.0.2.2" : "203.0.113.9";
  const realm = opts.clientNat ? net.nat("198.51.100.1").inside : net.internet;
  const client = new SimIkePeer(
    sim,
    net.host(cAddr, realm),
    {
      phase1: { offers: [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 14 }] },
      ...clientCfg,
    },
    72,
  );
  client.initiate({
    peer: { address: SERVER, port: 500 },
    phase2: { mode: "transport", local: L2TP(cAddr), remote: L2TP(SERVER) },
  });
  sim.runUntilTrue(
    () =>
      (client.installed.size > 0 && server.installed.size > 0) ||
      client.eventsOf("failed").length > 0 ||
      server.eventsOf("failed").length > 0,
    30_000,
  );
  sim.runFor(2_000);
  return { sim, server, client };
}

function payloadsOf(data: Buffer) {
  const m = parseIsakmpMessage(data);
  assert.ok(m.ok && !m.value.encrypted);
  return m.value.payloads;
}

describe("IKEv1 Main Mode with RSA signatures (simulator)", () => {
  it("both ends with certificates: CR in MM3/MM4, MM+QM up, DN identities, keys agree", () => {
    const { server, client } = run(creds("server"), creds("client"));
    assert.equal(client.eventsOf("failed").length, 0, JSON.stringify(client.eventsOf("failed")));
    assert.equal(server.eventsOf("failed").length, 0, JSON.stringify(server.eventsOf("failed")));
    const s = [...server.installed.values()][0];
    const c = [...client.installed.values()][0];
    assert.ok(s && c && childPairMatches(c, s));
    const sup = server.eventsOf("phase1-up")[0]!;
    assert.match(sup.suite, /RSA signature$/);
    assert.equal(sup.peerId, "O=Oakley Test, CN=client.example");
    assert.equal(sup.peerCertificate, "O=Oakley Test, CN=client.example");
    const cup = client.eventsOf("phase1-up")[0]!;
    assert.equal(cup.peerId, "O=Oakley Test, CN=vpn.example");
    // MM1 offers only the RSA-signature method (attribute 3 = 3); MM3 and MM4 carry a CERTREQ
    // for the CA (encoding 4, its DER subject as openssl wrote it)
    const caDn = pki.inspect("ca", ["-subject", "-nameopt", "RFC2253"]).trim();
    assert.equal(caDn, "subject=CN=Oakley Test CA,O=Oakley Test");
    const mm3 = payloadsOf(client.sent()[1]!.data);
    const mm4 = payloadsOf(server.sent()[1]!.data);
    for (const msg of [mm3, mm4]) {
      const cr = msg.find((p) => p.type === PayloadType.CR);
      assert.ok(cr && cr.type === PayloadType.CR);
      assert.equal(cr.encoding, CertEncoding.X509_SIGNATURE);
      assert.match(cr.authority.toString("latin1"), /Oakley Test CA/);
    }
  });

  it("client behind NAT, ID_FQDN identity matched against the subjectAltName; server answers with its DN", () => {
    const { server, client } = run(
      creds("server"),
      {
        ...creds("client"),
        identity: { kind: "fqdn", name: "client.example" },
      },
      { clientNat: true },
    );
    assert.ok(
      client.installed.size > 0 && server.installed.size > 0,
      JSON.stringify(server.eventsOf("failed")),
    );
    const sup = server.eventsOf("phase1-up")[0]!;
    assert.equal(sup.peerId, "client.example");
    assert.equal(sup.nat.peerBehindNat, true);
    assert.ok(
      client
        .sent()
        .slice(2)
        .every((m) => m.from.port === 4500),
      "MM5 onwards on 4500",
    );
  });

  it("client certificate from another CA: refused with INVALID-CERTIFICATE, nothing installed", () => {
    const { server, client } = run(creds("server"), creds("rogue", [CA]));
    const f = server.eventsOf("failed")[0];
    assert.ok(f, "server failed");
    assert.equal(f.code, IkeErrorCode.CertificateInvalid);
    assert.match(f.message, /no configured CA issued|OAK_E_CERT_UNTRUSTED/);
    assert.equal(server.eventsOf("phase1-up").length, 0);
    assert.equal(client.installed.size + server.installed.size, 0);
    const notify = server.sent().at(-1)!;
    const n = payloadsOf(notify.data).find((p) => p.type === PayloadType.N);
    assert.ok(n && n.type === PayloadType.N && n.notifyType === NotifyType.INVALID_CERTIFICATE);
    assert.equal(server.counters.get(`ike_fail{reason="${IkeErrorCode.CertificateInvalid}"}`), 1n);
  });

  it("server certificate not trusted by the client: the client refuses MM6", () => {
    const { client } = run(creds("server"), creds("client", [pki.get("other-ca").cert]));
    const f = client.eventsOf("failed")[0];
    assert.ok(f);
    assert.equal(f.code, IkeErrorCode.CertificateInvalid);
    assert.match(f.message, /^MM6 from/);
    assert.equal(client.eventsOf("phase1-up").length, 0);
    assert.equal(client.installed.size, 0);
  });

  it("ID not in the certificate: AUTHENTICATION-FAILED (ID mismatch)", () => {
    const { server } = run(creds("server"), {
      ...creds("client"),
      identity: { kind: "fqdn", name: "someone-else.example" },
    });
    const f = server.eventsOf("failed")[0];
    assert.ok(f);
    assert.equal(f.code, IkeErrorCode.CertificateIdMismatch);
    assert.match(f.message, /someone-else\.example is not in certificate/);
  });

  it("expired by the server's wall clock (20 years later)", () => {
    const { server } = run(
      { ...creds("server"), wallClock: () => Date.now() + TWENTY_YEARS },
      creds("client"),
    );
    const f = server.eventsOf("failed")[0];
    assert.ok(f);
    assert.equal(f.code, IkeErrorCode.CertificateInvalid);
    assert.match(f.message, /expired/);
  });

  it("a leaf under a CA:FALSE intermediate is refused even when the peer sends the intermediate", () => {
    const { server } = run(creds("server"), creds("under-notca", [CA], pki.get("notca").cert));
    const f = server.eventsOf("failed")[0];
    assert.ok(f);
    assert.equal(f.code, IkeErrorCode.CertificateInvalid);
    assert.match(f.message, /not a CA/);
  });

  it("no common method (client rsa-sig only, server PSK only): NO-PROPOSAL-CHOSEN", () => {
    const { server } = run({ psks: [{ secret: PSK }] }, creds("client"));
    const f = server.eventsOf("failed")[0];
    assert.ok(f);
    assert.equal(f.code, IkeErrorCode.NoProposalChosen);
  });

  it("a server with certificates and a PSK still serves PSK clients", () => {
    const { server, client } = run(
      { ...creds("server"), psks: [{ secret: PSK }] },
      { psks: [{ secret: PSK }] },
    );
    assert.ok(client.installed.size > 0 && server.installed.size > 0);
    assert.match(server.eventsOf("phase1-up")[0]!.suite, /pre-shared key$/);
  });

  it("unusable certificate configuration: a start-up warning, rsa-sig not offered", () => {
    const sim = new Simulator(1);
    const net = new SimNetwork(sim);
    const p = new SimIkePeer(
      sim,
      net.host(SERVER),
      {
        certificates: {
          certificate: pki.get("server").cert,
          privateKey: pki.get("client").key,
          trustedCas: [CA],
        },
      },
      1,
    );
    assert.match(
      p.engine.startupWarnings.join("\n"),
      /certificate authentication is disabled: .*does not belong/,
    );
  });
});

describe("certificates: ECDSA, CRLs, the server's name (simulator)", () => {
  it("ECDSA on different curves (P-256 server, P-384 client) do not meet: one method per SA", () => {
    // IKEv1 negotiates one authentication method for both ends (RFC 4754 §4 ties it to the
    // curve); the client offers ECDSA-384 (its key), the server accepts only ECDSA-256.
    const { server, client } = run(creds("ec-server"), creds("ec-client"));
    assert.equal(server.installed.size + client.installed.size, 0);
    assert.equal(server.eventsOf("failed")[0]?.code, IkeErrorCode.NoProposalChosen);
    assert.match(client.eventsOf("failed")[0]?.message ?? "", /NO-PROPOSAL-CHOSEN/);
  });

  it("ECDSA P-256 on both sides: suite names ECDSA-256, SIG is r | s of 64 octets", () => {
    pki.add({
      name: "ec-client256",
      subj: "/O=Oakley Test/CN=ec-client256.example",
      issuer: "ca",
      key: "ec-p256",
      ext: ["subjectAltName=DNS:ec-client256.example", "keyUsage=digitalSignature"],
    });
    const { server, client } = run(creds("ec-server"), creds("ec-client256"));
    assert.equal(client.eventsOf("failed").length, 0, JSON.stringify(client.eventsOf("failed")));
    assert.equal(server.eventsOf("failed").length, 0, JSON.stringify(server.eventsOf("failed")));
    assert.match(server.eventsOf("phase1-up")[0]!.suite, /ECDSA-256 signature$/);
    assert.equal(server.eventsOf("phase1-up")[0]!.peerId, "O=Oakley Test, CN=ec-client256.example");
    assert.ok(server.installed.size > 0 && client.installed.size > 0);
    // MM1 proposes authentication method 9 (ECDSA with SHA-256 on P-256), RFC 4754 §4.
    const mm1 = payloadsOf(client.sent()[0]!.data);
    const sa = mm1.find((p) => p.type === PayloadType.SA);
    assert.ok(sa && sa.type === PayloadType.SA);
    const attrs = sa.proposals[0]!.transforms[0]!.attributes;
    assert.equal(attrs.find((a) => a.type === 3)?.value, 9);
  });

  it("a client whose certificate is on the CA's CRL is refused: INVALID-CERTIFICATE, OAK_E_CERT_REVOKED", () => {
    const crl = pki.crl("ca", ["revoked-client"]);
    const serverCfg = {
      certificates: { ...creds("server").certificates, crls: [crl] },
    };
    const { server, client } = run(serverCfg, creds("revoked-client"));
    const f = server.eventsOf("failed")[0];
    assert.ok(f, "server refused");
    assert.equal(f.code, IkeErrorCode.CertificateInvalid);
    assert.match(
      f.message,
      /O=Oakley Test, CN=revoked\.example.*is revoked by the CRL of "O=Oakley Test, CN=Oakley Test CA".*OAK_E_CERT_REVOKED/,
    );
    assert.equal(server.installed.size, 0);
    assert.equal(client.installed.size, 0);
    // Another client of the same CA still gets in with that CRL in force.
    const ok2 = run(serverCfg, creds("client"));
    assert.equal(ok2.server.eventsOf("failed").length, 0);
    assert.ok(ok2.server.installed.size > 0);
  });

  it("a CRL given later (reconfigure) refuses the next handshake of a revoked client", () => {
    const sim = new Simulator(9);
    const net = new SimNetwork(sim);
    const server = new SimIkePeer(sim, net.host(SERVER), creds("server"), 91);
    const dial = (seed: number, addr: string) => {
      const c = new SimIkePeer(sim, net.host(addr), creds("revoked-client"), seed);
      c.initiate({
        peer: { address: SERVER, port: 500 },
        phase2: { mode: "transport", local: L2TP(addr), remote: L2TP(SERVER) },
      });
      sim.runFor(10_000);
      return c;
    };
    const first = dial(92, "203.0.113.20");
    assert.ok(first.installed.size > 0, "in before the CRL");
    server.engine.reconfigure({
      ...server.engine.config,
      certificates: { ...creds("server").certificates, crls: [pki.crl("ca", ["revoked-client"])] },
    });
    const second = dial(93, "203.0.113.21");
    assert.equal(second.installed.size, 0);
    assert.match(server.eventsOf("failed").at(-1)?.message ?? "", /OAK_E_CERT_REVOKED/);
  });

  it("the client refuses a server whose certificate (same CA) does not name the server dialled", () => {
    const clientCfg = {
      certificates: { ...creds("client").certificates, peerNames: ["other-vpn.example"] },
    };
    const { client, server } = run(creds("server"), clientCfg);
    const f = client.eventsOf("failed")[0];
    assert.ok(f, "client refused the server");
    assert.match(f.message, /does not name other-vpn\.example/);
    assert.equal(server.installed.size, 0);
    // The right name (DNS) or address (IP SAN) is accepted.
    for (const name of ["vpn.example", SERVER]) {
      const good = run(creds("server"), {
        certificates: { ...creds("client").certificates, peerNames: [name] },
      });
      assert.equal(good.client.eventsOf("failed").length, 0, name);
      assert.ok(good.client.installed.size > 0, name);
    }
  });
});
