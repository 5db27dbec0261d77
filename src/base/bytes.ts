/** Small byte helpers shared by every layer. Buffers are Node `Buffer`s (Uint8Array subclass). */

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export function fromHex(s: string): Buffer {
  const clean = s.replace(/[\s:]/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new Error(`fromHex: not a hex string: ${s.slice(0, 32)}`);
  }
  return Buffer.from(clean, "hex");
}

export function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** A Buffer view on the same memory (no copy). */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A copy that owns its memory. `Buffer.from(x)` and `subarray` of small sizes hand out views into
 * a shared 8 KiB pool slab (or into the whole received message): a long-lived value (a cookie, an
 * IV, a key) kept as such a view keeps the whole slab alive, for as long as the SA lives.
 * `Buffer.alloc` is never pooled.
 */
export function own(b: Uint8Array): Buffer {
  const c = Buffer.alloc(b.byteLength);
  c.set(b);
  return c;
}
