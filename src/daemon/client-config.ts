/**
 * What a user imports on their device to reach this server (`oakley client-config`):
 *  - windows: a PowerShell script around Add-VpnConnection (L2TP, PSK, MS-CHAPv2, encryption
 *    required). Every value is a PowerShell single-quoted string: inside one, only the
 *    single-quote characters (' and the typographic U+2018..U+201B, which PowerShell treats
 *    the same) are special, and each is escaped by doubling it (PowerShell language
 *    specification, 2.3.5.2 "String literals");
 *  - apple: a .mobileconfig (XML property list) with one com.apple.vpn.managed payload,
 *    VPNType L2TP, PPP AuthName, IPSec SharedSecret as <data>; the payload UUIDs are name-based
 *    (RFC 4122 section 4.3, SHA-1) from the server and user, so regenerating the file updates
 *    the installed profile instead of adding a second one;
 *  - networkmanager: a NetworkManager-l2tp keyfile (/etc/NetworkManager/system-connections),
 *    with the keys NetworkManager-l2tp reads (NetworkManager-l2tp's shared/nm-service-defines.h);
 *  - oakley: an Oakley client profile (profile.ts) for `oakley profile import`;
 *  - text: the manual steps (Android and the rest), shared with what `oakley serve` prints.
 * All of them hold the PSK (and the password when asked for): written files are mode 0600.
 *
 * Values with control characters (line breaks, tabs, NUL) are refused by name: no format
 * here needs them and each would need its own escaping to stay in place.
 */
import { createHash } from "node:crypto";
import { err, ok, type Result } from "../base/result.js";
import {
  type ClientProfile,
  profileNameFor,
  profileToYaml,
  weakPskMessage,
} from "../policy/index.js";
import { connectSteps } from "./instructions.js";

export const CLIENT_CONFIG_FORMATS = [
  "windows",
  "apple",
  "networkmanager",
  "oakley",
  "text",
] as const;
export type ClientConfigFormat = (typeof CLIENT_CONFIG_FORMATS)[number];

export interface ClientConfigInput {
  /** Name of the connection on the device (default: "Oakley <server>"). */
  readonly name?: string;
  readonly server: string;
  readonly user: string;
  readonly psk: string;
  /** Only when the operator asked for it (--include-password) and knows it. */
  readonly password?: string;
  /** Whether the server presents NAT-D so Windows needs no registry edit (serve's default). */
  readonly windowsNatFriendly: boolean;
  /** Why the server address may not be what clients dial (from server-address.ts). */
  readonly serverAddressNote?: string;
}

export interface ClientConfigOutput {
  readonly text: string;
  /** A file name to suggest (-o): the connection name made safe. */
  readonly fileName: string;
  /** Things the operator should know (printed on stderr), never secret. */
  readonly warnings: readonly string[];
}

export interface ClientConfigError {
  readonly field: string;
  readonly message: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** A fixed namespace for Oakley's name-based UUIDs (generated once for this purpose). */
const OAKLEY_UUID_NAMESPACE = "2f6b9a1e-4c1d-4e8a-9b7c-3d5e0f1a2b6c";

/** RFC 4122 section 4.3 name-based UUID, version 5 (SHA-1). */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const h = createHash("sha1").update(ns).update(Buffer.from(name, "utf8")).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const stableUuid = (i: ClientConfigInput, role: string): string =>
  uuidV5(OAKLEY_UUID_NAMESPACE, `${i.server}\n${i.user}\n${role}`).toUpperCase();

/** A PowerShell single-quoted string literal holding exactly `s`. */
export function psQuote(s: string): string {
  return `'${s.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;
}

function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;",
  );
}

/** A GKeyFile value (NetworkManager keyfiles): backslash escapes, leading space kept. */
function keyfileValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/^ /, "\\s");
}

function checkInput(i: ClientConfigInput): ClientConfigError | undefined {
  const fields: [string, string | undefined][] = [
    ["name", i.name],
    ["server", i.server],
    ["user", i.user],
    ["psk", i.psk],
    ["password", i.password],
  ];
  for (const [field, v] of fields) {
    if (v === undefined) continue;
    if (v === "") return { field, message: `${field} is empty` };
    if (CONTROL_RE.test(v)) {
      return {
        field,
        message: `the ${field} contains a control character (line break, tab, …), which the client formats cannot carry; change it on the server`,
      };
    }
  }
  return undefined;
}

const connectionName = (i: ClientConfigInput): string => i.name ?? `Oakley ${i.server}`;

function windows(i: ClientConfigInput): string {
  const name = connectionName(i);
  const lines = [
    `# Oakley: L2TP/IPsec VPN connection for ${i.user} on ${i.server}.`,
    "# Run it in PowerShell as the user who connects:",
    "#   powershell -ExecutionPolicy Bypass -File THIS-FILE.ps1",
    "# It holds the pre-shared key: delete the file afterwards.",
    ...(i.serverAddressNote ? [`# Note: ${i.serverAddressNote}`] : []),
    "$ErrorActionPreference = 'Stop'",
    [
      "Add-VpnConnection",
      `-Name ${psQuote(name)}`,
      `-ServerAddress ${psQuote(i.server)}`,
      "-TunnelType L2tp",
      `-L2tpPsk ${psQuote(i.psk)}`,
      "-AuthenticationMethod MSChapv2",
      "-EncryptionLevel Required",
      "-RememberCredential",
      "-Force",
    ].join(" "),
    `Write-Host ${psQuote(`Added the VPN connection '${name}'. Connect in Settings > Network > VPN (user name: ${i.user}).`)}`,
  ];
  if (i.password !== undefined) {
    lines.push(
      "# Connect once now; Windows remembers the user name and password (-RememberCredential).",
      `rasdial ${psQuote(name)} ${psQuote(i.user)} ${psQuote(i.password)}`,
    );
  } else {
    lines.push(
      `# Or from a prompt: rasdial ${psQuote(name)} ${psQuote(i.user)} *   (asks for the password)`,
    );
  }
  if (!i.windowsNatFriendly) {
    lines.push(
      "# If the server is behind a NAT, Windows also needs AssumeUDPEncapsulationContextOnSendRule=2",
      "# (HKLM\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent) and a reboot.",
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

function apple(i: ClientConfigInput): string {
  const name = connectionName(i);
  const top = stableUuid(i, "profile");
  const vpn = stableUuid(i, "vpn");
  const str = (s: string) => `<string>${xmlEscape(s)}</string>`;
  const key = (k: string) => `<key>${k}</key>`;
  const pppPassword =
    i.password !== undefined
      ? [`\t\t\t\t${key("AuthPassword")}`, `\t\t\t\t${str(i.password)}`]
      : [];
  return `${[
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    "<dict>",
    `\t${key("PayloadContent")}`,
    "\t<array>",
    "\t\t<dict>",
    `\t\t\t${key("PayloadType")}`,
    `\t\t\t${str("com.apple.vpn.managed")}`,
    `\t\t\t${key("PayloadVersion")}`,
    "\t\t\t<integer>1</integer>",
    `\t\t\t${key("PayloadIdentifier")}`,
    `\t\t\t${str(`oakley.vpn.${top}.l2tp`)}`,
    `\t\t\t${key("PayloadUUID")}`,
    `\t\t\t${str(vpn)}`,
    `\t\t\t${key("PayloadDisplayName")}`,
    `\t\t\t${str(name)}`,
    `\t\t\t${key("UserDefinedName")}`,
    `\t\t\t${str(name)}`,
    `\t\t\t${key("VPNType")}`,
    `\t\t\t${str("L2TP")}`,
    `\t\t\t${key("PPP")}`,
    "\t\t\t<dict>",
    `\t\t\t\t${key("CommRemoteAddress")}`,
    `\t\t\t\t${str(i.server)}`,
    `\t\t\t\t${key("AuthName")}`,
    `\t\t\t\t${str(i.user)}`,
    ...pppPassword,
    `\t\t\t\t${key("TokenCard")}`,
    "\t\t\t\t<false/>",
    "\t\t\t</dict>",
    `\t\t\t${key("IPSec")}`,
    "\t\t\t<dict>",
    `\t\t\t\t${key("AuthenticationMethod")}`,
    `\t\t\t\t${str("SharedSecret")}`,
    `\t\t\t\t${key("SharedSecret")}`,
    `\t\t\t\t<data>${Buffer.from(i.psk, "utf8").toString("base64")}</data>`,
    `\t\t\t\t${key("LocalIdentifierType")}`,
    `\t\t\t\t${str("KeyID")}`,
    "\t\t\t</dict>",
    `\t\t\t${key("IPv4")}`,
    "\t\t\t<dict>",
    `\t\t\t\t${key("OverridePrimary")}`,
    "\t\t\t\t<integer>1</integer>",
    "\t\t\t</dict>",
    "\t\t</dict>",
    "\t</array>",
    `\t${key("PayloadDisplayName")}`,
    `\t${str(`VPN ${name}`)}`,
    `\t${key("PayloadDescription")}`,
    `\t${str(`L2TP/IPsec VPN to ${i.server} for ${i.user} (made by oakley client-config)`)}`,
    `\t${key("PayloadIdentifier")}`,
    `\t${str(`oakley.vpn.${top}`)}`,
    `\t${key("PayloadType")}`,
    `\t${str("Configuration")}`,
    `\t${key("PayloadUUID")}`,
    `\t${str(top)}`,
    `\t${key("PayloadVersion")}`,
    "\t<integer>1</integer>",
    "</dict>",
    "</plist>",
  ].join("\n")}\n`;
}

function networkManager(i: ClientConfigInput): string {
  const name = connectionName(i);
  // NetworkManager-l2tp reads a PSK that starts with "0s" as base64 already (it writes it to
  // the IPsec secrets file as it is); such a key is therefore given in that form.
  const psk = i.psk.startsWith("0s") ? `0s${Buffer.from(i.psk, "utf8").toString("base64")}` : i.psk;
  const kv = (k: string, v: string) => `${k}=${keyfileValue(v)}`;
  return `${[
    `# Oakley: NetworkManager-l2tp connection for ${i.user} on ${i.server}.`,
    "# Install: sudo install -m 600 -o root THIS-FILE /etc/NetworkManager/system-connections/oakley.nmconnection",
    "#          sudo nmcli connection reload",
    ...(i.serverAddressNote ? [`# Note: ${i.serverAddressNote}`] : []),
    "[connection]",
    kv("id", name),
    kv("uuid", stableUuid(i, "networkmanager").toLowerCase()),
    "type=vpn",
    "autoconnect=false",
    "",
    "[vpn]",
    "service-type=org.freedesktop.NetworkManager.l2tp",
    kv("gateway", i.server),
    kv("user", i.user),
    "user-auth-type=password",
    // 0: stored in this file; 1: kept by the user's secret agent (asked at first connect).
    `password-flags=${i.password !== undefined ? 0 : 1}`,
    "ipsec-enabled=yes",
    "machine-auth-type=psk",
    "ipsec-psk-flags=0",
    // Oakley offers MS-CHAPv2 first; the weaker methods are refused on the client as well.
    "refuse-eap=yes",
    "refuse-pap=yes",
    "refuse-chap=yes",
    "refuse-mschap=yes",
    "",
    "[vpn-secrets]",
    kv("ipsec-psk", psk),
    ...(i.password !== undefined ? [kv("password", i.password)] : []),
    "",
    "[ipv4]",
    "method=auto",
    "",
    "[ipv6]",
    "method=ignore",
  ].join("\n")}\n`;
}

/** The Oakley client profile for `oakley profile import`. */
export function oakleyProfile(i: ClientConfigInput): ClientProfile {
  return {
    name: profileNameFor(i.name ?? i.server),
    server: i.server,
    user: i.user,
    psk: i.psk,
    ...(i.password !== undefined ? { password: i.password } : {}),
    natPolicy: 0,
    defaultRoute: false,
    routes: [],
    usePeerDns: false,
    // The key is the server's: the user cannot choose a longer one.
    allowWeakPsk: weakPskMessage(i.psk) !== undefined,
  };
}

function manualText(i: ClientConfigInput): string {
  const lines = [
    `Oakley L2TP/IPsec VPN for ${i.user}`,
    "",
    `  Server:                         ${i.server}`,
    ...(i.serverAddressNote ? [`    (${i.serverAddressNote})`] : []),
    "  Type:                           L2TP/IPsec with pre-shared key",
    `  Pre-shared key (IPsec secret):  ${i.psk}`,
    `  User name:                      ${i.user}`,
    `  Password:                       ${i.password ?? "(your password)"}`,
    "",
    "How to connect:",
    ...connectSteps({
      serverAddress: i.server,
      windowsNatFriendly: i.windowsNatFriendly,
      user: i.user,
    }),
  ];
  return `${lines.join("\n")}\n`;
}

export function renderClientConfig(
  format: ClientConfigFormat,
  i: ClientConfigInput,
): Result<ClientConfigOutput, ClientConfigError> {
  const bad = checkInput(i);
  if (bad) return err(bad);
  const base = profileNameFor(connectionName(i).replace(/\s+/g, "-"));
  const warnings: string[] = [];
  const weak = weakPskMessage(i.psk);
  if (weak)
    warnings.push(
      `the server's ${weak.replace(" (or --allow-weak-psk)", "")}: change it on the server`,
    );
  switch (format) {
    case "windows":
      return ok({ text: windows(i), fileName: `${base}.ps1`, warnings });
    case "apple":
      return ok({ text: apple(i), fileName: `${base}.mobileconfig`, warnings });
    case "networkmanager":
      return ok({ text: networkManager(i), fileName: `${base}.nmconnection`, warnings });
    case "oakley": {
      const p = oakleyProfile(i);
      const comment = i.serverAddressNote ? `Note: ${i.serverAddressNote}` : undefined;
      return ok({
        text: profileToYaml(p, { includeSecrets: true, ...(comment ? { comment } : {}) }),
        fileName: `${p.name}.oakley.yaml`,
        warnings,
      });
    }
    case "text":
      return ok({ text: manualText(i), fileName: `${base}.txt`, warnings });
  }
}
