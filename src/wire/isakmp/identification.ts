/**
 * Identification data of the ID payload, IPsec DOI, RFC 2407 §4.6.2.1-§4.6.2.12:
 * ID_IPV4_ADDR (4 octets), ID_IPV4_ADDR_SUBNET (address + mask, 8), ID_IPV6_ADDR (16),
 * ID_IPV6_ADDR_SUBNET (32), ID_IPV4_ADDR_RANGE (start + end, 8), ID_IPV6_ADDR_RANGE (32),
 * ID_FQDN and ID_USER_FQDN (string, no terminator), ID_DER_ASN1_DN / ID_DER_ASN1_GN (DER, not
 * decoded here), ID_KEY_ID (opaque).
 * Address text comes from wire/ip/address.ts (formatIpAddress); parseIpAddress here is stricter
 * than that module's (no embedded IPv4 tail, no zone ID) and allows zero-padded octets.
 *
 * The ID payload keeps `data` raw (exact round trip); this module gives the typed view and the
 * encoder. Addresses are text (dotted quad; RFC 5952 form for IPv6) so policy code can compare
 * them. FQDN strings are decoded as latin1 so every byte string round-trips; a name containing
 * a NUL or control byte is an error (RFC 2407 does not allow them and they are a spoofing aid).
 * Left out: ID_LIST (RFC 3554), DER parsing (crypto/ certificate code does that).
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { type Result, err, ok } from "../../base/result.js";
import { IdType } from "../../registry/ike.js";
import { formatIpAddress } from "../ip/address.js";

export type IdentificationValue =
  | { readonly kind: "ipv4"; readonly address: string }
  | { readonly kind: "ipv4-subnet"; readonly address: string; readonly mask: string }
  | { readonly kind: "ipv4-range"; readonly start: string; readonly end: string }
  | { readonly kind: "ipv6"; readonly address: string }
  | { readonly kind: "ipv6-subnet"; readonly address: string; readonly mask: string }
  | { readonly kind: "ipv6-range"; readonly start: string; readonly end: string }
  | { readonly kind: "fqdn"; readonly name: string }
  | { readonly kind: "user-fqdn"; readonly name: string }
  | { readonly kind: "der-asn1-dn"; readonly der: Buffer }
  | { readonly kind: "der-asn1-gn"; readonly der: Buffer }
  | { readonly kind: "key-id"; readonly keyId: Buffer };

/** Text form of an address: the one in wire/ip/address.ts, re-exported for ISAKMP users. */
export { formatIpAddress };

/** Parses dotted-quad or IPv6 text into 4 or 16 octets; undefined when malformed. */
export function parseIpAddress(s: string): Buffer | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) {
    const parts = s.split(".").map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return Buffer.from(parts);
  }
  if (!/^[0-9a-fA-F:]+$/.test(s)) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parseWords = (x: string): number[] | undefined => {
    if (x === "") return [];
    const ws = x.split(":");
    if (ws.some((w) => w.length === 0 || w.length > 4)) return undefined;
    return ws.map((w) => Number.parseInt(w, 16));
  };
  const head = parseWords(halves[0] ?? "");
  const tail = halves.length === 2 ? parseWords(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  let words: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    words = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    words = head;
  }
  if (words.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  words.forEach((w, i) => {
    out.writeUInt16BE(w, i * 2);
  });
  return out;
}

function needLength(what: string, data: Buffer, n: number): Result<true, WireError> {
  if (data.length !== n) {
    return err(
      wireError(
        WireErrorCode.BadLength,
        `${what}: identification data of ${data.length} bytes, need ${n}`,
        0,
      ),
    );
  }
  return ok(true);
}

function textName(what: string, data: Buffer): Result<string, WireError> {
  for (let i = 0; i < data.length; i++) {
    const c = data[i] ?? 0;
    if (c < 0x20 || c === 0x7f) {
      return err(
        wireError(WireErrorCode.BadValue, `${what}: control byte 0x${c.toString(16)} in name`, i),
      );
    }
  }
  return ok(data.toString("latin1"));
}

/** Typed view of an ID payload's data for its ID type. */
export function parseIdentificationData(
  idType: number,
  data: Buffer,
): Result<IdentificationValue, WireError> {
  switch (idType) {
    case IdType.ID_IPV4_ADDR: {
      const l = needLength("ID_IPV4_ADDR", data, 4);
      return l.ok ? ok({ kind: "ipv4", address: formatIpAddress(data) }) : l;
    }
    case IdType.ID_IPV4_ADDR_SUBNET: {
      const l = needLength("ID_IPV4_ADDR_SUBNET", data, 8);
      return l.ok
        ? ok({
            kind: "ipv4-subnet",
            address: formatIpAddress(data.subarray(0, 4)),
            mask: formatIpAddress(data.subarray(4, 8)),
          })
        : l;
    }
    case IdType.ID_IPV4_ADDR_RANGE: {
      const l = needLength("ID_IPV4_ADDR_RANGE", data, 8);
      return l.ok
        ? ok({
            kind: "ipv4-range",
            start: formatIpAddress(data.subarray(0, 4)),
            end: formatIpAddress(data.subarray(4, 8)),
          })
        : l;
    }
    case IdType.ID_IPV6_ADDR: {
      const l = needLength("ID_IPV6_ADDR", data, 16);
      return l.ok ? ok({ kind: "ipv6", address: formatIpAddress(data) }) : l;
    }
    case IdType.ID_IPV6_ADDR_SUBNET: {
      const l = needLength("ID_IPV6_ADDR_SUBNET", data, 32);
      return l.ok
        ? ok({
            kind: "ipv6-subnet",
            address: formatIpAddress(data.subarray(0, 16)),
            mask: formatIpAddress(data.subarray(16, 32)),
          })
        : l;
    }
    case IdType.ID_IPV6_ADDR_RANGE: {
      const l = needLength("ID_IPV6_ADDR_RANGE", data, 32);
      return l.ok
        ? ok({
            kind: "ipv6-range",
            start: formatIpAddress(data.subarray(0, 16)),
            end: formatIpAddress(data.subarray(16, 32)),
          })
        : l;
    }
    case IdType.ID_FQDN: {
      const t = textName("ID_FQDN", data);
      return t.ok ? ok({ kind: "fqdn", name: t.value }) : t;
    }
    case IdType.ID_USER_FQDN: {
      const t = textName("ID_USER_FQDN", data);
      return t.ok ? ok({ kind: "user-fqdn", name: t.value }) : t;
    }
    case IdType.ID_DER_ASN1_DN:
      return ok({ kind: "der-asn1-dn", der: data });
    case IdType.ID_DER_ASN1_GN:
      return ok({ kind: "der-asn1-gn", der: data });
    case IdType.ID_KEY_ID:
      return ok({ kind: "key-id", keyId: data });
    default:
      return err(
        wireError(WireErrorCode.BadValue, `ID: unsupported identification type ${idType}`, 0),
      );
  }
}

function addr(s: string, len: 4 | 16): Buffer {
  const b = parseIpAddress(s);
  if (!b || b.length !== len) throw new Error(`not an IPv${len === 4 ? 4 : 6} address: ${s}`);
  return b;
}

/** ID type and data octets for a typed identification. Throws (a bug) on malformed text. */
export function serializeIdentificationData(v: IdentificationValue): {
  readonly idType: number;
  readonly data: Buffer;
} {
  switch (v.kind) {
    case "ipv4":
      return { idType: IdType.ID_IPV4_ADDR, data: addr(v.address, 4) };
    case "ipv4-subnet":
      return {
        idType: IdType.ID_IPV4_ADDR_SUBNET,
        data: Buffer.concat([addr(v.address, 4), addr(v.mask, 4)]),
      };
    case "ipv4-range":
      return {
        idType: IdType.ID_IPV4_ADDR_RANGE,
        data: Buffer.concat([addr(v.start, 4), addr(v.end, 4)]),
      };
    case "ipv6":
      return { idType: IdType.ID_IPV6_ADDR, data: addr(v.address, 16) };
    case "ipv6-subnet":
      return {
        idType: IdType.ID_IPV6_ADDR_SUBNET,
        data: Buffer.concat([addr(v.address, 16), addr(v.mask, 16)]),
      };
    case "ipv6-range":
      return {
        idType: IdType.ID_IPV6_ADDR_RANGE,
        data: Buffer.concat([addr(v.start, 16), addr(v.end, 16)]),
      };
    case "fqdn":
      return { idType: IdType.ID_FQDN, data: Buffer.from(v.name, "latin1") };
    case "user-fqdn":
      return { idType: IdType.ID_USER_FQDN, data: Buffer.from(v.name, "latin1") };
    case "der-asn1-dn":
      return { idType: IdType.ID_DER_ASN1_DN, data: v.der };
    case "der-asn1-gn":
      return { idType: IdType.ID_DER_ASN1_GN, data: v.der };
    case "key-id":
      return { idType: IdType.ID_KEY_ID, data: v.keyId };
  }
}
