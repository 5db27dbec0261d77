/**
 * Makes the key-logged strongSwan vectors in test/vectors/strongswan/<run>/:
 * two real charon 5.9.8 instances (initiator behind the lab NAT, responder outside) run IKEv1
 * Main Mode (PSK) + Quick Mode + tunnel-mode ESP-in-UDP with charon's key logging on
 * (KEYLOG_LEVELS: ike 4, chd 4); we capture on the client's and the server's interfaces, ping
 * through the tunnel, delete the SAs, and extract the wire messages (pcap) and the logged
 * key material into vectors.json. Before writing anything it checks that the pieces agree:
 *  - both charons logged the same g^xy, SKEYID*, Ka and initial IV;
 *  - the cookies in the captured headers equal swanctl's SPIs; KE/Nonce payloads from the
 *    captured MM3/MM4 are the g^xi/g^xr and Ni/Nr that charon hashed (HASH_I data);
 *  - SKEYID, SKEYID_d/a/e, Ka and the initial IV recomputed (RFC 2409 section 5, appendix B)
 *    from the PSK, the captured nonces and cookies, and the logged g^xy equal the logged ones;
 *  - Wireshark (tshark, an independent implementation) decrypts the IKE messages with the
 *    logged Ka and the ESP packets with the logged ESP keys (the pings are found inside).
 *
 * Usage (root, lab packages installed):  npx tsx test/interop/strongswan/make-vectors.ts [run...]
 * Leaves out: certificate-authenticated vectors (PSK only), transport mode (libipsec).
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hex } from "../../../src/base/bytes.js";
import {
  tsharkCount,
  tsharkFields,
  tsharkKeyOptions,
  tsharkSummary,
  type TsharkKeys,
} from "./capture.js";
import { KEYLOG_LEVELS } from "./conf.js";
import { findDump, grepLog, type KeyDump, parseKeyDumps } from "./keylog.js";
import { LAB_ADDR } from "./lab.js";
import { PAIR_PSK, type PairResult, removePairOutput, runStrongswanPair } from "./pair.js";
import { udpDatagrams } from "../../helpers/pcap.js";
import { runOk } from "./proc.js";
import { viciSec, viciStr } from "./vici.js";

interface RunSpec {
  readonly name: string;
  readonly description: string;
  readonly ikeProposals: readonly string[];
  readonly espProposals: readonly string[];
  /** Hash used by the PRF / IV derivation (from the IKE proposal). */
  readonly hash: "sha1" | "sha256";
  /** Phase-1 cipher key length in bytes (AES-CBC). */
  readonly keyBytes: 16 | 32;
  /** Quick Mode with PFS (a DH group in espProposals): "DH secret" is logged at chd 4. */
  readonly pfs: boolean;
  /** Wireshark ESP algorithm labels (packet-ipsec.c value strings). */
  readonly wsEnc: string;
  readonly wsAuth: string;
}

export const RUNS: readonly RunSpec[] = [
  {
    name: "ikev1-psk-aes128-sha1-modp2048_esp-aes128-sha1",
    description:
      "IKEv1 Main Mode PSK, AES-CBC-128 / HMAC-SHA1 / MODP-2048 (group 14); Quick Mode ESP AES-CBC-128 + HMAC-SHA1-96, no PFS; NAT-T (RFC 3947/3948) tunnel mode",
    ikeProposals: ["aes128-sha1-modp2048"],
    espProposals: ["aes128-sha1"],
    hash: "sha1",
    keyBytes: 16,
    pfs: false,
    wsEnc: "AES-CBC [RFC3602]",
    wsAuth: "HMAC-SHA-1-96 [RFC2404]",
  },
  {
    name: "ikev1-psk-aes128-sha256-ecp256_esp-aes128gcm16",
    description:
      "IKEv1 Main Mode PSK, AES-CBC-128 / HMAC-SHA2-256 / ECP-256 (group 19); Quick Mode ESP AES-GCM-16 128-bit (RFC 4106), no PFS; NAT-T tunnel mode",
    ikeProposals: ["aes128-sha256-ecp256"],
    espProposals: ["aes128gcm16"],
    hash: "sha256",
    keyBytes: 16,
    pfs: false,
    wsEnc: "AES-GCM with 16 octet ICV [RFC4106]",
    wsAuth: "NULL",
  },
  {
    name: "ikev1-psk-aes256-sha1-modp2048_esp-aes256-sha256-pfs-modp2048",
    description:
      "IKEv1 Main Mode PSK, AES-CBC-256 / HMAC-SHA1 / MODP-2048 (Ka needs the RFC 2409 appendix B expansion: SHA-1 gives 20 of 32 bytes); Quick Mode with PFS (MODP-2048 KE in QM1/QM2), ESP AES-CBC-256 + HMAC-SHA2-256-128 (RFC 4868); NAT-T tunnel mode",
    ikeProposals: ["aes256-sha1-modp2048"],
    espProposals: ["aes256-sha256-modp2048"],
    hash: "sha1",
    keyBytes: 32,
    pfs: true,
    wsEnc: "AES-CBC [RFC3602]",
    wsAuth: "HMAC-SHA-256-128 [RFC4868]",
  },
];

const PING_PATTERN = "6f616b6c6579"; // "oakley"
const PINGS = 3;

interface IvEntry {
  readonly mid: number;
  readonly iv: string;
}

function ivs(dumps: readonly KeyDump[]): IvEntry[] {
  return dumps
    .filter((d) => d.label.startsWith("next IV for MID "))
    .map((d) => ({ mid: Number(d.label.slice("next IV for MID ".length)), iv: hex(d.bytes) }));
}

function need(dumps: readonly KeyDump[], label: string, who: string): Buffer {
  const d = findDump(dumps, label);
  if (!d) throw new Error(`${who} log has no "${label}" dump`);
  return d.bytes;
}

/** ISAKMP payload walk (RFC 2408 section 3.1/3.2) of an unencrypted message: type -> bodies. */
function payloads(msg: Buffer): { type: number; body: Buffer }[] {
  const out: { type: number; body: Buffer }[] = [];
  let next = msg[16] as number;
  let off = 28;
  while (next !== 0 && off + 4 <= msg.length) {
    const len = msg.readUInt16BE(off + 2);
    out.push({ type: next, body: msg.subarray(off + 4, off + len) });
    next = msg[off] as number;
    off += len;
  }
  return out;
}

async function makeRun(spec: RunSpec, vectorsRoot: string): Promise<void> {
  console.log(`== ${spec.name}`);
  const started = new Date();
  const r: PairResult = await runStrongswanPair({
    ikeProposals: spec.ikeProposals,
    espProposals: spec.espProposals,
    logLevels: KEYLOG_LEVELS,
    pings: PINGS,
    pingPattern: PING_PATTERN,
  });
  assert.equal(r.initiate.code, 0, `initiate failed: ${r.initiate.stdout}${r.initiate.stderr}`);
  assert.match(r.ping?.stdout ?? "", new RegExp(`${PINGS} received`), "pings through the tunnel");

  const { readFileSync } = await import("node:fs");
  const iLog = readFileSync(r.logs.initiator, "utf8");
  const rLog = readFileSync(r.logs.responder, "utf8");
  const iD = parseKeyDumps(iLog);
  const rD = parseKeyDumps(rLog);

  // 1. both ends derived the same phase-1 keys
  const p1Labels = [
    "shared Diffie Hellman secret",
    "SKEYID",
    "SKEYID_d",
    "SKEYID_a",
    "SKEYID_e",
    "encryption key Ka",
    "initial IV",
  ];
  const p1: Record<string, Buffer> = {};
  for (const l of p1Labels) {
    const a = need(iD, l, "initiator");
    const b = need(rD, l, "responder");
    assert.ok(a.equals(b), `initiator and responder disagree on ${l}`);
    p1[l] = a;
  }

  // 2. wire messages from the server-side capture
  const serverDgrams = udpDatagrams(r.pcaps.server);
  const messages: {
    frame: number;
    dir: "i2r" | "r2i";
    src: string;
    dst: string;
    nonEspMarker: boolean;
    exchangeType: number;
    messageId: string;
    encrypted: boolean;
    hex: string;
  }[] = [];
  const espPackets = new Map<string, { frame: number; hex: string }[]>();
  for (const d of serverDgrams) {
    const dir = d.src === LAB_ADDR.server ? "r2i" : "i2r";
    if (d.kind === "isakmp") {
      messages.push({
        frame: d.frame,
        dir,
        src: `${d.src}:${d.srcPort}`,
        dst: `${d.dst}:${d.dstPort}`,
        nonEspMarker: d.marker,
        exchangeType: d.payload[18] as number,
        messageId: hex(d.payload.subarray(20, 24)),
        encrypted: ((d.payload[19] as number) & 1) === 1,
        hex: hex(d.payload),
      });
    } else if (d.kind === "esp-in-udp") {
      const spi = hex(d.payload.subarray(0, 4));
      const list = espPackets.get(spi) ?? [];
      list.push({ frame: d.frame, hex: hex(d.payload) });
      espPackets.set(spi, list);
    }
  }
  const m1 = messages[0];
  assert.ok(m1 && m1.exchangeType === 2, "first message is Main Mode (ID_PROT)");
  const cookieI = m1.hex.slice(0, 16);
  const mm2 = messages.find((m) => m.dir === "r2i" && m.exchangeType === 2);
  assert.ok(mm2, "MM2 captured");
  const cookieR = mm2.hex.slice(16, 32);
  const ikeSa = r.clientSas.ikeSas[0]?.sa;
  assert.equal(viciStr(ikeSa, "initiator-spi"), cookieI, "swanctl initiator SPI = captured CKY-I");
  assert.equal(viciStr(ikeSa, "responder-spi"), cookieR, "swanctl responder SPI = captured CKY-R");
  const plain = messages.filter((m) => m.exchangeType === 2 && !m.encrypted);
  assert.equal(plain.length, 4, "MM1..MM4 in clear");
  const mm3 = payloads(Buffer.from((plain[2] as (typeof plain)[0]).hex, "hex"));
  const mm4 = payloads(Buffer.from((plain[3] as (typeof plain)[0]).hex, "hex"));
  const gxi = mm3.find((p) => p.type === 4)?.body;
  const ni = mm3.find((p) => p.type === 10)?.body;
  const gxr = mm4.find((p) => p.type === 4)?.body;
  const nr = mm4.find((p) => p.type === 10)?.body;
  assert.ok(gxi && gxr && ni && nr, "KE and Nonce payloads in MM3/MM4");
  const hashIData = need(iD, "HASH_I data", "initiator");
  assert.ok(hashIData.subarray(0, gxi.length).equals(gxi), "HASH_I data starts with captured g^xi");
  assert.ok(hashIData.subarray(gxi.length, gxi.length + gxr.length).equals(gxr), "then g^xr");
  assert.equal(
    hex(hashIData.subarray(gxi.length + gxr.length, gxi.length + gxr.length + 16)),
    cookieI + cookieR,
  );

  // 3. recompute phase-1 keys (RFC 2409 section 5 + appendix B) from PSK, nonces, cookies, g^xy
  const prf = (k: Buffer, ...d: Buffer[]): Buffer =>
    createHmac(spec.hash, k).update(Buffer.concat(d)).digest();
  const gxy = p1["shared Diffie Hellman secret"] as Buffer;
  const cky = Buffer.from(cookieI + cookieR, "hex");
  const skeyid = prf(Buffer.from(PAIR_PSK), ni, nr);
  const skeyidD = prf(skeyid, gxy, cky, Buffer.from([0]));
  const skeyidA = prf(skeyid, skeyidD, gxy, cky, Buffer.from([1]));
  const skeyidE = prf(skeyid, skeyidA, gxy, cky, Buffer.from([2]));
  assert.ok(skeyid.equals(p1.SKEYID as Buffer), "SKEYID = prf(PSK, Ni_b | Nr_b)");
  assert.ok(skeyidD.equals(p1.SKEYID_d as Buffer), "SKEYID_d");
  assert.ok(skeyidA.equals(p1.SKEYID_a as Buffer), "SKEYID_a");
  assert.ok(skeyidE.equals(p1.SKEYID_e as Buffer), "SKEYID_e");
  // appendix B: Ka = SKEYID_e if long enough, else K1 | K2 | ... with K1 = prf(SKEYID_e, 0)
  let kaBlocks = skeyidE;
  if (skeyidE.length < spec.keyBytes) {
    const ks: Buffer[] = [];
    let k = prf(skeyidE, Buffer.from([0]));
    ks.push(k);
    while (Buffer.concat(ks).length < spec.keyBytes) {
      k = prf(skeyidE, k);
      ks.push(k);
    }
    kaBlocks = Buffer.concat(ks);
  }
  assert.ok(
    kaBlocks.subarray(0, spec.keyBytes).equals(p1["encryption key Ka"] as Buffer),
    "Ka from SKEYID_e (appendix B)",
  );
  const iv0 = createHash(spec.hash)
    .update(Buffer.concat([gxi, gxr]))
    .digest()
    .subarray(0, 16);
  assert.ok(
    iv0.equals(p1["initial IV"] as Buffer),
    "initial IV = hash(g^xi | g^xr), truncated to the block",
  );

  // 4. Quick Mode: seeds ([g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) and ESP keys
  const iSeed = need(iD, "initiator SA seed", "initiator");
  const rSeed = need(iD, "responder SA seed", "initiator");
  assert.ok(iSeed.equals(need(rD, "initiator SA seed", "responder")), "seeds agree");
  const gqmxy = spec.pfs ? need(iD, "DH secret", "initiator") : Buffer.alloc(0);
  if (spec.pfs) {
    assert.ok(gqmxy.equals(need(rD, "DH secret", "responder")), "Quick Mode DH secrets agree");
    assert.ok(iSeed.subarray(0, gqmxy.length).equals(gqmxy), "seed starts with g(qm)^xy");
  }
  const o = gqmxy.length;
  const spiR = hex(iSeed.subarray(o + 1, o + 5)); // SPI the responder chose: initiator -> responder traffic
  const spiI = hex(rSeed.subarray(o + 1, o + 5));
  const qmNi = iSeed.subarray(o + 5, o + 5 + (iSeed.length - o - 5) / 2);
  const qmNr = iSeed.subarray(o + 5 + (iSeed.length - o - 5) / 2);
  const child = viciSec(
    viciSec(ikeSa, "child-sas"),
    Object.keys(viciSec(ikeSa, "child-sas"))[0] ?? "",
  );
  assert.equal(
    viciStr(child, "spi-out"),
    spiR,
    "client's outbound SPI = the responder's SPI in the seeded exchange",
  );
  assert.equal(
    viciStr(child, "spi-in"),
    spiI,
    "client's inbound SPI = the initiator's SPI in the seeded exchange",
  );
  const key = (l: string): string => {
    const d = findDump(iD, l);
    const e = findDump(rD, l);
    if (d && e) assert.ok(d.bytes.equals(e.bytes), `${l} agrees`);
    return d ? hex(d.bytes) : "";
  };
  const espAlg = (grepLog(iLog, /selected proposal: ESP:/)[0] ?? "").replace(
    /.*selected proposal: /,
    "",
  );
  const ikeAlg = (grepLog(iLog, /selected proposal: IKE:/)[0] ?? "").replace(
    /.*selected proposal: /,
    "",
  );
  const esp = [
    {
      spi: spiR,
      dir: "i2r",
      src: `${LAB_ADDR.natOutside}:4500`,
      dst: `${LAB_ADDR.server}:4500`,
      alg: espAlg,
      encKey: key("encryption initiator key"),
      intKey: key("integrity initiator key"),
      packets: espPackets.get(spiR) ?? [],
    },
    {
      spi: spiI,
      dir: "r2i",
      src: `${LAB_ADDR.server}:4500`,
      dst: `${LAB_ADDR.natOutside}:4500`,
      alg: espAlg,
      encKey: key("encryption responder key"),
      intKey: key("integrity responder key"),
      packets: espPackets.get(spiI) ?? [],
    },
  ];
  assert.equal(esp[0]?.packets.length, PINGS, "echo requests as ESP");
  assert.equal(esp[1]?.packets.length, PINGS, "echo replies as ESP");

  // 5. independent check: Wireshark decrypts IKE with Ka and ESP with the logged keys
  const keys: TsharkKeys = {
    ikev1: [{ icookie: cookieI, encKey: hex(p1["encryption key Ka"] as Buffer) }],
    esp: esp.map((s) => ({
      src: s.src.split(":")[0] as string,
      dst: s.dst.split(":")[0] as string,
      spi: `0x${s.spi}`,
      encAlg: spec.wsEnc,
      encKey: `0x${s.encKey}`,
      authAlg: spec.wsAuth,
      authKey: s.intKey ? `0x${s.intKey}` : "",
    })),
  };
  const opts = tsharkKeyOptions(keys);
  const nIcmp = await tsharkCount(r.pcaps.server, "esp && icmp", opts);
  assert.equal(nIcmp, 2 * PINGS, "tshark finds the pings inside the decrypted ESP");
  const ids = await tsharkFields(
    r.pcaps.server,
    ["frame.number", "isakmp.id.type"],
    "isakmp.id.type",
    opts,
  );
  assert.ok(ids.length >= 2, `tshark decrypts MM5/MM6 (ID payloads seen in ${ids.length} frames)`);
  const qmSa = await tsharkCount(
    r.pcaps.server,
    "isakmp.exchangetype == 32 && isakmp.sa.doi",
    opts,
  );
  assert.ok(qmSa >= 2, "tshark decrypts Quick Mode (SA payloads in QM1/QM2)");

  // 6. write the vector directory
  const dir = join(vectorsRoot, spec.name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(r.pcaps.server, join(dir, "server.pcap"));
  copyFileSync(r.pcaps.client, join(dir, "client.pcap"));
  copyFileSync(r.logs.initiator, join(dir, "initiator-charon.log"));
  copyFileSync(r.logs.responder, join(dir, "responder-charon.log"));
  const decrypted =
    `# tshark ${opts.map((o) => `'${o}'`).join(" ")} -r server.pcap\n` +
    (await tsharkSummary(r.pcaps.server, opts)) +
    "\n# ISAKMP frames, decrypted, verbose (-V -Y isakmp)\n" +
    (await runOk("tshark", ["-r", r.pcaps.server, ...opts, "-Y", "isakmp", "-V", "-O", "isakmp"], {
      timeoutMs: 120_000,
    }));
  writeFileSync(join(dir, "tshark-decrypted.txt"), decrypted);
  const versions = (
    await runOk("dpkg-query", [
      "-W",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
      "-f=${Package} ${Version}\\n",
      "strongswan-charon",
      "libcharon-extra-plugins",
      "libstrongswan-standard-plugins",
      "tshark",
      "tcpdump",
    ])
  )
    .trim()
    .split("\n");
  const vectors = {
    name: spec.name,
    description: spec.description,
    source:
      "Real strongSwan 5.9.8 charon initiator and responder (Debian 12), key material from charon's own log (ike 4 / chd 4); see README.md",
    made: started.toISOString(),
    versions,
    topology: {
      initiator: `${LAB_ADDR.client} behind NAT (MASQUERADE to ${LAB_ADDR.natOutside})`,
      responder: LAB_ADDR.server,
      tunnel: `${LAB_ADDR.client}/32 === ${LAB_ADDR.serverNet}/32`,
      captures: {
        "server.pcap": `responder's interface: ${LAB_ADDR.natOutside} <-> ${LAB_ADDR.server}`,
        "client.pcap": `initiator's interface (inside the NAT): ${LAB_ADDR.client} <-> ${LAB_ADDR.server}`,
      },
    },
    psk: { text: PAIR_PSK, hex: hex(Buffer.from(PAIR_PSK)) },
    ike: {
      proposal: ikeAlg,
      ikeCookies: { initiator: cookieI, responder: cookieR },
      nonces: { ni: hex(ni), nr: hex(nr) },
      ke: { gxi: hex(gxi), gxr: hex(gxr) },
      gxy: hex(gxy),
      skeyid: hex(p1.SKEYID as Buffer),
      skeyidD: hex(p1.SKEYID_d as Buffer),
      skeyidA: hex(p1.SKEYID_a as Buffer),
      skeyidE: hex(p1.SKEYID_e as Buffer),
      encKey: hex(p1["encryption key Ka"] as Buffer),
      initialIv: hex(p1["initial IV"] as Buffer),
      hashI: hex(need(iD, "HASH_I", "initiator")),
      hashR: hex(need(rD, "HASH_R", "responder")),
      hashIData: hex(hashIData),
      ivs: { initiator: ivs(iD), responder: ivs(rD) },
    },
    quickMode: {
      messageId: messages.find((m) => m.exchangeType === 32)?.messageId ?? "",
      niB: hex(qmNi),
      nrB: hex(qmNr),
      ...(spec.pfs ? { gqmxy: hex(gqmxy) } : {}),
      spiI,
      spiR,
      initiatorSeed: hex(iSeed),
      responderSeed: hex(rSeed),
    },
    messages,
    esp,
    checks: [
      "initiator and responder logged identical g^xy, SKEYID, SKEYID_d/a/e, Ka, initial IV, SA seeds, ESP keys",
      "captured CKY-I/CKY-R equal swanctl --list-sas initiator-spi/responder-spi",
      "captured MM3/MM4 KE payloads are the g^xi/g^xr at the start of charon's HASH_I data",
      "SKEYID*, Ka and initial IV recomputed with node:crypto from PSK, captured Ni/Nr/cookies/KE and logged g^xy",
      "swanctl's child SPIs equal the SPIs in the logged Quick Mode seeds",
      `tshark decrypted MM5/MM6 and Quick Mode with ike.encKey, and found ${2 * PINGS} ICMP packets inside the ESP packets with esp[].encKey/intKey`,
    ],
  };
  writeFileSync(join(dir, "vectors.json"), `${JSON.stringify(vectors, null, 2)}\n`);
  console.log(
    `   wrote ${dir}: ${messages.length} IKE messages, ${esp[0]?.packets.length}+${esp[1]?.packets.length} ESP packets`,
  );
  removePairOutput(r);
}

const isMain = process.argv[1]?.endsWith("make-vectors.ts") ?? false;
if (isMain) {
  const root = join(import.meta.dirname, "..", "..", "vectors", "strongswan");
  const want = process.argv.slice(2);
  for (const spec of RUNS) {
    if (want.length > 0 && !want.includes(spec.name)) continue;
    await makeRun(spec, root);
  }
}
