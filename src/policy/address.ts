/**
 * Filter address and port syntax of policy documents, and matching against packets.
 *
 * An address spec is one of (as written in YAML):
 *   "any"                      every address
 *   "me"                       any address of this host (resolved at run time)
 *   "dns" | "dhcp" | "wins" | "default-gateway"
 *                              dynamic filters: the host's current DNS/DHCP/WINS servers or
 *                              default gateway, resolved at run time through a DynamicResolver
 *   "192.0.2.1" / "2001:db8::1"  one address
 *   "192.0.2.0/24"             a subnet (host bits must be zero)
 *   "192.0.2.10-192.0.2.20"    an inclusive range, both ends in the same family
 * A port spec is "any", "1701" or "1000-2000" (inclusive).
 *
 * Leaves out: IPv6 zone identifiers, hostnames (a filter never triggers a DNS lookup).
 */
import { formatIpAddress, parseIpAddress } from "../wire/ip/address.js";

export interface IpAddress {
  readonly family: 4 | 6;
  /** The address as an unsigned integer (32 or 128 bits). */
  readonly value: bigint;
}

export const DYNAMIC_FILTERS = ["dns", "dhcp", "wins", "default-gateway"] as const;
export type DynamicFilter = (typeof DYNAMIC_FILTERS)[number];

export type AddressSpec =
  | { readonly kind: "any" }
  | { readonly kind: "me" }
  | { readonly kind: "dynamic"; readonly which: DynamicFilter }
  | { readonly kind: "range"; readonly from: IpAddress; readonly to: IpAddress };

export type PortSpec = { readonly from: number; readonly to: number } | null;

/** Supplies run-time addresses; injected by the daemon (it watches interfaces and DHCP leases). */
export interface DynamicResolver {
  /** Addresses of this host. */
  me(): readonly IpAddress[];
  /** Current servers/gateways for a dynamic filter; empty when unknown (then nothing matches). */
  dynamic(which: DynamicFilter): readonly IpAddress[];
}

/**
 * Address text to family + unsigned integer. The accepted text forms are those of
 * wire/ip/address.ts (dotted quad without leading zeros; RFC 4291 §2.2 IPv6 forms including "::"
 * and a trailing dotted quad), without zone identifiers.
 */
export function parseIp(s: string): IpAddress | null {
  if (s.includes("%")) return null;
  const b = parseIpAddress(s);
  if (b === undefined) return null;
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return { family: b.length === 4 ? 4 : 6, value: v };
}

export function parseIPv4(s: string): IpAddress | null {
  const a = parseIp(s);
  return a?.family === 4 ? a : null;
}

export function parseIPv6(s: string): IpAddress | null {
  const a = parseIp(s);
  return a?.family === 6 ? a : null;
}

/** Dotted quad, or IPv6 in RFC 5952 canonical form (wire/ip/address.ts formatIpAddress). */
export function formatIp(a: IpAddress): string {
  const out = new Uint8Array(a.family === 4 ? 4 : 16);
  let v = a.value;
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return formatIpAddress(out);
}

const bits = (f: 4 | 6): number => (f === 4 ? 32 : 128);

/** Parses a CIDR "a/n"; host bits must be zero. Returns the first and last address. */
export function parseCidr(s: string): { from: IpAddress; to: IpAddress; prefix: number } | null {
  const m = /^([^/]+)\/([0-9]{1,3})$/.exec(s);
  if (!m) return null;
  const a = parseIp(m[1] ?? "");
  const prefix = Number(m[2]);
  if (!a || prefix > bits(a.family)) return null;
  const hostBits = BigInt(bits(a.family) - prefix);
  const hostMask = (1n << hostBits) - 1n;
  if ((a.value & hostMask) !== 0n) return null;
  return { from: a, to: { family: a.family, value: a.value | hostMask }, prefix };
}

/** Parses an address spec; returns a fix hint on failure. */
export function parseAddressSpec(
  s: string,
): { ok: true; value: AddressSpec } | { ok: false; hint: string } {
  if (s === "any") return { ok: true, value: { kind: "any" } };
  if (s === "me") return { ok: true, value: { kind: "me" } };
  if ((DYNAMIC_FILTERS as readonly string[]).includes(s)) {
    return { ok: true, value: { kind: "dynamic", which: s as DynamicFilter } };
  }
  const fix = `write "any", "me", one of ${DYNAMIC_FILTERS.map((d) => `"${d}"`).join(", ")}, an address ("192.0.2.1"), a subnet ("192.0.2.0/24") or a range ("192.0.2.10-192.0.2.20")`;
  if (s.includes("/")) {
    const c = parseCidr(s);
    if (c) return { ok: true, value: { kind: "range", from: c.from, to: c.to } };
    const addr = parseIp(s.split("/")[0] ?? "");
    if (addr) {
      return {
        ok: false,
        hint: `the subnet has host bits set or a prefix longer than ${bits(addr.family)}; ${fix}`,
      };
    }
    return { ok: false, hint: fix };
  }
  const dash = s.indexOf("-");
  if (dash > 0) {
    const from = parseIp(s.slice(0, dash));
    const to = parseIp(s.slice(dash + 1));
    if (!from || !to) return { ok: false, hint: fix };
    if (from.family !== to.family)
      return { ok: false, hint: "both ends of a range must be IPv4 or both IPv6" };
    if (from.value > to.value)
      return { ok: false, hint: "the first address of a range must not be above the last" };
    return { ok: true, value: { kind: "range", from, to } };
  }
  const a = parseIp(s);
  if (a) return { ok: true, value: { kind: "range", from: a, to: a } };
  return { ok: false, hint: fix };
}

/** Parses "any", "1701" or "1000-2000". */
export function parsePortSpec(s: string): PortSpec | undefined {
  if (s === "any") return null;
  const m = /^(0|[1-9][0-9]{0,4})(?:-(0|[1-9][0-9]{0,4}))?$/.exec(s);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from > 65535 || to > 65535 || from > to) return undefined;
  return { from, to };
}

export function addressMatches(
  spec: AddressSpec,
  addr: IpAddress,
  resolver: DynamicResolver,
): boolean {
  switch (spec.kind) {
    case "any":
      return true;
    case "me":
      return resolver.me().some((a) => a.family === addr.family && a.value === addr.value);
    case "dynamic":
      return resolver
        .dynamic(spec.which)
        .some((a) => a.family === addr.family && a.value === addr.value);
    case "range":
      return (
        spec.from.family === addr.family &&
        addr.value >= spec.from.value &&
        addr.value <= spec.to.value
      );
  }
}

export function portMatches(spec: PortSpec, port: number | undefined): boolean {
  if (spec === null) return true;
  return port !== undefined && port >= spec.from && port <= spec.to;
}
