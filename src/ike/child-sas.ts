/**
 * Child SAs (ESP) on the IKE engine's side: the one table that owns them (by id and by inbound
 * SPI, with the SPIs reserved for Quick Modes in flight), installing a negotiated pair (KEYMAT,
 * RFC 2409 section 5.5, lifetimes with a jittered soft deadline, the rekey overlap) and
 * rekeying one at its soft lifetime.
 */
import { keymat } from "../crypto/index.js";
import type { EspEncryption, EspIntegrity as EspIntegrityName } from "../crypto/esp/suites.js";
import { secret } from "../obs/log.js";
import { asInboundSpi, type InboundSpi, type Spi } from "../wire/esp/esp.js";
import type { EngineContext } from "./context.js";
import { IkeErrorCode, failure } from "./errors.js";
import { spiBytes } from "./exchanges/common.js";
import { startMainMode } from "./exchanges/main-mode.js";
import { startQuick } from "./exchanges/quick-mode.js";
import { selectorText } from "./identity.js";
import type { ChildSa, IkeSa, QuickExchange } from "./ike-sa.js";
import type { EspCipher, EspIntegrity, Phase2Suite } from "./suites.js";

/**
 * After a rekey the old SA pair stays installed this long, so that packets the peer sent on it
 * before it switched still arrive.
 */
export const REKEY_OVERLAP_MS = 5_000;

/** Child SAs by id and by inbound SPI, and the inbound SPIs handed out but not yet installed. */
export class ChildSaTable {
  private readonly byId = new Map<number, ChildSa>();
  private readonly byInboundSpi = new Map<InboundSpi, number>();
  private readonly reserved = new Set<InboundSpi>();
  private serial = 0;

  get all(): ReadonlyMap<number, ChildSa> {
    return this.byId;
  }

  get(id: number): ChildSa | undefined {
    return this.byId.get(id);
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  byInbound(spi: InboundSpi): ChildSa | undefined {
    const id = this.byInboundSpi.get(spi);
    return id === undefined ? undefined : this.byId.get(id);
  }

  nextId(): number {
    return ++this.serial;
  }

  add(child: ChildSa): void {
    this.byId.set(child.id, child);
    this.byInboundSpi.set(child.inboundSpi, child.id);
  }

  /** False when it was not there (deleted already). */
  remove(child: ChildSa): boolean {
    if (!this.byId.delete(child.id)) return false;
    this.byInboundSpi.delete(child.inboundSpi);
    return true;
  }

  /** A fresh inbound SPI (not in use, not reserved, >= 256: RFC 4303 section 2.1), reserved. */
  reserveSpi(random: (n: number) => Buffer): InboundSpi {
    for (;;) {
      const spi = asInboundSpi(random(4).readUInt32BE(0));
      if (spi >= 256 && !this.byInboundSpi.has(spi) && !this.reserved.has(spi)) {
        this.reserved.add(spi);
        return spi;
      }
    }
  }

  releaseSpi(spi: InboundSpi): void {
    this.reserved.delete(spi);
  }
}

/** What installing and rekeying needs of the engine besides the exchange context. */
export interface ChildSaHost extends EngineContext {
  readonly childTable: ChildSaTable;
  /** An IKE SA to `address` (established or still negotiating) that is not being replaced. */
  findSaToPeer(address: string, established: boolean): IkeSa | undefined;
}

const INTEGRITY_KEY: Readonly<Record<EspIntegrity, number>> = {
  none: 0,
  "hmac-md5-96": 16,
  "hmac-sha1-96": 20,
  "hmac-sha2-256-128": 32,
  "hmac-sha2-384-192": 48,
  "hmac-sha2-512-256": 64,
};
const INTEGRITY_NAME: Readonly<Record<EspIntegrity, EspIntegrityName>> = {
  none: "none",
  "hmac-md5-96": "hmac-md5-96",
  "hmac-sha1-96": "hmac-sha1-96",
  "hmac-sha2-256-128": "hmac-sha256-128",
  "hmac-sha2-384-192": "hmac-sha384-192",
  "hmac-sha2-512-256": "hmac-sha512-256",
};

function espEncryptionName(c: EspCipher, bits: number): EspEncryption {
  switch (c) {
    case "3des-cbc":
      return "3des-cbc";
    case "null":
      return "null";
    case "aes-cbc":
      return `aes${bits}-cbc` as EspEncryption;
    case "aes-gcm-8":
      return `aes${bits}-gcm8` as EspEncryption;
    case "aes-gcm-12":
      return `aes${bits}-gcm12` as EspEncryption;
    case "aes-gcm-16":
      return `aes${bits}-gcm16` as EspEncryption;
  }
}

/** Cipher key octets in KEYMAT (RFC 4106 §8.1: AES-GCM takes 4 extra salt octets). */
function cipherKeyLength(s: Phase2Suite): number {
  if (s.cipher === "null") return 0;
  if (s.cipher === "3des-cbc") return 24;
  return s.keyBits / 8 + (s.cipher.startsWith("aes-gcm") ? 4 : 0);
}

export function suiteName(s: Phase2Suite): string {
  const enc = espEncryptionName(s.cipher, s.keyBits);
  return `ESP ${enc}${s.integrity === "none" ? "" : `/${INTEGRITY_NAME[s.integrity]}`}${s.pfsGroup ? ` PFS group ${s.pfsGroup}` : ""}`;
}

export function installChild(ctx: ChildSaHost, sa: IkeSa, ex: QuickExchange): void {
  const suite = ex.suite!;
  const c = sa.crypto!;
  const encLen = cipherKeyLength(suite);
  const intLen = INTEGRITY_KEY[suite.integrity];
  const km = (spi: Spi) =>
    keymat({
      prf: c.prf,
      skeyidD: sa.keys!.skeyidD,
      protocol: 3,
      spi: spiBytes(spi),
      niB: ex.ni!,
      nrB: ex.nr!,
      ...(ex.gqmxy ? { gqmxy: ex.gqmxy } : {}),
      length: Math.max(1, encLen + intLen),
    });
  const kin = km(ex.ourSpi);
  const kout = km(ex.peerSpi!);
  if (!kin.ok || !kout.ok) {
    ctx.fail("quick-mode", failure(IkeErrorCode.Crypto, "KEYMAT derivation failed"), sa.peer, sa, {
      keepSa: true,
    });
    return;
  }
  ctx.childTable.releaseSpi(ex.ourSpi);
  const split = (k: Buffer) => ({
    encryption: Buffer.from(k.subarray(0, encLen)),
    integrity: Buffer.from(k.subarray(encLen, encLen + intLen)),
  });
  const id = ctx.childTable.nextId();
  const hardMs = suite.lifeSeconds * 1000;
  const margin = ctx.config.phase2.rekeyMargin;
  // Jitter the soft deadline (up to 1/3 of the margin) so both ends do not rekey at once.
  const jitter = (ctx.random(2).readUInt16BE(0) / 65536) * (margin / 3);
  const softMs = Math.max(1000, Math.floor(hardMs * (1 - margin - jitter)));
  const child: ChildSa = {
    id,
    ikeSaId: sa.id,
    initiatedByUs: ex.role === "initiator",
    mode: suite.mode,
    suite,
    inboundSpi: ex.ourSpi,
    outboundSpi: ex.peerSpi!,
    selectors: ex.selectors!,
    request: ex.request ?? { mode: suite.mode },
    installedAt: ctx.now,
    hardAt: ctx.now + hardMs,
    rekeyed: false,
    cancelTimers: [],
  };
  ctx.childTable.add(child);
  sa.children.add(id);
  const natt = sa.nat.anyNat ? sa.vids.natt : "none";
  const kb = suite.lifeKilobytes;
  ctx.action({
    kind: "install-child-sa",
    child: {
      childId: id,
      ikeSaId: sa.id,
      mode: suite.mode,
      suite,
      espEncryption: espEncryptionName(suite.cipher, suite.keyBits),
      espIntegrity: INTEGRITY_NAME[suite.integrity],
      inbound: { spi: child.inboundSpi, keys: split(kin.value) },
      outbound: { spi: child.outboundSpi, keys: split(kout.value) },
      local: sa.local.address,
      remote: sa.peer.address,
      ...(natt !== "none"
        ? {
            encap: {
              localPort: 4500 as const,
              peer: sa.peer,
              method: natt,
              natOa: ex.natOa ?? {},
            },
          }
        : {}),
      selectors: child.selectors,
      lifetimes: {
        softSeconds: Math.floor(softMs / 1000),
        hardSeconds: suite.lifeSeconds,
        softKilobytes: kb > 0 ? Math.floor(kb * (1 - margin)) : 0,
        hardKilobytes: kb,
      },
      ...(ex.rekeyOf !== undefined ? { replaces: ex.rekeyOf } : {}),
    },
  });
  ctx.counters.inc("ike_child_installed");
  sa.log.info("child SA installed", {
    child: id,
    mode: suite.mode,
    suite: suiteName(suite),
    spiIn: child.inboundSpi.toString(16),
    spiOut: child.outboundSpi.toString(16),
    local: selectorText(child.selectors.local),
    remote: selectorText(child.selectors.remote),
    natOa: ex.natOa,
    keyIn: secret(kin.value),
    keyOut: secret(kout.value),
  });
  ctx.emit({
    type: "phase2-up",
    ikeSaId: sa.id,
    childId: id,
    role: ex.role,
    mode: suite.mode,
    suite: suiteName(suite),
    inboundSpi: child.inboundSpi,
    outboundSpi: child.outboundSpi,
    local: selectorText(child.selectors.local),
    remote: selectorText(child.selectors.remote),
    rekey: ex.rekeyOf !== undefined,
  });
  child.cancelTimers.push(
    ctx.schedule(child.hardAt, () => ctx.deleteChild(child, "lifetime expired", true)),
    ctx.schedule(ctx.now + softMs, () => maybeRekey(ctx, child)),
  );
  if (ex.rekeyOf !== undefined) {
    // Rekey without dropping traffic: new traffic takes the new SA at once (the driver moves
    // outbound to it), but the old SA pair stays installed for REKEY_OVERLAP_MS so packets
    // the peer sent on it before it switched still arrive; then it is deleted (with a Delete
    // to the peer), as strongSwan does with its delete-rekeyed delay.
    const old = ctx.childTable.get(ex.rekeyOf);
    if (old) {
      old.cancelTimers.push(
        ctx.schedule(ctx.now + REKEY_OVERLAP_MS, () =>
          ctx.deleteChild(old, "replaced by a rekeyed SA", true),
        ),
      );
    }
  }
}

export function maybeRekey(ctx: ChildSaHost, child: ChildSa): void {
  if (child.rekeyed || !ctx.childTable.has(child.id)) return;
  const sa = ctx.sas.get(child.ikeSaId);
  if (!child.initiatedByUs) return; // the peer that created it rekeys it
  if (sa?.vids.windows && sa.nat.anyNat) return; // Windows behind NAT rekeys itself
  child.rekeyed = true;
  const target =
    sa && sa.state === "ESTABLISHED"
      ? sa
      : sa
        ? ctx.findSaToPeer(sa.peer.address, true)
        : undefined;
  if (target) {
    startQuick(ctx, target, child.request, child.id);
    return;
  }
  const peerAddress = sa?.peer.address;
  const local = ctx.config.localAddress;
  if (!peerAddress || !local) return;
  const fresh = startMainMode(
    ctx,
    { address: local, port: 500 },
    { address: peerAddress, port: 500 },
  );
  fresh.waiting.push({ request: child.request, rekeyOf: child.id });
}
