/**
 * `oakley diagnose`: what was observed on the path to a server (`Observations`, gathered by
 * run.ts) turned into one verdict per step with a hint (`verdicts`), and the Windows error
 * table applied to those verdicts (`explainWindowsErrors`). Pure: no I/O, so every verdict is
 * unit-tested (verdict.test.ts).
 *
 * Steps, in order: UDP 500 (a real MM1), NAT (NAT-D of a full MM1–MM4), UDP 4500 (an MM1 with
 * the non-ESP marker, and the float), pre-shared key (MM5/MM6), ESP (Quick Mode, then an L2TP
 * SCCRQ through the SA), MTU (ESP-in-UDP overhead of the negotiated SA against the path MTU),
 * PPP authentication. A step that could not run is "skip" (–), never a pass.
 */
import { WINDOWS_ERRORS, type WindowsErrorEntry } from "./windows-errors.js";

export type StepId = "udp500" | "nat" | "udp4500" | "psk" | "esp" | "mtu" | "ppp";
export type StepStatus = "pass" | "fail" | "skip";

export interface StepResult {
  readonly id: StepId;
  readonly title: string;
  readonly status: StepStatus;
  readonly summary: string;
  /** Which way it went, for the Windows table and scripts (e.g. "no-answer", "refused"). */
  readonly reason?: string;
  /** What to do (or what it means), when there is something to say. */
  readonly hint?: string;
  /** Facts for `--json` (NAT sides, the Windows rule, MTU numbers...). */
  readonly data?: Readonly<Record<string, string | number | boolean | readonly string[]>>;
}

export interface ProbeReply {
  /** Vendor IDs of the answer, by name (registry/vendor-ids.ts). */
  readonly vendorIds: readonly string[];
  /** The phase-1 transform the server chose, e.g. "AES-CBC-256/SHA2-256/MODP-2048". */
  readonly chosen?: string;
  /** An error notify instead of MM2, by name (e.g. "NO-PROPOSAL-CHOSEN"). */
  readonly notify?: string;
  /** The answer did not parse as ISAKMP (the reason). */
  readonly malformed?: string;
}

/** One connected-UDP probe: an answer, ICMP unreachable (ECONNREFUSED), silence, or a local error. */
export type ProbeOutcome =
  | { readonly kind: "answered"; readonly reply: ProbeReply }
  | { readonly kind: "unreachable"; readonly detail: string }
  | { readonly kind: "no-answer"; readonly waitedMs: number }
  | { readonly kind: "error"; readonly message: string };

export interface MainModeObservation {
  /** The last Main Mode message the server answered: MM2, MM4, or MM6 (phase 1 up). */
  readonly reached: "none" | "mm2" | "mm4" | "mm6";
  /** NAT-D as seen after MM4. */
  readonly nat?: {
    readonly localBehindNat: boolean;
    readonly peerBehindNat: boolean;
    readonly method: "none" | "rfc3947" | "draft";
  };
  /** The server's phase-1 identity (after MM6). */
  readonly peerId?: string;
  readonly suite?: string;
  /** Why Main Mode ended early (engine code and text). */
  readonly failure?: { readonly code: string; readonly message: string };
}

export interface Observations {
  /** The server's address (as dialled, after name resolution). */
  readonly server: string;
  readonly udp500: ProbeOutcome;
  /** Undefined when not probed (UDP 500 already failed). */
  readonly udp4500?: ProbeOutcome;
  /** Undefined when not attempted. */
  readonly mainMode?: MainModeObservation;
  /** The full exchange could not start here (UDP 500/4500 in use, not root): why. */
  readonly setupError?: string;
  readonly pskGiven: boolean;
  readonly user?: string;
  readonly quickMode?: {
    readonly up: boolean;
    readonly suite?: string;
    /** ESP-in-UDP (NAT-T) rather than plain ESP. */
    readonly udpEncap: boolean;
    readonly failure?: { readonly code: string; readonly message: string };
  };
  /** Whether the L2TP SCCRQ sent through the SA got its SCCRP back. */
  readonly l2tp?: { readonly up: boolean; readonly waitedMs: number };
  readonly ppp?:
    | { readonly outcome: "ok"; readonly method: string }
    | { readonly outcome: "refused"; readonly code?: number; readonly message: string }
    | { readonly outcome: "server-not-authenticated"; readonly message: string }
    | { readonly outcome: "no-answer"; readonly message: string };
  readonly mtu: {
    /** The outer path MTU (interface or cached path MTU to the server), when known. */
    readonly pathMtu?: number;
    readonly pathMtuSource?: string;
    /** PPP MTU Oakley uses (oakley connect: 1400). */
    readonly pppMtu: number;
    /** Largest inner IP packet that fits one ESP packet of the negotiated SA, when there is one. */
    readonly innerMax?: number;
    /**
     * A full-size MM1 (IP packet of `packetSize` octets, DF set) sent after the small one was
     * answered: whether it got an answer too.
     */
    readonly bigProbe?: { readonly packetSize: number; readonly answered: boolean };
  };
}

const TITLES: Record<StepId, string> = {
  udp500: "UDP 500 (IKE)",
  nat: "NAT detection",
  udp4500: "UDP 4500 (NAT-T)",
  psk: "pre-shared key (Main Mode)",
  esp: "ESP through the path",
  mtu: "path MTU",
  ppp: "PPP authentication",
};

/**
 * ESP-in-UDP beyond the inner packet with AES-GCM-16 (our first phase-2 offer) at worst
 * padding, when no SA was negotiated: UDP 8, ESP header 8, IV 8, padding 3, trailer 2, ICV 16.
 */
const ESTIMATED_ESP_OVERHEAD = 8 + 8 + 8 + 3 + 2 + 16;
/** UDP (8) + L2TP data header (8) + PPP (4) in front of the inner packet. */
const L2TP_HEAD = 20;

function step(
  id: StepId,
  status: StepStatus,
  summary: string,
  hint?: string,
  data?: StepResult["data"],
  reason?: string,
): StepResult {
  return {
    id,
    title: TITLES[id],
    status,
    summary,
    ...(reason !== undefined ? { reason } : {}),
    ...(hint !== undefined ? { hint } : {}),
    ...(data !== undefined ? { data } : {}),
  };
}

const AUTH_NOTIFIES =
  /AUTHENTICATION-FAILED|INVALID-HASH-INFORMATION|INVALID-ID-INFORMATION|INVALID-KEY-INFORMATION|INVALID-SIGNATURE/;

function udp500Step(o: Observations): StepResult {
  const p = o.udp500;
  switch (p.kind) {
    case "unreachable":
      return step(
        "udp500",
        "fail",
        `ICMP unreachable (${p.detail}): nothing listens on UDP 500 at ${o.server}`,
        "the server is not running, listens on another address, or a firewall rejects UDP 500",
        undefined,
        "unreachable",
      );
    case "no-answer":
      return step(
        "udp500",
        "fail",
        `no answer to MM1 in ${(p.waitedMs / 1000).toFixed(1)} s`,
        "UDP 500 is dropped on the way (firewall, provider) or the server is down; open UDP 500 to the server",
        undefined,
        "no-answer",
      );
    case "error":
      return step(
        "udp500",
        "fail",
        `could not probe: ${p.message}`,
        undefined,
        undefined,
        "probe-error",
      );
    case "answered": {
      const r = p.reply;
      const vids = r.vendorIds.length > 0 ? `; vendor IDs: ${r.vendorIds.join(", ")}` : "";
      const data = { vendorIds: r.vendorIds, ...(r.chosen ? { chosen: r.chosen } : {}) };
      if (r.notify)
        return step(
          "udp500",
          "fail",
          `answered with ${r.notify}${vids}`,
          r.notify === "NO-PROPOSAL-CHOSEN"
            ? "the server accepts none of the offered phase-1 proposals (AES, SHA-1/SHA-2, MODP-2048/ECP); --allow-legacy also offers 3DES/MODP-1024"
            : "the server refused the first message of Main Mode",
          { ...data, notify: r.notify },
          r.notify === "NO-PROPOSAL-CHOSEN" ? "refused-proposal" : "refused",
        );
      if (r.malformed)
        return step(
          "udp500",
          "pass",
          `answered (not a readable MM2: ${r.malformed})`,
          "something answers on UDP 500 but not like an IKEv1 responder",
          data,
        );
      return step("udp500", "pass", `answered: chose ${r.chosen ?? "?"}${vids}`, undefined, data);
    }
  }
}

/** The setting Windows (AssumeUDPEncapsulationContextOnSendRule) and `--nat-policy` need. */
export function natRule(nat: { localBehindNat: boolean; peerBehindNat: boolean }): 0 | 1 | 2 {
  if (!nat.peerBehindNat) return 0;
  return nat.localBehindNat ? 2 : 1;
}

function isIpv4(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s);
}

function natStep(o: Observations): StepResult {
  const mm = o.mainMode;
  if (!mm)
    return step(
      "nat",
      "skip",
      o.setupError !== undefined
        ? `not tested: the full exchange could not start here: ${o.setupError}`
        : "not tested: needs an answer on UDP 500",
      o.setupError !== undefined
        ? "run as root, with no oakley connect or other IKE daemon holding UDP 500/4500 on this host"
        : undefined,
    );
  if (!mm.nat)
    return step(
      "nat",
      "fail",
      `Main Mode stopped before MM4${mm.failure ? `: ${mm.failure.message}` : ""}`,
      mm.reached === "mm2"
        ? "the server answered MM1 but not MM3 (key exchange): a middlebox drops larger IKE packets, or the server failed"
        : undefined,
      undefined,
      "stopped-before-mm4",
    );
  const n = mm.nat;
  const rule = natRule(n);
  // A server behind a port forward that presents Windows-friendly NAT-D shows itself only by
  // its phase-1 identity: an address other than the one we dialled.
  const portForward =
    !n.peerBehindNat && mm.peerId !== undefined && isIpv4(mm.peerId) && mm.peerId !== o.server;
  const sides =
    n.localBehindNat && n.peerBehindNat
      ? "both this host and the server are behind NAT"
      : n.localBehindNat
        ? "this host is behind NAT; the server is not"
        : n.peerBehindNat
          ? "the server is behind NAT; this host is not"
          : "no NAT on either side";
  const pf = portForward
    ? `; the server identifies as ${mm.peerId}: it is behind a port forward and presents NAT-D that shows only this side behind NAT, so Windows needs no registry edit`
    : "";
  const windows =
    rule === 0
      ? "Windows: AssumeUDPEncapsulationContextOnSendRule 0 (the default) works; oakley connect: --nat-policy 0 (default)"
      : rule === 1
        ? "Windows: set AssumeUDPEncapsulationContextOnSendRule to 1 (or 2) or it fails with 809; oakley connect needs --nat-policy 1"
        : "Windows: set AssumeUDPEncapsulationContextOnSendRule to 2 or it fails with 809; oakley connect needs --nat-policy 2";
  const transport =
    n.method === "none"
      ? "plain ESP (IP protocol 50) must pass"
      : `NAT-T (${n.method === "rfc3947" ? "RFC 3947" : "draft"}): ESP in UDP 4500`;
  return step(
    "nat",
    "pass",
    `${sides}${pf}; ${transport}`,
    windows,
    {
      localBehindNat: n.localBehindNat,
      peerBehindNat: n.peerBehindNat,
      serverBehindPortForward: portForward,
      nattMethod: n.method,
      windowsAssumeUdpEncapsulationContextOnSendRule: rule,
      natPolicy: rule,
    },
    n.peerBehindNat ? "server-behind-nat" : undefined,
  );
}

function udp4500Step(o: Observations): StepResult {
  const p = o.udp4500;
  if (!p) return step("udp4500", "skip", "not tested: needs an answer on UDP 500");
  const mm = o.mainMode;
  const natSeen = mm?.nat !== undefined && mm.nat.method !== "none";
  // Main Mode finished after floating: UDP 4500 carried MM5/MM6 both ways.
  if (natSeen && mm?.reached === "mm6")
    return step("udp4500", "pass", "MM5/MM6 went through UDP 4500 after the float");
  const needed = natSeen
    ? "NAT is in the way, so IKE and ESP must use UDP 4500"
    : "not needed by this host (no NAT), but every client behind NAT needs it";
  switch (p.kind) {
    case "answered":
      return step("udp4500", "pass", "answered an MM1 on UDP 4500 (non-ESP marker)");
    case "unreachable":
      return step(
        "udp4500",
        "fail",
        `ICMP unreachable on UDP 4500 (${p.detail})`,
        `${needed}; the server does not listen on 4500 or a firewall rejects it — open UDP 4500`,
        undefined,
        "unreachable",
      );
    case "no-answer":
      return step(
        "udp4500",
        "fail",
        `no answer on UDP 4500 in ${(p.waitedMs / 1000).toFixed(1)} s${natSeen && mm?.reached === "mm4" ? ", and Main Mode got no MM6 after the float" : ""}`,
        `${needed}; UDP 4500 is dropped on the way (firewall, NAT box) — open UDP 4500 to the server`,
        undefined,
        "no-answer",
      );
    case "error":
      return step(
        "udp4500",
        "fail",
        `could not probe: ${p.message}`,
        undefined,
        undefined,
        "probe-error",
      );
  }
}

function pskStep(o: Observations, udp4500: StepResult): StepResult {
  if (!o.pskGiven)
    return step(
      "psk",
      "skip",
      "not tested: give --psk-file (or --psk) to test Main Mode authentication",
    );
  const mm = o.mainMode;
  if (!mm || mm.reached === "none" || mm.reached === "mm2")
    return step("psk", "skip", "not tested: Main Mode did not reach MM5");
  if (mm.reached === "mm6")
    return step("psk", "pass", `Main Mode authenticated${mm.suite ? `: ${mm.suite}` : ""}`);
  const f = mm.failure;
  const wrong = "the pre-shared key differs from the server's: check --psk-file";
  if (f && AUTH_NOTIFIES.test(f.message))
    return step("psk", "fail", `the server refused MM5: ${f.message}`, wrong, undefined, "refused");
  if (f?.code === "OAK_E_IKE_AUTH_FAILED")
    return step("psk", "fail", `MM6 did not verify: ${f.message}`, wrong, undefined, "mm6-bad");
  const floated = mm.nat !== undefined && mm.nat.method !== "none";
  if (floated && udp4500.status === "fail")
    return step(
      "psk",
      "skip",
      "not tested: no MM6 after the float to UDP 4500 (see UDP 4500)",
      "MM5 goes to UDP 4500 when NAT is seen; fix UDP 4500 first",
    );
  if (!f || f.code === "OAK_E_IKE_TIMEOUT")
    return step(
      "psk",
      "fail",
      "no MM6: the server stayed silent after MM5",
      `most servers stay silent on a wrong pre-shared key (strongSwan, Windows RRAS); ${wrong}`,
      undefined,
      "silent",
    );
  return step(
    "psk",
    "fail",
    `Main Mode failed after MM4: ${f.message}`,
    undefined,
    undefined,
    "other",
  );
}

function espStep(o: Observations): StepResult {
  if (!o.pskGiven) return step("esp", "skip", "not tested: needs --psk-file (Quick Mode)");
  const qm = o.quickMode;
  if (!qm || o.mainMode?.reached !== "mm6")
    return step("esp", "skip", "not tested: needs phase 1 (Main Mode) up");
  if (!qm.up)
    return step(
      "esp",
      "fail",
      `Quick Mode failed: ${qm.failure?.message ?? "no answer"}`,
      qm.failure?.message.includes("NO-PROPOSAL")
        ? "the server accepts none of the offered ESP suites (AES-GCM/AES-CBC with SHA-1/SHA-2) for L2TP (UDP 1701, transport mode)"
        : "the server refused or ignored the phase-2 request for L2TP (UDP 1701, transport mode)",
      undefined,
      "qm-failed",
    );
  const how = qm.udpEncap ? "ESP-in-UDP (UDP 4500)" : "plain ESP (IP protocol 50)";
  if (o.l2tp?.up)
    return step("esp", "pass", `L2TP answered through ${how}: ${qm.suite ?? "?"}`, undefined, {
      encapsulation: qm.udpEncap ? "udp" : "esp",
    });
  const waited = o.l2tp ? ` in ${(o.l2tp.waitedMs / 1000).toFixed(1)} s` : "";
  return step(
    "esp",
    "fail",
    `Quick Mode up, but nothing came back through ${how}${waited} (L2TP SCCRQ unanswered)`,
    qm.udpEncap
      ? "ESP-in-UDP on UDP 4500 is dropped on the way, or the server's L2TP does not answer"
      : "a firewall on the path drops IP protocol 50 (classic error 809): allow ESP to and from the server, or reach it through NAT so that ESP goes in UDP 4500",
    { encapsulation: qm.udpEncap ? "udp" : "esp" },
    "no-return",
  );
}

function mtuStep(o: Observations): StepResult {
  const m = o.mtu;
  if (m.bigProbe && !m.bigProbe.answered)
    return step(
      "mtu",
      "fail",
      `a full-size IKE packet (${m.bigProbe.packetSize} bytes, DF) got no answer while a small one did, and no ICMP "fragmentation needed" came back: a path-MTU black hole`,
      "large ESP-in-UDP packets will vanish (connections hang after login); lower the MTU on this side or fix the hop that drops them (it must send ICMP or pass fragments)",
      {
        packetSize: m.bigProbe.packetSize,
        ...(m.pathMtu !== undefined ? { pathMtu: m.pathMtu } : {}),
      },
      "black-hole",
    );
  if (m.pathMtu === undefined)
    return step("mtu", "skip", "not measured: the path MTU to the server is unknown");
  const exact = m.innerMax !== undefined;
  const innerMax = m.innerMax ?? m.pathMtu - 20 - L2TP_HEAD - ESTIMATED_ESP_OVERHEAD;
  const used = Math.min(m.pppMtu, innerMax);
  const mss = Math.max(0, used - 40);
  const data = {
    pathMtu: m.pathMtu,
    pppMtu: m.pppMtu,
    innerMax,
    mss,
    exact,
    ...(m.pathMtuSource ? { pathMtuSource: m.pathMtuSource } : {}),
  };
  const probed = m.bigProbe ? `, a ${m.bigProbe.packetSize}-byte DF probe answered` : "";
  const basis = `path MTU ${m.pathMtu}${m.pathMtuSource ? ` (${m.pathMtuSource}${probed})` : ""}; ${exact ? "with the negotiated SA" : "estimated for AES-GCM"} inner packets up to ${innerMax} bytes fit one ESP-in-UDP packet`;
  if (innerMax >= m.pppMtu)
    return step(
      "mtu",
      "pass",
      `${basis}; Oakley uses PPP MTU ${m.pppMtu}, TCP MSS ${mss}`,
      undefined,
      data,
    );
  return step(
    "mtu",
    "fail",
    `${basis}: the PPP MTU ${m.pppMtu} is too large, larger packets are fragmented`,
    `Oakley clamps TCP MSS to ${mss}; other traffic over ${innerMax} bytes fragments — raise the path MTU or lower the link MTU to ${innerMax}`,
    data,
    "too-small",
  );
}

function pppStep(o: Observations): StepResult {
  if (o.user === undefined)
    return step(
      "ppp",
      "skip",
      "not tested: give --user and --password-file to test PPP authentication",
    );
  const p = o.ppp;
  if (!p || !o.l2tp?.up)
    return step("ppp", "skip", "not tested: needs the L2TP tunnel through ESP");
  switch (p.outcome) {
    case "ok":
      return step("ppp", "pass", `authenticated as ${o.user} (${p.method})`);
    case "refused":
      return step(
        "ppp",
        "fail",
        `the server refused user ${o.user}${p.code !== undefined ? ` (error ${p.code})` : ""}: ${p.message}`,
        "wrong user name or password (Windows: 691); check --user and --password-file",
        undefined,
        "refused",
      );
    case "server-not-authenticated":
      return step(
        "ppp",
        "fail",
        p.message,
        "the server did not prove it knows the password: a rogue server holding the PSK, or a server without MS-CHAPv2",
        undefined,
        "server-not-authenticated",
      );
    case "no-answer":
      return step(
        "ppp",
        "fail",
        `PPP authentication did not complete: ${p.message}`,
        undefined,
        undefined,
        "no-answer",
      );
  }
}

/** One verdict per step, in display order. */
export function verdicts(o: Observations): StepResult[] {
  const u4500 = udp4500Step(o);
  return [udp500Step(o), natStep(o), u4500, pskStep(o, u4500), espStep(o), mtuStep(o), pppStep(o)];
}

export type ErrorStatus = "likely" | "cleared" | "open";

export interface WindowsErrorVerdict {
  readonly code: number;
  readonly title: string;
  readonly status: ErrorStatus;
  /** Likely: the confirmed causes; open: those no passing step cleared; cleared: all. */
  readonly causes: readonly string[];
  /** Steps that would confirm or clear it and did not run. */
  readonly untested: readonly StepId[];
}

/**
 * The Windows error table against these verdicts: "likely" when a step's result confirms one
 * of its causes (its `reason`); "cleared" when every step tied to it passed without confirming
 * and no cause is a Windows setting; else "open" (steps not run or failed for other reasons,
 * or a setting on the Windows side).
 */
export function explainWindowsErrors(
  steps: readonly StepResult[],
  table: readonly WindowsErrorEntry[] = WINDOWS_ERRORS,
): WindowsErrorVerdict[] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  return table.map((e) => {
    const confirmed = e.causes.filter((c) => {
      const s = c.step ? byId.get(c.step) : undefined;
      if (!s) return false;
      return c.reasons
        ? s.reason !== undefined && c.reasons.includes(s.reason)
        : s.status === "fail";
    });
    // A cause stays open while its step did not run, or failed for another reason.
    const untested = [
      ...new Set(
        e.causes.flatMap((c) => {
          const s = c.step ? byId.get(c.step) : undefined;
          return c.step && s?.status !== "pass" && !confirmed.includes(c) ? [c.step] : [];
        }),
      ),
    ];
    const settingOnly = e.causes.some((c) => !c.step);
    const st: ErrorStatus =
      confirmed.length > 0 ? "likely" : untested.length === 0 && !settingOnly ? "cleared" : "open";
    return {
      code: e.code,
      title: e.title,
      status: st,
      // Likely: the confirmed causes; open: those not cleared by a passing step.
      causes: (confirmed.length > 0
        ? confirmed
        : st === "open"
          ? e.causes.filter((c) => !c.step || byId.get(c.step)?.status !== "pass")
          : e.causes
      ).map((c) => c.cause),
      untested,
    };
  });
}

export interface DiagnoseReport {
  readonly server: string;
  /** Every step passed. */
  readonly ok: boolean;
  readonly steps: readonly StepResult[];
  readonly windowsErrors: readonly WindowsErrorVerdict[];
}

export function report(o: Observations): DiagnoseReport {
  const steps = verdicts(o);
  return {
    server: o.server,
    ok: steps.every((s) => s.status === "pass"),
    steps,
    windowsErrors: explainWindowsErrors(steps),
  };
}

const MARK: Record<StepStatus, string> = { pass: "✓", fail: "✗", skip: "–" };

/** Human output: one line per step (mark, title, summary) and its hint, then the error table. */
export function formatReport(r: DiagnoseReport): string {
  const lines = [`oakley diagnose ${r.server}`];
  for (const s of r.steps) {
    lines.push(`${MARK[s.status]} ${s.title}: ${s.summary}`);
    if (s.hint) lines.push(`    → ${s.hint}`);
  }
  lines.push("", "Windows errors:");
  for (const e of r.windowsErrors) {
    const what =
      e.status === "likely"
        ? `likely: ${e.causes.join("; ")}`
        : e.status === "cleared"
          ? "cleared by the checks above"
          : `open${e.untested.length > 0 ? ` (untested: ${e.untested.join(", ")})` : ""}: ${e.causes.join("; ")}`;
    lines.push(`  ${e.code} ${e.title} — ${what}`);
  }
  lines.push("", r.ok ? "all checks passed" : "some checks failed or did not run");
  return `${lines.join("\n")}\n`;
}
