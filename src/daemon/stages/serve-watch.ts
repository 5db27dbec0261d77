/**
 * `oakley serve` stage "watch": changes made through `oakley users/policy` (by this process or
 * another) and a changed --crl file are applied while running. User lookups already read the
 * store on every authentication; policy, PSK and settings changes are applied to new exchanges
 * and to the fail-closed rules at once, while established SAs keep what they negotiated until
 * they rekey. The store and the CRL file are looked at every 2 s.
 */
import type { Logger } from "../../obs/log.js";
import { effectivePolicy, type PolicyStore } from "../../policy/index.js";
import type { ServeConfig } from "../config.js";
import { blockSetFromPolicy, type FailClosedGuard } from "../fail-closed/index.js";
import type { FipsState } from "../fips.js";
import type { IpsecNode } from "../ipsec-node.js";
import { ikeConfigFromPolicy } from "../policy-to-ike.js";
import { type CrlSource, fileStamp, type IkeOverrides, readCrlFile } from "./serve-plan.js";
import { once, type Teardown } from "./teardown.js";

/** Settings read while running (the failure explanations ask whether legacy crypto is on). */
export interface LiveSettings {
  allowLegacy: boolean;
}

export function watchStore(
  store: PolicyStore,
  node: IpsecNode,
  cfg: Pick<ServeConfig, "windowsNatFriendly" | "negotiateDh2048" | "fips" | "listen">,
  o: {
    readonly crl: CrlSource;
    readonly fips: FipsState;
    readonly live: LiveSettings;
    readonly guard: FailClosedGuard | undefined;
    readonly ikeOverrides?: IkeOverrides;
  },
  log: Logger,
  teardown: Teardown,
): void {
  const { crl, fips, guard } = o;
  let reapplying = Promise.resolve();
  const reapply = async (): Promise<void> => {
    const next = effectivePolicy(store);
    if (!next.ok) {
      log.error(
        `policy change not applied, the previous policy stays in force: ${next.error.message}`,
      );
      return;
    }
    o.live.allowLegacy = next.value.settings.allowLegacyCrypto;
    node.engine.reconfigure(
      ikeConfigFromPolicy(next.value, {
        windowsNatFriendly: cfg.windowsNatFriendly,
        negotiateDh2048: cfg.negotiateDh2048,
        crls: crl.current,
        ...(o.ikeOverrides ? { overrides: o.ikeOverrides } : {}),
        fips: fips.mode !== "off",
      }),
    );
    if ((next.value.settings.fips ?? "off") !== fips.mode && cfg.fips === undefined)
      log.warn(
        `the store's FIPS setting is now '${next.value.settings.fips ?? "off"}'; FIPS mode stays '${fips.mode}' until the next start`,
      );
    if (guard) {
      const set = blockSetFromPolicy(next.value, { role: "server", listen: cfg.listen });
      const p = set.ok ? await guard.enterProtectedMode(set.value) : set;
      if (!p.ok) log.error(`fail-closed rules not updated: ${p.error.message}`);
    }
    log.info("policy change applied", {
      policies: next.value.policies.map((x) => x.name).join(", "),
    });
  };
  const unsubscribe = store.subscribe((changes) => {
    log.info(
      `store changed: ${changes.map((c) => `${c.op} ${c.kind} ${c.name} (${c.source})`).join(", ")}`,
    );
    if (changes.some((c) => c.kind !== "user")) reapplying = reapplying.then(reapply);
  });
  const crlPath = crl.path;
  let crlStamp = crlPath ? fileStamp(crlPath) : "";
  const pollCrl = (): void => {
    if (!crlPath) return;
    const stamp = fileStamp(crlPath);
    if (stamp === crlStamp) return;
    crlStamp = stamp;
    const r = readCrlFile(crlPath);
    if (!r.ok) {
      log.error(`--crl ${crlPath}: ${r.error}; the previous CRL stays in force`);
      return;
    }
    crl.current = [r.value];
    log.info(`--crl ${crlPath} changed: CRL reloaded`);
    reapplying = reapplying.then(reapply);
  };
  const poll = setInterval(() => {
    store.poll();
    pollCrl();
  }, 2000);
  poll.unref();
  const stop = once(async () => {
    clearInterval(poll);
    unsubscribe();
    await reapplying;
  });
  teardown.add("watch", { stop, close: stop });
}
