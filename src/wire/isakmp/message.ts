/**
 * Whole ISAKMP messages (RFC 2408 §3.1-§3.2) and the encryption boundary (RFC 2408 §3.1 E flag,
 * RFC 2409 Appendix B).
 *
 * parseIsakmpMessage: header, then either the cleartext payload chain or, when the E flag is set,
 * the ciphertext (octets 28..Length) untouched — decrypt it elsewhere and hand the plaintext to
 * parsePayloadChain(header.nextPayload, plaintext, { allowTrailingPadding: true }).
 * Length handling: Length < 28 or > datagram is an error; octets after Length are tolerated and
 * reported as `trailingLength` (they are not part of the message). A cleartext chain must end
 * exactly at Length.
 * Only major version 1 is parsed (IKEv2 and others: OAK_E_WIRE_BAD_VALUE; use
 * parseIsakmpHeader to read their header for a notify).
 */
import { asBuffer } from "../../base/bytes.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { type Result, err, ok } from "../../base/result.js";
import { parseIsakmpHeader, serializeIsakmpHeader } from "./header.js";
import {
  type ChainOptions,
  parseChainIn,
  payloadChainLength,
  writePayloadChain,
} from "./payloads.js";
import type { PayloadChain } from "./payloads.js";
import {
  ISAKMP_HEADER_LENGTH,
  type IsakmpHeader,
  type IsakmpHeaderFields,
  type ParseOptions,
  type Payload,
} from "./types.js";

interface MessageCommon {
  readonly header: IsakmpHeader;
  /** Octets after the header's Length in the datagram (tolerated, not part of the message). */
  readonly trailingLength: number;
}

export interface CleartextIsakmpMessage extends MessageCommon {
  readonly encrypted: false;
  readonly payloads: readonly Payload[];
  /** Each payload's [start, end) in the datagram, generic header included. */
  readonly spans: PayloadChain["spans"];
}

export interface EncryptedIsakmpMessage extends MessageCommon {
  readonly encrypted: true;
  /** Octets 28..Length, untouched (IV handling and padding are the cipher's business). */
  readonly ciphertext: Buffer;
}

export type IsakmpMessage = CleartextIsakmpMessage | EncryptedIsakmpMessage;

export function parseIsakmpMessage(
  input: Uint8Array,
  opts?: ParseOptions,
): Result<IsakmpMessage, WireError> {
  const b = asBuffer(input);
  const h = parseIsakmpHeader(b);
  if (!h.ok) return h;
  const header = h.value;
  if (header.majorVersion !== 1) {
    return err(
      wireError(WireErrorCode.BadValue, `ISAKMP major version ${header.majorVersion} (only 1)`, 17),
    );
  }
  const trailingLength = b.length - header.length;
  if (header.flags.encryption) {
    return ok({
      header,
      trailingLength,
      encrypted: true,
      ciphertext: b.subarray(ISAKMP_HEADER_LENGTH, header.length),
    });
  }
  const chainOpts: ChainOptions = opts?.limits ? { limits: opts.limits } : {};
  const chain = parseChainIn(header.nextPayload, b, ISAKMP_HEADER_LENGTH, header.length, chainOpts);
  if (!chain.ok) return chain;
  return ok({
    header,
    trailingLength,
    encrypted: false,
    payloads: chain.value.payloads,
    spans: chain.value.spans,
  });
}

/**
 * A cleartext message: computes Next Payload, every payload length and the header Length.
 * The E flag must be clear (use serializeEncryptedIsakmpMessage for encrypted messages).
 */
export function serializeIsakmpMessage(
  header: IsakmpHeaderFields,
  payloads: readonly Payload[],
): Buffer {
  if (header.flags.encryption) {
    throw new Error("serializeIsakmpMessage: E flag set; use serializeEncryptedIsakmpMessage");
  }
  const length = ISAKMP_HEADER_LENGTH + payloadChainLength(payloads);
  const out = Buffer.alloc(length);
  const first = payloads[0];
  const nextPayload =
    first === undefined ? 0 : first.type === "unknown" ? first.payloadType : first.type;
  serializeIsakmpHeader({ ...header, nextPayload, length }).copy(out, 0);
  writePayloadChain(out, ISAKMP_HEADER_LENGTH, payloads);
  return out;
}

/**
 * An encrypted message: header (E flag forced on, Length computed) followed by `ciphertext`.
 * `nextPayload` is the first payload type of the plaintext (from serializePayloadChain).
 */
export function serializeEncryptedIsakmpMessage(
  header: IsakmpHeaderFields & { readonly nextPayload: number },
  ciphertext: Uint8Array,
): Buffer {
  const length = ISAKMP_HEADER_LENGTH + ciphertext.length;
  const out = Buffer.alloc(length);
  serializeIsakmpHeader({
    ...header,
    flags: { ...header.flags, encryption: true },
    length,
  }).copy(out, 0);
  asBuffer(ciphertext).copy(out, ISAKMP_HEADER_LENGTH);
  return out;
}

/** Re-serializes a parsed message (without its trailing octets): the round-trip inverse. */
export function serializeParsedIsakmpMessage(m: IsakmpMessage): Buffer {
  return m.encrypted
    ? serializeEncryptedIsakmpMessage(m.header, m.ciphertext)
    : serializeIsakmpMessage(m.header, m.payloads);
}
