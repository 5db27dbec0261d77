/**
 * The L2TP reliable control channel, RFC 2661 §5.8 and Appendix A, as pure state + functions.
 *
 * - Every non-ZLB control message gets the next Ns; Nr is "the next Ns I expect" and acknowledges
 *   everything before it (§5.8). A ZLB (header only) carries Ns = next Ns to send and is not
 *   itself sequenced.
 * - Send side: at most min(peer Receive Window Size, CWND) messages unacknowledged. CWND follows
 *   Appendix A (slow start from 1 up to SSTHRESH = peer window, then congestion avoidance: +1 per
 *   CWND acks; on a retransmission timeout SSTHRESH = max(CWND/2, 1) and CWND = 1).
 * - Retransmission: one timer for the oldest unacknowledged message; on expiry everything in
 *   flight goes back to the head of the queue (go-back-N, they keep their Ns and get the current
 *   Nr, §5.8), the timeout doubles up to a cap (§5.8: "exponential backoff"; initial 1 s, cap 8 s
 *   by default) and after `maxRetries` retransmissions without progress the channel fails — the
 *   engine then clears the tunnel (§5.8).
 * - Receive side: the message with Ns == Nr is delivered, then any queued successors; a message
 *   ahead of Nr within our advertised window is queued (§5.8 lets us queue or drop); a duplicate
 *   (Ns before Nr) is acknowledged at once with a ZLB, because its ack was probably lost.
 * - Acks: a received message is acknowledged by the next message we send (piggy-back); if none is
 *   sent within `ackDelayMs`, a ZLB is sent (§5.8).
 *
 * Left out: Appendix A's adaptive (RTT-measured) timeout — we use fixed exponential back-off.
 */

export interface ChannelParams {
  readonly rtoInitialMs: number;
  readonly rtoMaxMs: number;
  readonly maxRetries: number;
  readonly ackDelayMs: number;
  /** Our Receive Window Size: how many out-of-order messages we queue. */
  readonly receiveWindow: number;
}

export interface OutMessage {
  readonly ns: number;
  /** Header Tunnel ID at the time it was queued (0 for an SCCRQ). */
  readonly tunnelId: number;
  readonly sessionId: number;
  /** Serialized AVP list. */
  readonly body: Buffer;
}

/** What the channel asks the engine to put on the wire. `body` empty = ZLB. */
export interface WireSend {
  readonly tunnelId: number;
  readonly sessionId: number;
  readonly ns: number;
  readonly nr: number;
  readonly body: Buffer;
}

export interface Channel<M> {
  nextNs: number;
  nr: number;
  peerWindow: number;
  cwnd: number;
  ssthresh: number;
  acksInAvoidance: number;
  pending: OutMessage[];
  inFlight: OutMessage[];
  rto: number;
  retries: number;
  rtoDeadline: number | null;
  ackDeadline: number | null;
  reorder: Map<number, M>;
  failed: boolean;
}

/** a comes before b in 16-bit sequence space. */
export function seqBefore(a: number, b: number): boolean {
  return ((a - b) & 0xffff) >= 0x8000;
}
function dist(from: number, to: number): number {
  return (to - from) & 0xffff;
}

export function newChannel<M>(p: ChannelParams, peerWindow = 4): Channel<M> {
  return {
    nextNs: 0,
    nr: 0,
    peerWindow: Math.max(1, peerWindow),
    cwnd: 1,
    ssthresh: Math.max(1, peerWindow),
    acksInAvoidance: 0,
    pending: [],
    inFlight: [],
    rto: p.rtoInitialMs,
    retries: 0,
    rtoDeadline: null,
    ackDeadline: null,
    reorder: new Map(),
    failed: false,
  };
}

export function setPeerWindow<M>(ch: Channel<M>, w: number): void {
  ch.peerWindow = Math.max(1, w);
  ch.ssthresh = ch.peerWindow;
}

/** Queues a new sequenced message and sends what the window allows. */
export function enqueue<M>(
  ch: Channel<M>,
  p: ChannelParams,
  m: Omit<OutMessage, "ns">,
  now: number,
): WireSend[] {
  ch.pending.push({ ...m, ns: ch.nextNs });
  ch.nextNs = (ch.nextNs + 1) & 0xffff;
  return pump(ch, p, now);
}

export function pump<M>(ch: Channel<M>, _p: ChannelParams, now: number): WireSend[] {
  const out: WireSend[] = [];
  const window = Math.min(ch.peerWindow, ch.cwnd);
  while (ch.pending.length > 0 && ch.inFlight.length < window) {
    const m = ch.pending.shift();
    if (!m) break;
    ch.inFlight.push(m);
    out.push({ tunnelId: m.tunnelId, sessionId: m.sessionId, ns: m.ns, nr: ch.nr, body: m.body });
  }
  if (out.length > 0) {
    ch.ackDeadline = null; // piggy-backed
    if (ch.rtoDeadline === null) ch.rtoDeadline = now + ch.rto;
  }
  return out;
}

/** Processes the peer's Nr. */
export function onAck<M>(ch: Channel<M>, p: ChannelParams, nr: number, now: number): void {
  // After a timeout, messages the peer may already hold are back in `pending` (go-back-N), so an
  // Nr may cover both lists: accept any Nr within (oldest unacked Ns, next Ns].
  const first = ch.inFlight[0] ?? ch.pending[0];
  if (!first) return;
  const acked = dist(first.ns, nr);
  if (acked === 0 || acked > ch.inFlight.length + ch.pending.length) return;
  const fromFlight = Math.min(acked, ch.inFlight.length);
  ch.inFlight.splice(0, fromFlight);
  ch.pending.splice(0, acked - fromFlight);
  for (let i = 0; i < acked; i++) {
    if (ch.cwnd < ch.ssthresh) ch.cwnd++;
    else if (++ch.acksInAvoidance >= ch.cwnd) {
      ch.acksInAvoidance = 0;
      ch.cwnd = Math.min(ch.cwnd + 1, ch.peerWindow);
    }
  }
  ch.retries = 0;
  ch.rto = p.rtoInitialMs;
  ch.rtoDeadline = ch.inFlight.length > 0 ? now + ch.rto : null;
}

export interface ReceiveResult<M> {
  /** Messages now deliverable, in Ns order. */
  readonly deliver: M[];
  /** Wire sends caused (an immediate ZLB for a duplicate). */
  readonly sends: WireSend[];
  readonly duplicate: boolean;
}

/**
 * A sequenced (non-ZLB) message arrived with this Ns. `zlbTunnelId` is the header Tunnel ID for
 * an immediate ZLB (the peer's tunnel ID).
 */
export function onReceive<M>(
  ch: Channel<M>,
  p: ChannelParams,
  ns: number,
  msg: M,
  now: number,
  zlbTunnelId: number,
): ReceiveResult<M> {
  if (ns === ch.nr) {
    const deliver = [msg];
    ch.nr = (ch.nr + 1) & 0xffff;
    for (let next = ch.reorder.get(ch.nr); next !== undefined; next = ch.reorder.get(ch.nr)) {
      ch.reorder.delete(ch.nr);
      deliver.push(next);
      ch.nr = (ch.nr + 1) & 0xffff;
    }
    if (ch.ackDeadline === null) ch.ackDeadline = now + p.ackDelayMs;
    return { deliver, sends: [], duplicate: false };
  }
  if (seqBefore(ns, ch.nr)) {
    // duplicate: its ack was lost; acknowledge now
    ch.ackDeadline = null;
    return { deliver: [], sends: [zlb(ch, zlbTunnelId)], duplicate: true };
  }
  if (dist(ch.nr, ns) < p.receiveWindow && !ch.reorder.has(ns)) ch.reorder.set(ns, msg);
  if (ch.ackDeadline === null) ch.ackDeadline = now + p.ackDelayMs;
  return { deliver: [], sends: [], duplicate: false };
}

export function zlb<M>(ch: Channel<M>, tunnelId: number): WireSend {
  return { tunnelId, sessionId: 0, ns: ch.nextNs, nr: ch.nr, body: Buffer.alloc(0) };
}

/** Runs due timers: delayed ack and retransmission. Sets `failed` when retries are exhausted. */
export function onTimer<M>(
  ch: Channel<M>,
  p: ChannelParams,
  now: number,
  zlbTunnelId: number,
): WireSend[] {
  const out: WireSend[] = [];
  if (ch.rtoDeadline !== null && now >= ch.rtoDeadline && ch.inFlight.length > 0) {
    ch.retries++;
    if (ch.retries > p.maxRetries) {
      ch.failed = true;
      ch.rtoDeadline = null;
      return out;
    }
    ch.ssthresh = Math.max(1, Math.floor(ch.cwnd / 2));
    ch.cwnd = 1;
    ch.acksInAvoidance = 0;
    ch.rto = Math.min(ch.rto * 2, p.rtoMaxMs);
    ch.pending = [...ch.inFlight, ...ch.pending];
    ch.inFlight = [];
    ch.rtoDeadline = null;
    out.push(...pump(ch, p, now));
    ch.rtoDeadline = now + ch.rto;
  }
  if (ch.ackDeadline !== null && now >= ch.ackDeadline) {
    ch.ackDeadline = null;
    out.push(zlb(ch, zlbTunnelId));
  }
  return out;
}

export function channelDeadline<M>(ch: Channel<M>): number | null {
  const ds = [ch.rtoDeadline, ch.ackDeadline].filter((d): d is number => d !== null);
  return ds.length > 0 ? Math.min(...ds) : null;
}

/** Nothing queued and nothing unacknowledged. */
export function channelIdle<M>(ch: Channel<M>): boolean {
  return ch.pending.length === 0 && ch.inFlight.length === 0;
}
