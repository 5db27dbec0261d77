/**
 * Security Association payload body with its Proposal and Transform payloads:
 * RFC 2408 §3.4 (SA), §3.5 (Proposal), §3.6 (Transform); RFC 2407 §4.6.1 (IPsec DOI SA).
 *
 * SA body:        DOI (4) | Situation (4) | Proposal payloads...
 * Proposal:       Next(1) RESERVED(1) Length(2) | Proposal #(1) Protocol-Id(1) SPI Size(1)
 *                 # of Transforms(1) | SPI (SPI Size) | Transform payloads...
 * Transform:      Next(1) RESERVED(1) Length(2) | Transform #(1) Transform-Id(1)
 *                 RESERVED2(2) | SA Attributes...
 *
 * Rules enforced: a Proposal's next-payload is 2 (another Proposal) or 0 (last); a Transform's
 * is 3 or 0; the proposals fill the SA body exactly and the transforms fill their proposal
 * exactly; "# of Transforms" must equal the transforms present (BadValue otherwise).
 * Situation is 4 octets for every DOI. Left out on purpose: IPsec DOI labeled-domain
 * situations (SIT_SECRECY / SIT_INTEGRITY, RFC 2407 §4.6.1 Labeled Domain Identifier...) —
 * no IKEv1 peer we target uses them; such an SA is rejected with BadValue.
 */
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { type Result, err, ok } from "../../base/result.js";
import { Doi, PayloadType, Situation } from "../../registry/ike.js";
import { dataAttributesLength, parseDataAttributes, writeDataAttributes } from "./attributes.js";
import type { IsakmpLimits, Proposal, Transform } from "./types.js";

export interface SaBody {
  readonly doi: number;
  readonly situation: number;
  readonly proposals: readonly Proposal[];
}

/** Parses an SA payload body (after the generic header). `base` = absolute offset. */
export function parseSaBody(
  b: Buffer,
  base: number,
  limits: IsakmpLimits,
): Result<SaBody, WireError> {
  if (b.length < 8) {
    return err(wireError(WireErrorCode.Truncated, `SA: body of ${b.length} bytes, need 8`, base));
  }
  const doi = b.readUInt32BE(0);
  const situation = b.readUInt32BE(4);
  if (doi === Doi.IPSEC && (situation & (Situation.SIT_SECRECY | Situation.SIT_INTEGRITY)) !== 0) {
    return err(
      wireError(
        WireErrorCode.BadValue,
        "SA: IPsec DOI labeled-domain situation (SIT_SECRECY/SIT_INTEGRITY) not supported",
        base + 4,
      ),
    );
  }
  const proposals: Proposal[] = [];
  let off = 8;
  let next: number = off < b.length ? PayloadType.P : PayloadType.NONE;
  while (next !== PayloadType.NONE) {
    if (proposals.length >= limits.maxProposals) {
      return err(
        wireError(
          WireErrorCode.TooMany,
          `SA: more than ${limits.maxProposals} proposals`,
          base + off,
        ),
      );
    }
    if (b.length - off < 8) {
      return err(wireError(WireErrorCode.Truncated, "Proposal: header needs 8 bytes", base + off));
    }
    const np = b[off] ?? 0;
    const reserved = b[off + 1] ?? 0;
    const len = b.readUInt16BE(off + 2);
    if (len < 8 || off + len > b.length) {
      return err(
        wireError(
          WireErrorCode.BadLength,
          `Proposal: length ${len} outside 8..${b.length - off}`,
          base + off + 2,
        ),
      );
    }
    if (np !== PayloadType.P && np !== PayloadType.NONE) {
      return err(
        wireError(
          WireErrorCode.BadNesting,
          `Proposal: next payload ${np} inside an SA (only Proposal or NONE)`,
          base + off,
        ),
      );
    }
    const p = parseProposal(b.subarray(off, off + len), base + off, reserved, limits);
    if (!p.ok) return p;
    proposals.push(p.value);
    off += len;
    next = np;
  }
  if (off !== b.length) {
    return err(
      wireError(
        WireErrorCode.BadLength,
        `SA: ${b.length - off} bytes after the last Proposal`,
        base + off,
      ),
    );
  }
  return ok({ doi, situation, proposals });
}

function parseProposal(
  b: Buffer,
  base: number,
  reserved: number,
  limits: IsakmpLimits,
): Result<Proposal, WireError> {
  const number = b[4] ?? 0;
  const protocolId = b[5] ?? 0;
  const spiSize = b[6] ?? 0;
  const count = b[7] ?? 0;
  if (8 + spiSize > b.length) {
    return err(
      wireError(WireErrorCode.BadLength, `Proposal: SPI size ${spiSize} beyond payload`, base + 6),
    );
  }
  if (count > limits.maxTransforms) {
    return err(
      wireError(
        WireErrorCode.TooMany,
        `Proposal: ${count} transforms > ${limits.maxTransforms}`,
        base + 7,
      ),
    );
  }
  const spi = b.subarray(8, 8 + spiSize);
  const transforms: Transform[] = [];
  let off = 8 + spiSize;
  let next: number = off < b.length ? PayloadType.T : PayloadType.NONE;
  while (next !== PayloadType.NONE) {
    if (transforms.length >= count) {
      return err(
        wireError(
          WireErrorCode.BadValue,
          `Proposal: more transforms than # of Transforms (${count})`,
          base + off,
        ),
      );
    }
    if (b.length - off < 8) {
      return err(wireError(WireErrorCode.Truncated, "Transform: header needs 8 bytes", base + off));
    }
    const np = b[off] ?? 0;
    const tReserved = b[off + 1] ?? 0;
    const len = b.readUInt16BE(off + 2);
    if (len < 8 || off + len > b.length) {
      return err(
        wireError(
          WireErrorCode.BadLength,
          `Transform: length ${len} outside 8..${b.length - off}`,
          base + off + 2,
        ),
      );
    }
    if (np !== PayloadType.T && np !== PayloadType.NONE) {
      return err(
        wireError(
          WireErrorCode.BadNesting,
          `Transform: next payload ${np} inside a Proposal (only Transform or NONE)`,
          base + off,
        ),
      );
    }
    const attrs = parseDataAttributes(
      b.subarray(off + 8, off + len),
      base + off + 8,
      limits.maxAttributes,
    );
    if (!attrs.ok) return attrs;
    transforms.push({
      reserved: tReserved,
      number: b[off + 4] ?? 0,
      transformId: b[off + 5] ?? 0,
      reserved2: b.readUInt16BE(off + 6),
      attributes: attrs.value,
    });
    off += len;
    next = np;
  }
  if (off !== b.length) {
    return err(
      wireError(
        WireErrorCode.BadLength,
        `Proposal: ${b.length - off} bytes after the last Transform`,
        base + off,
      ),
    );
  }
  if (transforms.length !== count) {
    return err(
      wireError(
        WireErrorCode.BadValue,
        `Proposal: # of Transforms says ${count}, found ${transforms.length}`,
        base + 7,
      ),
    );
  }
  return ok({ reserved, number, protocolId, spi, transforms });
}

function transformLength(t: Transform): number {
  return 8 + dataAttributesLength(t.attributes);
}

function proposalLength(p: Proposal): number {
  let n = 8 + p.spi.length;
  for (const t of p.transforms) n += transformLength(t);
  return n;
}

export function saBodyLength(sa: SaBody): number {
  let n = 8;
  for (const p of sa.proposals) n += proposalLength(p);
  return n;
}

/** Writes an SA body at out[off..]; returns the new offset. */
export function writeSaBody(out: Buffer, off: number, sa: SaBody): number {
  out.writeUInt32BE(sa.doi >>> 0, off);
  out.writeUInt32BE(sa.situation >>> 0, off + 4);
  let o = off + 8;
  sa.proposals.forEach((p, i) => {
    if (p.spi.length > 255) throw new Error("Proposal SPI longer than 255");
    if (p.transforms.length > 255) throw new Error("Proposal with more than 255 transforms");
    const len = proposalLength(p);
    if (len > 0xffff) throw new Error("Proposal longer than 65535");
    out[o] = i === sa.proposals.length - 1 ? PayloadType.NONE : PayloadType.P;
    out[o + 1] = p.reserved & 0xff;
    out.writeUInt16BE(len, o + 2);
    out[o + 4] = p.number & 0xff;
    out[o + 5] = p.protocolId & 0xff;
    out[o + 6] = p.spi.length;
    out[o + 7] = p.transforms.length;
    p.spi.copy(out, o + 8);
    let t0 = o + 8 + p.spi.length;
    p.transforms.forEach((t, j) => {
      const tl = transformLength(t);
      out[t0] = j === p.transforms.length - 1 ? PayloadType.NONE : PayloadType.T;
      out[t0 + 1] = t.reserved & 0xff;
      out.writeUInt16BE(tl, t0 + 2);
      out[t0 + 4] = t.number & 0xff;
      out[t0 + 5] = t.transformId & 0xff;
      out.writeUInt16BE(t.reserved2 & 0xffff, t0 + 6);
      writeDataAttributes(out, t0 + 8, t.attributes);
      t0 += tl;
    });
    o += len;
  });
  return o;
}

export function serializeSaBody(sa: SaBody): Buffer {
  const out = Buffer.alloc(saBodyLength(sa));
  writeSaBody(out, 0, sa);
  return out;
}

/** Parses a standalone SA payload body (for fuzzing and tests). */
export function parseSaPayloadBody(
  input: Uint8Array,
  limits: IsakmpLimits,
): Result<SaBody, WireError> {
  return parseSaBody(Buffer.from(input.buffer, input.byteOffset, input.byteLength), 0, limits);
}
