/**
 * The link phases of RFC 1661 §3 in one place:
 *   Dead -> Establish (LCP) -> Authenticate -> Network (IPCP) -> Terminate -> Dead.
 * LCP, authentication and IPCP do not call each other: they report what happened
 * (Engine.report, a PhaseEvent) and `phaseEvent` decides what starts or stops next. The
 * dependencies point one way, from here to lcp.ts, auth.ts and ipcp.ts; session.ts hands
 * `phaseEvent` to every Engine it makes.
 */
import { authStart, authStop } from "./auth.js";
import type { Engine, PhaseEvent } from "./engine.js";
import { ipcpAssignAddress, ipcpDown, ipcpOpen, ipcpRejected, ipcpReleaseAddress } from "./ipcp.js";
import { authRefusedMessage, lcpClose, lcpLowerDown, lcpOpen } from "./lcp.js";
import type { DownReason, PppAuthMethod } from "./types.js";

export function phaseEvent(e: Engine, event: PhaseEvent): void {
  switch (event.type) {
    case "lcp-up":
      lcpUp(e, event.auth);
      return;
    case "lcp-down":
      lcpDown(e);
      return;
    case "lcp-finished":
      finish(e);
      return;
    case "auth-succeeded":
      enterNetwork(e);
      return;
    case "auth-failed":
      linkClose(e, "auth-failed", event.message);
      return;
    case "ipcp-rejected":
      e.setReason("ipcp-failed", "the peer rejected IPCP");
      ipcpRejected(e);
      return;
    case "ipcp-finished":
      // Nothing left to carry. Not while LCP is going down anyway: that reason stands.
      if (e.st.lcp.cp.state === "Opened") linkClose(e, "ipcp-failed", "IPCP negotiation failed");
      return;
    case "close":
      linkClose(e, event.reason, event.message);
      return;
  }
}

/** The lower layer (the L2TP session) is up: Establish. */
export function linkStart(e: Engine): void {
  if (e.st.started) return;
  e.st.started = true;
  e.st.phase = "Establish";
  lcpOpen(e);
}

/** Hang up: LCP Terminate if the link was started, else straight to Dead. */
export function adminClose(e: Engine, message: string): void {
  if (e.st.started) {
    linkClose(e, "admin-close", message);
    return;
  }
  e.setReason("admin-close", message);
  finish(e);
}

/** The lower layer went away: nothing more can be sent, the link is dead at once. */
export function lowerDown(e: Engine): void {
  e.setReason("lower-down", "the L2TP session went down");
  lcpLowerDown(e);
  finish(e);
}

function lcpUp(e: Engine, method: PppAuthMethod | null): void {
  if (method) {
    e.st.phase = "Authenticate";
    authStart(e, method);
  } else if (e.cfg.role === "client" && e.cfg.authMethods.length > 0) {
    linkClose(
      e,
      "auth-refused",
      "the server did not ask for authentication; it cannot prove it knows your password",
    );
  } else {
    enterNetwork(e);
  }
}

/** LCP left Opened: whatever ran above it stops, and the address goes back to the pool. */
function lcpDown(e: Engine): void {
  authStop(e);
  ipcpDown(e);
  ipcpReleaseAddress(e);
  e.st.phase = e.st.closeReason ? "Terminate" : "Establish";
}

/** Authentication is over (or not needed): RFC 1661 §3.5 Network-Layer Protocol phase. */
function enterNetwork(e: Engine): void {
  const st = e.st;
  if (st.finished || st.lcp.cp.state !== "Opened") return;
  st.phase = "Network";
  if (e.cfg.role === "server") {
    const problem = ipcpAssignAddress(e);
    if (problem !== null) {
      linkClose(e, "pool-exhausted", problem);
      return;
    }
  }
  ipcpOpen(e);
}

/** Closes the link (LCP Close: Terminate-Request) and remembers why. */
function linkClose(e: Engine, reason: DownReason, message: string): void {
  if (e.st.finished) return;
  e.setReason(reason, message);
  e.log.info(`closing the link: ${message}`, { reason });
  lcpClose(e);
}

/** The session is over: one link-down event, addresses released, no more timers. */
function finish(e: Engine): void {
  const st = e.st;
  if (st.finished) return;
  ipcpReleaseAddress(e);
  st.phase = "Dead";
  const r =
    st.closeReason ??
    (e.cfg.role === "client" && st.lcp.authRefused.length > 0 && st.lcp.cp.state !== "Opened"
      ? { reason: "auth-refused" as const, message: authRefusedMessage(e) }
      : { reason: "negotiation-failed" as const, message: "LCP negotiation failed" });
  st.closeReason = r;
  e.emit({ type: "link-down", reason: r.reason, message: r.message });
  st.finished = true;
  st.lcp.cp.deadline = null;
  st.ipcp.cp.deadline = null;
  st.auth.deadline = null;
  st.lcp.echo.deadline = null;
}
