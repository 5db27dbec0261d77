/**
 * The product stack both `oakley serve` and `oakley connect` run, as one function over injected
 * ports: the IPsec node (IKE engine + ESP data plane, ipsec-node.ts) and L2TP over IPsec with PPP
 * (src/l2tp-ipsec), joined by the node's child SA table:
 *
 *   UDP 500/4500, raw ESP --> IpsecNode --child up/down, adopted--> L2tpOverIpsec (channels)
 *                                      --local transport payloads-->      |
 *   TUN <-- IP from PPP sessions (checked, MSS clamped) ------------------+
 *   TUN --> ipPackets --> session --> ESP (driver.sendPayload) --> UDP 4500 / raw ESP
 *
 * The daemon passes the real sockets and TUN (ipsec-node.ts `openIpsecPorts`, TunDevice); the
 * whole-product scenario tests pass simulator adapters (test/fakes/product.ts) and run a client
 * and a server in one process.
 */
import type { Clock } from "../base/clock.js";
import type { IkeConfig, IkeEvent } from "../ike/index.js";
import {
  type IpPacketPort,
  L2tpOverIpsec,
  type L2tpOverIpsecClient,
  type L2tpOverIpsecEvent,
  type L2tpOverIpsecServer,
} from "../l2tp-ipsec/index.js";
import type { Counters } from "../obs/counters.js";
import type { LogHub, Logger } from "../obs/log.js";
import type { Random } from "../platform/index.js";
import type { ChannelPeer, FailureRecorder } from "./diagnostics.js";
import { IpsecNode, type IpsecPorts } from "./ipsec-node.js";

export interface StackOptions {
  readonly role: "lns" | "lac";
  /** Our address for IKE (0.0.0.0: from each datagram's destination). */
  readonly listen: string;
  readonly ike: IkeConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly logs: LogHub;
  readonly counters: Counters;
  /** PPP MRU / TUN MTU. */
  readonly mtu: number;
  readonly pathMtu?: number;
  readonly ports?: { readonly ike: number; readonly natt: number };
  readonly server?: L2tpOverIpsecServer;
  readonly client?: L2tpOverIpsecClient;
  readonly echoIntervalMs?: number;
  /**
   * Server: records failures with explanations (diagnostics.ts); the explanation is also passed
   * to onIkeEvent / onEvent for the log line.
   */
  readonly failures?: FailureRecorder;
  readonly onIkeEvent?: (e: IkeEvent, explanation?: string) => void;
  readonly onEvent?: (e: L2tpOverIpsecEvent, explanation?: string) => void;
}

export interface StackPorts {
  readonly ipsec: IpsecPorts;
  /** Where IP packets from PPP go (the TUN device, or a port that forwards to it once open). */
  readonly tun: IpPacketPort;
}

export interface Stack {
  readonly node: IpsecNode;
  readonly l2tp: L2tpOverIpsec;
}

export function buildStack(o: StackOptions, ports: StackPorts): Stack {
  let l2tp: L2tpOverIpsec | undefined;
  const node = IpsecNode.create(
    {
      listen: o.listen,
      ike: o.ike,
      clock: o.clock,
      random: o.random,
      ikeLog: o.logs.logger("ike"),
      espLog: o.logs.logger("esp"),
      counters: o.counters,
      ...(o.ports ? { ports: o.ports } : {}),
      ...(o.onIkeEvent || o.failures
        ? {
            onIkeEvent: (e: IkeEvent) => {
              const why = o.failures?.ike(e);
              o.onIkeEvent?.(e, why);
            },
          }
        : {}),
      onChildUp: (c) => l2tp?.childUp(c),
      onChildDown: (c) => l2tp?.childDown(c.childId),
      onChildrenAdopted: (from, to) => l2tp?.childrenAdopted(from, to),
      onLocalTransport: (c, nextHeader, payload) => l2tp?.receive(c, nextHeader, payload) ?? false,
    },
    ports.ipsec,
  );
  l2tp = new L2tpOverIpsec({
    role: o.role,
    clock: o.clock,
    random: (n) => o.random.bytes(n),
    log: o.logs.logger("daemon"),
    l2tpLog: o.logs.logger("l2tp"),
    pppLog: o.logs.logger("ppp"),
    counters: o.counters,
    esp: node.driver,
    tun: ports.tun,
    mtu: o.mtu,
    ...(o.pathMtu !== undefined ? { pathMtu: o.pathMtu } : {}),
    ...(o.server ? { server: o.server } : {}),
    ...(o.client ? { client: o.client } : {}),
    ...(o.echoIntervalMs !== undefined ? { echoIntervalMs: o.echoIntervalMs } : {}),
    ...(o.onEvent || o.failures
      ? {
          onEvent: (e: L2tpOverIpsecEvent) => {
            const why = o.failures?.l2tp(e, peerOf);
            o.onEvent?.(e, why);
          },
        }
      : {}),
  });
  /** A channel's peer, through its IKE SA (diagnostics of PPP/L2TP failures). */
  function peerOf(channelId: number): ChannelPeer | undefined {
    const ch = l2tp?.channels.list().find((c) => c.id === channelId);
    const sa = ch?.ikeSaId !== undefined ? node.engine.sas.get(ch.ikeSaId) : undefined;
    return sa
      ? { address: sa.peer.address, port: sa.peer.port, vendorIds: sa.vids.names }
      : undefined;
  }
  return { node, l2tp };
}

/** One line for a person about an IKE event (logs of both products). */
export function describeIkeEvent(e: IkeEvent, role: "server" | "client"): string {
  const them = role === "server" ? "client" : "server";
  const us = role === "server" ? "this server" : "this client";
  switch (e.type) {
    case "phase1-up":
      return `phase 1 up with ${e.peer.address}:${e.peer.port} (ID ${e.peerId}): ${e.suite}; NAT: ${
        e.nat.peerBehindNat ? `${them} behind NAT` : `${them} not behind NAT`
      }${e.nat.localBehindNat ? `, ${us} behind NAT` : ""} (${e.nat.method})`;
    case "phase2-up":
      return `phase 2 up (${e.mode}, ${e.suite}) with ${e.remote}${e.rekey ? " (rekey)" : ""}`;
    case "failed":
      return `${e.stage} with ${e.peer.address}:${e.peer.port} failed: ${e.message} [${e.code}]`;
    case "deleted":
      return `${e.what === "ike" ? "IKE SA" : "child SA"} deleted: ${e.reason}`;
    case "peer-moved":
      return `peer moved from ${e.from.address}:${e.from.port} to ${e.to.address}:${e.to.port} (NAT mapping changed)`;
    case "children-adopted":
      return `IKE SA ${e.from} replaced by IKE SA ${e.ikeSaId} (phase-1 rekey); it keeps ${e.childIds.length} child SA(s)`;
  }
}

/**
 * The server's log line for an IKE event: failures at warn level with their explanation (the
 * hint `oakley diagnose` shows), the rest at info.
 */
export function logServerIkeEvent(log: Logger, e: IkeEvent, explanation?: string): void {
  if (e.type === "failed")
    log.warn(`${describeIkeEvent(e, "server")}${explanation ? ` — ${explanation}` : ""}`);
  else log.info(describeIkeEvent(e, "server"));
}
