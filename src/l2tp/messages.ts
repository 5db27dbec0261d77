/**
 * Which AVPs each control message must carry (RFC 2661 §6.1–§6.14), as data (DESIGN rule 3),
 * checked once before the state machines see a message; which messages are tunnel-scoped; and
 * the tunnel authentication response of §4.4.3 / §5.1.1:
 *
 *   Challenge Response = MD5(Message Type of the response, as one octet || secret || Challenge)
 *
 * (CHAP-like, RFC 1994, with the message type in the role of CHAP's Identifier: 2 for the
 * response carried in SCCRP, 3 for the one in SCCCN.)
 *
 * Deviation: StopCCN and CDN are not rejected for missing AVPs (a teardown cannot be refused);
 * the engine logs the omission and tears down anyway.
 */
import { md5 } from "../crypto/legacy.js";
import { AvpType, L2tpMessageType } from "../registry/l2tp.js";

const M = L2tpMessageType;

/** Required AVP types per message type (the Message Type AVP itself is implied). */
export const REQUIRED_AVPS: Readonly<Record<number, readonly number[]>> = {
  [M.SCCRQ]: [
    AvpType.ProtocolVersion,
    AvpType.HostName,
    AvpType.FramingCapabilities,
    AvpType.AssignedTunnelId,
  ],
  [M.SCCRP]: [
    AvpType.ProtocolVersion,
    AvpType.FramingCapabilities,
    AvpType.HostName,
    AvpType.AssignedTunnelId,
  ],
  [M.SCCCN]: [],
  [M.StopCCN]: [],
  [M.HELLO]: [],
  [M.ICRQ]: [AvpType.AssignedSessionId, AvpType.CallSerialNumber],
  [M.ICRP]: [AvpType.AssignedSessionId],
  [M.ICCN]: [AvpType.TxConnectSpeed, AvpType.FramingType],
  [M.CDN]: [],
  [M.OCRQ]: [AvpType.AssignedSessionId, AvpType.CallSerialNumber],
  [M.OCRP]: [AvpType.AssignedSessionId],
  [M.OCCN]: [AvpType.TxConnectSpeed, AvpType.FramingType],
  [M.WEN]: [AvpType.CallErrors],
  [M.SLI]: [AvpType.Accm],
};

export const TUNNEL_MESSAGES: ReadonlySet<number> = new Set([
  M.SCCRQ,
  M.SCCRP,
  M.SCCCN,
  M.StopCCN,
  M.HELLO,
]);

export function challengeResponse(
  messageType: number,
  secret: Uint8Array,
  challenge: Uint8Array,
): Buffer {
  return md5(Buffer.from([messageType & 0xff]), secret, challenge);
}
