/**
 * The IKEv1 engine's inputs and outputs (DESIGN rule 4, sans-IO): datagrams and commands in,
 * actions out. The driver (test/peers/ike-driver.ts, or a scenario test) performs the actions:
 *  - `send`: an ISAKMP message, without the RFC 3948 §2.2 non-ESP marker — the driver adds the
 *    4 zero octets when `from.port` is 4500 (and strips them on receive);
 *  - `keepalive`: one 0xFF octet on UDP 4500 (RFC 3948 §2.3) to keep our NAT mapping open;
 *  - `install-child-sa` / `update-child-sa-peer` / `remove-child-sa`: the ESP data plane's SAD
 *    (src/esp EspDataPlane.installSa / updatePeer / removeSa), both directions at once;
 *  - `event`: for logs, the monitor and the caller (phase1-up, phase2-up, failed, deleted);
 *  - `timer`: the earliest deadline at which `handleTimer(now)` must be called (always the last
 *    action of a batch when the engine has any deadline).
 * Times are milliseconds on the caller's clock (`now` arguments).
 */
import type { EspEncryption, EspIntegrity as EspIntegrityName } from "../crypto/esp/suites.js";
import type { InboundSpi, OutboundSpi } from "../wire/esp/esp.js";
import type { IdentificationValue } from "../wire/isakmp/index.js";
import type { IkeErrorCode } from "./errors.js";
import type { OfferedPhase1, OfferedPhase2 } from "./offer.js";
import type { EspMode, NattMethod, Phase2Suite } from "./suites.js";

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export function endpointKey(e: Endpoint): string {
  return `${e.address}:${e.port}`;
}

export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.address === b.address && a.port === b.port;
}

/** A datagram that arrived on UDP 500 or 4500 (non-ESP marker already stripped). */
export interface IkeDatagram {
  readonly data: Buffer;
  /** Our address and the port it arrived on (500 or 4500). */
  readonly local: Endpoint;
  /** Where it came from (after any NAT). */
  readonly remote: Endpoint;
}

/**
 * A Quick Mode traffic selector: an RFC 2407 §4.6.2 identity (address, subnet or range) with
 * the IP protocol and port (0 = any).
 */
export interface TrafficSelector {
  readonly id: IdentificationValue;
  readonly protocol: number;
  readonly port: number;
}

export interface ChildSaKeys {
  /** Cipher key; for AES-GCM the 4-octet salt is appended (RFC 4106 §8.1). */
  readonly encryption: Buffer;
  /** Integrity key (empty for AES-GCM). */
  readonly integrity: Buffer;
}

export interface ChildLifetimes {
  readonly softSeconds: number;
  readonly hardSeconds: number;
  /** 0 = none. */
  readonly softKilobytes: number;
  readonly hardKilobytes: number;
}

/** Everything the data plane needs to install one negotiated ESP SA pair. */
export interface ChildSaInstall {
  readonly childId: number;
  readonly ikeSaId: number;
  readonly mode: EspMode;
  readonly suite: Phase2Suite;
  /** src/esp names of the negotiated transform. */
  readonly espEncryption: EspEncryption;
  readonly espIntegrity: EspIntegrityName;
  /** Our SPI (we receive with it) and the keys for traffic from the peer. */
  readonly inbound: { readonly spi: InboundSpi; readonly keys: ChildSaKeys };
  /** The peer's SPI (we send with it) and the keys for traffic to the peer. */
  readonly outbound: { readonly spi: OutboundSpi; readonly keys: ChildSaKeys };
  /** Outer addresses: ours, and the peer's as we observe it. */
  readonly local: string;
  readonly remote: string;
  /** UDP encapsulation (RFC 3948) when NAT-T is in use. */
  readonly encap?: {
    readonly localPort: 4500;
    /** The peer's current mapping. */
    readonly peer: Endpoint;
    readonly method: NattMethod;
    /** NAT-OA (RFC 3947 §5.2): the peer's original address, and ours as the peer knew it. */
    readonly natOa: { readonly remote?: string; readonly local?: string };
  };
  readonly selectors: { readonly local: TrafficSelector; readonly remote: TrafficSelector };
  readonly lifetimes: ChildLifetimes;
  /** Set when this SA replaces (rekeys) another; remove that one after this is installed. */
  readonly replaces?: number;
}

export type IkeRole = "initiator" | "responder";

export type IkeStage = "main-mode" | "quick-mode" | "informational" | "dpd";

/**
 * A failing peer's side of the negotiation, decoded (offer.ts): its proposals, vendor IDs,
 * whether NAT was detected, and the Quick Mode identities it asked for.
 */
export interface PeerOffer {
  readonly phase1?: readonly OfferedPhase1[];
  readonly phase2?: readonly OfferedPhase2[];
  readonly vendorIds?: readonly string[];
  /** NAT-D found a NAT between us (phase 2 only: known once Main Mode ran). */
  readonly nat?: boolean;
  /** Quick Mode: the traffic selectors the peer asked for (its side, ours). */
  readonly selectors?: { readonly remote: string; readonly local: string };
}

export type IkeEvent =
  | {
      readonly type: "phase1-up";
      readonly ikeSaId: number;
      readonly role: IkeRole;
      readonly local: Endpoint;
      readonly peer: Endpoint;
      /** The peer's phase-1 identity as text (e.g. "192.168.0.142" for Windows behind NAT). */
      readonly peerId: string;
      /** RSA-signature SAs: the subject DN of the peer's verified certificate. */
      readonly peerCertificate?: string;
      /**
       * e.g. "AES-CBC-256/SHA/MODP-2048 pre-shared key", "… RSA signature", "… pre-shared key
       * (Aggressive Mode)" (names from the registry).
       */
      readonly suite: string;
      readonly nat: {
        readonly method: NattMethod;
        readonly localBehindNat: boolean;
        readonly peerBehindNat: boolean;
      };
      readonly dpd: boolean;
      readonly peerVendorIds: readonly string[];
    }
  | {
      readonly type: "phase2-up";
      readonly ikeSaId: number;
      readonly childId: number;
      readonly role: IkeRole;
      readonly mode: EspMode;
      readonly suite: string;
      readonly inboundSpi: InboundSpi;
      readonly outboundSpi: OutboundSpi;
      readonly local: string;
      readonly remote: string;
      readonly rekey: boolean;
    }
  | {
      readonly type: "failed";
      readonly stage: IkeStage;
      readonly code: IkeErrorCode;
      readonly message: string;
      readonly peer: Endpoint;
      readonly ikeSaId?: number;
      /** What the peer offered and said about itself, for diagnostics (when known). */
      readonly offer?: PeerOffer;
    }
  | {
      readonly type: "deleted";
      readonly what: "ike" | "child";
      readonly ikeSaId: number;
      readonly childId?: number;
      readonly reason: string;
    }
  | {
      readonly type: "peer-moved";
      readonly ikeSaId: number;
      readonly from: Endpoint;
      readonly to: Endpoint;
    }
  | {
      /**
       * IKE SA `from` ended and its successor `ikeSaId` (same peer identity and endpoint: a
       * phase-1 rekey) took over its child SAs. Whatever was bound to `from` (an L2TP channel)
       * now belongs to `ikeSaId`.
       */
      readonly type: "children-adopted";
      readonly ikeSaId: number;
      readonly from: number;
      readonly childIds: readonly number[];
    };

export type IkeAction =
  | { readonly kind: "send"; readonly data: Buffer; readonly from: Endpoint; readonly to: Endpoint }
  | { readonly kind: "keepalive"; readonly from: Endpoint; readonly to: Endpoint }
  | { readonly kind: "install-child-sa"; readonly child: ChildSaInstall }
  | {
      readonly kind: "update-child-sa-peer";
      readonly childId: number;
      readonly inboundSpi: InboundSpi;
      readonly outboundSpi: OutboundSpi;
      readonly peer: Endpoint;
    }
  | {
      readonly kind: "remove-child-sa";
      readonly childId: number;
      readonly inboundSpi: InboundSpi;
      readonly outboundSpi: OutboundSpi;
      readonly reason: string;
    }
  | { readonly kind: "event"; readonly event: IkeEvent }
  | { readonly kind: "timer"; readonly at: number };

/** What a caller asks for when it starts a Quick Mode (and Main Mode first if needed). */
export interface ChildRequest {
  readonly mode: EspMode;
  /** Our side (IDci). Default: our address, any protocol/port. */
  readonly local?: TrafficSelector;
  /** The peer's side (IDcr). Default: the peer's address, any protocol/port. */
  readonly remote?: TrafficSelector;
  /** Send no ID payloads (RFC 2409 §5.5: the phase-1 endpoints are the selectors). */
  readonly omitIds?: boolean;
}

export interface InitiateRequest {
  readonly peer: Endpoint;
  readonly phase2?: ChildRequest;
}

/**
 * ESP data-plane events the engine reacts to (src/esp EspEvent), by child SA id: the driver
 * knows which child an SA belongs to, while an outbound SPI (the peer's choice) may be shared
 * by children of different peers.
 */
export interface EspLifetimeEvent {
  readonly kind: "soft-expire" | "hard-expire" | "rekey-needed";
  readonly childId: number;
}
