/**
 * Which address clients should dial, for what `oakley serve` prints and for
 * `oakley client-config`: the address a person gave (--server), else the listen address when
 * it is public, else the address of the default route's interface. A private address there
 * may be a NAT's inside address: the result then carries a note saying so, because the
 * clients on the Internet need the NAT's public address (or a name for it).
 */
import { isIP } from "node:net";
import type { Result } from "../base/result.js";
import type { PlatformError } from "../platform/errors.js";
import { defaultRouteSource, type RouteInfo } from "../platform/route.js";

export interface ServerAddress {
  readonly address: string;
  readonly source: "given" | "listen" | "detected" | "unknown";
  /** Why this may not be the address clients use; absent when it is. */
  readonly note?: string;
}

export interface AddressDeps {
  readonly defaultRoute: () => Promise<Result<RouteInfo, PlatformError>>;
}

/** What stands in for the address when nothing could be found. */
export const UNKNOWN_ADDRESS = "<this server's public address>";

const PRIVATE_V4: readonly (readonly [number, number])[] = [
  // [network as a 32-bit number, prefix length]
  [0x00000000, 8], // "this network" (RFC 1122)
  [0x0a000000, 8], // private (RFC 1918)
  [0x64400000, 10], // shared address space, carrier-grade NAT (RFC 6598)
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // link local (RFC 3927)
  [0xac100000, 12], // private (RFC 1918)
  [0xc0a80000, 16], // private (RFC 1918)
  [0xe0000000, 3], // multicast and reserved, 224.0.0.0 and above
];

/** False for addresses no client on the Internet can reach directly (RFC 1918, CGNAT, loopback, …). */
export function isPublicIpv4(address: string): boolean {
  if (isIP(address) !== 4) return false;
  const n = address.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  return !PRIVATE_V4.some(
    ([net, bits]) => Math.floor(n / 2 ** (32 - bits)) === net / 2 ** (32 - bits),
  );
}

const natNote = (address: string, how: string): string =>
  `${address} is ${how} and private: it may be a NAT's inside address; clients on the Internet need the NAT's public address or a name for it (give it with --server)`;

export async function serverAddress(
  o: { readonly given?: string; readonly listen: string },
  deps: AddressDeps = { defaultRoute: defaultRouteSource },
): Promise<ServerAddress> {
  if (o.given !== undefined && o.given !== "") return { address: o.given, source: "given" };
  if (isIP(o.listen) === 4 && o.listen !== "0.0.0.0") {
    return isPublicIpv4(o.listen)
      ? { address: o.listen, source: "listen" }
      : { address: o.listen, source: "listen", note: natNote(o.listen, "the listen address") };
  }
  const r = await deps.defaultRoute();
  if (!r.ok) {
    return {
      address: UNKNOWN_ADDRESS,
      source: "unknown",
      note: `the address could not be detected (${r.error.message}); give it with --server`,
    };
  }
  const a = r.value.source;
  return isPublicIpv4(a)
    ? {
        address: a,
        source: "detected",
        note: `detected on ${r.value.device}, the default route's interface`,
      }
    : {
        address: a,
        source: "detected",
        note: natNote(a, `the address of ${r.value.device}, the default route's interface,`),
      };
}

/** For `startupText`: the address and its note, as StartupInfo fields. */
export async function startupAddress(
  listen: string,
  deps?: AddressDeps,
): Promise<{ serverAddress: string; serverAddressNote?: string }> {
  const a = await serverAddress({ listen }, deps);
  return { serverAddress: a.address, ...(a.note ? { serverAddressNote: a.note } : {}) };
}
