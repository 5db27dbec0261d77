/**
 * Readiness notifications for a file descriptor from Node's own libuv loop (koffi.node.poll,
 * i.e. uv_poll_t) — no threads, no busy polling.
 *
 * Two pitfalls, both observed when this was built, are handled here:
 *  - a poll handle that JavaScript no longer references is garbage-collected and polling stops
 *    silently: every live Poller is held in a module-level Set until close();
 *  - libuv stops the handle for good after POLLERR (status < 0, e.g. a pending ICMP error on a
 *    socket): we read and clear SO_ERROR, report it, and start the handle again.
 */
import { type NativePollHandle, type PollEvents, uvPoll } from "./libc.js";
import { takeSocketError } from "./sys.js";

const live = new Set<Poller>();

export interface PollerCallbacks {
  readable(): void;
  writable(): void;
  /** A pending socket error (errno) was cleared and polling resumed. */
  error(errno: number): void;
}

export class Poller {
  private handle: NativePollHandle | null;
  private wantWrite = false;
  private errorsInARow = 0;

  constructor(
    private readonly fd: number,
    private readonly cb: PollerCallbacks,
    private readonly isSocket = true,
  ) {
    const h = uvPoll(fd, { readable: true }, this.onEvent);
    if (!h) throw new Error(`koffi.node.poll failed for fd ${fd}`);
    this.handle = h;
    live.add(this);
  }

  /** Ask for one `writable` callback (used when a send queue hit EAGAIN). */
  setWantWrite(want: boolean): void {
    if (this.wantWrite === want || !this.handle) return;
    this.wantWrite = want;
    this.handle.start({ readable: true, writable: want }, this.onEvent);
  }

  close(): void {
    if (!this.handle) return;
    this.handle.close();
    this.handle = null;
    live.delete(this);
  }

  private readonly onEvent = (status: number, ev: PollEvents): void => {
    if (!this.handle) return;
    if (status < 0) {
      const e = this.isSocket ? takeSocketError(this.fd) : 0;
      this.cb.error(e);
      // libuv already stopped the handle. A socket's error is cleared by reading SO_ERROR, so we
      // resume; a device (TUN) reporting POLLERR is gone, and stays stopped.
      if (!this.isSocket || ++this.errorsInARow > 1000) return;
      this.handle.start({ readable: true, writable: this.wantWrite }, this.onEvent);
      return;
    }
    this.errorsInARow = 0;
    if (ev.readable) this.cb.readable();
    if (ev.writable && this.wantWrite) this.cb.writable();
  };
}

/** For tests: how many pollers are alive (a leak check after close()). */
export function livePollers(): number {
  return live.size;
}
