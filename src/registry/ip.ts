/**
 * IP protocol numbers (IANA "Assigned Internet Protocol Numbers", the ones Oakley meets) and
 * ICMP / ICMPv6 type names (RFC 792, RFC 4443), so that no person ever sees a raw number.
 *
 * Leaves out: the long tail of rarely seen protocol numbers; they print as "proto-N".
 */

export const IpProtocol = {
  HOPOPT: 0,
  ICMP: 1,
  IGMP: 2,
  IPv4: 4,
  TCP: 6,
  UDP: 17,
  IPv6: 41,
  IPv6Route: 43,
  IPv6Frag: 44,
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPv6: 58,
  IPv6NoNxt: 59,
  IPv6Opts: 60,
  L2TP: 115,
  SCTP: 132,
  MobilityHeader: 135,
  HIP: 139,
  Shim6: 140,
} as const;
export type IpProtocol = (typeof IpProtocol)[keyof typeof IpProtocol];

const protocolNames = new Map<number, string>(
  Object.entries(IpProtocol).map(([name, value]) => [value, name]),
);

/** "TCP", "ESP", ... or "proto-N" for numbers not in the table. */
export function ipProtocolName(n: number): string {
  return protocolNames.get(n) ?? `proto-${n}`;
}

/** IPv6 extension headers that the header walk (RFC 8200 §4) steps over. */
export const IPV6_EXTENSION_HEADERS: ReadonlySet<number> = new Set([
  IpProtocol.HOPOPT,
  IpProtocol.IPv6Route,
  IpProtocol.IPv6Frag,
  IpProtocol.IPv6Opts,
  IpProtocol.AH,
  IpProtocol.MobilityHeader,
  IpProtocol.HIP,
  IpProtocol.Shim6,
]);

/** RFC 792 / IANA ICMP type names. */
export const IcmpType = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  SourceQuench: 4,
  Redirect: 5,
  Echo: 8,
  RouterAdvertisement: 9,
  RouterSolicitation: 10,
  TimeExceeded: 11,
  ParameterProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
} as const;

const icmpNames = new Map<number, string>(Object.entries(IcmpType).map(([k, v]) => [v, k]));
export function icmpTypeName(n: number): string {
  return icmpNames.get(n) ?? `icmp-type-${n}`;
}

/** RFC 4443 / RFC 4861 ICMPv6 type names. */
export const Icmpv6Type = {
  DestinationUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137,
} as const;

const icmpv6Names = new Map<number, string>(Object.entries(Icmpv6Type).map(([k, v]) => [v, k]));
export function icmpv6TypeName(n: number): string {
  return icmpv6Names.get(n) ?? `icmpv6-type-${n}`;
}

/** Well-known UDP ports of the VPN (IKE, NAT-T, L2TP). */
export const UdpPort = {
  IKE: 500,
  NATT: 4500,
  L2TP: 1701,
} as const;
