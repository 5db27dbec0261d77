import assert from "node:assert/strict";
import { test } from "node:test";
import { type Endpoint, SimNetwork, Simulator } from "./sim.js";

test("client behind NAT reaches a public server; the server sees the NAT's outside address", () => {
  const sim = new Simulator(7);
  const net = new SimNetwork(sim);
  const nat = net.nat("198.51.100.1");
  const client = net.host("192.0.2.2", nat.inside);
  const server = net.host("198.51.100.2");
  const seen: Endpoint[] = [];
  server.bind(500, (data, from, to) => {
    seen.push(from);
    server.send(to.port, from, Buffer.concat([data, Buffer.from("!")]));
  });
  const replies: string[] = [];
  client.bind(500, (d) => replies.push(d.toString()));
  client.send(500, { address: "198.51.100.2", port: 500 }, Buffer.from("hi"));
  sim.runFor(100);
  assert.deepEqual(seen, [{ address: "198.51.100.1", port: 40000 }]);
  assert.deepEqual(replies, ["hi!"]);
});

test("two clients with the same private address:port behind one NAT get distinct mappings", () => {
  const sim = new Simulator(7);
  const net = new SimNetwork(sim);
  const natA = net.nat("198.51.100.1");
  const innerA = net.nat("203.0.113.7", natA.inside); // double NAT for client A
  const a = net.host("192.0.2.2", innerA.inside);
  const b = net.host("192.0.2.2", natA.inside);
  const server = net.host("198.51.100.2");
  const seen = new Set<string>();
  server.bind(4500, (_d, from) => seen.add(`${from.address}:${from.port}`));
  a.bind(4500, () => {});
  b.bind(4500, () => {});
  a.send(4500, { address: "198.51.100.2", port: 4500 }, Buffer.from("a"));
  b.send(4500, { address: "198.51.100.2", port: 4500 }, Buffer.from("b"));
  sim.runFor(100);
  assert.equal(seen.size, 2);
});

test("port forward and rebinding", () => {
  const sim = new Simulator(3);
  const net = new SimNetwork(sim);
  const srvNat = net.nat("198.51.100.9");
  const server = net.host("203.0.113.2", srvNat.inside);
  srvNat.forward(500, { address: "203.0.113.2", port: 500 });
  const cNat = net.nat("198.51.100.1");
  const client = net.host("192.0.2.2", cNat.inside);
  const from: string[] = [];
  server.bind(500, (_d, f) => from.push(`${f.address}:${f.port}`));
  client.bind(500, () => {});
  client.send(500, { address: "198.51.100.9", port: 500 }, Buffer.from("x"));
  sim.runFor(50);
  cNat.rebind();
  client.send(500, { address: "198.51.100.9", port: 500 }, Buffer.from("y"));
  sim.runFor(50);
  assert.deepEqual(from, ["198.51.100.1:40000", "198.51.100.1:40001"]);
});

test("loss, duplication and jitter are reproducible from the seed", () => {
  const run = (): number[] => {
    const sim = new Simulator(42);
    const net = new SimNetwork(sim, { latencyMs: 5, jitterMs: 20, loss: 0.2, duplicate: 0.2 });
    const a = net.host("192.0.2.1");
    const b = net.host("192.0.2.3");
    const got: number[] = [];
    b.bind(1, (d) => got.push(d[0]!));
    for (let i = 0; i < 50; i++) a.send(1, { address: "192.0.2.3", port: 1 }, Buffer.from([i]));
    sim.runFor(1000);
    return got;
  };
  const r1 = run();
  assert.deepEqual(run(), r1);
  assert.ok(r1.length < 70 && r1.length > 30, `got ${r1.length}`);
  const sorted = [...r1].sort((x, y) => x - y);
  assert.notDeepEqual(r1, sorted, "jitter reorders");
});

test("timers fire in order and can be cancelled", () => {
  const sim = new Simulator();
  const order: string[] = [];
  sim.after(10, () => order.push("b"));
  sim.after(5, () => order.push("a"));
  const cancel = sim.after(7, () => order.push("x"));
  cancel();
  sim.after(10, () => order.push("c"));
  sim.runFor(20);
  assert.deepEqual(order, ["a", "b", "c"]);
  assert.equal(sim.now(), 20);
});
