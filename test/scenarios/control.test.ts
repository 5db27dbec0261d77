/**
 * The management protocol end to end, in one process: a real ControlServer (Unix socket and TLS)
 * in front of a FakeControlTarget (realistic SA records; to be replaced by the daemon's target)
 * and a real policy store through StorePolicyOps; real ControlClients and the real `oakley`
 * management commands (commander, in process, output captured).
 *
 * Certificates are made by the openssl command at test time (CA, server, client, and an
 * unrelated "rogue" CA + client), so trust decisions are node:tls's, not ours.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import {
  ControlClient,
  type ControlEndpoint,
  ControlErrorCode,
  ControlServer,
  generateToken,
  StorePolicyOps,
} from "../../src/control/index.js";
import { FakeControlTarget } from "../../src/control/fake-target.js";
import { Counters } from "../../src/obs/counters.js";
import {
  createDefaultStore,
  defaultServerPolicy,
  type PolicyStore,
} from "../../src/policy/index.js";
import { runOakley } from "../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "oak-ctl-"));
const sock = join(dir, "run", "control.sock");
const FAST_SCRYPT = { n: 1024, r: 8, p: 1 };

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** CA + leaf certificates (EC P-256) with openssl. */
function makePki(): void {
  const ca = (n: string) => {
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${n}.key`,
      "-out",
      `${n}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${n}`,
    );
  };
  const leaf = (n: string, caName: string, ext: string) => {
    openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${n}.key`,
      "-out",
      `${n}.csr`,
      "-subj",
      `/CN=${n}`,
    );
    writeFileSync(join(dir, `${n}.ext`), ext);
    openssl(
      "x509",
      "-req",
      "-in",
      `${n}.csr`,
      "-CA",
      `${caName}.pem`,
      "-CAkey",
      `${caName}.key`,
      "-CAcreateserial",
      "-out",
      `${n}.pem`,
      "-days",
      "2",
      "-extfile",
      `${n}.ext`,
    );
  };
  ca("ctl-ca");
  ca("rogue-ca");
  leaf(
    "server",
    "ctl-ca",
    "subjectAltName=IP:127.0.0.1,DNS:oakley.test\nextendedKeyUsage=serverAuth\n",
  );
  leaf("ops-client", "ctl-ca", "extendedKeyUsage=clientAuth\n");
  leaf("rogue-client", "rogue-ca", "extendedKeyUsage=clientAuth\n");
}
const pem = (n: string) => readFileSync(join(dir, n), "utf8");

let store: PolicyStore;
let target: FakeControlTarget;
let server: ControlServer;
let tlsPort = 0;
const counters = new Counters();
const { token, record } = generateToken("ops");

before(async () => {
  makePki();
  writeFileSync(join(dir, "ops.token"), `${token}\n`);
  const s = createDefaultStore(join(dir, "store.db"), (n) => randomBytes(n));
  assert.ok(s.ok);
  store = s.value.store;
  // A policy as a newer Oakley writes it (unknown extension fields): read-only here.
  const body = structuredClone(defaultServerPolicy()) as unknown as Record<string, unknown>;
  body.name = "from-newer";
  body.certificateMapping = { enabled: true };
  store.db
    .prepare(
      "INSERT INTO policies (name, version, body, extensions) VALUES ('from-newer', 2, ?, ?)",
    )
    .run(JSON.stringify(body), JSON.stringify({ "/mainMode/dhGroupPreference": "strongest" }));
  target = new FakeControlTarget({ policy: new StorePolicyOps(store, { scrypt: FAST_SCRYPT }) });
  server = await ControlServer.start({
    target,
    software: "oakley 0.1.0",
    counters,
    unix: { path: sock },
    tls: {
      host: "127.0.0.1",
      port: 0,
      key: pem("server.key"),
      cert: pem("server.pem"),
      clientCa: pem("ctl-ca.pem"),
      tokens: [record],
    },
    maxLine: 64 * 1024,
  });
  tlsPort = server.tlsAddress?.port ?? 0;
});

after(async () => {
  await server?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const unixEp = (): ControlEndpoint => ({ kind: "unix", path: sock });
const tlsEp = (
  extra: Partial<Extract<ControlEndpoint, { kind: "tls" }>> = {},
): ControlEndpoint => ({
  kind: "tls",
  host: "127.0.0.1",
  port: tlsPort,
  ca: pem("ctl-ca.pem"),
  ...extra,
});

async function connectOk(ep: ControlEndpoint): Promise<ControlClient> {
  const c = await ControlClient.connect(ep, { timeoutMs: 5000 });
  if (!c.ok) assert.fail(`connect failed: ${c.error.code} ${c.error.message}`);
  return c.value;
}

async function connectErr(ep: ControlEndpoint, opts = {}) {
  const c = await ControlClient.connect(ep, { timeoutMs: 5000, ...opts });
  if (c.ok) {
    await c.value.close();
    assert.fail("connect unexpectedly succeeded");
  }
  return c.error;
}

/** Sends raw bytes on a raw socket and collects what comes back until the server closes. */
function raw(connect: () => net.Socket, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect();
    let got = "";
    s.on("data", (d: Buffer) => {
      got += d.toString();
    });
    s.on("close", () => resolve(got));
    s.on("error", () => resolve(got));
    s.once("connect", () => s.write(data));
    s.once("secureConnect", () => s.write(data));
    setTimeout(() => {
      s.destroy();
      reject(new Error(`server did not close the connection; got ${JSON.stringify(got)}`));
    }, 8000).unref();
  });
}

const rejects = (reason: string) => counters.get(`ctl_reject{reason="${reason}"}`);

describe("transport and authentication", () => {
  test("the Unix socket is created 0600", () => {
    assert.equal(statSync(sock).mode & 0o777, 0o600);
  });

  test("unix: hello, status, and SA records with algorithm names", async () => {
    const c = await connectOk(unixEp());
    assert.equal(c.hello.version, 1);
    assert.equal(c.hello.identity, "unix-socket");
    const st = await c.status();
    assert.ok(st.ok && st.value.mode === "protected");
    const sas = await c.listSas();
    assert.ok(sas.ok);
    assert.equal(sas.value.ike.length, 3);
    assert.equal(typeof sas.value.child[0]?.traffic.bytesIn, "bigint");
    const text = JSON.stringify(sas.value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    // Seed: the old monitor showed DH2048 as the raw number 268435457.
    assert.ok(!text.includes("268435457"));
    assert.match(sas.value.ike[0]?.algorithms.dhGroup ?? "", /^MODP-2048 \(group 14/);
    for (const s of [...sas.value.ike, ...sas.value.child]) {
      for (const v of Object.values(s.algorithms)) {
        if (typeof v === "string") assert.doesNotMatch(v, /^\d+$/, `bare number in ${s.id}`);
      }
    }
    await c.close();
  });

  test("TLS with a bearer token", async () => {
    const c = await connectOk(tlsEp({ token }));
    assert.equal(c.hello.identity, "token:ops");
    assert.ok((await c.status()).ok);
    await c.close();
  });

  test("TLS with a client certificate from the control CA", async () => {
    const c = await connectOk(tlsEp({ cert: pem("ops-client.pem"), key: pem("ops-client.key") }));
    assert.equal(c.hello.identity, "certificate:ops-client");
    await c.close();
  });

  test("TLS without credentials, with a wrong token, or a rogue certificate is refused and counted", async () => {
    const before = rejects("auth");
    const none = await connectErr(tlsEp());
    assert.equal(none.code, ControlErrorCode.Auth);
    assert.match(none.message, /--token/);
    const wrong = await connectErr(tlsEp({ token: generateToken("x").token }));
    assert.equal(wrong.code, ControlErrorCode.Auth);
    assert.match(wrong.message, /token not accepted/);
    const garbageToken = await connectErr(tlsEp({ token: "' OR 1=1 --" }));
    assert.equal(garbageToken.code, ControlErrorCode.Auth);
    const rogue = await connectErr(
      tlsEp({ cert: pem("rogue-client.pem"), key: pem("rogue-client.key") }),
    );
    assert.equal(rogue.code, ControlErrorCode.Auth);
    assert.match(rogue.message, /client certificate not accepted/);
    // A rogue certificate is refused even when a valid token is also given.
    const both = await connectErr(
      tlsEp({ token, cert: pem("rogue-client.pem"), key: pem("rogue-client.key") }),
    );
    assert.equal(both.code, ControlErrorCode.Auth);
    assert.equal(rejects("auth") - before, 5n);
  });

  test("a client that does not trust the daemon's certificate stops, and says to give --ca", async () => {
    const e = await connectErr(tlsEp({ ca: pem("rogue-ca.pem"), token }));
    assert.equal(e.code, ControlErrorCode.Unavailable);
    assert.match(e.message, /--ca/);
  });

  test("plain TCP to the TLS port: no answer in JSON, connection closed, counted, server fine", async () => {
    // let the previous test's aborted handshake be counted first
    await new Promise((r) => setTimeout(r, 300));
    const before = rejects("tls");
    const got = await raw(
      () => net.connect(tlsPort, "127.0.0.1"),
      '{"v":1,"id":1,"method":"hello","params":{"min":1,"max":1}}\n',
    );
    assert.ok(!got.includes("{"), `unexpected answer ${got}`);
    // the server counts the failed TLS handshake
    for (let i = 0; i < 50 && rejects("tls") === before; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(rejects("tls") - before, 1n);
    const c = await connectOk(tlsEp({ token }));
    await c.close();
  });

  test("garbage, a request before hello, and an oversized line: typed error, closed, counted", async () => {
    const b0 = rejects("bad_message");
    const g = await raw(() => net.connect(sock), "\x00\x01garbage\n");
    assert.match(g, /OAK_E_CTL_BAD_MESSAGE/);
    assert.equal(rejects("bad_message") - b0, 1n);

    const s0 = rejects("sequence");
    const noHello = await raw(() => net.connect(sock), '{"v":1,"id":1,"method":"sa.list"}\n');
    const e = JSON.parse(noHello.trim()) as { error: { code: string; message: string } };
    assert.equal(e.error.code, ControlErrorCode.Sequence);
    assert.match(e.error.message, /expects a hello first/);
    assert.equal(rejects("sequence") - s0, 1n);

    const t0 = rejects("too_large");
    const big = await raw(() => net.connect(sock), Buffer.alloc(200 * 1024, 0x41));
    assert.match(big, /OAK_E_CTL_TOO_LARGE/);
    assert.equal(rejects("too_large") - t0, 1n);

    // also through TLS with a valid session: garbage after hello closes that connection only
    const big2 = await raw(
      () => tls.connect({ host: "127.0.0.1", port: tlsPort, ca: pem("ctl-ca.pem") }),
      `${JSON.stringify({ v: 1, id: 1, method: "hello", params: { min: 1, max: 1, token } })}\n{not json\n`,
    );
    assert.match(big2, /"identity":"token:ops"/);
    assert.match(big2, /OAK_E_CTL_BAD_MESSAGE/);
    const c = await connectOk(unixEp());
    assert.ok((await c.status()).ok);
    await c.close();
  });

  test("unknown methods and bad params are errors on a connection that stays open", async () => {
    const c = await connectOk(unixEp());
    const u = await c.call("sa.explode");
    assert.ok(!u.ok && u.error.code === ControlErrorCode.UnknownMethod);
    const p = await c.call("log.set", { group: "ike", level: "loud" });
    assert.ok(!p.ok && p.error.code === ControlErrorCode.BadParams);
    assert.match(!p.ok ? p.error.message : "", /'level' must be one of/);
    assert.ok((await c.status()).ok);
    await c.close();
  });
});

describe("version negotiation (old IPSeccmd vs updated service, as on Windows)", () => {
  test("a newer client against this daemon: refused, message names both versions and says upgrade the daemon", async () => {
    const e = await connectErr(unixEp(), { versions: { min: 2, max: 2 }, client: "oakley 0.9.0" });
    assert.equal(e.code, ControlErrorCode.Version);
    assert.match(e.message, /client \(oakley 0\.9\.0\) speaks version 2/);
    assert.match(e.message, /daemon \(oakley 0\.1\.0\) speaks version 1/);
    assert.match(e.message, /upgrade the daemon/);
  });

  test("an older client against a newer daemon: refused, says upgrade the client", async () => {
    const newer = await ControlServer.start({
      target,
      software: "oakley 0.9.0",
      unix: { path: join(dir, "newer.sock") },
      versions: { min: 2, max: 3 },
    });
    try {
      const e = await connectErr(
        { kind: "unix", path: join(dir, "newer.sock") },
        { client: "oakley 0.1.0" },
      );
      assert.equal(e.code, ControlErrorCode.Version);
      assert.match(
        e.message,
        /client \(oakley 0\.1\.0\) speaks version 1, the daemon \(oakley 0\.9\.0\) speaks versions 2\.\.3/,
      );
      assert.match(e.message, /upgrade the management client/);
    } finally {
      await newer.close();
    }
  });

  test("a connection that never says hello is closed with a typed error and counted", async () => {
    const c2 = new Counters();
    const path = join(dir, "slow.sock");
    const srv = await ControlServer.start({
      target,
      software: "oakley 0.1.0",
      unix: { path },
      helloTimeoutMs: 200,
      counters: c2,
    });
    try {
      const got = await raw(() => net.connect(path), "");
      assert.match(got, /OAK_E_CTL_TIMEOUT.*no hello in time/);
      assert.equal(c2.get('ctl_reject{reason="hello_timeout"}'), 1n);
    } finally {
      await srv.close();
    }
  });

  test("too many connections: the extra one is told to try later", async () => {
    const small = await ControlServer.start({
      target,
      software: "oakley 0.1.0",
      unix: { path: join(dir, "small.sock") },
      maxConnections: 1,
    });
    try {
      const a = await connectOk({ kind: "unix", path: join(dir, "small.sock") });
      const e = await connectErr({ kind: "unix", path: join(dir, "small.sock") });
      assert.equal(e.code, ControlErrorCode.Busy);
      await a.close();
    } finally {
      await small.close();
    }
  });
});

// ------------------------------------------------------------------ the oakley commands

const oakley = runOakley;

describe("oakley management commands", () => {
  test("status: local daemon, and 'not running' (exit 3) when there is none", async () => {
    const r = await oakley(["status", "--socket", sock]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Mode: +protected/);
    assert.match(r.out, /IKE +udp 500 +listening/);
    const none = await oakley(["status", "--socket", join(dir, "absent.sock")]);
    assert.equal(none.code, 3);
    assert.match(none.err, /daemon is not running .*--socket PATH/);
    const j = await oakley(["status", "--socket", join(dir, "absent.sock"), "--json"]);
    assert.equal((JSON.parse(j.out) as { running: boolean }).running, false);
  });

  test("status with no daemon reports the fail-closed status file (block mode and why)", async () => {
    const { serializeFailClosedStatus } = await import("../../src/daemon/fail-closed/status.js");
    const sf = join(dir, "status.json");
    writeFileSync(
      sf,
      serializeFailClosedStatus({
        version: 1,
        mode: "block",
        reason: "cannot enter protected mode: UDP 500 is in use by charon (pid 812)",
        code: "OAK_E_PLATFORM_ADDR_IN_USE",
        since: "2026-03-01T10:00:00.000Z",
        pid: 4242,
        enforced: true,
        blockSet: "policy l2tp-ipsec-server",
      }),
    );
    const r = await oakley(["status", "--socket", join(dir, "absent.sock"), "--status-file", sf]);
    assert.equal(r.code, 3);
    assert.match(
      r.out,
      /BLOCK MODE \(fail-closed\) since 2026-03-01T10:00:00.000Z: cannot enter protected mode: UDP 500 is in use by charon/,
    );
    assert.match(r.out, /block rules enforced \(policy l2tp-ipsec-server\)/);
    const j = await oakley([
      "status",
      "--socket",
      join(dir, "absent.sock"),
      "--status-file",
      sf,
      "--json",
    ]);
    assert.equal((JSON.parse(j.out) as { failClosed: { mode: string } }).failClosed.mode, "block");
  });

  test("status through --host with a token file and --ca", async () => {
    const r = await oakley([
      "status",
      "--host",
      `127.0.0.1:${tlsPort}`,
      "--token-file",
      join(dir, "ops.token"),
      "--ca",
      join(dir, "ctl-ca.pem"),
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /as token:ops/);
  });

  test("flag mistakes name the flag and the fix (exit 2)", async () => {
    const a = await oakley(["status", "--host", "127.0.0.1"]);
    assert.equal(a.code, 2);
    assert.match(
      a.err,
      /needs authentication: give --token TOKEN, --token-file FILE, or --cert FILE --key FILE/,
    );
    const b = await oakley(["sa", "list", "--token", "x"]);
    assert.equal(b.code, 2);
    assert.match(b.err, /--token is for a remote daemon: give --host/);
    const c = await oakley(["status", "--host", "a:b:c:99999x"]);
    assert.equal(c.code, 2);
    const d = await oakley(["log", "ike", "loud", "--socket", sock]);
    assert.equal(d.code, 2);
    assert.match(d.err, /log level 'loud' is unknown; use on, off, silent/);
  });

  test("sa list: both phases, registry names, NAT-T and before/after NAT; --json", async () => {
    const r = await oakley(["sa", "list", "--socket", sock]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Main Mode SAs \(\d\)/);
    assert.match(r.out, /Quick Mode SAs \(\d\)/);
    assert.match(r.out, /MODP-2048 \(group 14/);
    assert.match(r.out, /UDP-Encapsulated-Transport \(draft\)/);
    assert.match(r.out, /198\.51\.100\.7:4500 \(before NAT 192\.168\.1\.20:500\)/);
    assert.match(r.out, /rfc3947, peer behind NAT, port 4500, UDP-encap/);
    assert.ok(!r.out.includes("268435457"));
    const j = await oakley(["sa", "list", "--socket", sock, "--json"]);
    const parsed = JSON.parse(j.out) as {
      ike: unknown[];
      child: { traffic: { bytesIn: string } }[];
    };
    assert.equal(parsed.child[0]?.traffic.bytesIn, "1048576");
  });

  test("sa delete: a Main Mode SA takes its Quick Mode SAs; unknown id is an error", async () => {
    const victim = target.ike[2]?.id ?? "";
    const r = await oakley(["sa", "delete", victim, "--socket", sock]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /deleted Main Mode SA .* and its Quick Mode SAs: qm-c1a00003/s);
    assert.ok(!target.ike.some((s) => s.id === victim));
    const e = await oakley(["sa", "delete", "mm-nope", "--socket", sock]);
    assert.equal(e.code, 1);
    assert.match(e.err, /OAK_E_CTL_NOT_FOUND/);
  });

  test("log ike on|off changes the daemon's level at runtime", async () => {
    let r = await oakley(["log", "ike", "on", "--socket", sock]);
    assert.equal(r.code, 0, r.err);
    assert.equal(target.levels.get("ike"), "debug");
    assert.match(r.out, /ike logging is now at level debug/);
    r = await oakley(["log", "ike", "off", "--socket", sock]);
    assert.equal(target.levels.get("ike"), "info");
    r = await oakley(["log", "natt", "warn", "--socket", sock]);
    assert.equal(target.levels.get("natt"), "warn");
    r = await oakley(["log", "--socket", sock, "--json"]);
    assert.equal((JSON.parse(r.out) as Record<string, string>).natt, "warn");
  });

  test("policy add --persistent through the daemon; policy show lists persistent first", async () => {
    const doc = structuredClone(defaultServerPolicy()) as unknown as Record<string, unknown>;
    doc.name = "site-baseline";
    doc.description = "applied before anything else";
    writeFileSync(join(dir, "baseline.json"), JSON.stringify(doc));
    const r = await oakley([
      "policy",
      "add",
      "--file",
      join(dir, "baseline.json"),
      "--persistent",
      "--order",
      "1",
      "--socket",
      sock,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /added policy 'site-baseline' \(persistent, order 1\) in daemon at unix:/);
    // the daemon's store has it (a live change, not a file written behind its back)
    const p = store.policies.get("site-baseline");
    assert.ok(p.ok && p.value.persistent);
    const show = await oakley(["policy", "show", "--socket", sock]);
    assert.equal(show.code, 0, show.err);
    const iPers = show.out.indexOf("Persistent policies");
    const iBase = show.out.indexOf("site-baseline");
    const iAssigned = show.out.indexOf("Assigned policy");
    assert.ok(iPers < iBase && iBase < iAssigned, show.out);
    assert.match(show.out, /main mode offer: AES-CBC-\d+ \/ SHA/);
    assert.match(show.out, /1\. site-baseline\/.* \(persistent\)/);
    const j = JSON.parse((await oakley(["policy", "show", "--json", "--socket", sock])).out) as {
      persistent: { name: string }[];
    };
    assert.deepEqual(
      j.persistent.map((x) => x.name),
      ["site-baseline"],
    );
  });

  test("a policy from a newer Oakley is marked read-only and editing it is refused with the store's message", async () => {
    const l = await oakley(["policy", "list", "--socket", sock]);
    assert.match(l.out, /from-newer .*\[read-only: unknown extensions .*\/certificateMapping/);
    const doc = structuredClone(defaultServerPolicy()) as unknown as Record<string, unknown>;
    doc.name = "from-newer";
    writeFileSync(join(dir, "edit.json"), JSON.stringify(doc));
    const e = await oakley([
      "policy",
      "edit",
      "from-newer",
      "--file",
      join(dir, "edit.json"),
      "--socket",
      sock,
    ]);
    assert.equal(e.code, 1);
    assert.match(
      e.err,
      /cannot change policy 'from-newer': policy 'from-newer' was written by a newer Oakley .*\[OAK_E_POLICY_NEWER_OBJECT\]/,
    );
    const rm = await oakley(["policy", "remove", "from-newer", "--socket", sock]);
    assert.equal(rm.code, 1);
    assert.match(rm.err, /OAK_E_POLICY_NEWER_OBJECT/);
  });

  test("invalid policy documents list each issue", async () => {
    writeFileSync(join(dir, "bad.yaml"), "name: bad\nmainMode:\n  offers: []\nrules: []\n");
    const r = await oakley(["policy", "add", "--file", join(dir, "bad.yaml"), "--socket", sock]);
    assert.equal(r.code, 1);
    assert.match(r.err, /OAK_E_POLICY_INVALID/);
    assert.match(r.err, /\n {2}(mainMode\.offers|rules)/);
  });

  test("users add/passwd/remove via the daemon; users on the store file when no daemon runs", async () => {
    let r = await oakley(
      ["users", "add", "alice", "--password-stdin", "--socket", sock],
      "correct horse battery\n",
    );
    assert.equal(r.code, 0, r.err);
    r = await oakley(["users", "list", "--socket", sock]);
    assert.match(r.out, /alice +yes +MS-CHAPv2|alice +yes +.*MS-CHAP/i);
    r = await oakley([
      "users",
      "passwd",
      "alice",
      "--password",
      "another long one",
      "--socket",
      sock,
    ]);
    assert.equal(r.code, 0, r.err);
    r = await oakley(["users", "add", "bob", "--socket", sock]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--password-stdin/);
    r = await oakley(["users", "remove", "alice", "--socket", sock]);
    assert.equal(r.code, 0, r.err);

    // No daemon at this socket: store commands work on --store directly.
    const other = join(dir, "offline.db");
    const made = createDefaultStore(other, (n) => randomBytes(n));
    assert.ok(made.ok);
    made.value.store.close();
    r = await oakley([
      "users",
      "add",
      "carol",
      "--password",
      "long enough pw",
      "--socket",
      join(dir, "absent.sock"),
      "--store",
      other,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /in store .*offline\.db/);
    r = await oakley(["policy", "list", "--store", other, "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.ok(
      (JSON.parse(r.out) as { name: string }[]).some((p) => p.name === "l2tp-ipsec-server"),
    );
  });

  test("policy assign / persistent / get on the store file", async () => {
    const file = join(dir, "offline2.db");
    const made = createDefaultStore(file, (n) => randomBytes(n));
    assert.ok(made.ok);
    made.value.store.close();
    const doc = structuredClone(defaultServerPolicy()) as unknown as Record<string, unknown>;
    doc.name = "second";
    writeFileSync(join(dir, "second.yaml"), JSON.stringify(doc));
    const off = ["--store", file];
    let r = await oakley(["policy", "add", "--file", join(dir, "second.yaml"), ...off]);
    assert.equal(r.code, 0, r.err);
    r = await oakley(["policy", "assign", "second", ...off]);
    assert.equal(r.code, 0, r.err);
    r = await oakley(["policy", "persistent", "l2tp-ipsec-server", "on", "--order", "3", ...off]);
    assert.equal(r.code, 0, r.err);
    r = await oakley(["policy", "list", ...off, "--json"]);
    const l = JSON.parse(r.out) as {
      name: string;
      assigned: boolean;
      persistent: boolean;
      persistentOrder: number;
    }[];
    assert.deepEqual(l.map((p) => [p.name, p.assigned, p.persistent, p.persistentOrder]).sort(), [
      ["l2tp-ipsec-server", false, true, 3],
      ["second", true, false, 0],
    ]);
    r = await oakley(["policy", "get", "second", ...off]);
    assert.match(
      r.out,
      /^second - .*\n {2}main mode offer: AES-CBC-256 \/ SHA2-256 \/ ECP-384 \(group 20\)\n/,
    );
    assert.match(r.out, /quick mode offer: ESP_AES-GCM_16-256 \/ none \(combined mode\)/);
    r = await oakley(["policy", "assign", ...off]);
    assert.equal(r.code, 2);
    assert.match(r.err, /give a policy NAME, or --none/);
    r = await oakley(["policy", "get", "nope", ...off]);
    assert.equal(r.code, 1);
    assert.match(r.err, /there is no policy named 'nope' \[OAK_E_POLICY_NOT_FOUND\]/);
  });

  test("policy fips: set through the daemon (live store) and on a store file; policy show says it; other settings kept", async () => {
    let r = await oakley(["policy", "fips", "policy-only", "--socket", sock]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /FIPS mode in the store is now policy-only \(daemon at unix:/);
    const s = store.settings();
    assert.ok(s.ok);
    assert.equal(s.value.value?.fips, "policy-only");
    r = await oakley(["policy", "show", "--socket", sock]);
    assert.match(r.out, /^FIPS mode \(store setting.*\): policy-only$/m);
    r = await oakley(["policy", "fips", "off", "--socket", sock]);
    assert.equal(r.code, 0, r.err);
    const off = store.settings();
    assert.ok(off.ok);
    assert.equal(off.value.value?.fips, undefined, "off is not written");

    const file = join(dir, "offline-fips.db");
    const made = createDefaultStore(file, (n) => randomBytes(n));
    assert.ok(made.ok);
    made.value.store.putInTxn("settings", { natPolicy: 2 }, "upsert");
    made.value.store.close();
    r = await oakley(["policy", "fips", "provider", "--store", file]);
    assert.equal(r.code, 0, r.err);
    r = await oakley(["policy", "show", "--store", file, "--json"]);
    assert.equal((JSON.parse(r.out) as { fips: string }).fips, "provider");
    r = await oakley(["policy", "export", "--store", file]);
    assert.match(r.out, /natPolicy: 2/, "the other settings are kept");
    r = await oakley(["policy", "fips", "strict", "--store", file]);
    assert.equal(r.code, 2);
    assert.match(r.err, /'strict' must be off, policy-only or provider/);
  });

  test("policy radius: RADIUS servers kept in the store (through the daemon), shown by policy show, checked, removed", async () => {
    let r = await oakley([
      "policy",
      "radius",
      "--server",
      "192.0.2.10",
      "--server",
      "192.0.2.11:1645",
      "--secret-file",
      "/etc/oakley/radius.secret",
      "--interim-interval",
      "300",
      "--socket",
      sock,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /RADIUS in the store is now 192\.0\.2\.10, 192\.0\.2\.11:1645/);
    const s = store.settings();
    assert.ok(s.ok);
    assert.deepEqual(s.value.value?.radius, {
      servers: ["192.0.2.10", "192.0.2.11:1645"],
      secretFile: "/etc/oakley/radius.secret",
      interimInterval: 300,
    });
    r = await oakley(["policy", "show", "--socket", sock]);
    assert.match(
      r.out,
      /^RADIUS \(store setting.*\): 192\.0\.2\.10, 192\.0\.2\.11:1645, secret in \/etc\/oakley\/radius\.secret, Interim-Update every 300 s$/m,
    );
    // The store refuses what serve could not use, naming the field.
    r = await oakley([
      "policy",
      "radius",
      "--server",
      "192.0.2.10",
      "--secret-file",
      "/etc/oakley/radius.secret",
      "--interim-interval",
      "30",
      "--socket",
      sock,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /radius\.interimInterval/);
    r = await oakley(["policy", "radius", "--server", "192.0.2.10", "--socket", sock]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--secret-file FILE/);
    r = await oakley(["policy", "radius", "off", "--socket", sock]);
    assert.equal(r.code, 0, r.err);
    const off = store.settings();
    assert.ok(off.ok);
    assert.equal(off.value.value?.radius, undefined);
  });

  test("control token: printed once, only the hash stored, and it opens the TLS port", async () => {
    const file = join(dir, "tokens");
    const r = await oakley(["control", "token", "laptop", "--tokens-file", file]);
    assert.equal(r.code, 0, r.err);
    const tok = r.out.trim();
    assert.match(tok, /^oak1_/);
    const stored = readFileSync(file, "utf8");
    assert.ok(!stored.includes(tok));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const dup = await oakley(["control", "token", "laptop", "--tokens-file", file]);
    assert.equal(dup.code, 2);
    const { parseTokenFile } = await import("../../src/control/index.js");
    const recs = parseTokenFile(stored);
    assert.ok(recs.ok);
    const srv = await ControlServer.start({
      target,
      software: "oakley 0.1.0",
      tls: {
        host: "127.0.0.1",
        port: 0,
        key: pem("server.key"),
        cert: pem("server.pem"),
        tokens: recs.value,
      },
    });
    try {
      const c = await connectOk(tlsEp({ port: srv.tlsAddress?.port ?? 0, token: tok }));
      assert.equal(c.hello.identity, "token:laptop");
      await c.close();
    } finally {
      await srv.close();
    }
  });

  test("policy export redacts secrets; import round-trips through the daemon", async () => {
    const ex = await oakley(["policy", "export", "--socket", sock]);
    assert.equal(ex.code, 0, ex.err);
    assert.match(ex.out, /format: oakley-policy-store|format:/);
    assert.match(ex.out, /<redacted>/);
    writeFileSync(join(dir, "export.yaml"), ex.out);
    // importing the same (redacted) export changes nothing that was redacted
    const im = await oakley([
      "policy",
      "import",
      join(dir, "export.yaml"),
      "--socket",
      sock,
      "--json",
    ]);
    assert.equal(im.code, 0, im.err);
    const sum = JSON.parse(im.out) as { created: number; deleted: number };
    assert.equal(sum.created, 0);
    assert.equal(sum.deleted, 0);
  });
});
