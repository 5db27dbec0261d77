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
