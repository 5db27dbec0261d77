/**
 * Client-side decoders: check the JSON a daemon returned and turn it into typed records
 * (counters back to bigint). A daemon is authenticated but still a peer: a malformed answer is an
 * OAK_E_CTL_BAD_MESSAGE naming the field, never a throw. Unknown extra fields are ignored, so a
 * newer daemon of the same protocol version may add fields.
 */
import { err, ok, type Result } from "../base/result.js";
import { type ControlError, ControlErrorCode, controlError } from "./errors.js";
import type { Json } from "./protocol.js";
import type {
  ChildSaRecord,
  ClientConnectionStatus,
  DaemonStatus,
  DeletedSa,
  Endpoint,
  FailureRecord,
  FailureReport,
  IkeSaRecord,
  MetricsSnapshot,
  NattState,
  OriginalAddress,
  PortState,
  SaAddresses,
  SaList,
  SaState,
  TrafficCounters,
} from "./types.js";
import { FAILURE_STEPS } from "./types.js";

class Bad extends Error {}

type O = Record<string, unknown>;

function obj(v: unknown, path: string): O {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new Bad(`${path} is not an object`);
  return v as O;
}
function str(o: O, k: string, path: string): string {
  const v = o[k];
  if (typeof v !== "string" || v.length > 4096) throw new Bad(`${path}.${k} is not a string`);
  return v;
}
function optStr(o: O, k: string, path: string): string | undefined {
  return o[k] === undefined || o[k] === null ? undefined : str(o, k, path);
}
function int(o: O, k: string, path: string): number {
  const v = o[k];
  if (typeof v !== "number" || !Number.isSafeInteger(v))
    throw new Bad(`${path}.${k} is not a whole number`);
  return v;
}
function optInt(o: O, k: string, path: string): number | undefined {
  return o[k] === undefined || o[k] === null ? undefined : int(o, k, path);
}
function bool(o: O, k: string, path: string): boolean {
  const v = o[k];
  if (typeof v !== "boolean") throw new Bad(`${path}.${k} is not true/false`);
  return v;
}
function big(o: O, k: string, path: string): bigint {
  const v = o[k];
  if (typeof v === "string" && /^[0-9]{1,20}$/.test(v)) return BigInt(v);
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new Bad(`${path}.${k} is not a counter`);
}
function arr(o: O, k: string, path: string, max = 1_000_000): unknown[] {
  const v = o[k];
  if (!Array.isArray(v) || v.length > max) throw new Bad(`${path}.${k} is not a list`);
  return v;
}
function oneOf<T extends string>(o: O, k: string, path: string, values: readonly T[]): T {
  const v = str(o, k, path);
  if (!(values as readonly string[]).includes(v))
    throw new Bad(`${path}.${k} is not one of ${values.join(", ")}`);
  return v as T;
}
const opt = <K extends string, T>(k: K, v: T | undefined): { [P in K]?: T } =>
  (v === undefined ? {} : { [k]: v }) as { [P in K]?: T };

function endpoint(v: unknown, path: string): Endpoint {
  const o = obj(v, path);
  return { address: str(o, "address", path), port: int(o, "port", path) };
}
function original(v: unknown, path: string): OriginalAddress | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, path);
  return { address: str(o, "address", path), ...opt("port", optInt(o, "port", path)) };
}
function addresses(v: unknown, path: string): SaAddresses {
  const o = obj(v, path);
  return {
    local: endpoint(o.local, `${path}.local`),
    ...opt("localAfterNat", original(o.localAfterNat, `${path}.localAfterNat`)),
    remote: endpoint(o.remote, `${path}.remote`),
    ...opt("remoteBeforeNat", original(o.remoteBeforeNat, `${path}.remoteBeforeNat`)),
  };
}
function natt(v: unknown, path: string): NattState {
  const o = obj(v, path);
  return {
    variant: str(o, "variant", path),
    behindNat: oneOf(o, "behindNat", path, ["none", "local", "remote", "both"] as const),
    floated: bool(o, "floated", path),
    udpEncapsulation: bool(o, "udpEncapsulation", path),
    ...opt("keepaliveSeconds", optInt(o, "keepaliveSeconds", path)),
  };
}
function traffic(v: unknown, path: string): TrafficCounters {
  const o = obj(v, path);
  return {
    bytesIn: big(o, "bytesIn", path),
    bytesOut: big(o, "bytesOut", path),
    packetsIn: big(o, "packetsIn", path),
    packetsOut: big(o, "packetsOut", path),
  };
}
const STATES: readonly SaState[] = [
  "negotiating",
  "established",
  "rekeying",
  "expired",
  "deleting",
];

function ikeSa(v: unknown, path: string): IkeSaRecord {
  const o = obj(v, path);
  const a = obj(o.algorithms, `${path}.algorithms`);
  const ap = `${path}.algorithms`;
  return {
    id: str(o, "id", path),
    phase: oneOf(o, "phase", path, ["main-mode"] as const),
    role: oneOf(o, "role", path, ["initiator", "responder"] as const),
    state: oneOf(o, "state", path, STATES),
    addresses: addresses(o.addresses, `${path}.addresses`),
    natt: natt(o.natt, `${path}.natt`),
    algorithms: {
      encryption: str(a, "encryption", ap),
      ...opt("keyLength", optInt(a, "keyLength", ap)),
      hash: str(a, "hash", ap),
      dhGroup: str(a, "dhGroup", ap),
      authentication: str(a, "authentication", ap),
    },
    ...opt("peerId", optStr(o, "peerId", path)),
    createdAt: str(o, "createdAt", path),
    ...opt("expiresAt", optStr(o, "expiresAt", path)),
    traffic: traffic(o.traffic, `${path}.traffic`),
  };
}

function childSa(v: unknown, path: string): ChildSaRecord {
  const o = obj(v, path);
  const a = obj(o.algorithms, `${path}.algorithms`);
  const ap = `${path}.algorithms`;
  return {
    id: str(o, "id", path),
    phase: oneOf(o, "phase", path, ["quick-mode"] as const),
    ...opt("ikeSa", optStr(o, "ikeSa", path)),
    state: oneOf(o, "state", path, STATES),
    spiIn: str(o, "spiIn", path),
    spiOut: str(o, "spiOut", path),
    protocol: str(o, "protocol", path),
    encapsulation: str(o, "encapsulation", path),
    addresses: addresses(o.addresses, `${path}.addresses`),
    natt: natt(o.natt, `${path}.natt`),
    algorithms: {
      encryption: str(a, "encryption", ap),
      ...opt("keyLength", optInt(a, "keyLength", ap)),
      integrity: str(a, "integrity", ap),
      pfsGroup: str(a, "pfsGroup", ap),
    },
    localSelector: str(o, "localSelector", path),
    remoteSelector: str(o, "remoteSelector", path),
    createdAt: str(o, "createdAt", path),
    ...opt("expiresAt", optStr(o, "expiresAt", path)),
    ...opt("lifetimeKilobytes", optInt(o, "lifetimeKilobytes", path)),
    traffic: traffic(o.traffic, `${path}.traffic`),
    drops: big(o, "drops", path),
  };
}

function run<T>(what: string, f: () => T): Result<T, ControlError> {
  try {
    return ok(f());
  } catch (e) {
    if (e instanceof Bad) {
      return err(
        controlError(
          ControlErrorCode.BadMessage,
          `the daemon's ${what} answer is malformed: ${e.message}`,
        ),
      );
    }
    throw e;
  }
}

export function decodeSaList(v: Json): Result<SaList, ControlError> {
  return run("sa.list", () => {
    const o = obj(v, "result");
    return {
      ike: arr(o, "ike", "result").map((x, i) => ikeSa(x, `ike[${i}]`)),
      child: arr(o, "child", "result").map((x, i) => childSa(x, `child[${i}]`)),
    };
  });
}

function decodeRadiusStatus(v: unknown): NonNullable<DaemonStatus["radius"]> {
  const o = obj(v, "result.radius");
  const p = "result.radius";
  return {
    servers: arr(o, "servers", p, 64).map((x, i) => {
      const q = obj(x, `${p}.servers[${i}]`);
      const pp = `${p}.servers[${i}]`;
      return {
        server: str(q, "server", pp),
        state: oneOf(q, "state", pp, [
          "reachable",
          "unreachable",
          "bad-replies",
          "untested",
        ] as const),
        ...opt("lastReplyAgoMs", optInt(q, "lastReplyAgoMs", pp)),
      };
    }),
    accountingQueued: int(o, "accountingQueued", p),
  };
}

export function decodeStatus(v: Json): Result<DaemonStatus, ControlError> {
  return run("status", () => {
    const o = obj(v, "result");
    const p = "result";
    const ports: PortState[] = arr(o, "ports", p, 64).map((x, i) => {
      const q = obj(x, `ports[${i}]`);
      const pp = `ports[${i}]`;
      return {
        name: str(q, "name", pp),
        what: str(q, "what", pp),
        state: oneOf(q, "state", pp, ["listening", "blocked", "not-used"] as const),
        ...opt("detail", optStr(q, "detail", pp)),
      };
    });
    const strings = (k: string) =>
      arr(o, k, p, 10_000).map((x, i) => {
        if (typeof x !== "string") throw new Bad(`${k}[${i}] is not a string`);
        return x;
      });
    return {
      software: str(o, "software", p),
      role: oneOf(o, "role", p, ["server", "client"] as const),
      mode: oneOf(o, "mode", p, ["starting", "protected", "block"] as const),
      ...opt("blockReason", optStr(o, "blockReason", p)),
      startedAt: str(o, "startedAt", p),
      ...opt("store", optStr(o, "store", p)),
      ...opt("assignedPolicy", optStr(o, "assignedPolicy", p)),
      persistentPolicies: strings("persistentPolicies"),
      ports,
      ikeSas: int(o, "ikeSas", p),
      childSas: int(o, "childSas", p),
      ...opt("l2tpTunnels", optInt(o, "l2tpTunnels", p)),
      ...opt("pppSessions", optInt(o, "pppSessions", p)),
      ...opt("addressesInUse", optInt(o, "addressesInUse", p)),
      ...opt(
        "fips",
        o.fips === undefined
          ? undefined
          : (() => {
              const q = obj(o.fips, "fips");
              return {
                mode: oneOf(q, "mode", "fips", ["off", "policy-only", "provider"] as const),
                text: str(q, "text", "fips"),
              };
            })(),
      ),
      ...(o.radius !== undefined ? { radius: decodeRadiusStatus(o.radius) } : {}),
      ...opt(
        "memory",
        o.memory === undefined
          ? undefined
          : (() => {
              const q = obj(o.memory, "result.memory");
              const pp = "result.memory";
              return {
                rssBytes: int(q, "rssBytes", pp),
                heapUsedBytes: int(q, "heapUsedBytes", pp),
                externalBytes: int(q, "externalBytes", pp),
              };
            })(),
      ),
      warnings: strings("warnings"),
      ...opt(
        "connection",
        o.connection === undefined || o.connection === null
          ? undefined
          : connection(o.connection, "result.connection"),
      ),
    };
  });
}

function connection(v: unknown, p: string): ClientConnectionStatus {
  const o = obj(v, p);
  const f =
    o.lastFailure === undefined || o.lastFailure === null
      ? undefined
      : obj(o.lastFailure, `${p}.lastFailure`);
  const fp = `${p}.lastFailure`;
  return {
    ...opt("profile", optStr(o, "profile", p)),
    server: str(o, "server", p),
    persist: bool(o, "persist", p),
    state: oneOf(o, "state", p, ["connecting", "up", "waiting", "stopped"] as const),
    since: str(o, "since", p),
    ...opt("upSince", optStr(o, "upSince", p)),
    ...opt("uptimeSeconds", optInt(o, "uptimeSeconds", p)),
    ...opt("address", optStr(o, "address", p)),
    attempts: int(o, "attempts", p),
    ...opt("nextAttemptAt", optStr(o, "nextAttemptAt", p)),
    bytesIn: big(o, "bytesIn", p),
    bytesOut: big(o, "bytesOut", p),
    totalBytesIn: big(o, "totalBytesIn", p),
    totalBytesOut: big(o, "totalBytesOut", p),
    ...opt(
      "lastFailure",
      f
        ? { at: str(f, "at", fp), code: str(f, "code", fp), message: str(f, "message", fp) }
        : undefined,
    ),
  };
}

export function decodeMetrics(v: Json): Result<MetricsSnapshot, ControlError> {
  return run("metrics", () => {
    const c = obj(obj(v, "result").counters, "result.counters");
    const counters: Record<string, bigint> = {};
    for (const k of Object.keys(c)) {
      if (k.length > 512) throw new Bad("counter name too long");
      counters[k] = big(c, k, "counters");
    }
    return { counters };
  });
}

export function decodeDeleted(v: Json): Result<DeletedSa, ControlError> {
  return run("sa.delete", () => {
    const o = obj(v, "result");
    return {
      id: str(o, "id", "result"),
      phase: oneOf(o, "phase", "result", ["main-mode", "quick-mode"] as const),
      alsoDeleted: arr(o, "alsoDeleted", "result").map((x) => String(x)),
    };
  });
}

function strList(o: O, k: string, path: string, max: number): string[] {
  return arr(o, k, path, max).map((x, i) => {
    if (typeof x !== "string" || x.length > 4096)
      throw new Bad(`${path}.${k}[${i}] is not a string`);
    return x;
  });
}

function failureRecord(v: unknown, path: string): FailureRecord {
  const o = obj(v, path);
  const count = int(o, "count", path);
  if (count < 1) throw new Bad(`${path}.count must be at least 1`);
  return {
    at: str(o, "at", path),
    firstAt: str(o, "firstAt", path),
    count,
    peer: endpoint(o.peer, `${path}.peer`),
    step: oneOf(o, "step", path, FAILURE_STEPS),
    code: str(o, "code", path),
    reason: str(o, "reason", path),
    offered: strList(o, "offered", path, 64),
    vendorIds: strList(o, "vendorIds", path, 64),
    ...opt("client", optStr(o, "client", path)),
    ...opt("user", optStr(o, "user", path)),
    explanation: str(o, "explanation", path),
  };
}

export function decodeFailureReport(v: Json): Result<FailureReport, ControlError> {
  return run("diagnose.failures", () => {
    const o = obj(v, "result");
    const limits = obj(o.limits, "result.limits");
    const evicted = obj(o.evicted, "result.evicted");
    return {
      peers: arr(o, "peers", "result", 100_000).map((x, i) => {
        const p = obj(x, `peers[${i}]`);
        return {
          address: str(p, "address", `peers[${i}]`),
          failures: arr(p, "failures", `peers[${i}]`, 10_000).map((f, j) =>
            failureRecord(f, `peers[${i}].failures[${j}]`),
          ),
        };
      }),
      limits: {
        peers: int(limits, "peers", "result.limits"),
        perPeer: int(limits, "perPeer", "result.limits"),
      },
      evicted: {
        peers: int(evicted, "peers", "result.evicted"),
        records: int(evicted, "records", "result.evicted"),
      },
    };
  });
}
