/**
 * LCP (RFC 1661 §5-§6) on top of the shared automaton. What follows LCP's opening or closing
 * (the link phases of RFC 1661 §3) is decided by phases.ts, to which LCP reports.
 *
 * Options we send: MRU (config, default 1400: a 1500-octet path minus IPv4/UDP-4500/ESP/
 * L2TP/PPP overhead), ACCM only if configured, Authentication-Protocol (server: the first
 * allowed of MS-CHAPv2, CHAP-MD5, PAP; on Configure-Nak the peer's suggestion if allowed,
 * else the next), Magic-Number, PFC/ACFC only if configured.
 * Peer's options: MRU >= 128 accepted (else Nak 128), ACCM accepted, Authentication-Protocol
 * (server: Reject, we do not authenticate ourselves; client: Ack if allowed, else Nak with our
 * preferred allowed method (RFC 1661 §5.3, RFC 1994 §3), Reject if none), Quality-Protocol
 * rejected, Magic-Number
 * (zero or equal to ours -> Nak with a new random value; Max-Failure such loops -> link
 * closed as looped back), PFC/ACFC accepted, anything else rejected.
 * Protocol-Reject is sent for unknown protocols in the Network phase only (RFC 1661 §5.7,
 * §3.4-§3.5: other phases silently discard), truncated to the peer's MRU. Keepalive: an
 * Echo-Request every echoIntervalMs; after echoFailures unanswered ones the link is closed
 * (reason echo-timeout), as pppd's lcp-echo-failure does.
 * Deviation (config resendRequestOnPeerStart, default on): when the peer's first
 * Configure-Request arrives while ours is unanswered, ours is resent at once instead of after
 * the restart timer — a peer that was not listening yet (see the L2TP start-up race) would
 * otherwise cost 3 s. A duplicate request is harmless: its stale Ack is dropped by Identifier.
 * Client, against downgrades: a server that keeps proposing methods we do not allow after our
 * Naks (Max-Failure requests), that gives up, or that asks for no authentication at all, ends the
 * link with reason auth-refused and a message naming what it offered: with CHAP-MD5, PAP or
 * no authentication the server never proves it knows the password.
 * Left out: LQR (Quality-Protocol is rejected), Callback, Multilink.
 */
import {
  PppProtocol,
  controlCodeName,
  lcpOptionName,
  pppAuthMethodName,
  pppProtocolName,
} from "../registry/ppp.js";
import {
  type LcpOption,
  lcpOptionCodec,
  parseLcpPacket,
  serializeLcpPacket,
} from "../wire/ppp/lcp.js";
import { type CheckResult, type CpHost, cpEvent, cpReceive } from "./cp.js";
import { type Engine, MIN_MRU, PPP_DEFAULT_MRU } from "./engine.js";
import type { DownReason, LcpWant, PppAuthMethod } from "./types.js";

export function authOption(m: PppAuthMethod): LcpOption {
  if (m === "pap")
    return { kind: "auth-protocol", protocol: PppProtocol.PAP, data: new Uint8Array() };
  return {
    kind: "auth-protocol",
    protocol: PppProtocol.CHAP,
    data: Uint8Array.of(m === "mschapv2" ? 0x81 : 5),
  };
}

export function authMethodOf(o: {
  readonly protocol: number;
  readonly data: Uint8Array;
}): PppAuthMethod | null {
  if (o.protocol === PppProtocol.PAP && o.data.length === 0) return "pap";
  if (o.protocol === PppProtocol.CHAP && o.data.length === 1) {
    if (o.data[0] === 5) return "chap-md5";
    if (o.data[0] === 0x81) return "mschapv2";
  }
  return null;
}

/** --allow-auth words of `oakley connect` for the methods a server offered. */
const allowWord: Record<string, string> = {
  [pppAuthMethodName("chap-md5")]: "chap",
  [pppAuthMethodName("pap")]: "pap",
  [pppAuthMethodName("mschapv2")]: "mschapv2",
};

/** Client: why we refuse the server's authentication, for a person. */
export function authRefusedMessage(e: Engine): string {
  const offered = e.st.lcp.authRefused;
  const words = offered.flatMap((n) => (allowWord[n] ? [allowWord[n]] : []));
  const proof =
    offered.length > 1
      ? "none of them lets it prove it knows your password"
      : "it cannot prove it knows your password";
  const hint =
    words.length > 0
      ? `use --allow-auth ${words.join(",")} to accept`
      : "Oakley does not support it";
  return `the server offered only ${offered.join(" and ")}; ${proof}; ${hint}`;
}

export function initialLcpWant(e: Engine): LcpWant {
  const c = e.cfg;
  return {
    mru: c.mru === PPP_DEFAULT_MRU ? null : c.mru,
    accm: c.raw.accm ?? null,
    auth: c.role === "server" ? (c.authMethods[0] ?? null) : null,
    magic: e.randomMagic(),
    pfc: c.raw.requestPfc ?? false,
    acfc: c.raw.requestAcfc ?? false,
  };
}

function buildRequest(e: Engine): LcpOption[] {
  const w = e.st.lcp.want;
  const out: LcpOption[] = [];
  if (w.mru !== null) out.push({ kind: "mru", mru: w.mru });
  if (w.accm !== null) out.push({ kind: "accm", accm: w.accm });
  if (w.auth !== null) out.push(authOption(w.auth));
  if (w.magic !== null) out.push({ kind: "magic-number", magic: w.magic });
  if (w.pfc) out.push({ kind: "pfc" });
  if (w.acfc) out.push({ kind: "acfc" });
  return out;
}

function checkRequest(
  e: Engine,
  options: readonly LcpOption[],
  rejectNaks: boolean,
): CheckResult<LcpOption> {
  const naks: LcpOption[] = [];
  const rejects: LcpOption[] = [];
  const nak = (orig: LcpOption, suggestion: LcpOption) =>
    rejectNaks ? rejects.push(orig) : naks.push(suggestion);
  for (const o of options) {
    switch (o.kind) {
      case "mru":
        if (o.mru < MIN_MRU) nak(o, { kind: "mru", mru: MIN_MRU });
        break;
      case "accm":
      case "pfc":
      case "acfc":
        break;
      case "auth-protocol": {
        if (e.cfg.role === "server") {
          rejects.push(o);
          break;
        }
        const m = authMethodOf(o);
        if (m && e.cfg.authMethods.includes(m)) break;
        const lcp = e.st.lcp;
        const name = m ? pppAuthMethodName(m) : pppProtocolName(o.protocol);
        if (!lcp.authRefused.includes(name)) lcp.authRefused.push(name);
        e.log.info(`LCP: the server proposes ${name}, which we do not allow`);
        // A server that keeps proposing methods we do not allow after our Naks insists (a
        // retransmission or two may cross our Nak: Max-Failure tolerates them).
        if (++lcp.authNaks >= e.cfg.timing.maxFailure) {
          linkMustClose(e, "auth-refused", authRefusedMessage(e));
          rejects.push(o);
          break;
        }
        const preferred = e.cfg.authMethods[0];
        if (preferred) nak(o, authOption(preferred));
        else rejects.push(o);
        break;
      }
      case "magic-number": {
        const ours = e.st.lcp.want.magic;
        if (o.magic === 0) {
          nak(o, { kind: "magic-number", magic: e.randomMagic(ours) });
        } else if (ours !== null && o.magic === ours) {
          e.st.lcp.loops++;
          e.log.warn("LCP: peer's Magic-Number equals ours (looped-back link?)", {
            loops: e.st.lcp.loops,
          });
          if (e.st.lcp.loops >= e.cfg.timing.maxFailure) {
            linkMustClose(e, "loopback", "the link appears to be looped back (Magic-Number)");
          }
          nak(o, { kind: "magic-number", magic: e.randomMagic(ours) });
        }
        break;
      }
      default:
        rejects.push(o);
    }
  }
  for (const r of rejects) {
    const t = r.kind === "raw" ? r.type : lcpOptionCodec.encode(r).type;
    e.log.debug(`LCP: rejecting peer option ${lcpOptionName(t)}`);
  }
  if (rejects.length > 0) return { verdict: "reject", options: rejects };
  if (naks.length > 0) return { verdict: "nak", options: naks };
  return { verdict: "ack", options };
}

function peerRequestAcked(e: Engine, options: readonly LcpOption[]): void {
  const p = {
    mru: PPP_DEFAULT_MRU,
    accm: 0xffffffff,
    magic: null as number | null,
    pfc: false,
    acfc: false,
  };
  let auth: PppAuthMethod | null = null;
  for (const o of options) {
    if (o.kind === "mru") p.mru = o.mru;
    else if (o.kind === "accm") p.accm = o.accm;
    else if (o.kind === "magic-number") p.magic = o.magic;
    else if (o.kind === "pfc") p.pfc = true;
    else if (o.kind === "acfc") p.acfc = true;
    else if (o.kind === "auth-protocol") auth = authMethodOf(o);
  }
  e.st.lcp.peer = { ...p, auth };
}

function receivedNak(e: Engine, options: readonly LcpOption[]): void {
  const w = e.st.lcp.want;
  for (const o of options) {
    if (o.kind === "mru" && w.mru !== null) {
      if (o.mru >= MIN_MRU) w.mru = o.mru;
    } else if (o.kind === "accm" && w.accm !== null) {
      w.accm = o.accm;
    } else if (o.kind === "magic-number" && w.magic !== null) {
      w.magic = e.randomMagic(w.magic);
    } else if (o.kind === "auth-protocol" && w.auth !== null) {
      const tried = e.st.lcp.authTried;
      if (!tried.includes(w.auth)) tried.push(w.auth);
      const suggested = authMethodOf(o);
      const allowed = e.cfg.authMethods;
      const next =
        suggested && allowed.includes(suggested) && !tried.includes(suggested)
          ? suggested
          : allowed.find((m) => !tried.includes(m));
      if (next) {
        e.log.info(
          `LCP: peer refused ${pppAuthMethodName(w.auth)}; offering ${pppAuthMethodName(next)}`,
        );
        w.auth = next;
      } else {
        linkMustClose(e, "auth-refused", "the peer refused every allowed authentication method");
      }
    }
  }
}

function receivedReject(e: Engine, options: readonly LcpOption[]): void {
  const w = e.st.lcp.want;
  for (const o of options) {
    if (o.kind === "mru") w.mru = null;
    else if (o.kind === "accm") w.accm = null;
    else if (o.kind === "magic-number") w.magic = null;
    else if (o.kind === "pfc") w.pfc = false;
    else if (o.kind === "acfc") w.acfc = false;
    else if (o.kind === "auth-protocol") {
      linkMustClose(e, "auth-refused", "the peer rejected authentication");
    }
  }
}

export function lcpHost(e: Engine, echo?: { id: number; data: Uint8Array }): CpHost<LcpOption> {
  return {
    name: "LCP",
    codec: lcpOptionCodec,
    now: e.now,
    timing: e.cfg.timing,
    log: e.log,
    get peerMaxPacket() {
      return e.st.lcp.peer.mru;
    },
    send: (p) => e.sendFrame(PppProtocol.LCP, p),
    buildRequest: () => buildRequest(e),
    checkRequest: (o, r) => checkRequest(e, o, r),
    peerRequestAcked: (o) => peerRequestAcked(e, o),
    receivedAck: () => {
      e.st.lcp.got = { ...e.st.lcp.want };
    },
    receivedNak: (o) => receivedNak(e, o),
    receivedReject: (o) => receivedReject(e, o),
    tlu: () => lcpUp(e),
    tld: () => lcpDown(e),
    tls: () => {},
    tlf: () => e.report({ type: "lcp-finished" }),
    ser: () => {
      if (!echo) return;
      const magic = e.st.lcp.got.magic ?? 0;
      e.sendFrame(
        PppProtocol.LCP,
        serializeLcpPacket({ kind: "Echo-Reply", identifier: echo.id, magic, data: echo.data }),
      );
    },
    notConverging: () =>
      linkMustClose(e, "negotiation-failed", "LCP negotiation does not converge"),
  };
}

/** The link is unusable: phases.ts closes it (and stops what runs above LCP). */
function linkMustClose(e: Engine, reason: DownReason, message: string): void {
  e.report({ type: "close", reason, message });
}

function lcpUp(e: Engine): void {
  const st = e.st;
  st.lcp.loops = 0;
  const method = e.cfg.role === "server" ? st.lcp.got.auth : st.lcp.peer.auth;
  e.emit({ type: "link-up", peerMru: st.lcp.peer.mru, auth: method });
  st.lcp.echo = {
    deadline: e.cfg.echoIntervalMs > 0 ? e.now + e.cfg.echoIntervalMs : null,
    outstanding: 0,
    nextId: st.lcp.echo.nextId,
  };
  e.report({ type: "lcp-up", auth: method });
}

function lcpDown(e: Engine): void {
  e.st.lcp.echo.deadline = null;
  e.report({ type: "lcp-down" });
}

/** The lower layer is up and we want the link: RFC 1661 §4 Open and Up events. */
export function lcpOpen(e: Engine): void {
  const host = lcpHost(e);
  cpEvent(e.st.lcp.cp, host, "Open");
  cpEvent(e.st.lcp.cp, host, "Up");
}

/** RFC 1661 §4 Close event: Terminate-Request (or straight to Closed if not negotiating). */
export function lcpClose(e: Engine): void {
  cpEvent(e.st.lcp.cp, lcpHost(e), "Close");
}

/** The lower layer went away. */
export function lcpLowerDown(e: Engine): void {
  if (e.st.lcp.cp.state !== "Initial") cpEvent(e.st.lcp.cp, lcpHost(e), "Down");
}

/** Sends LCP Protocol-Reject for a frame of a protocol we do not speak (RFC 1661 §5.7). */
export function sendProtocolReject(e: Engine, protocol: number, information: Uint8Array): void {
  const room = Math.max(0, e.st.lcp.peer.mru - 6);
  const cp = e.st.lcp.cp;
  const id = cp.nextId & 0xff;
  cp.nextId = (cp.nextId + 1) & 0xff;
  e.log.info(`Protocol-Reject for ${pppProtocolName(protocol)}`);
  e.count("tx_protocol_reject");
  e.sendFrame(
    PppProtocol.LCP,
    serializeLcpPacket({
      kind: "Protocol-Reject",
      identifier: id,
      rejectedProtocol: protocol,
      rejectedInformation: information.subarray(0, room),
    }),
  );
}

export function lcpReceive(e: Engine, info: Uint8Array): void {
  const st = e.st;
  const r = parseLcpPacket(info);
  if (!r.ok) {
    e.count("rx_drop_lcp_parse");
    e.log.debug("LCP: malformed packet dropped", { error: r.error.message });
    return;
  }
  const p = r.value;
  e.log.debug(`LCP: received ${p.kind} id ${p.identifier} in ${st.lcp.cp.state}`);
  const firstFromPeer = !st.lcp.receivedAny;
  st.lcp.receivedAny = true;
  switch (p.kind) {
    case "Protocol-Reject": {
      if (st.lcp.cp.state !== "Opened") return;
      e.log.info(`LCP: peer rejected protocol ${pppProtocolName(p.rejectedProtocol)}`);
      if (p.rejectedProtocol === PppProtocol.LCP) {
        cpEvent(st.lcp.cp, lcpHost(e), "RXJ-");
      } else if (p.rejectedProtocol === PppProtocol.IPCP) {
        e.report({ type: "ipcp-rejected" });
      } else {
        cpEvent(st.lcp.cp, lcpHost(e), "RXJ+");
      }
      return;
    }
    case "Echo-Request":
      if (st.lcp.cp.state === "Opened" && p.magic !== 0 && p.magic === st.lcp.got.magic) {
        e.log.warn("LCP: Echo-Request carries our own Magic-Number (looped back?)");
      }
      cpEvent(st.lcp.cp, lcpHost(e, { id: p.identifier, data: p.data }), "RXR");
      return;
    case "Echo-Reply":
      if (st.lcp.cp.state !== "Opened") return;
      if (p.magic !== 0 && p.magic === st.lcp.got.magic) {
        e.log.warn("LCP: Echo-Reply carries our own Magic-Number (looped back?)");
        return;
      }
      st.lcp.echo.outstanding = 0;
      return;
    case "Discard-Request":
    case "Identification":
    case "Time-Remaining":
      e.log.debug(`LCP: ${controlCodeName(info[0] ?? 0)} received`);
      return;
    default: {
      if (
        p.kind === "Terminate-Request" &&
        st.lcp.cp.state !== "Closed" &&
        st.lcp.cp.state !== "Stopped"
      ) {
        // A server that gives up after our Nak of its auth protocol: say why.
        if (e.cfg.role === "client" && st.lcp.authRefused.length > 0 && st.phase === "Establish")
          e.setReason("auth-refused", authRefusedMessage(e));
        e.setReason("peer-terminated", "the peer closed the link (LCP Terminate-Request)");
      }
      const state0 = st.lcp.cp.state;
      const host = lcpHost(e);
      cpReceive(st.lcp.cp, host, p, info);
      if (
        p.kind === "Configure-Request" &&
        firstFromPeer &&
        e.cfg.resendRequestOnPeerStart &&
        state0 === "Req-Sent" &&
        (st.lcp.cp.state === "Ack-Sent" || st.lcp.cp.state === "Req-Sent")
      ) {
        e.log.debug(
          "LCP: peer's first Configure-Request while ours is unanswered: resending ours now",
        );
        cpEvent(st.lcp.cp, host, "TO+");
      }
    }
  }
}

/** The keepalive timer fired. */
export function lcpEchoTimer(e: Engine): void {
  const st = e.st;
  const echo = st.lcp.echo;
  if (st.lcp.cp.state !== "Opened") {
    echo.deadline = null;
    return;
  }
  if (echo.outstanding >= e.cfg.echoFailures) {
    echo.deadline = null;
    linkMustClose(
      e,
      "echo-timeout",
      `no reply to ${echo.outstanding} LCP Echo-Requests: the link is dead`,
    );
    return;
  }
  const id = echo.nextId & 0xff;
  echo.nextId = (echo.nextId + 1) & 0xff;
  echo.outstanding++;
  echo.deadline = e.now + e.cfg.echoIntervalMs;
  e.sendFrame(
    PppProtocol.LCP,
    serializeLcpPacket({
      kind: "Echo-Request",
      identifier: id,
      magic: st.lcp.got.magic ?? 0,
      data: new Uint8Array(),
    }),
  );
}
