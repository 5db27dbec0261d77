/**
 * Real L2TP control messages (xl2tpd 1.3.18 LAC <-> LNS, decrypted; test/vectors/l2tp/README.md):
 * every one must parse and re-serialize byte-identically, at the packet, AVP-list and typed-AVP
 * levels. Field values are checked against Wireshark 4.0.17's dissection of the same frames.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { unwrap } from "../../base/result.js";
import { AvpType, L2tpMessageType } from "../../registry/l2tp.js";
import { udpDatagrams } from "../../../test/helpers/pcap.js";
import { l2tpCaptureMessages, l2tpCapturePath } from "../../../test/vectors/l2tp/captures.js";
import { encodeAvp, parseAvps, serializeAvps, decodeAvp } from "./avp.js";
import { decodeControlMessage, findAvp } from "./control.js";
import { parseL2tpPacket, serializeL2tpPacket } from "./header.js";

test("every L2TP message in the xl2tpd captures round-trips exactly", () => {
  const msgs = l2tpCaptureMessages();
  assert.equal(msgs.length, 24);
  const types: string[] = [];
  for (const m of msgs) {
    const p = unwrap(parseL2tpPacket(m));
    assert.deepEqual(serializeL2tpPacket(p), m);
    assert.equal(p.kind, "control");
    const avps = unwrap(parseAvps(p.body));
    assert.deepEqual(serializeAvps(avps), p.body);
    for (const a of avps) {
      const d = unwrap(decodeAvp(a));
      assert.deepEqual(encodeAvp(d), a);
    }
    if (avps.length === 0) {
      types.push("ZLB");
      continue;
    }
    const c = unwrap(decodeControlMessage(avps));
    assert.equal(c.unknown.length + c.unknownMandatory.length, 0);
    types.push(String(c.messageType));
  }
  // Wireshark: SCCRQ SCCRP SCCCN ZLB ICRQ ICRP ZLB ICCN ZLB CDN ZLB (tunnel capture)
  assert.deepEqual(types.slice(0, 11), [
    "1",
    "2",
    "3",
    "ZLB",
    "10",
    "11",
    "ZLB",
    "12",
    "ZLB",
    "14",
    "ZLB",
  ]);
});

test("fields agree with Wireshark's dissection (tunnel capture, frames 1, 8, 10)", () => {
  const msgs = udpDatagrams(l2tpCapturePath("evidence-l2tp-inner-tunnel.pcap"));
  const sccrq = unwrap(parseL2tpPacket(msgs[0]?.payload ?? Buffer.alloc(0)));
  assert.equal(sccrq.header.tunnelId, 0);
  assert.equal(sccrq.header.ns, 0);
  const c = unwrap(decodeControlMessage(unwrap(parseAvps(sccrq.body))));
  assert.equal(c.messageType, L2tpMessageType.SCCRQ);
  assert.deepEqual(findAvp(c, AvpType.ProtocolVersion), {
    mandatory: true,
    type: 2,
    version: 1,
    revision: 0,
  });
  assert.equal(findAvp(c, AvpType.FramingCapabilities)?.value, 3);
  assert.equal(findAvp(c, AvpType.BearerCapabilities)?.value, 0);
  assert.deepEqual(findAvp(c, AvpType.FirmwareRevision), {
    mandatory: false,
    type: 6,
    value: 1680,
  });
  assert.equal(findAvp(c, AvpType.HostName)?.value.toString(), "vm");
  assert.equal(findAvp(c, AvpType.VendorName)?.value.toString(), "xelerance.com");
  assert.equal(findAvp(c, AvpType.AssignedTunnelId)?.value, 8410);
  assert.equal(findAvp(c, AvpType.ReceiveWindowSize)?.value, 4);

  const iccn = unwrap(parseL2tpPacket(msgs[7]?.payload ?? Buffer.alloc(0)));
  assert.deepEqual(
    [iccn.header.tunnelId, iccn.header.sessionId, iccn.header.ns, iccn.header.nr],
    [36710, 41184, 3, 2],
  );
  const ic = unwrap(decodeControlMessage(unwrap(parseAvps(iccn.body))));
  assert.equal(ic.messageType, L2tpMessageType.ICCN);
  assert.equal(findAvp(ic, AvpType.FramingType)?.value, 1);
  assert.equal(findAvp(ic, AvpType.TxConnectSpeed)?.value, 0);
  assert.deepEqual(findAvp(ic, AvpType.RxConnectSpeed), { mandatory: false, type: 38, value: 0 });

  const cdn = unwrap(parseL2tpPacket(msgs[9]?.payload ?? Buffer.alloc(0)));
  const cd = unwrap(decodeControlMessage(unwrap(parseAvps(cdn.body))));
  assert.equal(cd.messageType, L2tpMessageType.CDN);
  const rc = findAvp(cd, AvpType.ResultCode);
  assert.equal(rc?.resultCode, 1);
  assert.equal(rc?.errorCode, 0);
  assert.equal(findAvp(cd, AvpType.AssignedSessionId)?.value, 63262);
});
