/**
 * The UDP endpoint interface used by IKE (UDP 500), NAT-T (UDP 4500: IKE behind the 4-byte
 * non-ESP marker and UDP-encapsulated ESP, RFC 3948 section 2, on the same socket) and L2TP.
 * Two implementations: udp-dgram.ts (node:dgram, portable, one syscall per datagram) and
 * udp-koffi.ts (recvmmsg/sendmmsg batches, IP_PKTINFO). The socket does not demultiplex: it
 * hands every datagram up; telling IKE from ESP from a keepalive is the wire/natt layer's job.
 *
 * IPv4 only.
 */
import type { Result } from "../base/result.js";
import type { PlatformError } from "./errors.js";

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface DatagramInfo {
  /**
   * The local address the datagram was sent to. Known when the socket is bound to a specific
   * address, or (koffi implementation) from IP_PKTINFO when bound to 0.0.0.0; undefined only for
   * the dgram implementation bound to 0.0.0.0.
   */
  readonly localAddress: string | undefined;
}

/**
 * Called once per datagram. `data` is the caller's to keep unless the socket was created with
 * `zeroCopy: true`, in which case it is a view valid only until the handler returns.
 */
export type DatagramHandler = (
  data: Buffer,
  address: string,
  port: number,
  info: DatagramInfo,
) => void;

export interface SocketStats {
  rxDatagrams: number;
  rxBytes: number;
  txDatagrams: number;
  txBytes: number;
  /** Datagrams dropped on receive because they were larger than a receive slot. */
  rxTruncated: number;
  /** Packets dropped on receive as malformed (raw ESP: not IPv4/ESP or a short IP header). */
  rxMalformed: number;
  /** Datagrams dropped on send: queue full, too large, or the kernel refused them. */
  txDropped: number;
  /** Batched receive calls (recvmmsg) that returned at least one datagram. */
  rxBatches: number;
  txBatches: number;
}

export interface DatagramSocket {
  readonly implementation: "dgram" | "koffi" | "simulated";
  /**
   * Binds and starts receiving. EADDRINUSE gives `OAK_E_PLATFORM_ADDR_IN_USE` with a message
   * naming the port ("UDP 500 is in use by another process").
   */
  bind(address: string, port: number): Promise<Result<Endpoint, PlatformError>>;
  /** The bound address and port (port resolved when 0 was asked), once bound. */
  local(): Endpoint | undefined;
  /**
   * Queues one datagram; never throws. The koffi implementation sends the queue in one
   * sendmmsg at the end of the current tick (or on flush()). `localAddress` picks the source
   * address when the socket is bound to 0.0.0.0 (IP_PKTINFO), so replies leave from the address
   * the request came to. Failures are counted and reported through onError.
   */
  send(data: Uint8Array, address: string, port: number, localAddress?: string): void;
  /** Sends whatever is queued now. */
  flush(): void;
  onDatagram(handler: DatagramHandler): void;
  /** Asynchronous failures (send errors, ICMP errors read from SO_ERROR); the socket keeps going. */
  onError(handler: (e: PlatformError) => void): void;
  stats(): SocketStats;
  close(): void;
}

export interface DatagramSocketOptions {
  /** Receive/send slots per batched call (koffi). Default 64. */
  batch?: number;
  /** Bytes per receive slot (koffi). Default 65535: no datagram is ever truncated. */
  slotSize?: number;
  /** Deliver views on the receive ring instead of copies (koffi). Default false. */
  zeroCopy?: boolean;
  /** Datagrams that may wait for a full socket buffer before new ones are dropped. Default 4096. */
  sendQueueLimit?: number;
  /**
   * UDP generic segmentation offload on send (koffi; udp(7) UDP_SEGMENT): consecutive queued
   * datagrams to the same destination with the same length leave in one sendmmsg message that
   * the kernel splits late (one packet through the local stack, NAT and veth pairs instead of
   * one each). Falls back to plain datagrams by itself if the kernel refuses. Default false.
   */
  gso?: boolean;
  /**
   * UDP generic receive offload (koffi; udp(7) UDP_GRO): the kernel may hand several datagrams
   * of one flow in one receive; they are still delivered to onDatagram one by one. Ignored
   * (plain receive) where the kernel lacks it. Default false.
   */
  gro?: boolean;
  /** SO_RCVBUF / SO_SNDBUF in bytes (the kernel doubles and caps them). */
  receiveBuffer?: number;
  sendBuffer?: number;
}

export function emptyStats(): SocketStats {
  return {
    rxDatagrams: 0,
    rxBytes: 0,
    txDatagrams: 0,
    txBytes: 0,
    rxTruncated: 0,
    rxMalformed: 0,
    txDropped: 0,
    rxBatches: 0,
    txBatches: 0,
  };
}

/** The message the daemon shows when a port is taken. */
export function addrInUseMessage(port: number, address: string): string {
  return `UDP ${port} is in use by another process (bind ${address}:${port}: EADDRINUSE)`;
}
