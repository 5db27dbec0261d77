import assert from "node:assert/strict";
import { test } from "node:test";
import { unwrap } from "../../base/result.js";
import { WireErrorCode } from "../../base/errors.js";
import { MsAttr, RadiusAttr, VENDOR_MICROSOFT } from "../../registry/radius.js";
import {
  RFC2865_7_1_ACCESS_ACCEPT,
  RFC2865_7_1_ACCESS_REQUEST,
  RFC2865_7_2_ACCESS_ACCEPT,
  RFC2865_7_2_ACCESS_REQUEST,
} from "../../../test/vectors/radius/rfc2865-examples.js";
import {
  addressBytes,
  attr,
  attrU32,
  findAttr,
  findVendorAttr,
  parseRadiusPacket,
  readAddress,
  readU32,
  serializeRadiusPacket,
  vendorAttr,
} from "./packet.js";

const vectors = [
  RFC2865_7_1_ACCESS_REQUEST,
  RFC2865_7_1_ACCESS_ACCEPT,
  RFC2865_7_2_ACCESS_REQUEST,
  RFC2865_7_2_ACCESS_ACCEPT,
];

test("RFC 2865 §7 packets parse and serialize back to the same bytes", () => {
  for (const v of vectors) {
    const p = unwrap(parseRadiusPacket(v));
    assert.deepEqual(Buffer.from(serializeRadiusPacket(p)), v);
  }
});

test("RFC 2865 §7.1 Access-Request fields read as the RFC describes them", () => {
  const p = unwrap(parseRadiusPacket(RFC2865_7_1_ACCESS_REQUEST));
  assert.equal(p.code, 1);
  assert.equal(p.identifier, 0);
  assert.equal(Buffer.from(findAttr(p, RadiusAttr.UserName) ?? []).toString(), "nemo");
  assert.equal(
    readAddress(findAttr(p, RadiusAttr.NasIpAddress) ?? new Uint8Array(4)),
    "192.168.1.16",
  );
  assert.equal(readU32(findAttr(p, RadiusAttr.NasPort) ?? new Uint8Array(4)), 3);
  const a = unwrap(parseRadiusPacket(RFC2865_7_2_ACCESS_ACCEPT));
  assert.equal(
    readAddress(findAttr(a, RadiusAttr.FramedIpAddress) ?? new Uint8Array(4)),
    "255.255.255.254",
  );
  assert.equal(readU32(findAttr(a, RadiusAttr.FramedMtu) ?? new Uint8Array(4)), 1500);
});

test("octets past Length are padding: ignored, not an error", () => {
  const padded = Buffer.concat([RFC2865_7_1_ACCESS_ACCEPT, Buffer.from([0, 0, 0])]);
  const p = unwrap(parseRadiusPacket(padded));
  assert.deepEqual(Buffer.from(serializeRadiusPacket(p)), RFC2865_7_1_ACCESS_ACCEPT);
});

test("structural errors are typed", () => {
  const cases: [Buffer, string][] = [
    [RFC2865_7_1_ACCESS_ACCEPT.subarray(0, 19), WireErrorCode.Truncated],
    [RFC2865_7_1_ACCESS_ACCEPT.subarray(0, 30), WireErrorCode.Truncated],
  ];
  const shortLen = Buffer.from(RFC2865_7_1_ACCESS_ACCEPT);
  shortLen.writeUInt16BE(19, 2);
  cases.push([shortLen, WireErrorCode.BadLength]);
  const huge = Buffer.alloc(5000);
  huge[0] = 1;
  huge.writeUInt16BE(4097, 2);
  cases.push([huge, WireErrorCode.BadLength]);
  const zeroAttr = Buffer.from(RFC2865_7_1_ACCESS_ACCEPT);
  zeroAttr[21] = 0; // first attribute's length 0: would loop forever if accepted
  cases.push([zeroAttr, WireErrorCode.BadLength]);
  const shortAddr = Buffer.from(RFC2865_7_1_ACCESS_ACCEPT);
  // Service-Type (integer) claiming 3 octets of value: the rest no longer tiles either way
  shortAddr[21] = 5;
  cases.push([shortAddr, WireErrorCode.BadLength]);
  for (const [b, code] of cases) {
    const r = parseRadiusPacket(b);
    assert.equal(r.ok, false, b.toString("hex"));
    if (!r.ok) assert.equal(r.error.code, code, b.toString("hex"));
  }
});

test("two Message-Authenticators are refused (which one would be checked?)", () => {
  const ma = { type: RadiusAttr.MessageAuthenticator, value: new Uint8Array(16) };
  const b = serializeRadiusPacket({
    code: 2,
    identifier: 1,
    authenticator: new Uint8Array(16),
    attributes: [ma, ma],
  });
  const r = parseRadiusPacket(b);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, WireErrorCode.BadValue);
});

test("Microsoft vendor attributes round-trip and malformed ones are refused", () => {
  const challenge = Buffer.alloc(16, 7);
  const success = Buffer.concat([Buffer.from([9]), Buffer.from(`S=${"A".repeat(40)}`)]);
  const b = serializeRadiusPacket({
    code: 2,
    identifier: 9,
    authenticator: new Uint8Array(16),
    attributes: [
      vendorAttr(VENDOR_MICROSOFT, MsAttr.ChapChallenge, challenge),
      vendorAttr(VENDOR_MICROSOFT, MsAttr.Chap2Success, success),
      vendorAttr(
        VENDOR_MICROSOFT,
        MsAttr.PrimaryDnsServer,
        addressBytes("198.51.100.53") ?? new Uint8Array(),
      ),
      attrU32(RadiusAttr.SessionTimeout, 3600),
      attr(RadiusAttr.ReplyMessage, "hello"),
    ],
  });
  const p = unwrap(parseRadiusPacket(b));
  assert.deepEqual(
    Buffer.from(findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.ChapChallenge) ?? []),
    challenge,
  );
  assert.deepEqual(
    Buffer.from(findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.Chap2Success) ?? []),
    success,
  );
  assert.equal(
    readAddress(findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.PrimaryDnsServer) ?? new Uint8Array(4)),
    "198.51.100.53",
  );
  assert.deepEqual(Buffer.from(serializeRadiusPacket(p)), Buffer.from(b));
  // vendor length running past the attribute
  const broken = Buffer.from(b);
  broken[20 + 2 + 4 + 1] = 200;
  const r = parseRadiusPacket(broken);
  assert.equal(r.ok, false);
  // MS-Primary-DNS-Server of 3 octets
  const short = serializeRadiusPacket({
    code: 2,
    identifier: 9,
    authenticator: new Uint8Array(16),
    attributes: [vendorAttr(VENDOR_MICROSOFT, MsAttr.PrimaryDnsServer, new Uint8Array(3))],
  });
  assert.equal(parseRadiusPacket(short).ok, false);
});

test("addressBytes accepts dotted quads only", () => {
  assert.deepEqual(addressBytes("192.0.2.1"), new Uint8Array([192, 0, 2, 1]));
  for (const s of ["192.0.2", "192.0.2.256", "a.b.c.d", "1.2.3.4.5", "", "01234.1.1.1"]) {
    assert.equal(addressBytes(s), undefined, s);
  }
});

test("serialize refuses oversized values (a bug in the builder, not input)", () => {
  assert.throws(() =>
    serializeRadiusPacket({
      code: 1,
      identifier: 0,
      authenticator: new Uint8Array(16),
      attributes: [{ type: 1, value: new Uint8Array(254) }],
    }),
  );
});
