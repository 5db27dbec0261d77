/**
 * The Authentication phase (RFC 1661 §3.5) in both roles.
 *
 * Authenticator (server):
 *  - CHAP-MD5 (RFC 1994) and MS-CHAPv2 (RFC 2759): a Challenge with a random 16-octet value
 *    and our hostname, resent every restart interval up to Max-Configure times; the Response
 *    is checked against the user lookup; Success ("Access granted", for MS-CHAPv2
 *    "S=<authenticator response> M=Access granted") or Failure (MS-CHAPv2
 *    "E=691 R=0 C=<new challenge> V=3 M=Access denied": R=0, retries are not offered) followed by
 *    LCP Terminate. A repeated Response with the Identifier already answered gets the same
 *    verdict again (as pppd does), so a lost Success costs no link.
 *  - PAP (RFC 1334): waits authTimeoutMs for an Authenticate-Request; the password is not
 *    checked here (a slow KDF would stall the event loop) but by the driver: action
 *    verify-credentials, answered by input credentials-verified. One check per session: requests
 *    that arrive while it runs only update the Identifier the verdict answers; requests after
 *    the verdict are never checked again (counted; the verdict is repeated at most
 *    Max-Configure times, for a peer whose Ack was lost). Ack "Login ok" or Nak "Login
 *    incorrect" then LCP Terminate.
 *  - External verdicts (authBackend "external", e.g. RADIUS): CHAP-MD5 and MS-CHAPv2 Responses
 *    go to the driver too (identifier, challenge and response; for MS-CHAPv2 the peer challenge
 *    and NT-Response), one check per session. An MS-CHAPv2 accept must carry the authenticator
 *    response computed by whoever holds the password; it is relayed in Success, so the peer
 *    still verifies the server. An accept without one is turned into a Failure: we cannot
 *    prove anything for a server that did not. A verdict that does not come within
 *    authTimeoutMs ends the link.
 * Peer (client):
 *  - PAP: Authenticate-Request resent every restart interval (new Identifier each time, RFC
 *    1334 §2.2.1) up to Max-Configure times.
 *  - CHAP-MD5 / MS-CHAPv2: answers each Challenge; verifies the MS-CHAPv2 authenticator
 *    response in Success (RFC 2759 §5, §8.8) and fails the link if it is missing or wrong
 *    (auth-failed with serverNotAuthenticated: the server did not prove it knows the
 *    password); reports the E=
 *    code of a Failure. Deviation: our Response is resent on the restart timer while no
 *    verdict came (RFC 1994 leaves retransmission to the authenticator); a lost Success
 *    would otherwise strand the peer, and authenticators resend the verdict for a repeated
 *    Response.
 * Any authentication failure ends the link (phases.ts closes it on our report); nothing waits
 * forever (authTimeoutMs). authStart/authStop are called by phases.ts.
 * Left out: MS-CHAPv2 Change-Password (RFC 2759 §7), CHAP rechallenge, EAP.
 */
import { constantTimeEqual } from "../crypto/ct.js";
import { MsChapError, PppProtocol, msChapErrorName, pppAuthMethodName } from "../registry/ppp.js";
import {
  parseChapPacket,
  parseMsChapV2Failure,
  parseMsChapV2ResponseValue,
  parseMsChapV2Success,
  parsePapPacket,
  serializeChapPacket,
  serializeMsChapV2Failure,
  serializeMsChapV2ResponseValue,
  serializeMsChapV2Success,
  serializePapPacket,
} from "../wire/ppp/auth.js";
import type { Engine } from "./engine.js";
import {
  chapMd5Response,
  generateAuthenticatorResponse,
  generateAuthenticatorResponseFromHash,
  generateNtResponse,
  generateNtResponseFromHash,
  ntPasswordHash,
  stripDomain,
} from "./mschapv2.js";
import type {
  AuthSessionState,
  PasswordRefusal,
  PppAuthMethod,
  PppAuthVerdict,
  PppCredentials,
  UserSecret,
} from "./types.js";

const latin1 = (s: string) => Buffer.from(s, "latin1");
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return constantTimeEqual(a, b);
}

function isAuthenticator(e: Engine): boolean {
  return e.cfg.role === "server";
}

function protocolOf(m: PppAuthMethod): number {
  return m === "pap" ? PppProtocol.PAP : PppProtocol.CHAP;
}

export function newAuthState(): AuthSessionState {
  return {
    method: null,
    done: false,
    deadline: null,
    transmits: 0,
    id: 0,
    challenge: null,
    result: null,
    user: null,
    lastSent: null,
    expected: null,
    check: null,
    checks: 0,
    repeats: 0,
    grant: null,
  };
}

/** Credential checks a session may ask of the driver, over all its LCP negotiations. */
const MAX_CHECKS = 1;

export function authStart(e: Engine, method: PppAuthMethod): void {
  const a = e.st.auth;
  a.method = method;
  a.done = false;
  a.result = null;
  a.check = null;
  a.grant = null;
  a.repeats = 0;
  a.transmits = 0;
  e.log.info(
    `authentication: ${pppAuthMethodName(method)} as ${isAuthenticator(e) ? "authenticator" : "peer"}`,
  );
  if (isAuthenticator(e)) {
    if (method === "pap") {
      a.deadline = e.now + e.cfg.authTimeoutMs;
    } else {
      a.id = e.random(1)[0] ?? 0;
      a.challenge = Uint8Array.from(e.random(16));
      sendChallenge(e);
    }
    return;
  }
  if (method === "pap") {
    sendPapRequest(e);
  } else {
    a.deadline = e.now + e.cfg.authTimeoutMs;
  }
}

export function authStop(e: Engine): void {
  e.st.auth.deadline = null;
}

function sendChallenge(e: Engine): void {
  const a = e.st.auth;
  a.transmits++;
  a.deadline = e.now + e.cfg.timing.restartMs;
  e.sendFrame(
    PppProtocol.CHAP,
    serializeChapPacket({
      kind: "Challenge",
      identifier: a.id,
      value: a.challenge ?? new Uint8Array(16),
      name: latin1(e.cfg.hostname),
    }),
  );
}

function sendPapRequest(e: Engine): void {
  const a = e.st.auth;
  const creds = e.cfg.raw.credentials;
  a.transmits++;
  a.id = (a.id + 1) & 0xff;
  a.deadline = e.now + e.cfg.timing.restartMs;
  e.sendFrame(
    PppProtocol.PAP,
    serializePapPacket({
      kind: "Authenticate-Request",
      identifier: a.id,
      peerId: latin1(creds?.user ?? ""),
      password: Buffer.from(creds?.password ?? "", "utf8"),
    }),
  );
}

function fail(
  e: Engine,
  message: string,
  extra: { code?: number; user?: string | null; serverNotAuthenticated?: boolean } = {},
): void {
  const a = e.st.auth;
  a.done = true;
  a.deadline = null;
  a.check = null;
  e.emit({
    type: "auth-failed",
    method: a.method,
    user: extra.user ?? a.user,
    ...(extra.code !== undefined ? { code: extra.code } : {}),
    message,
    ...(extra.serverNotAuthenticated ? { serverNotAuthenticated: true } : {}),
  });
  e.report({ type: "auth-failed", message });
}

function succeed(e: Engine, user: string): void {
  const a = e.st.auth;
  a.done = true;
  a.deadline = null;
  a.user = user;
  if (a.method) e.emit({ type: "auth-ok", method: a.method, user });
  e.report({ type: "auth-succeeded" });
}

/** The auth deadline passed. */
export function authTimer(e: Engine): void {
  const a = e.st.auth;
  a.deadline = null;
  if (a.done || !a.method || e.st.phase !== "Authenticate") return;
  const max = e.cfg.timing.maxConfigure;
  if (isAuthenticator(e)) {
    if (a.check) {
      e.setReason("auth-timeout", "no verdict on the credentials in time");
      fail(e, `no verdict on the credentials of ${a.check.user} in time`);
      return;
    }
    if (a.method !== "pap" && a.transmits < max) {
      sendChallenge(e);
      return;
    }
    e.setReason("auth-timeout", "the peer did not authenticate in time");
    fail(e, "the peer did not authenticate in time");
    return;
  }
  if (a.method === "pap" && a.transmits < max) {
    sendPapRequest(e);
    return;
  }
  if (a.method !== "pap" && a.lastSent && a.transmits < max) {
    a.transmits++;
    a.deadline = e.now + e.cfg.timing.restartMs;
    e.sendFrame(PppProtocol.CHAP, a.lastSent);
    return;
  }
  e.setReason("auth-timeout", "the authenticator did not answer");
  fail(e, "the authenticator did not answer");
}

/** A PAP or CHAP frame; only the negotiated protocol is looked at. */
export function authReceive(e: Engine, protocol: number, info: Uint8Array): void {
  const a = e.st.auth;
  if (!a.method || protocolOf(a.method) !== protocol) {
    e.count("rx_drop_auth_unexpected");
    return;
  }
  if (protocol === PppProtocol.PAP) {
    if (isAuthenticator(e)) papServer(e, info);
    else papClient(e, info);
  } else if (isAuthenticator(e)) {
    chapServer(e, info);
  } else {
    chapClient(e, info);
  }
}

function lookup(e: Engine, name: string): UserSecret | undefined {
  const users = e.cfg.raw.users;
  if (!users) return undefined;
  let found = users(name);
  if (found === undefined) {
    const bare = stripDomain(name);
    if (bare !== name) found = users(bare);
  }
  return typeof found === "string" ? { cleartext: found } : found;
}

function ntHashOf(s: UserSecret | undefined): Uint8Array | undefined {
  if (!s) return undefined;
  return s.ntHash ?? (s.cleartext !== undefined ? ntPasswordHash(s.cleartext) : undefined);
}

function sendPapVerdict(e: Engine, code: number, identifier: number, message: Uint8Array): void {
  e.sendFrame(
    PppProtocol.PAP,
    serializePapPacket({
      kind: code === 2 ? "Authenticate-Ack" : "Authenticate-Nak",
      identifier,
      message,
    }),
  );
}

function papServer(e: Engine, info: Uint8Array): void {
  const a = e.st.auth;
  const r = parsePapPacket(info);
  if (!r.ok || r.value.kind !== "Authenticate-Request") {
    e.count("rx_drop_pap");
    e.log.debug("PAP: malformed or unexpected packet dropped", {
      ...(r.ok ? { kind: r.value.kind } : { error: r.error.message }),
    });
    return;
  }
  const p = r.value;
  if (a.result) {
    // Nothing is checked twice. A peer whose Ack/Nak was lost resends its request (RFC 1334
    // §2.2.1), so the verdict is repeated, but only a few times: a flood gets silence.
    e.count(a.result.code === 2 ? "rx_pap_after_auth" : "rx_pap_after_verdict");
    e.log.debug("PAP: Authenticate-Request after the verdict; not checked again", {
      repeats: a.repeats,
    });
    if (a.repeats >= e.cfg.timing.maxConfigure) return;
    a.repeats++;
    sendPapVerdict(e, a.result.code, p.identifier, a.result.message);
    return;
  }
  if (a.done) return;
  if (a.check) {
    // The check runs: this request costs nothing; the verdict answers the latest Identifier,
    // the one the peer waits for.
    a.check.identifier = p.identifier;
    e.count("rx_pap_while_checking");
    return;
  }
  const user = text(p.peerId);
  if (a.checks >= MAX_CHECKS) {
    // A new LCP negotiation in the same session does not buy another guess.
    const message = Uint8Array.from(latin1("Login incorrect"));
    a.result = { id: p.identifier, code: 3, message };
    sendPapVerdict(e, 3, p.identifier, message);
    fail(e, `PAP: a second password attempt in one session, for ${user}`, { user });
    return;
  }
  askDriver(e, p.identifier, user, { method: "pap", password: Uint8Array.from(p.password) });
}

/** Hands the credentials to the driver (one check per session, over all LCP negotiations). */
function askDriver(e: Engine, identifier: number, user: string, credentials: PppCredentials): void {
  const a = e.st.auth;
  a.checks++;
  a.check = { requestId: a.checks, identifier, user };
  // A verdict that never comes must not hold the link: the auth timeout still ends it.
  a.deadline = e.now + e.cfg.authTimeoutMs;
  e.log.debug(`${pppAuthMethodName(credentials.method)}: credentials check asked of the driver`, {
    user,
    requestId: a.checks,
  });
  e.actions.push({ type: "verify-credentials", requestId: a.checks, user, credentials });
}

const refusalText: Record<PasswordRefusal, string> = {
  "unknown-user": "unknown user",
  "wrong-password": "wrong password for",
  "not-allowed": "login not allowed (or account disabled) for",
  error: "the credentials check failed for",
};

const AUTHENTICATOR_RESPONSE = /^S=[0-9A-F]{40}$/;

/** The driver's answer to our verify-credentials action. */
export function credentialsVerified(e: Engine, requestId: number, verdict: PppAuthVerdict): void {
  const a = e.st.auth;
  const c = a.check;
  if (!c || c.requestId !== requestId || a.done || e.st.phase !== "Authenticate") {
    e.count("rx_drop_credentials_verified");
    e.log.debug("stale credentials-check answer dropped", { requestId });
    return;
  }
  a.check = null;
  const said = verdict.message !== undefined ? ` (${verdict.message})` : "";
  if (a.method === "pap") {
    const message = Uint8Array.from(latin1(verdict.ok ? "Login ok" : "Login incorrect"));
    a.result = { id: c.identifier, code: verdict.ok ? 2 : 3, message };
    sendPapVerdict(e, a.result.code, c.identifier, message);
    if (verdict.ok) {
      a.grant = verdict.grant ?? null;
      succeed(e, c.user);
    } else fail(e, `PAP: ${refusalText[verdict.reason]} ${c.user}${said}`, { user: c.user });
    return;
  }
  if (!verdict.ok) {
    chapRefuse(e, c.identifier, c.user, `${refusalText[verdict.reason]} ${c.user}${said}`);
    return;
  }
  let success: Uint8Array = latin1("Access granted");
  if (a.method === "mschapv2") {
    // The peer checks S= to know the server holds its password: relay it, never invent one.
    const s = verdict.authenticatorResponse?.toUpperCase();
    if (s === undefined || !AUTHENTICATOR_RESPONSE.test(s)) {
      e.count("auth_verdict_without_authenticator_response");
      chapRefuse(
        e,
        c.identifier,
        c.user,
        `the authentication server accepted ${c.user} but sent no usable MS-CHAPv2 authenticator response (S=), so the peer could not verify the server`,
      );
      return;
    }
    success = serializeMsChapV2Success({
      authenticatorResponse: Buffer.from(s.slice(2), "hex"),
      message: "Access granted",
    });
  }
  a.grant = verdict.grant ?? null;
  chapAccept(e, c.identifier, c.user, success);
}

function papClient(e: Engine, info: Uint8Array): void {
  const a = e.st.auth;
  const r = parsePapPacket(info);
  if (!r.ok || a.done || r.value.kind === "Authenticate-Request" || r.value.kind === "Unknown-Code")
    return;
  if (r.value.identifier !== a.id) return;
  const user = e.cfg.raw.credentials?.user ?? "";
  if (r.value.kind === "Authenticate-Ack") succeed(e, user);
  else fail(e, `PAP: the server refused the login: ${text(r.value.message)}`, { user });
}

function chapServer(e: Engine, info: Uint8Array): void {
  const a = e.st.auth;
  const r = parseChapPacket(info);
  if (!r.ok || r.value.kind !== "Response") return;
  const p = r.value;
  if (a.result) {
    if (p.identifier === a.result.id) {
      e.sendFrame(
        PppProtocol.CHAP,
        serializeChapPacket({
          kind: a.result.code === 3 ? "Success" : "Failure",
          identifier: a.result.id,
          message: a.result.message,
        }),
      );
    }
    return;
  }
  if (p.identifier !== a.id || !a.challenge || a.done) return;
  if (a.check) {
    e.count("rx_chap_while_checking"); // a resent Response: the verdict answers it
    return;
  }
  const user = text(p.name);
  if (e.cfg.raw.authBackend === "external") {
    if (a.checks >= MAX_CHECKS) {
      chapRefuse(e, p.identifier, user, `a second attempt in one session, for ${user}`);
      return;
    }
    if (a.method === "chap-md5") {
      askDriver(e, p.identifier, user, {
        method: "chap-md5",
        identifier: p.identifier,
        challenge: Uint8Array.from(a.challenge),
        response: Uint8Array.from(p.value),
      });
      return;
    }
    const v = parseMsChapV2ResponseValue(p.value);
    if (!v.ok) {
      chapRefuse(e, p.identifier, user, `malformed MS-CHAPv2 Response from ${user}`);
      return;
    }
    askDriver(e, p.identifier, user, {
      method: "mschapv2",
      identifier: p.identifier,
      authenticatorChallenge: Uint8Array.from(a.challenge),
      peerChallenge: Uint8Array.from(v.value.peerChallenge),
      ntResponse: Uint8Array.from(v.value.ntResponse),
    });
    return;
  }
  const pw = lookup(e, user);
  let good = false;
  let success: Uint8Array = latin1("Access granted");
  if (a.method === "chap-md5") {
    good =
      pw?.cleartext !== undefined &&
      equalBytes(
        chapMd5Response(p.identifier, Buffer.from(pw.cleartext, "utf8"), a.challenge),
        p.value,
      );
  } else {
    const v = parseMsChapV2ResponseValue(p.value);
    const hash = ntHashOf(pw);
    if (v.ok && hash !== undefined) {
      const nt = generateNtResponseFromHash(a.challenge, v.value.peerChallenge, user, hash);
      good = equalBytes(nt, v.value.ntResponse);
      if (good) {
        success = serializeMsChapV2Success({
          authenticatorResponse: generateAuthenticatorResponseFromHash(
            hash,
            nt,
            v.value.peerChallenge,
            a.challenge,
            user,
          ),
          message: "Access granted",
        });
      }
    }
  }
  if (good) {
    chapAccept(e, p.identifier, user, success);
    return;
  }
  chapRefuse(
    e,
    p.identifier,
    user,
    pw === undefined ? `unknown user ${user}` : `wrong password for ${user}`,
  );
}

function chapAccept(e: Engine, identifier: number, user: string, success: Uint8Array): void {
  const a = e.st.auth;
  a.result = { id: identifier, code: 3, message: Uint8Array.from(success) };
  e.sendFrame(
    PppProtocol.CHAP,
    serializeChapPacket({ kind: "Success", identifier, message: success }),
  );
  succeed(e, user);
}

function chapRefuse(e: Engine, identifier: number, user: string, why: string): void {
  const a = e.st.auth;
  const failure =
    a.method === "mschapv2"
      ? serializeMsChapV2Failure({
          error: MsChapError.AuthenticationFailure,
          retry: false,
          challenge: e.random(16),
          version: 3,
          message: "Access denied",
        })
      : latin1("Access denied");
  a.result = { id: identifier, code: 4, message: Uint8Array.from(failure) };
  e.sendFrame(
    PppProtocol.CHAP,
    serializeChapPacket({ kind: "Failure", identifier, message: failure }),
  );
  fail(e, `${pppAuthMethodName(a.method ?? "chap-md5")}: ${why}`, {
    user,
    ...(a.method === "mschapv2" ? { code: MsChapError.AuthenticationFailure } : {}),
  });
}

function chapClient(e: Engine, info: Uint8Array): void {
  const a = e.st.auth;
  const r = parseChapPacket(info);
  if (!r.ok || a.done) return;
  const p = r.value;
  const creds = e.cfg.raw.credentials ?? { user: "", password: "" };
  if (p.kind === "Challenge") {
    if (a.lastSent && a.challenge && p.identifier === a.id && equalBytes(p.value, a.challenge)) {
      e.sendFrame(PppProtocol.CHAP, a.lastSent); // the server resent its Challenge
      return;
    }
    let value: Uint8Array;
    if (a.method === "chap-md5") {
      value = chapMd5Response(p.identifier, Buffer.from(creds.password, "utf8"), p.value);
      a.expected = null;
    } else {
      if (p.value.length !== 16) {
        e.log.warn("MS-CHAPv2: Challenge value is not 16 octets; ignored");
        return;
      }
      const peerChallenge = e.random(16);
      const nt = generateNtResponse(p.value, peerChallenge, creds.user, creds.password);
      a.expected = Uint8Array.from(
        generateAuthenticatorResponse(creds.password, nt, peerChallenge, p.value, creds.user),
      );
      value = serializeMsChapV2ResponseValue({
        peerChallenge,
        reserved: new Uint8Array(8),
        ntResponse: nt,
        flags: 0,
      });
    }
    a.id = p.identifier;
    a.challenge = Uint8Array.from(p.value);
    a.lastSent = Uint8Array.from(
      serializeChapPacket({
        kind: "Response",
        identifier: p.identifier,
        value,
        name: latin1(creds.user),
      }),
    );
    a.transmits = 1;
    a.deadline = e.now + e.cfg.timing.restartMs;
    e.sendFrame(PppProtocol.CHAP, a.lastSent);
    return;
  }
  if (p.kind === "Success") {
    if (!a.lastSent || p.identifier !== a.id) return;
    if (a.method === "mschapv2") {
      // RFC 2759 §5: the S= value proves the server knows the password. Without it the
      // "server" may be anyone holding the group PSK.
      const s = parseMsChapV2Success(p.message);
      const why = !s.ok
        ? "the server's Success carries no authenticator response (S=) we can read"
        : !a.expected || !equalBytes(s.value.authenticatorResponse, a.expected)
          ? "the server's authenticator response (S=) is wrong"
          : undefined;
      if (why) {
        fail(e, `MS-CHAPv2: ${why}: the server did not prove it knows your password`, {
          user: creds.user,
          serverNotAuthenticated: true,
        });
        return;
      }
    }
    succeed(e, creds.user);
    return;
  }
  if (p.kind === "Failure") {
    if (!a.lastSent || p.identifier !== a.id) return;
    if (a.method === "mschapv2") {
      const f = parseMsChapV2Failure(p.message);
      if (f.ok) {
        const m = f.value.message !== undefined ? `: ${f.value.message}` : "";
        fail(e, `MS-CHAPv2 authentication failed, ${msChapErrorName(f.value.error)}${m}`, {
          code: f.value.error,
          user: creds.user,
        });
        return;
      }
    }
    fail(
      e,
      `${pppAuthMethodName(a.method ?? "chap-md5")} authentication failed: ${text(p.message)}`,
      {
        user: creds.user,
      },
    );
  }
}
