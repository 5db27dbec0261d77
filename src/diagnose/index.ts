/**
 * `oakley diagnose SERVER` on the real network: name resolution, the route and path MTU to
 * the server, connected-UDP probes (platform/udp-probe.ts), and UDP 500/4500 + raw ESP bound
 * like `oakley connect` (so NAT-D describes the ports a real client uses). No TUN, routes,
 * DNS or firewall rules. The verdicts are verdict.ts's; the Windows table windows-errors.ts's.
 */
import { openIpsecPorts } from "../daemon/ipsec-node.js";
import type { LogHub } from "../obs/log.js";
import { systemClock, systemRandom } from "../platform/index.js";
import { pathMtuTo, resolveIpv4, routeTo } from "../platform/route.js";
import { probeUdp } from "../platform/udp-probe.js";
import { type DiagnoseOptions, runDiagnosis } from "./run.js";
import { type DiagnoseReport, report } from "./verdict.js";

export { formatWindowsErrors, WINDOWS_ERRORS } from "./windows-errors.js";
export { type DiagnoseReport, formatReport, report } from "./verdict.js";

/** What runDiagnosis takes, with SERVER as typed (a name is resolved) and our address found. */
export interface DiagnoseServerOptions extends Omit<DiagnoseOptions, "local"> {
  readonly logs: LogHub;
  readonly onProgress?: (text: string) => void;
  /** Local UDP ports for the full exchange (default 500 and 4500, as oakley connect). */
  readonly ports?: { readonly ike: number; readonly natt: number };
}

export async function diagnoseServer(
  o: DiagnoseServerOptions,
): Promise<{ ok: true; value: DiagnoseReport } | { ok: false; error: string }> {
  const server = await resolveIpv4(o.server);
  if (!server.ok) return { ok: false, error: server.error.message };
  const route = await routeTo(server.value);
  if (!route.ok) return { ok: false, error: `no route to ${server.value}: ${route.error.message}` };
  const local = route.value.source;
  const { logs: _logs, onProgress: _progress, ports: _ports, ...wanted } = o;
  const run = await runDiagnosis(
    { ...wanted, server: server.value, local },
    {
      clock: systemClock,
      random: systemRandom,
      logs: o.logs,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      probe: (port, data, timeoutMs) => probeUdp(server.value, port, data, timeoutMs),
      pathMtu: async () => {
        const m = await pathMtuTo(server.value);
        return m.ok ? m.value : undefined;
      },
      openPorts: async () => {
        const p = await openIpsecPorts({ listen: local, ...(o.ports ? { ports: o.ports } : {}) });
        return p.ok ? { ok: true, value: p.value } : { ok: false, error: p.error };
      },
    },
  );
  return { ok: true, value: report(run.observations) };
}
