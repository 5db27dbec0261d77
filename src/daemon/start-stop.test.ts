/**
 * `oakley serve` / `oakley connect` start-up and shutdown on recording fakes of the host (TUN,
 * UDP 500/4500, nftables), with a real SQLite store: what a failed start leaves open, what block
 * mode records, and the order in which a running daemon lets go of what it opened.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { err, ok, type Result } from "../base/result.js";
import { LogHub, MemorySink } from "../obs/log.js";
import {
  type FirewallError,
  FirewallErrorCode,
  type NftTableState,
} from "../platform/firewall/index.js";
import { NftTable } from "../platform/firewall/index.js";
import {
  type PlatformError,
  PlatformErrorCode,
  type TunPacketsHandler,
} from "../platform/index.js";
import { SeededRandom } from "../platform/random.js";
import { createDefaultStore, DEFAULT_POOL } from "../policy/index.js";
import { SimUdpSocket } from "../../test/fakes/product.js";
import { SimNetwork, Simulator } from "../../test/fakes/sim.js";
import { startClient } from "./client.js";
import { AddressStage, ConnectionOutcome } from "./stages/connect-session.js";
import { Teardown } from "./stages/teardown.js";
import { loadConnectConfig, loadServeConfig } from "./config.js";
import type { StartError } from "./ipsec-node.js";
import { startServer } from "./server.js";
import type { StartHost, StartTun } from "./stages/host.js";

const dir = mkdtempSync(join(tmpdir(), "oak-start-stop-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A host whose TUN, sockets and nft table record what happens to them in `events`. */
class RecordingHost implements StartHost {
  readonly events: string[] = [];
  failTunAddress = false;
  failTunOpen = false;
  /** nftables refuses every install after the first (block mode cannot be entered). */
  failSecondInstall = false;
  portsError: StartError | undefined;
  readonly net = new SimNetwork(new Simulator());

  openTun(o: { name: string }): Result<StartTun, PlatformError> {
    const events = this.events;
    const failAddress = this.failTunAddress;
    if (this.failTunOpen)
      return err({
        code: PlatformErrorCode.PermissionDenied,
        message: "cannot open /dev/net/tun: permission denied; run as root or with CAP_NET_ADMIN",
      });
    events.push(`tun open ${o.name}`);
    let handler: TunPacketsHandler | undefined;
    const done = ok(undefined);
    return ok({
      write: () => true,
      setMtu: () => done,
      setAddress: () =>
        failAddress ? err({ code: PlatformErrorCode.Syscall, message: "address refused" }) : done,
      setUp: () => done,
      addRoute: (r) => {
        events.push(`route ${r.destination}/${r.prefixLength}`);
        return done;
      },
      onPackets: (h) => {
        handler = h;
        void handler;
      },
      close: () => events.push("tun close"),
    });
  }

  async openPorts(o: {
    listen: string;
    ports?: { ike: number; natt: number };
  }): Promise<Result<{ ike: SimUdpSocket; natt: SimUdpSocket }, StartError>> {
    if (this.portsError) return err(this.portsError);
    const host = this.net.host(o.listen === "0.0.0.0" ? "192.0.2.1" : o.listen);
    const events = this.events;
    class Recorded extends SimUdpSocket {
      constructor(private readonly label: string) {
        super(host);
      }
      override close(): void {
        events.push(`${this.label} close`);
        super.close();
      }
    }
    const p = o.ports ?? { ike: 500, natt: 4500 };
    this.events.push("ports open");
    return ok({
      ike: new Recorded(`udp ${p.ike}`).bindNow(p.ike),
      natt: new Recorded(`udp ${p.natt}`).bindNow(p.natt),
    });
  }

  firewall(): NftTable {
    const events = this.events;
    const failSecond = () => this.failSecondInstall;
    return new (class extends NftTable {
      override async inspect(): Promise<Result<NftTableState | null, never>> {
        return ok(null);
      }
      override async install(): Promise<Result<void, FirewallError>> {
        if (failSecond() && events.includes("nft install"))
          return err({
            code: FirewallErrorCode.PermissionDenied,
            message: "nft: Operation not permitted",
          });
        events.push("nft install");
        return ok(undefined);
      }
      override async remove(): Promise<Result<boolean, never>> {
        events.push("nft remove");
        return ok(true);
      }
    })();
  }

  /** Everything opened has been closed again. */
  assertNothingOpen(): void {
    const opened = this.events.filter((e) => e.startsWith("tun open")).length;
    const closed = this.events.filter((e) => e === "tun close").length;
    assert.equal(closed, opened, `TUN devices left open: ${this.events.join(", ")}`);
    if (this.events.includes("ports open")) {
      assert.ok(this.events.includes("udp 500 close"), `UDP 500 left open: ${this.events}`);
      assert.ok(this.events.includes("udp 4500 close"), `UDP 4500 left open: ${this.events}`);
    }
  }
}

function serveConfig(extra: Record<string, unknown> = {}) {
  const d = join(dir, `serve-${++n}`);
  const cfg = loadServeConfig(
    {
      store: join(d, "oakley.db"),
      statusFile: join(d, "status.json"),
      listen: "192.0.2.1",
      tun: "oakstart0",
      controlSocket: "off",
      metricsListen: "off",
      failClosed: true,
      ...extra,
    },
    {},
  );
  assert.ok(cfg.ok, JSON.stringify(cfg));
  return cfg.value;
}

function status(path: string): { mode: string; reason?: string } {
  return JSON.parse(readFileSync(path, "utf8")) as { mode: string; reason?: string };
}

const logs = () => new LogHub(new MemorySink(), "error");

function readStatus(path: string): { mode: string } | undefined {
  try {
    return status(path);
  } catch {
    return undefined;
  }
}

describe("oakley serve: start and stop", () => {
  test("a running server stops in reverse order: sockets, TUN, then the fail-closed rules", async () => {
    const host = new RecordingHost();
    const cfg = serveConfig();
    const r = await startServer(cfg, {
      logs: logs(),
      random: new SeededRandom("start-stop"),
      print: () => {},
      host,
    });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    assert.deepEqual(host.events, ["nft install", "tun open oakstart0", "ports open"]);
    assert.equal(status(cfg.statusFile).mode, "protected");
    await r.value.stop();
    assert.deepEqual(host.events.slice(3), [
      "udp 4500 close",
      "udp 500 close",
      "tun close",
      "nft remove",
    ]);
    assert.equal(status(cfg.statusFile).mode, "stopped");
  });

  test("UDP 500 cannot be bound: the TUN opened before is closed and block mode says why", async () => {
    const host = new RecordingHost();
    host.portsError = { code: "OAK_E_PLATFORM_SOCKET", message: "UDP 500: no such address" };
    const cfg = serveConfig();
    const r = await startServer(cfg, { logs: logs(), print: () => {}, host });
    assert.ok(!r.ok);
    assert.equal(r.error.code, "OAK_E_PLATFORM_SOCKET");
    assert.match(r.error.message, /UDP 500: no such address/);
    host.assertNothingOpen();
    assert.deepEqual(host.events, [
      "nft install",
      "tun open oakstart0",
      "tun close",
      "nft install",
    ]);
    const st = status(cfg.statusFile);
    assert.equal(st.mode, "block");
    assert.match(st.reason ?? "", /UDP 500: no such address/);
  });

  test("the TUN address cannot be set: the device is closed and block mode says why", async () => {
    const host = new RecordingHost();
    host.failTunAddress = true;
    const cfg = serveConfig();
    const r = await startServer(cfg, { logs: logs(), print: () => {}, host });
    assert.ok(!r.ok);
    assert.match(r.error.message, /TUN oakstart0: address refused/);
    host.assertNothingOpen();
    assert.equal(status(cfg.statusFile).mode, "block");
  });

  test("the TUN device cannot be opened: block mode names the device and the fix, like one that cannot be configured", async () => {
    const host = new RecordingHost();
    host.failTunOpen = true;
    const cfg = serveConfig();
    const sink = new MemorySink();
    const r = await startServer(cfg, { logs: new LogHub(sink, "error"), print: () => {}, host });
    assert.ok(!r.ok);
    assert.equal(r.error.code, "OAK_E_PLATFORM_PERMISSION_DENIED");
    assert.match(r.error.message, /tunnel device cannot be created: TUN oakstart0: .*run as root/);
    assert.deepEqual(host.events, ["nft install", "nft install"]);
    const st = status(cfg.statusFile);
    assert.equal(st.mode, "block");
    assert.match(st.reason ?? "", /TUN oakstart0: cannot open \/dev\/net\/tun/);
    assert.ok(
      sink.lines.some((l) => /TUN oakstart0.*\(block mode\)/.test(l)),
      sink.lines.join("\n"),
    );
  });

  test("the store has no address pool: refused before any rule is installed, naming the pool and the fix", async () => {
    const host = new RecordingHost();
    const cfg = serveConfig();
    mkdirSync(join(cfg.store, ".."), { recursive: true });
    const made = createDefaultStore(cfg.store, (k) => new SeededRandom("pool").bytes(k));
    assert.ok(made.ok);
    const { store } = made.value;
    const st = store.settings();
    assert.ok(st.ok && st.value.value);
    const { defaultPool: _d, ...rest } = st.value.value;
    assert.ok(store.setSettings(rest).ok);
    const del = store.pools.delete(DEFAULT_POOL);
    assert.ok(del.ok, JSON.stringify(del));
    store.close();
    const r = await startServer(cfg, { logs: logs(), print: () => {}, host });
    assert.ok(!r.ok);
    assert.equal(r.error.code, "OAK_E_SERVE_CONFIG");
    assert.match(
      r.error.message,
      new RegExp(`no address pool '${DEFAULT_POOL}'.*oakley policy import`),
    );
    assert.deepEqual(host.events, [], "no rules installed, nothing opened");
    assert.notEqual(readStatus(cfg.statusFile)?.mode, "protected");
  });

  test("the store's RADIUS setting cannot be used: refused before any rule is installed, naming the fix", async () => {
    const host = new RecordingHost();
    const cfg = serveConfig();
    mkdirSync(join(cfg.store, ".."), { recursive: true });
    const made = createDefaultStore(cfg.store, (k) => new SeededRandom("radius").bytes(k));
    assert.ok(made.ok);
    const { store } = made.value;
    const st = store.settings();
    assert.ok(st.ok && st.value.value);
    const set = store.setSettings({
      ...st.value.value,
      radius: { servers: ["127.0.0.1"], secretFile: join(dir, "no-such-secret") },
    });
    assert.ok(set.ok, JSON.stringify(set));
    store.close();
    const r = await startServer(cfg, { logs: logs(), print: () => {}, host });
    assert.ok(!r.ok);
    assert.equal(r.error.code, "OAK_E_SERVE_CONFIG");
    assert.match(r.error.message, /RADIUS setting cannot be used.*oakley policy radius/);
    assert.deepEqual(host.events, [], "no rules installed, nothing opened");
    assert.notEqual(readStatus(cfg.statusFile)?.mode, "protected");
  });

  test("RADIUS cannot start (its socket does not bind): block mode says so, the store is closed", async () => {
    const host = new RecordingHost();
    const secret = join(dir, `radius-secret-${++n}`);
    writeFileSync(secret, "radius-test-secret\n", { mode: 0o600 });
    // 203.0.113.77 (documentation) is not on this host: the DAE listener cannot bind.
    const cfg = serveConfig({
      radius: ["127.0.0.1"],
      radiusSecretFile: secret,
      radiusDaeListen: "203.0.113.77:3799",
    });
    const sink = new MemorySink();
    const r = await startServer(cfg, { logs: new LogHub(sink, "error"), print: () => {}, host });
    assert.ok(!r.ok);
    assert.match(r.error.message, /cannot enter protected mode: RADIUS cannot start: .*--radius/);
    assert.deepEqual(host.events, ["nft install", "nft install"]);
    const st = status(cfg.statusFile);
    assert.equal(st.mode, "block");
    assert.match(st.reason ?? "", /RADIUS/);
    assert.ok(
      sink.lines.some((l) => /RADIUS.*\(block mode\)/.test(l)),
      sink.lines.join("\n"),
    );
    // The store was closed by the failed start: another can open it.
    const again = createDefaultStore(cfg.store, (k) => new SeededRandom("x").bytes(k));
    assert.ok(again.ok);
    again.value.store.close();
  });

  test("without fail-closed a failed start still closes what it opened and installs no rules", async () => {
    const host = new RecordingHost();
    host.portsError = { code: "OAK_E_PLATFORM_SOCKET", message: "UDP 500: no such address" };
    const r = await startServer(serveConfig({ failClosed: false }), {
      logs: logs(),
      print: () => {},
      host,
    });
    assert.ok(!r.ok);
    assert.deepEqual(host.events, ["tun open oakstart0", "tun close"]);
  });

  test("a failure after the sockets are open (start-up text not written) closes sockets and TUN", async () => {
    const host = new RecordingHost();
    const cfg = serveConfig();
    await assert.rejects(
      startServer(cfg, {
        logs: logs(),
        print: () => {
          throw new Error("stdout closed");
        },
        host,
      }),
      /stdout closed/,
    );
    host.assertNothingOpen();
  });
});

function connectConfig(extra: Record<string, unknown> = {}) {
  const d = join(dir, `connect-${++n}`);
  const cfg = loadConnectConfig(
    {
      server: "127.0.0.1",
      psk: "start-stop-test-psk-0123456789",
      user: "alice",
      password: "secret",
      statusFile: join(d, "status.json"),
      tun: "oakstartc0",
      route: ["198.51.100.0/24"],
      ...extra,
    },
    {},
  );
  assert.ok(cfg.ok, JSON.stringify(cfg));
  return cfg.value;
}

describe("oakley connect: start and stop", () => {
  test("UDP ports cannot be bound: block mode with the connection's rules, nothing open", async () => {
    const host = new RecordingHost();
    host.portsError = { code: "OAK_E_PLATFORM_SOCKET", message: "UDP 4500: no such address" };
    const cfg = connectConfig();
    const r = await startClient(cfg, { logs: logs(), host, ports: { ike: 10500, natt: 14500 } });
    assert.ok(!r.ok);
    assert.equal(r.error.code, "OAK_E_PLATFORM_SOCKET");
    assert.match(r.error.message, /UDP 4500: no such address/);
    assert.deepEqual(host.events, ["nft install", "nft install"]);
    const st = status(cfg.statusFile);
    assert.equal(st.mode, "block");
  });

  test("UDP ports cannot be bound: the client logs block mode as the server does", async () => {
    const host = new RecordingHost();
    host.portsError = { code: "OAK_E_PLATFORM_SOCKET", message: "UDP 4500: no such address" };
    const sink = new MemorySink();
    const r = await startClient(connectConfig(), {
      logs: new LogHub(sink, "error"),
      host,
      ports: { ike: 10500, natt: 14500 },
    });
    assert.ok(!r.ok);
    assert.ok(
      sink.lines.some((l) => /UDP 4500: no such address.*\(block mode\)/.test(l)),
      sink.lines.join("\n"),
    );
  });

  test("block mode cannot be entered after a ports failure: the client says so and the status does not claim block", async () => {
    const host = new RecordingHost();
    host.portsError = { code: "OAK_E_PLATFORM_SOCKET", message: "UDP 4500: no such address" };
    host.failSecondInstall = true;
    const sink = new MemorySink();
    const cfg = connectConfig();
    const r = await startClient(cfg, {
      logs: new LogHub(sink, "error"),
      host,
      ports: { ike: 10500, natt: 14500 },
    });
    assert.ok(!r.ok);
    assert.match(r.error.message, /UDP 4500: no such address/);
    assert.ok(
      sink.lines.some((l) => /block mode could not be entered: .*Operation not permitted/.test(l)),
      sink.lines.join("\n"),
    );
  });

  test("stop closes the sockets before the rules go; keepBlocked leaves block mode", async () => {
    for (const keepBlocked of [undefined, "reconnecting"]) {
      const host = new RecordingHost();
      const cfg = connectConfig();
      const r = await startClient(cfg, { logs: logs(), host, ports: { ike: 10500, natt: 14500 } });
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
      assert.deepEqual(host.events, ["nft install", "ports open"]);
      await r.value.stop(keepBlocked !== undefined ? { keepBlocked } : {});
      assert.deepEqual(host.events.slice(2), [
        "udp 14500 close",
        "udp 10500 close",
        keepBlocked !== undefined ? "nft install" : "nft remove",
      ]);
      assert.equal(status(cfg.statusFile).mode, keepBlocked !== undefined ? "block" : "stopped");
    }
  });
});

describe("oakley connect: the address stage", () => {
  const path = {
    server: "127.0.0.1",
    local: "127.0.0.1",
    route: { source: "127.0.0.1", device: "lo" },
  };

  test("the TUN opens with the address, routes follow; it closes after the SAs are deleted", async () => {
    const host = new RecordingHost();
    const teardown = new Teardown();
    const outcome = new ConnectionOutcome(
      new LogHub(new MemorySink(), "error").logger("daemon"),
      {},
    );
    const address = new AddressStage(connectConfig(), 1400, path, host, outcome, teardown);
    teardown.add("service", { close: () => void host.events.push("SAs deleted") });
    await address.up("10.0.0.2", "10.0.0.1", []);
    assert.deepEqual(await outcome.ready, { address: "10.0.0.2", peer: "10.0.0.1", dns: [] });
    await teardown.stop();
    assert.deepEqual(host.events, [
      "tun open oakstartc0",
      "route 198.51.100.0/24",
      "SAs deleted",
      "tun close",
    ]);
  });

  test("a TUN that cannot be configured is closed and ends the connection with the reason", async () => {
    const host = new RecordingHost();
    host.failTunAddress = true;
    const ended: string[] = [];
    const outcome = new ConnectionOutcome(new LogHub(new MemorySink(), "error").logger("daemon"), {
      onDown: (e) => ended.push(e.message),
    });
    const address = new AddressStage(connectConfig(), 1400, path, host, outcome, new Teardown());
    await address.up("10.0.0.2", "10.0.0.1", []);
    await assert.rejects(outcome.ready, /TUN oakstartc0: address refused/);
    assert.deepEqual(ended, ["TUN oakstartc0: address refused"]);
    host.assertNothingOpen();
  });
});
