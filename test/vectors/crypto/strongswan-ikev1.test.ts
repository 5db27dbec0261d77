/**
 * Real-peer cross-check: IKEv1 Main Mode + Quick Mode between two strongSwan 5.9.8 charons,
 * captured with tcpdump, key material logged by charon (test/vectors/strongswan/README.md).
 * From the PSK, the captured nonces/cookies/KE payloads and charon's logged g^xy, Oakley's
 * derivation must reproduce charon's SKEYID*, Ka and IVs, decrypt the captured MM5/MM6 and
 * Quick Mode messages into payload chains ending in padding, verify HASH_I/HASH_R/HASH(1..3),
 * and produce the ESP keys charon installed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fromHex, hex } from "../../../src/base/bytes.js";
import { unwrap } from "../../../src/base/result.js";
import {
  deriveKeys,
  deriveSkeyidPsk,
  hash,
  hashI,
  hashR,
  IkeHash,
  ikeCipher,
  keymat,
  nextIv,
  phase1Iv,
  phase2Iv,
  prf,
  qmHash1,
  qmHash2,
  qmHash3,
} from "../../../src/crypto/index.js";

interface Msg {
  readonly dir: string;
  readonly exchangeType: number;
  readonly messageId: string;
  readonly encrypted: boolean;
  readonly hex: string;
}
interface Vectors {
  readonly psk: { readonly hex: string };
  readonly ike: {
    readonly ikeCookies: { readonly initiator: string; readonly responder: string };
    readonly nonces: { readonly ni: string; readonly nr: string };
    readonly ke: { readonly gxi: string; readonly gxr: string };
    readonly gxy: string;
    readonly skeyid: string;
    readonly skeyidD: string;
    readonly skeyidA: string;
    readonly skeyidE: string;
    readonly encKey: string;
    readonly initialIv: string;
    readonly hashI: string;
    readonly hashR: string;
    readonly ivs: { readonly initiator: readonly { mid: number; iv: string }[] };
  };
  readonly quickMode: {
    readonly messageId: string;
    readonly niB: string;
    readonly nrB: string;
    readonly spiI: string;
    readonly spiR: string;
  };
  readonly messages: readonly Msg[];
  readonly esp: readonly { spi: string; dir: string; encKey: string; intKey: string }[];
}

const RUNS: readonly { dir: string; hash: number; espKeyLength: number }[] = [
  { dir: "ikev1-psk-aes128-sha1-modp2048_esp-aes128-sha1", hash: IkeHash.SHA, espKeyLength: 16 + 20 },
  // AES-GCM-16 with a 128-bit key: 16 bytes of key + 4 bytes of salt (RFC 4106 §8.1)
  { dir: "ikev1-psk-aes128-sha256-ecp256_esp-aes128gcm16", hash: IkeHash.SHA2_256, espKeyLength: 20 },
];

const HDR = 28;
const PAYLOAD_HASH = 8;
const PAYLOAD_SA = 1;
const PAYLOAD_ID = 5;

interface Payload {
  readonly type: number;
  readonly body: Buffer;
  readonly raw: Buffer;
}

/** Walks a generic-payload chain; returns the payloads and how many bytes they used. */
function walk(first: number, data: Buffer): { payloads: Payload[]; used: number } {
  const payloads: Payload[] = [];
  let type = first;
  let off = 0;
  while (type !== 0) {
    assert.ok(off + 4 <= data.length, "payload header inside the plaintext");
    const len = data.readUInt16BE(off + 2);
    assert.ok(len >= 4 && off + len <= data.length, "payload length inside the plaintext");
    payloads.push({ type, body: data.subarray(off + 4, off + len), raw: data.subarray(off, off + len) });
    type = data[off] ?? 0;
    off += len;
  }
  return { payloads, used: off };
}

function find(ps: readonly Payload[], type: number): Payload {
  const p = ps.find((x) => x.type === type);
  assert.ok(p, `payload ${type} present`);
  return p;
}

for (const run of RUNS) {
  test(`strongSwan 5.9.8 ${run.dir}: keys, IVs, MM5/MM6/QM decryption, hashes, ESP KEYMAT`, () => {
    const v = JSON.parse(
      readFileSync(join(import.meta.dirname, "..", "strongswan", run.dir, "vectors.json"), "utf8"),
    ) as Vectors;
    const p = unwrap(prf(run.hash));
    const h = unwrap(hash(run.hash));
    const cipher = unwrap(ikeCipher(7, 128));
    const ike = v.ike;
    const ckyI = fromHex(ike.ikeCookies.initiator);
    const ckyR = fromHex(ike.ikeCookies.responder);
    const gxi = fromHex(ike.ke.gxi);
    const gxr = fromHex(ike.ke.gxr);

    const skeyid = deriveSkeyidPsk(p, fromHex(v.psk.hex), fromHex(ike.nonces.ni), fromHex(ike.nonces.nr));
    assert.equal(hex(skeyid), ike.skeyid, "SKEYID");
    const keys = unwrap(
      deriveKeys({ prf: p, skeyid, gxy: fromHex(ike.gxy), ckyI, ckyR, encKeyLength: cipher.keyLength }),
    );
    assert.equal(hex(keys.skeyidD), ike.skeyidD);
    assert.equal(hex(keys.skeyidA), ike.skeyidA);
    assert.equal(hex(keys.skeyidE), ike.skeyidE);
    assert.equal(hex(keys.encKey), ike.encKey, "Ka");
    const iv0 = phase1Iv(h, gxi, gxr, cipher.blockSize);
    assert.equal(hex(iv0), ike.initialIv, "initial IV");

    const mm = v.messages.filter((m) => m.exchangeType === 2);
    const mm1 = fromHex(mm[0]?.hex ?? "");
    const saiB = find(walk(mm1[16] ?? 0, mm1.subarray(HDR)).payloads, PAYLOAD_SA).body;
    const [mm5, mm6] = mm.filter((m) => m.encrypted).map((m) => fromHex(m.hex));
    assert.ok(mm5 && mm6);

    // MM5 (initiator → responder) with the initial IV
    const ct5 = mm5.subarray(HDR);
    const pt5 = unwrap(cipher.decrypt(keys.encKey, iv0, ct5));
    const w5 = walk(mm5[16] ?? 0, pt5);
    assert.ok(pt5.length - w5.used < cipher.blockSize + 1, "MM5 ends in padding");
    const hashInput = { prf: p, skeyid, gxi, gxr, ckyI, ckyR, saiB };
    const idii = find(w5.payloads, PAYLOAD_ID).body;
    assert.equal(hex(find(w5.payloads, PAYLOAD_HASH).body), ike.hashI);
    assert.equal(hex(hashI(hashInput, idii)), ike.hashI, "HASH_I");

    // MM6 (responder → initiator): IV = last ciphertext block of MM5
    const iv6 = unwrap(nextIv(ct5, cipher.blockSize));
    assert.equal(hex(iv6), ike.ivs.initiator[0]?.iv, "IV after MM5");
    const ct6 = mm6.subarray(HDR);
    const pt6 = unwrap(cipher.decrypt(keys.encKey, iv6, ct6));
    const w6 = walk(mm6[16] ?? 0, pt6);
    assert.ok(pt6.length - w6.used < cipher.blockSize + 1, "MM6 ends in padding");
    const idir = find(w6.payloads, PAYLOAD_ID).body;
    assert.equal(hex(hashR(hashInput, idir)), ike.hashR, "HASH_R");
    const lastP1 = unwrap(nextIv(ct6, cipher.blockSize));
    assert.equal(hex(lastP1), ike.ivs.initiator[1]?.iv, "last phase-1 block");

    // Quick Mode: IV = hash(last phase-1 block | M-ID); then CBC chaining inside the exchange
    const qm = v.messages.filter((m) => m.exchangeType === 32).map((m) => fromHex(m.hex));
    const mid = Number.parseInt(v.quickMode.messageId, 16);
    let iv = phase2Iv(h, lastP1, mid, cipher.blockSize);
    assert.equal(hex(iv), ike.ivs.initiator.find((x) => x.mid === mid)?.iv, "Quick Mode IV");
    const ni = fromHex(v.quickMode.niB);
    const nr = fromHex(v.quickMode.nrB);
    qm.forEach((msg, n) => {
      const ct = msg.subarray(HDR);
      const pt = unwrap(cipher.decrypt(keys.encKey, iv, ct));
      const w = walk(msg[16] ?? 0, pt);
      assert.ok(pt.length - w.used < cipher.blockSize + 1, `QM${n + 1} ends in padding`);
      const [hashP, ...rest] = w.payloads;
      assert.equal(hashP?.type, PAYLOAD_HASH);
      const restB = Buffer.concat(rest.map((x) => x.raw));
      const want =
        n === 0
          ? qmHash1(p, keys.skeyidA, mid, restB)
          : n === 1
            ? qmHash2(p, keys.skeyidA, mid, ni, restB)
            : qmHash3(p, keys.skeyidA, mid, ni, nr);
      assert.equal(hex(hashP?.body ?? Buffer.alloc(0)), hex(want), `QM HASH(${n + 1})`);
      iv = unwrap(nextIv(ct, cipher.blockSize));
    });

    // ESP KEYMAT: initiator → responder traffic uses SPI_R, and vice versa (RFC 2409 §5.5)
    for (const e of v.esp) {
      const km = unwrap(
        keymat({
          prf: p,
          skeyidD: keys.skeyidD,
          protocol: 3,
          spi: fromHex(e.spi),
          niB: ni,
          nrB: nr,
          length: run.espKeyLength,
        }),
      );
      assert.equal(hex(km), e.encKey + e.intKey, `KEYMAT for SPI ${e.spi}`);
    }
  });
}
