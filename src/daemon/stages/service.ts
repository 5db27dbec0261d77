/**
 * Stage "service" of both daemons: the IPsec node on the opened ports and L2TP over IPsec with
 * PPP on top (stack.ts), registered with the teardown in the order that never leaks L2TP in the
 * clear: first PPP Terminate, CDN and StopCCN while the SAs still exist (stop pass), then IKE
 * Deletes, the L2TP state dropped and the node's sockets closed (close pass).
 */
import { buildStack, type Stack, type StackOptions } from "../stack.js";
import type { IpPacketPort } from "../../l2tp-ipsec/index.js";
import type { OpenedPorts } from "./ports.js";
import { sleep, type Teardown } from "./teardown.js";

export interface ServiceSetup {
  /** How long Terminate/CDN/StopCCN get to leave before the SAs are deleted. */
  readonly drainMs: number;
}

export function startService(
  o: StackOptions,
  ports: { readonly ipsec: OpenedPorts; readonly tun: IpPacketPort },
  s: ServiceSetup,
  teardown: Teardown,
): Stack {
  const stack = buildStack(o, { ipsec: ports.ipsec.ports, tun: ports.tun });
  ports.ipsec.handOver();
  const { node, l2tp } = stack;
  teardown.add("service", {
    stop: async () => {
      l2tp.close();
      await sleep(s.drainMs);
    },
    close: async () => {
      node.deleteAll();
      await sleep(100);
      l2tp.dispose();
      node.close();
    },
  });
  return stack;
}
