/**
 * Threat model: block mode must not become a bypass. Its exemptions (IKE on UDP 500/4500, ESP)
 * exist so that the daemon can negotiate and recover; a process on a protected client that
 * sends anything to UDP 500/4500 or as IP protocol 50 of an arbitrary host must not get through
 * in the clear because of them. So the exemptions name the negotiated peers:
 *   - client: the server's address (as resolved for this connection);
 *   - server listening on one address: that address;
 *   - server listening on 0.0.0.0 (it must accept IKE from anyone): packets to or from this
 *     host's own addresses (`fib ... type local`), never forwarded traffic.
 *
 * The generated ruleset (src/daemon/fail-closed/rules.ts) is evaluated here by a small model of
 * nftables' first-match semantics over the typed rules (the same rules the renderer turns into
 * nft text; the golden text and the kernel check live in src/daemon/fail-closed/fail-closed.test.ts
 * and test/interop/fail-closed.test.ts, which sends real packets in namespaces).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ok, type Result } from "../../src/base/result.js";
import {
  type BlockSet,
  blockRuleset,
  blockSetFromPolicy,
  DEFAULT_BLOCK_SET,
  FailClosedGuard,
  parseBlockSet,
  serializeBlockSet,
} from "../../src/daemon/fail-closed/index.js";
import {
  type FirewallError,
  type NftChain,
  type NftMatch,
  NftTable,
  type NftTableSpec,
} from "../../src/platform/firewall/index.js";

const dir = mkdtempSync(join(tmpdir(), "oak-sec-fc-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const ME = "198.51.100.1";
const SERVER = "198.51.100.2";
const THIRD = "203.0.113.7";
/** This host's addresses, as `fib ... type local` sees them. */
const LOCAL = new Set([ME, "127.0.0.1"]);

interface Packet {
  readonly hook: "input" | "output" | "forward";
  readonly iif?: string;
  readonly oif?: string;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport?: number;
  readonly dport?: number;
}

function ipv4(a: string): number {
  return a.split(".").reduce((n, x) => n * 256 + Number(x), 0);
}

function ifnameMatches(names: readonly string[], name: string | undefined): boolean {
  if (name === undefined) return false;
  return names.some((n) => (n.endsWith("*") ? name.startsWith(n.slice(0, -1)) : n === name));
}

/** One nft match against an IPv4 packet (nft(8) semantics for the constructs rules.ts uses). */
function matches(m: NftMatch, p: Packet): boolean {
  switch (m.kind) {
    case "ifname": {
      const hit = ifnameMatches(m.names, m.dir === "iif" ? p.iif : p.oif);
      return m.negate ? !hit : hit;
    }
    case "l4proto":
      return m.protocols.includes(p.proto);
    case "port": {
      if (p.proto !== (m.protocol === "udp" ? 17 : 6)) return false;
      const v = m.field === "sport" ? p.sport : p.dport;
      return v !== undefined && m.ranges.some((r) => v >= r.from && v <= r.to);
    }
    case "address": {
      const v = ipv4(m.field === "saddr" ? p.src : p.dst);
      return m.ranges.some((r) => r.family === 4 && v >= ipv4(r.from) && v <= ipv4(r.to));
    }
    case "icmp":
      return false; // no ICMP packets in these tests
    case "local":
      return LOCAL.has(m.field === "saddr" ? p.src : p.dst);
  }
}

/** The verdict of the chain for `p.hook`: first matching rule, else the chain's policy. */
function verdict(chains: readonly NftChain[], p: Packet): "accept" | "drop" {
  const chain = chains.find((c) => c.hook === p.hook);
  assert.ok(chain, `no ${p.hook} chain`);
  for (const r of chain.rules) if (r.matches.every((m) => matches(m, p))) return r.verdict;
  return chain.policy;
}

const out = (dst: string, proto: number, dport?: number, sport?: number): Packet => ({
  hook: "output",
  oif: "eth0",
  src: ME,
  dst,
  proto,
  ...(dport !== undefined ? { dport } : {}),
  ...(sport !== undefined ? { sport } : {}),
});
const inp = (src: string, proto: number, sport?: number, dport?: number): Packet => ({
  hook: "input",
  iif: "eth0",
  src,
  dst: ME,
  proto,
  ...(sport !== undefined ? { sport } : {}),
  ...(dport !== undefined ? { dport } : {}),
});
const UDP = 17;
const ESP = 50;

function clientSet(server = SERVER): BlockSet {
  const r = blockSetFromPolicy(null, {
    role: "client",
    server,
    defaultRoute: true,
    routes: [],
  });
  assert.ok(r.ok);
  return r.value;
}

/** Everything from/to anywhere is protected: only the exemptions decide. */
function protectEverything(set: BlockSet): BlockSet {
  return {
    ...set,
    entries: [
      {
        action: "block",
        description: "everything",
        selector: {
          source: { kind: "any" },
          destination: { kind: "any" },
          protocol: null,
          sourcePort: null,
          destinationPort: null,
          mirrored: true,
        },
      },
    ],
  };
}

/** An NftTable that records what would be installed (no kernel). */
class RecordingTable extends NftTable {
  installed: Omit<NftTableSpec, "family" | "name"> | undefined;
  override async install(
    spec: Omit<NftTableSpec, "family" | "name">,
  ): Promise<Result<void, FirewallError>> {
    this.installed = spec;
    return ok(undefined);
  }
  override async inspect(): Promise<Result<null, FirewallError>> {
    return ok(null);
  }
}

describe("client block mode: IKE and ESP only with the configured server", () => {
  const chains = blockRuleset(clientSet()).chains;

  test("a process on the client cannot send UDP 500 or 4500 to a third host in the clear", () => {
    assert.equal(verdict(chains, out(THIRD, UDP, 500)), "drop");
    assert.equal(verdict(chains, out(THIRD, UDP, 4500)), "drop");
    assert.equal(verdict(chains, out(THIRD, UDP, 53, 500)), "drop", "source port 500 to DNS");
    assert.equal(verdict(chains, out(THIRD, UDP, 1701, 4500)), "drop", "L2TP from port 4500");
  });

  test("a process on the client cannot send IP protocol 50 to a third host", () => {
    assert.equal(verdict(chains, out(THIRD, ESP)), "drop");
  });

  test("a third host cannot reach the client through the IKE or ESP exemption", () => {
    assert.equal(verdict(chains, inp(THIRD, UDP, 500, 500)), "drop");
    assert.equal(verdict(chains, inp(THIRD, UDP, 4500, 4500)), "drop");
    assert.equal(verdict(chains, inp(THIRD, UDP, 53, 4500)), "drop");
    assert.equal(verdict(chains, inp(THIRD, ESP)), "drop");
  });

  test("the configured server still gets IKE, NAT-T and ESP both ways (recovery works)", () => {
    assert.equal(verdict(chains, out(SERVER, UDP, 500, 500)), "accept");
    assert.equal(verdict(chains, out(SERVER, UDP, 4500, 4500)), "accept");
    assert.equal(verdict(chains, out(SERVER, ESP)), "accept");
    assert.equal(verdict(chains, inp(SERVER, UDP, 500, 500)), "accept");
    assert.equal(verdict(chains, inp(SERVER, UDP, 4500, 4500)), "accept");
    assert.equal(verdict(chains, inp(SERVER, ESP)), "accept");
    // What the client protects toward the server stays blocked in the clear.
    assert.equal(verdict(chains, out(SERVER, UDP, 1701, 1701)), "drop");
    assert.equal(verdict(chains, out(SERVER, 6, 80)), "drop");
  });

  test("the peer restriction survives the saved block set (block mode after a failed start)", async () => {
    const statusPath = join(dir, "saved", "status.json");
    const table = new RecordingTable();
    const g = new FailClosedGuard({ statusPath, table });
    assert.ok((await g.enterProtectedMode(clientSet())).ok);
    // A later start fails before it knows anything: block mode falls back to the saved set.
    const g2 = new FailClosedGuard({ statusPath, table });
    const b = await g2.enterBlockMode("the server name does not resolve");
    assert.ok(b.ok);
    const c = table.installed?.chains ?? [];
    assert.equal(verdict(c, out(THIRD, UDP, 500)), "drop");
    assert.equal(verdict(c, out(SERVER, UDP, 500)), "accept");
  });

  test("a changed server address moves the exemption when the client re-enters protected mode", async () => {
    const table = new RecordingTable();
    const g = new FailClosedGuard({ statusPath: join(dir, "moved", "status.json"), table });
    assert.ok((await g.enterProtectedMode(clientSet(SERVER))).ok);
    const moved = "198.51.100.9";
    assert.ok((await g.enterProtectedMode(clientSet(moved))).ok);
    const c = table.installed?.chains ?? [];
    assert.equal(verdict(c, out(moved, UDP, 500)), "accept");
    assert.equal(verdict(c, out(SERVER, UDP, 500)), "drop", "the old address is no longer exempt");
  });
});

describe("server block mode: IKE and ESP only on the listen address", () => {
  test("listening on one address: IKE/ESP to and from that address only", () => {
    const r = blockSetFromPolicy(null, { role: "server", listen: ME });
    assert.ok(r.ok);
    const chains = blockRuleset(protectEverything(r.value)).chains;
    assert.equal(verdict(chains, inp(THIRD, UDP, 500, 500)), "accept", "any client may start IKE");
    assert.equal(verdict(chains, out(THIRD, UDP, 500, 500)), "accept", "and get the answer");
    assert.equal(verdict(chains, inp(THIRD, ESP)), "accept");
    // IKE-looking traffic from this host's other address is not exempt.
    const other = { ...out(THIRD, UDP, 500), src: "192.0.2.10" };
    assert.equal(verdict(chains, other), "drop");
    const fwd: Packet = {
      hook: "forward",
      iif: "eth0",
      oif: "eth1",
      src: THIRD,
      dst: "192.0.2.99",
      proto: UDP,
      sport: 500,
      dport: 500,
    };
    assert.equal(verdict(chains, fwd), "drop", "forwarded IKE of other hosts is not exempt");
  });

  test("listening on 0.0.0.0: the exemption is this host's own addresses, never forwarded traffic", () => {
    const r = blockSetFromPolicy(null, { role: "server", listen: "0.0.0.0" });
    assert.ok(r.ok);
    assert.deepEqual(r.value.ikePeers, { kind: "me" });
    const chains = blockRuleset(protectEverything(r.value)).chains;
    assert.equal(verdict(chains, inp(THIRD, UDP, 500, 500)), "accept");
    assert.equal(verdict(chains, out(THIRD, UDP, 4500, 4500)), "accept");
    const fwd: Packet = {
      hook: "forward",
      iif: "eth0",
      oif: "eth1",
      src: THIRD,
      dst: "192.0.2.99",
      proto: ESP,
    };
    assert.equal(verdict(chains, fwd), "drop");
    const fwdIke = { ...fwd, proto: UDP, sport: 500, dport: 500 };
    assert.equal(verdict(chains, fwdIke), "drop");
  });

  test("the default set and a set saved before peer restrictions exempt only this host", () => {
    const old = JSON.parse(serializeBlockSet(clientSet())) as Record<string, unknown>;
    delete old.ikePeers;
    const parsed = parseBlockSet(JSON.stringify(old));
    assert.ok(parsed.ok);
    for (const set of [parsed.value, DEFAULT_BLOCK_SET]) {
      const chains = blockRuleset(protectEverything(set)).chains;
      const fwd: Packet = {
        hook: "forward",
        iif: "eth0",
        oif: "eth1",
        src: THIRD,
        dst: "192.0.2.99",
        proto: UDP,
        sport: 500,
        dport: 500,
      };
      assert.equal(verdict(chains, fwd), "drop");
      assert.equal(verdict(chains, out(THIRD, UDP, 500, 500)), "accept");
    }
  });

  test("hostile saved peers are refused", () => {
    const doc = JSON.parse(serializeBlockSet(clientSet())) as Record<string, unknown>;
    for (const bad of [{ kind: "ranges", ranges: [] }, { kind: "everyone" }, "any", 7]) {
      const r = parseBlockSet(JSON.stringify({ ...doc, ikePeers: bad }));
      assert.ok(!r.ok, JSON.stringify(bad));
    }
  });
});

function nftCheckable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (nft -c talks to the kernel)";
  return spawnSync("nft", ["--version"]).status === 0 ? undefined : "nft is not installed";
}

test("the peer-restricted rulesets pass nft check mode", { skip: nftCheckable() }, async () => {
  const server = blockSetFromPolicy(null, { role: "server", listen: ME });
  const any = blockSetFromPolicy(null, { role: "server", listen: "0.0.0.0" });
  assert.ok(server.ok && any.ok);
  for (const set of [clientSet(), server.value, any.value]) {
    const r = await new NftTable().check(blockRuleset(set));
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  }
});
