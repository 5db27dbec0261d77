/**
 * Threat model of Oakley's HTTP endpoints — the web monitor (`oakley monitor`) and the
 * Prometheus metrics: a visitor without a token learns nothing; a web page elsewhere cannot
 * read them through DNS rebinding (a name of the attacker's that resolves to 127.0.0.1: the
 * browser then sends the attacker's name as Host); a cross-site form cannot log a browser in;
 * the token is never taken from a URL (it would stay in history, logs and Referer); listening
 * beyond loopback is announced at start.
 *
 * Real servers on loopback sockets: a ControlServer (Unix socket) with a FakeControlTarget whose
 * software string is a marker, the Monitor (fastify) in front of it, raw node:http requests (a
 * browser's fetch cannot forge Host, an attacker's raw client can), and `oakley monitor` as a
 * child process for what it prints.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ControlServer,
  generateToken,
  readTokenFile,
  startMetricsServer,
} from "../../src/control/index.js";
import { FakeControlTarget } from "../../src/control/fake-target.js";
import { Monitor, stateJson } from "../../src/monitor/index.js";
import { LogHub, MemorySink } from "../../src/obs/log.js";

const ROOT = resolve(import.meta.dirname, "../..");
const MARK = "marker-7f3a";
const dir = mkdtempSync(join(tmpdir(), "oak-sec-mon-"));
const sock = join(dir, "control.sock");
const tokensFile = join(dir, "control-tokens");
const good = generateToken("browser");
const other = generateToken("other"); // well-formed, not in the file
let ctl: ControlServer;
let mon: Monitor;
const monLogs = new MemorySink();

before(async () => {
  writeFileSync(tokensFile, `${JSON.stringify(good.record)}\n`, { mode: 0o600 });
  ctl = await ControlServer.start({
    target: new FakeControlTarget({ software: `oakley 0.1.0 ${MARK}` }),
    software: "oakley 0.1.0",
    unix: { path: sock },
  });
  mon = new Monitor({
    daemons: [{ name: "gw", endpoint: { kind: "unix", path: sock } }],
    host: "127.0.0.1",
    port: 0,
    pollMs: 200,
    tokens: () => {
      const t = readTokenFile(tokensFile);
      return t.ok ? t.value : [];
    },
    allowHosts: ["monitor.example.net"],
    logger: new LogHub(monLogs, "debug").logger("ctl"),
  });
  await mon.start();
});

after(async () => {
  await mon?.close();
  await ctl?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request with full control of the headers (Host included). */
function request(
  port: number,
  path: string,
  o: { method?: string; host?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: o.method ?? "GET",
        setHost: false,
        headers: { host: o.host ?? `127.0.0.1:${port}`, ...o.headers },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
          // an event stream never ends: its first event is enough
          if (res.headers["content-type"]?.startsWith("text/event-stream") && body.includes("\n\n"))
            req.destroy();
        });
        const done = () =>
          resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body });
        res.on("end", done);
        res.on("close", done);
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

const get = (path: string, o: Parameters<typeof request>[2] = {}) => request(mon.port, path, o);
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const form = (token: string, origin?: string) => ({
  method: "POST",
  headers: {
    "content-type": "application/x-www-form-urlencoded",
    ...(origin ? { origin } : {}),
  },
  body: new URLSearchParams({ token }).toString(),
});
const cookieOf = (r: Reply) => {
  const c = r.headers["set-cookie"]?.[0] ?? "";
  return { raw: c, pair: c.split(";")[0] ?? "" };
};

describe("the web monitor without a token gives nothing away", () => {
  test("an unauthenticated visitor gets 401 and no daemon data on the page, the state API and the event stream", async () => {
    // the monitor has the daemon's state by now
    for (let i = 0; i < 50 && !stateJson(mon.state()).includes(MARK); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(stateJson(mon.state()).includes(MARK), "precondition: state has the marker");
    for (const path of ["/", "/api/state", "/api/events"]) {
      const r = await get(path);
      assert.equal(r.status, 401, path);
      assert.ok(!r.body.includes(MARK), `${path} leaked daemon data`);
      assert.ok(!r.body.includes("203.0.113"), `${path} leaked SA addresses`);
    }
    const page = await get("/", { headers: { accept: "text/html" } });
    assert.match(page.body, /<form[^>]+method="post"[^>]+action="login"/i, "the login form");
  });

  test("a wrong token is refused as bearer and at the login form, and counts as nothing", async () => {
    for (const t of [other.token, "oak1_guess", `${good.token}x`, ""]) {
      assert.equal((await get("/api/state", { headers: bearer(t) })).status, 401, t);
      const l = await get("/login", form(t));
      assert.equal(l.status, 401, `login with ${t}`);
      assert.equal(l.headers["set-cookie"], undefined, "no session for a wrong token");
    }
    assert.ok(monLogs.records().some((r) => r.msg === "monitor login refused"));
    assert.ok(
      !monLogs.lines.some((l) => l.includes(other.token)),
      "a presented token never lands in the log",
    );
  });

  test("a token in the URL (?token=) is never honoured: URLs end up in history, logs and Referer", async () => {
    const r = await get(`/?token=${good.token}`);
    assert.equal(r.status, 401);
    assert.ok(!r.body.includes(MARK));
    assert.equal(r.headers["set-cookie"], undefined);
  });

  test("a good token as a bearer header is accepted (scripts, curl)", async () => {
    const r = await get("/api/state", { headers: bearer(good.token) });
    assert.equal(r.status, 200);
    assert.ok(r.body.includes(MARK));
    assert.equal(r.headers["cache-control"], "no-store");
  });

  test("browser login: the form sets an HttpOnly SameSite=Strict session cookie (not the token) and redirects; logout ends the session", async () => {
    const l = await get("/login", form(good.token));
    assert.equal(l.status, 303);
    assert.equal(l.headers.location, "./");
    const c = cookieOf(l);
    assert.match(c.raw, /HttpOnly/i);
    assert.match(c.raw, /SameSite=Strict/i);
    assert.match(c.raw, /Path=\//);
    assert.ok(!c.raw.includes(good.token), "the cookie is a session id, not the token");
    const page = await get("/", { headers: { cookie: c.pair } });
    assert.equal(page.status, 200);
    assert.ok(page.body.includes(MARK));
    const ev = await get("/api/events", { headers: { cookie: c.pair } });
    assert.equal(ev.status, 200);
    assert.ok(ev.body.includes(MARK));
    const out = await get("/logout", { method: "POST", headers: { cookie: c.pair } });
    assert.equal(out.status, 303);
    assert.equal((await get("/api/state", { headers: { cookie: c.pair } })).status, 401);
  });

  test("a forged or stale session cookie is refused", async () => {
    const r = await get("/api/state", {
      headers: { cookie: "oakley_monitor_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
    });
    assert.equal(r.status, 401);
  });

  test("removing a token from the token file ends the sessions opened with it", async () => {
    const second = generateToken("laptop");
    writeFileSync(tokensFile, `${JSON.stringify(good.record)}\n${JSON.stringify(second.record)}\n`);
    const c = cookieOf(await get("/login", form(second.token)));
    assert.equal((await get("/api/state", { headers: { cookie: c.pair } })).status, 200);
    writeFileSync(tokensFile, `${JSON.stringify(good.record)}\n`);
    assert.equal((await get("/api/state", { headers: { cookie: c.pair } })).status, 401);
  });

  test("a cross-site form cannot log a browser in (Origin of another site, or null, or Sec-Fetch-Site cross-site is refused)", async () => {
    for (const origin of ["https://attacker.example", `http://127.0.0.1:${mon.port + 1}`, "null"]) {
      const r = await get("/login", form(good.token, origin));
      assert.equal(r.status, 403, origin);
      assert.equal(r.headers["set-cookie"], undefined);
    }
    const f = form(good.token);
    const site = await get("/login", {
      ...f,
      headers: { ...f.headers, "sec-fetch-site": "cross-site" },
    });
    assert.equal(site.status, 403, "Sec-Fetch-Site: cross-site");
    const same = await get("/login", {
      ...f,
      headers: {
        ...f.headers,
        origin: `http://127.0.0.1:${mon.port}`,
        "sec-fetch-site": "same-origin",
      },
    });
    assert.equal(same.status, 303, "the monitor's own form");
  });
});

describe("DNS rebinding: only this server's own names are served", () => {
  test("a request whose Host is an attacker's name is refused with 421 before authentication, even with a good token", async () => {
    for (const host of ["attacker.example", `attacker.example:${mon.port}`, "127.0.0.1.nip.io"]) {
      const r = await get("/api/state", { host, headers: bearer(good.token) });
      assert.equal(r.status, 421, host);
      assert.ok(!r.body.includes(MARK));
    }
    const login = await get("/login", { ...form(good.token), host: "attacker.example" });
    assert.equal(login.status, 421);
    assert.equal(login.headers["set-cookie"], undefined);
    assert.equal((await request(mon.port, "/", { headers: {}, host: "" })).status, 421);
  });

  test("loopback addresses, localhost names and --allow-host names are served", async () => {
    for (const host of [
      `127.0.0.1:${mon.port}`,
      `localhost:${mon.port}`,
      `[::1]:${mon.port}`,
      "monitor.example.net",
      `MONITOR.example.net:${mon.port}`,
    ]) {
      const r = await get("/api/state", { host, headers: bearer(good.token) });
      assert.equal(r.status, 200, host);
    }
  });
});

describe("listening beyond loopback is announced", () => {
  /** Runs `oakley monitor ARGS` until it prints its address (or exits); then stops it. */
  async function runMonitor(
    args: string[],
  ): Promise<{ out: string; err: string; code: number | null }> {
    const child: ChildProcess = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "src", "cli", "main.ts"), "monitor", ...args],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    const t0 = Date.now();
    while (!/Oakley monitor on/.test(out) && child.exitCode === null && Date.now() - t0 < 30_000)
      await new Promise((r) => setTimeout(r, 50));
    if (child.exitCode === null) child.kill("SIGTERM");
    const code = await exited;
    return { out, err, code };
  }

  test("on 0.0.0.0 the monitor warns that it is reachable from the network and that the token crosses it in the clear", async () => {
    const r = await runMonitor([
      "--listen",
      "0.0.0.0:0",
      "--daemon",
      `gw=unix:${join(dir, "nobody.sock")}`,
      "--tokens-file",
      tokensFile,
    ]);
    assert.match(r.out, /Oakley monitor on/, r.err);
    assert.match(r.err, /warning: the monitor listens on 0\.0\.0\.0:\d+, not only on loopback/);
    assert.match(r.err, /the token and what it serves cross the network in the clear/);
  });

  test("on 127.0.0.1 there is no warning", async () => {
    const r = await runMonitor([
      "--listen",
      "127.0.0.1:0",
      "--daemon",
      `gw=unix:${join(dir, "nobody.sock")}`,
      "--tokens-file",
      tokensFile,
    ]);
    assert.match(r.out, /Oakley monitor on/, r.err);
    assert.doesNotMatch(r.err, /warning/);
  });

  test("without any token the monitor does not start, and says how to make one", async () => {
    const r = await runMonitor([
      "--listen",
      "127.0.0.1:0",
      "--daemon",
      `gw=unix:${join(dir, "nobody.sock")}`,
      "--tokens-file",
      join(dir, "missing-tokens"),
    ]);
    assert.doesNotMatch(r.out, /Oakley monitor on/);
    assert.equal(r.code, 2);
    assert.match(r.err, /oakley control token NAME --tokens-file/);
  });
});

describe("the Prometheus metrics endpoint", () => {
  const target = new FakeControlTarget({ software: `oakley 0.1.0 ${MARK}` });

  test("DNS rebinding: without a token file, a scrape with an attacker's Host is refused (421); loopback names are served", async () => {
    const m = await startMetricsServer(target, "127.0.0.1:0");
    try {
      const bad = await request(m.port, "/metrics", { host: "attacker.example" });
      assert.equal(bad.status, 421);
      assert.ok(!bad.body.includes("oakley_up"));
      const ok = await request(m.port, "/metrics", { host: `localhost:${m.port}` });
      assert.equal(ok.status, 200);
      assert.match(ok.body, /oakley_up 1/);
    } finally {
      await m.close();
    }
  });

  test("with a token file, a scrape needs a bearer token (Prometheus authorization.credentials_file): 401 and no data without", async () => {
    const tokens = () => [good.record];
    const m = await startMetricsServer(target, "127.0.0.1:0", undefined, { tokens });
    try {
      const none = await request(m.port, "/metrics");
      assert.equal(none.status, 401);
      assert.ok(!none.body.includes("oakley_"));
      assert.equal(
        (await request(m.port, "/metrics", { headers: bearer(other.token) })).status,
        401,
      );
      const ok = await request(m.port, "/metrics", { headers: bearer(good.token) });
      assert.equal(ok.status, 200);
      assert.match(ok.body, new RegExp(MARK));
    } finally {
      await m.close();
    }
  });

  test("metrics on a non-loopback address without a token file log a warning at start", async () => {
    const sink = new MemorySink();
    const m = await startMetricsServer(target, "0.0.0.0:0", new LogHub(sink, "info").logger("ctl"));
    await m.close();
    const w = sink.records().find((r) => r.level === "warn");
    assert.ok(w, "warned");
    assert.match(String(w.msg), /not only on loopback.*without authentication.*clear/);
  });
});
