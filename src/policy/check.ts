/**
 * A small validating reader for JSON-shaped input (policy documents, stored rows, imports).
 *
 * It walks an unknown value, collects every problem as a ValidationIssue whose path is written
 * the way a person finds it in YAML (`policies[0].rules[1].filters[0].ports`), and decides what
 * to do with keys the model does not know:
 *  - "strict" (writes through the API, imports): an unknown key is an error, with a
 *    did-you-mean hint, because it is almost always a typo;
 *  - "preserve" (rows read from the store file): an unknown key is an extension written by a
 *    newer Oakley; it is recorded under its JSON pointer (RFC 6901) and kept verbatim.
 */
import type { ValidationIssue } from "./errors.js";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export type Segment = string | number;

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export class Checker {
  readonly issues: ValidationIssue[] = [];
  /** JSON pointer (relative to the checked object) -> unknown value. */
  readonly extensions: Record<string, Json> = {};

  constructor(
    readonly mode: "strict" | "preserve",
    /** Display prefix, e.g. "policies[0]" for an import, "" for a single object. */
    readonly prefix: string = "",
  ) {}

  path(p: readonly Segment[]): string {
    let s = this.prefix;
    for (const seg of p) {
      if (typeof seg === "number") s += `[${seg}]`;
      else s += s === "" ? seg : `.${seg}`;
    }
    return s === "" ? "(document)" : s;
  }

  issue(p: readonly Segment[], message: string): void {
    this.issues.push({ path: this.path(p), message });
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }

  /** Reads an object with the given known keys; handles unknown keys according to the mode. */
  object(
    v: unknown,
    p: readonly Segment[],
    known: readonly string[],
  ): Record<string, unknown> | null {
    if (!isJsonObject(v)) {
      this.issue(p, `expected a mapping (key: value pairs), found ${describe(v)}`);
      return null;
    }
    for (const k of Object.keys(v)) {
      if (known.includes(k)) continue;
      if (this.mode === "preserve") {
        this.extensions[pointer([...p, k])] = v[k] as Json;
      } else {
        const near = nearest(k, known);
        this.issue(
          [...p, k],
          `unknown field${near ? `; did you mean "${near}"?` : `; known fields here: ${known.join(", ")}`}`,
        );
      }
    }
    return v;
  }

  string(
    o: Record<string, unknown>,
    k: string,
    p: readonly Segment[],
    opts: { optional?: boolean; default?: string; min?: number; max?: number; what?: string } = {},
  ): string | undefined {
    const v = o[k];
    if (v === undefined) {
      if (opts.default !== undefined) return opts.default;
      if (!opts.optional)
        this.issue([...p, k], `is required; write ${opts.what ?? "a text value"}`);
      return undefined;
    }
    if (typeof v !== "string") {
      this.issue(
        [...p, k],
        `expected text, found ${describe(v)}; write ${opts.what ?? "a quoted text value"}`,
      );
      return undefined;
    }
    const min = opts.min ?? 0;
    const max = opts.max ?? 4096;
    if (v.length < min || v.length > max) {
      this.issue([...p, k], `must be ${min}..${max} characters long (is ${v.length})`);
      return undefined;
    }
    return v;
  }

  name(o: Record<string, unknown>, k: string, p: readonly Segment[]): string | undefined {
    const v = this.string(o, k, p, { what: 'a name such as "l2tp-server"' });
    if (v === undefined) return undefined;
    if (!/^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}$/.test(v)) {
      this.issue(
        [...p, k],
        `${JSON.stringify(v)} is not a valid name; use 1-64 letters, digits, space, ".", "_", "@", "+", "-", starting with a letter or digit`,
      );
      return undefined;
    }
    return v;
  }

  boolean(
    o: Record<string, unknown>,
    k: string,
    p: readonly Segment[],
    def?: boolean,
  ): boolean | undefined {
    const v = o[k];
    if (v === undefined) {
      if (def !== undefined) return def;
      this.issue([...p, k], "is required; write true or false");
      return undefined;
    }
    if (typeof v !== "boolean") {
      this.issue([...p, k], `expected true or false, found ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  integer(
    o: Record<string, unknown>,
    k: string,
    p: readonly Segment[],
    opts: { min: number; max: number; optional?: boolean; default?: number; unit?: string },
  ): number | undefined {
    const v = o[k];
    if (v === undefined) {
      if (opts.default !== undefined) return opts.default;
      if (!opts.optional)
        this.issue([...p, k], `is required; write a whole number ${opts.min}..${opts.max}`);
      return undefined;
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < opts.min || v > opts.max) {
      this.issue(
        [...p, k],
        `${JSON.stringify(v) ?? String(v)} is not a whole number in ${opts.min}..${opts.max}${opts.unit ? ` (${opts.unit})` : ""}`,
      );
      return undefined;
    }
    return v;
  }

  oneOf<T extends string | number>(
    o: Record<string, unknown>,
    k: string,
    p: readonly Segment[],
    allowed: readonly T[],
    opts: { optional?: boolean; default?: T } = {},
  ): T | undefined {
    const v = o[k];
    if (v === undefined) {
      if (opts.default !== undefined) return opts.default;
      if (!opts.optional) this.issue([...p, k], `is required; write one of ${list(allowed)}`);
      return undefined;
    }
    if (!(allowed as readonly unknown[]).includes(v)) {
      const near = typeof v === "string" ? nearest(v, allowed.map(String)) : undefined;
      this.issue(
        [...p, k],
        `${JSON.stringify(v) ?? String(v)} is not allowed here${near ? `; did you mean "${near}"?` : ""}; write one of ${list(allowed)}`,
      );
      return undefined;
    }
    return v as T;
  }

  array(
    o: Record<string, unknown>,
    k: string,
    p: readonly Segment[],
    opts: { min?: number; max?: number; optional?: boolean; what: string },
  ): unknown[] | undefined {
    const v = o[k];
    if (v === undefined) {
      if (opts.optional) return [];
      this.issue([...p, k], `is required; write a list of ${opts.what}`);
      return undefined;
    }
    if (!Array.isArray(v)) {
      this.issue([...p, k], `expected a list of ${opts.what}, found ${describe(v)}`);
      return undefined;
    }
    const min = opts.min ?? 0;
    const max = opts.max ?? 1000;
    if (v.length < min) {
      this.issue([...p, k], `needs at least ${min} ${opts.what} (has ${v.length})`);
      return undefined;
    }
    if (v.length > max) {
      this.issue([...p, k], `allows at most ${max} ${opts.what} (has ${v.length})`);
      return undefined;
    }
    return v;
  }
}

function list(allowed: readonly (string | number)[]): string {
  return allowed.map((a) => (typeof a === "string" ? `"${a}"` : String(a))).join(", ");
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string")
    return `text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** RFC 6901 JSON pointer for a path. */
export function pointer(p: readonly Segment[]): string {
  return p.map((s) => `/${String(s).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

export function parsePointer(ptr: string): Segment[] | null {
  if (ptr === "") return [];
  if (!ptr.startsWith("/")) return null;
  return ptr
    .slice(1)
    .split("/")
    .map((s) => {
      const t = s.replace(/~1/g, "/").replace(/~0/g, "~");
      return /^(0|[1-9][0-9]{0,5})$/.test(t) ? Number(t) : t;
    });
}

/** Puts `value` at `ptr` inside a deep copy of `doc`; used to show an object as it was written. */
export function setAtPointer(doc: JsonObject, ptr: string, value: Json): boolean {
  const segs = parsePointer(ptr);
  if (!segs || segs.length === 0) return false;
  let cur: Json = doc;
  for (const s of segs.slice(0, -1)) {
    if (Array.isArray(cur) && typeof s === "number") cur = cur[s] ?? null;
    else if (isJsonObject(cur) && Object.hasOwn(cur, String(s))) cur = cur[String(s)] ?? null;
    else return false;
  }
  const last = segs[segs.length - 1]!;
  if (!isJsonObject(cur)) return false;
  // defineProperty, not assignment: a key "__proto__" must stay a plain own field.
  Object.defineProperty(cur, String(last), {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return true;
}

/** Removes the field at `ptr` from `doc` (in place); used to split known fields from extensions. */
export function deleteAtPointer(doc: JsonObject, ptr: string): boolean {
  const segs = parsePointer(ptr);
  if (!segs || segs.length === 0) return false;
  let cur: Json = doc;
  for (const s of segs.slice(0, -1)) {
    if (Array.isArray(cur) && typeof s === "number") cur = cur[s] ?? null;
    else if (isJsonObject(cur) && Object.hasOwn(cur, String(s))) cur = cur[String(s)] ?? null;
    else return false;
  }
  const last = String(segs[segs.length - 1]!);
  if (!isJsonObject(cur) || !Object.hasOwn(cur, last)) return false;
  delete cur[last];
  return true;
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const dist = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best;
}
