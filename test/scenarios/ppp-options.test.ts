/**
 * Option negotiation against a scripted peer: frames hand-built from RFC 1661 §6 / RFC 1332 /
 * RFC 1877 layouts, shaped like what pppd 2.4.9 and Windows send (pppd: MRU, ACCM 0, Magic,
 * PFC, ACFC; Windows adds Callback (13) and asks IPCP for VJ, DNS and NBNS).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromHex } from "../../src/base/bytes.js";
import { AddressPool, type PppAction, type PppConfig, PppSession } from "../../src/ppp/index.js";
import { seededRandom } from "./ppp-harness.js";

function frames(actions: readonly PppAction[]): Buffer[] {
  return actions.flatMap((a) => (a.type === "send-frame" ? [a.frame] : []));
}

function server(over: Partial<PppConfig> = {}): PppSession {
  return new PppSession(
    {
      role: "server",
      sessionId: "s",
      users: (n) => (n === "vmeuser" ? "vmepass" : undefined),
      pool: new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] }),
      localAddress: "203.0.113.1",
      dns: ["192.0.2.53"],
      random: seededRandom("scripted"),
      echoIntervalMs: 0,
      ...over,
    },
    0,
  );
}

/** LCP frame with FF 03 C0 21, code, id, options hex. */
function lcp(code: number, id: number, opts: string): Buffer {
  const o = fromHex(opts);
  return Buffer.concat([fromHex("ff03c021"), Buffer.from([code, id, 0, 4 + o.length]), o]);
}

test("server LCP: request shape, pppd's request Acked verbatim, Reject of Magic, Nak of MRU, unknown option Rejected", () => {
  const s = server();
  const first = frames(s.handle({ type: "start" }, 0));
  assert.equal(first.length, 1);
  const req = first[0] ?? Buffer.alloc(0);
  // FF 03 C021 | 01 id 0013 | MRU 1400 (01 04 0578) | Auth CHAP MS-CHAPv2 (03 05 c223 81) | Magic (05 06 ....)
  assert.equal(req.subarray(0, 5).toString("hex"), "ff03c02101");
  assert.equal(
    req.subarray(6, 19).toString("hex"),
    "00130104057803 05c22381 0506".replace(/ /g, ""),
  );
  const reqId = req[5] ?? 0;

  // pppd's Configure-Request: MRU 1280, ACCM 0, Magic 0x12345678, PFC, ACFC.
  const pppdOpts = "01040500 020600000000 050612345678 0702 0802";
  const ack = frames(s.handle({ type: "frame", frame: lcp(1, 7, pppdOpts) }, 10));
  // The peer's first request while ours is unanswered: Ack it, and resend ours at once.
  assert.equal(ack[0]?.toString("hex"), lcp(2, 7, pppdOpts).toString("hex"));
  const resent = ack[1];
  assert.ok(resent && resent[4] === 1, "our request resent");
  const id2 = resent?.[5] ?? 0;
  assert.notEqual(id2, reqId);

  // The peer rejects our Magic-Number: the next request has none.
  const magicOpt = resent?.subarray(resent.length - 6).toString("hex") ?? "";
  const afterRej = frames(s.handle({ type: "frame", frame: lcp(4, id2, magicOpt) }, 20));
  assert.equal(afterRej.length, 1);
  const r3 = afterRej[0] ?? Buffer.alloc(0);
  assert.equal(r3.subarray(8).toString("hex"), "0104057803 05c22381".replace(/ /g, ""));

  // The peer Naks our MRU with 1280: the next request asks for 1280.
  const afterNak = frames(s.handle({ type: "frame", frame: lcp(3, r3[5] ?? 0, "01040500") }, 30));
  const r4 = afterNak[0] ?? Buffer.alloc(0);
  assert.equal(r4.subarray(8).toString("hex"), "0104050003 05c22381".replace(/ /g, ""));

  // A Reject naming an option we never sent is ignored (RFC 1661 §5.4).
  assert.equal(
    frames(s.handle({ type: "frame", frame: lcp(4, r4[5] ?? 0, "0702") }, 31)).length,
    0,
  );

  // Windows-style request with Callback (13): we Reject exactly that option.
  const rej = frames(
    s.handle({ type: "frame", frame: lcp(1, 8, "01040578 050600c0ffee 0702 0802 0d0306") }, 40),
  );
  assert.equal(rej[0]?.toString("hex"), lcp(4, 8, "0d0306").toString("hex"));

  // A Quality-Protocol (LQR) request is rejected too; an MRU below 128 is Nak'd with 128.
  const q = frames(s.handle({ type: "frame", frame: lcp(1, 9, "0104003f 0408c025000003e8") }, 41));
  assert.equal(q[0]?.toString("hex"), lcp(4, 9, "0408c025000003e8").toString("hex"));
  const m = frames(s.handle({ type: "frame", frame: lcp(1, 10, "0104003f") }, 42));
  assert.equal(m[0]?.toString("hex"), lcp(3, 10, "01040080").toString("hex"));

  // Ack our latest request, and Ack the peer's: LCP opens, the MS-CHAPv2 Challenge goes out.
  frames(s.handle({ type: "frame", frame: lcp(1, 11, pppdOpts) }, 50));
  const opened = s.handle(
    { type: "frame", frame: lcp(2, r4[5] ?? 0, r4.subarray(8).toString("hex")) },
    60,
  );
  // The peer asked for ACFC (and we Acked it), so non-LCP frames go without FF 03.
  const chal = frames(opened).find((f) => f.readUInt16BE(0) === 0xc223);
  assert.ok(chal, "CHAP Challenge sent after LCP opened, Address/Control compressed");
  assert.equal(chal?.[2], 1);
  assert.equal(chal?.[6], 16, "Value-Size 16");
  assert.equal(chal?.subarray(23).toString(), "oakley");
  assert.ok(opened.some((a) => a.type === "event" && a.event.type === "link-up"));
});

test("server LCP: the peer's zero Magic-Number and a Magic equal to ours are Nak'd with a new value", () => {
  const s = server();
  const req = frames(s.handle({ type: "start" }, 0))[0] ?? Buffer.alloc(0);
  const ours = req.subarray(req.length - 4).toString("hex");
  const z = frames(s.handle({ type: "frame", frame: lcp(1, 1, "050600000000") }, 1))[0];
  assert.equal(z?.[4], 3);
  assert.notEqual(z?.subarray(10).toString("hex"), "00000000");
  const same = frames(s.handle({ type: "frame", frame: lcp(1, 2, `0506${ours}`) }, 2))[0];
  assert.equal(same?.[4], 3);
  assert.notEqual(same?.subarray(10).toString("hex"), ours);
});

test("client LCP: a server asking for PAP is Nak'd with MS-CHAPv2 when PAP is not allowed; CHAP-MD5 is Acked when allowed", () => {
  const c = new PppSession(
    {
      role: "client",
      sessionId: "c",
      credentials: { user: "vmeuser", password: "vmepass" },
      authMethods: ["mschapv2", "chap-md5"],
      random: seededRandom("c"),
      echoIntervalMs: 0,
    },
    0,
  );
  const req = frames(c.handle({ type: "start" }, 0))[0] ?? Buffer.alloc(0);
  // Client request: MRU 1400 and Magic only; no Authentication-Protocol, no ACCM/PFC/ACFC.
  assert.equal(req.subarray(8, 14).toString("hex"), "010405780506");
  assert.equal(req.length, 8 + 4 + 6);
  const nak = frames(c.handle({ type: "frame", frame: lcp(1, 3, "0304c023 0506cafebabe") }, 1))[0];
  assert.equal(nak?.toString("hex"), lcp(3, 3, "0305c22381").toString("hex"));
  const ack = frames(
    c.handle({ type: "frame", frame: lcp(1, 4, "0305c22305 0506cafebabe") }, 2),
  )[0];
  assert.equal(ack?.[4], 2);
});

test("server IPCP: Windows request (VJ, address 0, DNS, NBNS) -> Reject VJ and NBNS, then Nak address and DNS, then Ack", () => {
  const s = server({ authMethods: [] });
  frames(s.handle({ type: "start" }, 0));
  // The peer's first request makes the server resend its own (see lcp.ts): Ack that one.
  const req =
    frames(s.handle({ type: "frame", frame: lcp(1, 1, "050612345678") }, 1))[1] ?? Buffer.alloc(0);
  const up = s.handle(
    { type: "frame", frame: lcp(2, req[5] ?? 0, req.subarray(8).toString("hex")) },
    2,
  );
  const ipcpReq = frames(up).find((f) => f.readUInt16BE(2) === 0x8021);
  // Server's IPCP request: IP-Address 203.0.113.1.
  assert.equal(ipcpReq?.subarray(4).toString("hex").slice(0, 2), "01");
  assert.equal(ipcpReq?.subarray(8).toString("hex"), "0306cb007101");
  const ipcp = (code: number, id: number, opts: string) => {
    const o = fromHex(opts);
    return Buffer.concat([fromHex("ff038021"), Buffer.from([code, id, 0, 4 + o.length]), o]);
  };
  const win = "0206002d0f01 030600000000 810600000000 820600000000 830600000000 840600000000";
  const r1 = frames(s.handle({ type: "frame", frame: ipcp(1, 1, win) }, 3))[0];
  // VJ, NBNS (none configured) and Secondary DNS (only one configured) are Rejected.
  assert.equal(
    r1?.toString("hex"),
    ipcp(4, 1, "0206002d0f01 820600000000 830600000000 840600000000").toString("hex"),
  );
  // Without the rejected ones: address and DNS are Nak'd with the assignment.
  const r3 = frames(
    s.handle({ type: "frame", frame: ipcp(1, 3, "030600000000 810600000000") }, 5),
  )[0];
  assert.equal(r3?.toString("hex"), ipcp(3, 3, "0306cb007102 8106c0000235").toString("hex"));
  const r4 = frames(
    s.handle({ type: "frame", frame: ipcp(1, 4, "0306cb007102 8106c0000235") }, 6),
  )[0];
  assert.equal(r4?.[4], 2);
  // A request without IP-Address gets a Nak that adds it (RFC 1661 §5.3).
  const r5 = frames(s.handle({ type: "frame", frame: ipcp(1, 5, "") }, 7))[0];
  assert.equal(r5?.toString("hex"), ipcp(3, 5, "0306cb007102").toString("hex"));
});

test("engine intake fuzz: hostile frames never throw, in every phase", async () => {
  const { fuzzParser } = await import("../helpers/fuzz.js");
  const { Link } = await import("./ppp-harness.js");
  // Seeds: every frame of a real MS-CHAPv2 negotiation between our two engines.
  const link = new Link(
    {
      role: "server",
      sessionId: "fz",
      users: () => "vmepass",
      pool: new AddressPool({ cidr: "203.0.113.0/24", reserved: ["203.0.113.1"] }),
      localAddress: "203.0.113.1",
      random: seededRandom("fz-s"),
    },
    {
      role: "client",
      sessionId: "fz-c",
      credentials: { user: "vmeuser", password: "vmepass" },
      requestPfc: true,
      requestAcfc: true,
      random: seededRandom("fz-c"),
    },
  );
  link.feed("server", { type: "start" });
  link.feed("client", { type: "start" });
  assert.ok(link.run(() => link.bothUp(), 10_000));
  const seeds = link.sent.map((x) => x.frame);
  const fresh = server();
  fresh.handle({ type: "start" }, 0);
  const targets = [fresh, link.sessions.server, link.sessions.client];
  let t = 0;
  fuzzParser(
    "PppSession.handle(frame)",
    (frame) => {
      const s = targets[t++ % targets.length];
      if (!s) return { ok: false };
      s.handle({ type: "frame", frame }, 1000 + t);
      return { ok: true };
    },
    seeds,
    { iterations: 20_000 },
  );
});
