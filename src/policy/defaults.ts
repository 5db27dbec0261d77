/**
 * The default store: what `oakley serve` with no arguments runs on (DESIGN "product surface").
 *
 * Seeds an L2TP/IPsec server policy that the built-in OS clients connect to:
 *  - Quick Mode: ESP transport for UDP/1701 from this host (mirrored), offers in order
 *    AES-GCM-16-256, AES-GCM-16-128, AES-CBC-256/128 with SHA2-256, then with SHA1, and
 *    3DES/SHA1 last (a legacy offer: used only when settings.allowLegacyCrypto is on);
 *    no PFS (Windows' built-in L2TP client does not use it).
 *  - Main Mode: AES-CBC-256/SHA2-256 with ECP-384, ECP-256, MODP-2048; AES-CBC-256 and -128
 *    /SHA1/MODP-2048 (Windows); AES-CBC-256/SHA1/MODP-1024 and 3DES/SHA1/MODP-1024 last, legacy.
 *  - A generated PSK (144 bits, base64url) and a first user with a generated password,
 *    returned once so the daemon can print them; an address pool 10.8.0.0/24.
 * Opening an existing store with policies seeds nothing and returns no secrets.
 */
import { err, ok, type Result } from "../base/result.js";
import { makeCredentials, type RandomBytes } from "./credentials.js";
import type { StoreError } from "./errors.js";
import type { MainModeOffer, Policy, QuickModeOffer } from "./model.js";
import { DEFAULT_SETTINGS } from "./model.js";
import { type OpenOptions, openStore, type PolicyStore } from "./store.js";

export const DEFAULT_POLICY = "l2tp-ipsec-server";
export const DEFAULT_PSK = "default";
export const DEFAULT_POOL = "default";
export const DEFAULT_USER = "vpnuser";

const mm = (
  encryption: "aes-cbc" | "3des-cbc",
  keyLength: number | undefined,
  hash: "sha1" | "sha2-256",
  dhGroup: MainModeOffer["dhGroup"],
): MainModeOffer => ({
  encryption,
  ...(keyLength !== undefined ? { keyLength } : {}),
  hash,
  dhGroup,
  lifetimeSeconds: 28800,
});

const qm = (
  encryption: QuickModeOffer["encryption"],
  keyLength: number | undefined,
  integrity: QuickModeOffer["integrity"],
): QuickModeOffer => ({
  encryption,
  ...(keyLength !== undefined ? { keyLength } : {}),
  integrity,
  pfs: "none",
  lifetimeSeconds: 3600,
  lifetimeKilobytes: 250000,
  encapsulation: "transport",
});

export function defaultServerPolicy(): Policy {
  return {
    name: DEFAULT_POLICY,
    description: "L2TP/IPsec server: protect L2TP (UDP 1701) with ESP transport mode",
    mainMode: {
      offers: [
        mm("aes-cbc", 256, "sha2-256", "ecp384"),
        mm("aes-cbc", 256, "sha2-256", "ecp256"),
        mm("aes-cbc", 256, "sha2-256", "modp2048"),
        mm("aes-cbc", 256, "sha1", "modp2048"),
        mm("aes-cbc", 128, "sha1", "modp2048"),
        mm("aes-cbc", 256, "sha1", "modp1024"),
        mm("3des-cbc", undefined, "sha1", "modp1024"),
      ],
    },
    rules: [
      {
        name: "l2tp",
        description: "L2TP control and data to and from this host",
        enabled: true,
        filterListName: "L2TP (UDP 1701)",
        filters: [
          {
            source: "me",
            destination: "any",
            protocol: "udp",
            sourcePort: "1701",
            destinationPort: "any",
            mirrored: true,
          },
        ],
        action: {
          type: "negotiate",
          offers: [
            qm("aes-gcm-16", 256, "none"),
            qm("aes-gcm-16", 128, "none"),
            qm("aes-cbc", 256, "sha2-256"),
            qm("aes-cbc", 128, "sha2-256"),
            qm("aes-cbc", 256, "sha1"),
            qm("aes-cbc", 128, "sha1"),
            qm("3des-cbc", undefined, "sha1"),
          ],
          allowClearFallback: false,
        },
        authentication: [{ method: "psk", psk: DEFAULT_PSK }],
        tunnel: { mode: "transport" },
      },
    ],
  };
}

export interface InitialSecrets {
  readonly psk: string;
  readonly user: { readonly name: string; readonly password: string };
}

/**
 * Opens `path`, seeding the default policy, PSK, pool and first user if the store has no
 * policy yet. `initial` is set only when it seeded: print it once, it is not shown again.
 */
export function createDefaultStore(
  path: string,
  random: RandomBytes,
  opts: OpenOptions & { allowLegacyCrypto?: boolean } = {},
): Result<{ store: PolicyStore; initial?: InitialSecrets }, StoreError> {
  const o = openStore(path, opts);
  if (!o.ok) return o;
  const store = o.value;
  const existing = store.policies.list();
  if (!existing.ok) {
    store.close();
    return existing;
  }
  if (existing.value.length > 0 || store.readOnly !== undefined) return ok({ store });
  const psk = Buffer.from(random(18)).toString("base64url");
  const password = Buffer.from(random(12)).toString("base64url");
  const r = store.transaction("seed the default policy", () => {
    store.putInTxn("psk", { name: DEFAULT_PSK, secret: psk }, "upsert");
    store.putInTxn(
      "pool",
      {
        name: DEFAULT_POOL,
        cidr: "10.8.0.0/24",
        first: "10.8.0.10",
        last: "10.8.0.250",
        dns: [],
        wins: [],
      },
      "upsert",
    );
    store.putInTxn(
      "settings",
      {
        ...DEFAULT_SETTINGS,
        allowLegacyCrypto: opts.allowLegacyCrypto === true,
        defaultPool: DEFAULT_POOL,
      },
      "upsert",
    );
    store.putInTxn(
      "user",
      {
        name: DEFAULT_USER,
        enabled: true,
        protocols: ["mschapv2"],
        credentials: makeCredentials(password, random),
      },
      "upsert",
    );
    store.putInTxn("policy", defaultServerPolicy(), "create");
    store.assignInTxn(DEFAULT_POLICY);
  });
  if (!r.ok) {
    store.close();
    return err(r.error);
  }
  return ok({ store, initial: { psk, user: { name: DEFAULT_USER, password } } });
}
