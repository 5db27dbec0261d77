/**
 * StorePolicyOps: the policy and user operations of the management tool over a
 * PolicyStore. The CLI uses it directly on the store file when no daemon runs; the daemon hands
 * the same object to ControlServer (ControlTarget.policy), so a change made through the daemon
 * is committed by the daemon's own store connection and its subscribers apply it live.
 *
 * Validation and the read-only guard are the store's: an object with unknown extensions is
 * listed with its `readOnly` reason, and editing it returns the store's OAK_E_POLICY_NEWER_OBJECT
 * message unchanged.
 */
import { randomBytes } from "node:crypto";
import YAML from "yaml";
import { err, ok, type Result } from "../base/result.js";
import {
  effectivePolicy,
  exportJson,
  exportYaml,
  importJson,
  importYaml,
  makeCredentials,
  type Policy,
  type PolicyStore,
  type RandomBytes,
  type StoredObject,
  type StoredPolicy,
  type StoreError,
  StoreErrorCode,
  USER_AUTH_PROTOCOLS,
  type User,
  type UserAuthProtocol,
} from "../policy/index.js";
import { type ControlError, ControlErrorCode, controlError } from "./errors.js";
import type { Json, JsonObject } from "./protocol.js";
import type {
  ImportResult,
  PolicyDetail,
  PolicyOps,
  PolicyShow,
  PolicySummary,
  UserSummary,
} from "./types.js";

export interface StorePolicyOpsOptions {
  readonly random?: RandomBytes;
  /** scrypt cost for new PAP verifiers (tests lower it; default is policy/'s). */
  readonly scrypt?: { n: number; r: number; p: number };
}

/** A StoreError as it travels on the wire (same code, message, issues, extensions). */
export function fromStoreError(e: StoreError): ControlError {
  return controlError(e.code, e.message, {
    ...(e.issues ? { issues: e.issues } : {}),
    ...(e.extensions ? { extensions: e.extensions } : {}),
  });
}

function wrap<T>(r: Result<T, StoreError>): Result<T, ControlError> {
  return r.ok ? r : err(fromStoreError(r.error));
}

/** Keys an export puts on a policy entry that are store state, not part of the policy object. */
const POLICY_STATE_KEYS = ["assigned", "persistent", "persistentOrder"];

function summary(p: StoredPolicy): PolicySummary {
  const rules =
    p.value?.rules.length ?? (Array.isArray(p.document.rules) ? p.document.rules.length : 0);
  const description =
    p.value?.description ??
    (typeof p.document.description === "string" ? p.document.description : undefined);
  return {
    name: p.name,
    ...(description !== undefined ? { description } : {}),
    assigned: p.assigned,
    persistent: p.persistent,
    persistentOrder: p.persistentOrder,
    rules,
    ...(p.readOnly !== undefined ? { readOnly: p.readOnly } : {}),
    extensions: Object.keys(p.extensions).sort(),
    issues: p.issues.map((i) => ({ path: i.path, message: i.message })),
  };
}

function detail(p: StoredPolicy): PolicyDetail {
  return { ...summary(p), document: p.document as JsonObject };
}

function userSummary(u: StoredObject<"user">): UserSummary {
  const d = u.document;
  const v = u.value;
  const protocols =
    v?.protocols ??
    (Array.isArray(d.protocols)
      ? d.protocols.filter((x): x is string => typeof x === "string")
      : []);
  const pool = v?.pool ?? (typeof d.pool === "string" ? d.pool : undefined);
  const staticAddress =
    v?.staticAddress ?? (typeof d.staticAddress === "string" ? d.staticAddress : undefined);
  return {
    name: u.name,
    enabled: v?.enabled ?? d.enabled !== false,
    protocols: [...protocols],
    ...(pool !== undefined ? { pool } : {}),
    ...(staticAddress !== undefined ? { staticAddress } : {}),
    ...(u.readOnly !== undefined ? { readOnly: u.readOnly } : {}),
    extensions: Object.keys(u.extensions).sort(),
  };
}

function checkProtocols(
  list: readonly string[] | undefined,
): Result<UserAuthProtocol[], ControlError> {
  if (list === undefined) return ok(["mschapv2"]);
  const bad = list.filter((p) => !(USER_AUTH_PROTOCOLS as readonly string[]).includes(p));
  if (bad.length > 0 || list.length === 0) {
    return err(
      controlError(
        ControlErrorCode.BadParams,
        `unknown authentication protocol ${bad.map((b) => `'${b}'`).join(", ") || "(none given)"}; use ${USER_AUTH_PROTOCOLS.join(", ")}`,
      ),
    );
  }
  return ok([...new Set(list)] as UserAuthProtocol[]);
}

export class StorePolicyOps implements PolicyOps {
  private readonly random: RandomBytes;

  constructor(
    readonly store: PolicyStore,
    private readonly opts: StorePolicyOpsOptions = {},
  ) {
    this.random = opts.random ?? ((n) => randomBytes(n));
  }

  show(): Result<PolicyShow, ControlError> {
    const pers = this.store.persistent();
    if (!pers.ok) return wrap(pers);
    const asg = this.store.assigned();
    if (!asg.ok) return wrap(asg);
    const eff = effectivePolicy(this.store);
    const settings = this.store.settings();
    const base = {
      persistent: pers.value.map(detail),
      ...(asg.value ? { assigned: detail(asg.value) } : {}),
      fips: (settings.ok ? settings.value.value?.fips : undefined) ?? ("off" as const),
      ...(settings.ok && settings.value.value?.radius
        ? { radius: settings.value.value.radius }
        : {}),
    };
    if (!eff.ok) return ok({ ...base, rules: [], warnings: [], unusable: eff.error.message });
    return ok({
      ...base,
      rules: eff.value.rules.map((r) => ({
        policy: r.policy,
        source: r.source,
        rule: r.rule,
        action: r.action.type,
      })),
      warnings: [...eff.value.warnings],
    });
  }

  list(): Result<PolicySummary[], ControlError> {
    const l = this.store.policies.list();
    return l.ok ? ok(l.value.map(summary)) : wrap(l);
  }

  get(name: string): Result<PolicyDetail, ControlError> {
    const g = this.store.policies.get(name);
    return g.ok ? ok(detail(g.value)) : wrap(g);
  }

  add(
    document: JsonObject,
    opts: { persistent?: boolean; order?: number; assign?: boolean },
  ): Result<PolicySummary, ControlError> {
    const doc: Record<string, Json> = { ...document };
    for (const k of POLICY_STATE_KEYS) delete doc[k];
    const name = doc.name;
    if (typeof name !== "string") {
      return err(
        controlError(
          StoreErrorCode.Invalid,
          "the policy has no name; give one as NAME or write 'name:' in the file",
        ),
      );
    }
    const r = this.store.transaction(`add policy '${name}'`, () => {
      this.store.putInTxn("policy", doc, "create");
      if (opts.persistent) this.store.setPersistentInTxn(name, true, opts.order ?? 0);
      if (opts.assign) this.store.assignInTxn(name);
    });
    if (!r.ok) return wrap(r);
    const g = this.store.policies.get(name);
    return g.ok ? ok(summary(g.value)) : wrap(g);
  }

  edit(name: string, document: JsonObject): Result<PolicySummary, ControlError> {
    const doc: Record<string, Json> = { ...document };
    for (const k of POLICY_STATE_KEYS) delete doc[k];
    if (doc.name === undefined) doc.name = name;
    const r = this.store.policies.update(name, doc as unknown as Policy);
    if (!r.ok) return wrap(r);
    const g = this.store.policies.get(String(doc.name));
    return g.ok ? ok(summary(g.value)) : wrap(g);
  }

  remove(name: string): Result<void, ControlError> {
    return wrap(this.store.policies.delete(name));
  }

  assign(name: string | null): Result<void, ControlError> {
    return wrap(this.store.assign(name));
  }

  setPersistent(name: string, persistent: boolean, order: number): Result<void, ControlError> {
    return wrap(this.store.setPersistent(name, persistent, order));
  }

  setFips(mode: "off" | "policy-only" | "provider"): Result<void, ControlError> {
    const cur = this.store.settings();
    if (!cur.ok) return wrap(cur);
    const doc: Record<string, Json> = { ...cur.value.document };
    if (mode === "off") delete doc.fips;
    else doc.fips = mode;
    const r = this.store.transaction(`set fips ${mode}`, () => {
      this.store.putInTxn("settings", doc, "upsert");
    });
    return r.ok ? ok(undefined) : wrap(r);
  }

  setRadius(setting: JsonObject | null): Result<void, ControlError> {
    const cur = this.store.settings();
    if (!cur.ok) return wrap(cur);
    const doc: Record<string, Json> = { ...cur.value.document };
    if (setting === null) delete doc.radius;
    else doc.radius = setting;
    const r = this.store.transaction(setting === null ? "remove radius" : "set radius", () => {
      this.store.putInTxn("settings", doc, "upsert");
    });
    return r.ok ? ok(undefined) : wrap(r);
  }

  exportText(format: "yaml" | "json", includeSecrets: boolean): Result<string, ControlError> {
    return wrap(
      format === "yaml"
        ? exportYaml(this.store, { includeSecrets })
        : exportJson(this.store, { includeSecrets }),
    );
  }

  importText(
    text: string,
    format: "yaml" | "json",
    mode: "merge" | "replace",
  ): Result<ImportResult, ControlError> {
    const o = { mode, random: this.random };
    const r = format === "yaml" ? importYaml(this.store, text, o) : importJson(this.store, text, o);
    return r.ok ? ok({ ...r.value }) : wrap(r);
  }

  usersList(): Result<UserSummary[], ControlError> {
    const l = this.store.users.list();
    return l.ok ? ok(l.value.map(userSummary)) : wrap(l);
  }

  usersAdd(
    name: string,
    password: string,
    opts: { protocols?: readonly string[]; pool?: string; staticAddress?: string },
  ): Result<UserSummary, ControlError> {
    const protocols = checkProtocols(opts.protocols);
    if (!protocols.ok) return protocols;
    const pw = checkPassword(password);
    if (!pw.ok) return pw;
    const user: User = {
      name,
      enabled: true,
      protocols: protocols.value,
      ...(opts.pool !== undefined ? { pool: opts.pool } : {}),
      ...(opts.staticAddress !== undefined ? { staticAddress: opts.staticAddress } : {}),
      credentials: this.credentials(password, protocols.value),
    };
    const r = this.store.users.create(user);
    if (!r.ok) return wrap(r);
    const g = this.store.users.get(name);
    return g.ok ? ok(userSummary(g.value)) : wrap(g);
  }

  usersRemove(name: string): Result<void, ControlError> {
    return wrap(this.store.users.delete(name));
  }

  usersPasswd(name: string, password: string): Result<void, ControlError> {
    const pw = checkPassword(password);
    if (!pw.ok) return pw;
    const g = this.store.users.get(name);
    if (!g.ok) return wrap(g);
    const u = g.value;
    if (u.readOnly !== undefined) {
      return err(
        controlError(
          StoreErrorCode.NewerObject,
          `cannot change the password of user '${name}': ${u.readOnly}`,
          { extensions: Object.keys(u.extensions) },
        ),
      );
    }
    if (!u.value) {
      return err(
        controlError(
          StoreErrorCode.Invalid,
          `user '${name}' does not validate; fix it with 'oakley policy import' first`,
        ),
      );
    }
    const next: User = { ...u.value, credentials: this.credentials(password, u.value.protocols) };
    return wrap(this.store.users.update(name, next));
  }

  private credentials(password: string, protocols: readonly UserAuthProtocol[]) {
    return makeCredentials(password, this.random, {
      allowChapMd5: protocols.includes("chap-md5"),
      ...(this.opts.scrypt ? { scrypt: this.opts.scrypt } : {}),
    });
  }
}

function checkPassword(pw: string): Result<void, ControlError> {
  if (pw.length < 8 || pw.length > 256) {
    return err(
      controlError(ControlErrorCode.BadParams, "the password must be 8 to 256 characters long"),
    );
  }
  return ok(undefined);
}

/** Parses a policy file given to `policy add/edit --file`: YAML or JSON, one policy object. */
export function parsePolicyFile(text: string): Result<JsonObject, ControlError> {
  let v: unknown;
  try {
    const d = YAML.parseDocument(text, { uniqueKeys: true });
    if (d.errors.length > 0) {
      return err(
        controlError(
          StoreErrorCode.ImportFormat,
          `not valid YAML or JSON: ${d.errors[0]?.message.split("\n")[0] ?? ""}`,
        ),
      );
    }
    v = d.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return err(
      controlError(
        StoreErrorCode.ImportFormat,
        `not valid YAML or JSON: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
      ),
    );
  }
  // An export with one policy is accepted too.
  if (
    v &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    Array.isArray((v as { policies?: unknown }).policies)
  ) {
    const ps = (v as { policies: unknown[] }).policies;
    if (ps.length !== 1) {
      return err(
        controlError(
          StoreErrorCode.ImportFormat,
          `the file holds ${ps.length} policies; give one, or use 'oakley policy import'`,
        ),
      );
    }
    v = ps[0];
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) {
    return err(
      controlError(
        StoreErrorCode.ImportFormat,
        "the file must hold one policy (a mapping with name, mainMode, rules)",
      ),
    );
  }
  return ok(v as JsonObject);
}
