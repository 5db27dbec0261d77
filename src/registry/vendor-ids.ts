/**
 * ISAKMP Vendor ID payload values (RFC 2408 §3.16) that Oakley recognises, with names.
 *
 * A Vendor ID is opaque bytes; most are MD5 hashes of a string (the NAT-T drafts, RFC 3947 §5
 * "MD5 of 'RFC 3947'", XAUTH, Microsoft's VIDs), some are a hash prefix followed by version or
 * capability bytes (MS NT5 ISAKMPOAKLEY + 4-byte version, Cisco Unity + 2-byte version, Cisco
 * FRAGMENTATION + 4-byte capability flags). Byte values are taken from strongSwan
 * src/libcharon/sa/ikev1/tasks/isakmp_vendor.c and src/libcharon/sa/ikev2/tasks/ike_vendor.c
 * (vendor_ids / vendor_natt_ids / vids tables) and cross-checked against Wireshark's
 * packet-isakmp.c and against MD5 of the names in the tests.
 *
 * Left out: the hundreds of product-version VIDs (SSH Sentinel, Checkpoint builds...): an
 * unknown VID is reported as "unknown-vid-<hex>", which is enough for logs.
 */
import { fromHex } from "../base/bytes.js";

export interface VendorIdEntry {
  /** Stable identifier used by code (e.g. NAT-T method selection). */
  readonly id: VendorIdName;
  /** Human-readable name as other implementations print it. */
  readonly name: string;
  readonly bytes: Buffer;
  /**
   * When true, `bytes` is a prefix: received VIDs that start with it match, and the suffix is
   * reported (version / capability bytes).
   */
  readonly prefix: boolean;
}

export type VendorIdName =
  | "RFC3947"
  | "NATT_DRAFT_00"
  | "NATT_DRAFT_01"
  | "NATT_DRAFT_02"
  | "NATT_DRAFT_02N"
  | "NATT_DRAFT_03"
  | "NATT_DRAFT_04"
  | "NATT_DRAFT_05"
  | "NATT_DRAFT_06"
  | "NATT_DRAFT_07"
  | "NATT_DRAFT_08"
  | "NATT_DRAFT_IKE"
  | "DPD"
  | "XAUTH"
  | "FRAGMENTATION"
  | "MS_NT5_ISAKMPOAKLEY"
  | "MS_VID_INITIAL_CONTACT"
  | "MS_NEGOTIATION_DISCOVERY_CAPABLE"
  | "MS_IKE_CGA_V1"
  | "STRONGSWAN"
  | "CISCO_UNITY";

/** Ordered: the first matching entry wins (exact entries before prefix ones of the same bytes). */
export const VENDOR_IDS: readonly VendorIdEntry[] = [
  // NAT-T, RFC 3947 §5: MD5("RFC 3947").
  {
    id: "RFC3947",
    name: "RFC 3947",
    bytes: fromHex("4a131c81070358455c5728f20e95452f"),
    prefix: false,
  },
  // draft-ietf-ipsec-nat-t-ike-NN: MD5 of the draft name (strongSwan vendor_natt_ids).
  {
    id: "NATT_DRAFT_00",
    name: "draft-ietf-ipsec-nat-t-ike-00",
    bytes: fromHex("4485152d18b6bbcd0be8a8469579ddcc"),
    prefix: false,
  },
  {
    id: "NATT_DRAFT_01",
    name: "draft-ietf-ipsec-nat-t-ike-01",
    bytes: fromHex("16f6ca16e4a4066d83821a0f0aeaa862"),
    prefix: false,
  },
  {
    id: "NATT_DRAFT_02",
    name: "draft-ietf-ipsec-nat-t-ike-02",
    bytes: fromHex("cd60464335df21f87cfdb2fc68b6a448"),
    prefix: false,
  },
  // MD5("draft-ietf-ipsec-nat-t-ike-02\n") — with the trailing newline, sent by Windows.
  {
    id: "NATT_DRAFT_02N",
    name: "draft-ietf-ipsec-nat-t-ike-02\\n",
    bytes: fromHex("90cb80913ebb696e086381b5ec427b1f"),
    prefix: false,
  },
  {
    id: "NATT_DRAFT_03",
    name: "draft-ietf-ipsec-nat-t-ike-03",
    bytes: fromHex("7d9419a65310ca6f2c179d9215529d56"),
    prefix: false,
  },
  {
    id: "NATT_DRAFT_04",
    name: "draft-ietf-ipsec-nat-t-ike-04",
    bytes: fromHex("9909b64eed937c6573de52ace952fa6b"),
    prefix: false,
  },
  {
    id: "NATT_DRAFT_05",
    name: "draft-ietf-ipsec-nat-t-ike-05",
    bytes: fromHex("80d0bb3def54565ee84645d4c85ce3ee"),
    prefix: false,
  },
  {
    id: "NATT_DRAFT_06",
    name: "draft-ietf-ipsec-nat-t-ike-06",
    bytes: fromHex("4d1e0e136deafa34c4f3ea9f02ec7285"),
    prefix: false,
  },
  {
    id: "NATT_DRAFT_07",
    name: "draft-ietf-ipsec-nat-t-ike-07",
    bytes: fromHex("439b59f8ba676c4c7737ae22eab8f582"),
    prefix: false,
  },
  {
    id: "NATT_DRAFT_08",
    name: "draft-ietf-ipsec-nat-t-ike-08",
    bytes: fromHex("8f8d83826d246b6fc7a8a6a428c11de8"),
    prefix: false,
  },
  // MD5("draft-ietf-ipsec-nat-t-ike"); also sent by Mac OS X 10.x racoon.
  {
    id: "NATT_DRAFT_IKE",
    name: "draft-ietf-ipsec-nat-t-ike",
    bytes: fromHex("4df37928e9fc4fd1b3262170d515c662"),
    prefix: false,
  },
  // RFC 3706 §3: DPD VID (version 1.0 in the last two bytes).
  {
    id: "DPD",
    name: "RFC 3706 DPD",
    bytes: fromHex("afcad71368a1f1c96b8696fc77570100"),
    prefix: false,
  },
  // Truncated MD5("draft-ietf-ipsra-isakmp-xauth-06.txt").
  { id: "XAUTH", name: "XAUTH", bytes: fromHex("09002689dfd6b712"), prefix: false },
  // MD5("FRAGMENTATION"); Cisco/strongSwan/racoon append 4 capability bytes, Windows does not.
  {
    id: "FRAGMENTATION",
    name: "FRAGMENTATION",
    bytes: fromHex("4048b7d56ebce88525e7de7f00d6c2d3"),
    prefix: true,
  },
  // MD5("MS NT5 ISAKMPOAKLEY") + 4-byte version (…07 Win7, …08 2008R2, …09 Win8-11).
  {
    id: "MS_NT5_ISAKMPOAKLEY",
    name: "MS NT5 ISAKMPOAKLEY",
    bytes: fromHex("1e2b516905991c7d7c96fcbfb587e461"),
    prefix: true,
  },
  // MD5("Vid-Initial-Contact").
  {
    id: "MS_VID_INITIAL_CONTACT",
    name: "Vid-Initial-Contact",
    bytes: fromHex("26244d38eddb61b3172a36e3d0cfb819"),
    prefix: false,
  },
  // MD5("MS-Negotiation Discovery Capable").
  {
    id: "MS_NEGOTIATION_DISCOVERY_CAPABLE",
    name: "MS-Negotiation Discovery Capable",
    bytes: fromHex("fb1de3cdf341b7ea16b7e5be0855f120"),
    prefix: false,
  },
  // MD5("IKE CGA version 1") (libreswan vendorid.c DEC_MD5_VID(VISTA_AUTHIP2, ...)).
  {
    id: "MS_IKE_CGA_V1",
    name: "IKE CGA version 1",
    bytes: fromHex("e3a5966a76379fe707228231e5ce8652"),
    prefix: false,
  },
  // MD5("strongSwan").
  {
    id: "STRONGSWAN",
    name: "strongSwan",
    bytes: fromHex("882fe56d6fd20dbc2251613b2ebe5beb"),
    prefix: false,
  },
  // CISCO-UNITY: 14-byte prefix + 2-byte version (strongSwan sends 1.0 = 0100).
  {
    id: "CISCO_UNITY",
    name: "Cisco Unity",
    bytes: fromHex("12f5f28c457168a9702d9fe274cc"),
    prefix: true,
  },
];

export interface VendorIdMatch {
  readonly entry: VendorIdEntry;
  /** Bytes after the matched prefix (version / capabilities); empty for exact matches. */
  readonly suffix: Buffer;
}

/** Finds the known vendor ID for a received VID payload body, or undefined. */
export function classifyVendorId(bytes: Uint8Array): VendorIdMatch | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const entry of VENDOR_IDS) {
    if (entry.prefix) {
      if (b.length >= entry.bytes.length && b.subarray(0, entry.bytes.length).equals(entry.bytes)) {
        return { entry, suffix: Buffer.from(b.subarray(entry.bytes.length)) };
      }
    } else if (b.equals(entry.bytes)) {
      return { entry, suffix: Buffer.alloc(0) };
    }
  }
  return undefined;
}

/** A readable name for any VID: "MS NT5 ISAKMPOAKLEY v9", "FRAGMENTATION", "unknown-vid-<hex>". */
export function vendorIdName(bytes: Uint8Array): string {
  const m = classifyVendorId(bytes);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!m) return `unknown-vid-${b.toString("hex")}`;
  if (m.suffix.length === 0) return m.entry.name;
  if (m.entry.id === "MS_NT5_ISAKMPOAKLEY" && m.suffix.length === 4) {
    return `${m.entry.name} v${m.suffix.readUInt32BE(0)}`;
  }
  if (m.entry.id === "CISCO_UNITY" && m.suffix.length === 2) {
    return `${m.entry.name} ${m.suffix[0]}.${m.suffix[1]}`;
  }
  return `${m.entry.name} +${m.suffix.toString("hex")}`;
}

/** The bytes to send for a known VID (prefix entries get no suffix; add one yourself). */
export function vendorIdBytes(id: VendorIdName): Buffer {
  const e = VENDOR_IDS.find((v) => v.id === id);
  if (!e) throw new Error(`vendorIdBytes: no entry ${id}`);
  return Buffer.from(e.bytes);
}
