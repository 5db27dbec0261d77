/**
 * The engine shared by the koffi UDP socket and the raw ESP socket: a non-blocking datagram fd,
 * readiness from libuv (Poller), receive in recvmmsg batches, and a bounded send queue flushed
 * with sendmmsg at the end of the tick (so a burst produced in one event-loop turn costs one
 * syscall). It never throws once open: failures are counted and reported.
 */
import {
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
        if (this.closed) return;
      }
      if (n < this.opts.batch) return;
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
    while (at < q.length) {
      const count = Math.min(this.opts.batch, q.length - at);
      for (let i = 0; i < count; i++) {
        const p = q[at + i]!;
        this.txRing.fillSend(i, p.data, p.dst, p.port, p.src);
      }
      let sent: number;
      try {
        sent = this.txRing.send(this.fd, 0, count);
      } catch (e) {
        // The first message of the batch was refused (EMSGSIZE, ENETUNREACH, EPERM by a
        // firewall...): drop it, report, continue with the rest.
        this.counters.txDropped++;
        this.report(e);
        at++;
        continue;
      }
      if (sent < 0) {
        // Socket buffer full: wait for writability, keep the rest queued.
        this.blocked = true;
        this.poller?.setWantWrite(true);
        break;
      }
      this.counters.txBatches++;
      for (let i = 0; i < sent; i++) {
        this.counters.txDatagrams++;
        this.counters.txBytes += q[at + i]!.data.byteLength;
      }
      at += sent;
    }
    if (at >= q.length) q = [];
    else q = q.slice(at);
    this.queue = q;
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
