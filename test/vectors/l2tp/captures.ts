/**
 * Where the L2TP vector captures live (xl2tpd 1.3.18, see README.md here; the files are in
 * test/vectors/captures/) and their L2TP messages: the UDP/1701 payloads, read with the shared
 * test/helpers/pcap.ts. Test input only.
 */
import { join } from "node:path";
import { udpDatagrams } from "../../helpers/pcap.js";

const vectorDir = join(import.meta.dirname, "..", "captures");
export const L2TP_CAPTURE_FILES = ["evidence-l2tp-inner-tunnel.pcap", "evidence-l2tp-inner-transport.pcap"];
export function l2tpCapturePath(name: string): string {
  return `${vectorDir}/${name}`;
}
/** Every UDP payload (L2TP message) of the xl2tpd captures, tunnel capture first. */
export function l2tpCaptureMessages(): Buffer[] {
  return L2TP_CAPTURE_FILES.flatMap((f) => udpDatagrams(l2tpCapturePath(f)).map((r) => r.payload));
}
