/**
 * Cross-check Oakley's ESP against an independent implementation: Wireshark's ESP dissector.
 * Oakley's data plane produces ESP (AES-GCM-16 and AES-CBC + HMAC-SHA1-96; tunnel and
 * transport mode; plain ESP as IPv4 protocol 50 and UDP-encapsulated on port 4500, RFC 3948),
 * wrapped in IPv4/UDP headers built with our codecs and written to a pcap file (link type 228,
 * LINKTYPE_IPV4). tshark decrypts it with the SA table passed as the `esp_sa` UAT (field values
 * from Wireshark 4.0's packet-ipsec.c) and must show the inner protocol, our payload and, where
 * it checks authentication, a good ICV.
 *
 * Needs tshark (Debian package `tshark`, installed by .ci/run); skipped when it is missing.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes, randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type EspSuite, keyLengths } from "../../src/crypto/esp/index.js";
import { EspDataPlane } from "../../src/esp/index.js";
import { Counters } from "../../src/obs/counters.js";
import { nullLogger } from "../../src/obs/log.js";
import { IpProtocol } from "../../src/registry/ip.js";
import { asOutboundSpi } from "../../src/wire/esp/esp.js";
import { parseIpAddress } from "../../src/wire/ip/address.js";
import { fillIpv4HeaderChecksum } from "../../src/wire/ip/ipv4.js";
import { fillUdpChecksum } from "../../src/wire/ip/udp.js";
import { writePcap } from "../helpers/pcap.js";

const haveTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;

function ipv4(src: string, dst: string, protocol: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(0x1234, 4);
  h[8] = 64;
  h[9] = protocol;
  h.set(parseIpAddress(src)!, 12);
  h.set(parseIpAddress(dst)!, 16);
  fillIpv4HeaderChecksum(h);
  return Buffer.concat([h, payload]);
}

function udp(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Buffer {
  const u = Buffer.alloc(8 + payload.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  u.set(payload, 8);
  fillUdpChecksum(parseIpAddress(src)!, parseIpAddress(dst)!, u);
  return u;
}

interface Case {
  suite: EspSuite;
  wiresharkEnc: string;
  wiresharkAuth: string;
  mode: "tunnel" | "transport";
  encap: boolean;
}

const CASES: Case[] = [];
for (const [suite, wiresharkEnc, wiresharkAuth] of [
  [
    { encryption: "aes128-gcm16", integrity: "none" },
    "AES-GCM with 16 octet ICV [RFC4106]",
    "NULL",
  ],
  [
    { encryption: "aes128-cbc", integrity: "hmac-sha1-96" },
    "AES-CBC [RFC3602]",
    "HMAC-SHA-1-96 [RFC2404]",
  ],
  [
    { encryption: "aes256-cbc", integrity: "hmac-sha256-128" },
    "AES-CBC [RFC3602]",
    "HMAC-SHA-256-128 [RFC4868]",
  ],
  [
    { encryption: "3des-cbc", integrity: "hmac-md5-96" },
    "TripleDES-CBC [RFC2451]",
    "HMAC-MD5-96 [RFC2403]",
  ],
] as const) {
  for (const mode of ["tunnel", "transport"] as const) {
    for (const encap of [false, true])
      CASES.push({ suite, wiresharkEnc, wiresharkAuth, mode, encap });
  }
}

const CLIENT = "198.51.100.10";
const SERVER = "203.0.113.20";

describe("tshark decrypts Oakley's ESP", {
  skip: haveTshark ? false : "tshark not installed",
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "oakley-esp-tshark-"));
  const frames: Buffer[] = [];
  const uat: string[] = [];
  const expected: { spi: number; mode: string; encap: boolean; marker: string; auth: boolean }[] =
    [];
  let spi = 0x5000;
  for (const c of CASES) {
    spi++;
    const l = keyLengths(c.suite);
    const keys = { encryption: randomBytes(l.encryption), integrity: randomBytes(l.integrity) };
    const dp = new EspDataPlane({
      counters: new Counters(),
      logger: nullLogger,
      random: (b) => randomFillSync(b),
    });
    const sa = dp.installSa(
      {
        spi: asOutboundSpi(spi),
        direction: "out",
        mode: c.mode,
        suite: c.suite,
        keys,
        local: CLIENT,
        remote: SERVER,
        ...(c.encap ? { encap: { peer: { address: SERVER, port: 4500 } } } : {}),
      },
      0,
    );
    assert.ok(sa.ok);
    const marker = `OAKLEY-${c.suite.encryption}-${c.mode}-${c.encap ? "udp" : "esp"}`;
    const [isrc, idst] = c.mode === "tunnel" ? ["10.10.0.2", "10.20.0.3"] : [CLIENT, SERVER];
    const inner = ipv4(
      isrc!,
      idst!,
      IpProtocol.UDP,
      udp(isrc!, idst!, 40000, 7777, Buffer.from(marker)),
    );
    for (let k = 0; k < 2; k++) {
      const r = dp.protect(sa.sa, inner, 1);
      assert.ok(r.ok && r.action === "send");
      const esp = Buffer.from(r.data);
      frames.push(
        r.port !== undefined
          ? ipv4(CLIENT, SERVER, IpProtocol.UDP, udp(CLIENT, SERVER, 4500, r.port, esp))
          : ipv4(CLIENT, SERVER, IpProtocol.ESP, esp),
      );
    }
    const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString("hex")}`;
    uat.push(
      `"IPv4","${CLIENT}","${SERVER}","0x${spi.toString(16).padStart(8, "0")}","${c.wiresharkEnc}","${hex(keys.encryption)}","${c.wiresharkAuth}","${keys.integrity.length > 0 ? hex(keys.integrity) : ""}"`,
    );
    expected.push({
      spi,
      mode: c.mode,
      encap: c.encap,
      marker,
      auth: c.suite.integrity !== "none",
    });
  }
  const file = join(dir, "oakley-esp.pcap");
  writeFileSync(file, writePcap(228, frames, 1_700_000_000)); // LINKTYPE_IPV4

  const out = (): string[] => {
    const args = [
      "-r",
      file,
      "-o",
      "esp.enable_encryption_decode:TRUE",
      "-o",
      "esp.enable_authentication_check:TRUE",
    ];
    for (const u of uat) args.push("-o", `uat:esp_sa:${u}`);
    args.push(
      "-T",
      "fields",
      "-E",
      "separator=|",
      "-e",
      "esp.spi",
      "-e",
      "udp.srcport",
      "-e",
      "udp.dstport",
      "-e",
      "ip.proto",
      "-e",
      "data.data",
      "-e",
      "esp.icv_good",
      "-e",
      "esp.protocol",
    );
    return execFileSync("tshark", args, { encoding: "utf8" }).trim().split("\n");
  };

  it("shows the inner UDP payload and a good ICV for every SA, mode and encapsulation", () => {
    const lines = out();
    assert.equal(lines.length, frames.length, lines.join("\n"));
    try {
      for (const [i, e] of expected.entries()) {
        for (const line of [lines[2 * i]!, lines[2 * i + 1]!]) {
          const [spiField, sports, dports, protos, data, icvGood, nh] = line.split("|");
          assert.equal(Number(spiField), e.spi, line);
          // The innermost UDP header carries our ports: 40000 -> 7777.
          assert.ok(dports?.split(",").includes("7777"), `inner UDP seen: ${line}`);
          assert.ok(sports?.split(",").includes("40000"), line);
          if (e.encap)
            assert.ok(dports?.split(",").includes("4500"), `UDP-encapsulated on 4500: ${line}`);
          else assert.ok(protos?.split(",").includes("50"), `plain ESP: ${line}`);
          assert.equal(Buffer.from(data ?? "", "hex").toString(), e.marker, line);
          assert.equal(Number(nh), e.mode === "tunnel" ? 4 : 17, `Next Header: ${line}`);
          // Wireshark checks HMAC ICVs; for AES-GCM a wrong key or tag would not yield our payload.
          if (e.auth) assert.ok(icvGood === "1" || icvGood === "True", `ICV good: ${line}`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
