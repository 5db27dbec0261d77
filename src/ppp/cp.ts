/**
 * Runs one RFC 1661 §4 automaton (fsm.ts) for a control protocol (LCP or an NCP): the restart
 * timer and counter (§4.6: irc, zrc, TO+/TO-, Max-Terminate, Max-Configure), Max-Failure
 * (Configure-Naks turn into Configure-Rejects), identifiers, and the packet checks of §5
 * (a Configure-Ack/Nak/Reject must carry the Identifier of our outstanding request; an Ack must
 * repeat it exactly; a Reject may only name options we sent). What the options mean is left to
 * the protocol (CpHost). Codes 1..7 are handled here; LCP's 8..13 by lcp.ts.
 *
 * Deviation: a peer that keeps sending Configure-Nak/Reject is cut off after
 * 2 x Max-Configure of them (notConverging), since RCN re-initialises the restart counter
 * (irc) and would otherwise never end.
 */
import type { Logger } from "../obs/log.js";
import { controlCodeName } from "../registry/ppp.js";
import {
  type NcpPacket,
  type OptionCodec,
  serializeNcpPacket,
  serializeOptions,
} from "../wire/ppp/control.js";
import { type FsmAction, type FsmEvent, type FsmState, fsmTransition, timerRunsIn } from "./fsm.js";
import type { CpState } from "./types.js";

export interface CpTiming {
  readonly restartMs: number;
  readonly maxConfigure: number;
  readonly maxTerminate: number;
  readonly maxFailure: number;
}

export interface CheckResult<O> {
  readonly verdict: "ack" | "nak" | "reject";
  /** For ack: the request's options; for nak/reject: the options to send back. */
  readonly options: readonly O[];
}

export interface CpHost<O> {
  readonly name: string;
  readonly codec: OptionCodec<O>;
  readonly now: number;
  readonly timing: CpTiming;
  readonly log: Logger;
  /** Largest packet the peer takes (its MRU), for Code-Reject truncation. */
  readonly peerMaxPacket: number;
  /** Sends one packet of this protocol (the host frames it). */
  send(packet: Buffer): void;
  buildRequest(): O[];
  /** Judges the peer's request; `rejectNaks` is set once Max-Failure Naks were sent. */
  checkRequest(options: readonly O[], rejectNaks: boolean): CheckResult<O>;
  /** We are sending Configure-Ack for these options: adopt them. */
  peerRequestAcked(options: readonly O[]): void;
  receivedAck(options: readonly O[]): void;
  receivedNak(options: readonly O[]): void;
  receivedReject(options: readonly O[]): void;
  tlu(): void;
  tld(): void;
  tls(): void;
  tlf(): void;
  /** ser: answer the Echo-Request being processed (LCP only). */
  ser(): void;
  notConverging(): void;
}

export function newCp(): CpState {
  return {
    state: "Initial",
    restartCount: 0,
    deadline: null,
    nextId: 1,
    reqId: -1,
    reqOptions: null,
    naksSent: 0,
    naksReceived: 0,
  };
}

/** Data an event's actions need from the packet that caused it. */
export interface EventContext {
  /** sca/scn: the reply packet prepared by cpReceive. */
  readonly reply?: {
    readonly code: 2 | 3 | 4;
    readonly id: number;
    readonly options: readonly unknown[];
  };
  /** sta: Identifier of the Terminate-Request answered. */
  readonly termId?: number;
  /** scj: the unknown packet. */
  readonly rejected?: Uint8Array;
}

function nextId(cp: CpState): number {
  const id = cp.nextId & 0xff;
  cp.nextId = (cp.nextId + 1) & 0xff;
  return id;
}

export function cpEvent<O>(
  cp: CpState,
  host: CpHost<O>,
  ev: FsmEvent,
  ctx: EventContext = {},
): void {
  const from: FsmState = cp.state;
  const tr = fsmTransition(from, ev);
  if (!tr) {
    host.log.debug(`${host.name}: event ${ev} cannot occur in ${from}; ignored`);
    return;
  }
  cp.state = tr.next;
  if (from !== tr.next)
    host.log.debug(`${host.name}: ${from} -> ${tr.next} on ${ev}`, { actions: tr.actions });
  for (const a of tr.actions) runAction(cp, host, a, tr.next, ctx);
  if (!timerRunsIn(cp.state)) cp.deadline = null;
}

function runAction<O>(
  cp: CpState,
  host: CpHost<O>,
  a: FsmAction,
  next: FsmState,
  ctx: EventContext,
): void {
  const t = host.timing;
  switch (a) {
    case "irc":
      cp.restartCount = next === "Closing" || next === "Stopping" ? t.maxTerminate : t.maxConfigure;
      if (next !== "Closing" && next !== "Stopping") cp.naksSent = 0;
      return;
    case "zrc":
      cp.restartCount = 0;
      cp.deadline = host.now + t.restartMs;
      return;
    case "scr": {
      const options = host.buildRequest();
      const id = nextId(cp);
      cp.reqId = id;
      cp.reqOptions = Uint8Array.from(serializeOptions(host.codec, options));
      cp.restartCount--;
      cp.deadline = host.now + t.restartMs;
      host.send(
        serializeNcpPacket(host.codec, { kind: "Configure-Request", identifier: id, options }),
      );
      return;
    }
    case "sca":
    case "scn": {
      const r = ctx.reply;
      if (!r) return;
      const options = r.options as readonly O[];
      if (r.code === 2) host.peerRequestAcked(options);
      const kind =
        r.code === 2 ? "Configure-Ack" : r.code === 3 ? "Configure-Nak" : "Configure-Reject";
      host.send(serializeNcpPacket(host.codec, { kind, identifier: r.id, options }));
      return;
    }
    case "str": {
      cp.restartCount--;
      cp.deadline = host.now + t.restartMs;
      host.send(
        serializeNcpPacket(host.codec, {
          kind: "Terminate-Request",
          identifier: nextId(cp),
          data: new Uint8Array(),
        }),
      );
      return;
    }
    case "sta":
      host.send(
        serializeNcpPacket(host.codec, {
          kind: "Terminate-Ack",
          identifier: ctx.termId ?? nextId(cp),
          data: new Uint8Array(),
        }),
      );
      return;
    case "scj": {
      const rejected = ctx.rejected ?? new Uint8Array();
      const room = Math.max(0, host.peerMaxPacket - 4);
      host.send(
        serializeNcpPacket(host.codec, {
          kind: "Code-Reject",
          identifier: nextId(cp),
          rejectedPacket: rejected.subarray(0, room),
        }),
      );
      return;
    }
    case "ser":
      host.ser();
      return;
    case "tlu":
      cp.naksReceived = 0;
      host.tlu();
      return;
    case "tld":
      host.tld();
      return;
    case "tls":
      host.tls();
      return;
    case "tlf":
      host.tlf();
      return;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}

/** Handles codes 1..7 and Unknown-Code of a parsed packet; `raw` is the packet as received. */
export function cpReceive<O>(cp: CpState, host: CpHost<O>, p: NcpPacket<O>, raw: Uint8Array): void {
  switch (p.kind) {
    case "Configure-Request": {
      if (cp.state === "Initial" || cp.state === "Starting") {
        host.log.debug(`${host.name}: Configure-Request in ${cp.state}; dropped`);
        return;
      }
      const rejectNaks = cp.naksSent >= host.timing.maxFailure;
      const r = host.checkRequest(p.options, rejectNaks);
      const code = r.verdict === "ack" ? 2 : r.verdict === "nak" ? 3 : 4;
      if (r.verdict === "nak") cp.naksSent++;
      host.log.debug(`${host.name}: peer request id ${p.identifier} -> ${controlCodeName(code)}`);
      cpEvent(cp, host, r.verdict === "ack" ? "RCR+" : "RCR-", {
        reply: { code, id: p.identifier, options: r.verdict === "ack" ? p.options : r.options },
      });
      return;
    }
    case "Configure-Ack": {
      if (p.identifier !== cp.reqId || !cp.reqOptions) {
        host.log.debug(
          `${host.name}: Configure-Ack id ${p.identifier} does not match request ${cp.reqId}`,
        );
        return;
      }
      if (!sameBytes(serializeOptions(host.codec, p.options), cp.reqOptions)) {
        host.log.warn(`${host.name}: Configure-Ack does not repeat our request; dropped`);
        return;
      }
      if (cp.state === "Req-Sent" || cp.state === "Ack-Sent") host.receivedAck(p.options);
      cpEvent(cp, host, "RCA");
      return;
    }
    case "Configure-Nak":
    case "Configure-Reject": {
      if (p.identifier !== cp.reqId || !cp.reqOptions) {
        host.log.debug(
          `${host.name}: ${p.kind} id ${p.identifier} does not match request ${cp.reqId}`,
        );
        return;
      }
      if (p.kind === "Configure-Reject") {
        const ours = cp.reqOptions;
        const okSubset = p.options.every((o) => {
          const b = serializeOptions(host.codec, [o]);
          return Buffer.from(ours).includes(b);
        });
        if (!okSubset) {
          host.log.warn(`${host.name}: Configure-Reject names options we did not send; dropped`);
          return;
        }
      }
      cp.naksReceived++;
      if (cp.naksReceived > 2 * host.timing.maxConfigure) {
        host.notConverging();
        return;
      }
      if (
        cp.state === "Req-Sent" ||
        cp.state === "Ack-Rcvd" ||
        cp.state === "Ack-Sent" ||
        cp.state === "Opened"
      ) {
        if (p.kind === "Configure-Nak") host.receivedNak(p.options);
        else host.receivedReject(p.options);
      }
      cpEvent(cp, host, "RCN");
      return;
    }
    case "Terminate-Request":
      cpEvent(cp, host, "RTR", { termId: p.identifier });
      return;
    case "Terminate-Ack":
      cpEvent(cp, host, "RTA");
      return;
    case "Code-Reject": {
      const code = p.rejectedPacket[0] ?? 0;
      // Rejecting any of codes 1..7 makes negotiation impossible (RFC 1661 §5.6): RXJ-.
      const catastrophic = code >= 1 && code <= 7;
      host.log.info(`${host.name}: peer rejected code ${controlCodeName(code)}`);
      cpEvent(cp, host, catastrophic ? "RXJ-" : "RXJ+");
      return;
    }
    case "Unknown-Code":
      cpEvent(cp, host, "RUC", { rejected: raw });
      return;
  }
}

/** The restart timer fired (call only when cp.deadline <= now). */
export function cpTimeout<O>(cp: CpState, host: CpHost<O>): void {
  cp.deadline = null;
  cpEvent(cp, host, cp.restartCount > 0 ? "TO+" : "TO-");
}
