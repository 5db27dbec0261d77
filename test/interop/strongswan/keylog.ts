/**
 * Extracts key material from a charon 5.9.8 file log written with KEYLOG_LEVELS (conf.ts):
 * strongSwan prints chunks with its %B format,
 *   "06:01:05.520 13[IKE] <srv|1> SKEYID => 20 bytes @ 0x7fb15400d730"
 *   "06:01:05.520 13[IKE] <srv|1>    0: 8C 7A 2C 0A 16 83 9B 1C 9C 4D 19 15 27 A0 A8 86  .z,......M..'..."
 *   "06:01:05.520 13[IKE] <srv|1>   16: 42 81 9C A3                                      B..."
 * Each dump is returned in log order with its label ("SKEYID", "next IV for MID 432558907", ...)
 * and the IKE SA it belongs to ("srv|1").
 *
 * Leaves out: interpretation beyond labels (the vector maker decides what each one means).
 */

export interface KeyDump {
  /** 1-based line number of the header line. */
  readonly line: number;
  /** Time stamp as printed (HH:MM:SS.mmm). */
  readonly time: string;
  /** Log group (IKE, CHD, ...). */
  readonly group: string;
  /** IKE SA name as printed between <> ("srv|1", or "1" before a config is known). */
  readonly sa: string;
  readonly label: string;
  readonly bytes: Buffer;
}

const HEADER =
  /^(\d\d:\d\d:\d\d(?:\.\d+)?) \d+\[([A-Z]+)\] <([^>]*)> (.+?) => (\d+) bytes @ 0x[0-9a-f]+\s*$/;
const ROW = /^\d\d:\d\d:\d\d(?:\.\d+)? \d+\[([A-Z]+)\] <([^>]*)> +(\d+): ((?:[0-9A-F]{2} ?)+)/;

/** All %B dumps in a charon log. A dump whose rows do not add up to its length is an error. */
export function parseKeyDumps(log: string): KeyDump[] {
  const lines = log.split("\n");
  const out: KeyDump[] = [];
  for (let i = 0; i < lines.length; i++) {
    const h = HEADER.exec(lines[i] as string);
    if (!h) continue;
    const [, time, group, sa, label, lenStr] = h as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const len = Number(lenStr);
    const parts: string[] = [];
    let got = 0;
    let j = i + 1;
    while (got < len && j < lines.length) {
      const r = ROW.exec(lines[j] as string);
      if (!r || r[2] !== sa || Number(r[3]) !== got) break;
      const hexRow = (r[4] as string).trim().split(" ").slice(0, 16).join("");
      parts.push(hexRow);
      got += hexRow.length / 2;
      j++;
    }
    if (got !== len) {
      throw new Error(`charon log line ${i + 1}: dump "${label}" has ${got} of ${len} bytes`);
    }
    out.push({ line: i + 1, time, group, sa, label, bytes: Buffer.from(parts.join(""), "hex") });
    i = j - 1;
  }
  return out;
}

/** The first dump with exactly this label (optionally of one IKE SA), or undefined. */
export function findDump(
  dumps: readonly KeyDump[],
  label: string,
  sa?: string,
): KeyDump | undefined {
  return dumps.find((d) => d.label === label && (sa === undefined || d.sa === sa));
}

/** Log lines (not dumps) that match `re`, with their text after the "<sa>" prefix. */
export function grepLog(log: string, re: RegExp): string[] {
  return log
    .split("\n")
    .filter((l) => re.test(l))
    .map((l) => l.replace(/^\S+ \d+\[[A-Z]+\] (<[^>]*> )?/, ""));
}
