/**
 * A ControlTarget with realistic, mutable in-memory state: for the control, CLI and monitor tests
 * until the daemon (src/daemon) implements ControlTarget, and for `oakley monitor --demo`.
 * Not a mock of the protocol: the real ControlServer/ControlClient run against it.
 *
 * The SAs are built the way the daemon must build them: algorithm names from the negotiated
 * numbers through names.ts (src/registry), including the Windows DH_GROUP_2048 constant
 * 0x10000001 = 268435457 that the Windows IP Security Monitor showed raw.
 */
import { err, ok, type Result } from "../base/result.js";
import { Counters } from "../obs/counters.js";
import { LOG_GROUPS, type LogGroup, type LogLevel } from "../obs/log.js";
import { type ControlError, ControlErrorCode, controlError } from "./errors.js";
import {
  childSaId,
  encapsulationName,
  espAlgorithmNames,
  ikeAlgorithmNames,
  ikeSaId,
  spiText,
} from "./names.js";
import type {
  ChildSaRecord,
  ControlTarget,
  DaemonStatus,
  DeletedSa,
  FailureReport,
  IkeSaRecord,
  MetricsSnapshot,
  PolicyOps,
  SaList,
  TrafficCounters,
} from "./types.js";

const T0 = Date.parse("2026-03-01T10:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const traffic = (bi: bigint, bo: bigint, pi: bigint, po: bigint): TrafficCounters => ({
  bytesIn: bi,
  bytesOut: bo,
  packetsIn: pi,
  packetsOut: po,
});

export interface FakeTargetOptions {
  /** Shown in status.software and distinguishes daemons in the monitor tests. */
  readonly software?: string;
  /** Public address of this fake server (default 203.0.113.10). */
  readonly serverAddress?: string;
  readonly policy?: PolicyOps;
  readonly mode?: DaemonStatus["mode"];
  readonly blockReason?: string;
}

export class FakeControlTarget implements ControlTarget {
  readonly counters = new Counters();
  readonly levels = new Map<LogGroup, LogLevel>(LOG_GROUPS.map((g) => [g, "info"]));
  ike: IkeSaRecord[];
  child: ChildSaRecord[];
  readonly policy?: PolicyOps;
  private readonly software: string;
  mode: DaemonStatus["mode"];
  blockReason: string | undefined;

  constructor(opts: FakeTargetOptions = {}) {
    const server = opts.serverAddress ?? "203.0.113.10";
    this.software = opts.software ?? "oakley 0.1.0";
    this.mode = opts.mode ?? "protected";
    this.blockReason = opts.blockReason;
    if (opts.policy) this.policy = opts.policy;
    // Client 1: Windows behind a home NAT (RFC 3947), DH from the Windows policy constant.
    const mm1 = ikeSaId("8d2f6a0c11e0b5a7", "3b9e0d4c77a1f268");
    // Client 2: an older client behind the SAME NAT, draft-02 NAT-T, ECP-256.
    const mm2 = ikeSaId("c0ffee0011223344", "5566778899aabbcc");
    // Client 3: no NAT, plain ESP.
    const mm3 = ikeSaId("0123456789abcdef", "fedcba9876543210");
    const natted = (variant: string) => ({
      variant,
      behindNat: "remote" as const,
      floated: true,
      udpEncapsulation: true,
      keepaliveSeconds: 20,
    });
    this.ike = [
      {
        id: mm1,
        phase: "main-mode",
        role: "responder",
        state: "established",
        addresses: {
          local: { address: server, port: 4500 },
          remote: { address: "198.51.100.7", port: 4500 },
          remoteBeforeNat: { address: "192.168.1.20", port: 500 },
        },
        natt: natted("rfc3947"),
        algorithms: ikeAlgorithmNames({
          encryption: 7,
          keyLength: 256,
          hash: 2,
          group: 0x10000001,
          authMethod: 1,
        }),
        peerId: "ID_IPV4_ADDR 192.168.1.20",
        createdAt: iso(T0),
        expiresAt: iso(T0 + 28_800_000),
        traffic: traffic(4_212n, 3_980n, 9n, 9n),
      },
      {
        id: mm2,
        phase: "main-mode",
        role: "responder",
        state: "established",
        addresses: {
          local: { address: server, port: 4500 },
          remote: { address: "198.51.100.7", port: 61022 },
          remoteBeforeNat: { address: "192.168.1.31" },
        },
        natt: natted("draft-ietf-ipsec-nat-t-ike-02\\n"),
        algorithms: ikeAlgorithmNames({
          encryption: 7,
          keyLength: 128,
          hash: 4,
          group: 19,
          authMethod: 1,
        }),
        createdAt: iso(T0 + 60_000),
        expiresAt: iso(T0 + 60_000 + 28_800_000),
        traffic: traffic(3_100n, 2_900n, 7n, 7n),
      },
      {
        id: mm3,
        phase: "main-mode",
        role: "responder",
        state: "established",
        addresses: {
          local: { address: server, port: 500 },
          remote: { address: "192.0.2.44", port: 500 },
        },
        natt: { variant: "rfc3947", behindNat: "none", floated: false, udpEncapsulation: false },
        algorithms: ikeAlgorithmNames({ encryption: 5, hash: 2, group: 2, authMethod: 1 }),
        createdAt: iso(T0 + 120_000),
        expiresAt: iso(T0 + 120_000 + 28_800_000),
        traffic: traffic(2_000n, 1_900n, 6n, 6n),
      },
    ];
    const mk = (
      parent: IkeSaRecord,
      spiIn: number,
      spiOut: number,
      mode: number,
      alg: Parameters<typeof espAlgorithmNames>[0],
      t: TrafficCounters,
    ): ChildSaRecord => ({
      id: childSaId(spiIn),
      phase: "quick-mode",
      ikeSa: parent.id,
      state: "established",
      spiIn: spiText(spiIn),
      spiOut: spiText(spiOut),
      protocol: "ESP",
      encapsulation: encapsulationName(mode),
      addresses: parent.addresses,
      natt: parent.natt,
      algorithms: espAlgorithmNames(alg),
      localSelector: `${server}/32 udp 1701`,
      remoteSelector: `${parent.addresses.remoteBeforeNat?.address ?? parent.addresses.remote.address}/32 udp 1701`,
      createdAt: parent.createdAt,
      expiresAt: iso(Date.parse(parent.createdAt) + 3_600_000),
      lifetimeKilobytes: 250_000,
      traffic: t,
      drops: 0n,
    });
    const [a, b, c] = this.ike as [IkeSaRecord, IkeSaRecord, IkeSaRecord];
    this.child = [
      mk(
        a,
        0xc1a0_0001,
        0x5e1d_0001,
        4,
        { transformId: 12, keyLength: 256, authAlgorithm: 2, pfsGroup: 0x10000001 },
        traffic(1_048_576n, 524_288n, 900n, 700n),
      ),
      mk(
        b,
        0xc1a0_0002,
        0x5e1d_0002,
        61444,
        { transformId: 20, keyLength: 128 },
        traffic(65_536n, 32_768n, 80n, 60n),
      ),
      mk(
        c,
        0xc1a0_0003,
        0x5e1d_0003,
        2,
        { transformId: 3, authAlgorithm: 1 },
        traffic(10_000n, 9_000n, 20n, 18n),
      ),
    ];
    this.counters.inc("ike_sa_established", 3n);
    this.counters.inc("ike_child_installed", 3n);
    this.counters.incLabeled("ike_fail", "reason", "no-proposal-chosen", 2n);
    this.counters.incLabeled("ike_fail", "reason", "authentication-failed", 1n);
    this.counters.incLabeled("ike_drop", "reason", "malformed", 4n);
    this.counters.incLabeled("esp_rx_drop", "reason", "replay", 1n);
  }

  status(): DaemonStatus {
    return {
      software: this.software,
      role: "server",
      mode: this.mode,
      ...(this.blockReason !== undefined ? { blockReason: this.blockReason } : {}),
      startedAt: iso(T0 - 5_000),
      persistentPolicies: [],
      assignedPolicy: "l2tp-ipsec-server",
      ports: [
        { name: "IKE", what: "udp 500", state: this.mode === "block" ? "blocked" : "listening" },
        { name: "NAT-T", what: "udp 4500", state: this.mode === "block" ? "blocked" : "listening" },
        { name: "ESP", what: "ip proto 50", state: "listening" },
      ],
      ikeSas: this.ike.length,
      childSas: this.child.length,
      warnings: [],
    };
  }

  listSas(): SaList {
    return { ike: [...this.ike], child: [...this.child] };
  }

  deleteSa(id: string): Result<DeletedSa, ControlError> {
    if (id.startsWith("mm-")) {
      const i = this.ike.findIndex((s) => s.id === id);
      if (i >= 0) {
        this.ike.splice(i, 1);
        const gone = this.child.filter((c) => c.ikeSa === id).map((c) => c.id);
        this.child = this.child.filter((c) => c.ikeSa !== id);
        return ok({ id, phase: "main-mode", alsoDeleted: gone });
      }
    } else {
      const i = this.child.findIndex((s) => s.id === id);
      if (i >= 0) {
        this.child.splice(i, 1);
        return ok({ id, phase: "quick-mode", alsoDeleted: [] });
      }
    }
    return err(
      controlError(
        ControlErrorCode.NotFound,
        `there is no SA '${id}'; 'oakley sa list' shows the ids`,
      ),
    );
  }

  setLogLevel(group: LogGroup, level: LogLevel): void {
    this.levels.set(group, level);
  }

  logLevels(): Record<LogGroup, LogLevel> {
    return Object.fromEntries(this.levels) as Record<LogGroup, LogLevel>;
  }

  metrics(): MetricsSnapshot {
    return { counters: this.counters.snapshot() };
  }

  /**
   * Recent failures as the daemon records them: an Android ≤ 11 phone offering only MODP-1024
   * (retrying), and a Windows client with a wrong pre-shared key.
   */
  failureReport: FailureReport = {
    peers: [
      {
        address: "198.51.100.23",
        failures: [
          {
            at: iso(T0 + 95_000),
            firstAt: iso(T0 + 90_000),
            count: 3,
            peer: { address: "198.51.100.23", port: 500 },
            step: "phase1",
            code: "OAK_E_IKE_NO_PROPOSAL_CHOSEN",
            reason:
              "no acceptable phase-1 proposal from 198.51.100.23:500 (offered: aes-cbc-256/sha1/2, 3des-cbc-192/sha1/2)",
            offered: [
              "AES-CBC-256/SHA/MODP-1024 (group 2)/pre-shared key",
              "3DES-CBC/SHA/MODP-1024 (group 2)/pre-shared key",
            ],
            vendorIds: [
              "RFC 3947",
              "draft-ietf-ipsec-nat-t-ike-02\\n",
              "FRAGMENTATION +80000000",
              "RFC 3706 DPD",
            ],
            client: "the racoon family (ipsec-tools: Android ≤ 11, macOS, iOS)",
            explanation:
              "offered only MODP-1024 (group 2) — typical of Android ≤ 11 and old macOS/iOS; enable `--allow-legacy` or ask for a newer client",
          },
        ],
      },
      {
        address: "192.0.2.50",
        failures: [
          {
            at: iso(T0 + 60_000),
            firstAt: iso(T0 + 60_000),
            count: 1,
            peer: { address: "192.0.2.50", port: 4500 },
            step: "phase1",
            code: "OAK_E_IKE_AUTH_FAILED",
            reason:
              "authentication of 192.0.2.50:4500 failed: HASH_I does not verify (wrong pre-shared key?)",
            offered: [],
            vendorIds: ["MS NT5 ISAKMPOAKLEY v9", "RFC 3947", "FRAGMENTATION"],
            client: "Windows 8/10/11 built-in client (MS NT5 ISAKMPOAKLEY VID)",
            explanation:
              "HASH_I did not verify with any configured PSK — the client's pre-shared key differs (re-enter it on the client)",
          },
        ],
      },
    ],
    limits: { peers: 256, perPeer: 8 },
    evicted: { peers: 0, records: 0 },
  };

  failures(q: { readonly peer?: string }): FailureReport {
    const r = this.failureReport;
    return q.peer === undefined ? r : { ...r, peers: r.peers.filter((p) => p.address === q.peer) };
  }

  /** Adds traffic to a child SA (tests of live updates). */
  addTraffic(id: string, bytesIn: bigint, packetsIn: bigint): void {
    this.child = this.child.map((c) =>
      c.id === id
        ? {
            ...c,
            traffic: {
              ...c.traffic,
              bytesIn: c.traffic.bytesIn + bytesIn,
              packetsIn: c.traffic.packetsIn + packetsIn,
            },
          }
        : c,
    );
  }
}
