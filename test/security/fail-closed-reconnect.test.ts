/**
 * Threat model: between two attempts of `oakley connect --persist` the TUN is gone, so whatever
 * the connection carried (its routes, or everything with --default-route) would take the normal
 * route in the clear. The fail-closed rules must keep blocking exactly what the connection that
 * went down protected — not what a block-set file on disk says, which another Oakley on the
 * same host (a server, another profile's client) may have rewritten since: block sets are saved
 * next to the status file, and the default status file is shared.
 *
 * No nftables is needed: the guard records which set it tried to install in its status file
 * (`blockSet`), with `enforced: false` when nft is missing.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { blockBetweenAttempts } from "../../src/daemon/client.js";
import {
  blockSetFromPolicy,
  FailClosedGuard,
  readFailClosedStatus,
  serializeBlockSet,
} from "../../src/daemon/fail-closed/index.js";
import { NftTable } from "../../src/platform/firewall/index.js";

const dir = mkdtempSync(join(tmpdir(), "oak-fc-reconnect-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const noNft = () => new NftTable("inet", "oakley", { nftPath: "/nonexistent/nft" });

describe("a reconnecting client keeps its own traffic blocked", () => {
  test("another Oakley on the host rewrote the saved block set: the client still blocks its routes", async () => {
    mkdirSync(join(dir, "shared"));
    const statusPath = join(dir, "shared", "status.json");
    const mine = blockSetFromPolicy(null, {
      role: "client",
      server: "198.51.100.2",
      defaultRoute: false,
      routes: ["203.0.113.0/24"],
    });
    assert.ok(mine.ok);
    // What a server (or another profile) starting on this host left in the shared place.
    const other = blockSetFromPolicy(null, {
      role: "client",
      server: "192.0.2.200",
      defaultRoute: false,
      routes: [],
    });
    assert.ok(other.ok);
    writeFileSync(join(dir, "shared", "blockset.json"), serializeBlockSet(other.value));

    const guard = new FailClosedGuard({ statusPath, table: noNft() });
    await blockBetweenAttempts(guard, mine.value, "reconnecting: peer declared dead");
    const st = readFailClosedStatus(statusPath);
    assert.ok(st.ok && st.value);
    assert.equal(st.value.mode, "block");
    assert.equal(
      st.value.blockSet,
      mine.value.origin,
      "the rules of the connection that went down",
    );
    assert.match(st.value.reason ?? "", /reconnecting: peer declared dead/);
  });
});
