/**
 * Parser for the text that `swanctl --raw` prints for a vici message (strongSwan's
 * libvici "raw" dump): `key=value`, `name {...}` sections and `key=[a b c]` lists, separated
 * by spaces, e.g.
 *   lab {uniqueid=1 state=ESTABLISHED child-sas {net-1 {spi-in=525fdd77 local-ts=[192.0.2.2/32]}}}
 *
 * Deviation: the raw dump does not quote values, so a value containing spaces (an X.500 DN
 * identity such as "C=CH, O=Oak, CN=server") cannot be told apart from the next item with
 * certainty. Heuristic: a word that does not start with a lower-case vici key and "=" (e.g.
 * "Test," or "CN=server") continues the previous value.
 */
export type ViciValue = string | readonly string[] | ViciSection;
export interface ViciSection {
  [key: string]: ViciValue;
}

function tokenize(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (const ch of s) {
    if (ch === " " || ch === "{" || ch === "}" || ch === "[" || ch === "]") {
      if (cur) out.push(cur);
      cur = "";
      if (ch !== " ") out.push(ch);
    } else {
      cur += ch;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** vici key names are lower case with dashes ("remote-host="); DN parts ("CN=") are not. */
const VICI_KEY = /^[a-z][a-z0-9_-]*=/;

/** Parses the body of a vici raw dump (the text between the outermost braces). */
export function parseVici(s: string): ViciSection {
  const toks = tokenize(s);
  let i = 0;
  const section = (): ViciSection => {
    const sec: ViciSection = {};
    let lastKey: string | undefined;
    while (i < toks.length) {
      const t = toks[i++] as string;
      if (t === "}") return sec;
      const next = toks[i];
      if (t.endsWith("=") && next === "[") {
        i++;
        const items: string[] = [];
        while (i < toks.length && toks[i] !== "]") items.push(toks[i++] as string);
        i++;
        sec[t.slice(0, -1)] = items;
        lastKey = undefined;
      } else if (next === "{") {
        i++;
        sec[t] = section();
        lastKey = undefined;
      } else if (VICI_KEY.test(t)) {
        const eq = t.indexOf("=");
        lastKey = t.slice(0, eq);
        sec[lastKey] = t.slice(eq + 1);
      } else if (lastKey !== undefined && typeof sec[lastKey] === "string") {
        sec[lastKey] = `${sec[lastKey] as string} ${t}`;
      }
    }
    return sec;
  };
  return section();
}

/** Reads a string field of a section ("" if absent or not a string). */
export function viciStr(sec: ViciSection | undefined, key: string): string {
  const v = sec?.[key];
  return typeof v === "string" ? v : "";
}

/** Reads a sub-section ({} if absent). */
export function viciSec(sec: ViciSection | undefined, key: string): ViciSection {
  const v = sec?.[key];
  return v !== undefined && typeof v === "object" && !Array.isArray(v) ? (v as ViciSection) : {};
}
