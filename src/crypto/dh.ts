/**
 * Diffie-Hellman groups for IKEv1 (Group Description attribute):
 *   MODP 1 (768), 2 (1024) — RFC 2409 §6.1/§6.2; 5 (1536), 14 (2048), 15 (3072), 16 (4096)
 *   — RFC 3526; ECP 19 (P-256), 20 (P-384), 21 (P-521) — RFC 5903.
 * KE payload encodings: MODP public value big-endian, left-padded to the prime's length;
 * ECP (RFC 5903 §7) x | y, each left-padded to the field size, no 0x04 point prefix.
 * Shared secret: MODP g^xy padded to the prime's length; ECP the x coordinate (RFC 5903 §7).
 *
 * Peer public values are validated before use (RFC 6989 checks, which RFC 2409 predates):
 * MODP values must have the prime's length and lie in 2..p-2; ECP values must have
 * 2 * field size bytes and be a point on the curve. Failures are typed Results.
 *
 * ECP arithmetic runs on libcrypto through koffi (dh-ecp-native.ts: one scalar
 * multiplication per key generation and per shared secret); node:crypto's ECDH, which spends
 * two extra multiplications re-validating our own key pair, is the fallback when koffi or
 * libcrypto.so.3 cannot load. MODP uses node:crypto's DiffieHellman.
 *
 * The MODP primes are taken from OpenSSL via node:crypto's getDiffieHellman('modpN');
 * test/vectors/crypto/modp-primes.test.ts checks them against the RFC text.
 *
 * Left out: groups 3/4 (EC2N), 17/18 (6144/8192, too slow for a VPN server handshake),
 * 22-24 (MODP with subgroups, RFC 5114), 25/26, 27-30 (Brainpool), 31/32 (Curve25519/448):
 * none of the clients we target offer them in IKEv1.
 */
import { createDiffieHellman, createECDH, ECDH, getDiffieHellman } from "node:crypto";
import { err, ok, type Result } from "../base/result.js";
import { nativeEcp } from "./dh-ecp-native.js";
import { type CryptoError, CryptoErrorCode, cryptoError } from "./errors.js";

/** ISAKMP "Group Description" attribute values (RFC 2409 Appendix A; IANA IKE registry). */
export const IkeGroup = {
  MODP_768: 1,
  MODP_1024: 2,
  MODP_1536: 5,
  MODP_2048: 14,
  MODP_3072: 15,
  MODP_4096: 16,
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
} as const;
export type IkeGroupId = (typeof IkeGroup)[keyof typeof IkeGroup];

export interface DhKeyPair {
  /** Our public value exactly as it goes into the KE payload. */
  readonly publicValue: Buffer;
  /** g^xy (MODP, padded) or x (ECP) after validating the peer's KE payload body. */
  computeShared(peerPublic: Uint8Array): Result<Buffer, CryptoError>;
}

export interface DhGroup {
  readonly id: IkeGroupId;
  /** Registry name, e.g. "MODP-2048" or "ECP-256". */
  readonly name: string;
  readonly kind: "modp" | "ecp";
  /** Bytes of a KE payload body for this group. */
  readonly publicLength: number;
  /** Bytes of the shared secret. */
  readonly sharedLength: number;
  /** A fresh key pair from the OpenSSL RNG. */
  generate(): DhKeyPair;
  /** A key pair from a given private value (tests, deterministic fakes). */
  fromPrivateKey(priv: Uint8Array): Result<DhKeyPair, CryptoError>;
  /** Checks a peer's KE payload body without computing anything secret. */
  validatePublic(peerPublic: Uint8Array): Result<void, CryptoError>;
}

interface ModpDesc {
  readonly id: IkeGroupId;
  readonly openssl: string;
  readonly bits: number;
}
interface EcpDesc {
  readonly id: IkeGroupId;
  readonly curve: string;
  readonly coordLen: number;
}

const MODP: readonly ModpDesc[] = [
  { id: 1, openssl: "modp1", bits: 768 },
  { id: 2, openssl: "modp2", bits: 1024 },
  { id: 5, openssl: "modp5", bits: 1536 },
  { id: 14, openssl: "modp14", bits: 2048 },
  { id: 15, openssl: "modp15", bits: 3072 },
  { id: 16, openssl: "modp16", bits: 4096 },
];
const ECP: readonly EcpDesc[] = [
  { id: 19, curve: "prime256v1", coordLen: 32 },
  { id: 20, curve: "secp384r1", coordLen: 48 },
  { id: 21, curve: "secp521r1", coordLen: 66 },
];

function leftPad(b: Buffer, len: number): Buffer {
  if (b.length === len) return b;
  if (b.length > len) return b.subarray(b.length - len);
  return Buffer.concat([Buffer.alloc(len - b.length), b]);
}

function toBig(b: Uint8Array): bigint {
  return b.byteLength === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString("hex")}`);
}

function modpGroup(d: ModpDesc): DhGroup {
  const prime = getDiffieHellman(d.openssl).getPrime();
  const len = prime.length;
  const p = toBig(prime);
  const generator = Buffer.from([2]);
  const name = `MODP-${d.bits}`;

  const validatePublic = (peer: Uint8Array): Result<void, CryptoError> => {
    if (peer.byteLength !== len) {
      return err(
        cryptoError(CryptoErrorCode.BadPublicLength, `${name} public value must be ${len} bytes`),
      );
    }
    const y = toBig(peer);
    if (y <= 1n || y >= p - 1n) {
      return err(cryptoError(CryptoErrorCode.BadPublicValue, `${name} public value out of range`));
    }
    return ok(undefined);
  };

  const pair = (dh: ReturnType<typeof createDiffieHellman>): DhKeyPair => ({
    publicValue: leftPad(dh.getPublicKey(), len),
    computeShared(peer) {
      const v = validatePublic(peer);
      if (!v.ok) return v;
      return ok(leftPad(dh.computeSecret(peer), len));
    },
  });

  return {
    id: d.id,
    name,
    kind: "modp",
    publicLength: len,
    sharedLength: len,
    validatePublic,
    generate() {
      const dh = createDiffieHellman(prime, generator);
      dh.generateKeys();
      return pair(dh);
    },
    fromPrivateKey(priv) {
      const x = toBig(priv);
      if (x <= 1n || x >= p - 1n) {
        return err(cryptoError(CryptoErrorCode.BadLength, `${name} private value out of range`));
      }
      const dh = createDiffieHellman(prime, generator);
      dh.setPrivateKey(Buffer.from(priv));
      dh.generateKeys(); // derives the public value from the private one already set
      return ok(pair(dh));
    },
  };
}

/** How ECP groups are computed: libcrypto through koffi when it loads, else node:crypto. */
export type EcpImpl = "native" | "node";

function ecpCommon(d: EcpDesc) {
  const len = d.coordLen;
  const name = `ECP-${d.id === 19 ? 256 : d.id === 20 ? 384 : 521}`;
  const badLength = (): Result<never, CryptoError> =>
    err(
      cryptoError(CryptoErrorCode.BadPublicLength, `${name} public value must be ${2 * len} bytes`),
    );
  const notOnCurve = (): Result<never, CryptoError> =>
    err(cryptoError(CryptoErrorCode.PointNotOnCurve, `${name} public value is not on the curve`));
  const privRange = (): Result<never, CryptoError> =>
    err(cryptoError(CryptoErrorCode.BadLength, `${name} private value out of range`));
  const base = { id: d.id, name, kind: "ecp" as const, publicLength: 2 * len, sharedLength: len };
  return { len, base, badLength, notOnCurve, privRange };
}

/** ECP on libcrypto through koffi (dh-ecp-native.ts); undefined when it cannot load. */
function ecpNative(d: EcpDesc): DhGroup | undefined {
  const { len, base, badLength, notOnCurve, privRange } = ecpCommon(d);
  const n = nativeEcp(d.curve, len);
  if (n === null) return undefined;
  const pair = (k: { priv: Buffer; pub: Buffer }): DhKeyPair => ({
    publicValue: k.pub,
    computeShared(peer) {
      if (peer.byteLength !== 2 * len) return badLength();
      const x = n.sharedX(k.priv, peer);
      return x === undefined ? notOnCurve() : ok(x);
    },
  });
  const nodeGroup = ecpNode(d);
  return {
    ...base,
    validatePublic(peer) {
      if (peer.byteLength !== 2 * len) return badLength();
      return n.onCurve(peer) ? ok(undefined) : notOnCurve();
    },
    generate() {
      const k = n.generate();
      // libcrypto's DRBG failing is not expected; node:crypto then does the work.
      return k === undefined ? nodeGroup.generate() : pair(k);
    },
    fromPrivateKey(priv) {
      const k = n.publicFor(priv);
      return k === undefined ? privRange() : ok(pair(k));
    },
  };
}

/** ECP on node:crypto's ECDH (three scalar multiplications per shared secret; see above). */
function ecpNode(d: EcpDesc): DhGroup {
  const { len, base, badLength, notOnCurve, privRange } = ecpCommon(d);
  const uncompressed = (peer: Uint8Array): Buffer => Buffer.concat([Buffer.from([4]), peer]);
  const validatePublic = (peer: Uint8Array): Result<void, CryptoError> => {
    if (peer.byteLength !== 2 * len) return badLength();
    try {
      // Decoding the point makes OpenSSL check that it lies on the curve.
      ECDH.convertKey(uncompressed(peer), d.curve, undefined, undefined, "uncompressed");
    } catch {
      return notOnCurve();
    }
    return ok(undefined);
  };

  const pair = (ecdh: ReturnType<typeof createECDH>): DhKeyPair => ({
    publicValue: ecdh.getPublicKey(null, "uncompressed").subarray(1),
    computeShared(peer) {
      const v = validatePublic(peer);
      if (!v.ok) return v;
      try {
        return ok(leftPad(ecdh.computeSecret(uncompressed(peer)), len));
      } catch {
        return notOnCurve();
      }
    },
  });

  return {
    ...base,
    validatePublic,
    generate() {
      const ecdh = createECDH(d.curve);
      ecdh.generateKeys();
      return pair(ecdh);
    },
    fromPrivateKey(priv) {
      const ecdh = createECDH(d.curve);
      try {
        ecdh.setPrivateKey(Buffer.from(priv));
      } catch {
        return privRange();
      }
      return ok(pair(ecdh));
    },
  };
}

const GROUPS = new Map<number, DhGroup>();

/** The DH group for a Group Description attribute value. Groups are built on first use. */
export function dhGroup(id: number): Result<DhGroup, CryptoError> {
  const cached = GROUPS.get(id);
  if (cached) return ok(cached);
  const m = MODP.find((g) => g.id === id);
  const e = ECP.find((g) => g.id === id);
  const g = m ? modpGroup(m) : e ? (ecpNative(e) ?? ecpNode(e)) : undefined;
  if (!g) return err(cryptoError(CryptoErrorCode.Unsupported, `DH group ${id} is not supported`));
  GROUPS.set(id, g);
  return ok(g);
}

/**
 * An ECP group on a chosen implementation, for tests that check both against the same
 * vectors; undefined when `impl` cannot load here (or `id` is not an ECP group).
 */
export function ecpGroupWith(id: number, impl: EcpImpl): DhGroup | undefined {
  const e = ECP.find((g) => g.id === id);
  if (!e) return undefined;
  return impl === "native" ? ecpNative(e) : ecpNode(e);
}

/** Group Description values this module implements. */
export const SUPPORTED_GROUPS: readonly IkeGroupId[] = [...MODP, ...ECP].map((g) => g.id);
