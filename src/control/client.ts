/**
 * ControlClient: the management protocol (protocol.ts) from the client side, used by the
 * `oakley` command and the web monitor.
 *
 *   const c = await ControlClient.connect({ kind: "unix", path: "/run/oakley/control.sock" });
 *   if (!c.ok) console.error(c.error.message);           // says what is wrong and the fix
 *   const sas = await c.value.listSas();                  // Result<SaList, ControlError>
 *   await c.value.close();
 *
 * connect() performs the hello: a daemon of an incompatible protocol version is refused with a
 * message naming both versions and what to upgrade; a server that answers something that is not
 * this protocol is reported as such. The server certificate is always verified (`ca` for a
 * private CA); there is no "insecure" switch. Every failure is a ControlError value.
 */
import net from "node:net";
import tls from "node:tls";
import { err, ok, type Result } from "../base/result.js";
import type { LogGroup, LogLevel } from "../obs/log.js";
import {
  decodeDeleted,
  decodeFailureReport,
  decodeMetrics,
  decodeSaList,
  decodeStatus,
} from "./decode.js";
import { type ControlError, ControlErrorCode, controlError } from "./errors.js";
import {
  DEFAULT_MAX_RESPONSE_LINE,
  encodeLine,
  type HelloResult,
  type Json,
  type JsonObject,
  LineSplitter,
  negotiate,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  parseResponse,
  type VersionRange,
} from "./protocol.js";
import type {
  DaemonStatus,
  DeletedSa,
  FailureReport,
  ImportResult,
  MetricsSnapshot,
  PolicyDetail,
  PolicyOps,
  PolicyShow,
  PolicySummary,
  SaList,
  UserSummary,
} from "./types.js";

export type ControlEndpoint =
  | { readonly kind: "unix"; readonly path: string }
  | {
      readonly kind: "tls";
      readonly host: string;
      readonly port: number;
      /** Name to verify in the daemon's certificate (default: host). */
      readonly servername?: string;
      /** PEM CA that signed the daemon's certificate (default: the system's CAs). */
      readonly ca?: string | Buffer;
      readonly token?: string;
      /** PEM client certificate and key. */
      readonly cert?: string | Buffer;
      readonly key?: string | Buffer;
    };

export interface ClientOptions {
  /** Software name sent in hello (default "oakley"). */
  readonly client?: string;
  /** Versions this client speaks (default PROTOCOL_MIN..PROTOCOL_MAX; tests simulate others). */
  readonly versions?: VersionRange;
  readonly timeoutMs?: number;
  readonly maxLine?: number;
}

/** PolicyOps, asynchronous (through a daemon) — the CLI works against this shape. */
export type AsyncPolicyOps = {
  [K in keyof PolicyOps]: (...a: Parameters<PolicyOps[K]>) => Promise<ReturnType<PolicyOps[K]>>;
};

/** Wraps local (synchronous) PolicyOps in the asynchronous shape. */
export function asyncOps(ops: PolicyOps): AsyncPolicyOps {
  return {
    show: async () => ops.show(),
    list: async () => ops.list(),
    get: async (n) => ops.get(n),
    add: async (d, o) => ops.add(d, o),
    edit: async (n, d) => ops.edit(n, d),
    remove: async (n) => ops.remove(n),
    assign: async (n) => ops.assign(n),
    setPersistent: async (n, p, o) => ops.setPersistent(n, p, o),
    setFips: async (m) => ops.setFips(m),
    setRadius: async (s) => ops.setRadius(s),
    exportText: async (f, s) => ops.exportText(f, s),
    importText: async (t, f, m) => ops.importText(t, f, m),
    usersList: async () => ops.usersList(),
    usersAdd: async (n, p, o) => ops.usersAdd(n, p, o),
    usersRemove: async (n) => ops.usersRemove(n),
    usersPasswd: async (n, p) => ops.usersPasswd(n, p),
  };
}

export function describeEndpoint(ep: ControlEndpoint): string {
  return ep.kind === "unix" ? `unix:${ep.path}` : `${ep.host}:${ep.port}`;
}

interface Pending {
  resolve: (r: Result<Json, ControlError>) => void;
  timer: NodeJS.Timeout;
}

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: ControlError | undefined;
  private helloResult: HelloResult | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly endpoint: ControlEndpoint,
    private readonly opts: ClientOptions,
  ) {
    const splitter = new LineSplitter(opts.maxLine ?? DEFAULT_MAX_RESPONSE_LINE);
    socket.on("data", (chunk: Buffer) => {
      const lines = splitter.push(chunk);
      if (!lines.ok) {
        this.fail(lines.error);
        return;
      }
      for (const line of lines.value) this.onLine(line);
    });
    socket.on("close", () =>
      this.fail(
        controlError(
          ControlErrorCode.Unavailable,
          `the daemon at ${describeEndpoint(endpoint)} closed the connection`,
        ),
      ),
    );
    socket.on("error", (e) => this.fail(connectError(endpoint, e)));
  }

  /** The daemon's hello answer (negotiated version, software, how we were authenticated). */
  get hello(): HelloResult {
    if (!this.helloResult) throw new Error("ControlClient used before hello");
    return this.helloResult;
  }

  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  static async connect(
    ep: ControlEndpoint,
    opts: ClientOptions = {},
  ): Promise<Result<ControlClient, ControlError>> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const sock = await new Promise<Result<net.Socket, ControlError>>((resolve) => {
      let s: net.Socket;
      const timer = setTimeout(() => {
        s.destroy();
        resolve(
          err(
            controlError(
              ControlErrorCode.Timeout,
              `no answer from ${describeEndpoint(ep)} within ${timeoutMs} ms`,
            ),
          ),
        );
      }, timeoutMs);
      const done = (r: Result<net.Socket, ControlError>) => {
        clearTimeout(timer);
        resolve(r);
      };
      if (ep.kind === "unix") {
        s = net.connect(ep.path);
        s.once("connect", () => done(ok(s)));
      } else {
        s = tls.connect({
          host: ep.host,
          port: ep.port,
          servername: ep.servername ?? (net.isIP(ep.host) ? undefined : ep.host),
          ...(ep.ca ? { ca: ep.ca } : {}),
          ...(ep.cert ? { cert: ep.cert } : {}),
          ...(ep.key ? { key: ep.key } : {}),
          minVersion: "TLSv1.2",
          rejectUnauthorized: true,
          checkServerIdentity: (host, cert) => tls.checkServerIdentity(ep.servername ?? host, cert),
        });
        s.once("secureConnect", () => done(ok(s)));
      }
      s.once("error", (e) => done(err(connectError(ep, e))));
    });
    if (!sock.ok) return sock;
    const c = new ControlClient(sock.value, ep, opts);
    const versions = opts.versions ?? { min: PROTOCOL_MIN, max: PROTOCOL_MAX };
    const clientName = opts.client ?? "oakley";
    const h = await c.request(
      "hello",
      {
        min: versions.min,
        max: versions.max,
        client: clientName,
        ...(ep.kind === "tls" && ep.token ? { token: ep.token } : {}),
      },
      versions.max,
    );
    if (!h.ok) {
      c.socket.destroy();
      return h;
    }
    const hr = h.value as Partial<HelloResult> | null;
    if (
      !hr ||
      typeof hr !== "object" ||
      typeof hr.version !== "number" ||
      typeof hr.min !== "number" ||
      typeof hr.max !== "number" ||
      typeof hr.daemon !== "string"
    ) {
      c.socket.destroy();
      return err(
        controlError(
          ControlErrorCode.BadMessage,
          `${describeEndpoint(ep)} answered hello with something that is not an Oakley daemon's hello`,
        ),
      );
    }
    // The daemon chose; check it is one we speak (a buggy or hostile daemon must not push us).
    const check = negotiate(versions, { min: hr.min, max: hr.max }, clientName, hr.daemon);
    if (!check.ok || hr.version < versions.min || hr.version > versions.max) {
      c.socket.destroy();
      return err(
        check.ok
          ? controlError(
              ControlErrorCode.Version,
              `the daemon (${hr.daemon}) chose protocol version ${hr.version}, which this client (${clientName}) does not speak`,
            )
          : check.error,
      );
    }
    c.helloResult = {
      version: hr.version,
      min: hr.min,
      max: hr.max,
      daemon: hr.daemon,
      identity: typeof hr.identity === "string" ? hr.identity : "",
    };
    return ok(c);
  }

  private fail(e: ControlError): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve(err(e));
    }
    this.pending.clear();
    this.socket.destroy();
  }

  private onLine(line: Buffer): void {
    if (line.length === 0) return;
    const r = parseResponse(line);
    if (!r.ok) {
      this.fail(
        controlError(
          r.error.code,
          `${describeEndpoint(this.endpoint)} is not speaking the Oakley management protocol (${r.error.message})`,
        ),
      );
      return;
    }
    const res = r.value;
    const p = typeof res.id === "number" ? this.pending.get(res.id) : undefined;
    if (!p) {
      // A refusal with no id (bad line, busy, timeout) ends the connection: report it to all.
      if ("error" in res) this.fail(res.error);
      return;
    }
    this.pending.delete(res.id as number);
    clearTimeout(p.timer);
    p.resolve("error" in res ? err(res.error) : ok(res.result));
  }

  private request(
    method: string,
    params: JsonObject,
    v: number,
  ): Promise<Result<Json, ControlError>> {
    if (this.closedError) return Promise.resolve(err(this.closedError));
    const id = this.nextId++;
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(
          err(
            controlError(
              ControlErrorCode.Timeout,
              `${method}: no answer from ${describeEndpoint(this.endpoint)} within ${timeoutMs} ms`,
            ),
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, timer });
      this.socket.write(encodeLine({ v, id, method, params }));
    });
  }

  /** Any method by name (for methods without a typed wrapper). */
  call(method: string, params: JsonObject = {}): Promise<Result<Json, ControlError>> {
    return this.request(method, params, this.hello.version);
  }

  async status(): Promise<Result<DaemonStatus, ControlError>> {
    const r = await this.call("status");
    return r.ok ? decodeStatus(r.value) : r;
  }
  async listSas(): Promise<Result<SaList, ControlError>> {
    const r = await this.call("sa.list");
    return r.ok ? decodeSaList(r.value) : r;
  }
  async deleteSa(id: string): Promise<Result<DeletedSa, ControlError>> {
    const r = await this.call("sa.delete", { id });
    return r.ok ? decodeDeleted(r.value) : r;
  }
  async metrics(): Promise<Result<MetricsSnapshot, ControlError>> {
    const r = await this.call("metrics");
    return r.ok ? decodeMetrics(r.value) : r;
  }
  /** Recent failures with explanations (`peer`: one address only). */
  async failures(peer?: string): Promise<Result<FailureReport, ControlError>> {
    const r = await this.call("diagnose.failures", peer !== undefined ? { peer } : {});
    return r.ok ? decodeFailureReport(r.value) : r;
  }
  async logLevels(): Promise<Result<Record<LogGroup, LogLevel>, ControlError>> {
    const r = await this.call("log.get");
    return r.ok ? levels(r.value) : r;
  }
  async setLogLevel(
    group: LogGroup,
    level: LogLevel,
  ): Promise<Result<Record<LogGroup, LogLevel>, ControlError>> {
    const r = await this.call("log.set", { group, level });
    return r.ok ? levels(r.value) : r;
  }

  /** Policy and user operations carried out by the daemon (changes take effect live). */
  policyOps(): AsyncPolicyOps {
    const c = (m: string, p: JsonObject = {}) => this.call(m, p);
    const as = <T>(
      r: Result<Json, ControlError>,
      check: (v: Json) => boolean,
      what: string,
    ): Result<T, ControlError> => {
      if (!r.ok) return r;
      return check(r.value)
        ? ok(r.value as unknown as T)
        : err(
            controlError(ControlErrorCode.BadMessage, `the daemon's ${what} answer is malformed`),
          );
    };
    const isObj = (v: Json) => v !== null && typeof v === "object" && !Array.isArray(v);
    const isNamed = (v: Json) => isObj(v) && typeof (v as JsonObject).name === "string";
    const isList = (v: Json) => Array.isArray(v) && v.every(isNamed);
    const none = (r: Result<Json, ControlError>): Result<void, ControlError> =>
      r.ok ? ok(undefined) : r;
    const isImport = (v: Json) => isObj(v) && typeof (v as JsonObject).created === "number";
    const isShow = (v: Json) =>
      isObj(v) &&
      Array.isArray((v as JsonObject).persistent) &&
      Array.isArray((v as JsonObject).rules);
    return {
      show: async () => as<PolicyShow>(await c("policy.show"), isShow, "policy.show"),
      list: async () => as<PolicySummary[]>(await c("policy.list"), isList, "policy.list"),
      get: async (name) => as<PolicyDetail>(await c("policy.get", { name }), isNamed, "policy.get"),
      add: async (document, o) =>
        as<PolicySummary>(
          await c("policy.add", {
            document,
            ...(o.persistent !== undefined ? { persistent: o.persistent } : {}),
            ...(o.order !== undefined ? { order: o.order } : {}),
            ...(o.assign !== undefined ? { assign: o.assign } : {}),
          }),
          isNamed,
          "policy.add",
        ),
      edit: async (name, document) =>
        as<PolicySummary>(await c("policy.edit", { name, document }), isNamed, "policy.edit"),
      remove: async (name) => none(await c("policy.remove", { name })),
      assign: async (name) => none(await c("policy.assign", { name })),
      setPersistent: async (name, persistent, order) =>
        none(await c("policy.persistent", { name, persistent, order })),
      setFips: async (mode) => none(await c("policy.fips", { mode })),
      setRadius: async (setting) => none(await c("policy.radius", { setting })),
      exportText: async (format, includeSecrets) => {
        const r = await c("policy.export", { format, includeSecrets });
        if (!r.ok) return r;
        const t = isObj(r.value) ? (r.value as JsonObject).text : undefined;
        return typeof t === "string"
          ? ok(t)
          : err(
              controlError(
                ControlErrorCode.BadMessage,
                "the daemon's policy.export answer is malformed",
              ),
            );
      },
      importText: async (text, format, mode) =>
        as<ImportResult>(
          await c("policy.import", { text, format, mode }),
          isImport,
          "policy.import",
        ),
      usersList: async () => as<UserSummary[]>(await c("users.list"), isList, "users.list"),
      usersAdd: async (name, password, o) =>
        as<UserSummary>(
          await c("users.add", {
            name,
            password,
            ...(o.protocols ? { protocols: [...o.protocols] } : {}),
            ...(o.pool !== undefined ? { pool: o.pool } : {}),
            ...(o.staticAddress !== undefined ? { staticAddress: o.staticAddress } : {}),
          }),
          isNamed,
          "users.add",
        ),
      usersRemove: async (name) => none(await c("users.remove", { name })),
      usersPasswd: async (name, password) => none(await c("users.passwd", { name, password })),
    };
  }

  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((res) => {
      this.socket.once("close", () => res());
      this.socket.end();
      setTimeout(() => {
        this.socket.destroy();
        res();
      }, 500).unref();
    });
  }
}

function levels(v: Json): Result<Record<LogGroup, LogLevel>, ControlError> {
  if (
    v === null ||
    typeof v !== "object" ||
    Array.isArray(v) ||
    !Object.values(v).every((x) => typeof x === "string")
  ) {
    return err(
      controlError(ControlErrorCode.BadMessage, "the daemon's log levels answer is malformed"),
    );
  }
  return ok(v as Record<LogGroup, LogLevel>);
}

/** A connection failure as a message that names the endpoint and the fix. */
export function connectError(ep: ControlEndpoint, e: Error): ControlError {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  const where = describeEndpoint(ep);
  if (ep.kind === "unix") {
    if (code === "ENOENT")
      return controlError(
        ControlErrorCode.Unavailable,
        `the daemon is not running (no control socket at ${ep.path}); start it with 'oakley serve', or give its socket with --socket PATH`,
      );
    if (code === "ECONNREFUSED")
      return controlError(
        ControlErrorCode.Unavailable,
        `the daemon is not running (the control socket ${ep.path} is stale); start it with 'oakley serve'`,
      );
    if (code === "EACCES" || code === "EPERM")
      return controlError(
        ControlErrorCode.Unavailable,
        `permission denied on the control socket ${ep.path}: run as root (the socket is mode 0600)`,
      );
  } else {
    if (code === "ECONNREFUSED")
      return controlError(
        ControlErrorCode.Unavailable,
        `nothing listens on ${where}; check the address and port, that the daemon runs, and that it has remote control enabled (oakley serve --control-listen)`,
      );
    if (code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH")
      return controlError(ControlErrorCode.Unavailable, `${where} is unreachable (${code})`);
    if (/certificate|self.signed|CERT|unable to verify/i.test(`${code} ${e.message}`))
      return controlError(
        ControlErrorCode.Unavailable,
        `the daemon at ${where} presented a certificate we do not trust (${e.message}); give its CA with --ca FILE`,
      );
  }
  return controlError(
    ControlErrorCode.Unavailable,
    `cannot reach the daemon at ${where}: ${e.message}`,
  );
}
