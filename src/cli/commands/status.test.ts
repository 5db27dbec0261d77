/**
 * `oakley status` against `oakley connect`: the client's block (profile, state, uptime, bytes,
 * last failure) and how it finds the clients on this host (connect-NAME.sock).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { DaemonStatus } from "../../control/index.js";
import { clientSocketPath } from "./common.js";
import { clientSockets, formatStatus } from "./status.js";

const base: DaemonStatus = {
  software: "oakley 0.1.0",
  role: "client",
  mode: "protected",
  startedAt: "2026-12-07T16:00:00.000Z",
  persistentPolicies: [],
  ports: [],
  ikeSas: 1,
  childSas: 1,
  warnings: [],
};

test("an up client: profile, server, uptime and address, bytes, no failure yet", () => {
  const text = formatStatus(
    {
      ...base,
      connection: {
        profile: "office",
        server: "198.51.100.2",
        persist: true,
        state: "up",
        since: "2026-12-07T16:00:01.000Z",
        upSince: "2026-12-07T16:00:01.000Z",
        uptimeSeconds: 3725,
        address: "203.0.113.2",
        attempts: 1,
        bytesIn: 2048n,
        bytesOut: 100n,
        totalBytesIn: 3n << 20n,
        totalBytesOut: 100n,
      },
    },
    "via unix:/run/oakley/connect-office.sock",
  );
  assert.match(text, /^Profile: +office$/m);
  assert.match(text, /^Server: +198\.51\.100\.2 \(--persist: reconnects\)$/m);
  assert.match(
    text,
    /^State: +up since 2026-12-07T16:00:01\.000Z \(1h 2m 5s\), address 203\.0\.113\.2$/m,
  );
  assert.match(
    text,
    /^Bytes: +2\.0 KiB in, 100 B out \(this connection\); 3\.0 MiB in, 100 B out since/m,
  );
  assert.match(text, /^Last failure: \(none\)$/m);
  assert.doesNotMatch(text, /Policy:|Ports:/, "server-only lines are left out");
});

test("a client waiting to reconnect: when, why it went down, and that traffic is blocked", () => {
  const text = formatStatus(
    {
      ...base,
      mode: "block",
      connection: {
        server: "198.51.100.2",
        persist: true,
        state: "waiting",
        since: "2026-12-07T16:05:00.000Z",
        attempts: 2,
        nextAttemptAt: "2026-12-07T16:05:02.000Z",
        bytesIn: 0n,
        bytesOut: 0n,
        totalBytesIn: 0n,
        totalBytesOut: 0n,
        lastFailure: {
          at: "2026-12-07T16:05:00.000Z",
          code: "OAK_E_IKE_DEAD_PEER",
          message: "dpd failed: peer declared dead",
        },
      },
    },
    "x",
  );
  assert.match(text, /^Profile: +\(none: connected by address\)$/m);
  assert.match(text, /^State: +down, reconnecting at 2026-12-07T16:05:02\.000Z$/m);
  assert.match(text, /^Fail-closed: BLOCKING VPN traffic/m);
  assert.match(
    text,
    /^Last failure: 2026-12-07T16:05:00\.000Z: dpd failed: peer declared dead \[OAK_E_IKE_DEAD_PEER\]$/m,
  );
});

test("client sockets: one per profile or server, found by name", () => {
  const dir = mkdtempSync(join(tmpdir(), "oak-status-"));
  try {
    assert.equal(clientSocketPath("office", dir), `${dir}/connect-office.sock`);
    assert.equal(clientSocketPath("vpn.example.com", dir), `${dir}/connect-vpn.example.com.sock`);
    assert.equal(clientSocketPath("a/../b", dir), `${dir}/connect-a_.._b.sock`);
    for (const n of ["connect-office.sock", "connect-home.sock", "control.sock", "status.json"])
      writeFileSync(join(dir, n), "");
    assert.deepEqual(clientSockets(dir), [
      `${dir}/connect-home.sock`,
      `${dir}/connect-office.sock`,
    ]);
    assert.deepEqual(clientSockets(join(dir, "missing")), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
