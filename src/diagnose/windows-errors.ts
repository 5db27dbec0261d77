/**
 * The Windows VPN errors people meet with L2TP/IPsec, their likely causes, and which
 * `oakley diagnose` step confirms or clears each cause (printed with the result and by
 * `oakley diagnose --errors`). The wording of the causes is ours; the error numbers and their
 * short titles are those Windows shows (RAS errors 691–809, IKE errors 13801/13806).
 */
import type { StepId } from "./verdict.js";

export interface WindowsErrorEntry {
  readonly code: number;
  /** What Windows says, shortened. */
  readonly title: string;
  readonly causes: readonly {
    readonly cause: string;
    /** The step that confirms this cause (and whose clean pass clears it); none: a Windows setting. */
    readonly step?: StepId;
    /** The step results (StepResult.reason) that confirm it; without: any failure of the step. */
    readonly reasons?: readonly string[];
  }[];
}

export const WINDOWS_ERRORS: readonly WindowsErrorEntry[] = [
  {
    code: 809,
    title: "the remote server is not responding",
    causes: [
      {
        cause: "UDP 500 is blocked or the server is not running",
        step: "udp500",
        reasons: ["unreachable", "no-answer"],
      },
      {
        cause: "UDP 4500 is blocked after NAT was detected (NAT-T float)",
        step: "udp4500",
        reasons: ["unreachable", "no-answer"],
      },
      {
        cause:
          "plain ESP (IP protocol 50) is dropped by a firewall or a NAT that does not pass it, when no NAT is detected",
        step: "esp",
        reasons: ["no-return"],
      },
      {
        cause:
          "the server is behind NAT and Windows' AssumeUDPEncapsulationContextOnSendRule is 0 (set it to 2)",
        step: "nat",
        reasons: ["server-behind-nat"],
      },
    ],
  },
  {
    code: 789,
    title: "the security layer encountered a processing error during initial negotiations",
    causes: [
      {
        cause: "the pre-shared key differs between client and server",
        step: "psk",
        reasons: ["refused", "mm6-bad", "silent"],
      },
      {
        cause: "no common phase-1 proposal (e.g. the client offers only 3DES / MODP-1024)",
        step: "udp500",
        reasons: ["refused-proposal"],
      },
    ],
  },
  {
    code: 788,
    title: "the security layer could not authenticate the remote computer",
    causes: [
      {
        cause: "the pre-shared key (or the server's certificate) is not accepted",
        step: "psk",
        reasons: ["refused", "mm6-bad"],
      },
    ],
  },
  {
    code: 691,
    title: "access denied: the user name or password is not valid",
    causes: [
      {
        cause: "wrong user name or password, or the account is disabled",
        step: "ppp",
        reasons: ["refused"],
      },
      {
        cause: "the authentication protocol the client allows is not one the server accepts",
        step: "ppp",
        reasons: ["no-answer"],
      },
    ],
  },
  {
    code: 741,
    title: "the local computer does not support the required data encryption type",
    causes: [
      {
        cause:
          "Windows' data encryption setting asks for MPPE or 'maximum strength' the link does not give; set it to 'Require encryption'",
      },
      {
        cause: "phase 2 (Quick Mode) did not complete with an encrypting suite",
        step: "esp",
        reasons: ["qm-failed"],
      },
    ],
  },
  {
    code: 768,
    title: "the connection attempt failed because it failed to encrypt data",
    causes: [
      {
        cause: "phase 2 (Quick Mode) failed: no ESP SA to encrypt with",
        step: "esp",
        reasons: ["qm-failed"],
      },
      { cause: "the Windows 'IKE and AuthIP IPsec Keying Modules' service is not running" },
    ],
  },
  {
    code: 13801,
    title: "IKE authentication credentials are unacceptable",
    causes: [
      {
        cause:
          "Windows tried IKEv2 with certificates (VPN type Automatic/IKEv2): set the VPN type to 'L2TP/IPsec with pre-shared key'",
      },
    ],
  },
  {
    code: 13806,
    title: "IKE failed to find a valid machine certificate",
    causes: [
      {
        cause:
          "Windows tried certificate authentication (IKEv2 or L2TP with certificate): use 'L2TP/IPsec with pre-shared key' and enter the PSK",
      },
    ],
  },
];

/** One line per error code and cause, for `oakley diagnose --errors`. */
export function formatWindowsErrors(
  entries: readonly WindowsErrorEntry[] = WINDOWS_ERRORS,
): string {
  const lines: string[] = [];
  for (const e of entries) {
    lines.push(`${e.code}  ${e.title}`);
    for (const c of e.causes)
      lines.push(`       - ${c.cause}${c.step ? ` [step: ${c.step}]` : " [a Windows setting]"}`);
  }
  return `${lines.join("\n")}\n`;
}
