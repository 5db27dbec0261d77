/**
 * Client NAT policy, the setting Windows calls
 * AssumeUDPEncapsulationContextOnSendRule (KB 885407, KB 947234):
 *   0 (default) no SA to a server that is itself behind a NAT;
 *   1           SAs allowed when the server is behind a NAT (the client itself is not);
 *   2           SAs allowed when the server and the client are both behind NATs.
 * A client behind a NAT talking to a server with a public address is always allowed: that is
 * Microsoft's supported topology `Client -> NAT -> Internet -> Server`.
 * The decision uses what NAT-D (RFC 3947 §3.2) revealed, see nat-detect.ts.
 */
import { err, ok, type Result } from "../base/result.js";

export type NatPolicy = 0 | 1 | 2;

export const NAT_POLICY_ERROR = "OAK_E_NAT_POLICY" as const;

export interface NatPolicyRefusal {
  readonly code: typeof NAT_POLICY_ERROR;
  readonly message: string;
}

export interface NatState {
  /** Our side's address was translated on the way (the peer saw another address:port). */
  readonly localBehindNat: boolean;
  /** The peer's address was translated (it sent from an address it does not know itself). */
  readonly peerBehindNat: boolean;
}

export function parseNatPolicy(value: string | number): Result<NatPolicy, string> {
  const n =
    typeof value === "number" ? value : /^\s*[012]\s*$/.test(value) ? Number(value) : Number.NaN;
  if (n === 0 || n === 1 || n === 2) return ok(n);
  return err(
    `nat-policy must be 0, 1 or 2 (got ${JSON.stringify(value)}): 0 = refuse servers behind NAT, ` +
      "1 = allow a server behind NAT, 2 = allow both client and server behind NAT",
  );
}

/** May an initiator with `policy` keep an SA with the NAT situation `nat`? */
export function checkNatPolicy(
  policy: NatPolicy,
  nat: NatState,
  server: string,
): Result<void, NatPolicyRefusal> {
  if (!nat.peerBehindNat) return ok(undefined);
  if (!nat.localBehindNat && policy >= 1) return ok(undefined);
  if (nat.localBehindNat && policy === 2) return ok(undefined);
  const where = nat.localBehindNat
    ? "both this client and the server are behind NAT"
    : "the server is behind a NAT";
  const fix = nat.localBehindNat
    ? "set --nat-policy 2 to allow SAs when both sides are behind NAT"
    : "set --nat-policy 1 (server behind NAT) or 2 (both sides behind NAT) to allow it";
  return err({
    code: NAT_POLICY_ERROR,
    message:
      `refusing the SA with ${server}: ${where}, and nat-policy ${policy} does not allow that ` +
      `(the Windows setting AssumeUDPEncapsulationContextOnSendRule=${policy}); ${fix}`,
  });
}
