/**
 * Stable error codes of the IKEv1 engine (DESIGN rule 6). Every failure the engine reports in a
 * `failed` event, and every counter of failures (`ike_fail{reason="…"}`), uses one of these.
 * Never rename or reuse a code; add new ones at the end.
 *
 * (They live here rather than in src/base/errors.ts because that file belongs to another area;
 * the lead may move them.)
 */
export const IkeErrorCode = {
  /** No transform of the peer's SA was acceptable (RFC 2408 NO-PROPOSAL-CHOSEN). */
  NoProposalChosen: "OAK_E_IKE_NO_PROPOSAL_CHOSEN",
  /** A message's payloads do not fit the exchange (payload-rules.ts). */
  Payloads: "OAK_E_IKE_PAYLOADS",
  /** The message could not be parsed (wire codec error). */
  Malformed: "OAK_E_IKE_MALFORMED",
  /** Decryption gave no valid payload chain (wrong key, or corrupted). */
  Decrypt: "OAK_E_IKE_DECRYPT",
  /** HASH_I / HASH_R did not verify: wrong pre-shared key or identity. */
  AuthenticationFailed: "OAK_E_IKE_AUTH_FAILED",
  /** No pre-shared key is configured for this peer (address or identity). */
  NoPsk: "OAK_E_IKE_NO_PSK",
  /** A Quick Mode / Informational HASH did not verify. */
  BadHash: "OAK_E_IKE_BAD_HASH",
  /** The peer's Diffie-Hellman public value was invalid (RFC 6989 checks). */
  BadKeyExchange: "OAK_E_IKE_BAD_KE",
  /** The peer did not answer after all retransmissions. */
  Timeout: "OAK_E_IKE_TIMEOUT",
  /** The client NAT policy (AssumeUDPEncapsulationContextOnSendRule) forbids this SA. */
  NatPolicy: "OAK_E_NAT_POLICY",
  /** NAT-T was negotiated but the NAT-D payloads were missing or unusable. */
  NatD: "OAK_E_NATD_MISSING",
  /** Too many half-open SAs (flood protection). */
  HalfOpenLimit: "OAK_E_IKE_HALF_OPEN_LIMIT",
  /** The peer reported an error notify (its text is in the message). */
  PeerNotify: "OAK_E_IKE_PEER_NOTIFY",
  /** The peer's Quick Mode identities (traffic selectors) were refused by policy. */
  IdRefused: "OAK_E_IKE_ID_REFUSED",
  /** Dead-peer detection declared the peer dead (RFC 3706). */
  DeadPeer: "OAK_E_IKE_DEAD_PEER",
  /** An exchange type we do not serve (Aggressive Mode when disabled, New Group Mode...). */
  UnsupportedExchange: "OAK_E_IKE_UNSUPPORTED_EXCHANGE",
  /** A message for an SA we do not know (stale cookies / message ID). */
  UnknownSa: "OAK_E_IKE_UNKNOWN_SA",
  /** Internal crypto failure (bad key length...): a bug or an unsupported suite. */
  Crypto: "OAK_E_IKE_CRYPTO",
  /** The local operator asked for something impossible (no address, no offers...). */
  BadRequest: "OAK_E_IKE_BAD_REQUEST",
  /**
   * The peer's certificate is missing, malformed, of an unsupported type, expired or not yet
   * valid, or does not chain to a configured CA (the message names the OAK_E_CERT_* reason).
   */
  CertificateInvalid: "OAK_E_IKE_CERT_INVALID",
  /** The peer's phase-1 ID is not an identity of its certificate (subject DN or SAN). */
  CertificateIdMismatch: "OAK_E_IKE_CERT_ID_MISMATCH",
} as const;
export type IkeErrorCode = (typeof IkeErrorCode)[keyof typeof IkeErrorCode];

/** A failure as a value: its code, a sentence for people, and the notify to send, if any. */
export interface IkeFailure {
  readonly code: IkeErrorCode;
  readonly message: string;
  /** RFC 2408 §3.14.1 notify message type to send to the peer (0: none). */
  readonly notify: number;
}

export function failure(code: IkeErrorCode, message: string, notify = 0): IkeFailure {
  return { code, message, notify };
}
