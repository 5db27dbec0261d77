/**
 * What start-up opens on the host: the TUN device, the IPsec ports (UDP 500/4500, raw ESP) and
 * the fail-closed nftables table. `oakley serve` and `oakley connect` use the real ones; the
 * start/stop tests pass fakes that record what was opened and closed.
 */
import type { Result } from "../../base/result.js";
import type { IpPacketPort } from "../../l2tp-ipsec/index.js";
import { NftTable } from "../../platform/firewall/index.js";
import { type PlatformError, TunDevice, type TunOptions } from "../../platform/index.js";
import {
  type IpsecPorts,
  type OpenIpsecPortsOptions,
  openIpsecPorts,
  type StartError,
} from "../ipsec-node.js";

/** The part of a TUN device the daemon uses. */
export type StartTun = IpPacketPort &
  Pick<TunDevice, "setMtu" | "setAddress" | "setUp" | "addRoute" | "onPackets" | "close">;

export interface StartHost {
  openTun(o: TunOptions): Result<StartTun, PlatformError>;
  openPorts(o: OpenIpsecPortsOptions): Promise<Result<IpsecPorts, StartError>>;
  /** The table the fail-closed guard installs (`inet oakley` in this namespace). */
  firewall(): NftTable;
}

export const REAL_HOST: StartHost = {
  openTun: (o) => TunDevice.open(o),
  openPorts: (o) => openIpsecPorts(o),
  firewall: () => new NftTable(),
};
