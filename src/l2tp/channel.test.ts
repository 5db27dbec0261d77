/**
 * The reliable control channel alone (RFC 2661 §5.8, Appendix A): in-order delivery with queued
 * out-of-order messages, immediate ZLB for duplicates, delayed ZLB otherwise, window limits,
 * timeout back-off 1-2-4-8-8 s and failure after 5 retransmissions, go-back-N acks.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type ChannelParams,
  enqueue,
  newChannel,
  onAck,
  onReceive,
  onTimer,
  seqBefore,
} from "./channel.js";

const P: ChannelParams = {
  rtoInitialMs: 1000,
  rtoMaxMs: 8000,
  maxRetries: 5,
  ackDelayMs: 100,
  receiveWindow: 4,
};
const body = (s: string) => Buffer.from(s);

test("16-bit sequence comparison wraps (§5.8)", () => {
  assert.equal(seqBefore(65535, 0), true);
  assert.equal(seqBefore(0, 65535), false);
  assert.equal(seqBefore(5, 5), false);
  assert.equal(seqBefore(100, 30000), true);
  assert.equal(seqBefore(100, 40000), false, "more than half the space apart: after");
});

test("receive: in order, queued out-of-order, duplicate acked at once, beyond window dropped", () => {
  const ch = newChannel<string>(P);
  assert.deepEqual(onReceive(ch, P, 0, "m0", 0, 9).deliver, ["m0"]);
  assert.equal(ch.ackDeadline, 100, "delayed ack");
  assert.deepEqual(onReceive(ch, P, 2, "m2", 1, 9).deliver, []);
  assert.deepEqual(onReceive(ch, P, 3, "m3", 2, 9).deliver, []);
  assert.deepEqual(onReceive(ch, P, 9, "m9", 3, 9).deliver, [], "outside our window of 4: dropped");
  assert.deepEqual(onReceive(ch, P, 1, "m1", 4, 9).deliver, ["m1", "m2", "m3"]);
  assert.equal(ch.nr, 4);
  const dup = onReceive(ch, P, 2, "m2", 5, 9);
  assert.equal(dup.duplicate, true);
  assert.deepEqual(dup.sends, [{ tunnelId: 9, sessionId: 0, ns: 0, nr: 4, body: Buffer.alloc(0) }]);
  // delayed ack fires as a ZLB when nothing was piggy-backed
  ch.ackDeadline = 100;
  assert.deepEqual(onTimer(ch, P, 100, 9), [
    { tunnelId: 9, sessionId: 0, ns: 0, nr: 4, body: Buffer.alloc(0) },
  ]);
});

test("send: window, piggy-backed Nr, back-off and failure after 5 retransmissions", () => {
  const ch = newChannel<string>(P, 2);
  ch.nr = 7;
  const s0 = enqueue(ch, P, { tunnelId: 5, sessionId: 0, body: body("a") }, 0);
  assert.deepEqual(
    s0.map((s) => [s.ns, s.nr]),
    [[0, 7]],
  );
  // CWND starts at 1 (Appendix A): the second waits
  assert.equal(enqueue(ch, P, { tunnelId: 5, sessionId: 0, body: body("b") }, 0).length, 0);
  onAck(ch, P, 1, 10);
  assert.equal(ch.inFlight.length, 0);
  assert.equal(ch.cwnd, 2);
  const times: number[] = [];
  let t = 0;
  // "b" is still pending until something pumps; a timer pass with nothing in flight sends nothing
  ch.pending.length = 0;
  enqueue(ch, P, { tunnelId: 5, sessionId: 0, body: body("c") }, 0);
  while (!ch.failed && t < 100_000) {
    t = ch.rtoDeadline ?? t + 1;
    if (onTimer(ch, P, t, 5).some((s) => s.body.length > 0)) times.push(t);
  }
  assert.deepEqual(times, [1000, 3000, 7000, 15000, 23000], "1, 2, 4, 8, 8 s apart");
  assert.equal(t, 31000, "declared failed after the 5th retransmission timed out");
});

test("go-back-N: an Nr covering messages moved back to the queue acks them", () => {
  const ch = newChannel<string>(P, 4);
  ch.cwnd = 4;
  for (const x of "abcd") enqueue(ch, P, { tunnelId: 1, sessionId: 0, body: body(x) }, 0);
  assert.equal(ch.inFlight.length, 4);
  onTimer(ch, P, 1000, 1); // timeout: all four back to the queue, only "a" resent (CWND 1)
  assert.deepEqual([ch.inFlight.length, ch.pending.length], [1, 3]);
  onAck(ch, P, 4, 1001); // the peer had b, c, d queued: Nr jumps to 4
  assert.deepEqual([ch.inFlight.length, ch.pending.length], [0, 0]);
  onAck(ch, P, 9, 1002); // an Nr beyond what we sent is ignored
  assert.equal(ch.nextNs, 4);
});
