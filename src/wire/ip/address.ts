/**
 * IP address text <-> octets (IPv4 dotted quad, RFC 4291 §2.2 IPv6 text forms including "::"
 * and a trailing dotted quad; output in RFC 5952 canonical form), and address ranges (CIDR
 * prefix "a/n" or "first-last") used by policy selectors.
 * Leaves out: zone identifiers ("%eth0") — stripped on input.
 */
import { isIPv4, isIPv6 } from "node:net";

export function parseIpAddress(text: string): Uint8Array | undefined {
  const t = text.split("%")[0] ?? "";
  if (isIPv4(t)) return Uint8Array.from(t.split(".").map((x) => Number(x)));
  if (!isIPv6(t)) return undefined;
  const out = new Uint8Array(16);
  let s = t;
  let tail4: number[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    tail4 = s
      .slice(lastColon + 1)
      .split(".")
      .map((x) => Number(x));
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = s.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const r = rest === undefined || rest === "" ? [] : rest.split(":");
  const groups =
    rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill("0"), ...r];
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tail4.length === 4) out.set(tail4, 12);
  return out;
}

/** Text form of a 4- or 16-octet address (IPv6 per RFC 5952: lower case, longest zero run ::). */
export function formatIpAddress(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new Error(`formatIpAddress: ${b.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  // Longest run of zero groups (length >= 2) becomes "::" (RFC 5952 §4.2).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** An inclusive range of addresses of one family. */
export interface AddressRange {
  readonly first: Uint8Array;
  readonly last: Uint8Array;
}

/** "10.0.0.0/8", "2001:db8::/32", "192.0.2.1", or "192.0.2.10-192.0.2.20". */
export function parseAddressRange(text: string): AddressRange | undefined {
  const dash = text.indexOf("-");
  if (dash > 0) {
    const first = parseIpAddress(text.slice(0, dash).trim());
    const last = parseIpAddress(text.slice(dash + 1).trim());
    if (first === undefined || last === undefined || first.length !== last.length) return undefined;
    if (compareBytes(first, 0, last) > 0) return undefined;
    return { first, last };
  }
  const [addr, plen] = text.split("/") as [string, string | undefined];
  const a = parseIpAddress(addr.trim());
  if (a === undefined) return undefined;
  const bits = plen === undefined ? a.length * 8 : Number(plen);
  if (!Number.isInteger(bits) || bits < 0 || bits > a.length * 8) return undefined;
  const first = Uint8Array.from(a);
  const last = Uint8Array.from(a);
  for (let i = 0; i < a.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    first[i] = a[i]! & mask;
    last[i] = (a[i]! & mask) | (~mask & 0xff);
  }
  return { first, last };
}

/** Compares b[off..off+a.length) with a, as unsigned big-endian numbers: <0, 0, >0. */
export function compareBytes(a: Uint8Array, off: number, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[off + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** True when the address at packet[off..off+len) lies in `r` (same family). */
export function inRange(r: AddressRange, packet: Uint8Array, off: number, len: number): boolean {
  if (r.first.length !== len) return false;
  for (let i = 0; i < len; i++) {
    const v = packet[off + i]!;
    const lo = r.first[i]!;
    if (v < lo) return false;
    if (v > lo) break;
    if (i === len - 1) break;
  }
  for (let i = 0; i < len; i++) {
    const v = packet[off + i]!;
    const hi = r.last[i]!;
    if (v > hi) return false;
    if (v < hi) break;
  }
  return true;
}
