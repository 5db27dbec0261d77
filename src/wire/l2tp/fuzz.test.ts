/**
 * Fuzz every L2TP parse* (test/helpers/fuzz.ts), seeded with the real xl2tpd control messages of
 * test/vectors/l2tp/ (see README there) plus hand-made data messages and hidden AVPs.
 */
import { test } from "node:test";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { fromHex } from "../../base/bytes.js";
import { AvpType } from "../../registry/l2tp.js";
import { parseAvps } from "./avp.js";
import { l2tpCaptureMessages } from "../../../test/vectors/l2tp/captures.js";
import { decodeControlMessage, encodeControlMessage } from "./control.js";
import { parseL2tpPacket } from "./header.js";
import { serializeAvps } from "./avp.js";
import { unhideAvp } from "./hidden.js";

const packets = [
  ...l2tpCaptureMessages(),
  fromHex("4b02 0012 1234 5678 0001 0002 0002 aaaa ff03"),
  fromHex("0002 0001 0002 ff03c021"),
];
const bodies = packets.map((p) => {
  const r = parseL2tpPacket(p);
  return r.ok ? r.value.body : p;
});
const secret = Buffer.from("s3cret");
const rv = fromHex("00112233445566778899aabbccddeeff");
const hiddenBody = serializeAvps(
  encodeControlMessage(
    [
      { type: AvpType.MessageType, mandatory: true, value: 10 },
      { type: AvpType.AssignedSessionId, mandatory: true, value: 777 },
      { type: AvpType.CallingNumber, mandatory: true, value: Buffer.from("0123456789012345678") },
    ],
    {
      secret,
      randomVector: rv,
      types: new Set([AvpType.AssignedSessionId, AvpType.CallingNumber]),
    },
  ),
);
// 100 000 by default (fuzzParser's default); unhideAvp runs MD5 per 16 octets, so it gets 30 000
// to stay under ~10 s on this machine.
const iterations = Number(process.env.OAKLEY_FUZZ_ITERATIONS ?? 100_000);
const md5Iterations = Math.min(iterations, 30_000);

test("fuzz parseL2tpPacket", () => {
  fuzzParser("parseL2tpPacket", parseL2tpPacket, packets, { iterations });
});

test("fuzz parseAvps", () => {
  fuzzParser("parseAvps", parseAvps, [...bodies, hiddenBody], { iterations });
});

test("fuzz parseAvps + decodeControlMessage (with a secret, so hidden AVPs are unhidden)", () => {
  fuzzParser(
    "decodeControlMessage",
    (b) => {
      const r = parseAvps(b);
      return r.ok ? decodeControlMessage(r.value, secret) : r;
    },
    [...bodies, hiddenBody],
    { iterations },
  );
});

test("fuzz unhideAvp on arbitrary hidden values", () => {
  fuzzParser(
    "unhideAvp",
    (b) =>
      unhideAvp(
        {
          mandatory: true,
          hidden: true,
          reserved: 0,
          vendorId: 0,
          attributeType: 14,
          value: Buffer.from(b),
        },
        secret,
        rv,
      ),
    [hiddenBody.subarray(24)],
    { iterations: md5Iterations, maxLength: 1017 },
  );
});
