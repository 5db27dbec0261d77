/**
 * The Internet checksum: RFC 1071 (one's complement sum of 16-bit words, computation and
 * examples), RFC 1624 (incremental update, Eqn. 3: HC' = ~(~HC + ~m + m')), and the
 * TCP/UDP pseudo-headers of RFC 768 / RFC 9293 §3.1 (IPv4) and RFC 8200 §8.1 (IPv6).
 *
 * Sums are kept unfolded in a JS number (safe far beyond any packet length) and folded once.
 * Leaves out: nothing of the algorithm; no SIMD tricks.
 */

/** One's complement sum (unfolded) of bytes[start..end) added to `initial`; odd tail padded with 0. */
export function onesSum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let sum = initial;
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/** Folds carries into 16 bits (end-around carry). */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value: one's complement of the folded sum. */
export function internetChecksum(
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
  initial = 0,
): number {
  return ~fold(onesSum(bytes, start, end, initial)) & 0xffff;
}

/**
 * RFC 1624 Eqn. 3: the new checksum after a 16-bit field changes from `oldWord` to `newWord`.
 * A no-op when the field does not change (RFC 1624 erratum 4782: avoids turning 0x0000 into 0xFFFF).
 */
export function checksumUpdate16(checksum: number, oldWord: number, newWord: number): number {
  if (oldWord === newWord) return checksum;
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}

/**
 * RFC 1624 Eqn. 3 applied to a run of 16-bit words (e.g. an IPv4 or IPv6 address changed by a
 * NAT): `oldBytes` and `newBytes` have the same even length.
 */
export function checksumUpdateBytes(
  checksum: number,
  oldBytes: Uint8Array,
  newBytes: Uint8Array,
): number {
  if (oldBytes.length !== newBytes.length || oldBytes.length % 2 !== 0) {
    throw new Error("checksumUpdateBytes: lengths differ or are odd");
  }
  let sum = ~checksum & 0xffff;
  let changed = false;
  for (let i = 0; i < oldBytes.length; i += 2) {
    const o = (oldBytes[i]! << 8) | oldBytes[i + 1]!;
    const n = (newBytes[i]! << 8) | newBytes[i + 1]!;
    if (o !== n) changed = true;
    sum += (~o & 0xffff) + n;
  }
  if (!changed) return checksum;
  return ~fold(sum) & 0xffff;
}

/** Unfolded sum of the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1): src, dst, zero, protocol, length. */
export function pseudoHeaderSumV4(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  return onesSum(src, 0, 4) + onesSum(dst, 0, 4) + protocol + length;
}

/** Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, 32-bit length, next header. */
export function pseudoHeaderSumV6(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  return (
    onesSum(src, 0, 16) +
    onesSum(dst, 0, 16) +
    Math.floor(length / 0x10000) +
    (length & 0xffff) +
    protocol
  );
}
