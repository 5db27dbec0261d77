/**
 * L2TPv2 control message bodies as typed AVP lists, RFC 2661 §3.2, §4.2 (mandatory AVPs),
 * §4.3 (hidden AVPs), §4.4.1 (Message Type must be first).
 *
 * `decodeControlMessage(avps, secret)` turns the raw AVPs of a non-ZLB control message into
 *   - `messageType` (the first AVP, which must be an IETF Message Type AVP),
 *   - `avps`: every IETF AVP this codec knows, unhidden and typed, in order,
 *   - `unknown`: unrecognized AVPs without M bit (vendor AVPs, unassigned types, AVPs with
 *     reserved bits set — §4.1 says those count as unrecognized), kept raw; ignore them,
 *   - `unknownMandatory`: the same with M=1 (and hidden AVPs we could not unhide, with M=1):
 *     §4.2 says the session or tunnel must then be torn down — the caller decides; we report.
 * It fails (WireError) only for structural faults: no Message Type first, a known AVP with a
 * value size that breaks §4.4, a hidden AVP whose subformat length does not fit.
 *
 * `encodeControlMessage(avps, hide?)` builds the raw list: when `hide` is given, the listed
 * attribute types are hidden and a Random Vector AVP is inserted right after the Message Type.
 *
 * Left out: per-message-type "which AVPs must be present" rules — that is the engine's table
 * (l2tp/messages.ts), checked before the FSM sees a message (DESIGN rule 3).
 */
import { type Result, err, ok } from "../../base/result.js";
import { type WireError, WireErrorCode, wireError } from "../../base/errors.js";
import { AvpType } from "../../registry/l2tp.js";
import {
  type AvpOf,
  type L2tpAvp,
  type RawAvp,
  decodeAvp,
  encodeAvp,
  isKnownAvpType,
} from "./avp.js";
import { hideAvp, unhideAvp } from "./hidden.js";

export interface ControlMessage {
  readonly messageType: number;
  readonly avps: readonly L2tpAvp[];
  readonly unknown: readonly RawAvp[];
  readonly unknownMandatory: readonly RawAvp[];
}

export function decodeControlMessage(
  raws: readonly RawAvp[],
  secret?: Uint8Array,
): Result<ControlMessage, WireError> {
  const first = raws[0];
  if (
    first?.vendorId !== 0 ||
    first.attributeType !== AvpType.MessageType ||
    first.hidden ||
    first.reserved !== 0
  ) {
    return err(
      wireError(WireErrorCode.BadValue, "control message: first AVP is not Message Type", 0),
    );
  }
  const avps: L2tpAvp[] = [];
  const unknown: RawAvp[] = [];
  const unknownMandatory: RawAvp[] = [];
  let randomVector: Buffer | undefined;
  let messageType = -1;
  for (const [i, raw0] of raws.entries()) {
    let raw = raw0;
    const recognized =
      raw.vendorId === 0 && raw.reserved === 0 && isKnownAvpType(raw.attributeType);
    if (!recognized) {
      (raw.mandatory ? unknownMandatory : unknown).push(raw);
      continue;
    }
    if (raw.hidden) {
      if (
        !secret ||
        !randomVector ||
        raw.attributeType === AvpType.MessageType ||
        raw.attributeType === AvpType.RandomVector
      ) {
        (raw.mandatory ? unknownMandatory : unknown).push(raw);
        continue;
      }
      const r = unhideAvp(raw, secret, randomVector);
      if (!r.ok) return err({ ...r.error, offset: i });
      raw = r.value.avp;
    }
    const d = decodeAvp(raw);
    if (!d.ok) return err({ ...d.error, message: `AVP #${i}: ${d.error.message}` });
    const a = d.value;
    if (i === 0 && a.type === AvpType.MessageType) messageType = a.value;
    if (a.type === AvpType.RandomVector) randomVector = a.value;
    avps.push(a);
  }
  return ok({ messageType, avps, unknown, unknownMandatory });
}

/** The first AVP of a type, typed. */
export function findAvp<K extends L2tpAvp["type"]>(
  m: { readonly avps: readonly L2tpAvp[] },
  type: K,
): AvpOf<K> | undefined {
  return m.avps.find((a) => a.type === type) as AvpOf<K> | undefined;
}

export interface HideOptions {
  readonly secret: Uint8Array;
  readonly randomVector: Uint8Array;
  /** Attribute types to hide (Message Type and Random Vector are never hidden). */
  readonly types: ReadonlySet<number>;
  /** Padding for each hidden AVP, by attribute type (default none). */
  readonly padding?: (attributeType: number, valueLength: number) => Uint8Array;
}

/**
 * Encodes typed AVPs (first must be the Message Type) into raw ones; with `hide`, hides the chosen
 * types and inserts the Random Vector AVP (M=1, §4.4.3) before the first hidden one.
 */
export function encodeControlMessage(avps: readonly L2tpAvp[], hide?: HideOptions): RawAvp[] {
  if (avps[0]?.type !== AvpType.MessageType)
    throw new Error("encodeControlMessage: Message Type first");
  const out: RawAvp[] = [];
  let vectorAdded = false;
  for (const a of avps) {
    const raw = encodeAvp(a);
    const doHide =
      hide?.types.has(a.type) === true &&
      a.type !== AvpType.MessageType &&
      a.type !== AvpType.RandomVector;
    if (!doHide) {
      out.push(raw);
      continue;
    }
    if (!vectorAdded) {
      out.push(
        encodeAvp({
          type: AvpType.RandomVector,
          mandatory: true,
          value: Buffer.from(hide.randomVector),
        }),
      );
      vectorAdded = true;
    }
    out.push(
      hideAvp(raw, hide.secret, hide.randomVector, hide.padding?.(a.type, raw.value.length)),
    );
  }
  return out;
}
