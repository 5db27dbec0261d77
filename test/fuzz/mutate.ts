/**
 * Structure-aware mutations for the deep fuzzer (test/fuzz/main.ts). A target may describe its
 * bytes as a `Shape`: the TLV elements it can find (where each element starts and ends, where its
 * length and type fields are) and how to fix the outer message length after an edit. With a
 * shape the mutator also sets length fields to zero / huge / off by a few, changes type fields
 * (next payload, AVP type, option type), and duplicates, deletes, swaps and nests whole
 * elements; without one it falls back to byte-level mutations (flips, interesting bytes,
 * truncation, extension, 16/32-bit field bumps, splices, crossover with another pool input).
 * Text targets (YAML, JSON) get token and line mutations instead. Deterministic for a seed.
 */

/** xorshift32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** One element of a TLV structure inside the input. */
export interface Elem {
  readonly start: number;
  readonly end: number;
  /** Offset and size (1, 2 or 4 octets) of its length field, if it has one. */
  readonly lenOff?: number;
  readonly lenSize?: 1 | 2 | 4;
  /** Mask of the length bits inside the field (L2TP AVPs: 10 bits of 16). Default all bits. */
  readonly lenMask?: number;
  /** The length value counts from `start` to `end` minus this (default 0). */
  readonly lenBias?: number;
  /** Offset and size of a type field that selects how the element (or the next one) is read. */
  readonly typeOff?: number;
  readonly typeSize?: 1 | 2;
}

export interface Shape {
  /** Elements of `b`, outermost first; may be empty when `b` is too mangled to walk. */
  elems(b: Buffer): Elem[];
  /** Rewrites outer lengths to match the buffer (applied to half of the structural edits). */
  fix?(b: Buffer): void;
  /** Type values worth trying in type fields (besides random ones). */
  readonly types?: readonly number[];
}

export type Rand = () => number;

const INTERESTING8 = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x20, 0x40, 0x04, 0x08];
const INTERESTING16 = [
  0, 1, 2, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x7fff, 0x8000, 0xfffe, 0xffff,
];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0xffff];

function pick<T>(r: Rand, xs: readonly T[]): T {
  return xs[r() % xs.length] as T;
}

function randomBytes(r: Rand, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

function readField(b: Buffer, off: number, size: number): number {
  if (size === 1) return b[off] ?? 0;
  if (size === 2) return b.readUInt16BE(off);
  return b.readUInt32BE(off);
}

function writeField(b: Buffer, off: number, size: number, v: number): void {
  if (off < 0 || off + size > b.length) return;
  if (size === 1) b[off] = v & 0xff;
  else if (size === 2) b.writeUInt16BE(v & 0xffff, off);
  else b.writeUInt32BE(v >>> 0, off);
}

function setLength(b: Buffer, e: Elem, value: number): void {
  if (e.lenOff === undefined || e.lenSize === undefined) return;
  if (e.lenOff + e.lenSize > b.length) return;
  const mask = e.lenMask ?? (e.lenSize === 4 ? 0xffffffff : (1 << (8 * e.lenSize)) - 1);
  const old = readField(b, e.lenOff, e.lenSize);
  writeField(b, e.lenOff, e.lenSize, ((old & ~mask) | (value & mask)) >>> 0);
}

function byteLevel(b: Buffer, r: Rand, maxLength: number, other: () => Buffer): Buffer {
  switch (r() % 9) {
    case 0: {
      if (b.length === 0) return randomBytes(r, 1 + (r() % 32));
      const n = 1 + (r() % 4);
      for (let i = 0; i < n; i++) {
        const p = r() % b.length;
        b[p] = (b[p] ?? 0) ^ (1 << (r() % 8));
      }
      return b;
    }
    case 1: {
      if (b.length === 0) return b;
      const n = 1 + (r() % 4);
      for (let i = 0; i < n; i++) b[r() % b.length] = pick(r, INTERESTING8);
      return b;
    }
    case 2:
      return b.subarray(0, b.length === 0 ? 0 : r() % b.length);
    case 3: {
      const tail =
        r() % 2 === 0 || b.length === 0
          ? randomBytes(r, 1 + (r() % 64))
          : b.subarray(r() % b.length, b.length);
      return Buffer.concat([b, tail]).subarray(0, Math.max(maxLength, b.length));
    }
    case 4: {
      if (b.length < 2) return b;
      const p = r() % (b.length - 1);
      const v =
        r() % 2 === 0
          ? pick(r, INTERESTING16)
          : b.readUInt16BE(p) + pick(r, [1, -1, 2, -2, 4, -4, 8, -8]);
      b.writeUInt16BE(v & 0xffff, p);
      return b;
    }
    case 5: {
      if (b.length < 4) return b;
      const p = r() % (b.length - 3);
      b.writeUInt32BE(pick(r, INTERESTING32) >>> 0, p);
      return b;
    }
    case 6: {
      if (b.length === 0) return b;
      const s = r() % b.length;
      const e = s + (r() % (b.length - s + 1));
      const at = r() % (b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(s, e), b.subarray(at)]);
    }
    case 7: {
      if (b.length === 0) return b;
      const s = r() % b.length;
      const e = s + (r() % (b.length - s + 1));
      return Buffer.concat([b.subarray(0, s), b.subarray(e)]);
    }
    default: {
      // crossover with another input of the pool
      const o = other();
      if (o.length === 0) return b;
      const s = r() % o.length;
      const e = s + (r() % (o.length - s + 1));
      const at = r() % (b.length + 1);
      const cut = r() % 2 === 0 ? at : at + (r() % (b.length - at + 1));
      return Buffer.concat([b.subarray(0, at), o.subarray(s, e), b.subarray(cut)]);
    }
  }
}

function structural(b: Buffer, r: Rand, shape: Shape): Buffer | undefined {
  const elems = shape.elems(b);
  if (elems.length === 0) return undefined;
  const e = pick(r, elems);
  const op = r() % 8;
  let out: Buffer;
  switch (op) {
    case 0: {
      // length field: zero, huge, off by a few, or one past the end of the buffer
      const real = e.end - e.start - (e.lenBias ?? 0);
      const choices = [
        0,
        1,
        0xffff,
        0xffffffff,
        0x3ff,
        real + 1,
        real - 1,
        real + 4,
        real - 4,
        real * 2,
        b.length - e.start + 1,
      ];
      setLength(b, e, pick(r, choices));
      return b; // no fix-up: the inconsistency is the point
    }
    case 1: {
      if (e.typeOff === undefined) return undefined;
      const size = e.typeSize ?? 1;
      const v =
        shape.types && r() % 2 === 0 ? pick(r, shape.types) : r() & (size === 1 ? 0xff : 0xffff);
      writeField(b, e.typeOff, size, v);
      return b;
    }
    case 2:
      // duplicate the element in place (repeated payload / AVP / option)
      out = Buffer.concat([b.subarray(0, e.end), b.subarray(e.start, e.end), b.subarray(e.end)]);
      break;
    case 3:
      // delete the element
      out = Buffer.concat([b.subarray(0, e.start), b.subarray(e.end)]);
      break;
    case 4: {
      // swap with another element that does not overlap
      const f = pick(r, elems);
      if (f.start >= e.end) {
        out = Buffer.concat([
          b.subarray(0, e.start),
          b.subarray(f.start, f.end),
          b.subarray(e.end, f.start),
          b.subarray(e.start, e.end),
          b.subarray(f.end),
        ]);
      } else return undefined;
      break;
    }
    case 5: {
      // nest: copy another element into this one's body and grow its length to cover it
      const f = pick(r, elems);
      const inner = Buffer.from(b.subarray(f.start, f.end));
      out = Buffer.concat([b.subarray(0, e.end), inner, b.subarray(e.end)]);
      if (e.lenOff !== undefined && e.lenSize !== undefined) {
        const v = readField(out, e.lenOff, e.lenSize) & (e.lenMask ?? 0xffffffff);
        setLength(out, e, v + inner.length);
      }
      break;
    }
    case 6: {
      // truncate exactly inside or at the end of an element
      return b.subarray(0, e.start + (r() % (e.end - e.start + 1)));
    }
    default: {
      // grow the element's body with random bytes, its length following
      const extra = randomBytes(r, 1 + (r() % 16));
      out = Buffer.concat([b.subarray(0, e.end), extra, b.subarray(e.end)]);
      if (e.lenOff !== undefined && e.lenSize !== undefined) {
        const v = readField(out, e.lenOff, e.lenSize) & (e.lenMask ?? 0xffffffff);
        setLength(out, e, v + extra.length);
      }
      break;
    }
  }
  if (shape.fix && r() % 2 === 0) shape.fix(out);
  return out;
}

const TOKENS = [
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  ": ",
  "- ",
  "\n",
  "\n  ",
  "\t",
  '"',
  "'",
  "#",
  "&a ",
  "*a",
  "<<: *a",
  "!!binary ",
  "!!str ",
  "!!js/function ",
  "? ",
  "|",
  ">",
  "---\n",
  "...\n",
  "%YAML 1.2\n",
  "null",
  "true",
  "~",
  "0",
  "-1",
  "1e999",
  "-0",
  "0x10",
  "18446744073709551616",
  "NaN",
  "\\u0000",
  "\u0000",
  "\u202e",
  "\ud800",
  "__proto__",
  "constructor",
  "prototype",
  '"__proto__": {}',
  "format",
  "formatVersion",
  "psks",
  "pools",
  "policies",
  "users",
  "settings",
];

function textLevel(b: Buffer, r: Rand, other: () => Buffer): Buffer {
  const s = b.toString("latin1");
  switch (r() % 6) {
    case 0: {
      const at = r() % (s.length + 1);
      return Buffer.from(s.slice(0, at) + pick(r, TOKENS) + s.slice(at), "utf8");
    }
    case 1: {
      // deep nesting
      const depth = 1 + (r() % 200);
      const open = r() % 2 === 0 ? "[" : '{"a":';
      const close = open === "[" ? "]" : "}";
      const at = r() % (s.length + 1);
      return Buffer.from(
        s.slice(0, at) +
          open.repeat(depth) +
          "1" +
          close.repeat(r() % 2 === 0 ? depth : 0) +
          s.slice(at),
        "utf8",
      );
    }
    case 2: {
      const lines = s.split("\n");
      const i = r() % lines.length;
      const line = lines[i] ?? "";
      const op = r() % 3;
      if (op === 0) lines.splice(i, 0, line);
      else if (op === 1) lines.splice(i, 1);
      else lines[i] = " ".repeat(1 + (r() % 8)) + line;
      return Buffer.from(lines.join("\n"), "latin1");
    }
    case 3: {
      // alias bombs and long scalars
      const at = r() % (s.length + 1);
      const bomb =
        r() % 2 === 0
          ? "x: &a [1,1,1,1]\ny: &b [*a,*a,*a,*a]\nz: [*b,*b,*b,*b]\n"
          : "a".repeat(r() % 1000);
      return Buffer.from(s.slice(0, at) + bomb + s.slice(at), "utf8");
    }
    case 4: {
      const o = other().toString("latin1");
      const at = r() % (s.length + 1);
      const from = r() % (o.length + 1);
      return Buffer.from(s.slice(0, at) + o.slice(from, from + (r() % 64)) + s.slice(at), "latin1");
    }
    default:
      return byteLevel(b, r, 4096, other);
  }
}

export interface MutateOptions {
  readonly maxLength: number;
  readonly shape?: Shape;
  readonly text?: boolean;
}

/** One mutated copy of `seed` (never modifies `seed`). */
export function mutate(
  seed: Uint8Array,
  r: Rand,
  opts: MutateOptions,
  other: () => Buffer,
): Buffer {
  if (r() % 32 === 0) return randomBytes(r, r() % (opts.maxLength + 1));
  let b: Buffer = Buffer.from(seed);
  const rounds = r() % 4 === 0 ? 2 + (r() % 3) : 1;
  for (let i = 0; i < rounds; i++) {
    if (opts.text) b = textLevel(b, r, other);
    else if (opts.shape && r() % 2 === 0)
      b = structural(b, r, opts.shape) ?? byteLevel(b, r, opts.maxLength, other);
    else b = byteLevel(b, r, opts.maxLength, other);
  }
  return b.length > opts.maxLength ? b.subarray(0, opts.maxLength) : b;
}
