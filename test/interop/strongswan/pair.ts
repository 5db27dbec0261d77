/**
 * strongSwan <-> strongSwan across the lab NAT: IKEv1 Main Mode + Quick Mode (PSK or
 * certificates), tunnel-mode ESP-in-UDP (RFC 3948) via kernel-libipsec, pings through the
 * tunnel, orderly delete, captures on the client's and server's interfaces and on the NAT's
 * outside. Used by the harness self-test (strongswan-lab.test.ts) and the key-logged vector
 * maker (make-vectors.ts). Oakley's own interop tests use lab.ts + charon.ts directly with
 * Oakley on one side.
 *
 * Leaves out: transport mode (kernel-libipsec cannot install it; see README).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Capture } from "./capture.js";
import { type Charon, startInitiator, startResponder } from "./charon.js";
import {
  type CharonLogLevels,
  type IkeAuth,
  labTunnelInitiator,
  labTunnelResponder,
  swanctlConf,
} from "./conf.js";
import { LAB_ADDR, LAB_IF, type Lab, labUp } from "./lab.js";
import { nsRun, type RunResult } from "./proc.js";
import type { SaListing } from "./charon.js";

export interface PairOptions {
  /** IKE (phase 1) proposals, strongSwan syntax; default ["aes128-sha1-modp2048"]. */
  readonly ikeProposals?: readonly string[];
  /** ESP proposals; default ["aes128-sha1"]. */
  readonly espProposals?: readonly string[];
  /** Authentication of each side (default: the same PSK on both). */
  readonly serverAuth?: IkeAuth;
  readonly clientAuth?: IkeAuth;
  /** Files next to each side's swanctl.conf (certificates, keys). */
  readonly serverFiles?: Readonly<Record<string, string>>;
  readonly clientFiles?: Readonly<Record<string, string>>;
  readonly logLevels?: CharonLogLevels;
  /** Number of pings client -> 203.0.113.1 through the tunnel (default 3). */
  readonly pings?: number;
  /** ping -p pattern (hex), to recognise the payload after decryption. */
  readonly pingPattern?: string;
  /** Send `swanctl --terminate` at the end (INFORMATIONAL DELETEs on the wire); default true. */
  readonly terminate?: boolean;
  /** Where captures and logs are kept (default: a fresh temp dir). */
  readonly outDir?: string;
}

export interface PairResult {
  readonly outDir: string;
  readonly initiate: RunResult;
  readonly ping: RunResult | undefined;
  readonly clientSas: SaListing;
  readonly serverSas: SaListing;
  readonly clientSasText: string;
  readonly serverSasText: string;
  /** pcaps: the client's c0, the NAT's outside n1, the server's s0. */
  readonly pcaps: { readonly client: string; readonly natOutside: string; readonly server: string };
  /** Copies of the two charon logs. */
  readonly logs: { readonly initiator: string; readonly responder: string };
}

export const PAIR_PSK = "oak-lab-psk-0123456789";

/** Runs the whole scenario and always tears down (namespaces, daemons), also on failure. */
export async function runStrongswanPair(o: PairOptions = {}): Promise<PairResult> {
  const outDir = o.outDir ?? mkdtempSync(join(tmpdir(), "oak-ss-pair-"));
  mkdirSync(outDir, { recursive: true });
  const psk: IkeAuth = { kind: "psk", secret: PAIR_PSK };
  const ike = o.ikeProposals ?? ["aes128-sha1-modp2048"];
  const esp = o.espProposals ?? ["aes128-sha1"];
  let lab: Lab | undefined;
  let srv: Charon | undefined;
  let cli: Charon | undefined;
  const caps: Capture[] = [];
  try {
    lab = await labUp();
    srv = await startResponder({
      ns: lab.ns.server,
      ...(o.logLevels ? { logLevels: o.logLevels } : {}),
      ...(o.serverFiles ? { files: o.serverFiles } : {}),
      conf: swanctlConf([
        labTunnelResponder({ proposals: ike, espProposals: esp, auth: o.serverAuth ?? psk }),
      ]),
    });
    cli = await startInitiator({
      ns: lab.ns.client,
      ...(o.logLevels ? { logLevels: o.logLevels } : {}),
      ...(o.clientFiles ? { files: o.clientFiles } : {}),
      conf: swanctlConf([
        labTunnelInitiator({ proposals: ike, espProposals: esp, auth: o.clientAuth ?? psk }),
      ]),
    });
    const pcaps = {
      client: join(outDir, "client.pcap"),
      natOutside: join(outDir, "nat-outside.pcap"),
      server: join(outDir, "server.pcap"),
    };
    caps.push(
      await Capture.start({
        ns: lab.ns.client,
        iface: LAB_IF.client,
        file: pcaps.client,
        filter: "ip",
      }),
    );
    caps.push(
      await Capture.start({
        ns: lab.ns.nat,
        iface: LAB_IF.natOutside,
        file: pcaps.natOutside,
        filter: "ip",
      }),
    );
    caps.push(
      await Capture.start({
        ns: lab.ns.server,
        iface: LAB_IF.server,
        file: pcaps.server,
        filter: "ip",
      }),
    );

    const initiate = await cli.initiate({ ike: "oak-cli", child: "net", timeoutS: 60 });
    let ping: RunResult | undefined;
    if (initiate.code === 0 && (o.pings ?? 3) > 0) {
      ping = await nsRun(
        lab.ns.client,
        "ping",
        [
          "-c",
          String(o.pings ?? 3),
          "-i",
          "0.3",
          "-W",
          "3",
          "-I",
          LAB_ADDR.client,
          ...(o.pingPattern ? ["-p", o.pingPattern] : []),
          LAB_ADDR.serverNet,
        ],
        { timeoutMs: 30_000 },
      );
    }
    const clientSas = await cli.listSas();
    const serverSas = await srv.listSas();
    const clientSasText = await cli.listSasText();
    const serverSasText = await srv.listSasText();
    if (o.terminate ?? true) {
      await cli.terminate("oak-cli");
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const c of caps.splice(0)) await c.stop();
    const logs = {
      initiator: join(outDir, "initiator-charon.log"),
      responder: join(outDir, "responder-charon.log"),
    };
    copyFileSync(cli.logFile, logs.initiator);
    copyFileSync(srv.logFile, logs.responder);
    return {
      outDir,
      initiate,
      ping,
      clientSas,
      serverSas,
      clientSasText,
      serverSasText,
      pcaps,
      logs,
    };
  } finally {
    for (const c of caps) await c.stop().catch(() => undefined);
    await cli?.stop();
    await srv?.stop();
    await lab?.down();
  }
}

/** Removes a pair run's output directory. */
export function removePairOutput(r: PairResult): void {
  rmSync(r.outDir, { recursive: true, force: true });
}
