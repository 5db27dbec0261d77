/**
 * Authentication of remote management connections.
 *
 * Two ways in over TLS, either suffices:
 *  - a bearer token: `oak1_<43 base64url chars>` (256 random bits). The daemon stores only
 *    SHA-256 of it in a token file (JSON lines {name, sha256, created}); a token is long and
 *    random, so a fast hash is enough (nothing to brute-force), and comparison is constant-time.
 *  - a client certificate that chains to the CA configured for control (node:tls does the chain
 *    check; we additionally require that the client actually presented one).
 * The local Unix socket is authenticated by the file system: the socket is created mode 0600 in
 * a directory of mode 0700, so only root (its owner) can connect.
 *
 * Left out: token expiry and scopes (every authenticated client may do everything).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { err, ok, type Result } from "../base/result.js";
import { type ControlError, ControlErrorCode, controlError } from "./errors.js";

const TOKEN_RE = /^oak1_[A-Za-z0-9_-]{43}$/;

export interface TokenRecord {
  readonly name: string;
  /** SHA-256 of the token text, hex. */
  readonly sha256: string;
  readonly created: string;
}

/** A fresh token and the record to store (the token itself is shown once, never stored). */
export function generateToken(
  name: string,
  random: (n: number) => Uint8Array = randomBytes,
  now: () => Date = () => new Date(),
): { token: string; record: TokenRecord } {
  const token = `oak1_${Buffer.from(random(32)).toString("base64url")}`;
  return { token, record: { name, sha256: hashToken(token), created: now().toISOString() } };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Parses a token file (JSON lines). Bad lines are reported, never silently skipped. */
export function parseTokenFile(text: string): Result<TokenRecord[], ControlError> {
  const out: TokenRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]?.trim() ?? "";
    if (line === "" || line.startsWith("#")) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return err(controlError(ControlErrorCode.BadParams, `token file line ${i + 1} is not JSON`));
    }
    const o = v as Partial<TokenRecord> | null;
    if (
      !o ||
      typeof o.name !== "string" ||
      typeof o.sha256 !== "string" ||
      !/^[0-9a-f]{64}$/.test(o.sha256)
    ) {
      return err(
        controlError(
          ControlErrorCode.BadParams,
          `token file line ${i + 1} needs {"name": "...", "sha256": "<64 hex digits>"}`,
        ),
      );
    }
    out.push({
      name: o.name,
      sha256: o.sha256,
      created: typeof o.created === "string" ? o.created : "",
    });
  }
  return ok(out);
}

export function readTokenFile(path: string): Result<TokenRecord[], ControlError> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return err(
      controlError(
        ControlErrorCode.BadParams,
        `cannot read the control token file ${path}: ${e instanceof Error ? e.message : String(e)}`,
      ),
    );
  }
  return parseTokenFile(text);
}

/** The matching record's name, or undefined. Constant time per record. */
export function checkToken(token: string, records: readonly TokenRecord[]): string | undefined {
  if (!TOKEN_RE.test(token)) return undefined;
  const h = Buffer.from(hashToken(token), "hex");
  let found: string | undefined;
  for (const r of records) {
    const want = Buffer.from(r.sha256, "hex");
    if (want.length === h.length && timingSafeEqual(want, h) && found === undefined) found = r.name;
  }
  return found;
}
