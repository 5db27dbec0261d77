/**
 * Cross-check of Oakley's IKEv1 crypto (src/crypto), ISAKMP codec (src/wire/isakmp), ESP
 * transforms (src/crypto/esp) and ESP/IPv4 codecs (src/wire/esp, src/wire/ip) against a REAL
 * peer: the key-logged strongSwan 5.9.8 runs in this directory (see README.md: two charons
 * across a NAT, key material printed by charon itself at ike/chd level 4, messages captured
 * with tcpdump). strongSwan's logged values are the oracle; nothing here is our own output.
 *
 * Per run: SKEYID, SKEYID_d/a/e, Ka (RFC 2409 section 5, appendix B), the phase-1 IV
 * (hash(g^xi | g^xr)), the phase-2 IVs (hash(last phase-1 block | M-ID)) and the CBC chaining
 * computed by src/crypto must equal charon's; with them we decrypt MM5/MM6, the three Quick
 * Mode messages and the INFORMATIONAL DELETEs from the capture, parse them with
 * parsePayloadChain, verify HASH_I/HASH_R, HASH(1)/(2)/(3) and the informational HASH, derive
 * KEYMAT for both ESP SAs (equal to charon's keys), and open every captured ESP packet (the
 * inner packets are the pings 192.0.2.2 <-> 203.0.113.1 with the "oakley" pattern).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fromHex } from "../../../src/base/bytes.js";
import { unwrap } from "../../../src/base/result.js";
import {
  deriveKeys,
  deriveSkeyidPsk,
  hash,
  hashI,
  hashR,
  ikeCipher,
  informationalHash,
  keymat,
  nextIv,
  phase1Iv,
  phase2Iv,
  prf,
  qmHash1,
  qmHash2,
  qmHash3,
} from "../../../src/crypto/index.js";
import { createEspTransform, type EspSuite } from "../../../src/crypto/esp/index.js";
import { parseEspPacket, parseEspPlaintext } from "../../../src/wire/esp/esp.js";
import { parseIpv4Packet } from "../../../src/wire/ip/ipv4.js";
import {
  type IsakmpMessage,
  type Payload,
  parseIsakmpMessage,
  parsePayloadChain,
} from "../../../src/wire/isakmp/index.js";

interface Vectors {
  name: string;
  psk: { text: string; hex: string };
  ike: {
    proposal: string;
    ikeCookies: { initiator: string; responder: string };
    nonces: { ni: string; nr: string };
    ke: { gxi: string; gxr: string };
    gxy: string;
    skeyid: string;
    skeyidD: string;
    skeyidA: string;
    skeyidE: string;
    encKey: string;
    initialIv: string;
    hashI: string;
    hashR: string;
    ivs: { initiator: { mid: number; iv: string }[]; responder: { mid: number; iv: string }[] };
  };
  quickMode: {
    messageId: string;
    niB: string;
    nrB: string;
    spiI: string;
    spiR: string;
    /** Quick Mode DH shared secret (PFS runs only). */
    gqmxy?: string;
  };
  messages: {
    frame: number;
    dir: "i2r" | "r2i";
    exchangeType: number;
    messageId: string;
    encrypted: boolean;
    hex: string;
  }[];
  esp: {
    spi: string;
    dir: "i2r" | "r2i";
    alg: string;
    encKey: string;
    intKey: string;
    packets: { frame: number; hex: string }[];
  }[];
}

const here = import.meta.dirname;
const runs = readdirSync(here)
  .filter((d) => statSync(join(here, d)).isDirectory())
  .map((d) => JSON.parse(readFileSync(join(here, d, "vectors.json"), "utf8")) as Vectors);

const PT = { SA: 1, KE: 4, ID: 5, HASH: 8, NONCE: 10, DELETE: 12 } as const;

/** The suites implied by charon's selected proposal strings (only those the runs use). */
function suiteOf(v: Vectors): { hashId: number; keyBits: number; esp: EspSuite } {
  const p = v.ike.proposal;
  const m = /^IKE:AES_CBC_(128|256)\//.exec(p);
  assert.ok(m?.[1], `phase-1 cipher of ${p} is AES-CBC`);
  const hashId = p.includes("PRF_HMAC_SHA2_256") ? 4 : p.includes("PRF_HMAC_SHA1") ? 2 : -1;
  const alg = v.esp[0]?.alg ?? "";
  const table: Record<string, EspSuite> = {
    "ESP:AES_GCM_16_128/NO_EXT_SEQ": { encryption: "aes128-gcm16", integrity: "none" },
    "ESP:AES_CBC_128/HMAC_SHA1_96/NO_EXT_SEQ": { encryption: "aes128-cbc", integrity: "hmac-sha1-96" },
    "ESP:AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_EXT_SEQ": {
      encryption: "aes256-cbc",
      integrity: "hmac-sha256-128",
    },
  };
  const esp = table[alg];
  assert.ok(esp, `ESP suite ${alg} is mapped`);
  return { hashId, keyBits: Number(m[1]), esp };
}

/** Body of the payload at `i` (without its 4-octet generic header), from a chain's spans. */
function body(bytes: Buffer, spans: readonly { start: number; end: number }[], i: number): Buffer {
  const s = spans[i];
  assert.ok(s, `payload ${i} exists`);
  return bytes.subarray(s.start + 4, s.end);
}

for (const v of runs) {
  describe(`strongSwan 5.9.8 key-logged run ${v.name} (test/vectors/strongswan)`, () => {
    const { hashId, keyBits, esp: espSuite } = suiteOf(v);
    const p = unwrap(prf(hashId));
    const hs = unwrap(hash(hashId));
    const cipher = unwrap(ikeCipher(7, keyBits));
    const pfs = v.quickMode.gqmxy !== undefined;
    const ckyI = fromHex(v.ike.ikeCookies.initiator);
    const ckyR = fromHex(v.ike.ikeCookies.responder);
    const gxi = fromHex(v.ike.ke.gxi);
    const gxr = fromHex(v.ike.ke.gxr);
    const msgs = v.messages.map((m) => ({ ...m, bytes: fromHex(m.hex), parsed: unwrap(parseIsakmpMessage(fromHex(m.hex))) }));
    const skeyid = deriveSkeyidPsk(p, fromHex(v.psk.hex), fromHex(v.ike.nonces.ni), fromHex(v.ike.nonces.nr));
    const keys = unwrap(
      deriveKeys({ prf: p, skeyid, gxy: fromHex(v.ike.gxy), ckyI, ckyR, encKeyLength: cipher.keyLength }),
    );
    const ka = keys.encKey;

    const decrypt = (m: IsakmpMessage, iv: Buffer): { plain: Buffer; payloads: readonly Payload[]; spans: readonly { start: number; end: number }[] } => {
      assert.ok(m.encrypted);
      const plain = unwrap(cipher.decrypt(ka, iv, m.ciphertext));
      const chain = unwrap(parsePayloadChain(m.header.nextPayload, plain, { allowTrailingPadding: true }));
      return { plain, payloads: chain.payloads, spans: chain.spans };
    };

    it("phase-1 keys: SKEYID, SKEYID_d/a/e, Ka equal charon's (RFC 2409 section 5, appendix B)", () => {
      assert.equal(skeyid.toString("hex"), v.ike.skeyid);
      assert.equal(keys.skeyidD.toString("hex"), v.ike.skeyidD);
      assert.equal(keys.skeyidA.toString("hex"), v.ike.skeyidA);
      assert.equal(keys.skeyidE.toString("hex"), v.ike.skeyidE);
      assert.equal(ka.toString("hex"), v.ike.encKey);
    });

    // Main Mode: MM1..MM4 in clear, MM5 (i2r) and MM6 (r2i) encrypted, same M-ID 0
    const mm = msgs.filter((m) => m.exchangeType === 2);
    const mm1 = mm[0];
    const mm5 = mm.find((m) => m.encrypted && m.dir === "i2r");
    const mm6 = mm.find((m) => m.encrypted && m.dir === "r2i");
    const iv5 = phase1Iv(hs, gxi, gxr, cipher.blockSize);
    const saiB = (): Buffer => {
      assert.ok(mm1 && !mm1.parsed.encrypted);
      const i = mm1.parsed.payloads.findIndex((x) => x.type === PT.SA);
      return body(mm1.bytes, mm1.parsed.spans, i);
    };
    const hashInput = () => ({ prf: p, skeyid, gxi, gxr, ckyI, ckyR, saiB: saiB() });

    it("phase-1 IV = hash(g^xi | g^xr) equals charon's initial IV", () => {
      assert.equal(iv5.toString("hex"), v.ike.initialIv);
    });

    it("decrypts MM5 and MM6, parses ID + HASH, and HASH_I / HASH_R verify", () => {
      assert.ok(mm5 && mm6);
      const d5 = decrypt(mm5.parsed, iv5);
      const id5 = d5.payloads.findIndex((x) => x.type === PT.ID);
      const idi = d5.payloads[id5];
      assert.ok(idi && idi.type === PT.ID);
      assert.equal(idi.idType, 1, "ID_IPV4_ADDR");
      assert.equal(idi.data.toString("hex"), "c0000202", "the initiator's private address 192.0.2.2");
      const hash5 = d5.payloads.find((x) => x.type === PT.HASH);
      assert.ok(hash5 && hash5.type === PT.HASH);
      assert.equal(hashI(hashInput(), body(d5.plain, d5.spans, id5)).toString("hex"), hash5.data.toString("hex"));
      assert.equal(hash5.data.toString("hex"), v.ike.hashI);

      assert.ok(mm5.parsed.encrypted);
      const iv6 = unwrap(nextIv(mm5.parsed.ciphertext, cipher.blockSize));
      assert.equal(iv6.toString("hex"), v.ike.ivs.initiator.find((x) => x.mid === 0)?.iv, "CBC chaining MM5 -> MM6");
      const d6 = decrypt(mm6.parsed, iv6);
      const id6 = d6.payloads.findIndex((x) => x.type === PT.ID);
      const idr = d6.payloads[id6];
      assert.ok(idr && idr.type === PT.ID);
      assert.equal(idr.data.toString("hex"), "c6336402", "responder 198.51.100.2");
      const hash6 = d6.payloads.find((x) => x.type === PT.HASH);
      assert.ok(hash6 && hash6.type === PT.HASH);
      assert.equal(hashR(hashInput(), body(d6.plain, d6.spans, id6)).toString("hex"), hash6.data.toString("hex"));
    });

    const lastPhase1Block = (): Buffer => {
      assert.ok(mm6?.parsed.encrypted);
      return unwrap(nextIv(mm6.parsed.ciphertext, cipher.blockSize));
    };

    it("Quick Mode: phase-2 IV, chaining, decryption, HASH(1)/(2)/(3), nonces and SPIs", () => {
      const qm = msgs.filter((m) => m.exchangeType === 32);
      assert.equal(qm.length, 3);
      const [q1, q2, q3] = qm as [(typeof qm)[0], (typeof qm)[0], (typeof qm)[0]];
      const mid = Number.parseInt(v.quickMode.messageId, 16);
      const ivQ1 = phase2Iv(hs, lastPhase1Block(), mid, cipher.blockSize);
      assert.equal(ivQ1.toString("hex"), v.ike.ivs.initiator.find((x) => x.mid === mid)?.iv, "phase-2 IV");
      const d1 = decrypt(q1.parsed, ivQ1);
      assert.deepEqual(
        d1.payloads.map((x) => x.type),
        pfs ? [PT.HASH, PT.SA, PT.NONCE, PT.KE, PT.ID, PT.ID] : [PT.HASH, PT.SA, PT.NONCE, PT.ID, PT.ID],
      );
      const rest1 = d1.plain.subarray(d1.spans[1]?.start, d1.spans[d1.spans.length - 1]?.end);
      const h1 = d1.payloads[0];
      assert.ok(h1 && h1.type === PT.HASH);
      assert.equal(qmHash1(p, keys.skeyidA, mid, rest1).toString("hex"), h1.data.toString("hex"), "HASH(1)");
      const n1 = d1.payloads[2];
      assert.ok(n1 && n1.type === PT.NONCE);
      assert.equal(n1.data.toString("hex"), v.quickMode.niB);
      const sa1 = d1.payloads[1];
      assert.ok(sa1 && sa1.type === PT.SA);
      assert.equal(sa1.proposals[0]?.spi.toString("hex"), v.quickMode.spiI, "initiator's SPI in QM1");

      assert.ok(q1.parsed.encrypted && q2.parsed.encrypted);
      const d2 = decrypt(q2.parsed, unwrap(nextIv(q1.parsed.ciphertext, cipher.blockSize)));
      const rest2 = d2.plain.subarray(d2.spans[1]?.start, d2.spans[d2.spans.length - 1]?.end);
      const h2 = d2.payloads[0];
      assert.ok(h2 && h2.type === PT.HASH);
      assert.equal(qmHash2(p, keys.skeyidA, mid, fromHex(v.quickMode.niB), rest2).toString("hex"), h2.data.toString("hex"), "HASH(2)");
      const n2 = d2.payloads.find((x) => x.type === PT.NONCE);
      assert.ok(n2 && n2.type === PT.NONCE);
      assert.equal(n2.data.toString("hex"), v.quickMode.nrB);
      const sa2 = d2.payloads.find((x) => x.type === PT.SA);
      assert.ok(sa2 && sa2.type === PT.SA);
      assert.equal(sa2.proposals[0]?.spi.toString("hex"), v.quickMode.spiR, "responder's SPI in QM2");

      const d3 = decrypt(q3.parsed, unwrap(nextIv(q2.parsed.ciphertext, cipher.blockSize)));
      const h3 = d3.payloads[0];
      assert.ok(h3 && h3.type === PT.HASH && d3.payloads.length === 1);
      assert.equal(qmHash3(p, keys.skeyidA, mid, fromHex(v.quickMode.niB), fromHex(v.quickMode.nrB)).toString("hex"), h3.data.toString("hex"), "HASH(3)");
    });

    it("INFORMATIONAL DELETEs: own phase-2 IV per M-ID, HASH verifies, ESP SPI and ISAKMP cookies", () => {
      const inf = msgs.filter((m) => m.exchangeType === 5);
      assert.equal(inf.length, 2);
      const protos: number[] = [];
      for (const m of inf) {
        const mid = Number.parseInt(m.messageId, 16);
        const d = decrypt(m.parsed, phase2Iv(hs, lastPhase1Block(), mid, cipher.blockSize));
        const hp = d.payloads[0];
        assert.ok(hp && hp.type === PT.HASH);
        const rest = d.plain.subarray(d.spans[1]?.start, d.spans[d.spans.length - 1]?.end);
        assert.equal(informationalHash(p, keys.skeyidA, mid, rest).toString("hex"), hp.data.toString("hex"));
        const del = d.payloads[1];
        assert.ok(del && del.type === PT.DELETE);
        protos.push(del.protocolId);
        if (del.protocolId === 3) assert.ok([v.quickMode.spiI, v.quickMode.spiR].includes(del.spis[0]?.toString("hex") ?? ""));
        if (del.protocolId === 1) assert.equal(del.spis[0]?.toString("hex"), v.ike.ikeCookies.initiator + v.ike.ikeCookies.responder);
      }
      assert.deepEqual(protos.sort(), [1, 3], "one ESP and one ISAKMP DELETE");
    });

    it("KEYMAT for both ESP SAs equals charon's keys, and every captured ESP packet opens", () => {
      for (const sa of v.esp) {
        const encLen = sa.encKey.length / 2;
        const intLen = sa.intKey.length / 2;
        const km = unwrap(
          keymat({
            prf: p,
            skeyidD: keys.skeyidD,
            protocol: 3,
            spi: fromHex(sa.spi),
            niB: fromHex(v.quickMode.niB),
            nrB: fromHex(v.quickMode.nrB),
            length: encLen + intLen,
            ...(v.quickMode.gqmxy !== undefined ? { gqmxy: fromHex(v.quickMode.gqmxy) } : {}),
          }),
        );
        assert.equal(km.subarray(0, encLen).toString("hex"), sa.encKey, `${sa.dir} encryption key`);
        assert.equal(km.subarray(encLen).toString("hex"), sa.intKey, `${sa.dir} integrity key`);
        const t = createEspTransform({
          suite: espSuite,
          keys: { encryption: km.subarray(0, encLen), integrity: km.subarray(encLen) },
          esn: false,
          random: () => {
            throw new Error("decryption only");
          },
        });
        try {
          assert.equal(sa.packets.length, 3);
          for (const pk of sa.packets) {
            const pkt = fromHex(pk.hex);
            assert.equal(unwrap(parseEspPacket(pkt)).spi.toString(16).padStart(8, "0"), sa.spi);
            const out = Buffer.alloc(pkt.length);
            const n = t.open(pkt, 0, out, 0);
            assert.ok(n > 0, `frame ${pk.frame}: ICV verifies and decrypts`);
            const pt = unwrap(parseEspPlaintext(out.subarray(0, n)));
            assert.equal(pt.nextHeader, 4, "tunnel mode: IPv4 inside");
            const ip = unwrap(parseIpv4Packet(pt.payload));
            assert.equal(ip.header.protocol, 1, "ICMP");
            const [src, dst] = sa.dir === "i2r" ? ["c0000202", "cb007101"] : ["cb007101", "c0000202"];
            assert.equal(Buffer.from(ip.header.src).toString("hex"), src);
            assert.equal(Buffer.from(ip.header.dst).toString("hex"), dst);
            assert.ok(Buffer.from(ip.payload).toString("latin1").includes("oakley"), "ping -p pattern");
          }
        } finally {
          t.dispose();
        }
      }
    });
  });
}
