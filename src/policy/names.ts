/**
 * Algorithm names used in policy documents, with the IKEv1 numbers they stand for.
 *
 * Sources: RFC 2409 Appendix A (Oakley encryption/hash/group classes), RFC 3602 (AES-CBC = 7 in
 * IKE, ESP_AES_CBC = 12), RFC 4106 (ESP_AES_GCM_16 = 20), RFC 4868 (SHA2 hash and HMAC-SHA2
 * auth values), RFC 3526 (MODP 1536..4096, groups 5, 14, 15, 16), RFC 5903 (ECP groups 19-21),
 * RFC 2407 section 4.4.4 / 4.5 (ESP transform IDs, auth algorithm values).
 *
 * Policy documents use names, never numbers (DESIGN rule 8). The names (keys) are the stored
 * format of policy documents and stay as they are; the numbers come from src/registry/.
 * Leaves out: DES, IDEA, Blowfish, RC5, CAST, MD5 for ESP, AH (none of the L2TP/IPsec clients
 * of the built-in OS clients need them).
 */
import { IpProtocol } from "../registry/ip.js";
import {
  EspTransformId,
  GroupDescription,
  IkeEncryption as IkeEncryptionId,
  IkeHash as IkeHashId,
  IpsecAuthAlgorithm,
} from "../registry/ike.js";

/** Phase 1 (Main Mode) encryption: name -> IKE Encryption Algorithm value. */
export const IKE_ENCRYPTION = {
  "3des-cbc": IkeEncryptionId.TRIPLE_DES_CBC,
  "aes-cbc": IkeEncryptionId.AES_CBC,
} as const;
export type IkeEncryption = keyof typeof IKE_ENCRYPTION;

/** Phase 1 hash: name -> IKE Hash Algorithm value. */
export const IKE_HASH = {
  md5: IkeHashId.MD5,
  sha1: IkeHashId.SHA,
  "sha2-256": IkeHashId.SHA2_256,
  "sha2-384": IkeHashId.SHA2_384,
  "sha2-512": IkeHashId.SHA2_512,
} as const;
export type IkeHash = keyof typeof IKE_HASH;

/** Diffie-Hellman groups: name -> IANA group number. */
export const DH_GROUP = {
  modp768: GroupDescription.MODP_768,
  modp1024: GroupDescription.MODP_1024,
  modp1536: GroupDescription.MODP_1536,
  modp2048: GroupDescription.MODP_2048,
  modp3072: GroupDescription.MODP_3072,
  modp4096: GroupDescription.MODP_4096,
  ecp256: GroupDescription.ECP_256,
  ecp384: GroupDescription.ECP_384,
  ecp521: GroupDescription.ECP_521,
} as const;
export type DhGroupName = keyof typeof DH_GROUP;

/** Phase 2 ESP encryption: name -> ESP transform ID (RFC 2407 4.4.4, RFC 3602, RFC 4106). */
export const ESP_ENCRYPTION = {
  "3des-cbc": EspTransformId.ESP_3DES,
  "aes-cbc": EspTransformId.ESP_AES_CBC,
  "aes-gcm-16": EspTransformId.ESP_AES_GCM_16,
} as const;
export type EspEncryption = keyof typeof ESP_ENCRYPTION;

/**
 * Phase 2 ESP integrity: name -> Authentication Algorithm attribute value (RFC 2407 4.5,
 * RFC 4868); "none" (0, no attribute: AES-GCM) has no registry entry.
 */
export const ESP_INTEGRITY = {
  none: 0,
  md5: IpsecAuthAlgorithm.HMAC_MD5,
  sha1: IpsecAuthAlgorithm.HMAC_SHA,
  "sha2-256": IpsecAuthAlgorithm.HMAC_SHA2_256,
  "sha2-384": IpsecAuthAlgorithm.HMAC_SHA2_384,
  "sha2-512": IpsecAuthAlgorithm.HMAC_SHA2_512,
} as const;
export type EspIntegrity = keyof typeof ESP_INTEGRITY;

/** Encryption algorithms that take a Key Length attribute, and the lengths we accept. */
export const AES_KEY_LENGTHS = [128, 192, 256] as const;

/** Algorithms kept only for old clients; used only when settings.allowLegacyCrypto is on. */
export const LEGACY = {
  ikeEncryption: new Set<string>(["3des-cbc"]),
  ikeHash: new Set<string>(["md5"]),
  dhGroup: new Set<string>(["modp768", "modp1024", "modp1536"]),
  espEncryption: new Set<string>(["3des-cbc"]),
  espIntegrity: new Set<string>(["md5"]),
} as const;

/** IP protocol names accepted in filters (IANA protocol numbers). */
export const IP_PROTOCOL = {
  icmp: IpProtocol.ICMP,
  tcp: IpProtocol.TCP,
  udp: IpProtocol.UDP,
  esp: IpProtocol.ESP,
  ah: IpProtocol.AH,
  ipv6icmp: IpProtocol.ICMPv6,
} as const;
export type IpProtocolName = keyof typeof IP_PROTOCOL;
