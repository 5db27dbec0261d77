/**
 * RADIUS numbers and their names: packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3),
 * attribute types with their value kinds (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5, RFC 3579 §3.2,
 * RFC 5176 §3.6), Microsoft vendor-specific attributes (RFC 2548 §2), Acct-Status-Type
 * (RFC 2866 §5.1), Acct-Terminate-Cause (RFC 2866 §5.10) and Error-Cause (RFC 5176 §3.6).
 *
 * Left out: the long tail of dictionary attributes (tunnel, EAP, IPv6 framing); those print as
 * "attribute 99" and are carried through as octets.
 */

/** Packet codes. */
export const RadiusCode = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  DisconnectRequest: 40,
  DisconnectAck: 41,
  DisconnectNak: 42,
  CoaRequest: 43,
  CoaAck: 44,
  CoaNak: 45,
} as const;
export type RadiusCode = (typeof RadiusCode)[keyof typeof RadiusCode];

const codeNames: Record<number, string> = {
  1: "Access-Request",
  2: "Access-Accept",
  3: "Access-Reject",
  4: "Accounting-Request",
  5: "Accounting-Response",
  11: "Access-Challenge",
  40: "Disconnect-Request",
  41: "Disconnect-ACK",
  42: "Disconnect-NAK",
  43: "CoA-Request",
  44: "CoA-ACK",
  45: "CoA-NAK",
};

export function radiusCodeName(code: number): string {
  return codeNames[code] ?? `code ${code}`;
}

/** How an attribute's value is encoded (RFC 2865 §5 "text", "string", "address", "integer"). */
export type RadiusValueKind = "text" | "string" | "address" | "integer" | "time" | "vsa";

export const RadiusAttr = {
  UserName: 1,
  UserPassword: 2,
  ChapPassword: 3,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  FramedProtocol: 7,
  FramedIpAddress: 8,
  FramedIpNetmask: 9,
  FilterId: 11,
  FramedMtu: 12,
  ReplyMessage: 18,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  IdleTimeout: 28,
  CalledStationId: 30,
  CallingStationId: 31,
  NasIdentifier: 32,
  ProxyState: 33,
  AcctStatusType: 40,
  AcctDelayTime: 41,
  AcctInputOctets: 42,
  AcctOutputOctets: 43,
  AcctSessionId: 44,
  AcctAuthentic: 45,
  AcctSessionTime: 46,
  AcctInputPackets: 47,
  AcctOutputPackets: 48,
  AcctTerminateCause: 49,
  AcctMultiSessionId: 50,
  AcctInputGigawords: 52,
  AcctOutputGigawords: 53,
  EventTimestamp: 55,
  ChapChallenge: 60,
  NasPortType: 61,
  TunnelClientEndpoint: 66,
  ConnectInfo: 77,
  MessageAuthenticator: 80,
  AcctInterimInterval: 85,
  NasPortId: 87,
  ChargeableUserIdentity: 89,
  ErrorCause: 101,
} as const;

interface AttrInfo {
  readonly name: string;
  readonly kind: RadiusValueKind;
  /** Exact value length when the RFC fixes one (address/integer: 4; Message-Authenticator: 16). */
  readonly fixed?: number;
}

const attrInfo: Record<number, AttrInfo> = {
  1: { name: "User-Name", kind: "text" },
  2: { name: "User-Password", kind: "string" },
  3: { name: "CHAP-Password", kind: "string", fixed: 17 },
  4: { name: "NAS-IP-Address", kind: "address", fixed: 4 },
  5: { name: "NAS-Port", kind: "integer", fixed: 4 },
  6: { name: "Service-Type", kind: "integer", fixed: 4 },
  7: { name: "Framed-Protocol", kind: "integer", fixed: 4 },
  8: { name: "Framed-IP-Address", kind: "address", fixed: 4 },
  9: { name: "Framed-IP-Netmask", kind: "address", fixed: 4 },
  11: { name: "Filter-Id", kind: "text" },
  12: { name: "Framed-MTU", kind: "integer", fixed: 4 },
  18: { name: "Reply-Message", kind: "text" },
  24: { name: "State", kind: "string" },
  25: { name: "Class", kind: "string" },
  26: { name: "Vendor-Specific", kind: "vsa" },
  27: { name: "Session-Timeout", kind: "integer", fixed: 4 },
  28: { name: "Idle-Timeout", kind: "integer", fixed: 4 },
  30: { name: "Called-Station-Id", kind: "string" },
  31: { name: "Calling-Station-Id", kind: "string" },
  32: { name: "NAS-Identifier", kind: "string" },
  33: { name: "Proxy-State", kind: "string" },
  40: { name: "Acct-Status-Type", kind: "integer", fixed: 4 },
  41: { name: "Acct-Delay-Time", kind: "integer", fixed: 4 },
  42: { name: "Acct-Input-Octets", kind: "integer", fixed: 4 },
  43: { name: "Acct-Output-Octets", kind: "integer", fixed: 4 },
  44: { name: "Acct-Session-Id", kind: "text" },
  45: { name: "Acct-Authentic", kind: "integer", fixed: 4 },
  46: { name: "Acct-Session-Time", kind: "integer", fixed: 4 },
  47: { name: "Acct-Input-Packets", kind: "integer", fixed: 4 },
  48: { name: "Acct-Output-Packets", kind: "integer", fixed: 4 },
  49: { name: "Acct-Terminate-Cause", kind: "integer", fixed: 4 },
  50: { name: "Acct-Multi-Session-Id", kind: "text" },
  52: { name: "Acct-Input-Gigawords", kind: "integer", fixed: 4 },
  53: { name: "Acct-Output-Gigawords", kind: "integer", fixed: 4 },
  55: { name: "Event-Timestamp", kind: "time", fixed: 4 },
  60: { name: "CHAP-Challenge", kind: "string" },
  61: { name: "NAS-Port-Type", kind: "integer", fixed: 4 },
  66: { name: "Tunnel-Client-Endpoint", kind: "string" },
  77: { name: "Connect-Info", kind: "text" },
  80: { name: "Message-Authenticator", kind: "string", fixed: 16 },
  85: { name: "Acct-Interim-Interval", kind: "integer", fixed: 4 },
  87: { name: "NAS-Port-Id", kind: "text" },
  89: { name: "Chargeable-User-Identity", kind: "string" },
  101: { name: "Error-Cause", kind: "integer", fixed: 4 },
};

export function radiusAttrInfo(type: number): AttrInfo | undefined {
  return attrInfo[type];
}

export function radiusAttrName(type: number): string {
  return attrInfo[type]?.name ?? `attribute ${type}`;
}

/** Microsoft's SMI network management private enterprise code (RFC 2548 §2). */
export const VENDOR_MICROSOFT = 311;

/** Microsoft vendor-specific attribute types, RFC 2548 §2. */
export const MsAttr = {
  ChapError: 2,
  ChapDomain: 10,
  ChapChallenge: 11,
  Chap2Response: 25,
  Chap2Success: 26,
  PrimaryDnsServer: 28,
  SecondaryDnsServer: 29,
} as const;

const msInfo: Record<number, AttrInfo> = {
  2: { name: "MS-CHAP-Error", kind: "string" },
  10: { name: "MS-CHAP-Domain", kind: "string" },
  11: { name: "MS-CHAP-Challenge", kind: "string" },
  25: { name: "MS-CHAP2-Response", kind: "string", fixed: 50 },
  26: { name: "MS-CHAP2-Success", kind: "string" },
  28: { name: "MS-Primary-DNS-Server", kind: "address", fixed: 4 },
  29: { name: "MS-Secondary-DNS-Server", kind: "address", fixed: 4 },
};

export function msAttrInfo(type: number): AttrInfo | undefined {
  return msInfo[type];
}

export function msAttrName(type: number): string {
  return msInfo[type]?.name ?? `MS attribute ${type}`;
}

/** Acct-Status-Type values, RFC 2866 §5.1. */
export const AcctStatusType = {
  Start: 1,
  Stop: 2,
  InterimUpdate: 3,
  AccountingOn: 7,
  AccountingOff: 8,
} as const;
export type AcctStatusType = (typeof AcctStatusType)[keyof typeof AcctStatusType];

/** Acct-Terminate-Cause values, RFC 2866 §5.10. */
export const AcctTerminateCause = {
  UserRequest: 1,
  LostCarrier: 2,
  LostService: 3,
  IdleTimeout: 4,
  SessionTimeout: 5,
  AdminReset: 6,
  AdminReboot: 7,
  PortError: 8,
  NasError: 9,
  NasRequest: 10,
  NasReboot: 11,
  PortUnneeded: 12,
  PortPreempted: 13,
  PortSuspended: 14,
  ServiceUnavailable: 15,
  Callback: 16,
  UserError: 17,
  HostRequest: 18,
} as const;
export type AcctTerminateCause = (typeof AcctTerminateCause)[keyof typeof AcctTerminateCause];

/** Error-Cause values used in Disconnect-NAK / CoA-NAK, RFC 5176 §3.6. */
export const ErrorCause = {
  ResidualSessionContextRemoved: 201,
  UnsupportedAttribute: 401,
  MissingAttribute: 402,
  NasIdentificationMismatch: 403,
  InvalidRequest: 404,
  UnsupportedService: 405,
  InvalidAttributeValue: 407,
  AdministrativelyProhibited: 501,
  SessionContextNotFound: 503,
  SessionContextNotRemovable: 504,
  ResourcesUnavailable: 506,
} as const;
export type ErrorCause = (typeof ErrorCause)[keyof typeof ErrorCause];

/** NAS-Port-Type Virtual (RFC 2865 §5.41): a VPN session. */
export const NAS_PORT_TYPE_VIRTUAL = 5;
/** Service-Type Framed-User (RFC 2865 §5.6). */
export const SERVICE_TYPE_FRAMED = 2;
/** Framed-Protocol PPP (RFC 2865 §5.7). */
export const FRAMED_PROTOCOL_PPP = 1;
