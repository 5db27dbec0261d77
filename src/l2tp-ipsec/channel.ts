/**
 * Channels: the binding of L2TP to IPsec. A channel belongs to one IKE SA (and to the IKE SA
 * that provably succeeds it, see `ChannelTable.adopt`) and holds that IKE SA's transport-mode
 * child SAs; L2TP tunnels and sessions hang off it. Channels are never found by address: an
 * ESP packet reaches a channel through the child SA it was decrypted with, and a channel sends
 * only on its own newest child SA. So:
 *  - clients behind one NAT (same public address, even the same private address and ports)
 *    have separate channels, because they have separate IKE SAs;
 *  - a NAT mapping that moves, or that a new client inherits from a dead one, moves nothing
 *    here: the new client's IKE SA gets a channel of its own;
 *  - a child SA of one IKE SA never becomes the outbound SA of another IKE SA's channel.
 */
import type { TransportChild } from "./ports.js";

/** Where the L2TP engine's replies go: a channel plus the peer's inner UDP port. */
export interface Binding {
  /** The opaque key the L2TP engine knows this binding by. */
  readonly key: string;
  readonly channel: Channel;
  readonly peerPort: number;
}

export class Channel {
  /** The channel's child SAs, by IKE child id. */
  readonly children = new Map<number, TransportChild>();
  /** The newest child: all traffic to the peer leaves on it. */
  out: TransportChild | undefined;
  /** L2TP bindings by the peer's UDP source port. */
  readonly bindings = new Map<number, Binding>();
  /** Local L2TP tunnel ids carried by this channel. */
  readonly tunnels = new Set<number>();
  /** Largest TCP MSS for traffic on `out` (0 = not computed yet). */
  mss = 0;

  constructor(
    readonly id: number,
    /** The owning IKE SA; undefined once retired (see ChannelTable.adopt). */
    public ikeSaId: number | undefined,
  ) {}

  /** Whether any L2TP state hangs off this channel. */
  get hasL2tp(): boolean {
    return this.tunnels.size > 0 || this.bindings.size > 0;
  }
}

export interface ChannelTableEvents {
  /** A channel lost its last child SA: its L2TP tunnels and sessions have no transport left. */
  readonly onDown: (ch: Channel) => void;
}

/** The component's channels, by owning IKE SA and by child SA. */
export class ChannelTable {
  private readonly byIkeSa = new Map<number, Channel>();
  private readonly byChild = new Map<number, Channel>();
  private readonly all = new Set<Channel>();
  private nextId = 1;

  constructor(private readonly events: ChannelTableEvents) {}

  /** The channel a child SA belongs to. */
  ofChild(childId: number): Channel | undefined {
    return this.byChild.get(childId);
  }

  list(): Channel[] {
    return [...this.all];
  }

  get size(): number {
    return this.all.size;
  }

  /**
   * A transport-mode child SA is up. It joins the channel of the child it rekeys, else the
   * channel of its IKE SA, else a new channel for that IKE SA; it becomes the channel's
   * outbound SA (a rekey moves new traffic at once; the old SA stays until it is removed).
   */
  childUp(child: TransportChild): Channel {
    let ch = child.replaces !== undefined ? this.byChild.get(child.replaces) : undefined;
    if (ch !== undefined && ch.ikeSaId !== child.ikeSaId) ch = undefined;
    ch ??= this.byIkeSa.get(child.ikeSaId);
    if (ch === undefined) {
      ch = new Channel(this.nextId++, child.ikeSaId);
      this.byIkeSa.set(child.ikeSaId, ch);
      this.all.add(ch);
    }
    ch.children.set(child.childId, child);
    this.byChild.set(child.childId, ch);
    ch.out = child;
    ch.mss = 0;
    return ch;
  }

  /** A child SA is gone; a channel without children goes down. */
  childDown(childId: number): void {
    const ch = this.byChild.get(childId);
    if (ch === undefined) return;
    this.byChild.delete(childId);
    ch.children.delete(childId);
    if (ch.out?.childId === childId) {
      // Fall back to the newest remaining child (Map order is install order).
      ch.out = undefined;
      for (const c of ch.children.values()) ch.out = c;
      ch.mss = 0;
    }
    if (ch.children.size === 0) {
      this.all.delete(ch);
      if (ch.ikeSaId !== undefined && this.byIkeSa.get(ch.ikeSaId) === ch)
        this.byIkeSa.delete(ch.ikeSaId);
      this.events.onDown(ch);
    }
  }

  /**
   * IKE SA `from` ended and the IKE engine handed its children to `to`, the same peer (same
   * identity and endpoint: a phase-1 rekey). The channel follows. If `to` already has a
   * channel of its own, the two merge only when one of them carries no L2TP state; otherwise
   * `from`'s channel is retired: it keeps its children until they go, gets no new ones, and
   * nothing moves between two channels that each carry a user's session.
   */
  adopt(from: number, to: number): void {
    const x = this.byIkeSa.get(from);
    if (x === undefined) return;
    this.byIkeSa.delete(from);
    const y = this.byIkeSa.get(to);
    if (y === undefined) {
      x.ikeSaId = to;
      this.byIkeSa.set(to, x);
      return;
    }
    if (!y.hasL2tp) {
      // The successor's own channel is empty: its children join the rekeyed channel.
      for (const c of y.children.values()) {
        x.children.set(c.childId, c);
        this.byChild.set(c.childId, x);
        x.out = c;
      }
      x.mss = 0;
      y.children.clear();
      this.all.delete(y);
      x.ikeSaId = to;
      this.byIkeSa.set(to, x);
      return;
    }
    if (!x.hasL2tp) {
      for (const c of x.children.values()) {
        y.children.set(c.childId, c);
        this.byChild.set(c.childId, y);
      }
      x.children.clear();
      this.all.delete(x);
      return;
    }
    x.ikeSaId = undefined;
  }
}
