/**
 * IPCP (RFC 1332) and IPV6CP (RFC 5072) packets: the NCP packet set of RFC 1661 §5 (codes
 * 1..7, see control.ts) with these options:
 *
 *   IPCP  1 IP-Addresses (len 10, deprecated, RFC 1172)   2 IP-Compression-Protocol (len >= 4)
 *         3 IP-Address (len 6)                            129/131 Primary/Secondary DNS (len 6)
 *         130/132 Primary/Secondary NBNS (len 6)  (RFC 1877)
 *   IPV6CP 1 Interface-Identifier (len 10)                2 IPv6-Compression-Protocol (len >= 4)
 *
 * Addresses are dotted quads; an Interface-Identifier is 8 octets. Unknown options, or known
 * ones with a length that does not fit, are kept raw. Codes other than 1..7 are Unknown-Code.
 */
import type { Result } from "../../base/result.js";
import type { WireError } from "../../base/errors.js";
import {
  type NcpPacket,
  type OptionCodec,
  type RawOption,
  ipv4Bytes,
  ipv4ToString,
  parseNcpPacket,
  rawOption,
  serializeNcpPacket,
} from "./control.js";

export type IpcpAddressKind =
  | "ip-address"
  | "primary-dns"
  | "primary-nbns"
  | "secondary-dns"
  | "secondary-nbns";

export type IpcpOption =
  | { readonly kind: IpcpAddressKind; readonly address: string }
  | { readonly kind: "ip-addresses"; readonly source: string; readonly destination: string }
  | {
      readonly kind: "ip-compression-protocol";
      readonly protocol: number;
      readonly data: Uint8Array;
    }
  | RawOption;

const addressTypes: Record<number, IpcpAddressKind> = {
  3: "ip-address",
  129: "primary-dns",
  130: "primary-nbns",
  131: "secondary-dns",
  132: "secondary-nbns",
};
export const ipcpAddressType: Record<IpcpAddressKind, number> = {
  "ip-address": 3,
  "primary-dns": 129,
  "primary-nbns": 130,
  "secondary-dns": 131,
  "secondary-nbns": 132,
};

export const ipcpOptionCodec: OptionCodec<IpcpOption> = {
  decode(type, data) {
    const ak = addressTypes[type];
    if (ak)
      return data.length === 4 ? { kind: ak, address: ipv4ToString(data) } : rawOption(type, data);
    if (type === 1) {
      return data.length === 8
        ? {
            kind: "ip-addresses",
            source: ipv4ToString(data, 0),
            destination: ipv4ToString(data, 4),
          }
        : rawOption(type, data);
    }
    if (type === 2) {
      return data.length >= 2
        ? {
            kind: "ip-compression-protocol",
            protocol: ((data[0] ?? 0) << 8) | (data[1] ?? 0),
            data: data.subarray(2),
          }
        : rawOption(type, data);
    }
    return rawOption(type, data);
  },
  encode(o) {
    switch (o.kind) {
      case "ip-address":
      case "primary-dns":
      case "primary-nbns":
      case "secondary-dns":
      case "secondary-nbns":
        return { type: ipcpAddressType[o.kind], data: ipv4Bytes(o.address) };
      case "ip-addresses":
        return { type: 1, data: Buffer.concat([ipv4Bytes(o.source), ipv4Bytes(o.destination)]) };
      case "ip-compression-protocol":
        return {
          type: 2,
          data: Buffer.concat([Buffer.from([o.protocol >> 8, o.protocol & 0xff]), o.data]),
        };
      case "raw":
        return { type: o.type, data: o.data };
    }
  },
};

export type IpcpPacket = NcpPacket<IpcpOption>;

export function parseIpcpPacket(bytes: Uint8Array): Result<IpcpPacket, WireError> {
  return parseNcpPacket(ipcpOptionCodec, bytes, "IPCP");
}
export function serializeIpcpPacket(p: IpcpPacket): Buffer {
  return serializeNcpPacket(ipcpOptionCodec, p);
}

export type Ipv6cpOption =
  | { readonly kind: "interface-identifier"; readonly identifier: Uint8Array }
  | {
      readonly kind: "ipv6-compression-protocol";
      readonly protocol: number;
      readonly data: Uint8Array;
    }
  | RawOption;

export const ipv6cpOptionCodec: OptionCodec<Ipv6cpOption> = {
  decode(type, data) {
    if (type === 1) {
      return data.length === 8
        ? { kind: "interface-identifier", identifier: data }
        : rawOption(type, data);
    }
    if (type === 2) {
      return data.length >= 2
        ? {
            kind: "ipv6-compression-protocol",
            protocol: ((data[0] ?? 0) << 8) | (data[1] ?? 0),
            data: data.subarray(2),
          }
        : rawOption(type, data);
    }
    return rawOption(type, data);
  },
  encode(o) {
    switch (o.kind) {
      case "interface-identifier":
        if (o.identifier.length !== 8) throw new Error("Interface-Identifier must be 8 octets");
        return { type: 1, data: o.identifier };
      case "ipv6-compression-protocol":
        return {
          type: 2,
          data: Buffer.concat([Buffer.from([o.protocol >> 8, o.protocol & 0xff]), o.data]),
        };
      case "raw":
        return { type: o.type, data: o.data };
    }
  },
};

export type Ipv6cpPacket = NcpPacket<Ipv6cpOption>;

export function parseIpv6cpPacket(bytes: Uint8Array): Result<Ipv6cpPacket, WireError> {
  return parseNcpPacket(ipv6cpOptionCodec, bytes, "IPV6CP");
}
export function serializeIpv6cpPacket(p: Ipv6cpPacket): Buffer {
  return serializeNcpPacket(ipv6cpOptionCodec, p);
}
