/**
 * The PPP option negotiation automaton (RFC 1661 §4), one module for LCP and every NCP.
 *
 * `fsmTransition(state, event)` is the state transition table of RFC 1661 §4.1 as code: the
 * next state and the actions, in the RFC's order. `undefined` means the table's "-" (an event
 * that cannot occur in that state: the caller logs and ignores it).
 *
 * Implementation options (RFC 1661 §4.1 footnotes): "r" (restart) is not taken: an Open in
 * Stopped/Stopping/Opened keeps the state; "p" (passive) is not taken; "x" (crossed
 * connection) needs no special action. The restart timer and counter semantics (irc, zrc,
 * TO+/TO-) are applied by the runner (cp.ts), which owns the counters.
 */

export const FSM_STATES = [
  "Initial",
  "Starting",
  "Closed",
  "Stopped",
  "Closing",
  "Stopping",
  "Req-Sent",
  "Ack-Rcvd",
  "Ack-Sent",
  "Opened",
] as const;
export type FsmState = (typeof FSM_STATES)[number];

export const FSM_EVENTS = [
  "Up",
  "Down",
  "Open",
  "Close",
  "TO+",
  "TO-",
  "RCR+",
  "RCR-",
  "RCA",
  "RCN",
  "RTR",
  "RTA",
  "RUC",
  "RXJ+",
  "RXJ-",
  "RXR",
] as const;
export type FsmEvent = (typeof FSM_EVENTS)[number];

/**
 * tlu/tld/tls/tlf: This-Layer-Up/Down/Started/Finished; irc/zrc: Initialize/Zero-Restart-Count;
 * scr/sca/scn: Send-Configure-Request/Ack/Nak(or Reject); str/sta: Send-Terminate-Request/Ack;
 * scj: Send-Code-Reject; ser: Send-Echo-Reply.
 */
export type FsmAction =
  | "tlu"
  | "tld"
  | "tls"
  | "tlf"
  | "irc"
  | "zrc"
  | "scr"
  | "sca"
  | "scn"
  | "str"
  | "sta"
  | "scj"
  | "ser";

export interface FsmTransition {
  readonly next: FsmState;
  readonly actions: readonly FsmAction[];
}

const t = (next: FsmState, ...actions: FsmAction[]): FsmTransition => ({ next, actions });

/** The states in which the restart timer runs (RFC 1661 §4.6). */
export function timerRunsIn(s: FsmState): boolean {
  return (
    s === "Closing" || s === "Stopping" || s === "Req-Sent" || s === "Ack-Rcvd" || s === "Ack-Sent"
  );
}

export function fsmTransition(s: FsmState, e: FsmEvent): FsmTransition | undefined {
  switch (e) {
    case "Up":
      if (s === "Initial") return t("Closed");
      if (s === "Starting") return t("Req-Sent", "irc", "scr");
      return undefined;
    case "Down":
      switch (s) {
        case "Closed":
        case "Closing":
          return t("Initial");
        case "Stopped":
          return t("Starting", "tls");
        case "Stopping":
        case "Req-Sent":
        case "Ack-Rcvd":
        case "Ack-Sent":
          return t("Starting");
        case "Opened":
          return t("Starting", "tld");
        default:
          return undefined;
      }
    case "Open":
      switch (s) {
        case "Initial":
          return t("Starting", "tls");
        case "Closed":
          return t("Req-Sent", "irc", "scr");
        case "Closing":
          return t("Stopping");
        default:
          // Starting 1, Stopped 3r, Stopping 5r, Req-Sent 6, Ack-Rcvd 7, Ack-Sent 8, Opened 9r
          return t(s);
      }
    case "Close":
      switch (s) {
        case "Initial":
          return t("Initial");
        case "Starting":
          return t("Initial", "tlf");
        case "Closed":
        case "Stopped":
          return t("Closed");
        case "Closing":
        case "Stopping":
          return t("Closing");
        case "Req-Sent":
        case "Ack-Rcvd":
        case "Ack-Sent":
          return t("Closing", "irc", "str");
        case "Opened":
          return t("Closing", "tld", "irc", "str");
      }
      return undefined;
    case "TO+":
      switch (s) {
        case "Closing":
        case "Stopping":
          return t(s, "str");
        case "Req-Sent":
        case "Ack-Rcvd":
          return t("Req-Sent", "scr");
        case "Ack-Sent":
          return t("Ack-Sent", "scr");
        default:
          return undefined;
      }
    case "TO-":
      switch (s) {
        case "Closing":
          return t("Closed", "tlf");
        case "Stopping":
        case "Req-Sent":
        case "Ack-Rcvd":
        case "Ack-Sent":
          return t("Stopped", "tlf");
        default:
          return undefined;
      }
    case "RCR+":
    case "RCR-": {
      const reply: FsmAction = e === "RCR+" ? "sca" : "scn";
      switch (s) {
        case "Closed":
          return t("Closed", "sta");
        case "Stopped":
          return t(e === "RCR+" ? "Ack-Sent" : "Req-Sent", "irc", "scr", reply);
        case "Closing":
        case "Stopping":
          return t(s);
        case "Req-Sent":
          return t(e === "RCR+" ? "Ack-Sent" : "Req-Sent", reply);
        case "Ack-Rcvd":
          return e === "RCR+" ? t("Opened", "sca", "tlu") : t("Ack-Rcvd", "scn");
        case "Ack-Sent":
          return t(e === "RCR+" ? "Ack-Sent" : "Req-Sent", reply);
        case "Opened":
          return t(e === "RCR+" ? "Ack-Sent" : "Req-Sent", "tld", "scr", reply);
        default:
          return undefined;
      }
    }
    case "RCA":
      switch (s) {
        case "Closed":
        case "Stopped":
          return t(s, "sta");
        case "Closing":
        case "Stopping":
          return t(s);
        case "Req-Sent":
          return t("Ack-Rcvd", "irc");
        case "Ack-Rcvd":
          return t("Req-Sent", "scr");
        case "Ack-Sent":
          return t("Opened", "irc", "tlu");
        case "Opened":
          return t("Req-Sent", "tld", "scr");
        default:
          return undefined;
      }
    case "RCN":
      switch (s) {
        case "Closed":
        case "Stopped":
          return t(s, "sta");
        case "Closing":
        case "Stopping":
          return t(s);
        case "Req-Sent":
          return t("Req-Sent", "irc", "scr");
        case "Ack-Rcvd":
          return t("Req-Sent", "scr");
        case "Ack-Sent":
          return t("Ack-Sent", "irc", "scr");
        case "Opened":
          return t("Req-Sent", "tld", "scr");
        default:
          return undefined;
      }
    case "RTR":
      switch (s) {
        case "Closed":
        case "Stopped":
        case "Closing":
        case "Stopping":
          return t(s, "sta");
        case "Req-Sent":
        case "Ack-Rcvd":
        case "Ack-Sent":
          return t("Req-Sent", "sta");
        case "Opened":
          return t("Stopping", "tld", "zrc", "sta");
        default:
          return undefined;
      }
    case "RTA":
      switch (s) {
        case "Closed":
        case "Stopped":
          return t(s);
        case "Closing":
          return t("Closed", "tlf");
        case "Stopping":
          return t("Stopped", "tlf");
        case "Req-Sent":
        case "Ack-Rcvd":
          return t("Req-Sent");
        case "Ack-Sent":
          return t("Ack-Sent");
        case "Opened":
          return t("Req-Sent", "tld", "scr");
        default:
          return undefined;
      }
    case "RUC":
      return s === "Initial" || s === "Starting" ? undefined : t(s, "scj");
    case "RXJ+":
      if (s === "Initial" || s === "Starting") return undefined;
      return t(s === "Ack-Rcvd" ? "Req-Sent" : s);
    case "RXJ-":
      switch (s) {
        case "Closed":
        case "Closing":
          return t("Closed", "tlf");
        case "Stopped":
        case "Stopping":
        case "Req-Sent":
        case "Ack-Rcvd":
        case "Ack-Sent":
          return t("Stopped", "tlf");
        case "Opened":
          return t("Stopping", "tld", "irc", "str");
        default:
          return undefined;
      }
    case "RXR":
      if (s === "Initial" || s === "Starting") return undefined;
      return s === "Opened" ? t(s, "ser") : t(s);
  }
}
