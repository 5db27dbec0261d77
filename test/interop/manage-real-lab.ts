/**
 * The lab shared by the management tests against REAL Oakley daemons (control-netns.test.ts,
 * manage-real*.test.ts; issue "Policy store, fail-closed block mode, the management tool and the
 * monitor"): network namespaces, a test PKI made with openssl, `oakley serve` with TLS
 * management and Prometheus metrics, `oakley connect` clients behind a NAT, and the `oakley`
 * management commands run as a person runs them (`node --import tsx src/cli/main.ts ...`).
 *
 *   ca 192.0.2.2/26  --in0--\                 /--out0-- gwa 198.51.100.2/26   (oakley serve, TLS 9501, metrics 9500)
 *                            nat (MASQUERADE) ---out1-- gwb 198.51.100.66/26  (only with two gateways)
 *   cb 192.0.2.66/26 --in1--/                 \--m0---- mon 198.51.100.130/26 (oakley monitor, management commands)
 *
 * The clients are NATed (so the SAs are UDP-encapsulated, NAT-T floated to 4500); the monitor's
 * traffic is routed, not NATed. PPP pool 203.0.113.0/24 on each gateway (server PPP address
 * 203.0.113.1). Addresses only from RFC 5737. Namespaces `oakt-<tag>-<pid>-*` (lib/netns.ts),
 * torn down after the file's tests, also on failure.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { Namespace, Topology } from "./lib/netns.js";

export const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
export const PSK = "oak-mgmt-psk-0123456789";
export const CONTROL_PORT = 9501;
export const METRICS_PORT = 9500;

// ------------------------------------------------------------------ processes

export { type Proc, stop, watch } from "./lib/cli-process.js";
import { type Proc, watch } from "./lib/cli-process.js";

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `oakley ARGS` in `ns` to completion (any exit code); `input` goes to its stdin. */
export function oakley(
  ns: Namespace,
  args: readonly string[],
  input?: string,
  timeoutMs = 60_000,
): Promise<CliResult> {
  const child = spawn(
    "ip",
    ["netns", "exec", ns.name, process.execPath, "--import", "tsx", CLI, ...args],
    { cwd: join(import.meta.dirname, "..", ".."), stdio: ["pipe", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.end(input ?? "");
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`oakley ${args.join(" ")}: no exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like oakley() but the command must succeed; returns its standard output. */
export async function oakleyOk(ns: Namespace, args: readonly string[]): Promise<string> {
  const r = await oakley(ns, args);
  if (r.code !== 0) {
    throw new Error(`oakley ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

// ------------------------------------------------------------------ PKI

export interface Pki {
  readonly ca: string;
  readonly srvCert: string;
  readonly srvKey: string;
  readonly monCert: string;
  readonly monKey: string;
  /** A client certificate from a CA the daemons do not trust. */
  readonly strangerCert: string;
  readonly strangerKey: string;
}

/** A test CA (P-256), a daemon certificate for `serverIps`, and client certificates. */
export function makePki(dir: string, serverIps: readonly string[]): Pki {
  const ossl = (...a: string[]) =>
    execFileSync("openssl", a, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  for (const ca of ["ca", "stranger-ca"]) {
    ossl(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=oak-mgmt-${ca}`,
    );
  }
  const leaf = (n: string, ca: string, ext: string) => {
    ossl("req", ...ec, "-keyout", `${n}.key`, "-out", `${n}.csr`, "-subj", `/CN=${n}`);
    writeFileSync(join(dir, `${n}.ext`), ext);
    ossl(
      "x509",
      "-req",
      "-in",
      `${n}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${n}.pem`,
      "-days",
      "2",
      "-extfile",
      `${n}.ext`,
    );
  };
  leaf(
    "srv",
    "ca",
    `subjectAltName=${serverIps.map((ip) => `IP:${ip}`).join(",")}\nextendedKeyUsage=serverAuth\n`,
  );
  leaf("mon", "ca", "extendedKeyUsage=clientAuth\n");
  leaf("stranger", "stranger-ca", "extendedKeyUsage=clientAuth\n");
  const f = (n: string) => join(dir, n);
  return {
    ca: f("ca.pem"),
    srvCert: f("srv.pem"),
    srvKey: f("srv.key"),
    monCert: f("mon.pem"),
    monKey: f("mon.key"),
    strangerCert: f("stranger.pem"),
    strangerKey: f("stranger.key"),
  };
}

// ------------------------------------------------------------------ topology

export interface Gateway {
  readonly name: "gw-a" | "gw-b";
  readonly ns: Namespace;
  readonly addr: string;
}

export interface Lab {
  readonly ca: Namespace;
  readonly cb: Namespace;
  readonly nat: Namespace;
  readonly mon: Namespace;
  readonly gws: Gateway[];
}

/** Builds the topology above with one (gw-a) or two (gw-a, gw-b) gateways. */
export async function buildLab(topo: Topology, gateways: 1 | 2): Promise<Lab> {
  const ca = await topo.namespace("ca");
  const cb = await topo.namespace("cb");
  const nat = await topo.namespace("nat");
  const mon = await topo.namespace("mon");
  await topo.link(ca, "eth0", nat, "in0");
  await topo.link(cb, "eth0", nat, "in1");
  await topo.address(ca, "eth0", "192.0.2.2/26");
  await topo.address(nat, "in0", "192.0.2.1/26");
  await topo.address(cb, "eth0", "192.0.2.66/26");
  await topo.address(nat, "in1", "192.0.2.65/26");
  await topo.route(ca, "default", { gateway: "192.0.2.1" });
  await topo.route(cb, "default", { gateway: "192.0.2.65" });
  await topo.link(nat, "m0", mon, "eth0");
  await topo.address(nat, "m0", "198.51.100.129/26");
  await topo.address(mon, "eth0", "198.51.100.130/26");
  await topo.route(mon, "default", { gateway: "198.51.100.129" });
  const gws: Gateway[] = [];
  const plan = [
    { name: "gw-a", short: "gwa", out: "out0", natAddr: "198.51.100.1", addr: "198.51.100.2" },
    { name: "gw-b", short: "gwb", out: "out1", natAddr: "198.51.100.65", addr: "198.51.100.66" },
  ] as const;
  for (const p of plan.slice(0, gateways)) {
    const ns = await topo.namespace(p.short);
    await topo.link(nat, p.out, ns, "eth0");
    await topo.address(nat, p.out, `${p.natAddr}/26`);
    await topo.address(ns, "eth0", `${p.addr}/26`);
    await topo.route(ns, "default", { gateway: p.natAddr });
    await topo.masquerade(nat, p.out, "192.0.2.0/25");
    gws.push({ name: p.name, ns, addr: p.addr });
  }
  return { ca, cb, nat, mon, gws };
}

// ------------------------------------------------------------------ daemons and clients

export interface ServeOptions {
  readonly gw: Gateway;
  readonly store: string;
  readonly pki: Pki;
  /** Token file (`oakley control token --tokens-file`) and/or client-certificate CA. */
  readonly tokens?: string;
  readonly clientCa?: boolean;
  readonly statusFile: string;
  readonly socket: string;
  readonly extra?: readonly string[];
}

/** `oakley serve` with TLS management on CONTROL_PORT and metrics on METRICS_PORT; JSON logs. */
export function serve(topo: Topology, o: ServeOptions): Proc {
  return watch(
    topo.spawn(o.gw.ns, [
      process.execPath,
      "--import",
      "tsx",
      CLI,
      "serve",
      "--store",
      o.store,
      "--listen",
      o.gw.addr,
      "--psk",
      PSK,
      "--user",
      "alice:alice-pass-1",
      "--user",
      "bob:bob-pass-2",
      "--pool",
      "203.0.113.0/24",
      "--status-file",
      o.statusFile,
      "--control-socket",
      o.socket,
      "--control-listen",
      `${o.gw.addr}:${CONTROL_PORT}`,
      "--control-cert",
      o.pki.srvCert,
      "--control-key",
      o.pki.srvKey,
      ...(o.clientCa ? ["--control-ca", o.pki.ca] : []),
      ...(o.tokens ? ["--control-tokens", o.tokens] : []),
      "--metrics-listen",
      `${o.gw.addr}:${METRICS_PORT}`,
      "--log-format",
      "json",
      ...(o.extra ?? []),
    ]),
    `serve(${o.gw.name})`,
  );
}

/** `oakley connect SERVER` as `user`; text logs. */
export function connect(
  topo: Topology,
  ns: Namespace,
  server: string,
  user: string,
  password: string,
): Proc {
  return watch(
    topo.spawn(ns, [
      process.execPath,
      "--import",
      "tsx",
      CLI,
      "connect",
      server,
      "--psk",
      PSK,
      "--user",
      user,
      "--password",
      password,
      "--log-format",
      "text",
    ]),
    `connect(${ns.short},${user})`,
  );
}

/** A JSON log line of the daemon, or undefined for other output. */
export function logRecord(
  line: string,
): { level: string; group: string; msg: string; [k: string]: unknown } | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const r = JSON.parse(line) as { level?: unknown; group?: unknown; msg?: unknown };
    return typeof r.level === "string" && typeof r.group === "string" && typeof r.msg === "string"
      ? (r as { level: string; group: string; msg: string })
      : undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ a real browser

/** A minimal DevTools-protocol client over Chromium's pipe transport (fd 3/4, NUL-separated). */
export class Cdp {
  private next = 1;
  private buf = "";
  private readonly waiting = new Map<
    number,
    (m: { result?: unknown; error?: { message: string } }) => void
  >();
  constructor(
    private readonly tx: Writable,
    rx: Readable,
  ) {
    rx.on("data", (d: Buffer) => {
      this.buf += d.toString("utf8");
      for (let i = this.buf.indexOf("\0"); i >= 0; i = this.buf.indexOf("\0")) {
        const msg = JSON.parse(this.buf.slice(0, i)) as {
          id?: number;
          result?: unknown;
          error?: { message: string };
        };
        this.buf = this.buf.slice(i + 1);
        if (msg.id !== undefined) this.waiting.get(msg.id)?.(msg);
      }
    });
  }
  send<T>(method: string, params: object = {}, sessionId?: string): Promise<T> {
    const id = this.next++;
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`CDP ${method}: no answer`)), 30_000);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (m.error) rej(new Error(`CDP ${method}: ${m.error.message}`));
        else res(m.result as T);
      });
      this.tx.write(
        `${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`,
      );
    });
  }
}

export const CHROMIUM = ["chromium", "chromium-browser"].find(
  (c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0,
);

export interface Browser {
  readonly cdp: Cdp;
  readonly sessionId: string;
  readonly stderr: () => string;
  /** Evaluates `expression` in the page and returns its value. */
  evaluate<T>(expression: string): Promise<T | undefined>;
  /** A PNG of the whole page. */
  screenshot(): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Debian's headless Chromium inside `ns` (so it reaches what listens there), driven over
 * --remote-debugging-pipe; one page opened at `url`, viewport 1600x1200.
 */
export async function openBrowser(
  ns: Namespace,
  profileDir: string,
  url: string,
): Promise<Browser> {
  const proc = spawn(
    "ip",
    [
      "netns",
      "exec",
      ns.name,
      CHROMIUM ?? "chromium",
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profileDir}`,
      "--remote-debugging-pipe",
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const cdp = new Cdp(proc.stdio[3] as Writable, proc.stdio[4] as Readable);
  const { targetId } = await cdp.send<{ targetId: string }>("Target.createTarget", {
    url: "about:blank",
  });
  const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", {
    targetId,
    flatten: true,
  });
  await cdp.send(
    "Emulation.setDeviceMetricsOverride",
    { width: 1600, height: 1200, deviceScaleFactor: 1, mobile: false },
    sessionId,
  );
  await cdp.send("Page.navigate", { url }, sessionId);
  return {
    cdp,
    sessionId,
    stderr: () => stderr,
    async evaluate<T>(expression: string) {
      const r = await cdp.send<{ result: { value?: T } }>(
        "Runtime.evaluate",
        { expression, returnByValue: true },
        sessionId,
      );
      return r.result.value;
    },
    async screenshot() {
      const shot = await cdp.send<{ data: string }>(
        "Page.captureScreenshot",
        { format: "png", captureBeyondViewport: true },
        sessionId,
      );
      return Buffer.from(shot.data, "base64");
    },
    async close() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((res) => proc.once("exit", () => res()));
      await cdp.send("Browser.close").catch(() => {});
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
