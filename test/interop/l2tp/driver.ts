/**
 * Minimal dgram driver for the L2TP engine, run inside a network namespace by
 * test/interop/l2tp-xl2tpd.test.ts (`ip netns exec … node --import tsx driver.ts`). Settings come
 * as JSON in OAK_L2TP_DRIVER; every engine event is printed as one JSON line on stdout.
 *
 *   role "lac": opens a tunnel to peer:1701 from an ephemeral source port, places one call; after
 *               the peer's CDN (xl2tpd's pppd cannot run here) closes the tunnel with StopCCN.
 *   role "lns": listens on local:1701 and answers whatever comes.
 * Exits after `runMs`, or 1.5 s after its tunnel went down.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { performance } from "node:perf_hooks";
import { type L2tpAction, type L2tpInput, createL2tp, handle } from "../../../src/l2tp/index.js";

interface Settings {
  readonly role: "lac" | "lns";
  readonly local: string;
  readonly peer?: string;
  readonly secret?: string;
  readonly runMs: number;
}
const cfg = JSON.parse(process.env.OAK_L2TP_DRIVER ?? "{}") as Settings;
const print = (o: Record<string, unknown>) =>
  process.stdout.write(
    `${JSON.stringify({ t: Math.round(performance.now()), ...o }, (_k, v) => (Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v))}\n`,
  );

let state = createL2tp({
  hostName: `oakley-${cfg.role}`,
  acceptTunnels: cfg.role === "lns",
  ...(cfg.secret ? { secret: Buffer.from(cfg.secret) } : {}),
  random: (n) => randomBytes(n),
  log: {
    debug: () => {},
    info: (msg, f) => print({ log: msg, ...f }),
    warn: (msg, f) => print({ log: msg, level: "warn", ...f }),
    error: (msg, f) => print({ log: msg, level: "error", ...f }),
    child() {
      return this;
    },
  },
});
const sock = dgram.createSocket("udp4");
let timer: NodeJS.Timeout | undefined;
let tunnelId = 0;

function run(input: L2tpInput): L2tpAction[] {
  const step = handle(state, input, performance.now());
  state = step.state;
  for (const a of step.actions) perform(a);
  return step.actions;
}

function perform(a: L2tpAction): void {
  switch (a.kind) {
    case "send": {
      const i = a.binding.lastIndexOf(":");
      const ctl = (a.bytes[0] ?? 0) >= 0x80;
      print({
        send: !ctl ? "data" : a.bytes.length >= 20 ? a.bytes.readUInt16BE(18) : "ZLB",
        to: a.binding,
      });
      sock.send(a.bytes, Number(a.binding.slice(i + 1)), a.binding.slice(0, i));
      return;
    }
    case "armTimer":
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (a.at !== null)
        timer = setTimeout(() => run({ kind: "timer" }), Math.max(0, a.at - performance.now()));
      return;
    case "ppp":
      print({ event: "ppp", frame: a.frame });
      return;
    default:
      print({ event: a.kind, ...a });
      if (a.kind === "sessionDown" && cfg.role === "lac" && a.by === "peer") {
        setTimeout(
          () => run({ kind: "closeTunnel", tunnelId, resultCode: 1, message: "done" }),
          300,
        );
      }
      if (a.kind === "tunnelDown") setTimeout(finish, 1500);
  }
}

function finish(): void {
  print({
    event: "exit",
    counters: Object.fromEntries(
      Object.entries(state.counters.snapshot()).map(([k, v]) => [k, String(v)]),
    ),
  });
  sock.close();
  process.exit(0);
}

sock.on("message", (msg, rinfo) => {
  run({ kind: "datagram", binding: `${rinfo.address}:${rinfo.port}`, bytes: msg });
});
sock.bind(
  cfg.role === "lns" ? { address: cfg.local, port: 1701 } : { address: cfg.local, port: 0 },
  () => {
    print({ event: "listening", port: sock.address().port });
    if (cfg.role === "lac" && cfg.peer) {
      const acts = run({ kind: "openTunnel", binding: `${cfg.peer}:1701` });
      for (const a of acts) if (a.kind === "tunnelOpening") tunnelId = a.tunnelId;
      run({ kind: "placeCall", tunnelId });
    }
  },
);
setTimeout(finish, cfg.runMs);
