/**
 * The block ruleset: from a block set and the exemptions, the nftables table (`inet oakley`) that
 * keeps protected traffic from leaving — or arriving — in the clear.
 *
 * Three base chains (output, input, forward; priority -10, policy accept — we only ever drop
 * what a block entry selects, everything else is someone else's decision). Each chain, in order:
 *   1. exemptions, accepted: loopback ("lo"); the tunnel devices (default "oak*": what goes into
 *      or comes out of the TUN is carried by the daemon inside ESP); IKE (UDP 500 and 4500 as
 *      source or destination port: the daemon must be able to negotiate, and ESP-in-UDP
 *      (RFC 3948) uses 4500) and ESP (IP protocol 50), both only to or from the set's IKE peers
 *      (the client's server; the server's listen address, or this host's own addresses when it
 *      listens on 0.0.0.0), so that the exemption is not a way out for anything sent to port
 *      500 of an arbitrary host; ICMP errors and IPv6 neighbour discovery; optionally the
 *      management TCP port; each with a counter.
 *   2. the block set, in policy order (first match wins, as in the evaluator): a "permit" entry
 *      accepts, a "block" entry counts and drops; a mirrored selector gives two rules (forward
 *      and reverse). Comments start with "block:" / "permit:" so status can sum the counters.
 * A packet that matches nothing falls through to the policy (accept).
 *
 * The same table is installed in protected mode (the daemon's own traffic is ESP, ESP-in-UDP or
 * on the TUN, all exempt, so it never hits a drop) and in block mode; a SIGKILLed daemon leaves it
 * in the kernel. Deviation from Windows' block mode, on purpose: Windows blocks all traffic
 * except what the boot-time exemptions allow; we block only what the policy says must be
 * protected, so a failed VPN start does not cut an administrator's SSH session.
 */
import type { NftChain, NftHook, NftMatch, NftRule } from "../../platform/firewall/index.js";
import { safeComment } from "../../platform/firewall/index.js";
import { IcmpType, ipProtocolName } from "../../registry/ip.js";
import type {
  AddressSelector,
  BlockEntry,
  BlockSet,
  IkePeers,
  TrafficSelector,
} from "./block-set.js";

export interface Exemptions {
  /** Tunnel device names or prefixes with "*" (default ["oak*"]). */
  readonly tunnelInterfaces: readonly string[];
  /** IKE ports (default [500, 4500]); accepted as UDP source or destination port. */
  readonly ikePorts: readonly number[];
  /** Management TCP port of the control protocol, when it must stay reachable. */
  readonly managementPort?: number;
}

export const DEFAULT_EXEMPTIONS: Exemptions = { tunnelInterfaces: ["oak*"], ikePorts: [500, 4500] };

export const CHAIN_PRIORITY = -10;
const ESP = 50;
/** RFC 792: Destination Unreachable, Time Exceeded, Parameter Problem. */
const ICMP_ERRORS = [
  IcmpType.DestinationUnreachable,
  IcmpType.TimeExceeded,
  IcmpType.ParameterProblem,
];
/** RFC 4443 errors (1-4) and RFC 4861 neighbour discovery (133-136). */
const ICMPV6_ERRORS_AND_ND = [1, 2, 3, 4, 133, 134, 135, 136];
export const BLOCK_COMMENT_PREFIX = "block:";

function addressMatch(a: AddressSelector, field: "saddr" | "daddr"): NftMatch[] | null {
  switch (a.kind) {
    case "any":
      return [];
    case "me":
      return [{ kind: "local", field }];
    case "ranges":
      return [{ kind: "address", field, ranges: a.ranges }];
  }
}

function familyOf(a: AddressSelector): 4 | 6 | "mixed" | null {
  if (a.kind !== "ranges") return null;
  const f = a.ranges[0]?.family ?? null;
  return a.ranges.every((r) => r.family === f) ? f : "mixed";
}

/** Splits a selector's ranges by family: nft matches one family per expression. */
function byFamily(a: AddressSelector): AddressSelector[] {
  if (familyOf(a) !== "mixed" || a.kind !== "ranges") return [a];
  return ([4, 6] as const)
    .map((f) => ({ kind: "ranges" as const, ranges: a.ranges.filter((r) => r.family === f) }))
    .filter((x) => x.ranges.length > 0);
}

/** The nft matches of one direction of a selector; [] entries mean "cannot match" (skip). */
function directionMatches(s: TrafficSelector, reverse: boolean): NftMatch[][] {
  const src = reverse ? s.destination : s.source;
  const dst = reverse ? s.source : s.destination;
  const sp = reverse ? s.destinationPort : s.sourcePort;
  const dp = reverse ? s.sourcePort : s.destinationPort;
  const out: NftMatch[][] = [];
  for (const a of byFamily(src)) {
    for (const b of byFamily(dst)) {
      const fa = familyOf(a);
      const fb = familyOf(b);
      if (fa !== null && fb !== null && fa !== fb) continue; // IPv4 to IPv6: no packet matches
      const m: NftMatch[] = [
        ...(addressMatch(a, "saddr") ?? []),
        ...(addressMatch(b, "daddr") ?? []),
      ];
      const proto = s.protocol;
      if ((proto === 6 || proto === 17) && (sp || dp)) {
        const p = proto === 6 ? "tcp" : "udp";
        if (sp) m.push({ kind: "port", protocol: p, field: "sport", ranges: [sp] });
        if (dp) m.push({ kind: "port", protocol: p, field: "dport", ranges: [dp] });
      } else if (proto !== null) {
        m.push({ kind: "l4proto", protocols: [proto] });
      }
      out.push(m);
    }
  }
  return out;
}

function describeSelector(s: TrafficSelector): string {
  const a = (x: AddressSelector): string =>
    x.kind === "ranges"
      ? x.ranges
          .map((r) =>
            r.prefix !== undefined
              ? `${r.from}/${r.prefix}`
              : r.from === r.to
                ? r.from
                : `${r.from}-${r.to}`,
          )
          .join(",")
      : x.kind;
  const p = (r: { from: number; to: number } | null): string =>
    r === null ? "" : r.from === r.to ? `:${r.from}` : `:${r.from}-${r.to}`;
  const proto = s.protocol === null ? "any" : ipProtocolName(s.protocol);
  return `${proto} ${a(s.source)}${p(s.sourcePort)} > ${a(s.destination)}${p(s.destinationPort)}`;
}

function entryRules(e: BlockEntry): NftRule[] {
  const rules: NftRule[] = [];
  const seen = new Set<string>();
  const dirs = e.selector.mirrored ? [false, true] : [false];
  for (const reverse of dirs) {
    for (const matches of directionMatches(e.selector, reverse)) {
      // A symmetric selector (any <-> any, me <-> me) has the same rule both ways: keep one.
      const key = JSON.stringify(matches);
      if (seen.has(key)) continue;
      seen.add(key);
      const label = `${e.action}: ${e.description} ${reverse ? "(reverse)" : ""}`.trim();
      rules.push({
        matches,
        counter: e.action === "block",
        verdict: e.action === "block" ? "drop" : "accept",
        comment: safeComment(label),
      });
    }
  }
  return rules;
}

/** The address matches that name the IKE peers, either as source or as destination. */
function peerMatches(peers: IkePeers): { field: "saddr" | "daddr"; match: NftMatch }[] {
  const out: { field: "saddr" | "daddr"; match: NftMatch }[] = [];
  for (const field of ["daddr", "saddr"] as const) {
    if (peers.kind === "me") out.push({ field, match: { kind: "local", field } });
    else
      for (const a of byFamily(peers)) {
        if (a.kind === "ranges")
          out.push({ field, match: { kind: "address", field, ranges: a.ranges } });
      }
  }
  return out;
}

function exemptionRules(hook: NftHook, ex: Exemptions, peers: IkePeers): NftRule[] {
  const dirs: ("iif" | "oif")[] =
    hook === "input" ? ["iif"] : hook === "output" ? ["oif"] : ["iif", "oif"];
  const rules: NftRule[] = [];
  for (const dir of dirs) {
    rules.push({
      matches: [{ kind: "ifname", dir, names: ["lo"] }],
      counter: false,
      verdict: "accept",
      comment: "exempt: loopback",
    });
  }
  if (ex.tunnelInterfaces.length > 0) {
    for (const dir of dirs) {
      rules.push({
        matches: [{ kind: "ifname", dir, names: ex.tunnelInterfaces }],
        counter: true,
        verdict: "accept",
        comment: "exempt: tunnel devices",
      });
    }
  }
  const withPeer = peerMatches(peers);
  const who = (f: "saddr" | "daddr"): string =>
    peers.kind === "me"
      ? f === "daddr"
        ? "to this host"
        : "from this host"
      : f === "daddr"
        ? "to peer"
        : "from peer";
  if (ex.ikePorts.length > 0) {
    const ranges = ex.ikePorts.map((p) => ({ from: p, to: p }));
    for (const p of withPeer) {
      for (const field of ["dport", "sport"] as const) {
        rules.push({
          matches: [p.match, { kind: "port", protocol: "udp", field, ranges }],
          counter: true,
          verdict: "accept",
          comment: `exempt: IKE and NAT-T (UDP ${field === "dport" ? "destination" : "source"} port, ${who(p.field)})`,
        });
      }
    }
  }
  // ICMP errors (path MTU for ESP, unreachable for IKE) and IPv6 neighbour discovery: without
  // them a client that protects "everything" to its server could not even reach it over IPv6.
  // They carry no application data beyond the 8 bytes of a quoted header.
  rules.push(
    {
      matches: [{ kind: "icmp", version: 4, types: ICMP_ERRORS }],
      counter: true,
      verdict: "accept",
      comment: "exempt: ICMP errors",
    },
    {
      matches: [{ kind: "icmp", version: 6, types: ICMPV6_ERRORS_AND_ND }],
      counter: true,
      verdict: "accept",
      comment: "exempt: ICMPv6 errors and neighbour discovery",
    },
  );
  for (const p of withPeer) {
    rules.push({
      matches: [p.match, { kind: "l4proto", protocols: [ESP] }],
      counter: true,
      verdict: "accept",
      comment: "exempt: ESP",
    });
  }
  if (ex.managementPort !== undefined) {
    const r = [{ from: ex.managementPort, to: ex.managementPort }];
    for (const field of ["dport", "sport"] as const) {
      rules.push({
        matches: [{ kind: "port", protocol: "tcp", field, ranges: r }],
        counter: false,
        verdict: "accept",
        comment: "exempt: management",
      });
    }
  }
  return rules;
}

/** The chains of the block table (family/name are the NftTable's). */
export function blockRuleset(
  set: BlockSet,
  ex: Exemptions = DEFAULT_EXEMPTIONS,
): { comment: string; chains: NftChain[] } {
  const body = set.entries.flatMap(entryRules);
  const chain = (hook: NftHook): NftChain => ({
    name: hook,
    hook,
    priority: CHAIN_PRIORITY,
    policy: "accept",
    rules: [...exemptionRules(hook, ex, set.ikePeers ?? { kind: "me" }), ...body],
  });
  return {
    comment: safeComment(`oakley fail-closed: ${set.origin}`),
    chains: [chain("output"), chain("input"), chain("forward")],
  };
}

export { describeSelector };
