/**
 * The timers of an established IKE SA: its lifetime (hard: delete; soft, as initiator: a new
 * Main Mode to replace it), dead peer detection (RFC 3706: R-U-THERE after idle time, declared
 * dead after the configured retries) and NAT-T keepalives (RFC 3948 section 2.2) when we are
 * behind a NAT. All are owned by the SA (`scheduleFor`): deleting it cancels them.
 */
import type { EngineContext } from "./context.js";
import { IkeErrorCode, failure } from "./errors.js";
import { sendRuThere } from "./exchanges/informational.js";
import { startMainMode } from "./exchanges/main-mode.js";
import type { IkeSa } from "./ike-sa.js";
import { endpointKey } from "./types.js";

export interface SaTimerHost extends EngineContext {
  /** IKE SAs being replaced by a new Main Mode (soft lifetime). */
  readonly rekeying: Set<number>;
}

/** Arms the lifetime, DPD and keepalive timers of an SA that has just been established. */
export function armSaTimers(ctx: SaTimerHost, sa: IkeSa): void {
  armLifetime(ctx, sa);
  const d = ctx.config.dpd;
  if (d.delaySeconds > 0 && (sa.vids.dpd || d.probeWithoutVid))
    armDpd(ctx, sa, ctx.now + d.delaySeconds * 1000);
  if (sa.nat.localBehindNat && sa.vids.natt !== "none") armKeepalive(ctx, sa);
}

function armLifetime(ctx: SaTimerHost, sa: IkeSa): void {
  const life = Math.min(
    sa.suite?.lifeSeconds ?? ctx.config.phase1.lifeSeconds,
    ctx.config.phase1.lifeSeconds,
  );
  const hardAt = ctx.now + life * 1000;
  sa.expiresAt = hardAt;
  ctx.scheduleFor(sa, hardAt, () => ctx.deleteIkeSa(sa, "IKE SA lifetime expired", true, false));
  if (sa.role === "initiator") {
    const softAt = ctx.now + Math.floor(life * 1000 * (1 - ctx.config.phase2.rekeyMargin));
    ctx.scheduleFor(sa, softAt, () => {
      if (sa.state !== "ESTABLISHED" || !ctx.config.localAddress) return;
      sa.log.info("IKE SA soft lifetime: starting a new Main Mode");
      ctx.rekeying.add(sa.id);
      startMainMode(
        ctx,
        { address: ctx.config.localAddress, port: 500 },
        { address: sa.peer.address, port: 500 },
      );
    });
  }
}

function armDpd(ctx: EngineContext, sa: IkeSa, at: number): void {
  const d = ctx.config.dpd;
  ctx.scheduleFor(sa, at, () => {
    if (sa.state !== "ESTABLISHED") return;
    const idle = ctx.now - sa.lastHeard;
    if (sa.dpdOutstanding === 0 && idle < d.delaySeconds * 1000) {
      armDpd(ctx, sa, sa.lastHeard + d.delaySeconds * 1000);
      return;
    }
    if (sa.dpdOutstanding >= d.maxRetries) {
      ctx.fail(
        "dpd",
        failure(
          IkeErrorCode.DeadPeer,
          `peer ${endpointKey(sa.peer)} did not answer ${sa.dpdOutstanding} R-U-THERE messages: declared dead`,
        ),
        sa.peer,
        sa,
      );
      return;
    }
    sendRuThere(ctx, sa);
    armDpd(ctx, sa, ctx.now + d.retrySeconds * 1000);
  });
}

function armKeepalive(ctx: EngineContext, sa: IkeSa): void {
  const every = ctx.config.natt.keepaliveSeconds * 1000;
  if (every <= 0) return;
  const tick = (): void => {
    if (sa.state !== "ESTABLISHED") return;
    ctx.action({
      kind: "keepalive",
      from: { address: sa.local.address, port: 4500 },
      to: sa.peer,
    });
    ctx.scheduleFor(sa, ctx.now + every, tick);
  };
  ctx.scheduleFor(sa, ctx.now + every, tick);
}
