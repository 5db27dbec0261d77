/**
 * Which daemons the monitor watches: `--daemon SPEC`, repeatable.
 *
 *   [NAME=]unix:/run/oakley/control.sock
 *   [NAME=]tls://HOST:PORT?token-file=FILE&ca=FILE            bearer token
 *   [NAME=]tls://HOST:PORT?cert=FILE&key=FILE&ca=FILE         client certificate
 *   (also: token=TOKEN — visible in the process list — and servername=NAME)
 *
 * Errors name the flag, the spec and the fix.
 */
import { readFileSync } from "node:fs";
import type { ControlEndpoint } from "../control/index.js";

export interface DaemonSpec {
  readonly name: string;
  readonly endpoint: ControlEndpoint;
}

const KEYS = ["token", "token-file", "ca", "cert", "key", "servername"];

export function parseDaemonSpec(
  spec: string,
  read: (path: string) => string = (p) => readFileSync(p, "utf8"),
): DaemonSpec | string {
  const bad = (why: string) => `--daemon '${spec}': ${why}`;
  const m = /^(?:([A-Za-z0-9_.-]{1,64})=)?(.+)$/.exec(spec);
  if (!m?.[2])
    return bad("expected [NAME=]unix:PATH or [NAME=]tls://HOST:PORT?token-file=FILE&ca=FILE");
  const rest = m[2];
  if (rest.startsWith("unix:")) {
    const path = rest.slice(5);
    if (!path.startsWith("/"))
      return bad("the socket path must be absolute (unix:/run/oakley/control.sock)");
    return { name: m[1] ?? `local ${path}`, endpoint: { kind: "unix", path } };
  }
  if (!rest.startsWith("tls://")) return bad("expected unix:PATH or tls://HOST:PORT?...");
  let url: URL;
  try {
    url = new URL(rest);
  } catch {
    return bad("not a valid tls://HOST:PORT address");
  }
  const port = Number(url.port);
  if (!url.hostname || !url.port || !Number.isInteger(port))
    return bad("give the port: tls://HOST:PORT");
  for (const k of url.searchParams.keys()) {
    if (!KEYS.includes(k)) return bad(`unknown option '${k}'; known: ${KEYS.join(", ")}`);
  }
  const q = (k: string) => url.searchParams.get(k) ?? undefined;
  const file = (k: string): string | undefined => {
    const p = q(k);
    if (p === undefined) return undefined;
    try {
      return read(p);
    } catch (e) {
      throw new SpecError(
        bad(`${k}=${p}: cannot read it (${e instanceof Error ? e.message : String(e)})`),
      );
    }
  };
  try {
    const tokenText = q("token") ?? file("token-file")?.trim();
    const cert = file("cert");
    const key = file("key");
    if ((cert === undefined) !== (key === undefined)) return bad("cert= and key= go together");
    if (tokenText === undefined && cert === undefined)
      return bad("a remote daemon needs token-file=FILE (or token=) or cert=FILE&key=FILE");
    const ca = file("ca");
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const sn = q("servername");
    return {
      name: m[1] ?? `${host}:${port}`,
      endpoint: {
        kind: "tls",
        host,
        port,
        ...(sn !== undefined ? { servername: sn } : {}),
        ...(ca !== undefined ? { ca } : {}),
        ...(tokenText !== undefined ? { token: tokenText } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
      },
    };
  } catch (e) {
    if (e instanceof SpecError) return e.message;
    throw e;
  }
}

class SpecError extends Error {}
