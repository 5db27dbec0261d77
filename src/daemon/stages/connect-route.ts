/**
 * `oakley connect` stage "route": SERVER resolved to an IPv4 address, and the path to it — our
 * source address on it (the IKE local address) and the route the default-route pin keeps.
 */
import { err, ok, type Result } from "../../base/result.js";
import { type RouteInfo, resolveIpv4, routeTo } from "../../platform/route.js";
import type { StageError } from "./errors.js";

export interface ServerPath {
  /** The server's address. */
  readonly server: string;
  /** Our address on the way to it. */
  readonly local: string;
  readonly route: RouteInfo;
}

export async function findServer(name: string): Promise<Result<ServerPath, StageError>> {
  const server = await resolveIpv4(name);
  if (!server.ok) return err({ code: server.error.code, message: server.error.message });
  const route = await routeTo(server.value);
  if (!route.ok)
    return err({
      code: route.error.code,
      message: `no route to the server ${server.value}: ${route.error.message}`,
    });
  return ok({ server: server.value, local: route.value.source, route: route.value });
}
