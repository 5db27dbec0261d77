/**
 * Constant-time comparison of byte strings (for HASH_I/HASH_R, NAT-D, ICV checks).
 * Wraps crypto.timingSafeEqual, which throws on different lengths: here a length mismatch is
 * simply "not equal". The length itself is not secret (it is fixed by the negotiated
 * algorithm), so returning early on it leaks nothing useful.
 */
import { timingSafeEqual } from "node:crypto";

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  if (a.byteLength === 0) return true;
  return timingSafeEqual(a, b);
}
