/**
 * Threat model of the remote management port (TLS), before authentication: an attacker who can
 * reach the port but holds no token or certificate must not be able to stall it, fill its memory
 * or take every connection slot. Real ControlServers on loopback, real TCP and TLS sockets;
 * certificates from the openssl command (test/helpers/pki.ts). Loopback carries all of
 * 127.0.0.0/8, so 127.0.0.2 plays a second source address.
 *
 * Timeouts are shortened through the server's options; the defaults are a few seconds.
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import {
  ControlClient,
  type ControlEndpoint,
  ControlErrorCode,
  ControlServer,
  type ControlServerOptions,
  generateToken,
} from "../../src/control/index.js";
import { addressGroup } from "../../src/control/server.js";
import { FakeControlTarget } from "../../src/control/fake-target.js";
import { Counters } from "../../src/obs/counters.js";
import { LogHub, MemorySink } from "../../src/obs/log.js";
import { makeTestPki, type TestPki } from "../helpers/pki.js";

let pki: TestPki;
const good = generateToken("ops");

before(() => {
  pki = makeTestPki();
  pki.ca("ca", "control CA");
  pki.add({
    name: "srv",
    subj: "/O=Oakley Test/CN=control",
    issuer: "ca",
    ext: ["subjectAltName=IP:127.0.0.1"],
  });
});
after(() => pki.dispose());

interface Lab {
  server: ControlServer;
  port: number;
  counters: Counters;
  logs: MemorySink;
}

async function startTls(extra: Partial<ControlServerOptions> = {}): Promise<Lab> {
  const counters = new Counters();
  const logs = new MemorySink();
  const server = await ControlServer.start({
    target: new FakeControlTarget(),
    software: "oakley 0.1.0",
    counters,
    logger: new LogHub(logs, "debug").logger("ctl"),
    tls: {
      host: "127.0.0.1",
      port: 0,
      key: pki.get("srv").key,
      cert: pki.get("srv").cert,
      tokens: [good.record],
    },
    ...extra,
  });
  return { server, port: server.tlsAddress?.port ?? 0, counters, logs };
}

const rejects = (lab: Lab, reason: string) => lab.counters.get(`ctl_reject{reason="${reason}"}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** Resolves with the time until the server closed a raw TCP connection (rejects after `ms`). */
/** Resolves with the ms from `t0` (default: now) until the server closes the socket. */
function closedWithin(s: net.Socket, ms: number, t0 = Date.now()): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`the server kept the connection open for ${ms} ms`));
    }, ms);
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      resolve(Date.now() - t0);
    });
  });
}

/** Raw TCP connection that never starts TLS (resolves once connected). */
function tcp(port: number, localAddress = "127.0.0.1"): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1", localAddress });
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

/**
 * TLS from `localAddress`, then a hello with the good token: the first answer line, or
 * "closed" when the server drops the connection without one.
 */
function helloFrom(
  port: number,
  localAddress: string,
): Promise<{ line: string | "closed"; socket: tls.TLSSocket }> {
  return new Promise((resolve) => {
    const s = tls.connect({
      socket: net.connect({ host: "127.0.0.1", port, localAddress }),
      ca: pki.get("ca").cert,
      servername: "",
      checkServerIdentity: (_h, cert) => tls.checkServerIdentity("127.0.0.1", cert),
    });
    let got = "";
    const done = (line: string) => resolve({ line, socket: s });
    s.once("secureConnect", () =>
      s.write(
        `${JSON.stringify({ v: 1, id: 1, method: "hello", params: { min: 1, max: 1, client: "t", token: good.token } })}\n`,
      ),
    );
    s.on("data", (d: Buffer) => {
      got += d.toString();
      const nl = got.indexOf("\n");
      if (nl >= 0) done(got.slice(0, nl));
    });
    s.on("error", () => {});
    s.on("close", () => done(got.includes("\n") ? (got.split("\n")[0] ?? "") : "closed"));
    setTimeout(() => done("closed"), 5000);
  });
}

const tlsEp = (port: number): ControlEndpoint => ({
  kind: "tls",
  host: "127.0.0.1",
  port,
  ca: pki.get("ca").cert,
  token: good.token,
});

describe("an unauthenticated peer cannot stall the TLS control port", () => {
  test("a peer that opens TCP and never starts the TLS handshake is dropped after the handshake timeout, counted and logged", async () => {
    const lab = await startTls({ handshakeTimeoutMs: 300 });
    try {
      // Timed from before the connect: a busy event loop may run the client's connect callback
      // long after the server armed its deadline at accept.
      const t0 = Date.now();
      const s = await tcp(lab.port);
      const took = await closedWithin(s, 3000, t0);
      assert.ok(took >= 250, `dropped after ${took} ms, before the timeout`);
      await until("counted", () => rejects(lab, "handshake_timeout") === 1n);
      assert.equal(rejects(lab, "tls"), 0n, "counted once, as a timeout");
      await until("slot released", () => lab.server.connectionCount === 0);
      assert.ok(
        lab.logs
          .records()
          .some((r) => r.msg === "control connection refused" && r.reason === "handshake_timeout"),
      );
    } finally {
      await lab.server.close();
    }
  });

  test("a peer trickling its ClientHello one byte at a time cannot keep the handshake alive past the deadline", async () => {
    const lab = await startTls({ handshakeTimeoutMs: 600 });
    try {
      const s = await tcp(lab.port);
      // the first bytes of a TLS record header (handshake, TLS 1.0 record version)
      const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]);
      let i = 0;
      const drip = setInterval(() => {
        if (!s.destroyed) s.write(hello.subarray(i % hello.length, (i % hello.length) + 1));
        i++;
      }, 100);
      try {
        const took = await closedWithin(s, 3000);
        assert.ok(took < 2000, `held for ${took} ms`);
      } finally {
        clearInterval(drip);
      }
      await until("counted", () => rejects(lab, "handshake_timeout") === 1n);
    } finally {
      await lab.server.close();
    }
  });

  test("a peer that completes TLS but never sends hello is dropped after the hello timeout", async () => {
    const lab = await startTls({ helloTimeoutMs: 300 });
    try {
      const s = tls.connect({ host: "127.0.0.1", port: lab.port, ca: pki.get("ca").cert });
      let got = "";
      s.on("data", (d: Buffer) => {
        got += d.toString();
      });
      await closedWithin(s, 3000);
      assert.match(got, /OAK_E_CTL_TIMEOUT/);
      assert.equal(rejects(lab, "hello_timeout"), 1n);
    } finally {
      await lab.server.close();
    }
  });
});

describe("an unauthenticated peer cannot make the server buffer large messages", () => {
  test("1 MiB without a newline before hello is cut at 4 KiB: typed error, closed, counted, logged, never buffered", async () => {
    const lab = await startTls();
    try {
      const s = tls.connect({ host: "127.0.0.1", port: lab.port, ca: pki.get("ca").cert });
      let got = "";
      s.on("data", (d: Buffer) => {
        got += d.toString();
      });
      await new Promise<void>((r) => s.once("secureConnect", () => r()));
      s.write(Buffer.alloc(1024 * 1024, 0x7b)); // "{{{{..." — never a complete line
      await closedWithin(s, 3000);
      assert.match(got, /OAK_E_CTL_TOO_LARGE/);
      assert.match(got, /4096 bytes/);
      assert.equal(rejects(lab, "too_large"), 1n);
      const line = lab.logs
        .records()
        .find((r) => r.msg === "control connection refused" && r.reason === "too_large");
      assert.ok(line, "logged");
      // The server stopped at the first chunk past 4 KiB, not after taking in the megabyte.
      assert.ok(
        typeof line.received === "number" && line.received > 4096 && line.received <= 4096 + 65536,
        `received ${String(line.received)} bytes before refusing`,
      );
    } finally {
      await lab.server.close();
    }
  });

  test("after authentication the normal request limit applies (a 10 KiB request is answered)", async () => {
    const lab = await startTls();
    try {
      const c = await ControlClient.connect(tlsEp(lab.port), { timeoutMs: 5000 });
      assert.ok(c.ok, c.ok ? "" : c.error.message);
      const r = await c.value.call("log.set", { group: "x".repeat(10 * 1024), level: "debug" });
      assert.ok(!r.ok && r.error.code === ControlErrorCode.BadParams, "answered, not cut");
      assert.ok((await c.value.status()).ok, "the connection stays open");
      await c.value.close();
    } finally {
      await lab.server.close();
    }
  });
});

describe("connection slots cannot be exhausted", () => {
  test("one source address cannot take every slot: 127.0.0.1 is held to its share and 127.0.0.2 still gets in", async () => {
    const lab = await startTls({ maxConnections: 4, maxConnectionsPerAddress: 2 });
    const held: tls.TLSSocket[] = [];
    try {
      const lines: string[] = [];
      for (let i = 0; i < 5; i++) {
        const h = await helloFrom(lab.port, "127.0.0.1");
        held.push(h.socket);
        lines.push(h.line);
      }
      assert.equal(
        lines.filter((l) => l.includes('"identity":"token:ops"')).length,
        2,
        lines.join("\n"),
      );
      assert.ok(rejects(lab, "per_address") >= 3n);
      const other = await helloFrom(lab.port, "127.0.0.2");
      held.push(other.socket);
      assert.match(other.line, /"identity":"token:ops"/);
      for (const s of held) s.destroy();
      await until("every slot released", () => lab.server.connectionCount === 0);
    } finally {
      for (const s of held) s.destroy();
      await lab.server.close();
    }
  });

  test("half-open TLS handshakes take slots: they count toward the connection cap until they time out", async () => {
    const lab = await startTls({
      maxConnections: 3,
      maxConnectionsPerAddress: 100,
      handshakeTimeoutMs: 1500,
    });
    const half: net.Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) half.push(await tcp(lab.port));
      await until("three slots taken", () => lab.server.connectionCount === 3, 1000).catch(
        () => {},
      );
      const refused = await helloFrom(lab.port, "127.0.0.2");
      refused.socket.destroy();
      assert.equal(refused.line, "closed", "no room while three handshakes are pending");
      assert.ok(rejects(lab, "busy") >= 1n);
      // once the handshake timeout has dropped them, the slots are free again
      await Promise.all(half.map((s) => closedWithin(s, 4000)));
      const ok = await helloFrom(lab.port, "127.0.0.2");
      ok.socket.destroy();
      assert.match(ok.line, /"identity":"token:ops"/);
      await until("every slot released", () => lab.server.connectionCount === 0);
    } finally {
      for (const s of half) s.destroy();
      await lab.server.close();
    }
  });

  test("IPv6 peers are grouped by /64 (one host owns a whole /64), IPv4-mapped by their IPv4 address", () => {
    assert.equal(addressGroup("2001:db8:1:2::1"), addressGroup("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    assert.notEqual(addressGroup("2001:db8:1:2::1"), addressGroup("2001:db8:1:3::1"));
    assert.equal(addressGroup("::ffff:192.0.2.7"), addressGroup("192.0.2.7"));
    assert.notEqual(addressGroup("192.0.2.7"), addressGroup("192.0.2.8"));
  });
});
