/**
 * The harness' own readers (keylog.ts, vici.ts, and test/helpers/pcap.ts) on real strongSwan output: the
 * committed key-logged runs in test/vectors/strongswan (charon logs, tcpdump pcaps), and a
 * `swanctl --list-sas --raw` line as strongSwan 5.9.8 printed it in the lab. No root needed.
 * Oracle: the values make-vectors.ts cross-checked against swanctl and Wireshark when it wrote
 * vectors.json (see test/vectors/strongswan/README.md).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { classifyNatt, readPcap, udpDatagrams } from "../../helpers/pcap.js";
import { findDump, grepLog, parseKeyDumps } from "./keylog.js";
import { parseVici, viciSec, viciStr } from "./vici.js";

const run = join(
  import.meta.dirname,
  "..",
  "..",
  "vectors",
  "strongswan",
  "ikev1-psk-aes128-sha1-modp2048_esp-aes128-sha1",
);
const vectors = JSON.parse(readFileSync(join(run, "vectors.json"), "utf8")) as {
  ike: { skeyid: string; gxy: string; ikeCookies: { initiator: string } };
  messages: { frame: number; hex: string }[];
  esp: { spi: string; packets: { frame: number; hex: string }[] }[];
};

describe("charon %B key dumps (keylog.ts)", () => {
  const log = readFileSync(join(run, "initiator-charon.log"), "utf8");
  const dumps = parseKeyDumps(log);
  it("finds SKEYID and g^xy with their full length", () => {
    assert.equal(findDump(dumps, "SKEYID")?.bytes.toString("hex"), vectors.ike.skeyid);
    const gxy = findDump(dumps, "shared Diffie Hellman secret");
    assert.equal(gxy?.bytes.length, 256, "MODP-2048 shared secret");
    assert.equal(gxy?.bytes.toString("hex"), vectors.ike.gxy);
    assert.equal(gxy?.group, "IKE");
  });
  it("rejects a dump whose rows do not add up to its length", () => {
    const cut = log.replace(/(SKEYID => 20 bytes @ 0x[0-9a-f]+\n)[^\n]*\n/, "$1");
    assert.throws(() => parseKeyDumps(cut), /has \d+ of 20 bytes/);
  });
  it("grepLog strips the time/thread/SA prefix", () => {
    const sel = grepLog(log, /selected proposal: IKE:/);
    assert.match(
      sel[0] ?? "",
      /^selected proposal: IKE:AES_CBC_128\/HMAC_SHA1_96\/PRF_HMAC_SHA1\/MODP_2048$/,
    );
  });
});

describe("pcap reader and RFC 3948 classification (test/helpers/pcap.ts)", () => {
  it("reads the server-side capture: IKE messages and ESP packets as vectors.json lists them", () => {
    const frames = readPcap(readFileSync(join(run, "server.pcap")));
    assert.equal(frames[0]?.linkType, 1, "Ethernet");
    assert.ok(frames.length >= vectors.messages.length + 6);
    const d = udpDatagrams(join(run, "server.pcap"));
    const ike = d.filter((x) => x.kind === "isakmp");
    assert.deepEqual(
      ike.map((x) => x.frame),
      vectors.messages.map((m) => m.frame),
    );
    assert.equal(ike[0]?.payload.toString("hex"), vectors.messages[0]?.hex);
    assert.equal(ike[0]?.marker, false, "MM1 on port 500 has no marker");
    assert.equal(ike[4]?.marker, true, "MM5 on 4500 carries the non-ESP marker");
    const esp = d.filter((x) => x.kind === "esp-in-udp");
    assert.equal(esp.length, 6);
    assert.equal(esp[0]?.udpPayload.subarray(0, 4).toString("hex"), vectors.esp[0]?.spi);
  });
  it("classifies a NAT-keepalive (single 0xFF on 4500)", () => {
    const k = classifyNatt(4500, 4500, Buffer.from([0xff]));
    assert.equal(k.kind, "nat-keepalive");
  });
});

describe("swanctl --raw parser (vici.ts)", () => {
  // printed by swanctl 5.9.8 --list-sas --raw in the lab (SPIs from one run)
  const raw =
    "lab {uniqueid=1 version=1 state=ESTABLISHED local-host=192.0.2.2 local-port=4500 local-id=192.0.2.2 remote-host=198.51.100.2 remote-port=4500 remote-id=O=Oakley Test, CN=oak-server.example initiator=yes initiator-spi=bc29ea2acc7a1f5b responder-spi=7286895c5c1dec01 nat-local=yes child-sas {net-1 {name=net state=INSTALLED mode=TUNNEL encap=yes spi-in=525fdd77 spi-out=fcc0ae66 local-ts=[192.0.2.2/32] remote-ts=[203.0.113.1/32]}}}";
  const top = parseVici(raw);
  const sa = viciSec(top, "lab");
  it("reads values, nested sections and lists", () => {
    assert.equal(viciStr(sa, "state"), "ESTABLISHED");
    assert.equal(viciStr(sa, "local-port"), "4500");
    const child = viciSec(viciSec(sa, "child-sas"), "net-1");
    assert.equal(viciStr(child, "spi-out"), "fcc0ae66");
    assert.deepEqual(child["local-ts"], ["192.0.2.2/32"]);
  });
  it("keeps a DN identity with spaces in one value", () => {
    assert.equal(viciStr(sa, "remote-id"), "O=Oakley Test, CN=oak-server.example");
    assert.equal(viciStr(sa, "initiator"), "yes");
  });
});
