/**
 * Threat model: an authenticated but hostile (or broken) L2TP/IPsec client tries to use up the
 * LNS's tunnel and session tables — by opening many tunnels or calls on its IPsec channel, or by
 * leaving them half open (SCCRQ without SCCCN, ICRQ without ICCN) — so that other clients can no
 * longer connect. The engine is driven directly with hand-made datagrams on a fake clock; each
 * IPsec channel is an `owner`, each of its inner UDP ports a `binding`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { unwrap } from "../../src/base/result.js";
import {
  createL2tp,
  handle,
  type L2tpAction,
  type L2tpConfig,
  type L2tpInput,
  type L2tpState,
} from "../../src/l2tp/index.js";
import type { Logger } from "../../src/obs/log.js";
import {
  AvpType,
  CdnResult,
  L2tpErrorCode,
  L2tpMessageType as M,
  StopCcnResult,
} from "../../src/registry/l2tp.js";
import { type L2tpAvp, parseAvps, serializeAvps } from "../../src/wire/l2tp/avp.js";
import {
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  findAvp,
} from "../../src/wire/l2tp/control.js";
import { controlHeader, parseL2tpPacket, serializeL2tpPacket } from "../../src/wire/l2tp/header.js";
import { seededRandom } from "../scenarios/l2tp-fakes.js";

interface LogLine {
  readonly level: string;
  readonly msg: string;
}
function recordingLogger(lines: LogLine[]): Logger {
  const l: Logger = {
    debug: (msg) => lines.push({ level: "debug", msg }),
    info: (msg) => lines.push({ level: "info", msg }),
    warn: (msg) => lines.push({ level: "warn", msg }),
    error: (msg) => lines.push({ level: "error", msg }),
    child: () => l,
  };
  return l;
}

/** An LNS on a fake clock, plus everything it sent, parsed. */
class Lns {
  state: L2tpState;
  now = 0;
  readonly logs: LogLine[] = [];
  readonly events: L2tpAction[] = [];
  readonly replies: {
    binding: string;
    tunnelId: number;
    sessionId: number;
    ns: number;
    msg?: ControlMessage;
  }[] = [];
  timerAt: number | null = null;

  constructor(config: Partial<L2tpConfig> = {}) {
    this.state = createL2tp({
      hostName: "lns",
      acceptTunnels: true,
      random: seededRandom(99),
      log: recordingLogger(this.logs),
      ...config,
    });
  }

  input(i: L2tpInput): void {
    const step = handle(this.state, i, this.now);
    this.state = step.state;
    for (const a of step.actions) {
      if (a.kind === "armTimer") this.timerAt = a.at;
      else if (a.kind === "send") {
        const pkt = unwrap(parseL2tpPacket(a.bytes));
        const avps = unwrap(parseAvps(pkt.body));
        this.replies.push({
          binding: a.binding,
          tunnelId: pkt.header.tunnelId,
          sessionId: pkt.header.sessionId,
          ns: pkt.header.ns ?? 0,
          ...(avps.length > 0 ? { msg: unwrap(decodeControlMessage(avps)) } : {}),
        });
      } else this.events.push(a);
    }
  }

  /** Advances the clock to `t`, firing the engine's timer whenever it is due. */
  advance(t: number, between?: () => void): void {
    while (this.timerAt !== null && this.timerAt <= t) {
      this.now = Math.max(this.now, this.timerAt);
      this.timerAt = null;
      this.input({ kind: "timer" });
      between?.();
    }
    this.now = t;
  }

  sent(type: number, binding?: string) {
    return this.replies.filter(
      (r) => r.msg?.messageType === type && (binding === undefined || r.binding === binding),
    );
  }
  counter(name: string): bigint {
    return this.state.counters.get(name);
  }
}

const mt = (v: number): L2tpAvp => ({ type: AvpType.MessageType, mandatory: true, value: v });

/**
 * A hand-driven client tunnel: keeps its Ns/Nr right and acknowledges what the LNS sends, so the
 * LNS's reliable delivery never stalls or gives up (only the limits under test act).
 */
class Client {
  ns = 0;
  nr = 0;
  private acked = 0;
  lnsTunnelId = 0;
  private seen = 0;

  constructor(
    readonly lns: Lns,
    readonly owner: string,
    readonly binding: string,
    readonly peerTunnelId: number,
  ) {}

  private send(avps: L2tpAvp[], sessionId = 0): void {
    this.absorb();
    const bytes = serializeL2tpPacket({
      header: controlHeader(this.lnsTunnelId, sessionId, this.ns, this.nr),
      body: serializeAvps(encodeControlMessage(avps)),
    });
    this.ns = (this.ns + 1) & 0xffff;
    this.lns.input({ kind: "datagram", owner: this.owner, binding: this.binding, bytes });
    this.absorb();
  }

  /** Reads the LNS's new messages to this client (Nr, our tunnel ID). */
  absorb(): void {
    for (; this.seen < this.lns.replies.length; this.seen++) {
      const r = this.lns.replies[this.seen];
      if (!r || r.binding !== this.binding || r.tunnelId !== this.peerTunnelId || !r.msg) continue;
      if (r.ns === this.nr) this.nr = (this.nr + 1) & 0xffff;
      if (r.msg.messageType === M.SCCRP)
        this.lnsTunnelId = findAvp(r.msg, AvpType.AssignedTunnelId)?.value ?? 0;
    }
  }

  /**
   * A ZLB acknowledging what arrived since the last one (nothing when nothing did: a silent peer
   * stays silent); repeated until the LNS has nothing more queued.
   */
  ack(): void {
    for (let i = 0; i < 10_000; i++) {
      this.absorb();
      if (this.nr === this.acked) return;
      this.acked = this.nr;
      this.lns.input({
        kind: "datagram",
        owner: this.owner,
        binding: this.binding,
        bytes: serializeL2tpPacket({
          header: controlHeader(this.lnsTunnelId, 0, this.ns, this.nr),
          body: Buffer.alloc(0),
        }),
      });
    }
  }

  sccrq(): void {
    this.send([
      mt(M.SCCRQ),
      { type: AvpType.ProtocolVersion, mandatory: true, version: 1, revision: 0 },
      { type: AvpType.FramingCapabilities, mandatory: true, value: 3 },
      { type: AvpType.HostName, mandatory: true, value: Buffer.from("client") },
      { type: AvpType.AssignedTunnelId, mandatory: true, value: this.peerTunnelId },
      { type: AvpType.ReceiveWindowSize, mandatory: true, value: 64 },
    ]);
  }
  scccn(): void {
    this.send([mt(M.SCCCN)]);
  }
  /** SCCRQ + SCCCN; returns whether the LNS accepted (answered SCCRP). */
  establish(): boolean {
    this.sccrq();
    if (this.lnsTunnelId === 0) return false;
    this.scccn();
    this.ack();
    return true;
  }
  icrq(peerSessionId: number): void {
    this.send([
      mt(M.ICRQ),
      { type: AvpType.AssignedSessionId, mandatory: true, value: peerSessionId },
      { type: AvpType.CallSerialNumber, mandatory: true, value: peerSessionId },
    ]);
  }
  iccn(lnsSessionId: number): void {
    this.send(
      [
        mt(M.ICCN),
        { type: AvpType.TxConnectSpeed, mandatory: true, value: 1_000_000 },
        { type: AvpType.FramingType, mandatory: true, value: 1 },
      ],
      lnsSessionId,
    );
  }

  /** LNS replies for this client's tunnel of the given type. */
  replies(type: number) {
    this.absorb();
    return this.lns
      .sent(type, this.binding)
      .filter((r) => r.tunnelId === this.peerTunnelId)
      .map((r) => r.msg as ControlMessage);
  }
}

function result(m: ControlMessage | undefined) {
  const rc = m ? findAvp(m, AvpType.ResultCode) : undefined;
  return { result: rc?.resultCode, error: rc?.errorCode };
}

test("one IPsec channel opening 1000 tunnels gets only its cap; the rest are refused with StopCCN, and another channel still gets a tunnel", () => {
  const lns = new Lns();
  const clients: Client[] = [];
  for (let i = 1; i <= 1000; i++) {
    const c = new Client(lns, "chan-A", `chan-A:${1700 + (i % 3)}`, i);
    c.sccrq();
    clients.push(c);
  }
  const accepted = clients.filter((c) => c.replies(M.SCCRP).length === 1);
  const refused = clients.filter((c) => c.replies(M.StopCCN).length === 1);
  assert.equal(accepted.length, 4, "default: 4 tunnels per channel");
  assert.equal(refused.length, 996);
  for (const c of refused) {
    assert.deepEqual(result(c.replies(M.StopCCN)[0]), {
      result: StopCcnResult.GeneralError,
      error: L2tpErrorCode.NoResources,
    });
  }
  assert.equal(lns.state.tunnels.size, 4, "a refusal keeps no tunnel state");
  assert.equal(lns.counter('l2tp_limit_refused{limit="tunnels_per_owner"}'), 996n);
  const limitLogs = lns.logs.filter((l) => l.level === "warn" && /limit/.test(l.msg));
  assert.ok(limitLogs.length >= 1, "the refusals are logged");
  assert.ok(limitLogs.length <= 2, `refusal logging is rate-limited (${limitLogs.length} lines)`);

  const other = new Client(lns, "chan-B", "chan-B:1701", 7);
  assert.ok(other.establish(), "another channel still gets a tunnel");
  assert.equal(lns.events.filter((e) => e.kind === "tunnelUp").length, 1);
});

test("one IPsec channel placing 1000 calls gets 4 per tunnel and 8 in all; the rest get CDN, and another channel still gets a call", () => {
  const lns = new Lns();
  const t1 = new Client(lns, "chan-A", "chan-A:1701", 1);
  const t2 = new Client(lns, "chan-A", "chan-A:1702", 2);
  const t3 = new Client(lns, "chan-A", "chan-A:1703", 3);
  for (const t of [t1, t2, t3]) assert.ok(t.establish());
  for (const t of [t1, t2, t3]) {
    for (let s = 1; s <= 1000; s++) t.icrq(s);
    t.ack();
  }
  assert.equal(t1.replies(M.ICRP).length, 4, "4 sessions per tunnel");
  assert.equal(t2.replies(M.ICRP).length, 4);
  assert.equal(t3.replies(M.ICRP).length, 0, "8 sessions per channel");
  assert.equal(t1.replies(M.CDN).length, 996);
  assert.equal(t3.replies(M.CDN).length, 1000);
  for (const cdn of [...t1.replies(M.CDN), ...t3.replies(M.CDN)]) {
    assert.deepEqual(result(cdn), {
      result: CdnResult.TemporaryNoFacilities,
      error: L2tpErrorCode.NoResources,
    });
  }
  assert.equal(lns.counter('l2tp_limit_refused{limit="sessions_per_tunnel"}'), 996n * 2n);
  assert.equal(lns.counter('l2tp_limit_refused{limit="sessions_per_owner"}'), 1000n);
  assert.ok(lns.logs.filter((l) => l.level === "warn" && /limit/.test(l.msg)).length <= 4);

  const other = new Client(lns, "chan-B", "chan-B:1701", 9);
  assert.ok(other.establish());
  other.icrq(1);
  assert.equal(other.replies(M.ICRP).length, 1, "another channel still gets a call");
});

test("channels that hold extra tunnels cannot take the part of the global table kept for first tunnels", () => {
  // 16 tunnels in all; extra (second, third, …) tunnels of a channel may fill at most 3/4 of it
  const lns = new Lns({ maxTunnels: 16, maxTunnelsPerOwner: 8 });
  for (let ch = 0; ch < 4; ch++) {
    for (let i = 1; i <= 8; i++) new Client(lns, `chan-${ch}`, `chan-${ch}:1701`, i).sccrq();
  }
  // chan-0: 8; chan-1: 4 (the table reaches 12); chan-2 and chan-3: their first tunnel only
  assert.equal(lns.state.tunnels.size, 14);
  assert.equal(lns.counter('l2tp_limit_refused{limit="tunnels_global"}'), 4n + 7n + 7n);
  const late = [];
  for (let ch = 100; ch < 102; ch++) {
    const c = new Client(lns, `chan-${ch}`, `chan-${ch}:1701`, 1);
    c.sccrq();
    late.push(c);
  }
  assert.equal(late.filter((c) => c.replies(M.SCCRP).length === 1).length, 2);
  const full = new Client(lns, "chan-200", "chan-200:1701", 1);
  full.sccrq();
  assert.equal(full.replies(M.StopCCN).length, 1, "the global cap itself still holds");
  assert.equal(lns.state.tunnels.size, 16);
});

test("a client that floods calls and never acknowledges cannot grow the LNS's send queue without bound", () => {
  const lns = new Lns();
  const c = new Client(lns, "chan-A", "chan-A:1701", 5);
  assert.ok(c.establish());
  const stuckNr = c.nr;
  for (let s = 1; s <= 1000; s++) {
    c.icrq(s);
    c.nr = stuckNr; // never acknowledge the answers
  }
  const t = [...lns.state.tunnels.values()][0];
  assert.ok(t);
  assert.ok(
    t.channel.pending.length + t.channel.inFlight.length <= 32,
    `queue ${t.channel.pending.length + t.channel.inFlight.length}`,
  );
  assert.equal(t.state, "closing", "the tunnel is cleared");
  assert.equal(lns.counter('l2tp_limit_refused{limit="control_backlog"}'), 1n);
  // once the client acknowledges again, the StopCCN behind the unacknowledged replies goes out
  const lastNs = Math.max(
    ...lns.replies.filter((r) => r.tunnelId === 5 && r.msg !== undefined).map((r) => r.ns),
  );
  c.nr = (lastNs + 1) & 0xffff;
  c.ack();
  const stop = c.replies(M.StopCCN);
  assert.equal(stop.length, 1);
  assert.deepEqual(result(stop[0]), {
    result: StopCcnResult.GeneralError,
    error: L2tpErrorCode.NoResources,
  });
});

test("a half-open tunnel (SCCRP sent, no SCCCN) is torn down after 30 s with StopCCN", () => {
  const lns = new Lns();
  const c = new Client(lns, "chan-A", "chan-A:1701", 5);
  c.sccrq();
  c.ack();
  assert.equal(c.replies(M.SCCRP).length, 1);
  lns.advance(29_999, () => c.ack());
  assert.equal(c.replies(M.StopCCN).length, 0, "not before the deadline");
  lns.advance(30_000, () => c.ack());
  const stop = c.replies(M.StopCCN);
  assert.equal(stop.length, 1, "StopCCN at the deadline");
  assert.equal(result(stop[0]).result, StopCcnResult.GeneralRequest);
  assert.equal(lns.counter('l2tp_setup_timeout{what="tunnel"}'), 1n);
  assert.ok(lns.logs.some((l) => l.level === "warn" && /not established/.test(l.msg)));
  c.ack();
  assert.equal(lns.state.tunnels.size, 0, "state released once the StopCCN is acked");
  // the channel's slots are free again
  for (let i = 10; i < 14; i++) {
    assert.ok(new Client(lns, "chan-A", "chan-A:1701", i).establish());
  }
});

test("a half-open session (ICRP sent, no ICCN) is torn down after 30 s with CDN; its tunnel stays", () => {
  const lns = new Lns();
  const c = new Client(lns, "chan-A", "chan-A:1701", 5);
  assert.ok(c.establish());
  c.icrq(31);
  c.ack();
  assert.equal(c.replies(M.ICRP).length, 1);
  lns.advance(lns.now + 29_999, () => c.ack());
  assert.equal(c.replies(M.CDN).length, 0, "not before the deadline");
  lns.advance(lns.now + 1, () => c.ack());
  const cdn = c.replies(M.CDN);
  assert.equal(cdn.length, 1, "CDN at the deadline");
  assert.equal(result(cdn[0]).result, CdnResult.Timeout);
  assert.equal(lns.counter('l2tp_setup_timeout{what="session"}'), 1n);
  assert.ok(lns.logs.some((l) => l.level === "warn" && /not established/.test(l.msg)));
  const t = [...lns.state.tunnels.values()][0];
  assert.equal(t?.state, "established");
  assert.equal(t?.sessions.size, 0);
  assert.equal(c.replies(M.StopCCN).length, 0);
});

test("completed tunnels and sessions do not expire (10 minutes, HELLOs acked)", () => {
  const lns = new Lns();
  const c = new Client(lns, "chan-A", "chan-A:1701", 5);
  assert.ok(c.establish());
  c.icrq(31);
  c.ack();
  const lnsSession = c.replies(M.ICRP)[0];
  const sid = lnsSession ? (findAvp(lnsSession, AvpType.AssignedSessionId)?.value ?? 0) : 0;
  c.iccn(sid);
  c.ack();
  assert.equal(lns.events.filter((e) => e.kind === "sessionUp").length, 1);
  lns.advance(600_000, () => c.ack());
  assert.ok(c.replies(M.HELLO).length >= 5, "the LNS kept probing the quiet peer");
  assert.equal(c.replies(M.StopCCN).length, 0);
  assert.equal(c.replies(M.CDN).length, 0);
  assert.equal(lns.counter('l2tp_setup_timeout{what="tunnel"}'), 0n);
  assert.equal(lns.counter('l2tp_setup_timeout{what="session"}'), 0n);
  const t = [...lns.state.tunnels.values()][0];
  assert.equal(t?.sessions.get(sid)?.state, "established");
});

test("when a channel's IPsec SA goes, closeOwner drops its tunnels and sessions silently; other channels keep theirs", () => {
  const lns = new Lns();
  const a1 = new Client(lns, "chan-A", "chan-A:1701", 1);
  const a2 = new Client(lns, "chan-A", "chan-A:1702", 2);
  const b = new Client(lns, "chan-B", "chan-B:1701", 1);
  for (const c of [a1, a2, b]) {
    assert.ok(c.establish());
    c.icrq(1);
    c.ack();
  }
  const sentBefore = lns.replies.length;
  lns.input({ kind: "closeOwner", owner: "chan-A" });
  assert.equal(lns.replies.length, sentBefore, "nothing is sent into a transport that is gone");
  assert.equal(lns.state.tunnels.size, 1);
  assert.equal([...lns.state.tunnels.values()][0]?.binding, "chan-B:1701");
  const down = lns.events.filter((e) => e.kind === "tunnelDown" || e.kind === "sessionDown");
  assert.equal(down.filter((e) => e.kind === "tunnelDown").length, 2);
  assert.equal(down.filter((e) => e.kind === "sessionDown").length, 2);
  // the channel may come back (new SA) and gets its full share again
  for (let i = 10; i < 14; i++) {
    assert.ok(new Client(lns, "chan-A", `chan-A:${i}`, i).establish());
  }
});

test("without an owner, each binding is its own owner (caps still apply)", () => {
  const lns = new Lns();
  let accepted = 0;
  for (let i = 1; i <= 20; i++) {
    const bytes = serializeL2tpPacket({
      header: controlHeader(0, 0, 0, 0),
      body: serializeAvps(
        encodeControlMessage([
          mt(M.SCCRQ),
          { type: AvpType.ProtocolVersion, mandatory: true, version: 1, revision: 0 },
          { type: AvpType.FramingCapabilities, mandatory: true, value: 3 },
          { type: AvpType.HostName, mandatory: true, value: Buffer.from("x") },
          { type: AvpType.AssignedTunnelId, mandatory: true, value: i },
        ]),
      ),
    });
    lns.input({ kind: "datagram", binding: "only-binding", bytes });
    accepted = lns.sent(M.SCCRP).length;
  }
  assert.equal(accepted, 4);
});
