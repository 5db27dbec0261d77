/**
 * Real IKEv1 traffic against the ISAKMP codecs.
 * Source: test/vectors/captures/*.pcap — strongSwan 5.9.8 (both peers) in the kernel-libipsec
 * lab (see captures/README.md). Oracle: tshark 4.0.17's ISAKMP dissector, whose
 * output is stored in captures/tshark-facts.txt (regenerate with captures/tshark-facts.sh).
 * Every ISAKMP datagram must parse and re-serialize byte-identically; header fields, payload
 * types and lengths (nested SA/Proposal/Transform included), the chosen proposal, VID bytes,
 * NAT-D hashes, KE and nonce data must equal what tshark reads.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hex } from "../../src/base/bytes.js";
import {
  GroupDescription,
  IkeAttr,
  IkeAuthMethod,
  IkeEncryption,
  IkeHash,
  LifeType,
  PayloadType,
  ProtocolId,
  type Payload,
  classifyVendorId,
  decodeIkeAttributes,
  describeIsakmpMessage,
  ikeGroupName,
  parseIsakmpMessage,
  serializeParsedIsakmpMessage,
  vendorIdName,
} from "../../src/wire/isakmp/index.js";
import { isakmpDatagrams, udpDatagrams } from "../helpers/pcap.js";

const dir = join(import.meta.dirname, "captures");
const IKE_CAPTURES = ["evidence-ikev1-natt-transport.pcap", "evidence-ikev1-natt-tunnel.pcap"];

interface Facts {
  readonly [field: string]: string[];
}

/** Parses tshark-facts.txt into pcap -> frame -> field -> values. */
function loadFacts(): Map<string, Map<number, Facts>> {
  const text = readFileSync(join(dir, "tshark-facts.txt"), "utf8");
  const out = new Map<string, Map<number, Facts>>();
  let current: Map<number, Facts> | undefined;
  let fields: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("# ") && line.endsWith(".pcap")) {
      current = new Map();
      out.set(line.slice(2), current);
    } else if (line.startsWith("# ")) {
      fields = line.slice(2).split(" ");
    } else if (line.trim() !== "" && current) {
      const cols = line.split("|");
      const rec: Record<string, string[]> = {};
      fields.forEach((f, i) => {
        const v = cols[i] ?? "";
        rec[f] = v === "" ? [] : v.split(",");
      });
      current.set(Number(rec["frame.number"]?.[0]), rec);
    }
  }
  return out;
}

const facts = loadFacts();

/** Flattened payload types/lengths in tshark's order (SA, then its proposals and transforms). */
function flatten(payloads: readonly Payload[]): { types: number[]; lengths: number[] } {
  const types: number[] = [];
  const lengths: number[] = [];
  for (const p of payloads) {
    if (p.type === PayloadType.SA) {
      let saLen = 12;
      const inner: number[] = [];
      const innerTypes: number[] = [];
      for (const prop of p.proposals) {
        const tls = prop.transforms.map(
          (t) =>
            8 + t.attributes.reduce((n, a) => n + (a.format === "TV" ? 4 : 4 + a.value.length), 0),
        );
        const plen = 8 + prop.spi.length + tls.reduce((a, b) => a + b, 0);
        inner.push(plen, ...tls);
        innerTypes.push(PayloadType.P, ...tls.map(() => PayloadType.T));
        saLen += plen;
      }
      types.push(PayloadType.SA, ...innerTypes);
      lengths.push(saLen, ...inner);
    } else {
      types.push(p.type === "unknown" ? p.payloadType : p.type);
      lengths.push(4 + bodyLen(p));
    }
  }
  return { types, lengths };
}

function bodyLen(p: Payload): number {
  switch (p.type) {
    case PayloadType.KE:
    case PayloadType.NONCE:
    case PayloadType.VID:
    case PayloadType.HASH:
      return p.data.length;
    case PayloadType.NAT_D:
    case PayloadType.NAT_D_DRAFT:
      return p.hash.length;
    default:
      throw new Error(`capture test: unexpected payload ${String(p.type)}`);
  }
}

describe("ISAKMP captures (strongSwan 5.9.8 lab; oracle: tshark 4.0.17)", () => {
  for (const file of IKE_CAPTURES) {
    const bytes = readFileSync(join(dir, file));
    const frameFacts = facts.get(file);
    assert.ok(frameFacts, `no tshark facts for ${file}`);

    it(`${file}: every ISAKMP datagram parses and re-serializes byte-identically`, () => {
      const dgs = isakmpDatagrams(bytes);
      assert.equal(dgs.length, 9, "MM 6 + QM 3 messages");
      assert.deepEqual(
        dgs.map((d) => d.frame),
        [...frameFacts.keys()],
        "same frames as tshark's isakmp filter",
      );
      for (const d of dgs) {
        const r = parseIsakmpMessage(d.payload);
        assert.ok(r.ok, `frame ${d.frame}: ${r.ok ? "" : r.error.message}`);
        assert.equal(r.value.trailingLength, 0);
        assert.ok(serializeParsedIsakmpMessage(r.value).equals(d.payload), `frame ${d.frame} round trip`);
      }
    });

    it(`${file}: header fields equal tshark's`, () => {
      for (const d of isakmpDatagrams(bytes)) {
        const f = frameFacts.get(d.frame);
        assert.ok(f);
        const r = parseIsakmpMessage(d.payload);
        assert.ok(r.ok);
        const h = r.value.header;
        assert.equal(hex(h.initiatorCookie), f["isakmp.ispi"]?.[0]);
        assert.equal(hex(h.responderCookie), f["isakmp.rspi"]?.[0]);
        assert.equal(h.nextPayload, Number(f["isakmp.nextpayload"]?.[0]));
        assert.equal(h.exchangeType, Number(f["isakmp.exchangetype"]?.[0]));
        assert.equal(h.majorVersion, 1);
        assert.equal(h.minorVersion, 0);
        const flagOctet: number = Number(f["isakmp.flags"]?.[0]);
        assert.equal(h.flags.encryption, (flagOctet & 1) === 1);
        assert.equal(h.flags.commit, (flagOctet & 2) === 2);
        assert.equal(h.flags.authenticationOnly, (flagOctet & 4) === 4);
        assert.equal(h.messageId, Number(f["isakmp.messageid"]?.[0]));
        assert.equal(h.length, Number(f["isakmp.length"]?.[0]));
        assert.equal(h.length, d.payload.length);
      }
    });

    it(`${file}: cleartext payloads equal tshark's (types, lengths, SA, VIDs, NAT-D, KE, Ni/Nr)`, () => {
      let cleartext = 0;
      for (const d of isakmpDatagrams(bytes)) {
        const f = frameFacts.get(d.frame);
        assert.ok(f);
        const r = parseIsakmpMessage(d.payload);
        assert.ok(r.ok);
        if (r.value.encrypted) continue;
        cleartext++;
        const { types, lengths } = flatten(r.value.payloads);
        assert.deepEqual(types, (f["isakmp.typepayload"] ?? []).map(Number), `frame ${d.frame} types`);
        assert.deepEqual(lengths, (f["isakmp.payloadlength"] ?? []).map(Number), `frame ${d.frame} lengths`);
        const vids = r.value.payloads.flatMap((p) => (p.type === PayloadType.VID ? [hex(p.data)] : []));
        assert.deepEqual(vids, f["isakmp.vid_bytes"] ?? []);
        const natd = r.value.payloads.flatMap((p) => (p.type === PayloadType.NAT_D ? [hex(p.hash)] : []));
        assert.deepEqual(natd, f["isakmp.ike.nat_hash"] ?? []);
        const ke = r.value.payloads.flatMap((p) => (p.type === PayloadType.KE ? [hex(p.data)] : []));
        assert.deepEqual(ke, f["isakmp.key_exchange.data"] ?? []);
        const nonce = r.value.payloads.flatMap((p) => (p.type === PayloadType.NONCE ? [hex(p.data)] : []));
        assert.deepEqual(nonce, f["isakmp.nonce"] ?? []);
        for (const p of r.value.payloads) {
          if (p.type !== PayloadType.SA) continue;
          assert.equal(p.doi, Number(f["isakmp.sa.doi"]?.[0]));
          assert.equal(p.situation, Number.parseInt(f["isakmp.sa.situation"]?.[0] ?? "", 16));
          const prop = p.proposals[0];
          assert.ok(prop);
          assert.equal(prop.protocolId, Number(f["isakmp.prop.protoid"]?.[0]));
          assert.equal(prop.transforms.length, Number(f["isakmp.prop.transforms"]?.[0]));
          const t = prop.transforms[0];
          assert.ok(t);
          assert.equal(t.transformId, Number(f["isakmp.trans.id"]?.[0]));
          const v = decodeIkeAttributes(t.attributes);
          assert.ok(v.ok);
          assert.equal(v.value.encryptionAlgorithm, Number(f["isakmp.ike.attr.encryption_algorithm"]?.[0]));
          assert.equal(v.value.keyLength, Number(f["isakmp.ike.attr.key_length"]?.[0]));
          assert.equal(v.value.hashAlgorithm, Number(f["isakmp.ike.attr.hash_algorithm"]?.[0]));
          assert.equal(v.value.groupDescription, Number(f["isakmp.ike.attr.group_description"]?.[0]));
          assert.equal(
            v.value.authenticationMethod,
            Number(f["isakmp.ike.attr.authentication_method"]?.[0]),
          );
          assert.deepEqual(v.value.lifetimes, [
            {
              lifeType: Number(f["isakmp.ike.attr.life_type"]?.[0]),
              duration: BigInt(f["isakmp.ike.attr.life_duration"]?.[0] ?? "x"),
            },
          ]);
        }
      }
      assert.equal(cleartext, 4, "MM1-MM4 are cleartext");
    });

    it(`${file}: the proposal strongSwan chose is AES-CBC-128 / SHA / MODP-2048 / PSK (lab README)`, () => {
      const [mm1, mm2] = isakmpDatagrams(bytes);
      assert.ok(mm1 && mm2);
      for (const d of [mm1, mm2]) {
        const r = parseIsakmpMessage(d.payload);
        assert.ok(r.ok && !r.value.encrypted);
        const sa = r.value.payloads[0];
        assert.ok(sa && sa.type === PayloadType.SA);
        const prop = sa.proposals[0];
        assert.equal(prop?.protocolId, ProtocolId.PROTO_ISAKMP);
        const t = prop?.transforms[0];
        assert.ok(t);
        const v = decodeIkeAttributes(t.attributes);
        assert.ok(v.ok);
        assert.equal(v.value.encryptionAlgorithm, IkeEncryption.AES_CBC);
        assert.equal(v.value.keyLength, 128);
        assert.equal(v.value.hashAlgorithm, IkeHash.SHA);
        assert.equal(v.value.groupDescription, GroupDescription.MODP_2048);
        assert.equal(ikeGroupName(v.value.groupDescription ?? 0), "MODP-2048 (group 14)");
        assert.equal(v.value.authenticationMethod, IkeAuthMethod.PRE_SHARED_KEY);
        assert.equal(v.value.lifetimes[0]?.lifeType, LifeType.SECONDS);
        assert.ok(t.attributes.every((a) => a.format === "TV"));
        assert.equal(t.attributes[1]?.type, IkeAttr.KEY_LENGTH);
      }
    });

    it(`${file}: VIDs are recognised by name (lab README: MM1 five, MM2 four)`, () => {
      const [mm1, mm2] = isakmpDatagrams(bytes);
      const names = (b: Buffer) => {
        const r = parseIsakmpMessage(b);
        assert.ok(r.ok && !r.value.encrypted);
        return r.value.payloads.flatMap((p) => (p.type === PayloadType.VID ? [vendorIdName(p.data)] : []));
      };
      assert.ok(mm1 && mm2);
      assert.deepEqual(names(mm1.payload), [
        "XAUTH",
        "RFC 3706 DPD",
        "FRAGMENTATION +80000000",
        "RFC 3947",
        "draft-ietf-ipsec-nat-t-ike-02\\n",
      ]);
      assert.deepEqual(names(mm2.payload), ["XAUTH", "RFC 3706 DPD", "FRAGMENTATION +80000000", "RFC 3947"]);
      const r = parseIsakmpMessage(mm1.payload);
      assert.ok(r.ok && !r.value.encrypted);
      const frag = r.value.payloads[3];
      assert.ok(frag && frag.type === PayloadType.VID);
      assert.equal(classifyVendorId(frag.data)?.entry.id, "FRAGMENTATION");
    });

    it(`${file}: MM3/MM4 carry two 20-byte NAT-D (RFC 3947 number 20, SHA-1 sized)`, () => {
      const dgs = isakmpDatagrams(bytes);
      for (const d of dgs.slice(2, 4)) {
        const r = parseIsakmpMessage(d.payload);
        assert.ok(r.ok && !r.value.encrypted);
        const natd = r.value.payloads.filter((p) => p.type === PayloadType.NAT_D);
        assert.equal(natd.length, 2);
        for (const p of natd) assert.ok(p.type === PayloadType.NAT_D && p.hash.length === 20);
        const ke = r.value.payloads.find((p) => p.type === PayloadType.KE);
        assert.ok(ke && ke.type === PayloadType.KE && ke.data.length === 256, "MODP-2048 public value");
      }
    });

    it(`${file}: encrypted messages (MM5/6, QM1-3 on 4500) keep ciphertext, a multiple of 16 (AES)`, () => {
      const enc = isakmpDatagrams(bytes).filter((d) => d.dstPort === 4500);
      assert.equal(enc.length, 5);
      for (const d of enc) {
        const r = parseIsakmpMessage(d.payload);
        assert.ok(r.ok && r.value.encrypted, `frame ${d.frame}`);
        assert.equal(r.value.ciphertext.length % 16, 0);
        assert.equal(r.value.ciphertext.length, d.payload.length - 28);
        assert.ok(r.value.ciphertext.equals(d.payload.subarray(28)));
      }
    });
  }

  it("log summaries name every number (tunnel capture, MM1 / MM3 / QM1)", () => {
    const dgs = isakmpDatagrams(readFileSync(join(dir, "evidence-ikev1-natt-tunnel.pcap")));
    const line = (i: number) => {
      const r = parseIsakmpMessage(dgs[i]?.payload ?? Buffer.alloc(0));
      assert.ok(r.ok);
      return describeIsakmpMessage(r.value);
    };
    assert.equal(
      line(0),
      "Identity Protection (Main Mode) id=0x00000000 [ SA(PROTO_ISAKMP:KEY_IKE) VID(XAUTH) " +
        "VID(RFC 3706 DPD) VID(FRAGMENTATION +80000000) VID(RFC 3947) VID(draft-ietf-ipsec-nat-t-ike-02\\n) ]",
    );
    assert.equal(line(2), "Identity Protection (Main Mode) id=0x00000000 [ KE NONCE NAT-D NAT-D ]");
    assert.equal(line(6), "Quick Mode id=0xf7429f9c [ encrypted 144 bytes ]");
  });

  it("UDP/4500 traffic after Quick Mode is ESP-in-UDP, not ISAKMP (non-zero marker)", () => {
    const all = udpDatagrams(readFileSync(join(dir, "evidence-ikev1-natt-tunnel.pcap")));
    const esp = all.filter((d) => d.kind === "esp-in-udp");
    assert.equal(esp.length, 16, "frames 10-25 per tshark");
    assert.equal(esp[0]?.payload.readUInt32BE(0), 0x255318ee, "SPI as tshark shows it");
  });
});
