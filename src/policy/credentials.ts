/**
 * How user passwords are kept.
 *
 * The trade-off, decided:
 *  - MS-CHAPv2 (RFC 2759), the protocol Windows, macOS and Android L2TP clients use, needs
 *    NtPasswordHash = MD4(UTF-16LE(password)) on the server (section 8.3). We store that hash.
 *    It is unsalted and password-EQUIVALENT for MS-CHAPv2: whoever reads it can log in as the
 *    user. So the store file is a secrets file: created mode 0600, never logged, left out of
 *    exports unless the operator asks for secrets.
 *  - PAP (RFC 1334) sends the password itself, so a salted slow verifier suffices: scrypt
 *    (RFC 7914, N=2^15, r=8, p=1). PAP is off by default per user. Checking runs scrypt
 *    asynchronously (libuv threadpool), never on the event loop; a user that does not exist
 *    costs the same scrypt run, against a dummy record (no user enumeration by timing).
 *  - CHAP-MD5 (RFC 1994) needs the secret itself on both ends. We keep the cleartext ONLY for
 *    users for whom the operator enables CHAP-MD5 (`allowChapMd5`), and say so in the docs.
 * What is left out: encrypting secrets at rest with a key from elsewhere (a key beside the file
 * would add nothing; an OS keyring is platform work for later).
 */
import { scrypt, scryptSync, timingSafeEqual } from "node:crypto";
import { ntPasswordHash } from "../ppp/mschapv2.js";
import type { Credentials, UserAuthProtocol } from "./model.js";

/** RFC 2759 section 8.3 NtPasswordHash, the one in ppp/mschapv2.ts (re-exported for policy users). */
export { ntPasswordHash };

export type RandomBytes = (n: number) => Uint8Array;

const SCRYPT = { n: 2 ** 15, r: 8, p: 1 } as const;
const maxmem = (n: number, r: number, p: number): number => 256 * n * r + 128 * r * p + 1024 * 1024;

export function makeCredentials(
  password: string,
  random: RandomBytes,
  opts: { allowChapMd5?: boolean; scrypt?: { n: number; r: number; p: number } } = {},
): Credentials {
  const { n, r, p } = opts.scrypt ?? SCRYPT;
  const salt = Buffer.from(random(16));
  const hash = scryptSync(password.normalize("NFC"), salt, 32, {
    N: n,
    r,
    p,
    maxmem: maxmem(n, r, p),
  });
  return {
    ntHash: ntPasswordHash(password).toString("hex"),
    pap: {
      algorithm: "scrypt",
      n,
      r,
      p,
      salt: salt.toString("base64"),
      hash: hash.toString("base64"),
    },
    ...(opts.allowChapMd5 ? { cleartext: password } : {}),
  };
}

/** A password KDF run off the event loop (scrypt's parameters as node:crypto names them). */
export type PapKdf = (
  password: string,
  salt: Buffer,
  keylen: number,
  params: { readonly N: number; readonly r: number; readonly p: number; readonly maxmem: number },
) => Promise<Buffer>;

/** node:crypto's asynchronous scrypt: runs on the libuv threadpool. */
export const scryptKdf: PapKdf = (password, salt, keylen, params) =>
  new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, params, (e, key) => (e ? reject(e) : resolve(key)));
  });

/**
 * A PAP verifier no password matches: checked in place of a user that does not exist (or may
 * not use PAP), so that costs the same scrypt run. Its hash is not the output of any known
 * password; the answer is false whatever it computes.
 */
export const DUMMY_PAP_CREDENTIALS: Credentials = {
  ntHash: "00".repeat(16),
  pap: {
    algorithm: "scrypt",
    n: SCRYPT.n,
    r: SCRYPT.r,
    p: SCRYPT.p,
    salt: Buffer.from("oakley-dummy-pap").toString("base64"),
    hash: Buffer.alloc(32).toString("base64"),
  },
};

/** Checks a PAP password against the stored verifier (constant time in the hash compare). */
export async function verifyPap(
  c: Credentials,
  password: string,
  kdf: PapKdf = scryptKdf,
): Promise<boolean> {
  const want = Buffer.from(c.pap.hash, "base64");
  const got = await kdf(password.normalize("NFC"), Buffer.from(c.pap.salt, "base64"), want.length, {
    N: c.pap.n,
    r: c.pap.r,
    p: c.pap.p,
    maxmem: maxmem(c.pap.n, c.pap.r, c.pap.p),
  });
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Protocols a user's stored credentials can serve. */
export function servableProtocols(c: Credentials): UserAuthProtocol[] {
  return c.cleartext !== undefined ? ["mschapv2", "chap-md5", "pap"] : ["mschapv2", "pap"];
}
