import assert from "node:assert/strict";
import { test } from "node:test";
import { FSM_EVENTS, FSM_STATES, type FsmEvent, fsmTransition, timerRunsIn } from "./fsm.js";

/**
 * Source: RFC 1661 §4.1 "State Transition Table", transcribed as printed (both halves joined).
 * "-" = the event cannot occur; the suffixes r (restart), p (passive) and x (crossed
 * connection) mark implementation options: the next state is the number before them.
 */
const RFC1661_TABLE = `
      |    0         1         2         3         4         5         6         7         8           9
Events| Initial   Starting  Closed    Stopped   Closing   Stopping  Req-Sent  Ack-Rcvd  Ack-Sent    Opened
 Up   |    2     irc,scr/6     -         -         -         -         -         -         -           -
 Down |    -         -         0       tls/1       0         1         1         1         1         tld/1
 Open |  tls/1       1     irc,scr/6     3r        5r        5r        6         7         8           9r
 Close|    0       tlf/0       2         2         4         4     irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
  TO+ |    -         -         -         -       str/4     str/5     scr/6     scr/6     scr/8         -
  TO- |    -         -         -         -       tlf/2     tlf/3     tlf/3p    tlf/3p    tlf/3p        -
 RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5       sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 RCR- |    -         -       sta/2 irc,scr,scn/6   4         5       scn/6     scn/7     scn/6   tld,scr,scn/6
 RCA  |    -         -       sta/2     sta/3       4         5       irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 RCN  |    -         -       sta/2     sta/3       4         5     irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
 RTR  |    -         -       sta/2     sta/3     sta/4     sta/5     sta/6     sta/6     sta/6   tld,zrc,sta/5
 RTA  |    -         -         2         3       tlf/2     tlf/3       6         6         8       tld,scr/6
 RUC  |    -         -       scj/2     scj/3     scj/4     scj/5     scj/6     scj/7     scj/8       scj/9
 RXJ+ |    -         -         2         3         4         5         6         6         8           9
 RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3     tlf/3     tlf/3     tlf/3   tld,irc,str/5
 RXR  |    -         -         2         3         4         5         6         7         8         ser/9
`;

function rfcCells(): Map<FsmEvent, string[]> {
  const rows = new Map<FsmEvent, string[]>();
  for (const line of RFC1661_TABLE.split("\n")) {
    const m = /^\s*(\S+)\s*\|(.*)$/.exec(line);
    if (!m) continue;
    const ev = m[1] as FsmEvent;
    if (!FSM_EVENTS.includes(ev)) continue;
    const cells = (m[2] ?? "").trim().split(/\s+/);
    assert.equal(cells.length, 10, `row ${ev}`);
    rows.set(ev, cells);
  }
  assert.equal(rows.size, FSM_EVENTS.length);
  return rows;
}

test("RFC 1661 §4.1: every (state, event) pair gives the table's next state and actions", () => {
  const rows = rfcCells();
  let checked = 0;
  for (const ev of FSM_EVENTS) {
    const cells = rows.get(ev) ?? [];
    FSM_STATES.forEach((st, i) => {
      const cell = cells[i] ?? "?";
      const got = fsmTransition(st, ev);
      if (cell === "-") {
        assert.equal(got, undefined, `${st} x ${ev}: expected illegal`);
      } else {
        const [acts, dest] = cell.includes("/")
          ? (cell.split("/") as [string, string])
          : ["", cell];
        const next = FSM_STATES[Number(dest.replace(/[rpx]$/, ""))];
        assert.ok(got, `${st} x ${ev}: expected ${cell}`);
        assert.equal(got?.next, next, `${st} x ${ev}: state (${cell})`);
        assert.deepEqual(
          got?.actions,
          acts === "" ? [] : acts.split(","),
          `${st} x ${ev}: actions (${cell})`,
        );
      }
      checked++;
    });
  }
  assert.equal(checked, 160);
});

test("RFC 1661 §4.6: the restart timer runs exactly in Closing, Stopping, Req-Sent, Ack-Rcvd, Ack-Sent", () => {
  assert.deepEqual(FSM_STATES.filter(timerRunsIn), [
    "Closing",
    "Stopping",
    "Req-Sent",
    "Ack-Rcvd",
    "Ack-Sent",
  ]);
});
