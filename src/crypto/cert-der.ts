/**
 * A small DER reader (ITU-T X.690 §8.1, §10: definite lengths, low tag numbers) and the
 * X.509 v3 fields IKEv1 certificate authentication needs (RFC 5280 §4.1: issuer, subject,
 * validity; §4.2.1.3 keyUsage, §4.2.1.6 subjectAltName, §4.2.1.9 basicConstraints), plus
 * Distinguished Names (RFC 5280 §4.1.2.4) as they travel in ID_DER_ASN1_DN payloads (RFC 2407
 * §4.6.2.1) and CERTREQ certificate authorities (RFC 2408 §3.10).
 *
 * Pure: parse*(bytes) -> Result<_, WireError>; hostile input gives a typed error (never a throw,
 * bounded nesting and element counts). Signatures are not checked here (cert.ts does that with
 * node:crypto).
 *
 * Leaves out on purpose: BER (indefinite lengths, high tag numbers: refused), name
 * constraints, policy extensions, CRL distribution points (unknown critical extensions are
 * reported so the chain check can refuse them). DN comparison is RFC 5280 §7.1 simplified:
 * same attribute types in the same order, string values compared case-insensitively with
 * runs of spaces folded, whatever the string type (UTF8String vs PrintableString).
 */
import { err, ok, type Result } from "../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../base/errors.js";

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag octet in the parsed buffer. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  readonly end: number;
  readonly content: Buffer;
  /** Tag, length and content. */
  readonly raw: Buffer;
}

const MAX_ELEMENTS = 512;

/** One TLV at `offset` of `b` (which must contain it entirely). */
export function readTlv(b: Buffer, offset: number): Result<Tlv, WireError> {
  if (offset + 2 > b.length)
    return err(wireError(WireErrorCode.Truncated, "DER: no tag/length", offset));
  const tag = b[offset]!;
  if ((tag & 0x1f) === 0x1f)
    return err(
      wireError(WireErrorCode.BadValue, "DER: high tag numbers are not used in X.509", offset),
    );
  const l0 = b[offset + 1]!;
  let len = 0;
  let p = offset + 2;
  if (l0 < 0x80) len = l0;
  else {
    const n = l0 & 0x7f;
    if (n === 0)
      return err(wireError(WireErrorCode.BadLength, "DER: indefinite length", offset + 1));
    if (n > 4)
      return err(wireError(WireErrorCode.BadLength, "DER: length of length > 4", offset + 1));
    if (p + n > b.length) return err(wireError(WireErrorCode.Truncated, "DER: length octets", p));
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    if (b[p] === 0 || len < 0x80)
      return err(wireError(WireErrorCode.BadLength, "DER: non-minimal length", offset + 1));
    p += n;
  }
  if (p + len > b.length)
    return err(wireError(WireErrorCode.Truncated, `DER: element of ${len} octets overruns`, p));
  return ok({
    tag,
    start: offset,
    contentStart: p,
    end: p + len,
    content: b.subarray(p, p + len),
    raw: b.subarray(offset, p + len),
  });
}

/** The elements of a constructed value's content. */
export function readChildren(content: Buffer): Result<Tlv[], WireError> {
  const out: Tlv[] = [];
  let off = 0;
  while (off < content.length) {
    if (out.length >= MAX_ELEMENTS)
      return err(wireError(WireErrorCode.TooMany, "DER: too many elements", off));
    const t = readTlv(content, off);
    if (!t.ok) return t;
    out.push(t.value);
    off = t.value.end;
  }
  return ok(out);
}

/** Exactly one TLV filling `b`, with tag `tag`. */
function whole(b: Buffer, tag: number, what: string): Result<Tlv, WireError> {
  const t = readTlv(b, 0);
  if (!t.ok) return t;
  if (t.value.tag !== tag)
    return err(
      wireError(
        WireErrorCode.BadValue,
        `${what}: tag 0x${t.value.tag.toString(16)}, expected 0x${tag.toString(16)}`,
        0,
      ),
    );
  if (t.value.end !== b.length)
    return err(wireError(WireErrorCode.BadLength, `${what}: trailing octets`, t.value.end));
  return t;
}

const SEQ = 0x30;
const SET = 0x31;
const OID = 0x06;
const BOOL = 0x01;
const INT = 0x02;
const BITS = 0x03;
const OCTETS = 0x04;

export function oidText(content: Buffer): string | undefined {
  if (content.length === 0 || content.length > 64) return undefined;
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < content.length; i++) {
    const c = content[i]!;
    v = v * 128 + (c & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 256) return undefined;
    if ((c & 0x80) === 0) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    } else if (i === content.length - 1) return undefined;
  }
  return parts.join(".");
}

// ------------------------------------------------------------------------------------------
// Distinguished names

export interface AttributeValue {
  readonly oid: string;
  /** ASN.1 tag of the value (0x0c UTF8String, 0x13 PrintableString, ...). */
  readonly tag: number;
  readonly value: Buffer;
}

export interface DistinguishedName {
  /** The Name's DER (SEQUENCE OF RDN), as sent in ID_DER_ASN1_DN and CERTREQ. */
  readonly der: Buffer;
  readonly rdns: readonly (readonly AttributeValue[])[];
}

/** Parses a Name (RFC 5280 §4.1.2.4) filling `der`. */
export function parseDistinguishedName(der: Uint8Array): Result<DistinguishedName, WireError> {
  const b = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const t = whole(b, SEQ, "Name");
  if (!t.ok) return t;
  return nameFromTlv(t.value);
}

function nameFromTlv(t: Tlv): Result<DistinguishedName, WireError> {
  const sets = readChildren(t.content);
  if (!sets.ok) return sets;
  const rdns: AttributeValue[][] = [];
  for (const s of sets.value) {
    if (s.tag !== SET)
      return err(wireError(WireErrorCode.BadValue, "Name: RDN is not a SET", s.start));
    const avas = readChildren(s.content);
    if (!avas.ok) return avas;
    if (avas.value.length === 0)
      return err(wireError(WireErrorCode.BadValue, "Name: empty RDN", s.start));
    const rdn: AttributeValue[] = [];
    for (const a of avas.value) {
      if (a.tag !== SEQ)
        return err(wireError(WireErrorCode.BadValue, "Name: AVA is not a SEQUENCE", a.start));
      const parts = readChildren(a.content);
      if (!parts.ok) return parts;
      const [o, v] = parts.value;
      const oid = o && o.tag === OID ? oidText(o.content) : undefined;
      if (!o || !v || parts.value.length !== 2 || oid === undefined)
        return err(wireError(WireErrorCode.BadValue, "Name: AVA must be {OID, value}", a.start));
      rdn.push({ oid, tag: v.tag, value: Buffer.from(v.content) });
    }
    rdns.push(rdn);
  }
  return ok({ der: Buffer.from(t.raw), rdns });
}

const SHORT_NAMES: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "1.2.840.113549.1.9.1": "E",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
};

function stringValue(a: AttributeValue): string | undefined {
  switch (a.tag) {
    case 0x0c: // UTF8String
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x14: // TeletexString (treated as Latin-1)
      return a.tag === 0x14 ? a.value.toString("latin1") : a.value.toString("utf8");
    case 0x1e: {
      // BMPString: UTF-16BE
      if (a.value.length % 2 !== 0) return undefined;
      const le = Buffer.from(a.value);
      le.swap16();
      return le.toString("utf16le");
    }
    default:
      return undefined;
  }
}

/** "O=Oakley Test, CN=oak-server.example" (the order of the DER, strongSwan's style). */
export function dnText(dn: DistinguishedName): string {
  return dn.rdns
    .map((rdn) =>
      rdn
        .map(
          (a) =>
            `${SHORT_NAMES[a.oid] ?? a.oid}=${stringValue(a) ?? `#${a.value.toString("hex")}`}`,
        )
        .join(" + "),
    )
    .join(", ");
}

function fold(s: string): string {
  return s.trim().replace(/\s+/g, " ").toLowerCase();
}

/** RFC 5280 §7.1, simplified (see the header). */
export function dnEqual(a: DistinguishedName, b: DistinguishedName): boolean {
  if (a.der.equals(b.der)) return true;
  if (a.rdns.length !== b.rdns.length) return false;
  return a.rdns.every((ra, i) => {
    const rb = b.rdns[i]!;
    if (ra.length !== rb.length) return false;
    return ra.every((x, j) => {
      const y = rb[j]!;
      if (x.oid !== y.oid) return false;
      const sx = stringValue(x);
      const sy = stringValue(y);
      if (sx !== undefined && sy !== undefined) return fold(sx) === fold(sy);
      return x.tag === y.tag && x.value.equals(y.value);
    });
  });
}

// ------------------------------------------------------------------------------------------
// Certificates

export type GeneralName =
  | { readonly kind: "email"; readonly value: string }
  | { readonly kind: "dns"; readonly value: string }
  | { readonly kind: "ip"; readonly octets: Buffer }
  | { readonly kind: "dn"; readonly dn: DistinguishedName }
  | { readonly kind: "other"; readonly tag: number };

/** keyUsage bits (RFC 5280 §4.2.1.3), bit 0 = digitalSignature. */
export const KeyUsage = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

export interface CertificateFields {
  readonly der: Buffer;
  /** 1, 2 or 3. */
  readonly version: number;
  readonly serial: Buffer;
  readonly issuer: DistinguishedName;
  readonly subject: DistinguishedName;
  /** Validity, ms since the Unix epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLen?: number };
  /** keyUsage bit mask (KeyUsage), when the extension is present. */
  readonly keyUsage?: number;
  readonly subjectAltNames: readonly GeneralName[];
  /** OIDs of critical extensions this parser does not understand. */
  readonly unknownCritical: readonly string[];
}

const EXT_KEY_USAGE = "2.5.29.15";
const EXT_SAN = "2.5.29.17";
const EXT_BASIC = "2.5.29.19";
/** Understood well enough to accept when critical (checked elsewhere or harmless). */
const KNOWN_EXTENSIONS = new Set([
  EXT_KEY_USAGE,
  EXT_SAN,
  EXT_BASIC,
  "2.5.29.14", // subjectKeyIdentifier
  "2.5.29.35", // authorityKeyIdentifier
  "2.5.29.37", // extendedKeyUsage (not restricted for IKE, RFC 4945 §5.1.3.12)
]);

function bad(message: string, offset: number): Result<never, WireError> {
  return err(wireError(WireErrorCode.BadValue, message, offset));
}

/** UTCTime / GeneralizedTime (RFC 5280 §4.1.2.5) to ms since the epoch. */
export function parseTime(t: Tlv): number | undefined {
  const s = t.content.toString("latin1");
  const utc = t.tag === 0x17 ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : null;
  const gen = t.tag === 0x18 ? /^(\d\d\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : null;
  const m = utc ?? gen;
  if (!m) return undefined;
  const y = Number(m[1]);
  // RFC 5280 §4.1.2.5.1: UTCTime years 50..99 are 19xx
  const year = utc ? (y >= 50 ? 1900 + y : 2000 + y) : y;
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return undefined;
  return Date.UTC(year, mo - 1, d, h, mi, se);
}

function parseGeneralNames(content: Buffer): Result<GeneralName[], WireError> {
  const seq = whole(content, SEQ, "subjectAltName");
  if (!seq.ok) return seq;
  const kids = readChildren(seq.value.content);
  if (!kids.ok) return kids;
  const out: GeneralName[] = [];
  for (const k of kids.value) {
    switch (k.tag) {
      case 0x81:
        out.push({ kind: "email", value: k.content.toString("latin1") });
        break;
      case 0x82:
        out.push({ kind: "dns", value: k.content.toString("latin1") });
        break;
      case 0x87:
        out.push({ kind: "ip", octets: Buffer.from(k.content) });
        break;
      case 0xa4: {
        const n = readTlv(k.content, 0);
        if (!n.ok) return n;
        if (n.value.tag !== SEQ) return bad("subjectAltName: directoryName", k.start);
        const dn = nameFromTlv(n.value);
        if (!dn.ok) return dn;
        out.push({ kind: "dn", dn: dn.value });
        break;
      }
      default:
        out.push({ kind: "other", tag: k.tag });
    }
  }
  return ok(out);
}

/** Parses a DER X.509 certificate (RFC 5280 §4.1) into the fields above. */
export function parseCertificateDer(der: Uint8Array): Result<CertificateFields, WireError> {
  const b = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const cert = whole(b, SEQ, "Certificate");
  if (!cert.ok) return cert;
  const top = readChildren(cert.value.content);
  if (!top.ok) return top;
  const tbs = top.value[0];
  if (top.value.length !== 3 || !tbs || tbs.tag !== SEQ)
    return bad("Certificate must be {tbsCertificate, signatureAlgorithm, signature}", 0);
  if (top.value[2]?.tag !== BITS) return bad("Certificate: signature is not a BIT STRING", 0);
  const f = readChildren(tbs.content);
  if (!f.ok) return f;
  let i = 0;
  let version = 1;
  const v = f.value[0];
  if (v?.tag === 0xa0) {
    const n = readTlv(v.content, 0);
    if (!n.ok) return n;
    if (n.value.tag !== INT || n.value.content.length !== 1)
      return bad("TBSCertificate: version", v.start);
    version = n.value.content[0]! + 1;
    if (version > 3) return bad("TBSCertificate: version > 3", v.start);
    i = 1;
  }
  const [serial, sigAlg, issuerT, validity, subjectT, spki] = f.value.slice(i, i + 6);
  if (!serial || serial.tag !== INT) return bad("TBSCertificate: serialNumber", tbs.start);
  if (!sigAlg || sigAlg.tag !== SEQ) return bad("TBSCertificate: signature", tbs.start);
  if (!issuerT || issuerT.tag !== SEQ) return bad("TBSCertificate: issuer", tbs.start);
  if (!validity || validity.tag !== SEQ) return bad("TBSCertificate: validity", tbs.start);
  if (!subjectT || subjectT.tag !== SEQ) return bad("TBSCertificate: subject", tbs.start);
  if (!spki || spki.tag !== SEQ) return bad("TBSCertificate: subjectPublicKeyInfo", tbs.start);
  const issuer = nameFromTlv(issuerT);
  if (!issuer.ok) return issuer;
  const subject = nameFromTlv(subjectT);
  if (!subject.ok) return subject;
  const times = readChildren(validity.content);
  if (!times.ok) return times;
  const [nb, na] = times.value;
  const notBefore = nb ? parseTime(nb) : undefined;
  const notAfter = na ? parseTime(na) : undefined;
  if (times.value.length !== 2 || notBefore === undefined || notAfter === undefined)
    return bad("TBSCertificate: validity times", validity.start);

  let basicConstraints: CertificateFields["basicConstraints"];
  let keyUsage: number | undefined;
  let subjectAltNames: GeneralName[] = [];
  const unknownCritical: string[] = [];
  for (const rest of f.value.slice(i + 6)) {
    if (rest.tag === 0x81 || rest.tag === 0x82) continue; // unique identifiers
    if (rest.tag !== 0xa3) return bad("TBSCertificate: unexpected element", rest.start);
    const exts = readTlv(rest.content, 0);
    if (!exts.ok) return exts;
    if (exts.value.tag !== SEQ) return bad("Extensions", rest.start);
    const list = readChildren(exts.value.content);
    if (!list.ok) return list;
    const seen = new Set<string>();
    for (const e of list.value) {
      const parts = e.tag === SEQ ? readChildren(e.content) : undefined;
      if (!parts?.ok) return parts && !parts.ok ? parts : bad("Extension", e.start);
      const [o, c, val] = parts.value;
      const oid = o?.tag === OID ? oidText(o.content) : undefined;
      let critical = false;
      let value = c;
      if (c?.tag === BOOL) {
        critical = c.content.length === 1 && c.content[0] !== 0;
        value = val;
      }
      if (oid === undefined || !value || value.tag !== OCTETS)
        return bad("Extension fields", e.start);
      if (seen.has(oid)) return bad(`Extension ${oid} appears twice`, e.start); // RFC 5280 §4.2
      seen.add(oid);
      if (oid === EXT_BASIC) {
        const s = whole(value.content, SEQ, "basicConstraints");
        if (!s.ok) return s;
        const kids = readChildren(s.value.content);
        if (!kids.ok) return kids;
        let ca = false;
        let pathLen: number | undefined;
        for (const k of kids.value) {
          if (k.tag === BOOL) ca = k.content.length === 1 && k.content[0] !== 0;
          else if (k.tag === INT && k.content.length >= 1 && k.content.length <= 2)
            pathLen = k.content.readUIntBE(0, k.content.length);
          else return bad("basicConstraints", k.start);
        }
        basicConstraints = pathLen === undefined ? { ca } : { ca, pathLen };
      } else if (oid === EXT_KEY_USAGE) {
        const bs = whole(value.content, BITS, "keyUsage");
        if (!bs.ok) return bs;
        const c2 = bs.value.content;
        if (c2.length < 1 || c2.length > 3 || c2[0]! > 7)
          return bad("keyUsage bits", bs.value.start);
        // bit 0 is the most significant bit of the first content octet
        let mask = 0;
        for (let bit = 0; bit < (c2.length - 1) * 8; bit++) {
          const byte = c2[1 + (bit >> 3)]!;
          if (byte & (0x80 >> (bit & 7))) mask |= 1 << bit;
        }
        keyUsage = mask;
      } else if (oid === EXT_SAN) {
        const g = parseGeneralNames(value.content);
        if (!g.ok) return g;
        subjectAltNames = g.value;
      } else if (critical && !KNOWN_EXTENSIONS.has(oid)) {
        unknownCritical.push(oid);
      }
    }
  }
  return ok({
    der: Buffer.from(cert.value.raw),
    version,
    serial: Buffer.from(serial.content),
    issuer: issuer.value,
    subject: subject.value,
    notBefore,
    notAfter,
    ...(basicConstraints ? { basicConstraints } : {}),
    ...(keyUsage !== undefined ? { keyUsage } : {}),
    subjectAltNames,
    unknownCritical,
  });
}
