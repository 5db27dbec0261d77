/**
 * An Oakley ESP endpoint in a network namespace, for test/interop/esp-tunnel*.test.ts and
 * bench/esp-tunnel.ts: src/daemon/esp-driver.ts over real platform ports (koffi UDP 4500 with
 * recvmmsg/sendmmsg, raw ESP, a TUN device) around an EspDataPlane with statically keyed SAs
 * (manual keying: the test hands both ends the same SPIs and keys; IKE is not involved).
 * Driven over JSON lines (../lib/child.ts); spawn with Topology.spawnModule or `spawnEspPeer`.
 *
 * Ops:
 *   start {natt?: {address, port}, rawEsp?: bool, tun: {name, mtu?, address?, routes?},
 *          pathMtu?, mssClamp?, udpOffload?, tunOffload?}  -> {tun}
 *   installPair {mode, suite, spiOut, spiIn, keysOut, keysIn (hex {encryption, integrity}),
 *          local, remote, peer? {address, port} (ESP-in-UDP), natOa? {remote, local},
 *          policy {local[], remote[], protocol?}, followPeer? (default true)}  -> {out, in}
 *   stats -> {driver, udp, tun, sas, cpu {user, system} µs, counters}
 *   close -> closes the driver (TUN removed, sockets closed)
 *
 * followPeer: when an authenticated packet of the inbound SA arrives from a new NAT mapping,
 * point the outbound SA there (what the IKE side does after RFC 3947/3948 checks): the peer
 * behind a MASQUERADE box is found at whatever port the NAT picked.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { resolve } from "node:path";
import {
  type EspEncryption,
  type EspIntegrity,
  type EspSuite,
  keyLengths,
} from "../../../src/crypto/esp/index.js";
import { EspDriver, type MssClampMode, openEspPorts } from "../../../src/daemon/esp-driver.js";
import { compileSelector, EspDataPlane, type EspMode } from "../../../src/esp/index.js";
import { Counters } from "../../../src/obs/counters.js";
import { LogHub } from "../../../src/obs/log.js";
import { type RouteSpec, systemClock } from "../../../src/platform/index.js";
import { asInboundSpi, asOutboundSpi } from "../../../src/wire/esp/esp.js";
import { emit, serveJsonLines } from "../lib/child.js";
import { type Json, type JsonObject, JsonLinesPeer } from "../lib/jsonl.js";

export const ESP_PEER_MODULE = resolve(import.meta.dirname, "oakley-esp-peer.ts");

const str = (v: Json | undefined, what: string): string => {
  if (typeof v !== "string") throw new Error(`${what} must be a string`);
  return v;
};
const num = (v: Json | undefined, what: string): number => {
  if (typeof v !== "number") throw new Error(`${what} must be a number`);
  return v;
};
const obj = (v: Json | undefined, what: string): JsonObject => {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new Error(`${what} must be an object`);
  return v;
};
const strs = (v: Json | undefined): string[] =>
  Array.isArray(v) ? v.map((x) => str(x, "address")) : [];

/** Child side: runs when this file is the process' main module. */
function serve(): void {
  const counters = new Counters();
  const hub = new LogHub(
    { write: (l) => console.error(l) },
    process.env.OAK_ESP_LOG === "debug" ? "debug" : "warn",
  );
  const dp = new EspDataPlane({
    counters,
    logger: hub.logger("esp"),
    random: (b) => {
      randomFillSync(b);
    },
    onEvent: (e) => emit("esp-event", { kind: e.kind, sa: e.sa, spi: e.spi }),
  });
  let driver: EspDriver | undefined;
  let ports: Awaited<ReturnType<typeof openEspPorts>> | undefined;
  const outFor = new Map<number, number>();

  serveJsonLines(
    {
      async start(a) {
        const tun = obj(a.tun, "tun");
        const address = tun.address === undefined ? undefined : obj(tun.address, "tun.address");
        const natt = a.natt === undefined ? undefined : obj(a.natt, "natt");
        const routes: RouteSpec[] = (Array.isArray(tun.routes) ? tun.routes : []).map((r) => {
          const o = obj(r, "route");
          return {
            destination: str(o.destination, "destination"),
            prefixLength: num(o.prefixLength, "prefixLength"),
          };
        });
        ports = await openEspPorts({
          ...(natt
            ? {
                natt: {
                  address: str(natt.address, "natt.address"),
                  port: num(natt.port, "natt.port"),
                },
              }
            : {}),
          ...(a.rawEsp === true ? { rawEsp: true } : {}),
          ...(typeof a.udpOffload === "boolean" ? { udpOffload: a.udpOffload } : {}),
          ...(typeof a.tunOffload === "boolean" ? { tunOffload: a.tunOffload } : {}),
          tun: {
            name: str(tun.name, "tun.name"),
            ...(typeof tun.mtu === "number" ? { mtu: tun.mtu } : {}),
            ...(address
              ? {
                  address: {
                    local: str(address.local, "local"),
                    ...(typeof address.peer === "string" ? { peer: address.peer } : {}),
                    ...(typeof address.prefixLength === "number"
                      ? { prefixLength: address.prefixLength }
                      : {}),
                  },
                }
              : {}),
            routes,
          },
        });
        if (!ports.ok) throw new Error(`${ports.error.code}: ${ports.error.message}`);
        driver = new EspDriver(
          {
            dp,
            clock: systemClock,
            logger: hub.logger("esp"),
            counters,
            ...(typeof a.pathMtu === "number" ? { pathMtu: a.pathMtu } : {}),
            ...(typeof a.mssClamp === "string" ? { mssClamp: a.mssClamp as MssClampMode } : {}),
          },
          ports.value,
        );
        driver.onPeerChanged((sa, from) => {
          const out = outFor.get(sa);
          if (out !== undefined) dp.updatePeer(out, from);
          emit("peer-changed", { sa, address: from.address, port: from.port });
        });
        return { tun: ports.value.tun?.name ?? null };
      },

      installPair(a) {
        const suite = obj(a.suite, "suite");
        const keys = (v: Json | undefined) => {
          const k = obj(v, "keys");
          return {
            encryption: Buffer.from(str(k.encryption, "encryption"), "hex"),
            integrity: Buffer.from(str(k.integrity ?? "", "integrity"), "hex"),
          };
        };
        const peer = a.peer === undefined ? undefined : obj(a.peer, "peer");
        const natOa = a.natOa === undefined ? undefined : obj(a.natOa, "natOa");
        const common = {
          mode: str(a.mode, "mode") as EspMode,
          suite: {
            encryption: str(suite.encryption, "encryption") as EspEncryption,
            integrity: str(suite.integrity, "integrity") as EspIntegrity,
          },
          local: str(a.local, "local"),
          remote: str(a.remote, "remote"),
          replayWindow: 1024,
          ...(peer
            ? {
                encap: {
                  peer: {
                    address: str(peer.address, "peer.address"),
                    port: num(peer.port, "peer.port"),
                  },
                  ...(natOa
                    ? {
                        natOa: {
                          remote: str(natOa.remote, "natOa.remote"),
                          local: str(natOa.local, "natOa.local"),
                        },
                      }
                    : {}),
                },
              }
            : {}),
        };
        const now = systemClock.now();
        const out = dp.installSa(
          {
            ...common,
            spi: asOutboundSpi(num(a.spiOut, "spiOut")),
            direction: "out",
            keys: keys(a.keysOut),
          },
          now,
        );
        if (!out.ok) throw new Error(out.error);
        const inb = dp.installSa(
          {
            ...common,
            spi: asInboundSpi(num(a.spiIn, "spiIn")),
            direction: "in",
            keys: keys(a.keysIn),
          },
          now,
        );
        if (!inb.ok) throw new Error(inb.error);
        if (a.followPeer !== false) outFor.set(inb.sa, out.sa);
        const pol = obj(a.policy, "policy");
        const selector = compileSelector({
          local: strs(pol.local),
          remote: strs(pol.remote),
          ...(typeof pol.protocol === "number" ? { protocol: pol.protocol } : {}),
        });
        if (typeof selector === "string") throw new Error(selector);
        dp.spd.add({ name: `sa-${out.sa}`, selector, action: { kind: "protect", sa: out.sa } });
        return { out: out.sa, in: inb.sa, mss: driver?.mssFor(out.sa) ?? 0 };
      },

      stats() {
        const cpu = process.cpuUsage();
        const ok = ports?.ok ? ports.value : undefined;
        driver?.publish();
        return {
          driver: { ...(driver?.stats() ?? {}) },
          udp: ok?.udp ? { ...ok.udp.stats() } : null,
          raw: ok?.rawEsp ? { ...ok.rawEsp.stats() } : null,
          tun: ok?.tun ? { ...ok.tun.stats() } : null,
          sas: dp.list().map((s) => ({
            id: s.id,
            spi: s.spi,
            direction: s.direction,
            mode: s.mode,
            suite: s.suite,
            backend: s.backend,
            packets: s.stats.packets,
            drops: s.stats.drops,
            peer: s.peer ? `${s.peer.address}:${s.peer.port}` : null,
          })),
          counters: Object.fromEntries(
            Object.entries(counters.snapshot()).map(([k, v]) => [k, Number(v)]),
          ),
          cpu: { user: cpu.user, system: cpu.system },
        };
      },

      close() {
        driver?.close();
        driver = undefined;
        return true;
      },
    },
    () => {
      driver?.close();
      process.exit(0);
    },
  );
  emit("ready", { pid: process.pid });
}

/**
 * Parent side without a Topology (the bench, the strongSwan lab): starts this module in `ns`
 * (`ip netns exec`), optionally with extra node flags such as --cpu-prof.
 */
export function spawnEspPeer(
  ns: string,
  label: string,
  nodeFlags: readonly string[] = [],
): { peer: JsonLinesPeer; child: ChildProcess } {
  const child = spawn(
    "ip",
    ["netns", "exec", ns, process.execPath, ...nodeFlags, "--import", "tsx", ESP_PEER_MODULE],
    {
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
      cwd: resolve(import.meta.dirname, "../../.."),
    },
  );
  return { peer: new JsonLinesPeer(child, label), child };
}

/** Hex keys for one direction of `suite` (as installPair wants them). */
export function randomKeys(suite: EspSuite): { encryption: string; integrity: string } {
  const l = keyLengths(suite);
  const b = (n: number): string => {
    const x = Buffer.alloc(n);
    randomFillSync(x);
    return x.toString("hex");
  };
  return { encryption: b(l.encryption), integrity: b(l.integrity) };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === ESP_PEER_MODULE) serve();
