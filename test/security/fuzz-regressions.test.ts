/**
 * Inputs the deep fuzzer (`npm run fuzz`, test/fuzz/) found, kept as regression tests: each test
 * replays the input through the same public API the fuzzer used and states the threat it stands
 * for. The fuzzer run that found it is named beside each test.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createL2tp, handle, type L2tpState, listTunnels } from "../../src/l2tp/index.js";
import { l2tpCaptureMessages } from "../vectors/l2tp/captures.js";

function seeded(seed: number): (n: number) => Buffer {
  let x = seed;
  return (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return b;
  };
}

/** Runs the LNS's timers for `ms` of idle time (no input from anyone). */
function idle(st: L2tpState, from: number, ms: number): L2tpState {
  let now = from;
  const end = from + ms;
  while (now < end) {
    now = Math.min(end, Math.max(now + 1000, st.timerAt ?? end));
    if (st.timerAt !== null && st.timerAt <= now) st = handle(st, { kind: "timer" }, now).state;
  }
  return st;
}

describe("fuzz regressions: L2TP LNS", () => {
  // npm run fuzz -- --parser engine:l2tp-lns --runs 50000 --seed 3: six tunnels in waitCtlConn
  // with no timer armed after an idle hour.
  it("a peer that sends SCCRQ, acknowledges our SCCRP with a ZLB and never sends SCCCN does not keep a tunnel forever", () => {
    const sccrq = l2tpCaptureMessages()[0]; // xl2tpd's SCCRQ (test/vectors/l2tp/README.md)
    assert.ok(sccrq);
    let st = createL2tp({ hostName: "lns", acceptTunnels: true, random: seeded(1) });
    st = handle(st, { kind: "datagram", binding: "peer", bytes: sccrq }, 0).state;
    const t = listTunnels(st)[0];
    assert.equal(t?.state, "waitCtlConn");
    // ZLB: T=1 L=1 S=1, Length 12, our Tunnel ID, Session 0, Ns=1, Nr=1 (acknowledges the SCCRP)
    const zlb = Buffer.from(
      `c802000c${(t?.localId ?? 0).toString(16).padStart(4, "0")}000000010001`,
      "hex",
    );
    st = handle(st, { kind: "datagram", binding: "peer", bytes: zlb }, 10).state;
    st = idle(st, 10, 3_600_000);
    assert.deepEqual(
      listTunnels(st).map((x) => x.state),
      [],
      "the half-open tunnel must be cleared, or SCCRQ+ZLB pairs fill the tunnel table (maxTunnels) and lock out every user",
    );
    assert.equal(st.bySccrq.size, 0);
  });
});
