/**
 * A small certificate authority for `oakley pki`: the CA certificate, server and client
 * certificates for IKEv1 certificate authentication, the CRL, and PKCS#12 bundles for devices.
 *
 * The ASN.1 is PKI.js's (certificates, CRLs, PKCS#12 per RFC 5280 and RFC 7292); keys and
 * signatures are node:crypto's (WebCrypto for the PKI.js signing calls). No file I/O here: the
 * caller passes keys, the time and the serial numbers, and writes what comes back (store.ts).
 *
 * Profile (RFC 5280):
 *  - CA: basicConstraints critical cA=TRUE pathLen 0; keyUsage critical keyCertSign+cRLSign.
 *  - server: basicConstraints cA=FALSE; keyUsage critical digitalSignature (+keyEncipherment for
 *    RSA); extendedKeyUsage serverAuth + id-kp-ipsecIKE-intermediate 1.3.6.1.5.5.8.2.2, which
 *    Windows and macOS look for on an L2TP/IPsec server certificate; subjectAltName DNS/IP.
 *  - client: the same, with clientAuth; subjectAltName rfc822Name when the name is an email
 *    address, dNSName when it is a host name, otherwise only CN=NAME.
 * All carry subjectKeyIdentifier (SHA-1 of the key, RFC 5280 4.2.1.2 method 1) and, below the
 * CA, authorityKeyIdentifier. Signatures: sha256WithRSAEncryption, ecdsa-with-SHA256 (P-256),
 * ecdsa-with-SHA384 (P-384).
 *
 * PKCS#12: the key in a PKCS8ShroudedKeyBag, the certificates in an unencrypted SafeContents
 * (they are public), the whole protected by a password MAC. Two profiles:
 *  - "modern" (default): key under PBES2 = PBKDF2-HMAC-SHA256 + AES-256-CBC, HMAC-SHA256 MAC:
 *    the profile OpenSSL 3 writes by default, which current Windows, macOS and Android import.
 *  - "legacy" (--p12-legacy): key under pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix C),
 *    HMAC-SHA1 MAC: OpenSSL's `-legacy` profile without RC2 (the certificates are not
 *    encrypted), for importers older than PBES2 support, which report a wrong password on the
 *    modern file (older Android releases and macOS keychains). PKI.js has no PKCS#12 PBE, so
 *    the RFC 7292 appendix B key derivation is here (checked against OpenSSL's PKCS12KDF).
 * Iterations: 2048, OpenSSL's default (PKCS12_DEFAULT_ITER); a generated password has 100
 * bits, so the count is not what protects the file.
 */
import {
  createCipheriv,
  createHash,
  createPublicKey,
  type KeyObject,
  webcrypto,
} from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

export const KEY_TYPES = ["rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export type CertKind = "ca" | "server" | "client";

const engine = new pkijs.CryptoEngine({
  name: "node",
  crypto: webcrypto as unknown as pkijs.CryptoEngineParameters["crypto"],
});

/** OIDs (RFC 5280 4.2.1.12, RFC 4945 5.1.3.12, RFC 7292 appendix D). */
const OID = {
  commonName: "2.5.4.3",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  ipsecIkeIntermediate: "1.3.6.1.5.5.8.2.2",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  crlNumber: "2.5.29.20",
  reasonCode: "2.5.29.21",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  pbeWithSha1And3KeyTripleDesCbc: "1.2.840.113549.1.12.1.3",
} as const;

/** keyUsage bit positions (RFC 5280 4.2.1.3). */
const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/** CRL reasons (RFC 5280 5.3.1) that an operator can name. */
export const REVOKE_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
} as const;
export type RevokeReason = keyof typeof REVOKE_REASONS;

function keyAlgorithm(key: KeyObject): {
  alg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
  hash: string;
} {
  if (key.asymmetricKeyType === "rsa")
    return { alg: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, hash: "SHA-256" };
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1")
      return { alg: { name: "ECDSA", namedCurve: "P-256" }, hash: "SHA-256" };
    if (curve === "secp384r1")
      return { alg: { name: "ECDSA", namedCurve: "P-384" }, hash: "SHA-384" };
  }
  throw new Error(`unsupported key type ${key.asymmetricKeyType ?? "?"}`);
}

/** Describes a private key the way --key names it ("rsa-3072"), or undefined for another kind. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength;
    const t = `rsa-${bits}`;
    return (KEY_TYPES as readonly string[]).includes(t) ? (t as KeyType) : undefined;
  }
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === "prime256v1" ? "ecdsa-p256" : curve === "secp384r1" ? "ecdsa-p384" : undefined;
  }
  return undefined;
}

async function signingKey(key: KeyObject): Promise<{ key: webcrypto.CryptoKey; hash: string }> {
  const { alg, hash } = keyAlgorithm(key);
  const der = key.export({ type: "pkcs8", format: "der" });
  return { key: await webcrypto.subtle.importKey("pkcs8", der, alg, false, ["sign"]), hash };
}

function publicKeyInfo(key: KeyObject): pkijs.PublicKeyInfo {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const der = pub.export({ type: "spki", format: "der" });
  return pkijs.PublicKeyInfo.fromBER(der);
}

function time(d: Date): pkijs.Time {
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return new pkijs.Time({ type: d.getUTCFullYear() < 2050 ? 0 : 1, value: d });
}

function commonName(cn: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [
      new pkijs.AttributeTypeAndValue({
        type: OID.commonName,
        value: new asn1js.Utf8String({ value: cn }),
      }),
    ],
  });
}

function keyUsage(bits: readonly number[]): asn1js.BitString {
  let v = 0;
  for (const b of bits) v |= 0x80 >> b;
  // DER named bit list: trailing zero bits are not encoded (X.690 11.2.2).
  let unused = 0;
  while (unused < 7 && (v & (1 << unused)) === 0) unused++;
  return new asn1js.BitString({ valueHex: new Uint8Array([v]), unusedBits: unused });
}

function extension(
  id: string,
  critical: boolean,
  value: { toSchema(): asn1js.BaseBlock } | asn1js.BaseBlock,
): pkijs.Extension {
  const schema = "toSchema" in value ? value.toSchema() : value;
  return new pkijs.Extension({ extnID: id, critical, extnValue: schema.toBER(false) });
}

function keyIdentifier(spki: pkijs.PublicKeyInfo): Uint8Array {
  return createHash("sha1").update(spki.subjectPublicKey.valueBlock.valueHexView).digest();
}

function serialInteger(serial: Uint8Array): asn1js.Integer {
  return new asn1js.Integer({ valueHex: serial });
}

/** A fresh serial number from 16 random bytes: positive, no leading zero byte (RFC 5280 4.1.2.2). */
export function serialFrom(random: Uint8Array): Uint8Array {
  if (random.length < 9) throw new Error("a serial needs at least 9 random bytes");
  const s = Uint8Array.from(random.subarray(0, 16));
  s[0] = ((s[0] ?? 0) & 0x7f) | 0x40;
  return s;
}

export const toPem = (label: string, der: ArrayBuffer | Uint8Array): string => {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;
};

export function fromPem(label: string, pem: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(
    pem,
  );
  if (!m?.[1]) throw new Error(`no ${label} in PEM text`);
  return Buffer.from(m[1].replace(/\s+/g, ""), "base64");
}

export type SubjectAltName =
  | { readonly type: "dns"; readonly value: string }
  | { readonly type: "ip"; readonly value: Uint8Array }
  | { readonly type: "email"; readonly value: string };

export interface CertRequest {
  readonly kind: CertKind;
  readonly commonName: string;
  readonly subjectAltNames: readonly SubjectAltName[];
  /** The subject's public (or private) key. */
  readonly subjectKey: KeyObject;
  readonly serial: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface Issuer {
  /** The CA certificate (DER); absent when the certificate signs itself. */
  readonly cert?: Uint8Array;
  readonly key: KeyObject;
}

function generalName(n: SubjectAltName): pkijs.GeneralName {
  if (n.type === "dns") return new pkijs.GeneralName({ type: 2, value: n.value });
  if (n.type === "email") return new pkijs.GeneralName({ type: 1, value: n.value });
  return new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: n.value }) });
}

/** Builds and signs one certificate; returns its DER. */
export async function signCertificate(req: CertRequest, issuer: Issuer): Promise<Uint8Array> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = serialInteger(req.serial);
  cert.subject = commonName(req.commonName);
  cert.notBefore = time(req.notBefore);
  cert.notAfter = time(req.notAfter);
  cert.subjectPublicKeyInfo = publicKeyInfo(req.subjectKey);
  const ski = keyIdentifier(cert.subjectPublicKeyInfo);
  const exts: pkijs.Extension[] = [];
  if (req.kind === "ca") {
    if (issuer.cert !== undefined) throw new Error("a CA certificate here signs itself");
    cert.issuer = commonName(req.commonName);
    exts.push(
      extension(
        OID.basicConstraints,
        true,
        new pkijs.BasicConstraints({ cA: true, pathLenConstraint: 0 }),
      ),
      extension(OID.keyUsage, true, keyUsage([KU.keyCertSign, KU.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: ski })),
    );
  } else {
    if (issuer.cert === undefined) throw new Error("an end-entity certificate needs the CA");
    const ca = pkijs.Certificate.fromBER(issuer.cert);
    cert.issuer = ca.subject;
    const usage: number[] = [KU.digitalSignature];
    if (req.subjectKey.asymmetricKeyType === "rsa") usage.push(KU.keyEncipherment);
    const eku =
      req.kind === "server"
        ? [OID.serverAuth, OID.ipsecIkeIntermediate]
        : [OID.clientAuth, OID.ipsecIkeIntermediate];
    exts.push(
      extension(OID.basicConstraints, false, new pkijs.BasicConstraints({ cA: false })),
      extension(OID.keyUsage, true, keyUsage(usage)),
      extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: eku })),
      extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: ski })),
      extension(
        OID.authorityKeyIdentifier,
        false,
        new pkijs.AuthorityKeyIdentifier({
          keyIdentifier: new asn1js.OctetString({
            valueHex: keyIdentifier(ca.subjectPublicKeyInfo),
          }),
        }),
      ),
    );
    if (req.subjectAltNames.length > 0)
      exts.push(
        extension(
          OID.subjectAltName,
          false,
          new pkijs.AltName({ altNames: req.subjectAltNames.map(generalName) }),
        ),
      );
  }
  cert.extensions = exts;
  const { key, hash } = await signingKey(issuer.key);
  await cert.sign(key, hash, engine);
  return new Uint8Array(cert.toSchema(true).toBER(false));
}

export interface RevokedEntry {
  readonly serial: Uint8Array;
  readonly revokedAt: Date;
  readonly reason?: RevokeReason;
}

export interface CrlRequest {
  readonly number: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revoked: readonly RevokedEntry[];
}

/** Builds and signs a v2 CRL (RFC 5280 5.1) with a CRL number and the CA's key identifier. */
export async function signCrl(req: CrlRequest, issuer: Required<Issuer>): Promise<Uint8Array> {
  const ca = pkijs.Certificate.fromBER(issuer.cert);
  const crl = new pkijs.CertificateRevocationList();
  crl.version = 1;
  crl.issuer = ca.subject;
  crl.thisUpdate = time(req.thisUpdate);
  crl.nextUpdate = time(req.nextUpdate);
  // RFC 5280 5.1.2.6: with no revoked certificates the list is absent, not empty.
  if (req.revoked.length > 0)
    crl.revokedCertificates = req.revoked.map(
      (r) =>
        new pkijs.RevokedCertificate({
          userCertificate: serialInteger(r.serial),
          revocationDate: time(r.revokedAt),
          ...(r.reason !== undefined && r.reason !== "unspecified"
            ? {
                crlEntryExtensions: new pkijs.Extensions({
                  extensions: [
                    extension(
                      OID.reasonCode,
                      false,
                      new asn1js.Enumerated({ value: REVOKE_REASONS[r.reason] }),
                    ),
                  ],
                }),
              }
            : {}),
        }),
    );
  crl.crlExtensions = new pkijs.Extensions({
    extensions: [
      extension(
        OID.authorityKeyIdentifier,
        false,
        new pkijs.AuthorityKeyIdentifier({
          keyIdentifier: new asn1js.OctetString({
            valueHex: keyIdentifier(ca.subjectPublicKeyInfo),
          }),
        }),
      ),
      extension(OID.crlNumber, false, integerOf(req.number)),
    ],
  });
  const { key, hash } = await signingKey(issuer.key);
  await crl.sign(key, hash, engine);
  return new Uint8Array(crl.toSchema(true).toBER(false));
}

export interface CrlInfo {
  readonly number?: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** Revoked serials, hex upper case. */
  readonly revoked: readonly string[];
}

function crlNumberOf(e: pkijs.Extension): bigint {
  const v = asn1js.fromBER(e.extnValue.valueBlock.valueHexView).result;
  if (!(v instanceof asn1js.Integer)) throw new Error("CRL number is not an INTEGER");
  return v.toBigInt();
}

/** Reads back a CRL (DER); throws on bytes that are not one (the caller's file is damaged). */
export function crlInfo(der: Uint8Array): CrlInfo {
  const crl = pkijs.CertificateRevocationList.fromBER(der);
  const n = crl.crlExtensions?.extensions.find((e) => e.extnID === OID.crlNumber);
  const hexOf = (i: asn1js.Integer) =>
    Buffer.from(i.valueBlock.valueHexView)
      .toString("hex")
      .toUpperCase()
      .replace(/^(00)+(?=.)/, "");
  return {
    ...(n ? { number: crlNumberOf(n) } : {}),
    thisUpdate: crl.thisUpdate.value,
    ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate.value } : {}),
    revoked: (crl.revokedCertificates ?? []).map((r) => hexOf(r.userCertificate)),
  };
}

function integerOf(n: bigint): asn1js.Integer {
  if (n < 0n) throw new Error("negative CRL number");
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return new asn1js.Integer({ valueHex: Buffer.from(hex, "hex") });
}

// ---------------------------------------------------------------------------- PKCS#12

export type P12Profile = "modern" | "legacy";

export interface P12Request {
  readonly cert: Uint8Array;
  readonly key: KeyObject;
  readonly caCerts: readonly Uint8Array[];
  readonly password: string;
  readonly friendlyName: string;
  readonly profile: P12Profile;
  /** Salt and IV bytes for the legacy key encryption (the caller's randomness). */
  readonly random: (n: number) => Uint8Array;
}

const P12_ITERATIONS = 2048;

/**
 * RFC 7292 appendix B.2 key derivation (SHA-1, v = 64): `id` 1 = key, 2 = IV, 3 = MAC key.
 * The password is the BMPString (UTF-16BE with a two-byte NUL terminator) the appendix says.
 */
export function pkcs12Kdf(
  password: string,
  salt: Uint8Array,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Uint8Array {
  const u = 20;
  const v = 64;
  const pw = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) pw.writeUInt16BE(password.charCodeAt(i), i * 2);
  const fill = (src: Uint8Array, len: number): Buffer => {
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = src[i % src.length] ?? 0;
    return out;
  };
  const S = salt.length === 0 ? Buffer.alloc(0) : fill(salt, v * Math.ceil(salt.length / v));
  const P = fill(pw, v * Math.ceil(pw.length / v));
  const I = Buffer.concat([S, P]);
  const D = Buffer.alloc(v, id);
  const blocks: Buffer[] = [];
  for (let done = 0; done < length; done += u) {
    let A = createHash("sha1").update(D).update(I).digest();
    for (let j = 1; j < iterations; j++) A = createHash("sha1").update(A).digest();
    blocks.push(A);
    const B = fill(A, v);
    // I_j = (I_j + B + 1) mod 2^(8v), for each v-byte block of I.
    for (let off = 0; off < I.length; off += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const s = (I[off + k] ?? 0) + (B[k] ?? 0) + carry;
        I[off + k] = s & 0xff;
        carry = s >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function legacyShroudedKey(
  pkcs8: Uint8Array,
  password: string,
  random: (n: number) => Uint8Array,
): pkijs.PKCS8ShroudedKeyBag {
  const salt = random(8);
  const key = pkcs12Kdf(password, salt, 1, P12_ITERATIONS, 24);
  const iv = pkcs12Kdf(password, salt, 2, P12_ITERATIONS, 8);
  const c = createCipheriv("des-ede3-cbc", key, iv);
  const ct = Buffer.concat([c.update(pkcs8), c.final()]);
  return new pkijs.PKCS8ShroudedKeyBag({
    encryptionAlgorithm: new pkijs.AlgorithmIdentifier({
      algorithmId: OID.pbeWithSha1And3KeyTripleDesCbc,
      // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
      algorithmParams: new asn1js.Sequence({
        value: [
          new asn1js.OctetString({ valueHex: salt }),
          new asn1js.Integer({ value: P12_ITERATIONS }),
        ],
      }),
    }),
    encryptedData: new asn1js.OctetString({ valueHex: ct }),
  });
}

/** A password-protected PKCS#12 file with the key, its certificate and the CA certificates. */
export async function makePkcs12(req: P12Request): Promise<Uint8Array> {
  const pkcs8 = req.key.export({ type: "pkcs8", format: "der" });
  const localKeyId = createHash("sha1").update(req.cert).digest();
  const attrs = (withKeyId: boolean, name: string): pkijs.Attribute[] => [
    new pkijs.Attribute({
      type: OID.friendlyName,
      values: [new asn1js.BmpString({ value: name })],
    }),
    ...(withKeyId
      ? [
          new pkijs.Attribute({
            type: OID.localKeyId,
            values: [new asn1js.OctetString({ valueHex: localKeyId })],
          }),
        ]
      : []),
  ];
  let keyBag: pkijs.PKCS8ShroudedKeyBag;
  if (req.profile === "legacy") {
    keyBag = legacyShroudedKey(pkcs8, req.password, req.random);
  } else {
    keyBag = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: pkijs.PrivateKeyInfo.fromBER(pkcs8) });
    await keyBag.makeInternalValues(
      {
        password: new TextEncoder().encode(req.password).buffer as ArrayBuffer,
        contentEncryptionAlgorithm: { name: "AES-CBC", length: 256 } as webcrypto.AesKeyAlgorithm,
        hmacHashAlgorithm: "SHA-256",
        iterationCount: P12_ITERATIONS,
      },
      engine,
    );
  }
  const certBag = (der: Uint8Array, name: string, withKeyId: boolean) =>
    new pkijs.SafeBag({
      bagId: OID.certBag,
      bagValue: new pkijs.CertBag({ parsedValue: pkijs.Certificate.fromBER(der) }),
      bagAttributes: attrs(withKeyId, name),
    });
  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            {
              privacyMode: 0,
              value: new pkijs.SafeContents({
                safeBags: [
                  certBag(req.cert, req.friendlyName, true),
                  ...req.caCerts.map((c, i) =>
                    certBag(c, `${req.friendlyName} CA ${i + 1}`, false),
                  ),
                ],
              }),
            },
            {
              privacyMode: 0,
              value: new pkijs.SafeContents({
                safeBags: [
                  new pkijs.SafeBag({
                    bagId: OID.pkcs8ShroudedKeyBag,
                    bagValue: keyBag,
                    bagAttributes: attrs(true, req.friendlyName),
                  }),
                ],
              }),
            },
          ],
        },
      }),
    },
  });
  const auth = pfx.parsedValue?.authenticatedSafe;
  if (!auth) throw new Error("PFX without authenticatedSafe");
  await auth.makeInternalValues({ safeContents: [{}, {}] }, engine);
  await pfx.makeInternalValues(
    {
      password: new TextEncoder().encode(req.password).buffer as ArrayBuffer,
      iterations: P12_ITERATIONS,
      pbkdf2HashAlgorithm: "SHA-256",
      hmacHashAlgorithm: req.profile === "legacy" ? "SHA-1" : "SHA-256",
    } as pkijs.MakeInternalValuesParams,
    engine,
  );
  return new Uint8Array(pfx.toSchema().toBER(false));
}
