/**
 * L2TP LAC <-> LNS scenarios in one process, fake clock, in-memory lossy network
 * (test/scenarios/l2tp-fakes.ts). Expected behaviour is RFC 2661's: §5.8 (reliable delivery,
 * 1 s initial timeout doubling to 8 s, 5 retransmissions), §6.5 (Hello), §5.7 (StopCCN),
 * §5.1.1 (tunnel authentication), §4.2 (unknown mandatory AVPs), §4.4.2 (result codes).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { unwrap } from "../../src/base/result.js";
import {
  AvpType,
  CdnResult,
  L2tpErrorCode,
  L2tpMessageType,
  StopCcnResult,
} from "../../src/registry/l2tp.js";
import { encodeAvp, parseAvps, serializeAvps } from "../../src/wire/l2tp/avp.js";
import {
  decodeControlMessage,
  encodeControlMessage,
  findAvp,
} from "../../src/wire/l2tp/control.js";
import { controlHeader, parseL2tpPacket, serializeL2tpPacket } from "../../src/wire/l2tp/header.js";
import { type LinkQuality, Net, type Peer } from "./l2tp-fakes.js";

/** Session limits for the scenarios that place many calls on one tunnel (defaults allow 4). */
const MANY_CALLS = { maxSessionsPerTunnel: 256, maxSessionsPerOwner: 256 } as const;

function pair(
  opts: {
    lacSecret?: string;
    lnsSecret?: string;
    seed?: number;
    quality?: LinkQuality;
    limits?: typeof MANY_CALLS;
  } = {},
) {
  const net = new Net(opts.seed ?? 7);
  const lns = net.peer(
    "lns",
    {
      hostName: "lns",
      acceptTunnels: true,
      ...opts.limits,
      ...(opts.lnsSecret ? { secret: Buffer.from(opts.lnsSecret) } : {}),
    },
    1000 + (opts.seed ?? 0),
  );
  const lac = net.peer(
    "lac",
    {
      hostName: "lac",
      acceptTunnels: false,
      ...opts.limits,
      ...(opts.lacSecret ? { secret: Buffer.from(opts.lacSecret) } : {}),
    },
    2000 + (opts.seed ?? 0),
  );
  net.link(lac, "to-lns", lns, "sa1|192.0.2.10:1701", opts.quality);
  return { net, lns, lac };
}

function openTunnel(lac: Peer): number {
  const a = lac.input({ kind: "openTunnel", binding: "to-lns" });
  const o = a.find((x) => x.kind === "tunnelOpening");
  assert.ok(o && o.kind === "tunnelOpening");
  return o.tunnelId;
}
function placeCall(lac: Peer, tunnelId: number): number {
  const a = lac.input({ kind: "placeCall", tunnelId });
  const o = a.find((x) => x.kind === "sessionOpening");
  assert.ok(o && o.kind === "sessionOpening", JSON.stringify(a));
  return o.sessionId;
}

/** Message types of the control messages a peer sent ("ZLB" for acks). */
function sentTypes(p: Peer, secret?: Buffer): string[] {
  return p.sent.map(({ bytes }) => {
    const pkt = unwrap(parseL2tpPacket(bytes));
    if (pkt.kind === "data") return "data";
    const avps = unwrap(parseAvps(pkt.body));
    if (avps.length === 0) return "ZLB";
    return String(unwrap(decodeControlMessage(avps, secret)).messageType);
  });
}

test("LAC <-> LNS: tunnel and session come up, PPP frames flow both ways", () => {
  const { net, lns, lac } = pair();
  const tid = openTunnel(lac);
  const sid = placeCall(lac, tid);
  net.run(10_000, () => lns.of("sessionUp").length === 1 && lac.of("sessionUp").length === 1);
  assert.equal(lac.of("tunnelUp")[0]?.peerHostName, "lns");
  assert.equal(lns.of("tunnelUp")[0]?.peerHostName, "lac");
  assert.equal(lns.of("tunnelUp")[0]?.binding, "sa1|192.0.2.10:1701");
  const lacUp = lac.of("sessionUp")[0];
  const lnsUp = lns.of("sessionUp")[0];
  assert.ok(lacUp && lnsUp);
  assert.equal(lacUp.sessionId, sid);
  assert.equal(lacUp.peerSessionId, lnsUp.sessionId);
  assert.equal(lnsUp.peerSessionId, sid);
  // the exchange of RFC 2661 Appendix B.1, our side: SCCRQ, SCCCN, ICRQ, ICCN
  assert.deepEqual(
    sentTypes(lac).filter((t) => t !== "ZLB"),
    ["1", "3", "10", "12"],
  );
  assert.deepEqual(
    sentTypes(lns).filter((t) => t !== "ZLB"),
    ["2", "11"],
  );
  lac.input({
    kind: "sendPpp",
    tunnelId: tid,
    sessionId: sid,
    frame: Buffer.from("ff03c021010100040000", "hex"),
  });
  lns.input({
    kind: "sendPpp",
    tunnelId: lnsUp.tunnelId,
    sessionId: lnsUp.sessionId,
    frame: Buffer.from("ff03c021020100040000", "hex"),
  });
  net.run(net.now + 100);
  assert.deepEqual(
    lns.of("ppp").map((p) => p.frame.toString("hex")),
    ["ff03c021010100040000"],
  );
  assert.deepEqual(
    lac.of("ppp").map((p) => p.frame.toString("hex")),
    ["ff03c021020100040000"],
  );
  assert.equal(lns.of("ppp")[0]?.sessionId, lnsUp.sessionId);
});

for (const seed of [1, 2, 3, 4, 5]) {
  test(`10% loss, 5% duplication and reordering still converge (seed ${seed})`, () => {
    const quality: LinkQuality = { loss: 0.1, duplicate: 0.05, delayMs: 5, jitterMs: 40 };
    const { net, lns, lac } = pair({ seed, quality, limits: MANY_CALLS });
    const tid = openTunnel(lac);
    for (let i = 0; i < 20; i++) placeCall(lac, tid);
    net.run(600_000, () => lns.of("sessionUp").length === 20 && lac.of("sessionUp").length === 20);
    assert.equal(lac.of("sessionUp").length, 20, `LAC sessions up by t=${net.now}`);
    assert.equal(lns.of("sessionUp").length, 20);
    assert.equal(
      lns.of("tunnelUp").length,
      1,
      "a retransmitted SCCRQ must not create a second tunnel",
    );
    assert.equal(lac.of("tunnelDown").length + lns.of("tunnelDown").length, 0);
    assert.ok(net.lost > 0, "the link really lost datagrams");
    // every LAC session maps to exactly one LNS session and back
    const lnsBySid = new Map(lns.of("sessionUp").map((s) => [s.sessionId, s]));
    for (const s of lac.of("sessionUp"))
      assert.equal(lnsBySid.get(s.peerSessionId)?.peerSessionId, s.sessionId);
    assert.equal(lns.state.tunnels.size, 1);
  });
}

test("retransmissions exhausted: the tunnel is torn down (peer dead)", () => {
  const { net, lac } = pair();
  const tid = openTunnel(lac);
  placeCall(lac, tid);
  net.run(10_000, () => lac.of("sessionUp").length === 1);
  net.run(net.now + 1000); // let the ICCN be acknowledged
  const t0 = net.now;
  net.setQuality(lac, "to-lns", { loss: 1, duplicate: 0, delayMs: 5, jitterMs: 0 });
  lac.input({
    kind: "closeSession",
    tunnelId: tid,
    sessionId: lac.of("sessionUp")[0]?.sessionId ?? 0,
  });
  net.run(t0 + 100_000, () => lac.of("tunnelDown").length > 0);
  const down = lac.of("tunnelDown")[0];
  assert.equal(down?.by, "timeout");
  // 1 + 2 + 4 + 8 + 8 + 8 = 31 s after the CDN was first sent
  assert.ok(net.now - t0 >= 31_000 && net.now - t0 < 32_000, `torn down after ${net.now - t0} ms`);
  // the CDN went out 6 times (first + 5 retransmissions, §5.8 recommended maximum)
  assert.equal(sentTypes(lac).filter((t) => t === "14").length, 6);
  assert.equal(lac.state.tunnels.size, 0);
  assert.equal(lac.timerAt, null);
});

test("Hello on idle, and a silent peer is detected through the unacknowledged Hello", () => {
  const { net, lns, lac } = pair();
  openTunnel(lac);
  net.run(10_000, () => lns.of("tunnelUp").length === 1 && lac.of("tunnelUp").length === 1);
  const t0 = net.now;
  net.run(t0 + 65_000);
  // whichever side's hello timer runs out first sends HELLO; receiving it (and acking it) resets
  // the other side's idle timer, so exactly one HELLO is sent in the first interval
  const hellos = [lac, lns].map(
    (p) => sentTypes(p).filter((t) => t === String(L2tpMessageType.HELLO)).length,
  );
  assert.equal(hellos[0]! + hellos[1]!, 1, `HELLOs sent: ${hellos}`);
  net.run(t0 + 125_000);
  const hellos2 = [lac, lns].map(
    (p) => sentTypes(p).filter((t) => t === String(L2tpMessageType.HELLO)).length,
  );
  assert.equal(hellos2[0]! + hellos2[1]!, 2, `HELLOs sent: ${hellos2}`);
  assert.equal(lac.of("tunnelDown").length, 0);
  // now the peer goes silent
  net.setQuality(lac, "to-lns", { loss: 1, duplicate: 0, delayMs: 5, jitterMs: 0 });
  net.run(
    net.now + 200_000,
    () => lac.of("tunnelDown").length > 0 && lns.of("tunnelDown").length > 0,
  );
  assert.equal(lac.of("tunnelDown")[0]?.by, "timeout");
  assert.equal(lns.of("tunnelDown")[0]?.by, "timeout");
});

test("StopCCN: both sides take the tunnel and its sessions down with the result code", () => {
  const { net, lns, lac } = pair();
  const tid = openTunnel(lac);
  placeCall(lac, tid);
  placeCall(lac, tid);
  net.run(10_000, () => lns.of("sessionUp").length === 2);
  lac.input({
    kind: "closeTunnel",
    tunnelId: tid,
    resultCode: StopCcnResult.ShuttingDown,
    message: "bye",
  });
  net.run(net.now + 1000);
  assert.equal(lac.of("tunnelDown")[0]?.by, "local");
  assert.equal(lac.of("sessionDown").length, 2);
  const down = lns.of("tunnelDown")[0];
  assert.equal(down?.by, "peer");
  assert.equal(down?.resultCode, StopCcnResult.ShuttingDown);
  assert.equal(down?.message, "bye");
  assert.equal(lns.of("sessionDown").length, 2);
  assert.equal(lac.state.tunnels.size, 0, "StopCCN acked: state released");
  assert.equal(lns.state.tunnels.size, 1, "receiver holds state for a retransmission cycle");
  net.run(net.now + 40_000);
  assert.equal(lns.state.tunnels.size, 0);
});

test("CDN: the LNS clears a call, the LAC sees the result code; the tunnel stays", () => {
  const { net, lns, lac } = pair();
  const tid = openTunnel(lac);
  placeCall(lac, tid);
  net.run(10_000, () => lns.of("sessionUp").length === 1 && lac.of("sessionUp").length === 1);
  const s = lns.of("sessionUp")[0];
  assert.ok(s);
  lns.input({
    kind: "closeSession",
    tunnelId: s.tunnelId,
    sessionId: s.sessionId,
    resultCode: CdnResult.Administrative,
  });
  net.run(net.now + 1000);
  const d = lac.of("sessionDown")[0];
  assert.equal(d?.by, "peer");
  assert.equal(d?.resultCode, CdnResult.Administrative);
  assert.equal(lac.of("tunnelDown").length, 0);
  // PPP for the cleared session is refused
  lac.input({
    kind: "sendPpp",
    tunnelId: tid,
    sessionId: d?.sessionId ?? 0,
    frame: Buffer.from("ff03"),
  });
  assert.equal(lac.of("commandFailed").length, 1);
});

test("tunnel authentication succeeds with the right secret and hides the call AVPs", () => {
  const { net, lns, lac } = pair({ lacSecret: "s3cret", lnsSecret: "s3cret" });
  const tid = openTunnel(lac);
  placeCall(lac, tid);
  net.run(10_000, () => lns.of("sessionUp").length === 1 && lac.of("sessionUp").length === 1);
  assert.equal(lns.of("sessionUp").length, 1);
  // the SCCRQ carries a Challenge, SCCRP a Challenge Response and its own Challenge
  const msgs = lac.sent.map((s) => unwrap(parseAvps(unwrap(parseL2tpPacket(s.bytes)).body)));
  const sccrq = msgs[0] ?? [];
  assert.ok(sccrq.some((a) => a.attributeType === AvpType.Challenge));
  const icrq = msgs.find((m) => m[0]?.value.readUInt16BE(0) === L2tpMessageType.ICRQ) ?? [];
  assert.equal(icrq.find((a) => a.attributeType === AvpType.AssignedSessionId)?.hidden, true);
  assert.equal(icrq[1]?.attributeType, AvpType.RandomVector);
});

for (const [name, lacSecret, lnsSecret] of [
  ["wrong secret", "s3cret", "other"],
  ["LNS challenges a LAC without secret", undefined, "s3cret"],
] as const) {
  test(`tunnel authentication fails: ${name}`, () => {
    const { net, lns, lac } = pair({ ...(lacSecret ? { lacSecret } : {}), lnsSecret });
    const tid = openTunnel(lac);
    placeCall(lac, tid);
    net.run(60_000, () => lac.of("tunnelDown").length > 0 && lns.state.tunnels.size === 0);
    const down = lac.of("tunnelDown")[0];
    assert.equal(down?.resultCode, StopCcnResult.NotAuthorized);
    assert.equal(lac.of("sessionUp").length, 0);
    assert.equal(lns.of("tunnelUp").length, 0);
    assert.equal(lac.of("sessionDown")[0]?.resultCode, StopCcnResult.NotAuthorized);
  });
}

test("the LNS rejects a wrong SCCCN Challenge Response with StopCCN result 4", () => {
  const { net, lns, lac } = pair({ lacSecret: "aaa", lnsSecret: "aaa" });
  openTunnel(lac);
  // corrupt the LAC's SCCCN on the way: the LNS must refuse
  const orig = lac.net.transmit.bind(lac.net);
  lac.net.transmit = (from, binding, bytes) => {
    const pkt = unwrap(parseL2tpPacket(bytes));
    const avps = unwrap(parseAvps(pkt.body));
    if (from === lac && avps[0]?.value.readUInt16BE(0) === L2tpMessageType.SCCCN) {
      const bad = avps.map((a) =>
        a.attributeType === AvpType.ChallengeResponse ? { ...a, value: Buffer.alloc(16) } : a,
      );
      return orig(
        from,
        binding,
        serializeL2tpPacket({ header: pkt.header, body: serializeAvps(bad) }),
      );
    }
    return orig(from, binding, bytes);
  };
  net.run(10_000, () => lac.of("tunnelDown").length > 0);
  assert.equal(lac.of("tunnelDown")[0]?.by, "peer");
  assert.equal(lac.of("tunnelDown")[0]?.resultCode, StopCcnResult.NotAuthorized);
  assert.equal(lns.of("tunnelUp").length, 0);
  assert.equal(lns.state.counters.get("l2tp_auth_failures"), 1n);
});

test("200 sessions over one tunnel, frames reach the right session", () => {
  const { net, lns, lac } = pair({ limits: MANY_CALLS });
  const tid = openTunnel(lac);
  const sids = Array.from({ length: 200 }, () => placeCall(lac, tid));
  assert.equal(new Set(sids).size, 200, "session IDs are unique");
  net.run(300_000, () => lns.of("sessionUp").length === 200 && lac.of("sessionUp").length === 200);
  assert.equal(lns.of("sessionUp").length, 200);
  for (const [i, sid] of sids.entries()) {
    lac.input({
      kind: "sendPpp",
      tunnelId: tid,
      sessionId: sid,
      frame: Buffer.from([0xff, 0x03, i >> 8, i & 0xff]),
    });
  }
  net.run(net.now + 100);
  const lnsToLac = new Map(lns.of("sessionUp").map((s) => [s.sessionId, s.peerSessionId]));
  const got = lns.of("ppp");
  assert.equal(got.length, 200);
  for (const p of got) {
    const i = p.frame.readUInt16BE(2);
    assert.equal(lnsToLac.get(p.sessionId), sids[i]);
  }
});

test("two LACs with identical inner address/port and identical IDs stay separate by binding", () => {
  const net = new Net(3);
  const lns = net.peer("lns", { hostName: "lns", acceptTunnels: true }, 11);
  // same random seed: both LACs pick the same tunnel ID, session ID, everything
  const a = net.peer("lacA", { hostName: "client", acceptTunnels: false }, 99);
  const b = net.peer("lacB", { hostName: "client", acceptTunnels: false }, 99);
  // both are 10.0.0.2:1701 inside; the IPsec SAs (bindings) differ
  net.link(a, "to-lns", lns, "spi=c0ffee01|10.0.0.2:1701");
  net.link(b, "to-lns", lns, "spi=c0ffee02|10.0.0.2:1701");
  const ta = openTunnel(a);
  const tb = openTunnel(b);
  assert.equal(ta, tb);
  const sa = placeCall(a, ta);
  const sb = placeCall(b, tb);
  assert.equal(sa, sb);
  net.run(10_000, () => lns.of("sessionUp").length === 2);
  assert.equal(lns.of("tunnelUp").length, 2);
  assert.notEqual(lns.of("tunnelUp")[0]?.tunnelId, lns.of("tunnelUp")[1]?.tunnelId);
  assert.equal(a.of("sessionUp").length, 1);
  assert.equal(b.of("sessionUp").length, 1);
  for (const s of lns.of("sessionUp")) {
    lns.input({
      kind: "sendPpp",
      tunnelId: s.tunnelId,
      sessionId: s.sessionId,
      frame: Buffer.from(s.binding),
    });
  }
  net.run(net.now + 100);
  assert.deepEqual(
    a.of("ppp").map((p) => p.frame.toString()),
    ["spi=c0ffee01|10.0.0.2:1701"],
  );
  assert.deepEqual(
    b.of("ppp").map((p) => p.frame.toString()),
    ["spi=c0ffee02|10.0.0.2:1701"],
  );
  // a datagram for A's tunnel arriving on B's binding is dropped
  const tunnelOfA = lns.of("tunnelUp").find((t) => t.binding.startsWith("spi=c0ffee01"));
  assert.ok(tunnelOfA);
  lns.input({
    kind: "datagram",
    binding: "spi=c0ffee02|10.0.0.2:1701",
    bytes: serializeL2tpPacket({
      header: controlHeader(tunnelOfA.tunnelId, 0, 0, 0),
      body: Buffer.alloc(0),
    }),
  });
  assert.equal(lns.state.counters.get('l2tp_rx_drop{reason="wrong_binding"}'), 1n);
});

// ----- hand-crafted hostile / unusual input to an LNS

function sccrq(extra: Parameters<typeof encodeAvp>[0][] = [], drop: number[] = []) {
  const avps = [
    { type: AvpType.MessageType, mandatory: true, value: L2tpMessageType.SCCRQ },
    { type: AvpType.ProtocolVersion, mandatory: true, version: 1, revision: 0 },
    { type: AvpType.FramingCapabilities, mandatory: true, value: 3 },
    { type: AvpType.HostName, mandatory: true, value: Buffer.from("crafted") },
    { type: AvpType.AssignedTunnelId, mandatory: true, value: 4242 },
    ...extra,
  ].filter((a) => !drop.includes(a.type)) as Parameters<typeof encodeAvp>[0][];
  return encodeControlMessage(avps);
}
function crafted(
  avps: ReturnType<typeof sccrq>,
  tunnelId = 0,
  sessionId = 0,
  ns = 0,
  nr = 0,
): Buffer {
  return serializeL2tpPacket({
    header: controlHeader(tunnelId, sessionId, ns, nr),
    body: serializeAvps(avps),
  });
}
function lnsReplies(lns: Peer) {
  return lns.sent.map((s) => {
    const pkt = unwrap(parseL2tpPacket(s.bytes));
    const avps = unwrap(parseAvps(pkt.body));
    return {
      header: pkt.header,
      msg: avps.length > 0 ? unwrap(decodeControlMessage(avps)) : undefined,
    };
  });
}

test("crafted SCCRQs: vendor AVP tolerated, unknown mandatory AVP / missing Host Name / bad version refused", () => {
  const cases: [string, ReturnType<typeof sccrq>, number | null, number | undefined][] = [
    [
      "vendor AVP without M",
      [
        ...sccrq(),
        {
          mandatory: false,
          hidden: false,
          reserved: 0,
          vendorId: 311,
          attributeType: 1,
          value: Buffer.from("x"),
        },
      ],
      null,
      undefined,
    ],
    [
      "vendor AVP with M",
      [
        ...sccrq(),
        {
          mandatory: true,
          hidden: false,
          reserved: 0,
          vendorId: 311,
          attributeType: 1,
          value: Buffer.from("x"),
        },
      ],
      StopCcnResult.GeneralError,
      L2tpErrorCode.UnknownMandatoryAvp,
    ],
    [
      "missing Host Name",
      sccrq([], [AvpType.HostName]),
      StopCcnResult.GeneralError,
      L2tpErrorCode.BadValue,
    ],
    [
      "protocol version 2.0",
      sccrq([], [AvpType.ProtocolVersion]).concat(
        encodeAvp({ type: AvpType.ProtocolVersion, mandatory: true, version: 2, revision: 0 }),
      ),
      StopCcnResult.UnsupportedVersion,
      0x0100,
    ],
  ];
  for (const [name, avps, result, error] of cases) {
    const net = new Net(1);
    const lns = net.peer("lns", { hostName: "lns", acceptTunnels: true }, 5);
    net.inject(lns, "peer-x", crafted(avps));
    net.run(500);
    const first = lnsReplies(lns).find((r) => r.msg);
    assert.ok(first?.msg, name);
    assert.equal(
      first.header.tunnelId,
      4242,
      `${name}: reply goes to the peer's Assigned Tunnel ID`,
    );
    assert.equal(first.header.nr, 1, name);
    if (result === null) {
      assert.equal(first.msg.messageType, L2tpMessageType.SCCRP, name);
    } else {
      assert.equal(first.msg.messageType, L2tpMessageType.StopCCN, name);
      const rc = findAvp(first.msg, AvpType.ResultCode);
      assert.equal(rc?.resultCode, result, name);
      assert.equal(rc?.errorCode, error, name);
    }
  }
});

test("crafted: L2TPv3 header and garbage are dropped silently; OCRQ is refused with CDN result 5", () => {
  const net = new Net(1);
  const lns = net.peer("lns", { hostName: "lns", acceptTunnels: true }, 5);
  net.inject(lns, "p", Buffer.from("c803000c0000000000000000", "hex"));
  net.inject(lns, "p", Buffer.from("ffff", "hex"));
  net.run(100);
  assert.equal(lns.sent.length, 0);
  assert.equal(lns.state.counters.get('l2tp_rx_drop{reason="bad_header"}'), 1n);
  // bring a crafted tunnel up, then send an OCRQ
  net.inject(lns, "p", crafted(sccrq()));
  net.run(200);
  const sccrp = lnsReplies(lns).find((r) => r.msg?.messageType === L2tpMessageType.SCCRP);
  assert.ok(sccrp?.msg);
  const ourTid = findAvp(sccrp.msg, AvpType.AssignedTunnelId)?.value ?? 0;
  net.inject(
    lns,
    "p",
    crafted(
      encodeControlMessage([
        { type: AvpType.MessageType, mandatory: true, value: L2tpMessageType.SCCCN },
      ]),
      ourTid,
      0,
      1,
      1,
    ),
  );
  net.run(400);
  assert.equal(lns.of("tunnelUp").length, 1);
  const ocrq = encodeControlMessage([
    { type: AvpType.MessageType, mandatory: true, value: L2tpMessageType.OCRQ },
    { type: AvpType.AssignedSessionId, mandatory: true, value: 77 },
    { type: AvpType.CallSerialNumber, mandatory: true, value: 1 },
  ]);
  net.inject(lns, "p", crafted(ocrq, ourTid, 0, 2, 2));
  net.run(600);
  const cdn = lnsReplies(lns).find((r) => r.msg?.messageType === L2tpMessageType.CDN);
  assert.ok(cdn?.msg);
  assert.equal(cdn.header.sessionId, 77);
  assert.equal(findAvp(cdn.msg, AvpType.ResultCode)?.resultCode, CdnResult.PermanentNoFacilities);
  // unknown mandatory AVP in an ICRQ: the call is refused with CDN error 8, the tunnel stays
  const icrq = [
    ...encodeControlMessage([
      { type: AvpType.MessageType, mandatory: true, value: L2tpMessageType.ICRQ },
      { type: AvpType.AssignedSessionId, mandatory: true, value: 78 },
      { type: AvpType.CallSerialNumber, mandatory: true, value: 2 },
    ]),
    {
      mandatory: true,
      hidden: false,
      reserved: 0,
      vendorId: 0,
      attributeType: 200,
      value: Buffer.alloc(0),
    },
  ];
  net.inject(lns, "p", crafted(icrq, ourTid, 0, 3, 3));
  net.run(800);
  const cdn2 = lnsReplies(lns).filter((r) => r.msg?.messageType === L2tpMessageType.CDN)[1];
  assert.ok(cdn2?.msg);
  assert.equal(cdn2.header.sessionId, 78);
  assert.equal(findAvp(cdn2.msg, AvpType.ResultCode)?.errorCode, L2tpErrorCode.UnknownMandatoryAvp);
  assert.equal(lns.of("tunnelDown").length, 0);
});

test("simultaneous SCCRQs with Tie Breakers: exactly one tunnel survives (§4.4.3)", () => {
  for (const seed of [1, 2, 3, 4]) {
    const net = new Net(seed);
    const a = net.peer("a", { hostName: "a", acceptTunnels: true, tieBreaker: true }, 100 + seed);
    const b = net.peer("b", { hostName: "b", acceptTunnels: true, tieBreaker: true }, 200 + seed);
    net.link(a, "to-b", b, "to-a");
    a.input({ kind: "openTunnel", binding: "to-b" });
    b.input({ kind: "openTunnel", binding: "to-a" });
    net.run(10_000, () => a.of("tunnelUp").length > 0 && b.of("tunnelUp").length > 0);
    net.run(net.now + 500);
    assert.equal(a.of("tunnelUp").length, 1, `seed ${seed}`);
    assert.equal(b.of("tunnelUp").length, 1, `seed ${seed}`);
    assert.equal(a.state.tunnels.size, 1, `seed ${seed}`);
    assert.equal(b.state.tunnels.size, 1, `seed ${seed}`);
    // the loser reports its own attempt as discarded
    const lost = [...a.of("tunnelDown"), ...b.of("tunnelDown")];
    assert.equal(lost.length, 1, `seed ${seed}`);
    assert.equal(lost[0]?.message, "tie breaker lost");
  }
});
