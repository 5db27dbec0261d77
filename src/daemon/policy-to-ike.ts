/**
 * From the effective policy (src/policy: persistent policies first, then the assigned one) to
 * the IKE engine's configuration: Main Mode offers, Quick Mode offers, PSKs, certificates (our
 * certificate and key, the rules' CAs, CRLs read by the daemon), the authentication methods in
 * the rules' order, NAT-T and DH2048 settings, and the responder's child-SA policy (which
 * Quick Mode requests to accept).
 * Names in the policy are the registry's; numbers appear only at the IKE boundary.
 */
import type {
  AuthMethod,
  CertificateConfig,
  ChildDecision,
  ChildProposal,
  IkeConfig,
  IkeConfigInput,
  PskEntry,
} from "../ike/index.js";
import { fipsPhase1, fipsPhase2, ikeConfig } from "../ike/index.js";
import type { Phase1Offer, Phase2Offer } from "../ike/index.js";
import type { NatPolicy } from "../natt/nat-policy.js";
import { DH_GROUP, type EffectivePolicy, type QuickModeOffer } from "../policy/index.js";

const INTEGRITY: Record<QuickModeOffer["integrity"], Phase2Offer["integrity"]> = {
  none: "none",
  md5: "hmac-md5-96",
  sha1: "hmac-sha1-96",
  "sha2-256": "hmac-sha2-256-128",
  "sha2-384": "hmac-sha2-384-192",
  "sha2-512": "hmac-sha2-512-256",
};

export interface IkeFromPolicyOptions {
  readonly localAddress?: string;
  readonly windowsNatFriendly: boolean;
  /** Command-line override of the store's NegotiateDH2048 setting. */
  readonly negotiateDh2048?: boolean;
  /** Client side: the NAT policy 0/1/2. */
  readonly natPolicy?: NatPolicy;
  /** Extra PSKs (e.g. --psk on the command line), tried after the store's. */
  readonly extraPsks?: readonly PskEntry[];
  /** CRLs (file contents, PEM or DER) for the rules' CAs (`oakley serve --crl`). */
  readonly crls?: readonly (string | Uint8Array)[];
  /** Overrides of the engine defaults (timers in tests). */
  readonly overrides?: Partial<IkeConfigInput>;
  /**
   * FIPS mode: the policy's offers are filtered to approved suites (a PFS group must be approved
   * too) and the engine refuses unapproved proposals from peers.
   */
  readonly fips?: boolean;
}

function uniq<T>(xs: readonly T[]): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = JSON.stringify(x);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function phase1OffersOf(eff: EffectivePolicy): Phase1Offer[] {
  return uniq(
    eff.policies.flatMap((p) =>
      p.mainModeOffers.map(
        (o): Phase1Offer => ({
          encryption: o.encryption,
          keyBits: o.keyLength ?? 192,
          hash: o.hash,
          group: DH_GROUP[o.dhGroup],
        }),
      ),
    ),
  );
}

export function negotiateOffersOf(eff: EffectivePolicy): QuickModeOffer[] {
  return eff.rules.flatMap((r) => (r.action.type === "negotiate" ? r.action.offers : []));
}

export function phase2OffersOf(eff: EffectivePolicy): Phase2Offer[] {
  return uniq(
    negotiateOffersOf(eff).map(
      (o): Phase2Offer => ({
        cipher: o.encryption,
        keyBits: o.keyLength ?? 192,
        integrity: INTEGRITY[o.integrity],
      }),
    ),
  );
}

export function psksOf(eff: EffectivePolicy): PskEntry[] {
  const out: PskEntry[] = [];
  for (const r of eff.rules) {
    for (const a of r.authentication) {
      if (a.method !== "psk") continue;
      out.push({ secret: a.secret, name: a.name, ...(a.peerId ? { id: a.peerId.value } : {}) });
    }
  }
  return uniq(out);
}

/**
 * Certificate authentication from the rules: our certificate and key (the first rule's that has
 * one), every rule's CA as a trust anchor. Undefined when no rule authenticates by certificate.
 */
export function certificatesOf(
  eff: EffectivePolicy,
  crls: readonly (string | Uint8Array)[] = [],
): CertificateConfig | undefined {
  const certs = eff.rules.flatMap((r) =>
    r.authentication.flatMap((a) => (a.method === "certificate" ? [a] : [])),
  );
  if (certs.length === 0) return undefined;
  const local = certs.find((a) => a.local)?.local;
  return {
    certificate: local?.pem ?? "",
    privateKey: local?.privateKey ?? "",
    trustedCas: uniq(certs.map((a) => a.pem)),
    ...(crls.length > 0 ? { crls } : {}),
  };
}

/** PSK and/or certificate, in the order the rules list them (both: both offered). */
export function authMethodsFromPolicy(eff: EffectivePolicy): AuthMethod[] {
  const out: AuthMethod[] = [];
  for (const r of eff.rules)
    for (const a of r.authentication) {
      const m: AuthMethod = a.method === "psk" ? "psk" : "rsa-sig";
      if (!out.includes(m)) out.push(m);
    }
  return out.length > 0 ? out : ["psk"];
}

/**
 * The L2TP/IPsec server's child policy: ESP transport mode protecting L2TP, i.e. our side of
 * the Quick Mode selectors is UDP port 1701 (or "any port", as some clients send). The peer's
 * side may use any source port: Apple and old Windows clients use an ephemeral one.
 */
export function l2tpChildPolicy(p: ChildProposal): ChildDecision {
  if (p.mode !== "transport") {
    return {
      accept: false,
      reason: `only transport mode (L2TP/IPsec) is served; ${p.peerId} asked for tunnel mode`,
    };
  }
  const l = p.local;
  if ((l.protocol === 17 || l.protocol === 0) && (l.port === 1701 || l.port === 0))
    return { accept: true };
  return {
    accept: false,
    reason: `only L2TP (UDP 1701) is served; the selector was protocol ${l.protocol} port ${l.port}`,
  };
}

export function ikeConfigFromPolicy(eff: EffectivePolicy, o: IkeFromPolicyOptions): IkeConfig {
  const fips = o.fips === true;
  const qm = negotiateOffersOf(eff);
  const firstMm = eff.policies.flatMap((p) => p.mainModeOffers)[0];
  const firstQm = qm[0];
  const pfsGroup = firstQm && firstQm.pfs !== "none" ? DH_GROUP[firstQm.pfs] : 0;
  const certificates = certificatesOf(eff, o.crls);
  const input: IkeConfigInput = {
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    psks: [...psksOf(eff), ...(o.extraPsks ?? [])],
    ...(fips ? { fips } : {}),
    ...(certificates ? { certificates, authMethods: authMethodsFromPolicy(eff) } : {}),
    phase1: {
      offers: fips ? phase1OffersOf(eff).filter((x) => fipsPhase1(x)) : phase1OffersOf(eff),
      negotiateDh2048: o.negotiateDh2048 ?? eff.settings.negotiateDh2048,
      lifeSeconds: firstMm?.lifetimeSeconds ?? 28800,
    },
    phase2: {
      offers: fips
        ? phase2OffersOf(eff).filter((x) => fipsPhase2({ ...x, pfsGroup }))
        : phase2OffersOf(eff),
      lifeSeconds: firstQm?.lifetimeSeconds ?? 3600,
      lifeKilobytes: firstQm?.lifetimeKilobytes ?? 0,
      pfsGroup,
    },
    natt: {
      windowsFriendlyResponder: o.windowsNatFriendly,
      policy: o.natPolicy ?? eff.settings.natPolicy,
    },
    childPolicy: l2tpChildPolicy,
    ...o.overrides,
  };
  return ikeConfig(input);
}
