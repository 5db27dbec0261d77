import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse as parsePlist } from "plist";
import { unwrap } from "../base/result.js";
import { checkProfile, openProfileStore, parseProfileDocument } from "../policy/index.js";
import { type ClientConfigInput, psQuote, renderClientConfig, uuidV5 } from "./client-config.js";
import { connectSteps, startupText } from "./instructions.js";

const base: ClientConfigInput = {
  server: "vpn.example.com",
  user: "alice",
  psk: "a-strong-shared-key-0123",
  windowsNatFriendly: true,
};

/** Values that break naive quoting in one format or another. */
const HOSTILE = [
  "it's",
  "’smart‘ ‚quotes‛",
  "'; Remove-Item -Recurse C:\\ #",
  "$(Invoke-Evil) `backtick` $env:USERNAME",
  '<tag attr="x">&amp;</tag>',
  "]]><!--",
  " leading space and trailing \\",
  "ünïcödé ✓",
];

// ------------------------------------------------------------------ PowerShell

/**
 * Tokenises a PowerShell command line of bare words and single-quoted strings, following the
 * PowerShell language specification (section 2.3.5.2, verbatim-string-literal): a
 * single-quote-character is ' or U+2018, U+2019, U+201A, U+201B; inside the string two
 * single-quote-characters in a row stand for one; anything else is literal ($, `, ", \).
 */
function tokenizePs(line: string): string[] {
  const QUOTES = "'\u2018\u2019\u201a\u201b";
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i] as string;
    if (c === " ") {
      i++;
      continue;
    }
    if (QUOTES.includes(c)) {
      let s = "";
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`unterminated string in: ${line}`);
        const d = line[i] as string;
        if (QUOTES.includes(d)) {
          const next = line[i + 1];
          if (next !== undefined && QUOTES.includes(next)) {
            s += d;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += d;
        i++;
      }
      if (i < line.length && line[i] !== " ") throw new Error(`string runs into a word: ${line}`);
      out.push(s);
      continue;
    }
    let w = "";
    while (i < line.length && line[i] !== " ") {
      if (QUOTES.includes(line[i] as string) || "$`;|&(){}".includes(line[i] as string))
        throw new Error(`special character in a bare word: ${line}`);
      w += line[i];
      i++;
    }
    out.push(w);
  }
  return out;
}

function psParams(script: string, command: string): Map<string, string | true> {
  const line = script.split("\r\n").find((l) => l.startsWith(`${command} `));
  assert.ok(line, `no ${command} line`);
  const t = tokenizePs(line);
  const m = new Map<string, string | true>();
  for (let i = 1; i < t.length; i++) {
    const k = t[i] as string;
    assert.ok(k.startsWith("-"), `expected a parameter, got ${k}`);
    const v = t[i + 1];
    if (v !== undefined && !v.startsWith("-")) {
      m.set(k, v);
      i++;
    } else m.set(k, true);
  }
  return m;
}

test("the tokeniser itself knows the typographic quotes (so the quoting test can fail)", () => {
  // A quoting that doubles only ASCII ' leaves ’ ending the string early.
  assert.throws(() => tokenizePs("Add-X -Name 'a’b'"));
  assert.deepEqual(tokenizePs("Add-X -Name 'a’’b'"), ["Add-X", "-Name", "a’b"]);
  assert.deepEqual(tokenizePs(psQuote("it's ’x’ $y")), ["it's ’x’ $y"]);
});

test("windows: Add-VpnConnection gets every value back exactly, whatever it contains", () => {
  for (const h of HOSTILE) {
    const i: ClientConfigInput = {
      ...base,
      name: `VPN ${h}`,
      user: h,
      psk: `psk-${h}-0123456789`,
      password: h,
    };
    const out = unwrap(renderClientConfig("windows", i));
    const p = psParams(out.text, "Add-VpnConnection");
    assert.equal(p.get("-Name"), `VPN ${h}`);
    assert.equal(p.get("-ServerAddress"), "vpn.example.com");
    assert.equal(p.get("-TunnelType"), "L2tp");
    assert.equal(p.get("-L2tpPsk"), `psk-${h}-0123456789`);
    assert.equal(p.get("-AuthenticationMethod"), "MSChapv2");
    assert.equal(p.get("-EncryptionLevel"), "Required");
    assert.equal(p.get("-Force"), true);
    const line = out.text.split("\r\n").find((l) => l.startsWith("rasdial "));
    assert.deepEqual(tokenizePs(line ?? ""), ["rasdial", `VPN ${h}`, h, h]);
    // Every line is a comment or tokenises: nothing of the values escapes a string.
    for (const l of out.text.split("\r\n")) {
      if (l === "" || l.startsWith("#") || l.startsWith("$ErrorActionPreference")) continue;
      tokenizePs(l);
    }
  }
});

test("windows: without --include-password the script holds no password", () => {
  const out = unwrap(renderClientConfig("windows", { ...base }));
  assert.equal(out.text.includes("rasdial 'Oakley vpn.example.com' 'alice' *"), true);
  assert.equal(/^rasdial /m.test(out.text), false);
});

test("every format refuses values with line breaks, naming the field", () => {
  for (const f of ["windows", "apple", "networkmanager", "oakley", "text"] as const) {
    const r = renderClientConfig(f, { ...base, psk: "line1\nline2-0123456789" });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.field, "psk");
  }
});

// ------------------------------------------------------------------ Apple

test("uuidV5 matches an independent implementation (Python's uuid module documentation example)", () => {
  // Source: Python documentation, uuid module examples:
  // uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org') == UUID('886313e1-3b8a-5372-9b90-0c9aee199e5d')
  assert.equal(
    uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org"),
    "886313e1-3b8a-5372-9b90-0c9aee199e5d",
  );
});

test("apple: the .mobileconfig parses back as a plist with the L2TP payload and the PSK as data", () => {
  for (const h of HOSTILE) {
    const i = { ...base, user: h, psk: `psk-${h}-0123456789`, password: h };
    const text = unwrap(renderClientConfig("apple", i)).text;
    const doc = parsePlist(text) as Record<string, unknown>;
    assert.equal(doc.PayloadType, "Configuration");
    assert.equal(doc.PayloadVersion, 1);
    const content = doc.PayloadContent as Record<string, unknown>[];
    assert.equal(content.length, 1);
    const vpn = content[0] as Record<string, unknown>;
    assert.equal(vpn.PayloadType, "com.apple.vpn.managed");
    assert.equal(vpn.VPNType, "L2TP");
    const ppp = vpn.PPP as Record<string, unknown>;
    assert.equal(ppp.CommRemoteAddress, "vpn.example.com");
    assert.equal(ppp.AuthName, h);
    assert.equal(ppp.AuthPassword, h);
    const ipsec = vpn.IPSec as Record<string, unknown>;
    assert.equal(ipsec.AuthenticationMethod, "SharedSecret");
    assert.ok(ipsec.SharedSecret instanceof Uint8Array, "SharedSecret is <data>");
    assert.equal(Buffer.from(ipsec.SharedSecret).toString("utf8"), `psk-${h}-0123456789`);
    for (const u of [doc.PayloadUUID, vpn.PayloadUUID])
      assert.match(
        String(u),
        /^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/,
      );
    assert.notEqual(doc.PayloadUUID, vpn.PayloadUUID);
  }
});

test("apple: UUIDs are stable for a server and user and differ between users", () => {
  const uuids = (i: ClientConfigInput) => {
    const d = parsePlist(unwrap(renderClientConfig("apple", i)).text) as Record<string, unknown>;
    return [d.PayloadUUID, (d.PayloadContent as Record<string, unknown>[])[0]?.PayloadUUID];
  };
  assert.deepEqual(uuids(base), uuids({ ...base, psk: "another-psk-0123456789" }));
  assert.notDeepEqual(uuids(base), uuids({ ...base, user: "bob" }));
  assert.notDeepEqual(uuids(base), uuids({ ...base, server: "198.51.100.7" }));
  const noPw = parsePlist(unwrap(renderClientConfig("apple", base)).text) as Record<
    string,
    unknown
  >;
  const ppp = (noPw.PayloadContent as Record<string, Record<string, unknown>>[])[0]?.PPP;
  assert.equal(ppp?.AuthPassword, undefined);
});

// ------------------------------------------------------------------ NetworkManager

/**
 * The keys NetworkManager-l2tp accepts, from its source: src/nm-l2tp-service.c
 * (valid_properties and valid_secrets) with the names in NetworkManager-l2tp's shared/nm-service-defines.h,
 * github.com/nm-l2tp/NetworkManager-l2tp release 1.52.4 (commit c22c1fa).
 */
const NM_L2TP_PROPERTIES = new Set([
  "gateway",
  "user-auth-type",
  "user",
  "domain",
  "ephemeral-port",
  "user-ca",
  "user-cert",
  "user-key",
  "mtu",
  "mru",
  "mrru",
  "refuse-eap",
  "refuse-pap",
  "refuse-chap",
  "refuse-mschap",
  "refuse-mschapv2",
  "require-mppe",
  "require-mppe-40",
  "require-mppe-128",
  "mppe-stateful",
  "nobsdcomp",
  "nodeflate",
  "no-vj-comp",
  "nopcomp",
  "noaccomp",
  "lcp-echo-failure",
  "lcp-echo-interval",
  "xl2tpd-max-retries",
  "unit",
  "machine-auth-type",
  "machine-ca",
  "machine-cert",
  "machine-key",
  "ipsec-enabled",
  "ipsec-remote-id",
  "ipsec-gateway-id",
  "ipsec-group-name",
  "ipsec-psk",
  "ipsec-ike",
  "ipsec-esp",
  "ipsec-ikelifetime",
  "ipsec-salifetime",
  "ipsec-forceencaps",
  "ipsec-ipcomp",
  "ipsec-ikev2",
  "ipsec-pfs",
  "password-flags",
  "user-certpass-flags",
  "ipsec-psk-flags",
  "machine-certpass-flags",
  "ipcp-peer-ip",
]);
const NM_L2TP_SECRETS = new Set([
  "password",
  "user-certpass",
  "ipsec-psk",
  "machine-certpass",
  "no-secret",
]);

/** A GKeyFile reader (sections, key=value, the escapes \\s \\n \\t \\r \\\\), as GLib documents them. */
function readKeyfile(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      assert.equal(out.has(sec[1] as string), false, `section ${sec[1]} twice`);
      cur = new Map();
      out.set(sec[1] as string, cur);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(cur && eq > 0, `not key=value: ${line}`);
    const key = line.slice(0, eq);
    assert.equal(cur.has(key), false, `key ${key} twice`);
    const v = line
      .slice(eq + 1)
      .replace(
        /\\(.)/g,
        (_m, c: string) => ({ s: " ", n: "\n", t: "\t", r: "\r", "\\": "\\" })[c] ?? `\\${c}`,
      );
    cur.set(key, v);
  }
  return out;
}

test("networkmanager: the keyfile holds only keys NetworkManager-l2tp reads, with the values back", () => {
  for (const h of HOSTILE) {
    const i = { ...base, user: h, psk: `${h}-psk-0123456789`, password: h };
    const kf = readKeyfile(unwrap(renderClientConfig("networkmanager", i)).text);
    const conn = kf.get("connection");
    assert.equal(conn?.get("type"), "vpn");
    assert.match(
      conn?.get("uuid") ?? "",
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const vpn = kf.get("vpn");
    assert.ok(vpn);
    assert.equal(vpn.get("service-type"), "org.freedesktop.NetworkManager.l2tp");
    for (const k of vpn.keys()) {
      if (k === "service-type") continue;
      assert.ok(NM_L2TP_PROPERTIES.has(k), `[vpn] ${k} is not a NetworkManager-l2tp key`);
    }
    assert.equal(vpn.get("gateway"), "vpn.example.com");
    assert.equal(vpn.get("user"), h);
    assert.equal(vpn.get("ipsec-enabled"), "yes");
    assert.equal(vpn.get("machine-auth-type"), "psk");
    for (const k of ["refuse-eap", "refuse-pap", "refuse-chap", "refuse-mschap"])
      assert.equal(vpn.get(k), "yes");
    assert.equal(vpn.get("refuse-mschapv2"), undefined);
    const secrets = kf.get("vpn-secrets");
    assert.ok(secrets);
    for (const k of secrets.keys()) assert.ok(NM_L2TP_SECRETS.has(k), `[vpn-secrets] ${k}`);
    assert.equal(secrets.get("ipsec-psk"), `${h}-psk-0123456789`);
    assert.equal(secrets.get("password"), h);
  }
});

test("networkmanager: a PSK starting with 0s is given base64 (NetworkManager-l2tp would take it as base64)", () => {
  const psk = "0sNotBase64-but-a-real-key";
  const kf = readKeyfile(unwrap(renderClientConfig("networkmanager", { ...base, psk })).text);
  const got = kf.get("vpn-secrets")?.get("ipsec-psk") ?? "";
  assert.ok(got.startsWith("0s"));
  assert.equal(Buffer.from(got.slice(2), "base64").toString("utf8"), psk);
});

test("networkmanager: without a password the agent asks for it (password-flags=1), none stored", () => {
  const kf = readKeyfile(unwrap(renderClientConfig("networkmanager", base)).text);
  assert.equal(kf.get("vpn")?.get("password-flags"), "1");
  assert.equal(kf.get("vpn-secrets")?.has("password"), false);
});

// ------------------------------------------------------------------ Oakley profile, text

test("oakley: the YAML imports as a profile into a real profile store and comes back equal", () => {
  for (const h of HOSTILE) {
    const i = { ...base, psk: `${h}-psk-0123456789`, user: h.trim(), password: h };
    const yaml = unwrap(renderClientConfig("oakley", i)).text;
    const c = checkProfile(unwrap(parseProfileDocument(yaml)));
    assert.deepEqual(c.issues, []);
    const s = unwrap(openProfileStore(join(mkdtempSync(join(tmpdir(), "oakley-cc-")), "c.db")));
    unwrap(s.add(c.value!));
    const got = unwrap(s.get("vpn.example.com")).value;
    assert.equal(got?.server, "vpn.example.com");
    assert.equal(got?.psk, i.psk);
    assert.equal(got?.user, i.user);
    assert.equal(got?.password, h);
    s.close();
  }
});

test("oakley: a server PSK shorter than 16 still imports (it is the server's), with a warning", () => {
  const out = unwrap(renderClientConfig("oakley", { ...base, psk: "short-psk" }));
  assert.match(out.warnings.join("\n"), /PSK is 9 characters; use at least 16/);
  assert.equal(checkProfile(unwrap(parseProfileDocument(out.text))).value?.psk, "short-psk");
});

test("text: the manual steps are the ones `oakley serve` prints, with the values filled in", () => {
  const out = unwrap(renderClientConfig("text", { ...base, serverAddressNote: "a note" })).text;
  const steps = connectSteps({
    serverAddress: "vpn.example.com",
    windowsNatFriendly: true,
    user: "alice",
  });
  assert.ok(out.includes(steps.join("\n")));
  assert.match(out, /Pre-shared key \(IPsec secret\): +a-strong-shared-key-0123/);
  assert.match(out, /Password: +\(your password\)/);
  assert.match(out, /a note/);
  const serve = startupText({
    serverAddress: "vpn.example.com",
    pool: "10.8.0.0/24",
    dns: [],
    storePath: "/x",
    windowsNatFriendly: true,
  });
  assert.ok(
    serve.includes(
      connectSteps({ serverAddress: "vpn.example.com", windowsNatFriendly: true }).join("\n"),
    ),
  );
  assert.match(serve, /Android \(up to 11\)/);
});
