/**
 * Test-side end of a JSON-lines conversation with a child process (a peer started in a
 * namespace by Topology.spawnModule). The child writes one JSON object per line on stdout
 * (see child.ts): requests go out as `{id, op, args}`, answers come back as
 * `{id, ok, result|error}`, and `{event, ...}` lines.
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export class JsonLinesPeer {
  private nextId = 1;
  private readonly waiting = new Map<number, { res: (v: Json) => void; rej: (e: Error) => void }>();
  private readonly events: JsonObject[] = [];
  private readonly eventWaiters: {
    match: (e: JsonObject) => boolean;
    res: (e: JsonObject) => void;
  }[] = [];
  private stderr = "";
  private exited: string | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly label: string,
  ) {
    if (!child.stdout || !child.stdin) throw new Error("JsonLinesPeer needs piped stdio");
    createInterface({ input: child.stdout }).on("line", (line) => this.onLine(line));
    child.stderr?.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    child.once("exit", (code, signal) => {
      this.exited = `exited (code ${code}, signal ${signal})`;
      for (const w of this.waiting.values())
        w.rej(new Error(`${this.label} ${this.exited}; stderr:\n${this.stderr}`));
      this.waiting.clear();
    });
  }

  private onLine(line: string): void {
    let msg: JsonObject;
    try {
      msg = JSON.parse(line) as JsonObject;
    } catch {
      this.stderr += `[non-JSON stdout] ${line}\n`;
      return;
    }
    if (typeof msg.id === "number" && this.waiting.has(msg.id)) {
      const w = this.waiting.get(msg.id)!;
      this.waiting.delete(msg.id);
      if (msg.ok === true) w.res(msg.result ?? null);
      else w.rej(new Error(`${this.label}: ${String(msg.error)}`));
      return;
    }
    const i = this.eventWaiters.findIndex((w) => w.match(msg));
    if (i >= 0) {
      const [w] = this.eventWaiters.splice(i, 1);
      w?.res(msg);
    } else this.events.push(msg);
  }

  /** Sends `{id, op, args}` and resolves with the child's `result`. */
  request(op: string, params: JsonObject = {}, timeoutMs = 10_000): Promise<Json> {
    if (this.exited)
      return Promise.reject(new Error(`${this.label} ${this.exited}; stderr:\n${this.stderr}`));
    const id = this.nextId++;
    return new Promise((res, rej) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        rej(new Error(`${this.label}: request ${op} timed out; stderr:\n${this.stderr}`));
      }, timeoutMs);
      this.waiting.set(id, {
        res: (v) => {
          clearTimeout(t);
          res(v);
        },
        rej: (e) => {
          clearTimeout(t);
          rej(e);
        },
      });
      this.child.stdin!.write(`${JSON.stringify({ id, op, args: params })}\n`);
    });
  }

  /** Resolves with the first event (`{event: name, ...}`) matching, past or future. */
  nextEvent(
    name: string,
    timeoutMs = 10_000,
    match: (e: JsonObject) => boolean = () => true,
  ): Promise<JsonObject> {
    const m = (e: JsonObject): boolean => e.event === name && match(e);
    const i = this.events.findIndex(m);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]!);
    return new Promise((res, rej) => {
      const w = {
        match: m,
        res: (e: JsonObject) => {
          clearTimeout(t);
          res(e);
        },
      };
      const t = setTimeout(() => {
        this.eventWaiters.splice(this.eventWaiters.indexOf(w), 1);
        rej(
          new Error(
            `${this.label}: no "${name}" event in ${timeoutMs} ms; stderr:\n${this.stderr}`,
          ),
        );
      }, timeoutMs);
      this.eventWaiters.push(w);
    });
  }

  stderrText(): string {
    return this.stderr;
  }

  /** Closes stdin (children exit on EOF) and waits up to `ms`, then kills. */
  async close(ms = 2000): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill("SIGKILL"), ms);
    await done;
    clearTimeout(t);
  }
}
