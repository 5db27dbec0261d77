/**
 * Certificate revocation lists (RFC 5280 §5): parsing a DER/PEM CRL into issuer, update times
 * and revoked serial numbers, checking its signature with the issuing CA's key (node:crypto),
 * and asking whether a certificate is revoked.
 *
 * node:crypto has no CRL API, so the fields are read with the DER reader of cert-der.ts (the
 * same bounded reader certificates go through); the signature is node:crypto's verify over the
 * tbsCertList octets. Hostile input gives a typed error, never a throw.
 *
 * Rules: a CRL counts only when its signature verifies under a configured CA whose subject is
 * the CRL's issuer (and whose keyUsage, when present, allows cRLSign). A CRL past its
 * nextUpdate still counts (an old list of revoked certificates is better than none); the
 * caller is told it is stale so it can log it. Leaves out: delta CRLs, indirect CRLs
 * (certificateIssuer entry extension), issuing distribution points, reason codes (every
 * listed serial is revoked, including certificateHold), RSASSA-PSS signatures.
 */
import { verify as verifySignature } from "node:crypto";
import { err, ok, type Result } from "../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../base/errors.js";
import {
  type DistinguishedName,
  dnEqual,
  dnText,
  KeyUsage,
  oidText,
  parseDistinguishedName,
  parseTime,
  readChildren,
  readTlv,
  type Tlv,
} from "./cert-der.js";

export interface Crl {
  readonly der: Buffer;
  readonly issuer: DistinguishedName;
  readonly issuerText: string;
  readonly thisUpdate: number;
  readonly nextUpdate?: number;
  /** Revoked serial numbers, hex without leading zero octets. */
  readonly revoked: ReadonlySet<string>;
  readonly tbs: Buffer;
  readonly signatureAlgorithm: string;
  readonly signature: Buffer;
}

/** Revoked entries accepted in one CRL (a large company's CRL has tens of thousands). */
export const MAX_CRL_ENTRIES = 200_000;

const SIG_HASH: Record<string, string> = {
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
};

function bad(message: string, offset = 0): Result<never, WireError> {
  return err(wireError(WireErrorCode.BadValue, `CRL: ${message}`, offset));
}

export function serialHex(serial: Uint8Array): string {
  let i = 0;
  while (i < serial.length - 1 && serial[i] === 0) i++;
  return Buffer.from(serial.subarray(i)).toString("hex");
}

/** Parses one DER CertificateList (RFC 5280 §5.1). */
export function parseCrlDer(der: Uint8Array): Result<Crl, WireError> {
  const b = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const top = readTlv(b, 0);
  if (!top.ok) return top;
  if (top.value.tag !== 0x30 || top.value.end !== b.length)
    return bad("not one SEQUENCE (CertificateList)");
  const parts = readChildren(top.value.content);
  if (!parts.ok) return parts;
  const [tbsT, algT, sigT] = parts.value;
  if (parts.value.length !== 3 || tbsT?.tag !== 0x30 || algT?.tag !== 0x30 || sigT?.tag !== 0x03)
    return bad("must be {tbsCertList, signatureAlgorithm, signatureValue}");
  const alg = readChildren(algT.content);
  if (!alg.ok) return alg;
  const oid = alg.value[0]?.tag === 0x06 ? oidText(alg.value[0].content) : undefined;
  if (oid === undefined) return bad("signatureAlgorithm");
  if (sigT.content.length < 1 || sigT.content[0] !== 0) return bad("signatureValue bits");
  // tbsCertList: version? signature issuer thisUpdate nextUpdate? revoked? [0] extensions?
  const f: Tlv[] = [];
  let off = 0;
  while (off < tbsT.content.length && f.length < 8) {
    const t = readTlv(tbsT.content, off);
    if (!t.ok) return t;
    f.push(t.value);
    off = t.value.end;
  }
  if (off !== tbsT.content.length) return bad("tbsCertList has too many elements");
  let i = 0;
  if (f[0]?.tag === 0x02) i = 1; // version v2
  const issuerT = f[i + 1];
  const thisT = f[i + 2];
  if (f[i]?.tag !== 0x30 || issuerT?.tag !== 0x30 || !thisT) return bad("tbsCertList fields");
  const issuer = parseDistinguishedName(issuerT.raw);
  if (!issuer.ok) return issuer;
  const thisUpdate = parseTime(thisT);
  if (thisUpdate === undefined) return bad("thisUpdate");
  let j = i + 3;
  let nextUpdate: number | undefined;
  const maybeNext = f[j];
  if (maybeNext && (maybeNext.tag === 0x17 || maybeNext.tag === 0x18)) {
    nextUpdate = parseTime(maybeNext);
    if (nextUpdate === undefined) return bad("nextUpdate");
    j++;
  }
  const revoked = new Set<string>();
  const list = f[j];
  if (list?.tag === 0x30) {
    let p = 0;
    while (p < list.content.length) {
      if (revoked.size >= MAX_CRL_ENTRIES)
        return err(
          wireError(WireErrorCode.TooMany, `CRL: more than ${MAX_CRL_ENTRIES} entries`, p),
        );
      const e = readTlv(list.content, p);
      if (!e.ok) return e;
      if (e.value.tag !== 0x30) return bad("revokedCertificates entry", p);
      const s = readTlv(e.value.content, 0);
      if (!s.ok) return s;
      if (s.value.tag !== 0x02 || s.value.content.length === 0)
        return bad("userCertificate serial", p);
      revoked.add(serialHex(s.value.content));
      p = e.value.end;
    }
    j++;
  }
  const rest = f[j];
  if (rest && rest.tag !== 0xa0) return bad("unexpected element after revokedCertificates");
  if (f.length > j + 1) return bad("trailing elements in tbsCertList");
  return ok({
    der: Buffer.from(top.value.raw),
    issuer: issuer.value,
    issuerText: dnText(issuer.value),
    thisUpdate,
    ...(nextUpdate !== undefined ? { nextUpdate } : {}),
    revoked,
    tbs: Buffer.from(tbsT.raw),
    signatureAlgorithm: oid,
    signature: Buffer.from(sigT.content.subarray(1)),
  });
}

const PEM_CRL = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+?)-----END X509 CRL-----/g;

/** Every CRL of a PEM text (or one DER CRL when the bytes are not PEM). */
export function parseCrls(data: Uint8Array | string): Result<Crl[], WireError> {
  const text = typeof data === "string" ? data : Buffer.from(data).toString("latin1");
  if (!text.includes("-----BEGIN")) {
    const one = parseCrlDer(typeof data === "string" ? Buffer.from(data, "latin1") : data);
    return one.ok ? ok([one.value]) : one;
  }
  const out: Crl[] = [];
  for (const m of text.matchAll(PEM_CRL)) {
    const c = parseCrlDer(Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64"));
    if (!c.ok) return c;
    out.push(c.value);
  }
  if (out.length === 0) return bad("no X509 CRL block in the PEM text");
  return ok(out);
}

/** The parts of a CA certificate the CRL check needs (cert.ts Certificate fits). */
export interface CrlIssuer {
  readonly fields: { readonly subject: DistinguishedName; readonly keyUsage?: number };
  readonly x509: { readonly publicKey: import("node:crypto").KeyObject };
  readonly subjectText: string;
}

/** Is `crl` signed by `ca` (issuer name, cRLSign, signature)? */
export function crlSignedBy(crl: Crl, ca: CrlIssuer): boolean {
  if (!dnEqual(crl.issuer, ca.fields.subject)) return false;
  const ku = ca.fields.keyUsage;
  if (ku !== undefined && (ku & KeyUsage.cRLSign) === 0) return false;
  const hash = SIG_HASH[crl.signatureAlgorithm];
  if (hash === undefined) return false;
  try {
    return verifySignature(hash, crl.tbs, ca.x509.publicKey, crl.signature);
  } catch {
    return false;
  }
}
