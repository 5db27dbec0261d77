/**
 * platform/ — the I/O boundary (DESIGN rule 5). Everything that touches time, randomness,
 * sockets or devices is here; engines get these injected by daemon/.
 *
 * Public API:
 *   Time        Clock { now() monotonic ms, wallNow(), alarm(fire) }, systemClock, SystemClock,
 *               TimerSet<T>(clock, onExpire) { set(deadline, item) -> TimerId, cancel, runDue },
 *               FakeClock (tests: advance/advanceTo/runAll)
 *   Randomness  Random { bytes(n) }, systemRandom, randomBytes(n), SeededRandom (tests)
 *   UDP         DatagramSocket { bind, local, send(buf, addr, port, localAddr?), flush,
 *               onDatagram(cb(buf, addr, port, {localAddress})), onError, stats, close }
 *               createDatagramSocket("koffi" | "dgram", options)
 *                 koffi: recvmmsg/sendmmsg batches + IP_PKTINFO (recommended); options gso/gro
 *                 for UDP segmentation/receive offload (datagrams still handled one by one)
 *                 dgram: node:dgram fallback (no local address when bound to 0.0.0.0)
 *   ESP         RawEspSocket.open({localAddress?}) -> { onPacket(cb(payload, {source,
 *               destination})), send(payload, peer, localAddr?), flush, stats, close }
 *   TUN         TunDevice.open({name, offload?}) -> { setAddress, setMtu, setUp, addRoute,
 *               deleteRoute, onPackets(cb(packets[])), write, writeMany, flush, stats, close },
 *               TunDevice.cleanupStale. offload: IFF_VNET_HDR + TSO, segmented on read and
 *               TCP segments merged on write in user space (tun-offload.ts)
 *   Errors      PlatformError { code OAK_E_PLATFORM_*, message, syscall?, errno?, errnoName? }
 *               — open/bind/configure return Result<_, PlatformError>; nothing throws at run time.
 */
export {
  type Alarm,
  type Clock,
  SystemClock,
  systemClock,
  type TimerId,
  TimerSet,
} from "./clock.js";
export { FakeClock } from "./fake-clock.js";
export { type Random, randomBytes, SeededRandom, systemRandom } from "./random.js";
export { type PlatformError, PlatformErrorCode, errnoName } from "./errors.js";
export {
  type DatagramHandler,
  type DatagramInfo,
  type DatagramSocket,
  type DatagramSocketOptions,
  type Endpoint,
  type SocketStats,
  addrInUseMessage,
} from "./udp.js";
export { KoffiDatagramSocket } from "./udp-koffi.js";
export { DgramDatagramSocket } from "./udp-dgram.js";
export {
  type EspPacketHandler,
  type EspPacketInfo,
  RAW_ESP_PERMISSION_MESSAGE,
  type RawEspOptions,
  RawEspSocket,
} from "./esp-raw.js";
export {
  IFNAMSIZ,
  type RouteSpec,
  type TunAddress,
  TunDevice,
  type TunOptions,
  type TunPacketsHandler,
  type TunStats,
} from "./tun.js";

import { DgramDatagramSocket } from "./udp-dgram.js";
import { KoffiDatagramSocket } from "./udp-koffi.js";
import type { DatagramSocket, DatagramSocketOptions } from "./udp.js";

export type DatagramImplementation = "koffi" | "dgram";

export function createDatagramSocket(
  implementation: DatagramImplementation = "koffi",
  options: DatagramSocketOptions = {},
): DatagramSocket {
  return implementation === "koffi"
    ? new KoffiDatagramSocket(options)
    : new DgramDatagramSocket(options);
}
