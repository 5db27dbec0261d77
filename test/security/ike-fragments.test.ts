/**
 * Threat model: hostile IKEv1 fragments (payload 132). A peer — or anyone who learnt an SA's
 * cookies — sends fragments to make the responder hold memory, stitch a message out of pieces
 * of different messages, or crash the reassembly: fragment numbers beyond the limit or beyond
 * the LAST one, two LAST fragments, the same number twice with different content, a message
 * growing past the size limit, many reassemblies from one address, fragments that never
 * complete (gaps), fragments of an exchange we do not know, a reassembled message for another
 * SA or one that is itself a fragment. Each is dropped, counted as ike_drop{reason=…} and
 * logged; memory held stays within the limits; nothing throws. Reassembler limits are checked
 * directly, the engine's handling on an established SA between two engines on the simulator.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_FRAGMENTATION,
  type FragmentationConfig,
  Reassembler,
} from "../../src/ike/fragments.js";
import { addressSelector, type IkeConfigInput } from "../../src/ike/index.js";
import {
  FRAGMENT_FLAG_LAST,
  isakmpCookie,
  isakmpMessageId,
  NO_FLAGS,
  serializeIkeFragment,
  splitIntoFragments,
} from "../../src/wire/isakmp/index.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { PSK, SimIkePeer } from "../scenarios/ike-sim.js";

const LIMITS: FragmentationConfig = {
  ...DEFAULT_FRAGMENTATION,
  maxFragments: 8,
  maxMessageBytes: 1000,
  maxPendingPerPeer: 2,
  maxBufferedBytes: 1500,
  timeoutMs: 5_000,
};
const piece = (n: number, fill = n, len = 100) => Buffer.alloc(len, fill);
const frag = (n: number, opts: { last?: boolean; id?: number; data?: Buffer } = {}) => ({
  fragmentId: opts.id ?? 1,
  fragmentNumber: n,
  last: opts.last ?? false,
  data: opts.data ?? piece(n),
});

describe("IKE fragment reassembly limits (Reassembler)", () => {
  it("reassembles out of order; a duplicate with the same bytes is harmless", () => {
    const r = new Reassembler(LIMITS);
    assert.equal(r.add("sa", "p", frag(3, { last: true }), 0).kind, "need-more");
    assert.equal(r.add("sa", "p", frag(1), 0).kind, "need-more");
    assert.equal(r.add("sa", "p", frag(1), 0).kind, "duplicate");
    const done = r.add("sa", "p", frag(2), 0);
    assert.ok(done.kind === "complete");
    assert.ok(done.message.equals(Buffer.concat([piece(1), piece(2), piece(3)])));
    assert.equal(r.pendingCount, 0);
    assert.equal(r.bufferedBytes, 0);
  });

  it("a fragment numbered beyond maxFragments discards the reassembly", () => {
    const r = new Reassembler(LIMITS);
    r.add("sa", "p", frag(1), 0);
    const d = r.add("sa", "p", frag(9), 0);
    assert.ok(d.kind === "drop" && d.reason === "fragment_too_many" && d.discarded);
    assert.equal(r.bufferedBytes, 0);
  });

  it("the same number twice with different content (an overlap) discards the reassembly", () => {
    const r = new Reassembler(LIMITS);
    r.add("sa", "p", frag(1), 0);
    const d = r.add("sa", "p", frag(1, { data: piece(1, 0xee) }), 0);
    assert.ok(d.kind === "drop" && d.reason === "fragment_conflict" && d.discarded);
    assert.equal(r.pendingCount, 0);
  });

  it("fragments beyond the LAST one, or two different LAST ones, discard the reassembly", () => {
    const r = new Reassembler(LIMITS);
    r.add("a", "p", frag(2, { last: true }), 0);
    const beyond = r.add("a", "p", frag(3), 0);
    assert.ok(beyond.kind === "drop" && beyond.reason === "fragment_inconsistent");
    r.add("b", "p", frag(4), 0);
    const lastBelow = r.add("b", "p", frag(2, { last: true }), 0);
    assert.ok(lastBelow.kind === "drop" && lastBelow.reason === "fragment_inconsistent");
    r.add("c", "p", frag(2, { last: true }), 0);
    const twoLast = r.add("c", "p", frag(3, { last: true }), 0);
    assert.ok(twoLast.kind === "drop" && twoLast.reason === "fragment_inconsistent");
    const relabel = new Reassembler(LIMITS);
    relabel.add("d", "p", frag(1), 0);
    const d = relabel.add("d", "p", frag(1, { last: true }), 0);
    assert.ok(d.kind === "drop" && d.reason === "fragment_conflict");
    assert.equal(r.pendingCount + relabel.pendingCount, 0);
  });

  it("a message growing past maxMessageBytes is discarded before it is stored", () => {
    const r = new Reassembler(LIMITS);
    for (let n = 1; n <= 3; n++) r.add("sa", "p", frag(n, { data: piece(n, n, 300) }), 0);
    const d = r.add("sa", "p", frag(4, { data: piece(4, 4, 300) }), 0);
    assert.ok(d.kind === "drop" && d.reason === "fragment_too_large");
    assert.equal(r.bufferedBytes, 0);
  });

  it("one peer address holds at most maxPendingPerPeer reassemblies; others are unaffected", () => {
    const r = new Reassembler(LIMITS);
    r.add("sa1", "198.51.100.7", frag(1), 0);
    r.add("sa2", "198.51.100.7", frag(1), 0);
    const d = r.add("sa3", "198.51.100.7", frag(1), 0);
    assert.ok(d.kind === "drop" && d.reason === "fragment_peer_limit" && !d.discarded);
    assert.equal(r.add("sa4", "203.0.113.5", frag(1), 0).kind, "need-more");
    assert.equal(r.pendingCount, 3);
  });

  it("bytes buffered over all peers stay under maxBufferedBytes", () => {
    const r = new Reassembler(LIMITS);
    for (let i = 0; i < 5; i++) {
      r.add(`sa${i}`, `192.0.2.${i}`, frag(1, { data: piece(1, 1, 400) }), 0);
      assert.ok(r.bufferedBytes <= LIMITS.maxBufferedBytes);
    }
    assert.equal(r.bufferedBytes, 1200);
    assert.equal(r.pendingCount, 3, "the refused new reassemblies hold nothing");
  });

  it("a gap never completes: the reassembly is dropped at its deadline (engine clock)", () => {
    const r = new Reassembler(LIMITS);
    r.add("sa", "p", frag(1), 1000);
    r.add("sa", "p", frag(3, { last: true }), 2000);
    assert.deepEqual(r.expire(5999), []);
    const e = r.expire(6000);
    assert.equal(e.length, 1);
    assert.deepEqual(e[0]!.received, [1, 3]);
    assert.equal(e[0]!.last, 3);
    assert.equal(r.bufferedBytes, 0);
  });

  it("a new Fragment ID replaces the pending reassembly of the same SA (no accumulation)", () => {
    const r = new Reassembler(LIMITS);
    for (let id = 1; id <= 50; id++) r.add("sa", "p", frag(1, { id }), 0);
    assert.equal(r.pendingCount, 1);
    assert.equal(r.bufferedBytes, 100);
  });
});

// ------------------------------------------------------------------------------------------
// The engine

const SERVER = "198.51.100.2";
const CLIENT = "203.0.113.9";

function established(serverCfg: IkeConfigInput = {}) {
  const sim = new Simulator(5);
  const net = new SimNetwork(sim);
  const server = new SimIkePeer(
    sim,
    net.host(SERVER),
    { psks: [{ secret: PSK }], ...serverCfg },
    1,
    "debug",
  );
  const client = new SimIkePeer(sim, net.host(CLIENT), { psks: [{ secret: PSK }] }, 2);
  client.initiate({
    peer: { address: SERVER, port: 500 },
    phase2: {
      mode: "transport",
      local: addressSelector(CLIENT, 17, 1701),
      remote: addressSelector(SERVER, 17, 1701),
    },
  });
  sim.runUntilTrue(() => server.installed.size > 0, 10_000);
  const sa = [...server.engine.sas.values()][0];
  assert.ok(sa?.state === "ESTABLISHED");
  const inject = (data: Buffer) =>
    server.perform(
      server.engine.handleDatagram(
        {
          data,
          local: { address: SERVER, port: 500 },
          remote: { address: CLIENT, port: 500 },
        },
        sim.now(),
      ),
    );
  return { sim, server, sa, inject };
}

function carrier(
  ckyI: Buffer,
  ckyR: Buffer,
  n: number,
  data: Buffer,
  opts: { last?: boolean; id?: number } = {},
) {
  return serializeIkeFragment({
    header: {
      initiatorCookie: isakmpCookie(ckyI),
      responderCookie: isakmpCookie(ckyR),
      nextPayload: 132,
      majorVersion: 1,
      minorVersion: 0,
      exchangeType: 2,
      flags: NO_FLAGS,
      messageId: isakmpMessageId(0),
      length: 0,
    },
    fragmentId: opts.id ?? 1,
    fragmentNumber: n,
    flags: opts.last ? FRAGMENT_FLAG_LAST : 0,
    reserved: 0,
    data,
  });
}

const drops = (p: SimIkePeer, reason: string) => p.counters.get(`ike_drop{reason="${reason}"}`);
const logged = (p: SimIkePeer, re: RegExp) =>
  p.sink.records().some((r) => typeof r.msg === "string" && re.test(r.msg));

describe("IKE fragments at the engine", () => {
  it("a fragment of an exchange we do not know (unknown cookies, or a first message) is dropped", () => {
    const { server, sa, inject } = established();
    inject(carrier(Buffer.alloc(8, 7), Buffer.alloc(8, 8), 1, piece(1), { last: true }));
    inject(carrier(sa.ckyIB, Buffer.alloc(8), 1, piece(1), { last: true }));
    assert.equal(drops(server, "fragment_unknown_sa"), 2n);
    assert.ok(logged(server, /IKE fragment for no known IKE SA dropped/));
  });

  it("an overlap with different content on a live SA: counted, logged, nothing dispatched", () => {
    const { server, sa, inject } = established();
    const before = server.sent().length;
    inject(carrier(sa.ckyIB, sa.ckyRB, 1, piece(1)));
    inject(carrier(sa.ckyIB, sa.ckyRB, 1, piece(1, 0x55)));
    assert.equal(drops(server, "fragment_conflict"), 1n);
    assert.ok(
      logged(server, /IKE fragment dropped: fragment 1 arrived twice with different content/),
    );
    assert.equal(server.sent().length, before);
    assert.equal(sa.state, "ESTABLISHED");
  });

  it("a gap: the incomplete message is dropped at the deadline with a log line naming what is missing", () => {
    const { sim, server, sa, inject } = established();
    inject(carrier(sa.ckyIB, sa.ckyRB, 1, piece(1)));
    inject(carrier(sa.ckyIB, sa.ckyRB, 3, piece(3), { last: true }));
    sim.runFor(DEFAULT_FRAGMENTATION.timeoutMs + 1000);
    assert.equal(drops(server, "fragment_timeout"), 1n);
    assert.ok(
      logged(server, /incomplete fragmented IKE message from 203\.0\.113\.9 .*missing 2 of 3/),
    );
  });

  it("a reassembled message naming other cookies, or itself a fragment, is not dispatched", () => {
    const { server, sa, inject } = established();
    const other = Buffer.concat([Buffer.alloc(16, 9), Buffer.alloc(40, 1)]);
    other.writeUInt32BE(other.length, 24);
    for (const f of splitIntoFragments(other, 1, 100)) {
      // Re-address the carriers to our SA (the payload still names the other cookies).
      sa.ckyIB.copy(f, 0);
      sa.ckyRB.copy(f, 8);
      inject(f);
    }
    assert.equal(drops(server, "fragment_mismatch"), 1n);
    const inner = carrier(sa.ckyIB, sa.ckyRB, 1, piece(1), { last: true });
    for (const f of splitIntoFragments(inner, 2, 30)) inject(f);
    assert.equal(drops(server, "fragment_nested"), 1n);
  });

  it("fragmentation off: fragments are dropped with a warning that says how to accept them", () => {
    const { server, sa, inject } = established({ fragmentation: { enabled: false } });
    inject(carrier(sa.ckyIB, sa.ckyRB, 1, piece(1)));
    inject(carrier(sa.ckyIB, sa.ckyRB, 2, piece(2), { last: true }));
    assert.equal(drops(server, "fragmentation_disabled"), 2n);
    assert.ok(logged(server, /IKE fragmentation is off here.*turn fragmentation on/));
  });

  it("a stream of new Fragment IDs on one SA holds one reassembly; deleting the SA frees it", () => {
    const { server, sa, inject, sim } = established();
    for (let id = 1; id <= 100; id++) inject(carrier(sa.ckyIB, sa.ckyRB, 1, piece(1), { id }));
    assert.equal(server.engine.fragmentsPending(), 1);
    server.perform(server.engine.deleteIkeSaCommand(sa.id, sim.now()));
    assert.equal(server.engine.fragmentsPending(), 0);
  });
});
