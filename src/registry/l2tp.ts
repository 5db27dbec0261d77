/**
 * L2TPv2 numbers and their names (RFC 2661): control message types (§3.2), AVP attribute
 * types (§4.4), Result Codes for StopCCN and CDN and the General Error Codes (§4.4.2), plus the
 * capability/type bit masks of §4.4.3 and §4.4.4. Every number an operator sees goes through
 * the `*Name` functions here (DESIGN rule 8).
 *
 * Left out: L2TPv3 (RFC 3931) numbers and the AVPs of later L2TPv2 extensions (RFC 3145 PPP
 * Disconnect Cause Code etc.); those print as "AVP 46" rather than by name.
 */

/** Control message types, RFC 2661 §3.2 (Message Type AVP values). */
export const L2tpMessageType = {
  SCCRQ: 1,
  SCCRP: 2,
  SCCCN: 3,
  StopCCN: 4,
  HELLO: 6,
  OCRQ: 7,
  OCRP: 8,
  OCCN: 9,
  ICRQ: 10,
  ICRP: 11,
  ICCN: 12,
  CDN: 14,
  WEN: 15,
  SLI: 16,
} as const;
export type L2tpMessageType = (typeof L2tpMessageType)[keyof typeof L2tpMessageType];

const messageTypeNames: Record<number, string> = {
  0: "(reserved)",
  1: "SCCRQ",
  2: "SCCRP",
  3: "SCCCN",
  4: "StopCCN",
  5: "(reserved)",
  6: "HELLO",
  7: "OCRQ",
  8: "OCRP",
  9: "OCCN",
  10: "ICRQ",
  11: "ICRP",
  12: "ICCN",
  13: "(reserved)",
  14: "CDN",
  15: "WEN",
  16: "SLI",
};

/** "SCCRQ", or "message type 99" for a number RFC 2661 does not define. */
export function l2tpMessageTypeName(t: number): string {
  return messageTypeNames[t] ?? `message type ${t}`;
}

/** AVP attribute types with IETF vendor ID 0, RFC 2661 §4.4. */
export const AvpType = {
  MessageType: 0,
  ResultCode: 1,
  ProtocolVersion: 2,
  FramingCapabilities: 3,
  BearerCapabilities: 4,
  TieBreaker: 5,
  FirmwareRevision: 6,
  HostName: 7,
  VendorName: 8,
  AssignedTunnelId: 9,
  ReceiveWindowSize: 10,
  Challenge: 11,
  Q931CauseCode: 12,
  ChallengeResponse: 13,
  AssignedSessionId: 14,
  CallSerialNumber: 15,
  MinimumBps: 16,
  MaximumBps: 17,
  BearerType: 18,
  FramingType: 19,
  CalledNumber: 21,
  CallingNumber: 22,
  SubAddress: 23,
  TxConnectSpeed: 24,
  PhysicalChannelId: 25,
  InitialReceivedLcpConfreq: 26,
  LastSentLcpConfreq: 27,
  LastReceivedLcpConfreq: 28,
  ProxyAuthenType: 29,
  ProxyAuthenName: 30,
  ProxyAuthenChallenge: 31,
  ProxyAuthenId: 32,
  ProxyAuthenResponse: 33,
  CallErrors: 34,
  Accm: 35,
  RandomVector: 36,
  PrivateGroupId: 37,
  RxConnectSpeed: 38,
  SequencingRequired: 39,
} as const;
export type AvpType = (typeof AvpType)[keyof typeof AvpType];

const avpNames: Record<number, string> = {
  0: "Message Type",
  1: "Result Code",
  2: "Protocol Version",
  3: "Framing Capabilities",
  4: "Bearer Capabilities",
  5: "Tie Breaker",
  6: "Firmware Revision",
  7: "Host Name",
  8: "Vendor Name",
  9: "Assigned Tunnel ID",
  10: "Receive Window Size",
  11: "Challenge",
  12: "Q.931 Cause Code",
  13: "Challenge Response",
  14: "Assigned Session ID",
  15: "Call Serial Number",
  16: "Minimum BPS",
  17: "Maximum BPS",
  18: "Bearer Type",
  19: "Framing Type",
  21: "Called Number",
  22: "Calling Number",
  23: "Sub-Address",
  24: "(Tx) Connect Speed",
  25: "Physical Channel ID",
  26: "Initial Received LCP CONFREQ",
  27: "Last Sent LCP CONFREQ",
  28: "Last Received LCP CONFREQ",
  29: "Proxy Authen Type",
  30: "Proxy Authen Name",
  31: "Proxy Authen Challenge",
  32: "Proxy Authen ID",
  33: "Proxy Authen Response",
  34: "Call Errors",
  35: "ACCM",
  36: "Random Vector",
  37: "Private Group ID",
  38: "Rx Connect Speed",
  39: "Sequencing Required",
};

/** "Host Name"; vendor AVPs as "vendor 311 AVP 1"; unknown IETF ones as "AVP 46". */
export function avpTypeName(type: number, vendorId = 0): string {
  if (vendorId !== 0) return `vendor ${vendorId} AVP ${type}`;
  return avpNames[type] ?? `AVP ${type}`;
}

/** Result Code values of StopCCN, RFC 2661 §4.4.2. */
export const StopCcnResult = {
  GeneralRequest: 1,
  GeneralError: 2,
  ChannelExists: 3,
  NotAuthorized: 4,
  UnsupportedVersion: 5,
  ShuttingDown: 6,
  FsmError: 7,
} as const;

const stopCcnResultNames: Record<number, string> = {
  0: "Reserved",
  1: "General request to clear control connection",
  2: "General error (see Error Code)",
  3: "Control channel already exists",
  4: "Requester is not authorized to establish a control channel",
  5: "The protocol version of the requester is not supported",
  6: "Requester is being shut down",
  7: "Finite State Machine error",
};

/** Result Code values of CDN, RFC 2661 §4.4.2. */
export const CdnResult = {
  LostCarrier: 1,
  GeneralError: 2,
  Administrative: 3,
  TemporaryNoFacilities: 4,
  PermanentNoFacilities: 5,
  InvalidDestination: 6,
  NoCarrier: 7,
  Busy: 8,
  NoDialTone: 9,
  Timeout: 10,
  NoFraming: 11,
} as const;

const cdnResultNames: Record<number, string> = {
  0: "Reserved",
  1: "Call disconnected due to loss of carrier",
  2: "Call disconnected for the reason indicated in error code",
  3: "Call disconnected for administrative reasons",
  4: "Call failed due to lack of appropriate facilities being available (temporary condition)",
  5: "Call failed due to lack of appropriate facilities being available (permanent condition)",
  6: "Invalid destination",
  7: "Call failed due to no carrier detected",
  8: "Call failed due to detection of a busy signal",
  9: "Call failed due to lack of a dial tone",
  10: "Call was not established within time allotted by LAC",
  11: "Call was connected but no appropriate framing was detected",
};

/** General Error Codes, RFC 2661 §4.4.2. */
export const L2tpErrorCode = {
  NoError: 0,
  NoControlConnection: 1,
  BadLength: 2,
  BadValue: 3,
  NoResources: 4,
  InvalidSessionId: 5,
  VendorError: 6,
  TryAnother: 7,
  UnknownMandatoryAvp: 8,
} as const;

const errorCodeNames: Record<number, string> = {
  0: "No general error",
  1: "No control connection exists yet for this LAC-LNS pair",
  2: "Length is wrong",
  3: "One of the field values was out of range or reserved field was non-zero",
  4: "Insufficient resources to handle this operation now",
  5: "The Session ID is invalid in this context",
  6: "A generic vendor-specific error occurred",
  7: "Try another LNS",
  8: "Session or tunnel was shutdown due to receipt of an unknown AVP with the M-bit set",
};

/** Name of a Result Code in the context of the message that carries it (StopCCN or CDN). */
export function l2tpResultCodeName(messageType: number, code: number): string {
  const table = messageType === L2tpMessageType.StopCCN ? stopCcnResultNames : cdnResultNames;
  return table[code] ?? `result code ${code}`;
}

export function l2tpErrorCodeName(code: number): string {
  return errorCodeNames[code] ?? `error code ${code}`;
}

/** Framing Capabilities / Framing Type bits (§4.4.3, §4.4.5): A = asynchronous, S = synchronous. */
export const FramingBits = { Sync: 0x1, Async: 0x2 } as const;
/** Bearer Capabilities / Bearer Type bits (§4.4.3, §4.4.5): A = analog, D = digital. */
export const BearerBits = { Digital: 0x1, Analog: 0x2 } as const;

/** Proxy Authen Type values (§4.4.5). */
const proxyAuthenTypeNames: Record<number, string> = {
  0: "Reserved",
  1: "Textual username/password exchange",
  2: "PPP CHAP",
  3: "PPP PAP",
  4: "No Authentication",
  5: "Microsoft CHAP Version 1 (MSCHAPv1)",
};
export function proxyAuthenTypeName(t: number): string {
  return proxyAuthenTypeNames[t] ?? `proxy authen type ${t}`;
}

/** Protocol Version/Revision we speak: 1.0 (§4.4.3). */
export const L2TP_PROTOCOL_VERSION = 1;
export const L2TP_PROTOCOL_REVISION = 0;
/** UDP port, RFC 2661 §8.1. */
export const L2TP_UDP_PORT = 1701;
