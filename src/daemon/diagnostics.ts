/**
 * The server's failure recorder: turns the stack's events (IKE `failed` events with what the
 * peer offered, PPP authentication failures, L2TP tunnels refused) into explained records in the
 * failure ring, and returns the explanation so that the warn log line at the moment of failure
 * carries the same hint. Wired by stack.ts for the server role; read by control-target.ts.
 */
import type { FailureStep } from "../control/index.js";
import type { IkeConfig, IkeEvent } from "../ike/index.js";
import type { L2tpOverIpsecEvent } from "../l2tp-ipsec/index.js";
import {
  clientHint,
  type ExplainContext,
  explain,
  L2TP_TUNNEL_DOWN,
  PPP_AUTH_FAILED,
} from "./explain.js";
import type { FailureRing } from "./failure-ring.js";

/** The IKE side of a channel's peer, when its IKE SA is still known. */
export interface ChannelPeer {
  readonly address: string;
  readonly port: number;
  readonly vendorIds: readonly string[];
}

export interface FailureRecorderOptions {
  readonly ring: FailureRing;
  readonly context: () => ExplainContext;
  readonly wallNow: () => number;
}

/** The DH groups a responder with this configuration accepts in Main Mode. */
export function acceptedDhGroups(c: IkeConfig): number[] {
  const groups = new Set(c.phase1.offers.map((o) => o.group));
  if (!c.phase1.negotiateDh2048) groups.delete(14);
  return [...groups];
}

/** L2TP StopCCN result codes that are a normal end (RFC 2661 §4.4.2: 1 clear, 6 shutting down). */
const NORMAL_STOP = /^result (1|6)\b/;

export class FailureRecorder {
  constructor(private readonly o: FailureRecorderOptions) {}

  get ring(): FailureRing {
    return this.o.ring;
  }

  /** Records an IKE failure; returns its explanation (undefined: not a connection failure). */
  ike(e: IkeEvent): string | undefined {
    if (e.type !== "failed") return undefined;
    const step: FailureStep | undefined =
      e.stage === "main-mode" ? "phase1" : e.stage === "quick-mode" ? "phase2" : undefined;
    if (step === undefined) return undefined;
    const offer = e.offer;
    const vendorIds = offer?.vendorIds ?? [];
    const explanation = explain(
      {
        step,
        code: e.code,
        reason: e.message,
        vendorIds,
        ...(offer?.phase1 ? { phase1: offer.phase1 } : {}),
        ...(offer?.phase2 ? { phase2: offer.phase2 } : {}),
        ...(offer?.nat !== undefined ? { nat: offer.nat } : {}),
        ...(offer?.selectors ? { selectors: offer.selectors } : {}),
      },
      this.o.context(),
    );
    const client = clientHint(vendorIds);
    const offered = [
      ...(offer?.phase1 ?? []).map((x) => x.text),
      ...(offer?.phase2 ?? []).map((x) => x.text),
    ];
    this.o.ring.record({
      at: this.o.wallNow(),
      peer: e.peer,
      step,
      code: e.code,
      reason: e.message,
      offered,
      vendorIds,
      ...(client !== undefined ? { client } : {}),
      explanation,
      verified: e.ikeSaId !== undefined,
    });
    return explanation;
  }

  /** Records a PPP or L2TP failure of the channel's peer; returns its explanation. */
  l2tp(
    e: L2tpOverIpsecEvent,
    peerOf: (channelId: number) => ChannelPeer | undefined,
  ): string | undefined {
    let step: FailureStep;
    let code: string;
    let reason: string;
    let user: string | undefined;
    let channelId: number;
    if (e.type === "auth-failed") {
      step = "ppp";
      code =
        e.code !== undefined ? `${PPP_AUTH_FAILED} (MS-CHAP error ${e.code})` : PPP_AUTH_FAILED;
      reason = e.message;
      user = e.session.user ?? undefined;
      channelId = e.session.channelId;
    } else if (e.type === "tunnel-down" && !NORMAL_STOP.test(e.reason) && e.reason !== "closed") {
      step = "l2tp";
      code = L2TP_TUNNEL_DOWN;
      reason = e.reason;
      channelId = e.channelId;
    } else {
      return undefined;
    }
    const peer = peerOf(channelId);
    const vendorIds = peer?.vendorIds ?? [];
    const explanation = explain(
      { step, code, reason, vendorIds, ...(user !== undefined ? { user } : {}) },
      this.o.context(),
    );
    const client = clientHint(vendorIds);
    this.o.ring.record({
      at: this.o.wallNow(),
      peer: { address: peer?.address ?? "unknown", port: peer?.port ?? 0 },
      step,
      code,
      reason,
      offered: [],
      vendorIds,
      ...(client !== undefined ? { client } : {}),
      ...(user !== undefined ? { user } : {}),
      explanation,
      verified: true,
    });
    return explanation;
  }
}
