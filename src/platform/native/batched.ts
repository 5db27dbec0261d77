/**
 * The engine shared by the koffi UDP socket and the raw ESP socket: a non-blocking datagram fd,
 * readiness from libuv (Poller), receive in recvmmsg batches, and a bounded send queue flushed
 * with sendmmsg at the end of the tick (so a burst produced in one event-loop turn costs one
 * syscall). It never throws once open: failures are counted and reported.
 */
import {
  E,
  type PlatformError,
  PlatformErrorCode,
  PlatformFailure,
  platformError,
  syscallError,
} from "../errors.js";
import { type SocketStats, emptyStats } from "../udp.js";
import { MsgRing, type RecvSlot } from "./mmsg.js";
import { Poller } from "./poller.js";
import { closeFd } from "./sys.js";

export interface BatchedOptions {
  batch: number;
  slotSize: number;
  sendQueueLimit: number;
  /** Receive rounds per readiness callback before yielding to the event loop. */
  maxRounds: number;
  /**
   * UDP GSO (UDP_SEGMENT, udp(7)): runs of queued datagrams to the same destination with the
   * same length go out as one message the kernel splits (one skb through the stack instead of
   * one per datagram). Turned off by itself if the kernel refuses it. UDP sockets only.
   */
  gso?: boolean;
  /**
   * The socket has UDP_GRO on: a received slot may hold several datagrams of `segmentSize`;
   * they are handed to onReceive one by one.
   */
  gro?: boolean;
}

/** Largest UDP payload of one IPv4 datagram (65535 - IPv4 header - UDP header). */
const MAX_UDP_PAYLOAD = 65535 - 20 - 8;
/** UDP_MAX_SEGMENTS in include/linux/udp.h of older kernels (later ones allow more). */
const MAX_GSO_SEGMENTS = 64;

/** A datagram of a GRO slot (a view on the ring), with the slot's addresses. */
class SegmentSlot implements RecvSlot {
  data: Buffer = Buffer.alloc(0);
  srcAddr = 0;
  srcPort = 0;
  dstAddr = 0;
  readonly truncated = false;
  readonly segmentSize = 0;
}

interface Pending {
  data: Uint8Array;
  dst: number;
  port: number;
  src: number;
}

export class BatchedFd {
  private readonly rxRing: MsgRing;
  private readonly txRing: MsgRing;
  private readonly slotsOut: RecvSlot[] = [];
  private poller: Poller | undefined;
  private queue: Pending[] = [];
  private flushScheduled = false;
  private blocked = false;
  private closed = false;
  private gso: boolean;
  /** Largest datagram merged into a GSO run (lowered when the kernel refuses a size). */
  private gsoMaxSize = MAX_UDP_PAYLOAD;
  /** Queue items carried by each message of the last sendmmsg batch. */
  private readonly msgItems: number[] = [];
  private readonly seg = new SegmentSlot();
  readonly counters: SocketStats = emptyStats();

  onReceive: (slot: RecvSlot) => void = () => {};
  onError: (e: PlatformError) => void = () => {};

  constructor(
    readonly fd: number,
    private readonly opts: BatchedOptions,
  ) {
    this.rxRing = new MsgRing(opts.batch, opts.slotSize);
    // Send slots only need to hold the largest datagram we accept to send.
    this.txRing = new MsgRing(opts.batch, opts.slotSize);
    this.gso = opts.gso ?? false;
  }

  start(): void {
    this.poller = new Poller(this.fd, {
      readable: () => this.drain(),
      writable: () => {
        this.blocked = false;
        this.poller?.setWantWrite(false);
        this.flush();
      },
      error: (e) => {
        if (e !== 0)
          this.onError(syscallError("socket (SO_ERROR)", e, "asynchronous error, e.g. ICMP"));
      },
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private drain(): void {
    for (let round = 0; round < this.opts.maxRounds && !this.closed; round++) {
      let n: number;
      try {
        n = this.rxRing.recv(this.fd, this.slotsOut);
      } catch (e) {
        this.report(e);
        return;
      }
      if (n === 0) return;
      this.counters.rxBatches++;
      for (let i = 0; i < n; i++) {
        const s = this.slotsOut[i]!;
        if (s.truncated) {
          this.counters.rxTruncated++;
          continue;
        }
        const size = s.segmentSize;
        if (size > 0 && s.data.length > size) {
          // UDP_GRO: several datagrams of `size` end to end (the last may be shorter).
          const seg = this.seg;
          seg.srcAddr = s.srcAddr;
          seg.srcPort = s.srcPort;
          seg.dstAddr = s.dstAddr;
          const all = s.data;
          for (let at = 0; at < all.length && !this.closed; at += size) {
            seg.data = all.subarray(at, Math.min(at + size, all.length));
            this.deliver(seg);
          }
        } else {
          this.deliver(s);
        }
        if (this.closed) return;
      }
      if (n < this.opts.batch) return;
    }
  }

  private deliver(s: RecvSlot): void {
    this.counters.rxDatagrams++;
    this.counters.rxBytes += s.data.length;
    try {
      this.onReceive(s);
    } catch (e) {
      // A throwing handler is a bug upstream; it must not stop the receive loop.
      this.onError(
        platformError(PlatformErrorCode.Syscall, `datagram handler threw: ${String(e)}`),
      );
    }
  }

  enqueue(data: Uint8Array, dst: number, port: number, src: number): void {
    if (this.closed) return;
    if (data.byteLength > this.opts.slotSize) {
      this.counters.txDropped++;
      this.onError(
        platformError(
          PlatformErrorCode.BadArgument,
          `datagram of ${data.byteLength} bytes exceeds the ${this.opts.slotSize}-byte send slot`,
        ),
      );
      return;
    }
    if (this.queue.length >= this.opts.sendQueueLimit) {
      this.counters.txDropped++;
      return;
    }
    this.queue.push({ data, dst, port, src });
    if (!this.flushScheduled && !this.blocked) {
      this.flushScheduled = true;
      queueMicrotask(this.scheduledFlush);
    }
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  flush(): void {
    if (this.closed || this.blocked) return;
    let q = this.queue;
    let at = 0;
    const items = this.msgItems;
    while (at < q.length) {
      // Fill up to `batch` messages; with GSO one message carries a run of equal-sized
      // datagrams to the same destination (the last of the run may be shorter).
      let msgs = 0;
      let next = at;
      while (msgs < this.opts.batch && next < q.length) {
        const p = q[next]!;
        let count = 1;
        if (this.gso && p.data.byteLength <= this.gsoMaxSize) {
          const size = p.data.byteLength;
          let total = size;
          while (next + count < q.length && count < MAX_GSO_SEGMENTS) {
            const r = q[next + count]!;
            const len = r.data.byteLength;
            if (r.dst !== p.dst || r.port !== p.port || r.src !== p.src || len > size) break;
            if (total + len > MAX_UDP_PAYLOAD || total + len > this.opts.slotSize) break;
            total += len;
            count++;
            if (len < size) break; // a shorter one ends the run
          }
        }
        if (count === 1) this.txRing.fillSend(msgs, p.data, p.dst, p.port, p.src);
        else
          this.txRing.fillSendSegments(
            msgs,
            q,
            next,
            count,
            p.data.byteLength,
            p.dst,
            p.port,
            p.src,
          );
        items[msgs] = count;
        msgs++;
        next += count;
      }
      let sent: number;
      try {
        sent = this.txRing.send(this.fd, 0, msgs);
      } catch (e) {
        // A refused GSO run is sent again without GSO (the next pass no longer merges it).
        if (items[0]! > 1 && this.gsoRefused(e, q[at]!.data.byteLength)) continue;
        // The first message of the batch was refused (EMSGSIZE, ENETUNREACH, EPERM by a
        // firewall...): drop it, report, continue with the rest.
        this.counters.txDropped += items[0]!;
        this.report(e);
        at += items[0]!;
        continue;
      }
      if (sent < 0) {
        // Socket buffer full: wait for writability, keep the rest queued.
        this.blocked = true;
        this.poller?.setWantWrite(true);
        break;
      }
      this.counters.txBatches++;
      for (let m = 0; m < sent; m++) {
        const n = items[m]!;
        for (let i = 0; i < n; i++) {
          this.counters.txDatagrams++;
          this.counters.txBytes += q[at + i]!.data.byteLength;
        }
        at += n;
      }
    }
    if (at >= q.length) q = [];
    else q = q.slice(at);
    this.queue = q;
  }

  /**
   * A GSO message of datagrams of `size` octets was refused. EINVAL means this segment size does
   * not fit the path (gso_size + headers above the route MTU): from now on only smaller runs are
   * merged. EIO (e.g. the route goes through xfrm) or ENOPROTOOPT (no UDP GSO in this kernel):
   * GSO off for good. Reported once each; returns true when the caller should resend the run
   * without GSO (the next pass no longer merges it).
   */
  private gsoRefused(e: unknown, size: number): boolean {
    if (!(e instanceof PlatformFailure)) return false;
    const errno = e.error.errno;
    let what: string;
    if (errno === E.EINVAL) {
      this.gsoMaxSize = Math.min(this.gsoMaxSize, size - 1);
      what = `for ${size}-octet datagrams; merging only smaller ones`;
    } else if (errno === E.EIO || errno === E.ENOPROTOOPT) {
      this.gso = false;
      what = "; sending datagrams one by one";
    } else {
      return false;
    }
    this.onError(
      platformError(
        PlatformErrorCode.Syscall,
        `UDP GSO refused by the kernel (${e.error.message})${what}`,
        { syscall: "sendmmsg", ...(errno === undefined ? {} : { errno }) },
      ),
    );
    return true;
  }

  /** Whether GSO is (still) in use. */
  get gsoActive(): boolean {
    return this.gso;
  }

  private report(e: unknown): void {
    if (e instanceof PlatformFailure) this.onError(e.error);
    else this.onError(platformError(PlatformErrorCode.Syscall, String(e)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller?.close();
    this.poller = undefined;
    this.queue = [];
    closeFd(this.fd);
  }
}
