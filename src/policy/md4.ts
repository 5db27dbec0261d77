/**
 * MD4 message digest (RFC 1320), needed only for the NT password hash of MS-CHAPv2
 * (RFC 2759 section 8.3, NtPasswordHash = MD4(UTF-16LE(password))).
 *
 * Why here: Node 20's OpenSSL 3 refuses `createHash("md4")` (legacy provider not loaded), and
 * src/crypto/ had no MD4 when this was written. MD4 is broken as a general hash; this exists only
 * because MS-CHAPv2 is defined on it. When crypto/ provides one, use that and delete this file.
 * Leaves out: streaming (inputs are passwords, at most 512 bytes).
 */

const rotl = (x: number, n: number): number => ((x << n) | (x >>> (32 - n))) >>> 0;

export function md4(input: Uint8Array): Buffer {
  const bitLen = BigInt(input.length) * 8n;
  const padLen = (input.length % 64 < 56 ? 56 : 120) - (input.length % 64);
  const msg = Buffer.alloc(input.length + padLen + 8);
  msg.set(input, 0);
  msg[input.length] = 0x80;
  msg.writeBigUInt64LE(bitLen, input.length + padLen);

  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Uint32Array(16);
  // RFC 1320 section 3.4: three rounds of sixteen operations.
  const f = (p: number, q: number, r: number): number => (p & q) | (~p & r);
  const g = (p: number, q: number, r: number): number => (p & q) | (p & r) | (q & r);
  const h = (p: number, q: number, r: number): number => p ^ q ^ r;
  for (let off = 0; off < msg.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = msg.readUInt32LE(off + i * 4);
    const aa = a;
    const bb = b;
    const cc = c;
    const dd = d;
    const r1 = [3, 7, 11, 19];
    for (let i = 0; i < 16; i++) {
      const t = (a + f(b, c, d) + x[i]!) >>> 0;
      [a, b, c, d] = [d, rotl(t, r1[i % 4]!), b, c];
    }
    const r2 = [3, 5, 9, 13];
    const o2 = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];
    for (let i = 0; i < 16; i++) {
      const t = (a + g(b, c, d) + x[o2[i]!]! + 0x5a827999) >>> 0;
      [a, b, c, d] = [d, rotl(t, r2[i % 4]!), b, c];
    }
    const r3 = [3, 9, 11, 15];
    const o3 = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];
    for (let i = 0; i < 16; i++) {
      const t = (a + h(b, c, d) + x[o3[i]!]! + 0x6ed9eba1) >>> 0;
      [a, b, c, d] = [d, rotl(t, r3[i % 4]!), b, c];
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
