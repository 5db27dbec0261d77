/**
 * Remote monitoring acceptance with REAL daemons:
 *
 *  - two `oakley serve` daemons in two namespaces, each with TLS management: gw-a accepts a
 *    token made with `oakley control token`, gw-b a client certificate from the test CA (openssl);
 *  - each has one real `oakley connect` client behind a NAT, so there are real Main Mode and
 *    Quick Mode SAs (NAT-T, UDP-encapsulated ESP) carrying L2TP/PPP traffic;
 *  - `oakley monitor` in a third namespace reaches both over veth links and routing only;
 *  - Debian's headless Chromium, in that namespace too, loads the page: both daemons' SAs with
 *    algorithm names from the registry (never a raw number like 268435457), NAT-T state, peers
 *    before/after NAT, per-SA traffic that grows while pings run; then gw-b is stopped and the
 *    page must say it is unreachable and why, while gw-a stays live.
 * Screenshots: artifacts/monitor-real.png (both live) and artifacts/monitor-real-down.png.
 *
 * Topology and helpers: manage-real-lab.ts (gw-a 198.51.100.2, gw-b 198.51.100.66, monitor
 * 198.51.100.130, clients 192.0.2.2 and 192.0.2.66 behind the NAT). The fake-target tests of the
 * page (hostile markup, wrong token shown, failure reasons) stay in monitor.test.ts.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { interopSkipReason, Topology } from "./lib/netns.js";
import {
  type Browser,
  buildLab,
  CHROMIUM,
  CONTROL_PORT,
  connect,
  makePki,
  oakley,
  openBrowser,
  type Proc,
  serve,
  stop,
  watch,
} from "./manage-real-lab.js";

const ROOT = resolve(import.meta.dirname, "../..");
const skip =
  (await interopSkipReason(["ip", "openssl", "ping"], { nat: true })) ??
  (CHROMIUM ? undefined : "chromium is not installed (Debian package chromium)");
const topo = new Topology(import.meta.filename);

interface PageView {
  live: string;
  daemons: {
    name: string;
    reachable: string | null;
    error: string | null;
    algorithms: string[];
    mm: string[];
    qm: { id: string; bytesIn: string; text: string }[];
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
    mm: [...s.querySelectorAll("table.mm tr[data-sa]")].map((r) => r.textContent),
    qm: [...s.querySelectorAll("table.qm tr[data-sa]")].map((r) => ({
      id: r.dataset.sa,
      bytesIn: r.querySelector("[data-bytes-in]").dataset.bytesIn,
      text: r.textContent,
    })),
    text: s.textContent,
  })),
}))()`;

test("oakley monitor in one namespace watches two real daemons over TLS (token, client certificate) in headless Chromium", {
  skip,
  timeout: 600_000,
}, async () => {
  const lab = await buildLab(topo, 2);
  const [a, b] = lab.gws;
  assert.ok(a && b);
  const pki = makePki(topo.dir, [a.addr, b.addr]);
  const procs: Proc[] = [];
  let browser: Browser | undefined;
  try {
    // gw-a's operator makes a token for the monitor; gw-a stores only its hash
    const tokens = join(topo.dir, "gw-a.tokens");
    const made = await oakley(a.ns, ["control", "token", "monitor", "--tokens-file", tokens]);
    assert.equal(made.code, 0, made.stderr);
    const tokenFile = join(topo.dir, "monitor.token");
    writeFileSync(tokenFile, made.stdout, { mode: 0o600 });

    const da = serve(topo, {
      gw: a,
      store: join(topo.dir, "gw-a.db"),
      pki,
      tokens,
      statusFile: join(topo.dir, "gw-a.status.json"),
      socket: join(topo.dir, "gw-a.sock"),
    });
    const db = serve(topo, {
      gw: b,
      store: join(topo.dir, "gw-b.db"),
      pki,
      clientCa: true,
      statusFile: join(topo.dir, "gw-b.status.json"),
      socket: join(topo.dir, "gw-b.sock"),
    });
    procs.push(da, db);
    await Promise.all([
      da.waitFor(/ready: listening/, 90_000),
      db.waitFor(/ready: listening/, 90_000),
    ]);
    const ca = connect(topo, lab.ca, a.addr, "alice", "alice-pass-1");
    const cb = connect(topo, lab.cb, b.addr, "bob", "bob-pass-2");
    procs.push(ca, cb);
    await Promise.all([
      ca.waitFor(/address assigned: 203\.0\.113\.\d+/, 120_000),
      cb.waitFor(/address assigned: 203\.0\.113\.\d+/, 120_000),
    ]);

    // the monitor's own operator makes a token for the browser (the page needs a login)
    const monTokens = join(topo.dir, "monitor.tokens");
    const viewer = await oakley(lab.mon, [
      "control",
      "token",
      "browser",
      "--tokens-file",
      monTokens,
    ]);
    assert.equal(viewer.code, 0, viewer.stderr);

    const mon = watch(
      topo.spawn(lab.mon, [
        process.execPath,
        "--import",
        "tsx",
        join(ROOT, "src", "cli", "main.ts"),
        "monitor",
        "--daemon",
        `gw-a=tls://${a.addr}:${CONTROL_PORT}?token-file=${tokenFile}&ca=${pki.ca}`,
        "--daemon",
        `gw-b=tls://${b.addr}:${CONTROL_PORT}?cert=${pki.monCert}&key=${pki.monKey}&ca=${pki.ca}`,
        "--listen",
        "127.0.0.1:9600",
        "--poll",
        "500",
        "--tokens-file",
        monTokens,
      ]),
      "monitor",
    );
    procs.push(mon);
    await mon.waitFor(
      /^Oakley monitor on http:\/\/127\.0\.0\.1:9600\/ watching gw-a, gw-b$/,
      60_000,
    );

    const br = await openBrowser(lab.mon, join(topo.dir, "profile"), "http://127.0.0.1:9600/");
    browser = br;
    // the login form first (401, no daemon data); then the token, as an operator types it
    for (let i = 0; ; i++) {
      const atLogin = await br
        .evaluate<boolean>(
          'document.getElementById("login") !== null && document.querySelectorAll("section.daemon").length === 0',
        )
        .catch(() => false);
      if (atLogin) break;
      if (i > 100) assert.fail(`no login form\n${br.stderr().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await br.evaluate(
      `document.getElementById("token").value = ${JSON.stringify(viewer.stdout.trim())}; document.getElementById("login").submit(); true`,
    );
    const read = async () => {
      const v = await br.evaluate<PageView>(READ_PAGE);
      if (!v) throw new Error("page not ready");
      return v;
    };
    const until = async (what: string, ok: (v: PageView) => boolean): Promise<PageView> => {
      let last: PageView | undefined;
      for (let i = 0; i < 200; i++) {
        try {
          last = await read();
          if (ok(last)) return last;
        } catch {
          // page still loading
        }
        await new Promise((r) => setTimeout(r, 150));
      }
      assert.fail(
        `${what}: page never got there; last view ${JSON.stringify(last)?.slice(0, 3000)}\n${br.stderr().slice(-2000)}`,
      );
    };
    const by = (v: PageView, n: string) => v.daemons.find((d) => d.name === n);

    const v = await until(
      "both daemons reachable with one Main Mode and one Quick Mode SA each, live",
      (p) =>
        /server-sent events/.test(p.live) &&
        ["gw-a", "gw-b"].every((n) => {
          const d = by(p, n);
          return d?.reachable === "true" && d.mm.length === 1 && d.qm.length === 1;
        }),
    );
    for (const [n, natOutside, client] of [
      ["gw-a", "198.51.100.1", "192.0.2.2"],
      ["gw-b", "198.51.100.65", "192.0.2.66"],
    ] as const) {
      const d = by(v, n);
      assert.ok(d, n);
      const [mmAlg, qmAlg] = d.algorithms;
      assert.match(
        mmAlg ?? "",
        /^AES-CBC-256 \/ SHA2?-?\d* \/ (MODP-2048 \(group 14\)|ECP-\d+ \(group \d+\)) \/ pre-shared key$/,
        `${n} Main Mode algorithms by name`,
      );
      assert.match(qmAlg ?? "", /^ESP_AES-(GCM_16|CBC)-\d+ \/ /, `${n} Quick Mode algorithms`);
      for (const alg of d.algorithms)
        assert.doesNotMatch(alg, /\d{5,}/, `${n}: a raw number in '${alg}'`);
      assert.ok(!d.text.includes("268435457"), "Windows' raw DH2048 number must never show");
      assert.match(d.text, /UDP-Encapsulated-Transport/);
      assert.match(d.text, /rfc3947, peer behind NAT, port 4500, UDP-encap/);
      assert.match(
        d.qm[0]?.text ?? "",
        new RegExp(
          `${natOutside.replaceAll(".", "\\.")}:4500 \\(before NAT ${client.replaceAll(".", "\\.")}\\)`,
        ),
        `${n}: peer after and before NAT`,
      );
      assert.match(d.text, /oakley 0\.1\.0 \(server\), mode protected, policy l2tp-ipsec-server/);
    }

    // live traffic: pings through both tunnels; the page's per-SA byte counters keep growing
    const pinger = (ns: typeof lab.ca) =>
      watch(
        topo.spawn(ns, ["ping", "-c", "60", "-i", "0.2", "-W", "2", "203.0.113.1"]),
        `ping(${ns.short})`,
      );
    const pings = [pinger(lab.ca), pinger(lab.cb)];
    procs.push(...pings);
    const bytesOf = (p: PageView, n: string) => BigInt(by(p, n)?.qm[0]?.bytesIn ?? "0");
    const base = { a: bytesOf(v, "gw-a"), b: bytesOf(v, "gw-b") };
    const v1 = await until(
      "traffic counted on both",
      (p) => bytesOf(p, "gw-a") >= base.a + 500n && bytesOf(p, "gw-b") >= base.b + 500n,
    );
    const mid = { a: bytesOf(v1, "gw-a"), b: bytesOf(v1, "gw-b") };
    await until(
      "traffic keeps growing while the pings run",
      (p) => bytesOf(p, "gw-a") > mid.a + 300n && bytesOf(p, "gw-b") > mid.b + 300n,
    );
    await Promise.all(pings.map((p) => p.waitFor(/packets transmitted/, 60_000)));
    for (const p of pings) {
      const got = Number(/60 packets transmitted, (\d+) received/.exec(p.out.join("\n"))?.[1]);
      assert.ok(got >= 54, `pings through the tunnel answered: ${got} of 60`);
    }

    const saveShot = async (name: string) => {
      const png = await br.screenshot();
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      mkdirSync(join(ROOT, "artifacts"), { recursive: true });
      writeFileSync(join(ROOT, "artifacts", name), png);
    };
    await saveShot("monitor-real.png");

    // gw-b stops: the page says it is unreachable and why; gw-a stays live
    assert.equal(await stop(db), 0, "gw-b stops cleanly on Ctrl-C");
    const down = await until("gw-b unreachable after its daemon stopped", (p) => {
      const gb = by(p, "gw-b");
      return (
        gb?.reachable === "false" && /nothing listens on 198\.51\.100\.66:9501/.test(gb.error ?? "")
      );
    });
    assert.match(
      by(down, "gw-b")?.error ?? "",
      /remote control enabled \(oakley serve --control-listen\) \[OAK_E_CTL_UNAVAILABLE\]/,
      "the reason names the fix",
    );
    assert.match(by(down, "gw-b")?.text ?? "", /UNREACHABLE/);
    const ga = by(down, "gw-a");
    assert.equal(ga?.reachable, "true");
    assert.equal(ga?.qm.length, 1);
    assert.equal(ga?.error, null);
    await saveShot("monitor-real-down.png");
    assert.equal(await cb.exited(), 1, "gw-b's client ends when its server goes away");
  } finally {
    await browser?.close();
    for (const p of procs.reverse()) await stop(p);
  }
});
