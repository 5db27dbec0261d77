/**
 * One-line, human-readable summaries of ISAKMP messages for logs and the monitor, in the spirit
 * of strongSwan's "[ SA V V V V ]" lines but with names: every number goes through the
 * registry (DESIGN rule 8). No secrets: hashes, nonces and KE data are shown only by length.
 */
import {
  EXCHANGE_TYPES,
  NOTIFY_TYPES,
  PAYLOAD_TYPES,
  PROTOCOL_IDS,
  name,
  transformIdTable,
} from "../../registry/ike.js";
import { vendorIdName } from "../../registry/vendor-ids.js";
import { formatIpAddress } from "./identification.js";
import type { IsakmpMessage } from "./message.js";
import type { Payload } from "./types.js";

/** "SA(PROTO_ISAKMP:KEY_IKE)", "VID(RFC 3947)", "N(INITIAL-CONTACT)", "NAT-OA(192.0.2.2)"... */
export function describePayload(p: Payload): string {
  switch (p.type) {
    case 1: {
      const props = p.proposals.map(
        (pr) =>
          `${name(PROTOCOL_IDS, pr.protocolId)}:${pr.transforms
            .map((t) => name(transformIdTable(pr.protocolId), t.transformId))
            .join("/")}`,
      );
      return `SA(${props.join(" ")})`;
    }
    case 11:
      return `N(${name(NOTIFY_TYPES, p.notifyType)})`;
    case 12:
      return `D(${name(PROTOCOL_IDS, p.protocolId)} x${p.spis.length})`;
    case 13:
      return `VID(${vendorIdName(p.data)})`;
    case 21:
    case 131:
      return `${name(PAYLOAD_TYPES, p.type)}(${formatIpAddress(p.address)})`;
    case "unknown":
      return `${name(PAYLOAD_TYPES, p.payloadType)}[${p.body.length}]`;
    default:
      return name(PAYLOAD_TYPES, p.type);
  }
}

/** "Identity Protection (Main Mode) id=0 [ SA VID(XAUTH) ... ]" or "... [ encrypted 96 bytes ]". */
export function describeIsakmpMessage(m: IsakmpMessage): string {
  const head = `${name(EXCHANGE_TYPES, m.header.exchangeType)} id=0x${m.header.messageId
    .toString(16)
    .padStart(8, "0")}`;
  if (m.encrypted) return `${head} [ encrypted ${m.ciphertext.length} bytes ]`;
  return `${head} [ ${m.payloads.map(describePayload).join(" ")} ]`;
}
