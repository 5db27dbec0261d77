/**
 * Anti-replay window (RFC 4303 §3.4.3, Appendix A): a sliding window of `size` sequence numbers
 * ending at the highest authenticated one (T), kept as a bitmap in a ring of 32-bit words
 * (a power-of-two number of bits >= size), so a window of 1024 or 4096 costs O(1) per packet
 * and advancing by a big jump clears at most the whole ring once.
 *
 * Extended Sequence Numbers (RFC 4303 §2.2.1, Appendix A2): only the low 32 bits travel; the
 * high half is inferred from T and the window (A2.2) before the ICV check, and the window is
 * updated only after the ICV verified (§3.4.3: "the receive window is updated only if the
 * integrity verification succeeds").
 *
 * Leaves out: Appendix A3 resynchronisation after 2^32 lost packets.
 */

export const REPLAY_OK = 0;
export const REPLAY_DUPLICATE = 1;
export const REPLAY_TOO_OLD = 2;
export type ReplayVerdict = typeof REPLAY_OK | typeof REPLAY_DUPLICATE | typeof REPLAY_TOO_OLD;

const TWO32 = 0x1_0000_0000;

export class ReplayWindow {
  /** Window size W in packets. */
  readonly size: number;
  private readonly bits: Uint32Array;
  private readonly mask: number;
  /** Highest authenticated sequence number T = topHi * 2^32 + topLo; (0,0) = nothing yet. */
  private topHi = 0;
  private topLo = 0;
  /** Result of the last `check`: the inferred high half. */
  seqHi = 0;

  constructor(
    size: number,
    private readonly esn: boolean,
  ) {
    if (!Number.isInteger(size) || size < 1 || size > 1 << 20)
      throw new Error(`replay window size ${size}`);
    this.size = size;
    let nbits = 32;
    while (nbits < size) nbits *= 2;
    this.bits = new Uint32Array(nbits / 32);
    this.mask = nbits - 1;
  }

  /** The highest authenticated sequence number so far. */
  get top(): bigint {
    return (BigInt(this.topHi) << 32n) | BigInt(this.topLo);
  }

  /**
   * Checks the 32-bit Sequence Number field `seqLo` against the window; on REPLAY_OK,
   * `this.seqHi` holds the (inferred) high half to authenticate and then `update` with.
   */
  check(seqLo: number): ReplayVerdict {
    const w = this.size;
    const tl = this.topLo;
    const th = this.topHi;
    let sh = 0;
    if (this.esn) {
      // RFC 4303 A2.2: infer Seqh from where Seql falls relative to the window.
      if (tl >= w - 1) {
        sh = seqLo >= tl - w + 1 ? th : th + 1;
      } else {
        const bottom = (tl - w + 1 + TWO32) % TWO32;
        sh = seqLo >= bottom ? th - 1 : th;
      }
      if (sh < 0) sh = 0;
      if (sh >= TWO32) return REPLAY_TOO_OLD;
    } else if (seqLo === 0) {
      // The first packet of an SA carries 1 (RFC 4303 §3.3.3); 0 never appears without ESN.
      return REPLAY_TOO_OLD;
    }
    this.seqHi = sh;
    if (sh === 0 && seqLo === 0) return REPLAY_TOO_OLD;
    // distance = T - S (positive: S is older than T).
    let distance: number;
    if (sh === th) distance = tl - seqLo;
    else if (sh === th - 1) distance = tl + TWO32 - seqLo;
    else if (sh > th) return REPLAY_OK;
    else return REPLAY_TOO_OLD;
    if (distance < 0) return REPLAY_OK;
    if (distance >= w) return REPLAY_TOO_OLD;
    const bit = seqLo & this.mask;
    return (this.bits[bit >>> 5]! >>> (bit & 31)) & 1 ? REPLAY_DUPLICATE : REPLAY_OK;
  }

  /**
   * Records an authenticated packet (seqHi, seqLo), sliding the window when it is new.
   * Returns true when the packet is the newest seen so far (it moved the right edge).
   */
  update(seqHi: number, seqLo: number): boolean {
    const th = this.topHi;
    const tl = this.topLo;
    let ahead: number; // S - T
    if (seqHi === th) ahead = seqLo - tl;
    else if (seqHi === th + 1) ahead = seqLo + TWO32 - tl;
    else if (seqHi > th) ahead = Number.POSITIVE_INFINITY;
    else ahead = -1;
    if (ahead > 0) {
      const ring = this.mask + 1;
      if (ahead >= ring) {
        this.bits.fill(0);
      } else {
        // Clear the slots of T+1 .. S-1 (they are now unseen numbers inside the window).
        for (let k = 1; k < ahead; k++) {
          const b = (tl + k) & this.mask;
          this.bits[b >>> 5]! &= ~(1 << (b & 31));
        }
      }
      this.topHi = seqHi;
      this.topLo = seqLo;
    }
    const bit = seqLo & this.mask;
    this.bits[bit >>> 5]! |= 1 << (bit & 31);
    return ahead > 0;
  }

  /** Starts the window at a given T (used when an SA continues a counter, and by vectors). */
  reset(top: bigint): void {
    this.bits.fill(0);
    this.topHi = Number(top >> 32n);
    this.topLo = Number(top & 0xffffffffn);
  }
}
