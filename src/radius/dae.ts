/**
 * Dynamic Authorization Extensions, server side (RFC 5176): Oakley as the NAS receives
 * Disconnect-Request and CoA-Request from configured Dynamic Authorization Clients (usually the
 * RADIUS server) and answers ACK or NAK.
 *
 * Checks, in order (anything failing the first four is silently discarded, RFC 5176 §3.5 and
 * §2.3): the source address is a configured client; the packet parses; the code is one of the
 * two requests; the Request Authenticator (MD5 with the shared secret) and a REQUIRED
 * Message-Authenticator verify. Then, answered with a NAK: a NAS-Identifier / NAS-IP-Address
 * that is not ours (Error-Cause 403), an attribute this NAS does not act on (401), no session
 * identification attribute (402).
 *
 * What passes becomes a `DaeRequest` for the daemon, which finds the session(s), ends or changes
 * them, and calls `answer()` with its decision to get the signed reply bytes. Retransmissions
 * (same source, Identifier and Request Authenticator within `duplicateWindowMs`) get the cached
 * reply again and are not reported twice (RFC 5176 §2.3 duplicate detection).
 *
 * Left out: Event-Timestamp freshness checks (RFC 5176 §3.5 leaves them optional; the duplicate
 * cache covers retransmissions), proxying, Service-Type = Authorize-Only CoA.
 */
import type { Counters } from "../obs/counters.js";
import { type Logger, nullLogger } from "../obs/log.js";
import {
  ErrorCause,
  RadiusAttr,
  RadiusCode,
  radiusAttrName,
  radiusCodeName,
} from "../registry/radius.js";
import { signResponse, verifyRequest } from "../wire/radius/auth.js";
import {
  attrU32,
  findAllAttrs,
  findAttr,
  parseRadiusPacket,
  type RadiusAttribute,
  readAddress,
  readU32,
} from "../wire/radius/packet.js";
import type { RadiusEndpoint } from "./client.js";

export interface DaeClientConfig {
  /** IPv4 address the requests come from. */
  readonly address: string;
  readonly secret: Uint8Array;
}

export interface DaeOptions {
  readonly clients: readonly DaeClientConfig[];
  readonly nasIdentifier: string;
  readonly nasIpAddress?: string;
  /** Default 30 000 ms. */
  readonly duplicateWindowMs?: number;
}

/** A verified request, for the daemon to act on. Absent fields were not in the request. */
export interface DaeRequest {
  readonly kind: "disconnect" | "coa";
  readonly from: RadiusEndpoint;
  readonly userName?: string;
  readonly acctSessionId?: string;
  readonly framedIpAddress?: string;
  readonly callingStationId?: string;
  readonly nasPort?: number;
  readonly classes: readonly Uint8Array[];
  /** CoA only: new limits (seconds). */
  readonly sessionTimeout?: number;
  readonly idleTimeout?: number;
}

export type DaeDecision =
  | { readonly ack: true }
  | { readonly ack: false; readonly errorCause: ErrorCause };

export type DaeOutcome =
  | { readonly kind: "drop"; readonly reason: string }
  /** Answered without the daemon (a NAK for a bad request, or the cached reply of a duplicate). */
  | { readonly kind: "reply"; readonly to: RadiusEndpoint; readonly bytes: Uint8Array }
  | {
      readonly kind: "request";
      readonly request: DaeRequest;
      /** Signs the reply for the daemon's decision (and remembers it for duplicates). */
      readonly answer: (decision: DaeDecision, now: number) => Uint8Array;
    };

/** Session identification attributes (RFC 5176 §3). */
const IDENTIFICATION = new Set<number>([
  RadiusAttr.UserName,
  RadiusAttr.AcctSessionId,
  RadiusAttr.FramedIpAddress,
  RadiusAttr.CallingStationId,
  RadiusAttr.NasPort,
  RadiusAttr.Class,
  RadiusAttr.ChargeableUserIdentity,
  RadiusAttr.AcctMultiSessionId,
]);
/** Attributes accepted and ignored (NAS identification, integrity, proxying). */
const HOUSEKEEPING = new Set<number>([
  RadiusAttr.NasIdentifier,
  RadiusAttr.NasIpAddress,
  RadiusAttr.MessageAuthenticator,
  RadiusAttr.ProxyState,
  RadiusAttr.EventTimestamp,
  RadiusAttr.CalledStationId,
  RadiusAttr.NasPortId,
  RadiusAttr.NasPortType,
  RadiusAttr.State,
  RadiusAttr.VendorSpecific,
]);
const COA_CHANGES = new Set<number>([RadiusAttr.SessionTimeout, RadiusAttr.IdleTimeout]);

const text = new TextDecoder("utf-8", { fatal: false });

export class DaeServer {
  private readonly replies = new Map<string, { bytes: Uint8Array | undefined; expires: number }>();
  private readonly windowMs: number;

  constructor(
    private readonly opts: DaeOptions,
    private readonly log: Logger = nullLogger,
    private readonly counters?: Counters,
  ) {
    this.windowMs = opts.duplicateWindowMs ?? 30_000;
  }

  handleDatagram(from: RadiusEndpoint, bytes: Uint8Array, now: number): DaeOutcome {
    this.expire(now);
    const client = this.opts.clients.find((c) => c.address === from.address);
    if (!client)
      return this.drop(
        "unknown_client",
        from,
        "source is not a configured dynamic-authorization client",
      );
    const parsed = parseRadiusPacket(bytes);
    if (!parsed.ok) return this.drop("malformed", from, parsed.error.message);
    const p = parsed.value;
    if (p.code !== RadiusCode.DisconnectRequest && p.code !== RadiusCode.CoaRequest) {
      return this.drop(
        "wrong_code",
        from,
        `${radiusCodeName(p.code)} is not a dynamic-authorization request`,
      );
    }
    const v = verifyRequest(bytes, p, client.secret, true);
    if (!v.ok) return this.drop("bad_authenticator", from, v.error.message);

    const key = `${from.address}:${from.port}#${p.identifier}#${Buffer.from(p.authenticator).toString("hex")}`;
    const seen = this.replies.get(key);
    if (seen) {
      this.counters?.inc("radius_dae_duplicate");
      return seen.bytes
        ? { kind: "reply", to: from, bytes: seen.bytes }
        : this.drop("duplicate", from, "still being handled");
    }
    const disconnect = p.code === RadiusCode.DisconnectRequest;
    const proxyState = findAllAttrs(p, RadiusAttr.ProxyState).map((value) => ({
      type: RadiusAttr.ProxyState,
      value,
    }));
    const sign = (decision: DaeDecision, at: number): Uint8Array => {
      const attrs: RadiusAttribute[] = [...proxyState];
      if (!decision.ack) attrs.push(attrU32(RadiusAttr.ErrorCause, decision.errorCause));
      const code = disconnect
        ? decision.ack
          ? RadiusCode.DisconnectAck
          : RadiusCode.DisconnectNak
        : decision.ack
          ? RadiusCode.CoaAck
          : RadiusCode.CoaNak;
      const out = signResponse(
        { code, identifier: p.identifier, attributes: attrs },
        p.authenticator,
        client.secret,
      );
      this.replies.set(key, { bytes: out, expires: at + this.windowMs });
      this.counters?.incLabeled("radius_dae_reply", "code", radiusCodeName(code));
      return out;
    };
    const nak = (errorCause: ErrorCause, why: string): DaeOutcome => {
      this.log.info("RADIUS dynamic-authorization request refused", {
        peer: `${from.address}:${from.port}`,
        why,
      });
      return { kind: "reply", to: from, bytes: sign({ ack: false, errorCause }, now) };
    };

    const nasId = findAttr(p, RadiusAttr.NasIdentifier);
    if (nasId && text.decode(nasId) !== this.opts.nasIdentifier) {
      return nak(ErrorCause.NasIdentificationMismatch, "NAS-Identifier is not ours");
    }
    const nasIp = findAttr(p, RadiusAttr.NasIpAddress);
    if (
      nasIp &&
      (this.opts.nasIpAddress === undefined || readAddress(nasIp) !== this.opts.nasIpAddress)
    ) {
      return nak(ErrorCause.NasIdentificationMismatch, "NAS-IP-Address is not ours");
    }
    for (const a of p.attributes) {
      if (IDENTIFICATION.has(a.type) || HOUSEKEEPING.has(a.type)) continue;
      if (!disconnect && COA_CHANGES.has(a.type)) continue;
      return nak(
        ErrorCause.UnsupportedAttribute,
        `${radiusAttrName(a.type)} is not supported here`,
      );
    }
    if (!p.attributes.some((a) => IDENTIFICATION.has(a.type))) {
      return nak(ErrorCause.MissingAttribute, "no session identification attribute");
    }
    const str = (t: number) => {
      const v = findAttr(p, t);
      return v === undefined ? undefined : text.decode(v);
    };
    const num = (t: number) => {
      const v = findAttr(p, t);
      return v === undefined ? undefined : readU32(v);
    };
    const fip = findAttr(p, RadiusAttr.FramedIpAddress);
    const fields: Record<string, unknown> = {
      userName: str(RadiusAttr.UserName),
      acctSessionId: str(RadiusAttr.AcctSessionId),
      framedIpAddress: fip ? readAddress(fip) : undefined,
      callingStationId: str(RadiusAttr.CallingStationId),
      nasPort: num(RadiusAttr.NasPort),
      sessionTimeout: disconnect ? undefined : num(RadiusAttr.SessionTimeout),
      idleTimeout: disconnect ? undefined : num(RadiusAttr.IdleTimeout),
    };
    const request = {
      kind: disconnect ? "disconnect" : "coa",
      from,
      classes: findAllAttrs(p, RadiusAttr.Class),
      ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
    } as DaeRequest;
    this.replies.set(key, { bytes: undefined, expires: now + this.windowMs });
    this.counters?.incLabeled("radius_dae_request", "kind", request.kind);
    this.log.info("RADIUS dynamic-authorization request", {
      kind: request.kind,
      peer: `${from.address}:${from.port}`,
      user: request.userName,
      session: request.acctSessionId,
    });
    return { kind: "request", request, answer: sign };
  }

  private expire(now: number): void {
    for (const [k, v] of this.replies) if (v.expires <= now) this.replies.delete(k);
  }

  private drop(reason: string, from: RadiusEndpoint, detail: string): DaeOutcome {
    this.counters?.incLabeled("radius_dae_drop", "reason", reason);
    this.log.debug("RADIUS dynamic-authorization datagram dropped", {
      reason,
      peer: `${from.address}:${from.port}`,
      detail,
    });
    return { kind: "drop", reason };
  }
}
