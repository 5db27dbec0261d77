/**
 * Public API of l2tp-ipsec/: L2TP and PPP carried over IPsec transport-mode child SAs, for the
 * server (LNS) and the client (LAC). See service.ts for the data flow and the security rules,
 * channel.ts for how L2TP is bound to IPsec (by IKE SA, never by address), ports.ts for what
 * the caller injects.
 */
export { type Binding, Channel, ChannelTable } from "./channel.js";
export type { EspPayloadPort, IpPacketPort, TransportChild } from "./ports.js";
export {
  type AuthLimiter,
  type Authenticator,
  type AuthenticatorRequest,
  type AuthenticatorVerdict,
  L2tpOverIpsec,
  type L2tpOverIpsecClient,
  type L2tpOverIpsecEvent,
  type L2tpOverIpsecOptions,
  type L2tpOverIpsecServer,
  type PasswordVerifier,
  type SessionEndCause,
  type SessionInfo,
  type SessionLimits,
  type SessionStats,
} from "./service.js";
