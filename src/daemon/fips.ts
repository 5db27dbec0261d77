/**
 * FIPS mode at start-up, for `oakley serve` and `oakley connect`: which mode is in force (the
 * --fips flag, else the store's setting), the module behind it, and the line `oakley status`
 * shows. "provider" loads and verifies OpenSSL's FIPS provider (crypto/fips-provider.ts) and
 * refuses to start without it; "policy-only" restricts algorithms (ike/fips.ts) and claims no
 * validated module.
 *
 * PPP in FIPS mode: MS-CHAPv2 (MD4, DES) and CHAP-MD5 (MD5) are not approved, so the server
 * offers PAP only, inside the ESP-protected L2TP link (the password crosses the link encrypted
 * with the approved ESP suite; the client must consent with --allow-auth pap because the server
 * proves nothing). Chosen over RADIUS doing MS-CHAPv2 outside the module because this build
 * does not yet authenticate PPP through RADIUS, and because it keeps every cryptographic step
 * of a login on algorithms the mode allows.
 */
import { err, ok, type Result } from "../base/result.js";
import { enableFipsProvider } from "../crypto/fips-provider.js";
import { fipsPhase1, fipsPhase2, fipsPskProblem } from "../ike/index.js";
import type { EffectivePolicy, FipsMode } from "../policy/index.js";
import { phase1OffersOf, phase2OffersOf } from "./policy-to-ike.js";

export interface FipsState {
  readonly mode: FipsMode;
  /** What backs the mode, in words for `oakley status`. */
  readonly detail: string;
}

export interface FipsStartError {
  readonly code: string;
  readonly message: string;
}

export const FIPS_OFF: FipsState = { mode: "off", detail: "all configured algorithms allowed" };

const POLICY_ONLY_DETAIL =
  "approved algorithms only, WITHOUT a validated cryptographic module (OpenSSL's default provider)";

/** Turns the mode on; "provider" fails when the FIPS provider is absent or does not verify. */
export function startFips(mode: FipsMode): Result<FipsState, FipsStartError> {
  if (mode === "off") return ok(FIPS_OFF);
  if (mode === "policy-only") return ok({ mode, detail: POLICY_ONLY_DETAIL });
  const p = enableFipsProvider();
  if (!p.ok) return err({ code: p.error.code, message: `--fips: ${p.error.message}` });
  return ok({
    mode,
    detail: `approved algorithms only; AES, HMAC, hashes and the random generator from OpenSSL's ${p.value.provider}; Diffie-Hellman uses OpenSSL's low-level DH/EC functions, outside the provider; PAP verifiers (scrypt) are not available under it`,
  });
}

/** Text for `oakley status`: "provider active", "policy only" or "off", with the detail. */
export function fipsStatusText(s: FipsState): string {
  const head =
    s.mode === "provider" ? "provider active" : s.mode === "policy-only" ? "policy only" : "off";
  return s.mode === "off" ? head : `${head} - ${s.detail}`;
}

/**
 * What the store holds that FIPS mode cannot use: short PSKs are an error (the daemon refuses
 * to start); a policy whose every offer is unapproved leaves no way in (a warning, as for legacy
 * crypto). Names, never secrets.
 */
export function fipsPolicyProblems(eff: EffectivePolicy): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const r of eff.rules)
    for (const a of r.authentication) {
      if (a.method !== "psk") continue;
      const p = fipsPskProblem(a.secret);
      const line = `pre-shared key '${a.name}' ${p}`;
      if (p !== undefined && !errors.includes(line)) errors.push(line);
    }
  const mm = phase1OffersOf(eff);
  if (mm.length > 0 && !mm.some((x) => fipsPhase1(x)))
    warnings.push(
      "FIPS mode: no main-mode offer of the policy is approved (AES with SHA-1/SHA-2 and MODP >= 2048 or ECP 19/20/21); no peer can connect",
    );
  const qm = phase2OffersOf(eff);
  if (qm.length > 0 && !qm.some((x) => fipsPhase2(x)))
    warnings.push(
      "FIPS mode: no quick-mode offer of the policy is approved (AES-GCM, or AES-CBC with HMAC-SHA-1/SHA-2); no child SA can be made",
    );
  return { errors, warnings };
}
