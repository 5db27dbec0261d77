/**
 * Signature authentication for IKEv1 phase 1 (RFC 2409 §5.1; ECDSA per RFC 4754): the pieces Main Mode uses
 * in both roles —
 *  - CERTREQ payloads (RFC 2408 §3.10): encoding 4 (X.509 Certificate - Signature) with the
 *    DER subject DN of each trusted CA, sent in MM3 (initiator) and MM4 (responder), as
 *    strongSwan does (isakmp_cert_pre.c);
 *  - CERT payloads (RFC 2408 §3.9, encoding 4): our certificate and any chain certificates;
 *  - SIG payload: RSA PKCS#1 v1.5, or ECDSA r | s, over the raw HASH_I / HASH_R (crypto/cert.ts
 *    ikeSign);
 *  - verification of the peer: its CERT payloads chain to a configured CA at the wall-clock
 *    time, no certificate of the chain is on a configured CRL (INVALID-CERTIFICATE,
 *    OAK_E_CERT_REVOKED), its ID payload is an identity of the certificate (RFC 4945 §3.1),
 *    an initiator's expected server names (CertificateConfig.peerNames) are in it, its SIG
 *    verifies.
 *
 * Failures are IkeFailure values with the notify to send: INVALID-CERTIFICATE (no certificate,
 * chain, validity, usage; the message carries the OAK_E_CERT_* code), CERT-TYPE-UNSUPPORTED
 * (only non-X.509 certificates), AUTHENTICATION-FAILED (ID not in the certificate, bad SIG).
 * Leaves out: certificates fetched by hash-and-URL, OCSP, CRLs fetched from distribution
 * points (CRLs come from files), DSS, peers whose
 * certificate we would have to hold locally (a peer must send its CERT).
 */
import { parseIpAddress } from "../../wire/isakmp/index.js";
import { type Crl, crlSignedBy, parseCrls } from "../../crypto/crl.js";
import {
  type Certificate,
  certificateFromDer,
  checkRevocation,
  certificateMatchesId,
  certificatesFromPem,
  ikeSign,
  ikeVerify,
  type LocalCredentials,
  localCredentials,
  subjectId,
  verifyChain,
} from "../../crypto/cert.js";
import {
  CertEncoding,
  type CertPayload,
  type CertRequestPayload,
  type IdPayload,
  type IdentificationValue,
  NotifyType,
  type Payload,
  PayloadType,
} from "../../wire/isakmp/index.js";
import type { IkeConfig } from "../config.js";
import { IkeErrorCode, type IkeFailure, failure } from "../errors.js";
import { idText, parseIdPayload } from "../identity.js";
import { findAll } from "./common.js";

/** Our credentials and trust anchors, parsed once at engine start. */
export interface CertContext {
  readonly local?: LocalCredentials;
  readonly cas: readonly Certificate[];
  /** CRLs whose signature verifies under one of `cas` (others are dropped with a warning). */
  readonly crls: readonly Crl[];
  /** Initiator: one of these must be a subjectAltName (DNS or IP) of the peer's certificate. */
  readonly peerNames?: readonly string[];
  /** Why the configuration is unusable for signatures (empty when usable). */
  readonly problems: readonly string[];
  /** Usable but worth telling the operator (a CRL that no CA signed, a stale CRL). */
  readonly warnings: readonly string[];
}

export function loadCertContext(config: IkeConfig): CertContext | undefined {
  const c = config.certificates;
  if (!c) return undefined;
  const problems: string[] = [];
  const cas: Certificate[] = [];
  for (const pem of c.trustedCas) {
    const r = certificatesFromPem(pem);
    if (r.ok) cas.push(...r.value);
    else problems.push(`trusted CA: ${r.error.message}`);
  }
  if (cas.length === 0) problems.push("no trusted CA certificate configured");
  const l = localCredentials(c.certificate, c.privateKey);
  if (!l.ok) problems.push(`our certificate/key: ${l.error.message}`);
  const warnings: string[] = [];
  const crls: Crl[] = [];
  for (const data of c.crls ?? []) {
    const r = parseCrls(data);
    if (!r.ok) {
      // A CRL we cannot read must not silently let revoked peers in: refuse signatures.
      problems.push(`CRL: ${r.error.message}`);
      continue;
    }
    for (const crl of r.value) {
      crls.push(crl);
      if (!cas.some((ca) => crlSignedBy(crl, ca)))
        warnings.push(
          `CRL of "${crl.issuerText}" is not signed by a trusted CA: it applies only if an intermediate CA of a peer's chain signed it`,
        );
      else {
        if (crl.nextUpdate !== undefined && crl.nextUpdate < wallNowOf(config))
          warnings.push(
            `CRL of "${crl.issuerText}" is past its nextUpdate (${new Date(crl.nextUpdate).toISOString()}); still applied: fetch a fresh one`,
          );
      }
    }
  }
  return {
    ...(l.ok ? { local: l.value } : {}),
    cas,
    crls,
    ...(c.peerNames && c.peerNames.length > 0 ? { peerNames: c.peerNames } : {}),
    problems,
    warnings,
  };
}

function wallNowOf(config: IkeConfig): number {
  return (config.wallClock ?? Date.now)();
}

/** Does the certificate carry `name` as a dNSName or iPAddress subjectAltName? */
function certificateNames(cert: Certificate, name: string): boolean {
  const ip = parseIpAddress(name);
  return cert.fields.subjectAltNames.some((g) =>
    ip
      ? g.kind === "ip" && g.octets.equals(ip)
      : g.kind === "dns" && g.value.toLowerCase() === name.toLowerCase(),
  );
}

/** Can we do RSA signatures at all (our key and at least one CA)? */
export function certUsable(cc: CertContext | undefined): cc is CertContext & {
  readonly local: LocalCredentials;
} {
  return cc !== undefined && cc.local !== undefined && cc.problems.length === 0;
}

export function ourCertIdentity(
  cc: CertContext & { readonly local: LocalCredentials },
): IdentificationValue {
  return subjectId(cc.local.certificate);
}

export function certRequestPayloads(cc: CertContext): CertRequestPayload[] {
  return cc.cas.map((ca) => ({
    type: PayloadType.CR,
    reserved: 0,
    encoding: CertEncoding.X509_SIGNATURE,
    authority: Buffer.from(ca.fields.subject.der),
  }));
}

/** CERT payloads (ours first, then the chain) and the SIG payload over `hash`. */
export function certAndSigPayloads(local: LocalCredentials, hash: Buffer): Payload[] {
  const certs: CertPayload[] = [local.certificate, ...local.chain].map((c) => ({
    type: PayloadType.CERT,
    reserved: 0,
    encoding: CertEncoding.X509_SIGNATURE,
    data: Buffer.from(c.fields.der),
  }));
  return [...certs, { type: PayloadType.SIG, reserved: 0, data: ikeSign(local.key, hash) }];
}

export interface VerifiedPeer {
  readonly id: IdentificationValue;
  readonly idText: string;
  /** The peer certificate's subject, as text. */
  readonly subject: string;
}

const MAX_PEER_CERTS = 8;

/**
 * Verifies the peer of an MM5 (HASH_I) or MM6 (HASH_R): `hash` is what its SIG must sign,
 * `payloads` the decrypted message, `wallNow` the calendar time (ms since the epoch).
 */
export function verifyPeerSignature(
  cc: CertContext,
  payloads: readonly Payload[],
  idPayload: IdPayload,
  hash: Buffer,
  wallNow: number,
): { ok: true; value: VerifiedPeer } | { ok: false; error: IkeFailure } {
  const no = (code: IkeErrorCode, message: string, notify: number) =>
    ({ ok: false, error: failure(code, message, notify) }) as const;
  const id = parseIdPayload(idPayload);
  if (!id)
    return no(IkeErrorCode.Payloads, "malformed ID payload", NotifyType.INVALID_ID_INFORMATION);
  const sig = payloads.find((p) => p.type === PayloadType.SIG);
  if (!sig || sig.type !== PayloadType.SIG)
    return no(
      IkeErrorCode.AuthenticationFailed,
      "no SIG payload (RSA signatures negotiated)",
      NotifyType.AUTHENTICATION_FAILED,
    );
  const certPayloads = findAll(payloads, PayloadType.CERT);
  const x509 = certPayloads.filter((c) => c.encoding === CertEncoding.X509_SIGNATURE);
  if (x509.length === 0) {
    return no(
      IkeErrorCode.CertificateInvalid,
      certPayloads.length > 0
        ? `peer sent certificates of unsupported encodings (${certPayloads.map((c) => c.encoding).join(", ")})`
        : "peer sent no certificate",
      certPayloads.length > 0 ? NotifyType.CERT_TYPE_UNSUPPORTED : NotifyType.INVALID_CERTIFICATE,
    );
  }
  const certs: Certificate[] = [];
  for (const p of x509.slice(0, MAX_PEER_CERTS)) {
    const c = certificateFromDer(p.data);
    if (!c.ok)
      return no(IkeErrorCode.CertificateInvalid, c.error.message, NotifyType.INVALID_CERTIFICATE);
    certs.push(c.value);
  }
  // The end-entity certificate: the one holding the ID (RFC 4945 §3.2: usually the first).
  const leaf = certs.find((c) => certificateMatchesId(c, id).ok);
  if (!leaf) {
    const m = certificateMatchesId(certs[0]!, id);
    return no(
      IkeErrorCode.CertificateIdMismatch,
      m.ok ? "ID mismatch" : m.error.message,
      NotifyType.AUTHENTICATION_FAILED,
    );
  }
  const chain = verifyChain(
    leaf,
    certs.filter((c) => c !== leaf),
    cc.cas,
    wallNow,
  );
  if (!chain.ok) {
    return no(
      IkeErrorCode.CertificateInvalid,
      `${chain.error.message} [${chain.error.code}]`,
      NotifyType.INVALID_CERTIFICATE,
    );
  }
  const revoked = checkRevocation(chain.value.path, cc.crls);
  if (!revoked.ok)
    return no(
      IkeErrorCode.CertificateInvalid,
      `${revoked.error.message} [${revoked.error.code}]`,
      NotifyType.INVALID_CERTIFICATE,
    );
  if (cc.peerNames && !cc.peerNames.some((n) => certificateNames(leaf, n)))
    return no(
      IkeErrorCode.CertificateIdMismatch,
      `the server's certificate "${leaf.subjectText}" does not name ${cc.peerNames.join(" or ")} (subjectAltName DNS/IP); it may be another server holding a certificate from the same CA`,
      NotifyType.AUTHENTICATION_FAILED,
    );
  const v = ikeVerify(leaf, hash, sig.data);
  if (!v.ok)
    return no(IkeErrorCode.AuthenticationFailed, v.error.message, NotifyType.AUTHENTICATION_FAILED);
  return { ok: true, value: { id, idText: idText(id), subject: leaf.subjectText } };
}
