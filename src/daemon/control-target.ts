/**
 * The daemon's side of the management protocol (src/control ControlTarget): live SAs of both
 * phases from the IKE engine and the ESP data plane, with algorithm names from the registry
 * (never raw numbers such as 268435457), NAT-T state, addresses before and
 * after NAT, per-SA traffic; SA deletion with Delete payloads to the peer; log levels at
 * runtime; counters for Prometheus; and policy/users operations on the daemon's own store
 * connection, so that changes take effect live.
 */
import { err, ok, type Result } from "../base/result.js";
import {
  type ChildSaRecord,
  type ControlError,
  ControlErrorCode,
  type ControlTarget,
  childSaId,
  controlError,
  type DaemonStatus,
  type DeletedSa,
  encapsulationName,
  espAlgorithmNames,
  type IkeSaRecord,
  ikeAlgorithmNames,
  ikeSaId,
  type PortState,
  type SaList,
  StorePolicyOps,
} from "../control/index.js";
import { selectorText } from "../ike/index.js";
import { phase1SuiteToAttributes, phase2SuiteToTransform } from "../ike/suites.js";
import type { Counters } from "../obs/counters.js";
import type { LogHub } from "../obs/log.js";
import type { PolicyStore } from "../policy/index.js";
import type { L2tpOverIpsec } from "../l2tp-ipsec/index.js";
import type { FailureRing } from "./failure-ring.js";
import type { IpsecNode } from "./ipsec-node.js";

export interface TargetState {
  readonly software: string;
  readonly role: "server" | "client";
  readonly startedAt: number;
  readonly storePath?: string;
  readonly listen: string;
  readonly warnings: string[];
  mode: DaemonStatus["mode"];
  blockReason?: string;
  /** FIPS mode and what backs it ("provider active - ...", "policy only - ...", "off"). */
  readonly fips?: NonNullable<DaemonStatus["fips"]>;
}

export interface DaemonTargetDeps {
  readonly node: IpsecNode;
  readonly logs: LogHub;
  readonly counters: Counters;
  readonly wallNow: () => number;
  readonly now: () => number;
  readonly state: TargetState;
  readonly store?: PolicyStore;
  /** The L2TP-over-IPsec component, for its tunnel, session and address counts. */
  readonly l2tp?: L2tpOverIpsec;
  /** RADIUS servers' reachability and the accounting queue, when configured. */
  readonly radius?: () => NonNullable<DaemonStatus["radius"]>;
  /** The server's recent failures (diagnostics.ts); absent on the client. */
  readonly failures?: FailureRing;
}

function attr(
  attrs: readonly { type: number; value: number | Uint8Array }[],
  type: number,
): number | undefined {
  const a = attrs.find((x) => x.type === type);
  return a === undefined
    ? undefined
    : typeof a.value === "number"
      ? a.value
      : Buffer.from(a.value).readUIntBE(0, a.value.length);
}

export function daemonTarget(d: DaemonTargetDeps): ControlTarget {
  const { node } = d;
  const iso = (monotonic: number) => new Date(d.wallNow() - (d.now() - monotonic)).toISOString();

  const listSas = (): SaList => {
    const engine = node.engine;
    const ike: IkeSaRecord[] = [];
    for (const sa of engine.sas.values()) {
      const s = sa.suite;
      const attrs = s ? phase1SuiteToAttributes(s) : [];
      const natt = sa.vids.natt;
      ike.push({
        id: ikeSaId(sa.ckyIB, sa.ckyRB),
        phase: "main-mode",
        role: sa.role,
        state: sa.establishedAt !== undefined ? "established" : "negotiating",
        addresses: {
          local: sa.local,
          remote: sa.peer,
          ...(sa.peerIdText && sa.peerIdText !== sa.peer.address
            ? { remoteBeforeNat: { address: sa.peerIdText } }
            : {}),
        },
        natt: {
          variant: natt,
          behindNat: sa.nat.localBehindNat
            ? sa.nat.peerBehindNat
              ? "both"
              : "local"
            : sa.nat.peerBehindNat
              ? "remote"
              : "none",
          floated: sa.local.port !== 500,
          udpEncapsulation: sa.nat.anyNat,
        },
        algorithms: s
          ? ikeAlgorithmNames({
              encryption: attr(attrs, 1) ?? 0,
              ...(attr(attrs, 14) !== undefined ? { keyLength: attr(attrs, 14)! } : {}),
              hash: attr(attrs, 2) ?? 0,
              group: attr(attrs, 4) ?? 0,
              authMethod: attr(attrs, 3) ?? 0,
            })
          : {
              encryption: "(negotiating)",
              hash: "(negotiating)",
              dhGroup: "(negotiating)",
              authentication: "(negotiating)",
            },
        peerId: sa.peerIdText,
        createdAt: iso(sa.createdAt),
        ...(sa.expiresAt !== undefined ? { expiresAt: iso(sa.expiresAt) } : {}),
        traffic: { bytesIn: 0n, bytesOut: 0n, packetsIn: 0n, packetsOut: 0n },
      });
    }
    // ESP counters by the node's records (SA handles), not by SPI: outbound SPIs are the
    // peers' choice, and two peers may have chosen the same one.
    const records = new Map(node.childList().map((r) => [r.childId, r]));
    const child: ChildSaRecord[] = [];
    for (const c of engine.children.values()) {
      const sa = engine.sas.get(c.ikeSaId);
      const method =
        sa?.vids.natt === "none" || !sa?.nat.anyNat
          ? "none"
          : sa.vids.natt.startsWith("rfc")
            ? "rfc3947"
            : "draft";
      const t = phase2SuiteToTransform(c.suite, method as "none" | "rfc3947" | "draft");
      const rec = records.get(c.id);
      const inn = rec === undefined ? undefined : node.dp.info(rec.inSa)?.stats;
      const out = rec === undefined ? undefined : node.dp.info(rec.outSa)?.stats;
      const pfs = attr(t.attributes, 3);
      const auth = attr(t.attributes, 5);
      const keyLength = attr(t.attributes, 6);
      child.push({
        id: childSaId(c.inboundSpi),
        phase: "quick-mode",
        ...(sa ? { ikeSa: ikeSaId(sa.ckyIB, sa.ckyRB) } : {}),
        state: "established",
        spiIn: `0x${(c.inboundSpi >>> 0).toString(16).padStart(8, "0")}`,
        spiOut: `0x${(c.outboundSpi >>> 0).toString(16).padStart(8, "0")}`,
        protocol: "ESP",
        encapsulation: encapsulationName(attr(t.attributes, 4) ?? 1),
        addresses: {
          local: { address: sa?.local.address ?? "", port: sa?.local.port ?? 0 },
          remote: sa?.peer ?? { address: "", port: 0 },
          ...(rec?.peerOriginal ? { remoteBeforeNat: { address: rec.peerOriginal } } : {}),
        },
        natt: {
          variant: sa?.vids.natt ?? "none",
          behindNat: !sa
            ? "none"
            : sa.nat.localBehindNat
              ? sa.nat.peerBehindNat
                ? "both"
                : "local"
              : sa.nat.peerBehindNat
                ? "remote"
                : "none",
          floated: (sa?.local.port ?? 500) !== 500,
          udpEncapsulation: method !== "none",
        },
        algorithms: espAlgorithmNames({
          transformId: t.transformId,
          ...(keyLength !== undefined ? { keyLength } : {}),
          ...(auth !== undefined ? { authAlgorithm: auth } : {}),
          ...(pfs !== undefined ? { pfsGroup: pfs } : {}),
        }),
        localSelector: selectorText(c.selectors.local),
        remoteSelector: selectorText(c.selectors.remote),
        createdAt: iso(c.installedAt),
        expiresAt: iso(c.hardAt),
        ...(c.suite.lifeKilobytes > 0 ? { lifetimeKilobytes: c.suite.lifeKilobytes } : {}),
        traffic: {
          bytesIn: BigInt(inn?.bytes ?? 0),
          bytesOut: BigInt(out?.bytes ?? 0),
          packetsIn: BigInt(inn?.packets ?? 0),
          packetsOut: BigInt(out?.packets ?? 0),
        },
        drops: BigInt(inn?.drops ?? 0),
      });
    }
    return { ike, child };
  };

  const ports = (): PortState[] => {
    const blocked = d.state.mode === "block";
    const state = blocked ? ("blocked" as const) : ("listening" as const);
    return [
      { name: "IKE", what: "udp 500", state, detail: d.state.listen },
      { name: "NAT-T", what: "udp 4500", state, detail: d.state.listen },
      { name: "ESP", what: "ip proto 50", state },
    ];
  };

  const target: ControlTarget = {
    status(): DaemonStatus {
      const sas = listSas();
      let assigned: string | undefined;
      const persistent: string[] = [];
      if (d.store) {
        const a = d.store.assigned();
        if (a.ok && a.value) assigned = a.value.name;
        const p = d.store.persistent();
        if (p.ok) for (const x of p.value) persistent.push(x.name);
      }
      return {
        software: d.state.software,
        role: d.state.role,
        mode: d.state.mode,
        ...(d.state.blockReason ? { blockReason: d.state.blockReason } : {}),
        startedAt: new Date(d.state.startedAt).toISOString(),
        ...(d.state.storePath ? { store: d.state.storePath } : {}),
        ...(assigned ? { assignedPolicy: assigned } : {}),
        persistentPolicies: persistent,
        ports: ports(),
        ikeSas: sas.ike.length,
        childSas: sas.child.length,
        ...(d.l2tp
          ? {
              l2tpTunnels: d.l2tp.tunnelCount(),
              pppSessions: d.l2tp.list().length,
              addressesInUse: d.l2tp.poolInUse(),
            }
          : {}),
        ...(d.state.fips ? { fips: d.state.fips } : {}),
        ...(d.radius ? { radius: d.radius() } : {}),
        memory: processMemory(),
        warnings: d.state.warnings,
      };
    },
    listSas,
    deleteSa(id: string): Result<DeletedSa, ControlError> {
      const engine = node.engine;
      if (id.startsWith("mm-")) {
        for (const sa of engine.sas.values()) {
          if (ikeSaId(sa.ckyIB, sa.ckyRB) !== id) continue;
          const children = [...sa.children]
            .map((cid) => engine.children.get(cid))
            .filter((c) => c !== undefined);
          node.deleteIkeSa(sa.id);
          return ok({
            id,
            phase: "main-mode",
            alsoDeleted: children.map((c) => childSaId(c.inboundSpi)),
          });
        }
      } else if (id.startsWith("qm-")) {
        for (const c of engine.children.values()) {
          if (childSaId(c.inboundSpi) !== id) continue;
          node.deleteChildSa(c.id);
          return ok({ id, phase: "quick-mode", alsoDeleted: [] });
        }
      }
      return err(controlError(ControlErrorCode.NotFound, `no SA ${id}; see \`oakley sa list\``));
    },
    setLogLevel(group, level) {
      d.logs.setLevel(group, level);
    },
    logLevels: () => d.logs.levelsSnapshot(),
    metrics: () => ({ counters: d.counters.snapshot() }),
    ...(d.store ? { policy: new StorePolicyOps(d.store) } : {}),
    ...(d.failures ? { failures: (q: { peer?: string }) => d.failures!.report(q) } : {}),
  };
  return target;
}

/** What the daemon process holds now (`oakley status`: is it growing?). */
function processMemory(): NonNullable<DaemonStatus["memory"]> {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external };
}
