/**
 * Oakley's user-space ESP data plane — the API the IKE engine and the daemon drive.
 *
 * ```ts
 * const dp = new EspDataPlane({ counters, logger: hub.logger("esp"), random: platform.randomFill,
 *                               onEvent: (e) => ike.onEspEvent(e) });
 *
 * // Quick Mode finished: install both directions (SPIs: ours inbound, the peer's outbound).
 * const inb = dp.installSa({ spi: ourSpi, direction: "in", mode: "transport",
 *   suite: { encryption: "aes128-gcm16", integrity: "none" }, keys: { encryption: keymatIn, integrity: empty },
 *   local: "203.0.113.1", remote: "198.51.100.7",
 *   encap: { peer: { address: "198.51.100.7", port: 4500 }, natOa: { remote: "10.0.0.2", local: "203.0.113.1" } },
 *   lifetimes: { soft: { seconds: 3240, bytes: 4_000_000_000n }, hard: { seconds: 3600 } },
 *   replayWindow: 1024, selector: { protocol: 17, localPort: 1701 } }, now);
 * const outb = dp.installSa({ ...same, spi: peerSpi, direction: "out", keys: keymatOut }, now);
 * dp.spd.add({ name: "l2tp", selector: compileSelector({ protocol: 17, localPort: 1701 }) as Selector,
 *              action: { kind: "protect", sa: outb.sa } });
 *
 * // UDP 4500 receive loop (after classifyNattDatagram(payload) said "esp"):
 * const r = dp.inbound(payload, { address: rinfo.address, port: rinfo.port }, now);
 * if (r.ok) { tun.write(r.packet); if (r.peerChanged) ike.peerMoved(r.sa, rinfo); }   // else: dropped, counted, logged
 *
 * // TUN read loop / L2TP send:
 * const o = dp.outbound(ipPacket, now);            // SPD lookup; or dp.protect(outb.sa, ipPacket, now)
 * if (o.ok && o.action === "send") o.port !== undefined ? udp4500.send(o.data, o.port, o.address)
 *                                                       : rawEsp.send(o.data, o.address);
 * else if (o.ok) tun.sendClear(o.packet);          // BYPASS
 *
 * dp.tick(now);                                    // from a 1 s timer: time lifetimes of idle SAs
 * dp.updatePeer(inb.sa, newMapping);               // NAT mapping changed (after IKE verified it)
 * ```
 *
 * Events (`onEvent`): `soft-expire` (rekey now), `hard-expire` (SA refuses traffic; delete it),
 * `rekey-needed` (sequence numbers close to 2^32), `seq-overflow` (SA refuses to send, never wraps).
 * Inbound drop reasons are `EspDropReason` strings, counted as `esp_rx_drop{reason="…"}`.
 * Returned `data`/`packet` views point into internal buffers unless `out` is passed; use or copy
 * them before the next call of the same method.
 */
export {
  type DataPlaneDeps,
  EspDataPlane,
  type EspDropReason,
  type InboundResult,
  type OutboundResult,
  type SaInfo,
} from "./dataplane.js";
export { REPLAY_DUPLICATE, REPLAY_OK, REPLAY_TOO_OLD, ReplayWindow } from "./replay.js";
export type {
  Endpoint,
  EspDirection,
  EspEvent,
  EspMode,
  LifetimeLimits,
  NatChecksumFix,
  SaDirectionSpi,
  SaSettings,
  SaSpec,
  SaStats,
  UdpEncapSpec,
} from "./sa.js";
export {
  ANY_SELECTOR,
  compileSelector,
  type Policy,
  type PolicyAction,
  type Selector,
  type SelectorSpec,
  Spd,
} from "./spd.js";
