/**
 * The seams of the L2TP-over-IPsec component: what it needs from the outside, as small
 * interfaces the caller injects. The component never opens a socket, a TUN device or a timer
 * of its own; the daemon passes the real ones (EspDriver, TunDevice, the system clock), the
 * tests pass simulator adapters (test/fakes/).
 */

/** ESP for local transport SAs (the daemon's EspDriver implements it). */
export interface EspPayloadPort {
  /**
   * Encrypts `head` + `body` (the ESP payload, protocol `nextHeader`) on outbound SA `sa` and
   * queues it for the peer. False when dropped (unknown or expired SA, too big).
   */
  sendPayload(sa: number, nextHeader: number, head: Uint8Array, body: Uint8Array): boolean;
  /** Octets on the wire beyond an inner IP packet of `length` on `sa` (ESP, UDP encapsulation). */
  overhead(sa: number, length: number): number;
  /** Sends what is queued now (end of a batch). */
  flush(): void;
}

/** Where IP packets from PPP go (the TUN device). */
export interface IpPacketPort {
  /** One IP packet; `packet` is a view valid only during the call. False when not taken. */
  write(packet: Uint8Array): boolean;
}

/**
 * A transport-mode child SA as installed by the IPsec node: its data-plane handles and the IKE
 * SA it belongs to. The node owns these records (its child SA table); the component keeps
 * references, never copies.
 */
export interface TransportChild {
  readonly childId: number;
  /** The IKE SA that owns the child now (a phase-1 rekey may hand it to a successor). */
  readonly ikeSaId: number;
  /** Data-plane handles of the inbound and outbound ESP SAs. */
  readonly inSa: number;
  readonly outSa: number;
  /** The child this one rekeys (initiator side), if any. */
  readonly replaces?: number;
  /** Our outer address and the peer's (as we see it, after NAT). */
  readonly local: string;
  readonly remote: string;
  /** The peer's own address before NAT (NAT-OA), when known. */
  readonly peerOriginal?: string;
}
