/**
 * `oakley policy show|list|get|add|edit|remove|assign|persistent|export|import`: through the running daemon (changes take effect live) or, with no daemon, directly on
 * the store file (--store). Objects written by a newer Oakley are marked read-only and editing
 * them is refused with the store's message. Algorithm names shown to people come from
 * src/registry (policy documents hold short names such as "aes-cbc"; we show "AES-CBC").
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import {
  type JsonObject,
  type PolicyDetail,
  type PolicyShow,
  type PolicySummary,
  parsePolicyFile,
} from "../../control/index.js";
import {
  DH_GROUP,
  ESP_ENCRYPTION,
  ESP_INTEGRITY,
  IKE_ENCRYPTION,
  IKE_HASH,
} from "../../policy/index.js";
import {
  ESP_TRANSFORM_IDS,
  IKE_ENCRYPTION_ALGORITHMS,
  IKE_HASH_ALGORITHMS,
  IPSEC_AUTH_ALGORITHMS,
  ikeGroupName,
  name as registryName,
} from "../../registry/ike.js";
import {
  action,
  type CliIo,
  type ConnOpts,
  connectionOptions,
  fail,
  type PolicyBackend,
  policyBackend,
  processIo,
  table,
  toJson,
  UsageError,
} from "./common.js";

function lookup(tableOf: Readonly<Record<string, number>>, key: unknown): number | undefined {
  return typeof key === "string" && Object.hasOwn(tableOf, key) ? tableOf[key] : undefined;
}

/** "AES-CBC-256 / SHA2-256 / MODP-2048 (group 14)" from a policy document's main-mode offer. */
export function mainModeOfferText(o: JsonObject): string {
  const e = lookup(IKE_ENCRYPTION, o.encryption);
  const h = lookup(IKE_HASH, o.hash);
  const g = lookup(DH_GROUP, o.dhGroup);
  const enc = e === undefined ? String(o.encryption) : registryName(IKE_ENCRYPTION_ALGORITHMS, e);
  return `${enc}${typeof o.keyLength === "number" ? `-${o.keyLength}` : ""} / ${h === undefined ? String(o.hash) : registryName(IKE_HASH_ALGORITHMS, h)} / ${g === undefined ? String(o.dhGroup) : ikeGroupName(g)}`;
}

export function quickModeOfferText(o: JsonObject): string {
  const e = lookup(ESP_ENCRYPTION, o.encryption);
  const i = lookup(ESP_INTEGRITY, o.integrity);
  const g = lookup(DH_GROUP, o.pfs);
  const enc = e === undefined ? String(o.encryption) : registryName(ESP_TRANSFORM_IDS, e);
  const integ =
    i === undefined
      ? String(o.integrity)
      : i === 0
        ? "none (combined mode)"
        : registryName(IPSEC_AUTH_ALGORITHMS, i);
  return `${enc}${typeof o.keyLength === "number" ? `-${o.keyLength}` : ""} / ${integ} / PFS ${g === undefined ? "none" : ikeGroupName(g)} / ${String(o.encapsulation ?? "transport")}`;
}

export function readOnlyMarker(p: { readOnly?: string; extensions: readonly string[] }): string {
  return p.readOnly !== undefined
    ? `[read-only${p.extensions.length > 0 ? `: unknown extensions ${p.extensions.join(", ")}` : ""}]`
    : "";
}

const objs = (v: unknown): JsonObject[] =>
  Array.isArray(v)
    ? v.filter((x): x is JsonObject => x !== null && typeof x === "object" && !Array.isArray(x))
    : [];

function describePolicy(p: PolicyDetail, indent: string): string {
  const lines: string[] = [];
  const mark = readOnlyMarker(p);
  lines.push(
    `${indent}${p.name}${p.description ? ` - ${p.description}` : ""}${mark ? ` ${mark}` : ""}`,
  );
  if (p.readOnly !== undefined) lines.push(`${indent}  ${p.readOnly}`);
  const mm = p.document.mainMode;
  const offers = mm && typeof mm === "object" && !Array.isArray(mm) ? objs(mm.offers) : [];
  for (const o of offers) lines.push(`${indent}  main mode offer: ${mainModeOfferText(o)}`);
  for (const r of objs(p.document.rules)) {
    const a = r.action && typeof r.action === "object" && !Array.isArray(r.action) ? r.action : {};
    lines.push(
      `${indent}  rule ${String(r.name)}: ${String(a.type ?? "?")}${r.enabled === false ? " (disabled)" : ""}`,
    );
    for (const q of objs(a.offers))
      lines.push(`${indent}    quick mode offer: ${quickModeOfferText(q)}`);
  }
  for (const i of p.issues) lines.push(`${indent}  problem: ${i.path}: ${i.message}`);
  return `${lines.join("\n")}\n`;
}

export function formatPolicyShow(s: PolicyShow): string {
  let out = "";
  out += `Persistent policies (applied first, in order):${s.persistent.length === 0 ? " none" : ""}\n`;
  for (const p of s.persistent) out += describePolicy(p, "  ");
  out += `Assigned policy:${s.assigned ? "" : " none"}\n`;
  if (s.assigned) out += describePolicy(s.assigned, "  ");
  if (s.unusable !== undefined) out += `NOT IN FORCE: ${s.unusable}\n`;
  if (typeof s.fips === "string")
    out += `FIPS mode (store setting, used by \`oakley serve\` without --fips): ${s.fips}\n`;
  if (s.radius) {
    const r = s.radius;
    out += `RADIUS (store setting, used by \`oakley serve\` without --radius): ${r.servers.join(", ")}, secret in ${r.secretFile}${r.nasIdentifier ? `, NAS-Identifier ${r.nasIdentifier}` : ""}${r.daeListen ? `, Disconnect/CoA on ${r.daeListen}` : ""}${r.interimInterval ? `, Interim-Update every ${r.interimInterval} s` : ""}\n`;
  }
  if (s.rules.length > 0) {
    out += "Rules in effect (first match wins):\n";
    s.rules.forEach((r, i) => {
      out += `  ${i + 1}. ${r.policy}/${r.rule} (${r.source}) ${r.action}\n`;
    });
  }
  for (const w of s.warnings) out += `Warning: ${w}\n`;
  return out;
}

export function formatPolicyList(l: readonly PolicySummary[]): string {
  if (l.length === 0) return "no policies\n";
  return table(
    ["NAME", "ASSIGNED", "PERSISTENT", "RULES", "FLAGS", "DESCRIPTION"],
    l.map((p) => [
      p.name,
      p.assigned ? "yes" : "",
      p.persistent ? `yes (order ${p.persistentOrder})` : "",
      String(p.rules),
      [readOnlyMarker(p), p.issues.length > 0 ? "[invalid]" : ""].filter(Boolean).join(" "),
      p.description ?? "",
    ]),
  );
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(
      `${flag} ${path}: cannot read it (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

function formatOf(path: string, given: string | undefined): "yaml" | "json" {
  if (given !== undefined) {
    if (given !== "yaml" && given !== "json")
      throw new UsageError(`--format '${given}' is unknown; use yaml or json`);
    return given;
  }
  return path.endsWith(".json") ? "json" : "yaml";
}

function parseOrder(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 1_000_000)
    throw new UsageError(`--order '${s}' must be a whole number 0..1000000`);
  return n;
}

type Opts = ConnOpts & Record<string, unknown>;

export function register(program: Command, io: CliIo = processIo()): void {
  const policy = program
    .command("policy")
    .description("the policy store: show, list and change policies");

  /** Runs `fn` against the daemon or the store file. */
  const withBackend = (fn: (b: PolicyBackend, o: Opts, ...a: string[]) => Promise<void>) =>
    action(io, async (...args: unknown[]) => {
      const strings = args.filter((a): a is string => typeof a === "string");
      const o = args.find(
        (a) =>
          a !== null &&
          typeof a === "object" &&
          !Array.isArray(a) &&
          !("commands" in (a as object)),
      ) as Opts;
      const b = await policyBackend(o);
      if (!b.ok) return fail(io, b.error);
      try {
        await fn(b.value, o, ...strings);
      } finally {
        await b.value.close();
      }
    });

  const sub = (name: string, desc: string) =>
    connectionOptions(policy.command(name).description(desc), { store: true });

  sub(
    "show",
    "show the policy in force: persistent policies (applied first), then the assigned one",
  )
    .option("--json", "machine-readable output")
    .action(
      withBackend(async (b, o) => {
        const r = await b.ops.show();
        if (!r.ok) return fail(io, r.error);
        io.out(o.json ? toJson(r.value) : formatPolicyShow(r.value));
      }),
    );

  sub("list", "list stored policies (read-only ones are marked)")
    .option("--json", "machine-readable output")
    .action(
      withBackend(async (b, o) => {
        const r = await b.ops.list();
        if (!r.ok) return fail(io, r.error);
        io.out(o.json ? toJson(r.value) : formatPolicyList(r.value));
      }),
    );

  sub("get", "show one stored policy")
    .argument("<name>")
    .option("--json", "machine-readable output")
    .action(
      withBackend(async (b, o, name) => {
        const r = await b.ops.get(name ?? "");
        if (!r.ok) return fail(io, r.error);
        io.out(o.json ? toJson(r.value) : describePolicy(r.value, ""));
      }),
    );

  sub(
    "add",
    "add a policy from a YAML/JSON file; --persistent makes it apply at start-up before any other",
  )
    .argument("[name]", "policy name (overrides 'name:' in the file)")
    .requiredOption(
      "--file <file>",
      "policy document (YAML or JSON; an export with one policy works too)",
    )
    .option("--persistent", "persistent policy: applied first, survives restarts")
    .option("--order <n>", "order among persistent policies (default 0)")
    .option("--assign", "also make it the assigned policy")
    .option("--json", "machine-readable output")
    .action(
      withBackend(async (b, o, name) => {
        const doc = parsePolicyFile(readText(String(o.file), "--file"));
        if (!doc.ok) return fail(io, doc.error);
        const d: JsonObject = name !== undefined ? { ...doc.value, name } : doc.value;
        const order = parseOrder(o.order as string | undefined);
        if (order !== undefined && !o.persistent)
          throw new UsageError("--order applies to persistent policies: add --persistent");
        const r = await b.ops.add(d, {
          ...(o.persistent ? { persistent: true } : {}),
          ...(order !== undefined ? { order } : {}),
          ...(o.assign ? { assign: true } : {}),
        });
        if (!r.ok) return fail(io, r.error);
        if (o.json) io.out(toJson(r.value));
        else
          io.out(
            `added policy '${r.value.name}'${r.value.persistent ? ` (persistent, order ${r.value.persistentOrder})` : ""}${r.value.assigned ? " and assigned it" : ""} in ${b.where}\n`,
          );
      }),
    );

  sub("edit", "replace a policy with the document in --file (refused for read-only policies)")
    .argument("<name>")
    .requiredOption("--file <file>", "the new policy document (YAML or JSON)")
    .option("--json", "machine-readable output")
    .action(
      withBackend(async (b, o, name) => {
        const doc = parsePolicyFile(readText(String(o.file), "--file"));
        if (!doc.ok) return fail(io, doc.error);
        const r = await b.ops.edit(name ?? "", doc.value);
        if (!r.ok) return fail(io, r.error);
        if (o.json) io.out(toJson(r.value));
        else io.out(`changed policy '${r.value.name}' in ${b.where}\n`);
      }),
    );

  sub("remove", "delete a policy (refused for read-only policies)")
    .argument("<name>")
    .action(
      withBackend(async (b, _o, name) => {
        const r = await b.ops.remove(name ?? "");
        if (!r.ok) return fail(io, r.error);
        io.out(`removed policy '${name}' from ${b.where}\n`);
      }),
    );

  sub("assign", "make a policy the assigned (active) one; --none unassigns")
    .argument("[name]")
    .option("--none", "assign no policy")
    .action(
      withBackend(async (b, o, name) => {
        if ((name === undefined) === !o.none)
          throw new UsageError("give a policy NAME, or --none to unassign");
        const r = await b.ops.assign(name ?? null);
        if (!r.ok) return fail(io, r.error);
        io.out(
          name === undefined
            ? `no policy is assigned now (${b.where})\n`
            : `policy '${name}' is assigned now (${b.where})\n`,
        );
      }),
    );

  sub("persistent", "make a policy persistent (on) or not (off)")
    .argument("<name>")
    .argument("<on|off>")
    .option("--order <n>", "order among persistent policies (default 0)")
    .action(
      withBackend(async (b, o, name, word) => {
        if (word !== "on" && word !== "off")
          throw new UsageError(
            `'${word}' must be on or off: 'oakley policy persistent ${name} on'`,
          );
        const r = await b.ops.setPersistent(
          name ?? "",
          word === "on",
          parseOrder(o.order as string | undefined) ?? 0,
        );
        if (!r.ok) return fail(io, r.error);
        io.out(
          `policy '${name}' is ${word === "on" ? "persistent" : "no longer persistent"} (${b.where})\n`,
        );
      }),
    );

  sub(
    "fips",
    "set the store's FIPS mode for `oakley serve` without --fips (takes effect at its next start)",
  )
    .argument("<off|policy-only|provider>")
    .action(
      withBackend(async (b, _o, word) => {
        if (word !== "off" && word !== "policy-only" && word !== "provider")
          throw new UsageError(
            `'${word}' must be off, policy-only or provider: 'oakley policy fips policy-only'`,
          );
        const r = await b.ops.setFips(word);
        if (!r.ok) return fail(io, r.error);
        io.out(
          `FIPS mode in the store is now ${word} (${b.where}); \`oakley serve\` uses it at its next start\n`,
        );
      }),
    );

  sub(
    "radius",
    "set (or with 'off' remove) the store's RADIUS servers for `oakley serve` without --radius (next start)",
  )
    .argument("[off]")
    .option(
      "--server <HOST[:PORT]>",
      "a RADIUS server (repeat for more, tried in order; accounting on PORT+1)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option("--secret-file <file>", "file holding the shared secret (chmod 600)")
    .option("--nas-identifier <name>", "NAS-Identifier sent in requests (default: host name)")
    .option("--dae-listen <ADDR[:PORT]>", "accept Disconnect/CoA requests here (port 3799)")
    .option("--interim-interval <seconds>", "Interim-Update period when the server sends none")
    .action(
      withBackend(async (b, o, word) => {
        if (word !== undefined && word !== "off")
          throw new UsageError(
            `'${word}' is not a word this command takes: 'oakley policy radius off' removes the setting, 'oakley policy radius --server 192.0.2.10 --secret-file /etc/oakley/radius.secret' sets it`,
          );
        if (word === "off") {
          const r = await b.ops.setRadius(null);
          if (!r.ok) return fail(io, r.error);
          io.out(
            `RADIUS removed from the store (${b.where}); \`oakley serve\` uses its own users at its next start\n`,
          );
          return;
        }
        const servers = (o.server as string[] | undefined) ?? [];
        if (servers.length === 0 || typeof o.secretFile !== "string")
          throw new UsageError(
            "give --server HOST[:PORT] and --secret-file FILE, e.g. 'oakley policy radius --server 192.0.2.10 --secret-file /etc/oakley/radius.secret'",
          );
        let interim: number | undefined;
        if (o.interimInterval !== undefined) {
          interim = Number(o.interimInterval);
          if (!Number.isInteger(interim))
            throw new UsageError(
              `--interim-interval '${String(o.interimInterval)}' must be whole seconds from 60 to 86400, e.g. 300`,
            );
        }
        const setting: JsonObject = {
          servers,
          secretFile: resolve(o.secretFile),
          ...(typeof o.nasIdentifier === "string" ? { nasIdentifier: o.nasIdentifier } : {}),
          ...(typeof o.daeListen === "string" ? { daeListen: o.daeListen } : {}),
          ...(interim !== undefined ? { interimInterval: interim } : {}),
        };
        const r = await b.ops.setRadius(setting);
        if (!r.ok) return fail(io, r.error);
        io.out(
          `RADIUS in the store is now ${servers.join(", ")} (${b.where}); \`oakley serve\` without --radius uses it at its next start\n`,
        );
      }),
    );

  sub("export", "write the whole store as YAML or JSON (secrets redacted unless --include-secrets)")
    .option("--format <yaml|json>", "output format", "yaml")
    .option("--include-secrets", "include PSKs, private keys and password verifiers")
    .option("--output <file>", "write to a file (mode 0600) instead of standard output")
    .action(
      withBackend(async (b, o) => {
        const f = formatOf("", o.format as string);
        const r = await b.ops.exportText(f, o.includeSecrets === true);
        if (!r.ok) return fail(io, r.error);
        if (typeof o.output === "string") {
          writeFileSync(o.output, r.value, { mode: 0o600 });
          io.err(`exported to ${o.output}\n`);
        } else io.out(r.value);
      }),
    );

  sub(
    "import",
    "merge (or with --replace, replace) the store with a YAML/JSON document; '-' reads standard input",
  )
    .argument("<file>")
    .option("--format <yaml|json>", "input format (default: from the file name, else yaml)")
    .option("--replace", "delete objects the document does not list")
    .option("--json", "machine-readable output")
    .action(
      withBackend(async (b, o, file) => {
        const path = file ?? "-";
        const text = path === "-" ? await io.readStdin() : readText(path, "import FILE");
        const r = await b.ops.importText(
          text,
          formatOf(path, o.format as string | undefined),
          o.replace ? "replace" : "merge",
        );
        if (!r.ok) return fail(io, r.error);
        if (o.json) io.out(toJson(r.value));
        else
          io.out(
            `imported into ${b.where}: ${r.value.created} created, ${r.value.updated} updated, ${r.value.deleted} deleted, ${r.value.unchanged} unchanged\n`,
          );
      }),
    );
}
