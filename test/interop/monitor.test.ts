/**
 * The web monitor in a real browser: Debian's headless Chromium, driven over the DevTools
 * protocol on `--remote-debugging-pipe` (fd 3/4, NUL-separated JSON; no WebSocket client and no
 * npm package needed). Behind the monitor run real ControlServers: one on a Unix socket, one over
 * TLS with a token, one TLS daemon whose token is wrong, and one socket where nothing runs — the
 * page must show SAs of both phases with algorithm names from the registry (never 268435457),
 * NAT-T state, per-SA traffic that updates live, failures by reason, and which daemon is
 * unreachable and why. The browser first meets the login form (401, no data) and logs in with a
 * control token, as an operator does. A screenshot is saved as artifacts/monitor.png.
 *
 * Targets are FakeControlTarget (realistic records): this test covers what real daemons cannot
 * produce on demand — hostile markup in a daemon's answers, a wrong token, failure counters by
 * reason, exact traffic steps. The same page against REAL daemons (oakley serve + oakley connect
 * in namespaces, the monitor reaching them over TLS) is control-netns.test.ts.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { test } from "node:test";
import { ControlServer, generateToken } from "../../src/control/index.js";
import { FakeControlTarget } from "../../src/control/fake-target.js";
import { Monitor, parseDaemonSpec } from "../../src/monitor/index.js";

const ROOT = resolve(import.meta.dirname, "../..");
const chromium = ["chromium", "chromium-browser"].find(
  (c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0,
);

/** A minimal DevTools-protocol client over Chromium's pipe transport. */
class Cdp {
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
      const timer = setTimeout(() => rej(new Error(`CDP ${method}: no answer`)), 20_000);
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

interface PageView {
  live: string;
  daemons: {
    name: string;
    reachable: string | null;
    error: string | null;
    algorithms: string[];
    bytesIn: Record<string, string>;
    failures: string[];
    explained: { address: string; step: string; why: string }[];
    text: string;
  }[];
}

const READ_PAGE = `(() => ({
  live: document.getElementById("live").textContent,
  daemons: [...document.querySelectorAll("section.daemon")].map((s) => ({
    name: s.dataset.daemon,
    reachable: s.dataset.reachable,
    error: s.querySelector(".error") ? s.querySelector(".error").textContent : null,
    algorithms: [...s.querySelectorAll('[data-field="algorithms"]')].map((e) => e.textContent),
    bytesIn: Object.fromEntries([...s.querySelectorAll("table.qm tr[data-sa]")].map((r) => [r.dataset.sa, r.querySelector("[data-bytes-in]").dataset.bytesIn])),
    failures: [...s.querySelectorAll("tr[data-failure]")].map((r) => r.dataset.failure),
    explained: [...s.querySelectorAll("tr[data-recent-failure]")].map((r) => ({ address: r.dataset.recentFailure, step: r.dataset.step, why: r.querySelector('[data-field="explanation"]').textContent })),
    text: s.textContent,
  })),
}))()`;

test("monitor page in headless Chromium: several daemons, names not numbers, live traffic, unreachable ones explained", {
  skip: chromium ? false : "chromium is not installed (Debian package chromium)",
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "oak-ctl-mon-"));
  const cleanup: (() => Promise<void> | void)[] = [
    () => rmSync(dir, { recursive: true, force: true }),
  ];
  let browser: ChildProcess | undefined;
  try {
    // PKI for the TLS daemons
    const ossl = (...a: string[]) =>
      execFileSync("openssl", a, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    ossl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=ctl-ca",
    );
    ossl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "srv.key",
      "-out",
      "srv.csr",
      "-subj",
      "/CN=srv",
    );
    writeFileSync(join(dir, "srv.ext"), "subjectAltName=IP:127.0.0.1\n");
    ossl(
      "x509",
      "-req",
      "-in",
      "srv.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "srv.pem",
      "-days",
      "2",
      "-extfile",
      "srv.ext",
    );
    const key = readFileSync(join(dir, "srv.key"));
    const cert = readFileSync(join(dir, "srv.pem"));
    const good = generateToken("monitor");
    writeFileSync(join(dir, "good.token"), good.token);
    writeFileSync(join(dir, "wrong.token"), generateToken("other").token);

    const a = new FakeControlTarget({ software: "oakley 0.1.0", serverAddress: "203.0.113.10" });
    // gw-b's software string is hostile markup: the page must show it as text, never run it.
    const b = new FakeControlTarget({
      software: 'oakley 0.1.0 <img id="xss" src="x" onerror="document.title=1">',
      serverAddress: "198.51.100.1",
    });
    const sa = await ControlServer.start({
      target: a,
      software: "oakley 0.1.0",
      unix: { path: join(dir, "a.sock") },
    });
    cleanup.push(() => sa.close());
    const sb = await ControlServer.start({
      target: b,
      software: "oakley 0.1.0",
      tls: { host: "127.0.0.1", port: 0, key, cert, tokens: [good.record] },
    });
    cleanup.push(() => sb.close());
    const port = sb.tlsAddress?.port ?? 0;
    const specs = [
      `gw-a=unix:${join(dir, "a.sock")}`,
      `gw-b=tls://127.0.0.1:${port}?token-file=${join(dir, "good.token")}&ca=${join(dir, "ca.pem")}`,
      `gw-badtoken=tls://127.0.0.1:${port}?token-file=${join(dir, "wrong.token")}&ca=${join(dir, "ca.pem")}`,
      `gw-down=unix:${join(dir, "nobody-home.sock")}`,
    ].map((s) => {
      const d = parseDaemonSpec(s);
      if (typeof d === "string") assert.fail(d);
      return d;
    });
    const viewer = generateToken("viewer");
    const mon = new Monitor({
      daemons: specs,
      host: "127.0.0.1",
      port: 0,
      pollMs: 300,
      tokens: () => [viewer.record],
    });
    await mon.start();
    cleanup.push(() => mon.close());

    browser = spawn(
      chromium ?? "chromium",
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${join(dir, "profile")}`,
        "--remote-debugging-pipe",
        "about:blank",
      ],
      { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
    );
    let stderr = "";
    browser.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const cdp = new Cdp(browser.stdio[3] as Writable, browser.stdio[4] as Readable);
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
    await cdp.send("Page.navigate", { url: `http://127.0.0.1:${mon.port}/` }, sessionId);
    const read = async (): Promise<PageView> => {
      const r = await cdp.send<{ result: { value?: PageView } }>(
        "Runtime.evaluate",
        { expression: READ_PAGE, returnByValue: true },
        sessionId,
      );
      if (!r.result.value) throw new Error("page not ready");
      return r.result.value;
    };
    const until = async (what: string, ok: (v: PageView) => boolean): Promise<PageView> => {
      let last: PageView | undefined;
      for (let i = 0; i < 100; i++) {
        try {
          last = await read();
          if (ok(last)) return last;
        } catch {
          // page still loading
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(
        `${what}: page never got there; last view ${JSON.stringify(last)?.slice(0, 2000)}\n${stderr.slice(-2000)}`,
      );
    };

    // Not logged in: the login form and nothing of the daemons. Then log in with the token.
    const gate = async (expression: string) => {
      for (let i = 0; i < 100; i++) {
        const r = await cdp.send<{ result: { value?: boolean } }>(
          "Runtime.evaluate",
          { expression, returnByValue: true },
          sessionId,
        );
        if (r.result.value === true) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.fail(`never true: ${expression}\n${stderr.slice(-2000)}`);
    };
    await gate(
      'document.getElementById("login") !== null && document.querySelectorAll("section.daemon").length === 0 && !document.body.textContent.includes("gw-a")',
    );
    await cdp.send(
      "Runtime.evaluate",
      {
        expression: `document.getElementById("token").value = ${JSON.stringify(viewer.token)}; document.getElementById("login").submit(); true`,
      },
      sessionId,
    );

    const v = await until(
      "four daemons rendered, live",
      (p) => p.daemons.length === 4 && /server-sent events/.test(p.live),
    );
    const by = Object.fromEntries(v.daemons.map((d) => [d.name, d]));
    for (const n of ["gw-a", "gw-b"]) {
      const d = by[n];
      assert.ok(d, n);
      assert.equal(d.reachable, "true", `${n}: ${d.error}`);
      assert.equal(d.algorithms.length, 6, "3 Main Mode + 3 Quick Mode SAs");
      assert.ok(d.algorithms.some((x) => x.includes("MODP-2048 (group 14")));
      assert.ok(d.algorithms.some((x) => x.includes("ESP_AES-GCM_16")));
      assert.ok(!d.text.includes("268435457"), "Windows' raw DH2048 number must never show");
      assert.match(d.text, /UDP-Encapsulated-Transport/);
      assert.match(d.text, /rfc3947, peer behind NAT, port 4500, UDP-encap/);
      assert.match(d.text, /192\.168\.1\.20:500/, "peer address before NAT");
      assert.ok(d.failures.includes("ike_fail:no-proposal-chosen"));
      // Recent failures with their explanations (the daemon's diagnose.failures records).
      const modp = d.explained.find((x) => x.address === "198.51.100.23");
      assert.equal(modp?.step, "phase1");
      assert.match(
        modp?.why ?? "",
        /^offered only MODP-1024 \(group 2\) — typical of Android ≤ 11/,
      );
      assert.ok(
        d.explained.some((x) => x.address === "192.0.2.50" && /pre-shared key differs/.test(x.why)),
      );
      assert.match(d.text, /Windows 8\/10\/11 built-in client/);
    }
    assert.match(by["gw-b"]?.text ?? "", /198\.51\.100\.1:4500/);
    assert.match(by["gw-b"]?.text ?? "", /<img id="xss"/, "hostile text shown as text");
    const xss = await cdp.send<{ result: { value?: boolean } }>(
      "Runtime.evaluate",
      {
        expression:
          'document.getElementById("xss") === null && document.title === "Oakley monitor"',
        returnByValue: true,
      },
      sessionId,
    );
    assert.equal(xss.result.value, true, "daemon-supplied markup must not become DOM");
    assert.equal(by["gw-badtoken"]?.reachable, "false");
    assert.match(by["gw-badtoken"]?.error ?? "", /token not accepted.*OAK_E_CTL_AUTH/);
    assert.equal(by["gw-down"]?.reachable, "false");
    assert.match(by["gw-down"]?.error ?? "", /daemon is not running/);

    // live: traffic on gw-a and an SA deleted on gw-b show up without reloading
    const qm = a.child[0]?.id ?? "";
    const before = BigInt(by["gw-a"]?.bytesIn[qm] ?? "0");
    a.addTraffic(qm, 5_000_000n, 4000n);
    const gone = b.ike[1]?.id ?? "";
    b.deleteSa(gone);
    const v2 = await until("live update", (p) => {
      const ga = p.daemons.find((d) => d.name === "gw-a");
      const gb = p.daemons.find((d) => d.name === "gw-b");
      return (
        BigInt(ga?.bytesIn[qm] ?? "0") === before + 5_000_000n &&
        gb !== undefined &&
        !gb.text.includes(gone)
      );
    });
    assert.match(v2.daemons.find((d) => d.name === "gw-a")?.text ?? "", /5\.8 MiB|5\.9 MiB/);

    // a daemon that goes away is shown as unreachable, with the reason
    await sa.close();
    await until("gw-a unreachable after its daemon stopped", (p) => {
      const ga = p.daemons.find((d) => d.name === "gw-a");
      return ga?.reachable === "false" && /not running|closed the connection/.test(ga.error ?? "");
    });

    const shot = await cdp.send<{ data: string }>(
      "Page.captureScreenshot",
      { format: "png", captureBeyondViewport: true },
      sessionId,
    );
    mkdirSync(join(ROOT, "artifacts"), { recursive: true });
    const png = Buffer.from(shot.data, "base64");
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    writeFileSync(join(ROOT, "artifacts", "monitor.png"), png);
    await cdp.send("Browser.close").catch(() => {});
  } finally {
    const b = browser;
    if (b && b.exitCode === null && b.signalCode === null) {
      const exited = new Promise<void>((res) => b.once("exit", () => res()));
      const t = setTimeout(() => b.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    for (const c of cleanup.reverse()) await c();
  }
});
