/**
 * The client side of `oakley diagnose SERVER`: the probes and a diagnose-only run of
 * `oakley connect`'s own stack (src/daemon/stack.ts: IKE initiator, ESP, L2TP LAC, PPP) on
 * injected ports, gathering `Observations` for verdict.ts. No TUN is opened, no route,
 * DNS or firewall rule is touched: PPP's packets have nowhere to go, and the run ends at
 * authentication.
 *
 *  1. UDP 500: an MM1 on a connected UDP socket (answer / ICMP unreachable / silence);
 *  2. UDP 4500: an MM1 with the non-ESP marker, likewise;
 *  3. the full exchange with NAT policy 2 (so that no NAT layout is refused: the verdict says
 *     what the real client needs): MM1–MM4 give NAT-D; without a PSK nothing is sent after MM4
 *     (the MM5 would only put a failed login in the server's log); with one, MM5/MM6, Quick
 *     Mode for L2TP, the SCCRQ through the SA, and with a user PPP authentication;
 *  4. teardown as `oakley connect` does it: L2TP StopCCN inside ESP, then IKE Deletes.
 * Every wait is on the injected clock, so the whole-product simulator drives it in tests.
 */
import type { Alarm, Clock } from "../base/clock.js";
import { clientIkeConfig, l2tpRequest } from "../daemon/client.js";
import type { IpsecPorts } from "../daemon/ipsec-node.js";
import { buildStack } from "../daemon/stack.js";
import type { IkeConfig, IkeEvent } from "../ike/index.js";
import type { L2tpOverIpsecEvent } from "../l2tp-ipsec/index.js";
import { Counters } from "../obs/counters.js";
import type { LogHub } from "../obs/log.js";
import type { DatagramHandler, DatagramSocket, Random } from "../platform/index.js";
import type { PppAuthMethod } from "../ppp/index.js";
import { IPV4_HEAD_LENGTH } from "../wire/l2tp/data-view.js";
import { buildMm1, buildPaddedMm1, readMm1Answer } from "./mm1-probe.js";
import type { MainModeObservation, Observations, ProbeOutcome } from "./verdict.js";

/** What a connected-UDP probe saw (platform/udp-probe.ts, or a simulator in tests). */
export type RawProbe =
  | { readonly kind: "answered"; readonly data: Buffer }
  | { readonly kind: "unreachable"; readonly detail: string }
  | { readonly kind: "no-answer"; readonly waitedMs: number }
  | { readonly kind: "error"; readonly message: string };

export interface DiagnoseOptions {
  /** The server's IPv4 address. */
  readonly server: string;
  /** Our source address towards it. */
  readonly local: string;
  readonly psk?: string;
  readonly user?: string;
  readonly password?: string;
  readonly authMethods?: readonly PppAuthMethod[];
  readonly allowLegacy?: boolean;
  /** Longest wait of each step, ms (IKE retransmissions are scaled to it). */
  readonly timeoutMs: number;
  /** PPP MTU `oakley connect` uses. */
  readonly pppMtu: number;
}

export interface DiagnoseIo {
  readonly clock: Clock;
  readonly random: Random;
  readonly logs: LogHub;
  /** Sends `data` to the server's UDP `port` from a fresh connected socket; the first answer. */
  probe(port: 500 | 4500, data: Buffer, timeoutMs: number): Promise<RawProbe>;
  /** Our UDP 500/4500 (and raw ESP) for the full exchange; closed by the run. */
  openPorts(): Promise<
    | { readonly ok: true; readonly value: IpsecPorts }
    | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } }
  >;
  /**
   * The outer path MTU to the server as the host knows it (the kernel's cached path MTU, else
   * the interface's); asked before and after the full-size probe.
   */
  pathMtu(): Promise<{ readonly mtu: number; readonly source: string } | undefined>;
  /** Progress lines while it runs (human output). */
  readonly onProgress?: (text: string) => void;
}

export interface DiagnoseRun {
  readonly observations: Observations;
}

/** IKE retransmissions whose back-off (1+2+4+8 × first) spans about `timeoutMs`. */
export function diagnoseIkeConfig(o: DiagnoseOptions, psk: string): IkeConfig {
  const base = clientIkeConfig({ psk, natPolicy: 2 }, o.local, o.server, o.allowLegacy ?? false);
  return {
    ...base,
    retransmit: { initialMs: Math.max(100, Math.round(o.timeoutMs / 15)), tries: 3 },
  };
}

function toOutcome(raw: RawProbe, nattPort: boolean): ProbeOutcome {
  if (raw.kind !== "answered") return raw;
  return { kind: "answered", reply: readMm1Answer(raw.data, nattPort) };
}

/** Waits on the injected clock for a condition that `poke()` re-checks. */
class Waiter {
  private readonly pending: Array<{ cond: () => boolean; done: (v: boolean) => void }> = [];
  constructor(private readonly clock: Clock) {}

  poke(): void {
    for (const w of [...this.pending]) if (w.cond()) w.done(true);
  }

  until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let alarm: Alarm | undefined;
      const entry = {
        cond,
        done: (v: boolean) => {
          const i = this.pending.indexOf(entry);
          if (i < 0) return;
          this.pending.splice(i, 1);
          alarm?.disarm();
          resolve(v);
        },
      };
      this.pending.push(entry);
      alarm = this.clock.alarm(() => entry.done(cond()));
      alarm.arm(this.clock.now() + timeoutMs);
    });
  }

  sleep(ms: number): Promise<void> {
    return this.until(() => false, ms).then(() => undefined);
  }
}

/**
 * A socket that tells `after` when each datagram has been handled and drops what we send
 * while `hold()` says so (the MM5 of a run without a PSK).
 */
class WatchedSocket implements DatagramSocket {
  constructor(
    private readonly inner: DatagramSocket,
    private readonly hold: () => boolean,
    private readonly after: () => void,
  ) {}
  get implementation() {
    return this.inner.implementation;
  }
  bind(address: string, port: number) {
    return this.inner.bind(address, port);
  }
  local() {
    return this.inner.local();
  }
  send(data: Uint8Array, address: string, port: number, localAddress?: string): void {
    if (this.hold()) return;
    this.inner.send(data, address, port, localAddress);
  }
  flush(): void {
    this.inner.flush();
  }
  onDatagram(handler: DatagramHandler): void {
    this.inner.onDatagram((...a) => {
      handler(...a);
      this.after();
    });
  }
  onError(handler: Parameters<DatagramSocket["onError"]>[0]): void {
    this.inner.onError(handler);
  }
  stats() {
    return this.inner.stats();
  }
  close(): void {
    this.inner.close();
  }
}

export async function runDiagnosis(o: DiagnoseOptions, io: DiagnoseIo): Promise<DiagnoseRun> {
  const say = (t: string) => io.onProgress?.(t);
  const rand = (n: number) => io.random.bytes(n);
  let mtu: Observations["mtu"] = { pppMtu: o.pppMtu };
  const readPathMtu = async () => {
    const p = await io.pathMtu();
    if (p) mtu = { ...mtu, pathMtu: p.mtu, pathMtuSource: p.source };
    return p;
  };
  const base = {
    server: o.server,
    pskGiven: o.psk !== undefined,
    ...(o.user !== undefined ? { user: o.user } : {}),
  };
  // The probes' MM1s carry a throwaway key: MM1 holds no key material.
  const probeCfg = diagnoseIkeConfig(o, rand(16).toString("hex"));

  say(`probing UDP 500 at ${o.server}`);
  const udp500 = toOutcome(
    await io.probe(500, buildMm1(probeCfg, o.server, rand, 500), o.timeoutMs),
    false,
  );
  const before = await readPathMtu();
  if (udp500.kind !== "answered" || udp500.reply.notify !== undefined)
    return { observations: { ...base, udp500, mtu } };
  // A full-size MM1 with DF: answered, or ICMP lowers the cached path MTU, or a black hole.
  if (before) {
    const packetSize = before.mtu;
    say(`probing the path MTU with a ${packetSize}-byte IKE packet`);
    const big = await io.probe(
      500,
      buildPaddedMm1(probeCfg, o.server, rand, packetSize - 28),
      o.timeoutMs,
    );
    await readPathMtu();
    mtu = { ...mtu, bigProbe: { packetSize, answered: big.kind === "answered" } };
  }
  say(`probing UDP 4500 at ${o.server}`);
  const udp4500 = toOutcome(
    await io.probe(4500, buildMm1(probeCfg, o.server, rand, 4500), o.timeoutMs),
    true,
  );

  const opened = await io.openPorts();
  if (!opened.ok)
    return {
      observations: {
        ...base,
        udp500,
        udp4500,
        mtu,
        setupError: `${opened.error.message} [${opened.error.code}]`,
      },
    };
  const waiter = new Waiter(io.clock);
  const psk = o.psk ?? rand(24).toString("hex");
  let reached = "none" as MainModeObservation["reached"];
  let nat: MainModeObservation["nat"];
  let phase1: Extract<IkeEvent, { type: "phase1-up" }> | undefined;
  let mmFailure: { code: string; message: string } | undefined;
  let qm: Observations["quickMode"];
  let l2tpUp = false;
  let ppp: Observations["ppp"];
  let innerMax: number | undefined;
  let saState = (): string | undefined => undefined;
  const observe = () => {
    const st = saState();
    if (st === "I_MM3" && reached === "none") reached = "mm2";
    if (st === "I_MM5" && reached !== "mm6") reached = "mm4";
    waiter.poke();
  };
  // Without a PSK the run stops at MM4: nothing more leaves once MM4 is in.
  const hold = () => o.psk === undefined && saState() === "I_MM5";
  const ports: IpsecPorts = {
    ...opened.value,
    ike: new WatchedSocket(opened.value.ike, hold, observe),
    natt: new WatchedSocket(opened.value.natt, hold, observe),
  };

  const onIke = (e: IkeEvent) => {
    if (e.type === "phase1-up") {
      phase1 = e;
      reached = "mm6";
      nat = natOf(e.nat, e.nat.method);
      say(`phase 1 up: ${e.suite}`);
    } else if (e.type === "phase2-up" && !e.rekey) {
      qm = { up: true, suite: e.suite, udpEncap: (nat?.method ?? "none") !== "none" };
      say(`phase 2 up: ${e.suite}`);
    } else if (e.type === "failed") {
      if (e.stage === "main-mode") mmFailure ??= { code: e.code, message: e.message };
      else if (e.stage === "quick-mode" && !qm)
        qm = {
          up: false,
          udpEncap: (nat?.method ?? "none") !== "none",
          failure: { code: e.code, message: e.message },
        };
    }
    observe();
  };
  const onL2tp = (e: L2tpOverIpsecEvent) => {
    if (e.type === "tunnel-up") {
      l2tpUp = true;
      say("L2TP answered through ESP");
    } else if (e.type === "auth-ok") ppp ??= { outcome: "ok", method: e.method };
    else if (e.type === "auth-failed")
      ppp ??= e.serverNotAuthenticated
        ? { outcome: "server-not-authenticated", message: e.message }
        : {
            outcome: "refused",
            message: e.message,
            ...(e.code !== undefined ? { code: e.code } : {}),
          };
    else if ((e.type === "session-down" || e.type === "tunnel-down") && l2tpUp)
      ppp ??= { outcome: "no-answer", message: e.reason };
    observe();
  };

  const stack = buildStack(
    {
      role: "lac",
      listen: o.local,
      ike: diagnoseIkeConfig(o, psk),
      clock: io.clock,
      random: io.random,
      logs: io.logs,
      counters: new Counters(),
      mtu: o.pppMtu,
      client: {
        user: o.user ?? "oakley-diagnose",
        password: o.password ?? "",
        ...(o.authMethods ? { authMethods: o.authMethods } : {}),
      },
      onIkeEvent: onIke,
      onEvent: onL2tp,
    },
    // No TUN: whatever PPP would deliver is dropped.
    { ipsec: ports, tun: { write: () => false } },
  );
  const node = stack.node;
  say("Main Mode (MM1–MM4: NAT-D)");
  node.initiate(l2tpRequest(o.local, o.server));
  const sa = [...node.engine.sas.values()].find((s) => s.role === "initiator");
  saState = () => sa?.state;
  observe();

  // The engine gives up by itself after its retransmissions (≈ timeoutMs); the cap is a guard.
  const ikeCap = o.timeoutMs * 2 + 1000;
  await waiter.until(
    () =>
      phase1 !== undefined || mmFailure !== undefined || (o.psk === undefined && reached === "mm4"),
    ikeCap,
  );
  if (phase1) {
    say("Quick Mode for L2TP (UDP 1701)");
    await waiter.until(() => qm !== undefined, ikeCap);
  }
  if (qm?.up) {
    const child = node.childList()[0];
    const pathMtu = mtu.pathMtu;
    if (child && pathMtu !== undefined)
      innerMax = largestInner(pathMtu, (l) => node.dp.overhead(child.outSa, l));
    say("L2TP SCCRQ through the SA");
    await waiter.until(() => l2tpUp, o.timeoutMs);
  }
  if (l2tpUp && o.user !== undefined) {
    say(`PPP authentication as ${o.user}`);
    await waiter.until(() => ppp !== undefined, o.timeoutMs * 2);
    ppp ??= { outcome: "no-answer", message: `no result in ${(o.timeoutMs * 2) / 1000} s` };
  }

  // Teardown as oakley connect does it: L2TP/PPP goodbyes inside ESP, then IKE Deletes.
  stack.l2tp.close();
  if (l2tpUp) await waiter.sleep(300);
  node.deleteAll();
  await waiter.sleep(100);
  stack.l2tp.dispose();
  node.close();

  const mainMode: MainModeObservation = {
    reached,
    ...(nat ? { nat } : sa && reached === "mm4" ? { nat: natOf(sa.nat, sa.vids.natt) } : {}),
    ...(phase1 ? { peerId: phase1.peerId, suite: phase1.suite } : {}),
    ...(mmFailure ? { failure: mmFailure } : {}),
  };
  return {
    observations: {
      ...base,
      udp500,
      udp4500,
      mainMode,
      ...(qm ? { quickMode: qm } : {}),
      ...(qm?.up ? { l2tp: { up: l2tpUp, waitedMs: o.timeoutMs } } : {}),
      ...(ppp ? { ppp } : {}),
      mtu: { ...mtu, ...(innerMax !== undefined ? { innerMax } : {}) },
    },
  };
}

/** The NAT-T method in use: none unless NAT-D showed a NAT (the VIDs alone do not float). */
function natOf(
  n: { localBehindNat: boolean; peerBehindNat: boolean },
  method: "none" | "rfc3947" | "draft",
): NonNullable<MainModeObservation["nat"]> {
  return {
    localBehindNat: n.localBehindNat,
    peerBehindNat: n.peerBehindNat,
    method: n.localBehindNat || n.peerBehindNat ? method : "none",
  };
}

/**
 * The largest inner IPv4 packet L that travels in one outer packet within `pathMtu`: outer IP
 * (20) + UDP/L2TP/PPP head + L + the SA's overhead (ESP, IV, padding, ICV, UDP encapsulation).
 */
export function largestInner(pathMtu: number, overhead: (outerLength: number) => number): number {
  let inner = pathMtu;
  while (inner > 68) {
    const l = 20 + IPV4_HEAD_LENGTH + inner;
    if (l + overhead(l) <= pathMtu) break;
    inner--;
  }
  return inner;
}
