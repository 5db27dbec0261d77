/**
 * Why the daemon cannot enter protected mode, as a value, and the one line `status` prints
 * ("cannot enter protected mode: UDP 500 is in use by charon (pid 812)"). Microsoft's KB 818043
 * names two causes: a runtime error of the service, and a third-party component holding the
 * IKE port; we add the ones a user-space daemon meets: an unreadable store, a crypto start-up
 * failure, a TUN device that cannot be created, nftables refusing our table.
 */
import {
  type FirewallError,
  findUdpPortOwners,
  type PortOwner,
} from "../../platform/firewall/index.js";
import { type PlatformError, PlatformErrorCode } from "../../platform/index.js";
import type { StoreError } from "../../policy/index.js";

export type StartFailure =
  | {
      readonly kind: "port-in-use";
      readonly port: number;
      readonly owners: readonly PortOwner[];
      readonly code: string;
    }
  | { readonly kind: "store"; readonly code: string; readonly message: string }
  | { readonly kind: "crypto"; readonly code?: string; readonly message: string }
  | { readonly kind: "tun"; readonly code?: string; readonly message: string }
  /** A part of the service that did not start (RADIUS); `message` names it and the fix. */
  | { readonly kind: "service"; readonly code?: string; readonly message: string }
  | { readonly kind: "firewall"; readonly error: FirewallError }
  | { readonly kind: "runtime"; readonly code?: string; readonly message: string };

const PREFIX = "cannot enter protected mode: ";
const PORT_NAMES: Readonly<Record<number, string>> = { 500: "IKE", 4500: "IKE NAT-T" };

function owners(o: readonly PortOwner[]): string {
  if (o.length === 0) return "another process (not visible to the daemon)";
  return o.map((x) => `${x.command} (pid ${x.pid})`).join(", ");
}

/** The line status prints for a failure. */
export function describeStartFailure(f: StartFailure): string {
  switch (f.kind) {
    case "port-in-use": {
      const name = PORT_NAMES[f.port];
      return `${PREFIX}UDP ${f.port}${name ? ` (${name})` : ""} is in use by ${owners(f.owners)}; stop it or free the port, then restart oakley`;
    }
    case "store":
      return `${PREFIX}the policy store cannot be used (${f.code}): ${f.message}`;
    case "crypto":
      return `${PREFIX}crypto initialisation failed: ${f.message}`;
    case "tun":
      return `${PREFIX}the tunnel device cannot be created: ${f.message}`;
    case "service":
      return `${PREFIX}${f.message}`;
    case "firewall":
      return `${PREFIX}nftables refused the block rules (${f.error.code}): ${f.error.message}`;
    case "runtime":
      return `the daemon stopped protecting traffic: ${f.message}`;
  }
}

export function failureCode(f: StartFailure): string | undefined {
  return f.kind === "firewall" ? f.error.code : f.code;
}

/** A port-in-use failure, naming the holders found through /proc (best effort). */
export function portInUse(port: number, procRoot?: string): StartFailure {
  return {
    kind: "port-in-use",
    port,
    owners: findUdpPortOwners(port, procRoot),
    code: PlatformErrorCode.AddrInUse,
  };
}

/** Maps a failed bind of an IKE socket (src/platform) to a start failure. */
export function fromBindError(e: PlatformError, port: number, procRoot?: string): StartFailure {
  if (e.code === PlatformErrorCode.AddrInUse) return portInUse(port, procRoot);
  return { kind: "runtime", code: e.code, message: `UDP ${port}: ${e.message}` };
}

/** Maps a store failure (openStore / effectivePolicy) to a start failure. */
export function fromStoreError(e: StoreError): StartFailure {
  return { kind: "store", code: e.code, message: e.message };
}
