/**
 * ESP transforms: the factory the data plane uses. Which backend serves a suite is a decision
 * made from bench/esp.ts measurements on this machine class and kept here, behind the
 * interface (see the table below); callers may force one backend (tests, benchmarks).
 *
 * Measured with bench/esp.ts on this machine class (one core, whole data-plane path, per CPU
 * second): EVP via koffi is faster for every suite — AES-GCM 64/1400 octets about 4–5x
 * (e.g. AES-128-GCM 1400: 431k/409k pps enc/dec vs 99k/114k), AES-CBC+HMAC about 3–4x,
 * NULL+HMAC about 2–3x, 3DES about 1.2x (3DES itself dominates) — because node:crypto builds a
 * cipher (and an HMAC) object per packet. node:crypto remains the fallback when libcrypto
 * cannot be loaded.
 */
import { createEvpTransform, evpAvailable } from "./evp.js";
import { createNodeTransform } from "./node.js";
import type { EspEncryption } from "./suites.js";
import type { EspBackendName, EspTransform, TransformParams } from "./transform.js";

export * from "./suites.js";
export type {
  EspBackendName,
  EspKeys,
  EspTransform,
  RandomFill,
  TransformParams,
} from "./transform.js";
export { evpAvailable, evpLoadError } from "./evp.js";

/** Per-suite backend preference (by measurement; evp wins everywhere it loads). */
export const PREFERRED_BACKEND: Readonly<Record<EspEncryption, EspBackendName>> = {
  "aes128-gcm16": "evp",
  "aes192-gcm16": "evp",
  "aes256-gcm16": "evp",
  "aes128-gcm12": "evp",
  "aes192-gcm12": "evp",
  "aes256-gcm12": "evp",
  "aes128-gcm8": "evp",
  "aes192-gcm8": "evp",
  "aes256-gcm8": "evp",
  "aes128-cbc": "evp",
  "aes192-cbc": "evp",
  "aes256-cbc": "evp",
  "3des-cbc": "evp",
  null: "evp",
};

export type BackendChoice = EspBackendName | "auto";

/** Creates a transform; throws (a bug, not a packet problem) on a bad suite or key length. */
export function createEspTransform(
  p: TransformParams,
  backend: BackendChoice = "auto",
): EspTransform {
  const want = backend === "auto" ? PREFERRED_BACKEND[p.suite.encryption] : backend;
  if (want === "evp") {
    const t = createEvpTransform(p);
    if (t !== undefined) return t;
    if (backend === "evp")
      throw new Error("ESP transform: libcrypto (EVP) backend is not available");
  }
  return createNodeTransform(p);
}

export function availableBackends(): EspBackendName[] {
  return evpAvailable() ? ["node", "evp"] : ["node"];
}
