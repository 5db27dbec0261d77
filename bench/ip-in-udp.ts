/**
 * The latency floor for bench:l2tp (not a product part): a bare IP-in-UDP tunnel built from
 * the same platform I/O the product uses (TunDevice, the koffi batched UDP socket, Node's
 * event loop) and nothing else — no crypto, no ESP, no L2TP, no PPP. A ping through it crosses
 * the same user-space hops as a ping through the product tunnel, so the product's added RTT
 * minus this tunnel's added RTT is what Oakley's protocol processing costs; the rest is the
 * runtime waking up.
 *
 *   node --import tsx bench/ip-in-udp.ts --tun NAME --address LOCAL/PEER --bind IP:PORT
 *                                        [--peer IP:PORT] [--route NET/LEN]
 * Without --peer (the server side) it answers whoever sent the last datagram, as NAT-T does.
 * Prints "ready" on stdout when the device is up.
 */
import { TunDevice, createDatagramSocket } from "../src/platform/index.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const need = (name: string): string => {
  const v = opt(name);
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
};
const hostPort = (s: string): [string, number] => {
  const i = s.lastIndexOf(":");
  return [s.slice(0, i), Number(s.slice(i + 1))];
};
const must = <T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T => {
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
};

const [local, peerAddr] = need("address").split("/") as [string, string];
const [bindIp, bindPort] = hostPort(need("bind"));
let peer: [string, number] | undefined = opt("peer") ? hostPort(need("peer")) : undefined;

const tun = must(TunDevice.open({ name: need("tun") }));
must(tun.setAddress({ local, peer: peerAddr }));
must(tun.setMtu(1400));
must(tun.setUp(true));
const route = opt("route");
if (route) {
  const [destination, len] = route.split("/") as [string, string];
  must(tun.addRoute({ destination, prefixLength: Number(len) }));
}
const udp = createDatagramSocket("koffi");
must(await udp.bind(bindIp, bindPort));
udp.onDatagram((data, address, port) => {
  peer = [address, port];
  tun.write(data);
});
tun.onPackets((packets) => {
  if (!peer) return;
  for (const p of packets) udp.send(p, peer[0], peer[1]);
});
const stop = (): void => {
  udp.close();
  tun.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
console.log("ready");
