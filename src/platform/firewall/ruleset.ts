/**
 * A typed model of one nftables table of ours and its rendering to nft(8) ruleset text.
 *
 * Only the constructs the fail-closed guard needs (nft(8) sections "CHAINS", "META EXPRESSIONS",
 * "PAYLOAD EXPRESSION", "FIB EXPRESSIONS", "COUNTER STATEMENT", "VERDICT STATEMENT"):
 * base chains (filter type, hook, numeric priority, policy), interface-name matches with the
 * trailing `*` wildcard, `meta l4proto`, icmp/icmpv6 types, udp/tcp port sets and ranges, ip/ip6 address prefixes
 * and ranges, `fib saddr|daddr type local` ("an address of this host"), `counter`,
 * accept/drop and a rule comment.
 *
 * `renderReplaceTransaction` produces the whole-table replacement as one batch:
 *     add table inet T          (creates it if absent, no-op if present)
 *     delete table inet T       (removes the old rules)
 *     table inet T { ... }      (the new rules)
 * nft sends the three as one netlink transaction, so the kernel switches from the old ruleset
 * to the new one atomically: there is never a moment with no rules, and a rejected batch
 * leaves the old ruleset in place (nft(8): "-f ... atomically").
 *
 * Every value that reaches the text is validated (names, addresses, ports, comment characters),
 * so a caller cannot inject nft syntax. Leaves out: sets/maps, NAT, marks, other families.
 */
import { isIPv4, isIPv6 } from "node:net";
import { err, ok, type Result } from "../../base/result.js";
import { type FirewallError, FirewallErrorCode, firewallError } from "./errors.js";

export type NftHook = "input" | "output" | "forward";
export type NftVerdict = "accept" | "drop";

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** An address interval, both ends in one family, written as text ("192.0.2.1"). */
export interface AddressRange {
  readonly family: 4 | 6;
  readonly from: string;
  readonly to: string;
  /** When the interval is a CIDR block, its prefix length (rendered as a/n). */
  readonly prefix?: number;
}

export type NftMatch =
  /** `iifname`/`oifname` [!=] { "lo", "oak*" }; a trailing `*` is nft's wildcard. */
  | {
      readonly kind: "ifname";
      readonly dir: "iif" | "oif";
      readonly negate?: boolean;
      readonly names: readonly string[];
    }
  /** `meta l4proto { 6, 17 }` — IP protocol numbers (IPv4 protocol / IPv6 next header). */
  | { readonly kind: "l4proto"; readonly protocols: readonly number[] }
  /** `udp dport { 500, 4500 }` (implies the protocol). */
  | {
      readonly kind: "port";
      readonly protocol: "udp" | "tcp";
      readonly field: "sport" | "dport";
      readonly ranges: readonly PortRange[];
    }
  /** `ip saddr { 192.0.2.0/24, 192.0.2.9-192.0.2.20 }` (implies the family). */
  | {
      readonly kind: "address";
      readonly field: "saddr" | "daddr";
      readonly ranges: readonly AddressRange[];
    }
  /** `icmp type { 3, 11 }` / `icmpv6 type { 1, 135 }` (implies the protocol). */
  | { readonly kind: "icmp"; readonly version: 4 | 6; readonly types: readonly number[] }
  /** `fib saddr type local`: the address is one of this host's (any interface). */
  | { readonly kind: "local"; readonly field: "saddr" | "daddr" };

export interface NftRule {
  readonly matches: readonly NftMatch[];
  /** Adds an nft counter (packets, bytes) to the rule. */
  readonly counter: boolean;
  readonly verdict: NftVerdict;
  /** Shown by `nft list` and read back by inspect(); at most 100 characters of [ -~] minus quotes. */
  readonly comment?: string;
}

export interface NftChain {
  readonly name: string;
  readonly hook: NftHook;
  /** Numeric priority; filter is 0, lower runs first. */
  readonly priority: number;
  readonly policy: NftVerdict;
  readonly rules: readonly NftRule[];
}

export interface NftTableSpec {
  /** Only `inet` (IPv4 and IPv6 in one table). */
  readonly family: "inet";
  readonly name: string;
  readonly comment?: string;
  readonly chains: readonly NftChain[];
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$|^[A-Za-z0-9_.-]{0,14}\*$/;
const COMMENT_RE = /^[A-Za-z0-9 _.,:;/()+=<>@#%&'!?[\]{}|~^$-]*$/;

/** Makes any text usable as an nft comment: keeps safe characters, replaces others, truncates. */
export function safeComment(s: string): string {
  let out = "";
  for (const ch of s) out += COMMENT_RE.test(ch) ? ch : "_";
  return out.slice(0, 100);
}

function bad(message: string): Result<never, FirewallError> {
  return err(firewallError(FirewallErrorCode.BadArgument, message));
}

function renderPorts(ranges: readonly PortRange[]): Result<string, FirewallError> {
  if (ranges.length === 0) return bad("a port match needs at least one port");
  const parts: string[] = [];
  for (const r of ranges) {
    if (
      !Number.isInteger(r.from) ||
      !Number.isInteger(r.to) ||
      r.from < 0 ||
      r.to > 65535 ||
      r.from > r.to
    ) {
      return bad(`port range ${r.from}-${r.to} is not within 0-65535`);
    }
    parts.push(r.from === r.to ? String(r.from) : `${r.from}-${r.to}`);
  }
  return ok(parts.length === 1 ? (parts[0] ?? "") : `{ ${parts.join(", ")} }`);
}

function renderAddresses(ranges: readonly AddressRange[]): Result<string, FirewallError> {
  const parts: string[] = [];
  for (const r of ranges) {
    const valid = r.family === 4 ? isIPv4 : isIPv6;
    if (!valid(r.from) || !valid(r.to)) {
      return bad(`address range ${r.from}-${r.to} is not IPv${r.family}`);
    }
    if (r.prefix !== undefined) {
      const max = r.family === 4 ? 32 : 128;
      if (!Number.isInteger(r.prefix) || r.prefix < 0 || r.prefix > max) {
        return bad(`prefix /${r.prefix} is not within 0-${max}`);
      }
      parts.push(r.prefix === max ? r.from : `${r.from}/${r.prefix}`);
    } else parts.push(r.from === r.to ? r.from : `${r.from}-${r.to}`);
  }
  if (parts.length === 0) return bad("an address match needs at least one address");
  return ok(parts.length === 1 ? (parts[0] ?? "") : `{ ${parts.join(", ")} }`);
}

function renderMatch(m: NftMatch): Result<string, FirewallError> {
  switch (m.kind) {
    case "ifname": {
      if (m.names.length === 0) return bad("an interface match needs at least one name");
      for (const n of m.names) {
        if (!IFNAME_RE.test(n)) {
          return bad(`interface name "${n}" is not 1-15 characters of [A-Za-z0-9_.-] (+ "*")`);
        }
      }
      const q = m.names.map((n) => `"${n}"`);
      const set = q.length === 1 ? (q[0] ?? "") : `{ ${q.join(", ")} }`;
      return ok(`${m.dir}name ${m.negate ? "!= " : ""}${set}`);
    }
    case "l4proto": {
      if (m.protocols.length === 0) return bad("an l4proto match needs at least one protocol");
      for (const p of m.protocols) {
        if (!Number.isInteger(p) || p < 0 || p > 255) return bad(`IP protocol ${p} is not 0-255`);
      }
      const set =
        m.protocols.length === 1 ? String(m.protocols[0]) : `{ ${m.protocols.join(", ")} }`;
      return ok(`meta l4proto ${set}`);
    }
    case "port": {
      const p = renderPorts(m.ranges);
      return p.ok ? ok(`${m.protocol} ${m.field} ${p.value}`) : p;
    }
    case "address": {
      const fam = m.ranges[0]?.family;
      if (fam === undefined) return bad("an address match needs at least one address");
      if (m.ranges.some((r) => r.family !== fam)) {
        return bad("one address match cannot mix IPv4 and IPv6; use two rules");
      }
      const a = renderAddresses(m.ranges);
      return a.ok ? ok(`${fam === 4 ? "ip" : "ip6"} ${m.field} ${a.value}`) : a;
    }
    case "icmp": {
      if (m.types.length === 0) return bad("an icmp match needs at least one type");
      for (const t of m.types) {
        if (!Number.isInteger(t) || t < 0 || t > 255) return bad(`ICMP type ${t} is not 0-255`);
      }
      const set = m.types.length === 1 ? String(m.types[0]) : `{ ${m.types.join(", ")} }`;
      return ok(`${m.version === 4 ? "icmp" : "icmpv6"} type ${set}`);
    }
    case "local":
      return ok(`fib ${m.field} type local`);
  }
}

export function renderRule(r: NftRule): Result<string, FirewallError> {
  const parts: string[] = [];
  for (const m of r.matches) {
    const t = renderMatch(m);
    if (!t.ok) return t;
    parts.push(t.value);
  }
  if (r.counter) parts.push("counter");
  parts.push(r.verdict);
  if (r.comment !== undefined) {
    if (!COMMENT_RE.test(r.comment) || r.comment.length > 100) {
      return bad(
        `rule comment ${JSON.stringify(r.comment)} has characters nft cannot quote; use safeComment()`,
      );
    }
    parts.push(`comment "${r.comment}"`);
  }
  return ok(parts.join(" "));
}

/** The `table inet NAME { ... }` block. */
export function renderTable(t: NftTableSpec): Result<string, FirewallError> {
  if (!NAME_RE.test(t.name)) return bad(`table name "${t.name}" is not [A-Za-z][A-Za-z0-9_-]*`);
  const lines = [`table ${t.family} ${t.name} {`];
  if (t.comment !== undefined) {
    if (!COMMENT_RE.test(t.comment) || t.comment.length > 100) {
      return bad("table comment has characters nft cannot quote; use safeComment()");
    }
    lines.push(`\tcomment "${t.comment}"`);
  }
  const seen = new Set<string>();
  for (const c of t.chains) {
    if (!NAME_RE.test(c.name)) return bad(`chain name "${c.name}" is not [A-Za-z][A-Za-z0-9_-]*`);
    if (seen.has(c.name)) return bad(`chain "${c.name}" appears twice`);
    seen.add(c.name);
    if (!Number.isInteger(c.priority) || Math.abs(c.priority) > 1000) {
      return bad(`chain priority ${c.priority} is not an integer within -1000..1000`);
    }
    lines.push("", `\tchain ${c.name} {`);
    lines.push(`\t\ttype filter hook ${c.hook} priority ${c.priority}; policy ${c.policy};`);
    for (const r of c.rules) {
      const t2 = renderRule(r);
      if (!t2.ok) return t2;
      lines.push(`\t\t${t2.value}`);
    }
    lines.push("\t}");
  }
  lines.push("}");
  return ok(`${lines.join("\n")}\n`);
}

/** The atomic whole-table replacement (see the file header). */
export function renderReplaceTransaction(t: NftTableSpec): Result<string, FirewallError> {
  const body = renderTable(t);
  if (!body.ok) return body;
  return ok(`add table ${t.family} ${t.name}\ndelete table ${t.family} ${t.name}\n${body.value}`);
}
