/**
 * Vendor ID table tests. Independent checks: the table's bytes were copied from strongSwan's
 * isakmp_vendor.c / ike_vendor.c; here they are recomputed as MD5 of the names (the drafts and
 * vendors define them that way: RFC 3947 §5 "4a131c81070358455c5728f20e95452f" = MD5("RFC 3947"),
 * draft-ietf-ipsec-nat-t-ike-0x, RFC 3706 §3.2 DPD VID value quoted from the RFC).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { fromHex } from "../base/bytes.js";
import { VENDOR_IDS, classifyVendorId, vendorIdBytes, vendorIdName } from "./vendor-ids.js";

const md5 = (s: string) => createHash("md5").update(s, "latin1").digest();

describe("vendor IDs", () => {
  it("hash-of-name VIDs equal MD5 of their defining strings", () => {
    const defining: Record<string, string> = {
      RFC3947: "RFC 3947",
      NATT_DRAFT_00: "draft-ietf-ipsec-nat-t-ike-00",
      NATT_DRAFT_01: "draft-ietf-ipsec-nat-t-ike-01",
      NATT_DRAFT_02: "draft-ietf-ipsec-nat-t-ike-02",
      NATT_DRAFT_02N: "draft-ietf-ipsec-nat-t-ike-02\n",
      NATT_DRAFT_03: "draft-ietf-ipsec-nat-t-ike-03",
      NATT_DRAFT_04: "draft-ietf-ipsec-nat-t-ike-04",
      NATT_DRAFT_05: "draft-ietf-ipsec-nat-t-ike-05",
      NATT_DRAFT_06: "draft-ietf-ipsec-nat-t-ike-06",
      NATT_DRAFT_07: "draft-ietf-ipsec-nat-t-ike-07",
      NATT_DRAFT_08: "draft-ietf-ipsec-nat-t-ike-08",
      NATT_DRAFT_IKE: "draft-ietf-ipsec-nat-t-ike",
      FRAGMENTATION: "FRAGMENTATION",
      MS_NT5_ISAKMPOAKLEY: "MS NT5 ISAKMPOAKLEY",
      MS_VID_INITIAL_CONTACT: "Vid-Initial-Contact",
      MS_NEGOTIATION_DISCOVERY_CAPABLE: "MS-Negotiation Discovery Capable",
      MS_IKE_CGA_V1: "IKE CGA version 1",
      STRONGSWAN: "strongSwan",
    };
    for (const [id, text] of Object.entries(defining)) {
      const e = VENDOR_IDS.find((v) => v.id === id);
      assert.ok(e, id);
      assert.ok(e.bytes.equals(md5(text)), `${id} = MD5(${JSON.stringify(text)})`);
    }
    // Truncated hashes: XAUTH = first 8 of MD5("draft-ietf-ipsra-isakmp-xauth-06.txt"),
    // Cisco Unity = first 14 of MD5("CISCO-UNITY") (+ 2 version bytes on the wire).
    assert.ok(
      vendorIdBytes("XAUTH").equals(md5("draft-ietf-ipsra-isakmp-xauth-06.txt").subarray(0, 8)),
    );
    assert.ok(vendorIdBytes("CISCO_UNITY").equals(md5("CISCO-UNITY").subarray(0, 14)));
  });

  it("RFC 3947 §5 and RFC 3706 §3.2 values as printed in the RFCs", () => {
    assert.equal(
      classifyVendorId(fromHex("4a131c81070358455c5728f20e95452f"))?.entry.id,
      "RFC3947",
    );
    assert.equal(classifyVendorId(fromHex("afcad71368a1f1c96b8696fc77570100"))?.entry.id, "DPD");
  });

  it("prefix VIDs: Windows version suffix, FRAGMENTATION capabilities, Cisco Unity version", () => {
    const nt5 = Buffer.concat([md5("MS NT5 ISAKMPOAKLEY"), fromHex("00000009")]);
    assert.equal(vendorIdName(nt5), "MS NT5 ISAKMPOAKLEY v9");
    assert.ok(classifyVendorId(nt5)?.suffix.equals(fromHex("00000009")));
    assert.equal(vendorIdName(md5("FRAGMENTATION")), "FRAGMENTATION", "Windows sends it bare");
    assert.equal(
      vendorIdName(Buffer.concat([md5("FRAGMENTATION"), fromHex("80000000")])),
      "FRAGMENTATION +80000000",
    );
    assert.equal(vendorIdName(fromHex("12f5f28c457168a9702d9fe274cc0100")), "Cisco Unity 1.0");
  });

  it("unknown VIDs read as unknown-vid-<hex>; near misses do not match", () => {
    // KEY_MODS VID seen from Windows (hwdsl2/setup-ipsec-vpn#153 log): not in our table.
    const keyMods = fromHex("01528bbbc00696121849ab9a1c5b2a5100000001");
    assert.equal(classifyVendorId(keyMods), undefined);
    assert.equal(vendorIdName(keyMods), "unknown-vid-01528bbbc00696121849ab9a1c5b2a5100000001");
    const rfc = Buffer.from(vendorIdBytes("RFC3947"));
    assert.equal(classifyVendorId(rfc.subarray(0, 15)), undefined, "truncated exact VID");
    assert.equal(
      classifyVendorId(Buffer.concat([rfc, Buffer.of(0)])),
      undefined,
      "extended exact VID",
    );
    assert.equal(classifyVendorId(md5("MS NT5 ISAKMPOAKLEY").subarray(0, 15)), undefined);
  });
});
