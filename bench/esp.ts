/**
 * ESP data-plane benchmark (not a test): packets/s and Gbit/s for 64- and 1400-octet inner
 * packets per suite on one core, both crypto backends, encrypt (EspDataPlane.protect) and
 * decrypt (EspDataPlane.inbound), printed next to `openssl speed -evp <cipher> -bytes N
 * -seconds 1` run from the same process; the ratio is the figure of merit.
 * Rates are per CPU-second of this process (process.cpuUsage), the better per-core estimate on
 * a shared machine. Decrypt runs with the replay window off so one packet can be replayed.
 *
 *   npx tsx bench/esp.ts [--seconds 0.5] [--suite aes128-gcm16] [--backend evp]
 */
import { execFileSync } from "node:child_process";
import { randomBytes, randomFillSync } from "node:crypto";
import {
  availableBackends,
  type EspBackendName,
  type EspSuite,
  keyLengths,
  suiteName,
} from "../src/crypto/esp/index.js";
import { EspDataPlane } from "../src/esp/index.js";
import { asInboundSpi, asOutboundSpi } from "../src/wire/esp/esp.js";
import { Counters } from "../src/obs/counters.js";
import { nullLogger } from "../src/obs/log.js";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const seconds = Number(opt("seconds") ?? "0.5");

const SUITES: { suite: EspSuite; openssl: string }[] = [
  { suite: { encryption: "aes128-gcm16", integrity: "none" }, openssl: "aes-128-gcm" },
  { suite: { encryption: "aes256-gcm16", integrity: "none" }, openssl: "aes-256-gcm" },
  {
    suite: { encryption: "aes128-cbc", integrity: "hmac-sha1-96" },
    openssl: "aes-128-cbc-hmac-sha1",
  },
  {
    suite: { encryption: "aes256-cbc", integrity: "hmac-sha256-128" },
    openssl: "aes-256-cbc-hmac-sha256",
  },
  { suite: { encryption: "3des-cbc", integrity: "hmac-sha1-96" }, openssl: "des-ede3-cbc" },
  { suite: { encryption: "null", integrity: "hmac-sha1-96" }, openssl: "sha1" },
];

function udpPacket(size: number): Buffer {
  const p = Buffer.alloc(size);
  p[0] = 0x45;
  p.writeUInt16BE(size, 2);
  p[8] = 64;
  p[9] = 17;
  p.set([10, 0, 0, 1], 12);
  p.set([10, 0, 0, 2], 16);
  p.writeUInt16BE(size - 20, 24);
  return p;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs fn in batches until `seconds` of CPU time passed; returns operations per CPU-second. */
function rate(fn: () => void): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const t0 = cpuSeconds();
  let t = t0;
  while (t - t0 < seconds) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    t = cpuSeconds();
  }
  return n / (t - t0);
}

/** `openssl speed` throughput in octets/s for one block size, or undefined. */
function opensslSpeed(cipher: string, bytes: number, decrypt: boolean): number | undefined {
  const args = ["speed", "-evp", cipher, "-bytes", String(bytes), "-seconds", "1"];
  if (decrypt) args.push("-decrypt");
  try {
    const out = execFileSync("openssl", args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const line = out.trim().split("\n").at(-1) ?? "";
    const m = /([\d.]+)k\s*$/.exec(line);
    return m === null ? undefined : Number(m[1]) * 1000;
  } catch {
    return undefined;
  }
}

const fmt = (n: number, d = 2): string => n.toFixed(d);
const rows: string[][] = [];
const header = [
  "suite",
  "backend",
  "size",
  "enc kpps",
  "enc Gbit/s",
  "dec kpps",
  "dec Gbit/s",
  "openssl enc Gbit/s",
  "openssl dec Gbit/s",
  "enc ratio",
  "dec ratio",
];

for (const { suite, openssl } of SUITES) {
  if (opt("suite") !== undefined && opt("suite") !== suite.encryption) continue;
  const backends: EspBackendName[] =
    opt("backend") !== undefined ? [opt("backend") as EspBackendName] : availableBackends();
  for (const size of [64, 1400]) {
    const osEnc = opensslSpeed(openssl, size, false);
    const osDec = suite.encryption === "null" ? osEnc : opensslSpeed(openssl, size, true);
    for (const backend of backends) {
      const l = keyLengths(suite);
      const keys = { encryption: randomBytes(l.encryption), integrity: randomBytes(l.integrity) };
      const deps = {
        counters: new Counters(),
        logger: nullLogger,
        random: (b: Uint8Array) => void randomFillSync(b),
      };
      const tx = new EspDataPlane(deps);
      const rx = new EspDataPlane(deps);
      const base = {
        mode: "tunnel" as const,
        suite,
        keys,
        backend,
        local: "192.0.2.1",
        remote: "192.0.2.2",
      };
      const o = tx.installSa({ ...base, spi: asOutboundSpi(0x1234), direction: "out" }, 0);
      const i = rx.installSa(
        { ...base, spi: asInboundSpi(0x1234), direction: "in", replayWindow: 0 },
        0,
      );
      if (!o.ok || !i.ok) throw new Error("install failed");
      const pkt = udpPacket(size);
      const out = new Uint8Array(size + 256);
      const enc = rate(() => {
        tx.protect(o.sa, pkt, 0, out);
      });
      const first = tx.protect(o.sa, pkt, 0);
      if (!first.ok || first.action !== "send") throw new Error("protect failed");
      const esp = Buffer.from(first.data);
      const from = { address: "192.0.2.2", port: 4500 };
      const check = rx.inbound(esp, from, 0);
      if (!check.ok) throw new Error(`inbound failed: ${check.reason}`);
      const dec = rate(() => {
        rx.inbound(esp, from, 0);
      });
      const gbit = (pps: number): number => (pps * size * 8) / 1e9;
      const ratio = (pps: number, os: number | undefined): string =>
        os === undefined ? "-" : fmt((pps * size) / os);
      rows.push([
        suiteName(suite),
        backend,
        String(size),
        fmt(enc / 1000, 0),
        fmt(gbit(enc)),
        fmt(dec / 1000, 0),
        fmt(gbit(dec)),
        osEnc === undefined ? "-" : fmt((osEnc * 8) / 1e9),
        osDec === undefined ? "-" : fmt((osDec * 8) / 1e9),
        ratio(enc, osEnc),
        ratio(dec, osDec),
      ]);
      process.stderr.write(`${rows.at(-1)!.join(" ")}\n`);
    }
  }
}

const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
const line = (r: string[]): string => `| ${r.map((x, c) => x.padEnd(widths[c]!)).join(" | ")} |`;
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
console.log(
  "\nopenssl: `openssl speed -evp <cipher> -bytes N -seconds 1` (aes-*-cbc-hmac-sha* are OpenSSL's stitched ciphers, an upper bound;",
);
console.log(
  "NULL/HMAC-SHA1 compares with `-evp sha1`). Ratios are Oakley octets/s over openssl octets/s per CPU-second.",
);
