/**
 * NAT-T port-4500 classification (RFC 3948 §2.1–2.3): keepalive 0xFF, IKE behind the 4-octet
 * Non-ESP Marker, ESP with a non-zero SPI; builders; round trip; fuzz.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import {
  buildNattIke,
  buildNattKeepalive,
  classifyNattDatagram,
  serializeNattDatagram,
} from "./udpencap.js";

const IKE = Buffer.concat([
  Buffer.from("0011223344556677000000000000000008100501", "hex"),
  Buffer.alloc(8),
]);

describe("UDP encapsulation classifier", () => {
  it("keepalive", () => {
    assert.deepEqual(classifyNattDatagram(buildNattKeepalive()), {
      ok: true,
      value: { kind: "keepalive" },
    });
    assert.equal(classifyNattDatagram(Buffer.from([0])).ok, false);
  });
  it("IKE after the Non-ESP Marker (a view, no copy)", () => {
    const d = buildNattIke(IKE);
    assert.equal(d.length, IKE.length + 4);
    const r = classifyNattDatagram(d);
    assert.ok(r.ok && r.value.kind === "ike");
    assert.deepEqual(Buffer.from(r.value.ike), IKE);
    assert.equal(r.value.ike.buffer, d.buffer);
    assert.equal(classifyNattDatagram(Buffer.alloc(10)).ok, false, "marker but no IKE header");
  });
  it("ESP with a non-zero SPI", () => {
    const esp = Buffer.from("c0ffee0100000001aabbccdd", "hex");
    const r = classifyNattDatagram(esp);
    assert.ok(r.ok && r.value.kind === "esp");
    assert.equal(classifyNattDatagram(esp.subarray(0, 6)).ok, false);
  });
  it("round-trips (fast-check) and fuzz", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 80 }), (b) => {
        const r = classifyNattDatagram(b);
        if (r.ok) assert.deepEqual(serializeNattDatagram(r.value), Buffer.from(b));
      }),
    );
    fuzzParser(
      "classifyNattDatagram",
      classifyNattDatagram,
      [buildNattIke(IKE), buildNattKeepalive(), Buffer.from("c0ffee0100000001aabbccdd", "hex")],
      { iterations: 30000 },
    );
  });
});
