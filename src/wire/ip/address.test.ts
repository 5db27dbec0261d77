/** IP address text forms (RFC 4291 §2.2 in, RFC 5952 out) and ranges. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIpAddress, inRange, parseAddressRange, parseIpAddress } from "./address.js";

describe("IP addresses", () => {
  it("parses and formats v4 and v6 (RFC 5952 §4 canonical form)", () => {
    assert.deepEqual([...parseIpAddress("192.0.2.33")!], [192, 0, 2, 33]);
    assert.equal(formatIpAddress(parseIpAddress("2001:0db8:0:0:0:0:2:1")!), "2001:db8::2:1");
    assert.equal(formatIpAddress(parseIpAddress("2001:db8:0:1:1:1:1:1")!), "2001:db8:0:1:1:1:1:1");
    assert.equal(formatIpAddress(parseIpAddress("::ffff:192.0.2.1")!), "::ffff:c000:201");
    assert.equal(formatIpAddress(parseIpAddress("::")!), "::");
    assert.equal(parseIpAddress("300.1.1.1"), undefined);
    assert.equal(parseIpAddress("fe80::1%eth0")?.length, 16);
  });

  it("ranges: prefixes and first-last", () => {
    const r = parseAddressRange("10.1.0.0/16")!;
    assert.ok(inRange(r, Uint8Array.from([10, 1, 255, 3]), 0, 4));
    assert.equal(inRange(r, Uint8Array.from([10, 2, 0, 0]), 0, 4), false);
    const d = parseAddressRange("192.0.2.10-192.0.2.20")!;
    assert.ok(inRange(d, Uint8Array.from([192, 0, 2, 10]), 0, 4));
    assert.ok(inRange(d, Uint8Array.from([192, 0, 2, 20]), 0, 4));
    assert.equal(inRange(d, Uint8Array.from([192, 0, 2, 21]), 0, 4), false);
    assert.equal(
      inRange(parseAddressRange("0.0.0.0/0")!, Uint8Array.from([1, 2, 3, 4]), 0, 4),
      true,
    );
    assert.equal(parseAddressRange("10.0.0.0/33"), undefined);
    assert.equal(
      inRange(parseAddressRange("2001:db8::/32")!, parseIpAddress("2001:db8:ffff::1")!, 0, 16),
      true,
    );
  });
});
