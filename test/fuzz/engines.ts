/**
 * Engine targets of the deep fuzzer: the IKE responder, the L2TP LNS and the PPP server session,
 * each driven only through its public API (src/ike, src/l2tp, src/ppp index.ts) with messages
 * that parse but are hostile.
 *
 * Each engine gets two kinds of input:
 *  - the runner's input: a mutated copy of a message from a legitimate exchange (recorded from
 *    an Oakley initiator / LAC / PPP client talking to the engine, plus the real captures),
 *    delivered from one of a few hostile endpoints, or retargeted at a live SA / tunnel /
 *    session (cookies, tunnel ID patched in) so that it meets the state machine mid-exchange;
 *  - every so often a fresh legitimate exchange whose messages in flight are mutated with some
 *    probability, so hostile fields arrive in every phase, in order, with valid sequence numbers.
 * The fake clock advances between inputs and the engines' timers fire. After the run
 * (`finish`) the tables must be within their limits and, after idle time with only timers, empty.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type IkeAction,
  IkeEngine,
  addressSelector,
  ikeConfig,
  type Phase1Offer,
} from "../../src/ike/index.js";
import {
  checkDeadlines,
  createL2tp,
  handle as l2tpHandle,
  type L2tpAction,
  type L2tpState,
  listTunnels,
} from "../../src/l2tp/index.js";
import {
  AddressPool,
  type PppAction,
  type PppAuthMethod,
  PppSession,
} from "../../src/ppp/index.js";
import { splitIntoFragments } from "../../src/wire/isakmp/index.js";
import { isakmpDatagrams } from "../helpers/pcap.js";
import { l2tpCaptureMessages } from "../vectors/l2tp/captures.js";
import type { Rand, Shape } from "./mutate.js";
import { isakmpMessage, l2tpPacket, pppFrame } from "./shapes.js";
import { type FuzzInstance, FuzzFailure, type FuzzTarget } from "./target.js";

/**
 * Time between inputs: mostly a few ms, sometimes seconds (timers fire), and now and then a flood
 * of 5000 inputs with no time passing, so that half-open state piles up against the limits.
 */
function floodClock(r: Rand): () => number {
  let flood = 0;
  return () => {
    if (flood > 0) {
      flood--;
      return 0;
    }
    if (r() % 2000 === 0) flood = 5000;
    return r() % 8 === 0 ? r() % 5000 : r() % 20;
  };
}

function bytesFrom(r: Rand): (n: number) => Buffer {
  return (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = r() & 0xff;
    return b;
  };
}

function seededBytes(seed: number): (n: number) => Buffer {
  let x = seed >>> 0 || 1;
  return bytesFrom(() => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  });
}

// ---------------------------------------------------------------------------------------------
// IKE

const SERVER = "198.51.100.2";
const PSK = "oakley-fuzz-psk-0123456789";
/** ECP-256 keeps the many legitimate handshakes cheap; the responder accepts its defaults too. */
const FAST: Phase1Offer[] = [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 19 }];
const captures = join(import.meta.dirname, "../vectors/captures");

export function strongswanIsakmp(): Buffer[] {
  return ["evidence-ikev1-natt-transport.pcap", "evidence-ikev1-natt-tunnel.pcap"].flatMap((f) =>
    isakmpDatagrams(readFileSync(join(captures, f))).map((d) => Buffer.from(d.payload)),
  );
}

interface IkeLeg {
  readonly from: { address: string; port: number };
  readonly to: { address: string; port: number };
  readonly data: Buffer;
}

/**
 * One Main Mode + Quick Mode (transport, L2TP) from an Oakley initiator at `client` to `resp`,
 * then a Delete of the child from the initiator. Messages from the initiator pass through
 * `tamper` (which may change or drop them). Returns what the initiator sent.
 */
function ikeExchange(
  resp: IkeEngine,
  client: string,
  seed: number,
  now: () => number,
  tamper: (b: Buffer, n: number) => Buffer | undefined,
  onRespActions: (a: IkeAction[]) => void,
): IkeLeg[] {
  const init = new IkeEngine(
    ikeConfig({ localAddress: client, psks: [{ secret: PSK }], phase1: { offers: FAST } }),
    { random: seededBytes(seed) },
  );
  const sent: IkeLeg[] = [];
  const toInit: IkeAction[] = [];
  let n = 0;
  const fromInit = (actions: IkeAction[]) => {
    for (const a of actions) {
      if (a.kind !== "send") continue;
      sent.push({ from: a.from, to: a.to, data: a.data });
      const data = tamper(a.data, n++);
      if (!data) continue;
      const ra = resp.handleDatagram({ data, local: a.to, remote: a.from }, now());
      onRespActions(ra);
      toInit.push(...ra.filter((x) => x.kind === "send" && x.to.address === client));
    }
  };
  fromInit(
    init.initiate(
      {
        peer: { address: SERVER, port: 500 },
        phase2: {
          mode: "transport",
          local: addressSelector(client, 17, 1701),
          remote: addressSelector(SERVER, 17, 1701),
        },
      },
      now(),
    ),
  );
  for (let guard = 0; guard < 64 && toInit.length > 0; guard++) {
    const a = toInit.shift();
    if (a?.kind !== "send") continue;
    fromInit(init.handleDatagram({ data: a.data, local: a.to, remote: a.from }, now()));
  }
  const child = init.childSas()[0];
  if (child) fromInit(init.deleteChildSaCommand(child.id, now()));
  return sent;
}

let ikeSeedCache: Buffer[] | undefined;
/** Initiator messages of a clean exchange (MM1, MM3, MM5, QM1, QM3, Delete) + strongSwan's. */
export function ikeSeeds(): Buffer[] {
  if (ikeSeedCache) return ikeSeedCache;
  const resp = new IkeEngine(ikeConfig({ localAddress: SERVER, psks: [{ secret: PSK }] }), {
    random: seededBytes(7),
  });
  const legs = ikeExchange(
    resp,
    "192.0.2.2",
    11,
    () => 1000,
    (b) => b,
    () => {},
  );
  const whole = [...legs.map((l) => l.data), ...strongswanIsakmp()];
  // IKE fragment carriers (payload 132) of the larger messages: three pieces each.
  const carriers = whole
    .filter((m) => m.length >= 200 && m.length <= 20_000)
    .flatMap((m) => splitIntoFragments(m, 1, Math.ceil(m.length / 3)));
  ikeSeedCache = [...whole, ...carriers];
  return ikeSeedCache;
}

const IKE_MAX_HALF_OPEN = 4096;

export const ikeResponder: FuzzTarget = {
  name: "engine:ike-responder",
  kind: "engine",
  defaultRuns: 1_000_000,
  shape: isakmpMessage,
  seeds: ikeSeeds,
  start(r, mutateBytes): FuzzInstance {
    let now = 1_000_000;
    const clock = floodClock(r);
    const resp = new IkeEngine(
      ikeConfig({ localAddress: SERVER, psks: [{ secret: PSK }], aggressiveMode: true }),
      { random: bytesFrom(r) },
    );
    let deadline: number | undefined;
    const track = (actions: IkeAction[]) => {
      if (!Array.isArray(actions))
        throw new FuzzFailure("invariant", "handleDatagram did not return an action list");
      for (const a of actions) if (a.kind === "timer") deadline = a.at;
    };
    const timers = () => {
      for (let guard = 0; guard < 10_000; guard++) {
        const d = resp.nextDeadline();
        if (d === undefined || d > now) return;
        track(resp.handleTimer(now));
      }
      throw new FuzzFailure("invariant", "handleTimer keeps the deadline in the past (timer loop)");
    };
    const check = () => {
      const sas = resp.ikeSas();
      peakSas = Math.max(peakSas, sas.length);
      peakChildren = Math.max(peakChildren, resp.childSas().length);
      if (sas.length > IKE_MAX_HALF_OPEN + 64)
        throw new FuzzFailure(
          "unbounded",
          `${sas.length} IKE SAs (half-open limit ${IKE_MAX_HALF_OPEN})`,
        );
      const children = resp.childSas().length;
      if (children > 256)
        throw new FuzzFailure("unbounded", `${children} child SAs from hostile input`);
    };
    let exchanges = 0;
    let completed = 0;
    let peakSas = 0;
    let peakChildren = 0;
    const counting = (a: IkeAction[]) => {
      track(a);
      for (const x of a) if (x.kind === "install-child-sa") completed++;
    };
    return {
      stats: () =>
        `${exchanges} tampered exchanges (${completed} child SAs installed), peak ${peakSas} IKE SAs / ${peakChildren} child SAs`,
      feed(input, i) {
        now += clock();
        timers();
        // A fresh exchange with tampering in flight, every 500 inputs.
        if (i % 500 === 499) {
          const which = r() % 6;
          const client = `192.0.2.${10 + (exchanges++ % 200)}`;
          ikeExchange(
            resp,
            client,
            r(),
            () => now,
            (b, n) => (n === which ? (r() % 8 === 0 ? undefined : mutateBytes(b)) : b),
            counting,
          );
        }
        let data = input;
        let remote = { address: `203.0.113.${1 + (r() % 4)}`, port: r() % 2 === 0 ? 500 : 4500 };
        let port = r() % 3 === 0 ? 4500 : 500;
        const sas = resp.ikeSas();
        if (sas.length > 0 && data.length >= 16 && r() % 3 === 0) {
          // Aim at a live SA: its cookies (either half may stay mutated) and its peer endpoint.
          const sa = sas[r() % sas.length];
          if (sa) {
            data = Buffer.from(data);
            const c = Buffer.from(sa.cookies.replace(":", ""), "hex");
            if (c.length === 16) c.copy(data, 0, 0, r() % 4 === 0 ? 8 : 16);
            remote = { ...sa.peer };
            port = sa.local.port;
          }
        } else {
          if (r() % 4 === 0)
            remote = { address: `203.0.113.${r() % 256}`, port: 1024 + (r() % 60000) };
          // A fresh initiator cookie on half the first messages: a flood of distinct half-open SAs.
          if (data.length >= 16 && r() % 2 === 0 && data.readBigUInt64BE(8) === 0n) {
            data = Buffer.from(data);
            data.writeUInt32BE(r(), 0);
            data.writeUInt32BE(r(), 4);
          }
        }
        const out = resp.handleDatagram({ data, local: { address: SERVER, port }, remote }, now);
        track(out);
        if (i % 64 === 0) check();
        // "Accepted" (kept for further mutation): the responder answered or something happened.
        return out.some((a) => a.kind !== "timer");
      },
      finish() {
        check();
        // Two days of idle time with only timers: half-open SAs time out, established ones expire.
        const end = now + 2 * 86_400_000;
        while (now < end) {
          now = Math.min(end, Math.max(now + 1000, resp.nextDeadline() ?? end));
          timers();
        }
        if (resp.fragmentsPending() > 0)
          throw new FuzzFailure(
            "unbounded",
            `${resp.fragmentsPending()} IKE fragment reassemblies left after two idle days`,
          );
        const left = resp.ikeSas().length + resp.childSas().length;
        if (left > 0)
          throw new FuzzFailure(
            "unbounded",
            `${resp.ikeSas().length} IKE SAs and ${resp.childSas().length} child SAs left after two idle days`,
          );
        void deadline;
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// L2TP

const L2TP_LIMITS = { maxTunnels: 32, maxSessionsPerTunnel: 8 };

interface L2tpPeer {
  st: L2tpState;
  sessionsUp?: number;
}

function l2tpStep(p: L2tpPeer, input: Parameters<typeof l2tpHandle>[1], now: number): L2tpAction[] {
  const s = l2tpHandle(p.st, input, now);
  if (!s || !Array.isArray(s.actions))
    throw new FuzzFailure("invariant", "l2tp handle did not return a step");
  p.st = s.state;
  const wrong = checkDeadlines(p.st);
  if (wrong) throw new FuzzFailure("invariant", `l2tp timer bookkeeping: ${wrong}`);
  for (const a of s.actions) if (a.kind === "sessionUp") p.sessionsUp = (p.sessionsUp ?? 0) + 1;
  return s.actions;
}

/**
 * A LAC opening a tunnel and a call to `lns` over `binding`, then PPP data, then closing; the
 * LAC's datagrams pass through `tamper`. Returns what the LAC sent.
 */
function l2tpExchange(
  lns: L2tpPeer,
  binding: string,
  seed: number,
  now: () => number,
  tamper: (b: Buffer, n: number) => Buffer | undefined,
): Buffer[] {
  const lac: L2tpPeer = {
    st: createL2tp({ hostName: "lac", acceptTunnels: false, random: seededBytes(seed) }),
  };
  const sent: Buffer[] = [];
  const toLac: Buffer[] = [];
  let n = 0;
  let tunnelId = -1;
  let sessionId = -1;
  const fromLac = (actions: L2tpAction[]) => {
    for (const a of actions) {
      if (a.kind === "tunnelOpening") tunnelId = a.tunnelId;
      if (a.kind === "sessionOpening") sessionId = a.sessionId;
      if (a.kind !== "send") continue;
      sent.push(a.bytes);
      const data = tamper(a.bytes, n++);
      if (!data) continue;
      for (const b of l2tpStep(lns, { kind: "datagram", binding, bytes: data }, now()))
        if (b.kind === "send" && b.binding === binding) toLac.push(b.bytes);
    }
  };
  const pumpAll = () => {
    for (let guard = 0; guard < 64 && toLac.length > 0; guard++) {
      const b = toLac.shift();
      if (b) fromLac(l2tpStep(lac, { kind: "datagram", binding: "lns", bytes: b }, now()));
    }
  };
  fromLac(l2tpStep(lac, { kind: "openTunnel", binding: "lns" }, now()));
  pumpAll();
  if (tunnelId >= 0)
    fromLac(l2tpStep(lac, { kind: "placeCall", tunnelId, callingNumber: "192.0.2.2" }, now()));
  pumpAll();
  if (sessionId >= 0) {
    fromLac(
      l2tpStep(
        lac,
        { kind: "sendPpp", tunnelId, sessionId, frame: Buffer.from("ff03c021010100040000", "hex") },
        now(),
      ),
    );
    fromLac(l2tpStep(lac, { kind: "closeSession", tunnelId, sessionId }, now()));
    pumpAll();
  }
  if (tunnelId >= 0) fromLac(l2tpStep(lac, { kind: "closeTunnel", tunnelId }, now()));
  pumpAll();
  return sent;
}

let l2tpSeedCache: Buffer[] | undefined;
export function l2tpSeeds(): Buffer[] {
  if (l2tpSeedCache) return l2tpSeedCache;
  const lns: L2tpPeer = {
    st: createL2tp({ hostName: "lns", acceptTunnels: true, random: seededBytes(3) }),
  };
  const sent = l2tpExchange(
    lns,
    "b",
    5,
    () => 1000,
    (b) => b,
  );
  l2tpSeedCache = [
    ...sent,
    ...l2tpCaptureMessages(),
    Buffer.from("4002000c00010001ff03c021", "hex"), // data, L bit, for tunnel 1 session 1
    Buffer.from("0002000100020021450000", "hex"), // data without L bit
  ];
  return l2tpSeedCache;
}

export const l2tpLns: FuzzTarget = {
  name: "engine:l2tp-lns",
  kind: "engine",
  defaultRuns: 1_000_000,
  shape: l2tpPacket,
  seeds: l2tpSeeds,
  start(r, mutateBytes): FuzzInstance {
    let now = 1_000_000;
    const clock = floodClock(r);
    const lns: L2tpPeer = {
      st: createL2tp({
        hostName: "lns",
        acceptTunnels: true,
        random: bytesFrom(r),
        ...L2TP_LIMITS,
      }),
    };
    const timers = () => {
      for (let guard = 0; guard < 10_000; guard++) {
        const at = lns.st.timerAt;
        if (at === null || at > now) return;
        l2tpStep(lns, { kind: "timer" }, now);
      }
      throw new FuzzFailure("invariant", "timer keeps the deadline in the past (timer loop)");
    };
    const check = () => {
      const ts = listTunnels(lns.st);
      peakTunnels = Math.max(peakTunnels, ts.length);
      if (ts.length > L2TP_LIMITS.maxTunnels)
        throw new FuzzFailure(
          "unbounded",
          `${ts.length} tunnels (maxTunnels ${L2TP_LIMITS.maxTunnels})`,
        );
      for (const t of ts)
        if (t.sessions.size > L2TP_LIMITS.maxSessionsPerTunnel)
          throw new FuzzFailure("unbounded", `tunnel ${t.localId}: ${t.sessions.size} sessions`);
      if (lns.st.bySccrq.size > ts.length)
        throw new FuzzFailure(
          "unbounded",
          `${lns.st.bySccrq.size} SCCRQ keys for ${ts.length} tunnels`,
        );
    };
    let exchanges = 0;
    let peakTunnels = 0;
    return {
      stats: () =>
        `${exchanges} tampered LAC exchanges (${lns.sessionsUp ?? 0} sessions up at the LNS), peak ${peakTunnels} tunnels`,
      feed(input, i) {
        now += clock();
        timers();
        if (i % 200 === 199) {
          const which = r() % 8;
          l2tpExchange(
            lns,
            `legit-${exchanges++ % 16}`,
            r(),
            () => now,
            (b, n) =>
              n === which || r() % 16 === 0 ? (r() % 8 === 0 ? undefined : mutateBytes(b)) : b,
          );
        }
        let data = input;
        let binding = `hostile-${r() % 8}`;
        const ts = listTunnels(lns.st);
        if (ts.length > 0 && data.length >= 6 && r() % 2 === 0) {
          const t = ts[r() % ts.length];
          if (t) {
            data = Buffer.from(data);
            const off = (data.readUInt16BE(0) & 0x4000) !== 0 ? 4 : 2;
            if (off + 4 <= data.length) {
              data.writeUInt16BE(t.localId, off);
              const ss = [...t.sessions.keys()];
              if (ss.length > 0 && r() % 2 === 0)
                data.writeUInt16BE(ss[r() % ss.length] ?? 0, off + 2);
            }
            binding = t.binding;
          }
        } else if (r() % 2 === 0) binding = `random-${r() % 4096}`;
        const out = l2tpStep(lns, { kind: "datagram", binding, bytes: data }, now);
        if (i % 16 === 0) check();
        return out.some((a) => a.kind !== "armTimer");
      },
      finish() {
        check();
        const end = now + 3_600_000;
        while (now < end) {
          now = Math.min(end, Math.max(now + 1000, lns.st.timerAt ?? end));
          timers();
        }
        const left = listTunnels(lns.st).length;
        if (left > 0 || lns.st.bySccrq.size > 0)
          throw new FuzzFailure(
            "unbounded",
            `${left} tunnels, ${lns.st.bySccrq.size} SCCRQ keys left after an idle hour (now ${now}, timer ${lns.st.timerAt}): ${listTunnels(
              lns.st,
            )
              .map(
                (t) =>
                  `${t.localId} ${t.state} sessions ${t.sessions.size} helloAt ${t.helloAt} holdUntil ${t.holdUntil} lastRx ${t.lastRxAt}`,
              )
              .join("; ")}`,
          );
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// PPP

const POOL_CIDR = "203.0.113.0/28";
const METHODS: PppAuthMethod[] = ["mschapv2", "chap-md5", "pap"];

interface PppPair {
  readonly server: PppSession;
  readonly client: PppSession;
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
  serverTimer: number | null;
  clientTimer: number | null;
  serverDown: boolean;
}

function newPair(
  pool: AddressPool,
  r: Rand,
  id: number,
  now: number,
  forced?: PppAuthMethod,
): PppPair {
  const method = forced ?? (METHODS[r() % METHODS.length] as PppAuthMethod);
  const serverMethods = !forced && r() % 4 === 0 ? [...METHODS] : [method];
  const server = new PppSession(
    {
      role: "server",
      sessionId: `s${id}`,
      authMethods: serverMethods,
      users: (n) => (n === "alice" ? "correct horse" : undefined),
      pool,
      localAddress: "203.0.113.1",
      dns: ["192.0.2.53"],
      random: bytesFrom(r),
      echoIntervalMs: 30_000,
    },
    now,
  );
  const client = new PppSession(
    {
      role: "client",
      sessionId: `c${id}`,
      authMethods: [method],
      credentials: { user: "alice", password: r() % 8 === 0 ? "wrong" : "correct horse" },
      random: bytesFrom(r),
    },
    now,
  );
  return {
    server,
    client,
    toServer: [],
    toClient: [],
    serverTimer: null,
    clientTimer: null,
    serverDown: false,
  };
}

const pppReached = { linkUp: 0, authOk: 0, authFailed: 0, ipUp: 0 };

function applyPpp(p: PppPair, side: "server" | "client", actions: readonly PppAction[]): void {
  if (!Array.isArray(actions))
    throw new FuzzFailure("invariant", "PppSession.handle did not return actions");
  for (const a of actions) {
    if (a.type === "event" && side === "server") {
      if (a.event.type === "link-up") pppReached.linkUp++;
      if (a.event.type === "auth-ok") pppReached.authOk++;
      if (a.event.type === "auth-failed") pppReached.authFailed++;
      if (a.event.type === "ip-up") pppReached.ipUp++;
    }
    if (a.type === "send-frame") (side === "server" ? p.toClient : p.toServer).push(a.frame);
    else if (a.type === "set-timer") {
      if (side === "server") p.serverTimer = a.at;
      else p.clientTimer = a.at;
    } else if (a.type === "event" && a.event.type === "link-down" && side === "server")
      p.serverDown = true;
  }
}

let pppSeedCache: Buffer[] | undefined;
/** Frames both sides sent in clean sessions with each authentication method. */
export function pppSeeds(): Buffer[] {
  if (pppSeedCache) return pppSeedCache;
  const out: Buffer[] = [];
  for (const [k, m] of METHODS.entries()) {
    const bytes = seededBytes(100 + k);
    const r: Rand = () => bytes(4).readUInt32BE(0);
    const pool = new AddressPool({ cidr: POOL_CIDR, reserved: ["203.0.113.1"] });
    const p = newPair(pool, r, k, 0, m);
    applyPpp(p, "server", p.server.handle({ type: "start" }, 0));
    applyPpp(p, "client", p.client.handle({ type: "start" }, 0));
    for (let guard = 0; guard < 200 && (p.toServer.length > 0 || p.toClient.length > 0); guard++) {
      const s = p.toServer.shift();
      if (s) {
        out.push(s);
        applyPpp(p, "server", p.server.handle({ type: "frame", frame: s }, 0));
      }
      const c = p.toClient.shift();
      if (c) {
        out.push(c);
        applyPpp(p, "client", p.client.handle({ type: "frame", frame: c }, 0));
      }
    }
    applyPpp(
      p,
      "client",
      p.client.handle(
        { type: "send-ip", packet: Buffer.from("4500001400000000401100000a0000010a000002", "hex") },
        0,
      ),
    );
    out.push(...p.toServer.splice(0));
    applyPpp(p, "client", p.client.handle({ type: "close" }, 0));
    out.push(...p.toServer.splice(0));
  }
  pppSeedCache = out;
  return out;
}

export const pppServer: FuzzTarget = {
  name: "engine:ppp-server",
  kind: "engine",
  defaultRuns: 200_000, // a whole PPP session (MS-CHAPv2 included) every 64 inputs
  shape: pppFrame,
  seeds: pppSeeds,
  start(r, mutateBytes): FuzzInstance {
    let now = 0;
    let id = 0;
    const pool = new AddressPool({ cidr: POOL_CIDR, reserved: ["203.0.113.1"] });
    let p = newPair(pool, r, id++, now);
    let inputs = 0;
    const begin = () => {
      applyPpp(p, "server", p.server.handle({ type: "start" }, now));
      applyPpp(p, "client", p.client.handle({ type: "start" }, now));
    };
    begin();
    const at0 = { ...pppReached };
    const end = () => {
      applyPpp(p, "server", p.server.handle({ type: "lower-down" }, now));
      const leased = pool.inUseCount();
      if (leased !== 0)
        throw new FuzzFailure(
          "unbounded",
          `${leased} pool addresses still leased after the session went down`,
        );
    };
    const check = () => {
      const st = p.server.state;
      if (st.pending.length > 64)
        throw new FuzzFailure("unbounded", `${st.pending.length} frames pending`);
      const keys = Object.keys(st.counters).length;
      if (keys > 200) throw new FuzzFailure("unbounded", `${keys} counter names`);
      if (p.toClient.length > 1000)
        throw new FuzzFailure("unbounded", `${p.toClient.length} frames queued to the peer`);
    };
    return {
      feed(input) {
        // the hostile frame, at whatever phase the session is in
        const out = p.server.handle({ type: "frame", frame: input }, now);
        applyPpp(p, "server", out);
        const reacted = out.some((a) => a.type !== "set-timer");
        // legitimate traffic makes progress: one frame each way (client frames may be tampered)
        const s = p.toServer.shift();
        if (s)
          applyPpp(
            p,
            "server",
            p.server.handle(
              { type: "frame", frame: r() % 16 === 0 ? mutateBytes(s, pppFrame) : s },
              now,
            ),
          );
        const c = p.toClient.shift();
        if (c) applyPpp(p, "client", p.client.handle({ type: "frame", frame: c }, now));
        if (r() % 4 === 0) {
          now += r() % 5000;
          if (p.serverTimer !== null && p.serverTimer <= now)
            applyPpp(p, "server", p.server.handle({ type: "timer" }, now));
          if (p.clientTimer !== null && p.clientTimer <= now)
            applyPpp(p, "client", p.client.handle({ type: "timer" }, now));
        }
        if (r() % 64 === 0)
          applyPpp(p, "server", p.server.handle({ type: "send-ip", packet: input }, now));
        check();
        if (++inputs % 64 === 0 || p.serverDown) {
          if (r() % 4 === 0) applyPpp(p, "server", p.server.handle({ type: "close" }, now));
          end();
          p = newPair(pool, r, id++, now);
          begin();
        }
        return reacted;
      },
      finish() {
        end();
      },
      stats: () =>
        `${id} sessions; server reached link-up ${pppReached.linkUp - at0.linkUp}, auth-ok ${pppReached.authOk - at0.authOk}, auth-failed ${pppReached.authFailed - at0.authFailed}, ip-up ${pppReached.ipUp - at0.ipUp}`,
    };
  },
};

export const engineTargets: FuzzTarget[] = [ikeResponder, l2tpLns, pppServer];
export type { Shape };
