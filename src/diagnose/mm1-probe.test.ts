import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { type IkeConfig, IkeEngine, ikeConfig, phase1Offers } from "../ike/index.js";
import { diagnoseIkeConfig } from "./run.js";
import { buildMm1, NON_ESP_MARKER, readMm1Answer } from "./mm1-probe.js";

const CLIENT = "192.0.2.2";
const SERVER = "198.51.100.2";
const rand = (n: number) => randomBytes(n);

function clientCfg(): IkeConfig {
  return diagnoseIkeConfig(
    { server: SERVER, local: CLIENT, timeoutMs: 3000, pppMtu: 1400 },
    "probe-key-not-used-in-mm1",
  );
}

/** What a responder engine answers to `mm1` (its first datagram). */
function answer(server: IkeConfig, mm1: Buffer): Buffer {
  const e = new IkeEngine(server, { random: rand });
  const out = e.handleDatagram(
    {
      data: mm1,
      local: { address: SERVER, port: 500 },
      remote: { address: CLIENT, port: 500 },
    },
    0,
  );
  const send = out.find((a) => a.kind === "send");
  assert.ok(send?.kind === "send", "the responder answered");
  return send.data;
}

describe("MM1 probe", () => {
  it("an Oakley responder's MM2 shows the chosen transform and vendor IDs by name", () => {
    const server = ikeConfig({ localAddress: SERVER, psks: [{ secret: "x".repeat(20) }] });
    const r = readMm1Answer(answer(server, buildMm1(clientCfg(), SERVER, rand)), false);
    assert.equal(r.notify, undefined);
    assert.equal(r.malformed, undefined);
    assert.match(r.chosen ?? "", /^AES-CBC-(128|256)\/SHA(2-256)?\/(MODP-2048|ECP)/);
    assert.ok(r.vendorIds.includes("RFC 3947"), r.vendorIds.join(","));
  });

  it("a responder with no common proposal answers NO-PROPOSAL-CHOSEN, and it is read as such", () => {
    const server = ikeConfig({
      localAddress: SERVER,
      psks: [{ secret: "x".repeat(20) }],
      phase1: { offers: phase1Offers([{ encryption: "3des-cbc", keyBits: 192 }], ["md5"], [2]) },
    });
    const r = readMm1Answer(answer(server, buildMm1(clientCfg(), SERVER, rand)), false);
    assert.equal(r.notify, "NO-PROPOSAL-CHOSEN");
  });

  it("on UDP 4500 the MM1 carries the non-ESP marker, and answers without it are refused", () => {
    const mm1 = buildMm1(clientCfg(), SERVER, rand, 4500);
    assert.ok(mm1.subarray(0, 4).equals(NON_ESP_MARKER));
    const server = ikeConfig({ localAddress: SERVER, psks: [{ secret: "x".repeat(20) }] });
    const mm2 = answer(server, mm1.subarray(4));
    assert.ok(readMm1Answer(Buffer.concat([NON_ESP_MARKER, mm2]), true).chosen);
    assert.match(readMm1Answer(mm2, true).malformed ?? "", /non-ESP marker/);
  });

  it("each probe has fresh cookies (no state shared between probes)", () => {
    const a = buildMm1(clientCfg(), SERVER, rand);
    const b = buildMm1(clientCfg(), SERVER, rand);
    assert.ok(!a.subarray(0, 8).equals(b.subarray(0, 8)));
  });

  it("hostile answers: never a throw, always a reply (fuzz)", () => {
    const server = ikeConfig({ localAddress: SERVER, psks: [{ secret: "x".repeat(20) }] });
    const mm2 = answer(server, buildMm1(clientCfg(), SERVER, rand));
    const rep = fuzzParser(
      "readMm1Answer",
      (input) => {
        const r = readMm1Answer(input, input.length > 0 && input[0] === 0);
        assert.ok(Array.isArray(r.vendorIds));
        return { ok: r.malformed === undefined };
      },
      [mm2, Buffer.concat([NON_ESP_MARKER, mm2])],
      { iterations: 20_000 },
    );
    assert.ok(rep.okCount > 0 && rep.errCount > 0);
  });
});
