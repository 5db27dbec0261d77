/**
 * TypeScript entry to the real-client VM harness (vm-e2e.sh): a stock Debian 12 L2TP/IPsec
 * client (strongSwan 5.9.8 IKEv1 + kernel ESP transport mode, xl2tpd 1.3.18 + pppd 2.4.9 over
 * kernel L2TP/PPP) in a QEMU/TCG guest behind a MASQUERADE NAT, dialing the server under test
 * at 198.51.100.2. The server is either a command run in the server network namespace (later:
 * `oakley serve ...`) or the reference server VM (strongSwan + xl2tpd + pppd, the baseline).
 *
 *   const r = await runClientVm({ serverCmd: "oakley serve --psk $OAK_PSK ...", psk, user, password });
 *   assert.equal(r.verdict, "PASS");   r.client?.phase1_ms, r.outside?.esp_udp4500, r.runDir ...
 *
 * Leaves out: tunnel-mode clients, several clients at once, Windows/macOS clients.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { missingPackages } from "../strongswan/lab.js";
import { onProcessExit, run } from "../strongswan/proc.js";

export const VM_DIR = join(import.meta.dirname);
export const VM_E2E = join(VM_DIR, "vm-e2e.sh");
export const BUILD_IMAGE = join(VM_DIR, "build-image.sh");
/** Where the guest image is cached (never in the repository). */
export const IMAGE_DIR = process.env.OAKLEY_VM_DIR ?? "/var/cache/oakley-vm";

/** Host packages the VM harness needs (Debian names). */
export const VM_PACKAGES = [
  "qemu-system-x86",
  "debootstrap",
  "e2fsprogs",
  "iproute2",
  "iptables",
  "tcpdump",
  "jq",
] as const;

export type PppAuth = "mschapv2" | "chap" | "pap";

export interface ClientVmOptions {
  /**
   * Server under test: `bash -c serverCmd` inside the server namespace (only interface
   * 198.51.100.2/24, no default route). Environment: OAK_SERVER_IP OAK_NAT_IP OAK_PSK OAK_USER
   * OAK_PASSWORD OAK_AUTH. It must bind UDP 500 within serverWaitS. Exclusive with `reference`.
   */
  readonly serverCmd?: string;
  /** Use the reference server VM (strongSwan + xl2tpd + pppd) instead. */
  readonly reference?: boolean;
  /** The only PPP authentication the client agrees to (default mschapv2). */
  readonly auth?: PppAuth;
  readonly psk?: string;
  readonly user?: string;
  readonly password?: string;
  /** strongSwan proposal lists of the client (and the reference server). */
  readonly ikeProposals?: readonly string[];
  readonly espProposals?: readonly string[];
  /** Budget of the guest's client script (default 300 s; the host kills the VM at +180 s). */
  readonly timeoutS?: number;
  readonly ikeTimeoutS?: number;
  readonly pppTimeoutS?: number;
  /** Wait for the server's UDP 500 / the reference VM (default 60 / 300 s). */
  readonly serverWaitS?: number;
  /** After the pings: send tcpBytes to PEER_PPP_IP:port / receive >= tcpBytes from it. */
  readonly tcpSendPort?: number;
  readonly tcpRecvPort?: number;
  readonly tcpBytes?: number;
  /** Reference server only: skip its default TCP transfers (5001/5002). */
  readonly noTcp?: boolean;
  /** Reference server only: credentials that differ from the client's (negative tests). */
  readonly refPsk?: string;
  readonly refUser?: string;
  readonly refPassword?: string;
  /** Do not fail when cleartext UDP 1701 / raw ESP crossed the NAT. */
  readonly allowCleartext?: boolean;
  readonly memMb?: number;
  /** Keep the run's files here (default: $OAKLEY_VM_STATE or $TMPDIR/oak-vm/run-...). */
  readonly runDir?: string;
  /** Progress lines (the harness' stderr), e.g. console.error. */
  readonly onProgress?: (line: string) => void;
}

/** The guest's result.json (written by guest/client.sh). */
export interface ClientResultJson {
  readonly rc: number;
  readonly stage:
    | "init"
    | "charon"
    | "ike"
    | "l2tp"
    | "ppp"
    | "ping"
    | "tcp-send"
    | "tcp-recv"
    | "done";
  readonly error: string;
  readonly auth: string;
  readonly phase1_ms: number | null;
  readonly phase2_ms: number | null;
  readonly ike_initiate_ms: number | null;
  readonly l2tp_ms: number | null;
  readonly ppp_auth_ms: number | null;
  readonly ppp_ms: number | null;
  readonly nat_t: boolean;
  readonly ike_proposal: string;
  readonly esp_proposal: string;
  readonly child_mode: string;
  readonly assigned_ip: string;
  readonly peer_ip: string;
  readonly ping_ok: boolean;
  readonly ping_received: number;
  readonly ping_count: number;
  readonly tcp_send_ok: boolean | null;
  readonly tcp_recv_ok: boolean | null;
  readonly tcp_recv_bytes: number | null;
  readonly guest_total_ms: number;
  readonly charon_log: readonly string[];
  readonly xl2tpd_log: readonly string[];
  readonly pppd_log: readonly string[];
}

/** Packet counts on the NAT's outside interface (see README). */
export interface OutsideCounts {
  readonly all: number;
  readonly ike500: number;
  readonly ike4500: number;
  readonly esp_udp4500: number;
  readonly keepalive: number;
  readonly clear_l2tp_or_esp50: number;
  readonly other: number;
}

export interface ClientVmResult {
  /**
   * vm-e2e.sh exit code: 0 pass (pings crossed the tunnel), 1 tunnel/ping failed, 2 usage,
   * 3 TCP transfer failed, 4 harness/server start problem, 5 no result from the guest,
   * 6 passed but cleartext L2TP/raw ESP crossed the NAT.
   */
  readonly exitCode: number;
  readonly verdict: "PASS" | "FAIL";
  /** The harness' one-line summary ("VM-E2E PASS stage=done phase1_ms=..."). */
  readonly summaryLine: string;
  readonly runDir: string | undefined;
  readonly client: ClientResultJson | undefined;
  readonly outside: OutsideCounts | undefined;
  /** The harness' progress log (stderr). */
  readonly log: string;
}

/** Why the VM harness cannot run here, or undefined. */
export async function vmUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "needs root (namespaces, tap devices)";
  if (!existsSync("/dev/net/tun")) return "/dev/net/tun missing";
  const missing = await missingPackages(VM_PACKAGES);
  if (missing.length > 0) return `missing Debian packages: ${missing.join(" ")}`;
  return undefined;
}

/** Builds the guest image if it is missing or stale (cached in IMAGE_DIR; ~2 min once). */
export async function ensureGuestImage(timeoutMs = 20 * 60_000): Promise<void> {
  const r = await run("bash", [BUILD_IMAGE], {
    timeoutMs,
    env: { OAKLEY_VM_DIR: IMAGE_DIR },
  });
  if (r.code !== 0) throw new Error(`build-image.sh failed (${r.code}): ${r.stdout}${r.stderr}`);
}

function args(o: ClientVmOptions): string[] {
  const a: string[] = [];
  if (o.serverCmd !== undefined && o.reference)
    throw new Error("serverCmd and reference are exclusive");
  if (o.serverCmd !== undefined) a.push("--server-cmd", o.serverCmd);
  else if (o.reference) a.push("--reference-server");
  else throw new Error("runClientVm needs serverCmd or reference");
  const opt = (flag: string, v: string | number | undefined): void => {
    if (v !== undefined) a.push(flag, String(v));
  };
  opt("--auth", o.auth);
  opt("--psk", o.psk);
  opt("--user", o.user);
  opt("--password", o.password);
  opt("--ike-proposals", o.ikeProposals?.join(","));
  opt("--esp-proposals", o.espProposals?.join(","));
  opt("--timeout", o.timeoutS);
  opt("--ike-timeout", o.ikeTimeoutS);
  opt("--ppp-timeout", o.pppTimeoutS);
  opt("--server-wait", o.serverWaitS);
  opt("--tcp-send-port", o.tcpSendPort);
  opt("--tcp-recv-port", o.tcpRecvPort);
  opt("--tcp-bytes", o.tcpBytes);
  opt("--ref-psk", o.refPsk);
  opt("--ref-user", o.refUser);
  opt("--ref-password", o.refPassword);
  opt("--mem", o.memMb);
  opt("--run-dir", o.runDir);
  if (o.noTcp) a.push("--no-tcp");
  if (o.allowCleartext) a.push("--allow-cleartext");
  return a;
}

/**
 * Runs one client VM against the server and returns the verdict. Never throws for a failed
 * connection (that is a result); throws only for bad options. Wall time under TCG on 2 shared
 * cores: ~45-65 s with a server command, ~80-100 s with the reference VM (plus the one-time
 * image build). The hard limit is the guest budget + server wait + 10 min.
 */
export function runClientVm(o: ClientVmOptions): Promise<ClientVmResult> {
  const argv = args(o);
  const limitMs = ((o.timeoutS ?? 300) + (o.serverWaitS ?? (o.reference ? 300 : 60)) + 600) * 1000;
  return new Promise((resolve) => {
    const child = spawn("bash", [VM_E2E, ...argv], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, OAKLEY_VM_DIR: IMAGE_DIR },
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      const s = d.toString();
      stderr += s;
      if (o.onProgress) {
        partial += s;
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) o.onProgress(l);
      }
    });
    // TERM lets vm-e2e.sh run its teardown trap (VMs, captures, namespaces); KILL is the fallback
    const terminate = (): void => {
      if (child.pid === undefined || child.exitCode !== null) return;
      try {
        process.kill(child.pid, "SIGTERM");
      } catch {
        /* gone */
      }
    };
    const removeHook = onProcessExit(terminate);
    const timer = setTimeout(() => {
      terminate();
      setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            /* gone */
          }
        }
      }, 30_000).unref();
    }, limitMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      removeHook();
      const summaryLine =
        stdout
          .trim()
          .split("\n")
          .filter((l) => l.startsWith("VM-E2E"))
          .pop() ?? "";
      const runDir = / run=(\S+)/.exec(summaryLine)?.[1] ?? o.runDir;
      const readJson = <T>(f: string): T | undefined => {
        if (!runDir) return undefined;
        try {
          return JSON.parse(readFileSync(join(runDir, f), "utf8")) as T;
        } catch {
          return undefined;
        }
      };
      const summary = readJson<{ outside: OutsideCounts }>("summary.json");
      const exitCode = code ?? 1;
      resolve({
        exitCode,
        verdict: exitCode === 0 ? "PASS" : "FAIL",
        summaryLine,
        runDir,
        client: readJson<ClientResultJson>("result.json"),
        outside: summary?.outside,
        log: stderr,
      });
    });
  });
}
