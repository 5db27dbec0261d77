/**
 * PAP password checks for the LNS, off the event loop, and a per-channel limit on
 * authentication attempts.
 *
 * The PPP engine does not check PAP passwords itself: it asks (action verify-credentials) and the
 * driver answers (input credentials-verified). `storePasswordVerifier` is the answer the daemon
 * injects: the user's scrypt verifier is run with node:crypto's asynchronous scrypt (libuv
 * threadpool), so a ~100 ms KDF never stalls IKE, ESP or other sessions. A user that does not
 * exist, is disabled, or may not use PAP costs the same KDF run (against a dummy record), so
 * response times do not tell which user names exist.
 *
 * `AuthAttemptLimiter` is a token bucket per channel (the IPsec SA's NAT mapping the L2TP
 * tunnel runs over): each PPP session has exactly one authentication attempt (the engine
 * checks one PAP password or one CHAP Response per session), so limiting new sessions per
 * channel limits password guesses, for every method.
 */
import type { AuthLimiter } from "../l2tp-ipsec/index.js";
import type { Clock } from "../platform/index.js";
import { DUMMY_PAP_CREDENTIALS, type PapKdf, type User, verifyPap } from "../policy/index.js";
import type { PasswordRefusal } from "../ppp/index.js";
import { stripDomain } from "../ppp/mschapv2.js";

export type PasswordVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: PasswordRefusal };

export interface PasswordVerifier {
  /** Checks a PAP password without blocking the event loop. Never rejects. */
  verify(user: string, password: string): Promise<PasswordVerdict>;
}

/**
 * A verifier over stored users. `find` is the store lookup (a cheap read); a Windows
 * "DOMAIN\user" name is tried as "user" too, as for MS-CHAPv2.
 */
export function storePasswordVerifier(
  find: (name: string) => User | undefined,
  opts: { readonly kdf?: PapKdf } = {},
): PasswordVerifier {
  return {
    async verify(name, password) {
      let u = find(name);
      if (u === undefined) {
        const bare = stripDomain(name);
        if (bare !== name) u = find(bare);
      }
      const usable = u?.enabled && u.protocols.includes("pap") ? u : undefined;
      try {
        // The same KDF run whatever the user: the answer's timing tells nothing.
        const good = await verifyPap(
          usable?.credentials ?? DUMMY_PAP_CREDENTIALS,
          password,
          opts.kdf,
        );
        if (!usable) return { ok: false, reason: u === undefined ? "unknown-user" : "not-allowed" };
        return good ? { ok: true } : { ok: false, reason: "wrong-password" };
      } catch {
        return { ok: false, reason: "error" };
      }
    },
  };
}

/** Token bucket per channel: `burst` attempts at once, then one per `refillMs`. */
export class AuthAttemptLimiter implements AuthLimiter {
  static readonly DEFAULTS = { burst: 5, refillMs: 10_000, maxChannels: 10_000 } as const;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxChannels: number;

  constructor(
    private readonly clock: Clock,
    opts: {
      readonly burst?: number;
      readonly refillMs?: number;
      readonly maxChannels?: number;
    } = {},
  ) {
    this.burst = opts.burst ?? AuthAttemptLimiter.DEFAULTS.burst;
    this.refillMs = opts.refillMs ?? AuthAttemptLimiter.DEFAULTS.refillMs;
    this.maxChannels = opts.maxChannels ?? AuthAttemptLimiter.DEFAULTS.maxChannels;
  }

  take(channel: string): boolean {
    const now = this.clock.now();
    let b = this.buckets.get(channel);
    if (b) {
      const refilled = Math.floor((now - b.at) / this.refillMs);
      if (refilled > 0) {
        b.tokens = Math.min(this.burst, b.tokens + refilled);
        b.at = b.tokens === this.burst ? now : b.at + refilled * this.refillMs;
      }
    } else {
      // Full buckets carry no information: forget them first when the table is full.
      if (this.buckets.size >= this.maxChannels) this.prune(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(channel, b);
    }
    if (b.tokens <= 0) return false;
    b.tokens--;
    return true;
  }

  forget(channel: string): void {
    this.buckets.delete(channel);
  }

  /** How many channels have a bucket (for tests and status). */
  channels(): number {
    return this.buckets.size;
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + Math.floor((now - b.at) / this.refillMs) >= this.burst) this.buckets.delete(k);
    }
    // Still full (an attacker with that many channels): drop the oldest entries.
    for (const k of this.buckets.keys()) {
      if (this.buckets.size < this.maxChannels) break;
      this.buckets.delete(k);
    }
  }
}
