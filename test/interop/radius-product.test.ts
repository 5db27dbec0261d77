/**
 * `oakley connect` -> `oakley serve --radius` with FreeRADIUS 3.2 (Debian's `freeradius`,
 * `freeradius-utils`) deciding every login, in network namespaces, and two gateways sharing it.
 *
 *   c1 192.0.2.2 ----\                 /---- gw1 198.51.100.2   oakley serve --radius (NAS gw1)
 *                     net (router) ----+---- gw2 198.51.100.18  oakley serve --radius (NAS gw2)
 *                                      \---- rad 198.51.100.34  FreeRADIUS (users file + SQL on SQLite, detail)
 *
 * FreeRADIUS's configuration is generated: a users file with a PAP and a CHAP user; the
 * MS-CHAPv2 user in FreeRADIUS's SQL module on SQLite (its own schema, radcheck/radreply rows),
 * with Framed-IP-Address 203.0.113.60 (its static address on every gateway) and Class; both
 * gateways as clients with `require_message_authenticator = yes`; the
 * detail module for accounting. Debian 12's FreeRADIUS 3.2.1 predates the Blast-RADIUS fix and
 * adds a Message-Authenticator to replies only when the reply items ask for one
 * (`Message-Authenticator = 0x00`, what operators of unpatched servers are told to do).
 * The gateways share what the SQL backend holds: the user, its address, and accounting
 * (radacct rows from both gateways, read back with better-sqlite3).
 *
 * Checked: PAP (gw2 offers PAP first), CHAP-MD5 (gw1 offers CHAP first) and MS-CHAPv2 logins
 * through `oakley connect`, the client verifying FreeRADIUS's MS-CHAP2-Success; the static
 * Framed-IP-Address on either gateway, with traffic (ping the gateway's PPP address);
 * accounting Start/Stop read back from the detail file and the SQL radacct table (NAS-Identifier, Framed-IP-Address,
 * Class echoed, Admin-Reset on Disconnect); `radclient` Disconnect-Request sent to both
 * gateways: the one carrying the user ACKs and ends the session, the other NAKs; `oakley
 * status` shows the RADIUS server; a gateway with the wrong shared secret and FreeRADIUS
 * stopped give a clear PPP failure, not a hang.
 *
 * Needs root, iproute2, freeradius, radclient. Run under the interop lock.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { type Proc, spawnServe, stop, watch } from "./lib/cli-process.js";
import { sqlPath, writeFreeradiusConf } from "./lib/freeradius.js";
import { interopSkipReason, type Namespace, Topology } from "./lib/netns.js";

const skip =
  (await interopSkipReason(["ip", "ping"], {})) ||
  (!existsSync("/usr/sbin/freeradius") || !existsSync("/usr/bin/radclient")
    ? "freeradius/radclient not installed (apt-get install -y freeradius freeradius-utils)"
    : false);
const topo = new Topology(import.meta.filename);
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
const PSK = "oak-radius-psk-0123456789";
const SECRET = "interop-Radius-Secret-9";
const GW1 = "198.51.100.2";
const GW2 = "198.51.100.18";
const RAD = "198.51.100.34";
const STATIC = "203.0.113.60";

let c1: Namespace;
let net: Namespace;
let gw1: Namespace;
let gw2: Namespace;
let rad: Namespace;
let fr: Proc | undefined;

const confDir = () => join(topo.dir, "raddb");

function usersFile(): string {
  const ma = "Message-Authenticator = 0x00";
  return `
papuser Cleartext-Password := "pap-Pass-1"
        Framed-IP-Address = 203.0.113.50,
        Class = "cls-pap",
        Reply-Message = "hello pap",
        ${ma}

chapuser Cleartext-Password := "chap-Pass-2"
        ${ma}

msuser
        ${ma}

DEFAULT Auth-Type := Reject
        Reply-Message = "rejected",
        ${ma}
`;
}

/** The MS-CHAPv2 user lives in SQL: its password, static address and Class. */
function sqlUsers(dir: string): void {
  const db = new Database(sqlPath(dir));
  try {
    const check = db.prepare(
      "INSERT INTO radcheck (username, attribute, op, value) VALUES (?, ?, ?, ?)",
    );
    check.run("msuser", "Cleartext-Password", ":=", "ms-Pass-3");
    const reply = db.prepare(
      "INSERT INTO radreply (username, attribute, op, value) VALUES (?, ?, ?, ?)",
    );
    reply.run("msuser", "Framed-IP-Address", "=", STATIC);
    reply.run("msuser", "Class", "=", "cls-ms");
  } finally {
    db.close();
  }
}

/** radacct rows of a user: which gateway, the address, start and stop. */
function radacct(user: string): { nas: string; ip: string; stopped: boolean; cause: string }[] {
  const db = new Database(sqlPath(confDir()), { readonly: true });
  try {
    return (
      db
        .prepare(
          "SELECT nasipaddress AS nas, framedipaddress AS ip, acctstoptime AS stop, acctterminatecause AS cause FROM radacct WHERE username = ? ORDER BY radacctid",
        )
        .all(user) as { nas: string; ip: string; stop: string | null; cause: string }[]
    ).map((r) => ({ nas: r.nas, ip: r.ip, stopped: r.stop !== null, cause: r.cause }));
  } finally {
    db.close();
  }
}

async function startFreeradius(): Promise<Proc> {
  const p = watch(topo.spawn(rad, ["freeradius", "-X", "-d", confDir()]), "freeradius");
  await p.waitFor(/Ready to process requests/, 20_000);
  return p;
}

function secretFile(name: string, secret: string): string {
  const f = join(topo.dir, name);
  writeFileSync(f, `${secret}\n`, { mode: 0o600 });
  return f;
}

function serve(ns: Namespace, listen: string, tag: string, extra: string[]): Proc {
  return spawnServe(topo, ns, tag, listen, [
    "--psk",
    PSK,
    "--pool",
    "203.0.113.0/24",
    "--no-fail-closed",
    "--control-socket",
    join(topo.dir, `${tag}.sock`),
    "--metrics-listen",
    "off",
    "--radius",
    RAD,
    "--radius-nas-identifier",
    tag,
    "--radius-dae-listen",
    `${listen}:3799`,
    "--log-level",
    "info",
    ...extra,
  ]);
}

function connect(server: string, user: string, password: string, extra: string[] = []): Proc {
  return watch(
    topo.spawn(c1, [
      process.execPath,
      "--import",
      "tsx",
      CLI,
      "connect",
      server,
      "--psk",
      PSK,
      "--user",
      user,
      "--password",
      password,
      "--no-fail-closed",
      "--log-format",
      "text",
      ...extra,
    ]),
    `connect(${user}@${server})`,
  );
}

async function radclientDisconnect(gw: string, user: string): Promise<string> {
  const input = `User-Name = "${user}"\nMessage-Authenticator = 0x00\n`;
  const r = await topo.exec(
    rad,
    [
      "sh",
      "-c",
      `printf '%s' '${input}' | radclient -x -r 2 -t 3 ${gw}:3799 disconnect ${SECRET} 2>&1; true`,
    ],
    30_000,
  );
  return r.stdout + r.stderr;
}

function detail(): string {
  const f = join(confDir(), "acct", "detail");
  return existsSync(f) ? readFileSync(f, "utf8") : "";
}

/** Detail records (blocks separated by a blank line) matching every pattern. */
function records(...res: RegExp[]): string[] {
  return detail()
    .split(/\n\s*\n/)
    .filter((b) => res.every((re) => re.test(b)));
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}\n${detail().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("oakley connect -> oakley serve --radius -> FreeRADIUS 3.2 (namespaces)", {
  skip,
  concurrency: false,
  timeout: 900_000,
}, () => {
  let g1: Proc | undefined;
  let g2: Proc | undefined;

  before(async () => {
    c1 = await topo.namespace("c1");
    net = await topo.namespace("net");
    gw1 = await topo.namespace("gw1");
    gw2 = await topo.namespace("gw2");
    rad = await topo.namespace("rad");
    await topo.link(c1, "eth0", net, "c1");
    await topo.link(gw1, "eth0", net, "gw1");
    await topo.link(gw2, "eth0", net, "gw2");
    await topo.link(rad, "eth0", net, "rad");
    await topo.address(c1, "eth0", "192.0.2.2/28");
    await topo.address(net, "c1", "192.0.2.1/28");
    await topo.address(gw1, "eth0", `${GW1}/28`);
    await topo.address(net, "gw1", "198.51.100.1/28");
    await topo.address(gw2, "eth0", `${GW2}/28`);
    await topo.address(net, "gw2", "198.51.100.17/28");
    await topo.address(rad, "eth0", `${RAD}/28`);
    await topo.address(net, "rad", "198.51.100.33/28");
    await topo.forwarding(net);
    await topo.route(c1, "default", { gateway: "192.0.2.1" });
    await topo.route(gw1, "default", { gateway: "198.51.100.1" });
    await topo.route(gw2, "default", { gateway: "198.51.100.17" });
    await topo.route(rad, "default", { gateway: "198.51.100.33" });
    const dir = confDir();
    writeFreeradiusConf({
      dir,
      listen: RAD,
      clients: [
        { name: "gw1", ip: GW1, secret: SECRET },
        { name: "gw2", ip: GW2, secret: SECRET },
      ],
      users: usersFile(),
      sql: true,
    });
    sqlUsers(dir);
    fr = await startFreeradius();
    const good = secretFile("secret", SECRET);
    // gw1 offers CHAP first, gw2 PAP first; both fall back to MS-CHAPv2 when the client Naks.
    g1 = serve(gw1, GW1, "gw1", ["--radius-secret-file", good, "--auth-methods", "chap,mschapv2"]);
    g2 = serve(gw2, GW2, "gw2", ["--radius-secret-file", good, "--auth-methods", "pap,mschapv2"]);
    await g1.waitFor(/ready: listening/, 60_000);
    await g2.waitFor(/ready: listening/, 60_000);
  });

  it("PAP through gw2: FreeRADIUS accepts, the client gets the Framed-IP-Address and traffic flows", async () => {
    const c = connect(GW2, "papuser", "pap-Pass-1", ["--allow-auth", "pap"]);
    try {
      await c.waitFor(/PPP authenticated as papuser/, 60_000);
      await c.waitFor(/address assigned: 203\.0\.113\.50\b/, 30_000);
      await topo.exec(c1, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "203.0.113.1"]);
      await g2?.waitFor(/Reply-Message for papuser: hello pap/, 10_000);
    } finally {
      assert.equal(await stop(c), 0);
    }
    await waitFor(
      () => records(/Acct-Status-Type = Stop/, /User-Name = "papuser"/).length === 1,
      20_000,
      "papuser Stop",
    );
    const [s] = records(/Acct-Status-Type = Stop/, /User-Name = "papuser"/);
    assert.match(s!, /NAS-Identifier = "gw2"/);
    assert.match(s!, /Framed-IP-Address = 203\.0\.113\.50/);
    assert.match(s!, /Class = 0x636c732d706170/, "Class cls-pap echoed");
    assert.match(s!, /Acct-Terminate-Cause = User-Request/);
    assert.match(s!, /Acct-Input-Packets = [1-9]/);
  });

  it("CHAP-MD5 through gw1", async () => {
    const c = connect(GW1, "chapuser", "chap-Pass-2", ["--allow-auth", "chap"]);
    try {
      await c.waitFor(/PPP authenticated as chapuser/, 60_000);
      await c.waitFor(/address assigned: 203\.0\.113\.\d+/, 30_000);
      await topo.exec(c1, ["ping", "-c", "1", "-W", "2", "203.0.113.1"]);
    } finally {
      assert.equal(await stop(c), 0);
    }
    const log = fr?.out.join("\n") ?? "";
    assert.match(log, /chap: CHAP user "chapuser" authenticated successfully/);
    assert.match(log, /Login OK: \[chapuser\] \(from client gw1 /);
  });

  it("a wrong password is refused by FreeRADIUS: a clear PPP failure", async () => {
    const c = connect(GW1, "msuser", "not-the-password");
    const line = await c.waitFor(/the server refused user msuser/, 60_000);
    assert.ok(line);
    await stop(c);
  });

  it("two gateways: the MS-CHAPv2 user gets the same static address through either; radclient disconnects them wherever they are", async () => {
    for (const [gw, proc, tag, other] of [
      [GW1, g1, "gw1", GW2],
      [GW2, g2, "gw2", GW1],
    ] as const) {
      const c = connect(gw, "msuser", "ms-Pass-3");
      await c.waitFor(/PPP authenticated as msuser/, 60_000);
      await c.waitFor(new RegExp(`address assigned: ${STATIC.replace(/\./g, "\\.")}\\b`), 30_000);
      await topo.exec(c1, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "203.0.113.1"]);
      await proc?.waitFor(/address assigned: 203\.0\.113\.60 to user msuser/, 10_000);
      // The operator does not know where the user is: ask both gateways.
      const elsewhere = await radclientDisconnect(other, "msuser");
      assert.match(elsewhere, /Disconnect-NAK/, elsewhere);
      assert.match(elsewhere, /Error-Cause = Session-Context-Not-Found/, elsewhere);
      const here = await radclientDisconnect(gw, "msuser");
      assert.match(here, /Disconnect-ACK/, here);
      const code = await Promise.race([
        c.exited(),
        new Promise<"hung">((r) => setTimeout(() => r("hung"), 60_000)),
      ]);
      assert.notEqual(
        code,
        "hung",
        `connect did not end after the Disconnect:\n${c.out.slice(-20).join("\n")}`,
      );
      await waitFor(
        () =>
          records(
            /Acct-Status-Type = Stop/,
            /User-Name = "msuser"/,
            new RegExp(`NAS-Identifier = "${tag}"`),
            /Acct-Terminate-Cause = Admin-Reset/,
          ).length === 1,
        20_000,
        `msuser Stop from ${tag}`,
      );
      const [start] = records(
        /Acct-Status-Type = Start/,
        /User-Name = "msuser"/,
        new RegExp(`NAS-Identifier = "${tag}"`),
      );
      assert.match(start!, /Framed-IP-Address = 203\.0\.113\.60/);
      assert.match(start!, /Class = 0x636c732d6d73/, "Class cls-ms echoed");
    }
    // The SQL backend holds both gateways' sessions of the one user, each with its address.
    await waitFor(
      () => radacct("msuser").filter((r) => r.stopped).length === 2,
      20_000,
      "two stopped msuser sessions in radacct",
    );
    assert.deepEqual(
      radacct("msuser").map((r) => [r.nas, r.ip, r.cause]),
      [
        [GW1, STATIC, "Admin-Reset"],
        [GW2, STATIC, "Admin-Reset"],
      ],
    );
    const st = JSON.parse(
      (
        await topo.exec(
          gw1,
          [
            process.execPath,
            "--import",
            "tsx",
            CLI,
            "status",
            "--socket",
            join(topo.dir, "gw1.sock"),
            "--json",
          ],
          60_000,
        )
      ).stdout,
    ) as { radius?: { servers: { server: string; state: string }[]; accountingQueued: number } };
    assert.deepEqual(
      st.radius?.servers.map((s) => [s.server, s.state]),
      [[`${RAD}:1812`, "reachable"]],
    );
    assert.equal(st.radius?.accountingQueued, 0);
  });

  it("a gateway with the wrong shared secret: the login fails clearly (no hang)", async () => {
    const bad = serve(gw2, GW2, "gw2-bad", [
      "--radius-secret-file",
      secretFile("wrong-secret", "not-the-shared-secret"),
    ]);
    await stop(g2!);
    g2 = undefined;
    try {
      await bad.waitFor(/ready: listening/, 60_000);
      const c = connect(GW2, "msuser", "ms-Pass-3");
      const t0 = Date.now();
      await bad.waitFor(/PPP authentication failed: .*no answer from the RADIUS servers/, 90_000);
      await c.waitFor(/the server refused user|PPP session ended/, 60_000);
      assert.ok(Date.now() - t0 < 60_000, "no hang");
      await stop(c);
    } finally {
      await stop(bad);
    }
  });

  it("FreeRADIUS down: a clear PPP failure within the retry budget", async () => {
    if (fr) await stop(fr);
    fr = undefined;
    const c = connect(GW1, "msuser", "ms-Pass-3");
    await g1?.waitFor(/PPP authentication failed: .*no answer from the RADIUS servers/, 90_000);
    await c.waitFor(/the server refused user|PPP session ended/, 60_000);
    await stop(c);
    if (g1) assert.equal(await stop(g1), 0);
  });
});
