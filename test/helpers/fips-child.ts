/**
 * Child process for test/security/fips-provider.test.ts: FIPS mode's provider start-up changes
 * process-wide OpenSSL state (loaded providers, default properties), so each attempt runs in a
 * process of its own. Prints the result of startFips("provider") and whether node:crypto still
 * computes MD5 afterwards, as one JSON line.
 */
import { createHash } from "node:crypto";
import { startFips } from "../../src/daemon/fips.js";

const r = startFips("provider");
let md5: boolean;
try {
  createHash("md5").update("x").digest();
  md5 = true;
} catch {
  md5 = false;
}
process.stdout.write(`${JSON.stringify({ result: r, md5 })}\n`);
