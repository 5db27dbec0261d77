/**
 * Security Policy Database (RFC 4301 §4.4.1): an ordered list of policies, each a selector
 * (local/remote address ranges, IP protocol, local/remote port ranges) and an action:
 * PROTECT (send through an outbound SA), BYPASS (send in the clear) or DISCARD. First match
 * wins; when nothing matches the default action applies — DISCARD unless configured, which is
 * what fail-closed ("block mode") relies on.
 *
 * Selectors are matched on the hot path against a `PacketFields` view (no allocation).
 * Ports of non-first fragments are unknown and only match a selector that has no port range
 * (RFC 4301 §4.4.1.1 OPAQUE handling, simplified).
 * Leaves out: name selectors (user IDs), the SPD-S/SPD-I/SPD-O split and decorrelation
 * (RFC 4301 §4.4.1.2); IKE builds SAs per policy itself.
 */
import { type AddressRange, inRange, parseAddressRange } from "../wire/ip/address.js";
import type { PacketFields } from "../wire/ip/packet.js";

export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/** Selector in text form (what config and IKE hand over). Empty lists / absent fields = ANY. */
export interface SelectorSpec {
  readonly local?: readonly string[];
  readonly remote?: readonly string[];
  readonly protocol?: number;
  readonly localPort?: number | readonly [number, number];
  readonly remotePort?: number | readonly [number, number];
}

export interface Selector {
  readonly local: readonly AddressRange[];
  readonly remote: readonly AddressRange[];
  /** -1 = any. */
  readonly protocol: number;
  readonly localPort: PortRange | undefined;
  readonly remotePort: PortRange | undefined;
}

function ports(p: number | readonly [number, number] | undefined): PortRange | undefined {
  if (p === undefined) return undefined;
  return typeof p === "number" ? { first: p, last: p } : { first: p[0], last: p[1] };
}

/** Compiles a selector; returns an error string for an unparsable address range. */
export function compileSelector(s: SelectorSpec): Selector | string {
  const conv = (list: readonly string[] | undefined): AddressRange[] | string => {
    const out: AddressRange[] = [];
    for (const t of list ?? []) {
      const r = parseAddressRange(t);
      if (r === undefined) return `bad address range "${t}"`;
      out.push(r);
    }
    return out;
  };
  const local = conv(s.local);
  if (typeof local === "string") return local;
  const remote = conv(s.remote);
  if (typeof remote === "string") return remote;
  return {
    local,
    remote,
    protocol: s.protocol ?? -1,
    localPort: ports(s.localPort),
    remotePort: ports(s.remotePort),
  };
}

export const ANY_SELECTOR: Selector = {
  local: [],
  remote: [],
  protocol: -1,
  localPort: undefined,
  remotePort: undefined,
};

function addrMatch(
  ranges: readonly AddressRange[],
  p: Uint8Array,
  off: number,
  len: number,
): boolean {
  if (ranges.length === 0) return true;
  for (const r of ranges) if (inRange(r, p, off, len)) return true;
  return false;
}

function portMatch(r: PortRange | undefined, port: number): boolean {
  return r === undefined || (port >= 0 && port >= r.first && port <= r.last);
}

/**
 * Matches a packet. `outbound`: the packet's source is local; inbound (decrypted) packets
 * come from the remote side, so source is remote.
 */
export function selectorMatches(
  s: Selector,
  p: Uint8Array,
  f: PacketFields,
  outbound: boolean,
): boolean {
  if (s.protocol >= 0 && s.protocol !== f.protocol) return false;
  const localOff = outbound ? f.srcOffset : f.dstOffset;
  const remoteOff = outbound ? f.dstOffset : f.srcOffset;
  if (!addrMatch(s.local, p, localOff, f.addrLength)) return false;
  if (!addrMatch(s.remote, p, remoteOff, f.addrLength)) return false;
  const localPort = outbound ? f.srcPort : f.dstPort;
  const remotePort = outbound ? f.dstPort : f.srcPort;
  return portMatch(s.localPort, localPort) && portMatch(s.remotePort, remotePort);
}

export type PolicyAction =
  | { readonly kind: "protect" /** Outbound SA handle from installSa. */; readonly sa: number }
  | { readonly kind: "bypass" }
  | { readonly kind: "discard" };

export interface Policy {
  readonly name: string;
  readonly selector: Selector;
  readonly action: PolicyAction;
}

export class Spd {
  private policies: Policy[] = [];
  defaultAction: PolicyAction = { kind: "discard" };

  /** Replaces the whole ordered list (atomic from the data plane's point of view). */
  set(policies: readonly Policy[]): void {
    this.policies = [...policies];
  }

  add(policy: Policy, index = this.policies.length): void {
    this.policies.splice(index, 0, policy);
  }

  remove(name: string): boolean {
    const n = this.policies.length;
    this.policies = this.policies.filter((p) => p.name !== name);
    return this.policies.length !== n;
  }

  list(): readonly Policy[] {
    return this.policies;
  }

  /** First outbound match, or undefined (then `defaultAction` applies). */
  lookupOutbound(p: Uint8Array, f: PacketFields): Policy | undefined {
    for (const pol of this.policies) if (selectorMatches(pol.selector, p, f, true)) return pol;
    return undefined;
  }
}
