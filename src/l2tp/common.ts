/**
 * What every part of the L2TP engine shares within one `handle` call: the context (state, clock,
 * action list), logging and drop counting, ID allocation, and sending control messages through
 * a tunnel's reliable channel (with AVP hiding when a secret is configured).
 */
import type { Logger } from "../obs/log.js";
import { AvpType, l2tpMessageTypeName } from "../registry/l2tp.js";
import { type L2tpAvp, serializeAvps } from "../wire/l2tp/avp.js";
import { encodeControlMessage } from "../wire/l2tp/control.js";
import { controlHeader, serializeL2tpPacket } from "../wire/l2tp/header.js";
import { type WireSend, enqueue } from "./channel.js";
import type { L2tpTeardown, L2tpAction, Tunnel, L2tpState } from "./types.js";

export interface Ctx {
  readonly st: L2tpState;
  readonly now: number;
  readonly out: L2tpAction[];
  /**
   * Tunnels whose deadlines may have moved during this input: every tunnel that sent or
   * received, was created or whose timer fired (a deadline only moves earlier when something
   * is sent or received). timers.ts `rearm` recomputes only these.
   */
  readonly touched: Set<Tunnel>;
}

export function log(ctx: Ctx, t?: Tunnel): Logger {
  return t ? ctx.st.config.log.child({ tunnel: t.localId, peer: t.binding }) : ctx.st.config.log;
}

export function drop(ctx: Ctx, reason: string, fields: Record<string, unknown> = {}): void {
  ctx.st.counters.incLabeled("l2tp_rx_drop", "reason", reason);
  ctx.st.config.log.debug(`dropped: ${reason}`, fields);
}

export function allocateId(
  random: (n: number) => Buffer,
  inUse: (id: number) => boolean,
): number | null {
  for (let i = 0; i < 16; i++) {
    const id = random(2).readUInt16BE(0);
    if (id !== 0 && !inUse(id)) return id;
  }
  for (let id = 1; id <= 0xffff; id++) if (!inUse(id)) return id;
  return null;
}

export function emitWire(ctx: Ctx, t: Tunnel, sends: readonly WireSend[]): void {
  ctx.touched.add(t);
  for (const s of sends) {
    const bytes = serializeL2tpPacket({
      header: controlHeader(s.tunnelId, s.sessionId, s.ns, s.nr),
      body: s.body,
    });
    ctx.out.push({ kind: "send", binding: t.binding, bytes });
  }
}

function hideOptions(ctx: Ctx) {
  const c = ctx.st.config;
  if (!c.secret || !c.hideAvps) return undefined;
  return {
    secret: c.secret,
    randomVector: c.random(16),
    types: HIDDEN_TYPES,
    // pad the subformat to a multiple of 16 octets so the value length does not show
    padding: (_t: number, len: number) => c.random((16 - ((len + 2) % 16)) % 16),
  };
}

const HIDDEN_TYPES: ReadonlySet<number> = new Set([
  AvpType.AssignedSessionId,
  AvpType.CallSerialNumber,
  AvpType.CallingNumber,
  AvpType.CalledNumber,
  AvpType.SubAddress,
]);

export function sendControl(
  ctx: Ctx,
  t: Tunnel,
  sessionId: number,
  avps: L2tpAvp[],
  headerTunnelId = t.peerId,
): void {
  const body = serializeAvps(encodeControlMessage(avps, hideOptions(ctx)));
  const sends = enqueue(
    t.channel,
    ctx.st.config.channel,
    { tunnelId: headerTunnelId, sessionId, body },
    ctx.now,
  );
  emitWire(ctx, t, sends);
  const mt = avps[0]?.type === AvpType.MessageType ? avps[0].value : -1;
  log(ctx, t).debug(`sent ${l2tpMessageTypeName(mt)}`, { session: sessionId });
}

export const mt = (v: number): L2tpAvp => ({
  type: AvpType.MessageType,
  mandatory: true,
  value: v,
});

export function resultAvp(r: L2tpTeardown): L2tpAvp {
  return {
    type: AvpType.ResultCode,
    mandatory: true,
    resultCode: r.resultCode ?? 0,
    ...(r.errorCode !== undefined || r.message !== undefined
      ? { errorCode: r.errorCode ?? 0 }
      : {}),
    ...(r.message !== undefined ? { errorMessage: Buffer.from(r.message) } : {}),
  };
}
