/**
 * `oakley serve` stage "radius": with --radius (or the store's `oakley policy radius` setting)
 * every PPP login is checked by the RADIUS servers — no fallback to local users — and accounting
 * goes through the durable queue beside the store.
 */
import { err, ok, type Result } from "../../base/result.js";
import type { L2tpOverIpsec } from "../../l2tp-ipsec/index.js";
import type { Counters } from "../../obs/counters.js";
import type { LogHub, Logger } from "../../obs/log.js";
import type { Clock, Random } from "../../platform/index.js";
import type { EffectivePolicy } from "../../policy/index.js";
import type { ServeConfig } from "../config.js";
import type { IpsecNode } from "../ipsec-node.js";
import { RadiusService } from "../radius.js";
import { type RadiusSettings, radiusFromStore, radiusServiceOptions } from "../radius-config.js";
import type { StartFailure } from "../fail-closed/index.js";
import { RadiusSessions, stackControl } from "../radius-sessions.js";
import type { StageError } from "./errors.js";
import { once, sleep, type Teardown } from "./teardown.js";

export interface Radius {
  readonly service: RadiusService;
  readonly sessions: RadiusSessions;
  /** Once the stack exists: sessions it can end, and RFC 5176 Disconnect/CoA for them. */
  attach(l2tp: L2tpOverIpsec, node: IpsecNode, clock: Clock): void;
}

/**
 * The RADIUS settings in force: --radius, else the store's (undefined: users from the store).
 * Checked before protected mode: a setting that cannot be used is a configuration mistake,
 * refused before anything is touched on the host.
 */
export function radiusSettings(
  cfg: Pick<ServeConfig, "radius" | "store">,
  eff: EffectivePolicy,
): Result<RadiusSettings | undefined, StageError> {
  // Without --radius, the store's setting (`oakley policy radius …`) decides.
  const storeRadius = eff.settings.radius;
  if (cfg.radius || !storeRadius) return ok(cfg.radius);
  const r = radiusFromStore(storeRadius, cfg.store);
  if (!r.ok) return err({ code: "OAK_E_SERVE_CONFIG", message: r.error });
  return ok(r.value);
}

/**
 * The RADIUS client for `radiusCfg` (from radiusSettings), registered with the teardown. It
 * failing to start (its socket, the DAE listener, the accounting queue) is a start failure:
 * block mode, like the ports.
 */
export async function startRadius(
  radiusCfg: RadiusSettings | undefined,
  cfg: Pick<ServeConfig, "listen">,
  poolCidr: string,
  deps: {
    readonly clock: Clock;
    readonly random: Random;
    readonly logs: LogHub;
    readonly counters: Counters;
  },
  log: Logger,
  teardown: Teardown,
): Promise<Result<Radius | undefined, StartFailure>> {
  if (!radiusCfg) return ok(undefined);
  const radiusLog = deps.logs.logger("radius");
  const started = await RadiusService.start(radiusServiceOptions(radiusCfg, cfg.listen), {
    clock: deps.clock,
    random: deps.random,
    log: radiusLog,
    counters: deps.counters,
  });
  if (!started.ok)
    return err({
      kind: "service",
      code: started.error.code,
      message: `RADIUS cannot start: ${started.error.message}; check --listen and the --radius flags (or 'oakley policy radius'), or remove --radius`,
    });
  const service = started.value;
  const sessions = new RadiusSessions(service, deps.clock, radiusLog, {
    interimIntervalS: radiusCfg.interimIntervalS,
    poolCidr,
    newSessionId: () => Buffer.from(deps.random.bytes(8)).toString("hex"),
  });
  const close = once(() => service.close());
  teardown.add("radius", {
    // Stop records for what is still up; a second for the queue to drain (what is left is
    // sent after the next start: the queue is on disk).
    stop: async () => {
      sessions.close();
      for (let i = 0; i < 10 && service.queued() > 0; i++) await sleep(100);
      await close();
    },
    close,
  });
  log.info(
    `PPP logins are checked by RADIUS: ${radiusCfg.servers.map((x) => `${x.address}:${x.authPort}`).join(", ")}`,
  );
  return ok({
    service,
    sessions,
    attach: (l2tp, node, clock) => {
      sessions.attach(stackControl(l2tp, node, clock));
      service.onDynamicAuthorization((req) => sessions.onDynamicAuthorization(req));
    },
  });
}
