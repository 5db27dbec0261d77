/**
 * What must never leave in the clear: the block set, derived from the assigned
 * policy (src/policy evaluator) or from the client's connection settings, saved as JSON next to
 * the status file at each successful start so that a later start with an unreadable store still
 * blocks what was protected.
 *
 * Mapping from the policy (first match, like the evaluator's selectRule):
 *   - rule action "negotiate" (without clear fallback) -> entry action "block"
 *   - rule action "block"                               -> "block"
 *   - rule action "permit", or negotiate with allowClearFallback -> "permit" (stays in order,
 *     so a permit above a negotiate rule keeps its meaning)
 *   - address "me" -> "me" (nft: fib ... type local); "any" -> any; subnets/ranges -> ranges;
 *     dynamic filters (dns, dhcp, wins, default-gateway) -> the resolver's current addresses,
 *     or "any" when it has none (blocking more is the safe side when the address is unknown)
 * Client (`oakley connect`): L2TP UDP 1701 to the server (mirrored), each routed subnet, and with
 * a default route through the VPN everything ("any" -> "any"); the IKE/ESP/tunnel exemptions
 * (rules.ts) keep the tunnel itself working.
 *
 * Default when nothing was ever saved: L2TP (UDP 1701 from/to this host) — the traffic of the
 * Windows L2TP/IPsec service.
 */
import { err, ok, type Result } from "../../base/result.js";
import type { AddressRange, PortRange } from "../../platform/firewall/index.js";
import {
  type AddressSpec,
  type DynamicResolver,
  type EffectivePolicy,
  formatIp,
  type IpAddress,
  parseAddressSpec,
} from "../../policy/index.js";
import { type FailClosedError, FailClosedErrorCode, failClosedError } from "./errors.js";

export type AddressSelector =
  | { readonly kind: "any" }
  | { readonly kind: "me" }
  | { readonly kind: "ranges"; readonly ranges: readonly AddressRange[] };

export interface TrafficSelector {
  readonly source: AddressSelector;
  readonly destination: AddressSelector;
  /** IP protocol number, or null for any. */
  readonly protocol: number | null;
  /** Only with protocol 6 or 17. */
  readonly sourcePort: PortRange | null;
  readonly destinationPort: PortRange | null;
  /** Also the reverse direction (destination -> source). */
  readonly mirrored: boolean;
}

export interface BlockEntry {
  readonly action: "block" | "permit";
  /** Where it came from, for comments and status ("policy l2tp-ipsec-server rule l2tp"). */
  readonly description: string;
  readonly selector: TrafficSelector;
}

/**
 * Whom the IKE (UDP 500/4500) and ESP exemptions are for: packets to or from these addresses.
 * "me" = this host's own addresses (`fib ... type local`): what a server listening on 0.0.0.0
 * needs, since any client may start IKE with it; also the reading of a set saved without peers.
 * Never "any": an exemption by port alone lets a local process send anything to UDP 500 of any
 * host in the clear.
 */
export type IkePeers =
  | { readonly kind: "me" }
  | { readonly kind: "ranges"; readonly ranges: readonly AddressRange[] };

export interface BlockSet {
  readonly version: 1;
  /** "policy <names>", "client <server>", "default" — shown in status. */
  readonly origin: string;
  readonly entries: readonly BlockEntry[];
  /** The IKE/ESP peers (absent: "me"). */
  readonly ikePeers?: IkePeers;
}

export type Role =
  | {
      readonly role: "server";
      /** The IKE listen address; absent or 0.0.0.0 / :: -> the exemption is this host's addresses. */
      readonly listen?: string;
    }
  | {
      readonly role: "client";
      /** The VPN server's address (IKE/ESP to it stay reachable through the exemptions). */
      readonly server: string;
      /** A default route through the VPN: protect everything. */
      readonly defaultRoute: boolean;
      /** Subnets routed into the VPN ("203.0.113.0/24"). */
      readonly routes: readonly string[];
    };

const L2TP_PORT = 1701;
const UDP = 17;
const ANY: AddressSelector = { kind: "any" };
const ME: AddressSelector = { kind: "me" };

/** The conservative default: L2TP UDP 1701 from/to this host, in either direction. */
export const DEFAULT_BLOCK_SET: BlockSet = {
  version: 1,
  origin: "default (L2TP UDP 1701; no saved block set)",
  ikePeers: { kind: "me" },
  entries: [
    {
      action: "block",
      description: "default L2TP UDP 1701 from this host",
      selector: {
        source: ME,
        destination: ANY,
        protocol: UDP,
        sourcePort: { from: L2TP_PORT, to: L2TP_PORT },
        destinationPort: null,
        mirrored: true,
      },
    },
    {
      action: "block",
      description: "default L2TP UDP 1701 to any host",
      selector: {
        source: ME,
        destination: ANY,
        protocol: UDP,
        sourcePort: null,
        destinationPort: { from: L2TP_PORT, to: L2TP_PORT },
        mirrored: true,
      },
    },
  ],
};

function rangeOf(from: IpAddress, to: IpAddress): AddressRange {
  const bits = from.family === 4 ? 32 : 128;
  const size = to.value - from.value + 1n;
  let prefix: number | undefined;
  if (size > 0n && (size & (size - 1n)) === 0n && (from.value & (size - 1n)) === 0n) {
    prefix = bits - (size.toString(2).length - 1);
  }
  const r = { family: from.family, from: formatIp(from), to: formatIp(to) };
  return prefix === undefined ? r : { ...r, prefix };
}

function selectorOf(a: AddressSpec, resolver: DynamicResolver | undefined): AddressSelector {
  switch (a.kind) {
    case "any":
      return ANY;
    case "me":
      return ME;
    case "range":
      return { kind: "ranges", ranges: [rangeOf(a.from, a.to)] };
    case "dynamic": {
      const now = resolver?.dynamic(a.which) ?? [];
      return now.length === 0 ? ANY : { kind: "ranges", ranges: now.map((x) => rangeOf(x, x)) };
    }
  }
}

function addressOf(text: string): AddressSelector | undefined {
  const a = parseAddressSpec(text);
  return a.ok ? selectorOf(a.value, undefined) : undefined;
}

/**
 * The block set of an effective policy, for a server or a client. `resolver` resolves dynamic
 * filters now (omit it to treat them as "any"). Returns an error only for unusable client
 * settings (a server or route that is not an address).
 */
export function blockSetFromPolicy(
  eff: EffectivePolicy | null,
  role: Role,
  resolver?: DynamicResolver,
): Result<BlockSet, FailClosedError> {
  const entries: BlockEntry[] = [];
  const origins: string[] = [];
  if (eff) {
    origins.push(`policy ${eff.policies.map((p) => p.name).join(", ") || "(none)"}`);
    for (const r of eff.rules) {
      const action =
        r.action.type === "permit" || (r.action.type === "negotiate" && r.action.allowClearFallback)
          ? "permit"
          : "block";
      r.filters.forEach((f, i) => {
        entries.push({
          action,
          description: `policy ${r.policy} rule ${r.rule} filter ${i + 1}`,
          selector: {
            source: selectorOf(f.source, resolver),
            destination: selectorOf(f.destination, resolver),
            protocol: f.protocol,
            sourcePort: f.sourcePort,
            destinationPort: f.destinationPort,
            mirrored: f.filter.mirrored,
          },
        });
      });
    }
  }
  if (role.role === "client") {
    const server = addressOf(role.server);
    if (server?.kind !== "ranges") {
      return err(
        failClosedError(
          FailClosedErrorCode.BlockSetCorrupt,
          `client server "${role.server}" is not an IP address; resolve the name before computing the block set`,
        ),
      );
    }
    origins.push(`client of ${role.server}`);
    entries.push({
      action: "block",
      description: `client L2TP UDP 1701 to ${role.server}`,
      selector: {
        source: ME,
        destination: server,
        protocol: UDP,
        sourcePort: null,
        destinationPort: { from: L2TP_PORT, to: L2TP_PORT },
        mirrored: true,
      },
    });
    for (const route of role.routes) {
      const dst = addressOf(route);
      if (dst?.kind !== "ranges") {
        return err(
          failClosedError(
            FailClosedErrorCode.BlockSetCorrupt,
            `client route "${route}" is not a subnet (write 203.0.113.0/24)`,
          ),
        );
      }
      entries.push({
        action: "block",
        description: `client route ${route} through the VPN`,
        selector: {
          source: ANY,
          destination: dst,
          protocol: null,
          sourcePort: null,
          destinationPort: null,
          mirrored: true,
        },
      });
    }
    if (role.defaultRoute) {
      entries.push({
        action: "block",
        description: "client default route through the VPN: everything",
        selector: {
          source: ANY,
          destination: ANY,
          protocol: null,
          sourcePort: null,
          destinationPort: null,
          mirrored: true,
        },
      });
    }
  }
  const ikePeers = peersOf(role);
  if (!ikePeers.ok) return ikePeers;
  if (entries.length === 0) return ok({ ...DEFAULT_BLOCK_SET, ikePeers: ikePeers.value });
  return ok({ version: 1, origin: origins.join("; "), entries, ikePeers: ikePeers.value });
}

/** Client: the server (already checked to be an address); server: its listen address or "me". */
function peersOf(role: Role): Result<IkePeers, FailClosedError> {
  const text = role.role === "client" ? role.server : role.listen;
  if (text === undefined || text === "0.0.0.0" || text === "::") return ok({ kind: "me" });
  const a = addressOf(text);
  if (a?.kind !== "ranges") {
    return err(
      failClosedError(
        FailClosedErrorCode.BlockSetCorrupt,
        `listen address "${text}" is not an IP address; write e.g. 0.0.0.0 or 198.51.100.2`,
      ),
    );
  }
  return ok(a);
}

// --- JSON (the saved block set) ------------------------------------------------------------

const MAX_ENTRIES = 4096;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(message: string): Result<never, FailClosedError> {
  return err(failClosedError(FailClosedErrorCode.BlockSetCorrupt, `saved block set: ${message}`));
}

function parsePortRange(v: unknown): PortRange | null | undefined {
  if (v === null) return null;
  if (!isObj(v)) return undefined;
  const { from, to } = v;
  if (typeof from !== "number" || typeof to !== "number") return undefined;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > 65535 || from > to) {
    return undefined;
  }
  return { from, to };
}

function parseAddressSelector(v: unknown): AddressSelector | undefined {
  if (!isObj(v)) return undefined;
  if (v.kind === "any") return ANY;
  if (v.kind === "me") return ME;
  if (v.kind !== "ranges" || !Array.isArray(v.ranges)) return undefined;
  if (v.ranges.length === 0 || v.ranges.length > MAX_ENTRIES) return undefined;
  const ranges: AddressRange[] = [];
  for (const r of v.ranges as unknown[]) {
    if (!isObj(r) || (r.family !== 4 && r.family !== 6)) return undefined;
    if (typeof r.from !== "string" || typeof r.to !== "string") return undefined;
    const a = parseAddressSpec(r.from);
    const b = parseAddressSpec(r.to);
    if (!a.ok || !b.ok || a.value.kind !== "range" || b.value.kind !== "range") return undefined;
    if (a.value.from.family !== r.family || b.value.from.family !== r.family) return undefined;
    if (a.value.from.value > b.value.from.value) return undefined;
    const base = rangeOf(a.value.from, b.value.from);
    if (r.prefix !== undefined && r.prefix !== base.prefix) return undefined;
    ranges.push(base);
  }
  return { kind: "ranges", ranges };
}

/** Reads a saved block set (JSON text); every field is checked. */
export function parseBlockSet(text: string): Result<BlockSet, FailClosedError> {
  if (text.length > 4 << 20) return bad("larger than 4 MiB");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return bad("not JSON");
  }
  if (!isObj(doc) || doc.version !== 1) return bad("not a version-1 block set");
  if (typeof doc.origin !== "string" || doc.origin.length > 1000) return bad("no origin");
  if (!Array.isArray(doc.entries) || doc.entries.length > MAX_ENTRIES) return bad("no entries");
  const entries: BlockEntry[] = [];
  for (const [i, e] of (doc.entries as unknown[]).entries()) {
    if (!isObj(e) || (e.action !== "block" && e.action !== "permit")) {
      return bad(`entry ${i}: no action`);
    }
    if (typeof e.description !== "string" || e.description.length > 1000) {
      return bad(`entry ${i}: no description`);
    }
    const s = e.selector;
    if (!isObj(s)) return bad(`entry ${i}: no selector`);
    const source = parseAddressSelector(s.source);
    const destination = parseAddressSelector(s.destination);
    const sourcePort = parsePortRange(s.sourcePort);
    const destinationPort = parsePortRange(s.destinationPort);
    const protocol = s.protocol;
    if (
      !source ||
      !destination ||
      sourcePort === undefined ||
      destinationPort === undefined ||
      typeof s.mirrored !== "boolean" ||
      !(
        protocol === null ||
        (typeof protocol === "number" &&
          Number.isInteger(protocol) &&
          protocol >= 0 &&
          protocol <= 255)
      )
    ) {
      return bad(`entry ${i}: selector does not validate`);
    }
    if ((sourcePort || destinationPort) && protocol !== 6 && protocol !== 17) {
      return bad(`entry ${i}: ports without tcp/udp`);
    }
    entries.push({
      action: e.action,
      description: e.description,
      selector: {
        source,
        destination,
        protocol,
        sourcePort,
        destinationPort,
        mirrored: s.mirrored,
      },
    });
  }
  let ikePeers: IkePeers | undefined;
  if (doc.ikePeers !== undefined) {
    const p = parseAddressSelector(doc.ikePeers);
    if (p?.kind !== "me" && p?.kind !== "ranges") return bad("ikePeers is not me or ranges");
    ikePeers = p;
  }
  return ok({ version: 1, origin: doc.origin, entries, ...(ikePeers ? { ikePeers } : {}) });
}

export function serializeBlockSet(b: BlockSet): string {
  return `${JSON.stringify(b, null, 2)}\n`;
}
