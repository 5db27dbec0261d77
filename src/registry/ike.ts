/**
 * IKEv1 / ISAKMP number registry: every number the ISAKMP codecs carry, with a readable name.
 *
 * Implements the IANA "Internet Security Association and Key Management Protocol (ISAKMP)
 * Identifiers" and "Internet Key Exchange (IKE) Attributes" registries as used by IKEv1:
 *  - exchange types, payload types, notify message types, DOI, situation (RFC 2408 §3.1, §3.4,
 *    §3.14.1; RFC 2407 §4.2, §4.6.3), DPD notifies (RFC 3706 §5), NAT-T payloads (RFC 3947 §3,
 *    draft-ietf-ipsec-nat-t-ike-02 numbers 130/131), Cisco IKE fragmentation (132);
 *  - IKE (phase 1) attribute classes and values (RFC 2409 Appendix A; RFC 3602 AES; RFC 4868
 *    SHA2; RFC 4754 ECDSA; draft-beaulieu-ike-xauth-02 / draft-ietf-ipsec-isakmp-hybrid-auth-05
 *    private authentication methods);
 *  - IPsec DOI (phase 2) attribute classes and values (RFC 2407 §4.5, RFC 3947 §5.1
 *    encapsulation modes + the draft values 61443/61444, RFC 4868, RFC 3566, RFC 4543...);
 *  - protocol IDs and transform IDs (RFC 2407 §4.4.1-4.4.5; RFC 4106 AES-GCM 18/19/20...);
 *  - identification types (RFC 2407 §4.6.2.1), certificate encodings (RFC 2408 §3.9).
 * Names follow the RFC spelling; where tables were cross-checked, the source was Wireshark's
 * epan/dissectors/packet-isakmp.c value strings (ike_attr_authmeth, dh_group, notifmsg_v1_type).
 *
 * API: `name(table, value)` never returns a bare number: unknown values read
 * "unknown-<table>-<n>" and values inside a registry range read e.g. "private-use-notify-40000".
 * `ikeGroupName(n)` also knows the Windows IPsec-policy constant DH_GROUP_2048 = 0x10000001
 * (Windows SDK winipsec.h, IPSEC_MM_OFFER.dwDHGroup) that Windows' IP Security Monitor
 * showed as "268435457".
 *
 * Left out: IKEv2 registries (different numbers; Oakley is IKEv1), GDOI (RFC 6407) values
 * beyond the attribute class names.
 */

/** A number -> name table. Build with `nameTable`. */
export interface NameTable {
  /** Short id used in names of unknown values: "unknown-<id>-<n>". */
  readonly id: string;
  readonly names: ReadonlyMap<number, string>;
  readonly ranges: readonly NameRange[];
}

export interface NameRange {
  readonly from: number;
  readonly to: number;
  /** Prefix, e.g. "private-use" gives "private-use-<id>-<n>". */
  readonly label: string;
}

export function nameTable(
  id: string,
  entries: Readonly<Record<number, string>>,
  ranges: readonly NameRange[] = [],
): NameTable {
  const names = new Map<number, string>();
  for (const [k, v] of Object.entries(entries)) names.set(Number(k), v);
  return { id, names, ranges };
}

/** A readable name for `value`; never a bare number. */
export function name(table: NameTable, value: number): string {
  const n = table.names.get(value);
  if (n !== undefined) return n;
  for (const r of table.ranges) {
    if (value >= r.from && value <= r.to) return `${r.label}-${table.id}-${value}`;
  }
  return `unknown-${table.id}-${value}`;
}

/** "name (value)" — for logs and the monitor, where the number helps cross-checking. */
export function nameWithNumber(table: NameTable, value: number): string {
  return `${name(table, value)} (${value})`;
}

/** True when the table has an explicit entry for `value`. */
export function isKnown(table: NameTable, value: number): boolean {
  return table.names.has(value);
}

/** Builds { value: name } from a const object { NAME: value } and a naming function. */
function fromConst(obj: Readonly<Record<string, number>>, rename: (k: string) => string) {
  const out: Record<number, string> = {};
  for (const [k, v] of Object.entries(obj)) out[v] = rename(k);
  return out;
}
const hyphen = (k: string) => k.replace(/_/g, "-");

// ---------------------------------------------------------------------------------------------
// ISAKMP header and payloads (RFC 2408)

/** Exchange types, RFC 2408 §3.1 + RFC 2409 §5/§9 (Quick Mode 32, New Group Mode 33). */
export const ExchangeType = {
  NONE: 0,
  BASE: 1,
  IDENTITY_PROTECTION: 2,
  AUTHENTICATION_ONLY: 3,
  AGGRESSIVE: 4,
  INFORMATIONAL: 5,
  /** draft-ietf-ipsec-isakmp-mode-cfg (XAUTH/Mode Config). */
  TRANSACTION: 6,
  QUICK_MODE: 32,
  NEW_GROUP_MODE: 33,
} as const;
export const EXCHANGE_TYPES = nameTable(
  "exchange",
  {
    0: "NONE",
    1: "Base",
    2: "Identity Protection (Main Mode)",
    3: "Authentication Only",
    4: "Aggressive",
    5: "Informational",
    6: "Transaction (Mode Config)",
    32: "Quick Mode",
    33: "New Group Mode",
    // IKEv2 numbers, named so that a stray IKEv2 message is readable in logs.
    34: "IKE_SA_INIT (IKEv2)",
    35: "IKE_AUTH (IKEv2)",
    36: "CREATE_CHILD_SA (IKEv2)",
    37: "INFORMATIONAL (IKEv2)",
    38: "IKE_SESSION_RESUME (IKEv2)",
  },
  [
    { from: 7, to: 31, label: "reserved" },
    { from: 240, to: 255, label: "private-use" },
  ],
);

/** Next-payload types, RFC 2408 §3.1 + RFC 3947 §3 + draft-ietf-ipsec-nat-t-ike-02. */
export const PayloadType = {
  NONE: 0,
  SA: 1,
  P: 2,
  T: 3,
  KE: 4,
  ID: 5,
  CERT: 6,
  CR: 7,
  HASH: 8,
  SIG: 9,
  NONCE: 10,
  N: 11,
  D: 12,
  VID: 13,
  /** Attribute payload, draft-ietf-ipsec-isakmp-mode-cfg-05 (XAUTH / Mode Config). */
  ATTR: 14,
  NAT_D: 20,
  NAT_OA: 21,
  /** NAT-D as numbered in draft-ietf-ipsec-nat-t-ike-01..03. */
  NAT_D_DRAFT: 130,
  /** NAT-OA as numbered in draft-ietf-ipsec-nat-t-ike-01..03. */
  NAT_OA_DRAFT: 131,
  /** Cisco/Microsoft proprietary IKEv1 fragmentation payload. */
  FRAGMENT: 132,
} as const;
export type PayloadTypeNumber = (typeof PayloadType)[keyof typeof PayloadType];
export const PAYLOAD_TYPES = nameTable(
  "payload",
  {
    0: "NONE",
    1: "SA",
    2: "Proposal",
    3: "Transform",
    4: "KE",
    5: "ID",
    6: "CERT",
    7: "CR",
    8: "HASH",
    9: "SIG",
    10: "NONCE",
    11: "N",
    12: "D",
    13: "VID",
    14: "ATTR",
    15: "SAK (GDOI)",
    16: "SAT (GDOI)",
    17: "KD (GDOI)",
    18: "SEQ (GDOI)",
    19: "POP (GDOI)",
    20: "NAT-D",
    21: "NAT-OA",
    22: "GAP (GDOI)",
    130: "NAT-D (draft)",
    131: "NAT-OA (draft)",
    132: "FRAGMENT (Cisco)",
  },
  [
    { from: 23, to: 127, label: "reserved" },
    { from: 128, to: 255, label: "private-use" },
  ],
);

/** ISAKMP header flags, RFC 2408 §3.1. */
export const IsakmpFlag = {
  ENCRYPTION: 0x01,
  COMMIT: 0x02,
  AUTHENTICATION_ONLY: 0x04,
} as const;

/** Domain of Interpretation, RFC 2408 §3.4, RFC 2407 §4.2, RFC 3547. */
export const Doi = { ISAKMP: 0, IPSEC: 1, GDOI: 2 } as const;
export const DOIS = nameTable("doi", { 0: "ISAKMP", 1: "IPSEC", 2: "GDOI" });

/** IPsec DOI situation bits, RFC 2407 §4.2. */
export const Situation = {
  SIT_IDENTITY_ONLY: 0x01,
  SIT_SECRECY: 0x02,
  SIT_INTEGRITY: 0x04,
} as const;

/** Readable situation bitmask, e.g. "SIT_IDENTITY_ONLY" or "SIT_IDENTITY_ONLY|0x80". */
export function situationName(value: number): string {
  const parts: string[] = [];
  let rest = value >>> 0;
  for (const [k, bit] of Object.entries(Situation)) {
    if (rest & bit) {
      parts.push(k);
      rest &= ~bit;
    }
  }
  if (rest !== 0) parts.push(`unknown-situation-bits-0x${(rest >>> 0).toString(16)}`);
  return parts.length === 0 ? "none" : parts.join("|");
}

/** Notify message types, RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706 §5. */
export const NotifyType = {
  INVALID_PAYLOAD_TYPE: 1,
  DOI_NOT_SUPPORTED: 2,
  SITUATION_NOT_SUPPORTED: 3,
  INVALID_COOKIE: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_MINOR_VERSION: 6,
  INVALID_EXCHANGE_TYPE: 7,
  INVALID_FLAGS: 8,
  INVALID_MESSAGE_ID: 9,
  INVALID_PROTOCOL_ID: 10,
  INVALID_SPI: 11,
  INVALID_TRANSFORM_ID: 12,
  ATTRIBUTES_NOT_SUPPORTED: 13,
  NO_PROPOSAL_CHOSEN: 14,
  BAD_PROPOSAL_SYNTAX: 15,
  PAYLOAD_MALFORMED: 16,
  INVALID_KEY_INFORMATION: 17,
  INVALID_ID_INFORMATION: 18,
  INVALID_CERT_ENCODING: 19,
  INVALID_CERTIFICATE: 20,
  CERT_TYPE_UNSUPPORTED: 21,
  INVALID_CERT_AUTHORITY: 22,
  INVALID_HASH_INFORMATION: 23,
  AUTHENTICATION_FAILED: 24,
  INVALID_SIGNATURE: 25,
  ADDRESS_NOTIFICATION: 26,
  NOTIFY_SA_LIFETIME: 27,
  CERTIFICATE_UNAVAILABLE: 28,
  UNSUPPORTED_EXCHANGE_TYPE: 29,
  UNEQUAL_PAYLOAD_LENGTHS: 30,
  CONNECTED: 16384,
  RESPONDER_LIFETIME: 24576,
  REPLAY_STATUS: 24577,
  INITIAL_CONTACT: 24578,
  R_U_THERE: 36136,
  R_U_THERE_ACK: 36137,
} as const;
export const NOTIFY_TYPES = nameTable(
  "notify",
  {
    ...fromConst(NotifyType, hyphen),
    // Cisco Unity private notifies (Wireshark notifmsg_v1_type).
    40501: "UNITY-LOAD-BALANCE",
    40502: "UNITY-UNKNOWN",
    40503: "UNITY-GROUP-HASH",
  },
  [
    { from: 31, to: 8191, label: "reserved" },
    { from: 8192, to: 16383, label: "private-use-error" },
    { from: 16385, to: 24575, label: "reserved-status" },
    { from: 24579, to: 32767, label: "doi-specific" },
    { from: 32768, to: 40959, label: "private-use-status" },
    { from: 40960, to: 65535, label: "reserved" },
  ],
);

/** Notify types below 8192 are errors (RFC 2408 §3.14.1); the rest are status. */
export function isErrorNotify(notifyType: number): boolean {
  return notifyType >= 1 && notifyType <= 16383;
}

/** Protocol IDs, RFC 2407 §4.4.1 (+ RFC 4705). */
export const ProtocolId = {
  RESERVED: 0,
  PROTO_ISAKMP: 1,
  PROTO_IPSEC_AH: 2,
  PROTO_IPSEC_ESP: 3,
  PROTO_IPCOMP: 4,
  PROTO_GIGABEAM_RADIO: 5,
} as const;
export const PROTOCOL_IDS = nameTable("protocol", {
  0: "RESERVED",
  1: "PROTO_ISAKMP",
  2: "PROTO_IPSEC_AH",
  3: "PROTO_IPSEC_ESP",
  4: "PROTO_IPCOMP",
  5: "PROTO_GIGABEAM_RADIO",
});

/** ISAKMP transform IDs, RFC 2407 §4.4.2. */
export const IsakmpTransformId = { KEY_IKE: 1 } as const;
export const ISAKMP_TRANSFORM_IDS = nameTable("isakmp-transform", { 1: "KEY_IKE" });

/** AH transform IDs, RFC 2407 §4.4.3 (+ RFC 4868, RFC 3566, RFC 4359, RFC 4543). */
export const AH_TRANSFORM_IDS = nameTable(
  "ah-transform",
  {
    2: "AH_MD5",
    3: "AH_SHA",
    4: "AH_DES",
    5: "AH_SHA2-256",
    6: "AH_SHA2-384",
    7: "AH_SHA2-512",
    8: "AH_RIPEMD",
    9: "AH_AES-XCBC-MAC",
    10: "AH_RSA",
    11: "AH_AES-128-GMAC",
    12: "AH_AES-192-GMAC",
    13: "AH_AES-256-GMAC",
  },
  [{ from: 249, to: 255, label: "private-use" }],
);

/** ESP transform IDs, RFC 2407 §4.4.4 (+ RFC 3602, RFC 3686, RFC 4309, RFC 4106, RFC 4543...). */
export const EspTransformId = {
  ESP_DES_IV64: 1,
  ESP_DES: 2,
  ESP_3DES: 3,
  ESP_RC5: 4,
  ESP_IDEA: 5,
  ESP_CAST: 6,
  ESP_BLOWFISH: 7,
  ESP_3IDEA: 8,
  ESP_DES_IV32: 9,
  ESP_RC4: 10,
  ESP_NULL: 11,
  ESP_AES_CBC: 12,
  ESP_AES_CTR: 13,
  ESP_AES_CCM_8: 14,
  ESP_AES_CCM_12: 15,
  ESP_AES_CCM_16: 16,
  ESP_AES_GCM_8: 18,
  ESP_AES_GCM_12: 19,
  ESP_AES_GCM_16: 20,
  ESP_SEED_CBC: 21,
  ESP_CAMELLIA: 22,
  ESP_NULL_AUTH_AES_GMAC: 23,
} as const;
export const ESP_TRANSFORM_IDS = nameTable(
  "esp-transform",
  {
    1: "ESP_DES_IV64",
    2: "ESP_DES",
    3: "ESP_3DES",
    4: "ESP_RC5",
    5: "ESP_IDEA",
    6: "ESP_CAST",
    7: "ESP_BLOWFISH",
    8: "ESP_3IDEA",
    9: "ESP_DES_IV32",
    10: "ESP_RC4",
    11: "ESP_NULL",
    12: "ESP_AES-CBC",
    13: "ESP_AES-CTR",
    14: "ESP_AES-CCM_8",
    15: "ESP_AES-CCM_12",
    16: "ESP_AES-CCM_16",
    18: "ESP_AES-GCM_8",
    19: "ESP_AES-GCM_12",
    20: "ESP_AES-GCM_16",
    21: "ESP_SEED_CBC",
    22: "ESP_CAMELLIA",
    23: "ESP_NULL_AUTH_AES-GMAC",
  },
  [{ from: 249, to: 255, label: "private-use" }],
);

/** IPCOMP transform IDs, RFC 2407 §4.4.5. */
export const IPCOMP_TRANSFORM_IDS = nameTable("ipcomp-transform", {
  1: "IPCOMP_OUI",
  2: "IPCOMP_DEFLATE",
  3: "IPCOMP_LZS",
  4: "IPCOMP_LZJH",
});

/** The transform-ID table that applies to a proposal's protocol. */
export function transformIdTable(protocolId: number): NameTable {
  switch (protocolId) {
    case ProtocolId.PROTO_ISAKMP:
      return ISAKMP_TRANSFORM_IDS;
    case ProtocolId.PROTO_IPSEC_AH:
      return AH_TRANSFORM_IDS;
    case ProtocolId.PROTO_IPSEC_ESP:
      return ESP_TRANSFORM_IDS;
    case ProtocolId.PROTO_IPCOMP:
      return IPCOMP_TRANSFORM_IDS;
    default:
      return UNKNOWN_TRANSFORM_IDS;
  }
}
const UNKNOWN_TRANSFORM_IDS = nameTable("transform", {});

/** Identification types, RFC 2407 §4.6.2.1 (+ RFC 3554 ID_LIST). */
export const IdType = {
  ID_IPV4_ADDR: 1,
  ID_FQDN: 2,
  ID_USER_FQDN: 3,
  ID_IPV4_ADDR_SUBNET: 4,
  ID_IPV6_ADDR: 5,
  ID_IPV6_ADDR_SUBNET: 6,
  ID_IPV4_ADDR_RANGE: 7,
  ID_IPV6_ADDR_RANGE: 8,
  ID_DER_ASN1_DN: 9,
  ID_DER_ASN1_GN: 10,
  ID_KEY_ID: 11,
  ID_LIST: 12,
} as const;
export const ID_TYPES = nameTable(
  "id",
  fromConst(IdType, (k) => k),
  [{ from: 249, to: 255, label: "private-use" }],
);

/** Certificate encodings, RFC 2408 §3.9. */
export const CertEncoding = {
  NONE: 0,
  PKCS7_WRAPPED_X509: 1,
  PGP: 2,
  DNS_SIGNED_KEY: 3,
  X509_SIGNATURE: 4,
  X509_KEY_EXCHANGE: 5,
  KERBEROS_TOKENS: 6,
  CRL: 7,
  ARL: 8,
  SPKI: 9,
  X509_ATTRIBUTE: 10,
} as const;
export const CERT_ENCODINGS = nameTable(
  "cert-encoding",
  {
    0: "NONE",
    1: "PKCS #7 wrapped X.509 certificate",
    2: "PGP Certificate",
    3: "DNS Signed Key",
    4: "X.509 Certificate - Signature",
    5: "X.509 Certificate - Key Exchange",
    6: "Kerberos Tokens",
    7: "Certificate Revocation List (CRL)",
    8: "Authority Revocation List (ARL)",
    9: "SPKI Certificate",
    10: "X.509 Certificate - Attribute",
  },
  [{ from: 11, to: 255, label: "reserved" }],
);

// ---------------------------------------------------------------------------------------------
// IKE (phase 1) attributes, RFC 2409 Appendix A

/** IKE attribute classes (RFC 2409 App. A). */
export const IkeAttr = {
  ENCRYPTION_ALGORITHM: 1,
  HASH_ALGORITHM: 2,
  AUTHENTICATION_METHOD: 3,
  GROUP_DESCRIPTION: 4,
  GROUP_TYPE: 5,
  GROUP_PRIME: 6,
  GROUP_GENERATOR_ONE: 7,
  GROUP_GENERATOR_TWO: 8,
  GROUP_CURVE_A: 9,
  GROUP_CURVE_B: 10,
  LIFE_TYPE: 11,
  LIFE_DURATION: 12,
  PRF: 13,
  KEY_LENGTH: 14,
  FIELD_SIZE: 15,
  GROUP_ORDER: 16,
} as const;
export const IKE_ATTRIBUTE_CLASSES = nameTable(
  "ike-attr",
  {
    1: "Encryption Algorithm",
    2: "Hash Algorithm",
    3: "Authentication Method",
    4: "Group Description",
    5: "Group Type",
    6: "Group Prime/Irreducible Polynomial",
    7: "Group Generator One",
    8: "Group Generator Two",
    9: "Group Curve A",
    10: "Group Curve B",
    11: "Life Type",
    12: "Life Duration",
    13: "PRF",
    14: "Key Length",
    15: "Field Size",
    16: "Group Order",
    // Named by Wireshark (ike_attr_type); no IKEv1 RFC defines its use.
    17: "Block Size",
  },
  [
    { from: 18, to: 16383, label: "reserved" },
    { from: 16384, to: 32767, label: "private-use" },
  ],
);

/** RFC 2409 App. A: "B" = basic (TV only), "V" = variable (TLV, or TV when it fits). */
export const IKE_ATTRIBUTE_FORMAT: Readonly<Record<number, "B" | "V">> = {
  1: "B",
  2: "B",
  3: "B",
  4: "B",
  5: "B",
  6: "V",
  7: "V",
  8: "V",
  9: "V",
  10: "V",
  11: "B",
  12: "V",
  13: "B",
  14: "B",
  15: "B",
  16: "V",
};

export const IkeEncryption = {
  DES_CBC: 1,
  IDEA_CBC: 2,
  BLOWFISH_CBC: 3,
  RC5_R16_B64_CBC: 4,
  TRIPLE_DES_CBC: 5,
  CAST_CBC: 6,
  AES_CBC: 7,
  CAMELLIA_CBC: 8,
} as const;
export const IKE_ENCRYPTION_ALGORITHMS = nameTable(
  "ike-encryption",
  {
    1: "DES-CBC",
    2: "IDEA-CBC",
    3: "Blowfish-CBC",
    4: "RC5-R16-B64-CBC",
    5: "3DES-CBC",
    6: "CAST-CBC",
    7: "AES-CBC",
    8: "CAMELLIA-CBC",
  },
  [{ from: 65001, to: 65535, label: "private-use" }],
);

export const IkeHash = { MD5: 1, SHA: 2, TIGER: 3, SHA2_256: 4, SHA2_384: 5, SHA2_512: 6 } as const;
export const IKE_HASH_ALGORITHMS = nameTable(
  "ike-hash",
  { 1: "MD5", 2: "SHA", 3: "Tiger", 4: "SHA2-256", 5: "SHA2-384", 6: "SHA2-512" },
  [{ from: 65001, to: 65535, label: "private-use" }],
);

/** Authentication methods (RFC 2409 App. A, RFC 4754, XAUTH/hybrid drafts as numbered by racoon/Wireshark). */
export const IkeAuthMethod = {
  PRE_SHARED_KEY: 1,
  DSS_SIGNATURES: 2,
  RSA_SIGNATURES: 3,
  RSA_ENCRYPTION: 4,
  RSA_REVISED_ENCRYPTION: 5,
  ECDSA_SHA256_P256: 9,
  ECDSA_SHA384_P384: 10,
  ECDSA_SHA512_P521: 11,
  HYBRID_INIT_RSA: 64221,
  HYBRID_RESP_RSA: 64222,
  HYBRID_INIT_DSS: 64223,
  HYBRID_RESP_DSS: 64224,
  XAUTH_INIT_PRE_SHARED: 65001,
  XAUTH_RESP_PRE_SHARED: 65002,
  XAUTH_INIT_DSS: 65003,
  XAUTH_RESP_DSS: 65004,
  XAUTH_INIT_RSA: 65005,
  XAUTH_RESP_RSA: 65006,
  XAUTH_INIT_RSA_ENCRYPTION: 65007,
  XAUTH_RESP_RSA_ENCRYPTION: 65008,
  XAUTH_INIT_RSA_REVISED_ENCRYPTION: 65009,
  XAUTH_RESP_RSA_REVISED_ENCRYPTION: 65010,
} as const;
export const IKE_AUTH_METHODS = nameTable(
  "auth-method",
  {
    1: "pre-shared key",
    2: "DSS signatures",
    3: "RSA signatures",
    4: "Encryption with RSA",
    5: "Revised encryption with RSA",
    6: "Reserved (was Encryption with El-Gamal)",
    7: "Reserved (was Revised encryption with El-Gamal)",
    8: "Reserved (was ECDSA signatures)",
    9: "ECDSA with SHA-256 on the P-256 curve",
    10: "ECDSA with SHA-384 on the P-384 curve",
    11: "ECDSA with SHA-512 on the P-521 curve",
    64221: "HybridInitRSA",
    64222: "HybridRespRSA",
    64223: "HybridInitDSS",
    64224: "HybridRespDSS",
    65001: "XAUTHInitPreShared",
    65002: "XAUTHRespPreShared",
    65003: "XAUTHInitDSS",
    65004: "XAUTHRespDSS",
    65005: "XAUTHInitRSA",
    65006: "XAUTHRespRSA",
    65007: "XAUTHInitRSAEncryption",
    65008: "XAUTHRespRSAEncryption",
    65009: "XAUTHInitRSARevisedEncryption",
    65010: "XAUTHRespRSARevisedEncryption",
  },
  [{ from: 65001, to: 65535, label: "private-use" }],
);

/** Group descriptions (RFC 2409 §6, RFC 3526, RFC 5903, RFC 5114, RFC 6932; IANA list to 30). */
export const GroupDescription = {
  MODP_768: 1,
  MODP_1024: 2,
  EC2N_155: 3,
  EC2N_185: 4,
  MODP_1536: 5,
  MODP_2048: 14,
  MODP_3072: 15,
  MODP_4096: 16,
  MODP_6144: 17,
  MODP_8192: 18,
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
  MODP_1024_S160: 22,
  MODP_2048_S224: 23,
  MODP_2048_S256: 24,
  ECP_192: 25,
  ECP_224: 26,
  BRAINPOOL_P224R1: 27,
  BRAINPOOL_P256R1: 28,
  BRAINPOOL_P384R1: 29,
  BRAINPOOL_P512R1: 30,
} as const;
export const GROUP_DESCRIPTIONS = nameTable(
  "group",
  {
    1: "MODP-768 (group 1)",
    2: "MODP-1024 (group 2)",
    3: "EC2N-155 (group 3)",
    4: "EC2N-185 (group 4)",
    5: "MODP-1536 (group 5)",
    6: "EC2N-163 (group 6)",
    7: "EC2N-163 (group 7)",
    8: "EC2N-283 (group 8)",
    9: "EC2N-283 (group 9)",
    10: "EC2N-409 (group 10)",
    11: "EC2N-409 (group 11)",
    12: "EC2N-571 (group 12)",
    13: "EC2N-571 (group 13)",
    14: "MODP-2048 (group 14)",
    15: "MODP-3072 (group 15)",
    16: "MODP-4096 (group 16)",
    17: "MODP-6144 (group 17)",
    18: "MODP-8192 (group 18)",
    19: "ECP-256 (group 19)",
    20: "ECP-384 (group 20)",
    21: "ECP-521 (group 21)",
    22: "MODP-1024 with 160-bit prime order subgroup (group 22)",
    23: "MODP-2048 with 224-bit prime order subgroup (group 23)",
    24: "MODP-2048 with 256-bit prime order subgroup (group 24)",
    25: "ECP-192 (group 25)",
    26: "ECP-224 (group 26)",
    27: "brainpoolP224r1 (group 27)",
    28: "brainpoolP256r1 (group 28)",
    29: "brainpoolP384r1 (group 29)",
    30: "brainpoolP512r1 (group 30)",
    // RFC 8031 / RFC 9385 numbers, shared with IKEv2's registry (Wireshark dh_group).
    31: "Curve25519 (group 31)",
    32: "Curve448 (group 32)",
    33: "GOST3410_2012_256 (group 33)",
    34: "GOST3410_2012_512 (group 34)",
  },
  [
    { from: 35, to: 32767, label: "unassigned" },
    { from: 32768, to: 65535, label: "private-use" },
  ],
);

/**
 * Non-IANA group numbers seen in the field. Windows IPsec policy (winipsec.h,
 * IPSEC_MM_OFFER.dwDHGroup) stores DH_GROUP_1 = 1, DH_GROUP_2 = 2, DH_GROUP_2048 = 0x10000001;
 * the Windows Server 2003 IP Security Monitor displayed the latter raw as "268435457" (Microsoft KB 818043).
 */
export const GROUP_QUIRKS: ReadonlyMap<number, string> = new Map([
  [0x10000001, "MODP-2048 (group 14; Windows policy constant DH_GROUP_2048 = 0x10000001)"],
]);

/** Name of a Diffie-Hellman group number, IANA or Windows-internal; never a bare number. */
export function ikeGroupName(value: number): string {
  return GROUP_QUIRKS.get(value) ?? name(GROUP_DESCRIPTIONS, value);
}

/** IANA group number for a Windows-internal DH constant (0x10000001 -> 14), else the value. */
export function normalizeGroupNumber(value: number): number {
  return value === 0x10000001 ? GroupDescription.MODP_2048 : value;
}

export const GROUP_TYPES = nameTable("group-type", { 1: "MODP", 2: "ECP", 3: "EC2N" }, [
  { from: 65001, to: 65535, label: "private-use" },
]);

export const LifeType = { SECONDS: 1, KILOBYTES: 2 } as const;
export const LIFE_TYPES = nameTable("life-type", { 1: "seconds", 2: "kilobytes" }, [
  { from: 65001, to: 65535, label: "private-use" },
]);

/** PRF values: none assigned by IANA for IKEv1. */
export const IKE_PRFS = nameTable("prf", {}, [{ from: 65001, to: 65535, label: "private-use" }]);

/** The value table for an IKE attribute class whose values are enumerations. */
export function ikeAttributeValueTable(attrClass: number): NameTable | undefined {
  switch (attrClass) {
    case IkeAttr.ENCRYPTION_ALGORITHM:
      return IKE_ENCRYPTION_ALGORITHMS;
    case IkeAttr.HASH_ALGORITHM:
      return IKE_HASH_ALGORITHMS;
    case IkeAttr.AUTHENTICATION_METHOD:
      return IKE_AUTH_METHODS;
    case IkeAttr.GROUP_DESCRIPTION:
      return GROUP_DESCRIPTIONS;
    case IkeAttr.GROUP_TYPE:
      return GROUP_TYPES;
    case IkeAttr.LIFE_TYPE:
      return LIFE_TYPES;
    case IkeAttr.PRF:
      return IKE_PRFS;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// IPsec DOI (phase 2) attributes, RFC 2407 §4.5

export const IpsecAttr = {
  SA_LIFE_TYPE: 1,
  SA_LIFE_DURATION: 2,
  GROUP_DESCRIPTION: 3,
  ENCAPSULATION_MODE: 4,
  AUTHENTICATION_ALGORITHM: 5,
  KEY_LENGTH: 6,
  KEY_ROUNDS: 7,
  COMPRESS_DICTIONARY_SIZE: 8,
  COMPRESS_PRIVATE_ALGORITHM: 9,
  ECN_TUNNEL: 10,
  EXTENDED_SEQUENCE_NUMBER: 11,
  AUTHENTICATION_KEY_LENGTH: 12,
  SIGNATURE_ENCODING_ALGORITHM: 13,
  ADDRESS_PRESERVATION: 14,
  SA_DIRECTION: 15,
} as const;
export const IPSEC_ATTRIBUTE_CLASSES = nameTable(
  "ipsec-attr",
  {
    1: "SA Life Type",
    2: "SA Life Duration",
    3: "Group Description",
    4: "Encapsulation Mode",
    5: "Authentication Algorithm",
    6: "Key Length",
    7: "Key Rounds",
    8: "Compress Dictionary Size",
    9: "Compress Private Algorithm",
    10: "ECN Tunnel",
    11: "Extended (64-bit) Sequence Number",
    12: "Authentication Key Length",
    13: "Signature Encoding Algorithm",
    14: "Address Preservation",
    15: "SA Direction",
  },
  [
    { from: 16, to: 32000, label: "reserved" },
    { from: 32001, to: 32767, label: "private-use" },
  ],
);

/** RFC 2407 §4.5: "B" basic, "V" variable. */
export const IPSEC_ATTRIBUTE_FORMAT: Readonly<Record<number, "B" | "V">> = {
  1: "B",
  2: "V",
  3: "B",
  4: "B",
  5: "B",
  6: "B",
  7: "B",
  8: "B",
  9: "V",
  10: "B",
  11: "B",
  12: "B",
  13: "B",
  14: "B",
  15: "B",
};

export const EncapsulationMode = {
  TUNNEL: 1,
  TRANSPORT: 2,
  UDP_ENCAPSULATED_TUNNEL: 3,
  UDP_ENCAPSULATED_TRANSPORT: 4,
  /** draft-ietf-ipsec-nat-t-ike-00..03 value (Windows XP KB 818043 era clients). */
  UDP_ENCAPSULATED_TUNNEL_DRAFT: 61443,
  /** draft-ietf-ipsec-nat-t-ike-00..03 value. */
  UDP_ENCAPSULATED_TRANSPORT_DRAFT: 61444,
} as const;
export const ENCAPSULATION_MODES = nameTable(
  "encapsulation-mode",
  {
    1: "Tunnel",
    2: "Transport",
    3: "UDP-Encapsulated-Tunnel",
    4: "UDP-Encapsulated-Transport",
    61440: "Check Point IPsec UDP Encapsulation",
    61443: "UDP-Encapsulated-Tunnel (draft)",
    61444: "UDP-Encapsulated-Transport (draft)",
  },
  [{ from: 61440, to: 65535, label: "private-use" }],
);

export const IpsecAuthAlgorithm = {
  HMAC_MD5: 1,
  HMAC_SHA: 2,
  DES_MAC: 3,
  KPDK: 4,
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
  HMAC_RIPEMD: 8,
  AES_XCBC_MAC: 9,
  SIG_RSA: 10,
  AES_128_GMAC: 11,
  AES_192_GMAC: 12,
  AES_256_GMAC: 13,
} as const;
export const IPSEC_AUTH_ALGORITHMS = nameTable(
  "ipsec-auth",
  {
    1: "HMAC-MD5",
    2: "HMAC-SHA",
    3: "DES-MAC",
    4: "KPDK",
    5: "HMAC-SHA2-256",
    6: "HMAC-SHA2-384",
    7: "HMAC-SHA2-512",
    8: "HMAC-RIPEMD",
    9: "AES-XCBC-MAC",
    10: "SIG-RSA",
    11: "AES-128-GMAC",
    12: "AES-192-GMAC",
    13: "AES-256-GMAC",
  },
  [{ from: 61440, to: 65535, label: "private-use" }],
);

export const ECN_TUNNEL_VALUES = nameTable("ecn-tunnel", { 1: "Allowed", 2: "Forbidden" });
export const ESN_VALUES = nameTable("esn", { 1: "64-bit Sequence Number" });
export const SIGNATURE_ENCODINGS = nameTable("sig-encoding", {
  1: "RSASSA-PKCS1-v1_5",
  2: "RSASSA-PSS",
});
export const ADDRESS_PRESERVATION_VALUES = nameTable("addr-preservation", {
  1: "None",
  2: "Source-Only",
  3: "Destination-Only",
  4: "Source-and-Destination",
});
export const SA_DIRECTION_VALUES = nameTable("sa-direction", {
  1: "Sender-Only",
  2: "Receiver-Only",
  3: "Symmetric",
});

/** The value table for an IPsec attribute class whose values are enumerations. */
export function ipsecAttributeValueTable(attrClass: number): NameTable | undefined {
  switch (attrClass) {
    case IpsecAttr.SA_LIFE_TYPE:
      return LIFE_TYPES;
    case IpsecAttr.GROUP_DESCRIPTION:
      return GROUP_DESCRIPTIONS;
    case IpsecAttr.ENCAPSULATION_MODE:
      return ENCAPSULATION_MODES;
    case IpsecAttr.AUTHENTICATION_ALGORITHM:
      return IPSEC_AUTH_ALGORITHMS;
    case IpsecAttr.ECN_TUNNEL:
      return ECN_TUNNEL_VALUES;
    case IpsecAttr.EXTENDED_SEQUENCE_NUMBER:
      return ESN_VALUES;
    case IpsecAttr.SIGNATURE_ENCODING_ALGORITHM:
      return SIGNATURE_ENCODINGS;
    case IpsecAttr.ADDRESS_PRESERVATION:
      return ADDRESS_PRESERVATION_VALUES;
    case IpsecAttr.SA_DIRECTION:
      return SA_DIRECTION_VALUES;
    default:
      return undefined;
  }
}

/**
 * A readable "Class=Value" for one data attribute, phase 1 (`ike`) or phase 2 (`ipsec`).
 * Numeric classes (lifetimes, key lengths) print their number; that is a quantity, not a code.
 */
export function describeAttribute(
  kind: "ike" | "ipsec",
  attrClass: number,
  value: number | Uint8Array,
): string {
  const classes = kind === "ike" ? IKE_ATTRIBUTE_CLASSES : IPSEC_ATTRIBUTE_CLASSES;
  const cname = name(classes, attrClass);
  const valueTable =
    kind === "ike" ? ikeAttributeValueTable(attrClass) : ipsecAttributeValueTable(attrClass);
  if (typeof value === "number") {
    if (valueTable) {
      const isGroup =
        (kind === "ike" && attrClass === IkeAttr.GROUP_DESCRIPTION) ||
        (kind === "ipsec" && attrClass === IpsecAttr.GROUP_DESCRIPTION);
      return `${cname}=${isGroup ? ikeGroupName(value) : name(valueTable, value)}`;
    }
    return `${cname}=${value}`;
  }
  const hexValue = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex");
  return `${cname}=0x${hexValue}`;
}
