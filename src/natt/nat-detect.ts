/**
 * NAT detection with NAT-D payloads (RFC 3947 §3.2; the draft-02 method is the same with
 * payload type 130). Each side sends HASH(CKY-I | CKY-R | IP | Port) for the address it sends
 * TO (first payload) and for each of its own addresses (the rest). The receiver compares:
 *  - first payload != hash(our address as we know it)       => WE are behind a NAT;
 *  - no later payload == hash(source address we observed)   => the PEER is behind a NAT.
 * The hash function (with the cookies and negotiated hash bound in) is injected, so this file
 * is pure logic; crypto/ computes the hashes.
 *
 * Windows-friendly responder (DESIGN issue "servers behind NAT without the registry edit"):
 * Windows refuses SAs with a server it sees behind a NAT unless the user edits the registry
 * (AssumeUDPEncapsulationContextOnSendRule). When Oakley's responder is behind a port-forwarding
 * NAT, it can present NAT-D so that the client sees ITSELF behind NAT (so it floats to UDP 4500
 * and encapsulates ESP, which a port forward can carry) and the SERVER as not behind NAT:
 *  - our "local" hash is a copy of the client's first hash (the address the client sent to),
 *    which the client will find equal to its hash of the server address;
 *  - our "peer" hash is deliberately wrong when the client is not really behind NAT.
 * The result for both sides is "NAT in the path": both float and encapsulate, as RFC 3948 needs.
 */
import { timingSafeEqual } from "node:crypto";
import { err, ok, type Result } from "../base/result.js";
import type { NatState } from "./nat-policy.js";

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** HASH(CKY-I | CKY-R | IP | Port) with cookies and algorithm already bound. */
export type NatdHasher = (ep: Endpoint) => Buffer;

export interface NatDetection extends NatState {
  /** True when the payloads show the peer's NAT-D presents our address as something else. */
  readonly anyNat: boolean;
}

export const NATD_ERROR = "OAK_E_NATD_MISSING" as const;

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Interprets the NAT-D hashes `received` (in payload order) of a message that arrived at
 * `local` from `observedPeer`.
 */
export function detectNat(
  received: readonly Uint8Array[],
  hasher: NatdHasher,
  local: Endpoint,
  observedPeer: Endpoint,
): Result<NatDetection, { code: typeof NATD_ERROR; message: string }> {
  const [first, ...rest] = received;
  if (!first || rest.length === 0) {
    return err({
      code: NATD_ERROR,
      message: `NAT-D: expected at least 2 payloads (peer's destination and its own addresses), got ${received.length}`,
    });
  }
  const localBehindNat = !eq(first, hasher(local));
  const peerHash = hasher(observedPeer);
  const peerBehindNat = !rest.some((h) => eq(h, peerHash));
  return ok({ localBehindNat, peerBehindNat, anyNat: localBehindNat || peerBehindNat });
}

export interface NatdSendOptions {
  /**
   * Responder only: the NAT-D hashes the initiator sent (present after MM3). With
   * `hideOwnNat`, our own-address hash is copied from the initiator's first hash, so the
   * initiator sees us as not behind NAT.
   */
  readonly initiatorHashes?: readonly Uint8Array[];
  /** Present ourselves as not behind NAT (requires initiatorHashes). */
  readonly hideOwnNat?: boolean;
  /** Make the peer believe it is behind NAT (forces UDP encapsulation on its side). */
  readonly forcePeerNat?: boolean;
}

/**
 * The hashes for our NAT-D payloads: first the peer's address as we send to it, then our own
 * address. Options implement the Windows-friendly responder described at the top.
 */
export function natdToSend(
  hasher: NatdHasher,
  peer: Endpoint,
  local: Endpoint,
  opts: NatdSendOptions = {},
): Buffer[] {
  let peerHash = hasher(peer);
  if (opts.forcePeerNat) {
    // Any value other than the true hash works; flipping every bit is deterministic and clear.
    peerHash = Buffer.from(peerHash.map((b) => b ^ 0xff));
  }
  const copied = opts.hideOwnNat ? opts.initiatorHashes?.[0] : undefined;
  const localHash = copied ? Buffer.from(copied) : hasher(local);
  return [peerHash, localHash];
}
