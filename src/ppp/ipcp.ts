/**
 * IPCP (RFC 1332, RFC 1877) on the shared automaton.
 *
 * Server: requests IP-Address = its own PPP address; for the peer's request: IP-Address equal
 * to the pool's assignment -> Ack, anything else -> Nak with the assignment; no IP-Address
 * option at all -> a Nak that adds one (RFC 1661 §5.3 allows options the peer did not send),
 * at most Max-Failure times; Primary/Secondary DNS and NBNS -> Ack/Nak with the configured
 * servers, Reject when none is configured (pppd and Windows then go on without); deprecated
 * IP-Addresses (1), IP-Compression-Protocol (VJ) and unknown options -> Reject.
 * Client: requests IP-Address 0.0.0.0 (or a configured one) and, if configured, DNS/NBNS
 * 0.0.0.0; adopts the values of a Configure-Nak; drops options the server rejects. For the
 * server's request: a non-zero IP-Address -> Ack (it becomes the peer address), everything
 * else -> Reject.
 * This-Layer-Up emits ip-up with both addresses and the DNS/NBNS servers; This-Layer-Finished
 * is reported to phases.ts, which closes the link (nothing left to carry), like pppd's "no
 * network protocols running". IPCP is started and stopped by phases.ts.
 * Left out: VJ header compression; IPV6CP (its packets get an LCP Protocol-Reject).
 */
import { PppProtocol, ipcpOptionName } from "../registry/ppp.js";
import { type IpcpOption, ipcpOptionCodec, parseIpcpPacket } from "../wire/ppp/ipcp.js";
import { type CheckResult, type CpHost, cpEvent, cpReceive } from "./cp.js";
import type { Engine } from "./engine.js";
import type { IpcpWantOption } from "./types.js";

const ZERO = "0.0.0.0";

export function initialIpcpWant(e: Engine): IpcpWantOption[] {
  const c = e.cfg;
  if (c.role === "server") {
    return c.raw.localAddress ? [{ kind: "ip-address", address: c.raw.localAddress }] : [];
  }
  const w: IpcpWantOption[] = [{ kind: "ip-address", address: c.raw.requestAddress ?? ZERO }];
  if (c.requestDns)
    w.push({ kind: "primary-dns", address: ZERO }, { kind: "secondary-dns", address: ZERO });
  if (c.requestNbns)
    w.push({ kind: "primary-nbns", address: ZERO }, { kind: "secondary-nbns", address: ZERO });
  return w;
}

/** Server: the DNS servers of the login's grant, else the configured ones. */
function dnsOf(e: Engine): readonly string[] {
  return e.st.auth.grant?.dns ?? e.cfg.raw.dns ?? [];
}

function serverValue(e: Engine, kind: IpcpWantOption["kind"]): string | undefined {
  const r = e.cfg.raw;
  switch (kind) {
    case "ip-address":
      return e.st.ipcp.peerAddress ?? undefined;
    case "primary-dns":
      return dnsOf(e)[0];
    case "secondary-dns":
      return dnsOf(e)[1];
    case "primary-nbns":
      return r.nbns?.[0];
    case "secondary-nbns":
      return r.nbns?.[1];
  }
}

function optionType(o: IpcpOption): number {
  return o.kind === "raw" ? o.type : ipcpOptionCodec.encode(o).type;
}

function checkRequest(
  e: Engine,
  options: readonly IpcpOption[],
  rejectNaks: boolean,
): CheckResult<IpcpOption> {
  const naks: IpcpOption[] = [];
  const rejects: IpcpOption[] = [];
  const nak = (orig: IpcpOption, suggestion: IpcpOption) =>
    rejectNaks ? rejects.push(orig) : naks.push(suggestion);
  const server = e.cfg.role === "server";
  for (const o of options) {
    switch (o.kind) {
      case "ip-address":
      case "primary-dns":
      case "secondary-dns":
      case "primary-nbns":
      case "secondary-nbns": {
        if (!server) {
          if (o.kind !== "ip-address" || o.address === ZERO) rejects.push(o);
          break;
        }
        const v = serverValue(e, o.kind);
        if (v === undefined) rejects.push(o);
        else if (v !== o.address) nak(o, { kind: o.kind, address: v });
        break;
      }
      default:
        rejects.push(o);
    }
  }
  for (const r of rejects)
    e.log.debug(`IPCP: rejecting peer option ${ipcpOptionName(optionType(r))}`);
  if (rejects.length > 0) return { verdict: "reject", options: rejects };
  const assigned = e.st.ipcp.peerAddress;
  if (
    server &&
    assigned &&
    !rejectNaks &&
    !options.some((o) => o.kind === "ip-address") &&
    e.st.ipcp.missingAddressNaks < e.cfg.timing.maxFailure
  ) {
    e.st.ipcp.missingAddressNaks++;
    naks.push({ kind: "ip-address", address: assigned });
  }
  if (naks.length > 0) return { verdict: "nak", options: naks };
  return { verdict: "ack", options };
}

function peerRequestAcked(e: Engine, options: readonly IpcpOption[]): void {
  if (e.cfg.role !== "client") return;
  for (const o of options) if (o.kind === "ip-address") e.st.ipcp.peerAddress = o.address;
}

function receivedNak(e: Engine, options: readonly IpcpOption[]): void {
  if (e.cfg.role === "server") return; // our own address is not negotiable
  for (const o of options) {
    if (o.kind === "raw" || o.kind === "ip-addresses" || o.kind === "ip-compression-protocol")
      continue;
    const w = e.st.ipcp.want.find((x) => x.kind === o.kind);
    if (w) w.address = o.address;
  }
}

function receivedReject(e: Engine, options: readonly IpcpOption[]): void {
  const kinds = new Set(options.map((o) => o.kind));
  e.st.ipcp.want = e.st.ipcp.want.filter((w) => !kinds.has(w.kind));
}

function ipUp(e: Engine): void {
  const st = e.st;
  const want = (k: IpcpWantOption["kind"]) => st.ipcp.want.find((w) => w.kind === k)?.address;
  if (e.cfg.role === "server") {
    st.ipcp.up = true;
    e.emit({
      type: "ip-up",
      localAddress: e.cfg.raw.localAddress ?? ZERO,
      peerAddress: st.ipcp.peerAddress ?? ZERO,
      dns: [...dnsOf(e)].slice(0, 2),
      nbns: [...(e.cfg.raw.nbns ?? [])].slice(0, 2),
    });
    return;
  }
  const local = want("ip-address");
  if (!local || local === ZERO) {
    e.report({
      type: "close",
      reason: "ipcp-failed",
      message: "the server assigned no IP address",
    });
    return;
  }
  const list = (a: string | undefined, b: string | undefined) =>
    [a, b].filter((x): x is string => x !== undefined && x !== ZERO);
  st.ipcp.up = true;
  e.emit({
    type: "ip-up",
    localAddress: local,
    peerAddress: st.ipcp.peerAddress ?? ZERO,
    dns: list(want("primary-dns"), want("secondary-dns")),
    nbns: list(want("primary-nbns"), want("secondary-nbns")),
  });
}

export function ipcpHost(e: Engine): CpHost<IpcpOption> {
  return {
    name: "IPCP",
    codec: ipcpOptionCodec,
    now: e.now,
    timing: e.cfg.timing,
    log: e.log,
    get peerMaxPacket() {
      return e.st.lcp.peer.mru;
    },
    send: (p) => e.sendFrame(PppProtocol.IPCP, p),
    buildRequest: () => e.st.ipcp.want.map((w) => ({ kind: w.kind, address: w.address })),
    checkRequest: (o, r) => checkRequest(e, o, r),
    peerRequestAcked: (o) => peerRequestAcked(e, o),
    receivedAck: () => {},
    receivedNak: (o) => receivedNak(e, o),
    receivedReject: (o) => receivedReject(e, o),
    tlu: () => ipUp(e),
    tld: () => {
      if (e.st.ipcp.up) e.emit({ type: "ip-down" });
      e.st.ipcp.up = false;
    },
    tls: () => {},
    tlf: () => e.report({ type: "ipcp-finished" }),
    ser: () => {},
    notConverging: () =>
      e.report({
        type: "close",
        reason: "ipcp-failed",
        message: "IPCP negotiation does not converge",
      }),
  };
}

export function ipcpReceive(e: Engine, info: Uint8Array): void {
  const r = parseIpcpPacket(info);
  if (!r.ok) {
    e.count("rx_drop_ipcp_parse");
    e.log.debug("IPCP: malformed packet dropped", { error: r.error.message });
    return;
  }
  cpReceive(e.st.ipcp.cp, ipcpHost(e), r.value, info);
}

/** The Network phase begins: RFC 1661 §4 Open and Up events. */
export function ipcpOpen(e: Engine): void {
  const host = ipcpHost(e);
  cpEvent(e.st.ipcp.cp, host, "Open");
  cpEvent(e.st.ipcp.cp, host, "Up");
}

/** LCP left the Opened state: IPCP's lower layer is down. */
export function ipcpDown(e: Engine): void {
  if (e.st.ipcp.cp.state !== "Initial") cpEvent(e.st.ipcp.cp, ipcpHost(e), "Down");
}

/** The peer Protocol-Rejected IPCP (RFC 1661 §5.7: RXJ-). */
export function ipcpRejected(e: Engine): void {
  cpEvent(e.st.ipcp.cp, ipcpHost(e), "RXJ-");
}

/**
 * Server: takes the peer's address from the pool (the login's granted one if any). Returns
 * why it could not, or null.
 */
export function ipcpAssignAddress(e: Engine): string | null {
  const pool = e.cfg.raw.pool;
  if (!pool) return "no address pool configured";
  const granted = e.st.auth.grant?.address;
  let r: ReturnType<typeof pool.allocate>;
  if (granted === undefined) r = pool.allocate(e.st.auth.user ?? "", e.cfg.sessionId);
  else if (pool.claim) r = pool.claim(granted, e.cfg.sessionId);
  else return `cannot give the granted address ${granted}: no claim`;
  if (!r.ok) return r.error.message;
  e.st.ipcp.peerAddress = r.value;
  return null;
}

/** Server: give the peer's address back to the pool (link down). */
export function ipcpReleaseAddress(e: Engine): void {
  const st = e.st;
  if (e.cfg.role === "server" && st.ipcp.peerAddress && e.cfg.raw.pool) {
    e.cfg.raw.pool.release(st.ipcp.peerAddress, e.cfg.sessionId);
    st.ipcp.peerAddress = null;
  }
}
