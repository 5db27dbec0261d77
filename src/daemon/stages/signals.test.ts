import assert from "node:assert/strict";
import { test } from "node:test";
import { installStopSignals, type StopSignal } from "./signals.js";

function fakeProcess() {
  const handlers = new Map<StopSignal, () => void>();
  return {
    on: (sig: StopSignal, h: () => void) => void handlers.set(sig, h),
    send: (sig: StopSignal) => handlers.get(sig)?.(),
  };
}

test("a signal while starting stops the daemon as soon as it is up, once", async () => {
  const p = fakeProcess();
  const stops: StopSignal[] = [];
  const s = installStopSignals(async (sig) => void stops.push(sig), p.on);
  p.send("SIGTERM");
  assert.deepEqual(stops, [], "nothing to stop yet");
  await s.ready();
  assert.deepEqual(stops, ["SIGTERM"]);
  p.send("SIGINT");
  assert.deepEqual(stops, ["SIGTERM"], "a second signal while stopping is ignored");
});

test("once up, the first signal stops it and later ones are ignored", async () => {
  const p = fakeProcess();
  const stops: StopSignal[] = [];
  const s = installStopSignals(async (sig) => void stops.push(sig), p.on);
  await s.ready();
  p.send("SIGINT");
  p.send("SIGINT");
  p.send("SIGTERM");
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(stops, ["SIGINT"]);
});
