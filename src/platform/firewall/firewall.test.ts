/**
 * Tests of the nftables boundary: rendering (golden text written by hand from nft(8): "CHAINS",
 * "PAYLOAD EXPRESSION", "META EXPRESSIONS", "FIB EXPRESSIONS", "COUNTER STATEMENT"; then
 * accepted by the real nft in check mode when nft and root are available), refusal of values
 * that would inject syntax, the JSON reader on a real `nft -j` capture (nft 1.0.6, Debian 12,
 * testdata/nft-1.0.6-list-table.json: the default block table after one UDP 500 and two UDP
 * 1701 datagrams), the /proc/net/udp reader on real captures (Linux 6.x: UDP 127.0.0.1:500 and
 * [::1]:4500), fuzzing of both readers, and a live port-owner lookup.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fuzzParser } from "../../../test/helpers/fuzz.js";
import { FirewallErrorCode } from "./errors.js";
import { parseNftListJson } from "./inspect.js";
import { classifyNftFailure, runNft } from "./nft.js";
import { findUdpPortOwners, parseProcNetUdp } from "./proc-net.js";
import {
  type NftTableSpec,
  renderReplaceTransaction,
  renderTable,
  safeComment,
} from "./ruleset.js";
import { NftTable } from "./table.js";

const data = (f: string): string => readFileSync(join(import.meta.dirname, "testdata", f), "utf8");

const SPEC: NftTableSpec = {
  family: "inet",
  name: "oakfctest",
  comment: "unit test",
  chains: [
    {
      name: "output",
      hook: "output",
      priority: -10,
      policy: "accept",
      rules: [
        {
          matches: [{ kind: "ifname", dir: "oif", names: ["lo"] }],
          counter: false,
          verdict: "accept",
        },
        {
          matches: [{ kind: "ifname", dir: "oif", names: ["oak*", "tun0"] }],
          counter: true,
          verdict: "accept",
        },
        {
          matches: [
            {
              kind: "port",
              protocol: "udp",
              field: "dport",
              ranges: [
                { from: 500, to: 500 },
                { from: 4500, to: 4500 },
              ],
            },
          ],
          counter: true,
          verdict: "accept",
          comment: "exempt: IKE",
        },
        { matches: [{ kind: "l4proto", protocols: [50] }], counter: false, verdict: "accept" },
        {
          matches: [
            { kind: "local", field: "saddr" },
            {
              kind: "address",
              field: "daddr",
              ranges: [{ family: 4, from: "198.51.100.0", to: "198.51.100.255", prefix: 24 }],
            },
            { kind: "port", protocol: "udp", field: "dport", ranges: [{ from: 1701, to: 1701 }] },
          ],
          counter: true,
          verdict: "drop",
          comment: "block: l2tp",
        },
        {
          matches: [
            {
              kind: "address",
              field: "saddr",
              ranges: [{ family: 6, from: "2001:db8::1", to: "2001:db8::9" }],
            },
            { kind: "port", protocol: "tcp", field: "sport", ranges: [{ from: 1000, to: 2000 }] },
          ],
          counter: true,
          verdict: "drop",
        },
      ],
    },
    { name: "input", hook: "input", priority: -10, policy: "accept", rules: [] },
  ],
};

// Written by hand from nft(8); not produced by running the renderer.
const GOLDEN = `table inet oakfctest {
\tcomment "unit test"

\tchain output {
\t\ttype filter hook output priority -10; policy accept;
\t\toifname "lo" accept
\t\toifname { "oak*", "tun0" } counter accept
\t\tudp dport { 500, 4500 } counter accept comment "exempt: IKE"
\t\tmeta l4proto 50 accept
\t\tfib saddr type local ip daddr 198.51.100.0/24 udp dport 1701 counter drop comment "block: l2tp"
\t\tip6 saddr 2001:db8::1-2001:db8::9 tcp sport 1000-2000 counter drop
\t}

\tchain input {
\t\ttype filter hook input priority -10; policy accept;
\t}
}
`;

function nftCheckable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (nft -c talks to the kernel)";
  const r = spawnSync("nft", ["--version"]);
  return r.status === 0 ? undefined : "nft is not installed (Debian package nftables)";
}

describe("ruleset rendering", () => {
  test("golden text", () => {
    const r = renderTable(SPEC);
    assert.ok(r.ok);
    assert.equal(r.value, GOLDEN);
  });

  test("the replacement is one batch: add, delete, define", () => {
    const r = renderReplaceTransaction(SPEC);
    assert.ok(r.ok);
    assert.ok(
      r.value.startsWith(
        "add table inet oakfctest\ndelete table inet oakfctest\ntable inet oakfctest {\n",
      ),
    );
  });

  test("nft accepts the golden text in check mode", { skip: nftCheckable() }, async () => {
    const r = await runNft(
      ["-c", "-f", "-"],
      `add table inet oakfctest\ndelete table inet oakfctest\n${GOLDEN}`,
    );
    assert.deepEqual(r, { ok: true, value: { stdout: "", stderr: "" } });
    const t = await new NftTable("inet", "oakfctest").check({ chains: SPEC.chains });
    assert.ok(t.ok, JSON.stringify(t));
  });

  test("nft check mode rejects a broken rule with a typed Syntax error", {
    skip: nftCheckable(),
  }, async () => {
    const r = await runNft(["-c", "-f", "-"], "table inet oakfctest { chain x { foo bar } }\n");
    assert.ok(!r.ok);
    assert.equal(r.error.code, FirewallErrorCode.Syntax);
    assert.match(r.error.stderr ?? "", /syntax error/);
  });

  test("values that would inject nft syntax are refused", () => {
    const withRule = (rule: NftTableSpec["chains"][number]["rules"][number]): NftTableSpec => ({
      family: "inet",
      name: "t",
      chains: [{ name: "c", hook: "input", priority: 0, policy: "accept", rules: [rule] }],
    });
    const cases: NftTableSpec[] = [
      withRule({
        matches: [{ kind: "ifname", dir: "iif", names: ['lo" accept'] }],
        counter: false,
        verdict: "accept",
      }),
      withRule({
        matches: [{ kind: "ifname", dir: "iif", names: ["sixteen-chars-xx"] }],
        counter: false,
        verdict: "accept",
      }),
      withRule({
        matches: [
          {
            kind: "address",
            field: "saddr",
            ranges: [{ family: 4, from: "1.2.3.4; flush ruleset", to: "1.2.3.4" }],
          },
        ],
        counter: false,
        verdict: "drop",
      }),
      withRule({
        matches: [
          {
            kind: "address",
            field: "saddr",
            ranges: [
              { family: 4, from: "192.0.2.1", to: "192.0.2.1" },
              { family: 6, from: "::1", to: "::1" },
            ],
          },
        ],
        counter: false,
        verdict: "drop",
      }),
      withRule({
        matches: [{ kind: "port", protocol: "udp", field: "dport", ranges: [{ from: 2, to: 1 }] }],
        counter: false,
        verdict: "drop",
      }),
      withRule({
        matches: [
          { kind: "port", protocol: "udp", field: "dport", ranges: [{ from: 1, to: 65536 }] },
        ],
        counter: false,
        verdict: "drop",
      }),
      withRule({
        matches: [{ kind: "l4proto", protocols: [256] }],
        counter: false,
        verdict: "drop",
      }),
      withRule({ matches: [], counter: false, verdict: "drop", comment: 'x"; flush ruleset; "' }),
      { family: "inet", name: "bad name", chains: [] },
    ];
    for (const c of cases) {
      const r = renderTable(c);
      assert.ok(!r.ok, JSON.stringify(c));
      assert.equal(r.error.code, FirewallErrorCode.BadArgument);
    }
  });

  test("safeComment keeps printable safe characters and replaces the rest", () => {
    assert.equal(safeComment('a "quoted"\nline\\x'), "a _quoted__line_x");
    assert.equal(safeComment("x".repeat(300)).length, 100);
  });
});

describe("nft failures are typed", () => {
  test("stderr of nft 1.0.6 (observed) maps to codes", () => {
    assert.equal(
      classifyNftFailure("Operation not permitted (you must be root)\n", 1).code,
      FirewallErrorCode.PermissionDenied,
    );
    assert.equal(
      classifyNftFailure(
        "netlink: Error: cache initialization failed: Operation not permitted\n",
        1,
      ).code,
      FirewallErrorCode.PermissionDenied,
    );
    const nf = classifyNftFailure(
      "Error: No such file or directory\nlist table inet oakley\n                ^^^^^^\n",
      1,
    );
    assert.equal(nf.code, FirewallErrorCode.Command);
    assert.equal(
      classifyNftFailure("/dev/stdin:1:39-39: Error: syntax error, unexpected '}'\n", 1).code,
      FirewallErrorCode.Syntax,
    );
  });

  test("a missing nft binary names the package", async () => {
    const t = new NftTable("inet", "oakley", { nftPath: "/nonexistent/nft" });
    const r = await t.inspect();
    assert.ok(!r.ok);
    assert.equal(r.error.code, FirewallErrorCode.NftMissing);
    assert.match(r.error.message, /apt-get install nftables/);
  });
});

describe("nft -j reader", () => {
  test("real capture: chains, comments, verdicts, counters", () => {
    const r = parseNftListJson(data("nft-1.0.6-list-table.json"), "inet", "oakley");
    assert.ok(r.ok && r.value);
    const t = r.value;
    assert.deepEqual(
      t.chains.map((c) => [c.name, c.hook, c.priority, c.policy]),
      [
        ["output", "output", -10, "accept"],
        ["input", "input", -10, "accept"],
        ["forward", "forward", -10, "accept"],
      ],
    );
    const out = t.rules.filter((x) => x.chain === "output");
    const byComment = (c: string) => out.find((x) => x.comment === c);
    // One UDP 500 datagram and two UDP 1701 datagrams were sent in the capture.
    assert.equal(byComment("exempt: IKE and NAT-T (UDP destination port)")?.packets, 1n);
    assert.equal(byComment("block: default L2TP UDP 1701 from this host")?.packets, 1n);
    assert.equal(byComment("block: default L2TP UDP 1701 from this host")?.verdict, "drop");
    assert.equal(byComment("block: default L2TP UDP 1701 to any host")?.bytes, 30n);
    assert.equal(byComment("exempt: loopback")?.packets, undefined); // no counter on that rule
    assert.equal(byComment("exempt: loopback")?.verdict, "accept");
  });

  test("another table's name gives null", () => {
    const r = parseNftListJson(data("nft-1.0.6-list-table.json"), "inet", "other");
    assert.deepEqual(r, { ok: true, value: null });
  });

  test("hostile output is a BadOutput value", () => {
    for (const s of [
      "",
      "[]",
      "{}",
      '{"nftables":{}}',
      '{"nftables":[1]}',
      '{"nftables":[{"rule":{"family":"inet","table":"oakley","chain":"x","handle":1,"expr":[{"counter":{"packets":-1,"bytes":0}}]}}]}',
    ]) {
      const r = parseNftListJson(s, "inet", "oakley");
      assert.ok(!r.ok, s);
      assert.equal(r.error.code, FirewallErrorCode.BadOutput);
    }
  });

  test("fuzz", () => {
    const seed = Buffer.from(data("nft-1.0.6-list-table.json"));
    fuzzParser(
      "nft -j list",
      (b) => parseNftListJson(Buffer.from(b).toString("utf8"), "inet", "oakley"),
      [seed],
      {
        iterations: 20_000,
        maxLength: 12_000,
      },
    );
  });
});

describe("/proc/net/udp reader", () => {
  test("real captures: IPv4 127.0.0.1:500 and IPv6 [::1]:4500", () => {
    const v4 = parseProcNetUdp(data("proc-net-udp.txt"));
    assert.ok(v4.ok);
    assert.deepEqual(v4.value, [
      { localAddress: "127.0.0.1", localPort: 500, inode: 115187, uid: 0 },
    ]);
    const v6 = parseProcNetUdp(data("proc-net-udp6.txt"));
    assert.ok(v6.ok);
    assert.deepEqual(v6.value, [
      { localAddress: "0:0:0:0:0:0:0:1", localPort: 4500, inode: 116332, uid: 0 },
    ]);
  });

  test("not a socket table is an error", () => {
    assert.ok(!parseProcNetUdp("hello\n").ok);
    assert.ok(!parseProcNetUdp(`${data("proc-net-udp.txt")}garbage line here\n`).ok);
  });

  test("fuzz", () => {
    fuzzParser(
      "/proc/net/udp",
      (b) => parseProcNetUdp(Buffer.from(b).toString("latin1")),
      [Buffer.from(data("proc-net-udp.txt")), Buffer.from(data("proc-net-udp6.txt"))],
      { iterations: 50_000 },
    );
  });

  test("finds this process as the holder of a bound UDP port", async () => {
    const s = createSocket("udp4");
    await new Promise<void>((res) => s.bind(0, "127.0.0.1", res));
    try {
      const owners = findUdpPortOwners(s.address().port);
      const me = owners.find((o) => o.pid === process.pid);
      assert.ok(me, JSON.stringify(owners));
      assert.equal(me.command, readFileSync(`/proc/${process.pid}/comm`, "utf8").trim());
    } finally {
      s.close();
    }
  });
});
