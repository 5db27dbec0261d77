/**
 * What start-up has opened so far, newest last, and how to let go of it.
 *
 * Each stage registers a Stopper as soon as it holds something. Stopping runs two passes, both
 * newest first:
 *   stop   an orderly stop while everything still exists: refuse new work, tell the peers
 *          (PPP Terminate, CDN, StopCCN leave inside ESP), drain queues;
 *   close  release: delete SAs, close sockets, remove the TUN, close the store.
 * A start that fails (or throws) part-way runs only the close pass over what was opened, so a
 * failed start leaves no socket, TUN or store behind; what the fail-closed guard does about the
 * failure is the caller's (stages/fail-closed.ts).
 */

export interface Stopper {
  /** First pass of an orderly stop (not run when start-up fails). */
  readonly stop?: () => void | Promise<void>;
  /** Second pass; also run when start-up fails after this stage. */
  readonly close?: () => void | Promise<void>;
}

export class Teardown {
  private readonly stages: Array<{ readonly name: string; readonly s: Stopper }> = [];
  private done = false;

  /**
   * Registers what stage `name` opened. The returned function hands it over: the entry is
   * dropped, because a later stage now owns (and closes) it.
   */
  add(name: string, s: Stopper): () => void {
    const entry = { name, s };
    this.stages.push(entry);
    return () => {
      const i = this.stages.indexOf(entry);
      if (i >= 0) this.stages.splice(i, 1);
    };
  }

  /** The stages registered, oldest first (for tests and `stop` order reviews). */
  names(): readonly string[] {
    return this.stages.map((e) => e.name);
  }

  /** Orderly stop: every stop, newest first, then every close, newest first. Runs once. */
  async stop(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const reversed = [...this.stages].reverse();
    for (const e of reversed) await e.s.stop?.();
    for (const e of reversed) await e.s.close?.();
  }

  /** A start that did not finish: only the close pass, newest first. Runs once. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    for (const e of [...this.stages].reverse()) await e.s.close?.();
  }
}

/** `fn` the first time, nothing after: for a stage whose stop and close are the same work. */
export function once(fn: () => void | Promise<void>): () => Promise<void> {
  let ran: Promise<void> | undefined;
  return () => {
    ran ??= Promise.resolve().then(fn);
    return ran;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
