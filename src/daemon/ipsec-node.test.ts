/**
 * Unit tests of ipsec-node.ts' tunnel-mode helpers: Quick Mode selectors from text (RFC 2407
 * §4.6.2: ID_IPV4_ADDR, ID_IPV4_ADDR_SUBNET as address + mask, ID_IPV4_ADDR_RANGE) and the
 * IPv4 prefixes routed via the TUN for a selector. The whole tunnel path (SPD policies, routes,
 * TUN, rekey) runs against strongSwan in test/interop/ike-strongswan-tunnel.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { routesFor, trafficSelector } from "./ipsec-node.js";

const text = (r: { destination: string; prefixLength: number }) =>
  `${r.destination}/${r.prefixLength}`;

describe("trafficSelector", () => {
  it("maps text to RFC 2407 §4.6.2 identification types", () => {
    assert.deepEqual(trafficSelector("192.0.2.2"), {
      id: { kind: "ipv4", address: "192.0.2.2" },
      protocol: 0,
      port: 0,
    });
    assert.deepEqual(trafficSelector("203.0.113.1/32")?.id, {
      kind: "ipv4",
      address: "203.0.113.1",
    });
    // ID_IPV4_ADDR_SUBNET carries the address and a mask (RFC 2407 §4.6.2.4 "...a netmask").
    assert.deepEqual(trafficSelector("192.0.2.77/24")?.id, {
      kind: "ipv4-subnet",
      address: "192.0.2.0",
      mask: "255.255.255.0",
    });
    assert.deepEqual(trafficSelector("198.51.100.0/20")?.id, {
      kind: "ipv4-subnet",
      address: "198.51.96.0",
      mask: "255.255.240.0",
    });
    assert.deepEqual(trafficSelector("192.0.2.10-192.0.2.20", 17, 1701), {
      id: { kind: "ipv4-range", start: "192.0.2.10", end: "192.0.2.20" },
      protocol: 17,
      port: 1701,
    });
    assert.deepEqual(trafficSelector("2001:db8::/32")?.id, {
      kind: "ipv6-subnet",
      address: "2001:db8::",
      mask: "ffff:ffff::",
    });
  });

  it("refuses what is not an address set", () => {
    for (const bad of [
      "",
      "vpn.example.com",
      "192.0.2.1/33",
      "192.0.2.1/x",
      "192.0.2.20-192.0.2.10",
      "192.0.2.1-2001:db8::1",
    ])
      assert.equal(trafficSelector(bad), undefined, bad);
  });
});

describe("routesFor", () => {
  // Expected prefixes from Python 3's ipaddress.summarize_address_range (an independent
  // implementation of the smallest CIDR cover, RFC 4632 §3.1).
  const VECTORS: readonly [string, string[]][] = [
    ["192.0.2.10-192.0.2.20", ["192.0.2.10/31", "192.0.2.12/30", "192.0.2.16/30", "192.0.2.20/32"]],
    ["198.51.100.0-198.51.100.255", ["198.51.100.0/24"]],
    ["203.0.113.1-203.0.113.1", ["203.0.113.1/32"]],
    ["10.0.0.255-10.0.2.0", ["10.0.0.255/32", "10.0.1.0/24", "10.0.2.0/32"]],
    [
      "192.0.2.1-192.0.2.254",
      [
        "192.0.2.1/32",
        "192.0.2.2/31",
        "192.0.2.4/30",
        "192.0.2.8/29",
        "192.0.2.16/28",
        "192.0.2.32/27",
        "192.0.2.64/26",
        "192.0.2.128/26",
        "192.0.2.192/27",
        "192.0.2.224/28",
        "192.0.2.240/29",
        "192.0.2.248/30",
        "192.0.2.252/31",
        "192.0.2.254/32",
      ],
    ],
  ];
  for (const [range, want] of VECTORS)
    it(`covers ${range} (Python ipaddress)`, () => {
      assert.deepEqual(routesFor(range).map(text), want);
    });

  it("routes a prefix as itself and an address as /32; IPv6 gets none", () => {
    assert.deepEqual(routesFor("192.0.2.77/24").map(text), ["192.0.2.0/24"]);
    assert.deepEqual(routesFor("0.0.0.0/0").map(text), ["0.0.0.0/0"]);
    assert.deepEqual(routesFor("203.0.113.1").map(text), ["203.0.113.1/32"]);
    assert.deepEqual(routesFor("2001:db8::/32"), []);
  });

  it("property: the prefixes of a range are aligned, adjacent and cover exactly the range", () => {
    const toU32 = (s: string) => s.split(".").reduce((a, x) => a * 256 + Number(x), 0);
    const fromU32 = (n: number) =>
      [24, 16, 8, 0].map((sh) => Math.floor(n / 2 ** sh) % 256).join(".");
    fc.assert(
      fc.property(fc.nat(2 ** 32 - 1), fc.nat(4096), (first, span) => {
        const last = Math.min(2 ** 32 - 1, first + span);
        const routes = routesFor(`${fromU32(first)}-${fromU32(last)}`);
        let next = first;
        for (const r of routes) {
          const start = toU32(r.destination);
          const size = 2 ** (32 - r.prefixLength);
          if (start !== next || start % size !== 0) return false;
          next = start + size;
        }
        // At most 32 prefixes are made: a range that needs more is cut short, never widened.
        return routes.length === 32 ? next - 1 <= last : next - 1 === last;
      }),
      { numRuns: 2000 },
    );
  });
});
