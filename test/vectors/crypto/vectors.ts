/**
 * Reader for the `key = value` vector files in this folder: '#' lines are comments,
 * '[a = b, c = d]' lines set group attributes for the records that follow, a blank line
 * ends a record. Values are kept as strings; callers decode hex.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface VectorRecord {
  readonly group: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, string>>;
}

export function readVectors(name: string): VectorRecord[] {
  const text = readFileSync(join(import.meta.dirname, name), "utf8");
  const out: VectorRecord[] = [];
  let group: Record<string, string> = {};
  let fields: Record<string, string> = {};
  const flush = (): void => {
    if (Object.keys(fields).length > 0) out.push({ group, fields });
    fields = {};
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#")) continue;
    if (line === "") {
      flush();
      continue;
    }
    if (line.startsWith("[") && line.endsWith("]")) {
      flush();
      group = {};
      for (const kv of line.slice(1, -1).split(",")) {
        const [k, v] = kv.split("=").map((s) => s.trim());
        if (k && v !== undefined) group[k] = v;
      }
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`${name}: bad line ${line.slice(0, 40)}`);
    fields[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  flush();
  return out;
}
