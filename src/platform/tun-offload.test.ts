/**
 * Tests of the user-space TUN offloads (tun-offload.ts). Oracles: RFC 1071 §3's numerical
 * example, and the Internet checksum of src/wire/ip/checksum.ts (a separate, byte-wise RFC 1071
 * implementation with its own RFC test vectors) for every checksum we produce or accept. The
 * real kernel is the end-to-end oracle in test/interop/esp-tunnel.test.ts (20 MiB SHA-256
 * through TUN devices with these offloads on).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import {
  fold,
  internetChecksum,
  onesSum as refOnesSum,
  pseudoHeaderSumV4,
  pseudoHeaderSumV6,
} from "../wire/ip/checksum.js";
import {
  TcpGroup,
  type TcpSegmentInfo,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VNET_HDR_LEN,
  type VnetHdr,
  coalescable,
  completeChecksum,
  foldSum,
  onesSum,
  readVnetHdr,
  segmentTcp,
} from "./tun-offload.js";

const SRC4 = [192, 0, 2, 2];
const DST4 = [203, 0, 113, 1];
const ACK = 0x10;
const PSH = 0x08;

/** A TCP/IPv4 packet (timestamps option: 32-octet TCP header) with valid checksums. */
function tcp4(payload: Uint8Array, seq: number, flags: number, id = 0x1234): Buffer {
  const p = Buffer.alloc(52 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(id, 4);
  p[6] = 0x40; // DF
  p[8] = 64;
  p[9] = 6;
  p.set(SRC4, 12);
  p.set(DST4, 16);
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  p.writeUInt16BE(40000, 20);
  p.writeUInt16BE(5201, 22);
  p.writeUInt32BE(seq >>> 0, 24);
  p.writeUInt32BE(0x01020304, 28);
  p[32] = 8 << 4;
  p[33] = flags;
  p.writeUInt16BE(502, 34);
  p.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], 40); // NOP NOP TS
  p.set(payload, 52);
  const l4 = p.length - 20;
  const c =
    ~fold(pseudoHeaderSumV4(p.subarray(12, 16), p.subarray(16, 20), 6, l4) + refOnesSum(p, 20)) &
    0xffff;
  p.writeUInt16BE(c, 36);
  return p;
}

function tcpValid4(p: Uint8Array): boolean {
  const l4 = p.length - 20;
  return (
    internetChecksum(p, 0, 20) === 0 &&
    fold(pseudoHeaderSumV4(p.subarray(12, 16), p.subarray(16, 20), 6, l4) + refOnesSum(p, 20)) ===
      0xffff
  );
}

function randomPayload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test("onesSum: RFC 1071 §3 example (00 01 f2 03 f4 f5 f6 f7 sums to ddf2), also on the word path", () => {
  const ex = Buffer.from("0001f203f4f5f6f7", "hex");
  assert.equal(foldSum(onesSum(ex, 0, ex.length)), 0xddf2);
  // 16 copies, 4-aligned and at offset 2 (the 32-bit word path): 16 * 0xddf2 folded.
  const many = Buffer.alloc(130);
  for (let i = 0; i < 16; i++) ex.copy(many, 2 + i * 8);
  const want = fold(16 * 0xddf2);
  assert.equal(foldSum(onesSum(many, 2, 130)), want);
  assert.equal(foldSum(onesSum(Buffer.concat([many.subarray(2)]), 0, 128)), want);
});

test("onesSum equals the byte-wise RFC 1071 sum at every alignment and length (property)", () => {
  const backing = randomPayload(4096 + 16, 7);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 4096 }), (off, len) => {
      const view = new Uint8Array(backing.buffer, backing.byteOffset + off, len);
      assert.equal(foldSum(onesSum(view, 0, len)), fold(refOnesSum(view, 0, len)));
    }),
    { numRuns: 2000 },
  );
});

test("segmentTcp cuts a TSO super-packet like the kernel's TSO: lengths, ids, seqs, flags, checksums", () => {
  const payload = randomPayload(5000, 1);
  const seq0 = 0xfffff000; // wraps within the packet
  const sp = tcp4(payload, seq0, ACK | PSH);
  const segs: Buffer[] = [];
  assert.ok(segmentTcp(sp, 1348, segs));
  assert.deepEqual(
    segs.map((s) => s.length - 52),
    [1348, 1348, 1348, 956],
  );
  segs.forEach((s, i) => {
    assert.ok(tcpValid4(s), `segment ${i} checksums`);
    assert.equal(s.readUInt16BE(2), s.length);
    assert.equal(s.readUInt16BE(4), 0x1234 + i);
    assert.equal(s.readUInt32BE(24), (seq0 + i * 1348) >>> 0);
    assert.equal(s[33], i === 3 ? ACK | PSH : ACK);
    assert.deepEqual(s.subarray(40, 52), sp.subarray(40, 52));
  });
  assert.deepEqual(Buffer.concat(segs.map((s) => s.subarray(52))), payload);
});

test("segmentTcp on IPv6: payload length and RFC 8200 §8.1 pseudo-header checksum per segment", () => {
  const payload = randomPayload(3000, 2);
  const p = Buffer.alloc(60 + payload.length);
  p[0] = 0x60;
  p.writeUInt16BE(20 + payload.length, 4);
  p[6] = 6;
  p[7] = 64;
  p.set(Buffer.from("20010db8000000000000000000000001", "hex"), 8);
  p.set(Buffer.from("20010db8000000000000000000000002", "hex"), 24);
  p.writeUInt32BE(1000, 44);
  p[52] = 5 << 4;
  p[53] = ACK;
  p.set(payload, 60);
  const segs: Buffer[] = [];
  assert.ok(segmentTcp(p, 1400, segs));
  assert.equal(segs.length, 3);
  for (const s of segs) {
    const l4 = s.length - 40;
    assert.equal(s.readUInt16BE(4), l4);
    const sum = pseudoHeaderSumV6(s.subarray(8, 24), s.subarray(24, 40), 6, l4) + refOnesSum(s, 40);
    assert.equal(fold(sum), 0xffff);
  }
  assert.deepEqual(Buffer.concat(segs.map((s) => s.subarray(60))), payload);
});

test("coalescing: segments merge back into one super-packet with a partial checksum and TCPV4 GSO header", () => {
  const payload = randomPayload(5000, 3);
  const sp = tcp4(payload, 77, ACK | PSH);
  const segs: Buffer[] = [];
  assert.ok(segmentTcp(sp, 1348, segs));
  const info: TcpSegmentInfo = { ipLen: 0, tcpLen: 0, payload: 0, seq: 0, flags: 0 };
  const g = new TcpGroup(Buffer.alloc(65535 + VNET_HDR_LEN));
  assert.ok(coalescable(segs[0]!, info));
  g.start(segs[0]!, info);
  for (const s of segs.slice(1)) {
    assert.ok(coalescable(s, info));
    assert.ok(g.append(s, info));
  }
  assert.ok(g.closed, "PSH on the last segment closes the group");
  const out = g.finish();
  const h: VnetHdr = { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
  readVnetHdr(out, 0, h);
  assert.deepEqual(h, {
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO_TCPV4,
    hdrLen: 52,
    gsoSize: 1348,
    csumStart: 20,
    csumOffset: 16,
  });
  const pkt = Buffer.from(out.subarray(VNET_HDR_LEN));
  assert.equal(pkt.length, sp.length);
  assert.equal(internetChecksum(pkt, 0, 20), 0);
  // The checksum field holds the folded pseudo-header sum (what the kernel's TSO path hands a
  // device); completing it over the segment gives the full checksum.
  assert.equal(
    pkt.readUInt16BE(36),
    fold(pseudoHeaderSumV4(pkt.subarray(12, 16), pkt.subarray(16, 20), 6, pkt.length - 20)),
  );
  assert.ok(completeChecksum(pkt, 20, 16));
  assert.ok(tcpValid4(pkt));
  assert.deepEqual(pkt, sp);
});

test("completeChecksum sends a computed 0 as 0xffff (RFC 768; the kernel's CSUM_MANGLED_0)", () => {
  // Sum of the region is 0xffff, so the complement is 0.
  const p = Buffer.from([0xff, 0xff, 0x00, 0x00]);
  assert.ok(completeChecksum(p, 0, 2));
  assert.equal(p.readUInt16BE(2), 0xffff);
  assert.equal(completeChecksum(p, 4, 0), false, "offsets outside the packet");
});

test("coalescing refuses: a corrupt segment, a gap, a different flow, a SYN, a fragment", () => {
  const payload = randomPayload(4044, 4);
  const segs: Buffer[] = [];
  assert.ok(segmentTcp(tcp4(payload, 5, ACK), 1348, segs));
  const info: TcpSegmentInfo = { ipLen: 0, tcpLen: 0, payload: 0, seq: 0, flags: 0 };
  const bad = Buffer.from(segs[1]!);
  bad[100]! ^= 0x01;
  assert.equal(coalescable(bad, info), false, "TCP checksum is verified");
  const badIp = Buffer.from(segs[1]!);
  badIp[8] = 63; // TTL changed without fixing the header checksum
  assert.equal(coalescable(badIp, info), false, "IPv4 header checksum is verified");
  const g = new TcpGroup(Buffer.alloc(65535 + VNET_HDR_LEN));
  assert.ok(coalescable(segs[0]!, info));
  g.start(segs[0]!, info);
  assert.ok(coalescable(segs[2]!, info));
  assert.equal(g.append(segs[2]!, info), false, "out of order");
  const other = tcp4(payload.subarray(0, 1348), 5 + 1348, ACK);
  other.writeUInt16BE(40001, 20);
  assert.equal(g.sameFlow(other), false);
  assert.equal(coalescable(tcp4(Buffer.alloc(10), 1, 0x02), info), false, "SYN");
  const frag = tcp4(Buffer.alloc(10), 1, ACK);
  frag[6] = 0x20; // MF
  assert.equal(coalescable(frag, info), false, "fragment");
  assert.equal(coalescable(tcp4(Buffer.alloc(0), 1, ACK), info), false, "pure ACK");
});

test("segmentTcp and coalescable never throw on hostile input (fuzz)", () => {
  const sp = tcp4(randomPayload(3000, 5), 1, ACK);
  const out: Buffer[] = [];
  const info: TcpSegmentInfo = { ipLen: 0, tcpLen: 0, payload: 0, seq: 0, flags: 0 };
  fuzzParser(
    "segmentTcp",
    (b) => ({ ok: segmentTcp(b, 1 + (b.length % 1500), out) }),
    [sp, sp.subarray(0, 60)],
    { iterations: 20_000, maxLength: 4096 },
  );
  fuzzParser("coalescable", (b) => ({ ok: coalescable(b, info) }), [sp.subarray(0, 1400)], {
    iterations: 20_000,
  });
  fuzzParser(
    "completeChecksum",
    (b) => ({
      ok: completeChecksum(Buffer.from(b), b.length > 0 ? b[0]! : 0, b.length > 1 ? b[1]! : 0),
    }),
    [sp.subarray(0, 200)],
    { iterations: 20_000 },
  );
});
