/**
 * RADIUS settings of `oakley serve`: `--radius HOST[:PORT]` (repeatable; tried in order),
 * `--radius-secret-file FILE`, `--radius-nas-identifier NAME`, `--radius-dae-listen ADDR[:PORT]`
 * (RFC 5176 Disconnect/CoA from the same servers with the same secret; off unless given),
 * `--radius-interim-interval SECONDS` (accounting Interim-Update when the server sends no
 * Acct-Interim-Interval; default none, at least 60).
 *
 * PORT is the authentication port (default 1812); accounting uses PORT + 1 (1813), the
 * convention every server follows. Servers are IPv4 addresses (the client socket is IPv4).
 * The secret is read from a file so it appears neither in `ps` nor in shell history; the file
 * must not be readable by group or others. The accounting queue lives beside the policy store
 * (`radius-accounting.db`).
 */
import { readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { addressBytes } from "../wire/radius/packet.js";
import { err, ok, type Result } from "../base/result.js";
import type { RadiusSetting } from "../policy/index.js";
import type { RadiusServiceOptions } from "./radius.js";
import { DAE_DEFAULT_PORT } from "./radius.js";

export interface RadiusSettings {
  readonly servers: readonly {
    readonly address: string;
    readonly authPort: number;
    readonly acctPort: number;
  }[];
  readonly secretFile: string;
  readonly secret: Buffer;
  readonly nasIdentifier: string;
  readonly daeListen: { readonly address: string; readonly port: number } | undefined;
  /** Seconds between Interim-Updates unless the server says; 0: none. */
  readonly interimIntervalS: number;
  readonly queuePath: string;
}

export interface RadiusInput {
  readonly servers: readonly string[];
  readonly secretFile: string | undefined;
  readonly nasIdentifier: string | undefined;
  readonly daeListen: string | undefined;
  readonly interimInterval?: string | undefined;
  /** The policy store path: the queue goes beside it. */
  readonly store: string;
}

type Fail = (field: string, message: string) => void;

function endpoint(s: string, defaultPort: number): { address: string; port: number } | string {
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(s.trim());
  if (!m || addressBytes(m[1] ?? "") === undefined) {
    return `"${s}" is not an IPv4 address with an optional :PORT; write e.g. 192.0.2.10 or 192.0.2.10:1812`;
  }
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65534) return `"${s}": port must be from 1 to 65534`;
  return { address: m[1] ?? "", port };
}

/** Undefined when RADIUS is not configured (or on mistakes, which are reported through `fail`). */
export function parseRadiusSettings(input: RadiusInput, fail: Fail): RadiusSettings | undefined {
  const others =
    input.secretFile ?? input.nasIdentifier ?? input.daeListen ?? input.interimInterval;
  if (input.servers.length === 0) {
    if (others !== undefined) {
      fail("radius", "RADIUS options were given without a server; add --radius HOST[:PORT]");
    }
    return undefined;
  }
  const servers: { address: string; authPort: number; acctPort: number }[] = [];
  let ok = true;
  for (const s of input.servers) {
    const e = endpoint(s, 1812);
    if (typeof e === "string") {
      fail("radius", e);
      ok = false;
    } else servers.push({ address: e.address, authPort: e.port, acctPort: e.port + 1 });
  }
  let secret: Buffer | undefined;
  if (input.secretFile === undefined) {
    fail(
      "radius-secret-file",
      "is required with --radius: a file holding the shared secret (chmod 600)",
    );
    ok = false;
  } else {
    try {
      const st = statSync(input.secretFile);
      if ((st.mode & 0o077) !== 0) {
        fail(
          "radius-secret-file",
          `${input.secretFile} is readable by other users; run chmod 600 ${input.secretFile}`,
        );
        ok = false;
      }
      const text = readFileSync(input.secretFile, "utf8").replace(/\r?\n$/, "");
      if (text.length === 0) {
        fail(
          "radius-secret-file",
          `${input.secretFile} is empty; put the shared secret on its first line`,
        );
        ok = false;
      } else if (/[\r\n]/.test(text)) {
        fail("radius-secret-file", `${input.secretFile} must hold the secret on one line`);
        ok = false;
      } else secret = Buffer.from(text, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      fail("radius-secret-file", `cannot read ${input.secretFile} (${code}); check the path`);
      ok = false;
    }
  }
  const nasIdentifier = input.nasIdentifier ?? hostname();
  if (Buffer.byteLength(nasIdentifier) > 253 || nasIdentifier.length === 0) {
    fail("radius-nas-identifier", "must be 1 to 253 octets");
    ok = false;
  }
  let daeListen: { address: string; port: number } | undefined;
  if (input.daeListen !== undefined) {
    const e = endpoint(input.daeListen, DAE_DEFAULT_PORT);
    if (typeof e === "string") {
      fail("radius-dae-listen", e);
      ok = false;
    } else daeListen = e;
  }
  let interimIntervalS = 0;
  if (input.interimInterval !== undefined) {
    const n = Number(input.interimInterval);
    if (!Number.isInteger(n) || n < 60 || n > 86_400) {
      fail(
        "radius-interim-interval",
        `"${input.interimInterval}" must be whole seconds from 60 to 86400 (e.g. 300)`,
      );
      ok = false;
    } else interimIntervalS = n;
  }
  if (!ok || !secret) return undefined;
  return {
    servers,
    secretFile: input.secretFile ?? "",
    secret,
    nasIdentifier,
    daeListen,
    interimIntervalS,
    queuePath: join(dirname(input.store), "radius-accounting.db"),
  };
}

/**
 * What RadiusService.start needs, from the settings. `nasIpAddress`: the address serve listens
 * on, sent as NAS-IP-Address (RADIUS servers key accounting rows and NAS tables on it; not
 * sent for a wildcard listen address).
 */
export function radiusServiceOptions(
  s: RadiusSettings,
  nasIpAddress?: string,
): RadiusServiceOptions {
  const secret = s.secret;
  const nasIp =
    nasIpAddress !== undefined &&
    nasIpAddress !== "0.0.0.0" &&
    addressBytes(nasIpAddress) !== undefined
      ? nasIpAddress
      : undefined;
  return {
    client: {
      servers: s.servers.map((x) => ({ ...x, secret })),
      nasIdentifier: s.nasIdentifier,
      ...(nasIp ? { nasIpAddress: nasIp } : {}),
    },
    queuePath: s.queuePath,
    ...(s.daeListen
      ? {
          dae: {
            address: s.daeListen.address,
            port: s.daeListen.port,
            clients: s.servers.map((x) => ({ address: x.address, secret })),
          },
        }
      : {}),
  };
}

/**
 * The store's RADIUS setting (`oakley policy radius …`) as serve's settings, checked as the
 * flags are; the error names the setting and how to change it.
 */
export function radiusFromStore(
  setting: RadiusSetting,
  storePath: string,
): Result<RadiusSettings, string> {
  const problems: string[] = [];
  const parsed = parseRadiusSettings(
    {
      servers: setting.servers,
      secretFile: setting.secretFile,
      nasIdentifier: setting.nasIdentifier,
      daeListen: setting.daeListen,
      interimInterval:
        setting.interimInterval === undefined ? undefined : String(setting.interimInterval),
      store: storePath,
    },
    (field, message) => problems.push(`${field}: ${message}`),
  );
  if (!parsed || problems.length > 0)
    return err(
      `the store's RADIUS setting cannot be used (${problems.join("; ")}); change it with 'oakley policy radius --server … --secret-file …' or remove it with 'oakley policy radius off'`,
    );
  return ok(parsed);
}
