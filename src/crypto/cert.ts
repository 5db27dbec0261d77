/**
 * X.509 certificates for IKEv1 signature authentication (RFC 2409 §5.1 with RSA signatures;
 * certificate profile of RFC 4945 §5): loading PEM/DER, verifying a peer's certificate chain
 * up to a configured CA at a given wall-clock time, matching an ISAKMP identity (RFC 2407
 * §4.6.2.1) against a certificate, and the IKEv1 RSA signature itself.
 *
 * IKEv1 signature (RFC 2409 §5.1): SIG_I / SIG_R is the RSA PKCS#1 v1.5 private-key
 * operation (block type 1, RFC 8017 §9.2 step 3 onwards) applied to the raw HASH_I / HASH_R,
 * without a DigestInfo — strongSwan calls this SIGN_RSA_EMSA_PKCS1_NULL
 * (libcharon/sa/ikev1/authenticators/pubkey_v1_authenticator.c). node:crypto's
 * privateEncrypt/publicDecrypt with RSA_PKCS1_PADDING do exactly that.
 *
 * Chain rules (RFC 5280 §6.1, reduced to what a VPN gateway needs): every certificate valid at
 * `wallNow`; each certificate's signature verifies under its issuer's key and names that issuer
 * (node:crypto X509Certificate.checkIssued/verify); every issuer is a CA (basicConstraints
 * cA TRUE; keyCertSign when keyUsage is present; pathLenConstraint respected); the chain ends
 * at a configured CA certificate (a trust anchor, itself checked for validity); the leaf, when
 * it has keyUsage, allows digitalSignature or nonRepudiation (RFC 4945 §5.1.3.2, as strongSwan
 * requires); unknown critical extensions refuse the certificate. At most 8 certificates.
 *
 * Identity match (RFC 4945 §3.1): ID_DER_ASN1_DN equals the subject DN; ID_FQDN a dNSName,
 * ID_USER_FQDN an rfc822Name, ID_IPV4_ADDR/ID_IPV6_ADDR an iPAddress subjectAltName.
 *
 * ECDSA (RFC 4754): with an EC key (P-256, P-384, P-521) SIG is r | s over the raw HASH_I /
 * HASH_R (ecdsa-digest.ts), as strongSwan's SIGN_ECDSA_WITH_NULL does in IKEv1.
 *
 * Revocation: `checkRevocation` looks every non-anchor certificate of a verified path up in the
 * CRLs (crl.ts) signed by its issuer. Leaves out: OCSP, DSA, name constraints, policies.
 */
import {
  constants,
  createPrivateKey,
  type KeyObject,
  privateEncrypt,
  publicDecrypt,
  X509Certificate,
} from "node:crypto";
import { err, ok, type Result } from "../base/result.js";
import { type IdentificationValue, parseIpAddress } from "../wire/isakmp/index.js";
import {
  type CertificateFields,
  dnEqual,
  dnText,
  KeyUsage,
  parseCertificateDer,
  parseDistinguishedName,
} from "./cert-der.js";
import { type Crl, crlSignedBy, serialHex } from "./crl.js";
import { constantTimeEqual } from "./ct.js";
import {
  ecCurveBytes,
  ecdsaDigestAvailable,
  ecdsaSignDigest,
  ecdsaVerifyDigest,
} from "./ecdsa-digest.js";

export const CertErrorCode = {
  /** Not a certificate / key we can parse (DER, PEM, node:crypto refused it). */
  Malformed: "OAK_E_CERT_MALFORMED",
  /** The certificate's notAfter is before the wall-clock time. */
  Expired: "OAK_E_CERT_EXPIRED",
  /** The certificate's notBefore is after the wall-clock time. */
  NotYetValid: "OAK_E_CERT_NOT_YET_VALID",
  /** No chain to a configured CA (unknown issuer, self-signed leaf, too long). */
  Untrusted: "OAK_E_CERT_UNTRUSTED",
  /** A certificate's signature does not verify under its issuer's key. */
  BadSignature: "OAK_E_CERT_BAD_SIGNATURE",
  /** An issuer that is not a CA (basicConstraints, keyUsage, pathLen). */
  NotCa: "OAK_E_CERT_NOT_CA",
  /** The leaf may not sign (keyUsage without digitalSignature/nonRepudiation). */
  KeyUsage: "OAK_E_CERT_KEY_USAGE",
  /** A critical extension we do not understand. */
  UnknownCritical: "OAK_E_CERT_UNKNOWN_CRITICAL",
  /** The peer's ISAKMP identity is not in its certificate. */
  IdMismatch: "OAK_E_CERT_ID_MISMATCH",
  /** The certificate is on a CRL of its issuer. */
  Revoked: "OAK_E_CERT_REVOKED",
  /** Not an RSA or EC (P-256/384/521) key, or the key does not belong to the certificate. */
  UnsupportedKey: "OAK_E_CERT_UNSUPPORTED_KEY",
  /** The IKE SIG payload does not verify. */
  BadIkeSignature: "OAK_E_CERT_BAD_IKE_SIGNATURE",
} as const;
export type CertErrorCode = (typeof CertErrorCode)[keyof typeof CertErrorCode];

export interface CertError {
  readonly code: CertErrorCode;
  readonly message: string;
}

function fail(code: CertErrorCode, message: string): Result<never, CertError> {
  return err({ code, message });
}

/** A parsed certificate: our DER view and node:crypto's (for signatures and keys). */
export interface Certificate {
  readonly fields: CertificateFields;
  readonly x509: X509Certificate;
  /** Subject DN as text, for logs. */
  readonly subjectText: string;
}

export const MAX_CHAIN = 8;

export function certificateFromDer(der: Uint8Array): Result<Certificate, CertError> {
  const f = parseCertificateDer(der);
  if (!f.ok) return fail(CertErrorCode.Malformed, `certificate: ${f.error.message}`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(Buffer.from(der));
  } catch (e) {
    return fail(
      CertErrorCode.Malformed,
      `certificate: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return ok({ fields: f.value, x509, subjectText: dnText(f.value.subject) });
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM text, in order. */
export function certificatesFromPem(pem: string): Result<Certificate[], CertError> {
  const out: Certificate[] = [];
  for (const m of pem.matchAll(PEM_CERT)) {
    const c = certificateFromDer(Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64"));
    if (!c.ok) return c;
    out.push(c.value);
  }
  if (out.length === 0)
    return fail(CertErrorCode.Malformed, "no CERTIFICATE block in the PEM text");
  return ok(out);
}

/** IKEv1 signature methods a key can do (RFC 2409 App. A: 3; RFC 4754: 9, 10, 11). */
export type SignatureMethod = "rsa-sig" | "ecdsa-256" | "ecdsa-384" | "ecdsa-521";

/** The IKE signature method of a key (private or public), or undefined for unsupported keys. */
export function signatureMethodOf(key: KeyObject): SignatureMethod | undefined {
  if (key.asymmetricKeyType === "rsa") return "rsa-sig";
  const n = ecCurveBytes(key);
  return n === 32 ? "ecdsa-256" : n === 48 ? "ecdsa-384" : n === 66 ? "ecdsa-521" : undefined;
}

/** A signing key from PEM: RSA (PKCS#1 or PKCS#8) or EC on P-256/P-384/P-521 (SEC1 or PKCS#8). */
export function rsaPrivateKeyFromPem(pem: string): Result<KeyObject, CertError> {
  let k: KeyObject;
  try {
    k = createPrivateKey(pem);
  } catch (e) {
    return fail(
      CertErrorCode.Malformed,
      `private key: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const m = signatureMethodOf(k);
  if (m === undefined)
    return fail(
      CertErrorCode.UnsupportedKey,
      `private key type ${k.asymmetricKeyType}${k.asymmetricKeyDetails?.namedCurve ? ` (${k.asymmetricKeyDetails.namedCurve})` : ""}: use RSA or EC on P-256, P-384 or P-521`,
    );
  if (m !== "rsa-sig" && !ecdsaDigestAvailable())
    return fail(
      CertErrorCode.UnsupportedKey,
      "ECDSA keys need OpenSSL libcrypto (libcrypto.so.3), which could not be loaded",
    );
  return ok(k);
}

/** Our own credentials: the certificate (first PEM block), extra chain certificates, the key. */
export interface LocalCredentials {
  readonly certificate: Certificate;
  readonly chain: readonly Certificate[];
  readonly key: KeyObject;
  /** The IKE signature method the key makes. */
  readonly method: SignatureMethod;
}

export function localCredentials(
  certPem: string,
  keyPem: string,
): Result<LocalCredentials, CertError> {
  const certs = certificatesFromPem(certPem);
  if (!certs.ok) return certs;
  const key = rsaPrivateKeyFromPem(keyPem);
  if (!key.ok) return key;
  const [certificate, ...chain] = certs.value;
  if (!certificate) return fail(CertErrorCode.Malformed, "no certificate");
  if (!certificate.x509.checkPrivateKey(key.value))
    return fail(CertErrorCode.UnsupportedKey, "the private key does not belong to the certificate");
  const method = signatureMethodOf(key.value);
  if (!method) return fail(CertErrorCode.UnsupportedKey, "unsupported key");
  return ok({ certificate, chain, key: key.value, method });
}

function checkValidity(c: Certificate, wallNow: number, role: string): Result<void, CertError> {
  const iso = (t: number) => new Date(t).toISOString();
  if (wallNow < c.fields.notBefore)
    return fail(
      CertErrorCode.NotYetValid,
      `${role} certificate "${c.subjectText}" is not valid before ${iso(c.fields.notBefore)} (now ${iso(wallNow)})`,
    );
  if (wallNow > c.fields.notAfter)
    return fail(
      CertErrorCode.Expired,
      `${role} certificate "${c.subjectText}" expired ${iso(c.fields.notAfter)} (now ${iso(wallNow)})`,
    );
  if (c.fields.unknownCritical.length > 0)
    return fail(
      CertErrorCode.UnknownCritical,
      `${role} certificate "${c.subjectText}" has unknown critical extensions ${c.fields.unknownCritical.join(", ")}`,
    );
  return ok(undefined);
}

/** May `issuer` sign certificates with `below` CA certificates under it? */
function checkCa(issuer: Certificate, below: number): Result<void, CertError> {
  const bc = issuer.fields.basicConstraints;
  if (!bc?.ca)
    return fail(
      CertErrorCode.NotCa,
      `issuer "${issuer.subjectText}" is not a CA (basicConstraints cA is not TRUE)`,
    );
  const ku = issuer.fields.keyUsage;
  if (ku !== undefined && (ku & KeyUsage.keyCertSign) === 0)
    return fail(CertErrorCode.NotCa, `issuer "${issuer.subjectText}" keyUsage lacks keyCertSign`);
  if (bc.pathLen !== undefined && below > bc.pathLen)
    return fail(
      CertErrorCode.NotCa,
      `issuer "${issuer.subjectText}" pathLenConstraint ${bc.pathLen} exceeded`,
    );
  return ok(undefined);
}

function issued(issuer: Certificate, subject: Certificate): boolean {
  if (!dnEqual(issuer.fields.subject, subject.fields.issuer)) return false;
  try {
    return subject.x509.checkIssued(issuer.x509) && subject.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

export interface VerifiedChain {
  /** Leaf first, trust anchor last. */
  readonly path: readonly Certificate[];
  readonly anchor: Certificate;
}

/**
 * Verifies `leaf` (with the peer's extra certificates `intermediates`) against the trust
 * anchors `cas` at `wallNow` (ms since the Unix epoch). See the header for the rules.
 */
export function verifyChain(
  leaf: Certificate,
  intermediates: readonly Certificate[],
  cas: readonly Certificate[],
  wallNow: number,
): Result<VerifiedChain, CertError> {
  const v = checkValidity(leaf, wallNow, "peer");
  if (!v.ok) return v;
  const ku = leaf.fields.keyUsage;
  if (ku !== undefined && (ku & (KeyUsage.digitalSignature | KeyUsage.nonRepudiation)) === 0)
    return fail(
      CertErrorCode.KeyUsage,
      `peer certificate "${leaf.subjectText}" keyUsage allows no signatures`,
    );
  const path: Certificate[] = [leaf];
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const anchor = cas.find((ca) => issued(ca, current));
    if (anchor) {
      if (anchor.fields.der.equals(leaf.fields.der))
        return fail(
          CertErrorCode.Untrusted,
          `peer certificate "${leaf.subjectText}" is a CA certificate, not an end entity`,
        );
      const av = checkValidity(anchor, wallNow, "CA");
      if (!av.ok) return av;
      const ca = checkCa(anchor, path.length - 1);
      if (!ca.ok) return ca;
      return ok({ path: [...path, anchor], anchor });
    }
    const next = intermediates.find((c) => !path.includes(c) && issued(c, current));
    if (!next) {
      const namedCa = [...cas, ...intermediates].find((c) =>
        dnEqual(c.fields.subject, current.fields.issuer),
      );
      if (namedCa)
        return fail(
          CertErrorCode.BadSignature,
          `signature of "${current.subjectText}" does not verify under "${namedCa.subjectText}"`,
        );
      const self = dnEqual(current.fields.subject, current.fields.issuer);
      return fail(
        CertErrorCode.Untrusted,
        self
          ? `"${current.subjectText}" is self-signed and not a configured CA`
          : `no configured CA issued "${current.subjectText}" (issuer "${dnText(current.fields.issuer)}")`,
      );
    }
    const iv = checkValidity(next, wallNow, "intermediate");
    if (!iv.ok) return iv;
    const ca = checkCa(next, path.length - 1);
    if (!ca.ok) return ca;
    path.push(next);
    current = next;
  }
  return fail(CertErrorCode.Untrusted, `chain longer than ${MAX_CHAIN} certificates`);
}

function sameIp(octets: Buffer, address: string): boolean {
  const ip = parseIpAddress(address);
  return ip?.equals(octets) === true;
}

/** Is `id` (the peer's phase-1 ID payload) an identity of `cert`? (RFC 4945 §3.1) */
export function certificateMatchesId(
  cert: Certificate,
  id: IdentificationValue,
): Result<void, CertError> {
  const san = cert.fields.subjectAltNames;
  let match = false;
  let shown = "";
  switch (id.kind) {
    case "der-asn1-dn": {
      const dn = parseDistinguishedName(id.der);
      match = dn.ok && dnEqual(dn.value, cert.fields.subject);
      shown = dn.ok ? dnText(dn.value) : "(malformed DN)";
      break;
    }
    case "fqdn":
      match = san.some((g) => g.kind === "dns" && g.value.toLowerCase() === id.name.toLowerCase());
      shown = id.name;
      break;
    case "user-fqdn":
      match = san.some(
        (g) => g.kind === "email" && g.value.toLowerCase() === id.name.toLowerCase(),
      );
      shown = id.name;
      break;
    case "ipv4":
    case "ipv6":
      match = san.some((g) => g.kind === "ip" && sameIp(g.octets, id.address));
      shown = id.address;
      break;
    default:
      shown = id.kind;
  }
  return match
    ? ok(undefined)
    : fail(
        CertErrorCode.IdMismatch,
        `identity ${shown} is not in certificate "${cert.subjectText}"`,
      );
}

/**
 * SIG payload data: RSA PKCS#1 v1.5 type-1 private-key operation on the raw hash (header), or
 * ECDSA r | s over the raw hash for EC keys (RFC 4754).
 */
export function ikeSign(key: KeyObject, hash: Uint8Array): Buffer {
  if (key.asymmetricKeyType === "ec") {
    const s = ecdsaSignDigest(key, hash);
    // Keys are checked when loaded (rsaPrivateKeyFromPem); failing here is a bug.
    if (!s) throw new Error("ECDSA signing failed");
    return s;
  }
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, hash);
}

/** Verifies an IKEv1 RSA SIG payload against `hash` with the certificate's public key. */
export function ikeVerify(
  cert: Certificate,
  hash: Uint8Array,
  sig: Uint8Array,
): Result<void, CertError> {
  const pub = cert.x509.publicKey;
  if (pub.asymmetricKeyType === "ec") {
    return ecdsaVerifyDigest(pub, hash, sig)
      ? ok(undefined)
      : fail(
          CertErrorCode.BadIkeSignature,
          `ECDSA signature does not verify with the key of "${cert.subjectText}"`,
        );
  }
  let recovered: Buffer;
  try {
    recovered = publicDecrypt(
      { key: cert.x509.publicKey, padding: constants.RSA_PKCS1_PADDING },
      sig,
    );
  } catch {
    return fail(
      CertErrorCode.BadIkeSignature,
      `signature does not verify with the key of "${cert.subjectText}"`,
    );
  }
  return constantTimeEqual(recovered, hash)
    ? ok(undefined)
    : fail(
        CertErrorCode.BadIkeSignature,
        `signed hash does not match (key of "${cert.subjectText}")`,
      );
}

/** The ISAKMP ID_DER_ASN1_DN identity of a certificate's subject. */
export function subjectId(cert: Certificate): IdentificationValue {
  return { kind: "der-asn1-dn", der: Buffer.from(cert.fields.subject.der) };
}

/**
 * Is any certificate of `path` (leaf first, trust anchor last) on a CRL of its issuer? Only
 * CRLs whose signature verifies under that issuer count (crl.ts crlSignedBy).
 */
export function checkRevocation(
  path: readonly Certificate[],
  crls: readonly Crl[],
): Result<void, CertError> {
  if (crls.length === 0) return ok(undefined);
  for (let i = 0; i + 1 < path.length; i++) {
    const c = path[i]!;
    const issuer = path[i + 1]!;
    const serial = serialHex(c.fields.serial);
    for (const crl of crls) {
      if (!crl.revoked.has(serial) || !crlSignedBy(crl, issuer)) continue;
      return fail(
        CertErrorCode.Revoked,
        `certificate "${c.subjectText}" (serial ${serial}) is revoked by the CRL of "${crl.issuerText}"`,
      );
    }
  }
  return ok(undefined);
}
