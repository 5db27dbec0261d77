/**
 * Stage "ports" of both daemons: what is opened on the host for traffic — the TUN device and the
 * IPsec ports (UDP 500 for IKE, UDP 4500 for NAT-T, raw ESP). Each is registered with the
 * teardown as soon as it is open.
 */
import { err, ok, type Result } from "../../base/result.js";
import type { TunAddress } from "../../platform/index.js";
import { portInUse, type StartFailure } from "../fail-closed/index.js";
import type { IpsecPorts } from "../ipsec-node.js";
import type { StartHost, StartTun } from "./host.js";
import type { Teardown } from "./teardown.js";

/** A TUN device that cannot be opened or configured (a start failure: block mode). */
export interface TunFailure {
  readonly kind: "tun";
  readonly code: string;
  readonly message: string;
}

export interface TunSetup {
  readonly name: string;
  readonly mtu: number;
  readonly address: TunAddress;
}

/**
 * A TUN device, configured and up (offloads on: the kernel hands TCP super-packets and takes
 * merged ones, tun.ts). One rule for both ways it can fail: a device that cannot be opened
 * (no /dev/net/tun, no CAP_NET_ADMIN) and one that opened but cannot be configured (closed
 * again) are both "tun" start failures, i.e. block mode when fail-closed is on.
 */
export function openTun(host: StartHost, s: TunSetup): Result<StartTun, TunFailure> {
  const t = host.openTun({ name: s.name, offload: true });
  if (!t.ok)
    return err({ kind: "tun", code: t.error.code, message: `TUN ${s.name}: ${t.error.message}` });
  const tun = t.value;
  for (const r of [tun.setMtu(s.mtu), tun.setAddress(s.address), tun.setUp(true)]) {
    if (!r.ok) {
      tun.close();
      return err({ kind: "tun", code: r.error.code, message: `TUN ${s.name}: ${r.error.message}` });
    }
  }
  return ok(tun);
}

export interface PortsSetup {
  readonly listen: string;
  /** Other IKE/NAT-T ports (tests). */
  readonly ports?: { readonly ike: number; readonly natt: number };
}

/** The ports did not open: the platform's error, as a start failure. */
export interface PortsFailure {
  readonly kind: "runtime";
  readonly code: string;
  readonly message: string;
}

export interface OpenedPorts {
  readonly ports: IpsecPorts;
  /** The IPsec node takes the ports over (and closes them): drop them from the teardown. */
  readonly handOver: () => void;
}

/** UDP 500/4500 and raw ESP, registered with `teardown` until the IPsec node owns them. */
export async function openPorts(
  host: StartHost,
  s: PortsSetup,
  teardown: Teardown,
): Promise<Result<OpenedPorts, PortsFailure>> {
  const r = await host.openPorts({ listen: s.listen, ...(s.ports ? { ports: s.ports } : {}) });
  if (!r.ok) return err({ kind: "runtime", code: r.error.code, message: r.error.message });
  const ports = r.value;
  const handOver = teardown.add("ports", {
    close: () => {
      ports.ike.close();
      ports.natt.close();
      ports.rawEsp?.close();
      ports.tun?.close();
    },
  });
  return ok({ ports, handOver });
}

/** Server: UDP 500/4500 taken names the processes holding them (from /proc), when found. */
export function explainPortsInUse(
  f: PortsFailure,
  ports: { readonly ike: number; readonly natt: number } = { ike: 500, natt: 4500 },
): StartFailure {
  if (f.code !== "OAK_E_PLATFORM_ADDR_IN_USE") return f;
  const taken = [ports.ike, ports.natt]
    .map((x) => portInUse(x))
    .find((x) => x.kind === "port-in-use" && x.owners.length > 0);
  return taken ?? f;
}
