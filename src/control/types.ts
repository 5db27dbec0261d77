/**
 * What the management protocol talks about: the daemon-side interface (`ControlTarget`, the
 * daemon implements it; tests use a fake with realistic data) and the typed records it returns
 * (SAs of both phases with algorithm names, NAT-T state, addresses before and after NAT,
 * counters; status, SA delete, assigned policy, users, log levels at runtime).
 *
 * Algorithm fields are names from src/registry (see names.ts for the helpers that make them from
 * negotiated numbers), never bare numbers: the Windows IP Security Monitor showed DH2048 as "268435457".
 * Counters are bigint here and decimal strings on the wire.
 */
import type { Result } from "../base/result.js";
import type { LogGroup, LogLevel } from "../obs/log.js";
import type { ControlError } from "./errors.js";
import type { Json, JsonObject } from "./protocol.js";

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** An address as the other side of a NAT knows it; the port is often unknown. */
export interface OriginalAddress {
  readonly address: string;
  readonly port?: number;
}

/**
 * NAT traversal state of an SA (RFC 3947; draft-ietf-ipsec-nat-t-ike-02).
 * `behindNat`: which side NAT-D found behind a NAT ("none" when the hashes matched).
 */
export interface NattState {
  /** "rfc3947", "draft-ietf-ipsec-nat-t-ike-02", "draft-ietf-ipsec-nat-t-ike-02\\n", ... or "none". */
  readonly variant: string;
  readonly behindNat: "none" | "local" | "remote" | "both";
  /** IKE moved from UDP 500 to 4500 (port floating). */
  readonly floated: boolean;
  /** ESP is UDP-encapsulated (RFC 3948). */
  readonly udpEncapsulation: boolean;
  /** Seconds between NAT keepalives we send (absent: none). */
  readonly keepaliveSeconds?: number;
}

/** Addresses of an SA before and after NAT. */
export interface SaAddresses {
  /** Our address:port as bound on this host (before our NAT, if any). */
  readonly local: Endpoint;
  /** Our address as the peer sees it (after our NAT), when known (NAT-OA from the peer). */
  readonly localAfterNat?: OriginalAddress;
  /** The peer as packets reach us: after its NAT. */
  readonly remote: Endpoint;
  /** The peer's own address before its NAT (its NAT-OA or ID payload), when known. */
  readonly remoteBeforeNat?: OriginalAddress;
}

export interface TrafficCounters {
  readonly bytesIn: bigint;
  readonly bytesOut: bigint;
  readonly packetsIn: bigint;
  readonly packetsOut: bigint;
}

export type SaState = "negotiating" | "established" | "rekeying" | "expired" | "deleting";

/** Phase 1 (Main Mode) SA. */
export interface IkeSaRecord {
  /** Stable id for `sa delete`: "mm-<initiator cookie>-<responder cookie>" (hex). */
  readonly id: string;
  readonly phase: "main-mode";
  readonly role: "initiator" | "responder";
  readonly state: SaState;
  readonly addresses: SaAddresses;
  readonly natt: NattState;
  readonly algorithms: {
    readonly encryption: string;
    readonly keyLength?: number;
    readonly hash: string;
    readonly dhGroup: string;
    readonly authentication: string;
  };
  /** Peer identity (ID payload) as text, e.g. "ID_IPV4_ADDR 198.51.100.7". */
  readonly peerId?: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
  /** ISAKMP traffic on this SA. */
  readonly traffic: TrafficCounters;
}

/** Phase 2 (Quick Mode) SA pair (inbound + outbound ESP). */
export interface ChildSaRecord {
  /** "qm-<inbound SPI hex>". */
  readonly id: string;
  readonly phase: "quick-mode";
  /** Parent Main Mode SA id (absent when it was deleted and the child lives on). */
  readonly ikeSa?: string;
  readonly state: SaState;
  readonly spiIn: string;
  readonly spiOut: string;
  readonly protocol: string;
  /** Registry name of the encapsulation mode, e.g. "UDP-Encapsulated-Transport". */
  readonly encapsulation: string;
  readonly addresses: SaAddresses;
  readonly natt: NattState;
  readonly algorithms: {
    readonly encryption: string;
    readonly keyLength?: number;
    readonly integrity: string;
    readonly pfsGroup: string;
  };
  /** Traffic selectors, e.g. "203.0.113.5/32 udp 1701". */
  readonly localSelector: string;
  readonly remoteSelector: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly lifetimeKilobytes?: number;
  readonly traffic: TrafficCounters;
  /** Inbound packets dropped on this SA (replay, ICV, ...). */
  readonly drops: bigint;
}

export interface SaList {
  readonly ike: readonly IkeSaRecord[];
  readonly child: readonly ChildSaRecord[];
}

export interface PortState {
  /** "IKE", "NAT-T", "ESP". */
  readonly name: string;
  /** "udp 500", "udp 4500", "ip proto 50". */
  readonly what: string;
  readonly state: "listening" | "blocked" | "not-used";
  readonly detail?: string;
}

export interface DaemonStatus {
  /** e.g. "oakley 0.1.0". */
  readonly software: string;
  readonly role: "server" | "client";
  /** "protected": policy in force; "block": fail-closed, `blockReason` says why. */
  readonly mode: "starting" | "protected" | "block";
  readonly blockReason?: string;
  readonly startedAt: string;
  readonly store?: string;
  readonly assignedPolicy?: string;
  readonly persistentPolicies: readonly string[];
  readonly ports: readonly PortState[];
  readonly ikeSas: number;
  readonly childSas: number;
  /** L2TP over IPsec (daemons that carry it): tunnels, PPP sessions, pool addresses given out. */
  readonly l2tpTunnels?: number;
  readonly pppSessions?: number;
  readonly addressesInUse?: number;
  /** FIPS mode: "provider" (OpenSSL's FIPS provider active), "policy-only" or "off". */
  readonly fips?: { readonly mode: "off" | "policy-only" | "provider"; readonly text: string };
  /** RADIUS (servers configured): each server's reachability, and accounting records queued. */
  readonly radius?: {
    readonly servers: readonly RadiusServerState[];
    readonly accountingQueued: number;
  };
  /** The daemon process' memory now: resident set, and of it the JS heap and native buffers. */
  readonly memory?: {
    readonly rssBytes: number;
    readonly heapUsedBytes: number;
    readonly externalBytes: number;
  };
  readonly warnings: readonly string[];
  /** `oakley connect` (role client): the connection it keeps. */
  readonly connection?: ClientConnectionStatus;
}

/** What a client (`oakley connect`, with or without --persist) says about its connection. */
export interface ClientConnectionStatus {
  /** The saved profile, when connected by name. */
  readonly profile?: string;
  readonly server: string;
  readonly persist: boolean;
  /** connecting (an attempt under way), up, waiting (for the next attempt), stopped. */
  readonly state: "connecting" | "up" | "waiting" | "stopped";
  /** When the state last changed. */
  readonly since: string;
  readonly upSince?: string;
  readonly uptimeSeconds?: number;
  /** The address PPP gave us. */
  readonly address?: string;
  /** Connection attempts since the process started. */
  readonly attempts: number;
  readonly nextAttemptAt?: string;
  /** ESP bytes of the current connection. */
  readonly bytesIn: bigint;
  readonly bytesOut: bigint;
  /** ESP bytes since the process started (all connections). */
  readonly totalBytesIn: bigint;
  readonly totalBytesOut: bigint;
  readonly lastFailure?: { readonly at: string; readonly code: string; readonly message: string };
}

export interface RadiusServerState {
  /** "192.0.2.10:1812". */
  readonly server: string;
  readonly state: "reachable" | "unreachable" | "bad-replies" | "untested";
  /** Milliseconds since its last verified reply. */
  readonly lastReplyAgoMs?: number;
}

export interface MetricsSnapshot {
  /** Counters.snapshot(): `name` or `name{label="value"}` -> count. */
  readonly counters: Readonly<Record<string, bigint>>;
}

export interface DeletedSa {
  readonly id: string;
  readonly phase: "main-mode" | "quick-mode";
  /** Child SAs removed with a Main Mode SA. */
  readonly alsoDeleted: readonly string[];
}

// ------------------------------------------------------------------ failure records

/** Where a connection attempt failed. */
export type FailureStep = "phase1" | "phase2" | "l2tp" | "ppp";
export const FAILURE_STEPS: readonly FailureStep[] = ["phase1", "phase2", "l2tp", "ppp"];

/**
 * One failure of one peer, explained (`oakley diagnose --recent | --peer ADDRESS`). Identical
 * failures in a row are one record with `count` > 1 (a client retrying the same offer).
 */
export interface FailureRecord {
  /** When it last happened, and first (ISO 8601). */
  readonly at: string;
  readonly firstAt: string;
  readonly count: number;
  /** The peer as packets reach us (after its NAT). */
  readonly peer: Endpoint;
  readonly step: FailureStep;
  /** Stable error code (OAK_E_…) or the protocol's result code as text. */
  readonly code: string;
  /** What failed, as the engine said it. */
  readonly reason: string;
  /** What the peer offered (proposals decoded to names), in its order. */
  readonly offered: readonly string[];
  /** The peer's vendor IDs decoded ("MS NT5 ISAKMPOAKLEY v9", "RFC 3947", ...). */
  readonly vendorIds: readonly string[];
  /** Which client this probably is, from its vendor IDs ("Windows (built-in client)", ...). */
  readonly client?: string;
  /** PPP user name, when the failure is PPP authentication. */
  readonly user?: string;
  /** Why it failed and what to do, for a person. */
  readonly explanation: string;
}

export interface PeerFailures {
  readonly address: string;
  /** Oldest first. */
  readonly failures: readonly FailureRecord[];
}

/** The failure ring: per peer, newest peers first, and what it had to forget. */
export interface FailureReport {
  readonly peers: readonly PeerFailures[];
  readonly limits: { readonly peers: number; readonly perPeer: number };
  /** Peers and records dropped to stay within the limits since the daemon started. */
  readonly evicted: { readonly peers: number; readonly records: number };
}

// ------------------------------------------------------------------ policy and users

/** One stored policy as the tool shows it. */
export interface PolicySummary {
  readonly name: string;
  readonly description?: string;
  readonly assigned: boolean;
  readonly persistent: boolean;
  readonly persistentOrder: number;
  readonly rules: number;
  /** Present when this version may not edit it: the store's reason (unknown extensions...). */
  readonly readOnly?: string;
  readonly extensions: readonly string[];
  readonly issues: readonly { readonly path: string; readonly message: string }[];
}

export interface PolicyDetail extends PolicySummary {
  /** The object as stored (known fields and extensions). */
  readonly document: JsonObject;
}

/** `policy show`: what is in force, persistent ones first. */
export interface PolicyShow {
  readonly persistent: readonly PolicyDetail[];
  readonly assigned?: PolicyDetail;
  /** Effective rule order: "policy/rule (persistent|assigned) action". */
  readonly rules: readonly {
    readonly policy: string;
    readonly source: "persistent" | "assigned";
    readonly rule: string;
    readonly action: string;
  }[];
  readonly warnings: readonly string[];
  /** Why nothing is in force (OAK_E_POLICY_UNUSABLE message), if so. */
  readonly unusable?: string;
  /** The store's FIPS setting (settings.fips), used by `oakley serve` without --fips. */
  readonly fips?: "off" | "policy-only" | "provider";
  /** The store's RADIUS setting (settings.radius), used by `oakley serve` without --radius. */
  readonly radius?: {
    readonly servers: readonly string[];
    readonly secretFile: string;
    readonly nasIdentifier?: string;
    readonly daeListen?: string;
    readonly interimInterval?: number;
  };
}

export interface UserSummary {
  readonly name: string;
  readonly enabled: boolean;
  readonly protocols: readonly string[];
  readonly pool?: string;
  readonly staticAddress?: string;
  readonly readOnly?: string;
  readonly extensions: readonly string[];
}

export interface ImportResult {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
}

/**
 * Policy-store operations. `StorePolicyOps` (ops.ts) implements them over a PolicyStore; the CLI
 * uses it directly when no daemon runs, and the daemon exposes the same object through control
 * so that changes take effect live.
 */
export interface PolicyOps {
  show(): Result<PolicyShow, ControlError>;
  list(): Result<PolicySummary[], ControlError>;
  get(name: string): Result<PolicyDetail, ControlError>;
  /** `document` is a policy object (same shape as in an export). */
  add(
    document: JsonObject,
    opts: { persistent?: boolean; order?: number; assign?: boolean },
  ): Result<PolicySummary, ControlError>;
  /** Replaces policy `name` with `document`. */
  edit(name: string, document: JsonObject): Result<PolicySummary, ControlError>;
  remove(name: string): Result<void, ControlError>;
  assign(name: string | null): Result<void, ControlError>;
  setPersistent(name: string, persistent: boolean, order: number): Result<void, ControlError>;
  /** The store's FIPS setting (settings.fips), used by `oakley serve` at its next start. */
  setFips(mode: "off" | "policy-only" | "provider"): Result<void, ControlError>;
  /**
   * The store's RADIUS setting (settings.radius: servers, secret file, …), used by `oakley
   * serve` without --radius at its next start; null removes it.
   */
  setRadius(setting: JsonObject | null): Result<void, ControlError>;
  exportText(format: "yaml" | "json", includeSecrets: boolean): Result<string, ControlError>;
  importText(
    text: string,
    format: "yaml" | "json",
    mode: "merge" | "replace",
  ): Result<ImportResult, ControlError>;
  usersList(): Result<UserSummary[], ControlError>;
  usersAdd(
    name: string,
    password: string,
    opts: { protocols?: readonly string[]; pool?: string; staticAddress?: string },
  ): Result<UserSummary, ControlError>;
  usersRemove(name: string): Result<void, ControlError>;
  usersPasswd(name: string, password: string): Result<void, ControlError>;
}

type Maybe<T> = T | Promise<T>;

/** The daemon side of the management protocol. The daemon (src/daemon) implements it. */
export interface ControlTarget {
  status(): Maybe<DaemonStatus>;
  listSas(): Maybe<SaList>;
  /** Deletes an SA (sending the peer a Delete payload); "mm-..." also removes its children. */
  deleteSa(id: string): Maybe<Result<DeletedSa, ControlError>>;
  setLogLevel(group: LogGroup, level: LogLevel): Maybe<void>;
  logLevels(): Maybe<Record<LogGroup, LogLevel>>;
  metrics(): Maybe<MetricsSnapshot>;
  /**
   * Recent connection failures with explanations (servers); `peer` limits it to one address.
   * Absent: the daemon keeps none (OAK_E_CTL_UNSUPPORTED).
   */
  failures?(query: { readonly peer?: string }): Maybe<FailureReport>;
  /** Absent on a daemon without a store (then policy/users methods answer OAK_E_CTL_UNSUPPORTED). */
  readonly policy?: PolicyOps;
}

export type { Json, JsonObject };
