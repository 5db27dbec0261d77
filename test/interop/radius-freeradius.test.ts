/**
 * Interop with FreeRADIUS 3.2 (Debian 12's `freeradius`, `freeradius-utils`): Oakley's RADIUS
 * client (daemon/radius.ts RadiusService over real UDP) against the server everyone runs.
 *
 * Lab: FreeRADIUS in its own namespace `rad-fr` (198.51.100.250), a veth to the test process in
 * the host namespace (198.51.100.249/30). Its configuration is generated into a temp dir: a
 * users file with PAP, CHAP and MS-CHAPv2 users (one with Framed-IP-Address, Class, DNS),
 * clients.conf with `require_message_authenticator = yes` (FreeRADIUS refuses our requests
 * unless our Message-Authenticator is right), the detail module for accounting.
 *
 * Debian 12's FreeRADIUS 3.2.1 predates the Blast-RADIUS fix and does not put a
 * Message-Authenticator in its replies by itself; Oakley refuses such replies. The users file
 * therefore adds `Message-Authenticator = 0x00` to every reply (FreeRADIUS then computes it),
 * which is what operators of unpatched servers are told to do — and one user is left without it,
 * to show Oakley refusing an unprotected Access-Accept from a real server.
 *
 * Checked: PAP accept/reject, CHAP accept, MS-CHAPv2 accept with MS-CHAP2-Success equal to the
 * authenticator response src/ppp/mschapv2.ts computes (FreeRADIUS is the independent side),
 * Framed-IP-Address/Class/Session-Timeout/DNS returned, accounting Start/Stop read back from the
 * detail file (Gigawords, Class echoed), wrong shared secret → clear error, FreeRADIUS stopped →
 * timeout after retries (no hang) and accounting queued, then delivered when it is back,
 * Disconnect-Request from radclient to Oakley's DAE listener → ACK and the event.
 *
 * Needs root and the packages; skips otherwise. Run under the interop lock. ~30 s.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SystemClock } from "../../src/platform/clock.js";
import { systemRandom } from "../../src/platform/random.js";
import { AcctTerminateCause } from "../../src/registry/radius.js";
import { RadiusService, type RadiusServiceOptions } from "../../src/daemon/radius.js";
import type { DaeRequest } from "../../src/radius/dae.js";
import { RadiusErrorCode } from "../../src/radius/errors.js";
import { writeFreeradiusConf } from "./lib/freeradius.js";
import {
  chapMd5Response,
  generateAuthenticatorResponse,
  generateNtResponse,
} from "../../src/ppp/mschapv2.js";

const NS = "rad-fr";
const HOST_IF = "rad-h";
const NS_IF = "rad-f";
const OAK = "198.51.100.249";
const FR = "198.51.100.250";
const SECRET = "interop-Secret-7";
const DAE_PORT = 37990;

function unavailable(): string | false {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  if (!existsSync("/usr/sbin/freeradius")) {
    return "freeradius is not installed (apt-get install -y freeradius freeradius-utils)";
  }
  if (!existsSync("/usr/bin/radclient")) return "radclient is not installed (freeradius-utils)";
  return false;
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"],
    ...(input === undefined ? {} : { input }),
  });
}
/**
 * stdout and stderr of radclient in the server's namespace, asynchronously: Oakley's DAE listener
 * runs in this process and must keep answering while radclient waits (it exits 1 on no reply).
 */
function radclient(args: string[], input: string): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn("ip", ["netns", "exec", NS, "radclient", ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    p.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    p.stderr.on("data", (b: Buffer) => {
      out += b.toString();
    });
    p.on("close", () => resolve(out));
    p.stdin.end(input);
  });
}
function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
  } catch {
    // cleanup of something already gone
  }
}

function labDown(): void {
  quiet("ip", ["link", "del", HOST_IF]);
  quiet("ip", ["netns", "del", NS]);
}
function labUp(): void {
  labDown();
  sh("ip", ["netns", "add", NS]);
  sh("ip", ["link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF, "netns", NS]);
  sh("ip", ["addr", "add", `${OAK}/30`, "dev", HOST_IF]);
  sh("ip", ["link", "set", HOST_IF, "up"]);
  sh("ip", ["-n", NS, "addr", "add", `${FR}/30`, "dev", NS_IF]);
  sh("ip", ["-n", NS, "link", "set", NS_IF, "up"]);
  sh("ip", ["-n", NS, "link", "set", "lo", "up"]);
}

/** Users: the reply items end with Message-Authenticator = 0x00 (see the header). */
function usersFile(): string {
  const ma = "Message-Authenticator = 0x00";
  return `
papuser Cleartext-Password := "pap-Pass-1"
        Framed-IP-Address = 10.77.0.5,
        Framed-IP-Netmask = 255.255.255.255,
        Session-Timeout = 3600,
        Class = "oakley-class-1",
        Reply-Message = "hello pap",
        MS-Primary-DNS-Server = 198.51.100.53,
        ${ma}

chapuser Cleartext-Password := "chap-Pass-2"
        ${ma}

msuser Cleartext-Password := "ms-Pass-3"
        Framed-IP-Address = 10.77.0.9,
        ${ma}

nomauser Cleartext-Password := "noma-Pass-4"
        Reply-Message = "no Message-Authenticator here"

DEFAULT Auth-Type := Reject
        Reply-Message = "rejected",
        ${ma}
`;
}

interface Fr {
  proc: ChildProcess;
  out: string[];
}

async function startFreeradius(dir: string): Promise<Fr> {
  const proc = spawn("ip", ["netns", "exec", NS, "freeradius", "-X", "-d", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`freeradius did not start:\n${out.join("").slice(-4000)}`)),
      15_000,
    );
    const onData = (b: Buffer) => {
      out.push(b.toString());
      if (out.join("").includes("Ready to process requests")) {
        clearTimeout(t);
        resolve();
      }
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`freeradius exited (${code}):\n${out.join("").slice(-4000)}`));
    });
  });
  await ready;
  return { proc, out };
}

async function stopFreeradius(fr: Fr | undefined): Promise<void> {
  if (!fr || fr.proc.exitCode !== null) return;
  const gone = new Promise<void>((r) => fr.proc.once("exit", () => r()));
  fr.proc.kill("SIGTERM");
  await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
  if (fr.proc.exitCode === null) fr.proc.kill("SIGKILL");
}

const skip = unavailable();

describe("RADIUS client against FreeRADIUS 3.2", { skip }, () => {
  let dir = "";
  let fr: Fr | undefined;
  let svc: RadiusService | undefined;
  const clock = new SystemClock();

  function options(
    secret: string,
    over: Partial<RadiusServiceOptions["client"]> = {},
  ): RadiusServiceOptions {
    return {
      client: {
        servers: [{ address: FR, authPort: 1812, acctPort: 1813, secret: Buffer.from(secret) }],
        nasIdentifier: "oakley-interop",
        timeoutMs: 500,
        retries: 2,
        ...over,
      },
      queuePath: join(dir, `queue-${secret}.db`),
      bindAddress: OAK,
      acctRetryMinMs: 300,
      acctRetryMaxMs: 600,
      dae: {
        address: OAK,
        port: DAE_PORT,
        clients: [{ address: FR, secret: Buffer.from(secret) }],
      },
    };
  }

  before(async () => {
    labUp();
    dir = mkdtempSync(join(tmpdir(), "oakley-radius-"));
    writeFreeradiusConf({
      dir,
      listen: FR,
      clients: [{ name: "oakley", ip: OAK, secret: SECRET }],
      users: usersFile(),
    });
    fr = await startFreeradius(dir);
    const s = await RadiusService.start(options(SECRET), { clock, random: systemRandom });
    assert.ok(s.ok, s.ok ? "" : s.error.message);
    svc = s.value;
  });

  after(async () => {
    svc?.close();
    await stopFreeradius(fr);
    labDown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const service = (): RadiusService => {
    assert.ok(svc);
    return svc;
  };
  const diag = () => (fr ? fr.out.join("").slice(-3000) : "");

  it("PAP accept carries Framed-IP-Address, netmask, Session-Timeout, Class, DNS and Reply-Message", async () => {
    const r = await service().authenticate({
      userName: "papuser",
      credentials: { method: "pap", password: Buffer.from("pap-Pass-1") },
      callingStationId: "203.0.113.7",
    });
    assert.ok(r.ok, r.ok ? "" : `${r.error.code}: ${r.error.message}\n${diag()}`);
    assert.equal(r.value.kind, "accept", diag());
    if (r.value.kind !== "accept") return;
    assert.equal(r.value.framedIpAddress, "10.77.0.5");
    assert.equal(r.value.framedIpNetmask, "255.255.255.255");
    assert.equal(r.value.sessionTimeout, 3600);
    assert.deepEqual(r.value.dnsServers, ["198.51.100.53"]);
    assert.deepEqual(
      r.value.classes.map((c) => Buffer.from(c).toString()),
      ["oakley-class-1"],
    );
    assert.equal(r.value.replyMessage, "hello pap");
  });

  it("PAP with a wrong password is rejected", async () => {
    const r = await service().authenticate({
      userName: "papuser",
      credentials: { method: "pap", password: Buffer.from("wrong") },
    });
    assert.ok(r.ok, r.ok ? "" : `${r.error.code}: ${r.error.message}\n${diag()}`);
    assert.equal(r.value.kind, "reject");
  });

  it("CHAP-MD5 accept", async () => {
    const challenge = systemRandom.bytes(16);
    const identifier = 0x33;
    const response = chapMd5Response(identifier, Buffer.from("chap-Pass-2"), challenge);
    const r = await service().authenticate({
      userName: "chapuser",
      credentials: { method: "chap-md5", identifier, challenge, response },
    });
    assert.ok(r.ok, r.ok ? "" : `${r.error.code}: ${r.error.message}\n${diag()}`);
    assert.equal(r.value.kind, "accept", diag());
  });

  it("MS-CHAPv2 accept: FreeRADIUS's MS-CHAP2-Success equals the authenticator response Oakley computes", async () => {
    const authenticatorChallenge = systemRandom.bytes(16);
    const peerChallenge = systemRandom.bytes(16);
    const ntResponse = generateNtResponse(
      authenticatorChallenge,
      peerChallenge,
      "msuser",
      "ms-Pass-3",
    );
    const identifier = 0x5c;
    const r = await service().authenticate({
      userName: "msuser",
      credentials: {
        method: "mschapv2",
        identifier,
        authenticatorChallenge,
        peerChallenge,
        ntResponse,
      },
    });
    assert.ok(r.ok, r.ok ? "" : `${r.error.code}: ${r.error.message}\n${diag()}`);
    assert.equal(r.value.kind, "accept", diag());
    if (r.value.kind !== "accept") return;
    const expected = generateAuthenticatorResponse(
      "ms-Pass-3",
      ntResponse,
      peerChallenge,
      authenticatorChallenge,
      "msuser",
    );
    assert.deepEqual(r.value.mschap2Success, {
      identifier,
      authenticatorResponse: `S=${expected.toString("hex").toUpperCase()}`,
    });
    assert.equal(r.value.framedIpAddress, "10.77.0.9");
  });

  it("MS-CHAPv2 with a wrong password is rejected with MS-CHAP-Error", async () => {
    const ac = systemRandom.bytes(16);
    const pc = systemRandom.bytes(16);
    const r = await service().authenticate({
      userName: "msuser",
      credentials: {
        method: "mschapv2",
        identifier: 1,
        authenticatorChallenge: ac,
        peerChallenge: pc,
        ntResponse: generateNtResponse(ac, pc, "msuser", "not-it"),
      },
    });
    assert.ok(r.ok, r.ok ? "" : `${r.error.code}: ${r.error.message}\n${diag()}`);
    assert.equal(r.value.kind, "reject");
    if (r.value.kind === "reject") assert.match(r.value.mschapError ?? "", /E=691/);
  });

  it("Blast-RADIUS: an Access-Accept from the real server without Message-Authenticator is refused", async () => {
    const r = await service().authenticate({
      userName: "nomauser",
      credentials: { method: "pap", password: Buffer.from("noma-Pass-4") },
    });
    assert.equal(r.ok, false, "an unprotected Accept must not log the user in");
    if (!r.ok) {
      assert.equal(r.error.code, RadiusErrorCode.MissingMessageAuthenticator);
      assert.match(r.error.message, /Message-Authenticator/);
    }
  });

  it("accounting Start and Stop arrive in FreeRADIUS's detail file, Gigawords and Class included", async () => {
    const s = service();
    const now = Date.now();
    const common = {
      sessionId: "oak-sess-42",
      userName: "papuser",
      framedIpAddress: "10.77.0.5",
      callingStationId: "203.0.113.7",
      classes: [Buffer.from("oakley-class-1")],
    };
    assert.ok(s.account({ ...common, status: "start", eventTime: now }).ok);
    assert.ok(
      s.account({
        ...common,
        status: "stop",
        eventTime: now + 1,
        sessionTime: 61,
        inputOctets: (2n << 32n) + 1000n,
        outputOctets: 5000n,
        inputPackets: 10n,
        outputPackets: 20n,
        terminateCause: AcctTerminateCause.UserRequest,
      }).ok,
    );
    const detail = join(dir, "acct", "detail");
    const text = await waitFor(() => {
      const t = existsSync(detail) ? readFileSync(detail, "utf8") : "";
      return /Acct-Status-Type = Stop/.test(t) ? t : undefined;
    }, 10_000);
    assert.ok(text, `no Stop in ${detail}\n${diag()}`);
    const start = text.indexOf("Acct-Status-Type = Start");
    const stop = text.indexOf("Acct-Status-Type = Stop");
    assert.ok(start >= 0 && start < stop, "Start before Stop");
    const stopRecord = text.slice(stop);
    assert.match(stopRecord, /Acct-Session-Id = "oak-sess-42"/);
    assert.match(stopRecord, /Acct-Input-Octets = 1000/);
    assert.match(stopRecord, /Acct-Input-Gigawords = 2/);
    assert.match(stopRecord, /Acct-Output-Octets = 5000/);
    assert.match(stopRecord, /Acct-Session-Time = 61/);
    assert.match(stopRecord, /Acct-Terminate-Cause = User-Request/);
    assert.match(stopRecord, /Class = 0x6f616b6c65792d636c6173732d31/);
    assert.match(stopRecord, /NAS-Identifier = "oakley-interop"/);
    assert.equal(s.queued(), 0);
  });

  it("wrong shared secret: a clear error naming the secret, after retries, no hang", async () => {
    const q = mkdtempSync(join(tmpdir(), "oakley-radius-q-"));
    const wrong = await RadiusService.start(
      { client: options("not-the-secret").client, queuePath: join(q, "q.db"), bindAddress: OAK },
      { clock, random: systemRandom },
    );
    assert.ok(wrong.ok);
    const t0 = Date.now();
    const r = await wrong.value.authenticate({
      userName: "papuser",
      credentials: { method: "pap", password: Buffer.from("pap-Pass-1") },
    });
    wrong.value.close();
    rmSync(q, { recursive: true, force: true });
    assert.equal(r.ok, false);
    if (!r.ok) {
      // FreeRADIUS drops requests whose Message-Authenticator fails, so no reply comes at all.
      assert.equal(r.error.code, RadiusErrorCode.Timeout);
      assert.match(r.error.message, /secret/);
      assert.doesNotMatch(r.error.message, /not-the-secret|interop-Secret/);
    }
    const took = Date.now() - t0;
    assert.ok(took >= 1400 && took < 5000, `three tries 500 ms apart, took ${took} ms`);
    assert.match(diag(), /[Ss]hared secret is incorrect|invalid Message-Authenticator/);
  });

  it("RADIUS down: authentication times out after retries; accounting is queued and delivered when it returns", async () => {
    const s = service();
    await stopFreeradius(fr);
    const r = await s.authenticate({
      userName: "papuser",
      credentials: { method: "pap", password: Buffer.from("pap-Pass-1") },
    });
    assert.equal(r.ok ? "answered" : r.error.code, RadiusErrorCode.Timeout);
    const now = Date.now();
    assert.ok(
      s.account({ status: "start", sessionId: "oak-outage", userName: "papuser", eventTime: now })
        .ok,
    );
    assert.ok(
      s.account({
        status: "stop",
        sessionId: "oak-outage",
        userName: "papuser",
        eventTime: now,
        sessionTime: 3,
      }).ok,
    );
    await sleep(2500);
    assert.equal(s.queued(), 2, "both records wait in the queue");
    fr = await startFreeradius(dir);
    const detail = join(dir, "acct", "detail");
    const text = await waitFor(() => {
      const t = readFileSync(detail, "utf8");
      return t.includes('Acct-Session-Id = "oak-outage"') && s.queued() === 0 ? t : undefined;
    }, 15_000);
    assert.ok(text, `queued accounting not delivered (queued ${s.queued()})\n${diag()}`);
    const outage = text.slice(text.indexOf('"oak-outage"') - 400);
    assert.ok(
      outage.indexOf("Acct-Status-Type = Start") < outage.indexOf("Acct-Status-Type = Stop"),
      "in order",
    );
    assert.match(outage, /Acct-Delay-Time = [1-9]/);
  });

  it("Disconnect-Request from radclient reaches Oakley's DAE listener: ACK and the event", async () => {
    const s = service();
    const seen: DaeRequest[] = [];
    s.onDynamicAuthorization((req) => {
      seen.push(req);
      return { ack: true };
    });
    const out = await radclient(
      ["-x", "-r", "2", "-t", "2", `${OAK}:${DAE_PORT}`, "disconnect", SECRET],
      'User-Name = "papuser"\nAcct-Session-Id = "oak-sess-42"\nMessage-Authenticator = 0x00\n',
    );
    assert.match(out, /Disconnect-ACK/, out);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.kind, "disconnect");
    assert.equal(seen[0]?.userName, "papuser");
    assert.equal(seen[0]?.acctSessionId, "oak-sess-42");
  });

  it("a Disconnect-Request with the wrong secret gets no answer and no event", async () => {
    const s = service();
    let events = 0;
    s.onDynamicAuthorization(() => {
      events++;
      return { ack: true };
    });
    const out = await radclient(
      ["-x", "-r", "1", "-t", "1", `${OAK}:${DAE_PORT}`, "disconnect", "guessed"],
      'User-Name = "papuser"\nMessage-Authenticator = 0x00\n',
    );
    assert.match(out, /Sent Disconnect-Request/, out);
    assert.doesNotMatch(out, /Disconnect-ACK|Disconnect-NAK/);
    assert.equal(events, 0);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor<T>(f: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = f();
    if (v !== undefined) return v;
    await sleep(100);
  }
  return undefined;
}
