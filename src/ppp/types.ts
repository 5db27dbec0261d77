/**
 * Configuration, state, inputs and actions of the sans-IO PPP engine (DESIGN rule 4).
 * The state is plain data (structuredClone-able); everything with behaviour (randomness, the
 * user lookup, the address pool, the logger) comes in through PppConfig.
 */
import type { Logger } from "../obs/log.js";
import type { PppAuthMethod } from "../registry/ppp.js";
import type { AddressAllocator } from "./address-pool.js";
import type { FsmState } from "./fsm.js";

export type { PppAuthMethod };

export interface PppConfig {
  readonly role: "server" | "client";
  /** Identifies the session in logs and as the owner of a pool address. */
  readonly sessionId: string;
  /**
   * Server: methods offered, most preferred first (MS-CHAPv2, CHAP-MD5, PAP by default);
   * an empty list means no authentication. Client: methods it agrees to use (default
   * MS-CHAPv2 only: the one in which the server proves it knows the password).
   */
  readonly authMethods?: readonly PppAuthMethod[];
  /**
   * Server, CHAP-MD5 and MS-CHAPv2: a user's secret, or undefined if there is no such user. A
   * plain string is the password; a UserSecret lets the store keep only what each method needs
   * (NT hash for MS-CHAPv2, the cleartext only for CHAP-MD5). PAP passwords are not checked
   * here but by the driver (action verify-credentials), off the engine's thread.
   */
  readonly users?: (userName: string) => string | UserSecret | undefined;
  /**
   * Server: "external" sends every method's credentials to the driver (action
   * verify-credentials, e.g. for RADIUS) instead of checking CHAP-MD5 and MS-CHAPv2 against
   * `users`; the verdict may carry the MS-CHAP2-Success authenticator response and an address
   * and DNS servers for IPCP. Default "local".
   */
  readonly authBackend?: "local" | "external";
  /** Server: where peer addresses come from. */
  readonly pool?: AddressAllocator;
  /** Server: its own PPP address (the IPCP peer address seen by the client). */
  readonly localAddress?: string;
  /** Server: DNS servers handed out (RFC 1877), at most two. */
  readonly dns?: readonly string[];
  /** Server: NBNS (WINS) servers handed out (RFC 1877), at most two. */
  readonly nbns?: readonly string[];
  /** Name sent in CHAP Challenges (default "oakley"). */
  readonly hostname?: string;
  /** Client: credentials. */
  readonly credentials?: { readonly user: string; readonly password: string };
  /** Client: ask for DNS servers (default true). */
  readonly requestDns?: boolean;
  /** Client: ask for NBNS servers (default false). */
  readonly requestNbns?: boolean;
  /** Client: address to ask for (default 0.0.0.0 = "assign me one"). */
  readonly requestAddress?: string;
  /** Our MRU (default 1400: fits 1500-octet paths after ESP-in-UDP + L2TP overhead). */
  readonly mru?: number;
  /** Ask the peer for ACCM (RFC 1662 §7.1); default: not asked (meaningless over L2TP). */
  readonly accm?: number;
  /** Ask for PFC / ACFC (default false; the peer's requests for them are always accepted). */
  readonly requestPfc?: boolean;
  readonly requestAcfc?: boolean;
  /** LCP Echo-Request interval (default 30 000 ms; 0 = no keepalive) and failures before dead (4). */
  readonly echoIntervalMs?: number;
  readonly echoFailures?: number;
  /** RFC 1661 §4.6 counters and timer. */
  readonly restartMs?: number;
  readonly maxConfigure?: number;
  readonly maxTerminate?: number;
  readonly maxFailure?: number;
  /** How long to wait for the peer's authentication step (default 30 000 ms). */
  readonly authTimeoutMs?: number;
  /** Resend our Configure-Request when the peer's first one arrives while we wait (default true). */
  readonly resendRequestOnPeerStart?: boolean;
  /** Cryptographic randomness (magic numbers, challenges). */
  readonly random: (n: number) => Uint8Array;
  readonly logger?: Logger;
}

/** What the authenticator knows of a user's password (see PppConfig.users). */
export interface UserSecret {
  /** NtPasswordHash = MD4(UTF-16LE(password)) (RFC 2759 §8.3), for MS-CHAPv2. */
  readonly ntHash?: Uint8Array;
  /** The password itself: CHAP-MD5 needs it (RFC 1994); also serves MS-CHAPv2. */
  readonly cleartext?: string;
}

/** Why a credential check said no (for the log; the peer sees one Nak/Failure for all). */
export type PasswordRefusal = "unknown-user" | "wrong-password" | "not-allowed" | "error";

/** What the peer sent, per method, for a driver that checks it (verify-credentials). */
export type PppCredentials =
  | { readonly method: "pap"; readonly password: Uint8Array }
  | {
      readonly method: "chap-md5";
      /** CHAP Identifier of the Challenge/Response exchange. */
      readonly identifier: number;
      readonly challenge: Uint8Array;
      /** The 16-octet MD5 response. */
      readonly response: Uint8Array;
    }
  | {
      readonly method: "mschapv2";
      readonly identifier: number;
      /** The 16-octet challenge we sent. */
      readonly authenticatorChallenge: Uint8Array;
      readonly peerChallenge: Uint8Array;
      /** The 24-octet NT-Response. */
      readonly ntResponse: Uint8Array;
    };

/** Server: what an accepted login brings for IPCP (from an external authenticator). */
export interface PppGrant {
  /** The peer's address instead of one from the pool (claimed in the pool: no duplicates). */
  readonly address?: string;
  /** DNS servers instead of the configured ones (at most two used). */
  readonly dns?: readonly string[];
}

/** The driver's verdict on verify-credentials. */
export type PppAuthVerdict =
  | {
      readonly ok: true;
      /**
       * MS-CHAPv2: the authenticator response ("S=" and 40 hex digits, RFC 2759 §5) computed by
       * whoever knows the password; required, so that the peer can still verify the server.
       */
      readonly authenticatorResponse?: string;
      /** Text for the peer and the log (e.g. RADIUS Reply-Message). */
      readonly message?: string;
      readonly grant?: PppGrant;
    }
  | { readonly ok: false; readonly reason: PasswordRefusal; readonly message?: string };

/** One RFC 1661 automaton instance (LCP or IPCP) as data. */
export interface CpState {
  state: FsmState;
  restartCount: number;
  deadline: number | null;
  nextId: number;
  /** Identifier and option bytes of our outstanding Configure-Request. */
  reqId: number;
  reqOptions: Uint8Array | null;
  /** Configure-Naks we sent for the current negotiation (Max-Failure). */
  naksSent: number;
  /** Configure-Naks/Rejects we received (guard against a negotiation that never converges). */
  naksReceived: number;
}

export type DownReason =
  | "admin-close"
  | "peer-terminated"
  | "auth-failed"
  | "auth-refused"
  | "auth-timeout"
  | "echo-timeout"
  | "negotiation-failed"
  | "loopback"
  | "lower-down"
  | "pool-exhausted"
  | "ipcp-failed";

export interface LcpWant {
  mru: number | null;
  accm: number | null;
  auth: PppAuthMethod | null;
  magic: number | null;
  pfc: boolean;
  acfc: boolean;
}

export interface LcpSessionState {
  cp: CpState;
  want: LcpWant;
  /** What the peer acknowledged of our request (valid once Opened). */
  got: LcpWant;
  /** Values from the peer's acknowledged request. */
  peer: {
    mru: number;
    accm: number;
    magic: number | null;
    pfc: boolean;
    acfc: boolean;
    auth: PppAuthMethod | null;
  };
  authTried: PppAuthMethod[];
  /** Client: auth protocols the server proposed that we do not allow (names for the reason). */
  authRefused: string[];
  /** Client: the server's requests proposing a method we do not allow (Max-Failure ends it). */
  authNaks: number;
  loops: number;
  receivedAny: boolean;
  echo: { deadline: number | null; outstanding: number; nextId: number };
}

export interface IpcpWantOption {
  kind: "ip-address" | "primary-dns" | "secondary-dns" | "primary-nbns" | "secondary-nbns";
  address: string;
}

export interface IpcpSessionState {
  cp: CpState;
  want: IpcpWantOption[];
  /** Server: address assigned to the peer. Client: the server's address from its request. */
  peerAddress: string | null;
  missingAddressNaks: number;
  up: boolean;
}

export interface AuthSessionState {
  method: PppAuthMethod | null;
  done: boolean;
  deadline: number | null;
  transmits: number;
  id: number;
  /** Authenticator: the challenge sent. Peer: the challenge answered. */
  challenge: Uint8Array | null;
  /** Authenticator: the verdict already sent, resent on a duplicate Response. */
  result: { id: number; code: number; message: Uint8Array } | null;
  user: string | null;
  /** Peer: the last Response / Authenticate-Request sent (CHAP/PAP information field). */
  lastSent: Uint8Array | null;
  /** Peer, MS-CHAPv2: the authenticator response the server must prove. */
  expected: Uint8Array | null;
  /** Authenticator: the credential check the driver runs (one per session), while pending. */
  check: { requestId: number; identifier: number; user: string } | null;
  /** Authenticator: checks asked of the driver (the next request id). */
  checks: number;
  /** Authenticator: what the accepted login brings for IPCP (external verdicts). */
  grant: PppGrant | null;
  /** Authenticator, PAP: verdicts resent for requests after the verdict (bounded). */
  repeats: number;
}

export type Phase = "Dead" | "Establish" | "Authenticate" | "Network" | "Terminate";

export interface PppState {
  role: "server" | "client";
  phase: Phase;
  started: boolean;
  finished: boolean;
  closeReason: { reason: DownReason; message: string } | null;
  pending: Uint8Array[];
  lcp: LcpSessionState;
  auth: AuthSessionState;
  ipcp: IpcpSessionState;
  timerAt: number | null;
  counters: Record<string, number>;
}

export type PppInput =
  /** The lower layer (the L2TP session) is up: start negotiating. */
  | { readonly type: "start" }
  | { readonly type: "frame"; readonly frame: Uint8Array }
  | { readonly type: "timer" }
  | { readonly type: "send-ip"; readonly packet: Uint8Array }
  /** Administrative close: LCP Terminate-Request, then link-down. */
  | { readonly type: "close"; readonly message?: string }
  /** The lower layer went away: no more frames can be sent. */
  | { readonly type: "lower-down" }
  /** The driver's answer to a verify-credentials action. */
  | {
      readonly type: "credentials-verified";
      readonly requestId: number;
      readonly verdict: PppAuthVerdict;
    };

export type PppEvent =
  | { readonly type: "link-up"; readonly peerMru: number; readonly auth: PppAuthMethod | null }
  | { readonly type: "auth-ok"; readonly method: PppAuthMethod; readonly user: string }
  | {
      readonly type: "auth-failed";
      readonly method: PppAuthMethod | null;
      readonly user: string | null;
      /** MS-CHAP error code (E=, e.g. 691) when the peer sent one. */
      readonly code?: number;
      readonly message: string;
      /** Client: it was the server that failed to prove it knows the password (S=). */
      readonly serverNotAuthenticated?: boolean;
    }
  | {
      readonly type: "ip-up";
      readonly localAddress: string;
      readonly peerAddress: string;
      readonly dns: readonly string[];
      readonly nbns: readonly string[];
    }
  | { readonly type: "ip-down" }
  | { readonly type: "link-down"; readonly reason: DownReason; readonly message: string };

export type PppAction =
  /** A whole PPP frame (Address/Control and Protocol included) for the L2TP data channel. */
  | { readonly type: "send-frame"; readonly protocol: number; readonly frame: Buffer }
  /** Call back with {type: "timer"} at this time (ms, same clock as `now`); null = no timer. */
  | { readonly type: "set-timer"; readonly at: number | null }
  | { readonly type: "deliver-ip"; readonly packet: Uint8Array }
  | { readonly type: "event"; readonly event: PppEvent }
  /**
   * Server: check these credentials (PAP always; CHAP-MD5 and MS-CHAPv2 with authBackend
   * "external") off the event loop — a slow KDF, a RADIUS round trip — and answer with
   * {type: "credentials-verified", requestId, verdict}. Asked at most once per session. The
   * credentials are secrets: never log them.
   */
  | {
      readonly type: "verify-credentials";
      readonly requestId: number;
      readonly user: string;
      readonly credentials: PppCredentials;
    };
