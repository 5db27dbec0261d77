/**
 * Unit tests of the fail-closed guard: block set from a real policy store (src/policy
 * createDefaultStore + effectivePolicy: the seeded L2TP/IPsec server policy), the block table's
 * golden text (written by hand from nft(8) and then accepted by the real nft in check mode when
 * root and nft are available), first-match ordering of permit/block entries, the client's
 * block set, status and block-set documents (round trips, hostile input, fuzz, fast-check), the
 * state machine, and the guard's behaviour when nftables is missing (status must not claim
 * enforcement). Namespaced end-to-end tests: test/interop/fail-closed.test.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { NftTable, renderTable } from "../../platform/firewall/index.js";
import {
  createDefaultStore,
  defaultServerPolicy,
  type EffectivePolicy,
  effectivePolicy,
  type FilterAction,
} from "../../policy/index.js";
import {
  type BlockSet,
  blockRuleset,
  blockSetFromPolicy,
  DEFAULT_BLOCK_SET,
  DEFAULT_EXEMPTIONS,
  describeStartFailure,
  FailClosedErrorCode,
  FailClosedGuard,
  type FailClosedStatus,
  parseBlockSet,
  parseFailClosedStatus,
  portInUse,
  previousRunNote,
  readFailClosedStatus,
  serializeBlockSet,
  serializeFailClosedStatus,
  transition,
} from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "oak-fc-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function serverPolicy(
  mutate?: (p: ReturnType<typeof defaultServerPolicy>) => ReturnType<typeof defaultServerPolicy>,
): EffectivePolicy {
  const path = join(dir, `store-${Math.random().toString(36).slice(2)}.db`);
  const s = createDefaultStore(path, (n) => randomBytes(n));
  assert.ok(s.ok, JSON.stringify(!s.ok && s.error));
  const store = s.value.store;
  if (mutate) {
    const p = mutate(defaultServerPolicy());
    const u = store.policies.update(p.name, p);
    assert.ok(u.ok, JSON.stringify(!u.ok && u.error));
  }
  const e = effectivePolicy(store);
  assert.ok(e.ok);
  store.close();
  return e.value;
}

function nftCheckable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (nft -c talks to the kernel)";
  return spawnSync("nft", ["--version"]).status === 0 ? undefined : "nft is not installed";
}

// The seeded server policy's one rule: source "me", UDP source port 1701, mirrored
// (src/policy/defaults.ts). Written by hand from nft(8); reviewed against the rule's meaning:
// L2TP sent from this host, and L2TP to this host, are dropped unless on lo / oak* / IKE / ESP.
const exempt = (dir: "iif" | "oif") => [`\t\t${dir}name "lo" accept comment "exempt: loopback"`];
const common = [
  // IKE and ESP only to or from this host's own addresses (a server listening on 0.0.0.0).
  '\t\tfib daddr type local udp dport { 500, 4500 } counter accept comment "exempt: IKE and NAT-T (UDP destination port, to this host)"',
  '\t\tfib daddr type local udp sport { 500, 4500 } counter accept comment "exempt: IKE and NAT-T (UDP source port, to this host)"',
  '\t\tfib saddr type local udp dport { 500, 4500 } counter accept comment "exempt: IKE and NAT-T (UDP destination port, from this host)"',
  '\t\tfib saddr type local udp sport { 500, 4500 } counter accept comment "exempt: IKE and NAT-T (UDP source port, from this host)"',
  '\t\ticmp type { 3, 11, 12 } counter accept comment "exempt: ICMP errors"',
  '\t\ticmpv6 type { 1, 2, 3, 4, 133, 134, 135, 136 } counter accept comment "exempt: ICMPv6 errors and neighbour discovery"',
  '\t\tfib daddr type local meta l4proto 50 counter accept comment "exempt: ESP"',
  '\t\tfib saddr type local meta l4proto 50 counter accept comment "exempt: ESP"',
  '\t\tfib saddr type local udp sport 1701 counter drop comment "block: policy l2tp-ipsec-server rule l2tp filter 1"',
  '\t\tfib daddr type local udp dport 1701 counter drop comment "block: policy l2tp-ipsec-server rule l2tp filter 1 (reverse)"',
];
const GOLDEN_SERVER = [
  "table inet oakley {",
  '\tcomment "oakley fail-closed: policy l2tp-ipsec-server"',
  "",
  "\tchain output {",
  "\t\ttype filter hook output priority -10; policy accept;",
  ...exempt("oif"),
  '\t\toifname "oak*" counter accept comment "exempt: tunnel devices"',
  ...common,
  "\t}",
  "",
  "\tchain input {",
  "\t\ttype filter hook input priority -10; policy accept;",
  ...exempt("iif"),
  '\t\tiifname "oak*" counter accept comment "exempt: tunnel devices"',
  ...common,
  "\t}",
  "",
  "\tchain forward {",
  "\t\ttype filter hook forward priority -10; policy accept;",
  ...exempt("iif"),
  ...exempt("oif"),
  '\t\tiifname "oak*" counter accept comment "exempt: tunnel devices"',
  '\t\toifname "oak*" counter accept comment "exempt: tunnel devices"',
  ...common,
  "\t}",
  "}",
  "",
].join("\n");

describe("block set from policy", () => {
  test("seeded server policy -> golden block table", async () => {
    const b = blockSetFromPolicy(serverPolicy(), { role: "server" });
    assert.ok(b.ok);
    assert.equal(b.value.origin, "policy l2tp-ipsec-server");
    assert.equal(b.value.entries.length, 1);
    const text = renderTable({ family: "inet", name: "oakley", ...blockRuleset(b.value) });
    assert.ok(text.ok);
    assert.equal(text.value, GOLDEN_SERVER);
  });

  test("the golden server table passes nft check mode", { skip: nftCheckable() }, async () => {
    const b = blockSetFromPolicy(serverPolicy(), { role: "server" });
    assert.ok(b.ok);
    const r = await new NftTable().check(
      blockRuleset(b.value, { ...DEFAULT_EXEMPTIONS, managementPort: 8443 }),
    );
    assert.ok(r.ok, JSON.stringify(r));
  });

  test("permit above negotiate stays first; clear fallback is a permit; block action drops", () => {
    const eff = serverPolicy((p) => ({
      ...p,
      rules: [
        {
          name: "mgmt",
          enabled: true,
          filters: [
            {
              source: "me",
              destination: "192.0.2.0/24",
              protocol: "tcp",
              sourcePort: "22",
              destinationPort: "any",
              mirrored: true,
            },
          ],
          action: { type: "permit" },
          authentication: [],
          tunnel: { mode: "transport" },
        },
        ...p.rules,
        {
          name: "legacy",
          enabled: true,
          filters: [
            {
              source: "me",
              destination: "198.51.100.10-198.51.100.20",
              protocol: "any",
              sourcePort: "any",
              destinationPort: "any",
              mirrored: false,
            },
          ],
          action: {
            ...(p.rules[0]?.action as Extract<FilterAction, { type: "negotiate" }>),
            allowClearFallback: true,
          },
          authentication: [{ method: "psk", psk: "default" }],
          tunnel: { mode: "transport" },
        },
        {
          name: "deny",
          enabled: true,
          filters: [
            {
              source: "any",
              destination: "203.0.113.0/24",
              protocol: 47,
              sourcePort: "any",
              destinationPort: "any",
              mirrored: false,
            },
          ],
          action: { type: "block" },
          authentication: [],
          tunnel: { mode: "transport" },
        },
      ],
    }));
    const b = blockSetFromPolicy(eff, { role: "server" });
    assert.ok(b.ok);
    assert.deepEqual(
      b.value.entries.map((e) => [e.action, e.description]),
      [
        ["permit", "policy l2tp-ipsec-server rule mgmt filter 1"],
        ["block", "policy l2tp-ipsec-server rule l2tp filter 1"],
        ["permit", "policy l2tp-ipsec-server rule legacy filter 1"],
        ["block", "policy l2tp-ipsec-server rule deny filter 1"],
      ],
    );
    const out = blockRuleset(b.value).chains[0];
    assert.ok(out);
    const r = renderTable({ family: "inet", name: "oakley", chains: [out] });
    assert.ok(r.ok);
    const lines = r.value.split("\n").map((l) => l.trim());
    const idx = (s: string) => lines.findIndex((l) => l.startsWith(s));
    assert.ok(idx("fib saddr type local ip daddr 192.0.2.0/24 tcp sport 22 accept") >= 0, r.value);
    assert.ok(
      idx("fib saddr type local ip daddr 192.0.2.0/24 tcp sport 22 accept") <
        idx("fib saddr type local udp sport 1701 counter drop"),
    );
    assert.ok(
      idx("fib saddr type local ip daddr 198.51.100.10-198.51.100.20 accept") >= 0,
      r.value,
    );
    assert.ok(idx("ip daddr 203.0.113.0/24 meta l4proto 47 counter drop") >= 0, r.value);
  });

  test("client with a default route protects everything (one rule per chain), routes and L2TP", () => {
    const b = blockSetFromPolicy(null, {
      role: "client",
      server: "198.51.100.2",
      defaultRoute: true,
      routes: ["203.0.113.0/24"],
    });
    assert.ok(b.ok);
    const out = blockRuleset(b.value).chains[0]?.rules ?? [];
    const drops = out.filter((r) => r.verdict === "drop").map((r) => r.comment);
    assert.deepEqual(drops, [
      "block: client L2TP UDP 1701 to 198.51.100.2",
      "block: client L2TP UDP 1701 to 198.51.100.2 (reverse)",
      "block: client route 203.0.113.0/24 through the VPN",
      "block: client route 203.0.113.0/24 through the VPN (reverse)",
      "block: client default route through the VPN: everything",
    ]);
    const everything = out.at(-1);
    assert.deepEqual(everything?.matches, []);
  });

  test("client settings that are not addresses are refused", () => {
    const r = blockSetFromPolicy(null, {
      role: "client",
      server: "vpn.example.com",
      defaultRoute: false,
      routes: [],
    });
    assert.ok(!r.ok);
    const r2 = blockSetFromPolicy(null, {
      role: "client",
      server: "198.51.100.2",
      defaultRoute: false,
      routes: ["203.0.113.1/24"],
    });
    assert.ok(!r2.ok);
  });

  test("no policy and a server role: the default (L2TP) set", () => {
    const r = blockSetFromPolicy(null, { role: "server" });
    assert.ok(r.ok);
    assert.deepEqual(r.value, DEFAULT_BLOCK_SET);
  });
});

describe("saved block set document", () => {
  const client = blockSetFromPolicy(null, {
    role: "client",
    server: "2001:db8::1",
    defaultRoute: true,
    routes: ["2001:db8:1::/48", "192.0.2.0/25"],
  });
  test("round trip (server, client, default)", () => {
    assert.ok(client.ok);
    for (const b of [
      blockSetFromPolicy(serverPolicy(), { role: "server" }),
      client,
      { ok: true as const, value: DEFAULT_BLOCK_SET },
    ]) {
      assert.ok(b.ok);
      const back = parseBlockSet(serializeBlockSet(b.value));
      assert.deepEqual(back, { ok: true, value: b.value });
    }
  });

  test("property: any generated block set round-trips", () => {
    const port = fc.option(
      fc.integer({ min: 0, max: 65535 }).map((p) => ({ from: p, to: p })),
      { nil: null },
    );
    const addr = fc.oneof(
      fc.constant({ kind: "any" as const }),
      fc.constant({ kind: "me" as const }),
      fc.ipV4().map((a) => ({
        kind: "ranges" as const,
        ranges: [{ family: 4 as const, from: a, to: a, prefix: 32 }],
      })),
    );
    const entry = fc.record({
      action: fc.constantFrom("block" as const, "permit" as const),
      description: fc.string({ maxLength: 40 }),
      selector: fc.record({
        source: addr,
        destination: addr,
        protocol: fc.constant(17),
        sourcePort: port,
        destinationPort: port,
        mirrored: fc.boolean(),
      }),
    });
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 8 }),
        fc.string({ maxLength: 30 }),
        (entries, origin) => {
          // plain objects: fast-check records have a null prototype, parseBlockSet returns plain ones
          const b = JSON.parse(JSON.stringify({ version: 1, origin, entries })) as BlockSet;
          assert.deepEqual(parseBlockSet(serializeBlockSet(b)), { ok: true, value: b });
        },
      ),
    );
  });

  test("hostile documents are typed errors", () => {
    for (const s of [
      "",
      "null",
      "{}",
      '{"version":2}',
      '{"version":1,"origin":"x","entries":[{"action":"drop"}]}',
      '{"version":1,"origin":"x","entries":[{"action":"block","description":"d","selector":{"source":{"kind":"any"},"destination":{"kind":"any"},"protocol":1,"sourcePort":{"from":1,"to":1},"destinationPort":null,"mirrored":true}}]}',
      '{"version":1,"origin":"x","entries":[{"action":"block","description":"d","selector":{"source":{"kind":"ranges","ranges":[{"family":4,"from":"1.2.3.4; flush ruleset","to":"1.2.3.4"}]},"destination":{"kind":"any"},"protocol":null,"sourcePort":null,"destinationPort":null,"mirrored":true}}]}',
    ]) {
      const r = parseBlockSet(s);
      assert.ok(!r.ok, s);
      assert.equal(r.error.code, FailClosedErrorCode.BlockSetCorrupt);
    }
  });

  test("fuzz", () => {
    assert.ok(client.ok);
    fuzzParser(
      "block set",
      (b) => parseBlockSet(Buffer.from(b).toString("utf8")),
      [Buffer.from(serializeBlockSet(client.value))],
      { iterations: 20_000 },
    );
  });
});

const STATUS: FailClosedStatus = {
  version: 1,
  mode: "block",
  reason: "cannot enter protected mode: UDP 500 (IKE) is in use by charon (pid 812)",
  code: "OAK_E_PLATFORM_ADDR_IN_USE",
  since: "2024-05-01T10:00:00.000Z",
  pid: 4242,
  enforced: true,
  blockSet: "policy l2tp-ipsec-server",
  previous: "previous instance did not stop cleanly; traffic was blocked meanwhile",
};

describe("status file", () => {
  test("round trip through the file", () => {
    const p = join(dir, "run", "status.json");
    mkdirSync(join(dir, "run"), { recursive: true });
    writeFileSync(p, serializeFailClosedStatus(STATUS));
    assert.deepEqual(readFailClosedStatus(p), { ok: true, value: STATUS });
  });

  test("missing -> null; a directory -> Unreadable; garbage -> Corrupt", () => {
    assert.deepEqual(readFailClosedStatus(join(dir, "nope.json")), { ok: true, value: null });
    const r = readFailClosedStatus(dir);
    assert.ok(!r.ok);
    assert.equal(r.error.code, FailClosedErrorCode.StatusUnreadable);
    const g = join(dir, "garbage.json");
    writeFileSync(g, "\u0000\u0001garbage");
    const r2 = readFailClosedStatus(g);
    assert.ok(!r2.ok);
    assert.equal(r2.error.code, FailClosedErrorCode.StatusCorrupt);
  });

  test("block mode needs a reason; fields are typed", () => {
    const { reason: _r, ...noReason } = STATUS;
    assert.ok(!parseFailClosedStatus(JSON.stringify(noReason)).ok);
    assert.ok(!parseFailClosedStatus(JSON.stringify({ ...STATUS, pid: "1" })).ok);
    assert.ok(!parseFailClosedStatus(JSON.stringify({ ...STATUS, mode: "open" })).ok);
    assert.ok(!parseFailClosedStatus(JSON.stringify({ ...STATUS, since: "yesterday" })).ok);
  });

  test("fuzz", () => {
    fuzzParser(
      "status",
      (b) => parseFailClosedStatus(Buffer.from(b).toString("utf8")),
      [Buffer.from(serializeFailClosedStatus(STATUS))],
      { iterations: 20_000 },
    );
  });
});

describe("state machine", () => {
  test("transitions", () => {
    assert.equal(transition("idle", "protect"), "protected");
    assert.equal(transition("idle", "block"), "block");
    assert.equal(transition("protected", "block"), "block");
    assert.equal(transition("block", "protect"), "protected");
    assert.equal(transition("protected", "stop"), "stopped");
    assert.equal(transition("stopped", "protect"), undefined);
    assert.equal(transition("stopped", "stop"), undefined);
  });

  test("previous-run notes", () => {
    assert.equal(previousRunNote(false, null), undefined);
    assert.equal(previousRunNote(false, { ...STATUS, mode: "stopped" }), undefined);
    assert.match(
      previousRunNote(true, null) ?? "",
      /^previous instance did not stop cleanly; traffic was blocked meanwhile$/,
    );
    assert.match(
      previousRunNote(true, { ...STATUS, mode: "protected" }) ?? "",
      /pid 4242.*did not stop cleanly; traffic was blocked meanwhile/,
    );
    assert.match(
      previousRunNote(true, STATUS) ?? "",
      /previous start failed \(cannot enter protected mode: UDP 500/,
    );
    assert.match(
      previousRunNote(false, { ...STATUS, mode: "protected" }) ?? "",
      /block rules are gone/,
    );
  });
});

describe("guard without nftables", () => {
  const missing = () => new NftTable("inet", "oakley", { nftPath: "/nonexistent/nft" });

  test("protected mode is refused; block mode records the reason and enforced=false", async () => {
    const statusPath = join(dir, "nonft", "status.json");
    const g = new FailClosedGuard({
      statusPath,
      table: missing(),
      now: () => Date.parse("2024-05-01T10:00:00Z"),
      pid: 77,
    });
    const p = await g.enterProtectedMode(DEFAULT_BLOCK_SET);
    assert.ok(!p.ok);
    assert.equal(p.error.code, FailClosedErrorCode.Firewall);
    assert.equal(g.state, "idle");
    const b = await g.enterBlockMode({ kind: "crypto", message: "OpenSSL has no AES-GCM" });
    assert.ok(!b.ok);
    const st = readFailClosedStatus(statusPath);
    assert.ok(st.ok && st.value);
    assert.equal(st.value.mode, "block");
    assert.equal(st.value.enforced, false);
    assert.equal(st.value.since, "2024-05-01T10:00:00.000Z");
    assert.match(
      st.value.reason ?? "",
      /^cannot enter protected mode: crypto initialisation failed: OpenSSL has no AES-GCM; and the block rules could not be installed: .*apt-get install nftables/,
    );
  });

  test("block mode without a set uses the saved set, else the default", async () => {
    const statusPath = join(dir, "saved", "status.json");
    const g = new FailClosedGuard({ statusPath, table: missing() });
    await g.enterBlockMode("x");
    const st0 = readFailClosedStatus(statusPath);
    assert.ok(st0.ok);
    assert.equal(st0.value?.blockSet, DEFAULT_BLOCK_SET.origin);
    const client = blockSetFromPolicy(null, {
      role: "client",
      server: "198.51.100.2",
      defaultRoute: true,
      routes: [],
    });
    assert.ok(client.ok);
    writeFileSync(join(dir, "saved", "blockset.json"), serializeBlockSet(client.value));
    const g2 = new FailClosedGuard({ statusPath, table: missing() });
    await g2.enterBlockMode("y");
    const st = readFailClosedStatus(statusPath);
    assert.ok(st.ok);
    assert.equal(st.value?.blockSet, "saved by the last successful start: client of 198.51.100.2");
    writeFileSync(join(dir, "saved", "blockset.json"), "{corrupt");
    const g3 = new FailClosedGuard({ statusPath, table: missing() });
    await g3.enterBlockMode("z");
    const st3 = JSON.parse(readFileSync(statusPath, "utf8")) as FailClosedStatus;
    assert.match(
      st3.blockSet ?? "",
      /^default .*the saved set was unusable: saved block set: not JSON/,
    );
  });
});

describe("start failure text", () => {
  test("port in use names this process", async () => {
    const s = createSocket("udp4");
    await new Promise<void>((res) => s.bind(0, "127.0.0.1", res));
    try {
      const port = s.address().port;
      const text = describeStartFailure(portInUse(port));
      const comm = readFileSync(`/proc/${process.pid}/comm`, "utf8").trim();
      assert.match(
        text,
        new RegExp(
          `^cannot enter protected mode: UDP ${port} is in use by .*${comm} \\(pid ${process.pid}\\)`,
        ),
      );
    } finally {
      s.close();
    }
    assert.equal(
      describeStartFailure({
        kind: "port-in-use",
        port: 500,
        owners: [{ pid: 812, command: "charon" }],
        code: "OAK_E_PLATFORM_ADDR_IN_USE",
      }),
      "cannot enter protected mode: UDP 500 (IKE) is in use by charon (pid 812); stop it or free the port, then restart oakley",
    );
  });
});
