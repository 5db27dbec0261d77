/**
 * Guards shared by Oakley's HTTP endpoints (the web monitor and the Prometheus metrics):
 *
 *  - Host-header check against DNS rebinding. A page on an attacker's site can point its own
 *    name at 127.0.0.1 and then read a local HTTP service as "same origin"; the one thing it
 *    cannot change is the Host header, which carries the attacker's name. Accepted: the
 *    configured listen address, localhost names (`localhost`, `*.localhost`, which browsers
 *    resolve to loopback themselves), loopback addresses, names given with --allow-host, and —
 *    when listening on a wildcard address — the addresses of this host's interfaces.
 *  - Bearer tokens (`Authorization: Bearer oak1_...`), the same tokens as the control protocol.
 *  - The start-up warning for an endpoint reachable from the network without TLS.
 *
 * Left out: TLS for these endpoints (put a reverse proxy with TLS in front; see the warning).
 */
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";

export interface HostPolicy {
  /** The address the server listens on ("0.0.0.0" / "::" = every address of this host). */
  readonly listenHost: string;
  /** Further names (or addresses) accepted in Host, e.g. the reverse proxy's name. */
  readonly allowHosts?: readonly string[];
}

/** The host part of a Host header ("[::1]:9600" -> "::1", "Example.org:80" -> "example.org"). */
export function hostName(header: string): string | undefined {
  const h = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6?.[1]) return v6[1];
  const m = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(h);
  return m?.[1]?.replace(/\.$/, "");
}

export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "";
}

export function isLoopbackAddress(a: string): boolean {
  const x = a.toLowerCase().replace(/^::ffff:/, "");
  if (isIP(x) === 4) return x.startsWith("127.");
  return x === "::1" || x === "0:0:0:0:0:0:0:1";
}

/** Loopback addresses and localhost names (RFC 6761: *.localhost is loopback). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || isLoopbackAddress(h);
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .map((i) => i.address.toLowerCase().replace(/%.*$/, ""));
}

/** Whether a request's Host header names this server (see the file header). */
export function hostAllowed(
  header: string | undefined,
  policy: HostPolicy,
  addresses: () => readonly string[] = localAddresses,
): boolean {
  if (header === undefined) return false;
  const name = hostName(header);
  if (name === undefined) return false;
  if (isLoopbackHost(name)) return true;
  const listen = policy.listenHost.toLowerCase();
  if (!isWildcard(listen) && name === listen) return true;
  if ((policy.allowHosts ?? []).some((a) => a.toLowerCase().replace(/\.$/, "") === name))
    return true;
  return isWildcard(listen) && isIP(name) !== 0 && addresses().includes(name);
}

/** The token of an `Authorization: Bearer TOKEN` header. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer +([!-~]{1,512}) *$/i.exec(header ?? "");
  return m?.[1];
}

/**
 * The warning for an HTTP endpoint that listens beyond loopback, or undefined. `what` names
 * the endpoint ("the monitor"), `secret` what a client sends (e.g. "the token").
 */
export function exposureWarning(
  what: string,
  host: string,
  port: number,
  opts: {
    readonly tls: boolean;
    readonly secret?: string;
    readonly unauthenticated?: boolean;
    /** What to do about it (default: loopback + SSH tunnel, or a TLS reverse proxy). */
    readonly fix?: string;
  },
): string | undefined {
  if (!isWildcard(host) && isLoopbackHost(host)) return undefined;
  const where = `${host.includes(":") ? `[${host}]` : host || "*"}:${port}`;
  const parts = [
    `${what} listens on ${where}, not only on loopback: anyone who can reach that port can try it`,
  ];
  if (opts.unauthenticated) parts.push("and it answers without authentication");
  if (!opts.tls)
    parts.push(
      `it speaks plain HTTP, so ${opts.secret ? `${opts.secret} and ` : ""}what it serves cross the network in the clear`,
    );
  const fix =
    opts.fix ??
    "listen on 127.0.0.1 and reach it through an SSH tunnel, or put a reverse proxy with TLS in front of it";
  return `warning: ${parts.join("; ")}. To avoid this, ${fix}`;
}
