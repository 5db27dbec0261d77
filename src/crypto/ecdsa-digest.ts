/**
 * ECDSA over a value that is already a digest (RFC 4754 §7 signatures as IKEv1 uses them):
 * IKEv1 signs HASH_I / HASH_R themselves (RFC 2409 §5.1), so the ECDSA "message digest" is the
 * PRF output, not a hash of it — strongSwan's SIGN_ECDSA_WITH_NULL. The signature travels as
 * r | s, each left-padded to the curve's byte length (RFC 4754 §7), not as DER.
 *
 * Why OpenSSL libcrypto through koffi: node:crypto's sign/verify always hash their input
 * (EVP_DigestSign); EVP_PKEY_sign / EVP_PKEY_verify with no digest set take the digest as
 * given. Signing stays inside OpenSSL (its constant-time scalar code and nonce generation);
 * the key crosses as PKCS#8 DER in a buffer that is zeroed after use. When koffi or
 * libcrypto cannot load, `ecdsaDigestAvailable()` is false and callers refuse ECDSA.
 */
import type { KeyObject } from "node:crypto";
import { openLibcrypto } from "./libcrypto.js";
import { readChildren, readTlv } from "./cert-der.js";

type Ptr = unknown;

interface Lib {
  bioNew: (buf: Uint8Array, len: number) => Ptr;
  bioFree: (b: Ptr) => number;
  d2iPrivateKeyBio: (b: Ptr, a: Ptr) => Ptr;
  d2iPubkeyBio: (b: Ptr, a: Ptr) => Ptr;
  ctxNew: (pkey: Ptr, e: Ptr) => Ptr;
  ctxFree: (c: Ptr) => void;
  pkeyFree: (p: Ptr) => void;
  signInit: (c: Ptr) => number;
  sign: (c: Ptr, sig: Uint8Array | null, len: [number], tbs: Uint8Array, n: number) => number;
  verifyInit: (c: Ptr) => number;
  verify: (c: Ptr, sig: Uint8Array, n: number, tbs: Uint8Array, m: number) => number;
  errClear: () => void;
}

let lib: Lib | null | undefined;

function load(): Lib | null {
  if (lib !== undefined) return lib;
  try {
    const l = openLibcrypto();
    const f = (sig: string) => l.func(sig) as (...a: unknown[]) => unknown;
    lib = {
      bioNew: f("void *BIO_new_mem_buf(const uint8_t *buf, int len)") as Lib["bioNew"],
      bioFree: f("int BIO_free(void *a)") as Lib["bioFree"],
      d2iPrivateKeyBio: f("void *d2i_PrivateKey_bio(void *bp, void *a)") as Lib["d2iPrivateKeyBio"],
      d2iPubkeyBio: f("void *d2i_PUBKEY_bio(void *bp, void *a)") as Lib["d2iPubkeyBio"],
      ctxNew: f("void *EVP_PKEY_CTX_new(void *pkey, void *e)") as Lib["ctxNew"],
      ctxFree: f("void EVP_PKEY_CTX_free(void *c)") as Lib["ctxFree"],
      pkeyFree: f("void EVP_PKEY_free(void *p)") as Lib["pkeyFree"],
      signInit: f("int EVP_PKEY_sign_init(void *c)") as Lib["signInit"],
      sign: f(
        "int EVP_PKEY_sign(void *c, uint8_t *sig, _Inout_ size_t *siglen, const uint8_t *tbs, size_t tbslen)",
      ) as Lib["sign"],
      verifyInit: f("int EVP_PKEY_verify_init(void *c)") as Lib["verifyInit"],
      verify: f(
        "int EVP_PKEY_verify(void *c, const uint8_t *sig, size_t siglen, const uint8_t *tbs, size_t tbslen)",
      ) as Lib["verify"],
      errClear: f("void ERR_clear_error(void)") as Lib["errClear"],
    };
  } catch {
    lib = null;
  }
  return lib;
}

export function ecdsaDigestAvailable(): boolean {
  return load() !== null;
}

/** Byte length of one coordinate / scalar of the key's curve, or undefined for other keys. */
export function ecCurveBytes(key: KeyObject): number | undefined {
  if (key.asymmetricKeyType !== "ec") return undefined;
  switch (key.asymmetricKeyDetails?.namedCurve) {
    case "prime256v1":
      return 32;
    case "secp384r1":
      return 48;
    case "secp521r1":
      return 66;
    default:
      return undefined;
  }
}

/** Runs `fn` on an EVP_PKEY made from DER (private PKCS#8 or public SPKI); frees everything. */
function withPkey<T>(l: Lib, der: Buffer, priv: boolean, fn: (ctx: Ptr) => T): T | undefined {
  const bio = l.bioNew(der, der.length);
  if (bio === null) return undefined;
  let pkey: Ptr = null;
  let ctx: Ptr = null;
  try {
    pkey = priv ? l.d2iPrivateKeyBio(bio, null) : l.d2iPubkeyBio(bio, null);
    if (pkey === null) return undefined;
    ctx = l.ctxNew(pkey, null);
    if (ctx === null) return undefined;
    return fn(ctx);
  } finally {
    if (ctx !== null) l.ctxFree(ctx);
    if (pkey !== null) l.pkeyFree(pkey);
    l.bioFree(bio);
    if (priv) der.fill(0);
    l.errClear();
  }
}

/** DER ECDSA-Sig-Value (RFC 3279 §2.2.3) to r | s with `n`-byte halves. */
function derToRs(der: Uint8Array, n: number): Buffer | undefined {
  const seq = readTlv(Buffer.from(der), 0);
  if (!seq.ok || seq.value.tag !== 0x30) return undefined;
  const parts = readChildren(seq.value.content);
  if (!parts.ok || parts.value.length !== 2) return undefined;
  const out = Buffer.alloc(2 * n);
  for (const [i, t] of parts.value.entries()) {
    if (t.tag !== 0x02) return undefined;
    let v = t.content;
    while (v.length > 0 && v[0] === 0) v = v.subarray(1);
    if (v.length > n) return undefined;
    v.copy(out, (i + 1) * n - v.length);
  }
  return out;
}

function derInteger(v: Buffer): Buffer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  let body = v.subarray(i);
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

/** r | s to DER; lengths stay below 128 for curves up to P-521 (2 * 69 octets). */
function rsToDer(rs: Uint8Array): Buffer {
  const n = rs.length / 2;
  const body = Buffer.concat([
    derInteger(Buffer.from(rs.subarray(0, n))),
    derInteger(Buffer.from(rs.subarray(n))),
  ]);
  const len = body.length < 128 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]);
  return Buffer.concat([Buffer.from([0x30]), len, body]);
}

/** r | s over `digest` with an EC private key; undefined when not possible. */
export function ecdsaSignDigest(key: KeyObject, digest: Uint8Array): Buffer | undefined {
  const l = load();
  const n = ecCurveBytes(key);
  if (l === null || n === undefined || key.type !== "private") return undefined;
  const der = key.export({ type: "pkcs8", format: "der" });
  return withPkey(l, der, true, (ctx) => {
    if (l.signInit(ctx) !== 1) return undefined;
    const sig = Buffer.alloc(16 + 2 * (n + 3));
    const len: [number] = [sig.length];
    if (l.sign(ctx, sig, len, digest, digest.length) !== 1) return undefined;
    return derToRs(sig.subarray(0, len[0]), n);
  });
}

/** Does r | s verify over `digest` under the EC public key? */
export function ecdsaVerifyDigest(key: KeyObject, digest: Uint8Array, rs: Uint8Array): boolean {
  const l = load();
  const n = ecCurveBytes(key);
  if (l === null || n === undefined || rs.length !== 2 * n) return false;
  const pub = key.type === "private" ? undefined : key;
  if (!pub) return false;
  const der = pub.export({ type: "spki", format: "der" });
  return (
    withPkey(l, der, false, (ctx) => {
      if (l.verifyInit(ctx) !== 1) return false;
      const sig = rsToDer(rs);
      return l.verify(ctx, sig, sig.length, digest, digest.length) === 1;
    }) === true
  );
}
