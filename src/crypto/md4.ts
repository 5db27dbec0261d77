/**
 * MD4 message digest (RFC 1320 §3). Needed by MS-CHAPv2 (RFC 2759 §8.3 NtPasswordHash,
 * §8.7 HashNtPasswordHash); OpenSSL 3 only offers MD4 through its legacy provider, which
 * this machine's node:crypto does not load, hence this implementation.
 * MD4 is broken as a general-purpose hash: use it only where a protocol requires it.
 * Left out: streaming (update/digest); MS-CHAPv2 hashes short inputs in one call.
 */

function rotl(x: number, n: number): number {
  return ((x << n) | (x >>> (32 - n))) >>> 0;
}

/** MD4 of `data` (16 octets). */
export function md4(data: Uint8Array): Buffer {
  const bitLen = BigInt(data.length) * 8n;
  // Padding (RFC 1320 §3.1-3.2): 0x80, zeros to 56 mod 64, then the 64-bit length, low-order first.
  const padLen = (data.length % 64 < 56 ? 56 : 120) - (data.length % 64);
  const msg = Buffer.alloc(data.length + padLen + 8);
  msg.set(data, 0);
  msg[data.length] = 0x80;
  msg.writeBigUInt64LE(bitLen & 0xffffffffffffffffn, data.length + padLen);

  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Uint32Array(16);
  const f = (p: number, q: number, r: number) => (p & q) | (~p & r);
  const g = (p: number, q: number, r: number) => (p & q) | (p & r) | (q & r);
  const h = (p: number, q: number, r: number) => p ^ q ^ r;

  for (let off = 0; off < msg.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = msg.readUInt32LE(off + i * 4);
    const xi = (i: number) => x[i] ?? 0;
    const aa = a;
    const bb = b;
    const cc = c;
    const dd = d;
    // Round 1 (RFC 1320 §3.4): [abcd k s] a = (a + F(b,c,d) + X[k]) <<< s
    for (const k of [0, 4, 8, 12]) {
      a = rotl((a + f(b, c, d) + xi(k)) >>> 0, 3);
      d = rotl((d + f(a, b, c) + xi(k + 1)) >>> 0, 7);
      c = rotl((c + f(d, a, b) + xi(k + 2)) >>> 0, 11);
      b = rotl((b + f(c, d, a) + xi(k + 3)) >>> 0, 19);
    }
    // Round 2: a = (a + G(b,c,d) + X[k] + 5A827999) <<< s
    for (const k of [0, 1, 2, 3]) {
      a = rotl((a + g(b, c, d) + xi(k) + 0x5a827999) >>> 0, 3);
      d = rotl((d + g(a, b, c) + xi(k + 4) + 0x5a827999) >>> 0, 5);
      c = rotl((c + g(d, a, b) + xi(k + 8) + 0x5a827999) >>> 0, 9);
      b = rotl((b + g(c, d, a) + xi(k + 12) + 0x5a827999) >>> 0, 13);
    }
    // Round 3: a = (a + H(b,c,d) + X[k] + 6ED9EBA1) <<< s
    for (const k of [0, 2, 1, 3]) {
      a = rotl((a + h(b, c, d) + xi(k) + 0x6ed9eba1) >>> 0, 3);
      d = rotl((d + h(a, b, c) + xi(k + 8) + 0x6ed9eba1) >>> 0, 9);
      c = rotl((c + h(d, a, b) + xi(k + 4) + 0x6ed9eba1) >>> 0, 11);
      b = rotl((b + h(c, d, a) + xi(k + 12) + 0x6ed9eba1) >>> 0, 15);
    }
    a = (a + aa) >>> 0;
    b = (b + bb) >>> 0;
    c = (c + cc) >>> 0;
    d = (d + dd) >>> 0;
  }
  const out = Buffer.alloc(16);
  out.writeUInt32LE(a, 0);
  out.writeUInt32LE(b, 4);
  out.writeUInt32LE(c, 8);
  out.writeUInt32LE(d, 12);
  return out;
}
