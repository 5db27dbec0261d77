/**
 * Child-side end of the JSON-lines protocol (jsonl.ts): a module run in a namespace by
 * Topology.spawnModule calls serveJsonLines(handlers). Requests `{id, op, args}` from stdin go
 * to `handlers[op](args)`; the (awaited) return value is answered as `{id, ok: true, result}`, a throw
 * as `{id, ok: false, error}`. emit() sends `{event, ...}` lines. The process exits on stdin EOF.
 * Only JSON goes to stdout: use console.error for diagnostics.
 */
import { createInterface } from "node:readline";
import type { Json, JsonObject } from "./jsonl.js";

export type Handler = (req: JsonObject) => Json | Promise<Json>;

export function emit(event: string, fields: JsonObject = {}): void {
  process.stdout.write(`${JSON.stringify({ ...fields, event })}\n`);
}

export function serveJsonLines(
  handlers: Record<string, Handler>,
  onEnd: () => void = () => process.exit(0),
): void {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    let req: JsonObject;
    try {
      req = JSON.parse(line) as JsonObject;
    } catch {
      console.error(`child: not JSON: ${line}`);
      return;
    }
    const id = req.id ?? null;
    const h = typeof req.op === "string" ? handlers[req.op] : undefined;
    if (!h) {
      process.stdout.write(
        `${JSON.stringify({ id, ok: false, error: `unknown op ${String(req.op)}` })}\n`,
      );
      return;
    }
    Promise.resolve()
      .then(() => h(isObject(req.args) ? req.args : {}))
      .then(
        (result) => process.stdout.write(`${JSON.stringify({ id, ok: true, result })}\n`),
        (e: unknown) =>
          process.stdout.write(
            `${JSON.stringify({ id, ok: false, error: e instanceof Error ? e.message : String(e) })}\n`,
          ),
      );
  });
  rl.on("close", onEnd);
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
