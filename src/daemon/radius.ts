/**
 * The RADIUS service: drives the sans-IO engines of src/radius on real sockets and a real
 * clock. One UDP socket (ephemeral port) for Access- and Accounting-Requests, the durable
 * accounting queue, and optionally a second socket for dynamic authorization (RFC 5176,
 * UDP 3799 by default).
 *
 * This is the narrow interface the PPP/L2TP side calls:
 *   - `authenticate(req)` → Promise of Accept (with authorization and, for MS-CHAPv2, the
 *     MS-CHAP2-Success to relay) / Reject / error (timeout, wrong secret, ...);
 *   - `account(rec)` → durably queued, delivered in order when a server answers;
 *   - `onDynamicAuthorization(handler)` → the handler ends or changes sessions and says ACK/NAK.
 * All timing is deadlines on the injected Clock (one alarm), randomness from the injected Random.
 */
import { err, ok, type Result } from "../base/result.js";
import type { Counters } from "../obs/counters.js";
import { type Logger, nullLogger } from "../obs/log.js";
import type { Alarm, Clock } from "../platform/clock.js";
import type { Random } from "../platform/random.js";
import { DgramDatagramSocket } from "../platform/udp-dgram.js";
import type { DatagramSocket } from "../platform/udp.js";
import { ErrorCause } from "../registry/radius.js";
import { AccountingPump } from "../radius/acct-pump.js";
import { type AccountingQueue, openAccountingQueue } from "../radius/acct-queue.js";
import {
  type AccountingRecord,
  type AuthOutcome,
  type AuthRequest,
  type RadiusAction,
  RadiusClient,
  type RadiusClientOptions,
  type RadiusServerStatus,
  type RadiusRequestId,
} from "../radius/client.js";
import {
  type DaeClientConfig,
  type DaeDecision,
  type DaeRequest,
  DaeServer,
} from "../radius/dae.js";
import { type RadiusError, RadiusErrorCode, radiusError } from "../radius/errors.js";

export const DAE_DEFAULT_PORT = 3799;

export interface RadiusServiceOptions {
  readonly client: RadiusClientOptions;
  /** The accounting queue file (created 0600). */
  readonly queuePath: string;
  /** Local address of the client socket. Default 0.0.0.0. */
  readonly bindAddress?: string;
  /** Dynamic authorization listener; absent: no DAE. */
  readonly dae?: {
    readonly address: string;
    readonly port: number;
    readonly clients: readonly DaeClientConfig[];
  };
  /** Back-off of accounting retries after every server timed out. */
  readonly acctRetryMinMs?: number;
  readonly acctRetryMaxMs?: number;
}

export interface RadiusServiceDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly log?: Logger;
  readonly counters?: Counters;
  /** Test hook: the socket implementation (default node:dgram). */
  readonly socket?: () => DatagramSocket;
}

export type DaeHandler = (req: DaeRequest) => DaeDecision | Promise<DaeDecision>;

export class RadiusService {
  private readonly waiting = new Map<
    RadiusRequestId,
    (r: Result<AuthOutcome, RadiusError>) => void
  >();
  private readonly alarm: Alarm;
  private daeHandler: DaeHandler | undefined;
  private closed = false;

  private constructor(
    private readonly client: RadiusClient,
    private readonly queue: AccountingQueue,
    private readonly pump: AccountingPump,
    private readonly sock: DatagramSocket,
    private readonly daeSock: DatagramSocket | undefined,
    private readonly dae: DaeServer | undefined,
    private readonly deps: RadiusServiceDeps,
    private readonly log: Logger,
  ) {
    this.alarm = deps.clock.alarm(() => this.onTimer());
  }

  static async start(
    opts: RadiusServiceOptions,
    deps: RadiusServiceDeps,
  ): Promise<Result<RadiusService, RadiusError>> {
    const log = deps.log ?? nullLogger;
    const q = openAccountingQueue(opts.queuePath, {
      logger: log,
      ...(deps.counters ? { counters: deps.counters } : {}),
    });
    if (!q.ok) return q;
    const mk = deps.socket ?? (() => new DgramDatagramSocket());
    const sock = mk();
    const bound = await sock.bind(opts.bindAddress ?? "0.0.0.0", 0);
    if (!bound.ok) {
      q.value.close();
      return err(
        radiusError(RadiusErrorCode.BadConfig, `RADIUS client socket: ${bound.error.message}`),
      );
    }
    let daeSock: DatagramSocket | undefined;
    let dae: DaeServer | undefined;
    if (opts.dae) {
      daeSock = mk();
      const b = await daeSock.bind(opts.dae.address, opts.dae.port);
      if (!b.ok) {
        sock.close();
        q.value.close();
        return err(
          radiusError(
            RadiusErrorCode.BadConfig,
            `RADIUS dynamic-authorization listener: ${b.error.message}`,
          ),
        );
      }
      dae = new DaeServer(
        {
          clients: opts.dae.clients,
          nasIdentifier: opts.client.nasIdentifier,
          ...(opts.client.nasIpAddress ? { nasIpAddress: opts.client.nasIpAddress } : {}),
        },
        log,
        deps.counters,
      );
    }
    const client = new RadiusClient(opts.client, deps.random, log, deps.counters);
    const pump = new AccountingPump(
      q.value,
      client,
      {
        ...(opts.acctRetryMinMs !== undefined ? { retryMinMs: opts.acctRetryMinMs } : {}),
        ...(opts.acctRetryMaxMs !== undefined ? { retryMaxMs: opts.acctRetryMaxMs } : {}),
      },
      log,
    );
    const svc = new RadiusService(client, q.value, pump, sock, daeSock, dae, deps, log);
    sock.onDatagram((data, address, port) => svc.onClientDatagram(data, address, port));
    sock.onError((e) => log.debug("RADIUS client socket error", { error: e.message }));
    daeSock?.onDatagram((data, address, port) => svc.onDaeDatagram(data, address, port));
    daeSock?.onError((e) => log.debug("RADIUS DAE socket error", { error: e.message }));
    if (q.value.size() > 0)
      log.info("RADIUS accounting records left from before; sending", { queued: q.value.size() });
    svc.perform(pump.pump(deps.clock.now(), deps.clock.wallNow()));
    return ok(svc);
  }

  daePort(): number | undefined {
    return this.daeSock?.local()?.port;
  }

  /** Access-Request; resolves with Accept/Reject, or an error after every server and retry. */
  authenticate(req: AuthRequest): Promise<Result<AuthOutcome, RadiusError>> {
    if (this.closed)
      return Promise.resolve(
        err(radiusError(RadiusErrorCode.Cancelled, "RADIUS service is closed")),
      );
    return new Promise((resolve) => {
      const { id, actions } = this.client.authenticate(req, this.deps.clock.now());
      this.waiting.set(id, resolve);
      this.perform(actions);
    });
  }

  /** Queues an accounting record durably (committed before return) and sends it when it can. */
  account(rec: AccountingRecord): Result<void, RadiusError> {
    if (this.closed) return err(radiusError(RadiusErrorCode.Cancelled, "RADIUS service is closed"));
    const { result, actions } = this.pump.record(
      rec,
      this.deps.clock.now(),
      this.deps.clock.wallNow(),
    );
    this.perform(actions);
    return result.ok ? ok(undefined) : result;
  }

  /** Each server's reachability (oakley status). */
  serverStatus(): RadiusServerStatus[] {
    return this.client.serverStatus(this.deps.clock.now());
  }

  /** Unsent accounting records. */
  queued(): number {
    return this.queue.size();
  }

  onDynamicAuthorization(handler: DaeHandler): void {
    this.daeHandler = handler;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.alarm.disarm();
    for (const [, resolve] of this.waiting) {
      resolve(err(radiusError(RadiusErrorCode.Cancelled, "RADIUS service closed")));
    }
    this.waiting.clear();
    this.sock.close();
    this.daeSock?.close();
    this.queue.close();
  }

  // ---- driver ----

  private onClientDatagram(data: Buffer, address: string, port: number): void {
    if (this.closed) return;
    this.perform(this.client.handleDatagram({ address, port }, data, this.deps.clock.now()));
  }

  private onDaeDatagram(data: Buffer, address: string, port: number): void {
    if (this.closed || !this.dae || !this.daeSock) return;
    const from = { address, port };
    const out = this.dae.handleDatagram(from, data, this.deps.clock.now());
    if (out.kind === "drop") return;
    if (out.kind === "reply") {
      this.daeSock.send(out.bytes, out.to.address, out.to.port);
      return;
    }
    const handler = this.daeHandler;
    const reply = (d: DaeDecision) => {
      if (this.closed || !this.daeSock) return;
      this.daeSock.send(out.answer(d, this.deps.clock.now()), from.address, from.port);
    };
    if (!handler) {
      this.log.warn("RADIUS dynamic-authorization request but no handler; NAK");
      reply({ ack: false, errorCause: ErrorCause.UnsupportedService });
      return;
    }
    Promise.resolve()
      .then(() => handler(out.request))
      .then(reply, (e: unknown) => {
        this.log.error("RADIUS dynamic-authorization handler failed", { error: String(e) });
        reply({ ack: false, errorCause: ErrorCause.ResourcesUnavailable });
      });
  }

  private onTimer(): void {
    if (this.closed) return;
    const now = this.deps.clock.now();
    this.perform(this.client.handleTimer(now));
    this.perform(this.pump.handleTimer(now, this.deps.clock.wallNow()));
  }

  private perform(actions: readonly RadiusAction[]): void {
    const work = [...actions];
    while (work.length > 0) {
      const a = work.shift();
      if (!a) break;
      if (a.kind === "send") {
        this.sock.send(a.bytes, a.to.address, a.to.port);
      } else if (a.kind === "auth-done") {
        const resolve = this.waiting.get(a.id);
        this.waiting.delete(a.id);
        resolve?.(a.result);
      } else {
        work.push(
          ...this.pump.onAcctDone(a.id, a.result, this.deps.clock.now(), this.deps.clock.wallNow()),
        );
      }
    }
    this.rearm();
  }

  private rearm(): void {
    const d = [this.client.nextDeadline(), this.pump.nextDeadline()].filter(
      (x): x is number => x !== undefined,
    );
    if (d.length === 0) this.alarm.disarm();
    else this.alarm.arm(Math.min(...d));
  }
}
