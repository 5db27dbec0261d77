/**
 * Scenario: Oakley's Aggressive Mode responder (RFC 2409 §5.4, pre-shared key; NAT-T per
 * RFC 3947 §3.2/§4) against an Aggressive Mode initiator written here from the RFC text (an
 * old-Android-style client with an FQDN "IPsec identifier"). The emulated initiator does its
 * own cryptography with node:crypto primitives only — MODP group 14 from getDiffieHellman
 * ("modp14", RFC 3526), HMAC-SHA1 for prf, AES-128-CBC — not with src/crypto, so the
 * responder's SKEYID/HASH_R/NAT-D/IV handling is checked against an independent computation:
 *   SKEYID = prf(PSK, Ni_b | Nr_b); SKEYID_d/_a/_e (RFC 2409 §5);
 *   HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b) — checked on AM2;
 *   HASH_I likewise — sent in AM3 (in the clear, or encrypted with IV = hash(g^xi | g^xr));
 *   NAT-D = hash(CKY-I | CKY-R | IP | port) (RFC 3947 §3.2).
 * After AM3 the initiator sends a protected R-U-THERE (RFC 3706, RFC 2409 §5.7 HASH(1) and
 * Appendix B phase-2 IV) and must get a protected R-U-THERE-ACK: proof that both sides hold
 * the same SKEYID_a, SKEYID_e and last phase-1 block.
 * Cases: no NAT (AM3 in the clear, UDP 500); client behind NAT (AM3 encrypted on UDP 4500,
 * responder follows); wrong PSK (AUTHENTICATION-FAILED); flag off (AM1 dropped and counted).
 */
import assert from "node:assert/strict";
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  getDiffieHellman,
} from "node:crypto";
import { describe, it } from "node:test";
import { AGGRESSIVE_MODE_WARNING, IkeErrorCode } from "../../src/ike/index.js";
import {
  attr,
  ExchangeType,
  isakmpCookie,
  isakmpMessageId,
  NO_FLAGS,
  NotifyType,
  type Payload,
  PayloadType,
  parseIpAddress,
  parseIsakmpMessage,
  parsePayloadChain,
  serializeEncryptedIsakmpMessage,
  serializeIsakmpMessage,
  serializePayloadBody,
  serializePayloadChain,
  vendorIdBytes,
} from "../../src/wire/isakmp/index.js";
import { type SimHost, SimNetwork, Simulator } from "../fakes/sim.js";
import { PSK, SimIkePeer, seededRandom } from "./ike-sim.js";

const SERVER = { address: "198.51.100.2", port: 500 };
const hmac = (k: Buffer, ...d: Buffer[]) => createHmac("sha1", k).update(Buffer.concat(d)).digest();
const sha1 = (...d: Buffer[]) => createHash("sha1").update(Buffer.concat(d)).digest();
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const pad256 = (b: Buffer) => Buffer.concat([Buffer.alloc(256 - b.length), b]);
const natd = (ckyI: Buffer, ckyR: Buffer, ep: { address: string; port: number }) => {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(ep.port);
  return sha1(ckyI, ckyR, parseIpAddress(ep.address)!, port);
};

/** An Aggressive Mode initiator from RFC 2409 §5.4 and RFC 3947, AES-128/SHA1/MODP-2048. */
class AmInitiator {
  readonly rand = seededRandom(4242);
  readonly ckyI = this.rand(8);
  ckyR = Buffer.alloc(8);
  readonly dh = getDiffieHellman("modp14");
  readonly gxi: Buffer;
  readonly ni = this.rand(32);
  readonly idii = {
    type: PayloadType.ID,
    reserved: 0,
    idType: 2, // ID_FQDN (RFC 2407 §4.6.2.1)
    protocolId: 17,
    port: 500,
    data: Buffer.from("android.example"),
  } as const;
  readonly sa = {
    type: PayloadType.SA,
    reserved: 0,
    doi: 1,
    situation: 1,
    proposals: [
      {
        reserved: 0,
        number: 1,
        protocolId: 1,
        spi: Buffer.alloc(0),
        transforms: [
          {
            reserved: 0,
            number: 1,
            transformId: 1,
            reserved2: 0,
            // RFC 2409 App. A: enc 7 AES-CBC, key 128, hash 2 SHA, auth 1 PSK, group 14, life
            attributes: [
              attr(1, 7),
              attr(14, 128),
              attr(2, 2),
              attr(3, 1),
              attr(4, 14),
              attr(11, 1),
              attr(12, 28800),
            ],
          },
        ],
      },
    ],
  } as const;
  received: { data: Buffer; from: { address: string; port: number }; port: number }[] = [];
  skeyid = Buffer.alloc(0);
  skeyidA = Buffer.alloc(0);
  encKey = Buffer.alloc(0);
  lastBlock = Buffer.alloc(0);
  gxr = Buffer.alloc(0);
  nated = false;

  constructor(
    readonly host: SimHost,
    readonly psk: string,
  ) {
    this.dh.generateKeys();
    this.gxi = pad256(this.dh.getPublicKey());
    for (const port of [500, 4500]) {
      host.bind(port, (data, from) => {
        const ike = port === 4500 ? data.subarray(4) : data;
        this.received.push({ data: Buffer.from(ike), from, port });
      });
    }
  }

  header(exchangeType: number, mid: number) {
    return {
      initiatorCookie: isakmpCookie(this.ckyI),
      responderCookie: isakmpCookie(this.ckyR),
      majorVersion: 1,
      minorVersion: 0,
      exchangeType,
      flags: NO_FLAGS,
      messageId: isakmpMessageId(mid),
    };
  }

  sendAm1(): void {
    const payloads: Payload[] = [
      this.sa,
      { type: PayloadType.KE, reserved: 0, data: this.gxi },
      { type: PayloadType.NONCE, reserved: 0, data: this.ni },
      this.idii,
      { type: PayloadType.VID, reserved: 0, data: vendorIdBytes("RFC3947") },
      { type: PayloadType.VID, reserved: 0, data: vendorIdBytes("DPD") },
    ];
    this.host.send(
      500,
      SERVER,
      serializeIsakmpMessage(this.header(ExchangeType.AGGRESSIVE, 0), payloads),
    );
  }

  /** Checks AM2 (HASH_R, NAT-D) and answers with AM3. */
  handleAm2(opts: { encryptAm3: boolean }): { natdOk: boolean } {
    const am2 = this.received.find((r) => parseIsakmpMessage(r.data).ok);
    assert.ok(am2, "AM2 received");
    const m = parseIsakmpMessage(am2.data);
    assert.ok(m.ok && !m.value.encrypted);
    const msg = m.value;
    assert.equal(msg.header.exchangeType, ExchangeType.AGGRESSIVE);
    this.ckyR = Buffer.from(msg.header.responderCookie);
    const get = <T extends number>(t: T) => msg.payloads.filter((p) => p.type === t);
    const [ke] = get(PayloadType.KE) as Extract<Payload, { type: 4 }>[];
    const [nr] = get(PayloadType.NONCE) as Extract<Payload, { type: 10 }>[];
    const [idir] = get(PayloadType.ID) as Extract<Payload, { type: 5 }>[];
    const [hr] = get(PayloadType.HASH) as Extract<Payload, { type: 8 }>[];
    const natds = get(PayloadType.NAT_D) as Extract<Payload, { type: 20 }>[];
    assert.ok(ke && nr && idir && hr, "AM2: KE, Nr, IDir, HASH_R");
    this.gxr = Buffer.from(ke.data);
    const gxy = pad256(this.dh.computeSecret(this.gxr));
    const cky = Buffer.concat([this.ckyI, this.ckyR]);
    this.skeyid = hmac(Buffer.from(this.psk), this.ni, nr.data);
    const d = hmac(this.skeyid, gxy, cky, Buffer.from([0]));
    this.skeyidA = hmac(this.skeyid, d, gxy, cky, Buffer.from([1]));
    const e = hmac(this.skeyid, this.skeyidA, gxy, cky, Buffer.from([2]));
    this.encKey = e.subarray(0, 16); // App. B: SKEYID_e is long enough for AES-128
    const saiB = serializePayloadBody(this.sa);
    const expectR = hmac(
      this.skeyid,
      this.gxr,
      this.gxi,
      this.ckyR,
      this.ckyI,
      saiB,
      serializePayloadBody(idir),
    );
    if (!hr.data.equals(expectR)) return { natdOk: false };
    // RFC 3947 §3.2: first NAT-D = hash of where the responder sent to (our mapping), then its own
    assert.equal(natds.length, 2, "two NAT-D payloads in AM2");
    assert.ok(natds[1]!.hash.equals(natd(this.ckyI, this.ckyR, SERVER)), "responder's own address");
    const mine = natd(this.ckyI, this.ckyR, { address: this.host.address, port: 500 });
    this.nated = !natds[0]!.hash.equals(mine);
    const hashI = hmac(
      this.skeyid,
      this.gxi,
      this.gxr,
      this.ckyI,
      this.ckyR,
      saiB,
      serializePayloadBody(this.idii),
    );
    const payloads: Payload[] = [
      { type: PayloadType.HASH, reserved: 0, data: hashI },
      { type: PayloadType.NAT_D, reserved: 0, hash: natd(this.ckyI, this.ckyR, SERVER) },
      { type: PayloadType.NAT_D, reserved: 0, hash: mine },
    ];
    const port = this.nated ? 4500 : 500;
    const to = { address: SERVER.address, port };
    this.lastBlock = sha1(this.gxi, this.gxr).subarray(0, 16);
    let bytes: Buffer;
    if (opts.encryptAm3) {
      const { firstPayloadType, ct } = this.encrypt(payloads, this.lastBlock);
      this.lastBlock = ct.subarray(ct.length - 16);
      bytes = serializeEncryptedIsakmpMessage(
        { ...this.header(ExchangeType.AGGRESSIVE, 0), nextPayload: firstPayloadType },
        ct,
      );
    } else bytes = serializeIsakmpMessage(this.header(ExchangeType.AGGRESSIVE, 0), payloads);
    this.host.send(port, to, port === 4500 ? Buffer.concat([Buffer.alloc(4), bytes]) : bytes);
    return { natdOk: true };
  }

  encrypt(payloads: readonly Payload[], iv: Buffer) {
    const chain = serializePayloadChain(payloads);
    const padded = Buffer.concat([chain.bytes, Buffer.alloc(16 - (chain.bytes.length % 16))]);
    const c = createCipheriv("aes-128-cbc", this.encKey, iv).setAutoPadding(false);
    return {
      firstPayloadType: chain.firstPayloadType,
      ct: Buffer.concat([c.update(padded), c.final()]),
    };
  }

  /** A protected R-U-THERE (RFC 3706 §5; HASH(1) of RFC 2409 §5.7; App. B phase-2 IV). */
  sendRuThere(seq: number): void {
    const mid = 0x1234abcd;
    const n = {
      type: PayloadType.N,
      reserved: 0,
      doi: 1,
      protocolId: 1,
      spi: Buffer.concat([this.ckyI, this.ckyR]),
      notifyType: NotifyType.R_U_THERE,
      data: u32(seq),
    } as const;
    const h = hmac(this.skeyidA, u32(mid), serializePayloadChain([n]).bytes);
    const iv = sha1(this.lastBlock, u32(mid)).subarray(0, 16);
    const { firstPayloadType, ct } = this.encrypt(
      [{ type: PayloadType.HASH, reserved: 0, data: h }, n],
      iv,
    );
    const bytes = serializeEncryptedIsakmpMessage(
      { ...this.header(ExchangeType.INFORMATIONAL, mid), nextPayload: firstPayloadType },
      ct,
    );
    const port = this.nated ? 4500 : 500;
    this.host.send(
      port,
      { address: SERVER.address, port },
      port === 4500 ? Buffer.concat([Buffer.alloc(4), bytes]) : bytes,
    );
  }

  /** The sequence number of a verified R-U-THERE-ACK, if one arrived. */
  ackSeq(): number | undefined {
    for (const r of this.received) {
      const m = parseIsakmpMessage(r.data);
      if (!m.ok || !m.value.encrypted || m.value.header.exchangeType !== ExchangeType.INFORMATIONAL)
        continue;
      const mid = m.value.header.messageId;
      const iv = sha1(this.lastBlock, u32(mid)).subarray(0, 16);
      const d = createDecipheriv("aes-128-cbc", this.encKey, iv).setAutoPadding(false);
      const pt = Buffer.concat([d.update(m.value.ciphertext), d.final()]);
      const chain = parsePayloadChain(m.value.header.nextPayload, pt, {
        allowTrailingPadding: true,
      });
      if (!chain.ok) continue;
      const [h, n] = chain.value.payloads;
      if (h?.type !== PayloadType.HASH || n?.type !== PayloadType.N) continue;
      const want = hmac(this.skeyidA, u32(mid), serializePayloadChain([n]).bytes);
      if (!h.data.equals(want) || n.notifyType !== NotifyType.R_U_THERE_ACK) continue;
      return n.data.readUInt32BE(0);
    }
    return undefined;
  }
}

function setup(opts: { nat: boolean; aggressive: boolean; clientPsk?: string }) {
  const sim = new Simulator(5);
  const net = new SimNetwork(sim);
  const server = new SimIkePeer(
    sim,
    net.host(SERVER.address),
    {
      psks: [{ secret: PSK, id: "android.example", name: "android" }],
      aggressiveMode: opts.aggressive,
    },
    51,
  );
  const host = opts.nat
    ? net.host("192.0.2.2", net.nat("198.51.100.1").inside)
    : net.host("203.0.113.5");
  const client = new AmInitiator(host, opts.clientPsk ?? PSK);
  client.sendAm1();
  sim.runFor(100);
  return { sim, server, client };
}

describe("Aggressive Mode responder (PSK, NAT-T) against an RFC-text initiator", () => {
  it("no NAT: AM2 verifies (HASH_R, NAT-D), AM3 in the clear on 500, SA up, DPD works over it", () => {
    const { sim, server, client } = setup({ nat: false, aggressive: true });
    assert.ok(client.handleAm2({ encryptAm3: false }).natdOk, "HASH_R verifies");
    assert.equal(client.nated, false);
    sim.runFor(100);
    const up = server.eventsOf("phase1-up")[0];
    assert.ok(up, JSON.stringify(server.eventsOf("failed")));
    assert.equal(up.peerId, "android.example");
    assert.match(up.suite, /pre-shared key \(Aggressive Mode\)$/);
    assert.deepEqual(up.nat, { method: "rfc3947", localBehindNat: false, peerBehindNat: false });
    client.sendRuThere(7);
    sim.runFor(100);
    assert.equal(client.ackSeq(), 7, "protected R-U-THERE-ACK with the same keys and IV chain");
    assert.deepEqual(server.engine.startupWarnings, [AGGRESSIVE_MODE_WARNING]);
    assert.ok(
      server.sink.lines.some((l) => l.includes("Aggressive Mode is enabled")),
      "logged at start",
    );
  });

  it("client behind NAT: NAT-D shows it, AM3 encrypted on 4500, the responder follows to 4500", () => {
    const { sim, server, client } = setup({ nat: true, aggressive: true });
    assert.ok(client.handleAm2({ encryptAm3: true }).natdOk);
    assert.equal(client.nated, true, "AM2's NAT-D told the client it is NATed");
    sim.runFor(100);
    const up = server.eventsOf("phase1-up")[0];
    assert.ok(up, JSON.stringify(server.eventsOf("failed")));
    assert.deepEqual(up.nat, { method: "rfc3947", localBehindNat: false, peerBehindNat: true });
    assert.notEqual(up.peer.port, 500, "the SA's peer is the 4500 mapping");
    assert.equal(up.local.port, 4500);
    client.sendRuThere(9);
    sim.runFor(100);
    assert.equal(client.ackSeq(), 9);
    assert.ok(
      client.received.some((r) => r.port === 4500),
      "answer on 4500",
    );
  });

  it("wrong PSK: HASH_R does not verify for the client; its AM3 is refused with AUTHENTICATION-FAILED", () => {
    const { sim, server, client } = setup({
      nat: false,
      aggressive: true,
      clientPsk: "not-the-psk",
    });
    assert.equal(client.handleAm2({ encryptAm3: false }).natdOk, false);
    // send a forged AM3 anyway (HASH_I under the wrong key)
    const hashI = hmac(
      client.skeyid,
      client.gxi,
      client.gxr,
      client.ckyI,
      client.ckyR,
      serializePayloadBody(client.sa),
      serializePayloadBody(client.idii),
    );
    client.host.send(
      500,
      SERVER,
      serializeIsakmpMessage(client.header(ExchangeType.AGGRESSIVE, 0), [
        { type: PayloadType.HASH, reserved: 0, data: hashI },
      ]),
    );
    sim.runFor(100);
    const f = server.eventsOf("failed")[0];
    assert.ok(f);
    assert.equal(f.code, IkeErrorCode.AuthenticationFailed);
    assert.equal(server.eventsOf("phase1-up").length, 0);
    assert.equal(server.engine.ikeSas().length, 0);
  });

  it("flag off (default): AM1 is dropped and counted, no answer, no warning", () => {
    const { server, client } = setup({ nat: false, aggressive: false });
    assert.equal(client.received.length, 0);
    assert.equal(server.sent().length, 0);
    assert.equal(server.counters.get('ike_drop{reason="aggressive_mode"}'), 1n);
    assert.deepEqual(server.engine.startupWarnings, []);
  });
});
