/**
 * A small RADIUS server on a simulated host, for whole-product scenarios: it checks PAP
 * (RFC 2865 §5.2), CHAP-MD5 (RFC 1994 / RFC 2865 §5.3) and MS-CHAPv2 (RFC 2548 §2.3, RFC 2759
 * §8) against cleartext passwords it holds, answers with Message-Authenticator (verifying the
 * requests'), records Accounting-Requests, and sends Disconnect-/CoA-Requests (RFC 5176) to a
 * NAS. Everything goes through the real wire codec; what Oakley computes is checked against
 * the RFC algorithms here, not against Oakley's own client code.
 */
import { createHash } from "node:crypto";
import { generateAuthenticatorResponse, generateNtResponse } from "../../src/ppp/mschapv2.js";
import { MsAttr, RadiusAttr, RadiusCode, VENDOR_MICROSOFT } from "../../src/registry/radius.js";
import {
  revealUserPassword,
  signRequest,
  signResponse,
  verifyRequest,
  verifyResponse,
} from "../../src/wire/radius/auth.js";
import {
  findAllAttrs,
  findAttr,
  findVendorAttr,
  parseRadiusPacket,
  type RadiusAttribute,
  type RadiusPacket,
  readAddress,
  readU32,
  vendorAttr,
} from "../../src/wire/radius/packet.js";
import type { Endpoint, SimHost } from "./sim.js";

export interface FakeRadiusUser {
  readonly password: string;
  /** Attributes added to the Access-Accept. */
  readonly reply?: readonly RadiusAttribute[];
}

export interface AccountingSeen {
  readonly status: number;
  readonly sessionId: string;
  readonly user: string;
  readonly attrs: RadiusPacket;
}

const utf8 = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("utf8") : "");

export class FakeRadiusServer {
  readonly users = new Map<string, FakeRadiusUser>();
  readonly accounting: AccountingSeen[] = [];
  /** Access-Requests received, parsed, in order. */
  readonly accessRequests: RadiusPacket[] = [];
  /** Replies to our Disconnect/CoA requests. */
  readonly daeReplies: RadiusPacket[] = [];
  /** When true, nothing is answered (a server that is down). */
  mute = false;
  /** When false, requests are answered whatever their Message-Authenticator (wrong secret). */
  checkRequests = true;
  private daeId = 0;

  constructor(
    readonly host: SimHost,
    readonly secret: Uint8Array,
    readonly ports = { auth: 1812, acct: 1813, dae: 3799 },
  ) {
    host.bind(ports.auth, (data, from) => this.onAccess(data, from));
    host.bind(ports.acct, (data, from) => this.onAccounting(data, from));
    host.bind(1700, (data) => this.onDaeReply(data));
  }

  private onAccess(data: Buffer, from: Endpoint): void {
    const parsed = parseRadiusPacket(data);
    if (!parsed.ok || parsed.value.code !== RadiusCode.AccessRequest || this.mute) return;
    const p = parsed.value;
    if (this.checkRequests && !verifyRequest(data, p, this.secret, true).ok) return;
    this.accessRequests.push(p);
    const name = utf8(findAttr(p, RadiusAttr.UserName));
    const u = this.users.get(name);
    let good = false;
    const extra: RadiusAttribute[] = [];
    const hidden = findAttr(p, RadiusAttr.UserPassword);
    const chap = findAttr(p, RadiusAttr.ChapPassword);
    const msChallenge = findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.ChapChallenge);
    const msResponse = findVendorAttr(p, VENDOR_MICROSOFT, MsAttr.Chap2Response);
    if (u && hidden) {
      const r = revealUserPassword(hidden, this.secret, p.authenticator);
      good = r.ok && utf8(r.value).replace(/\0+$/, "") === u.password;
    } else if (u && chap && chap.length === 17) {
      const challenge = findAttr(p, RadiusAttr.ChapChallenge) ?? p.authenticator;
      const want = createHash("md5")
        .update(chap.subarray(0, 1))
        .update(u.password, "utf8")
        .update(challenge)
        .digest();
      good = want.equals(Buffer.from(chap.subarray(1)));
    } else if (u && msChallenge && msResponse && msResponse.length === 50) {
      const ident = msResponse[0] ?? 0;
      const peerChallenge = msResponse.subarray(2, 18);
      const nt = msResponse.subarray(26, 50);
      const want = generateNtResponse(msChallenge, peerChallenge, name, u.password);
      good = Buffer.from(want).equals(Buffer.from(nt));
      if (good) {
        const s = generateAuthenticatorResponse(u.password, nt, peerChallenge, msChallenge, name);
        const text = `S=${Buffer.from(s).toString("hex").toUpperCase()}`;
        extra.push(
          vendorAttr(
            VENDOR_MICROSOFT,
            MsAttr.Chap2Success,
            Buffer.concat([Buffer.from([ident]), Buffer.from(text, "latin1")]),
          ),
        );
      }
    }
    const attributes = good
      ? [...extra, ...(u?.reply ?? [])]
      : [{ type: RadiusAttr.ReplyMessage, value: Buffer.from("denied") }];
    const out = signResponse(
      {
        code: good ? RadiusCode.AccessAccept : RadiusCode.AccessReject,
        identifier: p.identifier,
        attributes,
      },
      p.authenticator,
      this.secret,
    );
    this.host.send(this.ports.auth, from, out);
  }

  private onAccounting(data: Buffer, from: Endpoint): void {
    const parsed = parseRadiusPacket(data);
    if (!parsed.ok || parsed.value.code !== RadiusCode.AccountingRequest || this.mute) return;
    const p = parsed.value;
    if (!verifyRequest(data, p, this.secret, false).ok) return;
    const status = findAttr(p, RadiusAttr.AcctStatusType);
    this.accounting.push({
      status: status ? readU32(status) : 0,
      sessionId: utf8(findAttr(p, RadiusAttr.AcctSessionId)),
      user: utf8(findAttr(p, RadiusAttr.UserName)),
      attrs: p,
    });
    const out = signResponse(
      { code: RadiusCode.AccountingResponse, identifier: p.identifier, attributes: [] },
      p.authenticator,
      this.secret,
    );
    this.host.send(this.ports.acct, from, out);
  }

  private pendingDae = new Map<number, Uint8Array>();

  private onDaeReply(data: Buffer): void {
    const parsed = parseRadiusPacket(data);
    if (!parsed.ok) return;
    const ra = this.pendingDae.get(parsed.value.identifier);
    if (!ra || !verifyResponse(data, parsed.value, ra, this.secret).ok) return;
    this.daeReplies.push(parsed.value);
  }

  /** Sends a Disconnect-Request (or CoA-Request) to the NAS's dynamic-authorization port. */
  sendDae(
    nas: Endpoint,
    kind: "disconnect" | "coa",
    attributes: readonly RadiusAttribute[],
    secret: Uint8Array = this.secret,
  ): void {
    const identifier = this.daeId++ & 0xff;
    const { bytes, authenticator } = signRequest(
      {
        code: kind === "disconnect" ? RadiusCode.DisconnectRequest : RadiusCode.CoaRequest,
        identifier,
        attributes,
      },
      secret,
      new Uint8Array(16),
    );
    this.pendingDae.set(identifier, authenticator);
    this.host.send(1700, nas, bytes);
  }

  /** Accounting records of a status (1 Start, 2 Stop, 3 Interim-Update). */
  records(status: number): AccountingSeen[] {
    return this.accounting.filter((a) => a.status === status);
  }

  static u32Of(p: RadiusPacket, type: number): number | undefined {
    const v = findAttr(p, type);
    return v ? readU32(v) : undefined;
  }

  static addressOf(p: RadiusPacket, type: number): string | undefined {
    const v = findAttr(p, type);
    return v ? readAddress(v) : undefined;
  }

  static classes(p: RadiusPacket): string[] {
    return findAllAttrs(p, RadiusAttr.Class).map((c) => utf8(c));
  }
}
