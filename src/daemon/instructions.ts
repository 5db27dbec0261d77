/**
 * What `oakley serve` prints at start-up for a person: the ports to open (Microsoft's firewall
 * note: UDP 500, UDP 4500, IP protocol 50), the secrets generated on first start (shown once),
 * and how to connect from each built-in client. Plain text, no colours: it is also logged.
 *
 * First-start secrets are printed only when stdout is a terminal. Under systemd (or any
 * redirection) stdout goes to journald or a file that keeps them and that more people read, so
 * they are written once to a 0600 file next to the store instead (`initial-secrets.txt`; an
 * existing file is never overwritten: the next free `initial-secrets-N.txt` is used), and only
 * its path is printed.
 *
 * The server's address comes from server-address.ts (listen address or default route).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

export { startupAddress } from "./server-address.js";

export interface GeneratedSecrets {
  readonly psk: string;
  readonly user: string;
  readonly password: string;
}

/** Where the first-start secrets went: shown in the text, in a file, or nowhere (with why). */
export type SecretsPlacement =
  | { readonly generated: GeneratedSecrets }
  | { readonly secretsFile: string }
  | { readonly secretsFileError: string };

export interface StartupInfo {
  readonly serverAddress: string;
  /** Present only on the first start, when the store generated them, and stdout is a terminal. */
  readonly generated?: GeneratedSecrets;
  /** First start, stdout not a terminal: the 0600 file that holds them. */
  readonly secretsFile?: string;
  /** First start, stdout not a terminal, and no file could be written: why. */
  readonly secretsFileError?: string;
  readonly pool: string;
  readonly dns: readonly string[];
  readonly storePath: string;
  readonly windowsNatFriendly: boolean;
  /** settings.allowLegacyCrypto: whether clients that offer only legacy crypto are accepted. */
  readonly allowLegacy?: boolean;
  /** Why the address may not be the one clients use (detected; private; unknown). */
  readonly serverAddressNote?: string;
}

/**
 * Decides where the first-start secrets go (see the file header) and writes the file when that
 * is the place. `isTTY`: whether the start-up text reaches a terminal.
 */
export function initialSecretsInfo(
  g: GeneratedSecrets,
  opts: { readonly storePath: string; readonly isTTY: boolean },
): SecretsPlacement {
  if (opts.isTTY) return { generated: g };
  const body = [
    "# Oakley: secrets generated on the first start of the server. Record them, then delete this file.",
    `Pre-shared key (IPsec secret):  ${g.psk}`,
    `User name:                      ${g.user}`,
    `Password:                       ${g.password}`,
    "",
  ].join("\n");
  const dir = dirname(opts.storePath);
  let last = "";
  for (let n = 1; n <= 100; n++) {
    const path = join(dir, n === 1 ? "initial-secrets.txt" : `initial-secrets-${n}.txt`);
    let fd: number | undefined;
    try {
      fd = openSync(path, "wx", 0o600); // "x": never overwrite
      writeSync(fd, body);
      return { secretsFile: path };
    } catch (e) {
      last = (e as NodeJS.ErrnoException).code ?? String(e);
      if (last !== "EEXIST") break;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return { secretsFileError: `${join(dir, "initial-secrets.txt")}: ${last}` };
}

export function startupText(i: StartupInfo): string {
  const lines: string[] = [];
  lines.push(`Oakley L2TP/IPsec server on ${i.serverAddress} (store: ${i.storePath})`);
  if (i.serverAddressNote) lines.push(`  (${i.serverAddressNote})`);
  lines.push("");
  lines.push("Open these on any firewall in front of this server:");
  lines.push("  UDP 500   IKE");
  lines.push("  UDP 4500  IPsec NAT Traversal (IKE and ESP-in-UDP)");
  lines.push("  IP protocol 50 (ESP)  only for clients that are not behind a NAT");
  lines.push("  (L2TP, UDP 1701, travels inside IPsec: do NOT open it to the Internet)");
  lines.push("");
  if (i.generated) {
    lines.push("First start: these secrets were generated and stored. They are shown only now:");
    lines.push(`  Pre-shared key (IPsec secret):  ${i.generated.psk}`);
    lines.push(`  User name:                      ${i.generated.user}`);
    lines.push(`  Password:                       ${i.generated.password}`);
    lines.push(
      "  Change them with `oakley users passwd` and `oakley policy …`; add users with `oakley users add`.",
    );
    lines.push("");
  } else if (i.secretsFile !== undefined) {
    lines.push(
      "First start: a pre-shared key and a first user were generated and stored. They are not",
      "printed because this output is not a terminal (logs would keep them); they were written once to",
      `  ${i.secretsFile}  (mode 0600, readable by root only): record them, then delete the file.`,
      "",
    );
  } else if (i.secretsFileError !== undefined) {
    lines.push(
      "First start: a pre-shared key and a first user were generated and stored. They are not",
      `printed because this output is not a terminal, and the file for them could not be written (${i.secretsFileError}).`,
      "Set new ones: `oakley users passwd vpnuser --password-stdin`, and restart with --psk-file FILE.",
      "",
    );
  }
  lines.push(
    `Clients get addresses from ${i.pool}${i.dns.length > 0 ? `, DNS ${i.dns.join(", ")}` : ""}.`,
  );
  lines.push("");
  lines.push("How to connect:");
  lines.push(...connectSteps(i));
  return lines.join("\n");
}

/**
 * The per-OS steps (Windows, macOS, iOS, Android, Linux), indented two spaces. Shared by the
 * start-up text and `oakley client-config --format text`; `user` fills in the user name.
 */
export function connectSteps(i: {
  readonly serverAddress: string;
  readonly windowsNatFriendly: boolean;
  readonly user?: string;
  /** The server's legacy-crypto setting; undefined when not known (client-config). */
  readonly allowLegacy?: boolean;
}): string[] {
  const lines: string[] = [];
  lines.push(
    `  Windows 10/11: Settings > Network > VPN > Add: provider Windows (built-in), server ${i.serverAddress},`,
  );
  lines.push(
    '    type "L2TP/IPsec with pre-shared key", enter the key, sign-in with user name and password.',
  );
  lines.push(
    i.windowsNatFriendly
      ? "    No registry edit is needed even if this server is behind a NAT: Oakley presents NAT-D so that Windows\n" +
          "    sees itself (not the server) behind NAT. (Other servers need AssumeUDPEncapsulationContextOnSendRule=2.)"
      : "    If this server is behind a NAT, Windows needs the registry value AssumeUDPEncapsulationContextOnSendRule=2\n" +
          "    (HKLM\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent) and a reboot — or run Oakley with --windows-nat-friendly.",
  );
  lines.push(
    `  macOS: System Settings > VPN > Add VPN Configuration > L2TP over IPsec; server ${i.serverAddress},`,
  );
  lines.push(
    "    account = user name; Authentication Settings: password, Shared Secret = the pre-shared key.",
  );
  lines.push("  iOS: Settings > General > VPN > Add VPN Configuration > Type L2TP; same fields.");
  lines.push(
    '  Android (up to 11): Settings > Network > VPN > add, type "L2TP/IPSec PSK"; leave "IPSec identifier" empty.',
  );
  // Android's racoon offers only MODP-1024 in Main Mode (with AES/3DES, SHA1/MD5); the default
  // policy has MODP-1024 offers, but the evaluator keeps them only with allowLegacyCrypto.
  lines.push(
    i.allowLegacy === true
      ? "    Its built-in client offers only MODP-1024 (DH group 2): accepted: this server runs with --allow-legacy."
      : i.allowLegacy === false
        ? "    Its built-in client offers only MODP-1024 (DH group 2), which this server REFUSES: restart it with\n" +
          "    --allow-legacy to accept it (also 3DES, MD5 and MODP-768/1536: weaker, for such clients only)."
        : "    Its built-in client offers only MODP-1024 (DH group 2): refused unless the server runs with --allow-legacy.",
  );
  lines.push(
    "    (Android 12 and later have no L2TP/IPsec client; older macOS/iOS releases that offer only MODP-1024 are",
    "    in the same case as Android up to 11.)",
  );
  lines.push(
    `  Linux: oakley connect ${i.serverAddress} --psk-file KEYFILE --user ${i.user ?? "NAME"} --password-file PWFILE`,
  );
  lines.push("    (or NetworkManager-l2tp / strongSwan + xl2tpd).");
  lines.push("  Windows 10/11, current macOS/iOS and Linux need no --allow-legacy.");
  lines.push(
    "  When a client fails to connect, `oakley diagnose --recent` says why (proposals, pre-shared key, password).",
  );
  return lines;
}
