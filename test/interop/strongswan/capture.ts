/**
 * Packet capture for the interop labs: tcpdump in a namespace writing a pcap, and tshark
 * read-back helpers (field extraction, counting with display filters, decryption tables).
 *
 * tcpdump rather than tshark for capturing: it starts in well under a second, tshark's
 * dumpcap took several seconds under load. tshark (Wireshark's dissectors, an independent
 * implementation) is used to read the files.
 *
 * Leaves out: live dissection; ring buffers.
 */
import { chmodSync } from "node:fs";
import { Daemon, run, runOk, sleep, waitFor } from "./proc.js";

export class Capture {
  private constructor(
    readonly file: string,
    private readonly daemon: Daemon,
  ) {}

  /**
   * Starts `tcpdump -i IFACE -w FILE FILTER` in `ns`, full packets (or `snaplen` octets of
   * each), unbuffered file output. Resolves when tcpdump reports that it is listening.
   */
  static async start(o: {
    ns: string;
    iface: string;
    file: string;
    filter?: string;
    /** Octets kept per packet (tcpdump -s); default 0, whole packets. */
    snaplen?: number;
    /** Capture buffer in KiB (tcpdump -B), so that bulk transfers are captured without drops. */
    bufferKiB?: number;
    /** --immediate-mode: packets are handed over at once (exact timestamps, no batching). */
    immediate?: boolean;
  }): Promise<Capture> {
    const d = Daemon.start(
      `tcpdump@${o.ns}/${o.iface}`,
      "ip",
      [
        "netns",
        "exec",
        o.ns,
        "tcpdump",
        "-n",
        "-U",
        "-Z",
        "root",
        ...(o.immediate ? ["--immediate-mode"] : []),
        ...(o.bufferKiB !== undefined ? ["-B", String(o.bufferKiB)] : []),
        "-s",
        String(o.snaplen ?? 0),
        "-i",
        o.iface,
        "-w",
        o.file,
        ...(o.filter ? [o.filter] : []),
      ],
      `${o.file}.log`,
    );
    const c = new Capture(o.file, d);
    try {
      await waitFor(
        `tcpdump on ${o.ns}/${o.iface}`,
        () => {
          if (!d.running) throw new Error(`tcpdump exited: ${d.log()}`);
          return d.log().includes("listening on") ? true : undefined;
        },
        15_000,
      );
    } catch (e) {
      await d.stop();
      throw e;
    }
    return c;
  }

  /** After stop(): the packets tcpdump reported as dropped by the kernel; -1 if it did not say. */
  droppedByKernel(): number {
    return Number(/(\d+) packets? dropped by kernel/.exec(this.daemon.log())?.[1] ?? -1);
  }

  /** Stops the capture (SIGINT lets tcpdump flush) and returns the pcap path. */
  async stop(): Promise<string> {
    await sleep(200);
    await this.daemon.stop("SIGINT", 5000);
    try {
      chmodSync(this.file, 0o644);
    } catch {
      /* no file: nothing captured */
    }
    return this.file;
  }
}

/** tshark -o options that make it decrypt IKEv1 (by initiator cookie) and ESP (by SA). */
export interface TsharkKeys {
  readonly ikev1?: readonly { readonly icookie: string; readonly encKey: string }[];
  readonly esp?: readonly {
    readonly src: string;
    readonly dst: string;
    readonly spi: string; // "0x...."
    /** Wireshark esp_sa encryption label (packet-ipsec.c), e.g. "AES-CBC [RFC3602]". */
    readonly encAlg: string;
    readonly encKey: string; // "0x..."
    /** Wireshark esp_sa authentication label, e.g. "HMAC-SHA-1-96 [RFC2404]" or "NULL". */
    readonly authAlg: string;
    readonly authKey: string; // "0x..." or ""
  }[];
}

export function tsharkKeyOptions(k: TsharkKeys): string[] {
  const o: string[] = [];
  for (const e of k.ikev1 ?? []) {
    o.push("-o", `uat:ikev1_decryption_table:${e.icookie},${e.encKey}`);
  }
  if (k.esp && k.esp.length > 0) {
    o.push("-o", "esp.enable_encryption_decode:TRUE");
    for (const s of k.esp) {
      o.push(
        "-o",
        `uat:esp_sa:"IPv4","${s.src}","${s.dst}","${s.spi}","${s.encAlg}","${s.encKey}","${s.authAlg}","${s.authKey}"`,
      );
    }
  }
  return o;
}

/** `tshark -r FILE -Y FILTER -T fields -e F1 -e F2 ...` → rows of field strings. */
export async function tsharkFields(
  file: string,
  fields: readonly string[],
  filter = "",
  extra: readonly string[] = [],
): Promise<string[][]> {
  const out = await runOk(
    "tshark",
    [
      "-r",
      file,
      ...extra,
      ...(filter ? ["-Y", filter] : []),
      "-T",
      "fields",
      "-E",
      "separator=\t",
      ...fields.flatMap((f) => ["-e", f]),
    ],
    { timeoutMs: 120_000 },
  );
  return out
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => l.split("\t"));
}

/** Number of frames matching a display filter. */
export async function tsharkCount(
  file: string,
  filter: string,
  extra: readonly string[] = [],
): Promise<number> {
  const r = await run("tshark", ["-r", file, ...extra, "-Y", filter], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`tshark -Y '${filter}' failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l.trim().length > 0).length;
}

/** One-line summaries (`tshark -r FILE`), for logs and READMEs. */
export async function tsharkSummary(file: string, extra: readonly string[] = []): Promise<string> {
  return runOk("tshark", ["-r", file, ...extra], { timeoutMs: 120_000 });
}
