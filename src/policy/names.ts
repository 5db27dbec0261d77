/**
 * Algorithm names used in policy documents, with the IKEv1 numbers they stand for.
 *
 * Sources: RFC 2409 Appendix A (Oakley encryption/hash/group classes), RFC 3602 (AES-CBC = 7 in
 * IKE, ESP_AES_CBC = 12), RFC 4106 (ESP_AES_GCM_16 = 20), RFC 4868 (SHA2 hash and HMAC-SHA2
 * auth values), RFC 3526 (MODP 1536..4096, groups 5, 14, 15, 16), RFC 5903 (ECP groups 19-21),
 * RFC 2407 section 4.4.4 / 4.5 (ESP transform IDs, auth algorithm values).
 *
 * Policy documents use names, never numbers (DESIGN rule 8). This table is local to policy/
 * because src/registry/ did not exist when this was written; once registry/ has these tables,
 * this file should re-export from there. Leaves out: DES, IDEA, Blowfish, RC5, CAST, MD5 for
 * ESP, AH (none of the L2TP/IPsec clients of REQUIREMENTS R1 need them).
 */

/** Phase 1 (Main Mode) encryption: name -> IKE Encryption Algorithm value. */
export const IKE_ENCRYPTION = { "3des-cbc": 5, "aes-cbc": 7 } as const;
export type IkeEncryption = keyof typeof IKE_ENCRYPTION;

/** Phase 1 hash: name -> IKE Hash Algorithm value. */
export const IKE_HASH = { md5: 1, sha1: 2, "sha2-256": 4, "sha2-384": 5, "sha2-512": 6 } as const;
export type IkeHash = keyof typeof IKE_HASH;

/** Diffie-Hellman groups: name -> IANA group number. */
export const DH_GROUP = {
  modp768: 1,
  modp1024: 2,
  modp1536: 5,
  modp2048: 14,
  modp3072: 15,
  modp4096: 16,
  ecp256: 19,
  ecp384: 20,
  ecp521: 21,
} as const;
export type DhGroupName = keyof typeof DH_GROUP;

/** Phase 2 ESP encryption: name -> ESP transform ID (RFC 2407 4.4.4, RFC 3602, RFC 4106). */
export const ESP_ENCRYPTION = { "3des-cbc": 3, "aes-cbc": 12, "aes-gcm-16": 20 } as const;
export type EspEncryption = keyof typeof ESP_ENCRYPTION;

/** Phase 2 ESP integrity: name -> Authentication Algorithm attribute value (RFC 2407 4.5, RFC 4868). */
export const ESP_INTEGRITY = {
  none: 0,
  md5: 1,
  sha1: 2,
  "sha2-256": 5,
  "sha2-384": 6,
  "sha2-512": 7,
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
export const IP_PROTOCOL = { icmp: 1, tcp: 6, udp: 17, esp: 50, ah: 51, ipv6icmp: 58 } as const;
export type IpProtocolName = keyof typeof IP_PROTOCOL;
