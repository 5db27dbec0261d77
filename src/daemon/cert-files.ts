/**
 * Certificate files named on the command line (`oakley serve|connect --cert --key --ca
 * [--crl]`), read and checked before anything starts, so a mistake is one clear line naming the
 * flag and the fix: unreadable file, not PEM, a key that is not the certificate's, an expired
 * or not-yet-valid certificate, a CA that is not a CA or did not issue the certificate, a CRL
 * that does not parse or that this CA did not sign. Private keys are never echoed: messages name
 * files and certificate subjects only.
 */
import { readFileSync } from "node:fs";
import { err, ok, type Result } from "../base/result.js";
import {
  type Certificate,
  certificatesFromPem,
  localCredentials,
  verifyChain,
} from "../crypto/cert.js";
import { crlSignedBy, parseCrls } from "../crypto/crl.js";

export interface CertFilePaths {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly crl?: string;
}

/** What the files hold (the key is secret: keep it out of logs). */
export interface CertMaterial {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  readonly crl?: Buffer;
  /** Our certificate's subject, for start-up messages. */
  readonly subject: string;
  /** Non-fatal notes (CRL past nextUpdate). */
  readonly warnings: readonly string[];
}

export interface CertFileIssue {
  /** The flag (without dashes): cert, key, ca, crl. */
  readonly field: "cert" | "key" | "ca" | "crl";
  readonly message: string;
}

function read(
  path: string,
  field: CertFileIssue["field"],
  what: string,
): Result<Buffer, CertFileIssue> {
  try {
    return ok(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    return err({
      field,
      message: `cannot read ${path} (${code}); give the PEM file of ${what}`,
    });
  }
}

const iso = (t: number): string => new Date(t).toISOString();

/** Reads and checks the files at wall-clock time `now` (ms since the epoch). */
export function loadCertFiles(
  p: CertFilePaths,
  now: number,
): Result<CertMaterial, CertFileIssue[]> {
  const issues: CertFileIssue[] = [];
  const cert = read(p.cert, "cert", "our certificate");
  const key = read(p.key, "key", "our certificate's private key");
  const ca = read(p.ca, "ca", "the CA certificate that issued the peers' certificates");
  const crl = p.crl !== undefined ? read(p.crl, "crl", "the CA's revocation list") : undefined;
  for (const r of [cert, key, ca, crl]) if (r && !r.ok) issues.push(r.error);
  if (issues.length > 0 || !cert.ok || !key.ok || !ca.ok) return err(issues);

  const certPem = cert.value.toString("utf8");
  const keyPem = key.value.toString("utf8");
  const caPem = ca.value.toString("utf8");
  const cas = certificatesFromPem(caPem);
  if (!cas.ok)
    issues.push({
      field: "ca",
      message: `${p.ca} is not a PEM certificate (${cas.error.message}); give the CA certificate (-----BEGIN CERTIFICATE-----)`,
    });
  else
    for (const c of cas.value)
      if (!c.fields.basicConstraints?.ca)
        issues.push({
          field: "ca",
          message: `${p.ca}: "${c.subjectText}" is not a CA certificate (basicConstraints CA:TRUE); give the certificate of the CA that issued the certificates`,
        });
  const mine = certificatesFromPem(certPem);
  if (!mine.ok) {
    issues.push({
      field: "cert",
      message: `${p.cert} is not a PEM certificate (${mine.error.message}); give our certificate (-----BEGIN CERTIFICATE-----)`,
    });
    return err(issues);
  }
  const creds = localCredentials(certPem, keyPem);
  if (!creds.ok) {
    const notOurs = /does not belong/.test(creds.error.message);
    issues.push({
      field: "key",
      message: notOurs
        ? `${p.key} is not the private key of ${p.cert} ("${mine.value[0]?.subjectText}"); give the key the certificate was issued for`
        : `${p.key}: ${creds.error.message}; give a PEM private key (RSA, or EC on P-256/P-384/P-521; unencrypted)`,
    });
  }
  const leaf = mine.value[0] as Certificate;
  if (now > leaf.fields.notAfter)
    issues.push({
      field: "cert",
      message: `${p.cert} ("${leaf.subjectText}") expired ${iso(leaf.fields.notAfter)}; renew it and give the new file`,
    });
  else if (now < leaf.fields.notBefore)
    issues.push({
      field: "cert",
      message: `${p.cert} ("${leaf.subjectText}") is not valid before ${iso(leaf.fields.notBefore)}; check this machine's clock or the certificate`,
    });
  else if (cas.ok && issues.length === 0) {
    const chain = verifyChain(leaf, mine.value.slice(1), cas.value, now);
    if (!chain.ok)
      issues.push({
        field: "ca",
        message: `${p.cert} does not chain to ${p.ca}: ${chain.error.message}; give the CA that issued it (peers check our certificate against the same CA)`,
      });
  }
  const warnings: string[] = [];
  if (crl?.ok && p.crl !== undefined) {
    const parsed = parseCrls(crl.value);
    if (!parsed.ok)
      issues.push({
        field: "crl",
        message: `${p.crl} is not a CRL (${parsed.error.message}); give the CA's CRL in PEM or DER (openssl ca -gencrl)`,
      });
    else if (cas.ok)
      for (const l of parsed.value) {
        if (!cas.value.some((c) => crlSignedBy(l, c)))
          issues.push({
            field: "crl",
            message: `${p.crl}: the CRL of "${l.issuerText}" is not signed by the CA in ${p.ca}; give that CA's CRL`,
          });
        else if (l.nextUpdate !== undefined && l.nextUpdate < now)
          warnings.push(
            `--crl ${p.crl}: the CRL was due for renewal ${iso(l.nextUpdate)}; it is still applied, fetch a fresh one`,
          );
      }
  }
  if (issues.length > 0) return err(issues);
  return ok({
    certPem,
    keyPem,
    caPem,
    ...(crl?.ok ? { crl: crl.value } : {}),
    subject: leaf.subjectText,
    warnings,
  });
}
