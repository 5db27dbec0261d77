/**
 * Configuration of the IKEv1 engine, with defaults chosen from what real clients send
 * (their published proposal lists and captures of them): Windows (AES-CBC-256/128, 3DES; SHA1; ECP-384/256, MODP-2048/1024),
 * Apple (AES-256/128, 3DES; SHA2-256/SHA1; MODP-2048/1536/1024), Android (MODP-1024 only).
 *
 * Pre-shared keys: in Main Mode the initiator's identity travels encrypted under a key derived
 * from the PSK (RFC 2409 §5.4), so a responder cannot pick the PSK by identity before it has
 * one. The engine therefore tries every candidate entry that could apply to the peer (entries
 * for its address, entries bound to an identity, wildcard entries), keeps the one whose HASH_I
 * verifies, and then checks that an identity-bound entry matches the ID the peer sent. The
 * lookup never requires the ID to equal the source address: Windows behind NAT sends its
 * private address as ID_IPV4_ADDR.
 */
import type { IdentificationValue } from "../wire/isakmp/index.js";
import type { NatPolicy } from "../natt/nat-policy.js";
import type { FragmentationConfig } from "./fragments.js";
import type { Phase1Offer, Phase2Offer } from "./proposals.js";
import type { SaTableLimits } from "./sa-table.js";
import type { Endpoint, TrafficSelector } from "./types.js";

/**
 * Phase-1 authentication methods (RFC 2409 App. A: 1 pre-shared key, 3 RSA signatures; RFC 4754:
 * 9-11 ECDSA). In `authMethods`, any signature method stands for "our certificate": the engine
 * offers and accepts the one our key can make (RSA, or ECDSA on the key's curve).
 */
export type AuthMethod = "psk" | "rsa-sig" | "ecdsa-256" | "ecdsa-384" | "ecdsa-521";

/**
 * X.509 credentials for RSA-signature authentication (RFC 2409 §5.1). Parsed once when the
 * engine starts; problems are reported in `IkeEngine.startupWarnings` and disable "rsa-sig".
 */
export interface CertificateConfig {
  /** Our certificate, PEM; further CERTIFICATE blocks are sent to the peer as the chain. */
  readonly certificate: string;
  /** Its private key, PEM: RSA (PKCS#1 or PKCS#8) or EC on P-256/P-384/P-521. */
  readonly privateKey: string;
  /** Trusted CA certificates, PEM (each text may hold several). Peers must chain to one. */
  readonly trustedCas: readonly string[];
  /** CRLs (PEM or DER) of those CAs: a peer whose certificate is listed is refused. */
  readonly crls?: readonly (string | Uint8Array)[];
  /**
   * Initiator: names the responder's certificate must carry as a subjectAltName (the server
   * name or address dialled: dNSName or iPAddress); one match suffices. Absent: any identity
   * the peer's certificate holds (the ID payload must still match it).
   */
  readonly peerNames?: readonly string[];
}

/** The methods in effect: `authMethods`, else rsa-sig with certificates (+psk with PSKs), else psk. */
export function authMethodsOf(c: IkeConfig): readonly AuthMethod[] {
  if (c.authMethods) return c.authMethods;
  if (!c.certificates) return ["psk"];
  return c.psks.length > 0 ? ["rsa-sig", "psk"] : ["rsa-sig"];
}

/** Printed by the daemon at start when Aggressive Mode is on (IkeEngine.startupWarnings). */
export const AGGRESSIVE_MODE_WARNING =
  "WARNING: IKEv1 Aggressive Mode is enabled (aggressiveMode: true). Its second message " +
  "carries HASH_R in clear text before the client is authenticated: anyone who sends one " +
  "packet with a valid identity gets material to crack the pre-shared key offline. Use it only " +
  "for clients that cannot do Main Mode (Android with an IPsec identifier set), with a long " +
  "random pre-shared key.";

export interface PskEntry {
  readonly secret: string | Uint8Array;
  /** Peer address this key is for (the observed source address). */
  readonly address?: string;
  /** Peer identity this key is for (text form: address, FQDN or user@FQDN). */
  readonly id?: string;
  /** A name for logs ("default", "alice"...). */
  readonly name?: string;
}

/** A Quick Mode request as the responder sees it, for the child policy. */
export interface ChildProposal {
  readonly peer: Endpoint;
  readonly peerId: string;
  readonly mode: "transport" | "tunnel";
  /** The initiator's side (IDci) and ours (IDcr), as proposed. */
  readonly remote: TrafficSelector;
  readonly local: TrafficSelector;
  /** NAT-OA: the initiator's original address, when it sent one. */
  readonly peerOriginalAddress?: string;
}

export type ChildDecision =
  | { readonly accept: true }
  | { readonly accept: false; readonly reason: string };

export interface IkeConfig {
  /** Our address for Main Modes we initiate (responders use the address a datagram came to). */
  readonly localAddress?: string;
  /**
   * Our phase-1 identity; default ID_IPV4_ADDR of our address (with certificates: the
   * certificate's subject as ID_DER_ASN1_DN).
   */
  readonly identity?: IdentificationValue;
  readonly psks: readonly PskEntry[];
  /** Our certificate, key and trusted CAs (RSA-signature authentication). */
  readonly certificates?: CertificateConfig;
  /** Offered in this order (initiator) and accepted (responder); default: authMethodsOf. */
  readonly authMethods?: readonly AuthMethod[];
  /**
   * Serve Aggressive Mode (RFC 2409 §5.4, responder only, pre-shared keys). Default false:
   * AM1 is dropped and counted. On: a loud warning at start (AGGRESSIVE_MODE_WARNING).
   */
  readonly aggressiveMode?: boolean;
  /**
   * Calendar time in ms since the Unix epoch, for certificate validity only (protocol
   * deadlines use the `now` arguments, which may be monotonic). The daemon passes its
   * platform clock's wallNow; default: Date.now.
   */
  readonly wallClock?: () => number;
  readonly phase1: {
    /** Offered (initiator, in order) and accepted (responder) suites. */
    readonly offers: readonly Phase1Offer[];
    /** Windows' NegotiateDH2048: offer and accept MODP-2048 (group 14). */
    readonly negotiateDh2048: boolean;
    /** Our lifetime (offered; and the maximum we keep a peer's SA). */
    readonly lifeSeconds: number;
  };
  readonly phase2: {
    readonly offers: readonly Phase2Offer[];
    readonly lifeSeconds: number;
    /** 0 = no kilobyte lifetime. */
    readonly lifeKilobytes: number;
    /** PFS group we ask for as initiator (0 = no PFS). As responder, PFS is what the peer asks. */
    readonly pfsGroup: number;
    /** Start a rekey this long before the lifetime ends (fraction of the lifetime). */
    readonly rekeyMargin: number;
  };
  readonly natt: {
    readonly enabled: boolean;
    /**
     * Responder behind a port forward: present NAT-D so that the client sees ITSELF behind NAT
     * and the server not (src/natt/nat-detect.ts), so Windows connects without the registry
     * edit. Default on.
     */
    readonly windowsFriendlyResponder: boolean;
    /** Client NAT policy (Windows' AssumeUDPEncapsulationContextOnSendRule). */
    readonly policy: NatPolicy;
    /** Keepalive interval when we are behind NAT (RFC 3948 §2.3 suggests 20 s). */
    readonly keepaliveSeconds: number;
  };
  readonly dpd: {
    /** Idle time before an R-U-THERE (RFC 3706 §5.1); 0 = never probe. */
    readonly delaySeconds: number;
    /** Time between unanswered R-U-THEREs. */
    readonly retrySeconds: number;
    /** Unanswered R-U-THEREs before the peer is declared dead. */
    readonly maxRetries: number;
    /** Probe peers that did not send the DPD vendor ID (Windows). Default off. */
    readonly probeWithoutVid: boolean;
  };
  readonly retransmit: {
    /** First retransmission after this many ms; doubled each time (1, 2, 4, 8, 16 s). */
    readonly initialMs: number;
    /** Retransmissions before giving up. */
    readonly tries: number;
  };
  /** Half-open SAs die after this long without progress. */
  readonly halfOpenTimeoutSeconds: number;
  readonly table?: SaTableLimits;
  /**
   * FIPS mode (fips.ts): only approved suites are offered, and a peer's unapproved proposal is
   * refused (NO-PROPOSAL-CHOSEN) even when an offer above would match it; PSK authentication
   * only. Default off.
   */
  readonly fips?: boolean;
  /** Responder: which Quick Mode proposals to accept. Default: any. */
  readonly childPolicy?: (p: ChildProposal) => ChildDecision;
  /**
   * Vendor IDs an initiator sends in MM1 instead of ours (RFC 3947, drafts 03/02\n/02, DPD):
   * for emulating other clients in tests (e.g. Windows' set, which has no DPD VID).
   */
  readonly initiatorVendorIds?: readonly Buffer[];
  /** IKEv1 fragmentation (fragments.ts); default DEFAULT_FRAGMENTATION: on, 1280-byte datagrams. */
  readonly fragmentation?: Partial<FragmentationConfig>;
}

/** Cartesian product helper: every encryption × hash × group, in the given orders. */
export function phase1Offers(
  ciphers: readonly { encryption: Phase1Offer["encryption"]; keyBits: number }[],
  hashes: readonly Phase1Offer["hash"][],
  groups: readonly number[],
): Phase1Offer[] {
  const out: Phase1Offer[] = [];
  for (const g of groups)
    for (const c of ciphers) for (const h of hashes) out.push({ ...c, hash: h, group: g });
  return out;
}

export const DEFAULT_PHASE1_OFFERS: readonly Phase1Offer[] = phase1Offers(
  [
    { encryption: "aes-cbc", keyBits: 256 },
    { encryption: "aes-cbc", keyBits: 128 },
    { encryption: "3des-cbc", keyBits: 192 },
  ],
  ["sha2-256", "sha1"],
  [14, 19, 20, 21, 15, 16, 5, 2],
);

export const DEFAULT_PHASE2_OFFERS: readonly Phase2Offer[] = [
  { cipher: "aes-cbc", keyBits: 256, integrity: "hmac-sha1-96" },
  { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-sha1-96" },
  { cipher: "aes-cbc", keyBits: 256, integrity: "hmac-sha2-256-128" },
  { cipher: "aes-cbc", keyBits: 128, integrity: "hmac-sha2-256-128" },
  { cipher: "aes-gcm-16", keyBits: 256, integrity: "none" },
  { cipher: "aes-gcm-16", keyBits: 128, integrity: "none" },
  { cipher: "3des-cbc", keyBits: 192, integrity: "hmac-sha1-96" },
];

export type IkeConfigInput = Partial<
  Omit<IkeConfig, "phase1" | "phase2" | "natt" | "dpd" | "retransmit">
> & {
  readonly phase1?: Partial<IkeConfig["phase1"]>;
  readonly phase2?: Partial<IkeConfig["phase2"]>;
  readonly natt?: Partial<IkeConfig["natt"]>;
  readonly dpd?: Partial<IkeConfig["dpd"]>;
  readonly retransmit?: Partial<IkeConfig["retransmit"]>;
};

export function ikeConfig(c: IkeConfigInput): IkeConfig {
  return {
    ...c,
    psks: c.psks ?? [],
    phase1: {
      offers: DEFAULT_PHASE1_OFFERS,
      negotiateDh2048: true,
      lifeSeconds: 28800,
      ...c.phase1,
    },
    phase2: {
      offers: DEFAULT_PHASE2_OFFERS,
      lifeSeconds: 3600,
      lifeKilobytes: 0,
      pfsGroup: 0,
      rekeyMargin: 0.1,
      ...c.phase2,
    },
    natt: {
      enabled: true,
      windowsFriendlyResponder: true,
      policy: 0,
      keepaliveSeconds: 20,
      ...c.natt,
    },
    dpd: { delaySeconds: 30, retrySeconds: 5, maxRetries: 5, probeWithoutVid: false, ...c.dpd },
    retransmit: { initialMs: 1000, tries: 5, ...c.retransmit },
    halfOpenTimeoutSeconds: c.halfOpenTimeoutSeconds ?? 60,
    aggressiveMode: c.aggressiveMode ?? false,
  };
}
