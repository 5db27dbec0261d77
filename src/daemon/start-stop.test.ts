/**
 * `oakley serve` / `oakley connect` start-up and shutdown on recording fakes of the host (TUN,
 * UDP 500/4500, nftables), with a real SQLite store: what a failed start leaves open, what block
 * mode records, and the order in which a running daemon lets go of what it opened.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { err, ok, type Result } from "../base/result.js";
import { LogHub, MemorySink } from "../obs/log.js";
import type { NftTableState } from "../platform/firewall/index.js";
import { NftTable } from "../platform/firewall/index.js";
import {
  type PlatformError,
  PlatformErrorCode,
  type TunPacketsHandler,
} from "../platform/index.js";
import { SeededRandom } from "../platform/random.js";
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
  portsError: StartError | undefined;
  readonly net = new SimNetwork(new Simulator());

  openTun(o: { name: string }): Result<StartTun, PlatformError> {
    const events = this.events;
    const failAddress = this.failTunAddress;
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
    return new (class extends NftTable {
      override async inspect(): Promise<Result<NftTableState | null, never>> {
        return ok(null);
      }
      override async install(): Promise<Result<void, never>> {
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
