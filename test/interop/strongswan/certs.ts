/**
 * Throw-away X.509 test PKI for certificate-authenticated IKEv1 (RFC 2409 section 5.1,
 * signature authentication): a CA, a server and a client certificate (RSA 2048), made with
 * the openssl command line tool into a temp dir, returned as swanctl file maps
 * ("x509ca/ca.pem", "x509/<name>.pem", "private/<name>.pem") for CharonOptions.files.
 * Names only from reserved domains (RFC 2606 .example) and documentation addresses.
 *
 * Leaves out: CRLs/OCSP, ECDSA keys (add when a test needs them).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LAB_ADDR } from "./lab.js";
import { runOk } from "./proc.js";

export interface TestPki {
  readonly caPem: string;
  /** IKE identities (subject DNs as strongSwan writes them). */
  readonly serverId: string;
  readonly clientId: string;
  /** swanctl file maps for each side. */
  readonly server: Readonly<Record<string, string>>;
  readonly client: Readonly<Record<string, string>>;
  /** PEM of the certificates and PKCS#8 keys, for non-strongSwan peers (Oakley). */
  readonly pem: {
    readonly serverCert: string;
    readonly serverKey: string;
    readonly clientCert: string;
    readonly clientKey: string;
  };
}

let cached: Promise<TestPki> | undefined;

/** Creates (once per process) the test PKI. */
export function certificateFiles(): Promise<TestPki> {
  cached ??= makePki();
  return cached;
}

async function makePki(): Promise<TestPki> {
  const d = mkdtempSync(join(tmpdir(), "oak-ss-pki-"));
  try {
    const o = (args: string[]): Promise<string> =>
      runOk("openssl", args, { cwd: d, timeoutMs: 60_000 });
    await o([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "3650",
      "-subj",
      "/O=Oakley Test/CN=Oakley Test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    const leaf = async (name: string, cn: string, san: string): Promise<void> => {
      await o([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        `/O=Oakley Test/CN=${cn}`,
      ]);
      writeFileSync(join(d, `${name}.ext`), `subjectAltName=${san}\nkeyUsage=digitalSignature\n`);
      await o([
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        `${name}.pem`,
        "-days",
        "3650",
        "-extfile",
        `${name}.ext`,
      ]);
    };
    await leaf("server", "oak-server.example", `IP:${LAB_ADDR.server},DNS:oak-server.example`);
    await leaf("client", "oak-client.example", "DNS:oak-client.example");
    const rd = (f: string): string => readFileSync(join(d, f), "utf8");
    const ca = rd("ca.pem");
    const pem = {
      serverCert: rd("server.pem"),
      serverKey: rd("server.key"),
      clientCert: rd("client.pem"),
      clientKey: rd("client.key"),
    };
    return {
      caPem: ca,
      serverId: "O=Oakley Test, CN=oak-server.example",
      clientId: "O=Oakley Test, CN=oak-client.example",
      server: {
        "x509ca/ca.pem": ca,
        "x509/server.pem": pem.serverCert,
        "private/server.pem": pem.serverKey,
      },
      client: {
        "x509ca/ca.pem": ca,
        "x509/client.pem": pem.clientCert,
        "private/client.pem": pem.clientKey,
      },
      pem,
    };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}
