/** The deterministic payloads the platform peer sends (shared with the tests as the oracle). */
export function pattern(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7) & 255;
  if (size >= 4) b.writeUInt32BE(i, 0);
  return b;
}
