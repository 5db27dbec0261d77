/**
 * The terminal view of `oakley connect` (progress.ts), on a fake TTY stream and a manual timer:
 * steps as ticked lines, a spinner that says what it waits for and is erased before other
 * lines, a down with why and when the next attempt is; off a terminal the same lines, no escape
 * codes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LogHub } from "../obs/log.js";
import { ConnectView, type ViewTimer } from "./progress.js";

class FakeStream {
  readonly chunks: string[] = [];
  constructor(readonly isTTY: boolean) {}
  write(s: string): boolean {
    this.chunks.push(s);
    return true;
  }
  /** What a terminal shows: \r and "erase line" applied, one string per line. */
  screen(): string[] {
    const lines: string[] = [""];
    const erase = `\r${String.fromCharCode(27)}[2K`;
    for (const ch of this.chunks.join("").split(new RegExp(`(${erase.replace("[", "\\[")}|\n)`))) {
      if (ch === "\n") lines.push("");
      else if (ch === erase) lines[lines.length - 1] = "";
      else lines[lines.length - 1] += ch;
    }
    return lines;
  }
}

class ManualTimer implements ViewTimer {
  fns = new Set<() => void>();
  every(_ms: number, fn: () => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  tick(): void {
    for (const f of this.fns) f();
  }
}

function setup(isTTY: boolean, o: { verbose?: boolean } = {}) {
  let now = Date.parse("2026-12-07T16:40:00Z");
  const out = new FakeStream(isTTY);
  const timer = new ManualTimer();
  const view = new ConnectView(out, { now: () => now, timer, ...o });
  const hub = new LogHub(view, "info", () => now);
  return {
    out,
    timer,
    view,
    log: hub.logger("daemon"),
    ike: hub.logger("ike"),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("oakley connect on a terminal", () => {
  test("each step is a ticked line; the spinner says what comes next and counts seconds", () => {
    const t = setup(true);
    t.log.info("connecting to 198.51.100.2 from 192.0.2.2 (nat-policy 0)", {
      event: "connecting",
    });
    assert.deepEqual(t.out.screen(), [
      "16:40:00 → connecting to 198.51.100.2 from 192.0.2.2 (nat-policy 0)",
      "⠋ waiting for phase 1 (IKE Main Mode) 0 s",
    ]);
    t.advance(2000);
    t.timer.tick();
    assert.equal(t.out.screen().at(-1), "⠙ waiting for phase 1 (IKE Main Mode) 2 s");
    t.log.info("phase 1 up with 198.51.100.2: AES-CBC-256", { step: "phase1" });
    t.log.info("phase 2 up: ESP transport", { step: "phase2" });
    t.log.info("L2TP tunnel up (server oakley)", { step: "l2tp" });
    t.log.info("PPP authenticated as alice (mschapv2)", { step: "ppp-auth" });
    assert.match(t.out.screen().at(-1) ?? "", /^. waiting for an address \(IPCP\) 0 s$/);
    t.log.info("address assigned: 203.0.113.2 (server 203.0.113.1) on oakc0", {
      step: "address",
    });
    assert.deepEqual(t.out.screen(), [
      "16:40:00 → connecting to 198.51.100.2 from 192.0.2.2 (nat-policy 0)",
      "16:40:02 ✔ phase 1 up with 198.51.100.2: AES-CBC-256",
      "16:40:02 ✔ phase 2 up: ESP transport",
      "16:40:02 ✔ L2TP tunnel up (server oakley)",
      "16:40:02 ✔ PPP authenticated as alice (mschapv2)",
      "16:40:02 ✔ address assigned: 203.0.113.2 (server 203.0.113.1) on oakc0",
      "",
    ]);
    assert.equal(t.timer.fns.size, 0, "the spinner stops once connected");
  });

  test("a down says why and when it tries again; the spinner counts down to the attempt", () => {
    const t = setup(true);
    t.log.warn(
      "connection down: dpd failed: peer declared dead [OAK_E_IKE_DEAD_PEER]; reconnecting in 4.0 s (at 16:40:04, attempt 3); VPN traffic stays blocked meanwhile",
      { event: "down", retryInMs: 4000, attempt: 3, code: "OAK_E_IKE_DEAD_PEER" },
    );
    assert.deepEqual(t.out.screen(), [
      "16:40:00 ✖ connection down: dpd failed: peer declared dead [OAK_E_IKE_DEAD_PEER]; reconnecting in 4.0 s (at 16:40:04, attempt 3); VPN traffic stays blocked meanwhile",
      "⠋ reconnecting in 4 s",
    ]);
    t.advance(2500);
    t.timer.tick();
    assert.equal(t.out.screen().at(-1), "⠙ reconnecting in 2 s");
  });

  test("other lines are printed above the spinner, which is redrawn; protocol chatter hidden", () => {
    const t = setup(true);
    t.log.info("connecting to 198.51.100.2", { event: "connecting" });
    t.ike.info("Main Mode: sending MM1", { sa: "46af" });
    t.log.warn("--password puts a secret in the process list");
    t.ike.warn("retransmitting MM1", { sa: "46af" });
    assert.deepEqual(t.out.screen(), [
      "16:40:00 → connecting to 198.51.100.2",
      "16:40:00 ! --password puts a secret in the process list",
      "16:40:00 ! retransmitting MM1",
      "⠋ waiting for phase 1 (IKE Main Mode) 0 s",
    ]);
    t.view.close();
    assert.equal(t.out.screen().at(-1), "", "close() erases the spinner");
  });
});

describe("oakley connect off a terminal (pipe, journal)", () => {
  test("the same readable lines, every group's, no spinner and no escape codes", () => {
    const t = setup(false, { verbose: true });
    t.log.info("connecting to 198.51.100.2", { event: "connecting" });
    t.ike.info("child SA deleted", { sa: "46af", reason: "deleted by the peer" });
    t.log.info("phase 1 up with 198.51.100.2", { step: "phase1" });
    t.log.warn("connection down: x [C]; reconnecting in 1.0 s", {
      event: "down",
      retryInMs: 1000,
    });
    t.timer.tick();
    const all = t.out.chunks.join("");
    assert.ok(!all.includes(String.fromCharCode(27)) && !all.includes("\r"), "no escape codes");
    assert.equal(t.timer.fns.size, 0);
    assert.deepEqual(all.split("\n"), [
      "16:40:00 → connecting to 198.51.100.2",
      "16:40:00 · ike child SA deleted  sa=46af reason=deleted by the peer",
      "16:40:00 ✔ phase 1 up with 198.51.100.2",
      "16:40:00 ✖ connection down: x [C]; reconnecting in 1.0 s",
      "",
    ]);
  });
});
