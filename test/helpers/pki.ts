/**
 * Test support (not used by the product): a throw-away X.509 PKI made with the `openssl`
 * command line tool (an independent implementation, so certificates are not our own output),
 * for src/crypto/cert.test.ts and the IKE certificate scenarios. RSA 2048 keys; names from
 * RFC 2606 (.example) and RFC 5737 documentation addresses.
 *
 * makeTestPki() returns CAs and leaves by name; each item has PEM certificate and PKCS#8 key.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PkiItem {
  readonly cert: string;
  readonly key: string;
  readonly keyFile: string;
}

export interface LeafSpec {
  readonly name: string;
  /** "/O=.../CN=..." */
  readonly subj: string;
  /** Issuer item name ("self" for a self-signed certificate). */
  readonly issuer: string;
  /** Extension lines (openssl x509v3_config), e.g. "subjectAltName=DNS:a.example". */
  readonly ext: readonly string[];
  readonly days?: number;
  /** RSA key size (default 2048). */
  readonly bits?: number;
}

export class TestPki {
  private readonly items = new Map<string, PkiItem>();
  private serial = 1;

  constructor(readonly dir: string) {}

  private openssl(args: readonly string[], input?: Buffer): Buffer {
    return execFileSync("openssl", args, {
      cwd: this.dir,
      ...(input ? { input } : {}),
      stdio: ["pipe", "pipe", "pipe"],
    });
  }

  get(name: string): PkiItem {
    const i = this.items.get(name);
    if (!i) throw new Error(`no PKI item ${name}`);
    return i;
  }

  /** A certificate from `spec` (CAs: ext "basicConstraints=critical,CA:TRUE", ...). */
  add(spec: LeafSpec): PkiItem {
    const { name } = spec;
    writeFileSync(join(this.dir, `${name}.ext`), `${spec.ext.join("\n")}\n`);
    this.openssl([
      "genpkey",
      "-algorithm",
      "RSA",
      "-pkeyopt",
      `rsa_keygen_bits:${spec.bits ?? 2048}`,
      "-out",
      `${name}.key`,
    ]);
    this.openssl(["req", "-new", "-key", `${name}.key`, "-subj", spec.subj, "-out", `${name}.csr`]);
    const days = String(spec.days ?? 3650);
    if (spec.issuer === "self") {
      this.openssl([
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-signkey",
        `${name}.key`,
        "-days",
        days,
        "-extfile",
        `${name}.ext`,
        "-set_serial",
        String(this.serial++),
        "-out",
        `${name}.pem`,
      ]);
    } else {
      this.openssl([
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        `${spec.issuer}.pem`,
        "-CAkey",
        `${spec.issuer}.key`,
        "-days",
        days,
        "-extfile",
        `${name}.ext`,
        "-set_serial",
        String(this.serial++),
        "-out",
        `${name}.pem`,
      ]);
    }
    const item = {
      cert: readFileSync(join(this.dir, `${name}.pem`), "utf8"),
      key: readFileSync(join(this.dir, `${name}.key`), "utf8"),
      keyFile: join(this.dir, `${name}.key`),
    };
    this.items.set(name, item);
    return item;
  }

  ca(
    name: string,
    cn: string,
    issuer = "self",
    extra: readonly string[] = [],
    bits?: number,
  ): PkiItem {
    return this.add({
      name,
      ...(bits ? { bits } : {}),
      subj: `/O=Oakley Test/CN=${cn}`,
      issuer,
      ext: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign", ...extra],
    });
  }

  /** RSA PKCS#1 v1.5 signature of raw input without DigestInfo (`openssl pkeyutl -sign`). */
  rawSign(name: string, data: Buffer): Buffer {
    return this.openssl(
      ["pkeyutl", "-sign", "-inkey", this.get(name).keyFile, "-pkeyopt", "rsa_padding_mode:pkcs1"],
      data,
    );
  }

  /** `openssl x509 -noout <args>` output for an item's certificate. */
  inspect(name: string, args: readonly string[]): string {
    return this.openssl(["x509", "-noout", "-in", `${name}.pem`, ...args]).toString("utf8");
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function makeTestPki(): TestPki {
  return new TestPki(mkdtempSync(join(tmpdir(), "oak-cert-pki-")));
}
