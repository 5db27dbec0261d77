/**
 * Types of the L2TPv2 engine: configuration, inputs and actions (the public API, re-exported by
 * index.ts), and the tunnel/session/engine state that the modules of src/l2tp share.
 */
import type { DeadlineHandle, DeadlineHeap } from "../base/deadline-heap.js";
import type { Logger } from "../obs/log.js";
import type { Counters } from "../obs/counters.js";
import type { L2tpHeader } from "../wire/l2tp/header.js";
import type { Channel, ChannelParams } from "./channel.js";

export interface L2tpConfig {
  /** Host Name AVP we send. */
  readonly hostName: string;
  readonly vendorName?: string;
  readonly firmwareRevision?: number;
  /** Accept incoming SCCRQs (LNS). A LAC-only endpoint answers them with StopCCN (result 4). */
  readonly acceptTunnels: boolean;
  /** Tunnel secret (§5.1.1): enables Challenge/Response and hidden AVPs. */
  readonly secret?: Uint8Array;
  /** Hide the call AVPs (Assigned Session ID, Call Serial Number, numbers) when a secret is set. Default true. */
  readonly hideAvps?: boolean;
  /** Our Receive Window Size (default 8). */
  readonly receiveWindow?: number;
  readonly helloIntervalMs?: number;
  readonly rtoInitialMs?: number;
  readonly rtoMaxMs?: number;
  readonly maxRetries?: number;
  readonly ackDelayMs?: number;
  /** How long a torn-down tunnel keeps state to ack retransmitted StopCCNs (default 31 s). */
  readonly stopCcnHoldMs?: number;
  /** Tunnels in the whole engine (default 4096). See "Limits" above for how it is shared. */
  readonly maxTunnels?: number;
  /** Tunnels per owner, i.e. per IPsec channel (default 4; a normal client needs 1). */
  readonly maxTunnelsPerOwner?: number;
  /** Sessions per tunnel (default 4; a normal client needs 1). */
  readonly maxSessionsPerTunnel?: number;
  /** Sessions per owner over all its tunnels (default 8). */
  readonly maxSessionsPerOwner?: number;
  /** Sessions in the whole engine (default 8192). */
  readonly maxSessions?: number;
  /**
   * A tunnel not established (SCCRQ→SCCRP→SCCCN) or a call not connected (ICRQ→ICRP→ICCN) this
   * long after it started is torn down (default 30 s).
   */
  readonly setupTimeoutMs?: number;
  /** Send a Tie Breaker AVP in our SCCRQs (default false). */
  readonly tieBreaker?: boolean;
  /** Set the L bit on data messages we send (default true). */
  readonly dataLengthBit?: boolean;
  /** (Tx) Connect Speed we report in ICCN, bits/s (default 100 000 000). */
  readonly connectSpeed?: number;
  /** Randomness (tunnel/session IDs, challenges, random vectors, padding, tie breakers). */
  readonly random: (n: number) => Buffer;
  readonly log?: Logger;
}

export type L2tpInput =
  | {
      readonly kind: "datagram";
      readonly binding: string;
      /**
       * Who the datagram's transport belongs to — the IPsec channel (SA) it came through; the
       * per-owner limits count against it. Default: the binding itself.
       */
      readonly owner?: string;
      readonly bytes: Uint8Array;
    }
  | { readonly kind: "timer" }
  | { readonly kind: "openTunnel"; readonly binding: string; readonly owner?: string }
  /** The owner's transport is gone (IPsec SA deleted): drop its tunnels and sessions silently. */
  | { readonly kind: "closeOwner"; readonly owner: string; readonly message?: string }
  | {
      readonly kind: "placeCall";
      readonly tunnelId: number;
      readonly callingNumber?: string;
      readonly calledNumber?: string;
    }
  | {
      readonly kind: "sendPpp";
      readonly tunnelId: number;
      readonly sessionId: number;
      readonly frame: Uint8Array;
    }
  | {
      readonly kind: "closeSession";
      readonly tunnelId: number;
      readonly sessionId: number;
      readonly resultCode?: number;
      readonly errorCode?: number;
      readonly message?: string;
    }
  | {
      readonly kind: "closeTunnel";
      readonly tunnelId: number;
      readonly resultCode?: number;
      readonly message?: string;
    };

export interface L2tpTeardown {
  /** Who ended it: "peer" (StopCCN/CDN received), "local" (command or our rejection), "timeout". */
  readonly by: "peer" | "local" | "timeout";
  readonly resultCode?: number;
  readonly errorCode?: number;
  readonly message?: string;
}

export type L2tpAction =
  | { readonly kind: "send"; readonly binding: string; readonly bytes: Buffer }
  /** The single engine timer: call handle({kind:"timer"}) at `at` (ms); null = none needed. */
  | { readonly kind: "armTimer"; readonly at: number | null }
  | { readonly kind: "tunnelOpening"; readonly tunnelId: number; readonly binding: string }
  | {
      readonly kind: "tunnelUp";
      readonly tunnelId: number;
      readonly peerTunnelId: number;
      readonly binding: string;
      readonly peerHostName: string;
    }
  | ({
      readonly kind: "tunnelDown";
      readonly tunnelId: number;
      readonly binding: string;
    } & L2tpTeardown)
  | { readonly kind: "sessionOpening"; readonly tunnelId: number; readonly sessionId: number }
  | {
      readonly kind: "sessionUp";
      readonly tunnelId: number;
      readonly sessionId: number;
      readonly peerSessionId: number;
      readonly binding: string;
    }
  | ({
      readonly kind: "sessionDown";
      readonly tunnelId: number;
      readonly sessionId: number;
    } & L2tpTeardown)
  | {
      readonly kind: "ppp";
      readonly tunnelId: number;
      readonly sessionId: number;
      readonly frame: Buffer;
    }
  /** A command could not be carried out (unknown tunnel/session, wrong state). */
  | { readonly kind: "commandFailed"; readonly input: L2tpInput["kind"]; readonly reason: string };

export type TunnelState = "waitCtlReply" | "waitCtlConn" | "established" | "closing" | "held";

export type SessionState = "waitTunnel" | "waitReply" | "waitConnect" | "established";

export interface Received {
  readonly header: L2tpHeader;
  readonly body: Buffer;
}

export interface Session {
  readonly localId: number;
  /** Until the call is connected: when it is given up (ms, the engine's clock). */
  setupDeadline: number | null;
  peerId: number;
  state: SessionState;
  readonly role: "lac" | "lns";
  readonly callSerial: number;
  /** Peer asked for sequenced data messages (Sequencing Required in ICCN). */
  sequencing: boolean;
  dataNs: number;
  readonly callingNumber?: string;
  readonly calledNumber?: string;
}

export interface Tunnel {
  readonly localId: number;
  peerId: number;
  readonly binding: string;
  /** The transport's owner (IPsec channel); limits count per owner. */
  readonly owner: string;
  readonly role: "lac" | "lns";
  state: TunnelState;
  /** Until established: when the attempt is given up (ms, the engine's clock). */
  setupDeadline: number | null;
  readonly channel: Channel<Received>;
  readonly sessions: Map<number, Session>;
  peerHostName: string;
  /** Challenge we sent; the peer's response must match. */
  ourChallenge?: Buffer;
  tieBreaker?: Buffer;
  /** (binding, peer Assigned Tunnel ID) key of the SCCRQ that created this tunnel. */
  sccrqKey?: string;
  announced: boolean;
  lastRxAt: number;
  helloAt: number | null;
  holdUntil: number | null;
  /** This tunnel's entry in L2tpState.deadlines (timers.ts keeps it current). */
  deadline: DeadlineHandle | null;
}

export interface Resolved {
  readonly hostName: Buffer;
  readonly vendorName: string;
  readonly firmwareRevision: number;
  readonly acceptTunnels: boolean;
  readonly secret: Buffer | undefined;
  readonly hideAvps: boolean;
  readonly helloIntervalMs: number;
  readonly stopCcnHoldMs: number;
  readonly maxTunnels: number;
  readonly maxTunnelsPerOwner: number;
  readonly maxSessionsPerTunnel: number;
  readonly maxSessionsPerOwner: number;
  readonly maxSessions: number;
  readonly setupTimeoutMs: number;
  readonly tieBreaker: boolean;
  readonly dataLengthBit: boolean;
  readonly connectSpeed: number;
  readonly channel: ChannelParams;
  readonly random: (n: number) => Buffer;
  readonly log: Logger;
}

export interface L2tpState {
  readonly config: Resolved;
  readonly tunnels: Map<number, Tunnel>;
  readonly bySccrq: Map<string, number>;
  /** Owner -> its tunnels' local IDs. */
  readonly byOwner: Map<string, Set<number>>;
  /** Rate limit of the "limit reached" log lines, per limit. */
  readonly limitLog: Map<string, { nextAt: number; suppressed: number }>;
  readonly counters: Counters;
  /** Each tunnel's earliest deadline, so a timer or an input never scans every tunnel. */
  readonly deadlines: DeadlineHeap<Tunnel>;
  timerAt: number | null;
  callSerial: number;
}

export interface L2tpStep {
  readonly state: L2tpState;
  readonly actions: L2tpAction[];
}
