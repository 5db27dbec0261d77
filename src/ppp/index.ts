/**
 * Public API of the PPP engine (RFC 1661 LCP, RFC 1334 PAP, RFC 1994 CHAP-MD5, RFC 2759
 * MS-CHAPv2, RFC 1332/1877 IPCP) for PPP carried in L2TP, server and client roles.
 *
 *   import { PppSession, AddressPool } from "../ppp/index.js";
 *   const pool = new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] });
 *   const s = new PppSession({
 *     role: "server", sessionId: "t1/s5", authMethods: ["mschapv2", "chap-md5", "pap"],
 *     users: (name) => store.password(name), pool, localAddress: "203.0.113.1",
 *     dns: ["192.0.2.53"], mru: 1400, echoIntervalMs: 30_000, echoFailures: 4,
 *     random: (n) => crypto.randomBytes(n), logger,
 *   }, now);
 *   act(s.handle({ type: "start" }, now));               // when the L2TP session is up
 *   act(s.handle({ type: "frame", frame }, now));        // each L2TP data payload
 *   act(s.handle({ type: "timer" }, now));               // when the last set-timer time comes
 *   act(s.handle({ type: "send-ip", packet }, now));     // IPv4 from the TUN device
 *   act(s.handle({ type: "close" }, now));               // hang up (LCP Terminate)
 *   act(s.handle({ type: "lower-down" }, now));          // L2TP session gone
 *   act(s.handle({ type: "credentials-verified", requestId, verdict }, now)); // answer to verify-credentials
 * Actions: send-frame (a PPP frame for the L2TP data channel), set-timer (absolute ms or null),
 * deliver-ip (IPv4 packet for the TUN device), verify-credentials (server: PAP always, every
 * method with authBackend "external"; check off the event loop — a KDF, a RADIUS round trip —
 * then answer with credentials-verified), event (link-up, auth-ok, auth-failed, ip-up,
 * ip-down, link-down with reason). After link-down the session is finished and ignores input.
 * The functional form is `handle(config, state, input, now) -> { state, actions }`.
 */
export {
  AddressPool,
  type AddressAllocator,
  type AddressPoolConfig,
  PoolErrorCode,
} from "./address-pool.js";
export { type PppStep, PppSession, createPppState, handle } from "./session.js";
export type {
  DownReason,
  PppAction,
  PppAuthMethod,
  PppConfig,
  PppEvent,
  PppInput,
  PppState,
  PasswordRefusal,
  PppAuthVerdict,
  PppCredentials,
  PppGrant,
  UserSecret,
} from "./types.js";
