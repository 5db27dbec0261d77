/**
 * Stage "signals" of both commands: SIGINT and SIGTERM stop the daemon once, with the same
 * orderly teardown as any stop. They are taken from the start: one that arrives while the
 * daemon is still starting is kept and acted on as soon as `ready()` is called.
 */
export type StopSignal = "SIGINT" | "SIGTERM";

export interface StopSignals {
  /** The daemon is up: a signal kept while starting stops it now. */
  ready(): Promise<void>;
}

export function installStopSignals(
  stop: (sig: StopSignal) => Promise<void>,
  on: (sig: StopSignal, handler: () => void) => void = (sig, h) => void process.on(sig, h),
): StopSignals {
  let started = false;
  let pending: StopSignal | undefined;
  let stopping = false;
  const handle = async (sig: StopSignal): Promise<void> => {
    if (!started) {
      pending = sig;
      return;
    }
    if (stopping) return;
    stopping = true;
    await stop(sig);
  };
  on("SIGINT", () => void handle("SIGINT"));
  on("SIGTERM", () => void handle("SIGTERM"));
  return {
    async ready() {
      started = true;
      if (pending) await handle(pending);
    },
  };
}
