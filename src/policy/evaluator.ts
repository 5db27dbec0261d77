/**
 * The evaluator: turns the stored policies into the rule set the data path and IKE use
 * (persistent policies apply before any other; one assigned policy).
 *
 * Effective rule set = persistent policies (by persistentOrder, then name), then the assigned
 * policy (skipped if it is also persistent). Disabled rules are left out. References are
 * resolved (a rule's PSK names become the keys; CA names become PEM). Offers are filtered by
 * the settings: legacy algorithms (names.LEGACY) only with allowLegacyCrypto; modp2048 only
 * when NegotiateDH2048 is on (policy override, else settings). A negotiate rule left with no
 * offer stays in the set: it matches and its negotiation fails, so its traffic is never sent in
 * the clear (fail closed).
 *
 * Matching is first-match over the ordered rules and their filters (a deviation from Windows,
 * which orders by filter specificity: first-match is what an operator reads top to bottom).
 *
 * Objects written by a newer Oakley are evaluated on the fields this version knows; the
 * extensions ignored are listed in `warnings` so the daemon can log them and `status` show them.
 * A persistent or assigned policy that does not validate makes the whole evaluation fail with
 * OAK_E_POLICY_UNUSABLE (the daemon then blocks).
 */
import { err, ok, type Result } from "../base/result.js";
import {
  type AddressSpec,
  addressMatches,
  type DynamicResolver,
  type IpAddress,
  type PortSpec,
  parseAddressSpec,
  parsePortSpec,
  portMatches,
} from "./address.js";
import { type StoreError, StoreErrorCode, storeError } from "./errors.js";
import type {
  Filter,
  FilterAction,
  MainModeOffer,
  QuickModeOffer,
  Rule,
  Settings,
  Tunnel,
} from "./model.js";
import { MIN_PSK_LENGTH } from "./model.js";
import { IP_PROTOCOL, LEGACY } from "./names.js";
import type { PolicyStore, StoredPolicy } from "./store.js";

export type ResolvedAuth =
  | {
      readonly method: "psk";
      readonly name: string;
      readonly secret: string;
      readonly peerId?: { readonly type: string; readonly value: string };
    }
  | {
      readonly method: "certificate";
      /** The CA's name and PEM. */
      readonly name: string;
      readonly pem: string;
      /** Our certificate and its private key (secret), when the store has one. */
      readonly local?: {
        readonly name: string;
        readonly pem: string;
        readonly privateKey: string;
      };
    };

export interface CompiledFilter {
  readonly filter: Filter;
  readonly source: AddressSpec;
  readonly destination: AddressSpec;
  /** IP protocol number, or null for any. */
  readonly protocol: number | null;
  readonly sourcePort: PortSpec;
  readonly destinationPort: PortSpec;
}

export interface EffectiveRule {
  readonly policy: string;
  readonly source: "persistent" | "assigned";
  readonly rule: string;
  readonly filters: readonly CompiledFilter[];
  readonly action: FilterAction;
  readonly authentication: readonly ResolvedAuth[];
  readonly tunnel: Tunnel;
}

export interface EffectivePolicySet {
  readonly name: string;
  readonly source: "persistent" | "assigned";
  readonly mainModeOffers: readonly MainModeOffer[];
}

export interface EffectivePolicy {
  readonly settings: Settings;
  readonly policies: readonly EffectivePolicySet[];
  /** All enabled rules in evaluation order. */
  readonly rules: readonly EffectiveRule[];
  readonly warnings: readonly string[];
}

export interface PacketSelector {
  readonly source: IpAddress;
  readonly destination: IpAddress;
  readonly protocol: number;
  readonly sourcePort?: number;
  readonly destinationPort?: number;
}

function isLegacyMm(o: MainModeOffer): boolean {
  return (
    LEGACY.ikeEncryption.has(o.encryption) ||
    LEGACY.ikeHash.has(o.hash) ||
    LEGACY.dhGroup.has(o.dhGroup)
  );
}

function isLegacyQm(o: QuickModeOffer): boolean {
  return (
    LEGACY.espEncryption.has(o.encryption) ||
    LEGACY.espIntegrity.has(o.integrity) ||
    LEGACY.dhGroup.has(o.pfs)
  );
}

export function compileFilter(f: Filter): CompiledFilter {
  const a = parseAddressSpec(f.source);
  const b = parseAddressSpec(f.destination);
  const sp = parsePortSpec(f.sourcePort);
  const dp = parsePortSpec(f.destinationPort);
  if (!a.ok || !b.ok || sp === undefined || dp === undefined) {
    throw new Error("compileFilter: filter was not validated"); // a bug: values come from checkFilter
  }
  const protocol =
    f.protocol === "any"
      ? null
      : typeof f.protocol === "number"
        ? f.protocol
        : IP_PROTOCOL[f.protocol as keyof typeof IP_PROTOCOL];
  return {
    filter: f,
    source: a.value,
    destination: b.value,
    protocol,
    sourcePort: sp,
    destinationPort: dp,
  };
}

/** Computes the effective rule set from the store. */
export function effectivePolicy(store: PolicyStore): Result<EffectivePolicy, StoreError> {
  const s = store.settings();
  if (!s.ok) return s;
  const settings = s.value.value;
  if (!settings) {
    return err(
      storeError(
        StoreErrorCode.Unusable,
        `the settings do not validate: ${s.value.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      ),
    );
  }
  const persistent = store.persistent();
  if (!persistent.ok) return persistent;
  const assigned = store.assigned();
  if (!assigned.ok) return assigned;
  const psks = store.psks.list();
  if (!psks.ok) return psks;
  const certs = store.certificates.list();
  if (!certs.ok) return certs;
  const warnings: string[] = [];
  const sets: EffectivePolicySet[] = [];
  const rules: EffectiveRule[] = [];

  const ordered: [StoredPolicy, "persistent" | "assigned"][] = persistent.value.map((p) => [
    p,
    "persistent",
  ]);
  if (assigned.value && !assigned.value.persistent) ordered.push([assigned.value, "assigned"]);
  if (!assigned.value) warnings.push("no policy is assigned; only persistent policies apply");

  for (const [sp, source] of ordered) {
    const p = sp.value;
    if (!p) {
      const first = sp.issues[0];
      return err(
        storeError(
          StoreErrorCode.Unusable,
          `${source} policy '${sp.name}' cannot be used: ${first ? `${first.path}: ${first.message}` : "it does not validate"}`,
          { issues: sp.issues },
        ),
      );
    }
    if (Object.keys(sp.extensions).length > 0) {
      warnings.push(
        `policy '${sp.name}' has extensions this version ignores: ${Object.keys(sp.extensions).join(", ")}`,
      );
    }
    const dh2048 = p.mainMode.negotiateDh2048 ?? settings.negotiateDh2048;
    const mmOk = (o: MainModeOffer): boolean =>
      (settings.allowLegacyCrypto || !isLegacyMm(o)) && (dh2048 || o.dhGroup !== "modp2048");
    const mainModeOffers = p.mainMode.offers.filter(mmOk);
    if (mainModeOffers.length === 0) {
      warnings.push(
        `policy '${sp.name}': no main-mode offer is allowed by the settings (legacy crypto / NegotiateDH2048); no peer can connect`,
      );
    }
    sets.push({ name: sp.name, source, mainModeOffers });
    for (const r of p.rules) {
      if (!r.enabled) continue;
      rules.push(
        resolveRule(sp.name, source, r, settings, dh2048, psks.value, certs.value, warnings),
      );
    }
  }
  return ok({ settings, policies: sets, rules, warnings });
}

function resolveRule(
  policy: string,
  source: "persistent" | "assigned",
  r: Rule,
  settings: Settings,
  dh2048: boolean,
  psks: readonly {
    name: string;
    value: { secret: string; peerId?: { type: string; value: string } } | undefined;
  }[],
  certs: readonly {
    name: string;
    value: { pem: string; isCa: boolean; privateKey?: string } | undefined;
  }[],
  warnings: string[],
): EffectiveRule {
  let action = r.action;
  if (action.type === "negotiate") {
    const offers = action.offers.filter(
      (o) => (settings.allowLegacyCrypto || !isLegacyQm(o)) && (dh2048 || o.pfs !== "modp2048"),
    );
    if (offers.length === 0) {
      warnings.push(
        `policy '${policy}' rule '${r.name}': no quick-mode offer is allowed by the settings; its traffic is blocked`,
      );
    }
    action = { ...action, offers };
  }
  const authentication: ResolvedAuth[] = [];
  for (const a of r.authentication) {
    if (a.method === "psk") {
      const k = psks.find((x) => x.name === a.psk)?.value;
      // A key stored before the length rule (or allowed by settings) still works; say so.
      const weak = `pre-shared key '${a.psk}' is shorter than ${MIN_PSK_LENGTH} characters; replace it (e.g. \`openssl rand -base64 18\`)`;
      if (k && k.secret.length < MIN_PSK_LENGTH && !warnings.includes(weak)) warnings.push(weak);
      if (k)
        authentication.push({
          method: "psk",
          name: a.psk,
          secret: k.secret,
          ...(k.peerId ? { peerId: k.peerId } : {}),
        });
      else
        warnings.push(`policy '${policy}' rule '${r.name}': pre-shared key '${a.psk}' is unusable`);
    } else {
      const c = certs.find((x) => x.name === a.ca)?.value;
      // Ours: the one named, else the only non-CA certificate holding a private key.
      const mine = certs.filter((x) => x.value?.privateKey !== undefined && !x.value.isCa);
      const own =
        a.certificate !== undefined
          ? certs.find((x) => x.name === a.certificate)
          : mine.length === 1
            ? mine[0]
            : undefined;
      if (a.certificate === undefined && mine.length > 1)
        warnings.push(
          `policy '${policy}' rule '${r.name}': ${mine.length} certificates hold a private key; name ours with certificate: in the rule's authentication`,
        );
      const local =
        own?.value?.privateKey !== undefined
          ? { name: own.name, pem: own.value.pem, privateKey: own.value.privateKey }
          : undefined;
      if (c)
        authentication.push({
          method: "certificate",
          name: a.ca,
          pem: c.pem,
          ...(local ? { local } : {}),
        });
      else warnings.push(`policy '${policy}' rule '${r.name}': certificate '${a.ca}' is unusable`);
    }
  }
  return {
    policy,
    source,
    rule: r.name,
    filters: r.filters.map(compileFilter),
    action,
    authentication,
    tunnel: r.tunnel,
  };
}

function filterMatches(
  f: CompiledFilter,
  p: PacketSelector,
  resolver: DynamicResolver,
  reverse: boolean,
): boolean {
  const [src, dst, sp, dp] = reverse
    ? [p.destination, p.source, p.destinationPort, p.sourcePort]
    : [p.source, p.destination, p.sourcePort, p.destinationPort];
  if (f.protocol !== null && f.protocol !== p.protocol) return false;
  return (
    addressMatches(f.source, src, resolver) &&
    addressMatches(f.destination, dst, resolver) &&
    portMatches(f.sourcePort, sp) &&
    portMatches(f.destinationPort, dp)
  );
}

/** The first rule whose filter list matches the packet (mirrored filters also match the reverse direction). */
export function selectRule(
  eff: EffectivePolicy,
  p: PacketSelector,
  resolver: DynamicResolver,
): { rule: EffectiveRule; filter: CompiledFilter } | undefined {
  for (const rule of eff.rules) {
    for (const f of rule.filters) {
      if (
        filterMatches(f, p, resolver, false) ||
        (f.filter.mirrored && filterMatches(f, p, resolver, true))
      ) {
        return { rule, filter: f };
      }
    }
  }
  return undefined;
}
