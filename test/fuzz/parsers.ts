/**
 * Parser targets of the deep fuzzer: every `parse*` of src/wire (ISAKMP, ESP, UDP
 * encapsulation, L2TP, PPP, IP/TCP/UDP), the policy import (YAML, JSON) and the management
 * protocol (request/response lines, client-side decoders, policy and token files).
 *
 * Seeds are real traffic where there is some: the strongSwan ISAKMP/ESP captures and the
 * xl2tpd L2TP captures of test/vectors/captures (read with test/helpers/pcap.ts), plus the
 * messages Oakley's own engines send in clean exchanges (engines.ts), plus a few hand-made
 * messages for fields the captures never carry. Round trips are checked where the codec
 * promises `serialize(parse(b)) == b` for any accepted input (ISAKMP, L2TP, the UDP/4500
 * classification) and where the serializer keeps every byte (ESP, PPP, IP headers).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeControlTarget } from "../../src/control/fake-target.js";
import { parseTokenFile } from "../../src/control/auth.js";
import {
  decodeDeleted,
  decodeMetrics,
  decodeSaList,
  decodeStatus,
} from "../../src/control/decode.js";
import { parsePolicyFile } from "../../src/control/ops.js";
import {
  encodeLine,
  type Json,
  parseHelloParams,
  parseRequest,
  parseResponse,
} from "../../src/control/protocol.js";
import type { Result } from "../../src/base/result.js";
import { type StoreError, StoreErrorCode } from "../../src/policy/errors.js";
import { openStore } from "../../src/policy/store.js";
import { importJson, importYaml } from "../../src/policy/exchange.js";
import {
  parseEspPacket,
  parseEspPlaintext,
  serializeEspPacket,
  serializeEspPlaintext,
} from "../../src/wire/esp/esp.js";
import { parseIpv4Header, parseIpv4Packet, serializeIpv4Header } from "../../src/wire/ip/ipv4.js";
import { parseIpv6Header, parseIpv6Packet, serializeIpv6Header } from "../../src/wire/ip/ipv6.js";
import { type PacketFields, readPacketFields } from "../../src/wire/ip/packet.js";
import { findTcpMss, parseTcpSegment, serializeTcpSegment } from "../../src/wire/ip/tcp.js";
import { parseUdpDatagram, parseUdpHeader, serializeUdpHeader } from "../../src/wire/ip/udp.js";
import {
  DEFAULT_LIMITS,
  decodeIkeAttributes,
  decodeIpsecAttributes,
  parseDataAttributeList,
  parseIdentificationData,
  parseIkeFragment,
  parseIsakmpHeader,
  parseIsakmpMessage,
  parsePayloadChain,
  parseSaPayloadBody,
  PayloadType,
  serializeDataAttributes,
  serializeIdentificationData,
  serializeIkeFragment,
  serializeIsakmpHeader,
  splitIntoFragments,
  serializeParsedIsakmpMessage,
  serializePayloadBody,
  serializePayloadChain,
  serializeSaBody,
} from "../../src/wire/isakmp/index.js";
import {
  decodeAvp,
  decodeControlMessage,
  hideAvp,
  parseAvps,
  parseL2tpPacket,
  serializeAvps,
  serializeL2tpPacket,
  unhideAvp,
} from "../../src/wire/l2tp/index.js";
import {
  parseChapPacket,
  parseIpcpPacket,
  parseIpv6cpPacket,
  parseLcpPacket,
  parseMsChapV2Failure,
  parseMsChapV2ResponseValue,
  parseMsChapV2Success,
  parsePapPacket,
  parsePppFrame,
  serializeChapPacket,
  serializeIpcpPacket,
  serializeIpv6cpPacket,
  serializeLcpPacket,
  serializeMsChapV2Failure,
  serializeMsChapV2ResponseValue,
  serializeMsChapV2Success,
  serializePapPacket,
  serializePppFrame,
} from "../../src/wire/ppp/index.js";
import { classifyNattDatagram, serializeNattDatagram } from "../../src/wire/udpencap/udpencap.js";
import { ipv4Of, readPcap, udpDatagrams } from "../helpers/pcap.js";
import { ikeSeeds, l2tpSeeds, pppSeeds } from "./engines.js";
import * as S from "./shapes.js";
import { type FuzzTarget, parserTarget } from "./target.js";

const captures = join(import.meta.dirname, "../vectors/captures");
const IKE_PCAPS = ["evidence-ikev1-natt-transport.pcap", "evidence-ikev1-natt-tunnel.pcap"];
const L2TP_PCAPS = ["evidence-l2tp-inner-tunnel.pcap", "evidence-l2tp-inner-transport.pcap"];

function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => {
    v ??= f();
    return v;
  };
}

const udpOnIkePorts = once(() =>
  IKE_PCAPS.flatMap((f) => udpDatagrams(readFileSync(join(captures, f)))),
);
/** Cleartext ISAKMP messages (captures + Oakley's own), parsed once to cut seeds for the inner parsers. */
const parsedIke = once(() =>
  ikeSeeds().flatMap((b) => {
    const r = parseIsakmpMessage(b);
    return r.ok && !r.value.encrypted ? [r.value] : [];
  }),
);
const ipv4Packets = once(() =>
  [...IKE_PCAPS, ...L2TP_PCAPS].flatMap((f) =>
    readPcap(readFileSync(join(captures, f))).flatMap((rec) => {
      const p = ipv4Of(rec);
      return p ? [Buffer.from(p)] : [];
    }),
  ),
);
/** SYN with MSS 1460, SACK-permitted, timestamps, NOP, window scale (hand-made, RFC 9293 options). */
const TCP_SYN = Buffer.from(
  "c0de005000000001000000009002400000000000020405b40402080a000000010000000001030307",
  "hex",
);
const pppFrames = once(() => pppSeeds());
const controlPackets = (proto: number) =>
  pppFrames().flatMap((f) => {
    const r = parsePppFrame(f);
    return r.ok && r.value.protocol === proto ? [Buffer.from(r.value.information)] : [];
  });

const same = (got: Uint8Array, want: Uint8Array) => ({ got, want });

const isakmp: FuzzTarget[] = [
  parserTarget({
    name: "isakmp:message",
    parse: parseIsakmpMessage,
    roundTrip: (v, b) => same(serializeParsedIsakmpMessage(v), b.subarray(0, v.header.length)),
    seeds: ikeSeeds,
    shape: S.isakmpMessage,
  }),
  parserTarget({
    name: "isakmp:header",
    parse: parseIsakmpHeader,
    roundTrip: (v, b) => same(serializeIsakmpHeader(v), b.subarray(0, 28)),
    seeds: ikeSeeds,
    shape: S.isakmpMessage,
  }),
  parserTarget({
    name: "isakmp:fragment",
    parse: parseIkeFragment,
    roundTrip: (v, b) => same(serializeIkeFragment(v), b.subarray(0, v.header.length)),
    // Every captured message cut into 100-byte pieces: carriers as peers send them.
    seeds: () =>
      ikeSeeds().flatMap((m) =>
        m.length >= 28 && m.length <= 25_500 ? splitIntoFragments(m, 1, 100) : [],
      ),
  }),
  parserTarget({
    name: "isakmp:payload-chain",
    // First octet: the first payload's type, so that mutations reach every body parser.
    parse: (b) => parsePayloadChain(b[0] ?? 0, b.subarray(1), { allowTrailingPadding: true }),
    roundTrip: (v, b) =>
      same(serializePayloadChain(v.payloads).bytes, b.subarray(1, b.length - v.paddingLength)),
    seeds: () =>
      parsedIke().flatMap((m) => {
        if (m.encrypted || m.payloads.length === 0) return [];
        const c = serializePayloadChain(m.payloads);
        return [Buffer.concat([Buffer.of(c.firstPayloadType), c.bytes])];
      }),
    shape: S.isakmpTypedChain,
  }),
  parserTarget({
    name: "isakmp:sa-body",
    parse: (b) => parseSaPayloadBody(b, DEFAULT_LIMITS),
    roundTrip: (v, b) => same(serializeSaBody(v), b),
    seeds: () =>
      parsedIke().flatMap((m) =>
        m.encrypted
          ? []
          : m.payloads.filter((p) => p.type === PayloadType.SA).map(serializePayloadBody),
      ),
    shape: S.isakmpSaBody,
  }),
  parserTarget({
    name: "isakmp:attributes",
    parse: (b) => {
      const r = parseDataAttributeList(b);
      if (r.ok) {
        // the typed views must also take anything the list parser accepts
        decodeIkeAttributes(r.value);
        decodeIpsecAttributes(r.value);
      }
      return r;
    },
    roundTrip: (v, b) => same(serializeDataAttributes(v), b),
    seeds: () =>
      parsedIke().flatMap((m) =>
        m.encrypted
          ? []
          : m.payloads.flatMap((p) =>
              p.type === PayloadType.SA
                ? p.proposals.flatMap((pr) =>
                    pr.transforms.map((t) => serializeDataAttributes(t.attributes)),
                  )
                : [],
            ),
      ),
    shape: S.isakmpAttributes,
  }),
  parserTarget({
    name: "isakmp:identification",
    parse: (b) => parseIdentificationData(b[0] ?? 0, b.subarray(1)),
    roundTrip: (v, b) => {
      const back = serializeIdentificationData(v);
      return same(Buffer.concat([Buffer.of(back.idType), back.data]), b);
    },
    seeds: () => [
      Buffer.from("01c0000202", "hex"), // ID_IPV4_ADDR 192.0.2.2
      Buffer.from("04c0000200ffffff00", "hex"), // ID_IPV4_ADDR_SUBNET
      Buffer.from("07c0000201c00002ff", "hex"), // ID_IPV4_ADDR_RANGE
      Buffer.from("0520010db8000000000000000000000001", "hex"), // ID_IPV6_ADDR
      Buffer.concat([Buffer.of(2), Buffer.from("vpn.example.com")]), // ID_FQDN
      Buffer.concat([Buffer.of(3), Buffer.from("alice@example.com")]), // ID_USER_FQDN
      Buffer.from("0b0102", "hex"), // ID_KEY_ID
      Buffer.from("09300f310d300b060355040313046f616b", "hex"), // ID_DER_ASN1_DN (prefix)
    ],
    maxLength: 300,
  }),
];
const espAndEncap: FuzzTarget[] = [
  parserTarget({
    name: "udpencap:classify",
    parse: classifyNattDatagram,
    roundTrip: (v, b) => same(serializeNattDatagram(v), b),
    seeds: once(() =>
      udpOnIkePorts()
        .filter((d) => d.dstPort === 4500 || d.srcPort === 4500)
        .map((d) => d.udpPayload),
    ),
  }),
  parserTarget({
    name: "esp:packet",
    parse: parseEspPacket,
    roundTrip: (v, b) => same(serializeEspPacket(v), b),
    seeds: once(() =>
      udpOnIkePorts()
        .filter((d) => d.kind === "esp-in-udp")
        .slice(0, 16)
        .map((d) => d.payload),
    ),
  }),
  parserTarget({
    name: "esp:plaintext",
    parse: (b) => parseEspPlaintext(b),
    roundTrip: (v, b) => same(serializeEspPlaintext(v), b),
    seeds: () => [
      Buffer.from("0021000101020201", "hex"),
      Buffer.concat([ipv4Packets()[0] ?? Buffer.alloc(20), Buffer.from("0102030404", "hex")]),
    ],
  }),
];

const SECRET = Buffer.from("s3cret");
const RV = Buffer.from("00112233445566778899aabbccddeeff", "hex");
const l2tpBodies = once(() =>
  l2tpSeeds().flatMap((p) => {
    const r = parseL2tpPacket(p);
    return r.ok && r.value.header.isControl ? [Buffer.from(r.value.body)] : [];
  }),
);

const l2tp: FuzzTarget[] = [
  parserTarget({
    name: "l2tp:packet",
    parse: parseL2tpPacket,
    roundTrip: (v, b) => same(serializeL2tpPacket(v), b),
    seeds: l2tpSeeds,
    shape: S.l2tpPacket,
  }),
  parserTarget({
    name: "l2tp:avps",
    parse: (b) => {
      const r = parseAvps(b);
      if (r.ok) for (const a of r.value) decodeAvp(a);
      return r;
    },
    roundTrip: (v, b) => same(serializeAvps(v), b),
    seeds: l2tpBodies,
    shape: S.l2tpAvps,
  }),
  parserTarget({
    name: "l2tp:control-message",
    parse: (b) => {
      const r = parseAvps(b);
      return r.ok ? decodeControlMessage(r.value, SECRET) : r;
    },
    seeds: l2tpBodies,
    shape: S.l2tpAvps,
  }),
  parserTarget({
    name: "l2tp:unhide",
    parse: (b) =>
      unhideAvp(
        { mandatory: true, hidden: true, reserved: 0, vendorId: 0, attributeType: 14, value: b },
        SECRET,
        RV,
      ),
    seeds: () =>
      [Buffer.from("0309"), Buffer.from("0123456789012345678"), Buffer.alloc(0)].map((value, k) =>
        Buffer.from(
          hideAvp(
            { mandatory: true, hidden: false, reserved: 0, vendorId: 0, attributeType: 14, value },
            SECRET,
            RV,
            Buffer.alloc(k * 5, 0x55),
          ).value,
        ),
      ),
    maxLength: 1017,
  }),
];

const ppp: FuzzTarget[] = [
  parserTarget({
    name: "ppp:frame",
    parse: parsePppFrame,
    roundTrip: (v, b) => same(serializePppFrame(v), b),
    seeds: pppFrames,
    shape: S.pppFrame,
  }),
  parserTarget({
    name: "ppp:lcp",
    parse: parseLcpPacket,
    roundTrip: (v, b) => same(serializeLcpPacket(v), b),
    seeds: () => controlPackets(0xc021),
    shape: S.pppControl,
  }),
  parserTarget({
    name: "ppp:ipcp",
    parse: parseIpcpPacket,
    roundTrip: (v, b) => same(serializeIpcpPacket(v), b),
    seeds: () => controlPackets(0x8021),
    shape: S.pppControl,
  }),
  parserTarget({
    name: "ppp:ipv6cp",
    parse: parseIpv6cpPacket,
    roundTrip: (v, b) => same(serializeIpv6cpPacket(v), b),
    seeds: () => [
      Buffer.from("0101000e010a0011223344556677", "hex"),
      Buffer.from("0201000e010a0011223344556677", "hex"),
    ],
    shape: S.pppControl,
  }),
  parserTarget({
    name: "ppp:pap",
    parse: parsePapPacket,
    roundTrip: (v, b) => same(serializePapPacket(v), b),
    seeds: () => [
      ...controlPackets(0xc023),
      Buffer.from("0101000f05616c69636505736563726574", "hex"),
    ],
    shape: S.pppAuth,
  }),
  parserTarget({
    name: "ppp:chap",
    parse: parseChapPacket,
    roundTrip: (v, b) => same(serializeChapPacket(v), b),
    seeds: () => controlPackets(0xc223),
    shape: S.pppAuth,
  }),
  parserTarget({
    name: "ppp:mschapv2-success",
    parse: parseMsChapV2Success,
    roundTrip: (v, b) => same(serializeMsChapV2Success(v), b),
    seeds: () => [Buffer.from("S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted")],
    maxLength: 256,
  }),
  parserTarget({
    name: "ppp:mschapv2-failure",
    parse: parseMsChapV2Failure,
    roundTrip: (v, b) => same(serializeMsChapV2Failure(v), b),
    seeds: () => [
      Buffer.from("E=691 R=1 C=0123456789ABCDEF0123456789ABCDEF V=3 M=Authentication failed"),
    ],
    maxLength: 256,
  }),
  parserTarget({
    name: "ppp:mschapv2-response",
    parse: parseMsChapV2ResponseValue,
    roundTrip: (v, b) => same(serializeMsChapV2ResponseValue(v), b),
    seeds: () => [
      Buffer.from(
        `${"21402324255e262a28295f2b3a337c7e"}${"0".repeat(16)}${"82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df"}00`,
        "hex",
      ),
    ],
    maxLength: 128,
  }),
];

const fields: PacketFields = {
  version: 4,
  srcOffset: 0,
  dstOffset: 0,
  addrLength: 4,
  protocol: 0,
  l4Offset: 0,
  length: 0,
  srcPort: -1,
  dstPort: -1,
};

const ip: FuzzTarget[] = [
  parserTarget({
    name: "ip:ipv4-packet",
    parse: parseIpv4Packet,
    roundTrip: (v, b) => same(serializeIpv4Header(v.header), b.subarray(0, v.headerLength)),
    seeds: ipv4Packets,
    shape: S.ipv4Packet,
  }),
  parserTarget({
    name: "ip:ipv4-header",
    parse: parseIpv4Header,
    roundTrip: (v, b) => same(serializeIpv4Header(v.header), b.subarray(0, v.headerLength)),
    seeds: () => ipv4Packets().map((p) => p.subarray(0, 20 + ((p[0] ?? 0x45) & 0x0f) * 4 - 20)),
    shape: S.ipv4Packet,
  }),
  parserTarget({
    name: "ip:ipv6-packet",
    parse: parseIpv6Packet,
    roundTrip: (v, b) => same(serializeIpv6Header(v.header), b.subarray(0, 40)),
    seeds: () => [
      Buffer.from(
        "6000000000140640200107f8000000000000000000000001200107f8000000000000000000000002",
        "hex",
      ),
      Buffer.concat([
        Buffer.from(
          "6000000000200040200107f8000000000000000000000001200107f8000000000000000000000002",
          "hex",
        ),
        Buffer.from("0600000000000000", "hex"),
        TCP_SYN.subarray(0, 24),
      ]),
      Buffer.concat([
        Buffer.from(
          "60000000001c2c40200107f8000000000000000000000001200107f8000000000000000000000002",
          "hex",
        ),
        Buffer.from("1100000100000001", "hex"),
        Buffer.from("c0de06a5001400000102030405060708090a0b0c", "hex"),
      ]),
    ],
    shape: S.ipv6Packet,
  }),
  parserTarget({
    name: "ip:ipv6-header",
    parse: parseIpv6Header,
    roundTrip: (v, b) => same(serializeIpv6Header(v), b.subarray(0, 40)),
    seeds: () => [
      Buffer.from(
        "6000000000140640200107f8000000000000000000000001200107f8000000000000000000000002",
        "hex",
      ),
    ],
    shape: S.ipv6Packet,
  }),
  parserTarget({
    name: "ip:tcp-segment",
    parse: (b) => {
      findTcpMss(b);
      return parseTcpSegment(b);
    },
    roundTrip: (v, b) => same(serializeTcpSegment(v.header, v.payload), b),
    seeds: () => [TCP_SYN, TCP_SYN.subarray(0, 24)],
    shape: S.tcpSegment,
  }),
  parserTarget({
    name: "ip:udp-datagram",
    parse: (b) => {
      parseUdpHeader(b);
      return parseUdpDatagram(b);
    },
    roundTrip: (v, b) => same(serializeUdpHeader(v.header), b.subarray(0, 8)),
    seeds: () =>
      ipv4Packets().flatMap((p) => (p[9] === 17 ? [p.subarray(((p[0] ?? 0) & 0x0f) * 4)] : [])),
    shape: S.udpDatagram,
  }),
  parserTarget({
    name: "ip:packet-fields",
    parse: (b) =>
      ({ ok: readPacketFields(b, fields), value: undefined }) as { ok: true; value: undefined },
    seeds: () => [
      ...ipv4Packets(),
      Buffer.from(
        "6000000000140640200107f8000000000000000000000001200107f8000000000000000000000002",
        "hex",
      ),
    ],
    shape: S.ipv4Packet,
  }),
];

/** A read-only store: imports are parsed and validated in full, the final write is refused. */
const readOnlyStore = once(() => {
  const dir = mkdtempSync(join(tmpdir(), "oakley-fuzz-"));
  const path = join(dir, "ro.db");
  const w = openStore(path);
  if (!w.ok) throw new Error(w.error.message);
  w.value.close();
  const r = openStore(path, { readOnly: true });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
});

/** On the read-only store a document that passed every check fails only at the write: accepted. */
function validated<T>(r: Result<T, StoreError>): Result<T | undefined, StoreError> {
  return !r.ok && r.error.code === StoreErrorCode.ReadOnly ? { ok: true, value: undefined } : r;
}

const POLICY_YAML = [
  "format: oakley-policy-store\nformatVersion: 1\npsks: [{name: k, secret: abc}]\n",
  "format: oakley-policy-store\nformatVersion: 1\npools: [{name: p, cidr: 10.0.0.0/24, dns: [192.0.2.1]}]\n",
  "format: oakley-policy-store\nformatVersion: 1\nsettings: {natPolicy: 2, defaultPool: p}\n",
];

const policy: FuzzTarget[] = [
  parserTarget({
    name: "policy:import-yaml",
    parse: (b) => validated(importYaml(readOnlyStore(), b.toString("utf8"))),
    seeds: () => POLICY_YAML.map((t) => Buffer.from(t)),
    text: true,
    maxLength: 1024,
  }),
  parserTarget({
    name: "policy:import-json",
    parse: (b) => validated(importJson(readOnlyStore(), b.toString("utf8"))),
    seeds: () => [
      Buffer.from(
        JSON.stringify({
          format: "oakley-policy-store",
          formatVersion: 1,
          psks: [{ name: "k", secret: "abc" }],
        }),
      ),
      Buffer.from(
        JSON.stringify({
          format: "oakley-policy-store",
          formatVersion: 1,
          pools: [{ name: "p", cidr: "10.0.0.0/24", dns: ["192.0.2.1"] }],
        }),
      ),
    ],
    text: true,
    maxLength: 1024,
  }),
];

const fake = once(() => new FakeControlTarget());
const control: FuzzTarget[] = [
  parserTarget({
    name: "control:request",
    parse: (b) => {
      const r = parseRequest(b);
      if (r.ok && r.value.method === "hello") parseHelloParams(r.value);
      return r;
    },
    seeds: () =>
      [
        '{"v":1,"id":1,"method":"hello","params":{"min":1,"max":1,"client":"oakley 0.1.0","token":"oak1_x"}}',
        '{"v":1,"id":"a","method":"policy.add","params":{"document":{"name":"p","rules":[]},"persistent":true}}',
        '{"v":1,"id":3,"method":"sa.delete","params":{"id":"ike-1"}}',
      ].map((s) => Buffer.from(`${s}\n`)),
    text: true,
    maxLength: 1024,
  }),
  parserTarget({
    name: "control:response",
    parse: parseResponse,
    seeds: () =>
      [
        encodeLine({ v: 1, id: 1, result: fake().listSas() } as never),
        encodeLine({ v: 1, id: 2, result: fake().status() } as never),
        '{"v":1,"id":null,"error":{"code":"OAK_E_CTL_VERSION","message":"x","issues":[{"path":"p","message":"m"}],"extensions":["/x"]}}\n',
      ].map((s) => Buffer.from(s)),
    text: true,
    maxLength: 4096,
  }),
  parserTarget({
    name: "control:decode",
    parse: (b) => {
      let v: Json;
      try {
        v = JSON.parse(b.toString("utf8")) as Json;
      } catch {
        return { ok: false, error: "not JSON" };
      }
      const a = decodeSaList(v);
      const s = decodeStatus(v);
      const m = decodeMetrics(v);
      const d = decodeDeleted(v);
      return a.ok || s.ok || m.ok || d.ok
        ? { ok: true, value: undefined }
        : { ok: false, error: a.error };
    },
    seeds: () =>
      [fake().listSas(), fake().status(), fake().metrics(), { ike: 1, child: 2 }].map((v) =>
        Buffer.from(encodeLine(v as never)),
      ),
    text: true,
    maxLength: 4096,
  }),
  parserTarget({
    name: "control:policy-file",
    parse: (b) => parsePolicyFile(b.toString("utf8")),
    seeds: () => [
      Buffer.from(
        "name: office\nrules:\n  - name: all\n    filters: [{remote: 192.0.2.0/24}]\n    action: {kind: permit}\n",
      ),
      Buffer.from('{"name":"p","rules":[]}'),
    ],
    text: true,
    maxLength: 1024,
  }),
  parserTarget({
    name: "control:token-file",
    parse: (b) => parseTokenFile(b.toString("utf8")),
    seeds: () => [
      Buffer.from(
        '{"name":"ops","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","created":"2026-01-01T00:00:00Z"}\n# comment\n',
      ),
    ],
    text: true,
    maxLength: 1024,
  }),
];

export const parserTargets: FuzzTarget[] = [
  ...isakmp,
  ...espAndEncap,
  ...l2tp,
  ...ppp,
  ...ip,
  ...policy,
  ...control,
];
