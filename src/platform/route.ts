/**
 * Routing questions and the host route a client needs (iproute2 `ip -j`, JSON output):
 *  - which local address and gateway reach the server (the IKE source address, and the route
 *    that must survive when the VPN takes the default route);
 *  - a host route to the server via the original gateway, so that ESP-in-UDP itself does not
 *    loop into the tunnel once 0.0.0.0/1 + 128.0.0.0/1 point at the TUN.
 * Host name resolution (IPv4) is here too: it is I/O.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { err, ok, type Result } from "../base/result.js";
import { type PlatformError, PlatformErrorCode, platformError } from "./errors.js";
import { runIp } from "./ip-command.js";

export interface RouteInfo {
  /** The local address the kernel would use as source. */
  readonly source: string;
  readonly device: string;
  /** The next hop, when not on-link. */
  readonly gateway?: string;
}

export async function routeTo(destination: string): Promise<Result<RouteInfo, PlatformError>> {
  const r = await runIp(["-j", "route", "get", destination]);
  if (!r.ok) return r;
  try {
    const parsed = JSON.parse(r.value) as Array<{
      prefsrc?: string;
      dev?: string;
      gateway?: string;
    }>;
    const first = parsed[0];
    if (!first?.prefsrc || !first.dev) {
      return err(platformError(PlatformErrorCode.Command, `no route to ${destination}`));
    }
    return ok({
      source: first.prefsrc,
      device: first.dev,
      ...(first.gateway ? { gateway: first.gateway } : {}),
    });
  } catch {
    return err(
      platformError(PlatformErrorCode.Command, `ip route get ${destination}: unreadable output`),
    );
  }
}

/** Resolves a server name to one IPv4 address (an address is returned as it is). */
export async function resolveIpv4(host: string): Promise<Result<string, PlatformError>> {
  if (isIP(host) === 4) return ok(host);
  try {
    const a = await lookup(host, { family: 4 });
    return ok(a.address);
  } catch (e) {
    return err(
      platformError(
        PlatformErrorCode.Command,
        `cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
      ),
    );
  }
}

/** Adds `destination/32` via the route that reaches it now; returns an undo function. */
export async function pinHostRoute(
  destination: string,
  via: RouteInfo,
): Promise<Result<() => Promise<void>, PlatformError>> {
  const spec = [
    `${destination}/32`,
    ...(via.gateway ? ["via", via.gateway] : []),
    "dev",
    via.device,
  ];
  const r = await runIp(["route", "replace", ...spec]);
  if (!r.ok) return r;
  return ok(async () => {
    await runIp(["route", "del", ...spec]);
  });
}

/**
 * The default route's interface and the local address the kernel would use on it
 * (`ip -j -4 route show default`, then `ip -j route get GATEWAY` for the source address).
 * This is the address the host shows to the Internet, unless a NAT sits in front of it.
 */
export async function defaultRouteSource(): Promise<Result<RouteInfo, PlatformError>> {
  const r = await runIp(["-j", "-4", "route", "show", "default"]);
  if (!r.ok) return r;
  let first: { gateway?: string; dev?: string; prefsrc?: string } | undefined;
  try {
    first = (JSON.parse(r.value) as Array<{ gateway?: string; dev?: string; prefsrc?: string }>)[0];
  } catch {
    return err(
      platformError(PlatformErrorCode.Command, "ip route show default: unreadable output"),
    );
  }
  if (!first?.dev) return err(platformError(PlatformErrorCode.Command, "no default route"));
  if (first.prefsrc) {
    return ok({
      source: first.prefsrc,
      device: first.dev,
      ...(first.gateway ? { gateway: first.gateway } : {}),
    });
  }
  if (!first.gateway) {
    return err(platformError(PlatformErrorCode.Command, "the default route has no gateway"));
  }
  return routeTo(first.gateway);
}

/**
 * The MTU towards `destination`: the kernel's cached path MTU for it when one is known
 * (`ip -j route get`, metrics.mtu, learnt from ICMP "fragmentation needed"), else the outgoing
 * interface's MTU (`ip -j link show`).
 */
export async function pathMtuTo(
  destination: string,
): Promise<Result<{ mtu: number; source: string }, PlatformError>> {
  const r = await runIp(["-j", "route", "get", destination]);
  if (!r.ok) return r;
  let dev: string | undefined;
  try {
    const first = (
      JSON.parse(r.value) as Array<{ dev?: string; metrics?: Array<{ mtu?: number }> }>
    )[0];
    const cached = first?.metrics?.find((m) => typeof m.mtu === "number")?.mtu;
    if (cached !== undefined) return ok({ mtu: cached, source: "cached path MTU" });
    dev = first?.dev;
  } catch {
    return err(platformError(PlatformErrorCode.Command, "ip route get: unreadable output"));
  }
  if (!dev) return err(platformError(PlatformErrorCode.Command, `no route to ${destination}`));
  const l = await runIp(["-j", "link", "show", "dev", dev]);
  if (!l.ok) return l;
  try {
    const mtu = (JSON.parse(l.value) as Array<{ mtu?: number }>)[0]?.mtu;
    if (typeof mtu === "number") return ok({ mtu, source: `interface ${dev}` });
  } catch {
    // fall through
  }
  return err(platformError(PlatformErrorCode.Command, `ip link show ${dev}: no MTU`));
}
