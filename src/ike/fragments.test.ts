import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Counters } from "../obs/counters.js";
import { nullLogger } from "../obs/log.js";
import { PayloadType, parseIkeFragment, vendorIdBytes } from "../wire/isakmp/index.js";
import { ikeConfig, type IkeConfigInput } from "./config.js";
import { fragmentationVid, readVendorIds } from "./exchanges/common.js";
import {
  DEFAULT_FRAGMENTATION,
  datagramOverhead,
  FragmentHandler,
  fragmentationConfig,
  fragmentationProblems,
} from "./fragments.js";
import type { IkeSa } from "./ike-sa.js";

const vidPayload = (hex: string) => ({
  type: PayloadType.VID,
  reserved: 0,
  data: Buffer.from(hex, "hex"),
});
const FRAG = vendorIdBytes("FRAGMENTATION").toString("hex");

describe("FRAGMENTATION vendor ID", () => {
  it("Windows' bare hash and the 0x80000000 capability mean support; other capabilities do not", () => {
    assert.equal(readVendorIds([vidPayload(FRAG)], true).fragmentation, true);
    assert.equal(readVendorIds([vidPayload(`${FRAG}80000000`)], true).fragmentation, true);
    assert.equal(readVendorIds([vidPayload(`${FRAG}c0000000`)], true).fragmentation, true);
    assert.equal(readVendorIds([vidPayload(`${FRAG}40000000`)], true).fragmentation, false);
    assert.equal(readVendorIds([vidPayload(`${FRAG}8000`)], true).fragmentation, false);
    assert.notEqual(readVendorIds([], true).fragmentation, true);
  });

  it('we send what strongSwan and racoon send: MD5("FRAGMENTATION") + 80000000', () => {
    assert.equal(
      fragmentationVid().data.toString("hex"),
      "4048b7d56ebce88525e7de7f00d6c2d380000000",
    );
  });
});

function handler(cfg: IkeConfigInput = {}) {
  const counters = new Counters();
  const h = new FragmentHandler({
    config: ikeConfig(cfg),
    counters,
    log: nullLogger,
    now: 0,
    schedule: () => () => {},
  });
  return { h, counters };
}

const sa = (fragmentation: boolean, port = 500) =>
  ({
    local: { address: "198.51.100.2", port },
    peer: { address: "203.0.113.9", port },
    vids: {
      names: [],
      dpd: false,
      windows: false,
      initialContact: false,
      natt: "none",
      fragmentation,
    },
    log: nullLogger,
    suite: { auth: "rsa-sig" },
  }) as unknown as IkeSa;

const message = (len: number) => {
  const m = Buffer.alloc(len, 0x33);
  m.writeUInt32BE(len, 24);
  return m;
};

describe("sending fragments", () => {
  it("the datagram limit counts IP, UDP and the non-ESP marker on 4500", () => {
    const to = { address: "203.0.113.9", port: 4500 };
    assert.equal(datagramOverhead({ address: "198.51.100.2", port: 4500 }, to), 32);
    assert.equal(
      datagramOverhead({ address: "198.51.100.2", port: 500 }, { ...to, port: 500 }),
      28,
    );
    assert.equal(
      datagramOverhead(
        { address: "2001:db8::1", port: 500 },
        { address: "2001:db8::2", port: 500 },
      ),
      48,
    );
  });

  it("a message that fits (1252 bytes on 500) goes whole; one byte more goes in fragments", () => {
    const { h } = handler();
    const s = sa(true);
    assert.equal(h.outgoing(s, s.local, s.peer, message(1252)).length, 1);
    const parts = h.outgoing(s, s.local, s.peer, message(1253));
    assert.equal(parts.length, 2);
    assert.ok(parts.every((p) => p.length + 28 <= 1280));
  });

  it("on 4500 each carrier plus marker, UDP and IP stays within fragmentSize", () => {
    const { h } = handler({ fragmentation: { fragmentSize: 576 } });
    const s = sa(true, 4500);
    const parts = h.outgoing(s, s.local, s.peer, message(5000));
    assert.ok(
      parts.every((p) => p.length + 32 <= 576),
      String(parts.map((p) => p.length)),
    );
    assert.equal(parts.length, Math.ceil(5000 / (576 - 32 - 36)));
  });

  it("never to a peer that did not announce support, nor when off", () => {
    assert.equal(
      handler().h.outgoing(sa(false), sa(false).local, sa(false).peer, message(5000)).length,
      1,
    );
    const off = handler({ fragmentation: { enabled: false } }).h;
    assert.equal(off.outgoing(sa(true), sa(true).local, sa(true).peer, message(5000)).length, 1);
  });

  it("a retransmission reuses the carriers (same Fragment ID); a new message gets the next ID", () => {
    const { h, counters } = handler();
    const s = sa(true);
    const m = message(3000);
    const a = h.outgoing(s, s.local, s.peer, m);
    const b = h.outgoing(s, s.local, s.peer, m);
    assert.equal(a, b);
    const c = h.outgoing(s, s.local, s.peer, message(3000));
    const id = (x: readonly Buffer[]) => {
      const f = parseIkeFragment(x[0]!);
      assert.ok(f.ok);
      return f.value.fragmentId;
    };
    assert.equal(id(a), 1);
    assert.equal(id(c), 2);
    assert.equal(counters.get("ike_fragmented_messages_tx"), 2n);
  });
});

describe("fragmentation configuration", () => {
  it("defaults: on, 1280-byte datagrams", () => {
    const c = fragmentationConfig(ikeConfig({}));
    assert.deepEqual(c, DEFAULT_FRAGMENTATION);
  });

  it("a fragmentSize below 576 is raised, with a warning naming the field", () => {
    const cfg = ikeConfig({ fragmentation: { fragmentSize: 100 } });
    assert.equal(fragmentationConfig(cfg).fragmentSize, 576);
    assert.match(
      fragmentationProblems(cfg)[0] ?? "",
      /fragmentation\.fragmentSize 100 is outside 576\.\.65535/,
    );
  });
});
