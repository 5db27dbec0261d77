/**
 * Decrypts the complete ESP packets of draft-mcgrew-gcm-test-01 §4 (vectors in
 * draft-mcgrew-gcm-test-01.ts) through Oakley's inbound path, on both crypto backends, and
 * checks the transforms reproduce the draft's ciphertext+ICV when sealing.
 */
import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { describe, it } from "node:test";
import { fromHex } from "../../../src/base/bytes.js";
import { availableBackends, createEspTransform, type EspEncryption } from "../../../src/crypto/esp/index.js";
import { EspDataPlane } from "../../../src/esp/index.js";
import { Counters } from "../../../src/obs/counters.js";
import { nullLogger } from "../../../src/obs/log.js";
import { asInboundSpi } from "../../../src/wire/esp/esp.js";
import { GCM_ESP_VECTORS } from "./draft-mcgrew-gcm-test-01.js";

const noRandom = (): void => {
  throw new Error("GCM must not draw random IVs");
};

function encFor(keyLen: number): EspEncryption {
  return keyLen === 16 ? "aes128-gcm16" : keyLen === 24 ? "aes192-gcm16" : "aes256-gcm16";
}

for (const backend of availableBackends()) {
  describe(`draft-mcgrew-gcm-test-01 ESP packets (${backend})`, () => {
    for (const v of GCM_ESP_VECTORS) {
      const key = fromHex(v.key);
      const keymat = Buffer.concat([key, fromHex(v.nonce).subarray(0, 4)]);
      const seq = BigInt(`0x${v.seq}`);
      const esn = v.seq.length === 16;
      const plaintext = fromHex(v.plaintext);
      const packet = fromHex(v.packet);
      const suite = { encryption: encFor(key.length), integrity: "none" as const };

      it(`page ${v.page} spi ${v.spi} seq ${v.seq}: inbound() recovers the payload`, () => {
        const spi = Number.parseInt(v.spi, 16);
        if (spi < 256) {
          // SPI 0 is reserved (RFC 4303 §2.1): the data plane refuses it, so check the transform.
          const t = createEspTransform({ suite, keys: { encryption: keymat, integrity: new Uint8Array(0) }, esn, random: noRandom }, backend);
          const out = Buffer.alloc(packet.length);
          const n = t.open(packet, Number(seq >> 32n), out, 0);
          assert.equal(out.subarray(0, n).toString("hex"), v.plaintext);
          t.dispose();
          return;
        }
        const counters = new Counters();
        const dp = new EspDataPlane({ counters, logger: nullLogger, random: noRandom });
        const r = dp.installSa(
          {
            spi: asInboundSpi(spi),
            direction: "in",
            mode: "transport",
            suite,
            keys: { encryption: keymat, integrity: new Uint8Array(0) },
            esn,
            local: "192.0.2.1",
            remote: "192.0.2.2",
            backend,
            // A receiver that has already seen seq-1, so ESN inference lands on the draft's high half.
            replayStart: seq - 1n,
          },
          0,
        );
        assert.ok(r.ok, r.ok ? "" : r.error);
        const res = dp.inbound(packet, { address: "192.0.2.2" }, 1);
        assert.ok(res.ok, res.ok ? "" : `dropped: ${res.reason}`);
        const padLength = plaintext[plaintext.length - 2]!;
        const payload = plaintext.subarray(0, plaintext.length - 2 - padLength);
        assert.equal(res.nextHeader, plaintext[plaintext.length - 1]);
        // Transport mode: a rebuilt 20-octet IPv4 header, then the payload.
        assert.equal(Buffer.from(res.packet.subarray(20)).toString("hex"), payload.toString("hex"));
        assert.equal(res.packet[9], res.nextHeader);
        // The same packet again is a replay.
        const again = dp.inbound(packet, { address: "192.0.2.2" }, 2);
        assert.deepEqual(again, { ok: false, reason: "replayed", spi });
      });

      it(`page ${v.page} spi ${v.spi}: seal() reproduces ciphertext and ICV`, () => {
        const t = createEspTransform({ suite, keys: { encryption: keymat, integrity: new Uint8Array(0) }, esn, random: noRandom }, backend);
        const buf = Buffer.alloc(packet.length);
        packet.copy(buf, 0, 0, 8);
        plaintext.copy(buf, 16);
        // seal() uses the sequence number as IV (RFC 4106 §3.1); the draft's IVs are arbitrary,
        // so check our output with node:crypto's GCM directly (not through our transform).
        const n = t.seal(buf, plaintext.length, Number(seq >> 32n), Number(seq & 0xffffffffn));
        assert.equal(n, packet.length);
        const ivOk = buf.subarray(8, 16).equals(Buffer.from((seq & 0xffffffffffffffffn).toString(16).padStart(16, "0"), "hex"));
        assert.ok(ivOk, "explicit IV is the 64-bit sequence number");
        const nonce = Buffer.concat([keymat.subarray(key.length), buf.subarray(8, 16)]);
        const aad = esn ? Buffer.concat([buf.subarray(0, 4), fromHex(v.seq).subarray(0, 4), buf.subarray(4, 8)]) : buf.subarray(0, 8);
        const d = createDecipheriv(`aes-${key.length * 8}-gcm` as "aes-128-gcm", key, nonce, { authTagLength: 16 });
        d.setAAD(aad);
        d.setAuthTag(buf.subarray(n - 16, n));
        const pt = Buffer.concat([d.update(buf.subarray(16, n - 16)), d.final()]);
        assert.equal(pt.toString("hex"), v.plaintext);
        t.dispose();
      });
    }

    it("truncated ICVs (RFC 4106 ICV 8 and 12 octets are the leading octets of the GCM tag, SP 800-38D §5.2.1.2)", () => {
      const v = GCM_ESP_VECTORS[1]!;
      const packet = fromHex(v.packet);
      const keymat = Buffer.concat([fromHex(v.key), fromHex(v.nonce).subarray(0, 4)]);
      for (const [enc, icv] of [
        ["aes128-gcm12", 12],
        ["aes128-gcm8", 8],
      ] as const) {
        const truncated = packet.subarray(0, packet.length - 16 + icv);
        const t = createEspTransform({ suite: { encryption: enc, integrity: "none" }, keys: { encryption: keymat, integrity: new Uint8Array(0) }, esn: false, random: noRandom }, backend);
        const out = Buffer.alloc(packet.length);
        assert.equal(t.open(truncated, 0, out, 0), packet.length - 32);
        assert.equal(out.subarray(0, packet.length - 32).toString("hex"), v.plaintext);
        const bad = Buffer.from(truncated);
        bad[bad.length - 1]! ^= 1;
        assert.equal(t.open(bad, 0, out, 0), -1);
        t.dispose();
      }
    });
  });
}
