/**
 * ISAKMP payload chain and payload bodies: generic payload header (RFC 2408 §3.2) and the
 * payloads IKEv1 uses (RFC 2408 §3.4-§3.16, RFC 2407 §4.6, RFC 3947 §3.1/§5.2 and the draft
 * numbers 130/131, draft-ietf-ipsec-isakmp-mode-cfg-05 Attribute payload).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Chain rules: Payload Length >= 4 and within the container; Proposal (2) and Transform (3)
 * only inside an SA (BadNesting at top level); payload types we do not model are kept raw and
 * skipped by their length, unless the high bit of RESERVED (IKEv2's "critical" bit, RESERVED
 * in IKEv1) is set: then OAK_E_WIRE_UNSUPPORTED_CRITICAL. Known payloads keep RESERVED as is.
 * Bytes after the last payload (next = NONE) are an error unless `allowTrailingPadding` is set
 * (decrypted bodies: RFC 2409 Appendix B padding — zeros or random bytes), then reported as
 * `paddingLength`.
 * Deviations: none on the wire; the ID payload's 3 DOI-specific octets are always read as the
 * IPsec DOI protocol/port pair (phase 1 too, where RFC 2407 §4.6.2 says the same).
 */
import { asBuffer } from "../../base/bytes.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { type Result, err, ok } from "../../base/result.js";
import { IdType, PayloadType } from "../../registry/ike.js";
import { dataAttributesLength, parseDataAttributes, writeDataAttributes } from "./attributes.js";
import { parseSaBody, saBodyLength, writeSaBody } from "./sa.js";
import {
  GENERIC_PAYLOAD_HEADER_LENGTH,
  type IsakmpLimits,
  type ParseOptions,
  type Payload,
  resolveLimits,
} from "./types.js";

/** The payload type number of a payload record (the wire "Next Payload" value naming it). */
export function payloadTypeOf(p: Payload): number {
  return p.type === "unknown" ? p.payloadType : p.type;
}

const MODELLED = new Set<number>([
  PayloadType.SA,
  PayloadType.KE,
  PayloadType.ID,
  PayloadType.CERT,
  PayloadType.CR,
  PayloadType.HASH,
  PayloadType.SIG,
  PayloadType.NONCE,
  PayloadType.N,
  PayloadType.D,
  PayloadType.VID,
  PayloadType.ATTR,
  PayloadType.NAT_D,
  PayloadType.NAT_OA,
  PayloadType.NAT_D_DRAFT,
  PayloadType.NAT_OA_DRAFT,
]);

/** True when `t` is a payload type this codec models (others become UnknownPayload). */
export function isModelledPayloadType(t: number): boolean {
  return MODELLED.has(t);
}

function truncated(what: string, have: number, need: number, at: number): WireError {
  return wireError(WireErrorCode.Truncated, `${what}: body of ${have} bytes, need ${need}`, at);
}

/**
 * Parses one payload body of type `type`. `b` is the body (after the generic header), `base`
 * its absolute offset for errors, `reserved` the generic header's RESERVED octet.
 */
export function parsePayloadBody(
  type: number,
  reserved: number,
  b: Buffer,
  base: number,
  limits: IsakmpLimits,
): Result<Payload, WireError> {
  switch (type) {
    case PayloadType.SA: {
      const sa = parseSaBody(b, base, limits);
      if (!sa.ok) return sa;
      return ok({ type: PayloadType.SA, reserved, ...sa.value });
    }
    case PayloadType.KE:
      return ok({ type: PayloadType.KE, reserved, data: b });
    case PayloadType.ID:
      if (b.length < 4) return err(truncated("ID", b.length, 4, base));
      return ok({
        type: PayloadType.ID,
        reserved,
        idType: b[0] ?? 0,
        protocolId: b[1] ?? 0,
        port: b.readUInt16BE(2),
        data: b.subarray(4),
      });
    case PayloadType.CERT:
      if (b.length < 1) return err(truncated("CERT", b.length, 1, base));
      return ok({ type: PayloadType.CERT, reserved, encoding: b[0] ?? 0, data: b.subarray(1) });
    case PayloadType.CR:
      if (b.length < 1) return err(truncated("CR", b.length, 1, base));
      return ok({ type: PayloadType.CR, reserved, encoding: b[0] ?? 0, authority: b.subarray(1) });
    case PayloadType.HASH:
      return ok({ type: PayloadType.HASH, reserved, data: b });
    case PayloadType.SIG:
      return ok({ type: PayloadType.SIG, reserved, data: b });
    case PayloadType.NONCE:
      return ok({ type: PayloadType.NONCE, reserved, data: b });
    case PayloadType.N: {
      if (b.length < 8) return err(truncated("N", b.length, 8, base));
      const spiSize = b[5] ?? 0;
      if (8 + spiSize > b.length) {
        return err(
          wireError(WireErrorCode.BadLength, `N: SPI size ${spiSize} beyond payload`, base + 5),
        );
      }
      return ok({
        type: PayloadType.N,
        reserved,
        doi: b.readUInt32BE(0),
        protocolId: b[4] ?? 0,
        notifyType: b.readUInt16BE(6),
        spi: b.subarray(8, 8 + spiSize),
        data: b.subarray(8 + spiSize),
      });
    }
    case PayloadType.D: {
      if (b.length < 8) return err(truncated("D", b.length, 8, base));
      const spiSize = b[5] ?? 0;
      const n = b.readUInt16BE(6);
      if (n > limits.maxDeleteSpis) {
        return err(
          wireError(WireErrorCode.TooMany, `D: ${n} SPIs > ${limits.maxDeleteSpis}`, base + 6),
        );
      }
      if (8 + spiSize * n !== b.length) {
        return err(
          wireError(
            WireErrorCode.BadLength,
            `D: ${n} SPIs of ${spiSize} bytes need ${spiSize * n}, payload has ${b.length - 8}`,
            base + 6,
          ),
        );
      }
      const spis: Buffer[] = [];
      for (let i = 0; i < n; i++) spis.push(b.subarray(8 + i * spiSize, 8 + (i + 1) * spiSize));
      return ok({
        type: PayloadType.D,
        reserved,
        doi: b.readUInt32BE(0),
        protocolId: b[4] ?? 0,
        spiSize,
        spis,
      });
    }
    case PayloadType.VID:
      return ok({ type: PayloadType.VID, reserved, data: b });
    case PayloadType.ATTR: {
      if (b.length < 4) return err(truncated("ATTR", b.length, 4, base));
      const attrs = parseDataAttributes(b.subarray(4), base + 4, limits.maxAttributes);
      if (!attrs.ok) return attrs;
      return ok({
        type: PayloadType.ATTR,
        reserved,
        cfgType: b[0] ?? 0,
        reserved2: b[1] ?? 0,
        identifier: b.readUInt16BE(2),
        attributes: attrs.value,
      });
    }
    case PayloadType.NAT_D:
    case PayloadType.NAT_D_DRAFT:
      return ok({ type, reserved, hash: b });
    case PayloadType.NAT_OA:
    case PayloadType.NAT_OA_DRAFT: {
      if (b.length < 4) return err(truncated("NAT-OA", b.length, 4, base));
      const idType = b[0] ?? 0;
      const want = idType === IdType.ID_IPV4_ADDR ? 4 : idType === IdType.ID_IPV6_ADDR ? 16 : -1;
      if (want < 0) {
        return err(
          wireError(
            WireErrorCode.BadValue,
            `NAT-OA: ID type ${idType} (only ID_IPV4_ADDR/ID_IPV6_ADDR)`,
            base,
          ),
        );
      }
      if (b.length !== 4 + want) {
        return err(
          wireError(
            WireErrorCode.BadLength,
            `NAT-OA: ${b.length - 4} address bytes, need ${want}`,
            base + 4,
          ),
        );
      }
      return ok({
        type,
        reserved,
        idType,
        reserved24: b.readUIntBE(1, 3),
        address: b.subarray(4),
      });
    }
    default:
      if (type === PayloadType.P || type === PayloadType.T) {
        return err(
          wireError(
            WireErrorCode.BadNesting,
            `${type === PayloadType.P ? "Proposal" : "Transform"} payload outside an SA`,
            base - GENERIC_PAYLOAD_HEADER_LENGTH,
          ),
        );
      }
      if (reserved & 0x80) {
        return err(
          wireError(
            WireErrorCode.UnsupportedCritical,
            `unknown payload type ${type} with the critical bit set`,
            base - GENERIC_PAYLOAD_HEADER_LENGTH + 1,
          ),
        );
      }
      return ok({ type: "unknown", reserved, payloadType: type, body: b });
  }
}

/** Body length of a payload record. */
export function payloadBodyLength(p: Payload): number {
  switch (p.type) {
    case PayloadType.SA:
      return saBodyLength(p);
    case PayloadType.KE:
    case PayloadType.HASH:
    case PayloadType.SIG:
    case PayloadType.NONCE:
    case PayloadType.VID:
      return p.data.length;
    case PayloadType.ID:
      return 4 + p.data.length;
    case PayloadType.CERT:
      return 1 + p.data.length;
    case PayloadType.CR:
      return 1 + p.authority.length;
    case PayloadType.N:
      return 8 + p.spi.length + p.data.length;
    case PayloadType.D:
      return 8 + p.spiSize * p.spis.length;
    case PayloadType.ATTR:
      return 4 + dataAttributesLength(p.attributes);
    case PayloadType.NAT_D:
    case PayloadType.NAT_D_DRAFT:
      return p.hash.length;
    case PayloadType.NAT_OA:
    case PayloadType.NAT_OA_DRAFT:
      return 4 + p.address.length;
    case "unknown":
      return p.body.length;
  }
}

/** Writes a payload body at out[off..]; returns the new offset. Throws on impossible records. */
export function writePayloadBody(out: Buffer, off: number, p: Payload): number {
  switch (p.type) {
    case PayloadType.SA:
      return writeSaBody(out, off, p);
    case PayloadType.KE:
    case PayloadType.HASH:
    case PayloadType.SIG:
    case PayloadType.NONCE:
    case PayloadType.VID:
      return off + p.data.copy(out, off);
    case PayloadType.ID:
      out[off] = p.idType & 0xff;
      out[off + 1] = p.protocolId & 0xff;
      out.writeUInt16BE(p.port & 0xffff, off + 2);
      return off + 4 + p.data.copy(out, off + 4);
    case PayloadType.CERT:
      out[off] = p.encoding & 0xff;
      return off + 1 + p.data.copy(out, off + 1);
    case PayloadType.CR:
      out[off] = p.encoding & 0xff;
      return off + 1 + p.authority.copy(out, off + 1);
    case PayloadType.N:
      if (p.spi.length > 255) throw new Error("N: SPI longer than 255");
      out.writeUInt32BE(p.doi >>> 0, off);
      out[off + 4] = p.protocolId & 0xff;
      out[off + 5] = p.spi.length;
      out.writeUInt16BE(p.notifyType & 0xffff, off + 6);
      p.spi.copy(out, off + 8);
      return off + 8 + p.spi.length + p.data.copy(out, off + 8 + p.spi.length);
    case PayloadType.D: {
      if (p.spiSize > 255 || p.spis.length > 0xffff) throw new Error("D: SPI size/count too large");
      out.writeUInt32BE(p.doi >>> 0, off);
      out[off + 4] = p.protocolId & 0xff;
      out[off + 5] = p.spiSize;
      out.writeUInt16BE(p.spis.length, off + 6);
      let o = off + 8;
      for (const s of p.spis) {
        if (s.length !== p.spiSize) throw new Error("D: SPI length differs from spiSize");
        o += s.copy(out, o);
      }
      return o;
    }
    case PayloadType.ATTR:
      out[off] = p.cfgType & 0xff;
      out[off + 1] = p.reserved2 & 0xff;
      out.writeUInt16BE(p.identifier & 0xffff, off + 2);
      return writeDataAttributes(out, off + 4, p.attributes);
    case PayloadType.NAT_D:
    case PayloadType.NAT_D_DRAFT:
      return off + p.hash.copy(out, off);
    case PayloadType.NAT_OA:
    case PayloadType.NAT_OA_DRAFT:
      out[off] = p.idType & 0xff;
      out.writeUIntBE(p.reserved24 & 0xffffff, off + 1, 3);
      return off + 4 + p.address.copy(out, off + 4);
    case "unknown":
      if (
        isModelledPayloadType(p.payloadType) ||
        p.payloadType === PayloadType.P ||
        p.payloadType === PayloadType.T
      ) {
        throw new Error(`unknown payload record with modelled type ${p.payloadType}`);
      }
      return off + p.body.copy(out, off);
  }
}

/** The body bytes of one payload (e.g. SAi_b for the HASH_I computation, RFC 2409 §5). */
export function serializePayloadBody(p: Payload): Buffer {
  const out = Buffer.alloc(payloadBodyLength(p));
  writePayloadBody(out, 0, p);
  return out;
}

/** One parsed chain. `spans[i]` is payload i's [start, end) in the parsed buffer, header included. */
export interface PayloadChain {
  readonly payloads: readonly Payload[];
  readonly spans: readonly { readonly start: number; readonly end: number }[];
  /** Bytes after the last payload (only with allowTrailingPadding; else always 0). */
  readonly paddingLength: number;
}

export interface ChainOptions extends ParseOptions {
  /** Tolerate bytes after the last payload (decrypted bodies); reported as paddingLength. */
  readonly allowTrailingPadding?: boolean;
}

/** Parses the chain starting with `first` in b[start, end). Offsets in errors/spans are absolute. */
export function parseChainIn(
  first: number,
  b: Buffer,
  start: number,
  end: number,
  opts: ChainOptions | undefined,
): Result<PayloadChain, WireError> {
  const limits = resolveLimits(opts);
  const payloads: Payload[] = [];
  const spans: { start: number; end: number }[] = [];
  let off = start;
  let next = first;
  while (next !== PayloadType.NONE) {
    if (payloads.length >= limits.maxPayloads) {
      return err(wireError(WireErrorCode.TooMany, `more than ${limits.maxPayloads} payloads`, off));
    }
    if (end - off < GENERIC_PAYLOAD_HEADER_LENGTH) {
      return err(
        wireError(
          WireErrorCode.Truncated,
          `payload ${next}: ${end - off} bytes left, generic header needs 4`,
          off,
        ),
      );
    }
    const np = b[off] ?? 0;
    const reserved = b[off + 1] ?? 0;
    const len = b.readUInt16BE(off + 2);
    if (len < GENERIC_PAYLOAD_HEADER_LENGTH) {
      return err(
        wireError(WireErrorCode.BadLength, `payload ${next}: Payload Length ${len} < 4`, off + 2),
      );
    }
    if (off + len > end) {
      return err(
        wireError(
          WireErrorCode.BadLength,
          `payload ${next}: Payload Length ${len} exceeds the ${end - off} bytes left`,
          off + 2,
        ),
      );
    }
    const p = parsePayloadBody(next, reserved, b.subarray(off + 4, off + len), off + 4, limits);
    if (!p.ok) return p;
    payloads.push(p.value);
    spans.push({ start: off, end: off + len });
    off += len;
    next = np;
  }
  const rest = end - off;
  if (rest > 0 && opts?.allowTrailingPadding !== true) {
    return err(wireError(WireErrorCode.BadLength, `${rest} bytes after the last payload`, off));
  }
  return ok({ payloads, spans, paddingLength: rest });
}

/**
 * Parses a payload chain, e.g. a decrypted message body: `firstPayloadType` comes from the
 * ISAKMP header's Next Payload. With `{ allowTrailingPadding: true }` the cipher padding after
 * the last payload is tolerated and reported.
 */
export function parsePayloadChain(
  firstPayloadType: number,
  input: Uint8Array,
  opts?: ChainOptions,
): Result<PayloadChain, WireError> {
  const b = asBuffer(input);
  return parseChainIn(firstPayloadType, b, 0, b.length, opts);
}

/** Total length of the chain for `payloads` (generic headers included). */
export function payloadChainLength(payloads: readonly Payload[]): number {
  let n = 0;
  for (const p of payloads) n += GENERIC_PAYLOAD_HEADER_LENGTH + payloadBodyLength(p);
  return n;
}

/** Writes the chain at out[off..], computing next-payload and lengths; returns the new offset. */
export function writePayloadChain(out: Buffer, off: number, payloads: readonly Payload[]): number {
  let o = off;
  payloads.forEach((p, i) => {
    const len = GENERIC_PAYLOAD_HEADER_LENGTH + payloadBodyLength(p);
    if (len > 0xffff) throw new Error(`payload ${payloadTypeOf(p)} longer than 65535 bytes`);
    const following = payloads[i + 1];
    out[o] = following === undefined ? PayloadType.NONE : payloadTypeOf(following);
    out[o + 1] = p.reserved & 0xff;
    out.writeUInt16BE(len, o + 2);
    const e = writePayloadBody(out, o + 4, p);
    if (e !== o + len)
      throw new Error(`payload ${payloadTypeOf(p)}: wrote ${e - o} bytes, expected ${len}`);
    o = e;
  });
  return o;
}

/** The bytes of a payload chain (the plaintext to encrypt) and the type of its first payload. */
export function serializePayloadChain(payloads: readonly Payload[]): {
  readonly firstPayloadType: number;
  readonly bytes: Buffer;
} {
  const out = Buffer.alloc(payloadChainLength(payloads));
  writePayloadChain(out, 0, payloads);
  const first = payloads[0];
  return {
    firstPayloadType: first === undefined ? PayloadType.NONE : payloadTypeOf(first),
    bytes: out,
  };
}
