/**
 * Test support (not used by the product): a throw-away X.509 PKI made with the `openssl`
 * command line tool (an independent implementation, so certificates are not our own output),
 * for src/crypto/cert.test.ts and the IKE certificate scenarios. RSA 2048 keys, or EC P-256 /
 * P-384 (`key`); names from RFC 2606 (.example) and RFC 5737 documentation addresses.
 *
 * makeTestPki() returns CAs and leaves by name; each item has PEM certificate and PKCS#8 key.
 * Certificates with given validity dates (expired ones) are issued by `openssl ca`, and
 * `crl(ca, revoked)` makes a CRL with `openssl ca -gencrl` from an index of revoked items.
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
  /** Key type (default RSA 2048). */
  readonly key?: "rsa" | "ec-p256" | "ec-p384";
  /** Validity as openssl writes it (YYYYMMDDHHMMSSZ), e.g. for an expired certificate. */
  readonly validity?: { readonly start: string; readonly end: string };
}

const KEY_ARGS: Record<NonNullable<LeafSpec["key"]>, readonly string[]> = {
  rsa: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
  "ec-p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ec-p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
};

export class TestPki {
  private readonly items = new Map<string, PkiItem>();
  private readonly serials = new Map<string, { issuer: string; serial: number; subj: string }>();
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
    const keyArgs =
      spec.key === undefined || spec.key === "rsa"
        ? ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${spec.bits ?? 2048}`]
        : KEY_ARGS[spec.key];
    this.openssl(["genpkey", ...keyArgs, "-out", `${name}.key`]);
    this.openssl(["req", "-new", "-key", `${name}.key`, "-subj", spec.subj, "-out", `${name}.csr`]);
    const days = String(spec.days ?? 3650);
    const serial = this.serial++;
    this.serials.set(name, { issuer: spec.issuer, serial, subj: spec.subj });
    if (spec.validity && spec.issuer !== "self") {
      this.caConfig(spec.issuer);
      writeFileSync(
        join(this.dir, "serial"),
        `${serial.toString(16).padStart(2, "0").toUpperCase()}\n`,
      );
      writeFileSync(join(this.dir, "index.txt"), "");
      this.openssl([
        "ca",
        "-batch",
        "-config",
        `${spec.issuer}.cnf`,
        "-in",
        `${name}.csr`,
        "-startdate",
        spec.validity.start,
        "-enddate",
        spec.validity.end,
        "-extfile",
        `${name}.ext`,
        "-notext",
        "-out",
        `${name}.pem`,
      ]);
    } else if (spec.issuer === "self") {
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
        String(serial),
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
        String(serial),
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

  /** A minimal `openssl ca` configuration for CA item `ca` (database index.txt in the dir). */
  private caConfig(ca: string): void {
    writeFileSync(
      join(this.dir, `${ca}.cnf`),
      [
        "[ca]",
        "default_ca = this",
        "[this]",
        `dir = ${this.dir}`,
        "database = $dir/index.txt",
        "new_certs_dir = $dir",
        "serial = $dir/serial",
        `certificate = $dir/${ca}.pem`,
        `private_key = $dir/${ca}.key`,
        "default_md = sha256",
        "default_crl_days = 30",
        "policy = any",
        "unique_subject = no",
        "copy_extensions = none",
        "[any]",
        "commonName = supplied",
        "organizationName = optional",
        "",
      ].join("\n"),
    );
  }

  /**
   * A PEM CRL signed by CA item `ca` listing items `revoked` (which it issued), made by
   * `openssl ca -gencrl` from an index of those items.
   */
  crl(ca: string, revoked: readonly string[]): string {
    this.caConfig(ca);
    const when = "250101000000Z";
    const lines = revoked.map((n) => {
      const s = this.serials.get(n);
      if (!s || s.issuer !== ca) throw new Error(`${n} was not issued by ${ca}`);
      const hex = s.serial.toString(16).toUpperCase();
      return `R\t491231235959Z\t${when}\t${hex.length % 2 ? `0${hex}` : hex}\tunknown\t${s.subj}`;
    });
    writeFileSync(join(this.dir, "index.txt"), lines.length ? `${lines.join("\n")}\n` : "");
    writeFileSync(join(this.dir, "crlnumber"), "01\n");
    this.openssl([
      "ca",
      "-batch",
      "-config",
      `${ca}.cnf`,
      "-gencrl",
      "-crldays",
      "30",
      "-out",
      `${ca}.crl`,
    ]);
    return readFileSync(join(this.dir, `${ca}.crl`), "utf8");
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
