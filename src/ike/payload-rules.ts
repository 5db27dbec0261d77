/**
 * Payload rules as data (DESIGN rule 3): which payloads each IKEv1 message must and may
 * carry, how many, whether it is encrypted, and which payload must come first. Checked once,
 * before any exchange handler sees the message, so handlers can rely on what they find.
 * Sources: RFC 2409 §5 (Main/Aggressive Mode), §5.5 (Quick Mode), §5.7 (Informational),
 * RFC 3947 §3 (NAT-D in MM3/MM4 and AM2/AM3; NAT-OA in QM1/QM2), RFC 3706 (DPD notify).
 * NAT-D/NAT-OA appear as the RFC number (20/21) or the draft one (130/131): both accepted.
 */
export const PT = {
  SA: 1,
  KE: 4,
  ID: 5,
  CERT: 6,
  CR: 7,
  HASH: 8,
  SIG: 9,
  NONCE: 10,
  N: 11,
  D: 12,
  VID: 13,
  NATD: 20,
  NATOA: 21,
  NATD_DRAFT: 130,
  NATOA_DRAFT: 131,
} as const;

export type MessageKind =
  | "MM1"
  | "MM2"
  | "MM3"
  | "MM4"
  | "MM5"
  | "MM6"
  | "AM1"
  | "AM2"
  | "AM3"
  | "QM1"
  | "QM2"
  | "QM3"
  | "INFO";

interface Count {
  readonly min: number;
  readonly max: number;
  /** Quick Mode IDs come as a pair (IDci and IDcr) or not at all (RFC 2409 §5.5). */
  readonly pair?: true;
}
interface Rule {
  readonly encrypted: boolean | "either";
  readonly first?: number;
  /** Payload type (or group of interchangeable types) -> allowed count. */
  readonly counts: ReadonlyArray<readonly [readonly number[], Count]>;
  /** At least one of these (authentication: HASH or SIG). */
  readonly oneOf?: readonly number[];
}

const any: Count = { min: 0, max: 16 };
const one: Count = { min: 1, max: 1 };
const opt: Count = { min: 0, max: 1 };
const idPair: Count = { min: 0, max: 2, pair: true };
const natd: readonly number[] = [PT.NATD, PT.NATD_DRAFT];
const natoa: readonly number[] = [PT.NATOA, PT.NATOA_DRAFT];

export const PAYLOAD_RULES: Readonly<Record<MessageKind, Rule>> = {
  MM1: {
    encrypted: false,
    counts: [
      [[PT.SA], one],
      [[PT.VID], any],
    ],
  },
  MM2: {
    encrypted: false,
    counts: [
      [[PT.SA], one],
      [[PT.VID], any],
    ],
  },
  MM3: {
    encrypted: false,
    counts: [
      [[PT.KE], one],
      [[PT.NONCE], one],
      [natd, { min: 0, max: 8 }],
      [[PT.VID], any],
      [[PT.CR], any],
    ],
  },
  MM4: {
    encrypted: false,
    counts: [
      [[PT.KE], one],
      [[PT.NONCE], one],
      [natd, { min: 0, max: 8 }],
      [[PT.VID], any],
      [[PT.CR], any],
    ],
  },
  MM5: {
    encrypted: true,
    counts: [
      [[PT.ID], one],
      [[PT.HASH], opt],
      [[PT.SIG], opt],
      [[PT.CERT], any],
      [[PT.CR], any],
      [[PT.N], any],
      [[PT.VID], any],
    ],
    oneOf: [PT.HASH, PT.SIG],
  },
  MM6: {
    encrypted: true,
    counts: [
      [[PT.ID], one],
      [[PT.HASH], opt],
      [[PT.SIG], opt],
      [[PT.CERT], any],
      [[PT.N], any],
      [[PT.VID], any],
    ],
    oneOf: [PT.HASH, PT.SIG],
  },
  AM1: {
    encrypted: false,
    counts: [
      [[PT.SA], one],
      [[PT.KE], one],
      [[PT.NONCE], one],
      [[PT.ID], one],
      [[PT.VID], any],
      [[PT.CR], any],
    ],
  },
  AM2: {
    encrypted: false,
    counts: [
      [[PT.SA], one],
      [[PT.KE], one],
      [[PT.NONCE], one],
      [[PT.ID], one],
      [[PT.HASH], opt],
      [[PT.SIG], opt],
      [[PT.CERT], any],
      [natd, { min: 0, max: 8 }],
      [[PT.VID], any],
    ],
    oneOf: [PT.HASH, PT.SIG],
  },
  AM3: {
    encrypted: "either",
    counts: [
      [[PT.HASH], opt],
      [[PT.SIG], opt],
      [[PT.CERT], any],
      [natd, { min: 0, max: 8 }],
      [[PT.N], any],
      [[PT.VID], any],
    ],
    oneOf: [PT.HASH, PT.SIG],
  },
  QM1: {
    encrypted: true,
    first: PT.HASH,
    counts: [
      [[PT.HASH], one],
      [[PT.SA], one],
      [[PT.NONCE], one],
      [[PT.KE], opt],
      [[PT.ID], idPair],
      [natoa, { min: 0, max: 2 }],
      [[PT.N], any],
      [[PT.VID], any],
    ],
  },
  QM2: {
    encrypted: true,
    first: PT.HASH,
    counts: [
      [[PT.HASH], one],
      [[PT.SA], one],
      [[PT.NONCE], one],
      [[PT.KE], opt],
      [[PT.ID], idPair],
      [natoa, { min: 0, max: 2 }],
      [[PT.N], any],
      [[PT.VID], any],
    ],
  },
  QM3: { encrypted: true, first: PT.HASH, counts: [[[PT.HASH], one]] },
  INFO: {
    encrypted: "either",
    counts: [
      [[PT.HASH], opt],
      [[PT.N], any],
      [[PT.D], any],
      [[PT.VID], any],
    ],
    oneOf: [PT.N, PT.D],
  },
};

export interface RuleViolation {
  readonly code: "OAK_E_IKE_PAYLOADS";
  /** RFC 2408 notify to send back: PAYLOAD-MALFORMED (16) or INVALID-PAYLOAD-TYPE (1). */
  readonly notify: 1 | 16;
  readonly message: string;
}

/** Checks `types` (payload types in message order) against the rule of `kind`. */
export function checkPayloads(
  kind: MessageKind,
  types: readonly number[],
  encrypted: boolean,
): RuleViolation | undefined {
  const rule = PAYLOAD_RULES[kind];
  if (rule.encrypted !== "either" && rule.encrypted !== encrypted) {
    return {
      code: "OAK_E_IKE_PAYLOADS",
      notify: 16,
      message: `${kind} must ${rule.encrypted ? "" : "not "}be encrypted`,
    };
  }
  if (rule.first !== undefined && types[0] !== rule.first) {
    return {
      code: "OAK_E_IKE_PAYLOADS",
      notify: 16,
      message: `${kind} must start with payload ${rule.first}, got ${types[0] ?? "none"}`,
    };
  }
  const seen = new Map<number, number>();
  for (const t of types) seen.set(t, (seen.get(t) ?? 0) + 1);
  for (const [group, count] of rule.counts) {
    const n = group.reduce((acc, t) => acc + (seen.get(t) ?? 0), 0);
    if (n < count.min || n > count.max || (count.pair && n % 2 !== 0)) {
      return {
        code: "OAK_E_IKE_PAYLOADS",
        notify: 16,
        message: `${kind}: payload ${group.join("/")} appears ${n} times, allowed ${count.min}..${count.max}`,
      };
    }
    for (const t of group) seen.delete(t);
  }
  if (rule.oneOf && !rule.oneOf.some((t) => types.includes(t))) {
    return {
      code: "OAK_E_IKE_PAYLOADS",
      notify: 16,
      message: `${kind}: needs one of payloads ${rule.oneOf.join("/")}`,
    };
  }
  const unexpected = [...seen.keys()];
  if (unexpected.length > 0) {
    return {
      code: "OAK_E_IKE_PAYLOADS",
      notify: 1,
      message: `${kind}: unexpected payload ${unexpected.join(", ")}`,
    };
  }
  return undefined;
}
