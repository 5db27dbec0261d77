/**
 * L2TPv2 (RFC 2661) LNS and LAC engine — public API for the daemon.
 *
 * The engine is sans-IO (DESIGN rule 4): it never reads a clock, draws randomness or touches a
 * socket. A thin driver feeds it inputs and performs the actions it returns.
 *
 *   import { createL2tp, handle } from "../l2tp/index.js";
 *
 *   // 1. Create an endpoint. An LNS accepts tunnels; a LAC opens them. One endpoint can do both.
 *   let l2tp = createL2tp({
 *     hostName: "oakley",
 *     acceptTunnels: true,                 // LNS; false for a client-only LAC
 *     secret: Buffer.from("tunnel-secret"), // optional: Challenge/Response + hidden AVPs
 *     random: (n) => crypto.randomBytes(n), // injected (platform/random)
 *     log: hub.logger("l2tp"),
 *   });
 *
 *   // 2. Feed it. `binding` is an opaque string that identifies where a datagram came from and
 *   //    where replies must go: use the IPsec SA (e.g. its SPI pair) plus the inner UDP source
 *   //    address:port, NOT the inner IP alone — clients behind one NAT may share inner addresses.
 *   //    `owner` names the transport (the IPsec channel): per-owner limits count against it.
 *   const step = handle(l2tp, { kind: "datagram", binding, owner, bytes }, now);
 *   l2tp = step.state;                      // always continue with the returned state
 *
 *   //    Other inputs: { kind: "timer" } when the armed deadline passes;
 *   //    { kind: "openTunnel", binding }             (LAC) -> "tunnelOpening" with its tunnelId
 *   //    { kind: "placeCall", tunnelId }             (LAC) -> "sessionOpening" with its sessionId
 *   //        (may be given before the tunnel is up; the ICRQ goes out once it is)
 *   //    { kind: "sendPpp", tunnelId, sessionId, frame }   PPP frame, starting at FF 03 (or the
 *   //        protocol field if the PPP engine compresses address/control)
 *   //    { kind: "closeSession", tunnelId, sessionId, resultCode? }  -> CDN
 *   //    { kind: "closeTunnel", tunnelId, resultCode? }              -> StopCCN
 *   //    { kind: "closeOwner", owner }   the IPsec SA is gone: its tunnels go, nothing is sent
 *
 *   // 3. Perform the actions, in order:
 *   for (const a of step.actions) switch (a.kind) {
 *     case "send":       udpSendTo(a.binding, a.bytes); break;   // reply where it came from
 *     case "armTimer":   timer.set(a.at); break;                  // one timer; null = cancel
 *     case "tunnelUp": case "tunnelDown": case "tunnelOpening": break; // bookkeeping / monitor
 *     case "sessionUp":  ppp.start(a.tunnelId, a.sessionId); break;
 *     case "sessionDown": ppp.stop(a.tunnelId, a.sessionId); break;
 *     case "ppp":        ppp.input(a.tunnelId, a.sessionId, a.frame); break;
 *     case "commandFailed": log it
 *   }
 *
 * A session is identified by (local tunnelId, local sessionId), both as this engine allocated
 * them; the peer's IDs only appear in events for display. Counters of dropped input are in
 * `state.counters` (Counters from obs/), and `listTunnels(state)` is a read-only view.
 *
 * Time: `now` is milliseconds on any monotonic scale the driver chooses; deadlines in
 * "armTimer" are on the same scale.
 */
export {
  type L2tpAction,
  type L2tpConfig,
  type L2tpInput,
  type L2tpState,
  type L2tpStep,
  type L2tpTeardown,
  type Session as L2tpSession,
  type Tunnel as L2tpTunnel,
  createL2tp,
  handle,
  listTunnels,
} from "./engine.js";
export { challengeResponse } from "./messages.js";
export { checkDeadlines } from "./timers.js";
