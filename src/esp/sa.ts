/**
 * Security Association records of the user-space data plane (RFC 4301 §4.4.2 SAD entries, the
 * parts ESP processing needs): SPI, direction, mode, transform, sequence counter or replay
 * window, lifetimes (RFC 4301 §4.4.2.1: soft and hard, in bytes, packets and seconds), outer
 * endpoints and, for UDP-encapsulated SAs (RFC 3948), the peer's current NAT mapping and the
 * NAT-OA original addresses (RFC 3947 §5.2) used to fix transport-mode checksums.
 */
import type { EspKeys, EspSuite } from "../crypto/esp/index.js";
import type { BackendChoice } from "../crypto/esp/index.js";
import type { InboundSpi, OutboundSpi, Spi } from "../wire/esp/esp.js";
import type { SelectorSpec } from "./spd.js";

export type EspMode = "transport" | "tunnel";
export type EspDirection = "in" | "out";

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface LifetimeLimits {
  readonly bytes?: bigint;
  readonly packets?: bigint;
  readonly seconds?: number;
}

/** How to fix inner TCP/UDP checksums of transport-mode packets across a NAT (RFC 3948 §3.1.2). */
export type NatChecksumFix = "incremental" | "recompute" | "none";

export interface UdpEncapSpec {
  /** Where the peer is reachable now (its NAT mapping); updated through `updatePeer`. */
  readonly peer: Endpoint;
  /** NAT-OA original addresses: as the peer knew itself (`remote`) and us (`local`). */
  readonly natOa?: { readonly remote?: string; readonly local?: string };
  /** Transport mode only; default "incremental" when both NAT-OA addresses are known, else "recompute". */
  readonly checksum?: NatChecksumFix;
}

/** The SPI and direction of an SA: inbound SAs carry our SPI, outbound ones the peer's. */
export type SaDirectionSpi =
  | { readonly direction: "in"; readonly spi: InboundSpi }
  | { readonly direction: "out"; readonly spi: OutboundSpi };

export type SaSpec = SaDirectionSpi & SaSettings;

/** Everything of an SA but its SPI and direction. */
export interface SaSettings {
  readonly mode: EspMode;
  readonly suite: EspSuite;
  readonly keys: EspKeys;
  /** Extended Sequence Numbers (RFC 4303 §2.2.1, negotiated by IKE). Default false. */
  readonly esn?: boolean;
  /** Outer addresses: ours and the peer's (for UDP encapsulation: the peer's public address). */
  readonly local: string;
  readonly remote: string;
  readonly encap?: UdpEncapSpec;
  readonly lifetimes?: { readonly soft?: LifetimeLimits; readonly hard?: LifetimeLimits };
  /** Anti-replay window size for inbound SAs; 0 turns the check off. Default 128. */
  readonly replayWindow?: number;
  /** Inbound: what the decrypted packets may carry (RFC 4301 §5.2 step 4). Default: anything. */
  readonly selector?: SelectorSpec;
  /** A name for logs (e.g. the IKE SA / policy that made it). */
  readonly name?: string;
  /** Force a crypto backend (tests, benchmarks); default: per-suite choice. */
  readonly backend?: BackendChoice;
  /** Inbound, for vectors and SA hand-over: the highest sequence number already seen. */
  readonly replayStart?: bigint;
  /**
   * Transport mode whose traffic ends in this process (L2TP over its SA): inbound packets are
   * returned as the upper-layer payload with `payloadOnly` (no IP header rebuilt, no checksum
   * fix-up: the ICV protects the payload and the local service reads no IP header), and the
   * SA is fed with `protectPayload`. Default false.
   */
  readonly localTransport?: boolean;
}

/** Counters of one SA (numbers: 2^53 packets or bytes is beyond any SA lifetime). */
export interface SaStats {
  packets: number;
  bytes: number;
  drops: number;
  replayDrops: number;
  icvFailures: number;
  installedAt: number;
  lastUsed: number;
}

export type LifetimeReason = "bytes" | "packets" | "seconds";

export type EspEvent =
  | {
      readonly kind: "soft-expire";
      readonly sa: number;
      readonly spi: Spi;
      readonly direction: EspDirection;
      readonly reason: LifetimeReason;
    }
  | {
      readonly kind: "hard-expire";
      readonly sa: number;
      readonly spi: Spi;
      readonly direction: EspDirection;
      readonly reason: LifetimeReason;
    }
  /** Outbound sequence numbers are close to running out: rekey now. */
  | {
      readonly kind: "rekey-needed";
      readonly sa: number;
      readonly spi: OutboundSpi;
      readonly reason: "sequence";
    }
  /** Outbound sequence numbers ran out: the SA refuses to send (RFC 4303 §3.3.3, no wrap). */
  | { readonly kind: "seq-overflow"; readonly sa: number; readonly spi: OutboundSpi };
