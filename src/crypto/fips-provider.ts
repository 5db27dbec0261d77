/**
 * FIPS mode's module: loads OpenSSL 3's FIPS provider into the libcrypto Oakley calls and makes
 * approved implementations the only ones fetched (default properties "fips=yes"), then checks
 * by use that this took effect on both paths Oakley's crypto takes. Called once, at start,
 * before any other cryptographic operation.
 *
 * Two OpenSSL copies live in an Oakley process: Node's own (statically linked into the node
 * binary; node:crypto uses it) and libcrypto.so.3, which Oakley calls through koffi for ESP
 * (esp/evp.ts) and ECP Diffie-Hellman (dh-ecp-native.ts). When the node binary exports its
 * OpenSSL symbols (the official builds do), the dynamic linker binds libcrypto.so.3's calls to
 * its own exported functions to Node's copy: algorithm fetches (EVP_CIPHER_fetch, EVP_MD_fetch)
 * and provider loading (OSSL_PROVIDER_try_load) then run in Node's library context, while
 * functions koffi looks up directly run in libcrypto.so.3's. So this module
 *  - loads the provider with OSSL_PROVIDER_load(NULL, "fips") through koffi (it lands where the
 *    fetches happen, whichever copy that is), and "base" for key encoders/decoders;
 *  - sets "fips=yes" in both contexts: EVP_set_default_properties(NULL, "fips=yes") through
 *    koffi and crypto.setFips(true) for Node's (EVP_default_properties_enable_fips);
 *  - verifies by use instead of trusting the calls above: an ESP-style AES-GCM context built
 *    exactly as evp.ts builds one must report the provider "fips"; HMAC-MD5 on that path and
 *    MD5 in node:crypto must be refused; SHA-256 in node:crypto must work. Any mismatch refuses
 *    FIPS mode. crypto.getFips() is not used as evidence: Node 20 reports 1 once the property
 *    is set, provider or not.
 *
 * Outside the provider even when it is active (said in `oakley status`): Diffie-Hellman —
 * node:crypto's DiffieHellman/ECDH classes and dh-ecp-native.ts use OpenSSL's low-level DH,
 * EC_KEY and EC_POINT functions, which do not go through providers; and Oakley's own JavaScript
 * MD4/DES (MS-CHAPv2, off in FIPS mode); node:crypto's scrypt (PAP password verifiers), which
 * the FIPS provider does not implement, so PAP logins fail closed in provider mode.
 *
 * Deliberately no retry or fallback: when the provider is absent or does not verify, the
 * caller refuses to start (or runs --fips=policy-only, which claims no validated module).
 */
import { existsSync } from "node:fs";
import { createHash, setFips } from "node:crypto";
import { join } from "node:path";
import { openLibcrypto } from "./libcrypto.js";
import { err, ok, type Result } from "../base/result.js";

type Fn = (...args: unknown[]) => unknown;

export interface FipsProviderInfo {
  /** The provider and the libcrypto that loaded it, e.g. "fips provider (OpenSSL 3.0.9 ...)". */
  readonly provider: string;
  /** Where OpenSSL looks for provider modules. */
  readonly modulesDir: string;
}

export interface FipsProviderError {
  readonly code: "OAK_E_FIPS_PROVIDER_ABSENT" | "OAK_E_FIPS_PROVIDER_UNVERIFIED";
  readonly message: string;
}

/** OpenSSL_version() selectors (openssl/crypto.h). */
const OPENSSL_VERSION = 0;
const OPENSSL_MODULES_DIR = 8;
/** EVP_CIPHER_CTX_ctrl: set the GCM nonce length (openssl/evp.h). */
const EVP_CTRL_GCM_SET_IVLEN = 0x9;

const POLICY_ONLY_HINT =
  "install OpenSSL's FIPS provider (fips.so, configured with `openssl fipsinstall` as its security policy says) or run with --fips=policy-only (approved algorithms, no validated module)";

/** The modules directory in effect: OPENSSL_MODULES, else the library's built-in one. */
export function opensslModulesDir(versionOf: (t: number) => string): string {
  const env = process.env.OPENSSL_MODULES;
  if (env !== undefined && env !== "") return env;
  const v = versionOf(OPENSSL_MODULES_DIR); // 'MODULESDIR: "/usr/lib/..."'
  return /"(.*)"/.exec(v)?.[1] ?? v;
}

let enabled: Result<FipsProviderInfo, FipsProviderError> | undefined;

/**
 * Loads and verifies the FIPS provider; idempotent (the first answer is kept: providers and
 * default properties are process-wide).
 */
export function enableFipsProvider(): Result<FipsProviderInfo, FipsProviderError> {
  enabled ??= enable();
  return enabled;
}

function absent(message: string): Result<never, FipsProviderError> {
  return err({ code: "OAK_E_FIPS_PROVIDER_ABSENT", message: `${message}; ${POLICY_ONLY_HINT}` });
}
function unverified(message: string): Result<never, FipsProviderError> {
  return err({
    code: "OAK_E_FIPS_PROVIDER_UNVERIFIED",
    message: `${message}; FIPS mode refused. ${POLICY_ONLY_HINT}`,
  });
}

function enable(): Result<FipsProviderInfo, FipsProviderError> {
  let f: (sig: string) => Fn;
  try {
    const l = openLibcrypto();
    f = (sig) => l.func(sig) as Fn;
  } catch (e) {
    return absent(`libcrypto.so.3 (OpenSSL 3) cannot be loaded: ${String(e).split("\n")[0]}`);
  }
  const version = f("const char *OpenSSL_version(int t)") as (t: number) => string;
  const load = f("void *OSSL_PROVIDER_load(void *ctx, const char *name)") as (
    ctx: null,
    name: string,
  ) => unknown;
  const setProps = f("int EVP_set_default_properties(void *ctx, const char *props)") as (
    ctx: null,
    p: string,
  ) => number;
  const provName = f("const char *OSSL_PROVIDER_get0_name(const void *p)") as (
    p: unknown,
  ) => string;
  const selfTest = f("int OSSL_PROVIDER_self_test(const void *p)") as (p: unknown) => number;
  const errClear = f("void ERR_clear_error(void)") as () => void;

  const dir = opensslModulesDir(version);
  const prov = load(null, "fips");
  errClear();
  if (prov === null) {
    const file = join(dir, "fips.so");
    return absent(
      existsSync(file)
        ? `OpenSSL's FIPS provider ${file} is present but did not load (its configuration from \`openssl fipsinstall\` is missing or its self-test failed)`
        : `OpenSSL's FIPS provider is not installed: no fips.so in ${dir} (${version(OPENSSL_VERSION)}${process.env.OPENSSL_MODULES ? ", from OPENSSL_MODULES" : ""})`,
    );
  }
  if (provName(prov) !== "fips" || selfTest(prov) !== 1) {
    errClear();
    return unverified(`the provider loaded as "fips" from ${dir} did not pass its self-test`);
  }
  load(null, "base");
  if (setProps(null, "fips=yes") !== 1) {
    errClear();
    return unverified("EVP_set_default_properties(fips=yes) failed");
  }
  try {
    setFips(true);
  } catch (e) {
    return unverified(`node:crypto refused FIPS mode: ${(e as Error).message}`);
  }
  const checked = verifyByUse(f, provName);
  errClear();
  if (!checked.ok) return unverified(checked.error);
  return ok({ provider: `fips provider (${version(OPENSSL_VERSION)})`, modulesDir: dir });
}

/** The checks described in the header; returns the provider's reported name and version. */
function verifyByUse(
  f: (sig: string) => Fn,
  provName: (p: unknown) => string,
): Result<void, string> {
  const ctxNew = f("void *EVP_CIPHER_CTX_new(void)") as () => unknown;
  const ctxFree = f("void EVP_CIPHER_CTX_free(void *ctx)") as (c: unknown) => void;
  const init = f(
    "int EVP_CipherInit_ex(void *ctx, void *cipher, void *impl, const uint8_t *key, const uint8_t *iv, int enc)",
  ) as (
    c: unknown,
    ci: unknown,
    i: null,
    k: Uint8Array | null,
    iv: Uint8Array | null,
    e: number,
  ) => number;
  const ctrl = f("int EVP_CIPHER_CTX_ctrl(void *ctx, int type, int arg, void *ptr)") as (
    c: unknown,
    t: number,
    a: number,
    p: null,
  ) => number;
  const get0Cipher = f("const void *EVP_CIPHER_CTX_get0_cipher(const void *ctx)") as (
    c: unknown,
  ) => unknown;
  const cipherProv = f("const void *EVP_CIPHER_get0_provider(const void *c)") as (
    c: unknown,
  ) => unknown;
  const aesGcm = (f("void *EVP_aes_128_gcm(void)") as () => unknown)();
  const md5 = (f("void *EVP_md5(void)") as () => unknown)();
  const hmacNew = f("void *HMAC_CTX_new(void)") as () => unknown;
  const hmacFree = f("void HMAC_CTX_free(void *ctx)") as (c: unknown) => void;
  const hmacInit = f(
    "int HMAC_Init_ex(void *ctx, const uint8_t *key, int len, void *md, void *impl)",
  ) as (c: unknown, k: Uint8Array, n: number, md: unknown, i: null) => number;

  // The ESP path: a GCM context as esp/evp.ts makes it; which provider serves it?
  const ctx = ctxNew();
  let espProvider = "";
  try {
    if (init(ctx, aesGcm, null, null, null, 1) === 1 && ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, null))
      if (init(ctx, null, null, Buffer.alloc(16, 1), Buffer.alloc(12, 2), 1) === 1) {
        const c = get0Cipher(ctx);
        const p = c === null ? null : cipherProv(c);
        espProvider = p === null ? "" : provName(p);
      }
  } finally {
    ctxFree(ctx);
  }
  if (espProvider !== "fips")
    return err(
      `the ESP path (libcrypto.so.3 EVP) got AES-128-GCM from ${espProvider ? `the "${espProvider}" provider` : "no provider"}, not from "fips"`,
    );
  const h = hmacNew();
  try {
    if (hmacInit(h, Buffer.alloc(16, 3), 16, md5, null) === 1)
      return err("the ESP path still computes HMAC-MD5, so non-approved algorithms are reachable");
  } finally {
    hmacFree(h);
  }
  try {
    createHash("md5").update("x").digest();
    return err("node:crypto still computes MD5, so it is not restricted to the FIPS provider");
  } catch {
    // refused, as it must be
  }
  try {
    createHash("sha256").update("x").digest();
  } catch (e) {
    return err(`node:crypto cannot compute SHA-256 under fips=yes: ${(e as Error).message}`);
  }
  return ok(undefined);
}
