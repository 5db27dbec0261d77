/**
 * `oakley connect`: the connection as a person follows it, and stage "address".
 *
 *   ConnectionOutcome  progress lines (phase 1 up, phase 2 up, L2TP up, PPP authenticated,
 *                      address assigned), `ready`, and the one reason the connection ended
 *   AddressStage       when PPP assigns the address: the TUN device, the routes asked for (with
 *                      --default-route the server's own route pinned first), the server's DNS;
 *                      closed after the SAs are gone, routes and DNS undone newest first
 */
import type { IkeEvent } from "../../ike/index.js";
import type { IpPacketPort, L2tpOverIpsecEvent } from "../../l2tp-ipsec/index.js";
import type { Logger } from "../../obs/log.js";
import { applyDns } from "../../platform/dns.js";
import { pinHostRoute } from "../../platform/route.js";
import type { ConnectConfig } from "../config.js";
import type { StageError } from "./errors.js";
import type { StartHost, StartTun } from "./host.js";
import { openTun } from "./ports.js";
import type { ServerPath } from "./connect-route.js";
import type { Teardown } from "./teardown.js";

export type ClientProgress =
  | { readonly stage: "phase1"; readonly text: string }
  | { readonly stage: "phase2"; readonly text: string }
  | { readonly stage: "l2tp"; readonly text: string }
  | { readonly stage: "ppp-auth"; readonly text: string }
  | {
      readonly stage: "address";
      readonly text: string;
      readonly address: string;
      readonly dns: readonly string[];
    };

export interface Assigned {
  readonly address: string;
  readonly peer: string;
  readonly dns: readonly string[];
}

export class ConnectionOutcome {
  /** Resolves once an address is assigned (or rejects with the reason the connection failed). */
  readonly ready: Promise<Assigned>;
  private settle!: { resolve: (v: Assigned) => void; reject: (e: Error) => void };
  private finished = false;

  constructor(
    private readonly log: Logger,
    private readonly hooks: {
      readonly onProgress?: (p: ClientProgress) => void;
      readonly onDown?: (e: StageError) => void;
    },
  ) {
    this.ready = new Promise<Assigned>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.ready.catch(() => {});
  }

  progress(p: ClientProgress): void {
    this.log.info(p.text, { step: p.stage });
    this.hooks.onProgress?.(p);
  }

  up(a: Assigned): void {
    this.settle.resolve(a);
  }

  /** The connection ended (once; not after finish()). */
  down(e: StageError): void {
    if (this.finished) return;
    this.finished = true;
    // The caller (keeper.ts) says it, with what happens next.
    this.log.debug(`connection ended: ${e.message}`, { code: e.code });
    this.settle.reject(Object.assign(new Error(e.message), { code: e.code }));
    this.hooks.onDown?.(e);
  }

  /** We are ending it ourselves: what happens while it goes down is not reported. */
  finish(): void {
    this.finished = true;
  }

  /** IKE milestones and failures. */
  onIke(e: IkeEvent): void {
    switch (e.type) {
      case "phase1-up":
        this.progress({
          stage: "phase1",
          text: `phase 1 up with ${e.peer.address}: ${e.suite}; NAT: ${e.nat.localBehindNat ? "this client is behind NAT" : "no NAT on this side"}${
            e.nat.peerBehindNat ? ", the server is behind NAT" : ""
          }${e.nat.method !== "none" ? ` (NAT-T ${e.nat.method}, UDP 4500)` : ""}`,
        });
        break;
      case "phase2-up":
        // The L2TP tunnel opens with the first child SA (src/l2tp-ipsec): one per connection.
        if (!e.rekey)
          this.progress({ stage: "phase2", text: `phase 2 up: ESP ${e.mode} ${e.suite}` });
        break;
      case "failed":
        this.down({ code: e.code, message: `${e.stage} failed: ${e.message}` });
        break;
      default:
        break;
    }
  }

  /** L2TP and PPP milestones; the assigned address goes to `address`. */
  onSession(
    e: L2tpOverIpsecEvent,
    cfg: Pick<ConnectConfig, "user">,
    server: string,
    address: AddressStage,
  ): void {
    switch (e.type) {
      case "tunnel-up":
        this.progress({
          stage: "l2tp",
          text: `L2TP tunnel up (server ${e.peerHostName || server})`,
        });
        break;
      case "auth-ok":
        this.progress({
          stage: "ppp-auth",
          text: `PPP authenticated as ${cfg.user} (${e.method})`,
        });
        break;
      case "auth-failed":
        this.down(
          e.serverNotAuthenticated
            ? {
                code: "OAK_E_CONNECT_SERVER_AUTH",
                message: `${e.message}; it may be a rogue server holding the PSK: connection refused`,
              }
            : {
                code: "OAK_E_CONNECT_AUTH",
                message: `the server refused user ${cfg.user}${e.code !== undefined ? ` (error ${e.code})` : ""}: ${e.message}; check --user and --password`,
              },
        );
        break;
      case "ip-up":
        void address.up(e.session.localAddress ?? "", e.session.peerAddress ?? "", e.session.dns);
        break;
      case "session-down":
        this.down({ code: "OAK_E_CONNECT_DOWN", message: `PPP session ended: ${e.reason}` });
        break;
      case "tunnel-down":
        this.down({ code: "OAK_E_CONNECT_DOWN", message: `L2TP tunnel closed: ${e.reason}` });
        break;
      case "channel-down":
        this.down({ code: "OAK_E_CONNECT_DOWN", message: "the server deleted the IPsec SA" });
        break;
      default:
        break;
    }
  }
}

/**
 * The TUN device, routes and DNS of an assigned address. Registered with the teardown before
 * the service starts, so that it is closed after the SAs are deleted; until PPP assigns an
 * address nothing is written to the TUN (`port` drops the packets).
 */
export class AddressStage {
  private tun: StartTun | undefined;
  private readonly undo: Array<() => Promise<void>> = [];
  private deliver: ((packets: readonly Buffer[]) => void) | undefined;
  /** Where PPP's IP packets go: the TUN once open. */
  readonly port: IpPacketPort = { write: (p) => this.tun?.write(p) ?? false };

  constructor(
    private readonly cfg: Pick<ConnectConfig, "tun" | "defaultRoute" | "routes" | "usePeerDns">,
    private readonly mtu: number,
    private readonly path: ServerPath,
    private readonly host: StartHost,
    private readonly outcome: ConnectionOutcome,
    teardown: Teardown,
  ) {
    teardown.add("address", {
      close: async () => {
        this.tun?.close();
        for (const u of this.undo.reverse()) await u();
      },
    });
  }

  /** IP packets read from the TUN go here (L2TP over IPsec, once it exists). */
  onPackets(deliver: (packets: readonly Buffer[]) => void): void {
    this.deliver = deliver;
  }

  async up(address: string, peer: string, dns: readonly string[]): Promise<void> {
    const { cfg, outcome } = this;
    const down = (e: StageError) => outcome.down(e);
    const t = openTun(this.host, {
      name: cfg.tun,
      mtu: this.mtu,
      address: { local: address, peer },
    });
    if (!t.ok) return down({ code: t.error.code, message: t.error.message });
    const tun = t.value;
    this.tun = tun;
    const routes: Array<{ destination: string; prefixLength: number }> = [];
    if (cfg.defaultRoute) {
      // Keep ESP-in-UDP to the server on the original path, then take 0/1 + 128/1: more
      // specific than any default route, and nothing to restore when we leave.
      const pin = await pinHostRoute(this.path.server, this.path.route);
      if (!pin.ok) return down({ code: pin.error.code, message: pin.error.message });
      this.undo.push(pin.value);
      routes.push(
        { destination: "0.0.0.0", prefixLength: 1 },
        { destination: "128.0.0.0", prefixLength: 1 },
      );
    }
    for (const r of cfg.routes) {
      const [dst, bits] = r.split("/");
      routes.push({ destination: dst ?? "0.0.0.0", prefixLength: Number(bits) });
    }
    for (const r of routes) {
      const a = tun.addRoute(r);
      if (!a.ok)
        return down({
          code: a.error.code,
          message: `route ${r.destination}/${r.prefixLength}: ${a.error.message}`,
        });
    }
    if (cfg.usePeerDns) {
      const d = await applyDns(cfg.tun, dns);
      if (!d.ok) return down({ code: d.error.code, message: d.error.message });
      this.undo.push(d.value);
    }
    tun.onPackets((packets) => this.deliver?.(packets));
    outcome.progress({
      stage: "address",
      text: `address assigned: ${address} (server ${peer}${dns.length > 0 ? `, DNS ${dns.join(", ")}${cfg.usePeerDns ? " in use" : ""}` : ""}) on ${cfg.tun}`,
      address,
      dns,
    });
    outcome.up({ address, peer, dns });
  }
}
