/**
 * Shapes (test/fuzz/mutate.ts) of the wire formats the deep fuzzer mutates: where the TLV
 * elements, length fields and type fields are in an ISAKMP message (RFC 2408 §3: header,
 * generic payload chain, SA proposals/transforms/attributes), an L2TP message (RFC 2661 §3.1,
 * §4.1 AVPs), a PPP frame and its control packet and options (RFC 1661 §5, §6), and IPv4 with
 * UDP/TCP. The walks are forgiving: they stop at the first element that does not fit.
 */
import type { Elem, Shape } from "./mutate.js";

const u16 = (b: Buffer, o: number) => (o + 2 <= b.length ? b.readUInt16BE(o) : -1);

function walkAttributes(b: Buffer, from: number, to: number, out: Elem[]): void {
  let a = from;
  while (a + 4 <= to && out.length < 256) {
    const t = b.readUInt16BE(a);
    if (t & 0x8000) {
      out.push({ start: a, end: a + 4, typeOff: a, typeSize: 2 });
      a += 4;
    } else {
      const len = b.readUInt16BE(a + 2);
      const end = Math.min(a + 4 + len, to);
      out.push({ start: a, end, lenOff: a + 2, lenSize: 2, lenBias: 4, typeOff: a, typeSize: 2 });
      a = a + 4 + len;
    }
  }
}

function walkSa(b: Buffer, body: number, end: number, out: Elem[]): void {
  // DOI (4) + Situation (4), then proposals
  let p = body + 8;
  while (p + 8 <= end && out.length < 256) {
    const plen = u16(b, p + 2);
    if (plen < 8) return;
    const pend = Math.min(p + plen, end);
    out.push({ start: p, end: pend, lenOff: p + 2, lenSize: 2, typeOff: p });
    const spiSize = b[p + 6] ?? 0;
    let t = p + 8 + spiSize;
    while (t + 8 <= pend && out.length < 256) {
      const tlen = u16(b, t + 2);
      if (tlen < 8) break;
      const tend = Math.min(t + tlen, pend);
      out.push({ start: t, end: tend, lenOff: t + 2, lenSize: 2, typeOff: t });
      walkAttributes(b, t + 8, tend, out);
      t += tlen;
    }
    p += plen;
  }
}

/** The generic payload chain starting at `off` whose first payload has type `first`. */
function walkChain(b: Buffer, off: number, first: number, out: Elem[]): void {
  let type = first;
  while (off + 4 <= b.length && type !== 0 && out.length < 256) {
    const len = u16(b, off + 2);
    if (len < 4) return;
    const end = Math.min(off + len, b.length);
    out.push({ start: off, end, lenOff: off + 2, lenSize: 2, typeOff: off });
    if (type === 1 && end - off > 12) walkSa(b, off + 4, end, out);
    if (type === 14 && end - off > 8) walkAttributes(b, off + 8, end, out); // Mode-Config ATTR
    type = b[off] ?? 0;
    off += len;
  }
}

/** Payload types worth writing into next-payload fields (RFC 2408 §3.1, RFC 3947, private). */
const ISAKMP_TYPES = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 130, 131, 132, 255,
];

export const isakmpMessage: Shape = {
  elems(b) {
    if (b.length < 28) return [];
    const out: Elem[] = [{ start: 0, end: b.length, lenOff: 24, lenSize: 4, typeOff: 16 }];
    // encrypted (flags bit 0): the body is ciphertext
    if (((b[19] ?? 0) & 1) === 0) walkChain(b, 28, b[16] ?? 0, out);
    return out;
  },
  fix(b) {
    if (b.length >= 28) b.writeUInt32BE(b.length, 24);
  },
  types: ISAKMP_TYPES,
};

/** A payload chain with its first payload type in the first octet (the chain fuzz input). */
export const isakmpTypedChain: Shape = {
  elems(b) {
    const out: Elem[] = b.length > 0 ? [{ start: 0, end: 1, typeOff: 0 }] : [];
    walkChain(b, 1, b[0] ?? 0, out);
    return out;
  },
  types: ISAKMP_TYPES,
};

/** An SA payload body (DOI, situation, proposals). */
export const isakmpSaBody: Shape = {
  elems(b) {
    const out: Elem[] = [];
    walkSa(b, 0, b.length, out);
    return out;
  },
};

export const isakmpAttributes: Shape = {
  elems(b) {
    const out: Elem[] = [];
    walkAttributes(b, 0, b.length, out);
    return out;
  },
  types: [0x8001, 0x8002, 0x8003, 0x8004, 0x800b, 0x800c, 0x0001, 0x000b, 0x000c, 0x000e, 0x8010],
};

function walkAvps(b: Buffer, off: number, out: Elem[]): void {
  while (off + 6 <= b.length && out.length < 256) {
    const len = b.readUInt16BE(off) & 0x3ff;
    if (len < 6) return;
    const end = Math.min(off + len, b.length);
    out.push({
      start: off,
      end,
      lenOff: off,
      lenSize: 2,
      lenMask: 0x3ff,
      typeOff: off + 4,
      typeSize: 2,
    });
    off += len;
  }
}

/** AVP types of RFC 2661 §4.4 (0..39) plus a vendor-ish one. */
const AVP_TYPES = [...Array.from({ length: 40 }, (_, i) => i), 0x7fff, 0xffff];

export const l2tpAvps: Shape = {
  elems(b) {
    const out: Elem[] = [];
    walkAvps(b, 0, out);
    return out;
  },
  types: AVP_TYPES,
};

function l2tpHeaderLength(flags: number, b: Buffer): number {
  let h = 6 + (flags & 0x4000 ? 2 : 0) + (flags & 0x0800 ? 4 : 0);
  if (flags & 0x0200) h += 2 + Math.max(0, u16(b, h));
  return h;
}

export const l2tpPacket: Shape = {
  elems(b) {
    if (b.length < 6) return [];
    const flags = b.readUInt16BE(0);
    const out: Elem[] = [
      { start: 0, end: b.length, ...(flags & 0x4000 ? { lenOff: 2, lenSize: 2 as const } : {}) },
    ];
    const h = l2tpHeaderLength(flags, b);
    if (flags & 0x8000) walkAvps(b, h, out);
    else out.push(...pppFrame.elems(b.subarray(h)).map((e) => shift(e, h)));
    return out;
  },
  fix(b) {
    if (b.length >= 4 && b.readUInt16BE(0) & 0x4000) b.writeUInt16BE(Math.min(b.length, 0xffff), 2);
  },
  types: AVP_TYPES,
};

function shift(e: Elem, by: number): Elem {
  return {
    ...e,
    start: e.start + by,
    end: e.end + by,
    ...(e.lenOff !== undefined ? { lenOff: e.lenOff + by } : {}),
    ...(e.typeOff !== undefined ? { typeOff: e.typeOff + by } : {}),
  };
}

/** A PPP control packet (code, identifier, length, options) at offset 0. */
function walkControl(b: Buffer, withOptions: boolean): Elem[] {
  if (b.length < 4) return [];
  const len = b.readUInt16BE(2);
  const end = Math.min(len, b.length);
  const out: Elem[] = [{ start: 0, end, lenOff: 2, lenSize: 2, typeOff: 0 }];
  const code = b[0] ?? 0;
  if (withOptions && code >= 1 && code <= 4) {
    let o = 4;
    while (o + 2 <= end && out.length < 128) {
      const olen = b[o + 1] ?? 0;
      if (olen < 2) break;
      out.push({ start: o, end: Math.min(o + olen, end), lenOff: o + 1, lenSize: 1, typeOff: o });
      o += olen;
    }
  }
  return out;
}

export const pppControl: Shape = {
  elems: (b) => walkControl(b, true),
  fix(b) {
    if (b.length >= 4) b.writeUInt16BE(Math.min(b.length, 0xffff), 2);
  },
  types: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0x81, 0x82, 0x83, 0x84, 0x90, 0xff],
};

export const pppAuth: Shape = {
  elems: (b) => walkControl(b, false),
  fix(b) {
    if (b.length >= 4) b.writeUInt16BE(Math.min(b.length, 0xffff), 2);
  },
  types: [1, 2, 3, 4, 5, 0],
};

export const pppFrame: Shape = {
  elems(b) {
    let p = 0;
    if (b[0] === 0xff && b[1] === 0x03) p = 2;
    const proto = (b[p] ?? 0) & 1 ? (b[p] ?? 0) : u16(b, p);
    const plen = (b[p] ?? 0) & 1 ? 1 : 2;
    const body = b.subarray(p + plen);
    const opts = proto === 0xc021 || proto === 0x8021 || proto === 0x8057;
    const out: Elem[] = [{ start: p, end: p + plen, typeOff: p, typeSize: plen === 2 ? 2 : 1 }];
    return out.concat(walkControl(body, opts).map((e) => shift(e, p + plen)));
  },
  types: [0xc021, 0x8021, 0x8057, 0xc023, 0xc223, 0x0021, 0x0057, 0x80fd, 0x0001, 0xffff],
};

function walkTcpOptions(b: Buffer, off: number, end: number, out: Elem[]): void {
  let o = off;
  while (o < end && out.length < 64) {
    const kind = b[o] ?? 0;
    if (kind === 0 || kind === 1) {
      out.push({ start: o, end: o + 1, typeOff: o });
      o++;
      continue;
    }
    const len = b[o + 1] ?? 0;
    if (len < 2) return;
    out.push({ start: o, end: Math.min(o + len, end), lenOff: o + 1, lenSize: 1, typeOff: o });
    o += len;
  }
}

export const tcpSegment: Shape = {
  elems(b) {
    if (b.length < 20) return [];
    const hl = ((b[12] ?? 0) >> 4) * 4;
    const out: Elem[] = [{ start: 0, end: Math.min(hl, b.length) }];
    walkTcpOptions(b, 20, Math.min(hl, b.length), out);
    return out;
  },
  types: [0, 1, 2, 3, 4, 8, 30, 255],
};

export const udpDatagram: Shape = {
  elems: (b) => (b.length >= 8 ? [{ start: 0, end: b.length, lenOff: 4, lenSize: 2 }] : []),
  fix(b) {
    if (b.length >= 8) b.writeUInt16BE(Math.min(b.length, 0xffff), 4);
  },
};

export const ipv4Packet: Shape = {
  elems(b) {
    if (b.length < 20) return [];
    const ihl = ((b[0] ?? 0) & 0x0f) * 4;
    const out: Elem[] = [{ start: 0, end: b.length, lenOff: 2, lenSize: 2, typeOff: 9 }];
    // IPv4 options: the same kind/length layout as TCP options
    walkTcpOptions(b, 20, Math.min(ihl, b.length), out);
    const proto = b[9];
    const l4 = b.subarray(ihl);
    if (proto === 17) out.push(...udpDatagram.elems(l4).map((e) => shift(e, ihl)));
    if (proto === 6) out.push(...tcpSegment.elems(l4).map((e) => shift(e, ihl)));
    return out;
  },
  fix(b) {
    if (b.length >= 20) b.writeUInt16BE(Math.min(b.length, 0xffff), 2);
  },
  types: [1, 6, 17, 50, 41, 0, 255],
};

export const ipv6Packet: Shape = {
  elems: (b) =>
    b.length >= 40
      ? [{ start: 0, end: b.length, lenOff: 4, lenSize: 2, lenBias: 40, typeOff: 6 }]
      : [],
  fix(b) {
    if (b.length >= 40) b.writeUInt16BE(Math.min(b.length - 40, 0xffff), 4);
  },
  types: [0, 6, 17, 43, 44, 50, 58, 59, 60],
};
