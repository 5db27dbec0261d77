/**
 * RadiusService on real loopback UDP sockets and the system clock, against a small RADIUS
 * server in this test (signing with wire/radius). FreeRADIUS itself is in
 * test/interop/radius-freeradius.test.ts.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { unwrap } from "../base/result.js";
import { SystemClock } from "../platform/clock.js";
import { systemRandom } from "../platform/random.js";
import { RadiusAttr, RadiusCode } from "../registry/radius.js";
import { RadiusErrorCode } from "../radius/errors.js";
import { signRequest, signResponse, verifyResponse } from "../wire/radius/auth.js";
import { attr, parseRadiusPacket } from "../wire/radius/packet.js";
import { RadiusService } from "./radius.js";

const dir = mkdtempSync(join(tmpdir(), "oakley-radsvc-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const SECRET = Buffer.from("loopback-secret");
let n = 0;

/** A RADIUS server on 127.0.0.1 answering Accept / Accounting-Response (or nothing when mute). */
async function fakeServer(mute = false) {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const seen: number[] = [];
  sock.on("message", (msg, rinfo) => {
    const p = parseRadiusPacket(msg);
    if (!p.ok) return;
    seen.push(p.value.code);
    if (mute) return;
    const code =
      p.value.code === RadiusCode.AccessRequest
        ? RadiusCode.AccessAccept
        : RadiusCode.AccountingResponse;
    const out = signResponse(
      { code, identifier: p.value.identifier, attributes: [] },
      p.value.authenticator,
      SECRET,
    );
    sock.send(out, rinfo.port, rinfo.address);
  });
  return { port: sock.address().port, seen, close: () => sock.close() };
}

async function service(port: number, withDae = false, timeoutMs = 2000) {
  const s = await RadiusService.start(
    {
      client: {
        servers: [{ address: "127.0.0.1", authPort: port, acctPort: port, secret: SECRET }],
        nasIdentifier: "loop",
        timeoutMs,
        retries: 1,
      },
      queuePath: join(dir, `q${n++}.db`),
      bindAddress: "127.0.0.1",
      acctRetryMinMs: 50,
      ...(withDae
        ? {
            dae: {
              address: "127.0.0.1",
              port: 0,
              clients: [{ address: "127.0.0.1", secret: SECRET }],
            },
          }
        : {}),
    },
    { clock: new SystemClock(), random: systemRandom },
  );
  return unwrap(s);
}

test("authenticate and account over UDP; the queue empties when the server acknowledges", async () => {
  const srv = await fakeServer();
  const svc = await service(srv.port);
  try {
    const r = await svc.authenticate({
      userName: "u",
      credentials: { method: "pap", password: Buffer.from("p") },
    });
    assert.equal(r.ok && r.value.kind, "accept");
    assert.ok(
      svc.account({ status: "start", sessionId: "s", userName: "u", eventTime: Date.now() }).ok,
    );
    for (let i = 0; i < 50 && svc.queued() > 0; i++) await new Promise((x) => setTimeout(x, 20));
    assert.equal(svc.queued(), 0);
    // (a retransmission on a loaded machine may add a duplicate; the order is what matters)
    assert.deepEqual(
      [...new Set(srv.seen)],
      [RadiusCode.AccessRequest, RadiusCode.AccountingRequest],
    );
  } finally {
    svc.close();
    srv.close();
  }
});

test("a mute server: the request ends with a timeout on the clock, not a hang", async () => {
  const srv = await fakeServer(true);
  const svc = await service(srv.port, false, 100);
  try {
    const t0 = performance.now();
    const r = await svc.authenticate({
      userName: "u",
      credentials: { method: "pap", password: Buffer.from("p") },
    });
    assert.deepEqual(r.ok ? "answered" : r.error.code, RadiusErrorCode.Timeout);
    assert.ok(performance.now() - t0 >= 190, "two tries 100 ms apart");
    assert.equal(srv.seen.length, 2);
  } finally {
    svc.close();
    srv.close();
  }
});

test("close() ends waiting requests with Cancelled", async () => {
  const srv = await fakeServer(true);
  const svc = await service(srv.port);
  const pending = svc.authenticate({
    userName: "u",
    credentials: { method: "pap", password: Buffer.from("p") },
  });
  svc.close();
  const r = await pending;
  assert.deepEqual(r.ok ? "answered" : r.error.code, RadiusErrorCode.Cancelled);
  srv.close();
});

test("a Disconnect-Request on the DAE socket reaches the handler and is ACKed", async () => {
  const srv = await fakeServer();
  const svc = await service(srv.port, true);
  const dac = dgram.createSocket("udp4");
  await new Promise<void>((r) => dac.bind(0, "127.0.0.1", () => r()));
  try {
    const got: string[] = [];
    svc.onDynamicAuthorization((req) => {
      got.push(req.userName ?? "");
      return { ack: true };
    });
    const req = signRequest(
      {
        code: RadiusCode.DisconnectRequest,
        identifier: 9,
        attributes: [attr(RadiusAttr.UserName, "alice")],
      },
      SECRET,
      new Uint8Array(16),
    );
    const reply = new Promise<Buffer>((r) => dac.once("message", (m) => r(m)));
    dac.send(req.bytes, svc.daePort() ?? 0, "127.0.0.1");
    const bytes = await reply;
    const p = unwrap(parseRadiusPacket(bytes));
    assert.equal(p.code, RadiusCode.DisconnectAck);
    assert.equal(verifyResponse(bytes, p, req.authenticator, SECRET).ok, true);
    assert.deepEqual(got, ["alice"]);
  } finally {
    dac.close();
    svc.close();
    srv.close();
  }
});
