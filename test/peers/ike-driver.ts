/**
 * A thin driver that runs the sans-IO IKE engine (src/ike) on real UDP sockets: UDP 500 and
 * UDP 4500 (RFC 3948 §2: IKE behind the 4-octet non-ESP marker, ESP, 0xFF keepalives, told
 * apart by src/wire/udpencap), one timer re-armed from the engine's `timer` actions, the wall
 * clock as `now`. Child SA actions are handed to `onChildSa` (the daemon installs them into
 * src/esp; the interop test only reports them).
 *
 * Also runnable on its own for interop tests (inside a network namespace):
 *   node --import tsx test/peers/ike-driver.ts --config '<IkeConfigInput JSON>' \
 *        [--listen 198.51.100.2] [--initiate '<InitiateRequest JSON>']
 * prints one JSON line per engine event / child SA action on stdout, exits on SIGTERM.
 *
 * Uses node:dgram directly (src/platform's UDP sockets are not in the tree yet); IPv4 only.
 * Leaves out: the ESP data path (ESP datagrams on 4500 are counted and dropped here).
 */
import { createSocket, type Socket } from "node:dgram";
import { pathToFileURL } from "node:url";
import {
  type IkeAction,
  type IkeConfigInput,
  IkeEngine,
  type IkeEngineDeps,
  ikeConfig,
  type InitiateRequest,
} from "../../src/ike/index.js";
import { LogHub } from "../../src/obs/log.js";
import { buildNattIke, classifyNattDatagram } from "../../src/wire/udpencap/udpencap.js";

export interface IkeDriverOptions {
  readonly engine: IkeEngine;
  /** Address to bind UDP 500 and 4500 on. */
  readonly address: string;
  readonly ports?: { readonly ike: number; readonly natt: number };
  /** Every action after it was performed (events, child SA install/update/remove). */
  readonly onAction?: (a: IkeAction) => void;
  /** ESP datagrams that arrived on UDP 4500 (for a data plane). */
  readonly onEsp?: (esp: Buffer, from: { address: string; port: number }) => void;
  readonly clock?: () => number;
}

export class IkeDriver {
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private readonly clock: () => number;
  espDatagrams = 0;

  private constructor(
    private readonly o: IkeDriverOptions,
    private readonly ike: Socket,
    private readonly natt: Socket,
  ) {
    this.clock = o.clock ?? Date.now;
  }

  static async start(o: IkeDriverOptions): Promise<IkeDriver> {
    const ports = o.ports ?? { ike: 500, natt: 4500 };
    const ike = createSocket({ type: "udp4", reuseAddr: false });
    const natt = createSocket({ type: "udp4", reuseAddr: false });
    const bind = (s: Socket, port: number) =>
      new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.bind(port, o.address, () => {
          s.off("error", reject);
          resolve();
        });
      });
    await bind(ike, ports.ike);
    await bind(natt, ports.natt);
    const d = new IkeDriver(o, ike, natt);
    ike.on("message", (data, rinfo) =>
      d.receive(
        data,
        { address: o.address, port: 500 },
        { address: rinfo.address, port: rinfo.port },
      ),
    );
    natt.on("message", (data, rinfo) => {
      const c = classifyNattDatagram(data);
      if (!c.ok || c.value.kind === "keepalive") return;
      const from = { address: rinfo.address, port: rinfo.port };
      if (c.value.kind === "esp") {
        d.espDatagrams++;
        o.onEsp?.(Buffer.from(c.value.esp), from);
        return;
      }
      d.receive(Buffer.from(c.value.ike), { address: o.address, port: 4500 }, from);
    });
    for (const s of [ike, natt]) s.on("error", () => {});
    return d;
  }

  private receive(
    data: Buffer,
    local: { address: string; port: number },
    remote: { address: string; port: number },
  ): void {
    this.perform(this.o.engine.handleDatagram({ data, local, remote }, this.clock()));
  }

  initiate(req: InitiateRequest): void {
    this.perform(this.o.engine.initiate(req, this.clock()));
  }

  perform(actions: readonly IkeAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case "send":
          if (a.from.port === 4500) this.natt.send(buildNattIke(a.data), a.to.port, a.to.address);
          else this.ike.send(a.data, a.to.port, a.to.address);
          break;
        case "keepalive":
          this.natt.send(Buffer.from([0xff]), a.to.port, a.to.address);
          break;
        case "timer":
          this.arm(a.at);
          break;
        default:
          break;
      }
      this.o.onAction?.(a);
    }
  }

  private arm(at: number): void {
    if (this.timerAt === at && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        this.perform(this.o.engine.handleTimer(this.clock()));
      },
      Math.max(0, at - this.clock()),
    );
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.ike.close();
    this.natt.close();
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(arg("--config") ?? "{}") as IkeConfigInput;
  const address = arg("--listen") ?? cfg.localAddress ?? "0.0.0.0";
  const hub = new LogHub({ write: (l) => process.stderr.write(`${l}\n`) }, "info");
  const deps: IkeEngineDeps = { logger: hub.logger("ike") };
  const engine = new IkeEngine(ikeConfig({ localAddress: address, ...cfg }), deps);
  const print = (o: unknown) =>
    process.stdout.write(
      `${JSON.stringify(o, (_k, v) => (Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v))}\n`,
    );
  const driver = await IkeDriver.start({
    engine,
    address,
    onAction: (a) => {
      if (a.kind === "event") print({ event: a.event });
      else if (a.kind === "install-child-sa") {
        const { inbound, outbound, ...rest } = a.child;
        print({ install: { ...rest, inboundSpi: inbound.spi, outboundSpi: outbound.spi } });
      } else if (a.kind === "remove-child-sa" || a.kind === "update-child-sa-peer")
        print({ [a.kind]: a });
    },
  });
  print({ ready: { address } });
  const init = arg("--initiate");
  if (init) driver.initiate(JSON.parse(init) as InitiateRequest);
  process.on("SIGTERM", () => {
    driver.close();
    process.exit(0);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`ike-driver: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
