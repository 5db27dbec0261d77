/**
 * A one-shot UDP probe on a connected socket (node:dgram): send a datagram, resend it with
 * back-off, and report the first answer, an ICMP unreachable (a connected UDP socket gets
 * ECONNREFUSED / EHOSTUNREACH / ENETUNREACH from the kernel), or silence. Used by
 * `oakley diagnose` to tell "nothing listens" from "dropped on the way". The socket is closed
 * before the promise settles; nothing is kept.
 */
import { createSocket } from "node:dgram";

export type UdpProbeResult =
  | { readonly kind: "answered"; readonly data: Buffer }
  | { readonly kind: "unreachable"; readonly detail: string }
  | { readonly kind: "no-answer"; readonly waitedMs: number }
  | { readonly kind: "error"; readonly message: string };

const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH"]);

export function probeUdp(
  address: string,
  port: number,
  data: Buffer,
  timeoutMs: number,
  firstResendMs = 500,
): Promise<UdpProbeResult> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    const finish = (r: UdpProbeResult) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      try {
        s.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    const send = () => {
      if (done) return;
      s.send(data, (e) => {
        if (!e) return;
        const code = (e as NodeJS.ErrnoException).code ?? "";
        if (UNREACHABLE.has(code)) finish({ kind: "unreachable", detail: code });
        else finish({ kind: "error", message: e.message });
      });
    };
    s.on("message", (msg) => finish({ kind: "answered", data: Buffer.from(msg) }));
    s.on("error", (e) => {
      const code = (e as NodeJS.ErrnoException).code ?? "";
      if (UNREACHABLE.has(code)) finish({ kind: "unreachable", detail: code });
      else finish({ kind: "error", message: e.message });
    });
    s.connect(port, address, () => {
      send();
      for (let at = firstResendMs; at < timeoutMs; at *= 2) timers.push(setTimeout(send, at));
      timers.push(setTimeout(() => finish({ kind: "no-answer", waitedMs: timeoutMs }), timeoutMs));
    });
  });
}
