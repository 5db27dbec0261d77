/**
 * `oakley profile add|list|show|edit|remove|import|export|install-service`: saved client
 * connections in the client's own store (--profile-store FILE, OAKLEY_PROFILE_STORE, default
 * /var/lib/oakley/client.db), and `profileForConnect`, which lets `oakley connect NAME` use one.
 *
 * Secrets come from files (--psk-file, --password-file; "-" reads standard input), never from
 * the command line, and are never printed back: show says "psk: (set)". Exports leave them out
 * unless --include-secrets is given (then the file is created 0600).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { err, ok, type Result } from "../../base/result.js";
import {
  type ClientProfile,
  checkProfile,
  DEFAULT_PROFILE_STORE,
  isProfileName,
  openProfileStore,
  type ProfileStore,
  parseProfileDocument,
  profileToDoc,
  profileToYaml,
  type StoredProfile,
  StoreErrorCode,
} from "../../policy/index.js";
import { action, type CliIo, EXIT, fail, processIo, table, toJson, UsageError } from "./common.js";

export const PROFILE_STORE_ENV = "OAKLEY_PROFILE_STORE";
export const UNIT_TEMPLATE = "oakley-connect@.service";
export const DEFAULT_UNIT_DIR = "/etc/systemd/system";

export function profileStorePath(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  defaultPath: string = DEFAULT_PROFILE_STORE,
): string {
  return flag ?? (env[PROFILE_STORE_ENV] || undefined) ?? defaultPath;
}

interface StoreOpts {
  profileStore?: string;
}

interface FieldOpts extends StoreOpts {
  server?: string;
  pskFile?: string;
  user?: string;
  passwordFile?: string;
  password?: boolean; // --no-password (edit)
  natPolicy?: string;
  route?: string[];
  routes?: boolean; // --no-routes (edit)
  defaultRoute?: boolean;
  usePeerDns?: boolean;
  allowWeakPsk?: boolean;
  cert?: string;
  key?: string;
  ca?: string;
  name?: string;
  json?: boolean;
  replace?: boolean;
  output?: string;
  includeSecrets?: boolean;
  force?: boolean;
  unitDir?: string;
  enable?: boolean;
}

const NAT_POLICY_TEXT = [
  "refuse servers behind NAT",
  "allow a server behind NAT",
  "allow both client and server behind NAT",
];

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function openForWrite(o: StoreOpts): Result<ProfileStore, { code: string; message: string }> {
  const path = profileStorePath(o.profileStore);
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      return err({
        code: StoreErrorCode.Unreadable,
        message: `cannot create ${dir} for the profile store (${e instanceof Error ? e.message : String(e)}); name another file with --profile-store FILE`,
      });
    }
  }
  return openProfileStore(path);
}

function openForRead(o: StoreOpts): Result<ProfileStore, { code: string; message: string }> {
  return openProfileStore(profileStorePath(o.profileStore), { readOnly: true });
}

/** Reads a secret from a file ("-": standard input), without its final line break. */
async function readSecret(io: CliIo, flag: string, path: string): Promise<string> {
  let text: string;
  if (path === "-") text = await io.readStdin();
  else {
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new UsageError(
        `${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      );
    }
  }
  const s = text.replace(/\r?\n$/, "");
  if (s === "") throw new UsageError(`${flag} ${path}: the file is empty`);
  return s;
}

/** Document fields from the flags that were given (for add and edit). */
async function fieldsFromFlags(io: CliIo, o: FieldOpts): Promise<Record<string, unknown>> {
  if (o.pskFile === "-" && o.passwordFile === "-")
    throw new UsageError("only one of --psk-file and --password-file can read standard input (-)");
  const d: Record<string, unknown> = {};
  if (o.server !== undefined) d.server = o.server;
  if (o.user !== undefined) d.user = o.user;
  if (o.pskFile !== undefined) d.psk = await readSecret(io, "--psk-file", o.pskFile);
  if (o.passwordFile !== undefined)
    d.password = await readSecret(io, "--password-file", o.passwordFile);
  if (o.natPolicy !== undefined)
    d["nat-policy"] = /^\d+$/.test(o.natPolicy) ? Number(o.natPolicy) : o.natPolicy;
  if (o.route !== undefined) d.routes = o.route;
  if (o.defaultRoute !== undefined) d["default-route"] = o.defaultRoute;
  if (o.usePeerDns !== undefined) d["use-peer-dns"] = o.usePeerDns;
  // Certificate files are named, not copied: absolute paths so `connect` finds them anywhere.
  for (const k of ["cert", "key", "ca"] as const) if (o[k] !== undefined) d[k] = resolve(o[k]);
  return d;
}

function invalid(io: CliIo, what: string, issues: readonly { path: string; message: string }[]) {
  io.err(`oakley: ${what}:\n`);
  for (const i of issues) io.err(`  ${i.path}: ${i.message}\n`);
  io.setExitCode(EXIT.usage);
}

function describeRoutes(p: ClientProfile): string {
  if (p.defaultRoute) return "all traffic (default route)";
  return p.routes.length > 0 ? p.routes.join(", ") : "(none: only the VPN's own network)";
}

/** What show and list may print: the secrets only as "(set)". */
export function publicView(s: StoredProfile): Record<string, unknown> {
  const p = s.value;
  return {
    name: s.name,
    ...(p
      ? {
          server: p.server,
          user: p.user,
          psk: p.psk !== undefined ? "(set)" : null,
          ...(p.cert !== undefined ? { cert: p.cert, key: p.key, ca: p.ca } : {}),
          password: p.password !== undefined ? "(set)" : null,
          natPolicy: p.natPolicy,
          defaultRoute: p.defaultRoute,
          routes: [...p.routes],
          usePeerDns: p.usePeerDns,
          allowWeakPsk: p.allowWeakPsk,
        }
      : {}),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    ...(s.readOnly ? { readOnly: s.readOnly } : {}),
  };
}

function showText(s: StoredProfile, where: string): string {
  const p = s.value;
  const lines = [`Profile ${s.name} (${where})`];
  if (s.readOnly) lines.push(`  read-only: ${s.readOnly}`);
  if (!p) {
    lines.push("  (this version cannot read the profile's fields)");
    return `${lines.join("\n")}\n`;
  }
  const row = (k: string, v: string) => lines.push(`  ${`${k}:`.padEnd(14)}${v}`);
  row("server", p.server);
  row("user", p.user);
  if (p.psk !== undefined)
    row("psk", `(set)${p.allowWeakPsk ? " — shorter than 16 characters, allowed" : ""}`);
  if (p.cert !== undefined) {
    row("certificate", p.cert);
    row("key", p.key ?? "");
    row("ca", p.ca ?? "");
  }
  row(
    "password",
    p.password !== undefined ? "(set)" : "(not set: oakley connect asks for --password)",
  );
  row("nat-policy", `${p.natPolicy} (${NAT_POLICY_TEXT[p.natPolicy]})`);
  row("routes", describeRoutes(p));
  row("use-peer-dns", p.usePeerDns ? "yes" : "no");
  row("changed", s.updatedAt);
  return `${lines.join("\n")}\n`;
}

/** The unit template shipped with Oakley. */
export function unitTemplatePath(): string {
  return fileURLToPath(new URL(`../../../packaging/systemd/${UNIT_TEMPLATE}`, import.meta.url));
}

/** This installation's `oakley` command (what the unit runs). */
export function oakleyBinPath(): string {
  return fileURLToPath(new URL("../../../bin/oakley", import.meta.url));
}

/** The unit text for this installation: ExecStart points at this Oakley's bin/oakley. */
export function renderUnit(template: string, bin: string): string {
  return template.replace(/^ExecStart=\S+/m, `ExecStart=${bin}`);
}

/** The drop-in that points one instance at a profile store other than the default. */
export function storeDropIn(storePath: string): string {
  const abs = resolve(storePath);
  return [
    "# Written by oakley profile install-service: this connection's profile store.",
    "[Service]",
    `Environment=${PROFILE_STORE_ENV}=${abs}`,
    `ReadWritePaths=${dirname(abs)}`,
    "",
  ].join("\n");
}

function systemdRuns(): boolean {
  return existsSync("/run/systemd/system");
}

function hasSystemctl(): boolean {
  try {
    execFileSync("systemctl", ["--version"], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

export function register(program: Command, io: CliIo = processIo()): void {
  const profile = program
    .command("profile")
    .description("saved client connections (for oakley connect NAME and the systemd service)");
  const withStore = (c: Command) =>
    c.option(
      "--profile-store <file>",
      `client profile store (or ${PROFILE_STORE_ENV}; default ${DEFAULT_PROFILE_STORE})`,
    );

  withStore(
    profile
      .command("add")
      .description("save a connection as a profile")
      .argument("<name>", "profile name (letters, digits, '.', '-', '_')"),
  )
    .requiredOption("--server <address>", "the server's address or host name")
    .option(
      "--psk-file <file>",
      "file holding the server's pre-shared key (- = stdin); or --cert/--key/--ca",
    )
    .option("--cert <file>", "your certificate (PEM), instead of a pre-shared key")
    .option("--key <file>", "the private key of --cert (PEM; the file is named, not copied)")
    .option("--ca <file>", "the CA certificate the server's certificate must chain to (PEM)")
    .requiredOption("--user <name>", "your user name")
    .option(
      "--password-file <file>",
      "file holding your password (- = stdin); else asked at connect",
    )
    .option("--nat-policy <0|1|2>", "0 refuse servers behind NAT, 1 allow, 2 also both behind NAT")
    .option("--route <cidr>", "send this network through the VPN (repeatable)", collect)
    .option("--default-route", "send all traffic through the VPN")
    .option("--use-peer-dns", "use the DNS servers the server hands out while connected")
    .option("--allow-weak-psk", "accept a pre-shared key shorter than 16 characters")
    .action(
      action(io, async (name: string, o: FieldOpts) => {
        const doc = { name, ...(await fieldsFromFlags(io, o)) };
        const c = checkProfile(doc, { allowWeakPsk: o.allowWeakPsk === true });
        if (!c.value) return invalid(io, `profile '${name}' not saved`, c.issues);
        const s = openForWrite(o);
        if (!s.ok) return fail(io, s.error);
        try {
          const r = s.value.add(c.value);
          if (!r.ok) return fail(io, r.error);
          io.out(
            `saved profile '${name}' in ${s.value.path}; connect with: oakley connect ${name}\n`,
          );
        } finally {
          s.value.close();
        }
      }),
    );

  withStore(profile.command("list").description("list saved profiles"))
    .option("--json", "machine-readable output")
    .action(
      action(io, async (o: FieldOpts) => {
        const s = openForRead(o);
        if (!s.ok) {
          if (s.error.code === StoreErrorCode.NotFound) {
            io.out(o.json ? "[]\n" : "no profiles (add one with oakley profile add NAME …)\n");
            return;
          }
          return fail(io, s.error);
        }
        try {
          const l = s.value.list();
          if (!l.ok) return fail(io, l.error);
          if (o.json) return io.out(toJson(l.value.map(publicView)));
          if (l.value.length === 0)
            return io.out("no profiles (add one with oakley profile add NAME …)\n");
          io.out(
            table(
              ["NAME", "SERVER", "USER", "ROUTES", "FLAGS"],
              l.value.map((p) => [
                p.name,
                p.value?.server ?? "?",
                p.value?.user ?? "?",
                p.value
                  ? p.value.defaultRoute
                    ? "default"
                    : p.value.routes.join(",") || "-"
                  : "?",
                p.readOnly ? "[read-only]" : "",
              ]),
            ),
          );
        } finally {
          s.value.close();
        }
      }),
    );

  withStore(
    profile.command("show").description("show one profile (secrets as (set))").argument("<name>"),
  )
    .option("--json", "machine-readable output")
    .action(
      action(io, async (name: string, o: FieldOpts) => {
        const s = openForRead(o);
        if (!s.ok) return fail(io, s.error);
        try {
          const p = s.value.get(name);
          if (!p.ok) return fail(io, p.error);
          io.out(o.json ? toJson(publicView(p.value)) : showText(p.value, `store ${s.value.path}`));
        } finally {
          s.value.close();
        }
      }),
    );

  withStore(
    profile
      .command("edit")
      .description("change fields of a profile (the others stay)")
      .argument("<name>"),
  )
    .option("--name <new-name>", "rename the profile")
    .option("--server <address>", "the server's address or host name")
    .option("--psk-file <file>", "file holding the server's pre-shared key (- = stdin)")
    .option("--cert <file>", "your certificate (PEM)")
    .option("--key <file>", "the private key of --cert (PEM)")
    .option("--ca <file>", "the CA certificate the server's certificate must chain to (PEM)")
    .option("--user <name>", "your user name")
    .option("--password-file <file>", "file holding your password (- = stdin)")
    .option("--no-password", "forget the stored password (asked at connect)")
    .option("--nat-policy <0|1|2>", "0 refuse servers behind NAT, 1 allow, 2 also both behind NAT")
    .option("--route <cidr>", "replace the routes with these (repeatable)", collect)
    .option("--no-routes", "remove all routes")
    .option("--default-route", "send all traffic through the VPN")
    .option("--no-default-route", "send only the routes through the VPN")
    .option("--use-peer-dns", "use the server's DNS servers while connected")
    .option("--no-use-peer-dns", "keep the system's DNS servers")
    .option("--allow-weak-psk", "accept a pre-shared key shorter than 16 characters")
    .action(
      action(io, async (name: string, o: FieldOpts) => {
        if (o.passwordFile !== undefined && o.password === false)
          throw new UsageError("give either --password-file or --no-password, not both");
        if (o.route !== undefined && o.routes === false)
          throw new UsageError("give either --route or --no-routes, not both");
        const changes = await fieldsFromFlags(io, o);
        const s = openForWrite(o);
        if (!s.ok) return fail(io, s.error);
        try {
          const cur = s.value.get(name);
          if (!cur.ok) return fail(io, cur.error);
          if (cur.value.readOnly)
            return fail(io, {
              code: StoreErrorCode.NewerObject,
              message: `profile '${name}' cannot be changed here: ${cur.value.readOnly}`,
            });
          if (!cur.value.value)
            return fail(io, {
              code: StoreErrorCode.Invalid,
              message: `profile '${name}' cannot be read; remove it and add it again`,
            });
          const doc: Record<string, unknown> = {
            ...profileToDoc(cur.value.value, { includeSecrets: true }),
            ...changes,
            ...(o.name !== undefined ? { name: o.name } : {}),
          };
          if (o.password === false) delete doc.password;
          if (o.routes === false) doc.routes = [];
          if (changes["default-route"] === true && o.route === undefined) doc.routes = [];
          if (o.allowWeakPsk) doc["allow-weak-psk"] = true;
          const c = checkProfile(doc, { allowWeakPsk: o.allowWeakPsk === true });
          if (!c.value) return invalid(io, `profile '${name}' not changed`, c.issues);
          const r = s.value.replace(name, c.value);
          if (!r.ok) return fail(io, r.error);
          io.out(
            `changed profile '${c.value.name}'${c.value.name !== name ? ` (was '${name}')` : ""} in ${s.value.path}\n`,
          );
        } finally {
          s.value.close();
        }
      }),
    );

  withStore(profile.command("remove").description("delete a profile").argument("<name>")).action(
    action(io, async (name: string, o: FieldOpts) => {
      const s = openForWrite(o);
      if (!s.ok) return fail(io, s.error);
      try {
        const r = s.value.remove(name);
        if (!r.ok) return fail(io, r.error);
        io.out(`removed profile '${name}' from ${s.value.path}\n`);
      } finally {
        s.value.close();
      }
    }),
  );

  withStore(
    profile
      .command("import")
      .description(
        "add a profile from a file (oakley profile export, oakley client-config --format oakley)",
      )
      .argument("<file>", "YAML or JSON file (- = stdin)"),
  )
    .option(
      "--replace",
      "replace a profile of the same name (its secrets stay if the file has none)",
    )
    .option("--allow-weak-psk", "accept a pre-shared key shorter than 16 characters")
    .action(
      action(io, async (file: string, o: FieldOpts) => {
        let text: string;
        if (file === "-") text = await io.readStdin();
        else {
          try {
            text = readFileSync(file, "utf8");
          } catch (e) {
            throw new UsageError(
              `${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
            );
          }
        }
        const doc = parseProfileDocument(text);
        if (!doc.ok) return fail(io, doc.error, EXIT.usage);
        const s = openForWrite(o);
        if (!s.ok) return fail(io, s.error);
        try {
          const name = typeof doc.value.name === "string" ? doc.value.name : undefined;
          const existing = name !== undefined ? s.value.get(name) : undefined;
          if (!o.replace && existing?.ok) {
            return fail(io, {
              code: StoreErrorCode.Exists,
              message: `a profile named '${name}' already exists in ${s.value.path}; import with --replace to replace it (nothing changed)`,
            });
          }
          const body: Record<string, unknown> = { ...doc.value };
          if (o.replace && existing?.ok && existing.value.value) {
            // Secrets left out of an export stay as they are.
            if (body.psk === undefined && existing.value.value.psk !== undefined)
              body.psk = existing.value.value.psk;
            if (body.password === undefined && existing.value.value.password !== undefined)
              body.password = existing.value.value.password;
          }
          const c = checkProfile(body, { allowWeakPsk: o.allowWeakPsk === true });
          if (!c.value) return invalid(io, `${file} not imported (nothing changed)`, c.issues);
          const r =
            o.replace && existing?.ok
              ? s.value.replace(c.value.name, c.value)
              : s.value.add(c.value);
          if (!r.ok) {
            if (r.error.code === StoreErrorCode.Exists)
              return fail(io, {
                ...r.error,
                message: `${r.error.message} (or import with --replace)`,
              });
            return fail(io, r.error);
          }
          io.out(
            `${o.replace && existing?.ok ? "replaced" : "imported"} profile '${c.value.name}' into ${s.value.path}\n`,
          );
        } finally {
          s.value.close();
        }
      }),
    );

  withStore(
    profile
      .command("export")
      .description("write a profile as YAML (without secrets unless --include-secrets)")
      .argument("<name>"),
  )
    .option("-o, --output <file>", "write to this file (created 0600) instead of standard output")
    .option("--include-secrets", "include the pre-shared key and password")
    .option("--force", "overwrite the output file")
    .action(
      action(io, async (name: string, o: FieldOpts) => {
        const s = openForRead(o);
        if (!s.ok) return fail(io, s.error);
        try {
          const p = s.value.get(name);
          if (!p.ok) return fail(io, p.error);
          if (!p.value.value)
            return fail(io, {
              code: StoreErrorCode.NewerObject,
              message: `profile '${name}' cannot be exported by this version: ${p.value.readOnly ?? "unreadable"}`,
            });
          const yaml = profileToYaml(p.value.value, { includeSecrets: o.includeSecrets === true });
          if (o.output === undefined) return io.out(yaml);
          writePrivate(o.output, yaml, o.force === true);
          io.err(
            `wrote profile '${name}' to ${o.output}${o.includeSecrets ? " (holds secrets: mode 0600)" : ""}\n`,
          );
        } finally {
          s.value.close();
        }
      }),
    );

  withStore(
    profile
      .command("install-service")
      .description(
        "run a profile as a systemd service (oakley-connect@NAME), reconnecting on failure",
      )
      .argument("<name>"),
  )
    .option(
      "--unit-dir <dir>",
      `where the unit goes (default ${DEFAULT_UNIT_DIR}; systemctl is not run for another dir)`,
    )
    .option("--no-enable", "install only; do not run systemctl daemon-reload and enable")
    .action(
      action(io, async (name: string, o: FieldOpts) => {
        const storePath = profileStorePath(o.profileStore);
        const s = openProfileStore(storePath, { readOnly: true });
        if (!s.ok) return fail(io, s.error);
        try {
          const p = s.value.get(name);
          if (!p.ok) return fail(io, p.error);
          if (p.value.value && p.value.value.password === undefined) {
            io.err(
              `oakley: warning: profile '${name}' has no password; a service cannot ask for one: oakley profile edit ${name} --password-file FILE\n`,
            );
          }
        } finally {
          s.value.close();
        }
        const unitDir = o.unitDir ?? DEFAULT_UNIT_DIR;
        let template: string;
        try {
          template = readFileSync(unitTemplatePath(), "utf8");
        } catch (e) {
          return fail(io, {
            code: "OAK_E_CLI_UNIT_TEMPLATE",
            message: `the unit template ${unitTemplatePath()} is missing from this installation (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
          });
        }
        const written = installUnit(
          unitDir,
          name,
          renderUnit(template, oakleyBinPath()),
          storePath,
        );
        for (const f of written) io.out(`wrote ${f}\n`);
        const instance = `oakley-connect@${name}.service`;
        const commands = [
          ["systemctl", "daemon-reload"],
          ["systemctl", "enable", instance],
        ];
        const mayRun =
          o.enable !== false && o.unitDir === undefined && systemdRuns() && hasSystemctl();
        if (mayRun) {
          for (const c of commands) {
            try {
              execFileSync(c[0] as string, c.slice(1), { stdio: "inherit", timeout: 30_000 });
            } catch (e) {
              return fail(io, {
                code: "OAK_E_CLI_SYSTEMCTL",
                message: `${c.join(" ")} failed (${e instanceof Error ? e.message : String(e)}); run it yourself`,
              });
            }
          }
          io.out(`enabled ${instance}; start it now with: systemctl start ${instance}\n`);
          return;
        }
        const why =
          o.enable === false
            ? "--no-enable"
            : o.unitDir !== undefined
              ? "--unit-dir was given"
              : !systemdRuns()
                ? "this system does not run systemd"
                : "systemctl was not found";
        io.out(
          `not enabled (${why}). To run it as a service:\n${commands.map((c) => `  ${c.join(" ")}`).join("\n")}\n  systemctl start ${instance}\n`,
        );
      }),
    );
}

/** Writes a file that may hold secrets: created 0600; an existing file only with `force`. */
export function writePrivate(path: string, text: string, force: boolean): void {
  if (existsSync(path) && !force)
    throw new UsageError(`${path} already exists; give --force to overwrite it`);
  try {
    writeFileSync(path, text, { mode: 0o600, flag: force ? "w" : "wx" });
    chmodSync(path, 0o600);
  } catch (e) {
    throw new UsageError(
      `cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
}

/** Copies the unit template (and a drop-in for a non-default store) into `unitDir`. */
export function installUnit(
  unitDir: string,
  name: string,
  unit: string,
  storePath: string,
): string[] {
  mkdirSync(unitDir, { recursive: true });
  const written: string[] = [];
  const unitPath = join(unitDir, UNIT_TEMPLATE);
  writeFileSync(unitPath, unit, { mode: 0o644 });
  written.push(unitPath);
  const abs = isAbsolute(storePath) ? storePath : resolve(storePath);
  if (abs !== DEFAULT_PROFILE_STORE) {
    const d = join(unitDir, `oakley-connect@${name}.service.d`);
    mkdirSync(d, { recursive: true });
    const f = join(d, "profile-store.conf");
    writeFileSync(f, storeDropIn(abs), { mode: 0o644 });
    written.push(f);
  }
  return written;
}

// ------------------------------------------------------------------ oakley connect NAME

/** connect flag -> document key of a profile, and the environment variable that overrides it. */
const CONNECT_FIELDS: readonly [flag: string, env: string | undefined][] = [
  ["psk", "OAKLEY_PSK"],
  ["user", "OAKLEY_USER"],
  ["password", "OAKLEY_PASSWORD"],
  ["natPolicy", "OAKLEY_NAT_POLICY"],
  ["route", "OAKLEY_ROUTE"],
  ["defaultRoute", "OAKLEY_DEFAULT_ROUTE"],
  ["usePeerDns", "OAKLEY_USE_PEER_DNS"],
  ["cert", "OAKLEY_CERT"],
  ["key", "OAKLEY_KEY"],
  ["ca", "OAKLEY_CA"],
];

const flagName = (k: string): string => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export interface ProfileUse {
  /** The flags for loadConnectConfig: the profile's fields where nothing overrides them. */
  readonly flags: Record<string, unknown>;
  /** What was used, for a person (absent: SERVER was not a profile). */
  readonly message?: string;
  /** The profile's name, when SERVER named one. */
  readonly profile?: string;
}

/**
 * If SERVER names a saved profile, fills the connect flags from it. Flags given on the command
 * line and OAKLEY_* variables override the profile's fields (the message lists which).
 */
export function profileForConnect(
  server: string,
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
  /** The store used when neither --profile-store nor the environment names one. */
  defaultPath: string = DEFAULT_PROFILE_STORE,
): Result<ProfileUse, string> {
  const explicitStore = typeof flags.profileStore === "string" || !!env[PROFILE_STORE_ENV];
  const path = profileStorePath(flags.profileStore as string | undefined, env, defaultPath);
  if (!isProfileName(server)) return ok({ flags });
  if (!existsSync(path)) {
    return explicitStore
      ? err(`profile store ${path} does not exist (check --profile-store / ${PROFILE_STORE_ENV})`)
      : ok({ flags });
  }
  try {
    if (statSync(path).isDirectory()) return err(`profile store ${path} is a directory`);
  } catch {
    // openProfileStore reports it
  }
  const s = openProfileStore(path, { readOnly: true });
  if (!s.ok) {
    if (explicitStore) return err(`${s.error.message} [${s.error.code}]`);
    // The default store exists but cannot be read (e.g. not root): say so, and go on with
    // SERVER as an address rather than refuse a plain `oakley connect vpn.example.com`.
    return ok({
      flags,
      message: `${s.error.message}; taking '${server}' as the server's address, not as a profile`,
    });
  }
  try {
    const p = s.value.get(server);
    if (!p.ok) {
      if (p.error.code === StoreErrorCode.NotFound) return ok({ flags });
      return err(`${p.error.message} [${p.error.code}]`);
    }
    const prof = p.value.value;
    if (!prof) {
      return err(
        `profile '${server}' in ${path} cannot be used by this version: ${p.value.readOnly ?? "unreadable"}`,
      );
    }
    const fromProfile: Record<string, unknown> = {
      ...(prof.psk !== undefined ? { psk: prof.psk } : {}),
      ...(prof.cert !== undefined ? { cert: prof.cert, key: prof.key, ca: prof.ca } : {}),
      user: prof.user,
      ...(prof.password !== undefined ? { password: prof.password } : {}),
      natPolicy: prof.natPolicy,
      route: [...prof.routes],
      defaultRoute: prof.defaultRoute,
      usePeerDns: prof.usePeerDns,
    };
    const out: Record<string, unknown> = { ...flags, server: prof.server };
    const overridden: string[] = [];
    for (const [k, envKey] of CONNECT_FIELDS) {
      if (flags[k] !== undefined) {
        overridden.push(flagName(k));
        continue;
      }
      if (envKey && env[envKey]) {
        overridden.push(envKey);
        continue;
      }
      if (fromProfile[k] !== undefined) out[k] = fromProfile[k];
    }
    return ok({
      flags: out,
      profile: server,
      message:
        `using profile '${server}' from ${path} (server ${prof.server}, user ${prof.user})` +
        (overridden.length > 0 ? `; overridden by ${overridden.join(", ")}` : ""),
    });
  } finally {
    s.value.close();
  }
}
