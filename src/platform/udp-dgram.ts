/**
 * DatagramSocket over node:dgram: portable, one recvmsg syscall and one event per datagram.
 * Limits (by node:dgram's design): no IP_PKTINFO, so bound to 0.0.0.0 the local address of a
 * datagram is unknown (`localAddress: undefined`) and `send(..., localAddress)` cannot choose the
 * source — bind one socket per address when that matters, or use the koffi implementation.
 * send() passes datagrams straight to dgram (no batching); flush() has nothing to do.
 */
import dgram from "node:dgram";
import { type Result, err, ok } from "../base/result.js";
import { E, type PlatformError, PlatformErrorCode, platformError, syscallError } from "./errors.js";
import { parseIpv4 } from "./native/sys.js";
import {
  type DatagramHandler,
  type DatagramSocket,
  type DatagramSocketOptions,
  type Endpoint,
  type SocketStats,
  addrInUseMessage,
  emptyStats,
} from "./udp.js";

const errnoByCode = E as Readonly<Record<string, number>>;

function fromNodeError(e: unknown, syscall: string, context: string): PlatformError {
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && errnoByCode[code] !== undefined) {
    return syscallError(syscall, errnoByCode[code], context);
  }
  return platformError(PlatformErrorCode.Syscall, `${syscall} failed: ${String(e)} (${context})`, {
    syscall,
  });
}

export class DgramDatagramSocket implements DatagramSocket {
  readonly implementation = "dgram" as const;
  private sock: dgram.Socket | undefined;
  private bound: Endpoint | undefined;
  private handler: DatagramHandler = () => {};
  private errorHandler: (e: PlatformError) => void = () => {};
  private readonly counters: SocketStats = emptyStats();
  private closed = false;

  constructor(private readonly opts: DatagramSocketOptions = {}) {}

  bind(address: string, port: number): Promise<Result<Endpoint, PlatformError>> {
    if (this.closed)
      return Promise.resolve(err(platformError(PlatformErrorCode.Closed, "socket is closed")));
    if (this.sock) {
      return Promise.resolve(
        err(platformError(PlatformErrorCode.BadArgument, "socket is already bound")),
      );
    }
    if (parseIpv4(address) === undefined) {
      return Promise.resolve(
        err(
          platformError(
            PlatformErrorCode.BadArgument,
            `bind address: "${address}" is not an IPv4 address`,
          ),
        ),
      );
    }
    const sockOpts: dgram.SocketOptions = { type: "udp4", reuseAddr: false };
    if (this.opts.receiveBuffer) sockOpts.recvBufferSize = this.opts.receiveBuffer;
    if (this.opts.sendBuffer) sockOpts.sendBufferSize = this.opts.sendBuffer;
    const sock = dgram.createSocket(sockOpts);
    return new Promise((resolve) => {
      const onBindError = (e: Error): void => {
        sock.close();
        const code = (e as { code?: unknown }).code;
        if (code === "EADDRINUSE") {
          resolve(
            err(
              platformError(PlatformErrorCode.AddrInUse, addrInUseMessage(port, address), {
                syscall: "bind",
                errno: E.EADDRINUSE,
              }),
            ),
          );
        } else {
          resolve(err(fromNodeError(e, "bind", `${address}:${port}`)));
        }
      };
      sock.once("error", onBindError);
      sock.bind(port, address, () => {
        sock.off("error", onBindError);
        sock.on("error", (e) =>
          this.errorHandler(fromNodeError(e, "socket", "asynchronous error")),
        );
        const fixedLocal = address !== "0.0.0.0" ? address : undefined;
        const info = { localAddress: fixedLocal };
        sock.on("message", (msg, rinfo) => {
          this.counters.rxDatagrams++;
          this.counters.rxBytes += msg.length;
          this.counters.rxBatches++;
          try {
            this.handler(msg, rinfo.address, rinfo.port, info);
          } catch (e) {
            this.errorHandler(
              platformError(PlatformErrorCode.Syscall, `datagram handler threw: ${String(e)}`),
            );
          }
        });
        this.sock = sock;
        this.bound = { address, port: sock.address().port };
        resolve(ok(this.bound));
      });
    });
  }

  local(): Endpoint | undefined {
    return this.bound;
  }

  send(data: Uint8Array, address: string, port: number, _localAddress?: string): void {
    const sock = this.sock;
    if (!sock) {
      this.errorHandler(
        platformError(PlatformErrorCode.Closed, "send on an unbound or closed socket"),
      );
      return;
    }
    if (parseIpv4(address) === undefined || port <= 0 || port > 65535) {
      this.counters.txDropped++;
      this.errorHandler(
        platformError(
          PlatformErrorCode.BadArgument,
          `send to ${address}:${port}: not an IPv4 endpoint`,
        ),
      );
      return;
    }
    const len = data.byteLength;
    sock.send(data, port, address, (e) => {
      if (e) {
        this.counters.txDropped++;
        this.errorHandler(fromNodeError(e, "send", `${address}:${port}`));
      } else {
        this.counters.txDatagrams++;
        this.counters.txBytes += len;
        this.counters.txBatches++;
      }
    });
  }

  flush(): void {}

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  onError(handler: (e: PlatformError) => void): void {
    this.errorHandler = handler;
  }

  stats(): SocketStats {
    return { ...this.counters };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.sock?.close();
    } catch {
      // already closed by dgram after an error: nothing left to release
    }
    this.sock = undefined;
  }
}
