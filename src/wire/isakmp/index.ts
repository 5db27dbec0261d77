/**
 * ISAKMP / IKEv1 wire codecs — the public API (keep stable; add freely).
 *
 * Implements RFC 2408 (ISAKMP header, generic payload chain, all IKEv1 payloads), RFC 2407
 * (IPsec DOI: SA situation, attribute classes, ID payload protocol/port and identification
 * data, DOI notifies), RFC 2409 App. A (IKE attributes), RFC 3947 (NAT-D/NAT-OA 20/21 and the
 * draft numbers 130/131), RFC 3706 (DPD notifies, via the registry), and the Mode-Config
 * Attribute payload (draft-ietf-ipsec-isakmp-mode-cfg-05). Pure: no I/O, keys, clock or logs.
 *
 * Receiving:
 *   const r = parseIsakmpMessage(datagram);          // Result<IsakmpMessage, WireError>
 *   if (r.ok && !r.value.encrypted) for (const p of r.value.payloads) switch (p.type) {
 *     case PayloadType.SA: ...p.proposals[0].transforms...; break;
 *     case PayloadType.VID: classifyVendorId(p.data); break;
 *     case PayloadType.NAT_D: case PayloadType.NAT_D_DRAFT: p.hash; break;
 *     case "unknown": p.payloadType, p.body; break;
 *   }
 *   if (r.ok && r.value.encrypted) {
 *     const plain = decrypt(r.value.ciphertext);     // crypto/, not here
 *     parsePayloadChain(r.value.header.nextPayload, plain, { allowTrailingPadding: true });
 *   }
 * Sending:
 *   serializeIsakmpMessage(headerFields, payloads)                     // cleartext
 *   const { firstPayloadType, bytes } = serializePayloadChain(payloads) // plaintext to encrypt
 *   serializeEncryptedIsakmpMessage({ ...headerFields, nextPayload: firstPayloadType }, ct)
 * Next-payload values and all lengths are computed by the serializers. `serializePayloadBody`
 * gives one payload's body (e.g. SAi_b for HASH_I, RFC 2409 §5).
 * Typed views: decodeIkeAttributes / decodeIpsecAttributes (transform attributes),
 * parseIdentificationData / serializeIdentificationData (ID payload data), formatIpAddress.
 * Names for every number: registry functions re-exported below (name, ikeGroupName, tables);
 * describeIsakmpMessage / describePayload give one-line log summaries.
 * Errors: WireError with codes OAK_E_WIRE_TRUNCATED / BAD_LENGTH / BAD_VALUE / BAD_NESTING /
 * UNSUPPORTED_CRITICAL / TOO_MANY; limits are in DEFAULT_LIMITS (override per call).
 * IKEv1 fragments (payload 132): parseIkeFragment / serializeIkeFragment / splitIntoFragments
 * (fragment.ts); reassembly is ike/fragments.ts.
 * The UDP/4500 non-ESP marker is not handled here (wire/udpencap).
 */
export * from "./types.js";
export { parseIsakmpHeader, serializeIsakmpHeader, decodeFlags, encodeFlags } from "./header.js";
export {
  parseIsakmpMessage,
  serializeIsakmpMessage,
  serializeEncryptedIsakmpMessage,
  serializeParsedIsakmpMessage,
  type IsakmpMessage,
  type CleartextIsakmpMessage,
  type EncryptedIsakmpMessage,
} from "./message.js";
export {
  parsePayloadChain,
  serializePayloadChain,
  serializePayloadBody,
  parsePayloadBody,
  payloadTypeOf,
  isModelledPayloadType,
  type PayloadChain,
  type ChainOptions,
} from "./payloads.js";
export { describeIsakmpMessage, describePayload } from "./describe.js";
export {
  FRAGMENT_FLAG_LAST,
  FRAGMENT_PAYLOAD_HEADER_LENGTH,
  MAX_FRAGMENT_NUMBER,
  isFragmentCarrier,
  parseIkeFragment,
  serializeIkeFragment,
  splitIntoFragments,
  type IkeFragment,
} from "./fragment.js";
export { parseSaPayloadBody, serializeSaBody, type SaBody } from "./sa.js";
export {
  attr,
  attributeNumber,
  decodeIkeAttributes,
  decodeIpsecAttributes,
  parseDataAttributeList,
  serializeDataAttributes,
  type IkeAttributes,
  type IpsecAttributes,
  type Lifetime,
} from "./attributes.js";
export {
  formatIpAddress,
  parseIpAddress,
  parseIdentificationData,
  serializeIdentificationData,
  type IdentificationValue,
} from "./identification.js";
export {
  PayloadType,
  ExchangeType,
  NotifyType,
  ProtocolId,
  IdType,
  Doi,
  Situation,
  IkeAttr,
  IpsecAttr,
  IkeEncryption,
  IkeHash,
  IkeAuthMethod,
  GroupDescription,
  EncapsulationMode,
  IpsecAuthAlgorithm,
  EspTransformId,
  IsakmpTransformId,
  LifeType,
  CertEncoding,
  IsakmpFlag,
  name,
  nameWithNumber,
  ikeGroupName,
  describeAttribute,
  type NameTable,
} from "../../registry/ike.js";
export {
  classifyVendorId,
  vendorIdName,
  vendorIdBytes,
  VENDOR_IDS,
} from "../../registry/vendor-ids.js";
