/**
 * A runnable Oakley IPsec node in tunnel mode (RFC 4301 §4.1 tunnel-mode ESP, negotiated with
 * IKEv1 Main Mode + Quick Mode, RFC 2409 §5, with NAT-T, RFC 3947/3948) for interop tests and
 * benchmarks inside a network namespace: ipsec-node.ts with a TUN device, SPD policies and
 * routes per child SA.
 *
 *   node --import tsx test/peers/tunnel-peer.ts --listen 198.51.100.2 \
 *        --config '<IkeConfigInput JSON>' \
 *        --tunnel '{"tun": {"name": "oakt%d", "mtu": 1400}, "selectors"?: {"local", "remote"}}' \
 *        [--initiate '{"peer": {"address", "port"}, "local"?: "192.0.2.2", "remote"?: "203.0.113.1/32"}'] \
 *        [--log warn|info|debug] [--control]
 *
 * stdout: JSON lines, one per happening: `{"event":"ready", tun, address}`, every IKE event as
 * `{"event": <type>, ...IkeEvent}` (phase1-up, phase2-up, failed, deleted, peer-moved); the
 * installed tunnel policies and routes are in the `stats` answer.
 * stderr: the logs (JSON lines, groups ike/esp).
 * With `--control`, stdin takes requests `{id, op, args}` answered `{id, ok, result|error}`
 * (the test side is test/interop/lib/jsonl.ts): `initiate {peer, local?, remote?}`,
 * `stats` (driver counters, SAs, tunnel policies, routes, CPU), `deleteAll`; the process exits
 * on stdin EOF. Without it, it exits on SIGTERM/SIGINT. Either way it deletes its IKE SAs
 * (Delete notifications to the peers) and closes the TUN before exiting.
 *
 * Leaves out: certificates (PSK from the IKE config only), several TUN devices.
 */
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { type IkeConfigInput, ikeConfig } from "../../src/ike/index.js";
import { Counters } from "../../src/obs/counters.js";
import { LogHub, type LogLevel } from "../../src/obs/log.js";
import { systemClock, systemRandom } from "../../src/platform/index.js";
import type { TunSetup } from "../../src/daemon/esp-driver.js";
import { IpsecNode, type TunnelOptions } from "../../src/daemon/ipsec-node.js";

interface InitiateArgs {
  readonly peer: { readonly address: string; readonly port: number };
  readonly local?: string;
  readonly remote?: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const json = (o: unknown): string =>
  JSON.stringify(o, (_k, v: unknown) => {
    if (typeof v === "bigint") return v.toString();
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString("hex");
    return v;
  });

function print(o: unknown): void {
  process.stdout.write(`${json(o)}\n`);
}

async function main(): Promise<void> {
  const cfg = JSON.parse(arg("--config") ?? "{}") as IkeConfigInput;
  const { tun, ...tunnel } = JSON.parse(
    arg("--tunnel") ?? '{"tun":{"name":"oakt%d"}}',
  ) as TunnelOptions & {
    tun: TunSetup;
  };
  const listen = arg("--listen") ?? cfg.localAddress ?? "0.0.0.0";
  const level = (arg("--log") ?? "warn") as LogLevel;
  const control = process.argv.includes("--control");
  const hub = new LogHub({ write: (l) => process.stderr.write(`${l}\n`) }, level);
  const counters = new Counters();
  const started = await IpsecNode.start({
    listen,
    ike: ikeConfig({ ...(listen === "0.0.0.0" ? {} : { localAddress: listen }), ...cfg }),
    clock: systemClock,
    random: systemRandom,
    ikeLog: hub.logger("ike"),
    espLog: hub.logger("esp"),
    counters,
    tunnel,
    tun,
    onIkeEvent: (e) => print({ ...e, event: e.type }),
  });
  if (!started.ok) {
    print({ event: "start-failed", ...started.error });
    process.exit(1);
  }
  const node = started.value;

  const initiate = (a: InitiateArgs): void => {
    const sel =
      a.local !== undefined && a.remote !== undefined
        ? { local: a.local, remote: a.remote }
        : undefined;
    const e = node.initiateTunnel(a.peer, sel);
    if (e !== undefined) throw new Error(e);
  };

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    node.deleteAll();
    // Let the Delete notifications leave before the sockets close.
    setTimeout(() => {
      node.close();
      process.exit(0);
    }, 100);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  const ops: Record<string, (a: Record<string, unknown>) => unknown> = {
    initiate: (a) => {
      initiate(a as unknown as InitiateArgs);
      return null;
    },
    deleteAll: () => {
      node.deleteAll();
      return null;
    },
    stats: () => {
      node.driver.publish();
      return {
        driver: node.driver.stats(),
        sas: node.dp.list(),
        policies: node.tunnelPolicies(),
        routes: node.tunnelRoutes(),
        tun: node.tun?.name ?? null,
        cpu: process.cpuUsage(),
      };
    },
  };

  print({ event: "ready", tun: node.tun?.name ?? null, address: listen });
  const init = arg("--initiate");
  if (init !== undefined) initiate(JSON.parse(init) as InitiateArgs);

  if (control) {
    const rl = createInterface({ input: process.stdin });
    rl.on("line", (line) => {
      let req: { id?: unknown; op?: unknown; args?: unknown };
      try {
        req = JSON.parse(line) as typeof req;
      } catch {
        process.stderr.write(`tunnel-peer: not JSON: ${line}\n`);
        return;
      }
      const id = req.id ?? null;
      const op = typeof req.op === "string" ? ops[req.op] : undefined;
      if (op === undefined) {
        print({ id, ok: false, error: `unknown op ${String(req.op)}` });
        return;
      }
      try {
        const args =
          typeof req.args === "object" && req.args !== null
            ? (req.args as Record<string, unknown>)
            : {};
        print({ id, ok: true, result: op(args) });
      } catch (e) {
        print({ id, ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    });
    rl.on("close", stop);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`tunnel-peer: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
