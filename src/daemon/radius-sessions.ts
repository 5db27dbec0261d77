/**
 * RADIUS for the LNS's PPP sessions: the glue between the RADIUS service (radius.ts) and the
 * L2TP/PPP component (src/l2tp-ipsec).
 *
 *  - Authentication: the component's `Authenticator` port. Each PPP login becomes one
 *    Access-Request with the method's credentials (PAP User-Password, CHAP-Password +
 *    CHAP-Challenge, MS-CHAP-Challenge + MS-CHAP2-Response). An Access-Accept gives the verdict
 *    and its authorization: Framed-IP-Address (else the pool; an address another session holds
 *    is refused), MS-Primary/Secondary-DNS-Server (into IPCP), Session-Timeout and Idle-Timeout
 *    (enforced by the component), Class (kept, echoed in accounting), Acct-Interim-Interval,
 *    Reply-Message (logged); for MS-CHAPv2 the MS-CHAP2-Success is relayed so the client still
 *    verifies the server. No answer (every server timed out, wrong secret) is a clear PPP
 *    failure, never a hang.
 *  - Accounting: Start when IPCP is up, Interim-Update every Acct-Interim-Interval (or the
 *    configured interval), Stop when the session ends, with octets/packets both ways (64-bit,
 *    sent with Gigawords), session time and the terminate cause, through the durable queue.
 *  - Dynamic authorization (RFC 5176): a Disconnect-Request ends the matching sessions (PPP
 *    Terminate, L2TP CDN, then the IKE SA and its child SAs once no other session uses them);
 *    a CoA-Request with Session-Timeout/Idle-Timeout changes their limits.
 *
 * Left out: Framed-IP-Netmask is logged but not applied (PPP links are point-to-point; IPCP
 * carries no netmask); an address outside the pool's prefix is given but not routed to the
 * TUN device by Oakley (a warning says so).
 */
import type { Result } from "../base/result.js";
import type { Clock } from "../base/clock.js";
import type {
  Authenticator,
  AuthenticatorRequest,
  AuthenticatorVerdict,
  L2tpOverIpsec,
  L2tpOverIpsecEvent,
  SessionEndCause,
  SessionInfo,
  SessionLimits,
} from "../l2tp-ipsec/index.js";
import type { Logger } from "../obs/log.js";
import type { AccountingRecord, AuthOutcome, AuthRequest } from "../radius/client.js";
import type { DaeDecision, DaeRequest } from "../radius/dae.js";
import type { RadiusError } from "../radius/errors.js";
import { AcctTerminateCause, ErrorCause } from "../registry/radius.js";
import type { IpsecNode } from "./ipsec-node.js";

/** What the glue needs of the RADIUS service (RadiusService satisfies it). */
export interface RadiusPort {
  authenticate(req: AuthRequest): Promise<Result<AuthOutcome, RadiusError>>;
  account(rec: AccountingRecord): Result<void, RadiusError>;
}

/** What it needs of the running stack. */
export interface SessionControl {
  list(): SessionInfo[];
  disconnect(key: string, cause: SessionEndCause, message: string): boolean;
  setLimits(key: string, limits: Partial<SessionLimits>): boolean;
  /** The client's outer address ("198.51.100.7:4500") of a session, for Calling-Station-Id. */
  callingStation(info: SessionInfo): string | undefined;
  /** Ends the IPsec SAs that carried this (ended) session, unless another session uses them. */
  endIpsec(info: SessionInfo): void;
}

export interface RadiusSessionsOptions {
  /** Interim-Update interval (s) when the server sends no Acct-Interim-Interval; 0: none. */
  readonly interimIntervalS?: number;
  /** The pool's prefix ("203.0.113.0/24"): granted addresses outside it draw a warning. */
  readonly poolCidr?: string;
  /** Unique Acct-Session-Id (random hex from the platform). */
  readonly newSessionId: () => string;
}

interface Tracked {
  readonly acctSessionId: string;
  readonly user: string;
  readonly classes: readonly Uint8Array[];
  readonly interimS: number;
  readonly callingStationId: string | undefined;
  readonly nasPort: number;
  /** Wall time of Start (ms), when sent. */
  startedAt: number | null;
  framedIp: string | null;
  interim: ReturnType<Clock["alarm"]> | undefined;
}

/** Shortest interim interval honoured (RFC 2869 §5.16 advises no less than 60 s). */
const MIN_INTERIM_S = 60;

export class RadiusSessions {
  private readonly byKey = new Map<string, Tracked>();
  private control: SessionControl | undefined;
  private closed = false;
  readonly authenticator: Authenticator;

  constructor(
    private readonly radius: RadiusPort,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: RadiusSessionsOptions,
  ) {
    this.authenticator = { authenticate: (req) => this.authenticate(req) };
  }

  /** The stack is built after the authenticator is handed to it. */
  attach(control: SessionControl): void {
    this.control = control;
  }

  /**
   * Shutting down: Stop records (NAS-Reboot) for the sessions still up, queued durably so they
   * are sent after a restart if not now; then no more timers.
   */
  close(): void {
    if (this.closed) return;
    const live = new Map((this.control?.list() ?? []).map((s) => [s.key, s]));
    for (const [key, t] of this.byKey) {
      t.interim?.disarm();
      const info = live.get(key);
      if (t.startedAt !== null && info) this.record(t, info, "stop", AcctTerminateCause.NasReboot);
    }
    this.byKey.clear();
    this.closed = true;
  }

  private async authenticate(req: AuthenticatorRequest): Promise<AuthenticatorVerdict> {
    const acctSessionId = this.opts.newSessionId();
    const callingStationId = this.control?.callingStation(req.session);
    const nasPort = nasPortOf(req.session);
    const r = await this.radius.authenticate({
      userName: req.user,
      credentials: req.credentials,
      acctSessionId,
      nasPort,
      ...(callingStationId !== undefined ? { callingStationId } : {}),
    });
    if (!r.ok) {
      this.log.warn(`RADIUS gave no verdict for ${req.user}: ${r.error.message}`, {
        code: r.error.code,
      });
      return {
        ok: false,
        reason: "error",
        message: `no answer from the RADIUS servers (${r.error.message})`,
      };
    }
    const o = r.value;
    if (o.replyMessage !== undefined)
      this.log.info(`RADIUS Reply-Message for ${req.user}: ${o.replyMessage}`, {
        server: o.server,
      });
    if (o.kind === "reject") {
      return {
        ok: false,
        reason: "wrong-password",
        message: `rejected by RADIUS ${o.server}${o.challenge ? " (Access-Challenge is not supported over PPP)" : ""}`,
      };
    }
    if (o.framedIpNetmask !== undefined)
      this.log.info(
        `RADIUS Framed-IP-Netmask ${o.framedIpNetmask} for ${req.user} not applied: PPP links are point-to-point`,
      );
    if (
      o.framedIpAddress !== undefined &&
      this.opts.poolCidr &&
      !inCidr(o.framedIpAddress, this.opts.poolCidr)
    )
      this.log.warn(
        `RADIUS gives ${req.user} ${o.framedIpAddress}, outside the pool ${this.opts.poolCidr}: route it to the TUN device yourself`,
      );
    const interimS =
      o.acctInterimInterval !== undefined && o.acctInterimInterval > 0
        ? Math.max(MIN_INTERIM_S, o.acctInterimInterval)
        : (this.opts.interimIntervalS ?? 0);
    // The call may have gone while RADIUS answered: nothing to track then.
    if (
      this.closed ||
      (this.control && !this.control.list().some((x) => x.key === req.session.key))
    )
      return { ok: false, reason: "error", message: "the session ended before the verdict" };
    const old = this.byKey.get(req.session.key);
    old?.interim?.disarm();
    this.byKey.set(req.session.key, {
      acctSessionId,
      user: req.user,
      classes: o.classes,
      interimS,
      callingStationId,
      nasPort,
      startedAt: null,
      framedIp: null,
      interim: undefined,
    });
    const grant = {
      ...(o.framedIpAddress !== undefined ? { address: o.framedIpAddress } : {}),
      ...(o.dnsServers.length > 0 ? { dns: o.dnsServers } : {}),
    };
    // 0 means no limit (as pppd's radius plugin reads it), not "end at once".
    const limits = {
      ...(o.sessionTimeout ? { sessionTimeoutS: o.sessionTimeout } : {}),
      ...(o.idleTimeout ? { idleTimeoutS: o.idleTimeout } : {}),
    };
    return {
      ok: true,
      ...(o.mschap2Success
        ? { authenticatorResponse: o.mschap2Success.authenticatorResponse }
        : {}),
      ...(o.replyMessage !== undefined ? { message: o.replyMessage } : {}),
      grant,
      limits,
    };
  }

  /** The component's events: accounting, and the IPsec side of a disconnect. */
  onEvent(e: L2tpOverIpsecEvent): void {
    if (e.type === "ip-up") {
      const t = this.byKey.get(e.session.key);
      if (!t || t.startedAt !== null) return;
      t.startedAt = this.clock.wallNow();
      t.framedIp = e.session.peerAddress;
      this.record(t, e.session, "start");
      if (t.interimS > 0 && !this.closed) {
        const key = e.session.key;
        const alarm = this.clock.alarm(() => {
          const cur = this.byKey.get(key);
          const info = this.control?.list().find((s) => s.key === key);
          if (cur !== t || !info || this.closed) return;
          this.record(t, info, "interim-update");
          alarm.arm(this.clock.now() + t.interimS * 1000);
        });
        t.interim = alarm;
        alarm.arm(this.clock.now() + t.interimS * 1000);
      }
      return;
    }
    if (e.type === "session-down") {
      const t = this.byKey.get(e.session.key);
      if (t) {
        this.byKey.delete(e.session.key);
        t.interim?.disarm();
        if (t.startedAt !== null) this.record(t, e.session, "stop", terminateCause(e));
      }
      if (e.session.endCause === "admin-reset") this.control?.endIpsec(e.session);
    }
  }

  private record(
    t: Tracked,
    info: SessionInfo,
    status: AccountingRecord["status"],
    cause?: AccountingRecord["terminateCause"],
  ): void {
    const now = this.clock.wallNow();
    const s = info.stats;
    const rec: AccountingRecord = {
      status,
      sessionId: t.acctSessionId,
      userName: t.user,
      eventTime: now,
      nasPort: t.nasPort,
      ...(t.framedIp ? { framedIpAddress: t.framedIp } : {}),
      ...(t.callingStationId !== undefined ? { callingStationId: t.callingStationId } : {}),
      ...(t.classes.length > 0 ? { classes: t.classes } : {}),
      ...(status !== "start"
        ? {
            sessionTime: Math.max(0, Math.floor((now - (t.startedAt ?? now)) / 1000)),
            // Input is what the user sent (RFC 2866 §5.3): packets from the client.
            inputOctets: BigInt(s.rxBytes),
            outputOctets: BigInt(s.txBytes),
            inputPackets: BigInt(s.rxPackets),
            outputPackets: BigInt(s.txPackets),
          }
        : {}),
      ...(cause !== undefined ? { terminateCause: cause } : {}),
    };
    const r = this.radius.account(rec);
    if (!r.ok)
      this.log.error(`RADIUS accounting ${status} for ${t.user} not queued: ${r.error.message}`);
  }

  /** RFC 5176: find the sessions the request names, then end or change them. */
  onDynamicAuthorization(req: DaeRequest): DaeDecision {
    const control = this.control;
    if (!control) return { ack: false, errorCause: ErrorCause.ResourcesUnavailable };
    const matches = control.list().filter((s) => {
      const t = this.byKey.get(s.key);
      if (!t) return false; // not a RADIUS session of ours
      if (req.userName !== undefined && req.userName !== t.user) return false;
      if (req.acctSessionId !== undefined && req.acctSessionId !== t.acctSessionId) return false;
      if (req.framedIpAddress !== undefined && req.framedIpAddress !== s.peerAddress) return false;
      if (req.callingStationId !== undefined && req.callingStationId !== t.callingStationId)
        return false;
      if (req.nasPort !== undefined && req.nasPort !== t.nasPort) return false;
      return true;
    });
    const what = describeDae(req);
    if (matches.length === 0) {
      this.log.info(`RADIUS ${req.kind} from ${req.from.address}: no session matches ${what}`);
      return { ack: false, errorCause: ErrorCause.SessionContextNotFound };
    }
    for (const s of matches) {
      if (req.kind === "disconnect") {
        this.log.info(
          `RADIUS Disconnect-Request from ${req.from.address}: ending session ${s.key} of ${s.user}`,
        );
        control.disconnect(s.key, "admin-reset", "disconnected by the RADIUS server");
      } else {
        const limits = {
          ...(req.sessionTimeout !== undefined
            ? { sessionTimeoutS: req.sessionTimeout || null }
            : {}),
          ...(req.idleTimeout !== undefined ? { idleTimeoutS: req.idleTimeout || null } : {}),
        };
        this.log.info(
          `RADIUS CoA-Request from ${req.from.address}: session ${s.key} of ${s.user} limits ${JSON.stringify(limits)}`,
        );
        control.setLimits(s.key, limits);
      }
    }
    return { ack: true };
  }
}

/** NAS-Port: the L2TP tunnel and session ids, unique among live sessions of this gateway. */
function nasPortOf(s: SessionInfo): number {
  return ((s.tunnelId << 16) | s.sessionId) >>> 0;
}

function terminateCause(
  e: Extract<L2tpOverIpsecEvent, { type: "session-down" }>,
): AccountingRecord["terminateCause"] {
  switch (e.session.endCause) {
    case "session-timeout":
      return AcctTerminateCause.SessionTimeout;
    case "idle-timeout":
      return AcctTerminateCause.IdleTimeout;
    case "admin-reset":
      return AcctTerminateCause.AdminReset;
    case "nas-request":
      return AcctTerminateCause.NasRequest;
    default:
      break;
  }
  const reason = e.reason.split(":")[0];
  switch (reason) {
    case "peer-terminated":
      return AcctTerminateCause.UserRequest;
    case "echo-timeout":
      return AcctTerminateCause.LostCarrier;
    case "lower-down":
      return AcctTerminateCause.LostService;
    case "admin-close":
      return AcctTerminateCause.NasReboot; // the daemon is stopping
    default:
      return AcctTerminateCause.NasError;
  }
}

function describeDae(r: DaeRequest): string {
  const parts = [
    r.userName !== undefined ? `User-Name ${r.userName}` : "",
    r.acctSessionId !== undefined ? `Acct-Session-Id ${r.acctSessionId}` : "",
    r.framedIpAddress !== undefined ? `Framed-IP-Address ${r.framedIpAddress}` : "",
    r.callingStationId !== undefined ? `Calling-Station-Id ${r.callingStationId}` : "",
  ].filter((x) => x !== "");
  return parts.join(", ") || "(nothing)";
}

function inCidr(address: string, cidr: string): boolean {
  const [net, bits] = cidr.split("/");
  const n = (a: string) => a.split(".").reduce((acc, x) => acc * 256 + Number(x), 0);
  const len = Number(bits);
  if (net === undefined || !Number.isInteger(len)) return false;
  const size = 2 ** (32 - len);
  return Math.floor(n(address) / size) === Math.floor(n(net) / size);
}

/**
 * SessionControl over the running stack. After a Disconnect, the IKE SA (and so its child SAs)
 * is deleted `ipsecGraceMs` after the session ended — time for the L2TP CDN to leave — unless
 * another PPP session still runs over it.
 */
export function stackControl(
  l2tp: L2tpOverIpsec,
  node: Pick<IpsecNode, "deleteIkeSa">,
  clock: Clock,
  ipsecGraceMs = 500,
): SessionControl {
  const channelOf = (info: SessionInfo) =>
    l2tp.channels.list().find((c) => c.id === info.channelId);
  return {
    list: () => l2tp.list(),
    disconnect: (key, cause, message) => l2tp.disconnect(key, cause, message),
    setLimits: (key, limits) => l2tp.setLimits(key, limits),
    callingStation: (info) => {
      const child = channelOf(info)?.out;
      return child ? child.remote : undefined;
    },
    endIpsec: (info) => {
      const ch = channelOf(info);
      const ike = ch?.ikeSaId;
      if (ch === undefined || ike === undefined) return;
      const alarm = clock.alarm(() => {
        if (l2tp.list().some((s) => s.channelId === ch.id)) return;
        node.deleteIkeSa(ike);
      });
      alarm.arm(clock.now() + ipsecGraceMs);
    },
  };
}
