/**
 * The UDP 500 / 4500 reachability probe of `oakley diagnose`: a real MM1 (the same offers and
 * vendor IDs `oakley connect` sends, built by the IKE engine from the project's ISAKMP codecs),
 * and what the answer says: the transform the server chose and its vendor IDs by name
 * (registry/vendor-ids.ts), or the error notify it sent instead.
 *
 * No state is kept on our side; the server's half-open SA for the probe is left to expire (its
 * half-open budget and timeout handle it — an unauthenticated Delete before MM2's cookie is
 * used would not be believed by a careful server anyway). On UDP 4500 the MM1 carries the
 * RFC 3948 §2.2 non-ESP marker (four zero octets), as after a float.
 */
import type { IkeConfig } from "../ike/index.js";
import { IkeEngine } from "../ike/index.js";
import {
  GROUP_DESCRIPTIONS,
  IKE_ENCRYPTION_ALGORITHMS,
  IKE_HASH_ALGORITHMS,
  NOTIFY_TYPES,
} from "../registry/ike.js";
import {
  decodeIkeAttributes,
  name,
  PayloadType,
  parseIsakmpMessage,
  vendorIdName,
} from "../wire/isakmp/index.js";
import type { ProbeReply } from "./verdict.js";

/** RFC 3948 §2.2: IKE on UDP 4500 starts with four zero octets. */
export const NON_ESP_MARKER = Buffer.alloc(4);

/**
 * One MM1 from `config` (our offers and vendor IDs) towards `server`, with fresh cookies from
 * `random`. The engine that built it is dropped: nothing waits for the answer.
 */
export function buildMm1(
  config: IkeConfig,
  server: string,
  random: (n: number) => Buffer,
  port: 500 | 4500 = 500,
): Buffer {
  const engine = new IkeEngine(config, { random });
  const actions = engine.initiate({ peer: { address: server, port: 500 } }, 0);
  const send = actions.find((a) => a.kind === "send");
  if (send?.kind !== "send") throw new Error("buildMm1: the engine sent no MM1");
  return port === 4500 ? Buffer.concat([NON_ESP_MARKER, send.data]) : send.data;
}

/**
 * An MM1 of exactly `size` octets of UDP payload (marker included on 4500): our vendor IDs plus
 * one of padding, so that a full-size packet tests the path (Linux sends UDP with DF set by
 * default, IP_PMTUDISC_WANT: a smaller hop answers ICMP "fragmentation needed" and the kernel
 * caches the lower path MTU; a hop that drops it silently is a path-MTU black hole). A
 * responder ignores a vendor ID it does not know. Returns the plain MM1 when `size` is too small.
 */
export function buildPaddedMm1(
  config: IkeConfig,
  server: string,
  random: (n: number) => Buffer,
  size: number,
  port: 500 | 4500 = 500,
): Buffer {
  const plain = buildMm1(config, server, random, port);
  const m = parseIsakmpMessage(port === 4500 ? plain.subarray(4) : plain);
  const room = size - plain.length - 4; // a VID payload header is 4 octets
  if (!m.ok || m.value.encrypted || room < 1) return plain;
  const vids = m.value.payloads.flatMap((p) => (p.type === PayloadType.VID ? [p.data] : []));
  // Padding that no registry entry matches: "oakley-diagnose-pmtu" then zeros.
  const pad = Buffer.alloc(room);
  pad.write("oakley-diagnose-pmtu");
  return buildMm1({ ...config, initiatorVendorIds: [...vids, pad] }, server, random, port);
}

/** Reads a server's answer to MM1 (with the non-ESP marker when it came on UDP 4500). */
export function readMm1Answer(data: Uint8Array, nattPort: boolean): ProbeReply {
  let b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (nattPort) {
    if (b.length < 4 || b.readUInt32BE(0) !== 0)
      return { vendorIds: [], malformed: "no non-ESP marker on UDP 4500" };
    b = b.subarray(4);
  }
  const m = parseIsakmpMessage(b);
  if (!m.ok) return { vendorIds: [], malformed: m.error.message };
  if (m.value.encrypted) return { vendorIds: [], malformed: "an encrypted message" };
  const vendorIds: string[] = [];
  let chosen: string | undefined;
  let notify: string | undefined;
  for (const p of m.value.payloads) {
    if (p.type === PayloadType.VID) vendorIds.push(vendorIdName(p.data));
    else if (p.type === PayloadType.N && notify === undefined)
      notify = name(NOTIFY_TYPES, p.notifyType);
    else if (p.type === PayloadType.SA && chosen === undefined) {
      const t = p.proposals[0]?.transforms[0];
      if (t) chosen = describeTransform(t.attributes);
    }
  }
  return {
    vendorIds,
    ...(chosen !== undefined ? { chosen } : {}),
    ...(notify !== undefined ? { notify } : {}),
  };
}

/** "AES-CBC-256/SHA2-256/MODP-2048" from a phase-1 transform's attributes (names from the registry). */
function describeTransform(attrs: Parameters<typeof decodeIkeAttributes>[0]): string {
  const a = decodeIkeAttributes(attrs);
  if (!a.ok) return `unreadable transform (${a.error.message})`;
  const v = a.value;
  const enc =
    v.encryptionAlgorithm === undefined
      ? "?"
      : name(IKE_ENCRYPTION_ALGORITHMS, v.encryptionAlgorithm);
  const bits = v.keyLength !== undefined ? `-${v.keyLength}` : "";
  const hash = v.hashAlgorithm === undefined ? "?" : name(IKE_HASH_ALGORITHMS, v.hashAlgorithm);
  const group =
    v.groupDescription === undefined ? "?" : name(GROUP_DESCRIPTIONS, v.groupDescription);
  return `${enc}${bits}/${hash}/${group}`;
}
