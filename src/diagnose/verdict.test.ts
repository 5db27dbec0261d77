import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  explainWindowsErrors,
  formatReport,
  type MainModeObservation,
  natRule,
  type Observations,
  report,
  type StepId,
  verdicts,
} from "./verdict.js";
import { WINDOWS_ERRORS } from "./windows-errors.js";

const SERVER = "198.51.100.2";
const MM2 = {
  kind: "answered" as const,
  reply: { vendorIds: ["RFC 3947", "DPD"], chosen: "AES-CBC-256/SHA2-256/MODP-2048 (group 14)" },
};
const NAT_CLIENT = { localBehindNat: true, peerBehindNat: false, method: "rfc3947" as const };
const UP: MainModeObservation = {
  reached: "mm6",
  nat: NAT_CLIENT,
  peerId: SERVER,
  suite: "AES-CBC-256/SHA2-256/MODP-2048 pre-shared key",
};

/** Everything fine: the healthy case, from which each test changes one thing. */
function healthy(): Observations {
  return {
    server: SERVER,
    udp500: MM2,
    udp4500: MM2,
    mainMode: UP,
    pskGiven: true,
    user: "alice",
    quickMode: { up: true, suite: "ESP AES-GCM-16-256", udpEncap: true },
    l2tp: { up: true, waitedMs: 3000 },
    ppp: { outcome: "ok", method: "MS-CHAPv2" },
    mtu: { pathMtu: 1500, pppMtu: 1400, innerMax: 1418 },
  };
}

function by(o: Observations): Record<StepId, { status: string; reason?: string }> {
  return Object.fromEntries(
    verdicts(o).map((s) => [
      s.id,
      { status: s.status, ...(s.reason !== undefined ? { reason: s.reason } : {}) },
    ]),
  ) as Record<StepId, { status: string; reason?: string }>;
}

function likely(o: Observations): number[] {
  return report(o)
    .windowsErrors.filter((e) => e.status === "likely")
    .map((e) => e.code)
    .sort((a, b) => a - b);
}

describe("diagnose verdicts", () => {
  it("the healthy case: every step passes, ok, every Windows error not tied to a setting is cleared", () => {
    const r = report(healthy());
    assert.equal(r.ok, true);
    assert.ok(r.steps.every((s) => s.status === "pass"));
    const st = Object.fromEntries(r.windowsErrors.map((e) => [e.code, e.status]));
    assert.deepEqual(st, {
      809: "cleared",
      789: "cleared",
      788: "cleared",
      691: "cleared",
      741: "open",
      768: "open",
      13801: "open",
      13806: "open",
    });
    // 741 stays open only for its Windows-side setting: the Quick Mode cause is cleared.
    const e741 = r.windowsErrors.find((e) => e.code === 741)!;
    assert.equal(e741.causes.length, 1);
    assert.match(e741.causes[0]!, /data encryption setting/);
  });

  it("UDP 500: ICMP unreachable, silence and a local error are told apart; later steps skip", () => {
    const un = by({ ...healthy(), udp500: { kind: "unreachable", detail: "ECONNREFUSED" } });
    assert.deepEqual(un.udp500, { status: "fail", reason: "unreachable" });
    const quiet = by({
      server: SERVER,
      udp500: { kind: "no-answer", waitedMs: 3000 },
      pskGiven: true,
      mtu: { pppMtu: 1400 },
    });
    assert.deepEqual(quiet.udp500, { status: "fail", reason: "no-answer" });
    for (const s of ["nat", "udp4500", "psk", "esp", "mtu", "ppp"] as const)
      assert.equal(quiet[s].status, "skip", s);
    assert.deepEqual(
      likely({
        server: SERVER,
        udp500: { kind: "no-answer", waitedMs: 1 },
        pskGiven: false,
        mtu: { pppMtu: 1400 },
      }),
      [809],
      "silence on UDP 500 is not a proposal problem (789)",
    );
  });

  it("UDP 500 answered with NO-PROPOSAL-CHOSEN: fail, 789 likely, hint names --allow-legacy", () => {
    const o: Observations = {
      server: SERVER,
      udp500: { kind: "answered", reply: { vendorIds: [], notify: "NO-PROPOSAL-CHOSEN" } },
      pskGiven: true,
      mtu: { pppMtu: 1400 },
    };
    const s = verdicts(o)[0]!;
    assert.equal(s.reason, "refused-proposal");
    assert.match(s.hint ?? "", /--allow-legacy/);
    assert.deepEqual(likely(o), [789]);
  });

  it("NAT layouts give the Windows AssumeUDPEncapsulationContextOnSendRule and --nat-policy", () => {
    assert.equal(natRule({ localBehindNat: false, peerBehindNat: false }), 0);
    assert.equal(natRule({ localBehindNat: true, peerBehindNat: false }), 0);
    assert.equal(natRule({ localBehindNat: false, peerBehindNat: true }), 1);
    assert.equal(natRule({ localBehindNat: true, peerBehindNat: true }), 2);
    const both = verdicts({
      ...healthy(),
      mainMode: { ...UP, nat: { localBehindNat: true, peerBehindNat: true, method: "rfc3947" } },
    }).find((s) => s.id === "nat")!;
    assert.equal(both.data?.windowsAssumeUdpEncapsulationContextOnSendRule, 2);
    assert.match(both.hint ?? "", /AssumeUDPEncapsulationContextOnSendRule to 2/);
    assert.match(both.hint ?? "", /--nat-policy 2/);
    assert.equal(both.reason, "server-behind-nat");
    assert.deepEqual(
      likely({
        ...healthy(),
        mainMode: { ...UP, nat: { localBehindNat: true, peerBehindNat: true, method: "rfc3947" } },
      }),
      [809],
      "a server behind NAT is a likely 809 for Windows at its default setting",
    );
  });

  it("a server behind a port forward with Windows-friendly NAT-D is recognised by its identity", () => {
    const n = verdicts({
      ...healthy(),
      server: "198.51.100.130",
      mainMode: { ...UP, peerId: "192.0.2.130" },
    }).find((s) => s.id === "nat")!;
    assert.equal(n.status, "pass");
    assert.equal(n.data?.serverBehindPortForward, true);
    assert.equal(n.data?.windowsAssumeUdpEncapsulationContextOnSendRule, 0);
    // An FQDN identity is no evidence of a port forward.
    const fqdn = verdicts({ ...healthy(), mainMode: { ...UP, peerId: "vpn.example.com" } }).find(
      (s) => s.id === "nat",
    )!;
    assert.equal(fqdn.data?.serverBehindPortForward, false);
  });

  it("UDP 4500 silent after the float: 4500 fails, the PSK step does not blame the key", () => {
    const o: Observations = {
      ...healthy(),
      udp4500: { kind: "no-answer", waitedMs: 3000 },
      mainMode: {
        reached: "mm4",
        nat: NAT_CLIENT,
        failure: { code: "OAK_E_IKE_TIMEOUT", message: "no answer in Main Mode (I_MM5)" },
      },
    };
    delete (o as { quickMode?: unknown }).quickMode;
    const v = by(o);
    assert.deepEqual(v.udp4500, { status: "fail", reason: "no-answer" });
    assert.equal(v.psk.status, "skip");
    assert.deepEqual(likely(o), [809]);
  });

  it("UDP 4500: an answered probe or MM5/MM6 over 4500 passes; ICMP unreachable fails", () => {
    assert.equal(
      by({ ...healthy(), udp4500: { kind: "no-answer", waitedMs: 1 } }).udp4500.status,
      "pass",
    );
    const noNat: Observations = {
      ...healthy(),
      udp4500: { kind: "unreachable", detail: "ECONNREFUSED" },
      mainMode: { ...UP, nat: { localBehindNat: false, peerBehindNat: false, method: "none" } },
    };
    const s = verdicts(noNat).find((x) => x.id === "udp4500")!;
    assert.equal(s.status, "fail");
    assert.equal(s.reason, "unreachable");
    assert.match(s.hint ?? "", /every client behind NAT needs it/);
  });

  it("the PSK: refused by notify, MM6 not verifying, or silence after MM5 — each a wrong key", () => {
    const mm = (failure: { code: string; message: string }): Observations => ({
      ...healthy(),
      mainMode: { reached: "mm4", nat: NAT_CLIENT, failure },
    });
    const refused = mm({
      code: "OAK_E_IKE_PEER_NOTIFY",
      message: "198.51.100.2 refused the Main Mode: AUTHENTICATION-FAILED",
    });
    assert.deepEqual(by(refused).psk, { status: "fail", reason: "refused" });
    assert.deepEqual(likely(refused), [788, 789]);
    assert.deepEqual(
      by(
        mm({
          code: "OAK_E_IKE_PEER_NOTIFY",
          message: "x refused the Main Mode: INVALID-HASH-INFORMATION",
        }),
      ).psk,
      { status: "fail", reason: "refused" },
    );
    assert.deepEqual(
      by(mm({ code: "OAK_E_IKE_AUTH_FAILED", message: "HASH_R does not verify" })).psk,
      { status: "fail", reason: "mm6-bad" },
    );
    const silent = mm({ code: "OAK_E_IKE_TIMEOUT", message: "no answer (I_MM5)" });
    assert.deepEqual(by(silent).psk, { status: "fail", reason: "silent" });
    assert.deepEqual(likely(silent), [789], "silence is 789, not 788");
  });

  it("without a PSK or user the steps that need them are skipped (not passed), so report.ok is false", () => {
    const o: Observations = {
      server: SERVER,
      udp500: MM2,
      udp4500: MM2,
      mainMode: { reached: "mm4", nat: NAT_CLIENT },
      pskGiven: false,
      mtu: { pathMtu: 1500, pppMtu: 1400 },
    };
    const v = by(o);
    assert.equal(v.nat.status, "pass");
    assert.equal(v.psk.status, "skip");
    assert.equal(v.esp.status, "skip");
    assert.equal(v.ppp.status, "skip");
    assert.equal(v.mtu.status, "pass");
    assert.equal(report(o).ok, false);
  });

  it("ESP: plain ESP unanswered is the firewall case; Quick Mode refused is 768/741", () => {
    const plain: Observations = {
      ...healthy(),
      mainMode: { ...UP, nat: { localBehindNat: false, peerBehindNat: false, method: "none" } },
      quickMode: { up: true, suite: "ESP AES-GCM-16-256", udpEncap: false },
      l2tp: { up: false, waitedMs: 3000 },
    };
    delete (plain as { ppp?: unknown }).ppp;
    const e = verdicts(plain).find((s) => s.id === "esp")!;
    assert.equal(e.status, "fail");
    assert.equal(e.reason, "no-return");
    assert.match(e.summary, /plain ESP \(IP protocol 50\)/);
    assert.match(e.hint ?? "", /drops IP protocol 50/);
    assert.equal(by(plain).ppp.status, "skip");
    assert.deepEqual(likely(plain), [809]);
    const qm: Observations = {
      ...healthy(),
      quickMode: {
        up: false,
        udpEncap: true,
        failure: {
          code: "OAK_E_IKE_PEER_NOTIFY",
          message: "refused the Quick Mode: NO-PROPOSAL-CHOSEN",
        },
      },
    };
    delete (qm as { l2tp?: unknown }).l2tp;
    delete (qm as { ppp?: unknown }).ppp;
    assert.deepEqual(by(qm).esp, { status: "fail", reason: "qm-failed" });
    assert.deepEqual(likely(qm), [741, 768]);
  });

  it("MTU: the negotiated SA's room against the PPP MTU; an estimate without an SA", () => {
    const small = verdicts({
      ...healthy(),
      mtu: { pathMtu: 1400, pppMtu: 1400, innerMax: 1318 },
    }).find((s) => s.id === "mtu")!;
    assert.equal(small.status, "fail");
    assert.equal(small.data?.mss, 1278);
    assert.match(small.hint ?? "", /1318/);
    const est = verdicts({ ...healthy(), mtu: { pathMtu: 1500, pppMtu: 1400 } }).find(
      (s) => s.id === "mtu",
    )!;
    assert.equal(est.status, "pass");
    assert.equal(est.data?.exact, false);
    assert.equal(by({ ...healthy(), mtu: { pppMtu: 1400 } }).mtu.status, "skip");
  });

  it("MTU: an unanswered full-size DF probe is a black hole, whatever the interface says", () => {
    const v = verdicts({
      ...healthy(),
      mtu: {
        pathMtu: 1500,
        pppMtu: 1400,
        innerMax: 1418,
        bigProbe: { packetSize: 1500, answered: false },
      },
    }).find((s) => s.id === "mtu")!;
    assert.equal(v.status, "fail");
    assert.equal(v.reason, "black-hole");
    const lowered = verdicts({
      ...healthy(),
      mtu: {
        pathMtu: 1400,
        pathMtuSource: "cached path MTU",
        pppMtu: 1400,
        innerMax: 1318,
        bigProbe: { packetSize: 1500, answered: true },
      },
    }).find((s) => s.id === "mtu")!;
    assert.equal(lowered.reason, "too-small");
    assert.match(lowered.summary, /cached path MTU, a 1500-byte DF probe answered/);
  });

  it("PPP: refused is 691; a server that does not prove the password is not a pass", () => {
    const refused: Observations = {
      ...healthy(),
      ppp: { outcome: "refused", code: 691, message: "E=691 R=0" },
    };
    assert.deepEqual(by(refused).ppp, { status: "fail", reason: "refused" });
    assert.deepEqual(likely(refused), [691]);
    assert.equal(
      by({ ...healthy(), ppp: { outcome: "server-not-authenticated", message: "bad S=" } }).ppp
        .status,
      "fail",
    );
  });

  it("human output: one line per step with ✓/✗/– and the hint, then the Windows errors", () => {
    const text = formatReport(
      report({
        ...healthy(),
        udp4500: { kind: "unreachable", detail: "ECONNREFUSED" },
        mainMode: { ...UP, nat: { localBehindNat: false, peerBehindNat: false, method: "none" } },
        quickMode: { up: true, udpEncap: false },
      }),
    );
    const lines = text.split("\n");
    assert.ok(lines.some((l) => l.startsWith("✓ UDP 500 (IKE): answered")));
    assert.ok(lines.some((l) => l.startsWith("✗ UDP 4500 (NAT-T): ICMP unreachable")));
    assert.ok(lines.some((l) => l.startsWith("    → ")));
    assert.ok(lines.some((l) => /^ {2}809 .* — likely: UDP 4500/.test(l)));
  });
});

describe("Windows error table", () => {
  it("covers 809, 789, 788, 691, 741, 768, 13801, 13806, each with causes; steps named exist", () => {
    assert.deepEqual(
      WINDOWS_ERRORS.map((e) => e.code),
      [809, 789, 788, 691, 741, 768, 13801, 13806],
    );
    const ids = new Set(verdicts(healthy()).map((s) => s.id));
    for (const e of WINDOWS_ERRORS) {
      assert.ok(e.causes.length > 0, String(e.code));
      for (const c of e.causes) if (c.step) assert.ok(ids.has(c.step), `${e.code}: ${c.step}`);
    }
  });

  it("a step failing for another reason leaves the cause open, not likely or cleared", () => {
    const steps = verdicts({ ...healthy(), udp500: { kind: "error", message: "EPERM" } });
    const e809 = explainWindowsErrors(steps).find((e) => e.code === 809)!;
    assert.equal(e809.status, "open");
    assert.ok(e809.untested.includes("udp500"));
  });
});
