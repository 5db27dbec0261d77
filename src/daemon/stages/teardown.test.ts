import assert from "node:assert/strict";
import { test } from "node:test";
import { once, Teardown } from "./teardown.js";

function recorder() {
  const events: string[] = [];
  const stage = (name: string, o: { stop?: boolean; close?: boolean } = {}) => ({
    ...(o.stop !== false ? { stop: () => void events.push(`${name} stop`) } : {}),
    ...(o.close !== false ? { close: () => void events.push(`${name} close`) } : {}),
  });
  return { events, stage };
}

test("stop: every stop newest first (peers told while everything exists), then every close newest first", async () => {
  const { events, stage } = recorder();
  const t = new Teardown();
  t.add("store", stage("store", { stop: false }));
  t.add("radius", stage("radius"));
  t.add("service", stage("service"));
  await t.stop();
  assert.deepEqual(events, [
    "service stop",
    "radius stop",
    "service close",
    "radius close",
    "store close",
  ]);
  await t.stop();
  assert.equal(events.length, 5, "a second stop does nothing");
});

test("a start that fails part-way runs only the close pass over what was opened", async () => {
  const { events, stage } = recorder();
  const t = new Teardown();
  t.add("store", stage("store"));
  t.add("tun", stage("tun"));
  await t.abort();
  assert.deepEqual(events, ["tun close", "store close"]);
  await t.stop();
  assert.equal(events.length, 2, "nothing runs after abort");
});

test("what is handed over to a later stage is not closed twice", async () => {
  const { events, stage } = recorder();
  const t = new Teardown();
  t.add("tun", stage("tun"));
  const handOver = t.add("ports", stage("ports"));
  handOver();
  t.add("service", stage("service"));
  assert.deepEqual(t.names(), ["tun", "service"]);
  await t.abort();
  assert.deepEqual(events, ["service close", "tun close"]);
});

test("once: a stage whose stop and close are the same work does it one time", async () => {
  let n = 0;
  const f = once(() => {
    n++;
  });
  const t = new Teardown();
  t.add("manage", { stop: f, close: f });
  await t.stop();
  assert.equal(n, 1);
});
