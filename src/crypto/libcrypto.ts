/**
 * The one handle on OpenSSL's libcrypto.so.3 (koffi) that Oakley's native crypto binds its
 * functions from: the ESP transforms (esp/evp.ts), ECP Diffie-Hellman (dh-ecp-native.ts),
 * raw-digest ECDSA (ecdsa-digest.ts) and the FIPS provider (fips-provider.ts). Throws when
 * the library cannot be loaded; each caller then falls back or refuses in its own way.
 */
import koffi from "koffi";

let handle: ReturnType<typeof koffi.load> | undefined;

export function openLibcrypto(): ReturnType<typeof koffi.load> {
  handle ??= koffi.load("libcrypto.so.3");
  return handle;
}
