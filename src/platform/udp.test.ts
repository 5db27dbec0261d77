/**
 * Loopback tests of both DatagramSocket implementations (no root needed). Multi-namespace and
 * NAT cases are in test/interop/platform-udp.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { PlatformErrorCode } from "./errors.js";
import { type DatagramImplementation, createDatagramSocket } from "./index.js";
import type { DatagramSocket } from "./udp.js";

function nextDatagrams(
  s: DatagramSocket,
  count: number,
): Promise<{ data: Buffer; address: string; port: number; local: string | undefined }[]> {
  const got: { data: Buffer; address: string; port: number; local: string | undefined }[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`only ${got.length}/${count} datagrams`)), 3000);
    s.onDatagram((data, address, port, info) => {
      got.push({ data, address, port, local: info.localAddress });
      if (got.length === count) {
        clearTimeout(t);
        resolve(got);
      }
    });
  });
}

for (const impl of ["koffi", "dgram"] as DatagramImplementation[]) {
  test(`${impl}: datagrams round-trip on loopback with source and local address`, async () => {
    const a = createDatagramSocket(impl, { receiveBuffer: 1 << 20 });
    const b = createDatagramSocket(impl);
    try {
      const ea = (await a.bind("0.0.0.0", 0)) as { ok: true; value: { port: number } };
      assert.ok(ea.ok);
      const eb = await b.bind("127.0.0.1", 0);
      assert.ok(eb.ok);
      const p = nextDatagrams(a, 100);
      for (let i = 0; i < 100; i++) b.send(Buffer.alloc(10 + i, i), "127.0.0.1", ea.value.port);
      const got = await p;
      got.forEach((g, i) => {
        assert.deepEqual(g.data, Buffer.alloc(10 + i, i));
        assert.equal(g.address, "127.0.0.1");
        assert.equal(g.port, eb.value.port);
        // Bound to 0.0.0.0: only koffi (IP_PKTINFO) knows where the datagram arrived.
        assert.equal(g.local, impl === "koffi" ? "127.0.0.1" : undefined);
      });
      assert.equal(b.stats().txDatagrams, 100);
      assert.equal(a.stats().rxDatagrams, 100);
    } finally {
      a.close();
      b.close();
    }
  });

  test(`${impl}: a taken port gives OAK_E_PLATFORM_ADDR_IN_USE naming the port`, async () => {
    const a = createDatagramSocket(impl);
    const b = createDatagramSocket(impl);
    try {
      const ea = await a.bind("127.0.0.1", 0);
      assert.ok(ea.ok);
      const port = ea.value.port;
      const eb = await b.bind("127.0.0.1", port);
      assert.ok(!eb.ok);
      assert.equal(eb.error.code, PlatformErrorCode.AddrInUse);
      assert.equal(eb.error.errnoName, "EADDRINUSE");
      assert.match(eb.error.message, new RegExp(`^UDP ${port} is in use by another process`));
    } finally {
      a.close();
      b.close();
    }
  });

  test(`${impl}: bad arguments are typed errors, never throws`, async () => {
    const a = createDatagramSocket(impl);
    const r = await a.bind("300.1.2.3", 0);
    assert.ok(!r.ok);
    assert.equal(r.error.code, PlatformErrorCode.BadArgument);
    const errors: string[] = [];
    a.onError((e) => errors.push(e.code));
    a.send(Buffer.alloc(1), "127.0.0.1", 9);
    assert.deepEqual(errors, [PlatformErrorCode.Closed]);
    a.close();
  });
}

test("koffi: send with a chosen source address (IP_PKTINFO) on a 0.0.0.0 socket", async () => {
  const a = createDatagramSocket("koffi");
  const b = createDatagramSocket("koffi");
  try {
    const ea = await a.bind("0.0.0.0", 0);
    const eb = await b.bind("0.0.0.0", 0);
    assert.ok(ea.ok && eb.ok);
    const p = nextDatagrams(b, 1);
    // 127.0.0.2 is a loopback address on Linux without configuration (127/8 on lo).
    a.send(Buffer.from("x"), "127.0.0.1", eb.value.port, "127.0.0.2");
    const [g] = await p;
    assert.equal(g?.address, "127.0.0.2");
    assert.equal(g?.local, "127.0.0.1");
  } finally {
    a.close();
    b.close();
  }
});

test("koffi: UDP GSO runs and UDP_GRO receives deliver every datagram intact and in order", async () => {
  const a = createDatagramSocket("koffi", { gro: true, receiveBuffer: 8 << 20 });
  const b = createDatagramSocket("koffi", { gso: true });
  try {
    const ea = await a.bind("127.0.0.1", 0);
    const eb = await b.bind("127.0.0.1", 0);
    assert.ok(ea.ok && eb.ok);
    // Runs of equal sizes (merged by GSO), a shorter datagram ending a run, a larger one
    // starting a new run, and single odd sizes: 300 datagrams in one tick.
    const sizes: number[] = [];
    for (let i = 0; i < 300; i++) {
      if (i < 100) sizes.push(1400);
      else if (i === 100) sizes.push(700);
      else if (i < 200) sizes.push(1200);
      else sizes.push(20 + (i % 7));
    }
    const p = nextDatagrams(a, sizes.length);
    sizes.forEach((n, i) => {
      const d = Buffer.alloc(n, i & 0xff);
      d.writeUInt16BE(i, 0);
      b.send(d, "127.0.0.1", ea.value.port);
    });
    const got = await p;
    got.forEach((g, i) => {
      assert.equal(g.data.length, sizes[i], `datagram ${i} length`);
      assert.equal(g.data.readUInt16BE(0), i, `datagram ${i} order`);
      assert.ok(
        g.data.subarray(2).every((x) => x === (i & 0xff)),
        `datagram ${i} content`,
      );
      assert.equal(g.address, "127.0.0.1");
    });
    const tx = b.stats();
    assert.equal(tx.txDatagrams, 300);
    assert.equal(tx.txDropped, 0);
    // 300 datagrams need 5 sendmmsg batches of 64 without GSO; with it, one batch of runs.
    assert.ok(tx.txBatches < 5, `txBatches ${tx.txBatches}`);
    const rx = a.stats();
    assert.equal(rx.rxDatagrams, 300);
    // Without GRO: at least 5 recvmmsg calls of 64; with it, the runs arrive coalesced.
    assert.ok(rx.rxBatches < 5, `rxBatches ${rx.rxBatches}`);
  } finally {
    a.close();
    b.close();
  }
});
