/**
 * L2TP over IPsec, both roles: the LNS of `oakley serve` and the LAC of `oakley connect`.
 *
 *   ESP (local transport SA) --receive(child, UDP payload)--> channel of the child
 *        L2TP data message of an IP-up session ---------> fast path: source check, MSS clamp, TUN
 *        anything else (control, LCP/IPCP/auth, odd flags) --> L2TP engine / PPP session
 *   TUN --ipPackets--> session (server: by its IPCP address; client: the one session)
 *        fast path: MSS clamp, one 20-octet head, ESP on the channel's newest child SA
 *
 * Ownership: the IPsec node owns the child SA records (TransportChild); channels (channel.ts)
 * hold references to them; L2TP tunnels live in the L2TP engine's state, bound to a channel
 * through `Binding`s; PPP sessions live in `Session`s here. Nothing is keyed by an address
 * except the server's route from an IPCP-assigned address to its session.
 *
 * Security rules enforced here:
 *  - an L2TP message is accepted only on the channel (and peer UDP port) its tunnel is bound
 *    to: another user cannot inject into a session by guessing tunnel/session IDs;
 *  - the server drops every IP packet from a session whose source is not the address IPCP
 *    assigned to that session (counted per session); the client drops packets from the server
 *    that are not addressed to the address it was given;
 *  - a connection (LAC) opens exactly one L2TP tunnel and one session, however many child SAs
 *    come up (the server's own Quick Mode, rekeys).
 *
 * Left out: IPv6 inside PPP (no IPV6CP), L2TP data sequencing on the fast path (sequenced
 * sessions take the engines' path, which handles it), tunnels initiated by an LNS.
 */
import { type Clock, type TimerId, TimerSet } from "../base/clock.js";
import {
  createL2tp,
  handle as l2tpHandle,
  type L2tpAction,
  type L2tpInput,
  type L2tpState,
} from "../l2tp/index.js";
import type { Counters } from "../obs/counters.js";
import type { Logger } from "../obs/log.js";
import {
  type AddressAllocator,
  type PppAction,
  type PasswordRefusal,
  type PppAuthMethod,
  type PppAuthVerdict,
  type PppCredentials,
  PppSession,
  type UserSecret,
} from "../ppp/index.js";
import { clampTcpMss } from "../wire/ip/tcp.js";
import {
  IPV4_HEAD_LENGTH,
  L2TP_PORT,
  newL2tpDataView,
  pppIpv4Offset,
  readL2tpData,
  writeIpv4Head,
  writeUdpHead,
} from "../wire/l2tp/data-view.js";
import { type Binding, type Channel, ChannelTable } from "./channel.js";
import type { EspPayloadPort, IpPacketPort, TransportChild } from "./ports.js";

const UDP = 17;
const TCP = 6;

/** PAP password checks, off the event loop (the daemon's ppp-password.ts implements it). */
export interface PasswordVerifier {
  verify(
    user: string,
    password: string,
  ): Promise<{ readonly ok: true } | { readonly ok: false; readonly reason: PasswordRefusal }>;
}

/** Limits an authentication server sets on a session (RADIUS Session-/Idle-Timeout). */
export interface SessionLimits {
  /** Seconds from IPCP up until the session is ended; null: none. */
  readonly sessionTimeoutS: number | null;
  /** Seconds without a packet either way until the session is ended; null: none. */
  readonly idleTimeoutS: number | null;
}

/** What an external authenticator is asked: one login of one session. */
export interface AuthenticatorRequest {
  readonly user: string;
  readonly credentials: PppCredentials;
  readonly session: SessionInfo;
}

/** Its answer: the PPP verdict (with grant) and, on accept, the session's limits. */
export type AuthenticatorVerdict = PppAuthVerdict & { readonly limits?: Partial<SessionLimits> };

/**
 * An external authenticator (the daemon's RADIUS glue): every method's credentials, checked
 * asynchronously. Never rejects: failures are verdicts ({ok: false, reason: "error"}).
 */
export interface Authenticator {
  authenticate(req: AuthenticatorRequest): Promise<AuthenticatorVerdict>;
}

/** Why the service itself ended a session (for accounting's terminate cause). */
export type SessionEndCause = "session-timeout" | "idle-timeout" | "admin-reset" | "nas-request";

/** Authentication attempts per channel (one per PPP session). */
export interface AuthLimiter {
  /** One authentication attempt on `channel`: true if allowed now. */
  take(channel: string): boolean;
  /** `channel` is gone (channel ids are never reused): drop what was kept for it. */
  forget(channel: string): void;
}

export interface L2tpOverIpsecServer {
  readonly authMethods: readonly PppAuthMethod[];
  /** Secrets for CHAP-MD5 and MS-CHAPv2. */
  readonly users: (name: string) => string | UserSecret | undefined;
  /** PAP password checks, run off the event loop. */
  readonly verifier: PasswordVerifier;
  /**
   * External authentication (RADIUS): when present, every method's credentials go to it and
   * `users`/`verifier` are not asked; its grant may set the address, DNS servers and limits.
   */
  readonly authenticator?: Authenticator;
  /** Attempts allowed per channel; absent: no limit. */
  readonly authLimiter?: AuthLimiter;
  readonly pool: AddressAllocator;
  /** The server's own PPP address. */
  readonly localAddress: string;
  readonly dns: readonly string[];
}

export interface L2tpOverIpsecClient {
  readonly user: string;
  readonly password: string;
  readonly authMethods?: readonly PppAuthMethod[];
}

export interface L2tpOverIpsecOptions {
  readonly role: "lns" | "lac";
  readonly clock: Clock;
  readonly random: (n: number) => Buffer;
  readonly log: Logger;
  readonly l2tpLog: Logger;
  readonly pppLog: Logger;
  readonly counters: Counters;
  readonly esp: EspPayloadPort;
  readonly tun: IpPacketPort;
  /** PPP MRU and the TUN MTU (default 1400). */
  readonly mtu?: number;
  /** MTU of the path the ESP packets take (default 1500), for MSS clamping. */
  readonly pathMtu?: number;
  readonly hostName?: string;
  readonly l2tpSecret?: Uint8Array;
  readonly echoIntervalMs?: number;
  readonly server?: L2tpOverIpsecServer;
  readonly client?: L2tpOverIpsecClient;
  readonly onEvent?: (e: L2tpOverIpsecEvent) => void;
}

/** A PPP session as shown to people (status, monitor) and in events. */
export interface SessionInfo {
  readonly key: string;
  readonly channelId: number;
  readonly tunnelId: number;
  readonly sessionId: number;
  user: string | null;
  /** The peer's PPP address (server: the address given to the client). */
  peerAddress: string | null;
  localAddress: string | null;
  dns: readonly string[];
  up: boolean;
  readonly stats: SessionStats;
  /** Clock time IPCP came up (ms, the service's clock); null before. */
  upAt: number | null;
  limits: SessionLimits;
  /** Set when the service ended the session itself (timeouts, disconnect). */
  endCause: SessionEndCause | null;
}

export interface SessionStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** IP packets dropped because their source (server) or destination (client) was wrong. */
  spoofedDrops: number;
}

export type L2tpOverIpsecEvent =
  | { readonly type: "channel-up"; readonly channelId: number; readonly ikeSaId: number }
  | { readonly type: "channel-down"; readonly channelId: number }
  | {
      readonly type: "tunnel-up";
      readonly channelId: number;
      readonly tunnelId: number;
      readonly peerHostName: string;
    }
  | {
      readonly type: "tunnel-down";
      readonly channelId: number;
      readonly tunnelId: number;
      readonly reason: string;
    }
  | { readonly type: "session-up"; readonly session: SessionInfo }
  | { readonly type: "auth-ok"; readonly session: SessionInfo; readonly method: string }
  | {
      readonly type: "auth-failed";
      readonly session: SessionInfo;
      readonly message: string;
      readonly code?: number;
      /** Client: the server did not prove it knows the password (MS-CHAPv2 S=). */
      readonly serverNotAuthenticated?: boolean;
    }
  | { readonly type: "ip-up"; readonly session: SessionInfo }
  | { readonly type: "session-down"; readonly session: SessionInfo; readonly reason: string };

interface Session {
  readonly info: SessionInfo;
  readonly ppp: PppSession;
  readonly binding: Binding;
  readonly peerTunnelId: number;
  readonly peerSessionId: number;
  /** Sequenced data (the peer asked in ICCN): the engines' path, not the fast path. */
  readonly sequenced: boolean;
  /** IPCP is open: IPv4 flows on the fast path. */
  ipUp: boolean;
  /** Server: the client's address; client: our address (u32, 0 = none). */
  peerAddr: number;
  localAddr: number;
  timer: TimerId | undefined;
  /** The Session-/Idle-Timeout check. */
  readonly limitKey: { readonly limitOf: Session };
  limitTimer: TimerId | undefined;
  /** Packets seen at the last idle check, and since when the count stood still. */
  idleMark: number;
  idleSince: number;
}

type TimerKey = "l2tp" | Session | { readonly limitOf: Session };

export class L2tpOverIpsec {
  readonly channels: ChannelTable;
  private l2tp: L2tpState;
  private readonly bindings = new Map<string, Binding>();
  /** Sessions by (local tunnel id << 16 | local session id). */
  private readonly sessions = new Map<number, Session>();
  /** Server: sessions by their client's IPCP address (u32). */
  private readonly byAddress = new Map<number, Session>();
  /** LAC: the connection's one session while IPCP is open (every TUN packet goes to it). */
  private lacSession: Session | undefined;
  private readonly tunnelChannel = new Map<number, Channel>();
  private readonly timers: TimerSet<TimerKey>;
  private l2tpTimer: TimerId | undefined;
  private readonly view = newL2tpDataView();
  private readonly head = Buffer.alloc(IPV4_HEAD_LENGTH);
  private readonly mtu: number;
  private readonly pathMtu: number;
  /** LAC: the one tunnel of this connection was opened. */
  private lacOpened = false;
  private closed = false;
  private readonly drops = new Map<string, number>();

  constructor(private readonly o: L2tpOverIpsecOptions) {
    this.mtu = o.mtu ?? 1400;
    this.pathMtu = o.pathMtu ?? 1500;
    this.l2tp = createL2tp({
      hostName: o.hostName ?? "oakley",
      acceptTunnels: o.role === "lns",
      ...(o.l2tpSecret ? { secret: o.l2tpSecret } : {}),
      random: o.random,
      log: o.l2tpLog,
    });
    this.timers = new TimerSet<TimerKey>(o.clock, (k) => this.onTimer(k));
    this.channels = new ChannelTable({ onDown: (ch) => this.channelDown(ch) });
  }

  // ------------------------------------------------------------------ child SAs (from IPsec)

  /** A transport-mode child SA is installed. */
  childUp(child: TransportChild): void {
    if (this.closed) return;
    const before = this.channels.size;
    const ch = this.channels.childUp(child);
    if (this.channels.size > before)
      this.o.onEvent?.({ type: "channel-up", channelId: ch.id, ikeSaId: child.ikeSaId });
    // One connection, one tunnel: the LAC opens it with the first child SA only.
    if (this.o.role === "lac" && !this.lacOpened) {
      this.lacOpened = true;
      this.openTunnel(ch);
    }
  }

  /** A child SA is removed (rekeyed away, deleted, expired). */
  childDown(childId: number): void {
    this.channels.childDown(childId);
  }

  /** The IKE engine handed IKE SA `from`'s children to its successor `to`. */
  childrenAdopted(from: number, to: number): void {
    this.channels.adopt(from, to);
  }

  // ------------------------------------------------------------------ inbound (from ESP)

  /**
   * A decrypted packet of a local transport SA: `payload` is the upper-layer datagram (UDP,
   * `nextHeader` 17), a view valid only during the call. Returns true when taken.
   */
  receive(child: TransportChild, nextHeader: number, payload: Uint8Array): boolean {
    if (this.closed) return false;
    const ch = this.channels.ofChild(child.childId);
    if (ch === undefined) return this.drop("no_channel");
    if (nextHeader !== UDP || payload.length < 8) return this.drop("not_l2tp");
    const dport = (payload[2]! << 8) | payload[3]!;
    if (dport !== L2TP_PORT) return this.drop("not_l2tp");
    const sport = (payload[0]! << 8) | payload[1]!;
    const udpLength = (payload[4]! << 8) | payload[5]!;
    const l2tp = payload.subarray(8, Math.max(8, Math.min(payload.length, udpLength)));
    const v = this.view;
    if (readL2tpData(l2tp, v)) {
      const s = this.sessions.get((v.tunnelId << 16) | v.sessionId);
      if (s === undefined || s.binding.channel !== ch || s.binding.peerPort !== sport) {
        // Not this channel's session: never handed to the engine under another binding.
        if (s !== undefined) return this.drop("wrong_channel");
        return this.slowPath(ch, sport, l2tp);
      }
      if (s.ipUp && !s.sequenced) {
        const at = pppIpv4Offset(l2tp, v.frameStart, v.frameEnd);
        if (at >= 0) {
          this.deliverIp(s, l2tp.subarray(at, v.frameEnd));
          return true;
        }
      }
      if (!s.sequenced) {
        // LCP, IPCP, auth or IP before IPCP is open: the PPP session decides.
        this.stepPpp(s, { type: "frame", frame: l2tp.subarray(v.frameStart, v.frameEnd) });
        return true;
      }
    }
    return this.slowPath(ch, sport, l2tp);
  }

  /** Control messages and sequenced data: through the L2TP engine. */
  private slowPath(ch: Channel, sport: number, l2tp: Uint8Array): boolean {
    // owner: the channel, so the L2TP engine's per-channel limits hold across peer ports
    this.stepL2tp({
      kind: "datagram",
      binding: this.bindingFor(ch, sport).key,
      owner: ownerOf(ch),
      bytes: l2tp,
    });
    return true;
  }

  private bindingFor(ch: Channel, peerPort: number): Binding {
    let b = ch.bindings.get(peerPort);
    if (b === undefined) {
      b = { key: `${ch.id}:${peerPort}`, channel: ch, peerPort };
      ch.bindings.set(peerPort, b);
      this.bindings.set(b.key, b);
    }
    return b;
  }

  /** An IPv4 packet from a session's PPP peer: checks, one MSS clamp, to the TUN. */
  private deliverIp(s: Session, ip: Uint8Array): void {
    if (ip.length < 20 || ip[0]! >> 4 !== 4) {
      this.drop("bad_ip");
      return;
    }
    if (this.o.role === "lns") {
      if (u32At(ip, 12) !== s.peerAddr) {
        s.info.stats.spoofedDrops++;
        this.drop("spoofed_source");
        return;
      }
    } else if (u32At(ip, 16) !== s.localAddr) {
      s.info.stats.spoofedDrops++;
      this.drop("wrong_destination");
      return;
    }
    s.info.stats.rxPackets++;
    s.info.stats.rxBytes += ip.length;
    if (ip[9] === TCP) this.clamp(s.binding.channel, ip);
    this.o.tun.write(ip);
  }

  // ------------------------------------------------------------------ outbound (from the TUN)

  /** IP packets read from the TUN device (one batch). */
  ipPackets(packets: readonly Uint8Array[]): void {
    if (this.closed) return;
    for (let i = 0; i < packets.length; i++) this.sendIp(packets[i]!);
    this.o.esp.flush();
  }

  private sendIp(ip: Uint8Array): void {
    if (ip.length < 20 || ip[0]! >> 4 !== 4) {
      this.drop("tx_not_ipv4");
      return;
    }
    let s: Session | undefined;
    if (this.o.role === "lns") s = this.byAddress.get(u32At(ip, 16));
    else s = this.lacSession;
    if (s === undefined || !s.ipUp) {
      this.drop("tx_no_session");
      return;
    }
    const ch = s.binding.channel;
    if (ip[9] === TCP) this.clamp(ch, ip);
    s.info.stats.txPackets++;
    s.info.stats.txBytes += ip.length;
    if (s.sequenced) {
      this.stepPpp(s, { type: "send-ip", packet: ip });
      return;
    }
    const out = ch.out;
    if (out === undefined) {
      this.drop("tx_no_sa");
      return;
    }
    writeIpv4Head(this.head, s.binding.peerPort, s.peerTunnelId, s.peerSessionId, ip.length);
    if (!this.o.esp.sendPayload(out.outSa, UDP, this.head, ip)) this.drop("tx_esp");
  }

  /** Clamps a TCP SYN's MSS to what fits one ESP packet of the channel (once per direction). */
  private clamp(ch: Channel, ip: Uint8Array): void {
    const ihl = (ip[0]! & 0x0f) * 4;
    if (ip.length < ihl + 20 || (ip[ihl + 13]! & 0x02) === 0) return;
    if (ch.mss === 0) ch.mss = this.mssFor(ch);
    const total = (ip[2]! << 8) | ip[3]!;
    clampTcpMss(ip.subarray(ihl, Math.min(total, ip.length)), ch.mss);
  }

  /**
   * The largest MSS for a channel: an inner IPv4 packet L travels as outer IP (20) + our head
   * (20) + L + the SA's overhead, which must fit the path MTU; and L must fit the PPP MTU.
   */
  private mssFor(ch: Channel): number {
    const sa = ch.out?.outSa;
    let inner = this.mtu;
    if (sa !== undefined) {
      while (inner > 68) {
        const l = 20 + IPV4_HEAD_LENGTH + inner;
        if (l + this.o.esp.overhead(sa, l) <= this.pathMtu) break;
        inner--;
      }
    }
    return Math.max(0, inner - 40);
  }

  // ------------------------------------------------------------------ LAC, teardown, status

  private openTunnel(ch: Channel): void {
    const binding = this.bindingFor(ch, L2TP_PORT);
    const step = l2tpHandle(
      this.l2tp,
      { kind: "openTunnel", binding: binding.key, owner: ownerOf(ch) },
      this.o.clock.now(),
    );
    this.l2tp = step.state;
    const opening = step.actions.find((a) => a.kind === "tunnelOpening");
    this.perform(step.actions);
    if (opening?.kind === "tunnelOpening") {
      this.tunnelChannel.set(opening.tunnelId, ch);
      ch.tunnels.add(opening.tunnelId);
      this.stepL2tp({ kind: "placeCall", tunnelId: opening.tunnelId });
    }
  }

  /**
   * LAC: places a new call on the connection's tunnel when its session is gone (PPP failed or
   * the server hung up) and the tunnel still stands. False when there is nothing to redial on.
   */
  redial(): boolean {
    if (this.o.role !== "lac" || this.closed || this.sessions.size > 0) return false;
    const tunnel = [...this.tunnelChannel.keys()][0];
    if (tunnel === undefined) return false;
    this.stepL2tp({ kind: "placeCall", tunnelId: tunnel });
    return true;
  }

  /** Orderly teardown: PPP Terminate, then CDN and StopCCN while the SAs still exist. */
  close(): void {
    for (const s of [...this.sessions.values()])
      this.stepPpp(s, { type: "close", message: "shutting down" });
    for (const t of [...this.tunnelChannel.keys()])
      this.stepL2tp({ kind: "closeTunnel", tunnelId: t });
    this.o.esp.flush();
    this.closed = true;
  }

  /** Stops the timers (after close() had time to send). */
  dispose(): void {
    this.timers.close();
  }

  /** L2TP tunnels up or being set up (status, leak checks). */
  tunnelCount(): number {
    return this.l2tp.tunnels.size;
  }

  /** Server: pool addresses in use (leak checks). */
  poolInUse(): number {
    return this.o.server?.pool.inUseCount?.() ?? 0;
  }

  list(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => s.info);
  }

  /** Drops by reason since start (also counted as `l2tp_ipsec_drop{reason}`). */
  dropCounts(): ReadonlyMap<string, number> {
    return this.drops;
  }

  private drop(reason: string): false {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    this.o.counters.incLabeled("l2tp_ipsec_drop", "reason", reason);
    return false;
  }

  /** A channel has no child SA left: its sessions and tunnels have no transport. */
  private channelDown(ch: Channel): void {
    // Every tunnel of the channel, half-open ones too, goes at once and silently (a StopCCN or
    // CDN could not be carried any more); its sessionDown actions take PPP down with it.
    this.stepL2tp({ kind: "closeOwner", owner: ownerOf(ch), message: "IPsec SA gone" });
    for (const s of [...this.sessions.values()])
      if (s.binding.channel === ch) this.stepPpp(s, { type: "lower-down" });
    for (const t of ch.tunnels) this.tunnelChannel.delete(t);
    for (const b of ch.bindings.values()) this.bindings.delete(b.key);
    this.o.server?.authLimiter?.forget(String(ch.id));
    this.o.onEvent?.({ type: "channel-down", channelId: ch.id });
  }

  // ------------------------------------------------------------------ engines

  private onTimer(k: TimerKey): void {
    if (k === "l2tp") {
      this.l2tpTimer = undefined;
      this.stepL2tp({ kind: "timer" });
      return;
    }
    if ("limitOf" in k) {
      k.limitOf.limitTimer = undefined;
      this.checkLimits(k.limitOf);
      return;
    }
    k.timer = undefined;
    this.stepPpp(k, { type: "timer" });
  }

  private stepL2tp(input: L2tpInput): void {
    const step = l2tpHandle(this.l2tp, input, this.o.clock.now());
    this.l2tp = step.state;
    this.perform(step.actions);
  }

  private perform(actions: readonly L2tpAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case "send":
          this.sendL2tp(a.binding, a.bytes);
          break;
        case "armTimer":
          if (this.l2tpTimer !== undefined) this.timers.cancel(this.l2tpTimer);
          this.l2tpTimer = a.at === null ? undefined : this.timers.set(a.at, "l2tp");
          break;
        case "tunnelUp": {
          const b = this.bindings.get(a.binding);
          if (b === undefined) break;
          this.tunnelChannel.set(a.tunnelId, b.channel);
          b.channel.tunnels.add(a.tunnelId);
          this.o.onEvent?.({
            type: "tunnel-up",
            channelId: b.channel.id,
            tunnelId: a.tunnelId,
            peerHostName: a.peerHostName,
          });
          break;
        }
        case "tunnelDown": {
          const ch = this.tunnelChannel.get(a.tunnelId) ?? this.bindings.get(a.binding)?.channel;
          this.tunnelChannel.delete(a.tunnelId);
          ch?.tunnels.delete(a.tunnelId);
          this.o.onEvent?.({
            type: "tunnel-down",
            channelId: ch?.id ?? 0,
            tunnelId: a.tunnelId,
            reason: describe(a),
          });
          break;
        }
        case "sessionUp":
          this.startSession(a.binding, a.tunnelId, a.sessionId, a.peerSessionId);
          break;
        case "sessionDown": {
          const s = this.sessions.get((a.tunnelId << 16) | a.sessionId);
          if (s) this.stepPpp(s, { type: "lower-down" });
          break;
        }
        case "ppp": {
          const s = this.sessions.get((a.tunnelId << 16) | a.sessionId);
          if (s) this.stepPpp(s, { type: "frame", frame: a.frame });
          break;
        }
        case "commandFailed":
          this.o.l2tpLog.debug("l2tp command failed", { input: a.input, reason: a.reason });
          break;
        default:
          break;
      }
    }
  }

  private sendL2tp(key: string, bytes: Uint8Array): void {
    const b = this.bindings.get(key);
    const out = b?.channel.out;
    if (b === undefined || out === undefined) {
      this.drop("tx_control_no_sa");
      return;
    }
    const udp = Buffer.allocUnsafe(8);
    writeUdpHead(udp, b.peerPort, bytes.length);
    if (!this.o.esp.sendPayload(out.outSa, UDP, udp, bytes)) this.drop("tx_esp");
  }

  private startSession(
    bindingKey: string,
    tunnelId: number,
    sessionId: number,
    peerSessionId: number,
  ): void {
    const binding = this.bindings.get(bindingKey);
    if (binding === undefined) return;
    const key = `${tunnelId}/${sessionId}`;
    // One authentication attempt per session: a channel that keeps opening sessions to guess
    // passwords is hung up before PPP starts.
    if (this.o.server?.authLimiter && !this.o.server.authLimiter.take(String(binding.channel.id))) {
      this.refuseSession(binding, tunnelId, sessionId);
      return;
    }
    const now = this.o.clock.now();
    const s = this.o.server;
    const c = this.o.client;
    const ppp = new PppSession(
      {
        role: this.o.role === "lns" ? "server" : "client",
        sessionId: key,
        ...(s
          ? {
              authMethods: s.authMethods,
              users: s.users,
              ...(s.authenticator ? { authBackend: "external" as const } : {}),
              pool: s.pool,
              localAddress: s.localAddress,
              dns: s.dns,
            }
          : {}),
        ...(c
          ? {
              credentials: { user: c.user, password: c.password },
              ...(c.authMethods ? { authMethods: c.authMethods } : {}),
            }
          : {}),
        mru: this.mtu,
        echoIntervalMs: this.o.echoIntervalMs ?? 30_000,
        random: this.o.random,
        logger: this.o.pppLog.child({ session: key, channel: binding.channel.id }),
      },
      now,
    );
    const sequenced = this.l2tp.tunnels.get(tunnelId)?.sessions.get(sessionId)?.sequencing ?? false;
    const info = newSessionInfo(binding.channel.id, tunnelId, sessionId);
    const session: Session = {
      info,
      ppp,
      binding,
      // The engine's tunnel knows the peer's id (the data header carries it).
      peerTunnelId: this.l2tp.tunnels.get(tunnelId)?.peerId ?? 0,
      peerSessionId,
      sequenced,
      ipUp: false,
      peerAddr: 0,
      localAddr: 0,
      timer: undefined,
      limitKey: { limitOf: undefined as unknown as Session },
      limitTimer: undefined,
      idleMark: 0,
      idleSince: now,
    };
    (session.limitKey as { limitOf: Session }).limitOf = session;
    this.sessions.set((tunnelId << 16) | sessionId, session);
    this.o.onEvent?.({ type: "session-up", session: info });
    this.stepPpp(session, { type: "start" });
  }

  private stepPpp(s: Session, input: Parameters<PppSession["handle"]>[0]): void {
    const actions = s.ppp.handle(input, this.o.clock.now());
    for (const a of actions) this.performPpp(s, a);
  }

  private performPpp(s: Session, a: PppAction): void {
    const { info } = s;
    switch (a.type) {
      case "send-frame":
        this.stepL2tp({
          kind: "sendPpp",
          tunnelId: info.tunnelId,
          sessionId: info.sessionId,
          frame: a.frame,
        });
        break;
      case "set-timer":
        if (s.timer !== undefined) this.timers.cancel(s.timer);
        s.timer = a.at === null ? undefined : this.timers.set(a.at, s);
        break;
      case "deliver-ip":
        this.deliverIp(s, a.packet);
        break;
      case "event":
        this.onPppEvent(s, a.event);
        break;
      case "verify-credentials":
        this.verifyCredentials(s, a.requestId, a.user, a.credentials);
        break;
    }
  }

  /**
   * Runs a credentials check off the event loop (the external authenticator, else the PAP
   * verifier); the verdict goes to the session if it still exists.
   */
  private verifyCredentials(
    s: Session,
    requestId: number,
    user: string,
    credentials: PppCredentials,
  ): void {
    const server = this.o.server;
    const key = (s.info.tunnelId << 16) | s.info.sessionId;
    const refused = { ok: false as const, reason: "error" as const };
    let pending: Promise<AuthenticatorVerdict>;
    if (server?.authenticator) {
      pending = server.authenticator.authenticate({ user, credentials, session: s.info });
    } else if (server && credentials.method === "pap") {
      pending = server.verifier.verify(user, Buffer.from(credentials.password).toString("utf8"));
    } else {
      pending = Promise.resolve(refused);
    }
    pending
      .catch((): AuthenticatorVerdict => refused)
      .then((v) => {
        if (this.closed || this.sessions.get(key) !== s) return;
        if (v.ok && v.limits) {
          s.info.limits = {
            sessionTimeoutS: v.limits.sessionTimeoutS ?? s.info.limits.sessionTimeoutS,
            idleTimeoutS: v.limits.idleTimeoutS ?? s.info.limits.idleTimeoutS,
          };
        }
        const { limits: _limits, ...verdict } = v;
        this.stepPpp(s, { type: "credentials-verified", requestId, verdict });
      });
  }

  // ------------------------------------------------------------------ session limits, hang-up

  /**
   * Ends a session from this side (RADIUS Disconnect-Request, an administrator): LCP
   * Terminate, then the L2TP call is hung up. False when there is no such session.
   */
  disconnect(key: string, cause: SessionEndCause, message: string): boolean {
    const s = [...this.sessions.values()].find((x) => x.info.key === key);
    if (s === undefined || this.closed) return false;
    s.info.endCause ??= cause;
    this.stepPpp(s, { type: "close", message });
    this.o.esp.flush();
    return true;
  }

  /** Changes a session's limits (RADIUS CoA); a Session-Timeout counts from IPCP up. */
  setLimits(key: string, limits: Partial<SessionLimits>): boolean {
    const s = [...this.sessions.values()].find((x) => x.info.key === key);
    if (s === undefined || this.closed) return false;
    s.info.limits = {
      sessionTimeoutS:
        limits.sessionTimeoutS !== undefined
          ? limits.sessionTimeoutS
          : s.info.limits.sessionTimeoutS,
      idleTimeoutS:
        limits.idleTimeoutS !== undefined ? limits.idleTimeoutS : s.info.limits.idleTimeoutS,
    };
    if (s.ipUp) this.checkLimits(s);
    return true;
  }

  private packetsOf(s: Session): number {
    return s.info.stats.rxPackets + s.info.stats.txPackets;
  }

  /**
   * Ends the session past its Session-Timeout or Idle-Timeout, else arms the next check.
   * Idle time is measured between checks (packet counts standing still): an idle session ends
   * between one and two Idle-Timeouts after its last packet.
   */
  private checkLimits(s: Session): void {
    if (s.limitTimer !== undefined) this.timers.cancel(s.limitTimer);
    s.limitTimer = undefined;
    if (!s.ipUp || s.info.upAt === null) return;
    const now = this.o.clock.now();
    const { sessionTimeoutS, idleTimeoutS } = s.info.limits;
    const end = sessionTimeoutS !== null ? s.info.upAt + sessionTimeoutS * 1000 : null;
    if (end !== null && now >= end) {
      this.endByLimit(s, "session-timeout", `session timeout (${sessionTimeoutS} s) reached`);
      return;
    }
    let idleAt: number | null = null;
    if (idleTimeoutS !== null) {
      const seen = this.packetsOf(s);
      if (seen !== s.idleMark) {
        s.idleMark = seen;
        s.idleSince = now;
      }
      idleAt = s.idleSince + idleTimeoutS * 1000;
      if (now >= idleAt) {
        this.endByLimit(s, "idle-timeout", `idle for ${idleTimeoutS} s`);
        return;
      }
    }
    const next = [end, idleAt].filter((x): x is number => x !== null);
    if (next.length > 0) s.limitTimer = this.timers.set(Math.min(...next), s.limitKey);
  }

  private endByLimit(s: Session, cause: SessionEndCause, message: string): void {
    s.info.endCause ??= cause;
    this.o.pppLog.info(`ending session ${s.info.key}: ${message}`, { user: s.info.user });
    this.stepPpp(s, { type: "close", message });
    this.o.esp.flush();
  }

  /** A channel past its authentication limit: the call is hung up before PPP starts. */
  private refuseSession(binding: Binding, tunnelId: number, sessionId: number): void {
    const reason = "too many authentication attempts on this channel; call refused";
    this.o.pppLog.warn(reason, {
      channel: binding.channel.id,
      session: `${tunnelId}/${sessionId}`,
    });
    this.drop("auth_rate_limited");
    const info = newSessionInfo(binding.channel.id, tunnelId, sessionId);
    this.o.onEvent?.({
      type: "session-down",
      session: info,
      reason: `auth-rate-limited: ${reason}`,
    });
    const step = l2tpHandle(
      this.l2tp,
      { kind: "closeSession", tunnelId, sessionId },
      this.o.clock.now(),
    );
    this.l2tp = step.state;
    this.perform(step.actions.filter((x) => x.kind !== "commandFailed"));
  }

  private onPppEvent(s: Session, e: Extract<PppAction, { type: "event" }>["event"]): void {
    const { info } = s;
    switch (e.type) {
      case "auth-ok":
        info.user = e.user;
        this.o.onEvent?.({ type: "auth-ok", session: info, method: e.method });
        break;
      case "auth-failed":
        info.user = e.user;
        this.o.onEvent?.({
          type: "auth-failed",
          session: info,
          message: e.message,
          ...(e.code !== undefined ? { code: e.code } : {}),
          ...(e.serverNotAuthenticated ? { serverNotAuthenticated: true } : {}),
        });
        break;
      case "ip-up": {
        info.peerAddress = e.peerAddress;
        info.localAddress = e.localAddress;
        info.dns = e.dns;
        info.up = true;
        info.upAt = this.o.clock.now();
        s.ipUp = true;
        s.idleMark = this.packetsOf(s);
        s.idleSince = info.upAt;
        s.peerAddr = u32Of(e.peerAddress);
        s.localAddr = u32Of(e.localAddress);
        if (this.o.role === "lns") {
          const other = this.byAddress.get(s.peerAddr);
          if (other !== undefined && other !== s) this.unroute(other);
          this.byAddress.set(s.peerAddr, s);
        } else {
          this.lacSession = s;
        }
        this.o.onEvent?.({ type: "ip-up", session: info });
        this.checkLimits(s);
        break;
      }
      case "ip-down":
        this.unroute(s);
        break;
      case "link-down":
        this.unroute(s);
        if (s.timer !== undefined) this.timers.cancel(s.timer);
        if (s.limitTimer !== undefined) this.timers.cancel(s.limitTimer);
        s.limitTimer = undefined;
        this.sessions.delete((info.tunnelId << 16) | info.sessionId);
        this.o.onEvent?.({
          type: "session-down",
          session: info,
          reason: `${e.reason}: ${e.message}`,
        });
        // PPP is gone: hang up the L2TP call too (no-op if L2TP already tore it down).
        if (!this.closed) {
          const step = l2tpHandle(
            this.l2tp,
            { kind: "closeSession", tunnelId: info.tunnelId, sessionId: info.sessionId },
            this.o.clock.now(),
          );
          this.l2tp = step.state;
          this.perform(step.actions.filter((x) => x.kind !== "commandFailed"));
        }
        break;
      default:
        break;
    }
  }

  private unroute(s: Session): void {
    s.info.up = false;
    s.ipUp = false;
    if (this.byAddress.get(s.peerAddr) === s) this.byAddress.delete(s.peerAddr);
    if (this.lacSession === s) this.lacSession = undefined;
  }
}

function newSessionInfo(channelId: number, tunnelId: number, sessionId: number): SessionInfo {
  return {
    key: `${tunnelId}/${sessionId}`,
    channelId,
    tunnelId,
    sessionId,
    user: null,
    peerAddress: null,
    localAddress: null,
    dns: [],
    up: false,
    stats: { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, spoofedDrops: 0 },
    upAt: null,
    limits: { sessionTimeoutS: null, idleTimeoutS: null },
    endCause: null,
  };
}

function u32At(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function u32Of(address: string): number {
  const p = address.split(".");
  if (p.length !== 4) return 0;
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function describe(t: { readonly resultCode?: number; readonly message?: string }): string {
  const parts = [
    t.resultCode !== undefined ? `result ${t.resultCode}` : "",
    t.message ?? "",
  ].filter((x) => x !== "");
  return parts.join(": ") || "closed";
}

/** The L2TP engine's owner key of a channel. */
function ownerOf(ch: Channel): string {
  return `channel:${ch.id}`;
}
