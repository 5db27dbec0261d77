/**
 * PPP number <-> name tables (DESIGN rule 8: every number shown to a person goes through
 * registry/). Sources: RFC 1661 §6 (LCP options), §5 (codes); RFC 1662 (ACCM); RFC 1332 (IPCP);
 * RFC 1877 (DNS/NBNS options); RFC 5072 (IPV6CP); RFC 1334 (PAP); RFC 1994 (CHAP);
 * RFC 2759 (MS-CHAPv2, algorithm 0x81, error codes); RFC 1570 (Identification,
 * Time-Remaining); IANA "PPP DLL Protocol Numbers" and "PPP LCP Configuration Option Types".
 * Left out: the long tail of IANA protocol numbers (only those an L2TP/IPsec peer sends).
 */

/** PPP Protocol field values (RFC 1661 §2, IANA PPP DLL Protocol Numbers). */
export const PppProtocol = {
  IPv4: 0x0021,
  IPv6: 0x0057,
  IPCP: 0x8021,
  IPV6CP: 0x8057,
  CCP: 0x80fd,
  LCP: 0xc021,
  PAP: 0xc023,
  LQR: 0xc025,
  CHAP: 0xc223,
  EAP: 0xc227,
} as const;

const protocolNames: Record<number, string> = {
  33: "IPv4",
  45: "VJ compressed TCP/IP",
  47: "VJ uncompressed TCP/IP",
  87: "IPv6",
  253: "compressed datagram",
  32801: "IPCP",
  32855: "IPV6CP",
  33021: "CCP",
  49185: "LCP",
  49187: "PAP",
  49189: "LQR",
  49699: "CHAP",
  49703: "EAP",
  49193: "CBCP",
};

function hex4(n: number): string {
  return `0x${n.toString(16).padStart(4, "0")}`;
}

/** "LCP (0xc021)", or "unknown (0x1234)". */
export function pppProtocolName(protocol: number): string {
  return `${protocolNames[protocol] ?? "unknown"} (${hex4(protocol)})`;
}

/** Codes shared by LCP (1..13) and the NCPs (1..7) (RFC 1661 §5, RFC 1570). */
export const ControlCode = {
  ConfigureRequest: 1,
  ConfigureAck: 2,
  ConfigureNak: 3,
  ConfigureReject: 4,
  TerminateRequest: 5,
  TerminateAck: 6,
  CodeReject: 7,
  ProtocolReject: 8,
  EchoRequest: 9,
  EchoReply: 10,
  DiscardRequest: 11,
  Identification: 12,
  TimeRemaining: 13,
} as const;

const controlCodeNames: Record<number, string> = {
  1: "Configure-Request",
  2: "Configure-Ack",
  3: "Configure-Nak",
  4: "Configure-Reject",
  5: "Terminate-Request",
  6: "Terminate-Ack",
  7: "Code-Reject",
  8: "Protocol-Reject",
  9: "Echo-Request",
  10: "Echo-Reply",
  11: "Discard-Request",
  12: "Identification",
  13: "Time-Remaining",
};

export function controlCodeName(code: number): string {
  return `${controlCodeNames[code] ?? "unknown"} (${code})`;
}

/** LCP Configuration Option types (RFC 1661 §6, IANA). */
export const LcpOptionType = {
  MRU: 1,
  ACCM: 2,
  AuthenticationProtocol: 3,
  QualityProtocol: 4,
  MagicNumber: 5,
  PFC: 7,
  ACFC: 8,
} as const;

const lcpOptionNames: Record<number, string> = {
  0: "Vendor-Specific",
  1: "Maximum-Receive-Unit",
  2: "Async-Control-Character-Map",
  3: "Authentication-Protocol",
  4: "Quality-Protocol",
  5: "Magic-Number",
  7: "Protocol-Field-Compression",
  8: "Address-and-Control-Field-Compression",
  13: "Callback",
  17: "Multilink-MRRU",
  18: "Multilink-Short-Sequence-Number-Header-Format",
  19: "Multilink-Endpoint-Discriminator",
};

export function lcpOptionName(type: number): string {
  return `${lcpOptionNames[type] ?? "unknown"} (${type})`;
}

/** CHAP Algorithm octet of the Authentication-Protocol option (RFC 1994 §3, RFC 2759 §2). */
export const ChapAlgorithm = { MD5: 5, MSCHAPv1: 0x80, MSCHAPv2: 0x81 } as const;

const chapAlgorithmNames: Record<number, string> = {
  5: "MD5",
  128: "MS-CHAP",
  129: "MS-CHAP-v2",
};
export function chapAlgorithmName(alg: number): string {
  return `${chapAlgorithmNames[alg] ?? "unknown"} (0x${alg.toString(16).padStart(2, "0")})`;
}

/** IPCP Configuration Option types (RFC 1332 §3, RFC 1877 §1). */
export const IpcpOptionType = {
  IPAddresses: 1,
  IPCompressionProtocol: 2,
  IPAddress: 3,
  PrimaryDNS: 129,
  PrimaryNBNS: 130,
  SecondaryDNS: 131,
  SecondaryNBNS: 132,
} as const;

const ipcpOptionNames: Record<number, string> = {
  1: "IP-Addresses",
  2: "IP-Compression-Protocol",
  3: "IP-Address",
  4: "Mobile-IPv4",
  129: "Primary-DNS-Server-Address",
  130: "Primary-NBNS-Server-Address",
  131: "Secondary-DNS-Server-Address",
  132: "Secondary-NBNS-Server-Address",
};
export function ipcpOptionName(type: number): string {
  return `${ipcpOptionNames[type] ?? "unknown"} (${type})`;
}

/** IPV6CP Configuration Option types (RFC 5072 §4). */
export const Ipv6cpOptionType = { InterfaceIdentifier: 1, IPv6CompressionProtocol: 2 } as const;
const ipv6cpOptionNames: Record<number, string> = {
  1: "Interface-Identifier",
  2: "IPv6-Compression-Protocol",
};
export function ipv6cpOptionName(type: number): string {
  return `${ipv6cpOptionNames[type] ?? "unknown"} (${type})`;
}

/** PAP codes (RFC 1334 §2.2). */
export const PapCode = { AuthenticateRequest: 1, AuthenticateAck: 2, AuthenticateNak: 3 } as const;
const papCodeNames: Record<number, string> = {
  1: "Authenticate-Request",
  2: "Authenticate-Ack",
  3: "Authenticate-Nak",
};
export function papCodeName(code: number): string {
  return `${papCodeNames[code] ?? "unknown"} (${code})`;
}

/** CHAP codes (RFC 1994 §4). */
export const ChapCode = { Challenge: 1, Response: 2, Success: 3, Failure: 4 } as const;
const chapCodeNames: Record<number, string> = {
  1: "Challenge",
  2: "Response",
  3: "Success",
  4: "Failure",
};
export function chapCodeName(code: number): string {
  return `${chapCodeNames[code] ?? "unknown"} (${code})`;
}

/** MS-CHAP error codes carried in "E=" of a Failure message (RFC 2759 §6, RFC 2433 §6). */
export const MsChapError = {
  RestrictedLogonHours: 646,
  AccountDisabled: 647,
  PasswordExpired: 648,
  NoDialinPermission: 649,
  AuthenticationFailure: 691,
  ChangingPassword: 709,
} as const;
const msChapErrorNames: Record<number, string> = {
  646: "ERROR_RESTRICTED_LOGON_HOURS",
  647: "ERROR_ACCT_DISABLED",
  648: "ERROR_PASSWD_EXPIRED",
  649: "ERROR_NO_DIALIN_PERMISSION",
  691: "ERROR_AUTHENTICATION_FAILURE",
  709: "ERROR_CHANGING_PASSWORD",
};
export function msChapErrorName(code: number): string {
  return `${msChapErrorNames[code] ?? "unknown"} (${code})`;
}

/** Authentication methods by the names used in configuration and events. */
export type PppAuthMethod = "mschapv2" | "chap-md5" | "pap";
const authMethodNames: Record<PppAuthMethod, string> = {
  mschapv2: "MS-CHAP-v2",
  "chap-md5": "CHAP-MD5",
  pap: "PAP",
};
export function pppAuthMethodName(m: PppAuthMethod): string {
  return authMethodNames[m];
}
