/**
 * Randomness for the daemon (DESIGN rule 5): engines receive a `Random` and never call
 * node:crypto themselves, so tests can inject a deterministic source. `systemRandom` is the
 * OS CSPRNG (node:crypto randomFillSync → getrandom). `SeededRandom` is for tests only: a
 * SHA-256 counter stream from a seed — reproducible, not secret.
 */
import { createHash, randomFillSync } from "node:crypto";

export interface Random {
  /** `n` random bytes (a fresh buffer the caller owns). */
  bytes(n: number): Buffer;
}

export const systemRandom: Random = {
  bytes(n: number): Buffer {
    return randomFillSync(Buffer.allocUnsafe(n));
  },
};

/** Convenience for the daemon's composition root; engines take a `Random` instead. */
export function randomBytes(n: number, source: Random = systemRandom): Buffer {
  return source.bytes(n);
}

export class SeededRandom implements Random {
  private counter = 0n;
  private pool = Buffer.alloc(0);

  constructor(private readonly seed: string | Uint8Array) {}

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      if (this.pool.length === 0) {
        const c = Buffer.alloc(8);
        c.writeBigUInt64BE(this.counter++);
        this.pool = createHash("sha256").update(this.seed).update(c).digest();
      }
      const take = Math.min(n - at, this.pool.length);
      this.pool.copy(out, at, 0, take);
      this.pool = this.pool.subarray(take);
      at += take;
    }
    return out;
  }
}
