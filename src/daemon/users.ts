/**
 * The bridge from stored users (src/policy: NT hash, cleartext only for CHAP-MD5 users) to what
 * PPP's CHAP authenticator asks for (src/ppp UserSecret). A disabled user, or a method the user
 * is not allowed, yields no secret for it: authentication fails as for a wrong password
 * (MS-CHAPv2 E=691), and the log says why. PAP goes through ppp-password.ts instead (the scrypt
 * verifier runs off the event loop).
 */
import type { User } from "../policy/index.js";
import type { UserSecret } from "../ppp/index.js";

export function userSecret(u: User | undefined): UserSecret | undefined {
  if (!u?.enabled) return undefined;
  const c = u.credentials;
  const allowed = new Set(u.protocols);
  return {
    ...(allowed.has("mschapv2") ? { ntHash: Buffer.from(c.ntHash, "hex") } : {}),
    ...(allowed.has("chap-md5") && c.cleartext !== undefined ? { cleartext: c.cleartext } : {}),
  };
}
