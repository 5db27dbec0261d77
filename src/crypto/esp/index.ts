/**
 * ESP transforms: the factory the data plane uses. Which backend serves a suite is a decision
 * made from bench/esp.ts measurements on this machine class and kept here, behind the
 * interface (see the table below); callers may force one backend (tests, benchmarks).
 *
 * Measured (bench/esp.ts, 1400-octet packets, one core; see the ESP report): EVP via koffi is
 * 2.5–4x faster than node:crypto for every suite, because node:crypto builds a cipher (and an
 * HMAC) object per packet. node:crypto remains the fallback when libcrypto cannot be loaded.
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
