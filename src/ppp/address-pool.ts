/**
 * IPv4 address pool for IPCP (RFC 1332 §3.3 IP-Address assignment by the server).
 * A CIDR block (network and broadcast addresses excluded, plus any reserved addresses such as
 * the server's own PPP address), optional per-user static addresses (which may lie outside the
 * block and are never handed to anyone else), release on link down, and an error value when
 * the pool is exhausted. One pool is shared by every session of a server; it is the one piece
 * of mutable state the engine reaches through its config (documented in session.ts).
 */
import { type Result, err, ok } from "../base/result.js";
import { ipv4FromString } from "../wire/ppp/control.js";

export const PoolErrorCode = {
  Exhausted: "OAK_E_PPP_POOL_EXHAUSTED",
  StaticInUse: "OAK_E_PPP_STATIC_ADDRESS_IN_USE",
} as const;
export type PoolErrorCode = (typeof PoolErrorCode)[keyof typeof PoolErrorCode];
export interface PoolError {
  readonly code: PoolErrorCode;
  readonly message: string;
}

export interface AddressPoolConfig {
  /** e.g. "203.0.113.0/24". */
  readonly cidr: string;
  /** Addresses never handed out (e.g. the server's PPP address 203.0.113.1). */
  readonly reserved?: readonly string[];
  /** user name -> fixed address. */
  readonly staticAddresses?: Readonly<Record<string, string>>;
}

function toNum(s: string): number {
  const b = ipv4FromString(s);
  if (!b) throw new Error(`address pool: not an IPv4 address: ${s}`);
  return b.readUInt32BE(0);
}
function toStr(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** What a session needs from a pool (a local interface; the daemon may supply another). */
export interface AddressAllocator {
  allocate(user: string, owner: string): Result<string, PoolError>;
  release(address: string, owner: string): void;
  /**
   * Gives `owner` this very address (one an authentication server assigned), unless another
   * owner holds it. It may lie outside the block.
   */
  claim?(address: string, owner: string): Result<string, PoolError>;
  /** Addresses handed out and not released (status, leak checks). */
  inUseCount?(): number;
}

export class AddressPool implements AddressAllocator {
  private readonly first: number;
  private readonly last: number;
  private readonly reserved: Set<number>;
  private readonly statics: Map<string, number>;
  private readonly staticSet: Set<number>;
  /** address -> owner (session id). */
  private readonly inUse = new Map<number, string>();
  private cursor: number;

  constructor(cfg: AddressPoolConfig) {
    const [net, lenStr] = cfg.cidr.split("/");
    const len = Number(lenStr);
    if (net === undefined || !Number.isInteger(len) || len < 0 || len > 32) {
      throw new Error(`address pool: bad CIDR ${cfg.cidr}`);
    }
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const base = (toNum(net) & mask) >>> 0;
    const size = 2 ** (32 - len);
    // /31 and /32 have no network/broadcast addresses to skip (RFC 3021).
    this.first = size <= 2 ? base : base + 1;
    this.last = size <= 2 ? base + size - 1 : base + size - 2;
    this.reserved = new Set((cfg.reserved ?? []).map(toNum));
    this.statics = new Map(
      Object.entries(cfg.staticAddresses ?? {}).map(([u, a]) => [u, toNum(a)]),
    );
    this.staticSet = new Set(this.statics.values());
    this.cursor = this.first;
  }

  allocate(user: string, owner: string): Result<string, PoolError> {
    const fixed = this.statics.get(user);
    if (fixed !== undefined) {
      const holder = this.inUse.get(fixed);
      if (holder !== undefined && holder !== owner) {
        return err({
          code: PoolErrorCode.StaticInUse,
          message: `static address of ${user} is in use`,
        });
      }
      this.inUse.set(fixed, owner);
      return ok(toStr(fixed));
    }
    const count = this.last - this.first + 1;
    for (let i = 0; i < count; i++) {
      const a = this.first + ((this.cursor - this.first + i) % count);
      if (this.inUse.has(a) || this.reserved.has(a) || this.staticSet.has(a)) continue;
      this.inUse.set(a, owner);
      this.cursor = a + 1 > this.last ? this.first : a + 1;
      return ok(toStr(a));
    }
    return err({ code: PoolErrorCode.Exhausted, message: "address pool exhausted" });
  }

  claim(address: string, owner: string): Result<string, PoolError> {
    const n = ipv4FromString(address)?.readUInt32BE(0);
    if (n === undefined)
      return err({ code: PoolErrorCode.StaticInUse, message: `not an IPv4 address: ${address}` });
    const holder = this.inUse.get(n);
    if (holder !== undefined && holder !== owner) {
      return err({
        code: PoolErrorCode.StaticInUse,
        message: `address ${address} is already in use by another session`,
      });
    }
    this.inUse.set(n, owner);
    return ok(toStr(n));
  }

  release(address: string, owner: string): void {
    const n = toNum(address);
    if (this.inUse.get(n) === owner) this.inUse.delete(n);
  }

  inUseCount(): number {
    return this.inUse.size;
  }
}
