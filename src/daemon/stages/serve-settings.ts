/**
 * `oakley serve` stages "store" and "settings": the SQLite store opened (created with generated
 * secrets on the first start), the command line's settings written to it, the effective policy
 * read from it, and FIPS mode decided (the command line's, else the store's).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { err, ok, type Result } from "../../base/result.js";
import type { Logger } from "../../obs/log.js";
import type { Random } from "../../platform/index.js";
import {
  createDefaultStore,
  type EffectivePolicy,
  effectivePolicy,
  type InitialSecrets,
  type PolicyStore,
} from "../../policy/index.js";
import type { ServeConfig } from "../config.js";
import { fromStoreError, type StartFailure } from "../fail-closed/index.js";
import { type FipsState, fipsPolicyProblems, fipsStatusText, startFips } from "../fips.js";
import type { StageError } from "./errors.js";
import { applyFlags } from "./serve-flags.js";
import type { Teardown } from "./teardown.js";

export interface OpenedStore {
  readonly store: PolicyStore;
  /** The secrets generated on the first start (shown once). */
  readonly initial: InitialSecrets | undefined;
}

/** The store, registered with the teardown (closed last of all). */
export function openStore(
  cfg: Pick<ServeConfig, "store" | "allowLegacy" | "allowWeakPsk">,
  random: Random,
  teardown: Teardown,
): Result<OpenedStore, StageError | StartFailure> {
  try {
    mkdirSync(dirname(cfg.store), { recursive: true, mode: 0o700 });
  } catch (e) {
    return err({
      code: "OAK_E_STORE_UNREADABLE",
      message: `cannot create the folder of the store ${cfg.store}: ${(e as NodeJS.ErrnoException).code ?? e}; use --store`,
    });
  }
  const opened = createDefaultStore(cfg.store, (n) => random.bytes(n), {
    allowLegacyCrypto: cfg.allowLegacy,
    allowWeakPsk: cfg.allowWeakPsk,
  });
  if (!opened.ok)
    return err(
      fromStoreError({ ...opened.error, message: `store ${cfg.store}: ${opened.error.message}` }),
    );
  const store = opened.value.store;
  teardown.add("store", { close: () => store.close() });
  return ok({ store, initial: opened.value.initial });
}

export interface Settings {
  readonly eff: EffectivePolicy;
  readonly fips: FipsState;
  /** FIPS mode's warnings (also shown by `oakley status`). */
  readonly fipsWarnings: readonly string[];
}

/**
 * The command line's settings applied to the store, the effective policy, and FIPS mode:
 * `early` is the command line's (loaded before anything else); without it the store's setting
 * decides and its provider is loaded now.
 */
export function loadSettings(
  store: PolicyStore,
  cfg: ServeConfig,
  early: FipsState | undefined,
  random: Random,
  log: Logger,
): Result<Settings, StageError | StartFailure> {
  const applied = applyFlags(store, cfg, random);
  if (!applied.ok) return applied;
  const eff = effectivePolicy(store);
  if (!eff.ok) return err(fromStoreError(eff.error));
  for (const w of eff.value.warnings) log.warn(w);
  const fipsR = early ? ok(early) : startFips(eff.value.settings.fips ?? "off");
  if (!fipsR.ok) return err({ kind: "crypto", ...fipsR.error });
  const fips: FipsState = fipsR.value;
  const fipsWarnings: string[] = [];
  if (fips.mode !== "off") {
    const problems = fipsPolicyProblems(eff.value);
    if (problems.errors.length > 0)
      return err({
        code: "OAK_E_SERVE_CONFIG",
        message: `FIPS mode: ${problems.errors.join("; ")}`,
      });
    const users = store.users.list();
    const noPap = users.ok
      ? users.value.filter((u) => u.value?.enabled && !u.value.protocols.includes("pap"))
      : [];
    if (noPap.length > 0)
      problems.warnings.push(
        `FIPS mode: PPP authenticates with PAP only (MS-CHAPv2 needs MD4 and DES); these users may not use PAP and cannot log in: ${noPap
          .map((u) => u.name)
          .slice(0, 20)
          .join(", ")} (oakley users edit NAME --protocol pap)`,
      );
    fipsWarnings.push(
      ...problems.warnings,
      "FIPS mode: clients must use PAP for PPP (e.g. Windows Add-VpnConnection -AuthenticationMethod Pap, `oakley connect --fips --allow-auth pap`); the connection instructions and `oakley client-config` files name MS-CHAPv2",
    );
    log.info(`FIPS: ${fipsStatusText(fips)}`);
    for (const w of fipsWarnings) log.warn(w);
  }
  return ok({ eff: eff.value, fips, fipsWarnings });
}
