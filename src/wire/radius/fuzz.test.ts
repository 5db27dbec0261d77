/**
 * Fuzz the RADIUS parsers (test/helpers/fuzz.ts), seeded with the RFC 2865 §7 packets and
 * signed packets carrying Microsoft vendor attributes.
 */
import { test } from "node:test";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { MsAttr, RadiusAttr, RadiusCode, VENDOR_MICROSOFT } from "../../registry/radius.js";
import {
  RFC2865_7_1_ACCESS_ACCEPT,
  RFC2865_7_1_ACCESS_REQUEST,
  RFC2865_7_2_ACCESS_ACCEPT,
  RFC2865_7_2_ACCESS_REQUEST,
} from "../../../test/vectors/radius/rfc2865-examples.js";
import { revealUserPassword, signResponse, verifyRequest, verifyResponse } from "./auth.js";
import { attr, parseRadiusPacket, vendorAttr, vendorAttributes } from "./packet.js";

const secret = Buffer.from("s3cret");
const ra = Buffer.alloc(16, 0x11);
const signed = signResponse(
  {
    code: RadiusCode.AccessAccept,
    identifier: 5,
    attributes: [
      vendorAttr(VENDOR_MICROSOFT, MsAttr.Chap2Success, Buffer.from(`\x01S=${"0".repeat(40)}`)),
      attr(RadiusAttr.Class, "c"),
    ],
  },
  ra,
  secret,
);
const seeds = [
  RFC2865_7_1_ACCESS_REQUEST,
  RFC2865_7_1_ACCESS_ACCEPT,
  RFC2865_7_2_ACCESS_REQUEST,
  RFC2865_7_2_ACCESS_ACCEPT,
  signed,
];
const iterations = Math.min(Number(process.env.OAKLEY_FUZZ_ITERATIONS ?? 100_000), 50_000);

test("fuzz parseRadiusPacket (and the readers that follow a successful parse)", () => {
  fuzzParser(
    "parseRadiusPacket",
    (b) => {
      const p = parseRadiusPacket(b);
      if (p.ok) {
        vendorAttributes(p.value);
        verifyResponse(b, p.value, ra, secret);
        verifyRequest(b, p.value, secret, true);
      }
      return p;
    },
    seeds,
    { iterations },
  );
});

test("fuzz revealUserPassword", () => {
  fuzzParser(
    "revealUserPassword",
    (b) => revealUserPassword(b, secret, ra),
    [Buffer.alloc(16), Buffer.alloc(32)],
    {
      iterations: Math.min(iterations, 20_000),
      maxLength: 300,
    },
  );
});
