/**
 * What `oakley serve` prints at start-up for a person: the ports to open (Microsoft's firewall
 * note: UDP 500, UDP 4500, IP protocol 50), the secrets generated on first start (shown once),
 * and how to connect from each built-in client. Plain text, no colours: it is also logged.
 * The server's address comes from server-address.ts (listen address or default route).
 */
export { startupAddress } from "./server-address.js";

export interface StartupInfo {
  readonly serverAddress: string;
  /** Present only on the first start, when the store generated them. */
  readonly generated?: { readonly psk: string; readonly user: string; readonly password: string };
  readonly pool: string;
  readonly dns: readonly string[];
  readonly storePath: string;
  readonly windowsNatFriendly: boolean;
  /** Why the address may not be the one clients use (detected; private; unknown). */
  readonly serverAddressNote?: string;
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
  lines.push(
    `  Linux: oakley connect ${i.serverAddress} --psk KEY --user ${i.user ?? "NAME"} --password PASSWORD`,
  );
  lines.push("    (or NetworkManager-l2tp / strongSwan + xl2tpd).");
  return lines;
}
