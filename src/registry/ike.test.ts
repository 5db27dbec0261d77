/**
 * IKE registry tests. Oracle: Wireshark's ISAKMP value tables as dumped by tshark 4.0.17
 * (`tshark -G values`, stored in test/vectors/isakmp-registry/tshark-values.txt, regenerate with
 * tshark-values.sh there). Windows quirk: winipsec.h `#define DH_GROUP_2048 0x10000001`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  ADDRESS_PRESERVATION_VALUES,
  AH_TRANSFORM_IDS,
  CERT_ENCODINGS,
  DOIS,
  ECN_TUNNEL_VALUES,
  ENCAPSULATION_MODES,
  ESN_VALUES,
  ESP_TRANSFORM_IDS,
  EXCHANGE_TYPES,
  GROUP_DESCRIPTIONS,
  GROUP_TYPES,
  ID_TYPES,
  IKE_ATTRIBUTE_CLASSES,
  IKE_AUTH_METHODS,
  IKE_ENCRYPTION_ALGORITHMS,
  IKE_HASH_ALGORITHMS,
  IPSEC_ATTRIBUTE_CLASSES,
  IPSEC_AUTH_ALGORITHMS,
  ISAKMP_TRANSFORM_IDS,
  LIFE_TYPES,
  NOTIFY_TYPES,
  type NameTable,
  PAYLOAD_TYPES,
  PROTOCOL_IDS,
  SA_DIRECTION_VALUES,
  describeAttribute,
  ikeGroupName,
  isErrorNotify,
  name,
  nameWithNumber,
  normalizeGroupNumber,
  situationName,
  transformIdTable,
} from "./ike.js";

/** field -> [value, name] singletons of the first (IKEv1) table tshark lists for that field. */
function loadWireshark(): Map<string, Map<number, string>> {
  const path = join(import.meta.dirname, "../../test/vectors/isakmp-registry/tshark-values.txt");
  const out = new Map<string, Map<number, string>>();
  const last = new Map<string, number>();
  const done = new Set<string>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const [kind, field, a, b, c] = line.split("|");
    if (!field || done.has(field)) continue;
    const from = Number(a);
    if ((last.get(field) ?? -1) >= from) {
      done.add(field); // a second (IKEv2) table starts
      continue;
    }
    last.set(field, kind === "R" ? Number(b) : from);
    const m = out.get(field) ?? new Map<number, string>();
    out.set(field, m);
    if (kind === "V") m.set(from, b ?? "");
    else if (kind === "R" && Number(b) === from) m.set(from, c ?? "");
  }
  return out;
}
const ws = loadWireshark();

function wsTable(field: string): Map<number, string> {
  const t = ws.get(field);
  assert.ok(t && t.size > 0, `no tshark values for ${field}`);
  return t;
}

const norm = (s: string) => s.toLowerCase().replace(/-/g, " ");
const placeholder = (s: string) => /^(reserved|<unknown>|undefined - 0|unassigned)/i.test(s);

/** Every value Wireshark names (placeholders aside) is known to us with an equivalent name. */
function sameNumbers(
  table: NameTable,
  field: string,
  nameCheck?: (ours: string, theirs: string) => boolean,
) {
  let compared = 0;
  for (const [v, theirs] of wsTable(field)) {
    if (placeholder(theirs) && !table.names.has(v)) continue;
    if (v >= 127 && v <= 129 && field.endsWith("encryption_algorithm")) continue; // SM1/SM4: not IANA
    if (v === 20 && field.endsWith("hash_algorithm")) continue; // SM3: not IANA
    if (v === 20 && field === "isakmp.ike.attr.type") continue; // GM/T ACAT: not IANA
    if (v >= 33 && v <= 53 && field === "isakmp.typepayload") continue; // IKEv2 payloads
    const ours = table.names.get(v);
    assert.ok(ours !== undefined, `${field}: ${v} (${theirs}) missing`);
    if (nameCheck)
      assert.ok(nameCheck(ours, theirs), `${field} ${v}: ours "${ours}" vs Wireshark "${theirs}"`);
    compared++;
  }
  assert.ok(compared > 0);
}

describe("IKE registry vs Wireshark's ISAKMP tables (tshark -G values)", () => {
  const exact = (o: string, t: string) => o === t;
  const caseless = (o: string, t: string) => norm(o) === norm(t);

  it("notify types (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706): same numbers and names", () => {
    sameNumbers(NOTIFY_TYPES, "isakmp.notify.msgtype", exact);
    assert.equal(name(NOTIFY_TYPES, 24576), "RESPONDER-LIFETIME");
    assert.equal(name(NOTIFY_TYPES, 24577), "REPLAY-STATUS");
    assert.equal(name(NOTIFY_TYPES, 24578), "INITIAL-CONTACT");
    assert.equal(name(NOTIFY_TYPES, 36136), "R-U-THERE");
    assert.equal(name(NOTIFY_TYPES, 36137), "R-U-THERE-ACK");
  });

  it("exchange types, payload types (incl. NAT-D/NAT-OA 20/21 and 130/131), DOI", () => {
    sameNumbers(EXCHANGE_TYPES, "isakmp.exchangetype");
    sameNumbers(PAYLOAD_TYPES, "isakmp.typepayload");
    sameNumbers(DOIS, "isakmp.sa.doi", exact);
    for (const n of [20, 21, 130, 131]) assert.match(name(PAYLOAD_TYPES, n), /^NAT-(D|OA)/);
  });

  it("ID types, certificate encodings, protocol IDs", () => {
    sameNumbers(ID_TYPES, "isakmp.id.type", (o, t) => o === `ID_${t}` || t === "KEY_LIST");
    sameNumbers(CERT_ENCODINGS, "isakmp.cert.encoding", exact);
    sameNumbers(PROTOCOL_IDS, "isakmp.prop.protoid", (o, t) => o === `PROTO_${t}` || o === t);
  });

  it("IKE attribute classes and values (RFC 2409 App. A + later RFCs)", () => {
    sameNumbers(IKE_ATTRIBUTE_CLASSES, "isakmp.ike.attr.type", (o, t) =>
      norm(o).startsWith(norm(t)),
    );
    sameNumbers(IKE_ENCRYPTION_ALGORITHMS, "isakmp.ike.attr.encryption_algorithm", caseless);
    sameNumbers(IKE_HASH_ALGORITHMS, "isakmp.ike.attr.hash_algorithm", caseless);
    sameNumbers(IKE_AUTH_METHODS, "isakmp.ike.attr.authentication_method", caseless);
    sameNumbers(GROUP_TYPES, "isakmp.ike.attr.group_type", exact);
    sameNumbers(LIFE_TYPES, "isakmp.ike.attr.life_type", caseless);
    // Group descriptions: same numbers, and the same size (bits or 2^n field) in the name.
    sameNumbers(GROUP_DESCRIPTIONS, "isakmp.ike.attr.group_description", (o, t) => {
      const m = /2\^(\d+)|(\d+)[- ]bit/.exec(t);
      const size = m?.[1] ?? m?.[2];
      return size !== undefined ? o.includes(size) : o.startsWith(t);
    });
  });

  it("IPsec attribute classes and values (RFC 2407 §4.5, RFC 3947 §5.1 + draft 61443/61444)", () => {
    sameNumbers(IPSEC_ATTRIBUTE_CLASSES, "isakmp.ipsec.attr.type", caseless);
    sameNumbers(ENCAPSULATION_MODES, "isakmp.ipsec.attr.encap_mode", caseless);
    sameNumbers(IPSEC_AUTH_ALGORITHMS, "isakmp.ipsec.attr.auth_algorithm", exact);
    sameNumbers(ECN_TUNNEL_VALUES, "isakmp.ipsec.attr.ecn_tunnel", exact);
    sameNumbers(ESN_VALUES, "isakmp.ipsec.attr.ext_seq_nbr", exact);
    sameNumbers(ADDRESS_PRESERVATION_VALUES, "isakmp.ipsec.attr.addr_preservation", exact);
    sameNumbers(SA_DIRECTION_VALUES, "isakmp.ipsec.attr.sa_direction", exact);
    sameNumbers(LIFE_TYPES, "isakmp.ipsec.attr.life_type", caseless);
  });
});

describe("IKE registry behaviour", () => {
  it("ESP transform IDs (RFC 2407 §4.4.4, RFC 3602, RFC 4106)", () => {
    assert.equal(name(ESP_TRANSFORM_IDS, 3), "ESP_3DES");
    assert.equal(name(ESP_TRANSFORM_IDS, 11), "ESP_NULL");
    assert.equal(name(ESP_TRANSFORM_IDS, 12), "ESP_AES-CBC");
    assert.equal(name(ESP_TRANSFORM_IDS, 18), "ESP_AES-GCM_8");
    assert.equal(name(ESP_TRANSFORM_IDS, 19), "ESP_AES-GCM_12");
    assert.equal(name(ESP_TRANSFORM_IDS, 20), "ESP_AES-GCM_16");
    assert.equal(transformIdTable(3), ESP_TRANSFORM_IDS);
    assert.equal(transformIdTable(2), AH_TRANSFORM_IDS);
    assert.equal(transformIdTable(1), ISAKMP_TRANSFORM_IDS);
    assert.equal(name(transformIdTable(9), 1), "unknown-transform-1");
  });

  it("ikeGroupName(268435457): the Windows DH_GROUP_2048 constant reads as MODP-2048 (winipsec.h)", () => {
    const n = ikeGroupName(268435457);
    assert.match(n, /MODP-2048/);
    assert.match(n, /group 14/);
    assert.match(n, /0x10000001/);
    assert.doesNotMatch(n, /^\d+$/);
    assert.equal(normalizeGroupNumber(0x10000001), 14);
    assert.equal(ikeGroupName(14), "MODP-2048 (group 14)");
    assert.equal(ikeGroupName(2), "MODP-1024 (group 2)");
    assert.equal(ikeGroupName(40000), "private-use-group-40000");
  });

  it("name(): never a bare number, for any table and any 32-bit value", () => {
    const tables = [
      NOTIFY_TYPES,
      EXCHANGE_TYPES,
      PAYLOAD_TYPES,
      ID_TYPES,
      GROUP_DESCRIPTIONS,
      IKE_AUTH_METHODS,
      ENCAPSULATION_MODES,
      ESP_TRANSFORM_IDS,
      transformIdTable(77),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...tables), fc.nat(), (t, v) => {
        const n = name(t, v);
        assert.match(n, /[A-Za-z]/);
        assert.doesNotMatch(n, /^\d+$/);
        assert.doesNotMatch(ikeGroupName(v), /^\d+$/);
      }),
    );
    assert.equal(name(NOTIFY_TYPES, 12345), "private-use-error-notify-12345");
    assert.equal(name(NOTIFY_TYPES, 40000), "private-use-status-notify-40000");
    assert.equal(name(EXCHANGE_TYPES, 100), "unknown-exchange-100");
    assert.equal(nameWithNumber(EXCHANGE_TYPES, 32), "Quick Mode (32)");
  });

  it("helpers: situationName, isErrorNotify, describeAttribute", () => {
    assert.equal(situationName(1), "SIT_IDENTITY_ONLY");
    assert.equal(situationName(0x81), "SIT_IDENTITY_ONLY|unknown-situation-bits-0x80");
    assert.ok(isErrorNotify(14));
    assert.ok(!isErrorNotify(24578));
    assert.equal(describeAttribute("ike", 1, 7), "Encryption Algorithm=AES-CBC");
    assert.equal(
      describeAttribute("ike", 4, 0x10000001),
      `Group Description=${ikeGroupName(0x10000001)}`,
    );
    assert.equal(
      describeAttribute("ipsec", 4, 61444),
      "Encapsulation Mode=UDP-Encapsulated-Transport (draft)",
    );
    assert.equal(describeAttribute("ike", 12, 28800), "Life Duration=28800");
    assert.equal(
      describeAttribute("ike", 12, Buffer.from("00015180", "hex")),
      "Life Duration=0x00015180",
    );
  });
});
