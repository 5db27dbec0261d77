/**
 * ECP Diffie-Hellman (RFC 5903 groups 19/20/21) on OpenSSL libcrypto (libcrypto.so.3) called
 * through koffi, for speed: one scalar multiplication per key generation and one per shared
 * secret, nothing else.
 *
 * Why not node:crypto: `ECDH.computeSecret` first runs EC_KEY_check_key on our own key pair
 * (n*Q and d*G, two extra scalar multiplications), and `crypto.diffieHellman` validates the
 * peer with n*Q (one extra). For the NIST prime curves the cofactor is 1, so a point that
 * decodes and lies on the curve is already in the prime-order group (RFC 6989 §2.3: the
 * on-curve check is the one that matters); the extra multiplications buy nothing. With P-384
 * (no optimised OpenSSL 3.0 implementation) they made the responder's DH cost 2.7x the
 * minimum.
 *
 * Peer validation (RFC 6989 §2.3): EC_POINT_oct2point on 0x04 | x | y rejects coordinates
 * >= p and points off the curve; EC_POINT_is_on_curve is asked again as a belt-and-braces
 * check (a few field multiplications). The point at infinity cannot be written as x | y of
 * the right length; a result at infinity is refused anyway.
 * Private scalars: uniform in [1, n-1] from OpenSSL's private DRBG (BN_priv_rand_range, as
 * OpenSSL's own EC key generation does); scalar multiplications with a secret scalar take
 * OpenSSL's constant-time paths (Montgomery ladder for generic curves, nistz256 for P-256).
 *
 * Uses the EC_POINT/BIGNUM API (deprecated in OpenSSL 3.0, still exported). Scratch objects
 * (one BN_CTX, two points, two bignums per curve) live as long as the process; the private
 * scalar is kept by the caller as bytes and cleared from the scratch bignum after each use.
 * If koffi or libcrypto cannot load, `nativeEcp` returns null and dh.ts uses node:crypto.
 */
import { openLibcrypto } from "./libcrypto.js";

type Ptr = unknown;
type Fn = (...args: unknown[]) => unknown;

interface Lib {
  sn2nid: (sn: string) => number;
  groupNew: (nid: number) => Ptr;
  groupOrder: (group: Ptr) => Ptr;
  bnCtxNew: () => Ptr;
  bnNew: () => Ptr;
  bnSetFlags: (bn: Ptr, flags: number) => void;
  bnClear: (bn: Ptr) => void;
  bnBin2bn: (s: Uint8Array, len: number, ret: Ptr) => Ptr;
  bnBn2binpad: (bn: Ptr, to: Uint8Array, tolen: number) => number;
  bnIsZero: (bn: Ptr) => number;
  bnCmp: (a: Ptr, b: Ptr) => number;
  bnPrivRandRange: (r: Ptr, range: Ptr) => number;
  pointNew: (group: Ptr) => Ptr;
  oct2point: (group: Ptr, p: Ptr, buf: Uint8Array, len: number, ctx: Ptr) => number;
  point2oct: (
    group: Ptr,
    p: Ptr,
    form: number,
    buf: Uint8Array,
    len: number,
    ctx: Ptr,
  ) => number | bigint;
  mul: (group: Ptr, r: Ptr, n: Ptr, q: Ptr, m: Ptr, ctx: Ptr) => number;
  isOnCurve: (group: Ptr, p: Ptr, ctx: Ptr) => number;
  isAtInfinity: (group: Ptr, p: Ptr) => number;
  errClear: () => void;
}

const BN_FLG_CONSTTIME = 0x04;
const POINT_CONVERSION_UNCOMPRESSED = 4;

let lib: Lib | null | undefined;

function load(): Lib | null {
  if (lib !== undefined) return lib;
  try {
    const l = openLibcrypto();
    const f = (sig: string): Fn => l.func(sig) as Fn;
    lib = {
      sn2nid: f("int OBJ_sn2nid(const char *s)") as Lib["sn2nid"],
      groupNew: f("void *EC_GROUP_new_by_curve_name(int nid)") as Lib["groupNew"],
      groupOrder: f("const void *EC_GROUP_get0_order(const void *group)") as Lib["groupOrder"],
      bnCtxNew: f("void *BN_CTX_new(void)") as Lib["bnCtxNew"],
      bnNew: f("void *BN_new(void)") as Lib["bnNew"],
      bnSetFlags: f("void BN_set_flags(void *b, int n)") as Lib["bnSetFlags"],
      bnClear: f("void BN_clear(void *a)") as Lib["bnClear"],
      bnBin2bn: f("void *BN_bin2bn(const uint8_t *s, int len, void *ret)") as Lib["bnBin2bn"],
      bnBn2binpad: f(
        "int BN_bn2binpad(const void *a, uint8_t *to, int tolen)",
      ) as Lib["bnBn2binpad"],
      bnIsZero: f("int BN_is_zero(const void *a)") as Lib["bnIsZero"],
      bnCmp: f("int BN_cmp(const void *a, const void *b)") as Lib["bnCmp"],
      bnPrivRandRange: f(
        "int BN_priv_rand_range(void *r, const void *range)",
      ) as Lib["bnPrivRandRange"],
      pointNew: f("void *EC_POINT_new(const void *group)") as Lib["pointNew"],
      oct2point: f(
        "int EC_POINT_oct2point(const void *group, void *p, const uint8_t *buf, size_t len, void *ctx)",
      ) as Lib["oct2point"],
      point2oct: f(
        "size_t EC_POINT_point2oct(const void *group, const void *p, int form, uint8_t *buf, size_t len, void *ctx)",
      ) as Lib["point2oct"],
      mul: f(
        "int EC_POINT_mul(const void *group, void *r, const void *n, const void *q, const void *m, void *ctx)",
      ) as Lib["mul"],
      isOnCurve: f(
        "int EC_POINT_is_on_curve(const void *group, const void *p, void *ctx)",
      ) as Lib["isOnCurve"],
      isAtInfinity: f(
        "int EC_POINT_is_at_infinity(const void *group, const void *p)",
      ) as Lib["isAtInfinity"],
      errClear: f("void ERR_clear_error(void)") as Lib["errClear"],
    };
  } catch {
    lib = null;
  }
  return lib;
}

/** One curve's operations. Byte strings use the IKE encodings (RFC 5903 §7). */
export interface NativeEcp {
  /** A fresh private scalar (coordLen bytes, big-endian) and its public value x | y. */
  generate(): { priv: Buffer; pub: Buffer } | undefined;
  /** x | y for a private scalar, or undefined when the scalar is 0 or >= n. */
  publicFor(priv: Uint8Array): { priv: Buffer; pub: Buffer } | undefined;
  /** True when x | y (exactly 2 * coordLen bytes) decodes to a point on the curve. */
  onCurve(peer: Uint8Array): boolean;
  /** x of priv * peer; undefined when peer is not a point on the curve. */
  sharedX(priv: Uint8Array, peer: Uint8Array): Buffer | undefined;
}

/** Native ECP for an OpenSSL curve short name, or null when libcrypto is not usable. */
export function nativeEcp(curve: string, coordLen: number): NativeEcp | null {
  const l = load();
  if (l === null) return null;
  let group: Ptr;
  let order: Ptr;
  let ctx: Ptr;
  let d: Ptr;
  let k: Ptr;
  let p: Ptr;
  let q: Ptr;
  try {
    const nid = l.sn2nid(curve);
    if (nid === 0) return null;
    group = l.groupNew(nid);
    ctx = l.bnCtxNew();
    d = l.bnNew();
    k = l.bnNew();
    if (group === null || ctx === null || d === null || k === null) return null;
    order = l.groupOrder(group);
    p = l.pointNew(group);
    q = l.pointNew(group);
    if (order === null || p === null || q === null) return null;
    l.bnSetFlags(d, BN_FLG_CONSTTIME);
  } catch {
    return null;
  }
  const octLen = 1 + 2 * coordLen;
  // 0x04 | x | y of the peer, and the encoding of a computed point.
  const inBuf = Buffer.alloc(octLen);
  inBuf[0] = POINT_CONVERSION_UNCOMPRESSED;
  const outBuf = Buffer.alloc(octLen);

  /** Decodes x | y into q; false (error queue cleared) when it is not a point on the curve. */
  const decode = (peer: Uint8Array): boolean => {
    if (peer.byteLength !== 2 * coordLen) return false;
    inBuf.set(peer, 1);
    const okDecode = l.oct2point(group, q, inBuf, octLen, ctx) === 1;
    const good = okDecode && l.isOnCurve(group, q, ctx) === 1 && l.isAtInfinity(group, q) === 0;
    if (!good) l.errClear();
    return good;
  };

  /** pub = d * G for the scalar now in d; clears d. */
  const publicOfD = (): { priv: Buffer; pub: Buffer } | undefined => {
    try {
      const priv = Buffer.alloc(coordLen);
      if (l.bnBn2binpad(d, priv, coordLen) !== coordLen) return undefined;
      if (l.mul(group, p, d, null, null, ctx) !== 1) return undefined;
      if (
        Number(l.point2oct(group, p, POINT_CONVERSION_UNCOMPRESSED, outBuf, octLen, ctx)) !== octLen
      )
        return undefined;
      return { priv, pub: Buffer.from(outBuf.subarray(1)) };
    } finally {
      l.bnClear(d);
      l.errClear();
    }
  };

  return {
    generate() {
      // [0, n) from OpenSSL; 0 is astronomically unlikely but not a key.
      do {
        if (l.bnPrivRandRange(d, order) !== 1) {
          l.bnClear(d);
          l.errClear();
          return undefined;
        }
      } while (l.bnIsZero(d) === 1);
      return publicOfD();
    },
    publicFor(priv) {
      if (priv.byteLength === 0 || priv.byteLength > coordLen) return undefined;
      l.bnBin2bn(priv, priv.byteLength, d);
      if (l.bnIsZero(d) === 1 || l.bnCmp(d, order) >= 0) {
        l.bnClear(d);
        return undefined;
      }
      return publicOfD();
    },
    onCurve: decode,
    sharedX(priv, peer) {
      if (!decode(peer)) return undefined;
      l.bnBin2bn(priv, priv.byteLength, d);
      try {
        if (l.mul(group, p, null, q, d, ctx) !== 1 || l.isAtInfinity(group, p) === 1)
          return undefined;
        if (
          Number(l.point2oct(group, p, POINT_CONVERSION_UNCOMPRESSED, outBuf, octLen, ctx)) !==
          octLen
        )
          return undefined;
        return Buffer.from(outBuf.subarray(1, 1 + coordLen));
      } finally {
        l.bnClear(d);
        outBuf.fill(0);
        l.errClear();
      }
    },
  };
}
