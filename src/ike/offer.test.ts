/** Offers decoded to names, including transforms Oakley does not support. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { EspTransformId, IsakmpTransformId, ProtocolId } from "../registry/ike.js";
import type { SaPayload } from "../wire/isakmp/index.js";
import { toDataAttribute } from "./identity.js";
import { describePhase1Offer, describePhase2Offer, MAX_OFFERED } from "./offer.js";
import { phase1SuiteToAttributes, phase2SuiteToTransform } from "./suites.js";

function sa1(groups: number[], enc: "aes-cbc" | "3des-cbc" = "aes-cbc", auth = 1): SaPayload {
  return {
    type: 1,
    reserved: 0,
    doi: 1,
    situation: 1,
    proposals: [
      {
        reserved: 0,
        number: 1,
        protocolId: ProtocolId.PROTO_ISAKMP,
        spi: Buffer.alloc(0),
        transforms: groups.map((group, i) => ({
          reserved: 0,
          number: i + 1,
          transformId: IsakmpTransformId.KEY_IKE,
          reserved2: 0,
          attributes: phase1SuiteToAttributes({
            encryption: enc,
            keyBits: enc === "aes-cbc" ? 256 : 192,
            hash: "sha1",
            auth: "psk",
            group,
            lifeSeconds: 28800,
            lifeKilobytes: 0,
          }).map((a) => toDataAttribute(a.type === 3 ? { type: 3, value: auth } : a)),
        })),
      },
    ],
  };
}

test("phase 1: MODP-1024 and XAUTH offers are named from the registry", () => {
  const o = describePhase1Offer(sa1([2, 14]));
  assert.equal(o.length, 2);
  assert.equal(o[0]?.text, "AES-CBC-256/SHA/MODP-1024 (group 2)/pre-shared key");
  assert.equal(o[0]?.group, 2);
  assert.equal(o[1]?.group, 14);
  const x = describePhase1Offer(sa1([2], "3des-cbc", 65001));
  assert.equal(x[0]?.auth, "XAUTHInitPreShared");
  assert.equal(x[0]?.encryption, "3DES-CBC");
});

test("phase 1: at most MAX_OFFERED transforms are decoded", () => {
  assert.equal(describePhase1Offer(sa1(Array(100).fill(14))).length, MAX_OFFERED);
});

test("phase 2: tunnel mode, UDP encapsulation and PFS are visible", () => {
  const t = phase2SuiteToTransform(
    {
      cipher: "aes-cbc",
      keyBits: 128,
      integrity: "hmac-sha1-96",
      mode: "tunnel",
      pfsGroup: 14,
      lifeSeconds: 3600,
      lifeKilobytes: 0,
    },
    "rfc3947",
  );
  const sa: SaPayload = {
    type: 1,
    reserved: 0,
    doi: 1,
    situation: 1,
    proposals: [
      {
        reserved: 0,
        number: 1,
        protocolId: ProtocolId.PROTO_IPSEC_ESP,
        spi: Buffer.alloc(4, 1),
        transforms: [
          {
            reserved: 0,
            number: 1,
            transformId: t.transformId,
            reserved2: 0,
            attributes: t.attributes.map(toDataAttribute),
          },
          // No Encapsulation Mode attribute: tunnel (RFC 2407 §4.5 default).
          {
            reserved: 0,
            number: 2,
            transformId: EspTransformId.ESP_3DES,
            reserved2: 0,
            attributes: [],
          },
        ],
      },
    ],
  };
  const [a, b] = describePhase2Offer(sa);
  assert.ok(a && b);
  assert.equal(a.mode, "UDP-Encapsulated-Tunnel");
  assert.equal(a.tunnel, true);
  assert.equal(a.udpEncapsulated, true);
  assert.equal(a.pfsGroup, 14);
  assert.match(
    a.text,
    /^ESP_AES-CBC-128\/HMAC-SHA\/UDP-Encapsulated-Tunnel\/PFS MODP-2048 \(group 14\)$/,
  );
  assert.equal(b.tunnel, true);
  assert.equal(b.udpEncapsulated, false);
  assert.equal(b.integrity, "none");
});
