/**
 * Identities and traffic selectors: the ID payload (RFC 2408 §3.8, RFC 2407 §4.6.2) as a
 * phase-1 identity and as a Quick Mode client identity (IDci/IDcr with protocol and port),
 * their text form for logs and PSK matching (ID_DER_ASN1_DN as "O=…, CN=…"), and the conversion of attributes between the
 * wire codec's DataAttribute and suites.ts' Attribute.
 */
import { dnText, parseDistinguishedName } from "../crypto/cert-der.js";
import {
  attr,
  type DataAttribute,
  formatIpAddress,
  type IdentificationValue,
  type IdPayload,
  parseIdentificationData,
  parseIpAddress,
  PayloadType,
  serializeIdentificationData,
} from "../wire/isakmp/index.js";
import type { Attribute } from "./suites.js";
import type { TrafficSelector } from "./types.js";

export function idText(v: IdentificationValue): string {
  switch (v.kind) {
    case "ipv4":
    case "ipv6":
      return v.address;
    case "ipv4-subnet":
    case "ipv6-subnet":
      return `${v.address}/${v.mask}`;
    case "ipv4-range":
    case "ipv6-range":
      return `${v.start}-${v.end}`;
    case "fqdn":
    case "user-fqdn":
      return v.name;
    case "der-asn1-dn": {
      const dn = parseDistinguishedName(v.der);
      return dn.ok ? dnText(dn.value) : `der:${v.der.toString("hex")}`;
    }
    case "der-asn1-gn":
      return `der:${v.der.toString("hex")}`;
    case "key-id":
      return `keyid:${v.keyId.toString("hex")}`;
  }
}

export function addressId(address: string): IdentificationValue {
  return parseIpAddress(address)?.length === 16
    ? { kind: "ipv6", address }
    : { kind: "ipv4", address };
}

export function idPayload(v: IdentificationValue, protocolId = 0, port = 0): IdPayload {
  const s = serializeIdentificationData(v);
  return { type: PayloadType.ID, reserved: 0, idType: s.idType, protocolId, port, data: s.data };
}

export function parseIdPayload(p: IdPayload): IdentificationValue | undefined {
  const r = parseIdentificationData(p.idType, p.data);
  return r.ok ? r.value : undefined;
}

export function selectorPayload(s: TrafficSelector): IdPayload {
  return idPayload(s.id, s.protocol, s.port);
}

export function selectorFromPayload(p: IdPayload): TrafficSelector | undefined {
  const id = parseIdPayload(p);
  if (!id) return undefined;
  if (
    id.kind === "fqdn" ||
    id.kind === "user-fqdn" ||
    id.kind.startsWith("der") ||
    id.kind === "key-id"
  ) {
    return undefined;
  }
  return { id, protocol: p.protocolId, port: p.port };
}

export function addressSelector(address: string, protocol = 0, port = 0): TrafficSelector {
  return { id: addressId(address), protocol, port };
}

export function selectorText(s: TrafficSelector): string {
  const proto = s.protocol === 0 ? "" : `[${s.protocol}/${s.port === 0 ? "*" : s.port}]`;
  return `${idText(s.id)}${proto}`;
}

/** The single address of an address selector, else undefined. */
export function selectorAddress(s: TrafficSelector): string | undefined {
  return s.id.kind === "ipv4" || s.id.kind === "ipv6" ? s.id.address : undefined;
}

export function toAttribute(d: DataAttribute): Attribute {
  return { type: d.type, value: d.value };
}

export function toDataAttribute(a: Attribute): DataAttribute {
  if (typeof a.value === "number") return attr(a.type, a.value);
  return { format: "TLV", type: a.type, value: Buffer.from(a.value) };
}

/** "a.b.c.d" of a 4/16-octet NAT-OA address. */
export function natOaAddress(b: Buffer): string | undefined {
  return b.length === 4 || b.length === 16 ? formatIpAddress(b) : undefined;
}
