import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../test/helpers/fuzz.js";
import { unwrap } from "../base/result.js";
import { formatIp, parseAddressSpec, parseIp, parsePortSpec } from "./address.js";
import { defaultServerPolicy } from "./defaults.js";
import {
  exportDocument,
  exportJson,
  exportYaml,
  importDocument,
  importJson,
  importYaml,
} from "./exchange.js";
import { AES_KEY_LENGTHS, DH_GROUP, ESP_INTEGRITY, IKE_HASH } from "./names.js";
import { openStore } from "./store.js";

const dir = mkdtempSync(join(tmpdir(), "oakley-exchange-"));
let n = 0;
const fresh = () => unwrap(openStore(join(dir, `s${++n}.db`)));

// ------------------------------------------------------------------ arbitraries

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((a) => a.join("."));
const cidr = fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, len]) => {
  const v = parseIp(a)!.value;
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(32 - len);
  return `${formatIp({ family: 4, value: v & mask })}/${len}`;
});
const range = fc.tuple(ipv4, ipv4).map(([a, b]) => {
  const [x, y] = [parseIp(a)!, parseIp(b)!].sort((p, q) =>
    p.value < q.value ? -1 : p.value > q.value ? 1 : 0,
  );
  return `${formatIp(x!)}-${formatIp(y!)}`;
});
const addrSpec = fc.oneof(
  fc.constantFrom(
    "any",
    "me",
    "dns",
    "dhcp",
    "wins",
    "default-gateway",
    "2001:db8::/32",
    "2001:db8::1",
  ),
  ipv4,
  cidr,
  range,
);
const port = fc.oneof(
  fc.constant("any"),
  fc.integer({ min: 0, max: 65535 }).map(String),
  fc
    .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
    .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
);
const filter = fc
  .record({
    description: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    source: addrSpec,
    destination: addrSpec,
    protocol: fc.oneof(
      fc.constantFrom("any", "tcp", "udp", "icmp", "esp"),
      fc.integer({ min: 0, max: 255 }),
    ),
    sourcePort: port,
    destinationPort: port,
    mirrored: fc.boolean(),
  })
  .map((f) => {
    const ports =
      f.protocol === "tcp" || f.protocol === "udp" || f.protocol === 6 || f.protocol === 17;
    const out: Record<string, unknown> = {
      ...f,
      ...(ports ? {} : { sourcePort: "any", destinationPort: "any" }),
    };
    if (f.description === undefined) delete out.description;
    return out;
  });
const lifetimeS = fc.integer({ min: 60, max: 604800 });
const mmOffer = fc
  .record({
    aes: fc.boolean(),
    keyLength: fc.constantFrom(...AES_KEY_LENGTHS),
    hash: fc.constantFrom(...(Object.keys(IKE_HASH) as (keyof typeof IKE_HASH)[])),
    dhGroup: fc.constantFrom(...(Object.keys(DH_GROUP) as (keyof typeof DH_GROUP)[])),
    lifetimeSeconds: lifetimeS,
    lifetimeKilobytes: fc.option(fc.integer({ min: 1, max: 1e9 }), { nil: undefined }),
  })
  .map(({ aes, keyLength, lifetimeKilobytes, ...r }) => ({
    encryption: aes ? "aes-cbc" : "3des-cbc",
    ...(aes ? { keyLength } : {}),
    hash: r.hash,
    dhGroup: r.dhGroup,
    lifetimeSeconds: r.lifetimeSeconds,
    ...(lifetimeKilobytes !== undefined ? { lifetimeKilobytes } : {}),
  }));
const qmOffer = (encapsulation: string) =>
  fc
    .record({
      enc: fc.constantFrom("aes-cbc", "aes-gcm-16", "3des-cbc"),
      keyLength: fc.constantFrom(...AES_KEY_LENGTHS),
      integrity: fc.constantFrom(
        ...(Object.keys(ESP_INTEGRITY).filter((i) => i !== "none") as string[]),
      ),
      pfs: fc.constantFrom("none", ...Object.keys(DH_GROUP)),
      lifetimeSeconds: lifetimeS,
      lifetimeKilobytes: fc.integer({ min: 1, max: 1e9 }),
    })
    .map((r) => ({
      encryption: r.enc,
      ...(r.enc === "3des-cbc" ? {} : { keyLength: r.keyLength }),
      integrity: r.enc === "aes-gcm-16" ? "none" : r.integrity,
      pfs: r.pfs,
      lifetimeSeconds: r.lifetimeSeconds,
      lifetimeKilobytes: r.lifetimeKilobytes,
      encapsulation,
    }));
const tunnel = fc.oneof(
  fc.constant({ mode: "transport" }),
  fc.tuple(ipv4, ipv4).map(([a, b]) => ({ mode: "tunnel", localEndpoint: a, remoteEndpoint: b })),
);
const rule = (psks: string[]) =>
  fc
    .record({
      name,
      enabled: fc.boolean(),
      filters: fc.array(filter, { minLength: 1, maxLength: 3 }),
      tunnel,
      kind: fc.constantFrom("permit", "block", "negotiate"),
      fallback: fc.boolean(),
      auth: fc.subarray(psks),
      filterListName: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
    })
    .chain((r) =>
      fc.array(qmOffer(r.tunnel.mode), { minLength: 1, maxLength: 3 }).map((offers) => {
        const negotiate = r.kind === "negotiate" && r.auth.length > 0;
        return {
          name: r.name,
          enabled: r.enabled,
          ...(r.filterListName !== undefined ? { filterListName: r.filterListName } : {}),
          filters: r.filters,
          action: negotiate
            ? { type: "negotiate", offers, allowClearFallback: r.fallback }
            : { type: r.kind === "block" ? "block" : "permit" },
          authentication: r.auth.map((p) => ({ method: "psk", psk: p })),
          tunnel: r.tunnel,
        };
      }),
    );
const b64 = fc
  .uint8Array({ minLength: 16, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("base64"));
const hex32 = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((b) => Buffer.from(b).toString("hex"));

const storeDoc = fc
  .record({
    psks: fc.uniqueArray(
      fc.record({
        name,
        secret: fc.string({ minLength: 16, maxLength: 40 }), // MIN_PSK_LENGTH
        peer: fc.option(fc.tuple(fc.constantFrom("fqdn", "key-id"), name), { nil: undefined }),
      }),
      { selector: (p) => p.name, maxLength: 4 },
    ),
    pools: fc.uniqueArray(fc.record({ name, dns: fc.array(ipv4, { maxLength: 2 }) }), {
      selector: (p) => p.name,
      maxLength: 3,
    }),
  })
  .chain(({ psks, pools }) => {
    const pskNames = psks.map((p) => p.name);
    const poolNames = pools.map((p) => p.name);
    return fc
      .record({
        settings: fc.record({
          natPolicy: fc.constantFrom(0, 1, 2),
          negotiateDh2048: fc.boolean(),
          allowLegacyCrypto: fc.boolean(),
          windowsNatCompat: fc.boolean(),
          defaultPool: fc.option(fc.constantFrom(...(poolNames.length ? poolNames : ["none"])), {
            nil: undefined,
          }),
        }),
        users: fc.uniqueArray(
          fc.record({
            name,
            enabled: fc.boolean(),
            protocols: fc.subarray(["mschapv2", "chap-md5", "pap"], { minLength: 1 }),
            ntHash: hex32,
            salt: b64,
            hash: b64,
            cleartext: fc.string({ minLength: 1, maxLength: 20 }),
            staticAddress: fc.option(ipv4, { nil: undefined }),
          }),
          { selector: (u) => u.name, maxLength: 3 },
        ),
        policies: fc.uniqueArray(
          fc.record({
            name,
            description: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
            offers: fc.array(mmOffer, { minLength: 1, maxLength: 3 }),
            nd: fc.option(fc.boolean(), { nil: undefined }),
            rules: fc.uniqueArray(rule(pskNames), { selector: (r) => r.name, maxLength: 3 }),
            persistent: fc.boolean(),
            persistentOrder: fc.integer({ min: 0, max: 5 }),
            ext: fc.option(
              fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.jsonValue({ maxDepth: 2 }), {
                minKeys: 1,
                maxKeys: 2,
              }),
              {
                nil: undefined,
                freq: 4,
              },
            ),
          }),
          { selector: (p) => p.name, maxLength: 3 },
        ),
        assignedIndex: fc.nat(),
      })
      .map((d) => {
        const assigned =
          d.policies.length > 0 && d.assignedIndex % 2 === 0
            ? d.policies[d.assignedIndex % d.policies.length]!.name
            : undefined;
        return {
          format: "oakley-policy-store",
          formatVersion: 1,
          settings: {
            natPolicy: d.settings.natPolicy,
            negotiateDh2048: d.settings.negotiateDh2048,
            allowLegacyCrypto: d.settings.allowLegacyCrypto,
            windowsNatCompat: d.settings.windowsNatCompat,
            ...(d.settings.defaultPool !== undefined && poolNames.length
              ? { defaultPool: d.settings.defaultPool }
              : {}),
          },
          psks: psks.map((p) => ({
            name: p.name,
            secret: p.secret,
            ...(p.peer ? { peerId: { type: p.peer[0], value: p.peer[1] } } : {}),
          })),
          certificates: [],
          pools: pools.map((p, i) => ({
            name: p.name,
            cidr: `10.${i}.0.0/24`,
            dns: p.dns,
            wins: [],
          })),
          users: d.users.map((u) => ({
            name: u.name,
            enabled: u.enabled,
            protocols: u.protocols,
            ...(u.staticAddress !== undefined ? { staticAddress: u.staticAddress } : {}),
            credentials: {
              ntHash: u.ntHash,
              pap: { algorithm: "scrypt", n: 1024, r: 8, p: 1, salt: u.salt, hash: u.hash },
              ...(u.protocols.includes("chap-md5") ? { cleartext: u.cleartext } : {}),
            },
          })),
          policies: d.policies.map((p) => ({
            name: p.name,
            assigned: p.name === assigned,
            persistent: p.persistent,
            persistentOrder: p.persistent ? p.persistentOrder : 0,
            ...(p.description !== undefined ? { description: p.description } : {}),
            mainMode: {
              offers: p.offers,
              ...(p.nd !== undefined ? { negotiateDh2048: p.nd } : {}),
            },
            rules: p.rules,
            // A policy written by a newer Oakley: extra fields and a higher object version.
            ...(p.ext
              ? {
                  objectVersion: 2,
                  extensions: Object.fromEntries(
                    Object.entries(p.ext).map(([k, v]) => [`/x-${k}`, v]),
                  ),
                }
              : {}),
          })),
        };
      });
  });

const byName = (a: { name: string }, b: { name: string }) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
function sortSections(doc: Record<string, unknown>): Record<string, unknown> {
  const out = { ...doc };
  for (const k of ["psks", "certificates", "pools", "users", "policies"]) {
    out[k] = [...(doc[k] as { name: string }[])].sort(byName);
  }
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

test("property: import of any valid document, then export, gives the document back (incl. extensions)", () => {
  fc.assert(
    fc.property(storeDoc, (doc) => {
      const s = fresh();
      const r = importDocument(s, doc, { mode: "replace" });
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
      const out = unwrap(exportDocument(s, { includeSecrets: true }));
      assert.deepEqual(out, sortSections(doc));
      s.close();
    }),
    { numRuns: 40, seed: 0x5eed },
  );
});

test("property: YAML and JSON exports round-trip exactly through a second store", () => {
  fc.assert(
    fc.property(storeDoc, fc.boolean(), (doc, useJson) => {
      const s = fresh();
      unwrap(importDocument(s, doc, { mode: "replace" }));
      const text = unwrap(
        useJson ? exportJson(s, { includeSecrets: true }) : exportYaml(s, { includeSecrets: true }),
      );
      const t = fresh();
      const r = useJson
        ? importJson(t, text, { mode: "replace" })
        : importYaml(t, text, { mode: "replace" });
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
      assert.equal(
        unwrap(
          useJson
            ? exportJson(t, { includeSecrets: true })
            : exportYaml(t, { includeSecrets: true }),
        ),
        text,
      );
      // Importing the same text again changes nothing.
      const again = unwrap(
        useJson
          ? importJson(t, text, { mode: "replace" })
          : importYaml(t, text, { mode: "replace" }),
      );
      assert.equal(again.created + again.updated + again.deleted, 0);
      s.close();
      t.close();
    }),
    { numRuns: 25, seed: 0xbeef },
  );
});

test("import is all or nothing: a failing reference rolls back everything before it", () => {
  const s = fresh();
  const doc = {
    format: "oakley-policy-store",
    formatVersion: 1,
    psks: [{ name: "k", secret: "x-psk-0123456789ab" }],
    policies: [
      {
        ...defaultServerPolicy(),
        rules: defaultServerPolicy().rules.map((r) => ({
          ...r,
          authentication: [{ method: "psk", psk: "missing" }],
        })),
      },
    ],
  };
  const r = importDocument(s, doc);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.issues?.[0]?.path, "policies[0].rules[0].authentication[0].psk");
  assert.equal(
    unwrap(s.psks.list()).length,
    0,
    "the PSK created earlier in the same import was rolled back",
  );
  s.close();
});

test("import refuses documents of a newer format and unknown sections", () => {
  const s = fresh();
  const newer = importYaml(s, "format: oakley-policy-store\nformatVersion: 9\n");
  assert.match(!newer.ok ? newer.error.message : "", /written by a newer Oakley \(formatVersion 9/);
  const typo = importYaml(s, "format: oakley-policy-store\nformatVersion: 1\npolices: []\n");
  assert.match(!typo.ok ? (typo.error.issues?.[0]?.message ?? "") : "", /did you mean "policies"/);
  const notYaml = importYaml(s, "a: [\n");
  assert.equal(!notYaml.ok && notYaml.error.code, "OAK_E_POLICY_IMPORT_FORMAT");
  s.close();
});

// ------------------------------------------------------------------ address syntax

test("IPv6 text forms: RFC 5952 section 4 canonical output; RFC 4291 section 2.2 input forms", () => {
  // Source: RFC 4291 section 2.2 examples and RFC 5952 section 4.2 (compress longest run, first if tied).
  const cases: [string, string][] = [
    ["2001:DB8:0:0:8:800:200C:417A", "2001:db8::8:800:200c:417a"],
    ["FF01:0:0:0:0:0:0:101", "ff01::101"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"],
    ["0:0:0:0:0:FFFF:129.144.52.38", "::ffff:8190:3426"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
  ];
  for (const [input, want] of cases) assert.equal(formatIp(parseIp(input)!), want, input);
  for (const bad of [
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    ":",
    "1.2.3",
    "1.2.3.256",
    "01.2.3.4",
    "::1.2.3",
  ]) {
    assert.equal(parseIp(bad), null, bad);
  }
});

test("port and address specs", () => {
  assert.deepEqual(parsePortSpec("1701"), { from: 1701, to: 1701 });
  assert.deepEqual(parsePortSpec("1000-2000"), { from: 1000, to: 2000 });
  assert.equal(parsePortSpec("any"), null);
  for (const bad of ["80-x", "65536", "2000-1000", "-1", "", "01"])
    assert.equal(parsePortSpec(bad), undefined, bad);
  assert.equal(parseAddressSpec("10.0.0.1/8").ok, false);
  assert.equal(parseAddressSpec("10.0.0.9-10.0.0.1").ok, false);
  assert.equal(parseAddressSpec("10.0.0.1-2001:db8::1").ok, false);
  assert.equal(parseAddressSpec("wins").ok, true);
});

test("fuzz: address and port parsers never throw on hostile text", () => {
  const spec = (b: Uint8Array) => {
    const s = Buffer.from(b).toString("utf8");
    parsePortSpec(s);
    parseIp(s);
    return parseAddressSpec(s);
  };
  const seeds = [
    "192.0.2.0/24",
    "2001:db8::1-2001:db8::ff",
    "0:0:0:0:0:FFFF:129.144.52.38",
    "1000-2000",
    "me",
  ].map((s) => Buffer.from(s));
  fuzzParser("address specs", spec, seeds, { iterations: 100_000, maxLength: 64 });
});

/** A read-only store: imports are parsed and validated in full, and the final write is refused fast. */
function readOnlyStore() {
  const path = join(dir, `ro${++n}.db`);
  unwrap(openStore(path)).close();
  return unwrap(openStore(path, { readOnly: true }));
}

test("fuzz: YAML import never throws on hostile text", () => {
  const s = readOnlyStore();
  // Short seeds: YAML parsing dominates, and the budget is ~20 s for 20 000 inputs on a busy machine.
  const seeds = [
    "format: oakley-policy-store\nformatVersion: 1\npsks: [{name: k, secret: abc-psk-0123456789}]\n",
    "format: oakley-policy-store\nformatVersion: 1\npools: [{name: p, cidr: 10.0.0.0/24, dns: [192.0.2.1]}]\n",
    "format: oakley-policy-store\nformatVersion: 1\nsettings: {natPolicy: 2, defaultPool: p}\n",
  ].map((t) => Buffer.from(t));
  fuzzParser("importYaml", (b) => importYaml(s, Buffer.from(b).toString("utf8")), seeds, {
    iterations: 20_000,
    maxLength: 200,
    maxCallMs: 1000,
  });
  s.close();
});

test("fuzz: JSON import never throws on hostile text", () => {
  const s = readOnlyStore();
  const seed = Buffer.from(
    JSON.stringify({
      format: "oakley-policy-store",
      formatVersion: 1,
      psks: [{ name: "k", secret: "abc-psk-0123456789" }],
    }),
  );
  fuzzParser("importJson", (b) => importJson(s, Buffer.from(b).toString("utf8")), [seed], {
    iterations: 20_000,
    maxLength: 512,
    maxCallMs: 1000,
  });
  s.close();
});
