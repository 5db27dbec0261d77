/**
 * A peer process for test/interop/platform*.test.ts and bench/udp.ts, run inside a namespace by
 * Topology.spawnModule and driven over JSON lines (child.ts). It exercises src/platform for real:
 * UDP sockets (both implementations), the raw ESP socket and a TUN device that answers pings.
 */
import { createHash } from "node:crypto";
import {
  type DatagramSocket,
  type PlatformError,
  RawEspSocket,
  TunDevice,
  createDatagramSocket,
} from "../../../../src/platform/index.js";
import { serveJsonLines } from "../child.js";
import { pattern } from "./platform-peer-pattern.js";
import type { Json, JsonObject } from "../jsonl.js";

interface Received {
  len: number;
  sha: string;
  head: string;
  from: string;
  port: number;
  local: string | null;
}

const sockets = new Map<number, DatagramSocket>();
const received = new Map<number, Received[]>();
const errors: string[] = [];
const counts = new Map<number, number>();
let nextSock = 1;
let esp: RawEspSocket | undefined;
const espReceived: { hex: string; source: string; destination: string }[] = [];
let tun: TunDevice | undefined;
const tunSeen: { proto: number; src: string; dst: string; icmpType: number; len: number }[] = [];

const str = (v: Json | undefined, what: string): string => {
  if (typeof v !== "string") throw new Error(`${what} must be a string`);
  return v;
};
const num = (v: Json | undefined, what: string): number => {
  if (typeof v !== "number") throw new Error(`${what} must be a number`);
  return v;
};
const errJson = (e: PlatformError): JsonObject => ({
  code: e.code,
  message: e.message,
  syscall: e.syscall ?? null,
  errnoName: e.errnoName ?? null,
});

function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex").slice(0, 16);
}

function ipStr(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

function checksum(b: Buffer, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) + (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Turns an IPv4 ICMP echo request into the echo reply (RFC 792), or returns undefined. */
function echoReply(p: Buffer): Buffer | undefined {
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 1) return undefined;
  const ihl = (p[0]! & 15) * 4;
  if (p[ihl] !== 8) return undefined;
  const r = Buffer.from(p);
  p.copy(r, 12, 16, 20);
  p.copy(r, 16, 12, 16);
  r[8] = 64;
  r.writeUInt16BE(0, 10);
  r.writeUInt16BE(checksum(r, 0, ihl), 10);
  r[ihl] = 0;
  r.writeUInt16BE(0, ihl + 2);
  r.writeUInt16BE(checksum(r, ihl, r.length), ihl + 2);
  return r;
}

serveJsonLines({
  async udpBind(req) {
    const impl = req.impl === "dgram" ? "dgram" : "koffi";
    const opts: { receiveBuffer?: number } = {};
    if (typeof req.receiveBuffer === "number") opts.receiveBuffer = req.receiveBuffer;
    const s = createDatagramSocket(impl, opts);
    const r = await s.bind(str(req.address, "address"), num(req.port, "port"));
    if (!r.ok) return { ok: false, error: errJson(r.error) };
    const id = nextSock++;
    sockets.set(id, s);
    const list: Received[] = [];
    received.set(id, list);
    const countOnly = req.countOnly === true;
    s.onDatagram((data, from, port, info) => {
      if (countOnly) {
        counts.set(id, (counts.get(id) ?? 0) + 1);
        return;
      }
      list.push({
        len: data.length,
        sha: sha(data),
        head: data.subarray(0, 8).toString("hex"),
        from,
        port,
        local: info.localAddress ?? null,
      });
    });
    s.onError((e) => errors.push(`${e.code}: ${e.message}`));
    return { ok: true, id, port: r.value.port };
  },
  udpSendPattern(req) {
    const s = sockets.get(num(req.id, "id"));
    if (!s) throw new Error("no such socket");
    const count = num(req.count, "count");
    const size = num(req.size, "size");
    const to = str(req.to, "to");
    const port = num(req.port, "port");
    for (let i = 0; i < count; i++) s.send(pattern(i, size), to, port);
    s.flush();
    return { queued: count };
  },
  udpSendHex(req) {
    const s = sockets.get(num(req.id, "id"));
    if (!s) throw new Error("no such socket");
    const list = req.hex;
    if (!Array.isArray(list)) throw new Error("hex must be an array");
    for (const h of list)
      s.send(Buffer.from(str(h, "hex"), "hex"), str(req.to, "to"), num(req.port, "port"));
    return list.length;
  },
  /** Sends `size`-byte datagrams in bursts for `durationMs` (for bench/udp.ts); returns the count. */
  async udpBlast(req) {
    const s = sockets.get(num(req.id, "id"));
    if (!s) throw new Error("no such socket");
    const payload = pattern(1, num(req.size, "size"));
    const to = str(req.to, "to");
    const port = num(req.port, "port");
    const burst = num(req.burst, "burst");
    const end = performance.now() + num(req.durationMs, "durationMs");
    let sent = 0;
    while (performance.now() < end) {
      for (let i = 0; i < burst; i++) s.send(payload, to, port);
      s.flush();
      sent += burst;
      await new Promise<void>((r) => setImmediate(r));
    }
    return { sent, stats: s.stats() as unknown as Json };
  },
  udpCount(req) {
    return counts.get(num(req.id, "id")) ?? 0;
  },
  udpReceived(req) {
    const list = received.get(num(req.id, "id")) ?? [];
    if (req.countOnly === true) return list.length;
    return list as unknown as Json;
  },
  udpStats(req) {
    const s = sockets.get(num(req.id, "id"));
    return (s?.stats() ?? null) as unknown as Json;
  },
  udpClose(req) {
    const id = num(req.id, "id");
    sockets.get(id)?.close();
    sockets.delete(id);
    return true;
  },
  espOpen() {
    const r = RawEspSocket.open({ receiveBuffer: 1 << 22 });
    if (!r.ok) return { ok: false, error: errJson(r.error) };
    esp = r.value;
    esp.onPacket((payload, info) => espReceived.push({ hex: payload.toString("hex"), ...info }));
    esp.onError((e) => errors.push(`${e.code}: ${e.message}`));
    return { ok: true };
  },
  espSend(req) {
    if (!esp) throw new Error("ESP socket not open");
    esp.send(Buffer.from(str(req.hex, "hex"), "hex"), str(req.to, "to"));
    return true;
  },
  espReceived() {
    return espReceived as unknown as Json;
  },
  tunOpen(req) {
    const r = TunDevice.open({ name: str(req.name, "name") });
    if (!r.ok) return { ok: false, error: errJson(r.error) };
    const t = r.value;
    tun = t;
    const steps = [
      t.setAddress({ local: str(req.local, "local"), peer: str(req.peer, "peer") }),
      t.setMtu(num(req.mtu, "mtu")),
      t.setUp(true),
    ];
    if (typeof req.route === "string") {
      const [dst, len] = req.route.split("/");
      steps.push(t.addRoute({ destination: dst ?? "", prefixLength: Number(len) }));
    }
    for (const s of steps) if (!s.ok) return { ok: false, error: errJson(s.error) };
    t.onPackets((packets) => {
      for (const p of packets) {
        const ihl = (p[0]! & 15) * 4;
        tunSeen.push({
          proto: p[9] ?? -1,
          src: ipStr(p, 12),
          dst: ipStr(p, 16),
          icmpType: p[ihl] ?? -1,
          len: p.length,
        });
        const reply = echoReply(p);
        if (reply) t.write(reply);
      }
    });
    t.onError((e) => errors.push(`${e.code}: ${e.message}`));
    return { ok: true, name: t.name };
  },
  tunSeen() {
    return tunSeen as unknown as Json;
  },
  tunStats() {
    return (tun?.stats() ?? null) as unknown as Json;
  },
  async tunCleanupStale(req) {
    const r = await TunDevice.cleanupStale(str(req.name, "name"));
    return r.ok ? { ok: true, removed: r.value } : { ok: false, error: errJson(r.error) };
  },
  tunClose() {
    tun?.close();
    tun = undefined;
    return true;
  },
  errors() {
    return errors;
  },
});
